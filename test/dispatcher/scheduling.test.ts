// How the dispatcher hands out work: FIFO, one task at a time per daemon, to whichever daemon is
// free first; CANCEL of queued and running tasks; EVERYWHERE once per daemon, replayed to late
// joiners.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expect, K, send, silent, withRig } from './rig';

test('FIFO on one daemon, one task at a time, exact counters, payloads over 1 MB intact', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    for (let i = 1; i <= 5; i++) await send(r.host, K.TASK, i, 0, i === 3 ? big : Buffer.from(`task ${i}`));
    await r.counters({ connections: 1, awaiting: 4, executing: 1 });
    for (let i = 1; i <= 5; i++) {
      const t = await expect(d, K.TASK, i);
      assert.ok(t.body.subarray(8).equals(i === 3 ? big : Buffer.from(`task ${i}`)));
      if (i <= 2) await silent(d); // the next task waits for this result
      await send(d, K.RESULT, i, 0, i === 3 ? big : Buffer.from(`result ${i}`));
      const res = await expect(r.host, K.RESULT, i);
      assert.is(res.body.length, 8 + (i === 3 ? big.length : `result ${i}`.length));
      await r.counters({ connections: 1, awaiting: Math.max(0, 4 - i), executing: i < 5 ? 1 : 0, completed: i });
    }
  }));

test('two daemons: a queued task goes to whichever is free first', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    const ida = (await expect(a, K.TASK)).id;
    const idb = (await expect(b, K.TASK)).id;
    assert.equal([ida, idb].sort(), [1, 2]);
    await r.counters({ connections: 2, awaiting: 1, executing: 2 });
    await send(b, K.RESULT, idb);
    await expect(r.host, K.RESULT, idb);
    await expect(b, K.TASK, 3);
    await send(a, K.RESULT, ida);
    await expect(r.host, K.RESULT, ida);
    await silent(a);
    await r.counters({ connections: 2, executing: 1, completed: 2 });
    await send(b, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 2, completed: 3 });
  }));

test('CANCEL: queued task answered 20 and never delivered; running task forwarded once', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    await expect(d, K.TASK, 1);
    await send(r.host, K.CANCEL, 2);
    await expect(r.host, K.ERROR_VALUE, 2, 20);
    await send(r.host, K.CANCEL, 99); // unknown: ignored
    await r.counters({ connections: 1, awaiting: 1, executing: 1, completed: 1 });
    await send(r.host, K.CANCEL, 1);
    await send(r.host, K.CANCEL, 1);
    await expect(d, K.CANCEL, 1);
    await silent(d);
    await send(d, K.ERROR_VALUE, 1, 20);
    await expect(r.host, K.ERROR_VALUE, 1, 20);
    await expect(d, K.TASK, 3); // task 2 never reaches the daemon
    await send(d, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 1, completed: 3 });
  }));

test('EVERYWHERE reaches each daemon once before its next task, and is replayed in order to late joiners', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    const p100 = Buffer.from('everywhere 100');
    await send(r.host, K.TASK, 1);
    const a1 = await expect(a, K.TASK, 1);
    assert.ok(a1);
    await send(r.host, K.EVERYWHERE, 100, 0, p100);
    await expect(r.host, K.EVERYWHERE_ACK, 100, 2);
    const eb = await expect(b, K.EVERYWHERE, 100); // idle: at once
    assert.ok(eb.body.subarray(8).equals(p100));
    await send(r.host, K.TASK, 2); // both busy: queued
    await send(a, K.RESULT, 1);
    await expect(r.host, K.RESULT, 1);
    await expect(a, K.EVERYWHERE, 100); // before task 2
    await send(b, K.RESULT, 100);
    await expect(r.host, K.RESULT, 100);
    await expect(b, K.TASK, 2);
    await send(a, K.RESULT, 100);
    await expect(r.host, K.RESULT, 100);
    await silent(a);
    await send(r.host, K.EVERYWHERE, 101, 0, Buffer.from('everywhere 101'));
    await expect(r.host, K.EVERYWHERE_ACK, 101, 2);
    await expect(a, K.EVERYWHERE, 101);
    await send(a, K.RESULT, 101);
    await expect(r.host, K.RESULT, 101);
    // Keep a busy, then a late joiner: replays 100 and 101 in order before its first task.
    await send(r.host, K.TASK, 3);
    await expect(a, K.TASK, 3);
    const c = await r.daemon(3);
    const rc = await expect(c, K.EVERYWHERE, 100);
    assert.ok(rc.body.subarray(8).equals(p100));
    await send(r.host, K.TASK, 4); // queued behind the replays
    await send(c, K.RESULT, 100);
    await expect(c, K.EVERYWHERE, 101);
    await send(c, K.ERROR_VALUE, 101, 20);
    await expect(c, K.TASK, 4);
    await send(c, K.RESULT, 4);
    await expect(r.host, K.RESULT, 4); // replay results were not forwarded
    await r.counters({ connections: 3, executing: 2, completed: 2 });
  }));

test.run();
