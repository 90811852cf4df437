#!/usr/bin/env node
'use strict';
// `npm run prebuild:all`: the six prebuilds the npm tarball ships, cross-built on one Linux x64
// machine with the toolchains scripts/cross-setup.sh installs:
//
//   linux-x64   glibc  zig 0.11 (glibc 2.28 stubs)   prebuilds/linux-x64/mirai.napi.glibc.node
//   linux-arm64 glibc  zig 0.11 (glibc 2.28 stubs)   prebuilds/linux-arm64/mirai.napi.glibc.node
//   linux-x64   musl   zig 0.11 (x86_64-linux-musl)  prebuilds/linux-x64/mirai.napi.musl.node
//   win32-x64          mingw-w64 (-posix, -static,   prebuilds/win32-x64/mirai.napi.node
//                      UCRT)
//   darwin-x64         zig 0.11 + ld64.lld (11.0)    prebuilds/darwin-x64/mirai.napi.node
//   darwin-arm64       zig 0.11 + ld64.lld (11.0)    prebuilds/darwin-arm64/mirai.napi.node
//
// The names follow node-gyp-build's tag rules (node-gyp-build.js parseTags/matchTags): `napi`
// matches every Node ABI and runtime, a libc tag must equal the loader's (musl only on Alpine or
// with LIBC=musl), and `mirai` is an ignored tag. darwin and win32 carry no libc tag.
//
// cmake runs directly, not through cmake-js: cmake-js picks headers, sources and libraries
// from the *host* platform (it would add its MSVC-only delay-load hook and no import library
// for a MinGW build). What it would pass is passed here as the same CMAKE_JS_* cache values.
// Each build dir (build-cross/<target>/) is kept, so a second run only relinks what changed.
//
// After each link the export table is read back (llvm-nm/llvm-objdump, which read ELF, PE and
// Mach-O) and the build fails unless it is exactly the Node-API entry points; the summary lists
// sizes, exports, the libraries each file needs, and glibc's newest symbol version.
//
// Options: --only=<id>[,<id>] (ids as in the first column, e.g. linux-arm64-glibc),
//          --clean (drop build-cross/ first), --no-setup (do not run cross-setup.sh).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const manifest = require('./prebuilds-manifest');

const root = path.resolve(__dirname, '..');
const crossDir = path.join(root, 'build-cross');
const EXPECTED_EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];

const TARGETS = [
  // glibc through zig too: built against glibc 2.28 (Node 20's floor), not this machine's 2.36.
  {
    id: 'linux-x64-glibc',
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    toolchain: 'linux-x64-gnu',
    strip: 'llvm-strip',
  },
  {
    id: 'linux-arm64-glibc',
    platform: 'linux',
    arch: 'arm64',
    libc: 'glibc',
    toolchain: 'linux-arm64-gnu',
    strip: 'llvm-strip',
  },
  {
    id: 'linux-x64-musl',
    platform: 'linux',
    arch: 'x64',
    libc: 'musl',
    toolchain: 'linux-x64-musl',
    strip: 'llvm-strip',
  },
  { id: 'win32-x64', platform: 'win32', arch: 'x64', toolchain: 'win32-x64-mingw', strip: 'x86_64-w64-mingw32-strip' },
  // Mach-O is not stripped after linking: zig signs arm64 binaries (ad hoc) at link time and a
  // later strip would invalidate the signature, which macOS on Apple silicon refuses to load.
  // Release builds carry no debug info; what stays is the local symbol table.
  { id: 'darwin-x64', platform: 'darwin', arch: 'x64', toolchain: 'darwin-x64', strip: null },
  { id: 'darwin-arm64', platform: 'darwin', arch: 'arm64', toolchain: 'darwin-arm64', strip: null },
];

