# linux-x64 for musl libc (Alpine): zig's bundled musl headers and libc++, linked against the
# system's libc.so at load time (musl's loader maps a NEEDED libc.so onto itself).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ZIG_TARGET x86_64-linux-musl)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
