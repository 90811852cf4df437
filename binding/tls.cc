#include "addon.h"
namespace mirai {
void InitTls(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
