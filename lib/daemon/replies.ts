/**
 * How a daemon answers its host: RESULT / ERROR_VALUE / BYE messages (lib/wire/protocol.ts). One
 * header buffer is reused (the addon copies on send); once the host has sent a BATCH, the replies
 * of one tick leave as one message too; and the last send is remembered, so that a daemon about to
 * exit can give its last reply time to leave (NNG's close does not linger).
 */
import * as v8 from 'node:v8';
import { serializePayload } from '../wire/codec';
import { toErrorPayload } from '../wire/errors';
import { compileFunction, trimStack } from './evaluate';
import type { Socket } from '../nng/socket';
import { batchParts, FLAG_ERROR, header, HEADER_SIZE, Kind, PROTOCOL_VERSION } from '../wire/protocol';
import { daemonCodec } from '../wire/serial';

export class Replies {
  readonly #socket: Socket;
  readonly #hdr = Buffer.alloc(HEADER_SIZE);
  readonly #parts: Buffer[] = [this.#hdr, this.#hdr];
  /** Set once the host batches: replies of one tick are sent together (see #flush). */
  batching = false;
  /** The largest message the host accepts (0: any): a bigger result becomes an error. */
  maxBytes = 0;
  /**
   * False while no host that proved itself is connected: replies are dropped then, as NNG would
   * hand them to the next connection ahead of its handshake (DaemonLoop#disconnected).
   */
  open = false;
  #outbox: Buffer[][] = [];
  #outboxBytes = 0;
  #last: Promise<void> | undefined;
  #lastAt = 0;
  #lastBytes = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.#hdr[0] = PROTOCOL_VERSION;
  }

  /** A task's value (custom serialization applied); a value that cannot be sent becomes an error. */
  value(id: number, v: unknown, flags: number): void {
    let payload: Buffer;
    try {
      const codec = daemonCodec(compileFunction);
      payload = serializePayload(codec === undefined ? v : codec.pack(v));
      if (this.maxBytes > 0 && payload.length + HEADER_SIZE + 4 > this.maxBytes) {
        throw new RangeError(
          `it is ${payload.length} bytes, more than the host's maxMessageSize of ${this.maxBytes} bytes`,
        );
      }
    } catch (e) {
      const err = toErrorPayload(e);
      err.message = `the task's result could not be serialized: ${err.message}`;
      err.stack = `${err.name}: ${err.message}`;
      this.send(Kind.RESULT, id, flags | FLAG_ERROR, serializeError(err));
      return;
    }
    this.send(Kind.RESULT, id, flags, payload);
  }

  /** What a task threw, as an ErrorPayload (the daemon's own stack frames trimmed). */
  error(id: number, e: unknown, flags: number): void {
    const err = toErrorPayload(e);
    if (err.stack !== undefined) err.stack = trimStack(err.stack);
    hintUndefinedName(err);
    this.send(Kind.RESULT, id, flags | FLAG_ERROR, serializeError(err));
  }

  send(kind: Kind, id: number, flags: number, payload?: Buffer): void {
    if (this.batching) {
      const item = payload === undefined ? [header(kind, id, flags)] : [header(kind, id, flags), payload];
      const bytes = HEADER_SIZE + 4 + (payload?.length ?? 0);
      // A BATCH must stay within the host's limit too: send what is held first.
      if (this.maxBytes > 0 && this.#outboxBytes + bytes + HEADER_SIZE > this.maxBytes) this.flush();
      this.#outboxBytes += bytes;
      if (this.#outbox.push(item) === 1) queueMicrotask(this.flush);
      return;
    }
    const h = this.#hdr;
    h[1] = kind;
    h[2] = flags & 0xff;
    h[3] = (flags >>> 8) & 0xff;
    h.writeUInt32LE(id >>> 0, 4);
    if (payload === undefined) {
      this.#sent(h, HEADER_SIZE);
    } else {
      this.#parts[1] = payload;
      this.#sent(this.#parts, HEADER_SIZE + payload.length);
      this.#parts[1] = h;
    }
  }

  /** Sends the replies of this tick: one message, or a BATCH of several. */
  readonly flush = (): void => {
    const items = this.#outbox;
    if (items.length === 0) return;
    this.#outbox = [];
    this.#outboxBytes = 0;
    const parts = items.length === 1 ? items[0]! : batchParts(items);
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    this.#sent(parts, bytes);
  };

  /**
   * Before closing: the replies of this tick go out, and if one left within the last second,
   * resolves with how long to wait for it to leave (its write is usually done already);
   * otherwise undefined.
   */
  lingerBeforeClose(): Promise<number> | undefined {
    this.flush();
    const last = this.#last;
    if (last === undefined || Date.now() - this.#lastAt >= 1000) return undefined;
    const wait = Math.min(2000, 10 + Math.ceil(this.#lastBytes / 200_000));
    return last.then(
      () => wait,
      () => wait,
    );
  }

  #sent(data: Buffer | Buffer[], bytes: number): void {
    if (!this.open) return;
    let p: Promise<void>;
    try {
      p = this.#socket.send(data);
    } catch {
      return; // closed
    }
    p.then(undefined, noop);
    this.#last = p;
    this.#lastAt = Date.now();
    this.#lastBytes = bytes;
  }
}

/**
 * The mistake every newcomer makes: using a variable of the calling code inside a task. Says
 * what a task can see, in the message itself (and the stack's first line).
 */
function hintUndefinedName(err: ReturnType<typeof toErrorPayload>): void {
  if (err.name !== 'ReferenceError') return;
  const m = /^(\S+) is not defined$/.exec(err.message);
  if (!m) return;
  const before = err.message;
  err.message = `${before} (a task sees only its data, the daemon's globals and what everywhere() defined: pass '${m[1]}' in the task's data)`;
  if (err.stack?.startsWith(`ReferenceError: ${before}`))
    err.stack = `ReferenceError: ${err.message}${err.stack.slice(16 + before.length)}`;
}

function serializeError(p: ReturnType<typeof toErrorPayload>): Buffer {
  try {
    return v8.serialize(p);
  } catch {
    return v8.serialize({ name: String(p.name), message: String(p.message), stack: p.stack, props: {} });
  }
}

function noop(): void {}
