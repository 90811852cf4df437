// The shape every implementation takes in bench/mirai.ts: this package in each mode and each peer.

/** A running pool (or set of daemons) with 2 workers. */
export interface Runner {
  /** The tiny task: `(d) => d.x + 1` with d = { x }. */
  tiny(x: number): PromiseLike<number>;
  /** The payload task: `(d) => d.a` with d = { a: Float64Array }: the array goes there and back. */
  echo(a: Float64Array): PromiseLike<Float64Array>;
  /** Tears everything down (workers, children, sockets); safe to call twice. */
  close(): Promise<void>;
}

export interface Impl {
  /** Row name in the table. */
  name: string;
  /** 'thread' or 'process': where the 2 workers run. */
  workers: 'thread' | 'process';
  /** Loads the library (not timed: module loading is not part of "start"). */
  load?(): Promise<void>;
  /**
   * Creates the pool / starts the workers. Resolves as soon as tasks can be submitted; the time
   * to the first result is measured around start() plus the first tiny().
   */
  start(): Promise<Runner>;
}

/** Settles once: the first close() does the work, later calls get the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
