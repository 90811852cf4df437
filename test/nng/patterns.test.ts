// The scalability protocols other than req/rep, message forwarding and the copying body path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as nng from '../../dist/nng';
import { Pipe, Socket, type Message, type Protocol, type SocketInit } from '../../dist/nng';
import { Closer, background, errorOf, waitFor, withTimeout } from '../helpers';

const closer = new Closer();
// @internal in the package (stripped from its published types): the Electron copying switch.
const { setExternalBuffers } = nng as unknown as { setExternalBuffers(enabled: boolean): void };
const open = (p: Protocol, init?: SocketInit): Socket => closer.track(new Socket(p, init));
let n = 0;
const inproc = (name: string): string => `inproc://patterns-${name}-${process.pid}-${++n}`;

test.after.each(() => closer.closeAll());

const connected = (s: Socket, pipes: number): Promise<void> =>
  waitFor(() => s.stats.pipes === pipes, 5000, `${pipes} pipes on a ${s.protocol} socket`);
const text = async (p: Promise<Message>): Promise<string> => (await p).body.toString();

test('bus: each of three sockets gets the messages of the other two', async () => {
  const socks = ['a', 'b', 'c'].map(() => open('bus'));
  const urls = socks.map((s) => s.listen(inproc('bus')).url);
  socks[0].dial(urls[1]);
  socks[0].dial(urls[2]);
  socks[1].dial(urls[2]);
  await Promise.all(socks.map((s) => connected(s, 2)));
  await Promise.all(socks.map((s, i) => s.send(`from ${i}`)));
  const got = await Promise.all(
    socks.map(async (s) => [await text(s.recv({ timeout: 5000 })), await text(s.recv({ timeout: 5000 }))].sort()),
  );
  assert.equal(got, [
    ['from 1', 'from 2'],
    ['from 0', 'from 2'],
    ['from 0', 'from 1'],
  ]);
});

test('poly: directed sends reach the chosen pipe only; a Message can be forwarded to a pipe', async () => {
  const hub = open('poly');
  const url = hub.listen(inproc('poly')).url;
  const added: Pipe[] = [];
  hub.onPipe((ev) => ev.type === 'add' && added.push(ev.pipe));
  const peers = ['x', 'y', 'z'].map(() => open('pair'));
  for (const p of peers) p.dial(url);
  await connected(hub, 3);
  const pipeOf = new Map<string, number>();
  for (const [i, p] of peers.entries()) {
    await p.send(`peer${i}`);
    const m = await hub.recv({ timeout: 5000 });
    pipeOf.set(m.body.toString(), m.pipe);
  }
  assert.is(new Set(pipeOf.values()).size, 3, 'three distinct pipe ids');
  await waitFor(() => added.length === 3, 5000, 'three add events');
  assert.equal([...pipeOf.values()].sort(), added.map((p) => p.id).sort(), 'pipe events carry the same ids');

  // Directed sends in the opposite order, by id and by Pipe object.
  await hub.send('for peer2', { pipe: pipeOf.get('peer2') });
  await hub.send('for peer1', { pipe: added.find((p) => p.id === pipeOf.get('peer1'))! });
  assert.is(await text(peers[2].recv({ timeout: 5000 })), 'for peer2');
  assert.is(await text(peers[1].recv({ timeout: 5000 })), 'for peer1');

  // peer0 -> hub -> forwarded unchanged to peer1's pipe.
  await peers[0].send('relay me');
  const m = await hub.recv({ timeout: 5000 });
  assert.is(m.pipe, pipeOf.get('peer0'));
  await hub.send(m, { pipe: pipeOf.get('peer1') });
  assert.is(await text(peers[1].recv({ timeout: 5000 })), 'relay me');
  // Nothing went to the peers that were not chosen: their next message is a later marker.
  await hub.send('marker', { pipe: pipeOf.get('peer0') });
  await hub.send('marker', { pipe: pipeOf.get('peer2') });
  assert.is(await text(peers[0].recv({ timeout: 5000 })), 'marker');
  assert.is(await text(peers[2].recv({ timeout: 5000 })), 'marker');
});

test('push/pull: fan-in of two pushers, every message once and in order per pusher', async () => {
  const pull = open('pull');
  const url = pull.listen(inproc('pipeline')).url;
  const pushers = [open('push'), open('push')];
  for (const p of pushers) p.dial(url);
  await connected(pull, 2);
  // Flow control: the pipeline holds only a few messages, so send and receive concurrently.
  const sending = background(
    Promise.all(
      pushers.map(async (p, i) => {
        for (let k = 0; k < 10; k++) await p.send(`${i}:${k}`, { timeout: 5000 });
      }),
    ),
  );
  const got: string[] = [];
  for (let k = 0; k < 20; k++) got.push(await text(pull.recv({ timeout: 5000 })));
  await sending;
  for (const i of [0, 1]) {
    assert.equal(
      got.filter((s) => s.startsWith(`${i}:`)),
      Array.from({ length: 10 }, (_, k) => `${i}:${k}`),
    );
  }
});

