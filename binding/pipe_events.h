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
#include <deque>
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
  void Report(uint32_t id, int ev);  // counts and posts one event; added_mu_ held
  friend struct PipeEvent;
  Addon* addon_;
  std::atomic<int> pipes_{0};
  std::mutex added_mu_;
  std::unordered_set<uint32_t> added_;  // pipes that got ADD_POST (refused ones never do)
  // Pipes whose REM_POST came before their ADD_POST: NNG runs REM_POST in pipe_destroy without
  // waiting for the thread that is about to run ADD_POST (it holds a reference that destroy only
  // waits for afterwards). Refused pipes land here too and never leave, hence the bound.
  std::deque<uint32_t> removed_first_;
  static constexpr size_t kRemovedFirstMax = 256;
  std::atomic<bool> listening_{false};
  std::atomic<bool> sigint_on_remove_{false};
  bool closed_ = false;
  Napi::FunctionReference listener_;
  std::weak_ptr<PipeSink>* self_ = nullptr;  // handed to NNG as callback argument
};

// closePipe(id): closes one connection by its pipe id.
Napi::Value ClosePipe(const Napi::CallbackInfo& info);

// setPipeRecvMaxSize(id, bytes): the largest message this one connection may deliver from now on
// (0: no limit); a larger one closes the connection. The socket's recvMaxSize only sets the
// limit a new connection starts with. Throws ENOTSUP for inproc, ENOENT for a pipe that is gone.
Napi::Value SetPipeRecvMaxSize(const Napi::CallbackInfo& info);
// getPipeRecvMaxSize(id): that connection's current limit.
Napi::Value GetPipeRecvMaxSize(const Napi::CallbackInfo& info);

}  // namespace mirai
