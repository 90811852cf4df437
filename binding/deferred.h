// A promise and its resolver whose creation can fail without leaving garbage behind.
//
// Why not Napi::Promise::Deferred: when napi_create_promise fails it leaves its napi_value
// member uninitialized, and returning that to V8 from a method callback crashes the process in
// FunctionCallbackWrapper::Invoke (issue 8). It does fail, routinely, at exit: once a worker
// thread is told to stop (process exit, worker.terminate()), Node marks its environment as no
// longer able to call into JS and only then interrupts the JS still running there, so for a
// short while that JS keeps calling into the addon and every napi call that may run JS returns
// napi_pending_exception. Here a failed creation yields an empty handle instead; callers then
// give up quietly (the JS they would answer is being torn down).
#pragma once

#include <napi.h>

namespace mirai {

class Deferred {
 public:
  Deferred() = default;
  explicit Deferred(napi_env env) : env_(env) {
    if (napi_create_promise(env, &deferred_, &promise_) != napi_ok) {
      deferred_ = nullptr;
      promise_ = nullptr;
    }
  }

  // False when the environment is stopping: Promise() is then empty and nothing is owed.
  bool ok() const { return promise_ != nullptr; }
  // An empty value when !ok(); returning that from a callback gives JS undefined.
  Napi::Value Promise() const { return Napi::Value(env_, promise_); }

  // Settle once; an empty value (its creation failed: the environment is stopping) or a second
  // call does nothing. A settle that fails for the same reason leaves the promise pending,
  // which no JS will ever observe.
  void Resolve(napi_value v) { Settle(v, true); }
  void Reject(napi_value v) { Settle(v, false); }

 private:
  void Settle(napi_value v, bool resolve) {
    if (deferred_ == nullptr || v == nullptr) return;
    napi_status st =
        resolve ? napi_resolve_deferred(env_, deferred_, v) : napi_reject_deferred(env_, deferred_, v);
    if (st == napi_ok) deferred_ = nullptr;
  }

  napi_env env_ = nullptr;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

// A promise already settled with v (the synchronous fast paths). Empty when the environment is
// stopping; left pending when v is empty (its creation failed for the same reason).
inline Napi::Value SettledPromise(Napi::Env env, napi_value v, bool resolve) {
  Deferred d(env);
  if (resolve)
    d.Resolve(v);
  else
    d.Reject(v);
  return d.Promise();
}

}  // namespace mirai
