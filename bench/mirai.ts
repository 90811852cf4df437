// bench/mirai: this package against what a Node user would pick instead, all with 2 workers.
//
//   node --import tsx bench/mirai.ts      (or through `npm run bench`, which calls run())
//
// Implementations (one after the other, in one process):
//   mirai, dispatcher thread    daemons(2)                              2 daemon processes
//   mirai, dispatcher process   daemons(2, { dispatcher: 'process' })   2 daemon processes
//   mirai, round-robin          daemons(2, { dispatcher: false })       2 daemon processes
//   piscina, tinypool, workerpool (thread)                               2 worker threads
//   workerpool (process), bare child_process.fork ping-pong              2 child processes
// Each task is a real equivalent everywhere: mirai sends `(d) => d.x + 1` / `(d) => d.a` with
// its data; the peers run the same functions from bench/peers/fixtures/ on the same data, and
// values cross by structured clone (v8 serialization) in every implementation, never transferred
// (process peers use `serialization: 'advanced'`, or a Float64Array would come back as an object).
//
// Workloads:
//   1. latency: sequential round trips of the tiny task, TRIPS after WARMUP; median and p99 (µs)
//   2. throughput: TASKS tiny tasks submitted at once, awaited together; best of 3 (tasks/s)
//   3. payload: 200 sequential round trips of a 1 MiB Float64Array (sent, returned); MiB/s one
//      way = 200 MiB / total time
//   4. start: from calling daemons(2) / creating the pool to the first tiny result; median of
//      STARTS fresh starts (ms). Module loading is done before and not counted.
//   5. this package only: daemons(2) until both connected (ms, median of the same STARTS starts),
//      and everywhere() on the 2 daemons (µs, median of EVERYWHERE calls after a warm-up).
//
// Environment: MIRAI_BENCH_ONLY=<comma-separated substrings of row names> (e.g. "thread,piscina"),
// MIRAI_BENCH_TRIPS (2000), MIRAI_BENCH_TASKS (10000), MIRAI_BENCH_STARTS (5).
// The suite measures in a plain `node` child (tsx registered through its API), not under
// `--import tsx`, which worker threads would inherit (see run()).
// Profiling: the host side with `node --cpu-prof --import tsx bench/mirai.ts` (the flag is passed
// on to the child); daemons with `daemons(2, { execArgv: ['--cpu-prof'] })`, or run one by hand:
// `node --cpu-prof dist/cli.js daemon <url>` against `daemons({ url })`.
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { daemons, everywhere, mirai, type DaemonsOptions } from '../dist';
import { fmt, fmtInt, medianOfSorted, summarize } from './lib/stats';
import { report } from './lib/mirai-report';
import {
  EVERYWHERE,
  EVERYWHERE_WARMUP,
  PAYLOAD_DOUBLES,
  PAYLOAD_TRIPS,
  PAYLOAD_WARMUP,
  STARTS,
  TASK_ROUNDS,
  TASKS,
  TRIPS,
  WARMUP,
  type Mode,
  type Result,
} from './lib/mirai-spec';
import { bareFork } from './peers/fork';
import { piscina } from './peers/piscina';
import { tinypool } from './peers/tinypool';
import type { Impl, Runner } from './peers/types';
import { workerpoolProcess, workerpoolThread } from './peers/workerpool';

/** A workload that takes longer than this has hung: the row reports it and the bench goes on. */
const WORKLOAD_TIMEOUT = 20_000;

// ---------------------------------------------------------------------------------------------
// This package as an Impl, one per mode.

interface MiraiRunner extends Runner {
  /** Time from calling daemons(2) until it resolved (both daemons connected), ms. */
  connectMs: number;
  everywhere(i: number): PromiseLike<unknown>;
}

// The task functions: sent as source text, so they must not use anything from this module.
const tinyTask = (d: { x: number }): number => d.x + 1;
const echoTask = (d: { a: Float64Array }): Float64Array => d.a;
const everywhereTask = (d: { x: number }): number => {
  (globalThis as Record<string, unknown>).benchValue = d.x;
  return d.x;
};

function miraiImpl(mode: Mode, opts: DaemonsOptions): Impl & { mode: Mode; start(): Promise<MiraiRunner> } {
  return {
    name: `mirai, ${mode}`,
    mode,
    workers: 'process',
    async start(): Promise<MiraiRunner> {
      const t0 = performance.now();
      await daemons(2, opts);
      const connectMs = performance.now() - t0;
      let closed: Promise<void> | undefined;
      return {
        connectMs,
        tiny: (x) => mirai(tinyTask, { x }),
        echo: (a) => mirai(echoTask, { a }),
        everywhere: (i) => everywhere(everywhereTask, { x: i }),
        close: () => (closed ??= daemons(0)),
      };
    },
  };
}

