/**
 * The wire format, defined once. Every message between host, dispatcher and daemons is an
 * 8-byte header followed by an optional payload (the structured clone, see lib/wire/codec.ts):
 *
 *   byte 0     version (PROTOCOL_VERSION)
 *   byte 1     kind (Kind)
 *   bytes 2-3  flags (u16 LE; for ERROR_VALUE the error code)
 *   bytes 4-7  id (u32 LE: task id, or a count for CONNECTIONS / EVERYWHERE_ACK)
 *
 * The dispatcher routes on the header alone (readHeader reads a Message in place) and forwards
 * bodies as they came, never decoding or copying a payload.
 */
import { deserializePayload, serializePayload } from './codec';

/** 2: connections open with the handshake of lib/wire/auth.ts. */
export const PROTOCOL_VERSION = 2;
export const HEADER_SIZE = 8;

/**
 * Message kinds. A plain object (not a `const enum`, which tsc erases), so that tests and tools
 * can import the names the wire uses instead of re-typing the numbers.
 */
export const Kind = {
  // host -> dispatcher -> daemon
  /**
   * Run a task. Payload: TaskPayload. flags: its retry budget, read by the dispatcher (times to
   * re-queue it if its daemon is lost while running it); daemons ignore it.
   */
  TASK: 1,
  /** Cancel task `id` (queued: dropped; running: interrupted). No payload. */
  CANCEL: 2,
  /** Run on every daemon, now and on each daemon that joins later. Payload: TaskPayload. */
  EVERYWHERE: 3,
  // host -> dispatcher
  /** Ask for counters; answered by STATUS. */
  STATUS_REQUEST: 4,
  /** Tear down: daemons are told to exit, then the dispatcher exits. */
  SHUTDOWN: 5,
  /** Ask for one row per connected daemon (info()); answered by INFO. */
  INFO_REQUEST: 7,
  /**
   * Close daemon number `id`'s connection: the host saw its process exit and the connection
   * has not gone (a socket kept open elsewhere, as wine can). What it held is lost as on any
   * disconnect. No payload.
   */
  DROP: 8,
  // round-robin host <-> daemon, both ways
  /**
   * Several messages in one: id = how many; payload = for each, a u32 LE length and then the
   * message (header and payload). A round-robin host batches the TASK / EVERYWHERE messages of
   * one tick per daemon; a daemon that has received a BATCH batches the replies of the tasks it
   * runs back to back. (The dispatcher neither sends nor gets them: a daemon holds at most two
   * of its tasks, see RECALL.)
   */
  BATCH: 6,
  // daemon -> dispatcher -> host
  /** Task `id` finished. flags & FLAG_ERROR: payload is an ErrorPayload, else the value. */
  RESULT: 16,
  /** Task `id` ended without a result; flags = ErrorValue code (lib/wire/errors.ts Code). No payload. */
  ERROR_VALUE: 17,
  // dispatcher -> host
  /** Payload: 6 u32 LE: connections, awaiting, executing, completed, dropped, rejected. */
  STATUS: 18,
  /** The number of connected daemons changed; id = the new count. */
  CONNECTIONS: 19,
  /** EVERYWHERE `id` was sent to flags daemons; that many RESULTs follow. */
  EVERYWHERE_ACK: 20,
  /** First message of a dispatcher: payload v8 { url } (the daemons' URL, real port) or { error }. */
  READY: 21,
  // daemon -> dispatcher / host
  /**
   * The daemon wants to leave (idleTime, walltime): send it nothing more and answer EXIT. It
   * still runs what reached it before the EXIT, then exits. flags: why (BYE_IDLE_TIME,
   * BYE_WALLTIME; 0 from daemons that do not say).
   */
  BYE: 22,
  /**
   * Who the daemon is, sent once right after the handshake, ahead of anything else on that
   * connection: id = its pid, payload = its host name (UTF-8, at most HOSTNAME_MAX bytes).
   * Hosts and dispatchers of earlier versions drop it (it is counted there, nothing else).
   */
  HELLO: 23,
  // dispatcher -> host, off the task path
  /** Something happened to a daemon (daemonEvents()). Payload: v8 DaemonNews. */
  DAEMON: 24,
  /** Answer to INFO_REQUEST. Payload: v8 DaemonRow[] (connected daemons only). */
  INFO: 25,
  // daemon -> dispatcher
  /** Answer to RECALL: task `id` had not started and is dropped; the dispatcher sends it elsewhere. */
  RECALLED: 26,
  // daemon -> dispatcher / host, dispatcher -> host
  /**
   * Task `id` has started (sent only for tasks that carry a traceparent, so that the host's span
   * says where it ran). From a dispatcher, flags = the daemon's number. No payload.
   */
  STARTED: 27,
  // dispatcher -> daemon
  /** Exit now (teardown), or, after a BYE, once what the daemon holds has run. */
  EXIT: 32,
  /**
   * Give back task `id`, held while another runs (daemons({ prefetch })): answered RECALLED if it
   * has not started, else ignored (its RESULT follows as usual). No payload.
   */
  RECALL: 33,
  // the handshake on every new connection (lib/wire/auth.ts), listener <-> dialer
  /** Listener -> dialer: payload a 32-byte nonce. */
  CHALLENGE: 40,
  /** Dialer -> listener: payload its 32-byte nonce and a 32-byte HMAC. */
  PROOF: 41,
  /** Listener -> dialer: payload a 32-byte HMAC; the connection is trusted both ways. */
  WELCOME: 42,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export const FLAG_ERROR = 1;
/**
 * On a RESULT / ERROR_VALUE: the daemon's last answer (maxTasks reached); it exits after it
 * and must be given nothing more. ERROR_VALUE keeps its code in the low byte of flags.
 */
export const FLAG_LAST = 0x100;

/** BYE flags: why the daemon leaves. */
export const BYE_IDLE_TIME = 1;
export const BYE_WALLTIME = 2;

/** A decoded header. */
export interface Header {
  kind: Kind;
  flags: number;
  id: number;
}

/** Writes a header into a fresh 8-byte Buffer. */
export function header(kind: Kind, id: number, flags = 0): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = kind;
  b.writeUInt16LE(flags, 2);
  b.writeUInt32LE(id >>> 0, 4);
  return b;
}

