// Context: an independent request/reply state machine on a socket (req, rep, surveyor,
// respondent, sub), so many requests can be in flight on one socket. Closes with its socket.
#include <string>

#include "addon.h"
#include "aio_op.h"
#include "errors.h"
#include "message.h"
#include "options.h"
#include "socket.h"

namespace mirai {

class Context : public Napi::ObjectWrap<Context>, public AioOwner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Context",
        {InstanceMethod<&Context::Send>("send"), InstanceMethod<&Context::Recv>("recv"),
         InstanceMethod<&Context::Cancel>("cancel"), InstanceMethod<&Context::SetOpt>("setOption"),
         InstanceMethod<&Context::GetOpt>("getOption"), InstanceMethod<&Context::Close>("close"),
         InstanceAccessor<&Context::Id>("id"), InstanceAccessor<&Context::LastOpId>("lastOpId")});
  }

  // new Context(socket)
  explicit Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    Socket* s = Socket::FromValue(env, info[0]);
    if (s == nullptr) return;
    if (s->closed()) {
      ThrowNng(env, NNG_ECLOSED, "socket is closed");
      return;
    }
    int rv = nng_ctx_open(&ctx_, s->handle());
    if (rv != 0) {
      ThrowNng(env, rv, "context");
      return;
    }
    open_ = true;
    socket_ = Napi::Persistent(info[0].As<Napi::Object>());
  }
  ~Context() override {
    // A context is closed with its socket; closing it here too is harmless (ECLOSED).
    if (open_) nng_ctx_close(ctx_);
  }
  void KeepAlive() override { Ref(); }
  void LetGo() override { Unref(); }

 private:
  bool CheckOpen(Napi::Env env) {
    if (open_) return true;
    ThrowNng(env, NNG_ECLOSED, "context is closed");
    return false;
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    nng_msg* msg = MessageFromValue(env, info[0], "send data");
    if (msg == nullptr) return env.Undefined();
    AioOp* op = AioOp::Create(env, this, AioOp::Kind::Send);
    if (op == nullptr) {
      nng_msg_free(msg);
      return env.Undefined();
    }
    nng_duration t = TimeoutArg(info[1]);
    if (t == NNG_DURATION_DEFAULT && nng_ctx_get_ms(ctx_, NNG_OPT_SENDTIMEO, &t) != 0)
      t = NNG_DURATION_INFINITE;
    nng_aio_set_timeout(op->aio(), t);
    nng_aio_set_msg(op->aio(), msg);
    Napi::Value p = op->Promise();
    nng_ctx_send(ctx_, op->aio());
    return p;
  }

  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    AioOp* op = AioOp::Create(env, this, AioOp::Kind::Recv);
    if (op == nullptr) return env.Undefined();
    nng_duration t = TimeoutArg(info[0]);
    if (t == NNG_DURATION_DEFAULT && nng_ctx_get_ms(ctx_, NNG_OPT_RECVTIMEO, &t) != 0)
      t = NNG_DURATION_INFINITE;
    nng_aio_set_timeout(op->aio(), t);
    Napi::Value p = op->Promise();
    nng_ctx_recv(ctx_, op->aio());
    return p;
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (info[0].IsNumber())
      CancelOne(info[0].As<Napi::Number>().Uint32Value());
    else
      CancelAll();
    return info.Env().Undefined();
  }
  Napi::Value LastOpId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), last_op_id()); }
  Napi::Value SetOpt(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    return SetOption(info, kContextOptions, &ctx_);
  }
  Napi::Value GetOpt(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    return GetOption(info, kContextOptions, &ctx_);
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_) {
      open_ = false;
      nng_ctx_close(ctx_);
      socket_.Reset();
    }
    return info.Env().Undefined();
  }
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nng_ctx_id(ctx_)); }

  nng_ctx ctx_ = NNG_CTX_INITIALIZER;
  bool open_ = false;
  Napi::ObjectReference socket_;  // a context must not outlive its socket's wrapper
};

void InitContext(Napi::Env env, Napi::Object exports, Addon* addon) {
  Napi::Function ctor = Context::Define(env);
  addon->context_ctor = Napi::Persistent(ctor);
  exports.Set("Context", ctor);
}

}  // namespace mirai
