// Exit right after a mirai settles, with the default thread dispatcher (issue 8 item 0): every
// way of ending (the script ends, process.exit(0), an uncaught exception, a worker thread that
// owns the profile and ends or is terminated) must exit with its own code and no signal, and leave no daemon behind.
// Before the fix, 1 run in 15 to 30 ended in SIGSEGV: the dispatcher's worker thread, told to
// stop, still called into the addon and got a garbage promise handle back (binding/deferred.h).
// So each variant runs many times: EXIT_ITER runs per variant (default 12), EXIT_PAR at once
// (default 4); e.g. EXIT_ITER=500 for a long soak; EXIT_VARIANTS=a,b runs only those.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { EMULATED, spawnNode, type Exit } from '../helpers';
import { assertNoDaemonChildren, waitGone } from '../fixtures/mirai/common';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'mirai', 'exit-early.js');
const ITER = Math.max(1, Number(process.env.EXIT_ITER ?? 12));
const PAR = Math.max(1, Number(process.env.EXIT_PAR ?? 4));
// A run's hard deadline; under qemu a worker-thread run with 4 in parallel took over 20 s.
const CHILD_MS = EMULATED ? 90_000 : 20_000;

interface Run {
  exit: Exit;
  daemons: number[];
  stderr: string;
}

async function once(variant: string): Promise<Run> {
  const child = spawnNode([FIXTURE, variant], { timeoutMs: CHILD_MS });
  const exit = await child.exited;
  const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
  const daemons = line ? ((JSON.parse(line) as { daemons: number[] }).daemons ?? []) : [];
  return { exit, daemons, stderr: child.stderr };
}

/** Runs the variant ITER times, PAR at a time; returns every run. */
async function soak(variant: string): Promise<Run[]> {
  const runs: Run[] = [];
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < ITER) {
      started++;
      runs.push(await once(variant));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PAR, ITER) }, lane));
  return runs;
}

function check(variant: string, runs: Run[], code: number): void {
  assert.is(runs.length, ITER);
  const bad = runs.filter((r) => r.exit.code !== code || r.exit.signal !== null);
  const first = bad[0];
  assert.is(
    bad.length,
    0,
    `${variant}: ${bad.length}/${runs.length} runs did not exit with code ${code} and no signal; ` +
      `statuses: ${JSON.stringify(bad.map((r) => r.exit))}; first stderr: ${first?.stderr.slice(-2000)}`,
  );
  const missing = runs.filter((r) => r.daemons.length !== 2);
  assert.is(missing.length, 0, `${variant}: ${missing.length} runs did not report their 2 daemons`);
}

async function noDaemonsLeft(runs: Run[]): Promise<void> {
  await waitGone(
    runs.flatMap((r) => r.daemons),
    10000,
    'daemons of the ended scripts',
  );
  await assertNoDaemonChildren();
}

const variants: Array<[string, string, number]> = [
  ['natural', 'the script simply ends', 0],
  ['exit', 'process.exit(0)', 0],
  ['throw', 'an uncaught exception', 1],
  ['worker', 'a worker thread owning the profile ends, then the script', 0],
  ['terminate', 'a busy worker thread owning the profile is terminated', 0],
];

const only = process.env.EXIT_VARIANTS?.split(','); // e.g. EXIT_VARIANTS=terminate,exit
for (const [variant, what, code] of variants.filter(([v]) => !only || only.includes(v))) {
  test(`right after a mirai settles, ${what}: exit code ${code}, no signal, no daemon left (${ITER} runs)`, async () => {
    const runs = await soak(variant);
    try {
      check(variant, runs, code);
    } finally {
      await noDaemonsLeft(runs);
    }
  });
}

test.run();
