// Raising SIGINT from an NNG thread: the way a busy JS thread is interrupted (vm breakOnSigint).
// Sent to the process, not raise()d on the calling thread, so Node's SIGINT watchdog gets it.
#pragma once

#include <csignal>
#ifndef _WIN32
#include <unistd.h>
#endif

namespace mirai {

inline void RaiseSigint() {
#ifndef _WIN32
  kill(getpid(), SIGINT);
#else
  raise(SIGINT);
#endif
}

}  // namespace mirai
