#include "socket.h"

#include <nng/protocol/bus0/bus.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/respond.h>
#include <nng/protocol/survey0/survey.h>

#include <cstring>
#include <string>

#include "endpoint.h"
#include "errors.h"
#include "message.h"
#include "options.h"
#include "signals.h"

namespace mirai {

static const napi_type_tag kSocketTag = {0x6d697261692d736fULL, 0x636b65742d746167ULL};

struct ProtocolEntry {
  const char* name;
  int (*open)(nng_socket*);
  int (*open_raw)(nng_socket*);
};

static const ProtocolEntry kProtocols[] = {
    {"req", nng_req0_open, nng_req0_open_raw},
    {"rep", nng_rep0_open, nng_rep0_open_raw},
    {"pair", nng_pair1_open, nng_pair1_open_raw},
    {"pair0", nng_pair0_open, nng_pair0_open_raw},
    {"poly", nng_pair1_open_poly, nng_pair1_open_raw},
    {"bus", nng_bus0_open, nng_bus0_open_raw},
    {"push", nng_push0_open, nng_push0_open_raw},
    {"pull", nng_pull0_open, nng_pull0_open_raw},
    {"pub", nng_pub0_open, nng_pub0_open_raw},
    {"sub", nng_sub0_open, nng_sub0_open_raw},
    {"surveyor", nng_surveyor0_open, nng_surveyor0_open_raw},
    {"respondent", nng_respondent0_open, nng_respondent0_open_raw},
};

nng_duration TimeoutArg(Napi::Value v) {
  if (!v.IsNumber()) return NNG_DURATION_DEFAULT;
  double d = v.As<Napi::Number>().DoubleValue();
  if (d == NNG_DURATION_DEFAULT) return NNG_DURATION_DEFAULT;
  if (d < 0) return NNG_DURATION_INFINITE;
  return d > 2147483647.0 ? NNG_DURATION_INFINITE : static_cast<nng_duration>(d);
}

Napi::Function Socket::Define(Napi::Env env) {
  return DefineClass(
      env, "Socket",
      {InstanceMethod<&Socket::Listen>("listen"), InstanceMethod<&Socket::Dial>("dial"),
       InstanceMethod<&Socket::Send>("send"), InstanceMethod<&Socket::Recv>("recv"),
       InstanceMethod<&Socket::Cancel>("cancel"), InstanceMethod<&Socket::SetOpt>("setOption"),
       InstanceMethod<&Socket::GetOpt>("getOption"), InstanceMethod<&Socket::OnPipe>("onPipe"),
       InstanceMethod<&Socket::Close>("close"), InstanceAccessor<&Socket::Pipes>("pipes"),
       InstanceAccessor<&Socket::Id>("id"), InstanceAccessor<&Socket::Protocol>("protocol"),
       InstanceMethod<&Socket::SetRef>("setRef"), InstanceAccessor<&Socket::LastOpId>("lastOpId"),
       InstanceMethod<&Socket::InterruptOnRemove>("interruptOnRemove")});
}

Socket* Socket::FromValue(Napi::Env env, Napi::Value v) {
  if (v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kSocketTag)) {
    return Napi::ObjectWrap<Socket>::Unwrap(v.As<Napi::Object>());
  }
  ThrowType(env, "expected a native Socket");
  return nullptr;
}

