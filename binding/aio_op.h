// AioOp: one pending asynchronous send or receive, completed by NNG and settled in JS.
//
// Lifecycle: created on the JS thread with a Deferred, started with nng_send_aio / nng_recv_aio
// (or the ctx variants). NNG completes it on one of its threads; the callback only posts the
// op to the JS thread (Addon::Post). Deliver resolves or rejects there and frees the op: an
// nng_aio is never freed inside its own callback. While pending, the op holds the event loop
// (Addon::Hold) and a reference to its owner's JS object, so neither exits nor GC can strand it.
#pragma once

#include <napi.h>
#include <nng/nng.h>

#include <atomic>
#include <cstring>

#include "addon.h"
#include "deferred.h"

namespace mirai {

class AioOp;

// True when msg's body starts with the len bytes of prefix (the interrupt-on-cancel match).
inline bool BodyStartsWith(nng_msg* msg, const uint8_t* prefix, size_t len) {
  return msg != nullptr && len > 0 && nng_msg_len(msg) >= len &&
         std::memcmp(nng_msg_body(msg), prefix, len) == 0;
}

// A socket or context that starts operations: lists them for cancel() and teardown.
class AioOwner {
 public:
  virtual ~AioOwner() {
    if (busy_addon != nullptr) busy_addon->UnlinkBusy(this);
  }
  void CancelAll();             // nng_aio_cancel on every pending op (they reject with ECANCELED)
  void CancelOne(uint32_t id);  // the op with this id, if still pending
  uint32_t last_op_id() const { return last_op_id_; }
  // For operations finished without an aio (the synchronous send path): gives them an id too,
  // so that cancelling "the last operation" can never reach an older one.
  void SkipOpId() { ++last_op_id_; }
  // No send (resp. receive) pending: a synchronous attempt cannot overtake an earlier one.
  bool no_pending_sends() const { return pending_[0] == 0; }
  bool no_pending_recvs() const { return pending_[1] == 0; }
  void StopAllForTeardown();  // environment teardown: wait out callbacks, free orphans
  // Owners with pending operations, linked into their Addon's list (Addon::Cleanup stops them
  // all, including those of a socket closed just before the environment ended).
  AioOwner* busy_prev = nullptr;
  AioOwner* busy_next = nullptr;
  Addon* busy_addon = nullptr;   // set while linked
  virtual void KeepAlive() = 0;  // pin the JS wrapper while an op is pending
  virtual void LetGo() = 0;
  // Whether pending operations keep the event loop alive (socket.ref() / unref()).
  bool holds_loop = true;

 private:
  friend class AioOp;
  AioOp* head_ = nullptr;
  uint32_t last_op_id_ = 0;
  int pending_[2] = {0, 0};  // by AioOp::Kind
};

class AioOp : public Completion {
 public:
  enum class Kind : uint8_t { Send, Recv };

  // Allocates the aio and the promise; nullptr on failure, with a JS exception pending unless
  // the environment is stopping (no promise can be made then, and none is owed).
  static AioOp* Create(Napi::Env env, AioOwner* owner, Kind kind);
  // For a send that fails to start: reject at once with rv and free the op.
  void FailNow(Napi::Env env, int rv);

  nng_aio* aio() const { return aio_; }
  Napi::Value Promise() const { return deferred_.Promise(); }

  // Receive only: raise SIGINT in this process when a message arrives whose body starts with
  // these bytes (at most kMaxPrefix). The daemon uses it to interrupt its busy JS thread when
  // the CANCEL of the running task arrives, and only then.
  static constexpr size_t kMaxPrefix = 16;
  void InterruptOn(const uint8_t* prefix, size_t len) {
    sig_len_ = len < kMaxPrefix ? len : kMaxPrefix;
    std::memcpy(sig_prefix_, prefix, sig_len_);
  }

  void Deliver(Napi::Env env) override;
  void Drop() override;

 private:
  friend class AioOwner;
  enum State : int { kPending, kPosted, kOrphaned };
  AioOp(Napi::Env env, AioOwner* owner, Kind kind);
  ~AioOp() override;
  static void OnComplete(void* arg);
  void Unlink();

  Addon* addon_;
  AioOwner* owner_;
  AioOp* prev_ = nullptr;
  AioOp* next_ = nullptr;
  nng_aio* aio_ = nullptr;
  Deferred deferred_;
  std::atomic<int> state_{kPending};
  Kind kind_;
  bool held_ = false;
  uint32_t id_ = 0;
  size_t sig_len_ = 0;
  uint8_t sig_prefix_[kMaxPrefix];
};

}  // namespace mirai
