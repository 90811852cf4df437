'use strict';
// prebuilds/manifest.json: which prebuilds exist, their checksums, and a hash of the native
// sources they were built from. prebuild-all.js and prebuild.js write it; prepack.js reads it
// to refuse a tarball whose prebuilds are missing, altered, or older than the sources.
// (node-gyp-build ignores the file: it only reads <platform>-<arch> folders.)
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const file = path.join(root, 'prebuilds', 'manifest.json');

// Everything that changes the compiled addon. Not package.json: a version bump alone does not.
const SOURCES = ['CMakeLists.txt', 'cmake', 'binding', 'deps/nng', 'deps/mbedtls'];

// The six targets the tarball must carry (ids as in prebuild-all.js).
const REQUIRED = {
  'linux-x64-glibc': 'linux-x64/mirai.napi.glibc.node',
  'linux-arm64-glibc': 'linux-arm64/mirai.napi.glibc.node',
  'linux-x64-musl': 'linux-x64/mirai.napi.musl.node',
  'win32-x64': 'win32-x64/mirai.napi.node',
  'darwin-x64': 'darwin-x64/mirai.napi.node',
  'darwin-arm64': 'darwin-arm64/mirai.napi.node',
};

function listFiles(rel) {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [rel];
  return fs
    .readdirSync(abs)
    .sort()
    .flatMap((n) => listFiles(path.join(rel, n)));
}

function sourceHash() {
  const h = crypto.createHash('sha256');
  for (const rel of SOURCES.flatMap(listFiles)) {
    h.update(rel.split(path.sep).join('/') + '\0');
    h.update(fs.readFileSync(path.join(root, rel)));
    h.update('\0');
  }
  return h.digest('hex');
}

const sha256 = (p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

function read() {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return { prebuilds: {} };
  }
}

// Records one freshly built prebuild (path relative to prebuilds/).
function record(id, rel, extra = {}, hash = sourceHash()) {
  const m = read();
  m.prebuilds = m.prebuilds || {};
  const abs = path.join(root, 'prebuilds', rel);
  m.prebuilds[id] = { file: rel, bytes: fs.statSync(abs).size, sha256: sha256(abs), sources: hash, ...extra };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(m, null, 2) + '\n');
}

// Problems that make the prebuilds unfit to publish, one line each (empty: all six are good).
function problems() {
  const m = read();
  const hash = sourceHash();
  const out = [];
  for (const [id, rel] of Object.entries(REQUIRED)) {
    const abs = path.join(root, 'prebuilds', rel);
    const e = m.prebuilds && m.prebuilds[id];
    if (!fs.existsSync(abs)) out.push(`${id}: prebuilds/${rel} is missing`);
    else if (!e)
      out.push(`${id}: prebuilds/${rel} is not in prebuilds/manifest.json (not built by the prebuild scripts)`);
    else if (e.sha256 !== sha256(abs)) out.push(`${id}: prebuilds/${rel} differs from the file that was built`);
    else if (e.sources !== hash) out.push(`${id}: built from older sources (${SOURCES.join(', ')} changed since)`);
  }
  return out;
}

module.exports = { REQUIRED, SOURCES, sourceHash, record, problems, read, file };