// new Socket(protocol: string, raw: boolean)
Socket::Socket(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Socket>(info), addon_(GetAddon(info.Env())) {
  Napi::Env env = info.Env();
  info.This().As<Napi::Object>().TypeTag(&kSocketTag);
  if (!info[0].IsString()) {
    ThrowType(env, "Socket protocol must be a string");
    return;
  }
  protocol_ = info[0].As<Napi::String>().Utf8Value();
  bool raw = info[1].ToBoolean();
  const ProtocolEntry* entry = nullptr;
  for (const auto& p : kProtocols) {
    if (protocol_ == p.name) entry = &p;
  }
  if (entry == nullptr) {
    ThrowType(env, "unknown protocol '" + protocol_ +
                       "': expected one of req, rep, pair, poly, bus, push, pull, pub, sub, "
                       "surveyor, respondent");
    return;
  }
  int rv = raw ? entry->open_raw(&sock_) : entry->open(&sock_);
  if (rv == 0 && raw && protocol_ == "poly") rv = nng_socket_set_bool(sock_, NNG_OPT_PAIR1_POLY, true);
  if (rv != 0) {
    ThrowNng(env, rv, ("open " + protocol_).c_str());
    return;
  }
  closed_ = false;
  pipes_ = std::make_shared<PipeSink>(addon_);
  rv = pipes_->Attach(sock_);
  if (rv != 0) {
    CloseNow();
    ThrowNng(env, rv, "pipe notify");
    return;
  }
  addon_->Track(this);
}

Socket::~Socket() {
  CloseNow();
}

void Socket::CloseNow() {
  if (closed_) return;
  closed_ = true;
  addon_->Untrack(this);
  nng_close(sock_);  // completes pending aios with ECLOSED; no pipe callback runs after it
  if (pipes_) pipes_->Close();
  if (addon_->closing()) StopAllForTeardown();
}

bool Socket::CheckOpen(Napi::Env env) {
  if (!closed_) return true;
  ThrowNng(env, NNG_ECLOSED, "socket is closed");
  return false;
}

// listen(url, tls?) -> Listener
Napi::Value Socket::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  return StartListener(info, this);
}

// dial(url, tls?, block?) -> Dialer, or Promise<Dialer> when block
Napi::Value Socket::Dial(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  return StartDialer(info, this);
}

// send(data, timeout?, pipe?) -> Promise<void>
Napi::Value Socket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  nng_msg* msg = MessageFromValue(env, info[0], "send data");
  if (msg == nullptr) return env.Undefined();
  if (info[2].IsNumber()) {
    nng_pipe p;
    p.id = info[2].As<Napi::Number>().Uint32Value();
    if (p.id != 0) nng_msg_set_pipe(msg, p);
  }
  nng_duration timeout = TimeoutArg(info[1]);
  // Fast path: most sends are accepted at once by the socket's queue; that skips a thread hop.
  // rep/respondent: a non-blocking attempt consumes the request state before it can fail.
  // Not while an earlier send waits: messages must leave in the order they were given.
  bool fast = protocol_ != "rep" && protocol_ != "respondent" && no_pending_sends();
  int rv = fast ? nng_sendmsg(sock_, msg, NNG_FLAG_NONBLOCK) : NNG_EAGAIN;
  if (rv == 0) {
    SkipOpId();
    return SettledPromise(env, env.Undefined(), true);
  }
  if (rv != NNG_EAGAIN || timeout == 0) {
    SkipOpId();
    nng_msg_free(msg);
    return SettledPromise(env, NngError(env, rv == NNG_EAGAIN ? NNG_ETIMEDOUT : rv).Value(), false);
  }
  AioOp* op = AioOp::Create(env, this, AioOp::Kind::Send);
  if (op == nullptr) {
    nng_msg_free(msg);
    return env.Undefined();
  }
  if (timeout == NNG_DURATION_DEFAULT && nng_socket_get_ms(sock_, NNG_OPT_SENDTIMEO, &timeout) != 0) {
    timeout = NNG_DURATION_INFINITE;
  }
  nng_aio_set_timeout(op->aio(), timeout);
  nng_aio_set_msg(op->aio(), msg);
  Napi::Value p = op->Promise();
  nng_send_aio(sock_, op->aio());
  return p;
}

