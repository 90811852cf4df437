#include "addon.h"
namespace mirai {
void InitSocket(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
