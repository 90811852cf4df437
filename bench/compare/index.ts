// bench/compare: this package and R's mirai side by side in one run, on the workloads of issue 10.
//
//   BENCH=compare npm run bench        (npm run bench runs it between bench/nng and bench/mirai)
//
// Each pass runs every group (mode x transport, see spec.ts) once on each system, in a fresh
// process each time: bench/compare/ours.ts for this package, bench/r/workloads.R for R's mirai.
// The two systems take turns within a group, and who goes first alternates between passes, so a
// shared machine's drift falls on both. Every row is the median over passes; the ratio is R's
// time / ours (ours / R's for rates): > 1 means this package is faster.
//
// R's side needs Rscript and the packages built by bench/r/setup.sh (in MIRAI_BENCH_R_LIB, by
// default ~/.cache/mirai-bench/R-lib); without them R's columns are skipped with a note.
// Environment: BENCH_PASSES (3), BENCH_TASKS (10000), BENCH_TRIPS (2000), BENCH_STARTS (3 per
// process), BENCH_NET_BUDGET (5 s per tcp / tls+tcp workload), BENCH_GROUP_TIMEOUT (s; 180 for ipc groups,
// 90 for the others: a child still running then is killed with its daemons), BENCH_R=0 (skip R).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fmt, fmtInt, medianOfSorted } from '../lib/stats';
import { printTable } from '../lib/table';
import { PASSES, ROWS, TLS_OVER_TCP, groups, type Group, type Metric, type Mode } from './spec';

const ROOT = path.resolve(__dirname, '..', '..');
const OURS = path.join(__dirname, 'ours.ts');
const R_SCRIPT = path.join(ROOT, 'bench', 'r', 'workloads.R');
const R_LIB = process.env.MIRAI_BENCH_R_LIB || path.join(os.homedir(), '.cache', 'mirai-bench', 'R-lib');

type System = 'ours' | 'r';
interface Line {
  system: System;
  mode: Mode;
  transport: string;
  metric: Metric | 'version';
  value?: number | null;
  n?: number;
  note?: string;
  error?: string;
}

/** Values per system, mode and metric, one per pass; notes and errors as they came. */
class Results {
  values = new Map<string, number[]>();
  notes = new Map<string, string[]>();
  versions = new Map<System, string>();
  key = (s: System, m: Mode, metric: Metric): string => `${s}|${m}|${metric}`;
  add(l: Line): void {
    if (l.metric === 'version') {
      if (l.note) this.versions.set(l.system, l.note);
      return;
    }
    const k = this.key(l.system, l.mode, l.metric);
    if (typeof l.value === 'number' && Number.isFinite(l.value))
      (this.values.get(k) ?? this.values.set(k, []).get(k)!).push(l.value);
    const why = l.error ? `failed: ${l.error}` : l.note;
    if (why) (this.notes.get(k) ?? this.notes.set(k, []).get(k)!).push(why);
  }
  median(s: System, m: Mode, metric: Metric): number {
    const v = this.values.get(this.key(s, m, metric));
    return v?.length ? medianOfSorted(Float64Array.from(v).sort()) : NaN;
  }
}

