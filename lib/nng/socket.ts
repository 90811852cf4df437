import { Context } from './context';
import { Endpoint, type Dialer, type Listener } from './endpoint';
import { NngError } from './errors';
import type { Message, SendData } from './message';
import { addon, type NativeSocket } from './native';
import { getOptionOf, OPTIONS, setOptionOn, type SocketOptionValues } from './options';
import { Pipe, type PipeEvent } from './pipe';
import { TlsConfig } from './tls';
import { timeoutArg, withSignal } from './timeouts';

/** The NNG protocols. `poly` is pair1 polyamorous: many peers, sends directed to a pipe. */
export type Protocol =
  'req' | 'rep' | 'pair' | 'poly' | 'bus' | 'push' | 'pull' | 'pub' | 'sub' | 'surveyor' | 'respondent';

export const PROTOCOLS: readonly Protocol[] = [
  'req',
  'rep',
  'pair',
  'poly',
  'bus',
  'push',
  'pull',
  'pub',
  'sub',
  'surveyor',
  'respondent',
];

export interface SocketInit extends Partial<SocketOptionValues> {
  /** Raw mode (no protocol state machine; for devices and routers). */
  raw?: boolean;
  /** sub: topics to subscribe to at once. */
  subscribe?: string | Buffer | Array<string | Buffer>;
}

export interface SendOptions {
  /** ms; default: the socket's sendTimeout (none unless set). */
  timeout?: number;
  /** poly sockets: the pipe (connection) id to send to. */
  pipe?: number | Pipe;
  signal?: AbortSignal;
}

export interface RecvOptions {
  /** ms; default: the socket's recvTimeout (none unless set). */
  timeout?: number;
  signal?: AbortSignal;
  /**
   * Raise SIGINT in this process, from NNG's thread, when the message received starts with
   * these bytes (at most 16). Lets a busy JavaScript thread be interrupted (vm breakOnSigint).
   */
  interrupt?: { prefix: Uint8Array };
}

export interface ListenOptions {
  tls?: TlsConfig;
}

export interface DialOptions {
  tls?: TlsConfig;
  /** Wait until connected (resolves the returned promise); default: connect in the background. */
  block?: boolean;
}

/** Called for each pipe event (a connection added or removed). */
export type PipeListener = (event: PipeEvent) => void;

/**
 * An NNG socket. Every operation is asynchronous on NNG's threads: nothing blocks the event loop.
 * A pending send/recv keeps the process alive; an idle socket does not. `close()` is idempotent
 * and rejects pending operations with ECLOSED; using a closed socket throws ECLOSED.
 */
export class Socket implements AsyncIterable<Message> {
  readonly protocol: Protocol;
  readonly raw: boolean;
  /** @internal */
  readonly native: NativeSocket;
  #pipeListeners: PipeListener[] = [];
  #closed = false;

