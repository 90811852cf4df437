// The dispatcher against a real host `pair` socket and fake daemons made of real `pair`
// sockets that answer with protocol headers themselves. Every wait is bounded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Socket, TlsConfig, writeCert } from '../dist/nng';
import {
  header,
  hello,
  decodeCounters,
  Kind,
  BYE_IDLE_TIME,
  type Counters,
  type DaemonNews,
  type DaemonRow,
} from '../dist/wire/protocol';
import { runDispatcher, type DispatcherOptions } from '../dist/dispatcher/dispatcher';
import { startDispatcher, type DispatcherHandle } from '../dist/dispatcher/main';
import { admit, prove, SECRET } from './fixtures/auth';

const K = Kind;
const WAIT = 3000;
let seq = 0;
const uniq = (): string => `${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const ipc = (): string => `ipc://${path.join(os.tmpdir(), `mirai-disp-${uniq()}.sock`)}`;

interface Msg {
  kind: number;
  flags: number;
  id: number;
  body: Buffer;
}

/** DAEMON news a host socket received (daemonEvents()): kept aside, so other tests need not expect them. */
const newsOf = new WeakMap<Socket, DaemonNews[]>();

async function recv(s: Socket, timeout = WAIT): Promise<Msg> {
  for (;;) {
    const b = Buffer.from((await s.recv({ timeout })).body);
    if (b[1] === K.DAEMON) {
      if (!newsOf.has(s)) newsOf.set(s, []);
      newsOf.get(s)!.push(v8.deserialize(b.subarray(8)));
      continue;
    }
    return { kind: b[1]!, flags: b.readUInt16LE(2), id: b.readUInt32LE(4), body: b };
  }
}

async function expect(s: Socket, kind: number, id?: number, flags?: number): Promise<Msg> {
  const m = await recv(s);
  assert.is(m.kind, kind, `kind ${m.kind} (id ${m.id}), expected ${kind}`);
  if (id !== undefined) assert.is(m.id, id, `id of kind ${kind}`);
  if (flags !== undefined) assert.is(m.flags, flags, `flags of kind ${kind} id ${m.id}`);
  return m;
}

/** Nothing arrives within a short bound (for "never two at once" / "not forwarded"). */
async function silent(s: Socket, ms = 60): Promise<void> {
  const got = await s.recv({ timeout: ms }).then(
    (m) => Buffer.from(m.body),
    (e) => e,
  );
  assert.ok(got instanceof Error && (got as { errno?: string }).errno === 'ETIMEDOUT', 'unexpected message');
}

