/**
 * Who may be a daemon: a challenge-response on every new connection, before anything else
 * crosses it. The side that listens (the dispatcher for its daemons, a round-robin host for its
 * daemons, the host for its dispatcher) is the verifier; the side that dials proves itself.
 *
 *   verifier -> prover   CHALLENGE  nonce Nv (32 bytes)
 *   prover   -> verifier PROOF      nonce Np (32) ‖ HMAC-SHA256(key, "mirai/prover" ‖ Nv ‖ Np)
 *   verifier -> prover   WELCOME    HMAC-SHA256(key, "mirai/verifier" ‖ Np ‖ Nv); header id:
 *                                   the largest message the verifier accepts from now on (0: any)
 *
 * The secret never crosses the wire; both nonces are fresh per connection, so a recorded
 * handshake proves nothing later (no replay); the two labels keep one side's MAC from being
 * reflected as the other's. The prover checks WELCOME too, so a daemon that dialed an impostor
 * (a process that took over a dead host's port) runs none of its code. Comparisons are
 * constant-time. Until a connection is proved, the verifier sends it nothing but the challenge,
 * reads nothing from it but the proof, and closes it on anything else or after AUTH_TIMEOUT_MS.
 *
 * This authenticates peers, it does not encrypt: on tcp:// or ws:// an attacker on the path can
 * still read and alter traffic after the handshake; use tls+tcp:// across untrusted networks.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Pipe, type Socket } from '../nng';
import { header, HEADER_SIZE, Kind, PROTOCOL_VERSION } from './protocol';

/** Environment variable that carries the secret to a daemon (or a dispatcher) process. */
export const SECRET_ENV = 'MIRAI_SECRET';
/** How long a new connection has to prove itself before it is closed. */
export const AUTH_TIMEOUT_MS = 10000;
/** Most connections that may be proving themselves at once; more are closed at once. */
export const MAX_UNPROVEN = 256;
/** Shortest secret accepted from users (characters). */
export const MIN_SECRET_LENGTH = 16;
/** Largest frame an unproven peer may send (the proof is 72 bytes): the socket-wide receive
 *  limit, raised per connection once its peer has proved itself. */
export const HANDSHAKE_MAX_SIZE = 4096;
/** Default bound on any one message a host accepts from a daemon (daemons({ maxMessageSize })). */
export const DEFAULT_MAX_MESSAGE_SIZE = 1 << 30;
/** Largest settable bound (it travels as a u32); 0 means none. */
export const MAX_MESSAGE_SIZE_LIMIT = 0xffffffff;

const NONCE = 32;
const MAC = 32;
const PROVER = Buffer.from('mirai/prover');
const VERIFIER = Buffer.from('mirai/verifier');

/** A fresh secret for one set of daemons: 32 random bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Checks a user-given secret; returns it. */
export function checkSecret(secret: unknown, what: string): string {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || /[\0\r\n]/.test(secret)) {
    throw new TypeError(
      `${what}: secret must be a string of at least ${MIN_SECRET_LENGTH} characters without newlines`,
    );
  }
  return secret;
}

