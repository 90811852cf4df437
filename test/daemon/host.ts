// The daemon as a real process (dist/cli.js) against a fake host: a `poly` socket speaking the
// wire format of lib/wire/protocol.ts. Shared by the test/daemon/*.test.ts files. Every wait is
// bounded; every child, socket and ipc file is tracked and removed by cleanup() (each file's
// test.after, and at process exit).
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { EMULATED, nodeWords } from '../helpers';
import { Socket } from '../../dist/nng';
import { FLAG_LAST, header, Kind, readHello, splitBatch } from '../../dist/wire/protocol';
import { SECRET, secretEnv } from '../fixtures/auth';
import { Gate } from '../../dist/wire/auth';

export const K = { ...Kind, FLAG_LAST };
export const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');
/** Bounds for one step; wine and qemu-user run TLS handshakes several times slower. */
export const WAIT = EMULATED ? 15_000 : 5000;
export const children = new Set<ChildProcess>();
const sockets = new Set<Socket>();
const ipcFiles = new Set<string>();
export const ipc = (): string => {
  const file = path.join(os.tmpdir(), `mirai-dt-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
  ipcFiles.add(file); // removed at the end: a host killed with SIGKILL leaves its socket file
  return `ipc://${file}`;
};
/** Tracks a socket a test made by hand, so that cleanup() closes it. */
export const track = (s: Socket): Socket => (sockets.add(s), s);

export interface Daemon {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: string | null; at: number }>;
}
export interface Reply {
  kind: number;
  flags: number;
  id: number;
  value?: any;
}

export function spawnDaemon(args: string[], env = secretEnv()): Daemon {
  const [node, ...prefix] = nodeWords();
  const child = spawn(node, [...prefix, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  let err = '',
    out = '';
  child.stderr!.on('data', (c) => (err += c));
  child.stdout!.on('data', (c) => (out += c));
  // Settled on 'close', once stdout and stderr have ended: at 'exit' the daemon's last words
  // ("mirai daemon: walltime") may still be in the pipe. `at` is when it exited.
  let at = 0;
  child.once('exit', () => {
    at = Date.now();
    children.delete(child);
  });
  const exit = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, at: at || Date.now() })),
  );
  return { child, stderr: () => err, stdout: () => out, exit };
}

export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t!));
}

