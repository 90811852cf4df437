// A dispatcher that dies (kill -9 of its process) must not leave anything hanging: every
// unresolved mirai settles with ErrorValue 19, status() answers at once with 0 connections,
// later tasks settle with 19 at once, and daemons(0) still cleans everything up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, everywhere, isErrorValue, mirai, status, type Mirai } from '../../dist';
import { removeTemps, withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  blockTask,
  cliChildren,
  Gate,
  marker,
  pidTask,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

test.after(async () => {
  Gate.openAll();
  await daemons(0);
  removeTemps();
});

test("dispatcher: 'process' killed with SIGKILL: 2 running + 50 queued settle with ErrorValue 19", async () => {
  await daemons(2, { dispatcher: 'process' });
  // The daemons say who they are; the other child is the dispatcher (Windows lists no command lines).
  const daemonPids = (await withTimeout(everywhere(pidTask), 15_000, 'everywhere')) as number[];
  assert.is(daemonPids.length, 2);
  const children = cliChildren();
  assert.ok(
    daemonPids.every((p) => children.includes(p)),
    'the daemons are children of this process',
  );
  const [dispatcher, ...more] = children.filter((p) => !daemonPids.includes(p));
  assert.ok(dispatcher !== undefined && more.length === 0, 'one dispatcher process, a child of this one');
  const gate = new Gate();
  const started = [marker(), marker()];
  const running = started.map((s) => mirai(blockTask, { gate: gate.path, started: s, ms: 30_000 }));
  await Promise.all(started.map((s) => waitFile(s)));
  const queued: Mirai<unknown>[] = Array.from({ length: 50 }, (_, i) => mirai('i', { i }));
  const all = [...running, ...queued];
  const pending = everywhere(() => 1);
  pending.catch(() => {});

  process.kill(dispatcher!, 'SIGKILL');
  const outcomes = await withTimeout(Promise.allSettled(all), 5000, 'every mirai to settle after the dispatcher died');
  for (const o of outcomes) {
    assert.is(o.status, 'rejected');
    const e = (o as PromiseRejectedResult).reason;
    assert.ok(isErrorValue(e) && e.code === 19, `ErrorValue 19, got ${String(e)}`);
  }
  await withTimeout(
    pending.then(
      () => assert.unreachable('everywhere must fail'),
      (e) => assert.is(e.code, 19),
    ),
    5000,
    'everywhere',
  );
  const s = await withTimeout(status(), 1000, 'status() after the dispatcher died');
  assert.is(s.connections, 0);
  const late = mirai(() => 1);
  assert.is(late.unresolved, false, 'a task submitted after the loss settles at once');
  assert.is((late.data as { code: number }).code, 19);

  // Their host link is gone: the daemons exit by themselves (autoExit); teardown is prompt.
  gate.open();
  await waitGone(daemonPids, 5000, 'daemons of the dead dispatcher');
  await withTimeout(daemons(0), 3000, 'daemons(0) after the dispatcher died');
  await assertNoDaemonChildren();
});

test.run();
