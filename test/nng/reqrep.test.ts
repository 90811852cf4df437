// req/rep over every transport, contexts, large messages, timeouts and cancellation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { NngError, Socket, TlsConfig, writeCert, type Message, type Protocol, type SocketInit } from '../../dist/nng';
import { Closer, background, errorOf, ipcUrl, removeTemps, waitForEvent, withTimeout } from '../helpers';

const closer = new Closer();
const open = (p: Protocol, init?: SocketInit): Socket => closer.track(new Socket(p, init));

test.after.each(() => closer.closeAll());
test.after(() => removeTemps());

function isNng(e: unknown, errno: string): void {
  assert.instance(e, NngError, `expected an NngError, got ${String(e)}`);
  assert.is((e as NngError).errno, errno, (e as Error).message);
}

/** One request/reply through a fresh pair of sockets; the reply concatenates a prefix and the
 *  received Message (an array send with a forwarded Message in it). */
async function roundTrip(url: string, listenTls?: TlsConfig, dialTls?: TlsConfig): Promise<string> {
  const rep = open('rep');
  const req = open('req');
  const listener = rep.listen(url, { tls: listenTls });
  await withTimeout(req.dial(listener.url, { tls: dialTls, block: true }), 5000, `dial ${listener.url}`);
  const server = background(
    (async () => {
      const m = await rep.recv({ timeout: 5000 });
      assert.ok(m.pipe > 0, 'a received message carries its pipe id');
      await rep.send(['echo:', m], { timeout: 5000 });
    })(),
  );
  await req.send('ping', { timeout: 5000 });
  const reply = await req.recv({ timeout: 5000 });
  assert.is(reply.body.toString(), 'echo:ping');
  await server;
  return listener.url;
}

test('req/rep over inproc', async () => {
  assert.is(await roundTrip(`inproc://reqrep-${process.pid}`), `inproc://reqrep-${process.pid}`);
});

test('req/rep over ipc (a socket file in tmpdir while listening; a named pipe on Windows)', async () => {
  const { url, path } = ipcUrl();
  await roundTrip(url);
  if (process.platform !== 'win32') {
    assert.ok(fs.existsSync(path), 'the ipc socket file exists while listening');
    return;
  }
  // NNG's Windows ipc:// is the named pipe \\.\pipe\<path>: no file, and a raw connection to
  // the pipe (node:net speaks named pipes) is accepted while a listener is open.
  assert.not.ok(fs.existsSync(path), 'no file for a Windows ipc listener');
  const rep = open('rep');
  rep.listen(url);
  const pipe = `\\\\.\\pipe\\${path}`;
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      const c = net.connect(pipe, () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    }),
    5000,
    `connect to ${pipe}`,
  );
});

test('req/rep over tcp with port 0: listener.url has the real port', async () => {
  const url = await roundTrip('tcp://127.0.0.1:0');
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(url);
  assert.ok(m, url);
  assert.ok(Number(m![1]) > 0);
});

test('req/rep over tls+tcp (server name from the URL host)', async () => {
  const cert = writeCert({ cn: '127.0.0.1' });
  const server = closer.track(new TlsConfig({ mode: 'server', cert: cert.server[0], key: cert.server[1] }));
  const client = closer.track(new TlsConfig({ mode: 'client', ca: cert.client[0] }));
  const url = await roundTrip('tls+tcp://127.0.0.1:0', server, client);
  assert.match(url, /^tls\+tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
});

test('req/rep over ws', async () => {
  const url = await roundTrip('ws://127.0.0.1:0');
  assert.match(url, /^ws:\/\/127\.0\.0\.1:[1-9]\d*$/);
});

test('listener.url has the real port for a ws URL with a path', async () => {
  const rep = open('rep');
  const l = rep.listen('ws://127.0.0.1:0/mirai');
  assert.match(l.url, /^ws:\/\/127\.0\.0\.1:[1-9]\d*\/mirai$/, `listener.url is ${l.url}`);
});

test('100 concurrent requests on contexts are all in flight at once', async () => {
  const N = 100;
  const rep = open('rep');
  const req = open('req');
  const l = rep.listen('tcp://127.0.0.1:0');
  req.dial(l.url);
  // The server takes all N requests before answering any: only N requests in flight at once
  // can get past this barrier.
  const held: Array<{ ctx: ReturnType<Socket['context']>; m: Message }> = [];
  let release!: () => void;
  const barrier = new Promise<void>((r) => (release = r));
  const server = background(
    Promise.all(
      Array.from({ length: N }, async () => {
        const ctx = rep.context();
        const m = await ctx.recv({ timeout: 10000 });
        held.push({ ctx, m });
        if (held.length === N) release();
        await barrier;
        await ctx.send(`re:${m.body.toString()}`, { timeout: 5000 });
        ctx.close();
      }),
    ),
  );
  const replies = await withTimeout(
    Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const ctx = req.context();
        try {
          return (await ctx.request(`q${i}`, { timeout: 10000 })).body.toString();
        } finally {
          ctx.close();
        }
      }),
    ),
    15000,
    'replies',
  );
  await server;
  assert.is(held.length, N);
  assert.equal(
    replies,
    Array.from({ length: N }, (_, i) => `re:q${i}`),
  );
});

