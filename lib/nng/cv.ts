import { nngError } from './errors';
import { addon } from './native';
import type { Socket } from './socket';

export interface WaitOptions {
  /** ms; the wait resolves false when it runs out. */
  timeout?: number;
  /** Aborting rejects the wait with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * A counting condition variable. `signal()` adds one; `wait()` resolves as soon as the count
 * is positive and takes one. Event-driven: waiters are resolved by the signal itself, nothing
 * polls. A pending wait keeps the process alive, like a timer would.
 */
export class Cv {
  #count = 0;
  #waiters: Array<(ok: boolean) => void> = [];

  /** The current count. */
  get value(): number {
    return this.#count;
  }

  signal(): void {
    const w = this.#waiters.shift();
    if (w) {
      if (this.#waiters.length === 0) addon.release();
      w(true);
    } else {
      this.#count++;
    }
  }

  /** Resolves true once the count is positive (taking one), false on timeout. */
  wait(opts: WaitOptions = {}): Promise<boolean> {
    if (this.#count > 0) {
      this.#count--;
      return Promise.resolve(true);
    }
    const { timeout, signal } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason ?? nngError('ECANCELED'));
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (ok: boolean): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const drop = (): void => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          if (this.#waiters.length === 0) addon.release();
        }
      };
      const onAbort = (): void => {
        drop();
        if (timer) clearTimeout(timer);
        reject(signal?.reason ?? nngError('ECANCELED'));
      };
      if (this.#waiters.length === 0) addon.hold();
      this.#waiters.push(done);
      if (timeout !== undefined && timeout >= 0 && Number.isFinite(timeout)) {
        timer = setTimeout(() => {
          drop();
          resolve(false);
        }, timeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sets the count back to zero (waiters keep waiting). */
  reset(): void {
    this.#count = 0;
  }
}

/**
 * Signals cv whenever a peer connects (`add`, default true) or leaves (`remove`, default true).
 * Returns a function that stops it.
 */
export function pipeNotify(socket: Socket, cv: Cv, opts: { add?: boolean; remove?: boolean } = {}): () => void {
  const add = opts.add ?? true;
  const remove = opts.remove ?? true;
  return socket.onPipe((ev) => {
    if ((ev.type === 'add' && add) || (ev.type === 'remove' && remove)) cv.signal();
  });
}
