import type { NativeEndpoint } from './native';
import { getOptionOf, setOptionOn, type SocketOptionValues } from './options';

/** A listener or dialer of a socket. `url` carries the real port when port 0 was asked. */
export class Endpoint {
  readonly #native: NativeEndpoint;
  readonly kind: 'listener' | 'dialer';
  /** @internal */
  constructor(native: NativeEndpoint, kind: 'listener' | 'dialer') {
    this.#native = native;
    this.kind = kind;
  }
  get url(): string {
    return this.#native.url;
  }
  get id(): number {
    return this.#native.id;
  }
  /** Sets a transport option (e.g. reconnectMinTime on a dialer, recvMaxSize). */
  setOption<K extends keyof SocketOptionValues>(name: K, value: SocketOptionValues[K]): void {
    setOptionOn(this.#native, name, value);
  }
  getOption<K extends keyof SocketOptionValues>(name: K): SocketOptionValues[K] {
    return getOptionOf(this.#native, name);
  }
  /** Stops listening / dialing; connections already made through it close. Idempotent. */
  close(): void {
    this.#native.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

export type Listener = Endpoint;
export type Dialer = Endpoint;
