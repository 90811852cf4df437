# linux-arm64 for glibc >= 2.28 (Node 20's own floor): zig's glibc stubs of that version, so
# the prebuild loads on Debian 10+, Ubuntu 20.04+, RHEL 8+. Debian's g++-aarch64-linux-gnu
# links against this machine's glibc 2.36 and then needs GLIBC_2.34+ symbols (pthread_*,
# arc4random), which would leave out Ubuntu 22.04, RHEL 8/9 and Amazon Linux 2023.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(ZIG_TARGET aarch64-linux-gnu.2.28)
include(${CMAKE_CURRENT_LIST_DIR}/zig.cmake)
