// Lifetimes: close, dispose, what keeps a process alive, pipe events from a dying peer, Cv,
// worker threads and garbage collection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Cv, NngError, Socket, pipeNotify, type PipeEvent, type Protocol } from '../../dist/nng';
import {
  Closer,
  background,
  errorOf,
  ipcUrl,
  killChildren,
  removeTemps,
  spawnNode,
  waitFor,
  withTimeout,
} from '../helpers';

const closer = new Closer();
const open = (p: Protocol): Socket => closer.track(new Socket(p));
const fixture = (name: string): string => path.join(__dirname, '..', 'fixtures', 'nng', name);
const workers = new Set<Worker>();
// How long a child that should stay alive is watched before the event that lets it exit.
const ALIVE_WINDOW_MS = 500;

test.after.each(async () => {
  closer.closeAll();
  killChildren();
  await Promise.all([...workers].map((w) => w.terminate()));
  workers.clear();
});
test.after(() => removeTemps());

function isNng(e: unknown, errno: string): void {
  assert.instance(e, NngError, `expected an NngError, got ${String(e)}`);
  assert.is((e as NngError).errno, errno, (e as Error).message);
}

test('close is idempotent and rejects pending operations with ECLOSED', async () => {
  const pull = open('pull');
  const push = open('push'); // no peer: its send stays pending
  const rep = open('rep');
  const pending: Promise<unknown>[] = [pull.recv(), push.send('x'), rep.context().recv()].map((p) =>
    background<unknown>(p),
  );
  const ctx = rep.context();
  const ctxPending = background(ctx.recv());
  ctx.close();
  ctx.close();
  isNng(await withTimeout(errorOf(ctxPending), 2000, 'context recv'), 'ECLOSED');
  for (const s of [pull, push, rep]) {
    s.close();
    s.close();
    assert.ok(s.closed);
  }
  for (const p of pending) isNng(await withTimeout(errorOf(p), 2000, 'pending op'), 'ECLOSED');
});

test('use after close throws ECLOSED', async () => {
  const s = open('req');
  const l = s.listen(`inproc://closed-${process.pid}`);
  s.close();
  l.close(); // an endpoint of a closed socket closes quietly
  const uses: Array<[string, () => unknown]> = [
    ['recv', () => s.recv()],
    ['send', () => s.send('x')],
    ['listen', () => s.listen(`inproc://closed2-${process.pid}`)],
    ['dial', () => s.dial(`inproc://closed2-${process.pid}`)],
    ['context', () => s.context()],
    ['setOption', () => s.setOption('sendTimeout', 10)],
    ['getOption', () => s.getOption('sendTimeout')],
  ];
  for (const [what, use] of uses) {
    const e = await errorOf(use);
    assert.instance(e, NngError, `${what}: ${String(e)}`);
    assert.is(e.errno, 'ECLOSED', `${what}: ${e.message}`);
  }
});

test('Symbol.dispose closes sockets and endpoints', async () => {
  let outer: Socket;
  let url: string;
  {
    using s = new Socket('rep');
    using l = s.listen('tcp://127.0.0.1:0');
    outer = s;
    url = l.url;
    assert.not.ok(s.closed);
  }
  assert.ok(outer.closed);
  isNng(await errorOf(() => outer.recv()), 'ECLOSED');
  open('rep').listen(url); // the port was released
});

test('a child with only an idle listening socket exits by itself', async () => {
  const child = spawnNode([fixture('lifetime.js'), 'idle', ipcUrl().url], { timeoutMs: 10000 });
  const exit = await withTimeout(child.exited, 8000, 'idle child to exit');
  assert.equal(exit, { code: 0, signal: null }, child.stderr);
  assert.match(child.stdout, /^ready$/m);
});

test('a child with a pending recv stays alive until its message arrives', async () => {
  const { url } = ipcUrl();
  const child = spawnNode([fixture('lifetime.js'), 'recv', url], { timeoutMs: 10000 });
  await child.line(/^ready$/, 5000);
  assert.is(await child.exitWithin(ALIVE_WINDOW_MS), undefined, 'still alive while the recv is pending');
  const push = open('push');
  push.dial(url);
  await push.send('hello', { timeout: 5000 });
  const exit = await withTimeout(child.exited, 5000, 'child to exit after its message');
  assert.equal(exit, { code: 0, signal: null }, child.stderr);
  assert.match(child.stdout, /^got hello$/m);
});

