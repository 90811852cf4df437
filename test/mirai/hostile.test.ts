// Hostile peers on the daemons' port (issue 8): a process that reaches the port but does not
// know the profile's secret gets nothing but a challenge, has no say in results or counters and
// is closed; a replayed handshake proves nothing; a daemon that did prove itself still cannot
// answer another daemon's task; a daemon refuses a host that cannot prove itself. On ipc, tcp,
// tls+tcp and ws, with a dispatcher and round-robin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import { daemons, launchLocal, mirai, status } from '../../dist';
import { Proof } from '../../dist/wire/auth';
import { localUrl } from '../../dist/wire/url';
import { header, Kind } from '../../dist/wire/protocol';
import { Socket, TlsConfig } from '../../dist/nng';
import { removeTemps, spawnNode, waitUntil, withTimeout } from '../helpers';
import {
  assertNoDaemonChildren,
  asyncBlockTask,
  CLI,
  Gate,
  marker,
  touchTask,
  waitFile,
} from '../fixtures/mirai/common';
import { secretEnv, SECRET } from '../fixtures/auth';

const K = Kind;
const WAIT = 10_000;
const sockets: Socket[] = [];
const tlsConfigs: TlsConfig[] = [];

test.after.each(async () => {
  Gate.openAll();
  for (const s of sockets.splice(0)) s.close();
  for (const t of tlsConfigs.splice(0)) t.close();
  await daemons(0);
});
test.after(async () => {
  await assertNoDaemonChildren();
  removeTemps();
});

const TRANSPORTS = {
  ipc: () => localUrl(),
  tcp: () => 'tcp://127.0.0.1:0',
  'tls+tcp': () => 'tls+tcp://127.0.0.1:0',
  ws: () => 'ws://127.0.0.1:0/mirai',
} as const;
const MODES = { dispatcher: true, 'round-robin': false } as const;

/** A peer of our own making: a pair socket dialing url (over TLS it verifies nothing). */
function rogue(url: string): { sock: Socket; closed: Promise<void>; connected: Promise<number> } {
  const sock = new Socket('pair', { recvMaxSize: 0 });
  sockets.push(sock);
  let tls: TlsConfig | undefined;
  if (url.startsWith('tls+tcp://')) tlsConfigs.push((tls = new TlsConfig({ mode: 'client', auth: 'none' })));
  let onAdd!: (pipe: number) => void;
  let onRemove!: () => void;
  const connected = new Promise<number>((r) => (onAdd = r));
  const closed = new Promise<void>((r) => (onRemove = r));
  sock.onPipe((e) => (e.type === 'add' ? onAdd(e.pipe.id) : onRemove()));
  sock.dial(url, { tls });
  return { sock, closed, connected };
}

/** Keeps receiving (a peer that does not read never notices its connection closed) until
 *  the rogue's connection is closed; returns what it got meanwhile. */
async function untilClosed(r: ReturnType<typeof rogue>): Promise<Buffer[]> {
  const got: Buffer[] = [];
  let reading = true;
  void (async () => {
    // Ends when the socket closes (test.after.each); what comes after `closed` is not looked at.
    while (reading) {
      try {
        got.push((await r.sock.recv()).body);
      } catch {
        reading = false; // recv throws at once on a closed socket
      }
    }
  })();
  await withTimeout(r.closed, WAIT, 'rogue closed');
  return got.filter((b) => b.length > 0);
}

async function setUp(url: string, dispatcher: boolean, n = 2): Promise<string> {
  const set = await daemons({ url, dispatcher, secret: SECRET });
  await launchLocal(n);
  return set.url;
}

for (const [tname, makeUrl] of Object.entries(TRANSPORTS)) {
  for (const [mname, dispatcher] of Object.entries(MODES)) {
    test(`${tname}, ${mname}: a peer without the secret gets only a challenge, forges nothing, is closed`, async () => {
      const url = await setUp(makeUrl(), dispatcher);
      const honest = mirai(() => 'honest');
      const r = rogue(url);
      await withTimeout(r.connected, WAIT, 'rogue connection');
      const first = (await r.sock.recv({ timeout: WAIT })).body;
      assert.equal([first[1], first.length], [K.CHALLENGE, 40], 'the first message is a 32-byte challenge');
      // Forged answers for the first task ids, a forged connection count, a bad proof.
      for (let id = 1; id <= 5; id++) await r.sock.send([header(K.RESULT, id), v8.serialize('forged')]).catch(() => {});
      await r.sock.send(header(K.CONNECTIONS, 2147483647)).catch(() => {});
      const later = await untilClosed(r);
      assert.ok(
        later.every((b) => b[1] === K.CHALLENGE),
        'nothing but challenges reach it',
      );
      assert.is(await honest, 'honest');
      assert.is(await mirai((d: { x: number }) => d.x + 1, { x: 41 }), 42);
      const s = await status();
      assert.is(s.connections, 2);
      assert.ok(s.rejected! >= 1, `rejected: ${s.rejected}`);
    });
  }
}

for (const [tname, makeUrl] of Object.entries(TRANSPORTS)) {
  test(`${tname}: a giant frame before the handshake closes the connection; the host serves on`, async () => {
    const url = await setUp(makeUrl(), true, 1);
    const r = rogue(url);
    await withTimeout(r.connected, WAIT, 'rogue connection');
    await r.sock.send(Buffer.alloc(16 << 20, 7)).catch(() => {});
    const got = await untilClosed(r);
    assert.ok(
      got.every((b) => b[1] === K.CHALLENGE),
      'nothing but challenges reach it',
    );
    assert.ok((await status()).rejected! >= 1);
    assert.is(await mirai(() => 'still here'), 'still here');
    assert.is((await status()).connections, 1);
  });
}

