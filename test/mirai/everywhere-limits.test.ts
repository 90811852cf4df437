// everywhere(fn, data, { timeout, min }) (issue 11 item 5): min waits for enough daemons before
// the call goes out; timeout settles the call by its deadline with ErrorValue 5 for every daemon
// that did not answer (or never came), interrupting the ones still running it, so that none is
// left stuck: tasks after it run on every daemon. With a dispatcher and round-robin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, everywhere, isErrorValue, launchLocal, mirai, status } from '../../dist';
import { errorOf, tempPath, withTimeout } from '../helpers';
import { assertNoDaemonChildren, pidTask, testHooks } from '../fixtures/mirai/common';

const W = 15000;

/** Task: n tasks that wait for each other, so n answers prove n daemons ran at once. */
function rendezvous(d: { dir: string; n: number }): Promise<number> {
  const fs = require('node:fs');
  fs.mkdirSync(d.dir, { recursive: true });
  fs.writeFileSync(require('node:path').join(d.dir, String(process.pid)), '');
  const end = Date.now() + 10000;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (fs.readdirSync(d.dir).length >= d.n) resolve(process.pid);
      else if (Date.now() > end) reject(new Error('rendezvous: the other tasks never came'));
      else return;
      clearInterval(t);
    }, 5);
  });
}

for (const dispatcher of [true, false]) {
  const mode = dispatcher ? 'dispatcher' : 'round-robin';

  test(`${mode}: timeout: a daemon stuck in the call counts as ErrorValue 5, is interrupted, and serves on`, async () => {
    await daemons(2, { dispatcher });
    const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
    const slow = pids[0]!;
    const e = await errorOf(
      everywhere(
        (d: { slow: number }) => {
          if (process.pid === d.slow) for (;;); // stuck in synchronous code
          return process.pid;
        },
        { slow },
        { timeout: 500 },
      ),
    );
    assert.ok(isErrorValue(e), String(e));
    assert.is(e.code, 5);
    const results = (e as unknown as { results: unknown[] }).results;
    assert.is(results.length, 2);
    assert.equal(
      results.filter((r) => typeof r === 'number'),
      [pids[1]],
      'the other daemon answered',
    );
    assert.ok(
      results.some((r) => isErrorValue(r) && r.code === 5),
      'ErrorValue 5 for the stuck one',
    );
    // Neither daemon is wedged: two tasks that need two free daemons at once both run.
    const dir = tempPath('mirai-rdv');
    const both = await withTimeout(Promise.all([0, 1].map(() => mirai(rendezvous, { dir, n: 2 }))), W, 'rendezvous');
    assert.equal(new Set(both), new Set(pids));
    await daemons(0);
  });

  test(`${mode}: min: the call waits for enough daemons, then runs on each`, async () => {
    await daemons({ url: 'tcp://127.0.0.1:0', dispatcher });
    await launchLocal(1);
    const call = everywhere(pidTask, {}, { min: 2, timeout: W });
    let settled = false;
    call.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Had the call gone out, the daemon would have run it (and answered) before this task.
    await withTimeout(mirai(pidTask), W, 'a task');
    assert.ok(!settled, 'still waiting with 1 of 2 daemons');
    await launchLocal(1);
    const pids = (await withTimeout(call, W, 'everywhere')) as number[];
    assert.is(new Set(pids).size, 2, `ran on both daemons: ${pids}`);
    assert.is((await status()).connections, 2);
    await daemons(0);
  });

  test(`${mode}: min not reached by the timeout: ErrorValue 5 for each of the min daemons; the call still goes out`, async () => {
    await daemons({ url: 'tcp://127.0.0.1:0', dispatcher });
    await launchLocal(1);
    const e = await errorOf(everywhere(() => ((globalThis as any).marked = 'yes'), {}, { min: 3, timeout: 300 }));
    assert.ok(isErrorValue(e), String(e));
    const results = (e as unknown as { results: unknown[] }).results;
    assert.is(results.length, 3);
    // The call waited for 3 daemons until its deadline, so none ran it in time.
    assert.ok(
      results.every((r) => isErrorValue(r) && r.code === 5),
      `results: ${results}`,
    );
    // It went out at the deadline all the same (its state reaches the daemons, as any call's).
    assert.is(
      await withTimeout(
        mirai(() => (globalThis as any).marked),
        W,
        'task',
      ),
      'yes',
    );
    await daemons(0);
  });
}

test('everywhere options are checked', async () => {
  await daemons(1);
  assert.throws(() => everywhere(pidTask, {}, { min: -1 }), /min.*non-negative integer/);
  assert.throws(() => everywhere(pidTask, {}, { timeout: 'soon' as never }), /timeout/);
  await daemons(0);
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
