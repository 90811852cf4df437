#include "errors.h"

#include <nng/nng.h>

#include <string>

#include "addon.h"

namespace mirai {

const char* ErrnoName(int rv) {
  switch (rv) {
    case NNG_EINTR:
      return "EINTR";
    case NNG_ENOMEM:
      return "ENOMEM";
    case NNG_EINVAL:
      return "EINVAL";
    case NNG_EBUSY:
      return "EBUSY";
    case NNG_ETIMEDOUT:
      return "ETIMEDOUT";
    case NNG_ECONNREFUSED:
      return "ECONNREFUSED";
    case NNG_ECLOSED:
      return "ECLOSED";
    case NNG_EAGAIN:
      return "EAGAIN";
    case NNG_ENOTSUP:
      return "ENOTSUP";
    case NNG_EADDRINUSE:
      return "EADDRINUSE";
    case NNG_ESTATE:
      return "ESTATE";
    case NNG_ENOENT:
      return "ENOENT";
    case NNG_EPROTO:
      return "EPROTO";
    case NNG_EUNREACHABLE:
      return "EUNREACHABLE";
    case NNG_EADDRINVAL:
      return "EADDRINVAL";
    case NNG_EPERM:
      return "EPERM";
    case NNG_EMSGSIZE:
      return "EMSGSIZE";
    case NNG_ECONNABORTED:
      return "ECONNABORTED";
    case NNG_ECONNRESET:
      return "ECONNRESET";
    case NNG_ECANCELED:
      return "ECANCELED";
    case NNG_ENOFILES:
      return "ENOFILES";
    case NNG_ENOSPC:
      return "ENOSPC";
    case NNG_EEXIST:
      return "EEXIST";
    case NNG_EREADONLY:
      return "EREADONLY";
    case NNG_EWRITEONLY:
      return "EWRITEONLY";
    case NNG_ECRYPTO:
      return "ECRYPTO";
    case NNG_EPEERAUTH:
      return "EPEERAUTH";
    case NNG_ENOARG:
      return "ENOARG";
    case NNG_EAMBIGUOUS:
      return "EAMBIGUOUS";
    case NNG_EBADTYPE:
      return "EBADTYPE";
    case NNG_ECONNSHUT:
      return "ECONNSHUT";
    case NNG_EINTERNAL:
      return "EINTERNAL";
    default:
      return (rv & NNG_ESYSERR) ? "ESYSERR" : (rv & NNG_ETRANERR) ? "ETRANERR" : "EUNKNOWN";
  }
}

Napi::Error NngError(Napi::Env env, int rv, const char* context) {
  std::string msg = nng_strerror(rv);
  if (context != nullptr && *context != '\0') {
    msg += " (";
    msg += context;
    msg += ")";
  }
  Addon* addon = GetAddon(env);
  if (addon == nullptr || addon->error_ctor.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::Number::New(env, rv));
    e.Set("errno", Napi::String::New(env, ErrnoName(rv)));
    return e;
  }
  napi_value argv[3] = {Napi::String::New(env, msg), Napi::Number::New(env, rv),
                        Napi::String::New(env, ErrnoName(rv))};
  napi_value obj;
  // Fails while a worker is being terminated (no JS may run): a plain Error needs no JS.
  if (napi_new_instance(env, addon->error_ctor.Value(), 3, argv, &obj) != napi_ok) {
    return Napi::Error();  // an exception (or termination) is already pending
  }
  return Napi::Error(env, obj);
}

Napi::Value ThrowNng(Napi::Env env, int rv, const char* context) {
  Napi::Error e = NngError(env, rv, context);
  if (!e.IsEmpty() && !env.IsExceptionPending()) e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

void InitErrors(Napi::Env env, Napi::Object exports, Addon*) {
  Napi::Object codes = Napi::Object::New(env);
  for (int rv = 1; rv <= NNG_ECONNSHUT; rv++) codes.Set(ErrnoName(rv), Napi::Number::New(env, rv));
  codes.Set("EINTERNAL", Napi::Number::New(env, NNG_EINTERNAL));
  exports.Set("errnoCodes", codes);
}

}  // namespace mirai
