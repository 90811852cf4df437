// TlsConfig and its endpoint helpers (see tls.h).
//
// NNG reports every PEM problem as a bare NNG_ECRYPTO, so the PEM strings are parsed with
// mbedTLS first (the same library NNG links) to say what is wrong: bad certificate, missing or
// wrong passphrase, key not matching the certificate.
#include "tls.h"

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include <cstring>
#include <mutex>

#include "errors.h"

namespace mirai {

namespace {

const napi_type_tag kTlsTag = {0x6d697261692d746cULL, 0x73636f6e66696731ULL};

std::string TypeName(Napi::Value v) {
  static const char* const kNames[] = {"undefined", "null",      "a boolean",  "a number",    "a string",
                                       "a symbol",  "an object", "a function", "an external", "a bigint"};
  if (v.IsArray()) return "an array";
  size_t t = static_cast<size_t>(v.Type());
  return t < sizeof(kNames) / sizeof(kNames[0]) ? kNames[t] : "an object";
}

std::string MbedError(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof(buf));
  return buf;
}

// opts[name] as a string; absent, null and '' all mean "not given" (writeCert's client pair
// has an empty key). Returns false with a pending exception on a bad value.
bool ReadString(Napi::Env env, Napi::Object opts, const char* name, std::string* out) {
  Napi::Value v = opts.Get(name);
  if (env.IsExceptionPending()) return false;
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsString()) {
    ThrowType(env, std::string("TlsConfig option '") + name + "' must be a string, got " + TypeName(v));
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  // NNG takes C strings: an embedded NUL would silently truncate the PEM or passphrase.
  if (out->find('\0') != std::string::npos) {
    ThrowType(env, std::string("TlsConfig option '") + name + "' must not contain NUL characters");
    return false;
  }
  return true;
}

bool ThrowCrypto(Napi::Env env, const std::string& what) {
  ThrowNng(env, NNG_ECRYPTO, what.c_str());
  return false;
}

// Parses the PEM material the way NNG will, to fail early with a precise message.
bool Validate(Napi::Env env, const TlsSettings& s) {
  if (!s.ca.empty()) {
    mbedtls_x509_crt ca;
    mbedtls_x509_crt_init(&ca);
    int ret =
        mbedtls_x509_crt_parse(&ca, reinterpret_cast<const unsigned char*>(s.ca.c_str()), s.ca.size() + 1);
    mbedtls_x509_crt_free(&ca);
    if (ret < 0) return ThrowCrypto(env, "TLS CA certificate could not be parsed: " + MbedError(ret));
    if (ret > 0) {
      return ThrowCrypto(env,
                         std::to_string(ret) + " certificate(s) in the TLS CA chain could not be parsed");
    }
  }
  if (s.cert.empty()) return true;

  mbedtls_x509_crt crt;
  mbedtls_pk_context pk;
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&pk);
  std::string err;
  Drbg drbg;
  int ret =
      mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(s.cert.c_str()), s.cert.size() + 1);
  if (ret != 0) {
    err = ret < 0 ? "TLS certificate could not be parsed: " + MbedError(ret)
                  : "TLS certificate chain has " + std::to_string(ret) + " unparsable certificate(s)";
  } else if ((ret = drbg.Seed("mirai-tls")) != 0) {
    err = "TLS random generator could not be seeded: " + MbedError(ret);
  } else {
    const char* pass = s.pass.empty() ? nullptr : s.pass.c_str();
    ret = mbedtls_pk_parse_key(&pk, reinterpret_cast<const unsigned char*>(s.key.c_str()), s.key.size() + 1,
                               reinterpret_cast<const unsigned char*>(pass), pass ? s.pass.size() : 0,
                               Drbg::Random, &drbg);
    bool encrypted = s.key.find("ENCRYPTED") != std::string::npos;
    if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
      err = "TLS key is encrypted: a passphrase ('pass') is required";
    } else if (ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH || (ret != 0 && encrypted && pass)) {
      // A wrong passphrase usually shows as a mismatch, but can decrypt to garbage instead.
      err = "TLS key could not be loaded (wrong passphrase?)";
    } else if (ret != 0 && s.key.find("PRIVATE KEY-----") == std::string::npos) {
      err = "TLS key could not be loaded: no PRIVATE KEY block found";
    } else if (ret != 0) {
      err = "TLS key could not be loaded: " + MbedError(ret);
    } else if ((ret = mbedtls_pk_check_pair(&crt.pk, &pk, Drbg::Random, &drbg)) != 0) {
      err = "TLS key does not match the certificate";
    }
  }
  mbedtls_pk_free(&pk);
  mbedtls_x509_crt_free(&crt);
  if (!err.empty()) return ThrowCrypto(env, err);
  return true;
}