  constructor(protocol: Protocol, init: SocketInit = {}) {
    if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) {
      throw new TypeError(`unknown protocol ${JSON.stringify(protocol)}: expected one of ${PROTOCOLS.join(', ')}`);
    }
    if (init === null || typeof init !== 'object') {
      throw new TypeError(`socket options must be an object (got ${String(init)})`);
    }
    for (const key of Object.keys(init)) {
      if (key !== 'raw' && key !== 'subscribe' && !(key in OPTIONS)) {
        throw new TypeError(
          `unknown socket option '${key}': expected raw, subscribe or one of ${Object.keys(OPTIONS).join(', ')}`,
        );
      }
    }
    this.protocol = protocol;
    this.raw = init.raw === true;
    this.native = new addon.Socket(protocol, this.raw);
    for (const [key, value] of Object.entries(init)) {
      if (key === 'raw' || value === undefined) continue;
      if (key === 'subscribe') {
        for (const topic of Array.isArray(value) ? value : [value]) this.subscribe(topic as string | Buffer);
      } else {
        this.setOption(key as keyof SocketOptionValues, value as never);
      }
    }
  }

  /** NNG's socket id. */
  get id(): number {
    return this.native.id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live counters: `pipes` is the number of connected peers. */
  get stats(): { pipes: number } {
    return { pipes: this.native.pipes };
  }

  /** Listens on url (inproc://, ipc://, abstract:// (Linux), tcp://, tls+tcp://, ws://, wss://). Port 0 picks one. */
  listen(url: string, opts: ListenOptions = {}): Listener {
    return new Endpoint(this.native.listen(url, nativeTls(opts.tls)), 'listener');
  }

  /** Dials url; reconnects in the background unless closed. With `block`, resolves once connected. */
  dial(url: string, opts?: DialOptions & { block?: false }): Dialer;
  dial(url: string, opts: DialOptions & { block: true }): Promise<Dialer>;
  dial(url: string, opts: DialOptions = {}): Dialer | Promise<Dialer> {
    const tls = nativeTls(opts.tls);
    if (opts.block) return this.native.dial(url, tls, true).then((d) => new Endpoint(d, 'dialer'));
    return new Endpoint(this.native.dial(url, tls, false), 'dialer');
  }

  /**
   * Sends one message; resolves once NNG has accepted it. An array is sent as one message.
   * Never throws: a closed socket or a bad argument rejects, so `.catch()` sees every failure.
   */
  send(data: SendData | SendData[], opts?: SendOptions): Promise<void> {
    try {
      if (opts === undefined) return this.native.send(data, -2, 0);
      const t = timeoutArg(opts.timeout, 'send');
      const pipe = opts.pipe === undefined ? 0 : typeof opts.pipe === 'number' ? opts.pipe : opts.pipe.id;
      return withSignal(opts.signal, this.native, () => this.native.send(data, t, pipe));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Receives one message. Never throws: a closed socket or a bad argument rejects. */
  recv(opts?: RecvOptions): Promise<Message> {
    try {
      if (opts === undefined) return this.native.recv(-2);
      const t = timeoutArg(opts.timeout, 'recv');
      const i = opts.interrupt;
      return withSignal(opts.signal, this.native, () => (i ? this.native.recv(t, i.prefix) : this.native.recv(t)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Cancels every pending send and recv on this socket (they reject with ECANCELED). */
  cancel(): void {
    this.native.cancel();
  }

  /** A new context on this socket (req, rep, surveyor, respondent, sub). */
  context(): Context {
    return new Context(new addon.Context(this.native));
  }

  /** sub sockets: receive messages starting with topic ('' for all). */
  subscribe(topic: string | Buffer): void {
    this.native.setOption('sub:subscribe', 'bytes', topic);
  }

  unsubscribe(topic: string | Buffer): void {
    this.native.setOption('sub:unsubscribe', 'bytes', topic);
  }

  setOption<K extends keyof SocketOptionValues>(name: K, value: SocketOptionValues[K]): void {
    setOptionOn(this.native, name, value);
  }

  getOption<K extends keyof SocketOptionValues>(name: K): SocketOptionValues[K] {
    return getOptionOf(this.native, name);
  }

  /**
   * Calls cb when a peer connects ('add') or leaves ('remove'). Returns a function that
   * removes the listener. Listening does not keep the process alive.
   */
  onPipe(cb: PipeListener): () => void {
    if (typeof cb !== 'function') throw new TypeError('onPipe expects a function');
    if (this.#pipeListeners.length === 0) {
      this.native.onPipe((ev, id) => {
        const event: PipeEvent = { type: ev === 1 ? 'add' : 'remove', pipe: new Pipe(id) };
        for (const l of [...this.#pipeListeners]) l(event);
      });
    }
    this.#pipeListeners.push(cb);
    return () => {
      this.#pipeListeners = this.#pipeListeners.filter((l) => l !== cb);
      if (this.#pipeListeners.length === 0 && !this.#closed) this.native.onPipe(null);
    };
  }

  /**
   * Sets the receive limit of one connection of this socket (see Pipe#setRecvMaxSize), e.g.
   * raised from a handshake-sized socket `recvMaxSize` once that peer has authenticated.
   */
  setPipeRecvMaxSize(pipe: number | Pipe, bytes: number): void {
    addon.setPipeRecvMaxSize(typeof pipe === 'number' ? pipe : pipe.id, bytes);
  }

  /** Pending operations keep the process alive (the default). */
  ref(): this {
    this.native.setRef(true);
    return this;
  }

  /** Operations started from now on do not keep the process alive (like net.Socket#unref). */
  unref(): this {
    this.native.setRef(false);
    return this;
  }

  /**
   * Raise SIGINT in this process whenever a connection of this socket is lost, so that a JS
   * thread stuck in synchronous code (run with vm breakOnSigint) can still notice.
   */
  interruptOnPipeRemove(on: boolean): void {
    this.native.interruptOnRemove(on);
  }

  /** Closes the socket, its endpoints and contexts. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#pipeListeners = [];
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Yields received messages until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (e) {
        if (e instanceof NngError && e.errno === 'ECLOSED') return;
        throw e;
      }
    }
  }
}

function nativeTls(tls: TlsConfig | undefined) {
  if (tls === undefined) return undefined;
  if (!(tls instanceof TlsConfig)) throw new TypeError('tls must be a TlsConfig');
  return tls.native;
}
