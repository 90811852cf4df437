#include "aio_op.h"

#include "errors.h"
#include "message.h"
#include "signals.h"

namespace mirai {

AioOp::AioOp(Napi::Env env, AioOwner* owner, Kind kind)
    : addon_(GetAddon(env)), owner_(owner), deferred_(env), kind_(kind) {}

AioOp::~AioOp() {
  if (aio_ != nullptr) {
    if (kind_ == Kind::Send) {
      // A send that failed still owns its message.
      nng_msg* m = nng_aio_get_msg(aio_);
      if (m != nullptr) nng_msg_free(m);
    } else if (nng_aio_result(aio_) == 0) {
      nng_msg* m = nng_aio_get_msg(aio_);
      if (m != nullptr) nng_msg_free(m);
    }
    nng_aio_free(aio_);
  }
}

AioOp* AioOp::Create(Napi::Env env, AioOwner* owner, Kind kind) {
  auto* op = new AioOp(env, owner, kind);
  if (!op->deferred_.ok()) {
    // The environment is stopping (see deferred.h): start nothing, the caller returns empty.
    delete op;
    return nullptr;
  }
  int rv = nng_aio_alloc(&op->aio_, &AioOp::OnComplete, op);
  if (rv != 0) {
    op->aio_ = nullptr;
    delete op;
    ThrowNng(env, rv, "aio");
    return nullptr;
  }
  op->id_ = ++owner->last_op_id_;
  owner->pending_[static_cast<int>(kind)]++;
  op->next_ = owner->head_;
  if (owner->head_)
    owner->head_->prev_ = op;
  else
    op->addon_->LinkBusy(owner);
  owner->head_ = op;
  owner->KeepAlive();
  if (owner->holds_loop) {
    op->held_ = true;
    op->addon_->Hold();
  }
  return op;
}

void AioOp::Unlink() {
  if (owner_ == nullptr) return;
  if (prev_)
    prev_->next_ = next_;
  else
    owner_->head_ = next_;
  if (next_) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  AioOwner* o = owner_;
  if (o->head_ == nullptr) addon_->UnlinkBusy(o);
  o->pending_[static_cast<int>(kind_)]--;
  owner_ = nullptr;
  if (held_) addon_->Release();
  o->LetGo();
}

void AioOp::FailNow(Napi::Env env, int rv) {
  deferred_.Reject(NngError(env, rv).Value());
  Unlink();
  delete this;
}

// NNG thread. Must not block, must not touch JS, must not free the aio.
void AioOp::OnComplete(void* arg) {
  auto* op = static_cast<AioOp*>(arg);
  if (op->sig_len_ > 0 && nng_aio_result(op->aio_) == 0) {
    if (BodyStartsWith(nng_aio_get_msg(op->aio_), op->sig_prefix_, op->sig_len_)) {
      RaiseSigint();
    }
  }
  // Mark before posting: once posted, the JS thread may free the op at any moment.
  op->state_.store(kPosted);
  if (!op->addon_->Post(op)) op->state_.store(kOrphaned);
}

void AioOp::Deliver(Napi::Env env) {
  int rv = nng_aio_result(aio_);
  if (rv != 0) {
    Napi::Error e = NngError(env, rv);
    if (!e.IsEmpty()) deferred_.Reject(e.Value());
  } else if (kind_ == Kind::Recv) {
    nng_msg* m = nng_aio_get_msg(aio_);
    nng_aio_set_msg(aio_, nullptr);
    Napi::Object obj = Message::New(env, m);
    if (!obj.IsEmpty()) deferred_.Resolve(obj);
  } else {
    nng_aio_set_msg(aio_, nullptr);  // NNG owns a sent message
    deferred_.Resolve(env.Undefined());
  }
  Unlink();
  delete this;
}

// The environment is gone (called by the thread-safe function's teardown): free only.
void AioOp::Drop() {
  owner_ = nullptr;
  delete this;
}

void AioOwner::CancelAll() {
  for (AioOp* op = head_; op != nullptr; op = op->next_) nng_aio_cancel(op->aio_);
}

void AioOwner::CancelOne(uint32_t id) {
  for (AioOp* op = head_; op != nullptr; op = op->next_) {
    if (op->id_ == id) {
      nng_aio_cancel(op->aio_);
      return;
    }
  }
}

void AioOwner::StopAllForTeardown() {
  if (busy_addon != nullptr) busy_addon->UnlinkBusy(this);
  AioOp* op = head_;
  head_ = nullptr;
  while (op != nullptr) {
    AioOp* next = op->next_;
    nng_aio_stop(op->aio_);  // returns once the callback has run
    op->owner_ = nullptr;
    op->prev_ = op->next_ = nullptr;
    // Posted ops are freed by Drop when the thread-safe function drains its queue.
    if (op->state_.load() == AioOp::kOrphaned) delete op;
    op = next;
  }
}

}  // namespace mirai