function bounded<T>(p: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let t: NodeJS.Timeout;
  const limit = new Promise<never>(
    (_, rej) => (t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

const send = (
  s: Socket,
  kind: (typeof Kind)[keyof typeof Kind],
  id: number,
  flags = 0,
  payload?: Buffer,
): Promise<void> => s.send(payload ? [header(kind, id, flags), payload] : header(kind, id, flags));

/** A host socket listening, a dispatcher linked to it, and fake daemons. */
class Rig {
  host = new Socket('pair', { recvMaxSize: 0 });
  hostUrl: string;
  daemons: Socket[] = [];
  done: Promise<void> | undefined;
  url = '';
  handle: DispatcherHandle | undefined;
  /** The dispatcher proved it knows SECRET (lib/wire/auth.ts). */
  admitted: Promise<boolean>;
  constructor(hostUrl = `inproc://host-${uniq()}`) {
    this.hostUrl = hostUrl;
    this.admitted = new Promise<boolean>((resolve) => {
      this.host.onPipe((e) => {
        if (e.type === 'add') admit(this.host, e.pipe.id).then(resolve, () => resolve(false));
      });
    });
    this.host.listen(hostUrl);
  }
  async ready(): Promise<{ url?: string; error?: string }> {
    assert.ok(await bounded(this.admitted, 'dispatcher handshake'), 'the dispatcher proves itself');
    const r = v8.deserialize((await expect(this.host, K.READY)).body.subarray(8));
    this.url = r.url ?? '';
    return r;
  }
  async start(daemonUrl = `inproc://daemons-${uniq()}`, tls?: DispatcherOptions['tls']): Promise<this> {
    this.done = runDispatcher({ hostUrl: this.hostUrl, daemonUrl, tls, secret: SECRET });
    const r = await this.ready();
    assert.ok(r.url, `READY error: ${r.error}`);
    return this;
  }
  /** Connects a fake daemon; resolves once the dispatcher has counted it. */
  async daemon(n: number, tls?: TlsConfig): Promise<Socket> {
    const d = new Socket('pair', { recvMaxSize: 0 });
    this.daemons.push(d);
    d.dial(this.url, { tls });
    await prove(d);
    await expect(this.host, K.CONNECTIONS, n);
    return d;
  }
  async status(): Promise<Counters> {
    await send(this.host, K.STATUS_REQUEST, 0);
    return decodeCounters((await expect(this.host, K.STATUS)).body)!;
  }
  async counters(c: Partial<Counters>, dropped = 0): Promise<void> {
    assert.equal(await this.status(), {
      connections: 0,
      awaiting: 0,
      executing: 0,
      completed: 0,
      dropped,
      rejected: 0,
      ...c,
    });
  }
  async close(): Promise<void> {
    for (const d of this.daemons) d.close();
    this.host.close();
    try {
      if (this.done) await bounded(this.done, 'dispatcher return');
      if (this.handle) await bounded(this.handle.exited, 'dispatcher exit');
    } finally {
      this.handle?.kill();
    }
  }
}

async function withRig(fn: (r: Rig) => Promise<void>, daemonUrl?: string): Promise<void> {
  const r = new Rig();
  try {
    await r.start(daemonUrl);
    await fn(r);
  } finally {
    await r.close();
  }
}

test('READY carries the resolved port; SHUTDOWN sends EXIT to each daemon and returns', () =>
  withRig(async (r) => {
    const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(r.url);
    assert.ok(m && Number(m[1]) > 0, r.url);
    await r.counters({});
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    await r.counters({ connections: 2 });
    await send(r.host, K.SHUTDOWN, 0);
    await expect(a, K.EXIT);
    await expect(b, K.EXIT);
    a.close();
    b.close();
    await bounded(r.done!, 'return after SHUTDOWN');
  }, 'tcp://127.0.0.1:0'));

test('no host: rejects; READY { error } for a port in use, a bad URL, TLS on plain tcp, bad PEM', async () => {
  const busy = new Socket('pair');
  const taken = busy.listen('tcp://127.0.0.1:0').url;
  const key = writeCert().server;
  const cases: Array<[string, DispatcherOptions['tls'], RegExp]> = [
    [taken, undefined, /in use/i],
    ['nope://x', undefined, /./],
    ['tcp://127.0.0.1:0', { cert: key[0], key: key[1] }, /not a tls\+tcp/],
    ['tls+tcp://127.0.0.1:0', { cert: 'garbage', key: 'garbage' }, /tls\.cert/],
  ];
  try {
    const unreachable = await runDispatcher({
      hostUrl: `inproc://nobody-${uniq()}`,
      daemonUrl: 'inproc://x',
      secret: SECRET,
    }).catch((e) => e);
    assert.match(String(unreachable), /cannot reach the host/);
    for (const [url, tls, re] of cases) {
      const r = new Rig();
      try {
        r.done = runDispatcher({ hostUrl: r.hostUrl, daemonUrl: url, tls, secret: SECRET });
        const res = await r.ready();
        assert.ok(res.error && re.test(res.error), `${url}: ${res.error}`);
      } finally {
        await r.close();
      }
    }
  } finally {
    busy.close();
  }
});

test('FIFO on one daemon, one task at a time, exact counters, payloads over 1 MB intact', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    for (let i = 1; i <= 5; i++) await send(r.host, K.TASK, i, 0, i === 3 ? big : Buffer.from(`task ${i}`));
    await r.counters({ connections: 1, awaiting: 4, executing: 1 });
    for (let i = 1; i <= 5; i++) {
      const t = await expect(d, K.TASK, i);
      assert.ok(t.body.subarray(8).equals(i === 3 ? big : Buffer.from(`task ${i}`)));
      if (i <= 2) await silent(d); // the next task waits for this result
      await send(d, K.RESULT, i, 0, i === 3 ? big : Buffer.from(`result ${i}`));
      const res = await expect(r.host, K.RESULT, i);
      assert.is(res.body.length, 8 + (i === 3 ? big.length : `result ${i}`.length));
      await r.counters({ connections: 1, awaiting: Math.max(0, 4 - i), executing: i < 5 ? 1 : 0, completed: i });
    }
  }));

test('two daemons: a queued task goes to whichever is free first', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    const ida = (await expect(a, K.TASK)).id;
    const idb = (await expect(b, K.TASK)).id;
    assert.equal([ida, idb].sort(), [1, 2]);
    await r.counters({ connections: 2, awaiting: 1, executing: 2 });
    await send(b, K.RESULT, idb);
    await expect(r.host, K.RESULT, idb);
    await expect(b, K.TASK, 3);
    await send(a, K.RESULT, ida);
    await expect(r.host, K.RESULT, ida);
    await silent(a);
    await r.counters({ connections: 2, executing: 1, completed: 2 });
    await send(b, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 2, completed: 3 });
  }));