test('pipe events: add when a child dials, remove when it is killed', async () => {
  const { url } = ipcUrl();
  const s = open('pair');
  s.listen(url);
  const events: PipeEvent[] = [];
  s.onPipe((ev) => events.push(ev));
  const child = spawnNode([fixture('lifetime.js'), 'dial', url], { timeoutMs: 10000 });
  await child.line(/^connected$/, 5000);
  await waitFor(() => events.length === 1, 5000, 'add event');
  assert.is(events[0].type, 'add');
  assert.ok(events[0].pipe.id > 0);
  assert.is(s.stats.pipes, 1);
  child.kill();
  await waitFor(() => events.length === 2, 5000, 'remove event');
  assert.is(events[1].type, 'remove');
  assert.is(events[1].pipe.id, events[0].pipe.id);
  assert.is(s.stats.pipes, 0);
});

test('pipe.close() drops one connection, and its dialer connects again', async () => {
  const s = open('bus');
  const url = s.listen(`inproc://pipe-close-${process.pid}`).url;
  const events: PipeEvent[] = [];
  s.onPipe((ev) => events.push(ev));
  const peer = closer.track(new Socket('bus', { reconnectMinTime: 10, reconnectMaxTime: 50 }));
  peer.dial(url);
  await waitFor(() => events.length >= 1, 5000, 'add event');
  const first = events[0].pipe;
  first.close();
  const seen = (type: string, same: boolean) =>
    events.some((e) => e.type === type && (e.pipe.id === first.id) === same);
  await waitFor(() => seen('remove', true) && seen('add', false), 5000, 'remove, and an add of a new pipe');
  assert.is(s.stats.pipes, 1);
  await peer.send('after reconnect', { timeout: 5000 });
  assert.is((await s.recv({ timeout: 5000 })).body.toString(), 'after reconnect');
});

test('a peer the protocol refuses (pair has one already) is neither reported nor counted', async () => {
  const s = open('pair');
  const url = s.listen(`inproc://pair-refuses-${process.pid}`).url;
  const events: string[] = [];
  s.onPipe((ev) => events.push(`${ev.type} ${ev.pipe.id}`));
  open('pair').dial(url);
  await waitFor(() => events.length >= 1, 5000, 'add event');
  // A second peer: NNG starts its pipe (ADD_PRE), pair1 refuses it, NNG removes it (REM_POST).
  const second = closer.track(new Socket('pair', { reconnectMinTime: 10, reconnectMaxTime: 20 }));
  let refused = 0;
  second.onPipe((ev) => ev.type === 'remove' && refused++);
  second.dial(url);
  await waitFor(() => refused >= 3, 5000, 'the second peer to be refused');
  assert.equal(events, [events[0]], `pipe events of the listening socket: ${events.join(', ')}`);
  assert.is(s.stats.pipes, 1);
});

test('Cv: pipeNotify signals on add and remove; waits time out with false', async () => {
  const s = open('pair');
  const url = s.listen(`inproc://cv-${process.pid}`).url;
  const cv = new Cv();
  const stop = pipeNotify(s, cv);
  const peer = open('pair');
  peer.dial(url);
  assert.is(await withTimeout(cv.wait({ timeout: 5000 }), 6000, 'add'), true);
  peer.close();
  assert.is(await withTimeout(cv.wait({ timeout: 5000 }), 6000, 'remove'), true);
  assert.is(cv.value, 0);

  const t0 = Date.now();
  assert.is(await cv.wait({ timeout: 50 }), false);
  assert.ok(Date.now() - t0 >= 40, 'not before the timeout');

  cv.signal();
  cv.signal();
  assert.is(cv.value, 2);
  assert.is(await cv.wait({ timeout: 0 }), true);
  assert.is(cv.value, 1);
  cv.reset();
  assert.is(cv.value, 0);

  const ac = new AbortController();
  const w = background(cv.wait({ signal: ac.signal }));
  ac.abort();
  await errorOf(w);

  // After stop(), pipe events no longer reach the cv (other listeners still see them).
  stop();
  const seen: string[] = [];
  s.onPipe((ev) => seen.push(ev.type));
  open('pair').dial(url);
  await waitFor(() => seen.includes('add'), 5000, 'add event');
  assert.is(cv.value, 0);
});

test('a pending cv.wait keeps a child alive; an idle Cv does not', async () => {
  const idle = spawnNode([fixture('lifetime.js'), 'cv-idle', ipcUrl().url], { timeoutMs: 10000 });
  assert.equal(await withTimeout(idle.exited, 8000, 'cv-idle child'), { code: 0, signal: null }, idle.stderr);
  assert.match(idle.stdout, /^ready 1$/m);

  const { url } = ipcUrl();
  const child = spawnNode([fixture('lifetime.js'), 'cv-wait', url], { timeoutMs: 10000 });
  await child.line(/^ready$/, 5000);
  assert.is(await child.exitWithin(ALIVE_WINDOW_MS), undefined, 'still alive while cv.wait is pending');
  open('pair').dial(url);
  assert.equal(await withTimeout(child.exited, 5000, 'cv-wait child'), { code: 0, signal: null }, child.stderr);
  assert.match(child.stdout, /^signalled true pipes 1$/m);
});