function findR(): { ok: true } | { ok: false; why: string } {
  if (process.env.BENCH_R === '0') return { ok: false, why: 'BENCH_R=0' };
  const probe = spawnSync('Rscript', ['--version'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error || probe.status !== 0) return { ok: false, why: 'Rscript is not installed' };
  for (const p of ['nanonext', 'mirai']) {
    if (!fs.existsSync(path.join(R_LIB, p, 'DESCRIPTION'))) return { ok: false, why: `${p} is not built in ${R_LIB}` };
  }
  return { ok: true };
}

/** The child being measured, killed with its process group on a signal or a timeout. */
let current: number | undefined;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs one group on one system in a fresh process; every JSON line it prints goes to results. */
async function runGroup(system: System, group: Group, results: Results): Promise<string | undefined> {
  const args = [
    `mode=${group.mode}`,
    `transport=${group.transport}`,
    ...Object.entries(group.args).map(([k, v]) => `${k}=${v}`),
  ];
  const script =
    `require('tsx/cjs/api').register();` +
    `require(${JSON.stringify(OURS)}).main(process.argv.slice(1)).then(` +
    // A handle left open must not cost the group its timeout: the results are out by then.
    `() => setTimeout(() => process.exit(0), 5000).unref(), (e) => { console.error(e); process.exit(1); });`;
  const [cmd, argv, env] =
    system === 'ours'
      ? [process.execPath, ['-e', script, ...args], process.env]
      : ['Rscript', ['--vanilla', R_SCRIPT, ...args], { ...process.env, R_LIBS: R_LIB }];
  // detached: its own process group, so a timeout also takes the daemons it started.
  const child = spawn(cmd, argv, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  current = child.pid;
  let out = '';
  let err = '';
  const seen = new Set<string>();
  const take = (line: string): void => {
    if (!line.startsWith('{')) return;
    try {
      const l = JSON.parse(line) as Line;
      results.add(l);
      seen.add(l.metric);
    } catch {
      err += `unparsable line: ${line}\n`;
    }
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      take(out.slice(0, i));
      out = out.slice(i + 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4000);
  });
  let timer: NodeJS.Timeout | undefined;
  const status = await new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      killGroup(child.pid!);
      resolve(`killed after ${group.timeoutMs / 1000} s`);
    }, group.timeoutMs);
    child.once('error', (e) => resolve(e.message));
    child.once('exit', (code, sig) => resolve(code === 0 ? '' : `exit ${code ?? sig}`));
  });
  clearTimeout(timer);
  // The daemons of a child that died early go with its group.
  if (status) killGroup(child.pid!);
  current = undefined;
  if (out) take(out);
  if (!status && seen.size > 1) return undefined;
  return `${system} ${group.mode}/${group.transport}: ${status || 'printed no results'}${err.trim() ? `; stderr: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
}

const ratioOf = (kind: 'time' | 'rate', r: number, ours: number): number => (kind === 'time' ? r / ours : ours / r);
const fmtVal = (v: number, unit: string): string =>
  unit === '/s' || unit === 'MiB/s' ? fmtInt(v) : v >= 1000 ? fmtInt(v) : fmt(v);