const MIRAI_IMPLS = [
  miraiImpl('dispatcher thread', {}),
  miraiImpl('dispatcher process', { dispatcher: 'process' }),
  miraiImpl('round-robin', { dispatcher: false }),
];
const PEERS: Impl[] = [piscina, tinypool, workerpoolProcess, workerpoolThread, bareFork];

// ---------------------------------------------------------------------------------------------
// Measuring.

function withTimeout<T>(p: PromiseLike<T>, ms: number, _what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve(p),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`wrong result: ${what}`);
}

const medianOf = (xs: number[]): number => medianOfSorted(Float64Array.from(xs).sort());

/** The runner being measured, so that a signal can still tear it down. */
let current: Runner | undefined;

async function measureImpl(impl: Impl & { start(): Promise<Runner | MiraiRunner> }): Promise<Result> {
  const t0 = performance.now();
  const res: Result = {
    name: impl.name,
    workers: impl.workers,
    mode: (impl as { mode?: Mode }).mode,
    tputRounds: [],
    rttQuarters: [],
    startRounds: [],
    connectRounds: [],
    seconds: 0,
  };
  let runner: Runner | MiraiRunner | undefined;
  let stage = 'load';
  try {
    await impl.load?.();

    // 4 (and 5b): fresh starts; the last one stays up for the other workloads.
    for (let i = 0; i < STARTS; i++) {
      stage = `start ${i + 1}`;
      const s0 = performance.now();
      runner = current = await withTimeout(impl.start(), WORKLOAD_TIMEOUT, stage);
      const r = await withTimeout(runner.tiny(1), WORKLOAD_TIMEOUT, `${stage}: first result`);
      res.startRounds.push(performance.now() - s0);
      check(r === 2, `tiny(1) gave ${String(r)}`);
      if ('connectMs' in runner) res.connectRounds.push((runner as MiraiRunner).connectMs);
      if (i < STARTS - 1) {
        await runner.close();
        runner = current = undefined;
      }
    }
    res.startMs = medianOf(res.startRounds);
    if (res.connectRounds.length) res.connectMs = medianOf(res.connectRounds);
    const rn = runner!;

    // 1: sequential round trips of the tiny task.
    stage = 'latency';
    res.rtt = await withTimeout(
      (async () => {
        for (let i = 0; i < WARMUP; i++) await rn.tiny(i);
        const samples = new Float64Array(TRIPS);
        for (let i = 0; i < TRIPS; i++) {
          const s = performance.now();
          const r = await rn.tiny(i);
          samples[i] = (performance.now() - s) * 1000;
          if (r !== i + 1) check(false, `tiny(${i}) gave ${String(r)}`);
        }
        // Per-quarter medians, printed with the details: shows how steady the machine was.
        const q = Math.floor(TRIPS / 4);
        for (let k = 0; k < 4 && q > 0; k++)
          res.rttQuarters.push(summarize(samples.subarray(k * q, (k + 1) * q)).median);
        return summarize(samples);
      })(),
      WORKLOAD_TIMEOUT,
      stage,
    );

    // 2: TASKS tiny tasks at once, best of TASK_ROUNDS (after a smaller warm-up batch).
    stage = 'throughput';
    await withTimeout(
      (async () => {
        for (let round = -1; round < TASK_ROUNDS; round++) {
          const n = round < 0 ? Math.min(1_000, TASKS) : TASKS;
          const s = performance.now();
          const ps: Array<PromiseLike<number>> = new Array(n);
          for (let i = 0; i < n; i++) ps[i] = rn.tiny(i);
          const out = await Promise.all(ps);
          const dt = (performance.now() - s) / 1000;
          let sum = 0;
          for (const v of out) sum += v;
          check(sum === (n * (n - 1)) / 2 + n, `sum of ${n} tiny results is ${sum}`);
          if (round >= 0) res.tputRounds.push(n / dt);
        }
      })(),
      WORKLOAD_TIMEOUT,
      stage,
    );
    res.tput = Math.max(...res.tputRounds);

    // 3: 1 MiB Float64Array there and back, sequentially.
    stage = '1 MiB payload';
    res.mibps = await withTimeout(
      (async () => {
        const a = new Float64Array(PAYLOAD_DOUBLES);
        for (let i = 0; i < a.length; i++) a[i] = i * 0.5;
        const last = a.length - 1;
        for (let i = 0; i < PAYLOAD_WARMUP; i++) await rn.echo(a);
        const s = performance.now();
        for (let i = 0; i < PAYLOAD_TRIPS; i++) {
          const b = await rn.echo(a);
          if (!(b instanceof Float64Array) || b.length !== a.length || b[last] !== a[last] || b[1] !== a[1]) {
            check(
              false,
              `echo gave ${Object.prototype.toString.call(b)} of length ${(b as { length?: number })?.length}`,
            );
          }
        }
        const dt = (performance.now() - s) / 1000;
        return (PAYLOAD_TRIPS * a.byteLength) / (1024 * 1024) / dt;
      })(),
      WORKLOAD_TIMEOUT,
      stage,
    );

    // 5a: everywhere() (this package only).
    if ('everywhere' in rn) {
      stage = 'everywhere';
      const ev = (rn as MiraiRunner).everywhere.bind(rn);
      res.everywhere = await withTimeout(
        (async () => {
          for (let i = 0; i < EVERYWHERE_WARMUP; i++) await ev(i);
          const samples = new Float64Array(EVERYWHERE);
          for (let i = 0; i < EVERYWHERE; i++) {
            const s = performance.now();
            const r = (await ev(i)) as unknown[];
            samples[i] = (performance.now() - s) * 1000;
            if (!Array.isArray(r) || r.length !== 2 || r[0] !== i || r[1] !== i)
              check(false, `everywhere gave ${JSON.stringify(r)}`);
          }
          return summarize(samples);
        })(),
        WORKLOAD_TIMEOUT,
        stage,
      );
    }
  } catch (e) {
    res.error = `${stage}: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    if (runner) {
      try {
        await withTimeout(runner.close(), 15_000, 'teardown');
      } catch (e) {
        res.error = (res.error ? res.error + '; ' : '') + `teardown: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    current = undefined;
    res.seconds = (performance.now() - t0) / 1000;
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Reporting.

function selected(): Array<Impl & { start(): Promise<Runner | MiraiRunner> }> {
  const all = [...MIRAI_IMPLS, ...PEERS];
  const only = process.env.MIRAI_BENCH_ONLY?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (!only?.length) return all;
  return all.filter((i) => only.some((o) => i.name.toLowerCase().includes(o)));
}

export async function measure(): Promise<Result[]> {
  const out: Result[] = [];
  for (const impl of selected()) {
    const r = await measureImpl(impl);
    console.log(
      `  ${r.name}: RTT ${fmt(r.rtt?.median)} µs, ${fmtInt(r.tput)} tasks/s, ${fmtInt(r.mibps)} MiB/s, start ${fmt(r.startMs)} ms` +
        (r.error ? ` — FAILED at ${r.error}` : ''),
    );
    out.push(r);
  }
  return out;
}

/**
 * Runs the suite. Started with a loader in Node's flags (`node --import tsx`, as `npm run bench`
 * does), it re-runs itself in a child without it, with tsx registered through its API instead:
 * worker threads inherit the process's flags, so every worker (this package's dispatcher thread,
 * piscina's, tinypool's and workerpool's threads) would load tsx at start-up, adding ~55 ms to
 * their start and skewing the start→first column. Other flags (e.g. --cpu-prof) are kept.
 */
export async function run(): Promise<void> {
  const flags = withoutTsx(process.execArgv);
  if (process.env.MIRAI_BENCH_CHILD !== '1' && flags.length !== process.execArgv.length) {
    const script = `require('tsx/cjs/api').register(); require(${JSON.stringify(__filename)}).runHere().catch((e) => { console.error(e); process.exitCode = 1; });`;
    const child = spawn(process.execPath, [...flags, '-e', script], {
      cwd: path.resolve(__dirname, '..'),
      stdio: 'inherit',
      env: { ...process.env, MIRAI_BENCH_CHILD: '1' },
    });
    // Ctrl-C reaches the child too (same process group): it tears down, then exits.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    try {
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
        child.once('error', (e) => {
          console.error(e);
          resolve(1);
        });
      });
      if (code !== 0) process.exitCode = code ?? 1;
    } finally {
      process.off('SIGINT', ignore);
    }
    return;
  }
  return runHere();
}