function mac(key: string, label: Buffer, a: Buffer, b: Buffer): Buffer {
  return createHmac('sha256', key).update(label).update(a).update(b).digest();
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A connection that is still proving itself. */
interface Unproven {
  nonce: Buffer;
  timer: NodeJS.Timeout;
}

/**
 * The verifier: owns the connections of `socket` that have not proved themselves yet. Feed it
 * every pipe event and every message of such a pipe; it calls `trusted(pipe)` once a pipe has
 * proved itself and closes the others. Counts what it refused in `rejected`.
 */
export class Gate {
  readonly #socket: Socket;
  readonly #key: string;
  readonly #trusted: (pipe: number) => void;
  readonly #unproven = new Map<number, Unproven>();
  readonly #maxSize: number;
  /** Connections closed, or gone, before they proved themselves. */
  rejected = 0;

  /**
   * The socket's `recvMaxSize` must be HANDSHAKE_MAX_SIZE (set before it listens); a pipe that
   * proves itself may then send messages of up to `maxSize` bytes (0: any).
   */
  constructor(socket: Socket, key: string, trusted: (pipe: number) => void, maxSize = 0) {
    this.#socket = socket;
    this.#key = key;
    this.#trusted = trusted;
    this.#maxSize = maxSize;
  }

  /** A pipe connected: challenge it. */
  added(pipe: number): void {
    if (this.#unproven.size >= MAX_UNPROVEN) {
      this.#reject(pipe);
      return;
    }
    const nonce = randomBytes(NONCE);
    const timer = setTimeout(() => this.#reject(pipe), AUTH_TIMEOUT_MS);
    timer.unref();
    this.#unproven.set(pipe, { nonce, timer });
    this.#socket.send([header(Kind.CHALLENGE, 0), nonce], { pipe }).catch(() => this.#reject(pipe));
  }

  /** A pipe went: true if it had not proved itself (so nobody else knows it; counted rejected). */
  removed(pipe: number): boolean {
    if (!this.#forget(pipe)) return false;
    this.rejected++;
    return true;
  }

  /** True while pipe is proving itself: its messages must go to `message`, nowhere else. */
  holds(pipe: number): boolean {
    return this.#unproven.has(pipe);
  }

  /** A message from an unproven pipe: a valid PROOF admits it, anything else closes it. */
  message(pipe: number, body: Buffer): void {
    const u = this.#unproven.get(pipe);
    if (u === undefined) return;
    if (body.length !== HEADER_SIZE + NONCE + MAC || body[0] !== PROTOCOL_VERSION || body[1] !== Kind.PROOF) {
      this.#reject(pipe);
      return;
    }
    const theirs = body.subarray(HEADER_SIZE, HEADER_SIZE + NONCE);
    const proof = body.subarray(HEADER_SIZE + NONCE);
    if (!same(proof, mac(this.#key, PROVER, u.nonce, theirs))) {
      this.#reject(pipe);
      return;
    }
    this.#forget(pipe);
    raiseLimit(this.#socket, pipe, this.#maxSize);
    // WELCOME is queued before anything the caller sends next, so it arrives first.
    this.#socket
      .send([header(Kind.WELCOME, this.#maxSize), mac(this.#key, VERIFIER, theirs, u.nonce)], { pipe })
      .catch(() => {});
    this.#trusted(pipe);
  }

  /** Stops every pending timer (the socket is closing). */
  close(): void {
    for (const u of this.#unproven.values()) clearTimeout(u.timer);
    this.#unproven.clear();
  }

  /**
   * A message from a pipe that is neither proving itself nor trusted: one that sent before it was
   * even challenged (its pipe event is still on its way). Honest peers never do: close it.
   */
  refuse(pipe: number): void {
    this.#reject(pipe);
  }

  #forget(pipe: number): boolean {
    const u = this.#unproven.get(pipe);
    if (u === undefined) return false;
    clearTimeout(u.timer);
    this.#unproven.delete(pipe);
    return true;
  }

  #reject(pipe: number): void {
    this.rejected++;
    this.#forget(pipe);
    try {
      new Pipe(pipe).close();
    } catch {
      // gone already
    }
  }
}

/** The prover's side of one connection. */
export class Proof {
  readonly #key: string | undefined;
  #expect: Buffer | undefined;
  /** The connection has been answered with a valid WELCOME. */
  trusted = false;
  /** The largest message the verifier accepts (from its WELCOME; 0: any). */
  maxSize = 0;

  /** key: the secret, or undefined when this side has none (every challenge then fails). */
  constructor(key: string | undefined) {
    this.#key = key;
  }

  /** A new connection: nothing is trusted on it until it is welcomed. */
  reset(): void {
    this.trusted = false;
    this.#expect = undefined;
  }

  /**
   * A message on a connection not trusted yet. Returns the PROOF to send for a CHALLENGE,
   * null when it was the expected WELCOME (now trusted) or something to drop, and throws an
   * Error that says why the peer cannot be trusted (no secret here, a wrong WELCOME).
   */
  handle(body: Buffer): Buffer[] | null {
    if (body.length < HEADER_SIZE) return null;
    const kind = body[1];
    if (kind === Kind.CHALLENGE && body.length === HEADER_SIZE + NONCE) {
      if (this.#key === undefined) {
        throw new Error(
          `the host requires a secret: give this process the secret of its daemons() call in ${SECRET_ENV}`,
        );
      }
      const theirs = body.subarray(HEADER_SIZE);
      const mine = randomBytes(NONCE);
      this.#expect = mac(this.#key, VERIFIER, mine, theirs);
      return [header(Kind.PROOF, 0), mine, mac(this.#key, PROVER, theirs, mine)];
    }
    if (kind === Kind.WELCOME && this.#expect !== undefined) {
      if (body.length !== HEADER_SIZE + MAC || !same(body.subarray(HEADER_SIZE), this.#expect)) {
        throw new Error('the host did not prove it knows the secret: refusing to run its tasks');
      }
      this.#expect = undefined;
      this.trusted = true;
      this.maxSize = body.readUInt32LE(4);
    }
    return null;
  }
}

/**
 * Lets a connection that has proved itself send messages of up to `bytes` (0: any). Connections
 * without a wire (inproc) have no limit to raise.
 */
export function raiseLimit(socket: Socket, pipe: number, bytes: number): void {
  try {
    socket.setPipeRecvMaxSize(pipe, bytes);
  } catch {
    // ENOTSUP (inproc), or ENOENT: the pipe has gone meanwhile
  }
}

/** The secret handed to this process in SECRET_ENV, removed from the environment so that
 *  task code and the processes it starts do not inherit it. */
export function takeSecretFromEnv(): string | undefined {
  const s = process.env[SECRET_ENV];
  delete process.env[SECRET_ENV];
  return s === undefined || s === '' ? undefined : s;
}
