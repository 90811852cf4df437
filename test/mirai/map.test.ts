// miraiMap (input order, first failure rejects and stops the rest, settled(), for-await in
// completion order) and the helpers over many mirai: race, collect, unresolved, stopMirai.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import {
  collect,
  daemons,
  isErrorValue,
  isMiraiError,
  mirai,
  miraiMap,
  race,
  stopMirai,
  unresolved,
  type Mirai,
} from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import { assertNoDaemonChildren, asyncBlockTask, Gate, marker, testHooks, waitFile } from '../fixtures/mirai/common';

const W = 15000;
const run = <T>(m: PromiseLike<T>, what = 'tasks'): Promise<T> => withTimeout(Promise.resolve(m), W, what);
const waitSettled = (ms: Mirai<unknown>[]): Promise<unknown> => run(collect(ms), 'mirai to settle');

test.before(async () => {
  await daemons(2);
});

test.after(async () => {
  await daemons(0).catch(() => {});
});

test('miraiMap: results in input order, whatever the completion order; data is passed along', async () => {
  const items = [40, 0, 25, 5, 15, 0, 30];
  const out = await run(
    miraiMap(items, (ms, d) => new Promise((r) => setTimeout(() => r(ms * d.k), ms)), { data: { k: 2 } }),
  );
  assert.equal(
    out,
    items.map((x) => x * 2),
  );
  assert.equal(await run(miraiMap(new Set(['a', 'b']), (s) => s.toUpperCase())), ['A', 'B'], 'any iterable');
  assert.equal(await run(miraiMap([], (x) => x)), []);
});

test('miraiMap: the first failure rejects and stops the rest (queued ones never run)', async () => {
  const gate = new Gate();
  const started = marker();
  const dir = marker();
  fs.mkdirSync(dir);
  const mm = miraiMap(
    [0, 1, 2, 3, 4, 5],
    (i, d, { signal }) => {
      const fs = require('node:fs');
      fs.writeFileSync(`${d.dir}/${i}`, '');
      if (i === 1) throw new RangeError('item 1 failed');
      if (i === 0) fs.writeFileSync(d.started, '');
      return new Promise((resolve) => {
        signal.addEventListener('abort', () => resolve('aborted'));
        const t = setInterval(() => fs.existsSync(d.gate) && (clearInterval(t), resolve(i)), 5);
      });
    },
    { data: { gate: gate.path, started, dir } },
  );
  const e = await run(errorOf(Promise.resolve(mm)));
  assert.ok(isMiraiError(e), String(e));
  assert.equal([e.name, e.message], ['RangeError', 'item 1 failed']);
  assert.is(mm.mirai.length, 6);
  assert.not.ok(unresolved(mm.mirai as Mirai<unknown>[]), 'nothing left running');
  for (const i of [0, 2, 3, 4, 5]) {
    const d = mm.mirai[i]!.data;
    assert.ok(isErrorValue(d) && d.code === 20, `item ${i}: ${String(d)}`);
  }
  gate.open();
  // The daemons are free again; what was queued behind never ran.
  assert.equal(await run(Promise.all([mirai(() => 1), mirai(() => 2)])), [1, 2]);
  const ran = fs.readdirSync(dir).sort();
  assert.ok(ran.includes('0') && ran.includes('1'));
  assert.equal(ran.filter((f) => !['0', '1'].includes(f)).length <= 1, true, `items that ran: ${ran}`);
});

test('miraiMap.settled(): every outcome in input order, nothing rejects', async () => {
  const out = await run(
    miraiMap([1, 2, 3, 4], (x) => {
      if (x % 2 === 0) throw new Error(`even ${x}`);
      return x * 10;
    }).settled(),
  );
  assert.equal(
    out.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled', 'rejected'],
  );
  assert.equal([(out[0] as any).value, (out[2] as any).value], [10, 30]);
  assert.ok(isMiraiError((out[1] as any).reason) && (out[1] as any).reason.message === 'even 2');
  assert.is((out[3] as any).reason.message, 'even 4');
});

