// Cancellation: stop() of a queued task (it never runs) and of a running one (a synchronous
// infinite loop included), after which the same daemon takes the next task within 1 s with its
// everywhere state intact; AbortSignal; timeout (ErrorValue 5, and the daemon is freed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { daemons, everywhere, isErrorValue, mirai, status, stopMirai, type Mirai } from '../../dist';
import { EMULATED, errorOf, withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  asyncBlockTask,
  blockTask,
  Gate,
  marker,
  testHooks,
  touchTask,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;
let daemonPid = 0;

async function expectCode(m: Mirai<unknown>, code: number): Promise<void> {
  const e = await withTimeout(errorOf(m), W, `ErrorValue ${code}`);
  assert.ok(isErrorValue(e), `expected ErrorValue ${code}, got ${String(e)}`);
  assert.is(e.code, code);
}

/** A task on the (single) daemon: its pid and the state everywhere() left. */
const probe = (): Mirai<[number, unknown]> =>
  mirai(() => [process.pid, (globalThis as any).resource] as [number, unknown]);

test.before(async () => {
  await daemons(1);
  [daemonPid] = (await withTimeout(
    everywhere(() => {
      (globalThis as any).resource = { opened: true };
      return process.pid;
    }),
    W,
    'everywhere',
  )) as number[];
});

test.after(async () => {
  await daemons(0).catch(() => {});
  await daemons(0, { profile: 'rr' }).catch(() => {});
});

test('stop() of a queued task: it settles with ErrorValue 20 and never runs', async () => {
  const gate = new Gate();
  const started = marker();
  const ran = marker();
  const long = mirai(asyncBlockTask, { gate: gate.path, started });
  await waitFile(started);
  const queued = mirai(touchTask, { file: ran });
  assert.equal((await status()).mirai, { awaiting: 1, executing: 1, completed: 0 });
  assert.is(stopMirai(queued), true, 'it was still queued');
  assert.is(queued.stop(), false, 'a second stop finds nothing to stop');
  await expectCode(queued, 20);
  const s = (await status()).mirai!;
  assert.equal([s.awaiting, s.executing], [0, 1]);
  gate.open();
  assert.is(await withTimeout(Promise.resolve(long), W, 'long task'), daemonPid);
  assert.equal(await withTimeout(Promise.resolve(probe()), W, 'next task'), [daemonPid, { opened: true }]);
  assert.not.ok(fs.existsSync(ran), 'the stopped task never ran');
  assert.is(long.stop(), false, 'stopping a settled mirai does nothing');
});

test('stopping the running task and then the queued ones in the same tick: none of the queued ones runs', async () => {
  // Five rounds: the queued tasks must not start on the daemon the first stop() frees.
  const ran: string[] = [];
  for (let round = 0; round < 5; round++) {
    const started = marker();
    const running = mirai(asyncBlockTask, { gate: new Gate().path, started });
    await waitFile(started);
    const files = [marker(), marker(), marker()];
    const queued = files.map((file) => mirai(touchTask, { file }));
    assert.is(running.stop(), true);
    for (const q of queued) assert.is(q.stop(), true);
    for (const m of [running, ...queued]) await expectCode(m, 20);
    assert.equal(await withTimeout(Promise.resolve(probe()), W, 'next task'), [daemonPid, { opened: true }]);
    ran.push(...files.filter((f) => fs.existsSync(f)).map((f) => `round ${round}: ${files.indexOf(f)}`));
  }
  assert.equal(ran, [], 'stopped queued tasks that ran anyway');
  const s = (await status()).mirai!;
  assert.equal([s.awaiting, s.executing], [0, 0]);
});

test('stop() of a running synchronous infinite loop: the daemon takes the next task within 1 s', async () => {
  const started = marker();
  const m = mirai(
    (d) => {
      require('node:fs').writeFileSync(d.started, '');
      for (;;);
    },
    { started },
  );
  await waitFile(started);
  const t0 = Date.now();
  assert.is(m.stop(), true);
  await expectCode(m, 20);
  const [pid, resource] = await withTimeout(Promise.resolve(probe()), 1000, 'the next task on the same daemon');
  assert.ok(Date.now() - t0 < 1000, `next task ran ${Date.now() - t0} ms after stop()`);
  assert.is(pid, daemonPid, 'the same daemon process');
  assert.equal(resource, { opened: true }, 'everywhere state intact');
  assert.equal((await status()).connections, 1);
});

test('stop() of a running async task aborts its signal on the daemon', async () => {
  const started = marker();
  const aborted = marker();
  const m = mirai(
    (d, { signal }) => {
      require('node:fs').writeFileSync(d.started, '');
      return new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          require('node:fs').writeFileSync(d.aborted, '');
          resolve('late');
        });
      });
    },
    { started, aborted },
  );
  await waitFile(started);
  assert.is(m.stop(), true);
  await expectCode(m, 20);
  await waitFile(aborted, EMULATED ? 10_000 : 2000);
  assert.equal(await withTimeout(Promise.resolve(probe()), 1000, 'next task'), [daemonPid, { opened: true }]);
});

