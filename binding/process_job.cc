// ProcessJob: a Windows job object holding one child process and everything it starts, so that
// the tree can be ended at once (lib/launchers/child.ts, for launcher trees).
//
// Windows has no process groups. `taskkill /T` walks the tree by parent pid, so it misses a
// process whose parent has already exited, needs a process of its own per kill and the parent
// still alive (and wine 8's taskkill has no /T at all). A job has none of those gaps: a process
// started by a process in the job is in the job, whoever its parent is by then, and
// TerminateJobObject ends them all in one call.
//
// The child is not spawned detached, so libuv has already put it in its own job, which ends it
// when this process exits but lets the processes it starts break away silently: that job cannot
// end a tree. This job nests inside it (Windows 8 and later, and wine) and allows no silent
// breakaway, so what the child starts stays in this job, and in libuv's too, which now ends the
// whole tree, not just the child, when this process exits. A process may still leave on purpose
// (CREATE_BREAKAWAY_FROM_JOB, allowed here so that such a program keeps working), as a POSIX
// process may leave its group with setsid().
//
// No kill-on-close of its own: closing the job (close(), garbage collection) leaves its
// processes running, as a POSIX group is left running; they end by their own rules. The child
// runs for a moment before it is assigned (Node spawns it, then this assigns it): a process it
// starts within that moment is not in the job. A console program starts its own children
// milliseconds after it starts at the earliest, well after that.
#include <napi.h>

#include <string>

#include "addon.h"
#include "errors.h"

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif

namespace mirai {

namespace {

class ProcessJob : public Napi::ObjectWrap<ProcessJob> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessJob",
                       {
                           InstanceMethod("terminate", &ProcessJob::Terminate),
                           InstanceMethod("close", &ProcessJob::Close),
                           InstanceAccessor("active", &ProcessJob::Active, nullptr),
                       });
  }

  // new ProcessJob(pid): throws if the job cannot be made or the process not assigned to it.
  explicit ProcessJob(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessJob>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) {
      ThrowType(env, "ProcessJob(pid): pid must be a number");
      return;
    }
#ifdef _WIN32
    const DWORD pid = info[0].As<Napi::Number>().Uint32Value();
    HANDLE job = CreateJobObjectW(nullptr, nullptr);
    if (job == nullptr) {
      Fail(env, "CreateJobObject");
      return;
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof(limits))) {
      Fail(env, "SetInformationJobObject");
      CloseHandle(job);
      return;
    }
    HANDLE process = OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, FALSE, pid);
    if (process == nullptr) {
      Fail(env, "OpenProcess");
      CloseHandle(job);
      return;
    }
    const BOOL assigned = AssignProcessToJobObject(job, process);
    const DWORD why = GetLastError();
    CloseHandle(process);
    if (!assigned) {
      SetLastError(why);
      Fail(env, "AssignProcessToJobObject");
      CloseHandle(job);
      return;
    }
    job_ = job;
#else
    Napi::Error::New(env, "ProcessJob: job objects exist on Windows only").ThrowAsJavaScriptException();
#endif
  }

  ~ProcessJob() override {
    CloseJob();
  }

 private:
#ifdef _WIN32
  static void Fail(Napi::Env env, const char* step) {
    Napi::Error::New(env, std::string("ProcessJob: ") + step + " failed (Windows error " +
                              std::to_string(GetLastError()) + ")")
        .ThrowAsJavaScriptException();
  }
  HANDLE job_ = nullptr;
#endif

  void CloseJob() {
#ifdef _WIN32
    if (job_ != nullptr) CloseHandle(job_);
    job_ = nullptr;
#endif
  }

  // terminate(exitCode): ends every process in the job; false once closed or if Windows refused.
  Napi::Value Terminate(const Napi::CallbackInfo& info) {
#ifdef _WIN32
    const UINT code = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 1;
    return Napi::Boolean::New(info.Env(), job_ != nullptr && TerminateJobObject(job_, code) != 0);
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
  }

  // close(): lets go of the job; its processes run on.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseJob();
    return info.Env().Undefined();
  }

  // active: processes in the job now (-1 once closed or if Windows cannot tell).
  Napi::Value Active(const Napi::CallbackInfo& info) {
#ifdef _WIN32
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct{};
    if (job_ != nullptr &&
        QueryInformationJobObject(job_, JobObjectBasicAccountingInformation, &acct, sizeof(acct), nullptr)) {
      return Napi::Number::New(info.Env(), acct.ActiveProcesses);
    }
#endif
    return Napi::Number::New(info.Env(), -1);
  }
};

}  // namespace

void InitProcessJob(Napi::Env env, Napi::Object exports, Addon*) {
  exports.Set("ProcessJob", ProcessJob::Define(env));
}

}  // namespace mirai
