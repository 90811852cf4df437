/** Helpers over many mirai: unresolved(), stopMirai(), race(), collect(). */
import type { ErrorValue, MiraiError } from '../wire/errors';
import { onSettled, type Mirai } from './mirai';

/** True while m (or any of ms) has not settled. */
export function unresolved(m: Mirai<unknown> | readonly Mirai<unknown>[]): boolean {
  if (Array.isArray(m)) return m.some((x) => x.unresolved);
  return (m as Mirai<unknown>).unresolved;
}

/** Stops m (see Mirai.stop); true if it was still queued or running. */
export function stopMirai(m: Mirai<unknown>): boolean {
  return m.stop();
}

/**
 * Settles like the first of ms to settle: with its value, or rejecting with its MiraiError /
 * ErrorValue (Promise.race semantics; a Mirai, being a thenable, cannot itself be a result).
 * The others keep running: see which one it was with `unresolved` or `m.data`.
 */
export function race<T>(ms: readonly Mirai<T>[]): Promise<T> {
  if (!Array.isArray(ms) || ms.length === 0)
    return Promise.reject(new TypeError('race() expects a non-empty array of mirai'));
  return new Promise<T>((resolve, reject) => {
    for (const m of ms) onSettled(m, () => (m.succeeded ? resolve(m.data as T) : reject(m.data)));
  });
}

/**
 * Waits for all of ms and resolves with their outcomes in order: the value, or the MiraiError
 * / ErrorValue for those that failed (nothing rejects).
 */
export function collect<T>(ms: readonly Mirai<T>[]): Promise<Array<T | MiraiError | ErrorValue>> {
  if (!Array.isArray(ms)) return Promise.reject(new TypeError('collect() expects an array of mirai'));
  return new Promise((resolve) => {
    let left = ms.length;
    if (left === 0) resolve([]);
    for (const m of ms) {
      onSettled(m, () => {
        if (--left === 0) resolve(ms.map((x) => x.data as T | MiraiError | ErrorValue));
      });
    }
  });
}
