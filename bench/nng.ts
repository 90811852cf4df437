// bench/nng: the addon (mirai/nng) against NNG's own C perf tools, 64-byte messages, ipc and tcp.
//
//   node --import tsx bench/nng.ts      (or through `npm run bench`, which calls run())
//
// Latency: sequential ping-pong on pair1 sockets, the same shape as NNG's local_lat/remote_lat
// (deps/nng/src/tools/perf/perf.c): the measuring side sends one 64 B message and waits for the
// echo, `trips` times after a warm-up. Every peer is a separate process:
//   addon  - this process (dist/nng) dials an echo child that also runs dist/nng
//   C      - remote_lat dials local_lat, both built from perf.c against the same static nng
//   mixed  - this process dials C local_lat as the echo (isolates the measuring side's cost)
// perf.c prints "average latency" = total time / (2 x round trips), i.e. HALF a round trip, and
// only a mean (nng_clock has ms resolution, so no per-trip samples). We double it, and the ratio
// compares mean round trip with mean round trip. Each measurement is repeated `rounds` times,
// interleaved, and the least disturbed round (lowest mean) of each kind is reported: this
// machine is shared, so noise only ever adds time.
//
// Throughput: one-way stream of 64 B messages, push (child, dist/nng) -> pull (this process),
// counted for ~1 s after a warm-up; next to perf.c's local_thr/remote_thr (pair1, one-way,
// send buffer 128), run through the same binary with `-m local_thr`.
//
// Environment: NNG_BENCH_TRIPS (20000), NNG_BENCH_ROUNDS (3), NNG_BENCH_THR_MS (1000),
// NNG_BENCH_SKIP_C=1 (addon only), NNG_BENCH_PROFILE=<dir> (children run with --cpu-prof there;
// run this process itself with `node --cpu-prof ...` to profile the measuring side).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import type * as Nng from '../lib/nng';
import { best, fmt, fmtInt, summarize, type Summary } from './lib/stats';
import { printTable } from './lib/table';
import { Child, freePort, retry, run as runCmd, sleep, spawnNodeScript, tempDir } from './lib/spawn';

const ROOT = path.resolve(__dirname, '..');
const DIST_NNG = path.join(ROOT, 'dist', 'nng');
const MSG_SIZE = 64;
const TARGET_RATIO = 1.5;

const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : def;
};
const TRIPS = envInt('NNG_BENCH_TRIPS', 20_000);
const WARMUP = Math.max(500, Math.floor(TRIPS / 10));
const ROUNDS = envInt('NNG_BENCH_ROUNDS', 3);
const THR_MS = envInt('NNG_BENCH_THR_MS', 1_000);
const C_THR_COUNT = 300_000;
const SKIP_C = process.env.NNG_BENCH_SKIP_C === '1';
const PROFILE_DIR = process.env.NNG_BENCH_PROFILE;

type Transport = 'ipc' | 'tcp';
const TRANSPORTS: Transport[] = ['ipc', 'tcp'];

// The peer process: plain JavaScript on dist/nng, started with `node -e`.
// argv: <dist/nng> <mode> <url>. Ends (closing its socket) when its stdin closes.
const PEER = `
'use strict';
const [distNng, mode, url] = process.argv.slice(1);
const nng = require(distNng);
const closed = (e) => e && e.errno === 'ECLOSED';
(async () => {
  if (mode === 'echo') {
    const s = new nng.Socket('pair');
    s.listen(url);
    process.stdin.on('end', () => s.close()).resume();
    console.log('ready');
    for (;;) {
      let m;
      try { m = await s.recv(); } catch (e) { if (closed(e)) return; throw e; }
      try { await s.send(m); } catch (e) { if (closed(e)) return; throw e; }  // forwarded, no copy
    }
  } else if (mode === 'push') {
    const s = new nng.Socket('push', { sendBuffer: 128 });
    s.listen(url);
    let stop = false;
    process.stdin.on('end', () => { stop = true; s.close(); }).resume();
    console.log('ready');
    const buf = Buffer.alloc(${MSG_SIZE}, 7);
    for (let i = 1; !stop; i++) {
      try { await s.send(buf); } catch (e) { if (closed(e)) return; throw e; }
      // Sends accepted at once resolve without an event-loop turn: let stdin be seen.
      if ((i & 4095) === 0) await new Promise(setImmediate);
    }
  } else {
    throw new Error('unknown mode ' + mode);
  }
})().catch((e) => { console.error(e); process.exit(1); });
`;

