#!/usr/bin/env node
'use strict';
// The package's install script. In order:
//  1. A prebuild (prebuilds/<platform>-<arch>/) or an earlier build (build/Release) that loads:
//     done, silently. Loading is tried in a child process, so a file that crashes on load
//     cannot take the install down with it.
//  2. Otherwise compile from source with cmake-js, after one line saying why.
//     `npm rebuild mirai --build-from-source` (npm_config_build_from_source) goes here directly.
//  3. If there is nothing to compile with (cmake-js or node-addon-api not installed, they are
//     optional peers; or no cmake), one message saying what is needed and how to rebuild, and
//     the install still succeeds: require('mirai') then says the same. A compile that was tried
//     and failed exits non-zero after its own output and that message.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const prefix = 'mirai:';
const fromSource = /^(true|1|mirai)$/i.test(process.env.npm_config_build_from_source || '');

function describe() {
  const libc =
    process.platform === 'linux'
      ? ` ${process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc')}`
      : '';
  return `${process.platform}-${process.arch}${libc}, Node ${process.versions.node}`;
}

function loads() {
  const probe = "require(require('node-gyp-build').resolve(process.argv[1]))";
  const r = spawnSync(process.execPath, ['-e', probe, root], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  return r.status === 0;
}

function resolvable(name) {
  try {
    return require.resolve(`${name}/package.json`, { paths: [root] });
  } catch {
    return null;
  }
}

function hasCmake() {
  const r = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function needs(missing) {
  return [
    `${prefix} ${fromSource ? `asked to build from source for ${describe()}` : `no prebuilt addon for ${describe()}`}, and it cannot be compiled here: ${missing.join('; ')}.`,
    `${prefix} Prebuilds exist for linux-x64 (glibc and musl), linux-arm64 (glibc), win32-x64, darwin-x64 and darwin-arm64.`,
    `${prefix} To build from source you need cmake >= 3.15, a C/C++17 compiler (Visual Studio Build Tools on Windows),`,
    `${prefix} and the packages cmake-js and node-addon-api:  npm install cmake-js node-addon-api && npm rebuild mirai`,
  ].join('\n');
}

function main() {
  if (!fromSource && loads()) return 0;
  const cmakeJs = resolvable('cmake-js');
  const missing = [];
  if (!cmakeJs) missing.push('the cmake-js package is not installed');
  if (!resolvable('node-addon-api')) missing.push('the node-addon-api package is not installed');
  if (!hasCmake()) missing.push('cmake is not on PATH');
  if (missing.length) {
    console.warn(needs(missing));
    return 0;
  }
  console.log(
    `${prefix} ${fromSource ? 'building from source as asked' : `no prebuilt addon for ${describe()}`}; compiling with cmake-js (a few minutes)`,
  );
  const bin = path.join(path.dirname(cmakeJs), 'bin', 'cmake-js');
  const r = spawnSync(process.execPath, [bin, 'compile'], { cwd: root, stdio: 'inherit' });
  if (r.status === 0 && loads()) return 0;
  console.error(
    `\n${prefix} compiling the addon for ${describe()} failed (output above).\n` +
      `${prefix} Needed: cmake >= 3.15 and a C/C++17 compiler (Visual Studio Build Tools on Windows). Then: npm rebuild mirai`,
  );
  return 1;
}

process.exitCode = main();
