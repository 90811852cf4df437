// A local daemon whose process has exited while its connection stays open (another process
// holds its socket: wine does this now and then after TerminateProcess, and the task it held
// then never settled). The host sees the exit; EXIT_WAIT_MS later it closes that connection
// (a DROP to the dispatcher, or its own pipe in round-robin), so the task settles with
// ErrorValue 19 and the daemon, cut off, exits. Simulated with a wrapper that the host watches
// and that runs the real daemon as its child (test/fixtures/mirai/outliving-daemon.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { daemonEvents, daemons, isErrorValue, mirai, status } from '../../dist';
import { EXIT_WAIT_MS } from '../../dist/host/events';
import { errorOf, nodeWords, withTimeout } from '../helpers';
import { alive, asyncBlockTask, Gate, marker, testHooks, waitFile, waitGone } from '../fixtures/mirai/common';

const W = 15_000;
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'mirai');
const WRAPPER = path.join(FIXTURES, 'outliving-daemon.js');
const FAKE_PID = path.join(FIXTURES, 'fake-pid.js');

test.after(async () => {
  await daemons(0).catch(() => {});
});

for (const [label, dispatcher] of [
  ['dispatcher thread', true],
  ['dispatcher process', 'process'],
  ['round-robin', false],
] as const) {
  test(`${label}: the daemon's process exits, its connection stays: dropped, its task settles with 19`, async () => {
    let real = 0;
    try {
      const events = daemonEvents();
      const connected = new Promise<number>((resolve) => events.on('connect', (e) => resolve(e.daemon.pid!)));
      await daemons(1, {
        dispatcher,
        respawn: false,
        node: [...nodeWords(), WRAPPER],
        execArgv: ['--require', FAKE_PID],
      });
      const watched = await withTimeout(connected, W, 'its connect');
      real = Number(
        await withTimeout(
          mirai(() => process.env.MIRAI_REAL_PID),
          W,
          'its real pid',
        ),
      );
      assert.ok(real > 0 && real !== watched, 'the daemon is not the process the host watches');
      const started = marker();
      const held = mirai(asyncBlockTask, { gate: new Gate().path, started, ms: 60_000 });
      await waitFile(started);
      process.kill(watched, 'SIGKILL');
      const t0 = Date.now();
      const e = await withTimeout(errorOf(held), EXIT_WAIT_MS + W, 'the held task to settle');
      assert.ok(isErrorValue(e) && e.code === 19, `ErrorValue 19, got ${String(e)}`);
      assert.ok(Date.now() - t0 >= EXIT_WAIT_MS - 100, 'not before EXIT_WAIT_MS: a result on its way may land first');
      assert.is((await status()).connections, 0, 'its connection was closed');
      await waitGone([real], W, 'the cut-off daemon');
      events.close();
    } finally {
      if (real > 0 && alive(real)) process.kill(real, 'SIGKILL');
      await daemons(0);
    }
  });
}

testHooks(test);
test.run();
