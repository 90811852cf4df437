// Socket: one NNG socket of any protocol, with async send/recv, endpoints, options and pipe
// events. Close is idempotent and allowed from any state: pending operations reject with
// ECLOSED. Garbage collection of an unreachable socket closes it (pending operations pin it).
#pragma once

#include <napi.h>
#include <nng/nng.h>

#include <memory>

#include "addon.h"
#include "aio_op.h"
#include "pipe_events.h"

namespace mirai {

class Socket : public Napi::ObjectWrap<Socket>, public AioOwner, public Closable {
 public:
  static Napi::Function Define(Napi::Env env);
  static Socket* FromValue(Napi::Env env, Napi::Value v);  // TypeError unless a Socket

  explicit Socket(const Napi::CallbackInfo& info);
  ~Socket() override;

  nng_socket handle() const { return sock_; }
  bool closed() const { return closed_; }
  void CloseNow() override;
  void KeepAlive() override { Ref(); }
  void LetGo() override { Unref(); }

 private:
  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value Dial(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Recv(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value SetOpt(const Napi::CallbackInfo& info);
  Napi::Value GetOpt(const Napi::CallbackInfo& info);
  Napi::Value OnPipe(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Pipes(const Napi::CallbackInfo& info);
  Napi::Value Id(const Napi::CallbackInfo& info);
  Napi::Value Protocol(const Napi::CallbackInfo& info);
  Napi::Value SetRef(const Napi::CallbackInfo& info);
  Napi::Value LastOpId(const Napi::CallbackInfo& info);
  Napi::Value InterruptOnRemove(const Napi::CallbackInfo& info);
  bool CheckOpen(Napi::Env env);

  nng_socket sock_ = NNG_SOCKET_INITIALIZER;
  std::shared_ptr<PipeSink> pipes_;
  Addon* addon_;
  bool closed_ = true;
  std::string protocol_;
};

// Timeout argument of send/recv: a number of ms, -1 for none, or undefined/-2 for the
// owner's sendTimeout / recvTimeout option.
nng_duration TimeoutArg(Napi::Value v);

}  // namespace mirai
