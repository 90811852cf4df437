// Per-environment state of the addon (main thread or one worker thread).
//
// Every NNG completion (aio callbacks, pipe events) happens on an NNG thread and reaches
// JavaScript through the one thread-safe function owned here: the NNG thread allocates a
// Completion and posts it; the JS thread runs Deliver(). Nothing on the JS thread ever waits
// for NNG. The thread-safe function is ref'ed only while something is pending (Hold/Release),
// so an idle socket never keeps the process alive while a pending recv or cv.wait does.
//
// Exit: a stopping environment (a worker told to end) first refuses every napi call that may
// run JS while its JS still runs for a moment; only later do the cleanup hooks run. So no
// closing flag can fence that window: every entry point must survive a failed napi call and
// never hand JS a handle it did not get (deferred.h). Cleanup then closes everything and waits
// out every pending NNG callback before this state is freed.
#pragma once

#include <napi.h>

#include <atomic>
#include <mutex>
#include <unordered_set>

namespace mirai {

class Closable;
class AioOwner;

// Work handed from an NNG thread to the JS thread. Deliver runs on the JS thread; if the
// environment is already gone, Drop runs instead (on whichever thread notices) and must only
// free native memory.
struct Completion {
  virtual ~Completion() = default;
  virtual void Deliver(Napi::Env env) = 0;
  virtual void Drop() { delete this; }
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // From any thread. Returns false once the environment is shutting down; c then still
  // belongs to the caller.
  bool Post(Completion* c);

  // JS thread only: count of operations that must keep the event loop alive.
  void Hold();
  void Release();

  // Native objects that must be closed when the environment is torn down.
  void Track(Closable* c);
  void Untrack(Closable* c);
  bool closing() const { return closing_.load(); }
  // JS thread only: owners that have operations pending (see AioOwner::busy_next). Pointer
  // updates only, no allocation: this runs on every first / last pending operation.
  void LinkBusy(AioOwner* o);
  void UnlinkBusy(AioOwner* o);

  Napi::FunctionReference error_ctor;  // NngError, set by lib/nng at load time
  Napi::FunctionReference message_ctor;
  Napi::FunctionReference socket_ctor;
  Napi::FunctionReference context_ctor;
  Napi::FunctionReference listener_ctor;
  Napi::FunctionReference dialer_ctor;
  Napi::FunctionReference tls_ctor;
  bool external_buffers = true;  // false under Electron's memory cage (or when forced)

 private:
  static void CallJs(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* c);
  static void Cleanup(void* arg);
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value SetExternalBuffers(const Napi::CallbackInfo& info);
  Napi::Value Versions(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value HoldJs(const Napi::CallbackInfo& info);  // lib/nng/cv.ts: a waiter is pending
  Napi::Value ReleaseJs(const Napi::CallbackInfo& info);
  Napi::Value RaiseInterrupt(const Napi::CallbackInfo& info);  // the daemon's SIGINT keeper

  using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Completion, CallJs>;
  Tsfn tsfn_;
  napi_env env_;
  std::atomic<bool> closing_{false};
  int holds_ = 0;
  std::unordered_set<Closable*> live_;
  AioOwner* busy_ = nullptr;
};

// A native object owning NNG resources (socket, context, tls config). CloseNow runs on the JS
// thread, either from close() or from environment cleanup; it must be idempotent.
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void CloseNow() = 0;
};

// The Addon of the calling environment.
inline Addon* GetAddon(Napi::Env env) {
  return env.GetInstanceData<Addon>();
}

// Registration hooks implemented by each concept's file.
void InitErrors(Napi::Env env, Napi::Object exports, Addon* addon);
void InitMessage(Napi::Env env, Napi::Object exports, Addon* addon);
void InitSocket(Napi::Env env, Napi::Object exports, Addon* addon);
void InitEndpoint(Napi::Env env, Napi::Object exports, Addon* addon);
void InitContext(Napi::Env env, Napi::Object exports, Addon* addon);
void InitTls(Napi::Env env, Napi::Object exports, Addon* addon);
void InitCert(Napi::Env env, Napi::Object exports, Addon* addon);
void InitProcessJob(Napi::Env env, Napi::Object exports, Addon* addon);

}  // namespace mirai