interface Urls {
  url: (name: string) => Promise<string>;
  cleanup: () => void;
}

function urlMaker(t: Transport): Urls {
  if (t === 'tcp') return { url: async () => `tcp://127.0.0.1:${await freePort()}`, cleanup: () => {} };
  const tmp = tempDir('mirai-bench-');
  let n = 0;
  return { url: async (name) => `ipc://${path.join(tmp.dir, `${name}-${n++}.ipc`)}`, cleanup: tmp.cleanup };
}

function nodeArgsForChild(tag: string): string[] {
  if (!PROFILE_DIR) return [];
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${PROFILE_DIR}`,
    `--cpu-prof-name=peer-${tag}-${process.pid}-${Date.now()}.cpuprofile`,
  ];
}

function startPeer(mode: 'echo' | 'push', url: string): Child {
  return spawnNodeScript(PEER, [DIST_NNG, mode, url], { cwd: ROOT }, nodeArgsForChild(mode));
}

// ---------------------------------------------------------------------------------------------
// Addon measurements (this process is the measuring side).

/** `n` sequential round trips; returns each one's duration in µs. */
async function pingPong(s: Nng.Socket, n: number, buf: Buffer): Promise<Float64Array> {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    await s.send(buf);
    await s.recv();
    t[i] = (performance.now() - a) * 1000;
  }
  return t;
}

async function dialPair(nng: typeof Nng, url: string): Promise<Nng.Socket> {
  const s = new nng.Socket('pair');
  try {
    await retry(() => s.dial(url, { block: true }), 5_000);
  } catch (e) {
    s.close();
    throw e;
  }
  return s;
}

async function warmUp(s: Nng.Socket, n: number, buf: Buffer): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s.send(buf);
    const m = await s.recv();
    if (m.length !== buf.length) throw new Error(`echo returned ${m.length} bytes, expected ${buf.length}`);
  }
}

/** Pull from a push child for thrMs after a warm-up; messages per second. */
async function addonThroughput(nng: typeof Nng, url: string, thrMs: number): Promise<number> {
  const peer = startPeer('push', url);
  const s = new nng.Socket('pull', { recvBuffer: 128 });
  try {
    await peer.waitFor(/ready/);
    await retry(() => s.dial(url, { block: true }), 5_000);
    const w0 = performance.now();
    while (performance.now() - w0 < Math.min(200, thrMs / 5)) await s.recv();
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      await s.recv();
      n++;
      t = performance.now();
    } while (t - t0 < thrMs);
    return (n * 1000) / (t - t0);
  } finally {
    // Producer first, then our socket (no receive pending at that point): closing a pull socket
    // while the stream is still flowing and several receives are pending has been seen to hang
    // in nng_close (see the report of this bench).
    await peer.stop();
    s.close();
  }
}

// ---------------------------------------------------------------------------------------------
// C perf tools (perf.c).

interface CTools {
  local: string;
  remote: string;
}

function buildCTools(): CTools | string {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-nng-perf.js'), '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0)
    return `build-nng-perf failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-5).join(' / ')}`;
  const dir = r.stdout.trim().split('\n').pop()!;
  const exe = process.platform === 'win32' ? '.exe' : '';
  console.log(
    `C perf tools: ${path.relative(ROOT, dir) || dir} (built/checked in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return { local: path.join(dir, 'local_lat' + exe), remote: path.join(dir, 'remote_lat' + exe) };
}

