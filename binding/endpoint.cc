#include "endpoint.h"

#include <string>

#include "errors.h"
#include "options.h"
#include "socket.h"
#include "tls.h"

namespace mirai {

// Both kinds share everything but the NNG calls, so one template serves Listener and Dialer.
template <typename H>
struct EndpointOps;

template <>
struct EndpointOps<nng_listener> {
  static constexpr const char* kName = "Listener";
  static int Close(nng_listener h) { return nng_listener_close(h); }
  static const OptionTarget& Options() { return kListenerOptions; }
  static int Id(nng_listener h) { return nng_listener_id(h); }
};

template <>
struct EndpointOps<nng_dialer> {
  static constexpr const char* kName = "Dialer";
  static int Close(nng_dialer h) { return nng_dialer_close(h); }
  static const OptionTarget& Options() { return kDialerOptions; }
  static int Id(nng_dialer h) { return nng_dialer_id(h); }
};

template <typename H>
class Endpoint : public Napi::ObjectWrap<Endpoint<H>> {
 public:
  static Napi::Function Define(Napi::Env env) {
    using E = Endpoint<H>;
    return E::DefineClass(
        env, EndpointOps<H>::kName,
        {E::template InstanceAccessor<&E::Url>("url"), E::template InstanceAccessor<&E::Id>("id"),
         E::template InstanceMethod<&E::SetOpt>("setOption"),
         E::template InstanceMethod<&E::GetOpt>("getOption"),
         E::template InstanceMethod<&E::Close>("close")});
  }
  explicit Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint<H>>(info) {}

  void Init(H h, std::string url, Napi::Object socket) {
    handle_ = h;
    url_ = std::move(url);
    // The socket object must outlive its endpoints' wrappers, or GC could close it under them.
    socket_ = Napi::Persistent(socket);
  }

 private:
  Napi::Value Url(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), url_); }
  Napi::Value Id(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), EndpointOps<H>::Id(handle_));
  }
  Napi::Value SetOpt(const Napi::CallbackInfo& info) {
    return SetOption(info, EndpointOps<H>::Options(), &handle_);
  }
  Napi::Value GetOpt(const Napi::CallbackInfo& info) {
    return GetOption(info, EndpointOps<H>::Options(), &handle_);
  }
  // Idempotent: closing twice, or after the socket closed, is not an error.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      closed_ = true;
      EndpointOps<H>::Close(handle_);
      socket_.Reset();
    }
    return info.Env().Undefined();
  }

  H handle_;
  std::string url_;
  bool closed_ = false;
  Napi::ObjectReference socket_;
};

using Listener = Endpoint<nng_listener>;
using Dialer = Endpoint<nng_dialer>;

// Replaces a ":0" port in url with the port the listener was given.
static std::string ResolvedUrl(const std::string& url, nng_listener l) {
  // The port ends the authority: at the first '/' after "scheme://" (ws://host:0/path), or the end.
  size_t start = url.find("://");
  if (start == std::string::npos) return url;
  size_t end = url.find('/', start + 3);
  if (end == std::string::npos) end = url.size();
  if (end < 2 || url.compare(end - 2, 2, ":0") != 0) return url;
  int port = 0;
  if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0 || port == 0) return url;
  return url.substr(0, end - 1) + std::to_string(port) + url.substr(end);
}

static bool UrlArg(const Napi::CallbackInfo& info, std::string* url) {
  if (!info[0].IsString()) {
    ThrowType(info.Env(), "url must be a string such as 'tcp://127.0.0.1:5555'");
    return false;
  }
  *url = info[0].As<Napi::String>().Utf8Value();
  return true;
}

static std::string UrlContext(const char* what, const std::string& url) {
  return std::string(what) + " '" + url + "'";
}

// Nagle off on TCP-based transports (tcp, tls+tcp, ws, wss). NNG's TCP streams default to
// Nagle on, and the TLS layer writes a message as two records in two sends: the second then
// waits for the peer's delayed ACK (~40 ms a round trip instead of ~0.1 ms). Other transports
// do not have the option (NNG_ENOTSUP), which is fine.
template <typename Endpoint, typename SetBool>
static int NoDelay(Endpoint e, SetBool set_bool) {
  int rv = set_bool(e, NNG_OPT_TCP_NODELAY, true);
  return rv == NNG_ENOTSUP ? 0 : rv;
}

