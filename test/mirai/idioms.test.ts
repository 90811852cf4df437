// Node's idioms and errors a newcomer can act on (issue 11 items 4, 8, 9, 10).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, ErrorValue, isErrorValue, mirai, requireDaemons } from '../../dist';
import { startDispatcher } from '../../dist/dispatcher/main';
import { errorOf, removeTemps, withTimeout } from '../helpers';
import { assertNoDaemonChildren } from '../fixtures/mirai/common';

test.after(async () => {
  await daemons(0);
  await daemons(0, { profile: 'idioms-other' });
  await assertNoDaemonChildren();
  removeTemps();
});

test('requireDaemons(): throws without daemons, passes with them', async () => {
  assert.throws(() => requireDaemons(), /no daemons are set for profile 'default'/);
  assert.throws(() => requireDaemons('idioms-other'), /profile 'idioms-other'/);
  await daemons(1);
  requireDaemons();
  assert.throws(() => requireDaemons('idioms-other'));
});

test('AbortSignal: AbortError with the reason as cause, code 20; AbortSignal.timeout(): TimeoutError', async () => {
  const ac = new AbortController();
  const m = mirai(() => new Promise((r) => setTimeout(r, 10_000)), {}, { signal: ac.signal });
  const why = new Error('user left');
  ac.abort(why);
  const e = await errorOf(m);
  assert.ok(isErrorValue(e) && e instanceof ErrorValue);
  assert.equal([e.name, e.code, e.cause], ['AbortError', 20, why]);
  const t = await errorOf(
    mirai(() => new Promise((r) => setTimeout(r, 10_000)), {}, { signal: AbortSignal.timeout(50) }),
  );
  assert.equal([t.name, t.code, t.cause?.name], ['TimeoutError', 20, 'TimeoutError']);
  const pre = await errorOf(mirai(() => 1, {}, { signal: AbortSignal.abort('gone') }));
  assert.equal([pre.name, pre.code, pre.cause], ['AbortError', 20, 'gone']);
  const s = mirai(() => new Promise((r) => setTimeout(r, 10_000)));
  s.stop('no longer needed');
  const se = await errorOf(s);
  assert.equal([se.name, se.code, se.cause], ['AbortError', 20, 'no longer needed']);
  // The daemon is free again (the task was interrupted, not waited for).
  assert.is(await withTimeout(Promise.resolve(mirai(() => 'next')), 5000, 'next task'), 'next');
  // A plain timeout keeps the original's name.
  const to = await errorOf(mirai(() => new Promise((r) => setTimeout(r, 10_000)), {}, { timeout: 50 }));
  assert.equal([to.name, to.code], ['ErrorValue', 5]);
});

test('bound and built-in functions are refused with what to do; a ReferenceError says what a task sees', async () => {
  function add(this: { k: number }, d: { x: number }): number {
    return d.x + this.k;
  }
  const bound = await errorOf(() => mirai(add.bind({ k: 1 }), { x: 1 }));
  assert.instance(bound, TypeError);
  assert.match(bound.message, /add was bound \(fn\.bind\(\)\).*pass an arrow function/);
  const native = await errorOf(() => mirai(Math.max as unknown as () => number));
  assert.match(native.message, /max is a built-in \(native\) function.*wrap it/);
  const ref = await errorOf(mirai(() => (globalThis as any).eval('notHere + 1')));
  assert.is(ref.name, 'ReferenceError');
  assert.match(
    ref.message,
    /^notHere is not defined \(a task sees only its data, the daemon's globals and what everywhere\(\) defined: pass 'notHere' in the task's data\)$/,
  );
  assert.match(ref.stack, /^ReferenceError: notHere is not defined \(a task sees/);
});

test('a dispatcher worker that fails before it is ready says why', async () => {
  const h = startDispatcher('thread', {
    hostUrl: 'inproc://mirai-nowhere',
    daemonUrl: 'inproc://x',
    secret: 'x'.repeat(16),
  });
  await withTimeout(h.exited, 5000, 'worker exit');
  assert.match(String(h.error), /cannot reach the host at 'inproc:\/\/mirai-nowhere'/);
});

test.run();