test('CANCEL: queued task answered 20 and never delivered; running task forwarded once', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    await expect(d, K.TASK, 1);
    await send(r.host, K.CANCEL, 2);
    await expect(r.host, K.ERROR_VALUE, 2, 20);
    await send(r.host, K.CANCEL, 99); // unknown: ignored
    await r.counters({ connections: 1, awaiting: 1, executing: 1, completed: 1 });
    await send(r.host, K.CANCEL, 1);
    await send(r.host, K.CANCEL, 1);
    await expect(d, K.CANCEL, 1);
    await silent(d);
    await send(d, K.ERROR_VALUE, 1, 20);
    await expect(r.host, K.ERROR_VALUE, 1, 20);
    await expect(d, K.TASK, 3); // task 2 never reaches the daemon
    await send(d, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 1, completed: 3 });
  }));

test('a daemon leaving mid-task: ErrorValue 19 for its task and pending EVERYWHERE; others carry on', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    for (const i of [1, 2, 3]) await send(r.host, K.TASK, i);
    const ida = (await expect(a, K.TASK)).id;
    const idb = (await expect(b, K.TASK)).id;
    await send(r.host, K.EVERYWHERE, 200, 0, Buffer.from('setup'));
    await expect(r.host, K.EVERYWHERE_ACK, 200, 2);
    a.close();
    const got = [await recv(r.host), await recv(r.host), await recv(r.host)].map((m) => `${m.kind}:${m.id}:${m.flags}`);
    assert.equal(got.sort(), [`${K.CONNECTIONS}:1:0`, `${K.ERROR_VALUE}:${ida}:19`, `${K.ERROR_VALUE}:200:19`].sort());
    await r.counters({ connections: 1, awaiting: 1, executing: 1, completed: 1 });
    await send(b, K.RESULT, idb);
    await expect(r.host, K.RESULT, idb);
    await expect(b, K.EVERYWHERE, 200); // before its next task
    await send(b, K.RESULT, 200);
    await expect(r.host, K.RESULT, 200);
    await expect(b, K.TASK, 3);
    await send(b, K.RESULT, 3);
    await expect(r.host, K.RESULT, 3);
    await r.counters({ connections: 1, completed: 3 });
  }));

test('DAEMON news and INFO: who connected (HELLO), what it runs, why it left (BYE flags), which task was lost', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    await send(a, K.HELLO, 0); // malformed (pid 0): dropped
    await a.send(hello(4242, 'somewhere'));
    const b = await r.daemon(2); // never says who it is
    await send(r.host, K.TASK, 7);
    await send(r.host, K.TASK, 8);
    await expect(a, K.TASK, 7);
    await expect(b, K.TASK, 8);
    await send(r.host, K.INFO_REQUEST, 0);
    const rows = v8.deserialize((await expect(r.host, K.INFO, 2)).body.subarray(8)) as DaemonRow[];
    assert.equal(
      rows.map(({ at: _at, ...rest }) => rest),
      [
        { daemon: 1, pid: 4242, hostname: 'somewhere', busy: true, task: 7, tasksDone: 0 },
        { daemon: 2, busy: true, task: 8, tasksDone: 0 },
      ],
    );
    await send(a, K.RESULT, 7);
    await expect(r.host, K.RESULT, 7);
    await send(a, K.BYE, 0, BYE_IDLE_TIME);
    await expect(a, K.EXIT, 0);
    a.close();
    await expect(r.host, K.CONNECTIONS, 1);
    b.close(); // while running task 8
    await expect(r.host, K.CONNECTIONS, 0);
    await expect(r.host, K.ERROR_VALUE, 8, 19);
    const news = (newsOf.get(r.host) ?? []).map(({ at: _at, ...rest }) => rest);
    assert.equal(news, [
      { type: 'connect', daemon: 1, pid: 4242, hostname: 'somewhere' },
      { type: 'disconnect', daemon: 1, hint: 'idleTime', tasksDone: 1 },
      { type: 'connect', daemon: 2 }, // told at its departure: it never sent a HELLO
      { type: 'disconnect', daemon: 2, tasksDone: 0 },
      { type: 'taskLost', daemon: 2, task: 8, retried: false },
    ]);
    await r.counters({ completed: 2 }, 1);
  }));

