// TlsConfig: an nng_tls_config built from PEM strings, plus the helpers the socket code uses to
// attach one to a dialer or listener. Also a small per-call DRBG shared with cert.cc.
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <napi.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include <string>

#include "addon.h"

namespace mirai {

// Entropy + CTR-DRBG owned by one call. Per call rather than global so that worker threads
// never share mbedTLS state (the vendored build has no MBEDTLS_THREADING_C).
struct Drbg {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context ctr;
  Drbg() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&ctr);
  }
  ~Drbg() {
    mbedtls_ctr_drbg_free(&ctr);
    mbedtls_entropy_free(&entropy);
  }
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;
  int Seed(const char* personalization);                          // 0 or an mbedTLS error
  static int Random(void* self, unsigned char* out, size_t len);  // mbedTLS f_rng
};

// What a TlsConfig was built from, kept so a dialer can get a private copy with its own
// server name (see AttachTlsToDialer).
struct TlsSettings {
  bool server = false;
  std::string cert, key, pass, ca, server_name;
  nng_tls_auth_mode auth = NNG_TLS_AUTH_MODE_NONE;
  void Wipe();  // zeroes the key material
};

class TlsConfig : public Napi::ObjectWrap<TlsConfig>, public Closable {
 public:
  static Napi::Function Define(Napi::Env env);

  // new TlsConfig(mode: 'client'|'server', opts?: { cert, key, pass, ca, auth, serverName })
  explicit TlsConfig(const Napi::CallbackInfo& info);
  ~TlsConfig() override;
  void CloseNow() override;

  // undefined/null -> nullptr with *ok = true; a live TlsConfig -> its config (still owned by
  // the TlsConfig; NNG takes its own reference when the config is set on an endpoint);
  // anything else, or a closed TlsConfig -> throws, nullptr, *ok = false.
  // Dialers should use AttachTlsToDialer instead: without serverName this config cannot verify.
  static nng_tls_config* FromValue(Napi::Env env, Napi::Value v, bool* ok);
  // Same resolution, giving the wrapper object.
  static TlsConfig* Resolve(Napi::Env env, Napi::Value v, bool* ok);

  nng_tls_config* config() const { return cfg_; }
  const TlsSettings& settings() const { return settings_; }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Mode(const Napi::CallbackInfo& info);

  nng_tls_config* cfg_ = nullptr;
  Addon* addon_ = nullptr;
  TlsSettings settings_;
};

// For socket.dial(url, { tls }): resolves v (undefined/null: nothing to do) and sets it on the
// not yet started dialer d. A client config without an explicit serverName is copied with the
// server name set to the dialer URL's host: mbedTLS >= 3.6.3 refuses to verify a server
// certificate without an expected name, and the shared config must not be renamed under other
// dialers. Returns false with a pending JS exception on failure.
bool AttachTlsToDialer(Napi::Env env, Napi::Value v, nng_dialer d);
// For socket.listen(url, { tls }): resolves v and sets it on the not yet started listener l.
bool AttachTlsToListener(Napi::Env env, Napi::Value v, nng_listener l);

}  // namespace mirai
