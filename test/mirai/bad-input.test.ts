// Bad input (SPEC §6): each case gives a clear error that names the bad value, and loses
// nothing already submitted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as net from 'node:net';
import { daemons, everywhere, launchLocal, mirai, miraiMap, status, withDaemons, type Mirai } from '../../dist';
import { errorOf, spawnNode, withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  asyncBlockTask,
  CLI,
  Gate,
  marker,
  testHooks,
  waitFile,
} from '../fixtures/mirai/common';

const W = 15000;
let gate: Gate;
let inFlight: Mirai<unknown>[] = [];

/** Asserts err is an Error whose message matches every pattern. */
function names(err: unknown, ...patterns: RegExp[]): void {
  assert.instance(err, Error);
  for (const re of patterns) assert.match((err as Error).message, re);
}

test.before(async () => {
  // Work submitted before any of the bad calls: must all complete at the end.
  await daemons(1);
  gate = new Gate();
  const started = marker();
  inFlight = [mirai(asyncBlockTask, { gate: gate.path, started, ms: 60_000 })];
  await waitFile(started);
  for (let i = 0; i < 5; i++) inFlight.push(mirai('i * 2', { i }));
});

test.after(async () => {
  gate.open();
  await daemons(0).catch(() => {});
  await daemons(0, { profile: 'other' }).catch(() => {});
  await daemons(0, { profile: 'live' }).catch(() => {});
});

test('daemons(n): n must be a non-negative integer', async () => {
  names(await errorOf(daemons(-1)), /-1/, /non-negative integer/);
  names(await errorOf(daemons(1.5)), /1\.5/, /integer/);
  names(await errorOf(daemons(NaN)), /NaN/);
  names(await errorOf(daemons('2' as any)), /"2"|'2'/);
  names(await errorOf(launchLocal(0)), /launchLocal/, /0/);
  // Absurd counts are refused before anything is torn down or spawned.
  const big = await errorOf(daemons(1e6));
  assert.instance(big, RangeError);
  names(big, /1000000/, /at most 1024/);
  assert.instance(await errorOf(launchLocal(5000)), RangeError);
  names(await errorOf(launchLocal(1, { profile: 'nothing-here' })), /nothing-here/, /daemons\(\)/);
});

test('mirai(): the task must be a function or a code string; data an object', async () => {
  names(await errorOf(() => mirai(42 as any)), /42/, /function or a code string/);
  names(await errorOf(() => mirai(null as any)), /null/);
  names(await errorOf(() => mirai(() => 1, 5 as any)), /data/, /5/);
  names(await errorOf(() => mirai(Math.max as any)), /native code|max/);
  names(await errorOf(() => everywhere(42 as any)), /42/);
  names(await errorOf(() => miraiMap(5 as any, (x: unknown) => x)), /iterable/, /5/);
  names(await errorOf(() => miraiMap([1], 'x' as any)), /function/);
});

test('unknown option keys and wrong option types are named', async () => {
  names(await errorOf(daemons(1, { bogus: 1 } as any)), /'bogus'/);
  names(await errorOf(daemons(1, { maxTasks: -1 })), /'maxTasks'/, /-1/);
  names(await errorOf(daemons(1, { dispatcher: 'fast' as any })), /'dispatcher'/, /fast/);
  names(await errorOf(() => mirai(() => 1, {}, { tiemout: 5 } as any)), /'tiemout'/);
  names(await errorOf(() => mirai(() => 1, {}, { timeout: 'soon' as any })), /'timeout'/, /soon/);
  names(await errorOf(() => mirai(() => 1, {}, { signal: {} as any })), /'signal'/);
  names(await errorOf(() => everywhere(() => 1, {}, { profiel: 'x' } as any)), /'profiel'/);
  names(await errorOf(() => miraiMap([1], (x) => x, { progres: true } as any)), /'progres'/);
  names(await errorOf(launchLocal(1, { idle: 5 } as any)), /'idle'/);
  names(await errorOf(withDaemons({ n: 1, nope: true } as any, async () => 1)), /'nope'/);
});