/** The loss is settled a tick after CONNECTIONS (a last result may still be on its way):
 *  waits until both tasks are queued again. */
async function requeued(r: Rig): Promise<void> {
  const until = Date.now() + WAIT;
  while ((await r.status()).awaiting !== 2) if (Date.now() > until) throw new Error('tasks not re-queued');
}

test('TASK flags = retry budget: a lost task is re-queued first, byte for byte, until the budget is spent (then 19)', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const payload = Buffer.from('task with retries');
    await send(r.host, K.TASK, 1, 2, payload); // two retries
    await send(r.host, K.TASK, 2);
    const first = await expect(a, K.TASK, 1, 2);
    a.close();
    await expect(r.host, K.CONNECTIONS, 0);
    await requeued(r);
    await r.counters({ awaiting: 2 }); // back in the queue, nothing answered
    const b = await r.daemon(1);
    const again = await expect(b, K.TASK, 1); // ahead of task 2, which was queued behind it
    assert.ok(again.body.equals(first.body), 'the same message');
    b.close();
    await expect(r.host, K.CONNECTIONS, 0);
    await requeued(r);
    const c = await r.daemon(1);
    await expect(c, K.TASK, 1);
    c.close(); // budget spent: settled now
    const got = [await recv(r.host), await recv(r.host)].map((m) => `${m.kind}:${m.id}:${m.flags}`);
    assert.equal(got.sort(), [`${K.CONNECTIONS}:0:0`, `${K.ERROR_VALUE}:1:19`].sort());
    const d = await r.daemon(1);
    await expect(d, K.TASK, 2);
    await send(d, K.RESULT, 2);
    await expect(r.host, K.RESULT, 2);
    await r.counters({ connections: 1, completed: 2 });
  }));

test('EVERYWHERE reaches each daemon once before its next task, and is replayed in order to late joiners', () =>
  withRig(async (r) => {
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    const p100 = Buffer.from('everywhere 100');
    await send(r.host, K.TASK, 1);
    const a1 = await expect(a, K.TASK, 1);
    assert.ok(a1);
    await send(r.host, K.EVERYWHERE, 100, 0, p100);
    await expect(r.host, K.EVERYWHERE_ACK, 100, 2);
    const eb = await expect(b, K.EVERYWHERE, 100); // idle: at once
    assert.ok(eb.body.subarray(8).equals(p100));
    await send(r.host, K.TASK, 2); // both busy: queued
    await send(a, K.RESULT, 1);
    await expect(r.host, K.RESULT, 1);
    await expect(a, K.EVERYWHERE, 100); // before task 2
    await send(b, K.RESULT, 100);
    await expect(r.host, K.RESULT, 100);
    await expect(b, K.TASK, 2);
    await send(a, K.RESULT, 100);
    await expect(r.host, K.RESULT, 100);
    await silent(a);
    await send(r.host, K.EVERYWHERE, 101, 0, Buffer.from('everywhere 101'));
    await expect(r.host, K.EVERYWHERE_ACK, 101, 2);
    await expect(a, K.EVERYWHERE, 101);
    await send(a, K.RESULT, 101);
    await expect(r.host, K.RESULT, 101);
    // Keep a busy, then a late joiner: replays 100 and 101 in order before its first task.
    await send(r.host, K.TASK, 3);
    await expect(a, K.TASK, 3);
    const c = await r.daemon(3);
    const rc = await expect(c, K.EVERYWHERE, 100);
    assert.ok(rc.body.subarray(8).equals(p100));
    await send(r.host, K.TASK, 4); // queued behind the replays
    await send(c, K.RESULT, 100);
    await expect(c, K.EVERYWHERE, 101);
    await send(c, K.ERROR_VALUE, 101, 20);
    await expect(c, K.TASK, 4);
    await send(c, K.RESULT, 4);
    await expect(r.host, K.RESULT, 4); // replay results were not forwarded
    await r.counters({ connections: 3, executing: 2, completed: 2 });
  }));