Napi::Value StartListener(const Napi::CallbackInfo& info, Socket* sock) {
  Napi::Env env = info.Env();
  std::string url;
  if (!UrlArg(info, &url)) return env.Undefined();
  nng_listener l;
  int rv = nng_listener_create(&l, sock->handle(), url.c_str());
  if (rv != 0) return ThrowNng(env, rv, UrlContext("listen", url).c_str());
  if (!AttachTlsToListener(env, info[1], l)) {
    nng_listener_close(l);
    return env.Undefined();
  }
  rv = NoDelay(l, nng_listener_set_bool);
  if (rv == 0) rv = nng_listener_start(l, 0);
  if (rv != 0) {
    nng_listener_close(l);
    return ThrowNng(env, rv, UrlContext("listen", url).c_str());
  }
  Napi::Object obj = GetAddon(env)->listener_ctor.New({});
  Listener* wrap = obj.IsEmpty() ? nullptr : Listener::Unwrap(obj);
  if (wrap == nullptr) {  // the environment is stopping: no wrapper can be made (deferred.h)
    nng_listener_close(l);
    return env.Undefined();
  }
  wrap->Init(l, ResolvedUrl(url, l), info.This().As<Napi::Object>());
  return obj;
}

// A blocking dial waits for the connection on the libuv pool, never on the JS thread.
class DialWorker : public Napi::AsyncWorker {
 public:
  DialWorker(Napi::Env env, nng_dialer d, std::string url, Napi::Object dialer)
      : Napi::AsyncWorker(env, "mirai.dial"), d_(d), url_(std::move(url)), deferred_(env) {
    dialer_ = Napi::Persistent(dialer);
  }
  bool ok() const { return deferred_.ok(); }
  Napi::Value Promise() { return deferred_.Promise(); }
  void Execute() override { rv_ = nng_dialer_start(d_, 0); }
  void OnOK() override {
    Napi::Env env = Env();
    if (rv_ == 0) {
      deferred_.Resolve(dialer_.Value());
    } else {
      nng_dialer_close(d_);
      deferred_.Reject(NngError(env, rv_, UrlContext("dial", url_).c_str()).Value());
    }
  }

 private:
  nng_dialer d_;
  std::string url_;
  Deferred deferred_;
  Napi::ObjectReference dialer_;
  int rv_ = 0;
};

Napi::Value StartDialer(const Napi::CallbackInfo& info, Socket* sock) {
  Napi::Env env = info.Env();
  std::string url;
  if (!UrlArg(info, &url)) return env.Undefined();
  bool block = info[2].ToBoolean();
  nng_dialer d;
  int rv = nng_dialer_create(&d, sock->handle(), url.c_str());
  if (rv != 0) return ThrowNng(env, rv, UrlContext("dial", url).c_str());
  if (!AttachTlsToDialer(env, info[1], d)) {
    nng_dialer_close(d);
    return env.Undefined();
  }
  rv = NoDelay(d, nng_dialer_set_bool);
  if (rv != 0) {
    nng_dialer_close(d);
    return ThrowNng(env, rv, UrlContext("dial", url).c_str());
  }
  Napi::Object obj = GetAddon(env)->dialer_ctor.New({});
  Dialer* wrap = obj.IsEmpty() ? nullptr : Dialer::Unwrap(obj);
  if (wrap == nullptr) {  // the environment is stopping: no wrapper can be made (deferred.h)
    nng_dialer_close(d);
    return env.Undefined();
  }
  wrap->Init(d, url, info.This().As<Napi::Object>());
  if (block) {
    auto* w = new DialWorker(env, d, url, obj);
    if (!w->ok()) {  // the environment is stopping (deferred.h)
      delete w;
      nng_dialer_close(d);
      return env.Undefined();
    }
    Napi::Value p = w->Promise();
    w->Queue();
    return p;
  }
  rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
  if (rv != 0) {
    nng_dialer_close(d);
    return ThrowNng(env, rv, UrlContext("dial", url).c_str());
  }
  return obj;
}

void InitEndpoint(Napi::Env env, Napi::Object exports, Addon* addon) {
  Napi::Function l = Listener::Define(env);
  Napi::Function d = Dialer::Define(env);
  addon->listener_ctor = Napi::Persistent(l);
  addon->dialer_ctor = Napi::Persistent(d);
  exports.Set("Listener", l);
  exports.Set("Dialer", d);
}

}  // namespace mirai
