// The original documentation's local-daemons examples, in Node form: daemons(6) and status(),
// daemons(0), the same without a dispatcher and with a dispatcher process, resetting a live
// profile, launchLocal, withDaemons, DaemonSet.close / asyncDispose, and two compute profiles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { daemons, everywhere, isErrorValue, launchLocal, mirai, status, withDaemons } from '../../dist';
import { errorOf, withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  asyncBlockTask,
  cliChildren,
  Gate,
  marker,
  packageTempFiles,
  pidTask,
  testHooks,
  waitFile,
  waitGone,
} from '../fixtures/mirai/common';

const W = 15000;
const pidsOf = async (profile?: string): Promise<number[]> =>
  (await withTimeout(everywhere(pidTask, {}, { profile }), W, 'everywhere')) as number[];
// localUrl(): an abstract socket on Linux (no file; listed in /proc/net/unix as @name), else an
// ipc path: a socket file, or on Windows the named pipe \\.\pipe\<path> that NNG makes of it.
const LOCAL = process.platform === 'linux' ? /^abstract:\/\/mirai-\d+-[0-9a-f]+$/ : /^ipc:\/\/.+\.sock$/;
// On Windows the check is left out: under wine neither fs.existsSync nor a listing of \\.\pipe\
// sees pipes, and opening one would be a connection to the host.
const socketExists = (url: string): boolean | undefined => {
  if (url.startsWith('abstract://'))
    return fs
      .readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .some((l) => l.trim().split(/\s+/)[7] === `@${url.slice(11)}`);
  return process.platform === 'win32' ? undefined : fs.existsSync(url.replace(/^ipc:\/\//, ''));
};

test.after(async () => {
  for (const profile of ['default', 'cpu', 'gpu']) await daemons(0, { profile }).catch(() => {});
});

test('daemons(6): status() shows 6 connections, the local url and zeroed mirai counters', async () => {
  const set = await daemons(6);
  const s = await status();
  assert.is(s.connections, 6);
  assert.match(s.daemons, LOCAL);
  assert.is(s.daemons, set.url);
  assert.equal(s.mirai, { awaiting: 0, executing: 0, completed: 0 });
  assert.equal([set.profile, set.launched], ['default', 6]);
  assert.ok(socketExists(s.daemons) ?? true, 'the local socket exists while daemons run');
  const pids = await pidsOf();
  assert.is(new Set(pids).size, 6, 'everywhere ran on 6 distinct daemons');
  assert.equal(
    [...pids].sort(),
    cliChildren()
      .filter((p) => pids.includes(p))
      .sort(),
    'the daemons are child processes',
  );
  const values = await withTimeout(Promise.all([1, 2, 3].map((x) => mirai((d) => d.x * 2, { x }))), W, 'tasks');
  assert.equal(values, [2, 4, 6]);
  assert.equal(
    (await status()).mirai,
    { awaiting: 0, executing: 0, completed: 3 },
    'everywhere is not counted as a task',
  );
});

test('daemons(0) resets: status connections 0, no daemon process, no socket file', async () => {
  const s = await status();
  assert.is(s.connections, 6);
  const pids = await pidsOf();
  await daemons(0);
  assert.equal(await status(), { connections: 0, daemons: '' });
  assert.not.ok(socketExists(s.daemons) ?? false, 'socket closed (its file removed)');
  assert.equal(packageTempFiles(), [], 'no socket or log file left');
  await waitGone(pids, 1000, 'daemons');
  await assertNoDaemonChildren(0);
});

test('daemons(0) settles a running task with ErrorValue 19', async () => {
  await daemons(1);
  const started = marker();
  const m = mirai(asyncBlockTask, { gate: new Gate().path, started });
  await waitFile(started);
  await daemons(0);
  const e = await withTimeout(errorOf(m), 2000, 'the running mirai to settle');
  assert.ok(isErrorValue(e), String(e));
  assert.is(e.code, 19);
  await assertNoDaemonChildren();
});

test('dispatcher: false: status has connections and url, no mirai counters; tasks go round-robin', async () => {
  const set = await daemons(3, { dispatcher: false });
  const s = await status();
  assert.equal(Object.keys(s).sort(), ['connections', 'daemons', 'dropped', 'rejected']);
  assert.is(s.connections, 3);
  assert.match(s.daemons, LOCAL);
  assert.is(s.daemons, set.url);
  const pids = await withTimeout(Promise.all(Array.from({ length: 9 }, () => mirai(pidTask))), W, 'tasks');
  const perDaemon = new Map<number, number>();
  for (const p of pids) perDaemon.set(p, (perDaemon.get(p) ?? 0) + 1);
  assert.equal([...perDaemon.values()], [3, 3, 3], 'evenly distributed over the 3 daemons');
  await daemons(0);
  assert.equal(await status(), { connections: 0, daemons: '' });
  assert.not.ok(socketExists(s.daemons) ?? false, 'socket closed (its file removed)');
  assert.equal(packageTempFiles(), [], 'no socket or log file left');
  await waitGone([...perDaemon.keys()], 1000, 'daemons');
  await assertNoDaemonChildren(0);
});

test("dispatcher: 'process' runs the dispatcher as a child process, gone after daemons(0)", async () => {
  await daemons(2, { dispatcher: 'process' });
  // Windows: cliChildren lists every node.exe child, daemons included (see its comment).
  const daemonPids = process.platform === 'win32' ? await pidsOf() : [];
  const dispatcher = cliChildren(process.pid, /dist\/cli\.js dispatcher/).filter((p) => !daemonPids.includes(p));
  assert.is(dispatcher.length, 1, 'one dispatcher process');
  const s = await status();
  assert.is(s.connections, 2);
  assert.equal(s.mirai, { awaiting: 0, executing: 0, completed: 0 });
  assert.is(await withTimeout(mirai('x + 1', { x: 1 }), W, 'task'), 2);
  const pids = await pidsOf();
  assert.not.ok(
    pids.some((p) => dispatcher.includes(p)),
    'daemons are not the dispatcher',
  );
  await daemons(0);
  assert.equal(packageTempFiles(), [], 'no socket or log file left');
  await waitGone([...pids, ...dispatcher], 1000, 'daemons and dispatcher');
  await assertNoDaemonChildren(0);
});

test('daemons() on a live profile resets it first; launchLocal adds daemons', async () => {
  await daemons(1);
  const old = await pidsOf();
  const set = await daemons(1);
  await waitGone(old, 1000, 'the previous daemon');
  assert.is((await status()).connections, 1);
  await launchLocal(1);
  assert.is((await status()).connections, 2);
  assert.is(set.launched, 2);
  const now = await pidsOf();
  assert.is(new Set(now).size, 2);
  assert.not.ok(now.some((p) => old.includes(p)));
  await set.close();
  assert.equal(await status(), { connections: 0, daemons: '' });
  await waitGone(now, 1000, 'daemons');
  await set.close(); // closing twice is harmless
});

test('DaemonSet[Symbol.asyncDispose] tears the set down', async () => {
  const set = await daemons(1, { profile: 'cpu' });
  const pids = await pidsOf('cpu');
  await set[Symbol.asyncDispose]();
  assert.is((await status('cpu')).connections, 0);
  await waitGone(pids, 1000, 'daemons');
});

test('withDaemons: the profile is the default inside, torn down after, also when fn throws', async () => {
  let inside: number[] = [];
  const r = await withDaemons(2, async () => {
    assert.is((await status()).connections, 2);
    inside = await pidsOf();
    const p = await withTimeout(mirai(pidTask), W, 'task');
    assert.ok(inside.includes(p), 'task ran on the withDaemons daemons');
    return 'result';
  });
  assert.is(r, 'result');
  assert.is((await status()).connections, 0, 'outside: the default profile has no daemons');
  await waitGone(inside, 1000, 'withDaemons daemons');

  let thrownInside: number[] = [];
  const boom = new Error('boom');
  const e = await errorOf(
    withDaemons({ n: 1, dispatcher: false }, async () => {
      thrownInside = await pidsOf();
      throw boom;
    }),
  );
  assert.is(e, boom, 'the error of fn is passed through');
  assert.is(thrownInside.length, 1);
  await waitGone(thrownInside, 1000, 'daemons of a withDaemons whose fn threw');
  await assertNoDaemonChildren();
});

test('two profiles side by side: tasks go to their own daemons', async () => {
  await Promise.all([daemons(2, { profile: 'cpu' }), daemons(1, { profile: 'gpu', dispatcher: false })]);
  const cpu = await pidsOf('cpu');
  const gpu = await pidsOf('gpu');
  assert.is(new Set(cpu).size, 2);
  assert.is(gpu.length, 1);
  assert.not.ok(
    cpu.some((p) => gpu.includes(p)),
    'disjoint sets of daemons',
  );
  assert.is((await status('cpu')).connections, 2);
  assert.is((await status('gpu')).connections, 1);
  assert.ok((await status('cpu')).mirai, 'cpu has a dispatcher');
  assert.is((await status('gpu')).mirai, undefined, 'gpu has none');
  assert.not.equal((await status('cpu')).daemons, (await status('gpu')).daemons);
  const onCpu = await withTimeout(
    Promise.all(Array.from({ length: 6 }, () => mirai(pidTask, {}, { profile: 'cpu' }))),
    W,
    'cpu',
  );
  const onGpu = await withTimeout(
    Promise.all(Array.from({ length: 3 }, () => mirai(pidTask, {}, { profile: 'gpu' }))),
    W,
    'gpu',
  );
  assert.ok(
    onCpu.every((p) => cpu.includes(p)),
    'cpu tasks ran on cpu daemons',
  );
  assert.ok(
    onGpu.every((p) => p === gpu[0]),
    'gpu tasks ran on the gpu daemon',
  );
  assert.is((await status()).connections, 0, 'the default profile is untouched');
  await daemons(0, { profile: 'gpu' });
  await waitGone(gpu, 1000, 'gpu daemon');
  assert.is(
    await withTimeout(mirai(pidTask, {}, { profile: 'cpu' }), W, 'cpu after gpu reset').then((p) => cpu.includes(p)),
    true,
  );
  await daemons(0, { profile: 'cpu' });
  await waitGone(cpu, 1000, 'cpu daemons');
});

test('teardown leaves no daemon or dispatcher process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
