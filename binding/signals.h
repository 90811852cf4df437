// Interrupting this process's busy JS thread from an NNG thread: the event Node's SIGINT
// watchdog (vm breakOnSigint) listens for.
//
// POSIX: SIGINT sent to the process, not raise()d on the calling thread, so Node's watchdog
// thread gets it.
//
// Windows has no SIGINT to send: Node's watchdog is a console control handler
// (SetConsoleCtrlHandler; Ctrl-C and Ctrl-Break both break the run), and the CRT's raise(SIGINT)
// never reaches it: it runs the CRT's own default action, which exits the process. That was W3:
// stopping a running task killed the daemon. What reaches the handlers is what Windows itself
// does for a console event: run kernel32's CtrlRoutine on a new thread of the process, with the
// event as its argument; it calls the registered handlers, newest first, until one returns TRUE.
// CtrlRoutine is exported by kernel32 (Windows 7 and later, and wine) for exactly that use: the
// console host starts it in each attached process. Doing it in-process needs no console, no
// process group and touches no other process (GenerateConsoleCtrlEvent needs the daemon to share
// a console and reaches every process in the group, task children included).
// Ctrl-Break, not Ctrl-C: a process started with CREATE_NEW_PROCESS_GROUP (Node's `detached`)
// ignores Ctrl-C, and a Ctrl-C is first offered to a debugger as an exception. With no handler
// taking it the default handler ends the process, as an unhandled SIGINT does on POSIX: the
// daemon's SIGINT keeper keeps Node's handler registered for that reason (sigint-keeper.ts).
#pragma once

#include <csignal>
#ifndef _WIN32
#include <unistd.h>
#else
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif

namespace mirai {

#ifdef _WIN32
// kernel32!CtrlRoutine, looked up once (kernel32 is always loaded, never unloaded).
inline LPTHREAD_START_ROUTINE CtrlRoutineAddress() {
  static const LPTHREAD_START_ROUTINE routine = []() -> LPTHREAD_START_ROUTINE {
    HMODULE k32 = GetModuleHandleW(L"kernel32.dll");
    if (k32 == nullptr) return nullptr;
    return reinterpret_cast<LPTHREAD_START_ROUTINE>(
        reinterpret_cast<void*>(GetProcAddress(k32, "CtrlRoutine")));
  }();
  return routine;
}

// wine, unlike Windows, skips Ctrl-Break as well when the process ignores Ctrl-C (bit 0 of the
// PEB's ConsoleFlags, which CREATE_NEW_PROCESS_GROUP sets: Node's `detached` children). Such a
// process without a console (`detached` is DETACHED_PROCESS too) can receive no Ctrl-C from
// anyone, so the flag protects nothing there and is cleared; with a console, the parent's choice
// to keep the user's Ctrl-C away stands (Windows delivers the Ctrl-Break regardless).
inline void AcceptCtrlEventsIfConsoleless() {
  DWORD pid = 0;
  if (GetConsoleProcessList(&pid, 1) == 0) SetConsoleCtrlHandler(nullptr, FALSE);
}
#endif

// Returns false if the interrupt could not be sent (Windows: no CtrlRoutine, or no thread). NNG
// threads have no one to tell: the daemon counts an interrupt that never lands as lost after
// SETTLE_WAIT (lib/daemon/interrupts.ts) and the task runs on, as with no mechanism at all.
inline bool RaiseSigint() {
#ifndef _WIN32
  return kill(getpid(), SIGINT) == 0;
#else
  LPTHREAD_START_ROUTINE routine = CtrlRoutineAddress();
  if (routine == nullptr) return false;
  static const bool accepting = (AcceptCtrlEventsIfConsoleless(), true);
  (void)accepting;
  // A small stack: CtrlRoutine only calls the handlers (Node's takes a mutex and calls V8).
  HANDLE t = CreateThread(nullptr, 64 * 1024, routine,
                          reinterpret_cast<LPVOID>(static_cast<DWORD_PTR>(CTRL_BREAK_EVENT)),
                          STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (t == nullptr) return false;
  CloseHandle(t);  // the thread runs on and ends by itself
  return true;
#endif
}

}  // namespace mirai