/** What readHeader reads from: a Buffer, or a received Message (read in place, so a Message
 *  that is only routed is forwarded without its body ever being copied). */
export interface HeaderSource {
  readonly length: number;
  readUInt32LE(offset: number): number;
}

/**
 * The one header reader: kind, flags and id of a message (or of one BATCH item), or null when it
 * is shorter than a header or of another protocol version. Host, dispatcher and daemon all
 * decode headers here; the kind is not checked (callers drop kinds they do not take).
 */
export function readHeader(b: HeaderSource): Header | null {
  if (b.length < HEADER_SIZE) return null;
  const w0 = b.readUInt32LE(0);
  if ((w0 & 0xff) !== PROTOCOL_VERSION) return null;
  return { kind: ((w0 >>> 8) & 0xff) as Kind, flags: w0 >>> 16, id: b.readUInt32LE(4) };
}

/**
 * The parts of one BATCH message holding `items` (each the parts of one message): the addon
 * joins them, so nothing here copies a payload.
 */
export function batchParts(items: ReadonlyArray<readonly Buffer[]>): Buffer[] {
  const lengths = Buffer.allocUnsafe(4 * items.length);
  const parts: Buffer[] = [header(Kind.BATCH, items.length)];
  for (let i = 0; i < items.length; i++) {
    let len = 0;
    for (const p of items[i]!) len += p.length;
    lengths.writeUInt32LE(len, 4 * i);
    parts.push(lengths.subarray(4 * i, 4 * i + 4));
    for (const p of items[i]!) parts.push(p);
  }
  return parts;
}

/**
 * The messages of a BATCH (views of body, no copy), or null if it is malformed: a count that
 * disagrees, a length that runs past the end, or a message shorter than a header.
 */
export function splitBatch(body: Buffer): Buffer[] | null {
  if (body.length < HEADER_SIZE) return null;
  const count = body.readUInt32LE(4);
  const out: Buffer[] = [];
  let off = HEADER_SIZE;
  while (off < body.length) {
    if (off + 4 > body.length || out.length >= count) return null;
    const len = body.readUInt32LE(off);
    off += 4;
    if (len < HEADER_SIZE || off + len > body.length) return null;
    out.push(body.subarray(off, off + len));
    off += len;
  }
  return out.length === count ? out : null;
}

