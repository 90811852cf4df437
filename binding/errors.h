// NNG return codes to JavaScript errors. NngError (lib/nng/errors.ts) is handed to the addon
// at load time, so errors thrown here are instances of the class users import.
#pragma once

#include <napi.h>

namespace mirai {

// 'ECLOSED', 'ETIMEDOUT', ... for an NNG error number.
const char* ErrnoName(int rv);

// new NngError(message, code, errno) for rv, with an optional context such as the URL.
Napi::Error NngError(Napi::Env env, int rv, const char* context = nullptr);

// Throw NngError(rv) as a pending JS exception; returns an undefined value for convenience.
Napi::Value ThrowNng(Napi::Env env, int rv, const char* context = nullptr);

// Throw a TypeError / RangeError.
Napi::Value ThrowType(Napi::Env env, const std::string& msg);
Napi::Value ThrowRange(Napi::Env env, const std::string& msg);

}  // namespace mirai
