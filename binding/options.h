// Typed NNG options for sockets, contexts, dialers and listeners, set and read by name.
// The TypeScript layer maps its option names to NNG names and types (lib/nng/options.ts).
#pragma once

#include <napi.h>
#include <nng/nng.h>

namespace mirai {

// The setters and getters of one kind of NNG object.
struct OptionTarget {
  int (*set_ms)(void*, const char*, nng_duration);
  int (*get_ms)(void*, const char*, nng_duration*);
  int (*set_int)(void*, const char*, int);
  int (*get_int)(void*, const char*, int*);
  int (*set_size)(void*, const char*, size_t);
  int (*get_size)(void*, const char*, size_t*);
  int (*set_bool)(void*, const char*, bool);
  int (*get_bool)(void*, const char*, bool*);
  int (*set)(void*, const char*, const void*, size_t);
  int (*get_string)(void*, const char*, char**);
};

extern const OptionTarget kSocketOptions;
extern const OptionTarget kContextOptions;
extern const OptionTarget kDialerOptions;
extern const OptionTarget kListenerOptions;

// info: (name: string, type: 'ms'|'int'|'size'|'bool'|'bytes'|'string', value)
Napi::Value SetOption(const Napi::CallbackInfo& info, const OptionTarget& t, void* obj);
// info: (name: string, type)
Napi::Value GetOption(const Napi::CallbackInfo& info, const OptionTarget& t, void* obj);

}  // namespace mirai
