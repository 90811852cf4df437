// Message: a received nng_msg handed to JavaScript without copying.
//
// The body is exposed as an external Buffer over the message memory. The Message object and
// every body Buffer share one MsgHolder; the nng_msg is freed when the last of them is gone.
// Forwarding (sending a Message) moves the nng_msg to NNG without a copy when no body Buffer
// is alive; otherwise it sends a duplicate, since a live Buffer must never dangle.
#pragma once

#include <napi.h>
#include <nng/nng.h>

#include <atomic>

namespace mirai {

struct MsgHolder {
  nng_msg* msg;
  std::atomic<int> refs;
  void Unref() {
    if (refs.fetch_sub(1) == 1) {
      if (msg != nullptr) nng_msg_free(msg);
      delete this;
    }
  }
};

class Message : public Napi::ObjectWrap<Message> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps msg (ownership moves to the new object). Empty if JS cannot run any more (msg freed).
  static Napi::Object New(Napi::Env env, nng_msg* msg);
  static Message* FromValue(Napi::Env env, Napi::Value v);  // nullptr if v is not a Message

  explicit Message(const Napi::CallbackInfo& info);
  ~Message();

  // The nng_msg to send, moved out (zero copy) or duplicated; nullptr + JS error if consumed.
  nng_msg* TakeForSend(Napi::Env env);

 private:
  Napi::Value Body(const Napi::CallbackInfo& info);
  Napi::Value Pipe(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value ReadUInt32LE(const Napi::CallbackInfo& info);

  MsgHolder* holder_ = nullptr;
  uint32_t pipe_ = 0;
};

// Builds a new nng_msg from a Buffer / TypedArray / ArrayBuffer / string, a Message (moved or
// duplicated, see above), or an array of those (concatenated). On bad input throws a TypeError
// naming `what` and returns nullptr. Caller owns the result.
nng_msg* MessageFromValue(Napi::Env env, Napi::Value v, const char* what);

}  // namespace mirai
