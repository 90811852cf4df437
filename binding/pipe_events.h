// Pipe events (a peer connected or left), delivered to one JS callback per socket.
//
// NNG runs pipe callbacks with the socket lock held, so they only count and hand off: the
// event is posted to the JS thread, which calls the listener. The sink outlives the socket
// for events still in flight (shared ownership), and a closed sink drops them. Listening
// never keeps the process alive.
#pragma once

#include <napi.h>
#include <nng/nng.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "addon.h"

namespace mirai {

class PipeSink : public std::enable_shared_from_this<PipeSink> {
 public:
  explicit PipeSink(Addon* addon) : addon_(addon) {}
  // Registers the NNG callbacks for add / remove on s. Returns an NNG error code.
  int Attach(nng_socket s);
  void SetListener(Napi::Env env, Napi::Value cb);  // a function, or null/undefined to stop
  void Close();                                     // JS thread; no callback runs after this
  // Raise SIGINT in this process when a connection is lost: lets a daemon whose JS thread is
  // stuck in a synchronous loop notice that its host is gone (see lib/daemon.ts autoExit).
  void SetInterruptOnRemove(bool on) { sigint_on_remove_ = on; }
  int pipes() const { return pipes_.load(); }

 private:
  static void OnPipe(nng_pipe p, nng_pipe_ev ev, void* arg);
  friend struct PipeEvent;
  Addon* addon_;
  std::atomic<int> pipes_{0};
  std::mutex added_mu_;
  std::unordered_set<uint32_t> added_;  // pipes that got ADD_POST (refused ones never do)
  std::atomic<bool> listening_{false};
  std::atomic<bool> sigint_on_remove_{false};
  bool closed_ = false;
  Napi::FunctionReference listener_;
  std::weak_ptr<PipeSink>* self_ = nullptr;  // handed to NNG as callback argument
};

// closePipe(id): closes one connection by its pipe id.
Napi::Value ClosePipe(const Napi::CallbackInfo& info);

}  // namespace mirai
