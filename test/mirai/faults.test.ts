// The fault matrix (issue 8): kill -9 of a daemon, of the dispatcher process and of the host at
// a random point of a stream of tasks, with a dispatcher thread, a dispatcher process and
// round-robin, over ipc, tcp and tls+tcp. Every mirai settles with its own value or ErrorValue
// 19; a daemon's death costs at most the one task it held (running, or handed to it and not yet
// read: the host cannot tell those apart); nothing is left behind. FAULTS_ITER=n runs each cell
// n times (default 1); FAULTS_SEED=s replays a run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { daemons, everywhere, isErrorValue, launchLocal, mirai } from '../../dist';
import { removeTemps, spawnNode, tempPath, withTimeout } from '../helpers';
import { alive, assertNoDaemonChildren, dispatcherPids, packageTempFiles, waitGone } from '../fixtures/mirai/common';

const ITER = Math.max(1, Number(process.env.FAULTS_ITER ?? 1));
const SEED = Number(process.env.FAULTS_SEED ?? Date.now() % 1e9);
const HOST = path.join(__dirname, '..', 'fixtures', 'mirai', 'host-stream.js');
const W = 20_000;
const TASKS = 60;

let seed = SEED;
/** Deterministic for a given FAULTS_SEED (printed with every failure). */
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed >>> 8) % n;
}
const where = (): string => `(FAULTS_SEED=${SEED})`;

const MODES = { thread: true, process: 'process', 'round-robin': false } as const;
const TRANSPORTS: Record<string, () => string | undefined> = {
  ipc: () => undefined,
  tcp: () => 'tcp://127.0.0.1:0',
  'tls+tcp': () => 'tls+tcp://127.0.0.1:0',
};

test.after.each(async () => {
  await daemons(0);
});
/** Totals over the run, printed at the end (the figures for the long run on the issue). */
const totals = { runs: 0, tasks: 0, lostRunning: 0, lostHanded: 0, lostToDispatcher: 0, hostKills: 0 };

test.after(async () => {
  process.stdout.write(`\n  [faults] ${JSON.stringify(totals)} (FAULTS_ITER=${ITER}, FAULTS_SEED=${SEED})\n`);
  await assertNoDaemonChildren();
  removeTemps();
});

/** Task: marks that it started (a file named for its index), then answers i * 2 after a moment. */
function task(d: { dir: string; i: number; ms: number }): Promise<number> {
  require('node:fs').writeFileSync(require('node:path').join(d.dir, String(d.i)), '');
  return new Promise((r) => setTimeout(() => r(d.i * 2), d.ms));
}

async function setUp(mode: keyof typeof MODES, url: string | undefined): Promise<number[]> {
  const dispatcher = MODES[mode];
  if (url) {
    await daemons({ url, dispatcher });
    await launchLocal(3);
  } else {
    await daemons(3, { dispatcher });
  }
  return everywhere(() => process.pid) as Promise<number[]>;
}

/** Submits the stream; calls kill() once `at` tasks have settled; returns each task's outcome. */
async function stream(at: number, kill: () => void): Promise<{ dir: string; outcomes: Array<number | 'lost'> }> {
  const dir = tempPath('mirai-faults');
  fs.mkdirSync(dir);
  let settled = 0;
  const all = Array.from({ length: TASKS }, (_, i) => {
    const m = mirai(task, { dir, i, ms: 1 + rand(4) });
    return Promise.resolve(m)
      .then(
        (v) => v,
        (e: unknown) => {
          if (!isErrorValue(e) || (e as { code: number }).code !== 19)
            throw new Error(`task ${i}: unexpected ${String(e)} ${where()}`);
          return 'lost' as const;
        },
      )
      .finally(() => {
        if (++settled === at) kill();
      });
  });
  const outcomes = await withTimeout(Promise.all(all), W, `every task to settle ${where()}`);
  return { dir, outcomes };
}

function check(dir: string, outcomes: Array<number | 'lost'>, maxLost: number, what: string): void {
  totals.runs++;
  totals.tasks += outcomes.length;
  outcomes.forEach((o, i) => {
    if (o !== 'lost') assert.is(o, i * 2, `${what}: task ${i} ${where()}`);
    else if (fs.existsSync(path.join(dir, String(i)))) totals.lostRunning++;
    else totals.lostHanded++; // handed to the killed daemon, not read yet
  });
  const lost = outcomes.filter((o) => o === 'lost').length;
  assert.ok(lost <= maxLost, `${what}: ${lost} tasks lost, at most ${maxLost} may be ${where()}`);
}

for (const [tname, makeUrl] of Object.entries(TRANSPORTS)) {
  for (const mode of Object.keys(MODES) as Array<keyof typeof MODES>) {
    test(`${tname}, ${mode}: kill -9 of a daemon mid-stream fails at most the task it ran`, async () => {
      for (let it = 0; it < ITER; it++) {
        const pids = await setUp(mode, makeUrl());
        const victim = pids[rand(pids.length)]!;
        const { dir, outcomes } = await stream(5 + rand(TASKS - 10), () => process.kill(victim, 'SIGKILL'));
        check(dir, outcomes, 1, `iteration ${it}`);
        await waitGone([victim], 5000, 'the killed daemon');
        await daemons(0);
      }
    });
  }
  test(`${tname}, process: kill -9 of the dispatcher mid-stream settles everything (19 for what may have run)`, async () => {
    for (let it = 0; it < ITER; it++) {
      const pids = await setUp('process', makeUrl());
      // The child that is not a daemon (Windows lists no command lines).
      const [dispatcher, ...more] = dispatcherPids(process.pid, pids);
      assert.ok(dispatcher !== undefined && more.length === 0, 'one dispatcher process');
      const { outcomes } = await stream(5 + rand(TASKS - 10), () => process.kill(dispatcher!, 'SIGKILL'));
      // Queued tasks cannot be told from running ones once the dispatcher is gone: any may be lost,
      // but none may have a wrong value.
      outcomes.forEach((o, i) => o !== 'lost' && assert.is(o, i * 2, `task ${i} ${where()}`));
      totals.runs++;
      totals.tasks += outcomes.length;
      totals.lostToDispatcher += outcomes.filter((o) => o === 'lost').length;
      await daemons(0);
      await waitGone([dispatcher!, ...pids], 5000, 'dispatcher and daemons');
    }
  });
}

for (const [tname, makeUrl] of Object.entries(TRANSPORTS)) {
  for (const mode of ['thread', 'process', 'false']) {
    test(`${tname}, ${mode === 'false' ? 'round-robin' : mode}: kill -9 of the host mid-stream leaves no process and no file`, async () => {
      for (let it = 0; it < ITER; it++) {
        const host = spawnNode([HOST, mode, makeUrl() ?? ''], { timeoutMs: 60_000 });
        try {
          const { daemons: own } = JSON.parse(await host.line(/^\{/, W)) as { daemons: number[] };
          const dispatcher = dispatcherPids(host.proc.pid!, own);
          assert.is(dispatcher.length, mode === 'process' ? 1 : 0, 'dispatcher processes');
          const pids = [...own, ...dispatcher];
          await host.line(new RegExp(`^${1 + rand(20)}$`), W);
          host.kill();
          await host.exited;
          await waitGone(pids, 2000, `the killed host's daemons and dispatcher ${where()}`);
          assert.equal(packageTempFiles(host.proc.pid!), [], `files left by the killed host ${where()}`);
          totals.hostKills++;
        } finally {
          host.kill();
        }
        assert.ok(!alive(host.proc.pid!));
      }
    });
  }
}

test.run();