test('miraiMap: for await yields results in completion order', async () => {
  const gate = marker();
  // Item 'slow' waits until item 'fast' has finished (fast opens the gate as it returns).
  const mm = miraiMap(
    ['slow', 'fast'],
    (name, d) => {
      const fs = require('node:fs');
      if (name === 'fast') {
        fs.writeFileSync(d.gate, '');
        return name;
      }
      return new Promise((resolve) => {
        const t = setInterval(() => fs.existsSync(d.gate) && (clearInterval(t), resolve(name)), 5);
      });
    },
    { data: { gate } },
  );
  const seen: string[] = [];
  await run(
    (async () => {
      for await (const v of mm) seen.push(String(v));
    })(),
  );
  assert.equal(seen, ['fast', 'slow']);
  // A failure ends the iteration with its error.
  const failing = miraiMap([1, 2], (x) => {
    if (x === 2) throw new Error('two');
    return x;
  });
  const e = await run(
    errorOf(
      (async () => {
        for await (const _ of failing) {
          /* consume */
        }
      })(),
    ),
  );
  assert.ok(isMiraiError(e) && e.message === 'two', String(e));
});

test('race: settles like the first mirai to settle (its value, or rejecting with its error)', async () => {
  const gate = new Gate();
  const started = marker();
  const slow = mirai(asyncBlockTask, { gate: gate.path, started });
  await waitFile(started);
  const fast = mirai(() => 'fast');
  const first = await run(race<unknown>([slow, fast]));
  assert.ok(unresolved(slow), 'race resolved before the slow one settled');
  assert.is(first, 'fast', `race gave ${String(first)}`);
  const failing = mirai(() => {
    throw new TypeError('first and failed');
  });
  const firstFailed = await run(
    race<unknown>([slow, failing]).then(
      (v) => ({ value: v }),
      (e) => ({ rejectedWith: e }),
    ),
  );
  assert.ok('rejectedWith' in firstFailed, 'a failed first mirai rejects the race');
  assert.ok(isMiraiError((firstFailed as { rejectedWith: unknown }).rejectedWith));
  assert.is((firstFailed as { rejectedWith: Error }).rejectedWith.message, 'first and failed');
  assert.ok(unresolved(slow));
  gate.open();
  await waitSettled([slow]);
  const e = await errorOf(race([]));
  assert.instance(e, TypeError);
});

test('collect: every outcome in input order, nothing rejects; unresolved; stopMirai', async () => {
  const gate = new Gate();
  const started = marker();
  const slow = mirai(asyncBlockTask, { gate: gate.path, started });
  await waitFile(started);
  const fast = mirai(() => 'fast');
  await run(fast);
  assert.ok(unresolved(slow));
  assert.ok(unresolved([fast, slow] as Mirai<unknown>[]));
  assert.not.ok(unresolved(fast));
  assert.not.ok(unresolved([fast]));
  const failing = mirai(() => {
    throw new TypeError('nope');
  });
  const stopped = mirai(asyncBlockTask, { gate: gate.path });
  assert.is(stopMirai(stopped), true);
  assert.is(stopMirai(stopped), false);
  gate.open();
  const outcomes = await run(collect<unknown>([slow, fast, failing, stopped]));
  assert.type(outcomes[0], 'number');
  assert.is(outcomes[0], slow.data);
  assert.is(outcomes[1], 'fast');
  assert.ok(isMiraiError(outcomes[2]) && (outcomes[2] as Error).message === 'nope');
  assert.ok(isErrorValue(outcomes[3]) && (outcomes[3] as any).code === 20);
  assert.not.ok(unresolved([slow, fast, failing, stopped] as Mirai<unknown>[]));
  assert.equal(await run(collect([])), []);
});

test('teardown leaves no daemon process behind', async () => {
  await daemons(0);
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
