import { Handle } from './handle';
import type { NativeEndpoint } from './native';

/**
 * A listener or dialer of a socket. `url` carries the real port when port 0 was asked;
 * `close()` stops listening / dialing, and connections made through it close.
 */
export class Endpoint extends Handle<NativeEndpoint> {
  readonly kind: 'listener' | 'dialer';
  /** @internal */
  constructor(native: NativeEndpoint, kind: 'listener' | 'dialer') {
    super(native);
    this.kind = kind;
  }
  get url(): string {
    return this.native.url;
  }
}

export type Listener = Endpoint;
export type Dialer = Endpoint;
