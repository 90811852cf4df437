// What bench/mirai measures: the workload counts (environment overrides), the targets, and the
// shape of one implementation's results. bench/mirai.ts measures; bench/lib/mirai-report.ts prints.
import type { Summary } from './stats';

const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : def;
};
export const TRIPS = envInt('MIRAI_BENCH_TRIPS', 2_000);
export const WARMUP = Math.max(100, Math.floor(TRIPS / 10));
export const TASKS = envInt('MIRAI_BENCH_TASKS', 10_000);
export const TASK_ROUNDS = 3;
export const PAYLOAD_TRIPS = 200;
export const PAYLOAD_WARMUP = 10;
export const PAYLOAD_DOUBLES = (1024 * 1024) / 8; // 1 MiB
export const STARTS = envInt('MIRAI_BENCH_STARTS', 5);
export const EVERYWHERE = 200;
export const EVERYWHERE_WARMUP = 20;

// The targets of issue 3 (medians, same run, 2 workers).
export const TARGET = {
  rttDispatcher: 150, // µs, at most
  rttDirect: 100, // µs, at most
  mibps: 1_200, // MiB/s one way, at least
  connect: 100, // ms, at most
  everywhere: 250, // µs, at most
};

export type Mode = 'dispatcher thread' | 'dispatcher process' | 'round-robin';

export interface Result {
  name: string;
  workers: 'thread' | 'process';
  mode?: Mode;
  rtt?: Summary;
  /** Median of each quarter of the trips, in order. */
  rttQuarters: number[];
  /** tasks/s of each round, and the best. */
  tputRounds: number[];
  tput?: number;
  mibps?: number;
  /** ms from start to first result, each start, and the median. */
  startRounds: number[];
  startMs?: number;
  connectRounds: number[];
  connectMs?: number;
  everywhere?: Summary;
  error?: string;
  seconds: number;
}