test('a 64 MB message round trip (recvMaxSize: 0)', async () => {
  const rep = open('rep', { recvMaxSize: 0 });
  const req = open('req', { recvMaxSize: 0 });
  const l = rep.listen('tcp://127.0.0.1:0');
  await req.dial(l.url, { block: true });
  const data = randomBytes(64 << 20);
  const t0 = process.hrtime.bigint();
  const server = background(rep.recv({ timeout: 20000 }).then((m) => rep.send(m, { timeout: 20000 })));
  await req.send(data, { timeout: 20000 });
  const reply = await req.recv({ timeout: 20000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await server;
  console.log(`  64 MB round trip over tcp: ${ms.toFixed(0)} ms`);
  assert.is(reply.length, data.length);
  assert.ok(reply.body.equals(data), '64 MB body arrives intact');
});

// A req peer speaking SP over plain TCP, so that it can stop reading: the rep socket's pipe then
// stays busy writing a large reply while the next request arrives on the same pipe.
test('a rep reply sent while its pipe is still busy is queued, not refused with ESTATE', async () => {
  const rep = open('rep');
  const port = Number(/:(\d+)$/.exec(rep.listen('tcp://127.0.0.1:0').url)![1]);
  const peer = net.connect(port, '127.0.0.1');
  closer.track({ close: () => peer.destroy() });
  await waitForEvent(peer, 'connect', 5000);
  const frame = (id: number, body: string): Buffer => {
    const b = Buffer.alloc(12 + body.length);
    b.writeBigUInt64BE(BigInt(4 + body.length));
    b.writeUInt32BE((0x80000000 | id) >>> 0, 8); // request id, high bit set
    b.write(body, 12);
    return b;
  };
  peer.write(Buffer.from([0, 0x53, 0x50, 0, 0, 48, 0, 0])); // SP header: I am req (48)
  peer.write(Buffer.concat([frame(1, 'first'), frame(2, 'second')]));
  peer.pause();
  const big = 64 << 20;
  assert.is((await rep.recv({ timeout: 5000 })).body.toString(), 'first');
  await rep.send(Buffer.alloc(big, 1), { timeout: 5000 }); // cannot all be written yet
  assert.is((await rep.recv({ timeout: 5000 })).body.toString(), 'second');
  const second = background(rep.send('small', { timeout: 5000 }));
  // Now read everything: the rep header (8), the big reply, then the small one.
  const expected = 8 + (12 + big) + (12 + 5);
  let received = 0;
  let tail = Buffer.alloc(0);
  const drained = new Promise<void>((resolve) => {
    peer.on('data', (d: Buffer) => {
      received += d.length;
      tail = Buffer.concat([tail, d]).subarray(-9);
      if (received >= expected) resolve();
    });
  });
  peer.resume();
  await second;
  await withTimeout(drained, 10000, 'both replies');
  assert.is(received, expected);
  assert.equal([tail.readUInt32BE(0) >>> 0, tail.subarray(4).toString()], [(0x80000000 | 2) >>> 0, 'small']);
});

test('timeouts reject with NngError ETIMEDOUT', async () => {
  const rep = open('rep');
  const t0 = Date.now();
  const e = await errorOf(rep.recv({ timeout: 50 }));
  isNng(e, 'ETIMEDOUT');
  assert.is(e.code, 5);
  assert.ok(Date.now() - t0 >= 40, 'not before the timeout');

  rep.setOption('recvTimeout', 30);
  assert.is(rep.getOption('recvTimeout'), 30);
  isNng(await errorOf(rep.recv()), 'ETIMEDOUT');

  const push = open('push'); // no peer: the send cannot complete
  isNng(await errorOf(push.send('x', { timeout: 30 })), 'ETIMEDOUT');
  isNng(await errorOf(push.send('x', { timeout: 0 })), 'ETIMEDOUT');

  const req = open('req');
  req.listen(`inproc://nobody-answers-${process.pid}`);
  open('rep').dial(`inproc://nobody-answers-${process.pid}`); // connected, never replies
  isNng(await errorOf(req.context().request('q', { timeout: 50 })), 'ETIMEDOUT');
});

test('an AbortSignal cancels a recv with ECANCELED', async () => {
  const pull = open('pull');
  const ac = new AbortController();
  const p = pull.recv({ signal: ac.signal });
  ac.abort();
  isNng(await withTimeout(errorOf(p), 2000, 'cancelled recv'), 'ECANCELED');

  const req = open('req');
  req.listen(`inproc://abort-${process.pid}`);
  open('rep').dial(`inproc://abort-${process.pid}`);
  const ac2 = new AbortController();
  const r = req.context().request('q', { signal: ac2.signal });
  setImmediate(() => ac2.abort());
  isNng(await withTimeout(errorOf(r), 2000, 'cancelled request'), 'ECANCELED');
});

test('aborting one recv leaves other pending operations of the socket alone', async () => {
  const pull = open('pull');
  const push = open('push');
  pull.listen(`inproc://abort-one-${process.pid}`);
  push.dial(`inproc://abort-one-${process.pid}`);
  const ac = new AbortController();
  const aborted = pull.recv({ signal: ac.signal });
  const other = background(pull.recv({ timeout: 5000 }));
  ac.abort();
  isNng(await errorOf(aborted), 'ECANCELED');
  await push.send('still here');
  const m = await withTimeout(other, 5000, 'the other recv');
  assert.is(m.body.toString(), 'still here');
});

test('a context op with an already aborted signal rejects with ECANCELED', async () => {
  const rep = open('rep');
  const ac = new AbortController();
  ac.abort();
  isNng(await errorOf(rep.context().recv({ signal: ac.signal })), 'ECANCELED');
  isNng(await errorOf(open('req').context().request('q', { signal: ac.signal })), 'ECANCELED');
});

test.run();
