/**
 * Round-robin routing for hosts without a dispatcher: each task goes to the next daemon in turn
 * at once, whatever that daemon is doing (so a task may wait behind a long one, as in the
 * original). NNG's pair1-poly socket drops a message sent to a connection whose queue is full
 * (64 deep with deps/patches/pair1_poly_queue_depth.patch), so each daemon gets at most
 * MAX_IN_FLIGHT unanswered tasks — room is left for CANCEL / EVERYWHERE / EXIT — and the rest
 * wait here, in that daemon's own queue.
 *
 * What is sent to a daemon in one tick leaves as one message (a BATCH when there are several):
 * one system call and one wake-up of the daemon for a burst of tasks instead of one each.
 */
import type { Socket } from '../nng';
import { batchParts } from '../wire/protocol';

const MAX_IN_FLIGHT = 32;

interface Daemon {
  pipe: number;
  inFlight: number;
  /** Sent and unanswered messages by id (everywhere ids too), kept to re-send if need be. */
  sent: Map<number, Buffer[]>;
  queue: Array<[number, Buffer[]]>;
  /** Sent this tick, not yet handed to the socket (see #flush). */
  outbox: Array<[number, Buffer[]]>;
  /** 'last': it answered its last task (maxTasks) and runs nothing more; 'bye': it is leaving. */
  retired: 'last' | 'bye' | undefined;
}

/** What a departed daemon leaves behind. */
export interface Departure {
  /** What it may have been running (id and message): it settles with ErrorValue 19, or is
   *  re-sent if it has retries left. */
  lost: Array<[number, Buffer[]]>;
  /** What it certainly never started, in send order: tasks go elsewhere; everywhere runs
   *  (meant for that daemon only) settle with ErrorValue 19. */
  resend: Array<[number, Buffer[]]>;
}

