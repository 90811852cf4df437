/**
 * miraiMap(): one task per item. Awaiting gives results in input order and rejects at the first
 * failure after stopping the rest; settled() gives every outcome; for-await yields results as
 * they complete; `progress` draws a bar on a TTY (lib/host/progress.ts).
 */
import { onSettled, type Mirai } from './mirai';
import { checkOptions, describe, is } from '../wire/validate';
import { functionSource } from '../wire/payload';
import { submitPayload, type TaskContext } from './submit';
import { showProgress } from './progress';

export interface MapOptions<D> {
  /** Passed to every call as the second argument. */
  data?: D;
  /** Draw a progress bar (done, percentage, rate, ETA) on stderr when it is a terminal. */
  progress?: boolean;
  profile?: string;
}

export type Settled<T> = { status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown };

export class MiraiMap<T> implements PromiseLike<T[]>, AsyncIterable<T> {
  /** The mirai, one per item, in input order. */
  readonly mirai: readonly Mirai<T>[];
  #all: Promise<T[]> | undefined;

  /** @internal */
  constructor(ms: Mirai<T>[]) {
    this.mirai = ms;
  }

  then<R1 = T[], R2 = never>(
    onfulfilled?: ((value: T[]) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#all ??= new Promise<T[]>((resolve, reject) => {
      let left = this.mirai.length;
      if (left === 0) resolve([]);
      for (const m of this.mirai) {
        onSettled(m, () => {
          if (!m.succeeded) {
            reject(m.data); // first: stopping the rest settles them at once
            for (const other of this.mirai) other.stop();
          } else if (--left === 0) {
            resolve(this.mirai.map((x) => x.data as T));
          }
        });
      }
    });
    return this.#all.then(onfulfilled, onrejected);
  }

  /** Every outcome in input order, like Promise.allSettled. */
  settled(): Promise<Settled<T>[]> {
    return Promise.all(
      this.mirai.map(
        (m) =>
          new Promise<Settled<T>>((resolve) =>
            onSettled(m, () =>
              resolve(
                isValue(m) ? { status: 'fulfilled', value: m.data as T } : { status: 'rejected', reason: m.data },
              ),
            ),
          ),
      ),
    );
  }

  /** Results in completion order; throws at the first failure (after stopping the rest). */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    const done: Mirai<T>[] = [];
    let wake: (() => void) | undefined;
    for (const m of this.mirai) {
      onSettled(m, () => {
        done.push(m);
        wake?.();
      });
    }
    for (let yielded = 0; yielded < this.mirai.length; yielded++) {
      while (done.length === 0) await new Promise<void>((r) => (wake = r));
      const m = done.shift()!;
      if (!isValue(m)) {
        for (const other of this.mirai) other.stop();
        throw m.data;
      }
      yield m.data as T;
    }
  }
}

function isValue(m: Mirai<unknown>): boolean {
  return m.succeeded;
}

/** Runs fn(item, data) for each item on the daemons of a profile. */
export function miraiMap<I, T, D = undefined>(
  items: Iterable<I>,
  fn: (item: I, data: D, ctx: TaskContext) => T | Promise<T>,
  opts: MapOptions<D> = {},
): MiraiMap<Awaited<T>> {
  checkOptions('miraiMap()', opts, {
    data: [is.any, 'any value'],
    progress: [is.bool, 'a boolean'],
    profile: [is.string, 'a string'],
  });
  if (items === null || typeof (items as Iterable<I>)?.[Symbol.iterator] !== 'function') {
    throw new TypeError(`miraiMap(): items must be iterable (got ${describe(items)})`);
  }
  if (typeof fn !== 'function') throw new TypeError(`miraiMap(): fn must be a function (got ${describe(fn)})`);
  const src = `(__m, __c) => (${functionSource(fn)})(__m.item, __m.data, __c)`;
  const ms: Mirai<Awaited<T>>[] = [];
  for (const item of items) {
    const m = submitPayload(
      'miraiMap()',
      { type: 'f', src, data: { item, data: opts.data } },
      { profile: opts.profile },
    ) as Mirai<Awaited<T>>;
    ms.push(m);
  }
  if (opts.progress && process.stderr.isTTY) showProgress(ms);
  return new MiraiMap(ms);
}
