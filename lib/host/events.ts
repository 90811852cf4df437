/**
 * daemonEvents(): what happens to a profile's daemons, pushed as it happens — connect,
 * disconnect (and why), replaced (respawn), taskLost — to typed EventEmitters that are also
 * async iterators.
 *
 * Each Host has one DaemonHub. What it hears comes from three places:
 *  - its link (lib/host/link.ts LinkHost.news): DaemonNews from the dispatcher's daemon table
 *    (DAEMON messages over the host's pair link) or from the round-robin link's own table
 *    (lib/dispatcher/daemon-table.ts): who connected (pid, host name from the daemon's HELLO),
 *    who went (and what the daemon said about why: maxTasks, idleTime, walltime), which task
 *    was lost with which daemon;
 *  - the local launcher (lib/launchers/local.ts LocalObserver): which pids it started, how
 *    each exited (code, signal), which pid replaced which;
 *  - the profile's teardown (closing(), end()).
 * A local daemon's disconnect waits for its exit status (bounded: EXIT_WAIT_MS), so that the
 * event says how it ended; a task lost with it is told after its disconnect, never before.
 *
 * The hub also keeps what info() shows of daemons that left: the last DEPARTED_KEPT of them.
 * Nothing here is on the task path.
 */

import { EventEmitter } from 'node:events';
import {
  EVENT_QUEUE_MAX,
  type ConnectEvent,
  type DaemonEvent,
  type DisconnectEvent,
  type ReplacedEvent,
  type TaskLostEvent,
} from './event-types';

export * from './event-types';
export { DaemonHub } from './daemon-hub';
import type { DaemonHub } from './daemon-hub';

/** The listener signature of each event. */
export interface DaemonEventMap {
  connect: [ConnectEvent];
  disconnect: [DisconnectEvent];
  replaced: [ReplacedEvent];
  taskLost: [TaskLostEvent];
  /** The profile was reset (or close() was called): no more events. */
  end: [];
}

/** A listener of event K of DaemonEvents. */
export type DaemonEventListener<K extends keyof DaemonEventMap> = (...args: DaemonEventMap[K]) => void;

/**
 * The events of one profile's daemons until that profile is reset (daemons(0), a new
 * daemons() call, close() of its DaemonSet). An EventEmitter (`on('connect', (e) => ...)`)
 * and an async iterator (`for await (const e of daemonEvents())`, which ends then). Events are
 * queued for the iterator from the moment daemonEvents() returns, so none is missed between
 * creating it and iterating; call close() to stop early (a `break` out of `for await` does).
 */
// A typed EventEmitter: the interface narrows the class's inherited listener methods to the
// events above (the merge adds no members the class lacks).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface DaemonEvents {
  on<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  once<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  off<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  addListener<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  removeListener<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  prependListener<K extends keyof DaemonEventMap>(event: K, listener: DaemonEventListener<K>): this;
  emit<K extends keyof DaemonEventMap>(event: K, ...args: DaemonEventMap[K]): boolean;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class DaemonEvents extends EventEmitter implements AsyncIterable<DaemonEvent> {
  /** The profile whose daemons these are. */
  readonly profile: string;
  /** Events dropped from the iterator's queue because it held EVENT_QUEUE_MAX untaken ones. */
  droppedEvents = 0;
  #queue: DaemonEvent[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #detach: (() => void) | undefined;

  /** @internal */
  constructor(profile: string) {
    super();
    this.profile = profile;
  }

  /** True once the profile was reset or close() was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Stops listening: 'end' is emitted and the iterator ends after what it holds. */
  close(): void {
    this.#detach?.();
    this.#end();
  }

  /** @internal The hub it listens to (detach undoes it). */
  attach(detach: () => void): void {
    this.#detach = detach;
  }

  /** @internal */
  push(e: DaemonEvent): void {
    if (this.#ended) return;
    if (this.#queue.length - this.#head >= EVENT_QUEUE_MAX) {
      this.#head++;
      this.droppedEvents++;
    }
    this.#queue.push(e);
    this.#wake?.();
    this.emit(e.type, e as never);
  }

  /** @internal The profile was reset. */
  end(): void {
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach = undefined;
    this.#wake?.();
    this.emit('end');
  }

  #take(): DaemonEvent | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const e = this.#queue[this.#head++]!;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  [Symbol.asyncIterator](): AsyncIterator<DaemonEvent> {
    return {
      next: async (): Promise<IteratorResult<DaemonEvent>> => {
        for (;;) {
          const e = this.#take();
          if (e !== undefined) return { value: e, done: false };
          if (this.#ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<DaemonEvent>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** Subscribers waiting for a profile that is not set up yet, by profile name. */
const waiting = new Map<string, Set<DaemonEvents>>();

/** @internal daemons() set up profile `name` with this hub: its waiting subscribers join it. */
export function adoptWaiting(name: string, hub: DaemonHub): void {
  const subs = waiting.get(name);
  if (subs === undefined) return;
  waiting.delete(name);
  for (const ev of subs) if (!ev.ended) hub.subscribe(ev);
}

/** @internal A subscriber for profile `name`, which has no daemons yet: it joins the next set. */
export function waitForProfile(name: string, ev: DaemonEvents): void {
  let subs = waiting.get(name);
  if (subs === undefined) waiting.set(name, (subs = new Set()));
  subs.add(ev);
  ev.attach(() => subs.delete(ev));
}
