// The dispatcher against a real host `pair` socket and fake daemons made of real `pair` sockets
// that answer with protocol headers themselves: the rig shared by test/dispatcher/*.test.ts.
// Every wait is bounded.
import * as assert from 'uvu/assert';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Socket, type TlsConfig } from '../../dist/nng';
import { header, decodeCounters, Kind, type Counters, type DaemonNews } from '../../dist/wire/protocol';
import { runDispatcher, type DispatcherOptions } from '../../dist/dispatcher/dispatcher';
import type { DispatcherHandle } from '../../dist/dispatcher/main';
import { admit, prove, SECRET } from '../fixtures/auth';
export const K = Kind;
export const WAIT = 3000;
let seq = 0;
export const uniq = (): string => `${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
export const ipc = (): string => `ipc://${path.join(os.tmpdir(), `mirai-disp-${uniq()}.sock`)}`;

export interface Msg {
  kind: number;
  flags: number;
  id: number;
  body: Buffer;
}

/** DAEMON news a host socket received (daemonEvents()): kept aside, so other tests need not expect them. */
export const newsOf = new WeakMap<Socket, DaemonNews[]>();

export async function recv(s: Socket, timeout = WAIT): Promise<Msg> {
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

export async function expect(s: Socket, kind: number, id?: number, flags?: number): Promise<Msg> {
  const m = await recv(s);
  assert.is(m.kind, kind, `kind ${m.kind} (id ${m.id}), expected ${kind}`);
  if (id !== undefined) assert.is(m.id, id, `id of kind ${kind}`);
  if (flags !== undefined) assert.is(m.flags, flags, `flags of kind ${kind} id ${m.id}`);
  return m;
}

/** Nothing arrives within a short bound (for "never two at once" / "not forwarded"). */
export async function silent(s: Socket, ms = 60): Promise<void> {
  const got = await s.recv({ timeout: ms }).then(
    (m) => Buffer.from(m.body),
    (e) => e,
  );
  assert.ok(got instanceof Error && (got as { errno?: string }).errno === 'ETIMEDOUT', 'unexpected message');
}

export function bounded<T>(p: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let t: NodeJS.Timeout;
  const limit = new Promise<never>(
    (_, rej) => (t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

export const send = (
  s: Socket,
  kind: (typeof Kind)[keyof typeof Kind],
  id: number,
  flags = 0,
  payload?: Buffer,
): Promise<void> => s.send(payload ? [header(kind, id, flags), payload] : header(kind, id, flags));

/** A host socket listening, a dispatcher linked to it, and fake daemons. */
export class Rig {
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

export async function withRig(fn: (r: Rig) => Promise<void>, daemonUrl?: string): Promise<void> {
  const r = new Rig();
  try {
    await r.start(daemonUrl);
    await fn(r);
  } finally {
    await r.close();
  }
}
