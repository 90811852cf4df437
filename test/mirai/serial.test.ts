// daemons({ serial }): classes the structured clone flattens (a URL arrives as {}, a class
// instance loses its prototype) cross as their serialize() output and are rebuilt both ways:
// task data, results and everywhere(), nested in arrays, objects, Maps and Sets, cycles kept;
// with and without a dispatcher, and on a daemon that joins later. Bad configs are refused at
// daemons() naming what is wrong; a throwing serialize/deserialize fails that task only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, everywhere, isMiraiError, launchLocal, mirai, status, type SerialConfig } from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import { waitConnections } from '../fixtures/cluster/common';

const W = 15000;
const run = <T>(m: PromiseLike<T>, what = 'task'): Promise<T> => withTimeout(Promise.resolve(m), W, what);

const urlSerial: SerialConfig = { class: 'URL', serialize: (u: URL) => u.href, deserialize: (s: string) => new URL(s) };

/** A class of the test's own; daemons get it from everywhere() (globalThis.Point). */
class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}
const pointSerial: SerialConfig = {
  class: 'Point',
  serialize: (p: Point) => [p.x, p.y],
  deserialize: (a: [number, number]) => new (globalThis as any).Point(a[0], a[1]),
};
(globalThis as any).Point = Point;
const definePoint = (d: { src: string }): void => {
  (globalThis as any).Point = (0, eval)(`(${d.src})`);
};

test.after(async () => {
  await daemons(0).catch(() => {});
});

for (const dispatcher of [true, false]) {
  test(`URL and a class of our own cross both ways, nested, cycles kept (dispatcher: ${dispatcher})`, async () => {
    await daemons(2, { dispatcher, serial: [urlSerial, pointSerial] });
    await run(everywhere(definePoint, { src: Point.toString() }));
    const u = new URL('https://example.com/a?b=1');
    const ring: Record<string, unknown> = { u };
    ring.self = ring;
    const out = await run(
      mirai(
        (d: any) => {
          const P = (globalThis as any).Point;
          return {
            host: d.u.hostname,
            isUrl: d.u instanceof URL,
            sameTwice: d.pair[0] === d.pair[1],
            cycle: d.ring.self === d.ring && d.ring.u instanceof URL,
            norm: d.p.norm(),
            fromMap: d.m.get('k') instanceof URL,
            fromSet: [...d.s][0] instanceof P,
            back: [new URL('https://daemon.example/x'), new P(6, 8), new Map([['p', new P(1, 0)]])],
          };
        },
        { u, pair: [u, u], ring, p: new Point(3, 4), m: new Map([['k', u]]), s: new Set([new Point(0, 1)]) },
      ),
    );
    assert.equal(
      { ...out, back: undefined },
      {
        host: 'example.com',
        isUrl: true,
        sameTwice: true,
        cycle: true,
        norm: 5,
        fromMap: true,
        fromSet: true,
        back: undefined,
      },
    );
    const [bu, bp, bm] = out.back as [URL, Point, Map<string, Point>];
    assert.instance(bu, URL);
    assert.is(bu.pathname, '/x');
    assert.instance(bp, Point);
    assert.is(bp.norm(), 10);
    assert.instance(bm.get('p'), Point);
    // The caller's objects are untouched.
    assert.instance(ring.u, URL);
    // everywhere() data and results go through it too.
    const hrefs = await run(everywhere((d: any) => (d.u instanceof URL ? new URL('/e', d.u) : 'not a URL'), { u }));
    assert.is(hrefs.length, 2);
    for (const h of hrefs) assert.is((h as URL).href, 'https://example.com/e');
  });
}

test('a daemon that joins later gets the config before its first task', async () => {
  await daemons(1, { serial: urlSerial });
  await launchLocal(1);
  await waitConnections(2, W);
  const ok = await run(
    Promise.all(
      Array.from({ length: 8 }, () =>
        mirai(
          async (d: any) => {
            await new Promise((r) => setTimeout(r, 30)); // keep both daemons busy
            return [process.pid, d.u instanceof URL];
          },
          { u: new URL('https://late.example/') },
        ),
      ),
    ),
  );
  assert.is(new Set(ok.map((r) => r[0])).size, 2, 'both daemons ran tasks');
  for (const r of ok) assert.is(r[1], true);
});

test('without serial a URL arrives as {} (why the option exists)', async () => {
  await daemons(1);
  assert.equal(
    await run(mirai((d: any) => [d.u instanceof URL, Object.keys(d.u).length], { u: new URL('https://x.example/') })),
    [false, 0],
  );
});

test('a throwing serialize or deserialize fails that task with a clear error; the daemon serves on', async () => {
  const picky: SerialConfig = {
    class: 'URL',
    serialize: (u: URL) => {
      if (u.hostname === 'bad.example') throw new Error('no bad hosts');
      return u.href;
    },
    deserialize: (s: string) => {
      if (s.includes('refuse')) throw new Error('refused on arrival');
      return new URL(s);
    },
  };
  await daemons(1, { serial: picky });
  const e1 = await errorOf(() => mirai((d: any) => d, { u: new URL('https://bad.example/') }));
  assert.instance(e1, TypeError);
  assert.match(e1.message, /serialize for class 'URL' threw: no bad hosts/);
  const e2 = await errorOf(run(mirai((_d: any) => 1, { u: new URL('https://ok.example/refuse') })));
  assert.ok(isMiraiError(e2), String(e2));
  assert.match(e2.message, /deserialize for class 'URL' threw: refused on arrival/);
  const e3 = await errorOf(run(mirai(() => new URL('https://bad.example/'))));
  assert.ok(isMiraiError(e3), String(e3));
  assert.match(e3.message, /could not be serialized: serial: serialize for class 'URL' threw: no bad hosts/);
  assert.is(await run(mirai((d: any) => d.u.hostname, { u: new URL('https://fine.example/') })), 'fine.example');
});

test('bad serial configs are refused at daemons(), naming what is wrong; nothing starts', async () => {
  await daemons(0);
  const cases: Array<[unknown, RegExp]> = [
    [[], /non-empty array/],
    [42, /serial must be a \{ class, serialize, deserialize \} object \(got 42\)/],
    [{ class: '', serialize: String, deserialize: String }, /serial\.class must be a class name/],
    [{ class: 'URL', serialize: 'x', deserialize: (s: string) => s }, /serial\.serialize must be a function/],
    [{ class: 'URL', serialize: (u: URL) => u.href, deserialize: String }, /built-in \(native\) function/],
    [[urlSerial, { ...urlSerial }], /serial\[1\]\.class 'URL' is registered twice/],
  ];
  for (const [serial, re] of cases) {
    const e = await errorOf(daemons(1, { serial: serial as SerialConfig }));
    assert.instance(e, TypeError, String(e));
    assert.match(e.message, re);
    assert.is((await status()).connections, 0);
  }
});

test.run();
