#include "addon.h"
namespace mirai {
void InitCert(Napi::Env, Napi::Object, Addon*) {}
}  // namespace mirai
