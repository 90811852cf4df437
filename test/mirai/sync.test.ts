// daemons({ sync: true }) (issue 11 item 6): tasks run in this process, on this thread, one at a
// time and in order, after the same serialization as on a daemon process, and a debugger stops
// in task code (an inspector session of this process sees the `debugger;` statement); status(),
// everywhere(), profiles and teardown behave as with daemon processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Session } from 'node:inspector';
import { daemons, everywhere, isErrorValue, isMiraiError, mirai, status } from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import { assertNoDaemonChildren, testHooks } from '../fixtures/mirai/common';

const W = 10000;

test('tasks run in this process, in order, and cross the real serialization', async () => {
  const set = await daemons({ sync: true });
  assert.match(set.url, /^inproc:\/\//);
  assert.is(
    await withTimeout(
      mirai(() => process.pid),
      W,
      'task',
    ),
    process.pid,
  );
  (globalThis as any).syncOrder = [];
  const done = await withTimeout(
    Promise.all([
      mirai(
        async (d: { i: number }) => {
          await new Promise((r) => setTimeout(r, 30));
          (globalThis as any).syncOrder.push(d.i);
          return d.i;
        },
        { i: 1 },
      ),
      mirai((d: { i: number }) => (globalThis as any).syncOrder.push(d.i) && d.i, { i: 2 }),
      mirai((d: { i: number }) => (globalThis as any).syncOrder.push(d.i) && d.i, { i: 3 }),
    ]),
    W,
    'tasks',
  );
  assert.equal(done, [1, 2, 3]);
  assert.equal((globalThis as any).syncOrder, [1, 2, 3], 'each task ran after the one before had finished');
  // Data and results are copies (structured clone), as with daemon processes.
  const data = { m: new Map([['k', 1]]) };
  const back = await mirai((d: { m: Map<string, number> }) => d.m, data);
  assert.instance(back, Map);
  assert.is.not(back, data.m, 'a copy, not the same object');
  const e = await errorOf(mirai(() => () => 'a function cannot be cloned'));
  assert.ok(isMiraiError(e) && /could not be serialized/.test(e.message), String(e));
  // Task code sees no closure, as on a daemon.
  const local = 42;
  const r = await errorOf(mirai(() => local));
  assert.ok(isMiraiError(r) && r.name === 'ReferenceError', String(r));
  delete (globalThis as any).syncOrder;
  await daemons(0);
});

test('a debugger stops in task code (inspector session of this process)', async () => {
  await daemons({ sync: true });
  const session = new Session();
  session.connect();
  const paused: string[] = [];
  session.on('Debugger.paused', (m) => {
    paused.push(m.params.callFrames[0]?.functionName ?? '?');
    session.post('Debugger.resume');
  });
  session.post('Debugger.enable');
  try {
    const v = await withTimeout(
      mirai(function taskUnderDebugger() {
        debugger; // eslint-disable-line no-debugger
        return 'resumed';
      }),
      W,
      'task',
    );
    assert.is(v, 'resumed');
    assert.equal(paused, ['taskUnderDebugger'], 'paused once, in the task function');
  } finally {
    session.post('Debugger.disable');
    session.disconnect();
    await daemons(0);
  }
});

test('status, everywhere, profiles, stop and teardown behave as with daemon processes', async () => {
  await daemons(4, { sync: true, profile: 'dbg' });
  assert.is((await status('dbg')).connections, 1, 'one in-process daemon, whatever n');
  assert.equal(await everywhere(() => process.pid, {}, { profile: 'dbg' }), [process.pid]);
  const m = mirai(
    (_: object, ctx: { signal: AbortSignal }) =>
      new Promise((r) => ctx.signal.addEventListener('abort', () => r('aborted'))),
    {},
    { profile: 'dbg' },
  );
  m.stop();
  const e = await errorOf(m);
  assert.ok(isErrorValue(e) && e.code === 20, String(e));
  assert.is(await mirai(() => 'after stop', {}, { profile: 'dbg' }), 'after stop');
  await daemons(0, { profile: 'dbg' });
  assert.equal(await status('dbg'), { connections: 0, daemons: '' });
  await assertNoDaemonChildren();
});

test('sync takes no url, remote, dispatcher or tls', async () => {
  const e = await errorOf(daemons({ sync: true, url: 'tcp://127.0.0.1:0' }));
  assert.instance(e, TypeError);
  assert.match(e.message, /sync: true runs tasks in this process, so it takes no url/);
  const d = await errorOf(daemons(2, { sync: true, dispatcher: true }));
  assert.match(d.message, /no dispatcher/);
});

testHooks(test);
test.run();
