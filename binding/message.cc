#include "message.h"

#include <cstring>
#include <string>

#include "addon.h"
#include "errors.h"

namespace mirai {

static const napi_type_tag kMessageTag = {0x6d697261692d6d73ULL, 0x6d6573736167651ULL};

Napi::Function Message::Define(Napi::Env env) {
  return DefineClass(
      env, "Message",
      {InstanceAccessor<&Message::Body>("body"), InstanceAccessor<&Message::Pipe>("pipe"),
       InstanceAccessor<&Message::Length>("length"), InstanceMethod<&Message::ReadUInt32LE>("readUInt32LE")});
}

Message::Message(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Message>(info) {
  info.This().As<Napi::Object>().TypeTag(&kMessageTag);
  // Constructed empty from JS; New() fills it in. An empty Message has no body.
}

Message::~Message() {
  if (holder_ != nullptr) holder_->Unref();
}

Napi::Object Message::New(Napi::Env env, nng_msg* msg) {
  napi_value raw = nullptr;
  // Fails while the environment is being torn down (a worker ending mid-receive): the message
  // is then freed and an empty handle returned, which callers must not use.
  if (napi_new_instance(env, GetAddon(env)->message_ctor.Value(), 0, nullptr, &raw) != napi_ok ||
      raw == nullptr) {
    nng_msg_free(msg);
    return Napi::Object();
  }
  Napi::Object obj(env, raw);
  Message* m = Message::Unwrap(obj);
  if (m == nullptr) {  // the wrap itself failed: the environment stopped in between
    nng_msg_free(msg);
    return Napi::Object();
  }
  m->holder_ = new MsgHolder{msg, {1}};
  m->pipe_ = nng_pipe_id(nng_msg_get_pipe(msg));
  return obj;
}

Message* Message::FromValue(Napi::Env, Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kMessageTag)) return nullptr;
  return Napi::ObjectWrap<Message>::Unwrap(o);
}

Napi::Value Message::Body(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (holder_ == nullptr || holder_->msg == nullptr) return Napi::Buffer<uint8_t>::New(env, 0);
  nng_msg* msg = holder_->msg;
  auto* data = static_cast<uint8_t*>(nng_msg_body(msg));
  size_t len = nng_msg_len(msg);
  if (len == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  if (GetAddon(env)->external_buffers) {
    holder_->refs++;
    napi_value buf;
    napi_status st = napi_create_external_buffer(
        env, len, data, [](napi_env, void*, void* hint) { static_cast<MsgHolder*>(hint)->Unref(); }, holder_,
        &buf);
    if (st == napi_ok) return Napi::Value(env, buf);
    holder_->refs--;
    // napi_no_external_buffers_allowed (Electron's memory cage): remember and copy from now on.
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    GetAddon(env)->external_buffers = false;
  }
  return Napi::Buffer<uint8_t>::Copy(env, data, len);
}

Napi::Value Message::Pipe(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pipe_);
}

Napi::Value Message::Length(const Napi::CallbackInfo& info) {
  size_t len = (holder_ && holder_->msg) ? nng_msg_len(holder_->msg) : 0;
  return Napi::Number::New(info.Env(), static_cast<double>(len));
}

// Lets a router read a fixed header without materializing (and so pinning) the body.
Napi::Value Message::ReadUInt32LE(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t off = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  size_t len = (holder_ && holder_->msg) ? nng_msg_len(holder_->msg) : 0;
  if (static_cast<size_t>(off) + 4 > len) {
    return ThrowRange(env, "readUInt32LE: offset " + std::to_string(off) + " is outside a " +
                               std::to_string(len) + "-byte message");
  }
  const uint8_t* p = static_cast<const uint8_t*>(nng_msg_body(holder_->msg)) + off;
  uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return Napi::Number::New(env, v);
}

nng_msg* Message::TakeForSend(Napi::Env env) {
  if (holder_ == nullptr || holder_->msg == nullptr) {
    ThrowNng(env, NNG_ECLOSED, "message was already sent");
    return nullptr;
  }
  nng_msg* out = nullptr;
  if (holder_->refs.load() == 1) {
    out = holder_->msg;
    holder_->msg = nullptr;
    nng_msg_set_pipe(out, nng_pipe{0});
    return out;
  }
  int rv = nng_msg_dup(&out, holder_->msg);
  if (rv != 0) {
    ThrowNng(env, rv, "message copy");
    return nullptr;
  }
  nng_msg_set_pipe(out, nng_pipe{0});
  return out;
}

// Appends the bytes of one value to msg. Returns false (exception pending) on bad input.
static bool AppendValue(Napi::Env env, nng_msg* msg, Napi::Value v, const char* what) {
  int rv;
  if (v.IsBuffer() || v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    const uint8_t* base = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    rv = nng_msg_append(msg, base, ta.ByteLength());
  } else if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    rv = nng_msg_append(msg, ab.Data(), ab.ByteLength());
  } else if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    const uint8_t* base = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    rv = nng_msg_append(msg, base, dv.ByteLength());
  } else if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    rv = nng_msg_append(msg, s.data(), s.size());
  } else if (Message* m = Message::FromValue(env, v)) {
    if (m == nullptr) return false;
    nng_msg* other = m->TakeForSend(env);
    if (other == nullptr) return false;
    rv = nng_msg_append(msg, nng_msg_body(other), nng_msg_len(other));
    nng_msg_free(other);
  } else {
    ThrowType(env, std::string(what) +
                       " must be a Buffer, TypedArray, ArrayBuffer, string, Message or an array "
                       "of those");
    return false;
  }
  if (rv != 0) {
    ThrowNng(env, rv, what);
    return false;
  }
  return true;
}

static size_t ByteLength(Napi::Value v) {
  if (v.IsBuffer() || v.IsTypedArray()) return v.As<Napi::TypedArray>().ByteLength();
  if (v.IsArrayBuffer()) return v.As<Napi::ArrayBuffer>().ByteLength();
  if (v.IsDataView()) return v.As<Napi::DataView>().ByteLength();
  return 0;
}

nng_msg* MessageFromValue(Napi::Env env, Napi::Value v, const char* what) {
  if (Message* m = Message::FromValue(env, v)) return m->TakeForSend(env);
  nng_msg* msg = nullptr;
  size_t reserve = 0;
  bool is_array = v.IsArray();
  Napi::Array parts;
  if (is_array) {
    parts = v.As<Napi::Array>();
    for (uint32_t i = 0; i < parts.Length(); i++) reserve += ByteLength(parts.Get(i));
  } else {
    reserve = ByteLength(v);
  }
  int rv = nng_msg_alloc(&msg, 0);
  if (rv == 0 && reserve > 0) rv = nng_msg_reserve(msg, reserve);
  if (rv != 0) {
    if (msg) nng_msg_free(msg);
    ThrowNng(env, rv, what);
    return nullptr;
  }
  bool ok = true;
  if (is_array) {
    for (uint32_t i = 0; ok && i < parts.Length(); i++) ok = AppendValue(env, msg, parts.Get(i), what);
  } else {
    ok = AppendValue(env, msg, v, what);
  }
  if (!ok) {
    nng_msg_free(msg);
    return nullptr;
  }
  return msg;
}

void InitMessage(Napi::Env env, Napi::Object exports, Addon* addon) {
  Napi::Function ctor = Message::Define(env);
  addon->message_ctor = Napi::Persistent(ctor);
  exports.Set("Message", ctor);
}

}  // namespace mirai
