// Backpressure (issue 11 item 1): daemons({ maxQueueBytes }) caps the bytes of tasks a profile
// holds until they settle; a task that does not fit is not submitted (tryMirai() null, mirai()
// QueueFullError) and whenRoom() waits for room. 100,000 tasks pushed through a small cap: the
// bytes held never pass it, nothing is lost, every result is right.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, mirai, QueueFullError, status, tryMirai, whenRoom, type Mirai } from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import { assertNoDaemonChildren, Gate, testHooks } from '../fixtures/mirai/common';

const W = 60_000;

/** Task: b's length, once the gate file exists (asyncBlockTask's gate, but the result is the length). */
function gatedLength(d: { b: Uint8Array; gate: string }): Promise<number> {
  const fs = require('node:fs');
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!fs.existsSync(d.gate)) return;
      clearInterval(t);
      resolve(d.b.length);
    }, 5);
  });
}

for (const [mode, dispatcher, count] of [
  ['round-robin', false, 100_000],
  ['dispatcher', true, 10_000],
] as const) {
  test(`${mode}: ${count.toLocaleString('en')} tasks through a 16 KiB cap: bounded, none lost, all right`, async () => {
    const limit = 16 * 1024;
    await daemons(2, { dispatcher, maxQueueBytes: limit });
    let outstanding = 0;
    let most = 0;
    let sum = 0;
    let settled = 0;
    let size = 0;
    let peak = 0;
    let allSettled!: () => void;
    const all = new Promise<void>((r) => (allSettled = r));
    const t0 = Date.now();
    for (let i = 0; i < count; i++) {
      let m: Mirai<number> | null;
      while ((m = tryMirai((d: { i: number }) => d.i * 2, { i })) === null) await withTimeout(whenRoom(), W, 'room');
      outstanding++;
      if (outstanding > most) most = outstanding;
      const mm = m;
      void mm.then((v) => {
        sum += v;
        outstanding--;
        if (++settled === count) allSettled();
      });
      if (i === 0) {
        const s = await status();
        assert.ok(s.memory && s.memory.limit === limit && s.memory.used > 0, JSON.stringify(s.memory));
        size = s.memory!.used; // one tiny task, encoded
      } else if (i % 997 === 0) {
        const used = (await status()).memory!.used;
        if (used > peak) peak = used;
        assert.ok(used <= limit, `${used} bytes held, over the cap`);
      }
    }
    await withTimeout(all, W, 'all results');
    assert.is(sum, count * (count - 1), 'every result, once');
    const s = await status();
    assert.equal(s.memory, { used: 0, limit });
    assert.ok(peak > limit / 2, `the cap was used (peak ${peak} bytes)`);
    console.log(
      `\n  [backpressure] ${mode}: ${count} tasks in ${Date.now() - t0} ms, peak ${peak} of ${limit} bytes held (a task: ${size}+ bytes), ~${most} tasks`,
    );
    await daemons(0);
  });
}

test('beyond the cap: mirai() throws QueueFullError and submits nothing; too big ever: says so', async () => {
  await daemons(1, { maxQueueBytes: 2048 });
  const big = new Uint8Array(1500);
  const gate = new Gate();
  const first = mirai(gatedLength, { b: big, gate: gate.path });
  const used = (await status()).memory!.used;
  const e = await errorOf(() => mirai((d: { b: Uint8Array }) => d.b.length, { b: big }));
  assert.instance(e, QueueFullError);
  assert.instance(e, RangeError);
  assert.is(e.code, 'MIRAI_QUEUE_FULL');
  assert.match(e.message, /no room for a task of \d+ bytes/);
  assert.is((await status()).memory!.used, used, 'nothing more is held');
  assert.is(
    tryMirai((d: { b: Uint8Array }) => d.b.length, { b: big }),
    null,
  );
  // whenRoom() waits for that size; the first task's settlement makes room.
  const room = whenRoom();
  gate.open();
  await withTimeout(room, W, 'room');
  assert.is(await first, 1500);
  const second = tryMirai((d: { b: Uint8Array }) => d.b.length, { b: big });
  assert.ok(second !== null);
  assert.is(await second, 1500);
  const huge = new Uint8Array(4096);
  const h = await errorOf(() => mirai((d: { b: Uint8Array }) => d.b.length, { b: huge }));
  assert.match(h.message, /more than maxQueueBytes \(2048\): it can never be submitted/);
  assert.instance(await errorOf(whenRoom({ bytes: 4096 })), QueueFullError);
  assert.match(
    (await errorOf(daemons(1, { maxQueueBytes: 0 }))).message,
    /maxQueueBytes' must be a positive number of bytes/,
  );
  await daemons(0);
});

test('a wait for room ends when the profile is reset', async () => {
  await daemons(1, { maxQueueBytes: 1024 });
  const block = mirai(gatedLength, { b: new Uint8Array(600), gate: new Gate().path }); // never opened
  block.then(
    () => {},
    () => {},
  );
  assert.is(
    tryMirai(() => 1, { pad: 'x'.repeat(500) }),
    null,
  );
  const waiting = whenRoom();
  await daemons(0);
  await withTimeout(waiting, W, 'the wait to end');
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
