// everywhere(): a resource opened on every daemon that later tasks use (cleanup keeps it), code
// strings with top-level var/function, errors, and daemons that join later (replayed in order,
// before their first task), with and without a dispatcher.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, everywhere, isMiraiError, launchLocal, mirai, status } from '../../dist';
import { errorOf, tempFile, tempPath, withTimeout } from '../helpers';
import { assertNoDaemonChildren, pidTask, testHooks, waitGone } from '../fixtures/mirai/common';

const W = 15000;
const run = <T>(m: PromiseLike<T>, what = 'task'): Promise<T> => withTimeout(Promise.resolve(m), W, what);

/**
 * Task: a rendezvous of `n` tasks: each registers its pid in dir and waits (asynchronously) until
 * n have, so n tasks that return are known to have run on n different daemons at once. Gives
 * the daemon's pid and its global `key`.
 */
function rendezvous(d: { dir: string; n: number; key: string }): Promise<[number, unknown]> {
  const fs = require('node:fs');
  fs.mkdirSync(d.dir, { recursive: true });
  fs.writeFileSync(require('node:path').join(d.dir, String(process.pid)), '');
  const end = Date.now() + 10000;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (fs.readdirSync(d.dir).length >= d.n) resolve([process.pid, (globalThis as any)[d.key]]);
      else if (Date.now() > end) reject(new Error('rendezvous: the other tasks never came'));
      else return;
      clearInterval(t);
    }, 5);
  });
}

test.after(async () => {
  await daemons(0).catch(() => {});
});

test('everywhere opens a resource (a file handle) that later tasks use; cleanup keeps it', async () => {
  await daemons(2);
  const file = tempFile('resource.txt', 'shared content');
  const pids = await run(
    everywhere(
      (d) => {
        (globalThis as any).fh = require('node:fs').openSync(d.file, 'r');
        return process.pid;
      },
      { file },
    ),
    'everywhere',
  );
  assert.is(new Set(pids).size, 2, 'ran once on each daemon; resolves with their results');
  // Two tasks that wait for each other: one on each daemon.
  const dir = tempPath('mirai-rdv');
  const both = await run(Promise.all([0, 1].map(() => mirai(rendezvous, { dir, n: 2, key: 'fh' }))), 'rendezvous');
  assert.equal(new Set(both.map(([p]) => p)), new Set(pids));
  assert.ok(
    both.every(([, fh]) => typeof fh === 'number'),
    'both daemons hold the handle',
  );
  const reads = await run(
    Promise.all(
      Array.from({ length: 6 }, () =>
        mirai(() => {
          const buf = Buffer.alloc(100);
          const n = require('node:fs').readSync((globalThis as any).fh, buf, 0, 100, 0);
          return buf.subarray(0, n).toString();
        }),
      ),
    ),
  );
  assert.equal(reads, Array(6).fill('shared content'));
  // Close it everywhere: later tasks see it gone.
  await run(
    everywhere(() => {
      require('node:fs').closeSync((globalThis as any).fh);
      delete (globalThis as any).fh;
    }),
    'everywhere close',
  );
  assert.equal(await run(Promise.all([0, 1].map(() => mirai('typeof fh')))), ['undefined', 'undefined']);
  await daemons(0);
});

test('everywhere with a code string: top-level var and function persist; data keys in scope', async () => {
  await daemons(1);
  await run(everywhere('var counter = start; function bump() { return ++counter }', { start: 10 }), 'everywhere');
  assert.is(await run(mirai('bump()')), 11);
  assert.is(await run(mirai('bump()')), 12, 'state carries from task to task');
  assert.is(await run(mirai(() => (globalThis as any).counter)), 12);
});

test('everywhere: a throwing call rejects with its MiraiError; the daemons carry on', async () => {
  const e = await run(
    errorOf(
      everywhere(() => {
        throw new RangeError('setup failed');
      }),
    ),
    'failing everywhere',
  );
  assert.ok(isMiraiError(e), String(e));
  assert.equal([e.name, e.message], ['RangeError', 'setup failed']);
  assert.is(await run(mirai('bump()')), 13);
  assert.equal(await run(everywhere(() => 'ok')), ['ok']);
});

for (const dispatcher of [true, false]) {
  test(`everywhere reaches daemons that join later, in order, before their first task (dispatcher: ${dispatcher})`, async () => {
    await daemons(1, { dispatcher });
    await run(
      everywhere(() => {
        (globalThis as any).setup = ['first'];
      }),
      'everywhere 1',
    );
    await run(
      everywhere(
        (d) => {
          (globalThis as any).setup.push(d.second);
        },
        { second: 'second' },
      ),
      'everywhere 2',
    );
    await launchLocal(1);
    assert.is((await status()).connections, 2);
    const dir = tempPath('mirai-rdv');
    const out = await run(
      Promise.all([0, 1].map(() => mirai(rendezvous, { dir, n: 2, key: 'setup' }))),
      'a task on each daemon',
    );
    assert.is(new Set(out.map(([p]) => p)).size, 2, 'one task on each daemon');
    for (const [pid, setup] of out) assert.equal(setup, ['first', 'second'], `daemon ${pid} has the everywhere state`);
    // everywhere after the join runs on both.
    assert.is(new Set(await run(everywhere(pidTask))).size, 2);
    const pids = out.map(([p]) => p);
    await daemons(0);
    await waitGone(pids, 1000, 'daemons');
  });
}

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