export class RoundRobin {
  #daemons: Daemon[] = [];
  #byPipe = new Map<number, Daemon>();
  #taskPipe = new Map<number, number>();
  #next = 0;
  #backlog: Array<[number, Buffer[]]> = [];
  /** Daemons with something in their outbox. */
  #toFlush: Daemon[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly onSendFailed: (id: number) => void,
  ) {}

  get size(): number {
    return this.#daemons.length;
  }

  get pipes(): number[] {
    return this.#daemons.map((d) => d.pipe);
  }

  /** Assigns a task to the next daemon (or holds it until one connects). */
  assign(id: number, parts: Buffer[]): void {
    const n = this.#daemons.length;
    if (n === 0) {
      this.#backlog.push([id, parts]);
      return;
    }
    const d = this.#daemons[this.#next++ % n]!;
    this.#taskPipe.set(id, d.pipe);
    this.#push(d, id, parts);
  }

  /** Sends to one daemon (everywhere and its replays), within the same flow control. */
  sendTo(pipe: number, id: number, parts: Buffer[]): void {
    const d = this.#byPipe.get(pipe);
    if (d) this.#push(d, id, parts);
  }

  /** A daemon that has proved itself and not left. */
  has(pipe: number): boolean {
    return this.#byPipe.has(pipe);
  }

  /** True if id was sent to pipe and is unanswered there: only then may pipe answer it. */
  holds(pipe: number, id: number): boolean {
    return this.#byPipe.get(pipe)?.sent.has(id) === true;
  }

  /** A reply came from pipe for id: frees a slot there. */
  answered(pipe: number, id: number): void {
    this.#taskPipe.delete(id);
    const d = this.#byPipe.get(pipe);
    if (!d || !d.sent.delete(id)) return;
    if (d.retired === 'last') return; // it takes nothing more
    this.#freeSlot(d);
  }

  /**
   * A task was stopped here. If it had not left yet it is dropped and undefined returned;
   * otherwise the pipe it went to is returned (it still holds its slot there until the daemon
   * answers the CANCEL the caller sends).
   */
  forget(id: number): number | undefined {
    const i = this.#backlog.findIndex(([b]) => b === id);
    if (i >= 0) this.#backlog.splice(i, 1);
    const pipe = this.#taskPipe.get(id);
    const d = pipe === undefined ? undefined : this.#byPipe.get(pipe);
    if (!d) return undefined;
    const q = d.queue.findIndex(([qid]) => qid === id);
    if (q >= 0) {
      d.queue.splice(q, 1);
      this.#taskPipe.delete(id);
      return undefined;
    }
    // Not handed to the socket yet: it never leaves (a CANCEL now would overtake it).
    const o = d.outbox.findIndex(([oid]) => oid === id);
    if (o >= 0) {
      d.outbox.splice(o, 1);
      d.sent.delete(id);
      this.#taskPipe.delete(id);
      this.#freeSlot(d);
      return undefined;
    }
    return d.sent.has(id) ? pipe : undefined;
  }

  /**
   * A daemon is leaving: after a BYE, or after its last answer (maxTasks). It is given nothing
   * more; what waited here for it goes to the others (or waits for the next daemon).
   */
  retire(pipe: number, how: 'last' | 'bye'): void {
    const d = this.#byPipe.get(pipe);
    if (!d || d.retired) return;
    // What it was sent this tick leaves now, ahead of the EXIT that answers a BYE.
    this.#flushOne(d);
    d.retired = how;
    const i = this.#daemons.indexOf(d);
    if (i >= 0) this.#daemons.splice(i, 1);
    for (const [id, parts] of d.queue.splice(0)) this.assign(id, parts);
  }

  /** A daemon connected: returns the held tasks to (re)assign. */
  added(pipe: number): Array<[number, Buffer[]]> {
    const d: Daemon = { pipe, inFlight: 0, sent: new Map(), queue: [], outbox: [], retired: undefined };
    this.#daemons.push(d);
    this.#byPipe.set(pipe, d);
    return this.#backlog.splice(0);
  }

  /**
   * A daemon left. It runs what it is sent one at a time, in order, so only the oldest of its
   * unanswered messages may have run: that one is lost (ErrorValue 19 for a task). Everything
   * sent after it, and everything still waiting here for it, never started and is re-sent
   * elsewhere in its original order. (Residual window: a daemon killed within microseconds of
   * queueing a reply, before NNG wrote it, may have started the next task, which then runs
   * again elsewhere.) After its last answer (maxTasks) it ran nothing more: all is re-sent.
   */
  removed(pipe: number): Departure {
    const d = this.#byPipe.get(pipe);
    if (!d) return { lost: [], resend: [] };
    this.#byPipe.delete(pipe);
    const i = this.#daemons.indexOf(d);
    if (i >= 0) this.#daemons.splice(i, 1);
    d.outbox.length = 0; // its ids are in d.sent
    const held: Array<[number, Buffer[]]> = [...d.sent, ...d.queue];
    for (const [id] of held) this.#taskPipe.delete(id);
    if (d.retired === 'last' || held.length === 0) return { lost: [], resend: held };
    return { lost: [held[0]!], resend: held.slice(1) };
  }

  /** One of d's in-flight slots is free: the next task waiting for d takes it. */
  #freeSlot(d: Daemon): void {
    d.inFlight--;
    const next = d.queue.shift();
    if (next) this.#send(d, next[0], next[1]);
  }

  #push(d: Daemon, id: number, parts: Buffer[]): void {
    if (d.inFlight < MAX_IN_FLIGHT) this.#send(d, id, parts);
    else d.queue.push([id, parts]);
  }

  #send(d: Daemon, id: number, parts: Buffer[]): void {
    d.inFlight++;
    d.sent.set(id, parts);
    if (d.outbox.push([id, parts]) === 1 && this.#toFlush.push(d) === 1) queueMicrotask(this.#flush);
  }

  /** Hands each daemon's outbox to the socket: one message, or one BATCH of several. */
  readonly #flush = (): void => {
    for (const d of this.#toFlush.splice(0)) this.#flushOne(d);
  };

  #flushOne(d: Daemon): void {
    const items = d.outbox.splice(0);
    if (items.length === 0 || !this.#byPipe.has(d.pipe)) return;
    const parts = items.length === 1 ? items[0]![1] : batchParts(items.map((it) => it[1]));
    this.socket.send(parts, { pipe: d.pipe }).catch(() => {
      for (const [id] of items) this.onSendFailed(id);
    });
  }
}