const argv = process.argv.slice(2);
const opt = (name) => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  return a === undefined ? undefined : a.includes('=') ? a.slice(a.indexOf('=') + 1) : true;
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const piped = opts.stdio === 'pipe' || (Array.isArray(opts.stdio) && opts.stdio.includes('pipe'));
    const out = piped ? `\n${String(r.stdout || '').slice(-6000)}${String(r.stderr || '').slice(-3000)}` : '';
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}${out}`);
  }
  return r;
}
const capture = (cmd, args) => String(run(cmd, args, { stdio: 'pipe', encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);

function prebuildPath(t) {
  const name = ['mirai', 'napi', t.libc, 'node'].filter(Boolean).join('.');
  return path.join(root, 'prebuilds', `${t.platform}-${t.arch}`, name);
}

// What cmake-js would hand CMakeLists.txt, for the target rather than the host.
function cmakeJsValues(t, dir) {
  const headers = require(require.resolve('node-api-headers', { paths: [root] }));
  const values = { CMAKE_JS_INC: headers.include_dir, CMAKE_JS_SRC: '', CMAKE_JS_LIB: '' };
  if (t.platform === 'win32') {
    // The import library for node.exe's Node-API exports, made from node-api-headers' .def
    // (what cmake-js does with MSVC's lib.exe). A delay-load one (-y): the first call goes
    // through cmake/win_delay_load_hook.cc, which maps NODE.EXE onto the process image, so the
    // addon also loads in Electron or a renamed node.exe.
    const lib = path.join(dir, 'libnode_api_delay.a');
    run('x86_64-w64-mingw32-dlltool', ['-d', headers.def_paths.node_api_def, '-y', lib]);
    values.CMAKE_JS_LIB = lib;
  }
  return values;
}

function configureAndBuild(t) {
  const dir = path.join(crossDir, t.id);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out, { recursive: true });
  const D = {
    CMAKE_BUILD_TYPE: 'Release',
    CMAKE_LIBRARY_OUTPUT_DIRECTORY: out,
    CMAKE_RUNTIME_OUTPUT_DIRECTORY: out, // a Windows DLL is a "runtime" output
    ...cmakeJsValues(t, dir),
  };
  if (t.toolchain) D.CMAKE_TOOLCHAIN_FILE = path.join(root, 'cmake', `${t.toolchain}.cmake`);
  // zig links its libc++ in statically (hidden by the version script or export list), so no
  // prebuild needs a C++ runtime of the user's: only libc (and NODE.EXE's imports on Windows).
  const args = ['-S', root, '-B', dir, '-G', 'Ninja', '--no-warn-unused-cli', '-Wno-dev', '--log-level=WARNING'];
  for (const [k, v] of Object.entries(D)) args.push(`-D${k}=${v}`);
  run('cmake', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const jobs = String(os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  run('cmake', ['--build', dir, '--target', 'mirai_nng', '--parallel', jobs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const built = path.join(out, 'mirai_nng.node');
  if (!fs.existsSync(built)) throw new Error(`${t.id}: ${path.relative(root, built)} not found after the build`);
  return built;
}

// The file's exported (defined, global) symbols, the libraries it loads, and for glibc the
// newest GLIBC_x.y it references.
function inspect(t, file) {
  let exports;
  let needs;
  let glibc = null;
  if (t.platform === 'win32') {
    const p = capture('llvm-objdump', ['-p', file]);
    const table = p.split(/\n/);
    const start = table.findIndex((l) => /Ordinal\s+RVA\s+Name/.test(l));
    exports = [];
    if (start >= 0) {
      for (const l of table.slice(start + 1)) {
        const m = /^\s+\d+\s+0x[0-9a-f]+\s+(\S+)/.exec(l);
        if (!m) break;
        exports.push(m[1]);
      }
    }
    needs = [...p.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]);
    // One C runtime per process: node.exe's UCRT (cmake/win32-x64-mingw.cmake), never a second,
    // msvcrt.dll, which Debian's mingw-w64 links by default.
    const crt = needs.filter((n) => /^msvcr/i.test(n));
    if (crt.length) throw new Error(`${t.id}: imports ${crt.join(' ')}; the addon must link UCRT only`);
  } else if (t.platform === 'darwin') {
    exports = capture('llvm-nm', ['-g', '--defined-only', '-j', file])
      .split('\n')
      .filter(Boolean)
      .map((s) => s.replace(/^_/, ''));
    needs = [...capture('llvm-objdump', ['--macho', '--dylibs-used', file]).matchAll(/^\s+(\S+) \(/gm)]
      .map((m) => m[1])
      .filter((n) => !n.startsWith('@rpath/')); // its own install name
    // -undefined dynamic_lookup makes any unresolved symbol a flat lookup at load time: only
    // Node-API may be left to the host, everything else must bind to libSystem now.
    const binds = capture('llvm-objdump', ['--macho', '--bind', '--lazy-bind', file]);
    const flat = [...binds.matchAll(/flat-namespace\s+(\S+)/g)]
      .map((m) => m[1])
      .filter((s) => !/^_(napi|node_api)_/.test(s));
    if (flat.length) throw new Error(`${t.id}: left to the host at load time: ${flat.join(' ')}`);
  } else {
    exports = capture('llvm-nm', ['-D', '--defined-only', '-j', file]).split('\n').filter(Boolean);
    needs = [...capture('llvm-readobj', ['--needed-libs', file]).matchAll(/^\s+(\S+\.so\S*)$/gm)].map((m) => m[1]);
    if (t.libc === 'glibc') {
      const versions = [...capture('llvm-nm', ['-D', '--undefined-only', file]).matchAll(/@GLIBC_([0-9.]+)/g)].map(
        (m) => m[1],
      );
      const cmp = (a, b) => {
        const x = a.split('.').map(Number);
        const y = b.split('.').map(Number);
        return x[0] - y[0] || (x[1] || 0) - (y[1] || 0) || (x[2] || 0) - (y[2] || 0);
      };
      glibc = versions.sort(cmp).pop() || null;
      // Node 20 itself needs glibc 2.28: a prebuild must not ask for more.
      if (glibc && cmp(glibc, '2.28') > 0) throw new Error(`${t.id}: needs GLIBC_${glibc}, more than Node 20's 2.28`);
    }
  }
  return { exports: exports.sort(), needs, glibc };
}