// Builds an NNG config from validated settings; server_name overrides the stored one.
int Build(const TlsSettings& s, const std::string& server_name, nng_tls_config** out, const char** what) {
  nng_tls_config* c = nullptr;
  int rv = nng_tls_config_alloc(&c, s.server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
  if (rv != 0) {
    *what = "allocating TLS config";
    return rv;
  }
  if (!s.ca.empty()) {
    // Like nng_tls_config_ca_file: a CRL may travel in the same PEM as the chain.
    bool crl = s.ca.find("-----BEGIN X509 CRL-----") != std::string::npos;
    rv = nng_tls_config_ca_chain(c, s.ca.c_str(), crl ? s.ca.c_str() : nullptr);
    *what = "loading TLS CA chain";
  }
  if (rv == 0 && !s.cert.empty()) {
    rv = nng_tls_config_own_cert(c, s.cert.c_str(), s.key.c_str(), s.pass.empty() ? nullptr : s.pass.c_str());
    *what = "loading TLS certificate and key";
  }
  if (rv == 0) {
    rv = nng_tls_config_auth_mode(c, s.auth);
    *what = "setting TLS auth mode";
  }
  if (rv == 0 && !server_name.empty()) {
    rv = nng_tls_config_server_name(c, server_name.c_str());
    *what = "setting TLS server name";
  }
  if (rv != 0) {
    nng_tls_config_free(c);
    return rv;
  }
  *out = c;
  return 0;
}

}  // namespace

int Drbg::Seed(const char* personalization) {
  return mbedtls_ctr_drbg_seed(&ctr, mbedtls_entropy_func, &entropy,
                               reinterpret_cast<const unsigned char*>(personalization),
                               std::strlen(personalization));
}

int Drbg::Random(void* self, unsigned char* out, size_t len) {
  return mbedtls_ctr_drbg_random(&static_cast<Drbg*>(self)->ctr, out, len);
}

void TlsSettings::Wipe() {
  if (!key.empty()) mbedtls_platform_zeroize(&key[0], key.size());
  if (!pass.empty()) mbedtls_platform_zeroize(&pass[0], pass.size());
  key.clear();
  pass.clear();
}

Napi::Function TlsConfig::Define(Napi::Env env) {
  return DefineClass(
      env, "TlsConfig",
      {InstanceMethod("close", &TlsConfig::Close), InstanceAccessor("closed", &TlsConfig::Closed, nullptr),
       InstanceAccessor("mode", &TlsConfig::Mode, nullptr)});
}

TlsConfig::TlsConfig(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TlsConfig>(info) {
  Napi::Env env = info.Env();
  std::string mode = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (mode != "client" && mode != "server") {
    ThrowType(env, "TlsConfig mode must be 'client' or 'server', got " +
                       (info[0].IsString() ? "'" + mode + "'" : TypeName(info[0])));
    return;
  }
  TlsSettings& s = settings_;
  s.server = mode == "server";
  std::string auth;
  if (!info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject() || info[1].IsArray() || info[1].IsFunction()) {
      ThrowType(env, "TlsConfig options must be an object, got " + TypeName(info[1]));
      return;
    }
    Napi::Object o = info[1].As<Napi::Object>();
    if (!ReadString(env, o, "cert", &s.cert) || !ReadString(env, o, "key", &s.key) ||
        !ReadString(env, o, "pass", &s.pass) || !ReadString(env, o, "ca", &s.ca) ||
        !ReadString(env, o, "auth", &auth) || !ReadString(env, o, "serverName", &s.server_name)) {
      return;
    }
  }
  if (!s.key.empty() && s.cert.empty()) {
    ThrowType(env, "TlsConfig option 'key' needs 'cert' (the certificate for that key)");
    return;
  }
  // One PEM holding the certificate, chain and key is accepted as 'cert' alone.
  if (s.key.empty()) s.key = s.cert;
  if (s.server && s.cert.empty()) {
    ThrowType(env, "a server TlsConfig needs 'cert' and 'key' (PEM strings)");
    return;
  }
  if (auth.empty()) {
    s.auth = (!s.server && !s.ca.empty()) ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE;
  } else if (auth == "none") {
    s.auth = NNG_TLS_AUTH_MODE_NONE;
  } else if (auth == "optional") {
    s.auth = NNG_TLS_AUTH_MODE_OPTIONAL;
  } else if (auth == "required") {
    s.auth = NNG_TLS_AUTH_MODE_REQUIRED;
  } else {
    ThrowType(env, "TlsConfig option 'auth' must be 'none', 'optional' or 'required', got '" + auth + "'");
    return;
  }
  if (s.auth == NNG_TLS_AUTH_MODE_REQUIRED && s.ca.empty()) {
    ThrowType(env, "TlsConfig auth 'required' needs 'ca' (the PEM chain to verify the peer with)");
    return;
  }
  if (!Validate(env, s)) return;

  const char* what = "";
  int rv = Build(s, s.server_name, &cfg_, &what);
  if (rv != 0) {
    ThrowNng(env, rv, what);
    return;
  }
  addon_ = GetAddon(env);
  addon_->Track(this);
  info.This().As<Napi::Object>().TypeTag(&kTlsTag);
}

