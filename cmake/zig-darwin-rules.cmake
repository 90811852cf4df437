# Loaded after CMake's Darwin platform rules (see zig.cmake): shared libraries (the addon) link
# through the ld64.lld wrapper; executables (try_compile) still link with zig.
set(CMAKE_CXX_CREATE_SHARED_LIBRARY "${MIRAI_DYLIB_LINK} <LINK_FLAGS> -o <TARGET> <OBJECTS> <LINK_LIBRARIES>")