test('an AbortSignal stops a running task; an aborted one never runs', async () => {
  const ac = new AbortController();
  const started = marker();
  const m = mirai(blockTask, { gate: new Gate().path, started }, { signal: ac.signal });
  await waitFile(started);
  ac.abort();
  await expectCode(m, 20);
  const ran = marker();
  const pre = mirai(touchTask, { file: ran }, { signal: AbortSignal.abort() });
  assert.not.ok(pre.unresolved, 'settles at once');
  await expectCode(pre, 20);
  assert.equal(await withTimeout(Promise.resolve(probe()), 1000, 'next task'), [daemonPid, { opened: true }]);
  assert.not.ok(fs.existsSync(ran), 'the pre-aborted task never ran');
});

test('timeout: ErrorValue 5, the running task is cancelled and the daemon freed', async () => {
  const started = marker();
  const t0 = Date.now();
  const m = mirai(blockTask, { gate: new Gate().path, started }, { timeout: 300 });
  const queuedRan = marker();
  const queued = mirai(touchTask, { file: queuedRan }, { timeout: 100 });
  await expectCode(queued, 5);
  await expectCode(m, 5);
  assert.ok(Date.now() - t0 >= 290, `timed out after ${Date.now() - t0} ms, before its 300 ms`);
  assert.ok(fs.existsSync(started), 'the task had started');
  assert.equal(await withTimeout(Promise.resolve(probe()), 1000, 'next task after the timeout'), [
    daemonPid,
    { opened: true },
  ]);
  assert.not.ok(fs.existsSync(queuedRan), 'the queued task that timed out never ran');
  const s = (await status()).mirai!;
  assert.equal([s.awaiting, s.executing], [0, 0]);
  // A timeout that does not fire leaves the result alone.
  assert.is(
    await withTimeout(Promise.resolve(mirai(() => 'quick', {}, { timeout: 10_000 })), W, 'quick task'),
    'quick',
  );
});

test('round-robin: stop() of a task queued behind a running one on its daemon: it never runs', async () => {
  await daemons(1, { dispatcher: false, profile: 'rr' });
  const gate = new Gate();
  const started = marker();
  const ran = marker();
  const long = mirai(asyncBlockTask, { gate: gate.path, started }, { profile: 'rr' });
  await waitFile(started);
  const queued = mirai(touchTask, { file: ran }, { profile: 'rr' });
  assert.is(queued.stop(), true);
  await expectCode(queued, 20);
  gate.open();
  const pid = await withTimeout(Promise.resolve(long), W, 'long task');
  assert.is(await withTimeout(Promise.resolve(mirai(() => process.pid, {}, { profile: 'rr' })), W, 'next task'), pid);
  assert.not.ok(fs.existsSync(ran), 'the stopped task ran on the daemon anyway');
});

test('round-robin: a timeout gives ErrorValue 5', async () => {
  const m = mirai(asyncBlockTask, { gate: new Gate().path, ms: 2000 }, { profile: 'rr', timeout: 100 });
  await expectCode(m, 5);
  await daemons(0, { profile: 'rr' });
});

test('teardown leaves no daemon process behind', async () => {
  await daemons(0);
  await waitGone([daemonPid], 1000, 'daemon');
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