export class Host {
  readonly sock = new Socket('poly', { recvMaxSize: 0 });
  readonly url: string;
  pipe = 0;
  #added: Array<() => void> = [];
  /** Each daemon proves it knows SECRET (lib/wire/auth.ts) before it counts as connected. */
  readonly gate = new Gate(this.sock, SECRET, (pipe) => {
    this.pipe = pipe;
    this.#proved.add(pipe);
    this.#added.splice(0).forEach((f) => f());
  });
  constructor(url = ipc()) {
    sockets.add(this.sock);
    this.url = this.sock.listen(url).url;
    this.sock.onPipe((e) => {
      if (e.type === 'add') this.gate.added(e.pipe.id);
    });
    void this.#loop();
  }
  /** Messages for body(), in order of arrival. */
  #inbox: Buffer[] = [];
  /** Pipes that proved themselves: as in the real host, nothing else reaches body(). */
  readonly #proved = new Set<number>();
  /** Messages dropped because their pipe had not proved itself (or is being challenged anew). */
  stray = 0;
  #wake: (() => void) | undefined;
  /**
   * One receive loop, routing by pipe: proofs go to the gate, HELLOs are recorded, the rest
   * waits for body(). (A receive per new pipe could take another pipe's message instead.)
   */
  async #loop(): Promise<void> {
    while (!this.sock.closed) {
      let m;
      try {
        m = await this.sock.recv();
      } catch {
        continue; // closed (the loop ends), or a transient error
      }
      if (this.gate.holds(m.pipe)) {
        try {
          this.gate.message(m.pipe, m.body);
        } catch {
          // the socket closed meanwhile
        }
      } else if (!this.#proved.has(m.pipe)) {
        this.stray++; // the real host refuses such a pipe (lib/host/host.ts #onMessage)
      } else if (m.body[1] === K.HELLO) {
        const who = readHello(m.body);
        if (who !== null && !this.hellos.has(m.pipe)) this.hellos.set(m.pipe, who);
        else this.badHellos++;
      } else {
        this.#inbox.push(m.body);
        this.#wake?.();
      }
    }
  }
  /** Resolves once the next daemon has proved itself. */
  admitted(): Promise<void> {
    return new Promise<void>((r) => this.#added.push(r));
  }
  /** Spawns a daemon and waits for its connection. */
  async daemon(...flags: string[]): Promise<Daemon> {
    const connected = new Promise<void>((r) => this.#added.push(r));
    const d = spawnDaemon(['daemon', this.url, ...flags]);
    await bounded(
      Promise.race([
        connected,
        d.exit.then(() => {
          throw new Error(`daemon exited: ${d.stderr()}`);
        }),
      ]),
      WAIT,
      'connection',
    );
    return d;
  }
  send(kind: Kind, id: number, payload?: unknown): Promise<void> {
    const parts = payload === undefined ? header(kind, id) : [header(kind, id), v8.serialize(payload)];
    return this.sock.send(parts, { pipe: this.pipe });
  }
  raw(b: Buffer): Promise<void> {
    return this.sock.send(b, { pipe: this.pipe });
  }
  /** Who each daemon said it is (its HELLO, which comes before any reply), by pipe. */
  readonly hellos = new Map<number, { pid: number; hostname: string }>();
  /** Malformed HELLOs, or a second one on a connection. */
  badHellos = 0;
  /** The next message that is neither a proof nor a HELLO; rejects with ETIMEDOUT after timeout. */
  async body(timeout = WAIT): Promise<Buffer> {
    const end = Date.now() + timeout;
    while (this.#inbox.length === 0) {
      const left = end - Date.now();
      if (left <= 0 || this.sock.closed)
        throw Object.assign(new Error('timed out waiting for a message'), { errno: 'ETIMEDOUT' });
      let t: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        t = setTimeout(resolve, left);
      });
      clearTimeout(t);
      this.#wake = undefined;
    }
    return this.#inbox.shift()!;
  }
  async recv(timeout = WAIT): Promise<Reply> {
    const b = await this.body(timeout);
    return {
      kind: b[1]!,
      flags: b.readUInt16LE(2),
      id: b.readUInt32LE(4),
      value: b.length > 8 ? v8.deserialize(b.subarray(8)) : undefined,
    };
  }
  /** Runs a task ('f': function source, 'c': code string) and returns its reply. */
  async run(
    id: number,
    src: string | ((...args: never[]) => unknown),
    data?: unknown,
    kind: Kind = K.TASK,
    type = typeof src === 'function' ? 'f' : 'c',
  ): Promise<Reply> {
    await this.send(kind, id, { type, src: String(src), data });
    return this.recv();
  }
  async value(id: number, src: string | ((...args: never[]) => unknown), data?: unknown, type?: string): Promise<any> {
    const r = await this.run(id, src, data, K.TASK, type);
    assert.equal([r.kind, r.id, r.flags], [K.RESULT, id, 0], `task ${id}: ${JSON.stringify(r.value)}`);
    return r.value;
  }
}

/** Kills every daemon still running, closes every socket, removes every ipc file. */
export const cleanup = (): void => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of sockets) s.close();
  for (const f of ipcFiles) fs.rmSync(f, { force: true });
  children.clear();
  sockets.clear();
  ipcFiles.clear();
};
process.on('exit', cleanup); // also when uvu stops early

/** Every reply of the next message(s) until `n` have come, BATCHes opened. */
export async function replies(h: Host, n: number): Promise<{ got: Reply[]; messages: number }> {
  const got: Reply[] = [];
  let messages = 0;
  while (got.length < n) {
    const b = await h.body();
    messages++;
    const items = b[1] === K.BATCH ? splitBatch(b) : [b];
    assert.ok(items, 'a well-formed BATCH from the daemon');
    for (const m of items!)
      got.push({
        kind: m[1]!,
        flags: m.readUInt16LE(2),
        id: m.readUInt32LE(4),
        value: m.length > 8 ? v8.deserialize(m.subarray(8)) : undefined,
      });
  }
  return { got, messages };
}

export const taskParts = (tid: number, x: number): Buffer[] => [
  header(K.TASK, tid),
  v8.serialize({ type: 'c', src: 'x * 2', data: { x } }),
];

/**
 * One host and its daemon shared by the tests of a file: made when the file's suite starts (its
 * before hook), torn down with everything else after it (cleanup).
 */
export function sharedDaemon(suite: { before(fn: () => Promise<void>): void; after(fn: () => unknown): void }): {
  readonly host: Host;
} {
  const shared = {} as { host: Host };
  suite.before(async () => {
    shared.host = new Host();
    await shared.host.daemon();
  });
  suite.after(cleanup);
  return shared;
}
