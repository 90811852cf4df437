// Daemons that leave: their task and pending EVERYWHERE answered 19, or re-queued while the
// task's retry budget lasts; DAEMON news and INFO say who came, what it runs and why it left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'node:v8';
import { BYE_IDLE_TIME, hello, type DaemonRow } from '../../dist/wire/protocol';
import { expect, K, newsOf, recv, Rig, send, WAIT, withRig } from './rig';

test('a daemon leaving mid-task: ErrorValue 19 for its task and pending EVERYWHERE; others carry on', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    const ida = (await expect(a, K.TASK)).id;
    const idb = (await expect(b, K.TASK)).id;
    await send(r.host, K.EVERYWHERE, 200, 0, Buffer.from('setup'));
    await expect(r.host, K.EVERYWHERE_ACK, 200, 2);
    a.close();
    const got = [await recv(r.host), await recv(r.host), await recv(r.host)].map((m) => `${m.kind}:${m.id}:${m.flags}`);
    assert.equal(got.sort(), [`${K.CONNECTIONS}:1:0`, `${K.ERROR_VALUE}:${ida}:19`, `${K.ERROR_VALUE}:200:19`].sort());
    await r.counters({ connections: 1, awaiting: 1, executing: 1, completed: 1 });
    await send(b, K.RESULT, idb);
    await expect(r.host, K.RESULT, idb);
    await expect(b, K.EVERYWHERE, 200); // before its next task
    await send(b, K.RESULT, 200);
    await expect(r.host, K.RESULT, 200);
    await expect(b, K.TASK, 3);
    await send(b, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 1, completed: 3 });
  }));

/** The loss is settled a tick after CONNECTIONS (a last result may still be on its way):
 *  waits until both tasks are queued again. */
async function requeued(r: Rig): Promise<void> {
  const until = Date.now() + WAIT;
  while ((await r.status()).awaiting !== 2) if (Date.now() > until) throw new Error('tasks not re-queued');
}

test('TASK flags = retry budget: a lost task is re-queued first, byte for byte, until the budget is spent (then 19)', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const payload = Buffer.from('task with retries');
    await send(r.host, K.TASK, 1, 2, payload); // two retries
    await send(r.host, K.TASK, 2);
    const first = await expect(a, K.TASK, 1, 2);
    a.close();
    await expect(r.host, K.CONNECTIONS, 0);
    await requeued(r);
    await r.counters({ awaiting: 2 }); // back in the queue, nothing answered
    const b = await r.daemon(1);
    const again = await expect(b, K.TASK, 1); // ahead of task 2, which was queued behind it
    assert.ok(again.body.equals(first.body), 'the same message');
    b.close();
    await expect(r.host, K.CONNECTIONS, 0);
    await requeued(r);
    const c = await r.daemon(1);
    await expect(c, K.TASK, 1);
    c.close(); // budget spent: settled now
    const got = [await recv(r.host), await recv(r.host)].map((m) => `${m.kind}:${m.id}:${m.flags}`);
    assert.equal(got.sort(), [`${K.CONNECTIONS}:0:0`, `${K.ERROR_VALUE}:1:19`].sort());
    const d = await r.daemon(1);
    await expect(d, K.TASK, 2);
    await send(d, K.RESULT, 2);
    await expect(r.host, K.RESULT, 2);
    await r.counters({ connections: 1, completed: 2 });
  }));

test('DAEMON news and INFO: who connected (HELLO), what it runs, why it left (BYE flags), which task was lost', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    await send(a, K.HELLO, 0); // malformed (pid 0): dropped
    await a.send(hello(4242, 'somewhere'));
    const b = await r.daemon(2); // never says who it is
    await send(r.host, K.TASK, 7);
    await send(r.host, K.TASK, 8);
    await expect(a, K.TASK, 7);
    await expect(b, K.TASK, 8);
    await send(r.host, K.INFO_REQUEST, 0);
    const rows = v8.deserialize((await expect(r.host, K.INFO, 2)).body.subarray(8)) as DaemonRow[];
    assert.equal(
      rows.map(({ at: _at, ...rest }) => rest),
      [
        { daemon: 1, pid: 4242, hostname: 'somewhere', busy: true, task: 7, tasksDone: 0 },
        { daemon: 2, busy: true, task: 8, tasksDone: 0 },
      ],
    );
    await send(a, K.RESULT, 7);
    await expect(r.host, K.RESULT, 7);
    await send(a, K.BYE, 0, BYE_IDLE_TIME);
    await expect(a, K.EXIT, 0);
    a.close();
    await expect(r.host, K.CONNECTIONS, 1);
    b.close(); // while running task 8
    await expect(r.host, K.CONNECTIONS, 0);
    await expect(r.host, K.ERROR_VALUE, 8, 19);
    const news = (newsOf.get(r.host) ?? []).map(({ at: _at, ...rest }) => rest);
    assert.equal(news, [
      { type: 'connect', daemon: 1, pid: 4242, hostname: 'somewhere' },
      { type: 'disconnect', daemon: 1, hint: 'idleTime', tasksDone: 1 },
      { type: 'connect', daemon: 2 }, // told at its departure: it never sent a HELLO
      { type: 'disconnect', daemon: 2, tasksDone: 0 },
      { type: 'taskLost', daemon: 2, task: 8, retried: false },
    ]);
    await r.counters({ completed: 2 }, 1);
  }));

test.run();
