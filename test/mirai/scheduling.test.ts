// Scheduling: FIFO order on one daemon; with two daemons, the dispatcher sends short tasks to
// the free daemon while a long one runs, while round-robin queues some behind it; 20,000 tiny
// tasks over 4 daemons with exact status counters.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collect, daemons, everywhere, mirai, status, type Mirai } from '../../dist';
import { withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  asyncBlockTask,
  Gate,
  marker,
  pidTask,
  testHooks,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;
const settledOrder = (ms: Mirai<unknown>[]): number[] => {
  const order: number[] = [];
  ms.forEach((m, i) =>
    m.then(
      () => order.push(i),
      () => order.push(i),
    ),
  );
  return order;
};

test.after(async () => {
  await daemons(0).catch(() => {});
});

for (const dispatcher of [true, false]) {
  test(`FIFO on one daemon (dispatcher: ${dispatcher}): run order and completion order are submission order`, async () => {
    await daemons(1, { dispatcher });
    // Each task returns the daemon's high-resolution clock when it ran.
    const ms = Array.from({ length: 60 }, (_, i) => mirai('[i, process.hrtime.bigint()]', { i }));
    const order = settledOrder(ms);
    const out = (await withTimeout(Promise.all(ms), W, 'tasks')) as Array<[number, bigint]>;
    assert.equal(
      out.map(([i]) => i),
      [...Array(60).keys()],
    );
    for (let i = 1; i < out.length; i++) assert.ok(out[i]![1] > out[i - 1]![1], `task ${i} ran after task ${i - 1}`);
    assert.equal(order, [...Array(60).keys()], 'settled in submission order');
    await daemons(0);
  });
}

test('dispatcher, 2 daemons: a long task does not hold up short ones', async () => {
  await daemons(2);
  const gate = new Gate();
  const started = marker();
  const long = mirai(asyncBlockTask, { gate: gate.path, started });
  await waitFile(started);
  const shorts = Array.from({ length: 8 }, () => mirai(pidTask));
  const pids = await withTimeout(Promise.all(shorts), W, 'short tasks while the long one runs');
  assert.ok(long.unresolved, 'every short task finished while the long task was still running');
  const longPid = Number(require('node:fs').readFileSync(started, 'utf8'));
  assert.ok(
    pids.every((p) => p !== longPid),
    'all short tasks went to the free daemon',
  );
  gate.open();
  assert.is(await withTimeout(Promise.resolve(long), W, 'long task'), longPid);
  await daemons(0);
});

test('round-robin, 2 daemons: a task can queue behind the long one while the other daemon is free', async () => {
  await daemons(2, { dispatcher: false });
  const [p1, p2] = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
  const gate = new Gate();
  const started = marker();
  const long = mirai(asyncBlockTask, { gate: gate.path, started });
  await waitFile(started);
  const longPid = Number(require('node:fs').readFileSync(started, 'utf8'));
  const other = longPid === p1 ? p2 : p1;
  const shorts = Array.from({ length: 6 }, () => mirai(pidTask));
  // Round-robin alternates: those that went to the free daemon finish, the others wait.
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => {
        const free = shorts.filter((m) => !m.unresolved);
        if (free.length >= 3) resolve();
        else setTimeout(check, 5);
      };
      check();
    }),
    W,
    'the short tasks on the free daemon',
  );
  const done = shorts.filter((m) => !m.unresolved);
  const waiting = shorts.filter((m) => m.unresolved);
  assert.is(done.length, 3, 'half the short tasks finished on the free daemon');
  assert.ok(done.every((m) => m.data === other));
  assert.is(waiting.length, 3, 'the other half is queued behind the long task');
  assert.ok(long.unresolved);
  gate.open();
  const all = await withTimeout(Promise.all(shorts), W, 'the queued short tasks');
  assert.ok(
    waiting.every((m) => m.data === longPid),
    "the queued ones ran on the long task's daemon",
  );
  assert.is(all.filter((p) => p === longPid).length, 3);
  await daemons(0);
});

test('20,000 tiny tasks over 4 daemons complete with exact counters', async () => {
  await daemons(4);
  const before = (await status()).mirai!;
  assert.equal(before, { awaiting: 0, executing: 0, completed: 0 });
  const N = 20_000;
  const ms = new Array<Mirai<[number, number]>>(N);
  for (let i = 0; i < N; i++) ms[i] = mirai((d) => [d.i, process.pid] as [number, number], { i });
  // Counters are exact at all times: every task is awaiting, executing or completed.
  const mid = (await status()).mirai!;
  assert.is(mid.awaiting + mid.executing + mid.completed, N, JSON.stringify(mid));
  assert.ok(mid.executing <= 4, `never more than one task per daemon: ${JSON.stringify(mid)}`);
  const out = await withTimeout(collect(ms), 60_000, '20,000 tasks');
  const pids = new Set<number>();
  for (let i = 0; i < N; i++) {
    const r = out[i] as [number, number];
    if (!Array.isArray(r) || r[0] !== i) assert.unreachable(`task ${i} gave ${String(r)}`);
    pids.add(r[1]);
  }
  assert.is(pids.size, 4, 'all 4 daemons took tasks');
  const s = await status();
  assert.is(s.connections, 4);
  assert.equal(s.mirai, { awaiting: 0, executing: 0, completed: N });
  await daemons(0);
  await waitGone([...pids], 1000, 'daemons');
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
