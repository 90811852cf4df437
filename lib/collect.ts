/** Helpers over many mirai: unresolved(), stopMirai(), race(), collect(). */
import type { ErrorValue, MiraiError } from './errors';
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

/** Resolves with the first of ms to settle (the Mirai itself, value or error inside). */
export function race<T>(ms: readonly Mirai<T>[]): Promise<Mirai<T>> {
  if (!Array.isArray(ms) || ms.length === 0) return Promise.reject(new TypeError('race() expects a non-empty array of mirai'));
  return new Promise((resolve) => {
    for (const m of ms) onSettled(m, resolve);
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
