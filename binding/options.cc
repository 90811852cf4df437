#include "options.h"

#include <string>

#include "errors.h"

namespace mirai {

// NNG's handles are small structs passed by value; these adapters give every kind one shape.
#define MIRAI_OPTION_TARGET(NAME, T, PFX)                                                         \
  const OptionTarget NAME = {                                                                     \
      [](void* o, const char* n, nng_duration v) { return PFX##_set_ms(*(T*)o, n, v); },          \
      [](void* o, const char* n, nng_duration* v) { return PFX##_get_ms(*(T*)o, n, v); },         \
      [](void* o, const char* n, int v) { return PFX##_set_int(*(T*)o, n, v); },                  \
      [](void* o, const char* n, int* v) { return PFX##_get_int(*(T*)o, n, v); },                 \
      [](void* o, const char* n, size_t v) { return PFX##_set_size(*(T*)o, n, v); },              \
      [](void* o, const char* n, size_t* v) { return PFX##_get_size(*(T*)o, n, v); },             \
      [](void* o, const char* n, bool v) { return PFX##_set_bool(*(T*)o, n, v); },                \
      [](void* o, const char* n, bool* v) { return PFX##_get_bool(*(T*)o, n, v); },               \
      [](void* o, const char* n, const void* v, size_t l) { return PFX##_set(*(T*)o, n, v, l); }, \
      [](void* o, const char* n, char** v) { return PFX##_get_string(*(T*)o, n, v); },            \
  }

MIRAI_OPTION_TARGET(kSocketOptions, nng_socket, nng_socket);
MIRAI_OPTION_TARGET(kContextOptions, nng_ctx, nng_ctx);
MIRAI_OPTION_TARGET(kDialerOptions, nng_dialer, nng_dialer);
MIRAI_OPTION_TARGET(kListenerOptions, nng_listener, nng_listener);

#undef MIRAI_OPTION_TARGET

static std::string Context(const std::string& name) {
  return "option " + name;
}

Napi::Value SetOption(const Napi::CallbackInfo& info, const OptionTarget& t, void* obj) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) {
    return ThrowType(env, "setOption(name, type, value) expects strings for name and type");
  }
  std::string name = info[0].As<Napi::String>();
  std::string type = info[1].As<Napi::String>();
  Napi::Value v = info[2];
  int rv;
  if (type == "ms" || type == "int" || type == "size") {
    if (!v.IsNumber()) return ThrowType(env, Context(name) + " expects a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (type == "ms")
      rv = t.set_ms(obj, name.c_str(), d < 0 ? NNG_DURATION_INFINITE : (nng_duration)d);
    else if (type == "int")
      rv = t.set_int(obj, name.c_str(), (int)d);
    else
      rv = t.set_size(obj, name.c_str(), (size_t)(d < 0 ? 0 : d));
  } else if (type == "bool") {
    rv = t.set_bool(obj, name.c_str(), v.ToBoolean());
  } else if (type == "string") {
    if (!v.IsString()) return ThrowType(env, Context(name) + " expects a string");
    std::string s = v.As<Napi::String>();
    rv = t.set(obj, name.c_str(), s.c_str(), s.size() + 1);
  } else if (type == "bytes") {
    if (v.IsString()) {
      std::string s = v.As<Napi::String>();
      rv = t.set(obj, name.c_str(), s.data(), s.size());
    } else if (v.IsBuffer() || v.IsTypedArray()) {
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      rv = t.set(obj, name.c_str(), (uint8_t*)ta.ArrayBuffer().Data() + ta.ByteOffset(), ta.ByteLength());
    } else {
      return ThrowType(env, Context(name) + " expects a string or Buffer");
    }
  } else {
    return ThrowType(env, "unknown option type '" + type + "'");
  }
  if (rv != 0) return ThrowNng(env, rv, Context(name).c_str());
  return env.Undefined();
}

Napi::Value GetOption(const Napi::CallbackInfo& info, const OptionTarget& t, void* obj) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) {
    return ThrowType(env, "getOption(name, type) expects strings");
  }
  std::string name = info[0].As<Napi::String>();
  std::string type = info[1].As<Napi::String>();
  int rv;
  if (type == "ms") {
    nng_duration d;
    if ((rv = t.get_ms(obj, name.c_str(), &d)) == 0) return Napi::Number::New(env, d);
  } else if (type == "int") {
    int i;
    if ((rv = t.get_int(obj, name.c_str(), &i)) == 0) return Napi::Number::New(env, i);
  } else if (type == "size") {
    size_t s;
    if ((rv = t.get_size(obj, name.c_str(), &s)) == 0) return Napi::Number::New(env, (double)s);
  } else if (type == "bool") {
    bool b;
    if ((rv = t.get_bool(obj, name.c_str(), &b)) == 0) return Napi::Boolean::New(env, b);
  } else if (type == "string") {
    char* s = nullptr;
    if ((rv = t.get_string(obj, name.c_str(), &s)) == 0) {
      Napi::String out = Napi::String::New(env, s);
      nng_strfree(s);
      return out;
    }
  } else {
    return ThrowType(env, "unknown option type '" + type + "'");
  }
  return ThrowNng(env, rv, Context(name).c_str());
}

}  // namespace mirai