/** remote_lat/remote_thr dial synchronously and fail if the listener is not up yet: retry. */
async function runDialer(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const r = await runCmd(cmd, args, timeoutMs);
    if (r.code === 0) return r.stdout;
    if (Date.now() > deadline || !/nng_dial/.test(r.stderr)) {
      throw new Error(`${path.basename(cmd)} ${args.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    }
    await sleep(20);
  }
}

/** Mean round trip in µs from remote_lat (which prints half of it). */
async function cLatency(tools: CTools, url: string, trips: number): Promise<number> {
  const server = new Child(tools.local, [url, String(MSG_SIZE), String(trips)], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const out = await runDialer(tools.remote, [url, String(MSG_SIZE), String(trips)], 60_000);
    const m = out.match(/average latency:\s*([\d.]+)\s*\[us\]/);
    if (!m) throw new Error(`unexpected remote_lat output: ${out}`);
    return 2 * Number(m[1]);
  } finally {
    await server.wait(5_000);
  }
}

/** Messages per second from local_thr (receiver) fed by remote_thr (sender). */
async function cThroughput(tools: CTools, url: string, count: number): Promise<number> {
  const server = new Child(tools.local, ['-m', 'local_thr', url, String(MSG_SIZE), String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await runDialer(tools.remote, ['-m', 'remote_thr', url, String(MSG_SIZE), String(count)], 60_000);
    await server.wait(10_000);
    const m = server.stdout.match(/throughput:\s*([\d.]+)\s*\[msg\/s\]/);
    if (!m) throw new Error(`unexpected local_thr output: ${server.stdout} ${server.stderr}`);
    return Number(m[1]);
  } finally {
    server.kill();
  }
}

/** The addon measuring against C local_lat as the echo. */
async function mixedLatency(nng: typeof Nng, tools: CTools, url: string, buf: Buffer): Promise<Summary> {
  const warm = Math.min(WARMUP, 2_000);
  const server = new Child(tools.local, [url, String(MSG_SIZE), String(warm + TRIPS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let s: Nng.Socket | undefined;
  try {
    s = await dialPair(nng, url);
    await warmUp(s, warm, buf);
    return summarize(await pingPong(s, TRIPS, buf));
  } finally {
    s?.close();
    await server.wait(5_000);
  }
}

// ---------------------------------------------------------------------------------------------

export interface TransportResult {
  transport: Transport;
  addon: Summary[];
  c: number[];
  mixed: Summary[];
  addonMsgs: number;
  cMsgs: number;
}

async function benchTransport(nng: typeof Nng, t: Transport, tools: CTools | undefined): Promise<TransportResult> {
  const urls = urlMaker(t);
  const buf = Buffer.alloc(MSG_SIZE, 1);
  const res: TransportResult = { transport: t, addon: [], c: [], mixed: [], addonMsgs: NaN, cMsgs: NaN };
  const echoUrl = await urls.url('echo');
  const echo = startPeer('echo', echoUrl);
  let s: Nng.Socket | undefined;
  try {
    await echo.waitFor(/ready/);
    s = await dialPair(nng, echoUrl);
    await warmUp(s, WARMUP, buf);
    for (let r = 0; r < ROUNDS; r++) {
      if (tools) res.c.push(await cLatency(tools, await urls.url('clat'), TRIPS));
      res.addon.push(summarize(await pingPong(s, TRIPS, buf)));
      if (tools) res.mixed.push(await mixedLatency(nng, tools, await urls.url('mixed'), buf));
    }
    s.close();
    s = undefined;
    await echo.stop();
    res.addonMsgs = await addonThroughput(nng, await urls.url('thr'), THR_MS);
    if (tools) res.cMsgs = await cThroughput(tools, await urls.url('cthr'), C_THR_COUNT);
  } finally {
    s?.close();
    await echo.stop();
    urls.cleanup();
  }
  return res;
}

function report(results: TransportResult[]): void {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of results) {
    const a = best(r.addon, (x) => x.mean)!;
    const c = r.c.length ? Math.min(...r.c) : NaN;
    const mixed = best(r.mixed, (x) => x.mean);
    const ratio = a.mean / c;
    rows.push([
      r.transport,
      fmt(a.median),
      fmt(a.p99),
      fmt(a.mean),
      fmtInt(r.addonMsgs),
      fmt(c),
      fmtInt(r.cMsgs),
      Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-',
    ]);
    notes.push(
      `  ${r.transport}: mean RTT per round (µs): addon ${r.addon.map((x) => fmt(x.mean)).join(' / ')}` +
        (r.c.length ? `; C ${r.c.map((x) => fmt(x)).join(' / ')}` : '') +
        (mixed
          ? `; addon client vs C echo: median ${fmt(mixed.median)}, p99 ${fmt(mixed.p99)}, mean ${fmt(mixed.mean)} (${(mixed.mean / c).toFixed(2)}x C)`
          : ''),
    );
  }
  console.log('');
  printTable(
    [
      'transport',
      'addon median µs',
      'addon p99 µs',
      'addon mean µs',
      'addon msgs/s',
      'C RTT µs (mean)',
      'C msgs/s',
      'ratio addon/C',
    ],
    rows,
    {
      title: `NNG round trip (pair1 ping-pong, ${MSG_SIZE} B, ${fmtInt(TRIPS)} trips, best of ${ROUNDS} rounds) and one-way throughput`,
    },
  );
  console.log(
    [
      '',
      'Round trip = send + receive of the echo, per trip, both peers in separate processes of the same kind',
      '(addon: Node + dist/nng on both sides; C: perf.c remote_lat -> local_lat). perf.c reports',
      '"average latency" = total / (2 x round trips), half a round trip and a mean only; the C column is',
      `twice that, so the ratio compares mean round trip with mean round trip. Target: ratio <= ${TARGET_RATIO}x.`,
      'Throughput: addon push (child) -> pull (this process) counted over ~' + THR_MS + ' ms; C: perf.c',
      `local_thr/remote_thr (pair1, ${fmtInt(C_THR_COUNT)} messages).`,
      ...notes,
    ].join('\n'),
  );
  const worst = Math.max(...results.map((r) => best(r.addon, (x) => x.mean)!.mean / Math.min(...r.c)));
  if (Number.isFinite(worst)) {
    console.log(
      worst <= TARGET_RATIO
        ? `target met: addon/C <= ${TARGET_RATIO}x`
        : `target missed: worst addon/C ratio ${worst.toFixed(2)}x > ${TARGET_RATIO}x`,
    );
  }
}

export async function measure(): Promise<TransportResult[]> {
  if (!fs.existsSync(path.join(DIST_NNG, 'index.js'))) {
    throw new Error(`bench/nng: ${path.relative(ROOT, DIST_NNG)} is missing; run \`npm run build\` first`);
  }
  const nng: typeof Nng = require(DIST_NNG);
  let tools: CTools | undefined;
  if (!SKIP_C) {
    const built = buildCTools();
    if (typeof built === 'string') console.log(`C perf tools unavailable (${built}); addon only`);
    else tools = built;
  }
  if (PROFILE_DIR) fs.mkdirSync(PROFILE_DIR, { recursive: true });
  const out: TransportResult[] = [];
  for (const t of TRANSPORTS) out.push(await benchTransport(nng, t, tools));
  return out;
}

export async function run(): Promise<void> {
  const t0 = performance.now();
  console.log(
    `bench/nng: mirai/nng addon vs NNG's perf.c, node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(2)}`,
  );
  const results = await measure();
  report(results);
  console.log(`(bench/nng took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (require.main === module) {
  run().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
