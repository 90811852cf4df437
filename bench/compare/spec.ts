// What the side-by-side bench (bench/compare.ts) measures on both systems, and the goals of
// issue 10 as ratios to R's mirai in the same run.

export type Mode = 'dispatcher' | 'none';
export type Transport = 'ipc' | 'tcp' | 'tls';
export const MODES: Mode[] = ['dispatcher', 'none'];
export const TRANSPORTS: Transport[] = ['ipc', 'tcp', 'tls'];

export type Metric =
  | 'connect'
  | 'tput'
  | 'tput.prefetch'
  | 'rtt.median'
  | 'rtt.p99'
  | 'mibps'
  | 'everywhere.median'
  | 'everywhere.p99'
  | 'tcp.tput'
  | 'tcp.rtt.median'
  | 'tcp.rtt.p99'
  | 'tls.tput'
  | 'tls.rtt.median'
  | 'tls.rtt.p99';

/** One group = one fresh process per system and pass; the counts are passed to both. */
export interface Group {
  mode: Mode;
  transport: Transport;
  args: Record<string, number>;
  /** The child is killed (with its daemons) after this long. */
  timeoutMs: number;
}

const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : def;
};

export const PASSES = envInt('BENCH_PASSES', 3);

/** ipc = local daemons on each system's default IPC; tcp and tls+tcp on 127.0.0.1. */
export function groups(): Group[] {
  const ipc = {
    starts: envInt('BENCH_STARTS', 3),
    tasks: envInt('BENCH_TASKS', 10_000),
    warm_tasks: 1_000,
    trips: envInt('BENCH_TRIPS', 2_000),
    warm_trips: 200,
    budget: 20,
    payload_trips: 200,
    payload_warm: 10,
    everywhere: 200,
    everywhere_warm: 20,
  };
  // Network groups are time-boxed: a stalled transport (tls+tcp's ~90 ms round trips before the
  // Nagle fix) is measured on what it did within the budget, and the row says so.
  const net = { tasks: 2_000, warm_tasks: 200, trips: 1_000, warm_trips: 20, budget: envInt('BENCH_NET_BUDGET', 5) };
  const ipcTimeout = envInt('BENCH_GROUP_TIMEOUT', 180) * 1000;
  const netTimeout = envInt('BENCH_GROUP_TIMEOUT', 90) * 1000;
  const out: Group[] = [];
  for (const transport of TRANSPORTS) {
    for (const mode of MODES) {
      out.push(
        transport === 'ipc'
          ? { mode, transport, args: ipc, timeoutMs: ipcTimeout }
          : { mode, transport, args: net, timeoutMs: netTimeout },
      );
    }
  }
  return out;
}

export interface Row {
  label: string;
  metric: Metric;
  unit: string;
  /** R's column comes from this metric instead (a variant only this package has). */
  rMetric?: Metric;
  /** 'time': smaller is better, ratio = R / ours; 'rate': ratio = ours / R. */
  kind: 'time' | 'rate';
  modes: Mode[];
  /** Least ratio (R / ours for times, ours / R for rates) that meets the goal, per mode. */
  goal?: Partial<Record<Mode, number>>;
  goalText?: Partial<Record<Mode, string>>;
}

const both: Mode[] = ['dispatcher', 'none'];
const atMost = (f: number): { ratio: number; text: string } => ({
  ratio: 1 / f,
  text: f === 1 ? "≤ R's" : `≤ ${f}x R`,
});
const atLeast = (f: number): { ratio: number; text: string } => ({ ratio: f, text: `≥ ${f}x R` });
const g = (d: { ratio: number; text: string }, n: { ratio: number; text: string } = d) => ({
  goal: { dispatcher: d.ratio, none: n.ratio },
  goalText: { dispatcher: d.text, none: n.text },
});

export const ROWS: Row[] = [
  { label: 'daemons(2) to connected, ms', metric: 'connect', unit: 'ms', kind: 'time', modes: both, ...g(atMost(0.6)) },
  {
    label: 'tiny tasks submitted at once, tasks/s',
    metric: 'tput',
    unit: '/s',
    kind: 'rate',
    modes: both,
    ...g(atLeast(2.5), atLeast(4)),
  },
  {
    label: 'tiny tasks at once, daemons({ prefetch: true }), tasks/s',
    metric: 'tput.prefetch',
    rMetric: 'tput',
    unit: '/s',
    kind: 'rate',
    modes: ['dispatcher'],
    goal: { dispatcher: 2.5 },
    goalText: { dispatcher: '≥ 2.5x R' },
  },
  {
    label: 'sequential round trip median, µs',
    metric: 'rtt.median',
    unit: 'µs',
    kind: 'time',
    modes: both,
    ...g(atMost(0.6)),
  },
  { label: 'sequential round trip p99, µs', metric: 'rtt.p99', unit: 'µs', kind: 'time', modes: both, ...g(atMost(1)) },
  {
    label: '200 x 1 MiB in and out, MiB/s',
    metric: 'mibps',
    unit: 'MiB/s',
    kind: 'rate',
    modes: both,
    ...g(atLeast(1.5)),
  },
  { label: 'everywhere() median, µs', metric: 'everywhere.median', unit: 'µs', kind: 'time', modes: both },
  {
    label: 'everywhere() p99, µs',
    metric: 'everywhere.p99',
    unit: 'µs',
    kind: 'time',
    modes: both,
    goal: { dispatcher: 1 },
    goalText: { dispatcher: "≤ R's" },
  },
  { label: 'tcp tasks/s', metric: 'tcp.tput', unit: '/s', kind: 'rate', modes: both },
  { label: 'tcp round trip median, µs', metric: 'tcp.rtt.median', unit: 'µs', kind: 'time', modes: both },
  { label: 'tls+tcp tasks/s', metric: 'tls.tput', unit: '/s', kind: 'rate', modes: both, ...g(atLeast(2)) },
  { label: 'tls+tcp round trip median, µs', metric: 'tls.rtt.median', unit: 'µs', kind: 'time', modes: both },
  { label: 'tls+tcp round trip p99, µs', metric: 'tls.rtt.p99', unit: 'µs', kind: 'time', modes: both },
];

/** Issue 10's one goal that is not a ratio to R: our tls+tcp round trip within 1.3x of our tcp. */
export const TLS_OVER_TCP = 1.3;
