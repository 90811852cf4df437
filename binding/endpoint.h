// Listener and Dialer: the endpoints of a socket. Both are closable on their own and close
// with their socket. A listener asked for port 0 reports the real port in `url`.
#pragma once

#include <napi.h>
#include <nng/nng.h>

#include "addon.h"

namespace mirai {

class Socket;

// Socket.listen(url, tls?) / Socket.dial(url, tls?, block?) implementations.
Napi::Value StartListener(const Napi::CallbackInfo& info, Socket* sock);
Napi::Value StartDialer(const Napi::CallbackInfo& info, Socket* sock);

}  // namespace mirai
