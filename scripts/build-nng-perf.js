#!/usr/bin/env node
'use strict';
// Builds NNG's own latency tools (deps/nng/src/tools/perf/perf.c as `local_lat` and `remote_lat`,
// the CMakeLists.txt targets behind the custom target `nng_perf`) for bench/nng.ts. They link the
// same vendored nng + mbedtls static libraries, configured by the same CMakeLists.txt as the
// addon, with the same Release flags.
//
// Plain cmake into a separate build dir (default .bench-build/, git-ignored), so the cmake-js
// build of the addon in build/ is never touched. Only the nng_perf target is built: the addon
// target is configured too but needs cmake-js's variables to compile, so it is left alone.
// The first build compiles nng and mbedtls (~20 s on two cores); later runs are incremental.
//
// Usage: node scripts/build-nng-perf.js [--build-dir DIR] [--quiet] [--force]
//   --force reconfigures from scratch (deletes DIR first).
// Prints the directory holding local_lat and remote_lat as the last line of stdout.
// Exits non-zero (with cmake's output) if cmake or a compiler is missing or the build fails.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const quiet = argv.includes('--quiet');
const force = argv.includes('--force');
const dirArg = argv.indexOf('--build-dir');
const buildDir = path.resolve(root, dirArg >= 0 ? argv[dirArg + 1] : process.env.NNG_PERF_BUILD_DIR || '.bench-build');
const exe = process.platform === 'win32' ? '.exe' : '';

function log(msg) {
  if (!quiet) process.stderr.write(`build-nng-perf: ${msg}\n`);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  const out = (r.stdout || '') + (r.stderr || '');
  if (r.status !== 0) {
    process.stderr.write(out);
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  }
  return out;
}

function has(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

// With a multi-config generator (Visual Studio, Xcode) the binaries land in <dir>/Release.
function findTools() {
  for (const d of [buildDir, path.join(buildDir, 'Release')]) {
    if (fs.existsSync(path.join(d, 'local_lat' + exe)) && fs.existsSync(path.join(d, 'remote_lat' + exe))) return d;
  }
  return null;
}

function main() {
  const t0 = Date.now();
  if (!has('cmake')) throw new Error('cmake not found on PATH (needed to build local_lat/remote_lat)');
  if (force && fs.existsSync(buildDir)) fs.rmSync(buildDir, { recursive: true, force: true });

  if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))) {
    const args = ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release'];
    if (process.platform !== 'win32' && has('ninja')) args.push('-G', 'Ninja');
    log(`configuring ${path.relative(root, buildDir) || buildDir}`);
    run('cmake', args);
  }
  log('building target nng_perf');
  // cmake re-runs its configure step by itself when CMakeLists.txt changes.
  run('cmake', [
    '--build',
    buildDir,
    '--config',
    'Release',
    '--target',
    'nng_perf',
    '--parallel',
    String(Math.max(1, os.cpus().length)),
  ]);
  const dir = findTools();
  if (!dir) throw new Error(`built nng_perf but found no local_lat/remote_lat under ${buildDir}`);
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
  process.stdout.write(dir + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`build-nng-perf: ${e.message}\n`);
  process.exit(1);
}
