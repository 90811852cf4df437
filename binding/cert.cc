// writeCert: a fresh key pair and a self-signed certificate, made with the vendored mbedTLS so
// zero-config TLS needs no openssl on the host.
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "errors.h"
#include "tls.h"

namespace mirai {

namespace {

// Room for an RSA-4096 key or certificate in PEM (each is under 4 KiB).
constexpr size_t kPemMax = 16384;

// not-before is backdated by this much, so a peer whose clock lags ours does not
// reject the certificate as not yet valid.
constexpr std::time_t kBackdate = 3600;

std::string UtcStamp(std::time_t t) {
  std::tm tm{};
#ifdef _WIN32
  gmtime_s(&tm, &t);
#else
  gmtime_r(&t, &tm);
#endif
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
  return buf;
}

// 'YYYYMMDDHHMMSS' with plausible field ranges (mbedTLS only checks the length).
bool ValidStamp(const std::string& s) {
  if (s.size() != 14) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto num = [&](size_t pos, size_t len) { return std::stoi(s.substr(pos, len)); };
  int mon = num(4, 2), day = num(6, 2), hour = num(8, 2), min = num(10, 2), sec = num(12, 2);
  return num(0, 4) >= 1950 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour < 24 && min < 60 &&
         sec < 60;
}

// Characters that are special in mbedTLS's "CN=..." name syntax or make no sense in a host.
bool ValidCn(const std::string& cn) {
  if (cn.empty() || cn.size() > 64) return false;
  for (unsigned char c : cn) {
    if (c < 0x20 || c == 0x7f || std::strchr(",+=\\\"<>;#", c) != nullptr) return false;
  }
  return true;
}

// Everything one writeCert call allocates, freed on every path by the destructor.
struct CertJob {
  Drbg drbg;
  mbedtls_pk_context key;
  mbedtls_x509write_cert crt;
  unsigned char cert_pem[kPemMax];
  unsigned char key_pem[kPemMax];
  CertJob() {
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&crt);
  }
  ~CertJob() {
    mbedtls_platform_zeroize(key_pem, sizeof(key_pem));
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
  }

  // Returns 0 or an mbedTLS error, with *step naming what failed.
  int Run(const std::string& cn, const std::string& not_before, const std::string& not_after, int rsa_bits,
          const char** step) {
    int ret;
    *step = "seeding the random generator";
    if ((ret = drbg.Seed("mirai-writeCert")) != 0) return ret;

    *step = "generating the key pair";
    mbedtls_pk_type_t type = rsa_bits ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECKEY;
    if ((ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(type))) != 0) return ret;
    ret = rsa_bits ? mbedtls_rsa_gen_key(mbedtls_pk_rsa(key), Drbg::Random, &drbg, rsa_bits, 65537)
                   : mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), Drbg::Random, &drbg);
    if (ret != 0) return ret;

    *step = "building the certificate";
    std::string name = "CN=" + cn;
    // keyEncipherment only means something for RSA (TLS 1.2 RSA key exchange).
    unsigned int usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN |
                         (rsa_bits ? MBEDTLS_X509_KU_KEY_ENCIPHERMENT : 0);
    // A positive 128-bit serial: top bit clear so DER needs no sign byte, never zero.
    unsigned char serial[16];
    if ((ret = Drbg::Random(&drbg, serial, sizeof(serial))) != 0) return ret;
    serial[0] = static_cast<unsigned char>((serial[0] & 0x7f) | 0x01);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &key);
    if ((ret = mbedtls_x509write_crt_set_subject_name(&crt, name.c_str())) != 0 ||
        (ret = mbedtls_x509write_crt_set_issuer_name(&crt, name.c_str())) != 0 ||
        (ret = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial))) != 0 ||
        (ret = mbedtls_x509write_crt_set_validity(&crt, not_before.c_str(), not_after.c_str())) != 0 ||
        // CA so that the certificate is its own trust anchor on the verifying side.
        (ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, -1)) != 0 ||
        (ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0 ||
        (ret = mbedtls_x509write_crt_set_authority_key_identifier(&crt)) != 0 ||
        (ret = mbedtls_x509write_crt_set_key_usage(&crt, usage)) != 0) {
      return ret;
    }

    *step = "writing the certificate";
    ret = mbedtls_x509write_crt_pem(&crt, cert_pem, sizeof(cert_pem), Drbg::Random, &drbg);
    if (ret != 0) return ret;
    *step = "writing the key";
    return mbedtls_pk_write_key_pem(&key, key_pem, sizeof(key_pem));
  }
};

