#include "pipe_events.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "errors.h"
#include "signals.h"

namespace mirai {

struct PipeEvent : Completion {
  std::shared_ptr<PipeSink> sink;
  uint32_t pipe;
  int ev;
  void Deliver(Napi::Env env) override {
    if (!sink->closed_ && !sink->listener_.IsEmpty() && !sink->listener_.Value().IsEmpty()) {
      sink->listener_.Call(
          {Napi::Number::New(env, ev == NNG_PIPE_EV_ADD_POST ? 1 : 0), Napi::Number::New(env, pipe)});
      // A throwing listener must not take the event loop down with an unhandled C++ state.
      if (env.IsExceptionPending()) {
        Napi::Error e = env.GetAndClearPendingException();
        napi_fatal_exception(env, e.Value());
      }
    }
    delete this;
  }
};

int PipeSink::Attach(nng_socket s) {
  // NNG keeps a raw pointer; it must stay valid until nng_close has returned, after which no
  // callback runs. The weak_ptr box is freed by Close().
  self_ = new std::weak_ptr<PipeSink>(shared_from_this());
  int rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, &PipeSink::OnPipe, self_);
  if (rv == 0) rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, &PipeSink::OnPipe, self_);
  return rv;
}

void PipeSink::OnPipe(nng_pipe p, nng_pipe_ev ev, void* arg) {
  auto sink = static_cast<std::weak_ptr<PipeSink>*>(arg)->lock();
  if (!sink) return;
  const uint32_t id = nng_pipe_id(p);
  bool gone_already = false;  // ADD_POST of a pipe whose REM_POST came first: report both
  {
    // Held while posting too, so that the events of one pipe reach JS in order.
    std::lock_guard<std::mutex> lock(sink->added_mu_);
    if (ev == NNG_PIPE_EV_ADD_POST) {
      auto& early = sink->removed_first_;
      auto it = std::find(early.begin(), early.end(), id);
      if (it != early.end()) {
        early.erase(it);
        gone_already = true;
      } else {
        sink->added_.insert(id);
      }
    } else if (sink->added_.erase(id) == 0) {
      // Refused by the protocol (never added), or its ADD_POST is still to come.
      sink->removed_first_.push_back(id);
      if (sink->removed_first_.size() > kRemovedFirstMax) sink->removed_first_.pop_front();
      return;
    }
    if (ev == NNG_PIPE_EV_ADD_POST) sink->Report(id, NNG_PIPE_EV_ADD_POST);
    if (ev == NNG_PIPE_EV_REM_POST || gone_already) sink->Report(id, NNG_PIPE_EV_REM_POST);
  }
}

void PipeSink::Report(uint32_t id, int ev) {
  if (ev == NNG_PIPE_EV_ADD_POST) {
    pipes_++;
  } else {
    pipes_--;
    if (sigint_on_remove_.load()) RaiseSigint();
  }
  if (!listening_.load()) return;
  auto* e = new PipeEvent();
  e->sink = shared_from_this();
  e->pipe = id;
  e->ev = ev;
  if (!addon_->Post(e)) delete e;
}

void PipeSink::SetListener(Napi::Env env, Napi::Value cb) {
  if (cb.IsFunction()) {
    // Weak: the socket's JS object holds the function (see Socket::OnPipe), so a listener that
    // refers to its socket does not keep an unreachable socket alive.
    listener_ = Napi::Weak(cb.As<Napi::Function>());
    listening_ = true;
  } else {
    listening_ = false;
    listener_.Reset();
  }
}

void PipeSink::Close() {
  closed_ = true;
  listening_ = false;
  listener_.Reset();
  delete self_;
  self_ = nullptr;
}

Napi::Value ClosePipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "closePipe(id) expects a pipe id (number)");
  nng_pipe p;
  p.id = info[0].As<Napi::Number>().Uint32Value();
  int rv = nng_pipe_close(p);
  if (rv != 0) return ThrowNng(env, rv, "pipe close");
  return env.Undefined();
}

static bool PipeArg(const Napi::CallbackInfo& info, nng_pipe* p) {
  if (!info[0].IsNumber()) return false;
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= 0x7fffffff) || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
  p->id = static_cast<uint32_t>(d);
  return true;
}

Napi::Value SetPipeRecvMaxSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nng_pipe p;
  if (!PipeArg(info, &p))
    return ThrowType(env, "setPipeRecvMaxSize(id, bytes) expects a pipe id (positive integer)");
  if (!info[1].IsNumber()) return ThrowType(env, "setPipeRecvMaxSize(id, bytes) expects bytes as a number");
  double d = info[1].As<Napi::Number>().DoubleValue();
  // 2^53: beyond it the double no longer names one byte count; 0 means no limit.
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    return ThrowRange(env, "setPipeRecvMaxSize: bytes must be an integer from 0 (no limit) to 2^53-1");
  }
  if (static_cast<uint64_t>(d) > SIZE_MAX)
    return ThrowRange(env, "setPipeRecvMaxSize: bytes too large for this platform");
  int rv = nng_pipe_set_size(p, NNG_OPT_RECVMAXSZ, static_cast<size_t>(d));
  if (rv != 0) {
    std::string ctx = "setting the receive limit of pipe " + std::to_string(p.id);
    if (rv == NNG_ENOTSUP) ctx += "; its transport has no per-connection limit";
    if (rv == NNG_ENOENT) ctx += "; no such pipe (closed?)";
    return ThrowNng(env, rv, ctx.c_str());
  }
  return env.Undefined();
}

Napi::Value GetPipeRecvMaxSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  nng_pipe p;
  if (!PipeArg(info, &p))
    return ThrowType(env, "getPipeRecvMaxSize(id) expects a pipe id (positive integer)");
  size_t v = 0;
  int rv = nng_pipe_get_size(p, NNG_OPT_RECVMAXSZ, &v);
  if (rv != 0) {
    std::string ctx = "reading the receive limit of pipe " + std::to_string(p.id);
    return ThrowNng(env, rv, ctx.c_str());
  }
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace mirai