test('a replayed handshake proves nothing: a fresh challenge each time', async () => {
  const url = await setUp('tcp://127.0.0.1:0', true, 1);
  // A genuine peer (it knows the secret): record its proof.
  const a = rogue(url);
  await withTimeout(a.connected, WAIT, 'connection');
  const proof = new Proof(SECRET);
  const reply = proof.handle((await a.sock.recv({ timeout: WAIT })).body)!;
  const recorded = Buffer.concat(reply);
  await a.sock.send(reply);
  proof.handle((await a.sock.recv({ timeout: WAIT })).body); // WELCOME
  assert.ok(proof.trusted);
  await waitUntil(async () => (await status()).connections === 2, WAIT, 'second connection counted');
  // The same bytes on a new connection: closed, not counted.
  const b = rogue(url);
  await withTimeout(b.connected, WAIT, 'replay connection');
  const challenge = (await b.sock.recv({ timeout: WAIT })).body;
  assert.is(challenge[1], K.CHALLENGE);
  await b.sock.send(recorded);
  await untilClosed(b);
  const s = await status();
  assert.is(s.connections, 2);
  assert.is(s.rejected, 1);
});

for (const [mname, dispatcher] of Object.entries(MODES)) {
  test(`${mname}: a daemon that proved itself cannot answer another daemon's task, nor set counters`, async () => {
    const url = await setUp('tcp://127.0.0.1:0', dispatcher, 1);
    // The honest daemon is busy with task 1 until the forgeries have been dropped.
    const gate = new Gate();
    const started = marker();
    const slow = mirai(asyncBlockTask, { gate: gate.path, started });
    await waitFile(started);
    const a = rogue(url);
    await withTimeout(a.connected, WAIT, 'connection');
    const proof = new Proof(SECRET);
    await a.sock.send(proof.handle((await a.sock.recv({ timeout: WAIT })).body)!);
    proof.handle((await a.sock.recv({ timeout: WAIT })).body);
    assert.ok(proof.trusted);
    await a.sock.send([header(K.RESULT, slow.id), v8.serialize('forged')]);
    await a.sock.send(header(K.CONNECTIONS, 2147483647));
    await a.sock.send(header(K.STATUS, 0));
    await waitUntil(async () => (await status()).dropped! >= 3, WAIT, 'the forgeries dropped');
    gate.open();
    assert.is(typeof (await slow), 'number', "the honest daemon's own result");
    assert.is((await status()).connections, 2);
  });
}

for (const [mname, dispatcher] of Object.entries(MODES)) {
  test(`${mname}: maxMessageSize: a larger result settles its task with a RangeError; the daemon serves on`, async () => {
    await daemons(1, { dispatcher, maxMessageSize: 64 * 1024 });
    const err = await mirai(() => 'x'.repeat(100_000)).catch((e: unknown) => e);
    assert.instance(err, Error);
    assert.match(String((err as Error).message), /more than the host's maxMessageSize of 65536 bytes/);
    assert.is((await mirai(() => 'x'.repeat(60_000))).length, 60_000);
    assert.is((await status()).connections, 1);
  });
}

test('a daemon runs nothing for a host that cannot prove itself, and says why', async () => {
  const listener = new Socket('poly', { recvMaxSize: 0 });
  sockets.push(listener);
  const url = listener.listen('tcp://127.0.0.1:0').url;
  const pipes: number[] = [];
  const waiters: Array<() => void> = [];
  listener.onPipe((e) => {
    if (e.type !== 'add') return;
    pipes.push(e.pipe.id);
    waiters.splice(0).forEach((w) => w());
  });
  const connected = (n: number): Promise<void> =>
    withTimeout(
      new Promise<void>((r) => {
        const check = (): void => void (pipes.length >= n ? r() : waiters.push(check));
        check();
      }),
      WAIT,
      'daemon connection',
    );
  const file = marker();
  const task = [header(K.TASK, 1), v8.serialize({ type: 'f', src: String(touchTask), data: { file } })];
  // 1. An impostor that knows no secret: its task before any handshake is ignored; its WELCOME is wrong.
  const d = spawnNode([CLI, 'daemon', url, '--output'], { env: secretEnv(), timeoutMs: 20_000 });
  await connected(1);
  const pipe = pipes[0]!;
  await listener.send(task, { pipe });
  await listener.send([header(K.CHALLENGE, 0), Buffer.alloc(32, 1)], { pipe });
  const proof = (await listener.recv({ timeout: WAIT })).body;
  assert.equal([proof[1], proof.length], [K.PROOF, 72]);
  await listener.send([header(K.WELCOME, 0), Buffer.alloc(32, 2)], { pipe });
  await listener.send(task, { pipe });
  const exit = await withTimeout(d.exited, WAIT, 'daemon exit');
  assert.is(exit.code, 1);
  assert.match(d.stderr, /did not prove it knows the secret/);
  assert.not.ok(fs.existsSync(file), 'no task ran');
  // 2. A daemon given no secret at all says so.
  const env = { ...process.env };
  delete env.MIRAI_SECRET;
  const plain = spawnNode([CLI, 'daemon', url], { env, timeoutMs: 20_000 });
  await connected(2);
  await listener.send([header(K.CHALLENGE, 0), Buffer.alloc(32, 1)], { pipe: pipes[1]! });
  const exit2 = await withTimeout(plain.exited, WAIT, 'daemon exit');
  assert.is(exit2.code, 1);
  assert.match(plain.stderr, /requires a secret/);
});

test.run();
