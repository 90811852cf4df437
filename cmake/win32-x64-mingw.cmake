# win32-x64 with Debian's mingw-w64. The -posix variant because NNG's Windows code is fine with
# either, but libstdc++'s std::thread/std::mutex (used by the binding) need the posix thread
# model; CMakeLists.txt links the runtime statically so the .node needs no mingw DLLs.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The C runtime is the Universal CRT (UCRT), not the old msvcrt.dll that Debian's mingw-w64
# defaults to:
# - NNG 1.12 requires it: its Windows CMake refuses to configure without timespec_get, which
#   mingw-w64's <time.h> declares only for UCRT (msvcrt.dll has no _timespec64_get).
# - node.exe and Electron are built with MSVC against UCRT (the api-ms-win-crt-* DLLs), so the
#   addon then loads no second C runtime into the process.
# Debian's gcc 12 has no -mcrtdll= (gcc 13+) and no ucrt multilib, but mingw-w64 ships the import
# library (libucrt.a: api-ms-win-crt-*.dll, as MSVC links). Two parts:
#   compile: -D_UCRT selects the UCRT declarations in mingw-w64's headers (__MSVCRT_VERSION__
#            0xE00), so timespec_get and friends exist and inline to their UCRT names;
#   link:    gcc's built-in specs end every link with -lmsvcrt; a specs file that is those specs
#            with -lmsvcrt replaced by -lucrt swaps the runtime import library and nothing else.
#            It is derived from this gcc's own -dumpspecs (not a copy pasted here), so it follows
#            whatever gcc version is installed.
# libstdc++/libgcc/libmingwex are Debian's static archives built against msvcrt headers; what
# they reference must then be in UCRT, which the link checks (an unresolved import fails it) and
# scripts/prebuild-all.js checks again by reading the DLL imports (no msvcrt.dll allowed).
# One such reference does not resolve: winpthreads (libpthread.a, which std::thread needs) calls
# msvcrt's x64 `_setjmp(buf, frame)`, which UCRT exports as `__intrinsic_setjmp` with the same
# arguments (mingw-w64's own UCRT <setjmp.h> makes exactly that rename). A linker alias, not a
# wrapper function: setjmp must not return through a frame of its own.
# This file is read again for every try_compile project, so the specs file is written per
# binary dir, and only when its content changes.
execute_process(COMMAND ${CMAKE_C_COMPILER} -dumpspecs
  OUTPUT_VARIABLE _mirai_specs RESULT_VARIABLE _mirai_specs_rc)
if(NOT _mirai_specs_rc EQUAL 0 OR NOT _mirai_specs MATCHES "-lmsvcrt")
  message(FATAL_ERROR "win32-x64-mingw.cmake: ${CMAKE_C_COMPILER} -dumpspecs failed or has no -lmsvcrt "
    "to replace (rc ${_mirai_specs_rc}); cannot switch the C runtime to UCRT")
endif()
string(REPLACE "-lmsvcrt" "-lucrt" _mirai_specs "${_mirai_specs}")
set(_mirai_specs_file "${CMAKE_BINARY_DIR}/mingw-ucrt.specs")
set(_mirai_specs_old "")
if(EXISTS "${_mirai_specs_file}")
  file(READ "${_mirai_specs_file}" _mirai_specs_old)
endif()
if(NOT _mirai_specs_old STREQUAL _mirai_specs)
  file(WRITE "${_mirai_specs_file}" "${_mirai_specs}")
endif()
set(CMAKE_C_FLAGS_INIT "-D_UCRT")
set(CMAKE_CXX_FLAGS_INIT "-D_UCRT")
foreach(_kind EXE SHARED MODULE)
  set(CMAKE_${_kind}_LINKER_FLAGS_INIT "-specs=${_mirai_specs_file} -Wl,--defsym,_setjmp=__intrinsic_setjmp")
endforeach()
