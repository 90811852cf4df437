// The addon entry point and the per-environment Addon (see addon.h).
#include <mbedtls/version.h>
#include <nng/nng.h>

#include <string>
#include <vector>

#include "addon.h"
#include "aio_op.h"
#include "errors.h"
#include "signals.h"  // on Windows, also <windows.h> (lean, no min/max macros)

namespace mirai {

#ifdef _WIN32
// Windows' counterpart of the -z nodelete that Linux builds link with: Node frees the addon's
// DLL when the last environment using it ends (a worker thread's, or the main one at exit),
// while NNG's own threads (timers, taskq, I/O completion) can still be inside its code; that
// crashed the worker fixture under wine 5 times in 29 runs. Pinning keeps the DLL mapped until
// the process ends. Idempotent, so every environment may do it.
static bool PinModule(Napi::Env env) {
  HMODULE self = nullptr;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_PIN | GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                          reinterpret_cast<LPCWSTR>(&PinModule), &self)) {
    Napi::Error::New(env, "mirai: could not pin the addon DLL (GetModuleHandleExW error " +
                              std::to_string(GetLastError()) + ")")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}
#endif

Addon::Addon(Napi::Env env, Napi::Object exports) {
  env_ = env;
#ifdef _WIN32
  if (!PinModule(env)) return;
#endif
  tsfn_ = Tsfn::New(env, "mirai.nng", 0, 1, nullptr);
  tsfn_.Unref(env);
  napi_add_env_cleanup_hook(env, Cleanup, this);

  InitErrors(env, exports, this);
  InitMessage(env, exports, this);
  InitSocket(env, exports, this);
  InitEndpoint(env, exports, this);
  InitContext(env, exports, this);
  InitTls(env, exports, this);
  InitCert(env, exports, this);
  InitProcessJob(env, exports, this);
  DefineAddon(exports, {
                           InstanceMethod("setErrorClass", &Addon::SetErrorClass),
                           InstanceMethod("setExternalBuffers", &Addon::SetExternalBuffers),
                           InstanceMethod("versions", &Addon::Versions),
                           InstanceMethod("pending", &Addon::Pending),
                           InstanceMethod("hold", &Addon::HoldJs),
                           InstanceMethod("release", &Addon::ReleaseJs),
                           InstanceMethod("raiseInterrupt", &Addon::RaiseInterrupt),
                       });
}

Addon::~Addon() = default;

// Runs before the Addon is deleted, on the JS thread, while the environment still exists
// (no JS can run any more): close every live socket so NNG stops calling back, then wait out
// the callbacks of every operation still pending, including those of sockets closed by JS just
// before the end and of contexts, whose aios NNG completes on its own threads after nng_close
// has returned. Only then may the TSFN go and the Addon be freed: an NNG callback arriving
// later would read freed memory.
void Addon::Cleanup(void* arg) {
  auto* self = static_cast<Addon*>(arg);
  self->closing_ = true;
  std::vector<Closable*> all(self->live_.begin(), self->live_.end());
  for (Closable* c : all) c->CloseNow();
  self->live_.clear();
  while (self->busy_ != nullptr) self->busy_->StopAllForTeardown();  // unlinks it
  self->tsfn_.Release();
}

void Addon::LinkBusy(AioOwner* o) {
  if (o->busy_addon != nullptr) return;
  o->busy_addon = this;
  o->busy_prev = nullptr;
  o->busy_next = busy_;
  if (busy_ != nullptr) busy_->busy_prev = o;
  busy_ = o;
}

void Addon::UnlinkBusy(AioOwner* o) {
  if (o->busy_addon != this) return;
  if (o->busy_prev != nullptr)
    o->busy_prev->busy_next = o->busy_next;
  else
    busy_ = o->busy_next;
  if (o->busy_next != nullptr) o->busy_next->busy_prev = o->busy_prev;
  o->busy_prev = o->busy_next = nullptr;
  o->busy_addon = nullptr;
}

bool Addon::Post(Completion* c) {
  if (closing_.load(std::memory_order_relaxed)) return false;
  return tsfn_.NonBlockingCall(c) == napi_ok;
}

void Addon::CallJs(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* c) {
  if (c == nullptr) return;
  if (env == nullptr) {
    c->Drop();
    return;
  }
  Napi::HandleScope scope(env);
  c->Deliver(env);
}

void Addon::Hold() {
  if (holds_++ == 0 && !closing_) tsfn_.Ref(Napi::Env(env_));
}

void Addon::Release() {
  if (holds_ > 0 && --holds_ == 0 && !closing_) tsfn_.Unref(Napi::Env(env_));
}

void Addon::Track(Closable* c) {
  live_.insert(c);
}
void Addon::Untrack(Closable* c) {
  live_.erase(c);
}

Napi::Value Addon::SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) return ThrowType(info.Env(), "setErrorClass expects a constructor");
  error_ctor = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Addon::SetExternalBuffers(const Napi::CallbackInfo& info) {
  external_buffers = info[0].ToBoolean();
  return info.Env().Undefined();
}

Napi::Value Addon::Versions(const Napi::CallbackInfo& info) {
  Napi::Object v = Napi::Object::New(info.Env());
  v.Set("nng", nng_version());
  v.Set("mbedtls", MBEDTLS_VERSION_STRING);
  return v;
}

Napi::Value Addon::HoldJs(const Napi::CallbackInfo& info) {
  Hold();
  return info.Env().Undefined();
}

Napi::Value Addon::ReleaseJs(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// What the addon does for an interrupting CANCEL, on demand: the daemon's SIGINT keeper hands an
// interrupt on to a task's run this way (on Windows process.kill(pid, 'SIGINT') terminates the
// process). False if it could not be sent.
Napi::Value Addon::RaiseInterrupt(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), RaiseSigint());
}

Napi::Value Addon::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), holds_);
}

}  // namespace mirai

using MiraiAddon = mirai::Addon;
NODE_API_NAMED_ADDON(mirai_nng, MiraiAddon)
