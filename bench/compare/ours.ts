// This package on one group of the side-by-side workloads (bench/compare.ts); bench/r/workloads.R
// runs the same workloads on R's mirai: keep the two in step (same counts, same order, same
// tasks, same JSON lines).
//
// Started by bench/compare.ts in a fresh `node` process per group, with tsx registered through
// its API rather than `--import tsx` (worker threads, such as the dispatcher's, would inherit that
// flag and load tsx at start-up). Arguments: key=value, as workloads.R takes them.
import { performance } from 'node:perf_hooks';
import { daemons, everywhere, launchLocal, mirai, status } from '../../dist';
import { medianOfSorted, percentile } from '../lib/stats';
import { TRANSPORTS, type Metric, type Mode, type Transport } from './spec';

type Args = Record<string, string>;

export async function main(argv: string[]): Promise<void> {
  const args: Args = Object.fromEntries(argv.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const num = (k: string, def: number): number => (args[k] !== undefined ? Number(args[k]) : def);
  const mode = (args.mode ?? 'dispatcher') as Mode;
  const transport = (args.transport ?? 'ipc') as Transport;
  if (mode !== 'dispatcher' && mode !== 'none') throw new Error(`mode must be dispatcher or none (got ${mode})`);
  if (!TRANSPORTS.includes(transport))
    throw new Error(`transport must be one of ${TRANSPORTS.join(', ')} (got ${transport})`);
  const c = {
    starts: num('starts', 3),
    tasks: num('tasks', 10_000),
    warmTasks: num('warm_tasks', 1_000),
    trips: num('trips', 2_000),
    warmTrips: num('warm_trips', 200),
    budget: num('budget', 20) * 1000,
    payloadTrips: num('payload_trips', 200),
    payloadWarm: num('payload_warm', 10),
    everywhere: num('everywhere', 200),
    everywhereWarm: num('everywhere_warm', 20),
  };
  const dispatcher = mode === 'dispatcher';

  const emit = (
    metric: Metric | 'version',
    fields: { value?: number; n?: number; note?: string; error?: string },
  ): void => {
    const value = fields.value !== undefined && !Number.isFinite(fields.value) ? null : fields.value;
    console.log(
      JSON.stringify({ system: 'ours', mode, transport, metric, ...fields, ...(value === undefined ? {} : { value }) }),
    );
  };
  const guard = async (metrics: Metric[], fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (e) {
      for (const m of metrics) emit(m, { error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`wrong result: ${what}`);
  };
  const tiny = (x: number): Promise<number> =>
    mirai((d: { x: number }) => d.x + 1, { x }) as unknown as Promise<number>;

  const roundTrips = async (prefix: string): Promise<void> => {
    for (let i = 1; i <= c.warmTrips; i++) await tiny(i);
    const samples = new Float64Array(c.trips);
    let k = 0;
    const deadline = performance.now() + c.budget;
    for (let i = 1; i <= c.trips; i++) {
      const s = performance.now();
      const r = await tiny(i);
      samples[i - 1] = (performance.now() - s) * 1000;
      if (r !== i + 1) check(false, `d.x + 1 with x = ${i} gave ${String(r)}`);
      k = i;
      if (performance.now() > deadline) break;
    }
    const us = samples.subarray(0, k).sort();
    const note = k < c.trips ? `${k} of ${c.trips} trips within the ${c.budget / 1000} s budget` : undefined;
    emit(`${prefix}rtt.median` as Metric, { value: medianOfSorted(us), n: k, note });
    emit(`${prefix}rtt.p99` as Metric, { value: percentile(us, 99), n: k, note });
  };

  // All tasks submitted at once. A transport slower than the budget allows (tls+tcp while its
  // Nagle stall lasts) is measured on the tasks done by the deadline, and says so; the rest are
  // dropped with the daemons.
  const throughput = async (prefix: string, metric: Metric = `${prefix}tput` as Metric): Promise<void> => {
    let rate = NaN;
    let note: string | undefined;
    for (const n of [c.warmTasks, c.tasks]) {
      const s = performance.now();
      let done = 0;
      let sum = 0;
      let last = s;
      const ps = new Array<Promise<void>>(n);
      for (let i = 0; i < n; i++) {
        ps[i] = tiny(i + 1).then((v) => {
          done++;
          sum += v;
          last = performance.now();
        });
      }
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all(ps).then(() => true);
      all.catch(() => {});
      const inTime = await Promise.race([
        all,
        new Promise<false>((r) => (timer = setTimeout(() => r(false), c.budget))),
      ]).finally(() => clearTimeout(timer));
      if (inTime) {
        check(sum === (n * (n + 1)) / 2 + n, `the ${n} results sum to ${sum}`);
        rate = n / ((last - s) / 1000);
      } else {
        rate = done / ((last - s) / 1000);
        note = `${done} of ${n} tasks within the ${c.budget / 1000} s budget`;
        break;
      }
    }
    emit(metric, { value: rate, n: c.tasks, note });
  };

  const payload = async (): Promise<void> => {
    const a = new Uint8Array(1024 * 1024);
    for (let i = 0; i < a.length; i++) a[i] = (Math.random() * 256) | 0;
    const last = a.length - 1;
    const echo = (): Promise<Uint8Array> =>
      mirai((d: { a: Uint8Array }) => d.a, { a }) as unknown as Promise<Uint8Array>;
    for (let i = 0; i < c.payloadWarm; i++) await echo();
    const s = performance.now();
    for (let i = 0; i < c.payloadTrips; i++) {
      const b = await echo();
      if (!(b instanceof Uint8Array) || b.length !== a.length || b[0] !== a[0] || b[last] !== a[last]) {
        check(false, 'the 1 MiB Uint8Array came back changed');
      }
    }
    emit('mibps', { value: c.payloadTrips / ((performance.now() - s) / 1000), n: c.payloadTrips });
  };

  const everywhereCalls = async (): Promise<void> => {
    const one = async (i: number): Promise<void> => {
      const r = (await everywhere(
        (d: { x: number }) => {
          (globalThis as Record<string, unknown>).benchValue = d.x;
          return d.x;
        },
        { x: i },
      )) as unknown[];
      if (!Array.isArray(r) || r.length !== 2 || r[0] !== i || r[1] !== i)
        check(false, `everywhere gave ${JSON.stringify(r)}`);
    };
    for (let i = 0; i < c.everywhereWarm; i++) await one(i);
    const samples = new Float64Array(c.everywhere);
    for (let i = 0; i < c.everywhere; i++) {
      const s = performance.now();
      await one(i);
      samples[i] = (performance.now() - s) * 1000;
    }
    samples.sort();
    emit('everywhere.median', { value: medianOfSorted(samples), n: c.everywhere });
    emit('everywhere.p99', { value: percentile(samples, 99), n: c.everywhere });
  };

  emit('version', { note: `this package, node ${process.version}` });
  const opts = { dispatcher };
  try {
    if (transport === 'ipc') {
      const up = await guard(['connect'], async () => {
        const ms: number[] = [];
        for (let k = 0; k < c.starts; k++) {
          if (k > 0) await daemons(0);
          const s = performance.now();
          await daemons(2, opts); // resolves once both daemons are connected
          ms.push(performance.now() - s);
          const st = await status();
          check(st.connections === 2, `${st.connections} connections after daemons(2)`);
        }
        emit('connect', { value: medianOfSorted(Float64Array.from(ms).sort()), n: c.starts });
      });
      if (up) {
        await guard(['rtt.median', 'rtt.p99'], () => roundTrips(''));
        await guard(['tput'], () => throughput(''));
        if (dispatcher) {
          // The same workload with prefetch (this package only): a busy daemon holds its next task.
          await guard(['tput.prefetch'], async () => {
            await daemons(0);
            await daemons(2, { ...opts, prefetch: true });
            await throughput('', 'tput.prefetch');
            await daemons(0);
            await daemons(2, opts);
          });
        }
        await guard(['mibps'], payload);
        await guard(['everywhere.median', 'everywhere.p99'], everywhereCalls);
      }
    } else {
      const url = transport === 'tls' ? 'tls+tcp://127.0.0.1:0' : 'tcp://127.0.0.1:0';
      const prefix = `${transport}.`;
      const up = await guard([`${prefix}rtt.median`, `${prefix}rtt.p99`, `${prefix}tput`] as Metric[], async () => {
        await daemons({ url, ...opts }); // zero-config TLS: a fresh key and self-signed certificate
        await launchLocal(2); // resolves once both are connected
      });
      if (up) {
        await guard([`${prefix}rtt.median`, `${prefix}rtt.p99`] as Metric[], () => roundTrips(prefix));
        await guard([`${prefix}tput`] as Metric[], () => throughput(prefix));
      }
    }
  } finally {
    await daemons(0);
  }
}
