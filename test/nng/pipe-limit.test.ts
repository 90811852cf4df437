// Per-connection receive limits (deps/patches/pipe_recvmaxsz.patch): a pipe's limit can be
// changed while it is live without changing any other pipe, and a message over a pipe's limit
// closes that pipe and is never delivered. Over every transport that supports it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NngError, Socket, TlsConfig, writeCert, type Message, type PipeEvent } from '../../dist/nng';
import { Closer, errorOf, ipcUrl, removeTemps, waitFor, withTimeout } from '../helpers';

const closer = new Closer();
test.after.each(() => closer.closeAll());
test.after(() => removeTemps());

const SMALL = 4096;
const MIB = 1 << 20;

interface Transport {
  name: string;
  url(): string;
  server?(): TlsConfig;
  client?(): TlsConfig;
}

let cert: ReturnType<typeof writeCert> | undefined;
const certs = () => (cert ??= writeCert({ cn: '127.0.0.1' }));

const TRANSPORTS: Transport[] = [
  { name: 'ipc', url: () => ipcUrl().url },
  { name: 'tcp', url: () => 'tcp://127.0.0.1:0' },
  {
    name: 'tls+tcp',
    url: () => 'tls+tcp://127.0.0.1:0',
    server: () => closer.track(new TlsConfig({ mode: 'server', cert: certs().server[0], key: certs().server[1] })),
    client: () => closer.track(new TlsConfig({ mode: 'client', ca: certs().client[0] })),
  },
  { name: 'ws', url: () => 'ws://127.0.0.1:0/limit' },
];

/** A pull listener whose pipe events are recorded, and a way to dial it with push sockets. */
function listener(t: Transport, recvMaxSize: number) {
  const pull = closer.track(new Socket('pull', { recvMaxSize }));
  const events: PipeEvent[] = [];
  pull.onPipe((e) => events.push(e));
  const l = pull.listen(t.url(), { tls: t.server?.() });
  const adds = () => events.filter((e) => e.type === 'add').map((e) => e.pipe);
  const removed = (id: number) => events.some((e) => e.type === 'remove' && e.pipe.id === id);
  const peer = async () => {
    const push = closer.track(new Socket('push'));
    const before = adds().length;
    await withTimeout(push.dial(l.url, { tls: t.client?.(), block: true }), 5000, `${t.name} dial`);
    await waitFor(() => adds().length > before, 5000, `${t.name} add event`);
    return push;
  };
  return { pull, url: l.url, events, adds, removed, peer };
}

/** Sends a tagged small message from push and returns the listener's pipe it arrived on. */
async function pipeOf(pull: Socket, push: Socket, tag: string) {
  await push.send(tag, { timeout: 5000 });
  const m = await pull.recv({ timeout: 5000 });
  assert.is(m.body.toString(), tag);
  return m.pipe;
}

/** The next message on pull must be exactly `body` (nothing else was delivered before it). */
async function expectNext(pull: Socket, body: Buffer | string): Promise<Message> {
  const m = await pull.recv({ timeout: 5000 });
  assert.is(m.length, Buffer.byteLength(body), `the next message has the expected size (got ${m.length})`);
  assert.ok(m.body.equals(Buffer.from(body)), 'the next message has the expected content');
  return m;
}

