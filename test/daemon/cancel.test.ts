// CANCEL in a real daemon process: a sync infinite loop is interrupted (SIGINT through the
// armed receive), an async task's signal is aborted; both are answered at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../helpers';
import { bounded, Host, K, WAIT, sharedDaemon } from './host';

const shared = sharedDaemon(test);
let id = 0;

test('CANCEL interrupts a sync infinite loop; the next task runs within 1 s with state intact', async () => {
  const h = new Host();
  await h.daemon(); // fresh: the first tasks run while the SIGINT keeper is still starting
  await h.run(1, 'globalThis.state = 42', undefined, K.EVERYWHERE);
  for (const tid of [2, 4]) {
    await h.send(K.TASK, tid, {
      type: 'f',
      src: String(() => {
        for (;;) {
          /* spin */
        }
      }),
      data: null,
    });
    await bounded(new Promise((r) => setTimeout(r, 50)), 1000, 'spin'); // let it start
    const t0 = Date.now();
    await h.send(K.CANCEL, tid);
    assert.equal(await h.recv(1000), { kind: K.ERROR_VALUE, flags: 20, id: tid, value: undefined });
    assert.is(await h.value(tid + 1, () => (globalThis as any).state), 42);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  }
  await h.send(K.CANCEL, 999); // a CANCEL while idle: absorbed, the daemon keeps serving
  await h.send(K.CANCEL, 998);
  assert.is(await h.value(10, () => 'alive'), 'alive');
});

test("CANCEL aborts an async task's signal and is answered at once", async () => {
  await shared.host.run(++id, 'globalThis.box = {}', undefined, K.EVERYWHERE);
  const tid = ++id;
  // The task says when it is waiting (a file), so that the CANCEL reaches an async task and not
  // its synchronous start (which it would interrupt before the listener exists).
  const mark = path.join(os.tmpdir(), `mirai-dt-${process.pid}-${randomBytes(4).toString('hex')}.started`);
  await shared.host.send(K.TASK, tid, {
    type: 'f',
    data: mark,
    src: String(
      (file: string, { signal }: { signal: AbortSignal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => {
            (globalThis as any).box.aborted = true;
          });
          require('node:fs').writeFileSync(file, '1');
        }),
    ),
  });
  await waitFor(() => fs.existsSync(mark), WAIT, 'task start');
  fs.rmSync(mark, { force: true });
  await shared.host.send(K.CANCEL, tid);
  assert.equal(await shared.host.recv(), { kind: K.ERROR_VALUE, flags: 20, id: tid, value: undefined });
  assert.is(await shared.host.value(++id, () => (globalThis as any).box.aborted), true);
});

test.run();
