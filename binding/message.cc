#include "addon.h"
namespace mirai {
void InitMessage(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
