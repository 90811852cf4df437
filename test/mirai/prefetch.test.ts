// daemons({ prefetch: true }): a busy daemon holds the next task. Every task settles with its own
// value; a held task is taken back (RECALL) when another daemon goes idle first, cancelled
// without running, and queued again, never failed, when its daemon exits or is killed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, everywhere, isErrorValue, launchLocal, mirai, status, type Mirai, type Status } from '../../dist';
import { errorOf, removeTemps, waitUntil, withTimeout } from '../helpers';
import { pidTask, testHooks } from '../fixtures/mirai/common';

const W = 15000;
testHooks(test);

test.after.each(async () => {
  await daemons(0).catch(() => {});
});
test.after(() => removeTemps());

/** Task: waits (without blocking its daemon) until it is stopped. */
function untilStopped(_d: unknown, ctx: { signal: AbortSignal }): Promise<never> {
  return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped'))));
}

async function statusUntil(pred: (s: Status) => boolean, what: string): Promise<void> {
  await waitUntil(async () => pred(await status()), W, what);
}

/** One daemon, running a task that waits to be stopped, and holding `held` ahead of it. */
async function oneBusyDaemon(opts: { maxTasks?: number } = {}): Promise<{ pid: number; running: Mirai<never> }> {
  await daemons(1, { prefetch: true, ...opts });
  const pid = opts.maxTasks ? -1 : await withTimeout(mirai(pidTask) as Promise<number>, W, 'pid');
  const running = mirai(untilStopped) as Mirai<never>;
  running.catch(() => {});
  await statusUntil((s) => s.mirai?.executing === 1, 'the first task to run');
  return { pid, running };
}

test('prefetch: 3,000 tasks over 2 daemons settle with their own values; counters add up', async () => {
  await daemons(2, { prefetch: true });
  const n = 3000;
  const out = await withTimeout(
    Promise.all(Array.from({ length: n }, (_, i) => mirai((d: { i: number }) => d.i * 2, { i }) as Promise<number>)),
    W * 2,
    'tasks',
  );
  for (let i = 0; i < n; i++) assert.is(out[i], i * 2);
  const s = await status();
  assert.is(s.mirai?.executing, 0);
  assert.is(s.mirai?.awaiting, 0);
  assert.is(s.mirai?.completed, n);
});

test('prefetch: a held task is taken back by a daemon that goes idle first', async () => {
  const { pid, running } = await oneBusyDaemon();
  const held = mirai(pidTask) as Promise<number>;
  await statusUntil((s) => s.mirai?.executing === 2 && s.mirai?.awaiting === 0, 'the second task to be held');
  await launchLocal(1);
  // The first daemon is still busy: only a recall lets the new daemon run it.
  const ranOn = await withTimeout(held, W, 'the held task');
  assert.is.not(ranOn, pid);
  assert.ok(running.unresolved, 'the first task is still running');
  running.stop();
  const e = await errorOf(running);
  assert.ok(isErrorValue(e) && e.code === 20, String(e));
});

test('prefetch: a held task that is cancelled never runs', async () => {
  const { running } = await oneBusyDaemon();
  const held = mirai(() => 'ran') as Mirai<string>;
  await statusUntil((s) => s.mirai?.executing === 2, 'the second task to be held');
  held.stop();
  const e = await errorOf(held);
  assert.ok(isErrorValue(e) && e.code === 20, String(e));
  await statusUntil((s) => s.mirai?.executing === 1, 'the cancel to reach the dispatcher');
  running.stop();
  await errorOf(running);
  assert.is(await withTimeout(mirai(() => 'still works') as Promise<string>, W, 'next task'), 'still works');
});

test('prefetch: a held task is not lost with its daemon (SIGKILL): it runs on the next one', async () => {
  const { pid, running } = await oneBusyDaemon();
  const held = mirai(pidTask) as Promise<number>;
  await statusUntil((s) => s.mirai?.executing === 2, 'the second task to be held');
  process.kill(pid, 'SIGKILL');
  const e = await withTimeout(errorOf(running), W, 'the running task to settle');
  assert.ok(isErrorValue(e) && e.code === 19, `running task: ${String(e)}`);
  // The replacement daemon (respawn) runs the held task: it never ran, so it does not fail.
  const ranOn = await withTimeout(held, W, 'the held task');
  assert.is.not(ranOn, pid);
});

test('prefetch: a daemon that reaches maxTasks gives its held task back to the queue', async () => {
  const { running } = await oneBusyDaemon({ maxTasks: 1 });
  const held = mirai(pidTask) as Promise<number>;
  await statusUntil((s) => s.mirai?.executing === 2, 'the second task to be held');
  running.stop(); // its last answer: the daemon leaves without running the held task
  await errorOf(running);
  await statusUntil((s) => s.mirai?.awaiting === 1 && s.mirai?.executing === 0, 'the held task to be queued again');
  // launchLocal(1) waits for one more connection than there are: let the leaving one go first.
  await statusUntil((s) => s.connections === 0, 'the daemon to leave (maxTasks)');
  await launchLocal(1);
  assert.type(await withTimeout(held, W, 'the held task'), 'number');
});

test('prefetch: everywhere() still runs on every daemon before the tasks after it', async () => {
  await daemons(2, { prefetch: true });
  await everywhere(() => {
    (globalThis as Record<string, unknown>).k = 7;
  });
  const out = await withTimeout(
    Promise.all(
      Array.from({ length: 200 }, () => mirai(() => (globalThis as Record<string, unknown>).k) as Promise<number>),
    ),
    W,
    'tasks',
  );
  assert.ok(
    out.every((v) => v === 7),
    String(out),
  );
});

test('prefetch must be a boolean', async () => {
  const e = await errorOf(() => daemons(1, { prefetch: 'yes' as unknown as boolean }));
  assert.instance(e, TypeError);
  assert.match(String(e.message), /prefetch/);
});

test.run();