/** Node flags without tsx's loader (`--import tsx`, `--import=tsx`, `--require tsx/cjs`, ...). */
function withoutTsx(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(?:import|require|loader|experimental-loader)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) {
      out.push(argv[i]!);
      continue;
    }
    const joined = m[1] !== undefined;
    const value = joined ? m[1]! : argv[i + 1];
    if (!joined) i++;
    if (value !== undefined && /(^|[\\/])tsx([\\/]|$)/.test(value)) continue;
    out.push(argv[joined ? i : i - 1]!);
    if (!joined && value !== undefined) out.push(value);
  }
  return out;
}

/** Runs the suite in this process. */
export async function runHere(): Promise<void> {
  const t0 = performance.now();
  console.log(
    `bench/mirai: this package vs piscina, tinypool, workerpool, child_process.fork; 2 workers each; node ${process.version}, ` +
      `${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(2)}`,
  );
  // Ctrl-C / kill: tear down what is running, then go.
  const onSignal = (sig: NodeJS.Signals): void => {
    const r = current;
    const done = (): never => process.exit(sig === 'SIGINT' ? 130 : 143);
    if (!r) done();
    void withTimeout(r!.close(), 5_000, 'teardown').then(done, done);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const results = await measure();
    report(results);
    if (results.some((r) => r.error)) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await daemons(0).catch(() => {});
  }
  console.log(`(bench/mirai took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (require.main === module) {
  run().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
