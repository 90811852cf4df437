import { nngError } from './errors';

// Shared argument checks for send/recv options.

/** -2 asks the addon for the owner's sendTimeout / recvTimeout option. */
export const DEFAULT_TIMEOUT = -2;

/** Validates a timeout in ms (undefined: the socket's default; -1 or Infinity: none). */
export function timeoutArg(timeout: number | undefined, what: string): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT;
  if (timeout === Infinity || timeout === -1) return -1;
  if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
    throw new RangeError(
      `${what}: timeout must be a non-negative number of ms, -1 or Infinity (got ${String(timeout)})`,
    );
  }
  return Math.floor(timeout);
}

/** Something that starts operations and can cancel one of them by id. */
export interface Cancellable {
  cancel(id?: number): void;
  readonly lastOpId: number;
}

/**
 * Starts op and, if signal aborts first, cancels that operation alone (it rejects with
 * ECANCELED, as an already aborted signal does).
 */
export function withSignal<T>(signal: AbortSignal | undefined, owner: Cancellable, op: () => Promise<T>): Promise<T> {
  if (!signal) return op();
  if (signal.aborted) return Promise.reject(nngError('ECANCELED', 'operation aborted'));
  const p = op();
  const id = owner.lastOpId;
  const onAbort = (): void => owner.cancel(id);
  signal.addEventListener('abort', onAbort, { once: true });
  return p.finally(() => signal.removeEventListener('abort', onAbort));
}