// recv(timeout?, interruptPrefix?: Uint8Array) -> Promise<Message>
Napi::Value Socket::Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  nng_duration timeout = TimeoutArg(info[0]);
  bool interrupt = info[1].IsTypedArray();
  const uint8_t* prefix = nullptr;
  size_t prefix_len = 0;
  if (interrupt) {
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    prefix = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    prefix_len = ta.ByteLength() < AioOp::kMaxPrefix ? ta.ByteLength() : AioOp::kMaxPrefix;
  }
  // Fast path: a message already queued is taken on this thread, skipping two thread hops.
  // Only when nothing else is pending here, so receives stay in order. An armed receive
  // raises its SIGINT here just as NNG's thread would.
  if (no_pending_recvs()) {
    nng_msg* msg = nullptr;
    if (nng_recvmsg(sock_, &msg, NNG_FLAG_NONBLOCK) == 0) {
      SkipOpId();
      if (interrupt && BodyStartsWith(msg, prefix, prefix_len)) RaiseSigint();
      Napi::Object obj = Message::New(env, msg);
      if (obj.IsEmpty()) return env.Undefined();
      return SettledPromise(env, obj, true);
    }
  }
  AioOp* op = AioOp::Create(env, this, AioOp::Kind::Recv);
  if (op == nullptr) return env.Undefined();
  if (interrupt) op->InterruptOn(prefix, prefix_len);
  if (timeout == NNG_DURATION_DEFAULT && nng_socket_get_ms(sock_, NNG_OPT_RECVTIMEO, &timeout) != 0) {
    timeout = NNG_DURATION_INFINITE;
  }
  nng_aio_set_timeout(op->aio(), timeout);
  Napi::Value p = op->Promise();
  nng_recv_aio(sock_, op->aio());
  return p;
}

// cancel(): every pending operation; cancel(id): the one whose id lastOpId gave.
Napi::Value Socket::Cancel(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber())
    CancelOne(info[0].As<Napi::Number>().Uint32Value());
  else
    CancelAll();
  return info.Env().Undefined();
}

Napi::Value Socket::LastOpId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), last_op_id());
}

Napi::Value Socket::SetOpt(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return SetOption(info, kSocketOptions, &sock_);
}

Napi::Value Socket::GetOpt(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return GetOption(info, kSocketOptions, &sock_);
}

// onPipe(cb: (event: 1 | 0, pipe: number) => void | null)
Napi::Value Socket::OnPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (!info[0].IsFunction() && !info[0].IsNull() && !info[0].IsUndefined()) {
    return ThrowType(env, "onPipe expects a function or null");
  }
  // The socket object keeps the listener alive; the sink holds it weakly (no GC cycle).
  info.This().As<Napi::Object>().Set(Napi::Symbol::For(env, "mirai.pipeListener"), info[0]);
  pipes_->SetListener(env, info[0]);
  return env.Undefined();
}

Napi::Value Socket::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value Socket::Pipes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pipes_ ? pipes_->pipes() : 0);
}

Napi::Value Socket::Id(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), nng_socket_id(sock_));
}

Napi::Value Socket::Protocol(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), protocol_);
}

// setRef(false): operations started from now on do not keep the event loop alive (a server's
// perpetual receive loop, for one). Operations already pending keep their hold.
Napi::Value Socket::SetRef(const Napi::CallbackInfo& info) {
  holds_loop = info[0].ToBoolean();
  return info.Env().Undefined();
}

Napi::Value Socket::InterruptOnRemove(const Napi::CallbackInfo& info) {
  if (pipes_) pipes_->SetInterruptOnRemove(info[0].ToBoolean());
  return info.Env().Undefined();
}

void InitSocket(Napi::Env env, Napi::Object exports, Addon* addon) {
  Napi::Function ctor = Socket::Define(env);
  addon->socket_ctor = Napi::Persistent(ctor);
  exports.Set("Socket", ctor);
  exports.Set("closePipe", Napi::Function::New(env, ClosePipe, "closePipe"));
  exports.Set("setPipeRecvMaxSize", Napi::Function::New(env, SetPipeRecvMaxSize, "setPipeRecvMaxSize"));
  exports.Set("getPipeRecvMaxSize", Napi::Function::New(env, GetPipeRecvMaxSize, "getPipeRecvMaxSize"));
}

}  // namespace mirai
