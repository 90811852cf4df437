#include "addon.h"
namespace mirai {
void InitContext(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