function strip(t, file) {
  if (!t.strip) return;
  run(t.strip, ['--strip-unneeded', file], { stdio: 'inherit' });
}

// The host's own prebuild is loaded through node-gyp-build, prebuilds only, in a fresh process:
// proof that the name resolves and the file loads where this can be tried here.
function probeHost(t, dest) {
  if (t.platform !== process.platform || t.arch !== process.arch) return 'not here';
  const hostLibc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  if (t.libc && t.libc !== hostLibc) return 'not here';
  const probe = "const p = require('node-gyp-build').resolve(process.argv[1]); require(p); process.stdout.write(p)";
  const r = spawnSync(process.execPath, ['-e', probe, root], {
    cwd: root,
    env: { ...process.env, PREBUILDS_ONLY: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${t.id}: node-gyp-build could not load the prebuild:\n${r.stderr}`);
  if (path.resolve(r.stdout) !== dest) throw new Error(`${t.id}: node-gyp-build chose ${r.stdout}, not ${dest}`);
  return 'loads';
}

function main() {
  const only = opt('only');
  const targets = only ? TARGETS.filter((t) => String(only).split(',').includes(t.id)) : TARGETS;
  if (only && targets.length !== String(only).split(',').length) {
    throw new Error(`prebuild:all: unknown target in --only=${only}; targets: ${TARGETS.map((t) => t.id).join(', ')}`);
  }
  if (!opt('no-setup')) run('bash', [path.join(__dirname, 'cross-setup.sh'), 'build']);
  if (opt('clean')) fs.rmSync(crossDir, { recursive: true, force: true });

  const sources = manifest.sourceHash(); // before building: a source edited meanwhile makes it stale
  const rows = [];
  for (const t of targets) {
    const started = Date.now();
    process.stdout.write(`prebuild:all: ${t.id} ...\n`);
    const built = configureAndBuild(t);
    const dest = prebuildPath(t);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const tmp = dest + '.tmp';
    fs.copyFileSync(built, tmp);
    strip(t, tmp);
    const info = inspect(t, tmp);
    if (info.exports.join() !== EXPECTED_EXPORTS.join()) {
      fs.rmSync(tmp, { force: true });
      throw new Error(
        `${t.id}: exports ${info.exports.length} symbols, expected only ${EXPECTED_EXPORTS.join(', ')}:\n  ` +
          info.exports.slice(0, 40).join('\n  '),
      );
    }
    fs.renameSync(tmp, dest); // atomic: a concurrent loader never sees a half-written file
    const load = probeHost(t, dest);
    manifest.record(
      t.id,
      path.relative(path.join(root, 'prebuilds'), dest).split(path.sep).join('/'),
      { exports: info.exports, needs: info.needs, ...(info.glibc ? { glibc: info.glibc } : {}) },
      sources,
    );
    rows.push({ ...t, dest, size: fs.statSync(dest).size, secs: (Date.now() - started) / 1000, load, ...info });
  }

  console.log('\nprebuild:all:');
  for (const r of rows) {
    console.log(
      `  ${r.id.padEnd(18)} ${path.relative(root, r.dest).padEnd(42)} ${(r.size / 1024).toFixed(0).padStart(5)} KiB` +
        `  ${r.exports.length} exports  ${r.secs.toFixed(0).padStart(4)} s  load: ${r.load}`,
    );
    console.log(`  ${''.padEnd(18)} needs ${r.needs.join(' ')}${r.glibc ? `  (newest symbol GLIBC_${r.glibc})` : ''}`);
  }
}

try {
  main();
} catch (err) {
  console.error(`prebuild:all: ${err.message}`);
  process.exitCode = 1;
}