std::string Describe(Napi::Value v) {
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "the number " + v.ToString().Utf8Value();
  return "a non-string value";
}

// writeCert(cn, validUntil 'YYYYMMDDHHMMSS' UTC, keyType? 'ecdsa' | 'rsa2048' | 'rsa4096')
//   -> { server: [certPem, keyPem], client: [certPem, ''] }
Napi::Value WriteCert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    return ThrowType(env, "writeCert cn must be a string (the host name), got " + Describe(info[0]));
  }
  std::string cn = info[0].As<Napi::String>().Utf8Value();
  if (!ValidCn(cn)) {
    return ThrowRange(env,
                      "writeCert cn must be 1-64 characters without control characters or "
                      ",+=\\\"<>;#, got " +
                          Describe(info[0]));
  }
  if (!info[1].IsString()) {
    return ThrowType(env,
                     "writeCert validUntil must be a 'YYYYMMDDHHMMSS' UTC string, got " + Describe(info[1]));
  }
  std::string until = info[1].As<Napi::String>().Utf8Value();
  std::time_t now = std::time(nullptr);
  std::string now_stamp = UtcStamp(now);
  if (!ValidStamp(until)) {
    return ThrowRange(env,
                      "writeCert validUntil must be a 'YYYYMMDDHHMMSS' UTC time, got " + Describe(info[1]));
  }
  if (until <= now_stamp) {  // same fixed-width format, so string order is time order
    return ThrowRange(env, "writeCert validUntil " + Describe(info[1]) + " is not in the future");
  }
  int rsa_bits = 0;
  if (!info[2].IsUndefined()) {
    std::string kt = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    if (kt == "rsa2048") {
      rsa_bits = 2048;
    } else if (kt == "rsa4096") {
      rsa_bits = 4096;
    } else if (kt != "ecdsa") {
      return ThrowType(env,
                       "writeCert keyType must be 'ecdsa', 'rsa2048' or 'rsa4096', got " + Describe(info[2]));
    }
  }

  // ~32 KiB of PEM buffers: keep them off the (possibly small, worker) thread stack.
  auto job = std::make_unique<CertJob>();
  const char* step = "";
  int ret = job->Run(cn, UtcStamp(now - kBackdate), until, rsa_bits, &step);
  if (ret != 0) {
    char buf[160];
    mbedtls_strerror(ret, buf, sizeof(buf));
    return ThrowNng(env, NNG_ECRYPTO, (std::string("writeCert failed ") + step + ": " + buf).c_str());
  }
  Napi::String cert = Napi::String::New(env, reinterpret_cast<const char*>(job->cert_pem));
  Napi::Array server = Napi::Array::New(env, 2);
  server.Set(0u, cert);
  server.Set(1u, Napi::String::New(env, reinterpret_cast<const char*>(job->key_pem)));
  Napi::Array client = Napi::Array::New(env, 2);
  client.Set(0u, cert);
  client.Set(1u, Napi::String::New(env, ""));
  Napi::Object out = Napi::Object::New(env);
  out.Set("server", server);
  out.Set("client", client);
  return out;
}

}  // namespace

void InitCert(Napi::Env env, Napi::Object exports, Addon*) {
  exports.Set("writeCert", Napi::Function::New(env, WriteCert, "writeCert"));
}

}  // namespace mirai
