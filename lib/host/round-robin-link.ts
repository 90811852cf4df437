/**
 * The host's link straight to daemons, without a dispatcher (see lib/host/link.ts): daemons
 * dial the host's `poly` socket and each task goes to the next one in turn at once
 * (lib/host/round-robin.ts does the assignment and flow control). Here: only the daemon that
 * holds a task may answer it; a daemon that says BYE is told EXIT and given nothing more, one
 * whose answer is its LAST likewise; BATCHes of replies are unpacked; a task lost with its
 * daemon goes out again while it has retries left; everywhere() calls are replayed, in order,
 * to each daemon that joins later.
 */
import {
  BYE_IDLE_TIME,
  BYE_WALLTIME,
  FLAG_LAST,
  header,
  Kind,
  readHeader,
  readHello,
  splitBatch,
  type Counters,
  type DaemonRow,
  type Header,
} from '../wire/protocol';
import { DaemonTable } from '../dispatcher/daemon-table';
import { ignore, type Link, type LinkHost } from './link';
import { RoundRobin } from './round-robin';

export class RoundRobinLink implements Link {
  readonly maxMessageSize: number;
  readonly #host: LinkHost;
  readonly #rr: RoundRobin;
  /** Every everywhere() call so far, replayed to daemons that join later. */
  #everywhereLog: Array<[number, Buffer[]]> = [];
  /** Retries left of tasks submitted with `retry` (a dispatcher keeps its own). */
  #retries = new Map<number, number>();
  /** Ids of the everywhere() calls in the log: their runs are not tasks (info(), tasksDone). */
  #everywhereIds = new Set<number>();
  /** Who the daemons are (info(), daemonEvents()), told to the host's DaemonHub directly. */
  readonly #table: DaemonTable;

  /** maxMessageSize: the largest message a daemon may send. */
  constructor(host: LinkHost, maxMessageSize: number) {
    this.#host = host;
    this.maxMessageSize = maxMessageSize;
    this.#rr = new RoundRobin(host.socket, (id) => host.sendFailed(id));
    this.#table = new DaemonTable((n) => host.news(n));
  }

  /** A daemon proved itself: everywhere first (replayed in order), then the tasks that waited for one. */
  added(pipe: number): void {
    const rr = this.#rr;
    const backlog = rr.added(pipe, this.#table.added(pipe));
    for (const [id, parts] of this.#everywhereLog) rr.sendTo(pipe, id, parts);
    for (const [id, parts] of backlog) if (this.#host.pending(id)) rr.assign(id, parts);
    this.#host.setConnections(rr.size);
  }

  drop(daemon: number): void {
    this.#table.closeConnection(daemon);
  }

  removed(pipe: number): void {
    const rr = this.#rr;
    const host = this.#host;
    const departure = rr.removed(pipe);
    host.setConnections(rr.size);
    const row = this.#table.removed(pipe);
    const lost: number[] = [];
    // A lost task with retries left goes out again first: it is older than what is re-sent.
    for (const [id, parts] of departure.lost) {
      const left = this.#retries.get(id);
      if (row !== undefined && host.pending(id)) this.#table.taskLost(row, id, left !== undefined);
      if (left === undefined || !host.pending(id)) {
        lost.push(id);
        continue;
      }
      if (left > 1) this.#retries.set(id, left - 1);
      else this.#retries.delete(id);
      rr.assign(id, parts);
    }
    for (const [id, parts] of departure.resend) {
      if (host.pending(id)) rr.assign(id, parts);
      else if (host.isEverywhere(id)) lost.push(id); // that daemon's share: it never ran
    }
    for (const id of lost) host.lost(id);
  }

  has(pipe: number): boolean {
    return this.#rr.has(pipe);
  }

  submit(id: number, parts: Buffer[], retry: number): void {
    if (retry > 0) this.#retries.set(id, retry);
    this.#rr.assign(id, parts);
  }

  cancel(id: number): void {
    const pipe = this.#rr.forget(id);
    if (pipe !== undefined) this.#host.socket.send(header(Kind.CANCEL, id), { pipe }).catch(ignore);
  }

  stopEverywhere(id: number): void {
    // Each daemon interrupts it if it runs it, or drops it if it has it queued; those that have
    // answered ignore it. A daemon that joins later still gets it (the log is kept).
    const cancel = header(Kind.CANCEL, id);
    for (const pipe of this.#rr.pipes) this.#host.socket.send(cancel, { pipe }).catch(ignore);
  }

  everywhere(id: number, parts: Buffer[]): void {
    this.#everywhereLog.push([id, parts]);
    this.#everywhereIds.add(id);
    const pipes = this.#rr.pipes;
    for (const pipe of pipes) this.#rr.sendTo(pipe, id, parts);
    this.#host.everywhereArrived(id, pipes.length);
  }

  settled(id: number): void {
    this.#retries.delete(id);
  }

  counters(): Promise<Counters | null> {
    return Promise.resolve(null); // no dispatcher, no counters
  }

  info(): Promise<DaemonRow[] | null> {
    const isEverywhere = (id: number): boolean => this.#everywhereIds.has(id);
    return Promise.resolve(this.#table.rows((pipe) => this.#rr.running(pipe, isEverywhere)));
  }

  /** One message, or one of a BATCH, from daemon `pipe`. */
  receive(h: Header, body: Buffer, pipe: number): void {
    const host = this.#host;
    switch (h.kind) {
      case Kind.RESULT:
      case Kind.ERROR_VALUE: {
        // Only the daemon that holds a task may answer it.
        if (!this.#rr.holds(pipe, h.id)) return host.dropped();
        if ((h.flags & FLAG_LAST) !== 0) {
          this.#rr.retire(pipe, 'last');
          this.#table.leaving(pipe, 'maxTasks');
        }
        const row = this.#rr.answered(pipe, h.id);
        if (row !== undefined && !this.#everywhereIds.has(h.id)) row.tasksDone++;
        if (h.kind === Kind.RESULT) host.result(h.id, h.flags, body);
        else host.errorValue(h.id, h.flags);
        return;
      }
      case Kind.STARTED: {
        if (!this.#rr.holds(pipe, h.id)) return host.dropped();
        const row = this.#table.get(pipe);
        if (row !== undefined) host.started(h.id, row.daemon);
        return;
      }
      case Kind.HELLO: {
        const who = readHello(body);
        if (who === null) return host.dropped();
        return this.#table.hello(pipe, who.pid, who.hostname);
      }
      case Kind.BYE:
        if ((h.flags & 0xff) === BYE_IDLE_TIME) this.#table.leaving(pipe, 'idleTime');
        else if ((h.flags & 0xff) === BYE_WALLTIME) this.#table.leaving(pipe, 'walltime');
        this.#rr.retire(pipe, 'bye');
        host.socket.send(header(Kind.EXIT, 0), { pipe }).catch(ignore);
        return;
      case Kind.BATCH: {
        // Replies of tasks the daemon ran back to back; a malformed batch is dropped whole.
        const items = splitBatch(body);
        if (items === null) return host.dropped();
        for (const item of items) {
          const ih = readHeader(item);
          if (ih !== null && ih.kind !== Kind.BATCH) this.receive(ih, item, pipe);
        }
        return;
      }
      default:
        return host.dropped(); // CONNECTIONS, STATUS, READY...: a daemon has no say in them
    }
  }

  abandon(): void {}

  async close(shutdown: boolean): Promise<void> {
    if (shutdown)
      await Promise.all(
        this.#rr.pipes.map((pipe) => this.#host.socket.send(header(Kind.EXIT, 0), { pipe, timeout: 1000 })),
      );
  }
}
