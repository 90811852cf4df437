#!/usr/bin/env node
// `npm run docs:check`: builds the API reference (typedoc, warnings are errors) and checks it as a
// reader would get it: every local link in every page resolves, and key pages, served over HTTP on
// 127.0.0.1, render in headless Chromium with their title, signature and the navigation that
// TypeDoc's scripts fill in. Without Chromium the browser part is skipped with a note (exit 0),
// so that a machine without it still checks the links.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { URL } from 'node:url';

const root = path.join(import.meta.dirname, '..');
const out = path.join(root, 'docs', 'api');
const failures = [];
const fail = (msg) => failures.push(msg);

execFileSync(
  process.execPath,
  [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--treatWarningsAsErrors'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);

// ---- links ----
const pages = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.html')) pages.push(p);
  }
})(out);
let links = 0;
for (const page of pages) {
  const html = fs.readFileSync(page, 'utf8');
  for (const [, href] of html.matchAll(/href="([^"#?]+)(?:[#?][^"]*)?"/g)) {
    if (/^[a-z]+:/i.test(href) || href.startsWith('//')) continue;
    links++;
    const target = path.resolve(path.dirname(page), decodeURI(href));
    if (!fs.existsSync(target)) fail(`${path.relative(out, page)}: broken link ${href}`);
  }
}
console.log(`docs: ${pages.length} pages, ${links} local links checked`);

// ---- rendered pages ----
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find(
  (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0,
);
const expect = [
  ['index.html', [/mirai for Node\.js/, /Quick start/]],
  ['functions/mirai.mirai.html', [/<h1>Function mirai<\/h1>/, /class="tsd-signature-type tsd-kind-class">Mirai<\/a>/]],
  ['functions/mirai.daemons.html', [/<h1>Function daemons<\/h1>/, /DaemonSet/]],
  ['classes/mirai_nng.Socket.html', [/<h1>Class Socket<\/h1>/, /recv/]],
];
if (!chromium) {
  console.log('docs: [skip] no Chromium on PATH (apt-get install chromium): rendered pages not checked');
} else {
  const server = http.createServer((req, res) => {
    const file = path.join(out, decodeURI(new URL(req.url, 'http://x').pathname));
    if (!file.startsWith(out) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
    res.writeHead(200, { 'content-type': type[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mirai-docs-chromium-'));
  try {
    for (const [page, patterns] of expect) {
      if (!fs.existsSync(path.join(out, page))) {
        fail(`${page}: not generated`);
        continue;
      }
      // The flags keep Chromium off the network (this machine has none) and out of the way. Not
      // spawnSync: this process serves the pages meanwhile.
      const r = await run(chromium, [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=3000',
        '--dump-dom',
        `${base}/${page}`,
      ]);
      const dom = r.stdout ?? '';
      if (r.status !== 0 || !dom.includes('</html>')) {
        fail(`${page}: Chromium exited ${r.status} ${r.signal ?? ''}: ${(r.stderr ?? '').slice(-300)}`);
        continue;
      }
      for (const re of patterns) if (!re.test(dom)) fail(`${page}: rendered page lacks ${re}`);
      // navigation.js fills the side bar from the site's index once the page has loaded.
      if (!/class="tsd-navigation[^"]*"[\s\S]*?<a href=/.test(dom)) fail(`${page}: navigation was not rendered`);
    }
  } finally {
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`docs: ${expect.length} pages rendered in ${path.basename(chromium)}`);
}

/** Runs a command to its end: { status, signal, stdout, stderr }, killed after 60 s. */
function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ status: err ? (err.code ?? 1) : 0, signal: err?.signal ?? null, stdout, stderr });
    });
  });
}

if (failures.length) {
  for (const f of failures) console.error(`docs: ${f}`);
  process.exit(1);
}
console.log('docs: ok');
