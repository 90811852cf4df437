// MinGW builds import Node-API from "NODE.EXE" (node-api-headers' node_api.def). In Electron,
// or a renamed node.exe, no module of that name is loaded and Windows would look for the file
// on disk and fail to load the addon. The import library is a delay-load one (dlltool -y, see
// scripts/prebuild-all.js), so the first Node-API call goes through __delayLoadHelper2, and
// this hook answers "NODE.EXE" with the process image, which exports Node-API in node and
// Electron alike. (MSVC builds get the same from cmake-js's win_delay_load_hook.cc.)
#if defined(_WIN32) && !defined(_MSC_VER)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <delayimp.h>
#include <string.h>

static FARPROC WINAPI MiraiLoadExeHook(unsigned dliNotify, PDelayLoadInfo pdli) {
  if (dliNotify == dliNotePreLoadLibrary && _stricmp(pdli->szDll, "node.exe") == 0) {
    return reinterpret_cast<FARPROC>(GetModuleHandleW(nullptr));
  }
  return nullptr;
}

// Set at DLL load (static initialization), before Node calls napi_register_module_v1 and so
// before the first delay-loaded import resolves. mingw-w64 defines the hook variable itself.
namespace {
struct InstallHook {
  InstallHook() { __pfnDliNotifyHook2 = MiraiLoadExeHook; }
} install_hook;
}  // namespace
#endif
