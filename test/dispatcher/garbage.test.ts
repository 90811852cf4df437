// Garbage from the host and the daemons: dropped and counted, and the dispatcher keeps serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expect, K, send, WAIT, withRig } from './rig';

// What a host may send (TASK, CANCEL, EVERYWHERE, STATUS_REQUEST, SHUTDOWN, INFO_REQUEST, DROP):
// the host is trusted, so garbage is made of the other kinds.
const HOST_KINDS = new Set<number>([
  K.TASK,
  K.CANCEL,
  K.EVERYWHERE,
  K.STATUS_REQUEST,
  K.SHUTDOWN,
  K.INFO_REQUEST,
  K.DROP,
]);

test('garbage from the host and daemons is dropped and counted; the dispatcher keeps serving', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    const e = await r.daemon(2);
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const garbage = (): Buffer => {
      const b = Buffer.alloc(rand(4) === 0 ? rand(8) : 8 + rand(40));
      for (let i = 0; i < b.length; i++) b[i] = rand(256);
      if (b.length >= 8 && rand(2) === 0) b[0] = 2; // right version, then a kind the host may not send
      if (b.length >= 2 && b[0] === 2 && b[1]! >= 1 && b[1]! <= 5) b[1] = 6 + rand(200);
      if (b.length >= 2 && b[0] === 2 && HOST_KINDS.has(b[1]!)) b[1]! += 100; // no rand(): same sequence
      return b;
    };
    const n = 300;
    for (let i = 0; i < n; i++) {
      await r.host.send(garbage());
      await (i % 2 ? d : e).send(garbage()); // idle daemons: anything they send is unexpected
    }
    await send(r.host, K.TASK, 1, 0, Buffer.from('x'));
    const on = await Promise.race([expect(d, K.TASK, 1).then(() => d), expect(e, K.TASK, 1).then(() => e)]);
    await send(on, K.RESULT, 7); // not the id it runs
    await send(on, K.RESULT, 1);
    await expect(r.host, K.RESULT, 1);
    const deadline = Date.now() + WAIT;
    let c = await r.status();
    while (c.dropped < 2 * n + 1 && Date.now() < deadline) c = await r.status();
    assert.equal(c, { connections: 2, awaiting: 0, executing: 0, completed: 1, dropped: 2 * n + 1, rejected: 0 });
  }));

test.run();
