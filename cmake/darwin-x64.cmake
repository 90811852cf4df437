# darwin-x64 (Intel Macs), macOS 11 or later: zig 0.11 ships macOS libc headers from 11 on only
# (a 10.15 target finds no <stdlib.h> declarations), so macOS 10.15, which Node 20 still runs
# on, is not covered by this prebuild and compiles from source there.
set(CMAKE_SYSTEM_NAME Darwin)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ZIG_TARGET x86_64-macos.11.0)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