for (const t of TRANSPORTS) {
  test(`${t.name}: pipes start at the socket's small limit; raising one pipe raises only that one`, async () => {
    const h = listener(t, SMALL);
    const a = await h.peer();
    const b = await h.peer();
    const pa = await pipeOf(h.pull, a, 'a');
    const pb = await pipeOf(h.pull, b, 'b');
    assert.is.not(pa, pb);
    const [pipeA, pipeB] = [pa, pb].map((id) => h.adds().find((p) => p.id === id)!);
    assert.ok(pipeA && pipeB, 'both pipes were announced by add events');
    assert.is(pipeA.recvMaxSize, SMALL);
    assert.is(pipeB.recvMaxSize, SMALL);

    pipeA.setRecvMaxSize(MIB);
    assert.is(pipeA.recvMaxSize, MIB);
    assert.is(pipeB.recvMaxSize, SMALL, 'the other pipe keeps its limit');
    assert.is(h.pull.getOption('recvMaxSize'), SMALL, 'the socket limit is unchanged');

    // Over the raised limit of A's pipe: delivered.
    const big = Buffer.alloc(100 * 1024, 0x61);
    await a.send(big, { timeout: 5000 });
    assert.is((await expectNext(h.pull, big)).pipe, pa);

    // Over the limit of B's pipe: the pipe is closed and nothing is delivered.
    await b.send(Buffer.alloc(5000, 0x62), { timeout: 5000 });
    await waitFor(() => h.removed(pb), 5000, `${t.name}: B's pipe closed for a 5000-byte message`);
    assert.ok(!h.removed(pa), "A's pipe is still up");
    await a.send('after', { timeout: 5000 });
    assert.is((await expectNext(h.pull, 'after')).pipe, pa);

    // B's dialer reconnects: the new pipe starts at the socket limit again.
    await waitFor(() => h.adds().length >= 3, 5000, `${t.name}: B reconnects`);
    const pc = h.adds()[2];
    assert.is.not(pc.id, pb);
    assert.is(pc.recvMaxSize, SMALL);
    await b.send(Buffer.alloc(SMALL, 0x63), { timeout: 5000 });
    assert.is((await expectNext(h.pull, Buffer.alloc(SMALL, 0x63))).pipe, pc.id, 'exactly the limit is allowed');
  });

  test(`${t.name}: lowering a live pipe (socket unlimited) applies to its next message only`, async () => {
    const h = listener(t, 0);
    const a = await h.peer();
    const b = await h.peer();
    const pa = await pipeOf(h.pull, a, 'a');
    const pb = await pipeOf(h.pull, b, 'b');
    const pipeA = h.adds().find((p) => p.id === pa)!;
    h.pull.setPipeRecvMaxSize(pa, SMALL); // the Socket form, by pipe id
    assert.is(pipeA.recvMaxSize, SMALL);
    assert.is(h.adds().find((p) => p.id === pb)!.recvMaxSize, 0);

    await a.send(Buffer.alloc(SMALL + 1), { timeout: 5000 });
    await waitFor(() => h.removed(pa), 5000, `${t.name}: A's pipe closed`);
    const big = Buffer.alloc(100 * 1024, 0x62);
    await b.send(big, { timeout: 5000 });
    assert.is((await expectNext(h.pull, big)).pipe, pb, 'the other pipe is still unlimited');
  });
}

test('inproc has no per-pipe limit: ENOTSUP, and nothing changes', async () => {
  const pull = closer.track(new Socket('pull', { recvMaxSize: SMALL }));
  const push = closer.track(new Socket('push'));
  pull.listen(`inproc://pipe-limit-${process.pid}`);
  await push.dial(`inproc://pipe-limit-${process.pid}`, { block: true });
  await push.send('x', { timeout: 5000 });
  const m = await pull.recv({ timeout: 5000 });
  const e = await errorOf(() => pull.setPipeRecvMaxSize(m.pipe, MIB));
  assert.instance(e, NngError);
  assert.is(e.errno, 'ENOTSUP');
  assert.match(e.message, /pipe \d+/);
});

test('a pipe that is gone: ENOENT; bad arguments: TypeError / RangeError', async () => {
  const h = listener(TRANSPORTS[1], SMALL);
  const a = await h.peer();
  const pa = await pipeOf(h.pull, a, 'a');
  a.close();
  await waitFor(() => h.removed(pa), 5000, 'remove event');
  const gone = await errorOf(() => h.pull.setPipeRecvMaxSize(pa, MIB));
  assert.instance(gone, NngError);
  assert.is(gone.errno, 'ENOENT');
  assert.match(gone.message, new RegExp(`pipe ${pa}`));
  assert.instance(await errorOf(() => h.pull.setPipeRecvMaxSize(0, MIB)), TypeError);
  assert.instance(await errorOf(() => h.pull.setPipeRecvMaxSize(1.5, MIB)), TypeError);
  assert.instance(await errorOf(() => h.pull.setPipeRecvMaxSize(pa, -1)), RangeError);
  assert.instance(await errorOf(() => h.pull.setPipeRecvMaxSize(pa, 1.5)), RangeError);
  assert.instance(await errorOf(() => h.pull.setPipeRecvMaxSize(pa, '5' as never)), TypeError);
});

test.run();