function report(results: Results, haveR: boolean, passes: number): void {
  const rows: string[][] = [];
  const verdicts: string[] = [];
  const notes = new Set<string>();
  const modeName = (m: Mode): string => (m === 'dispatcher' ? 'dispatcher' : 'none');
  for (const row of ROWS) {
    for (const m of row.modes) {
      const r = results.median('r', m, row.rMetric ?? row.metric);
      const o = results.median('ours', m, row.metric);
      const ratio = ratioOf(row.kind, r, o);
      const want = row.goal?.[m];
      let verdict = '';
      if (want !== undefined) {
        verdict = !haveR ? 'n/a (no R)' : Number.isFinite(ratio) ? (ratio >= want ? 'met' : 'MISSED') : 'n/a';
        verdicts.push(verdict);
      }
      const label =
        row.metric === 'tput' || row.metric === 'tput.prefetch'
          ? `${fmtInt(groups()[0]!.args.tasks)} ${row.label}`
          : row.label;
      rows.push([
        label,
        modeName(m),
        fmtVal(r, row.unit),
        fmtVal(o, row.unit),
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}` : '-',
        row.goalText?.[m] ?? '',
        verdict,
      ]);
      for (const s of ['r', 'ours'] as System[]) {
        const k = results.key(s, m, row.metric);
        const ns = results.notes.get(k);
        const vs = results.values.get(k);
        // A round-trip workload notes its median and p99 alike: one line for both.
        const what = `${s === 'r' ? 'R' : 'ours'}, ${row.label.replace(/ (median|p99),/, ',')} (${modeName(m)})`;
        if (ns?.length) notes.add(`${what}: ${[...new Set(ns)].join('; ')}`);
        if ((vs?.length ?? 0) < passes && (s === 'ours' || haveR))
          notes.add(`${what}: ${vs?.length ?? 0} of ${passes} passes gave a value`);
      }
    }
  }
  // Not a ratio to R: our own tls+tcp round trip against our own tcp one, same run.
  for (const m of ['dispatcher', 'none'] as Mode[]) {
    const q = results.median('ours', m, 'tls.rtt.median') / results.median('ours', m, 'tcp.rtt.median');
    const verdict = Number.isFinite(q) ? (q <= TLS_OVER_TCP ? 'met' : 'MISSED') : 'n/a';
    verdicts.push(verdict);
    rows.push([
      `ours: tls+tcp / tcp round trip median`,
      modeName(m),
      '',
      Number.isFinite(q) ? `${q.toFixed(2)}x` : '-',
      '',
      `≤ ${TLS_OVER_TCP}x`,
      verdict,
    ]);
  }
  console.log('');
  printTable(
    [
      'workload (2 local daemons)',
      'mode',
      `R ${results.versions.get('r')?.split(',')[0] ?? 'mirai'}`,
      'this package',
      'ratio',
      'goal (issue 10)',
      'verdict',
    ],
    rows,
    {
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'left'],
      title:
        `Side by side, median of ${passes} alternating passes, fresh processes; ratio = R time / ours (rates: ours / R): > 1 = this package is faster.` +
        (haveR ? '' : ' R columns skipped.'),
    },
  );
  const met = verdicts.filter((v) => v === 'met').length;
  const missed = verdicts.filter((v) => v === 'MISSED').length;
  console.log(
    `goals: ${met} met, ${missed} missed${verdicts.length - met - missed ? `, ${verdicts.length - met - missed} not measured` : ''}`,
  );
  if (results.versions.size) console.log(`versions: ${[...results.versions.values()].join('; ')}`);
  for (const n of notes) console.log(`  note: ${n}`);
  console.log('  per pass (R | ours):');
  for (const row of ROWS) {
    for (const m of row.modes) {
      const per = (s: System): string =>
        (results.values.get(results.key(s, m, row.metric)) ?? []).map((v) => fmtVal(v, row.unit)).join(' / ') || '-';
      console.log(`    ${row.label} (${modeName(m)}): ${per('r')} | ${per('ours')}`);
    }
  }
}

export async function run(): Promise<void> {
  const t0 = performance.now();
  const r = findR();
  const systems: System[] = r.ok ? ['ours', 'r'] : ['ours'];
  console.log(
    `bench/compare: this package${r.ok ? " and R's mirai" : ''}, 2 local daemons, ${PASSES} passes; node ${process.version}, ` +
      `${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(2)}`,
  );
  if (!r.ok)
    console.log(`  R's mirai skipped (${r.why}): run \`bash bench/r/setup.sh\` to build it (see docs/benchmarks.md)`);
  const onSignal = (sig: NodeJS.Signals): void => {
    if (current) killGroup(current);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results = new Results();
  const failures: string[] = [];
  try {
    for (let pass = 0; pass < PASSES; pass++) {
      const p0 = performance.now();
      for (const group of groups()) {
        const order = pass % 2 === 0 ? systems : [...systems].reverse();
        for (const s of order) {
          const failed = await runGroup(s, group, results);
          if (failed) failures.push(`pass ${pass + 1}: ${failed}`);
        }
      }
      console.log(`  pass ${pass + 1} of ${PASSES}: ${((performance.now() - p0) / 1000).toFixed(1)} s`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  report(results, r.ok, PASSES);
  for (const f of failures) console.log(`  FAILED: ${f}`);
  if (failures.length) process.exitCode = 1;
  console.log(`(bench/compare took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (require.main === module) {
  run().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