function runWorker(data: object): { worker: Worker; result: Promise<any>; exit: Promise<number> } {
  const worker = new Worker(fixture('worker.js'), { workerData: data });
  workers.add(worker);
  const result = new Promise<any>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, result: background(result), exit };
}

test('two worker threads use the addon at once, alone and across workers over inproc', async () => {
  const cross = `inproc://cross-worker-${process.pid}`;
  const rounds = 500;
  const a = runWorker({ id: 'a', rounds, cross: { url: cross, role: 'server' } });
  const b = runWorker({ id: 'b', rounds, cross: { url: cross, role: 'client' } });
  const [ra, rb] = await withTimeout(Promise.all([a.result, b.result]), 20000, 'worker results');
  assert.is(ra.error, undefined, ra.error);
  assert.is(rb.error, undefined, rb.error);
  assert.is(ra.local, rounds);
  assert.is(rb.local, rounds);
  assert.is(ra.served, rounds);
  assert.equal(
    rb.replies,
    Array.from({ length: rounds }, (_, i) => `served by a: q${i}`),
  );
  // With every socket closed, both workers end on their own.
  assert.equal(await withTimeout(Promise.all([a.exit, b.exit]), 5000, 'workers to exit'), [0, 0]);
});

test('terminating a worker with a pending recv closes its sockets', async () => {
  const url = `inproc://parked-${process.pid}`;
  const w = runWorker({ id: 'p', park: url });
  assert.equal(await withTimeout(w.result, 5000, 'parked worker'), { id: 'p', parked: true });
  isNng(await errorOf(() => open('pull').listen(url)), 'EADDRINUSE');
  await withTimeout(w.worker.terminate(), 5000, 'terminate');
  open('pull').listen(url); // free again: the worker's socket was closed at teardown
});

// These two run in a child: the failures they look for take the whole process down.
test('terminating workers that are busy calling into the addon does not crash the process', async () => {
  // 100 terminations take ~6 s on Linux; under wine four workers take ~2 s to start, so Windows
  // does 40, in ~20 s (the test's time budget, not a lesser check: each round is the same).
  const rounds = process.platform === 'win32' ? 10 : 25;
  const child = spawnNode([fixture('terminate.js'), String(rounds)], { timeoutMs: 40000 });
  const exit = await withTimeout(child.exited, 42000, 'terminate child');
  assert.equal(exit, { code: 0, signal: null }, child.stderr.split('\n')[0]);
  assert.match(child.stdout, /^survived$/m);
});

test('the addon used only from workers survives them ending, without restarting NNG', async () => {
  const child = spawnNode([fixture('workers-only.js')], { timeoutMs: 30000 });
  const exit = await withTimeout(child.exited, 32000, 'workers-only child');
  assert.equal(exit, { code: 0, signal: null }, `stdout: ${child.stdout}stderr: ${child.stderr.split('\n')[0]}`);
  assert.match(child.stdout, /^survived$/m);
  const counts = [...child.stdout.matchAll(/^nng threads (-?\d+)$/gm)].map((m) => Number(m[1]));
  assert.is(counts.length, 4);
  assert.ok(
    counts.every((c) => c === counts[0]),
    `NNG thread count after each worker: ${counts.join(', ')}`,
  );
});

test('garbage collection of an unreachable socket closes it', async () => {
  const child = spawnNode(['--expose-gc', fixture('gc.js')], { timeoutMs: 20000 });
  const exit = await withTimeout(child.exited, 22000, 'gc child');
  assert.equal(exit, { code: 0, signal: null }, child.stderr.split('\n')[0]);
  assert.match(child.stdout, /^port freed$/m);
  assert.match(child.stdout, /^pipe removed$/m);
});

test('garbage collection also closes an unreachable socket that has a pipe listener', async () => {
  const child = spawnNode(['--expose-gc', fixture('gc.js'), 'onpipe'], { timeoutMs: 20000 });
  const exit = await withTimeout(child.exited, 22000, 'gc child');
  assert.equal(exit, { code: 0, signal: null }, child.stderr.split('\n')[0]);
  assert.match(child.stdout, /^port freed$/m);
  assert.match(child.stdout, /^pipe removed$/m);
});

test.run();
