// The tables bench/mirai prints from its results (bench/mirai.ts), against the targets.
import { fmt, fmtInt } from './stats';
import { printTable } from './table';
import {
  EVERYWHERE,
  PAYLOAD_TRIPS,
  STARTS,
  TARGET,
  TASK_ROUNDS,
  TASKS,
  TRIPS,
  WARMUP,
  type Mode,
  type Result,
} from './mirai-spec';

const x = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');

export function report(results: Result[]): void {
  console.log('');
  printTable(
    [
      'implementation (2 workers)',
      'workers',
      'RTT median µs',
      'RTT p99 µs',
      `${fmtInt(TASKS)} tasks: tasks/s`,
      '1 MiB: MiB/s',
      'start→first ms',
      'connected ms',
      'everywhere µs',
    ],
    results.map((r) => [
      r.name,
      r.workers,
      fmt(r.rtt?.median),
      fmt(r.rtt?.p99),
      fmtInt(r.tput),
      fmtInt(r.mibps),
      fmt(r.startMs),
      fmt(r.connectMs),
      fmt(r.everywhere?.median),
    ]),
    {
      title:
        `Tiny task \`(d) => d.x + 1\`: latency = ${fmtInt(TRIPS)} sequential round trips after ${WARMUP} warm-up; ` +
        `throughput = ${fmtInt(TASKS)} submitted at once, best of ${TASK_ROUNDS}. 1 MiB = ${PAYLOAD_TRIPS} sequential round trips of a ` +
        `Float64Array, MiB/s one way. start→first and connected: median of ${STARTS} fresh starts. everywhere: median of ${EVERYWHERE}.`,
    },
  );
  for (const r of results) {
    const bits = [
      `RTT median per quarter µs ${r.rttQuarters.map((v) => fmt(v)).join(' / ') || '-'}`,
      `tasks/s per round ${r.tputRounds.map(fmtInt).join(' / ') || '-'}`,
      `start→first ms ${r.startRounds.map((v) => fmt(v)).join(' / ') || '-'}`,
    ];
    if (r.connectRounds.length) bits.push(`connected ms ${r.connectRounds.map((v) => fmt(v)).join(' / ')}`);
    if (r.everywhere) bits.push(`everywhere p99 ${fmt(r.everywhere.p99)} µs`);
    console.log(`  ${r.name}: ${bits.join('; ')}; ${r.seconds.toFixed(1)} s${r.error ? `; FAILED at ${r.error}` : ''}`);
  }

  const ours = results.filter((r) => r.mode);
  const peers = results.filter((r) => !r.mode);
  if (ours.length && peers.length) {
    const rows: string[][] = [];
    for (const o of ours) {
      for (const p of peers) {
        rows.push([
          `${o.name} vs ${p.name}`,
          x((p.rtt?.median ?? NaN) / (o.rtt?.median ?? NaN)),
          x((p.rtt?.p99 ?? NaN) / (o.rtt?.p99 ?? NaN)),
          x((o.tput ?? NaN) / (p.tput ?? NaN)),
          x((o.mibps ?? NaN) / (p.mibps ?? NaN)),
          x((p.startMs ?? NaN) / (o.startMs ?? NaN)),
        ]);
      }
    }
    console.log('');
    printTable(['this package vs peer', 'RTT median', 'RTT p99', 'tasks/s', 'MiB/s', 'start→first'], rows, {
      title:
        'Ratios, this package to each peer, as speed-ups: > 1.00x means this package is faster (latencies and start: peer ÷ ours; rates: ours ÷ peer).',
    });
  }

  // Targets.
  const byMode = (m: Mode): Result | undefined => ours.find((r) => r.mode === m);
  const processPeers = peers.filter((p) => p.workers === 'process' && p.tput !== undefined);
  const bestProcess = processPeers.reduce<Result | undefined>((b, p) => (!b || p.tput! > b.tput! ? p : b), undefined);
  const pisc = peers.find((p) => p.name === 'piscina');
  const rows: string[][] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED');
  const num = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  for (const m of ['dispatcher thread', 'dispatcher process'] as Mode[]) {
    const r = byMode(m);
    if (!r) continue;
    rows.push([
      `${fmtInt(TASKS)} tiny tasks, ${m}`,
      `≥ best process peer${bestProcess ? ` (${bestProcess.name}: ${fmtInt(bestProcess.tput)}/s)` : ''}`,
      `${fmtInt(r.tput)}/s`,
      verdict(num(r.tput) && bestProcess ? r.tput >= bestProcess.tput! : undefined),
    ]);
  }
  const rr = byMode('round-robin');
  if (rr) {
    rows.push([
      `${fmtInt(TASKS)} tiny tasks, round-robin`,
      `≥ piscina${pisc?.tput ? ` (${fmtInt(pisc.tput)}/s)` : ''}`,
      `${fmtInt(rr.tput)}/s`,
      verdict(num(rr.tput) && pisc?.tput ? rr.tput >= pisc.tput : undefined),
    ]);
  }
  for (const r of ours) {
    const limit = r.mode === 'round-robin' ? TARGET.rttDirect : TARGET.rttDispatcher;
    rows.push([
      `sequential round trip, ${r.mode}`,
      `≤ ${limit} µs median`,
      `${fmt(r.rtt?.median)} µs`,
      verdict(num(r.rtt?.median) ? r.rtt!.median <= limit : undefined),
    ]);
  }
  for (const r of ours) {
    rows.push([
      `1 MiB Float64Array round trips, ${r.mode}`,
      `≥ ${fmtInt(TARGET.mibps)} MiB/s`,
      `${fmtInt(r.mibps)} MiB/s`,
      verdict(num(r.mibps) ? r.mibps >= TARGET.mibps : undefined),
    ]);
  }
  for (const r of ours) {
    rows.push([
      `daemons(2) until both connected, ${r.mode}`,
      `≤ ${TARGET.connect} ms`,
      `${fmt(r.connectMs)} ms`,
      verdict(num(r.connectMs) ? r.connectMs <= TARGET.connect : undefined),
    ]);
  }
  for (const r of ours) {
    rows.push([
      `everywhere() on 2 daemons, ${r.mode}`,
      `≤ ${TARGET.everywhere} µs`,
      `${fmt(r.everywhere?.median)} µs`,
      verdict(num(r.everywhere?.median) ? r.everywhere!.median <= TARGET.everywhere : undefined),
    ]);
  }
  if (rows.length) {
    console.log('');
    printTable(['target (issue 3)', 'wanted', 'measured', 'verdict'], rows, {
      title: 'Performance targets (medians, this run)',
    });
    const missed = rows.filter((r) => r[3] === 'MISSED').length;
    const met = rows.filter((r) => r[3] === 'met').length;
    console.log(
      `targets: ${met} met, ${missed} missed${rows.length - met - missed ? `, ${rows.length - met - missed} not measured` : ''}`,
    );
  }
  console.log(
    "R's mirai is measured side by side in bench/compare; the transport floor is NNG's ipc round trip (bench/nng).",
  );
  const failed = results.filter((r) => r.error);
  if (failed.length) console.log(`FAILED: ${failed.map((r) => `${r.name} (${r.error})`).join('; ')}`);
}
