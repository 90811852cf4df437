#!/usr/bin/env node
'use strict';
// `npm run prebuild`: this host's prebuild only (all six: prebuild-all.js, `npm run prebuild:all`).
// Builds the addon with cmake-js (Release), then copies it, stripped, to
//   prebuilds/<platform>-<arch>/mirai.napi[.armv<N>][.glibc|.musl].node
// which is the file-name scheme node-gyp-build parses (node-gyp-build.js: parseTuple/parseTags):
// `napi` makes it valid for every Node ABI, the libc tag keeps musl and glibc builds apart, and
// the leading `mirai` is an ignored tag. prebuildify itself cannot drive cmake-js (it spawns
// node-gyp), so this does the copy that prebuildify would do. Finally the copy is loaded through
// node-gyp-build with PREBUILDS_ONLY=1, in a child process, to prove that it resolves and loads.
//
// Options: --skip-build (package the existing build/Release output), --no-strip.
// Environment: LIBC=musl|glibc and ARM_VERSION override detection, as in node-gyp-build.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));
const platform = process.env.npm_config_platform || os.platform();
const arch = process.env.npm_config_arch || os.arch();

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

function libcTag() {
  if (platform !== 'linux') return '';
  // Same rule as node-gyp-build's loader, so the tag written is the tag it will look for.
  if (process.env.LIBC) return process.env.LIBC;
  return fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
}

function armTag() {
  if (arch !== 'arm') return '';
  const v = process.env.ARM_VERSION || (process.config.variables || {}).arm_version;
  return v ? 'armv' + v : '';
}

function build() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  // `configure` (not `reconfigure`) keeps the object files, so a dev build is reused; it forces
  // CMAKE_BUILD_TYPE=Release in case the tree was last configured for Debug.
  // glibc: libstdc++/libgcc linked in (hidden by cmake/exports.map), so this host prebuild
  // needs no GLIBCXX_* version newer than the user's (its glibc floor is still this machine's;
  // the release ones come from prebuild-all.js); only a relink if the tree was built without.
  const link =
    platform === 'linux' && libcTag() === 'glibc'
      ? ['--CDCMAKE_SHARED_LINKER_FLAGS=-static-libstdc++ -static-libgcc']
      : [];
  run(process.execPath, [cmakeJs, 'configure', '--config', 'Release', '--log-level', 'warn', ...link]);
  run(process.execPath, [
    cmakeJs,
    'build',
    '--config',
    'Release',
    '--log-level',
    'warn',
    '--parallel',
    String(os.availableParallelism ? os.availableParallelism() : os.cpus().length),
  ]);
}

function strip(file) {
  if (args.has('--no-strip') || platform === 'win32') return false;
  const argv = platform === 'darwin' ? ['-x', file] : ['--strip-unneeded', file];
  const r = spawnSync(process.env.STRIP || 'strip', argv, { stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    console.warn(`prebuild: strip unavailable or failed (${r.error ? r.error.code : r.status}); left unstripped`);
    return false;
  }
  return true;
}

function main() {
  if (!args.has('--skip-build')) build();
  const src = path.join(root, 'build', 'Release', 'mirai_nng.node');
  if (!fs.existsSync(src)) throw new Error(`prebuild: ${path.relative(root, src)} not found after build`);

  const dir = path.join(root, 'prebuilds', `${platform}-${arch}`);
  const name = ['mirai', 'napi', armTag(), libcTag(), 'node'].filter(Boolean).join('.');
  const dest = path.join(dir, name);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = dest + '.tmp';
  fs.copyFileSync(src, tmp);
  const stripped = strip(tmp);
  fs.renameSync(tmp, dest); // atomic: a concurrent loader never sees a half-written file

  // Resolve and load it the way an installed package will: prebuilds only, in a fresh process.
  const probe = [
    "const p = require('node-gyp-build').resolve(process.argv[1]);",
    'require(p);',
    'process.stdout.write(p);',
  ].join('');
  const r = spawnSync(process.execPath, ['-e', probe, root], {
    cwd: root,
    env: { ...process.env, PREBUILDS_ONLY: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`prebuild: node-gyp-build could not load the prebuild:\n${r.stderr}`);
  if (path.resolve(r.stdout) !== dest) throw new Error(`prebuild: node-gyp-build chose ${r.stdout}, not ${dest}`);

  // Not recorded in prebuilds/manifest.json: this is the host compiler's build (tied to this
  // machine's libc), fine for trying the tarball here but not the release one, so prepack.js
  // sees a file that differs from the manifest and asks for `npm run prebuild:all`.
  const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `prebuild: ${path.relative(root, dest)} ${kb(fs.statSync(dest).size)}` +
      `${stripped ? ` (stripped from ${kb(fs.statSync(src).size)})` : ''}; loads via node-gyp-build`,
  );
}

try {
  main();
} catch (err) {
  console.error(err.message);
  process.exitCode = 1;
}
