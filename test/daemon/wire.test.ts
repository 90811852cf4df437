// What crosses the wire to a daemon process besides plain tasks: garbage and truncated messages,
// BATCHes (round-robin hosts) and malformed ones. The daemon drops what it cannot read and keeps
// serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { batchParts, header, splitBatch } from '../../dist/wire/protocol';
import { Host, K, replies, taskParts, type Reply, sharedDaemon } from './host';

const shared = sharedDaemon(test);
let id = 0;

test('garbage and truncated messages are dropped; the daemon keeps serving', async () => {
  const junk = [
    Buffer.alloc(0),
    Buffer.from([1]),
    Buffer.from([1, 1, 0]),
    Buffer.from([9, 1, 0, 0, 1, 0, 0, 0]),
    Buffer.from([1, 77, 0, 0, 1, 0, 0, 0]),
    Buffer.concat([header(K.TASK, 500), Buffer.from('not v8')]),
    Buffer.concat([header(K.TASK, 501), v8.serialize({ type: 'x' })]),
    header(K.EVERYWHERE, 502),
  ];
  for (let i = 0; i < 300; i++) {
    const b = randomBytes(Math.floor(Math.random() * 40));
    if (b.length > 1 && b[0] === 1 && b[1] === K.EXIT) b[1] = 99; // would (rightly) end the daemon
    junk.push(b);
  }
  // One junk message, then a task, then its reply: a poly socket drops what a busy pipe cannot queue.
  for (const b of junk) {
    await shared.host.raw(b);
    const tid = ++id;
    await shared.host.send(K.TASK, tid, { type: 'c', src: 'x', data: { x: tid } });
    let r: Reply;
    do r = await shared.host.recv();
    while (r.id !== tid); // tasks with bad payloads are answered with errors
    assert.equal([r.kind, r.flags, r.value], [K.RESULT, 0, tid]);
  }
});

test('BATCH (round-robin hosts): its tasks run in order and their replies come back batched', async () => {
  const h = new Host();
  await h.daemon();
  const ids = [9001, 9002, 9003, 9004];
  await h.sock.send(batchParts(ids.map((tid, i) => taskParts(tid, i))), { pipe: h.pipe });
  const { got, messages } = await replies(h, ids.length);
  assert.equal(
    got.map((r) => [r.kind, r.id, r.value]),
    ids.map((tid, i) => [K.RESULT, tid, i * 2]),
  );
  assert.is(messages, 1, 'four sync tasks that arrived together are answered in one message');
  // A CANCEL still reaches a task that arrived in a batch and waits behind a running one (which
  // finishes when the test creates its gate file).
  const gate = path.join(os.tmpdir(), `mirai-dt-gate-${process.pid}-${randomBytes(4).toString('hex')}`);
  const src =
    'new Promise((r) => { const t = setInterval(() => { if (require("fs").existsSync(gate)) { clearInterval(t); r(1) } }, 5) })';
  const slow = [header(K.TASK, 9010), v8.serialize({ type: 'c', src, data: { gate } })];
  await h.sock.send(batchParts([slow, taskParts(9011, 5)]), { pipe: h.pipe });
  await h.send(K.CANCEL, 9011);
  try {
    const cancelled = await replies(h, 1);
    assert.equal(
      cancelled.got.map((x) => [x.kind, x.id, x.flags]),
      [[K.ERROR_VALUE, 9011, 20]],
    );
    fs.writeFileSync(gate, '');
    const done = await replies(h, 1);
    assert.equal(
      done.got.map((x) => [x.kind, x.id, x.value]),
      [[K.RESULT, 9010, 1]],
    );
  } finally {
    fs.rmSync(gate, { force: true });
  }
});

test('malformed BATCHes (bad counts, lengths, truncation, random) are dropped whole; the daemon keeps serving', async () => {
  const good = Buffer.concat(batchParts([taskParts(1, 1), taskParts(2, 2)]));
  const junk: Buffer[] = [
    header(K.BATCH, 0),
    header(K.BATCH, 3),
    good.subarray(0, good.length - 1),
    good.subarray(0, 12),
    Buffer.concat([header(K.BATCH, 1), Buffer.from([255, 255, 255, 255])]),
    Buffer.concat([header(K.BATCH, 1), Buffer.from([4, 0, 0, 0, 1, 1, 0, 0])]),
    Buffer.concat([header(K.BATCH, 5), good.subarray(8)]),
  ];
  for (let i = 0; i < 200; i++) {
    const b = Buffer.from(good);
    for (let k = 0; k < 3; k++) b[8 + Math.floor(Math.random() * (b.length - 8))] = Math.floor(Math.random() * 256);
    junk.push(b.subarray(0, 8 + Math.floor(Math.random() * (b.length - 7))));
    const r = randomBytes(8 + Math.floor(Math.random() * 40));
    r[0] = 1;
    r[1] = K.BATCH;
    junk.push(r);
  }
  for (const b of junk) {
    // Dropped whole, or (a mutation that still parses) its tasks answered: either way no crash.
    assert.equal(splitBatch(b) === null || Array.isArray(splitBatch(b)), true);
    await shared.host.raw(b);
    const tid = ++id;
    await shared.host.send(K.TASK, tid, { type: 'c', src: 'x', data: { x: tid } });
    let r: Reply;
    do {
      const { got } = await replies(shared.host, 1);
      r = got.find((g) => g.id === tid) ?? got[0]!;
    } while (r.id !== tid);
    assert.equal([r.kind, r.flags, r.value], [K.RESULT, 0, tid]);
  }
});

test.run();