test('pub/sub: subscribers get exactly their topics', async () => {
  const pub = open('pub');
  const url = pub.listen(inproc('pubsub')).url;
  const news = open('sub');
  news.subscribe('news.');
  const mixed = open('sub', { subscribe: ['sport.', Buffer.from('news.local')] });
  const all = open('sub', { subscribe: '' });
  for (const s of [news, mixed, all]) s.dial(url);
  await connected(pub, 3);
  const sent = ['news.a', 'sport.b', 'weather.c', 'news.local.d', 'news.local.end', 'sport.end'];
  for (const t of sent) await pub.send(t);
  // Delivery is in order, so receiving up to each subscriber's last topic proves what it skipped.
  const until = async (s: Socket, last: string): Promise<string[]> => {
    const out: string[] = [];
    while (out[out.length - 1] !== last) out.push(await text(s.recv({ timeout: 5000 })));
    return out;
  };
  assert.equal(await until(news, 'news.local.end'), ['news.a', 'news.local.d', 'news.local.end']);
  assert.equal(await until(mixed, 'sport.end'), ['sport.b', 'news.local.d', 'news.local.end', 'sport.end']);
  assert.equal(await until(all, 'sport.end'), sent);

  news.unsubscribe('news.');
  news.subscribe('weather.');
  await pub.send('news.x');
  await pub.send('weather.y');
  assert.is(await text(news.recv({ timeout: 5000 })), 'weather.y');
});

test('surveyor/respondent: answers from every respondent, then the survey expires', async () => {
  const surveyor = open('surveyor', { surveyTime: 500 });
  const url = surveyor.listen(inproc('survey')).url;
  const respondents = [0, 1, 2].map(() => open('respondent'));
  for (const r of respondents) r.dial(url);
  await connected(surveyor, 3);
  await surveyor.send('who?');
  await Promise.all(
    respondents.map(async (r, i) => {
      const q = await text(r.recv({ timeout: 5000 }));
      await r.send(`${q} ${i}`);
    }),
  );
  const answers: string[] = [];
  for (let i = 0; i < 3; i++) answers.push(await text(surveyor.recv({ timeout: 5000 })));
  assert.equal(answers.sort(), ['who? 0', 'who? 1', 'who? 2']);
  const e = await withTimeout(errorOf(surveyor.recv({ timeout: 5000 })), 5000, 'end of survey');
  assert.is(e.errno, 'ETIMEDOUT');
});

/** a -> relay (pull) and relay's push -> sink: returns the three sockets, connected. */
async function relayChain(): Promise<[Socket, Socket, Socket, Socket]> {
  const src = open('push');
  const relayIn = open('pull');
  const relayOut = open('push');
  const sink = open('pull');
  src.dial(relayIn.listen(inproc('relay-in')).url);
  relayOut.dial(sink.listen(inproc('relay-out')).url);
  await Promise.all([connected(relayIn, 1), connected(sink, 1)]);
  return [src, relayIn, relayOut, sink];
}

test('forwarding a received Message: zero-copy and after reading its body deliver the same bytes', async () => {
  const [src, relayIn, relayOut, sink] = await relayChain();
  const data = randomBytes(256 << 10);

  await src.send(data);
  const untouched = await relayIn.recv({ timeout: 5000 });
  await relayOut.send(untouched); // body never read: the nng_msg itself moves on
  assert.is(untouched.length, 0, 'the forwarded message was moved, not copied');
  assert.ok((await sink.recv({ timeout: 5000 })).body.equals(data), 'zero-copy forward');

  await src.send(data);
  const read = await relayIn.recv({ timeout: 5000 });
  const body = read.body; // a live view of the message: forwarding must not free it under us
  assert.ok(body.equals(data));
  await relayOut.send(read);
  assert.ok((await sink.recv({ timeout: 5000 })).body.equals(data), 'forward after reading the body');
  assert.ok(body.equals(data), 'the body read before forwarding is still intact');
  assert.is(read.length, data.length);
});

test('setExternalBuffers(false) copies bodies (Electron path) and they are still correct', async () => {
  const [src, relayIn, relayOut, sink] = await relayChain();
  const data = randomBytes(1 << 20);

  // Default: every body Buffer is a view of the same NNG memory.
  await src.send(data);
  const shared = await relayIn.recv({ timeout: 5000 });
  const [s1, s2] = [shared.body, shared.body];
  s1[0] ^= 0xff;
  assert.is(s2[0], s1[0], 'external buffers alias the message');

  setExternalBuffers(false);
  try {
    await src.send(data);
    const m = await relayIn.recv({ timeout: 5000 });
    const [b1, b2] = [m.body, m.body];
    assert.ok(b1.equals(data) && b2.equals(data), 'copied bodies are correct');
    b1[0] ^= 0xff;
    assert.is.not(b2[0], b1[0], 'each body is a separate copy');
    await relayOut.send(m);
    assert.ok((await sink.recv({ timeout: 5000 })).body.equals(data), 'forwarding is unaffected by the copies');
    assert.ok(b2.equals(data), 'a copied body outlives the forwarded message');
    await src.send('');
    assert.is((await relayIn.recv({ timeout: 5000 })).body.length, 0, 'an empty body');
  } finally {
    setExternalBuffers(true);
  }
});

test.run();
