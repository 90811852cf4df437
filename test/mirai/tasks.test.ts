// Tasks: functions and code strings, what crosses (structured clone), async tasks, errors
// (MiraiError, ErrorValue, predicates), the Mirai object, no unhandled rejections for mirai
// nobody awaits, require() in tasks, and one-off processes without daemons.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  daemons,
  ErrorValue,
  everywhere,
  isErrorValue,
  isMiraiError,
  Mirai,
  mirai,
  MiraiError,
  status,
} from '../../dist';
import { errorOf, spawnNode, waitFor, withTimeout } from '../helpers';
import {
  alive,
  assertNoDaemonChildren,
  asyncBlockTask,
  Gate,
  marker,
  pidTask,
  testHooks,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;
const run = <T>(m: PromiseLike<T>, what = 'task'): Promise<T> => withTimeout(Promise.resolve(m), W, what);
let daemonPids: number[] = [];

test.before(async () => {
  await daemons(2);
  daemonPids = (await run(everywhere(pidTask), 'everywhere')) as number[];
});

test.after(async () => {
  await daemons(0).catch(() => {});
});

test('function tasks get data; code strings see data keys as locals and give their completion value', async () => {
  assert.is(await run(mirai((d) => d.a + d.b, { a: 1, b: 2 })), 3);
  assert.is(await run(mirai(() => 'no data')), 'no data');
  assert.is(await run(mirai('a * b', { a: 6, b: 7 })), 42);
  assert.is(await run(mirai('let z = x + 1; if (z > 1) { z * 10 } else { -1 }', { x: 4 })), 50);
  assert.is(await run(mirai('typeof process.pid')), 'number');
  assert.ok(daemonPids.includes(await run(mirai(pidTask))), 'ran on one of the daemons');
});

test('a task function may define inner functions (source compiled by tsx/esbuild keepNames)', async () => {
  // Under tsx, `const sq = (x) => x * x` is sent as `const sq = __name((x) => x * x, "sq")`.
  assert.is(
    await run(
      mirai(
        (d) => {
          const sq = (x: number) => x * x;
          return sq(d.n);
        },
        { n: 3 },
      ),
    ),
    9,
  );
});

test('data of many types round-trips (structured clone)', async () => {
  const data = {
    buf: Buffer.from('héllo'),
    f64: new Float64Array([1.5, NaN, -Infinity]),
    i32: new Int32Array([-1, 2 ** 31 - 1]),
    u8: new Uint8Array([0, 255]),
    map: new Map<unknown, unknown>([
      [1, { a: [1, 2] }],
      ['k', new Set([1n])],
    ]),
    set: new Set(['x', 'y']),
    date: new Date(1234567890123),
    big: 2n ** 70n,
    nested: { a: { b: [1, { c: null, u: undefined }], s: 'str' } },
    re: /ab+c/gi,
    err: new TypeError('carried'),
  };
  const back = await run(mirai((d) => d, data));
  assert.ok(Buffer.isBuffer(back.buf), 'a Buffer comes back as a Buffer');
  assert.is(back.buf.toString(), 'héllo');
  assert.ok(back.f64 instanceof Float64Array && Object.is(back.f64[1], NaN) && back.f64[2] === -Infinity);
  assert.equal([...back.i32], [-1, 2 ** 31 - 1]);
  assert.ok(back.u8 instanceof Uint8Array);
  assert.equal(back.map, data.map);
  assert.equal(back.set, data.set);
  assert.ok(back.date instanceof Date && back.date.getTime() === 1234567890123);
  assert.is(back.big, 2n ** 70n);
  assert.equal(back.nested, data.nested);
  assert.ok('u' in (back.nested.a.b[1] as object), 'undefined-valued keys are kept');
  assert.is(String(back.re), '/ab+c/gi');
  assert.ok(back.err instanceof Error && back.err.message === 'carried');
  // What the daemon sees, not only what comes back:
  const seen = await run(
    mirai(
      (d) => [Buffer.isBuffer(d.buf), d.map instanceof Map, typeof d.big, d.date.getUTCFullYear(), d.f64.length],
      data,
    ),
  );
  assert.equal(seen, [true, true, 'bigint', 2009, 3]);
});

test("large payloads cross both ways (over NNG's 1 MB default limit)", async () => {
  const big = new Float64Array(300_000).map((_, i) => i);
  const out = await run(mirai((d) => d.x.map((v: number) => v * 2), { x: big }));
  assert.ok(out instanceof Float64Array);
  assert.is(out.length, 300_000);
  assert.is(out[299_999], 599_998);
});

for (const dispatcher of [true, false]) {
  test(`large binary views (out of band) keep their type and bytes, and are snapshots at mirai() (dispatcher: ${dispatcher})`, async () => {
    await daemons(2, { dispatcher });
    try {
      const f64 = new Float64Array(200_000).map((_, i) => i / 3);
      const buf = Buffer.alloc(100_000, 5);
      const odd = new Uint8Array(new ArrayBuffer(70_003), 1, 70_001).fill(9);
      // Sent in a burst: round-robin hands them to the socket after this tick, yet each
      // task must see the values as they were when it was submitted.
      const tasks = [1, 2, 3].map((k) => {
        const m = mirai(
          (d) => [
            d.k,
            d.f64.length,
            d.f64[3],
            d.buf.readUInt8(99_999),
            d.odd.byteLength,
            d.odd[70_000],
            d.f64 instanceof Float64Array,
            Buffer.isBuffer(d.buf),
          ],
          { k, f64, buf, odd },
        );
        f64[3] = 100 + k;
        buf[99_999] = 100 + k;
        return m;
      });
      assert.equal(await run(Promise.all(tasks)), [
        [1, 200_000, 1, 5, 70_001, 9, true, true],
        [2, 200_000, 101, 101, 70_001, 9, true, true],
        [3, 200_000, 102, 102, 70_001, 9, true, true],
      ]);
      const back = await run(
        mirai(() => ({ a: new Float64Array(50_000).fill(2.5), b: Buffer.alloc(80_000, 1), same: null as unknown })),
      );
      assert.instance(back.a, Float64Array);
      assert.is(back.a[49_999], 2.5);
      assert.ok(Buffer.isBuffer(back.b) && back.b.length === 80_000 && back.b[79_999] === 1);
    } finally {
      await daemons(2); // as the other tests expect
      daemonPids = (await run(everywhere(pidTask), 'everywhere')) as number[];
    }
  });
}

test('async tasks: a thenable result is awaited', async () => {
  assert.is(
    await run(
      mirai(
        async (d) => {
          await new Promise((r) => setTimeout(r, 20));
          return d.x * 2;
        },
        { x: 21 },
      ),
    ),
    42,
  );
  assert.is(await run(mirai('new Promise((r) => setTimeout(() => r(v), 10))', { v: 'later' })), 'later');
  assert.is(await run(mirai('import("node:path").then((m) => m.sep)')), require('node:path').sep);
});

test('MiraiError keeps the remote name, message, stack and own properties', async () => {
  const m = mirai(
    (d) => {
      const e: any = new RangeError(`too big: ${d.n}`);
      e.code = 'E_BIG';
      e.detail = { n: d.n, list: [1, 2] };
      throw e;
    },
    { n: 7 },
  );
  const e = await run(errorOf(m));
  assert.ok(e instanceof MiraiError && e instanceof Error);
  assert.ok(isMiraiError(e));
  assert.not.ok(isErrorValue(e));
  assert.is(e.name, 'RangeError');
  assert.is(e.message, 'too big: 7');
  assert.match(e.stack!, /^RangeError: too big: 7\n\s+at /);
  assert.is((e as any).code, 'E_BIG');
  assert.equal((e as any).detail, { n: 7, list: [1, 2] });
  assert.is(m.data, e, 'Mirai.data holds the error once settled');
  assert.is(m.unresolved, false);
  // Code strings, async rejections and non-Error throws.
  const e2 = await run(errorOf(mirai('null.x')));
  assert.ok(isMiraiError(e2) && e2.name === 'TypeError', String(e2));
  const e3 = await run(
    errorOf(
      mirai(async () => {
        throw new SyntaxError('async bad');
      }),
    ),
  );
  assert.equal([e3.name, e3.message], ['SyntaxError', 'async bad']);
  const e4 = await run(errorOf(mirai('throw 42')));
  assert.ok(isMiraiError(e4) && e4.message === '42');
});

test('isMiraiError / isErrorValue tell the two kinds apart', () => {
  const ev = new ErrorValue(5);
  assert.ok(isErrorValue(ev) && ev instanceof Error);
  assert.equal([ev.code, ev.name], [5, 'ErrorValue']);
  assert.not.ok(isMiraiError(ev));
  assert.not.ok(isErrorValue(new Error('x')));
  assert.not.ok(isMiraiError(new Error('x')));
  assert.not.ok(isErrorValue({ code: 5 }));
  assert.not.ok(isMiraiError(null) || isErrorValue(undefined) || isErrorValue(5));
  assert.ok(isMiraiError(new MiraiError('m', { name: 'X' })));
});

test('Mirai: id, unresolved and data before and after settling; then/catch/finally', async () => {
  const gate = new Gate();
  const started = marker();
  const m = mirai(asyncBlockTask, { gate: gate.path, started });
  assert.ok(m instanceof Mirai);
  assert.type(m.id, 'number');
  assert.ok(m.unresolved);
  assert.is(m.data, undefined);
  await waitFile(started);
  assert.ok(m.unresolved, 'still unresolved while it runs');
  gate.open();
  let finallyRan = false;
  const pid = await run(m.finally(() => (finallyRan = true)));
  assert.ok(finallyRan);
  assert.not.ok(m.unresolved);
  assert.is(m.data, pid);
  assert.ok(daemonPids.includes(pid));
  const m2 = mirai(() => 1);
  const m3 = mirai(() => 2);
  assert.ok(m3.id > m2.id && m2.id > m.id, 'ids increase');
  assert.is(await run(m2.then((v) => v + 10)), 11);
  assert.is(await run(mirai('throw new Error("c")').catch((e) => (e as Error).message)), 'c');
  assert.is(await run(m3), 2);
  assert.is(await run(m3), 2, 'awaiting twice gives the same value');
});

test('an unawaited failing mirai does not cause an unhandledRejection', async () => {
  const seen: unknown[] = [];
  const onUnhandled = (r: unknown): void => {
    seen.push(r);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    const failing = mirai(() => {
      throw new Error('nobody awaits this');
    });
    const timedOut = mirai(asyncBlockTask, { gate: new Gate().path }, { timeout: 50 });
    const stopped = mirai(asyncBlockTask, { gate: new Gate().path });
    stopped.stop();
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (failing.unresolved || timedOut.unresolved) setTimeout(check, 5);
          else resolve();
        };
        check();
      }),
      W,
      'the mirai to settle',
    );
    // Unhandled rejections are reported after the microtask queue drains: give it a few turns.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.ok(isMiraiError(failing.data));
    assert.is((timedOut.data as ErrorValue).code, 5);
    assert.is((stopped.data as ErrorValue).code, 20);
    assert.equal(seen, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test("require('node:os') and other built-ins work in tasks", async () => {
  assert.is(await run(mirai(() => require('node:os').hostname())), os.hostname());
  assert.is(await run(mirai('require("node:os").EOL')), os.EOL);
  assert.is(
    await run(mirai(() => require('node:crypto').createHash('sha256').update('x').digest('hex'))),
    require('node:crypto').createHash('sha256').update('x').digest('hex'),
  );
});

test('without daemons set, each mirai runs in its own one-off process', async () => {
  await daemons(0);
  assert.equal(await status(), { connections: 0, daemons: '' });
  const [a, b] = await run(Promise.all([mirai(pidTask), mirai(pidTask)]), 'one-off tasks');
  assert.is.not(a, b, 'two processes');
  for (const p of [a, b]) {
    assert.is.not(p, process.pid);
    assert.not.ok(daemonPids.includes(p), 'not one of the daemons');
  }
  assert.is(await run(mirai('x * 2', { x: 21 })), 42);
  const e = await run(
    errorOf(
      mirai(() => {
        throw new RangeError('one-off');
      }),
    ),
  );
  assert.ok(isMiraiError(e) && e.name === 'RangeError');
  // Another profile without daemons works the same way.
  const c = await run(mirai(pidTask, {}, { profile: 'no-daemons-here' }));
  await waitGone([a, b, c], 3000, 'one-off processes');
  const mine = (): string[] => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`mirai-${process.pid}-`));
  await waitFor(() => mine().length === 0, 3000, 'the one-off temp files to be removed').catch(() => {});
  assert.equal(mine(), [], 'temp files of the one-off processes');
});

test('a script whose one-off mirai settled just before it ends leaves no process and no temp file', async () => {
  const child = spawnNode([path.join(__dirname, '..', 'fixtures', 'mirai', 'one-off.js')], { timeoutMs: W });
  const exit = await child.exitWithin(W);
  assert.equal(exit, { code: 0, signal: null }, child.stderr);
  const { host, results } = JSON.parse(child.stdout) as { host: number; results: [number, number] };
  assert.is(results[1], 2);
  await waitGone([results[0]], 3000, 'the one-off process');
  const left = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`mirai-${host}-`));
  for (const f of left) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  assert.equal(left, [], 'temp files of the one-off processes left behind');
});

test('teardown leaves no daemon process behind', async () => {
  await waitGone(daemonPids, 1000, 'daemons');
  assert.not.ok(daemonPids.some(alive));
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