test('garbage from the host and daemons is dropped and counted; the dispatcher keeps serving', () =>
  withRig(async (r) => {
    const d = await r.daemon(1);
    const e = await r.daemon(2);
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const garbage = (): Buffer => {
      const b = Buffer.alloc(rand(4) === 0 ? rand(8) : 8 + rand(40));
      for (let i = 0; i < b.length; i++) b[i] = rand(256);
      if (b.length >= 8 && rand(2) === 0) b[0] = 2; // right version, then a kind the host may not send
      if (b.length >= 2 && b[0] === 2 && b[1]! >= 1 && b[1]! <= 5) b[1] = 6 + rand(200);
      return b;
    };
    const n = 300;
    for (let i = 0; i < n; i++) {
      await r.host.send(garbage());
      await (i % 2 ? d : e).send(garbage()); // idle daemons: anything they send is unexpected
    }
    await send(r.host, K.TASK, 1, 0, Buffer.from('x'));
    const on = await Promise.race([expect(d, K.TASK, 1).then(() => d), expect(e, K.TASK, 1).then(() => e)]);
    await send(on, K.RESULT, 7); // not the id it runs
    await send(on, K.RESULT, 1);
    await expect(r.host, K.RESULT, 1);
    const deadline = Date.now() + WAIT;
    let c = await r.status();
    while (c.dropped < 2 * n + 1 && Date.now() < deadline) c = await r.status();
    assert.equal(c, { connections: 2, awaiting: 0, executing: 0, completed: 1, dropped: 2 * n + 1, rejected: 0 });
  }));

test('closing the host socket makes the dispatcher tell daemons to exit and return', async () => {
  const r = new Rig();
  try {
    await r.start();
    const d = await r.daemon(1);
    await send(r.host, K.TASK, 1);
    await expect(d, K.TASK, 1);
    r.host.close();
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.done!, 'return after the host left');
  } finally {
    await r.close();
  }
});

test("startDispatcher('thread'): READY, STATUS, a task over ipc, SHUTDOWN ends the worker", async () => {
  const r = new Rig();
  try {
    r.handle = startDispatcher('thread', { hostUrl: r.hostUrl, daemonUrl: ipc(), secret: SECRET });
    assert.ok((await r.ready()).url?.startsWith('ipc://'));
    const d = await r.daemon(1);
    await send(r.host, K.TASK, 5, 0, Buffer.from('hi'));
    await expect(d, K.TASK, 5);
    await send(d, K.RESULT, 5);
    await expect(r.host, K.RESULT, 5);
    await r.counters({ connections: 1, completed: 1 });
    await send(r.host, K.SHUTDOWN, 0);
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.handle.exited, 'worker exit');
  } finally {
    await r.close();
  }
});

test("'process' mode: TLS keys over stdin, a task over tls+tcp, the host leaving ends the process", async () => {
  const r = new Rig(ipc());
  const [cert, key] = writeCert({ cn: '127.0.0.1' }).server;
  const client = new TlsConfig({ mode: 'client', ca: cert });
  try {
    r.handle = startDispatcher('process', {
      hostUrl: r.hostUrl,
      daemonUrl: 'tls+tcp://127.0.0.1:0',
      tls: { cert, key },
      secret: SECRET,
    });
    assert.match((await r.ready()).url!, /^tls\+tcp:\/\/127\.0\.0\.1:[1-9]/);
    await r.counters({});
    const d = await r.daemon(1, client);
    await send(r.host, K.TASK, 9, 0, Buffer.from('over tls'));
    assert.ok((await expect(d, K.TASK, 9)).body.subarray(8).equals(Buffer.from('over tls')));
    await send(d, K.RESULT, 9);
    await expect(r.host, K.RESULT, 9);
    await r.counters({ connections: 1, completed: 1 });
    r.host.close(); // as if the host were killed
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.handle.exited, 'dispatcher process exit');
  } finally {
    await r.close();
    client.close();
  }
});

test('`mirai dispatcher` rejects bad arguments with exit code 1 and a message', async () => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const child = spawn(process.execPath, [cli, 'dispatcher', 'only-one'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  try {
    const code = await bounded(new Promise((res) => child.once('exit', res)), 'cli exit');
    assert.is(code, 1);
    assert.match(err, /expected 2 URLs/);
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();