/** What a TASK / EVERYWHERE carries: the function source or code string, and its data. */
export interface TaskPayload {
  /** 'f': `src` is a function's source, called as fn(data, { signal }); 'c': a code string. */
  type: 'f' | 'c';
  src: string;
  data: unknown;
  /** W3C traceparent of the host's span for this task (OpenTelemetry), when one records. */
  trace?: string;
}

/** A task's error, as it crosses the wire (own properties kept; class identity is not). */
export interface ErrorPayload {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
}

/** header + the serialized payload as the two parts of one message (the addon joins them). */
export function encode(kind: Kind, id: number, payload: unknown, flags = 0): [Buffer, Buffer] {
  return [header(kind, id, flags), serializePayload(payload)];
}

/** Deserializes the payload after the header. Throws on garbage (callers count and drop). */
export function decodePayload<T>(body: Buffer): T {
  return deserializePayload(body.subarray(HEADER_SIZE)) as T;
}

/** STATUS payload. */
export interface Counters {
  connections: number;
  awaiting: number;
  executing: number;
  completed: number;
  /** Messages dropped: malformed, of a kind that peer may not send, or not the answer to what it runs. */
  dropped: number;
  /** Connections closed because they did not prove themselves (lib/wire/auth.ts). */
  rejected: number;
}

export function encodeCounters(c: Counters): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + 24);
  header(Kind.STATUS, 0).copy(b, 0);
  b.writeUInt32LE(c.connections, 8);
  b.writeUInt32LE(c.awaiting, 12);
  b.writeUInt32LE(c.executing, 16);
  b.writeUInt32LE(c.completed, 20);
  b.writeUInt32LE(c.dropped, 24);
  b.writeUInt32LE(c.rejected, 28);
  return b;
}

export function decodeCounters(b: Buffer): Counters | null {
  if (b.length < HEADER_SIZE + 24) return null;
  return {
    connections: b.readUInt32LE(8),
    awaiting: b.readUInt32LE(12),
    executing: b.readUInt32LE(16),
    completed: b.readUInt32LE(20),
    dropped: b.readUInt32LE(24),
    rejected: b.readUInt32LE(28),
  };
}

// ---- daemon identity, events and rows (daemonEvents(), info()) ----

/** Longest host name a HELLO carries (bytes); longer ones are cut. */
export const HOSTNAME_MAX = 255;

/** HELLO: the daemon's pid (header id) and host name. */
export function hello(pid: number, hostname: string): Buffer[] {
  let name = Buffer.from(hostname, 'utf8');
  if (name.length > HOSTNAME_MAX) name = name.subarray(0, HOSTNAME_MAX);
  return [header(Kind.HELLO, pid), name];
}

/** The pid and host name of a HELLO (header already read); null if malformed. */
export function readHello(body: Buffer): { pid: number; hostname: string } | null {
  if (body.length < HEADER_SIZE || body.length > HEADER_SIZE + HOSTNAME_MAX) return null;
  const pid = body.readUInt32LE(4);
  if (pid === 0) return null;
  return { pid, hostname: body.toString('utf8', HEADER_SIZE) };
}

/** Why a daemon left, as far as the side that saw it go can tell (its own word, or nothing). */
export type DepartureHint = 'maxTasks' | 'idleTime' | 'walltime';

/**
 * What a dispatcher (or a round-robin host's link) saw happen to one daemon: the DAEMON payload.
 * `daemon` is the daemon's number in its profile (from 1); `at` is Date.now() there.
 */
export type DaemonNews =
  | { type: 'connect'; daemon: number; pid?: number; hostname?: string; at: number }
  | { type: 'disconnect'; daemon: number; hint?: DepartureHint; tasksDone: number; at: number }
  | { type: 'taskLost'; daemon: number; task: number; retried: boolean; at: number };

/** One connected daemon as the side that routes to it sees it: the INFO payload holds these. */
export interface DaemonRow {
  daemon: number;
  pid?: number;
  hostname?: string;
  /** When it proved itself (Date.now()). */
  at: number;
  busy: boolean;
  /** The mirai it runs, if it runs one (an everywhere() run is busy without a task). */
  task?: number;
  tasksDone: number;
}

export function encodeNews(n: DaemonNews): [Buffer, Buffer] {
  return encode(Kind.DAEMON, n.daemon, n);
}

export function encodeInfo(rows: DaemonRow[]): [Buffer, Buffer] {
  return encode(Kind.INFO, rows.length, rows);
}