test('malformed and unsupported URLs are named, with what is expected', async () => {
  const other = { profile: 'other' };
  names(await errorOf(daemons({ url: 'foo://x', ...other })), /foo:\/\/x/, /tcp:\/\//);
  names(await errorOf(daemons({ url: 'tcp://host', ...other })), /tcp:\/\/host/, /host:port/);
  names(await errorOf(daemons({ url: 'tcp://127.0.0.1:99999', ...other })), /99999/);
  names(await errorOf(daemons({ url: 'not a url', ...other })), /not a url/);
  names(await errorOf(daemons({ url: 'ipc://', ...other })), /ipc:\/\//);
  names(await errorOf(daemons({ dispatcher: false } as any)), /url/);
  assert.equal(await status('other'), { connections: 0, daemons: '' }, 'no half-set profile is left');
});

test('a malformed URL on a live profile is refused before the profile is reset', async () => {
  await daemons(1, { profile: 'live' });
  const pending = mirai(asyncBlockTask, { gate: gate.path, ms: 60_000 }, { profile: 'live' });
  names(await errorOf(daemons({ url: 'foo://x', profile: 'live' })), /foo:\/\/x/);
  assert.is((await status('live')).connections, 1, 'the live daemons are still there');
  assert.ok(pending.unresolved, `the submitted task was settled with ${String(pending.data)}`);
  await daemons(0, { profile: 'live' });
});

for (const dispatcher of [true, false]) {
  test(`a port already in use is named (dispatcher: ${dispatcher})`, async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const e = await withTimeout(
        errorOf(daemons({ url: `tcp://127.0.0.1:${port}`, dispatcher, profile: 'other' })),
        W,
        'daemons()',
      );
      names(e, new RegExp(`127\\.0\\.0\\.1:${port}`), /in use/i);
      assert.equal(await status('other'), { connections: 0, daemons: '' });
    } finally {
      srv.close();
    }
  });
}

test('unserializable data names the key', async () => {
  names(await errorOf(() => mirai(() => 1, { ok: 1, f: () => 1 })), /'f'/, /mirai\(\)/);
  names(await errorOf(() => mirai(() => 1, { s: Symbol('x') } as any)), /'s'/);
  names(await errorOf(() => mirai('1', { nested: { deep: new WeakMap() } })), /'nested'/);
  names(await errorOf(() => everywhere(() => 1, { fn: Math.max })), /'fn'/, /everywhere/);
  names(await errorOf(() => miraiMap([() => 1], (x) => x)), /miraiMap\(\)/);
});

test('a task whose result cannot be serialized fails with a clear MiraiError, the daemon carries on', async () => {
  const e = await withTimeout(errorOf(mirai('({ f: function () {} })')), W, 'task');
  names(e, /serialized|could not be cloned/);
  assert.is(await withTimeout(Promise.resolve(mirai('"still serving"')), W, 'task'), 'still serving');
});

test('a daemon that cannot reach its host exits non-zero with a message naming the url', async () => {
  const url = `ipc:///nonexistent-dir-${process.pid}/x.sock`;
  const child = spawnNode([CLI, 'daemon', url], { timeoutMs: W });
  const exit = await child.exitWithin(W);
  assert.ok(exit && exit.code !== 0 && exit.code !== null, `exit: ${JSON.stringify(exit)}`);
  assert.ok(child.stderr.includes(url), child.stderr);
  const bad = spawnNode([CLI, 'daemon', 'foo://x'], { timeoutMs: W });
  assert.is((await bad.exitWithin(W))?.code, 1);
  assert.match(bad.stderr, /foo:\/\/x/);
});

test('nothing submitted before the bad calls was lost', async () => {
  gate.open();
  const out = await withTimeout(Promise.all(inFlight), W, 'the tasks submitted first');
  assert.type(out[0], 'number');
  assert.equal(out.slice(1), [0, 2, 4, 6, 8]);
  assert.is((await status()).connections, 1);
  await daemons(0);
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
