/**
 * Round-robin routing for hosts without a dispatcher: each task goes to the next daemon in turn
 * at once, whatever that daemon is doing (so a task may wait behind a long one, as in the
 * original). NNG's pair1-poly socket drops a message when a connection already has 2 queued,
 * so each daemon gets at most MAX_IN_FLIGHT unanswered messages and the rest wait here, in
 * that daemon's own queue.
 */
import type { Socket } from './nng';

const MAX_IN_FLIGHT = 2;

interface Daemon {
  pipe: number;
  inFlight: number;
  /** Sent and unanswered task ids (everywhere ids too). */
  sent: Set<number>;
  queue: Array<[number, Buffer[]]>;
}

export class RoundRobin {
  #daemons: Daemon[] = [];
  #byPipe = new Map<number, Daemon>();
  #taskPipe = new Map<number, number>();
  #next = 0;
  #backlog: Array<[number, Buffer[]]> = [];

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

  /** A reply came from pipe for id: frees a slot there. */
  answered(pipe: number, id: number): void {
    this.#taskPipe.delete(id);
    const d = this.#byPipe.get(pipe);
    if (!d || !d.sent.delete(id)) return;
    d.inFlight--;
    const next = d.queue.shift();
    if (next) this.#send(d, next[0], next[1]);
  }

  /** Drops a task that will not be answered (cancelled locally). */
  forget(id: number): void {
    const i = this.#backlog.findIndex(([b]) => b === id);
    if (i >= 0) this.#backlog.splice(i, 1);
    const pipe = this.#taskPipe.get(id);
    this.#taskPipe.delete(id);
    const d = pipe === undefined ? undefined : this.#byPipe.get(pipe);
    if (!d) return;
    const q = d.queue.findIndex(([qid]) => qid === id);
    if (q >= 0) d.queue.splice(q, 1);
  }

  /** A daemon connected: returns the held tasks to (re)assign. */
  added(pipe: number): Array<[number, Buffer[]]> {
    const d: Daemon = { pipe, inFlight: 0, sent: new Set(), queue: [] };
    this.#daemons.push(d);
    this.#byPipe.set(pipe, d);
    return this.#backlog.splice(0);
  }

  /** A daemon left: returns the ids it held (running or queued), now lost. */
  removed(pipe: number): number[] {
    const d = this.#byPipe.get(pipe);
    if (!d) return [];
    this.#byPipe.delete(pipe);
    this.#daemons.splice(this.#daemons.indexOf(d), 1);
    const lost = [...d.sent, ...d.queue.map(([id]) => id)];
    for (const id of lost) this.#taskPipe.delete(id);
    return lost;
  }

  #push(d: Daemon, id: number, parts: Buffer[]): void {
    if (d.inFlight < MAX_IN_FLIGHT) this.#send(d, id, parts);
    else d.queue.push([id, parts]);
  }

  #send(d: Daemon, id: number, parts: Buffer[]): void {
    d.inFlight++;
    d.sent.add(id);
    this.socket.send(parts, { pipe: d.pipe }).catch(() => this.onSendFailed(id));
  }
}
