// Failure: a daemon killed with SIGKILL mid-task settles that mirai with ErrorValue 19 while the
// rest complete; a host killed with SIGKILL leaves no daemon and no dispatcher behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collect, daemons, everywhere, isErrorValue, mirai, status } from '../../dist';
import { errorOf, spawnNode, withTimeout } from '../helpers';
import {
  alive,
  assertNoDaemonChildren,
  dispatcherPids,
  asyncBlockTask,
  Gate,
  marker,
  pidTask,
  readPid,
  testHooks,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;
const HOST = path.join(__dirname, '..', 'fixtures', 'mirai', 'host-kill.js');

test.after(async () => {
  await daemons(0).catch(() => {});
});

test('dispatcher: kill -9 a daemon mid-task: that mirai gives ErrorValue 19, the rest complete', async () => {
  // respawn: false: the connection counts below are of the survivors (respawn.test.ts has the rest).
  await daemons(3, { respawn: false });
  const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
  const started = marker();
  const victim = mirai(asyncBlockTask, { gate: new Gate().path, started });
  await waitFile(started);
  const before = Array.from({ length: 10 }, (_, i) => mirai('i', { i }));
  const pid = readPid(started);
  process.kill(pid, 'SIGKILL');
  const after = Array.from({ length: 10 }, (_, i) => mirai('i + 10', { i }));
  const e = await withTimeout(errorOf(victim), 5000, 'the killed task to settle');
  assert.ok(isErrorValue(e), String(e));
  assert.is(e.code, 19);
  assert.equal(await withTimeout(collect([...before, ...after]), W, 'the other tasks'), [...Array(20).keys()]);
  await waitGone([pid], 2000, 'the killed daemon');
  const s = await status();
  assert.is(s.connections, 2);
  assert.equal(s.mirai, { awaiting: 0, executing: 0, completed: 21 });
  const rest = await withTimeout(Promise.all(Array.from({ length: 6 }, () => mirai(pidTask))), W, 'tasks after');
  assert.ok(
    rest.every((p) => p !== pid && pids.includes(p)),
    'the surviving daemons carry on',
  );
  await daemons(0);
});

/** Round-robin with 2 daemons, one of them (pid) running a task that blocks until killed. */
async function roundRobinWithVictim(): Promise<{ victim: Promise<unknown>; pid: number; survivor: number }> {
  await daemons(2, { dispatcher: false, respawn: false });
  const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
  const started = marker();
  const victim = mirai(asyncBlockTask, { gate: new Gate().path, started });
  await waitFile(started);
  const pid = readPid(started);
  return { victim: Promise.resolve(victim), pid, survivor: pids.find((p) => p !== pid)! };
}

test('round-robin: kill -9 a daemon mid-task: ErrorValue 19, the other daemon carries on', async () => {
  const { victim, pid, survivor } = await roundRobinWithVictim();
  const queued = Array.from({ length: 4 }, () => mirai(pidTask)); // half of them behind the victim
  process.kill(pid, 'SIGKILL');
  const e = await withTimeout(errorOf(victim), 5000, 'the killed task to settle');
  assert.ok(isErrorValue(e) && e.code === 19, String(e));
  const outcomes = await withTimeout(collect(queued), W, 'the queued tasks to settle');
  for (const o of outcomes)
    assert.ok(o === survivor || (isErrorValue(o) && o.code === 19), `unexpected outcome ${String(o)}`);
  assert.ok(outcomes.filter((o) => o === survivor).length >= 2, 'those sent to the survivor completed');
  assert.is((await status()).connections, 1);
  const later = await withTimeout(Promise.all(Array.from({ length: 4 }, () => mirai(pidTask))), W, 'tasks after');
  assert.equal(later, [survivor, survivor, survivor, survivor]);
  await daemons(0);
});

test('round-robin: kill -9 a daemon with 100 tasks behind its running one: only that one fails (19), the rest run elsewhere in order', async () => {
  const { victim, pid, survivor } = await roundRobinWithVictim();
  // Round-robin: every other one goes to the victim, behind its running task (32 in flight
  // there, the rest waiting in the host).
  const rest = Array.from({ length: 199 }, (_, i) => mirai((d: { i: number }) => [d.i, process.pid], { i }));
  process.kill(pid, 'SIGKILL');
  const e = await withTimeout(errorOf(victim), 5000, 'the killed task to settle');
  assert.ok(isErrorValue(e) && e.code === 19, String(e));
  const outcomes = (await withTimeout(collect(rest), W, 'the other 199 tasks')) as Array<[number, number]>;
  assert.equal(
    outcomes.map((o) => o[0]),
    [...Array(199).keys()],
    'none lost, none failed',
  );
  assert.ok(
    outcomes.every((o) => o[1] === survivor),
    'those meant for the victim ran on the survivor',
  );
  assert.is((await status()).connections, 1);
  await daemons(0);
});

for (const mode of ['process', 'thread', 'false'] as const) {
  test(`kill -9 the host (dispatcher: ${mode}): every daemon${mode === 'process' ? ' and the dispatcher' : ''} exits within 5 s`, async () => {
    const started = marker();
    const host = spawnNode([HOST, mode, '2', started], { timeoutMs: 30_000 });
    let pids: number[] = [];
    try {
      const line = await host.line(/^\{/, W);
      const info = JSON.parse(line) as { daemons: number[] };
      assert.is(info.daemons.length, 2);
      const dispatcher = dispatcherPids(host.proc.pid!, info.daemons);
      assert.is(dispatcher.length, mode === 'process' ? 1 : 0, 'dispatcher processes');
      pids = [...info.daemons, ...dispatcher];
      assert.ok(pids.every(alive), 'all running before the kill');
      host.proc.kill('SIGKILL');
      await host.exited;
      await waitGone(pids, 5000, 'daemons and dispatcher of the killed host');
    } finally {
      host.kill();
      for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
      // A host killed with SIGKILL cannot remove its socket and log files: the test does.
      for (const f of fs.readdirSync(os.tmpdir())) {
        if (f.startsWith(`mirai-${host.proc.pid}-`)) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
      }
    }
  });
}

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
