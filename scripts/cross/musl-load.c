// Load check of the linux-x64 musl prebuild under musl's own dynamic loader (there is no musl
// Node to run here): built with musl-gcc together with stubs for every Node-API function
// (scripts/cross-test.sh writes them from node-api-headers' def file) and -rdynamic, so the
// addon's Node-API imports resolve the way node would provide them. It proves that the loader
// accepts the file, that every other import is in musl's libc, that the static initializers
// (libc++, nng, mbedtls) run, and that nng's symbols are not exported.
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
  int (*v)(void) = (int (*)(void))dlsym(h, "node_api_module_get_api_version_v1");
  void* r = dlsym(h, "napi_register_module_v1");
  void* leak = dlsym(h, "nng_socket_close");
  printf("loaded; api version %d; register %s; nng_socket_close %s\n", v ? v() : -1, r ? "found" : "missing", leak ? "EXPORTED" : "hidden");
  return !(v && r);
}
