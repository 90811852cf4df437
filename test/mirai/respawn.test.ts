// Respawn and retry: a local daemon that dies unexpectedly is replaced (its everywhere() state
// replayed before its first task) unless respawn: false; a crash loop stops respawning and is
// reported by status() and a warning; mirai(..., { retry: k }) resubmits a task whose daemon
// was lost. Daemon stderr files leave nothing in the temp dir. Both dispatcher modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { daemons, everywhere, isErrorValue, launchLocal, mirai, status, type Status } from '../../dist';
import { errorOf, removeTemps, spawnNode, waitFor, waitForEvent, withTimeout } from '../helpers';
import {
  alive,
  assertNoDaemonChildren,
  cliChildren,
  marker,
  packageTempFiles,
  pidTask,
  testHooks,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;

test.after(async () => {
  await daemons(0).catch(() => {});
  removeTemps();
});

/** Polls status() until pred holds (bounded); returns that status. */
async function statusUntil(pred: (s: Status) => boolean, ms: number, what: string): Promise<Status> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await status();
    if (pred(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last status ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Task: kills its daemon (exit code 3), appending one byte to d.file first if given. */
function crashTask(d: { file?: string }): never {
  if (d.file) require('node:fs').appendFileSync(d.file, 'x');
  process.exit(3);
}

/** Task: kills its daemon the first time (no marker yet), returns its pid the next time. */
function crashOnceTask(d: { file: string }): number {
  const fs = require('node:fs');
  fs.appendFileSync(d.file, 'x');
  if (fs.readFileSync(d.file, 'utf8').length === 1) process.exit(3);
  return process.pid;
}

/** Task: its daemon's pid and the global an everywhere() set. */
function probeTask(): [number, unknown] {
  return [process.pid, (globalThis as Record<string, unknown>).x];
}

const runs = (file: string): number => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').length : 0);

for (const [label, dispatcher] of [
  ['dispatcher', true],
  ['round-robin', false],
] as const) {
  test(`${label}: daemons killed by process.exit(3) are replaced, and their first task sees the everywhere() state`, async () => {
    await daemons(2, { dispatcher });
    await withTimeout(
      everywhere(() => ((globalThis as Record<string, unknown>).x = 42)),
      W,
      'everywhere',
    );
    const old = (await withTimeout(everywhere(pidTask), W, 'pids')) as number[];
    // Both die; the probes wait for the replacements (queued, or held by the round-robin host).
    const kills = [mirai(crashTask, {}), mirai(crashTask, {})];
    for (const k of kills) {
      const e = await withTimeout(errorOf(k), W, 'the crashing task');
      assert.ok(isErrorValue(e) && e.code === 19, String(e));
    }
    const probes = (await withTimeout(Promise.all([mirai(probeTask), mirai(probeTask)]), W, 'probes')) as Array<
      [number, unknown]
    >;
    for (const [pid, x] of probes) {
      assert.ok(!old.includes(pid), 'ran on a replacement daemon');
      assert.is(x, 42, 'everywhere() state replayed before its first task');
    }
    const s = await statusUntil((s) => s.connections === 2, W, '2 connections again');
    assert.is(s.respawned, 2);
    assert.is(s.error, undefined);
    assert.is(cliChildren(process.pid, /dist\/cli\.js daemon/).length, 2);
    await daemons(0);
  });

  test(`${label}: a daemon aborted out of memory (memory: 64) is replaced`, async () => {
    await daemons(1, { dispatcher, memory: 64 });
    const hog = mirai(() => {
      const a: number[][] = [];
      for (;;) a.push(new Array(1e5).fill(Math.random()));
    });
    const e = await withTimeout(errorOf(hog), W, 'the task that runs out of memory');
    assert.ok(isErrorValue(e) && e.code === 19, String(e));
    assert.type(await withTimeout(Promise.resolve(mirai(pidTask)), W, 'a task after'), 'number');
    const s = await statusUntil((s) => s.connections === 1, W, '1 connection again');
    assert.is(s.respawned, 1);
    await daemons(0);
  });

  test(`${label}: respawn: false keeps n - 1 daemons`, async () => {
    await daemons(2, { dispatcher, respawn: false });
    const e = await withTimeout(errorOf(mirai(crashTask, {})), W, 'the crashing task');
    assert.ok(isErrorValue(e) && e.code === 19, String(e));
    await statusUntil((s) => s.connections === 1, W, '1 connection');
    // A replacement would start within the first backoff (100 ms): give it 5 times that.
    const replaced = await waitFor(
      () => cliChildren(process.pid, /dist\/cli\.js daemon/).length > 1,
      500,
      'a replacement',
    ).then(
      () => true,
      () => false,
    );
    assert.is(replaced, false, 'no daemon was started');
    const s = await status();
    assert.is(s.connections, 1);
    assert.is(s.respawned, undefined);
    await daemons(0);
  });

  test(`${label}: a crash loop stops after 5 exits; status() and a warning say so; tasks stay queued`, async () => {
    await daemons(1, { dispatcher });
    const warned = waitForEvent<Error & { code?: string }>(process, 'warning', W);
    // Every replacement replays this and dies before its first task.
    const e = await withTimeout(errorOf(everywhere(() => process.exit(4))), W, 'the fatal everywhere');
    assert.ok(isErrorValue(e) && e.code === 19, String(e));
    const w = await warned;
    assert.is(w.code, 'MIRAI_RESPAWN_STOPPED');
    assert.match(w.message, /5 local daemons exited unexpectedly.*exit code 4.*not respawning/);
    const s = await statusUntil((s) => s.connections === 0, W, '0 connections');
    assert.is(s.respawned, 4);
    assert.match(s.error ?? '', /not respawning any more/);
    const queued = mirai(() => 1);
    if (dispatcher) await statusUntil((s) => s.mirai?.awaiting === 1, W, 'the task queued');
    assert.ok(queued.unresolved, 'left queued, as in R mirai');
    await daemons(0);
    assert.is(((await errorOf(queued)) as { code: number }).code, 19, 'the reset settles it');
  });

  test(`${label}: retry: 1 reruns a task whose daemon died; without retry it settles 19 after one run`, async () => {
    await daemons(2, { dispatcher });
    const once = marker();
    const v = await withTimeout(Promise.resolve(mirai(crashOnceTask, { file: once }, { retry: 1 })), W, 'retried task');
    assert.type(v, 'number');
    assert.is(runs(once), 2);
    const plain = marker();
    const e = await withTimeout(errorOf(mirai(crashOnceTask, { file: plain })), W, 'task without retry');
    assert.ok(isErrorValue(e) && e.code === 19, String(e));
    assert.is(runs(plain), 1, 'never retried by default');
    await daemons(0);
  });

  test(`${label}: retry: k exhausted settles with ErrorValue 19 after k + 1 runs`, async () => {
    await daemons(2, { dispatcher });
    const file = marker();
    const e = await withTimeout(errorOf(mirai(crashTask, { file }, { retry: 2 })), W, 'task always crashing');
    assert.ok(isErrorValue(e) && e.code === 19, String(e));
    assert.is(runs(file), 3);
    // Tasks after it run (on survivors or replacements).
    assert.type(await withTimeout(Promise.resolve(mirai(pidTask)), W, 'a task after'), 'number');
    await daemons(0);
  });
}

test('retry must be an integer from 0 to 65535', async () => {
  for (const bad of [-1, 1.5, 65536, '1']) {
    assert.throws(() => mirai(() => 1, {}, { retry: bad as number }), /retry.*integer from 0 to 65535/);
  }
});

test('stderr file: never in the temp dir while daemons run, and still quoted when they fail to start', async () => {
  await daemons(1);
  const logs = (): string[] => packageTempFiles().filter((f) => f.endsWith('.log'));
  // Windows: unlinked but delete-pending, the name may stay listed while the file is open.
  if (process.platform !== 'win32') assert.equal(logs(), []);
  const err = await errorOf(launchLocal(1, { execArgv: ['--no-such-node-flag'] }));
  assert.match(String(err), /did not connect.*their stderr:[\s\S]*no-such-node-flag/);
  await daemons(0);
  await waitFor(() => logs().length === 0, 5000, 'no stderr file after daemons(0)');
});

test('stderr file: a host killed with SIGKILL leaves no mirai-*.log', async () => {
  const started = marker();
  const host = spawnNode([path.join(__dirname, '..', 'fixtures', 'mirai', 'host-kill.js'), 'thread', '2', started], {
    timeoutMs: 30_000,
  });
  let pids: number[] = [];
  try {
    pids = (JSON.parse(await host.line(/^\{/, W)) as { daemons: number[] }).daemons;
    host.proc.kill('SIGKILL');
    await host.exited;
    await waitGone(pids, 5000, 'daemons of the killed host');
    // Windows removes a delete-pending file once its last handle (the daemons' too) is closed.
    assert.equal(
      packageTempFiles(host.proc.pid).filter((f) => f.endsWith('.log')),
      [],
    );
  } finally {
    host.kill();
    for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
    // Its IPC socket file is not ours to keep either.
    for (const f of packageTempFiles(host.proc.pid)) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