TlsConfig::~TlsConfig() {
  CloseNow();
  settings_.Wipe();
}

void TlsConfig::CloseNow() {
  if (cfg_ == nullptr) return;
  nng_tls_config_free(cfg_);
  cfg_ = nullptr;
  addon_->Untrack(this);
  // Kept until now because dialers copy the config from these settings.
  settings_.Wipe();
}

Napi::Value TlsConfig::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value TlsConfig::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), cfg_ == nullptr);
}

Napi::Value TlsConfig::Mode(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), settings_.server ? "server" : "client");
}

TlsConfig* TlsConfig::Resolve(Napi::Env env, Napi::Value v, bool* ok) {
  *ok = true;
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kTlsTag)) {
    TlsConfig* t = Napi::ObjectWrap<TlsConfig>::Unwrap(v.As<Napi::Object>());
    if (t != nullptr && t->cfg_ != nullptr) return t;
    *ok = false;
    ThrowNng(env, NNG_ECLOSED, "TlsConfig is closed");
    return nullptr;
  }
  *ok = false;
  ThrowType(env, "tls must be a TlsConfig, got " + TypeName(v));
  return nullptr;
}

nng_tls_config* TlsConfig::FromValue(Napi::Env env, Napi::Value v, bool* ok) {
  TlsConfig* t = Resolve(env, v, ok);
  return t != nullptr ? t->cfg_ : nullptr;
}

bool AttachTlsToDialer(Napi::Env env, Napi::Value v, nng_dialer d) {
  bool ok = true;
  TlsConfig* t = TlsConfig::Resolve(env, v, &ok);
  if (t == nullptr) return ok;
  const TlsSettings& s = t->settings();
  if (s.server) {
    ThrowType(env, "dial needs a 'client' TlsConfig, got a 'server' one");
    return false;
  }
  nng_tls_config* cfg = t->config();
  nng_tls_config* own = nullptr;
  const char* what = "setting TLS config on dialer";
  int rv = 0;
  if (s.server_name.empty()) {
    char* url_str = nullptr;
    nng_url* url = nullptr;
    if ((rv = nng_dialer_get_string(d, NNG_OPT_URL, &url_str)) != 0) {
      what = "reading dialer URL";
    } else {
      rv = nng_url_parse(&url, url_str);
      nng_strfree(url_str);
      what = "parsing dialer URL";
    }
    if (rv == 0) {
      std::string host = url->u_hostname != nullptr ? url->u_hostname : "";
      nng_url_free(url);
      if (!host.empty() && (rv = Build(s, host, &own, &what)) == 0) cfg = own;
    }
  }
  if (rv == 0) {
    rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
    what = rv == NNG_ENOTSUP ? "tls given for a URL without TLS; use tls+tcp:// or wss://"
                             : "setting TLS config on dialer";
  }
  if (own != nullptr) nng_tls_config_free(own);  // the dialer holds its own reference
  if (rv != 0) {
    ThrowNng(env, rv, what);
    return false;
  }
  return true;
}

bool AttachTlsToListener(Napi::Env env, Napi::Value v, nng_listener l) {
  bool ok = true;
  TlsConfig* t = TlsConfig::Resolve(env, v, &ok);
  if (t == nullptr) return ok;
  if (!t->settings().server) {
    ThrowType(env, "listen needs a 'server' TlsConfig, got a 'client' one");
    return false;
  }
  int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, t->config());
  if (rv != 0) {
    ThrowNng(env, rv,
             rv == NNG_ENOTSUP ? "tls given for a URL without TLS; use tls+tcp:// or wss://"
                               : "setting TLS config on listener");
    return false;
  }
  return true;
}

void InitTls(Napi::Env env, Napi::Object exports, Addon* addon) {
  // mbedTLS initialises PSA lazily inside a TLS 1.3 handshake, i.e. on an NNG thread and
  // without locking (no MBEDTLS_THREADING_C). Doing it once here, at load, removes that race.
  static std::once_flag psa_once;
  std::call_once(psa_once, [] { (void)psa_crypto_init(); });
  Napi::Function ctor = TlsConfig::Define(env);
  addon->tls_ctor = Napi::Persistent(ctor);
  exports.Set("TlsConfig", ctor);
}

}  // namespace mirai
