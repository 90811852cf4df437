#include "addon.h"
namespace mirai {
void InitEndpoint(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
