# linux-x64 for glibc >= 2.28 (Node 20's own floor), with zig's glibc stubs of that version:
# the host g++ would tie the prebuild to this machine's glibc 2.36 (see linux-arm64-gnu.cmake).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(ZIG_TARGET x86_64-linux-gnu.2.28)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
