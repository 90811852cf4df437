import { nngError } from './errors';
import type { Message, SendData } from './message';
import type { NativeContext } from './native';
import { Handle } from './handle';
import { timeoutArg, withSignal } from './timeouts';

export interface ContextOpOptions {
  /** ms; default: the socket's sendTimeout / recvTimeout. */
  timeout?: number;
  /** Aborting cancels the operation (it rejects with ECANCELED). */
  signal?: AbortSignal;
}

/**
 * An independent request/reply state on a socket (req, rep, surveyor, respondent): many
 * contexts let many requests be in flight on one socket. Closes with its socket.
 */
export class Context extends Handle<NativeContext> {
  /** Sends on this context. Never throws: a closed context or a bad argument rejects. */
  send(data: SendData | SendData[], opts: ContextOpOptions = {}): Promise<void> {
    try {
      const t = timeoutArg(opts.timeout, 'context.send');
      return withSignal(opts.signal, this.native, () => this.native.send(data, t));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** Receives on this context. Never throws: a closed context or a bad argument rejects. */
  recv(opts: ContextOpOptions = {}): Promise<Message> {
    try {
      const t = timeoutArg(opts.timeout, 'context.recv');
      return withSignal(opts.signal, this.native, () => this.native.recv(t));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** Sends a request and waits for its reply (req / surveyor contexts). */
  async request(data: SendData | SendData[], opts: ContextOpOptions = {}): Promise<Message> {
    if (opts.signal?.aborted) throw nngError('ECANCELED', 'request aborted');
    await this.send(data, opts);
    return this.recv(opts);
  }
}
