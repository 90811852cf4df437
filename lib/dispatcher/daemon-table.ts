/**
 * Who the daemons are, for the side that routes tasks to them: the dispatcher
 * (lib/dispatcher/dispatcher.ts) and a round-robin host's link (lib/host/round-robin-link.ts).
 * One row per connection that proved itself: its number in the profile, its pid and host name
 * (from its HELLO), when it connected, how many tasks it finished, and why it said it would
 * leave. Changes go to `news` as DaemonNews (lib/wire/protocol.ts): the dispatcher sends them to
 * its host as DAEMON messages, a round-robin link hands them to the host's DaemonHub directly.
 *
 * No I/O but closeConnection (the host's drop of a dead daemon), and nothing per task but the
 * `tasksDone` counter, bumped by the owner: what a daemon
 * runs right now stays in the owner's own state and is read only when info() asks (`rows`).
 */
import { Pipe } from '../nng';
import type { DaemonNews, DaemonRow, DepartureHint } from '../wire/protocol';

export interface TableRow {
  readonly daemon: number;
  pid: number | undefined;
  hostname: string | undefined;
  readonly at: number;
  tasksDone: number;
  /** Why it said it leaves (BYE flags, FLAG_LAST). */
  hint: DepartureHint | undefined;
  /** Its connect was told (at its HELLO, or at its departure if it never sent one). */
  announced: boolean;
}

export class DaemonTable {
  readonly #news: (n: DaemonNews) => void;
  readonly #rows = new Map<number, TableRow>();
  #seq = 0;

  constructor(news: (n: DaemonNews) => void) {
    this.#news = news;
  }

  /** A connection proved itself: it gets the next number. Its connect waits for its HELLO. */
  added(pipe: number): TableRow {
    const row: TableRow = {
      daemon: ++this.#seq,
      pid: undefined,
      hostname: undefined,
      at: Date.now(),
      tasksDone: 0,
      hint: undefined,
      announced: false,
    };
    this.#rows.set(pipe, row);
    return row;
  }

  get(pipe: number): TableRow | undefined {
    return this.#rows.get(pipe);
  }

  /**
   * Closes daemon number `daemon`'s connection, if it is still in the table (Link.drop): its
   * remove event then settles what it held, as for any disconnect.
   */
  closeConnection(daemon: number): void {
    for (const [pipe, r] of this.#rows) {
      if (r.daemon !== daemon) continue;
      try {
        new Pipe(pipe).close();
      } catch {
        // closed meanwhile
      }
      return;
    }
  }

  /** Its HELLO: who it is. Only the first counts (a confused peer cannot rename itself). */
  hello(pipe: number, pid: number, hostname: string): void {
    const row = this.#rows.get(pipe);
    if (row === undefined || row.announced) return;
    row.pid = pid;
    row.hostname = hostname;
    this.#announce(row);
  }

  /** It said why it will leave (a BYE with a reason, or its last answer under maxTasks). */
  leaving(pipe: number, hint: DepartureHint): void {
    const row = this.#rows.get(pipe);
    if (row !== undefined && row.hint === undefined) row.hint = hint;
  }

  /** Its connection went: the disconnect (after its connect, if that was never told). */
  removed(pipe: number): TableRow | undefined {
    const row = this.#rows.get(pipe);
    if (row === undefined) return undefined;
    this.#rows.delete(pipe);
    if (!row.announced) this.#announce(row);
    this.#news({
      type: 'disconnect',
      daemon: row.daemon,
      ...(row.hint ? { hint: row.hint } : {}),
      tasksDone: row.tasksDone,
      at: Date.now(),
    });
    return row;
  }

  /** Task `task` was lost with the daemon `row` (it may have run); `retried`: it went out again. */
  taskLost(row: TableRow, task: number, retried: boolean): void {
    this.#news({ type: 'taskLost', daemon: row.daemon, task, retried, at: Date.now() });
  }

  /** One row per connected daemon; `running(pipe)` says what it runs now. */
  rows(running: (pipe: number) => { busy: boolean; task?: number }): DaemonRow[] {
    const out: DaemonRow[] = [];
    for (const [pipe, r] of this.#rows) {
      const now = running(pipe);
      out.push({
        daemon: r.daemon,
        ...(r.pid !== undefined ? { pid: r.pid, hostname: r.hostname } : {}),
        at: r.at,
        busy: now.busy,
        ...(now.task !== undefined ? { task: now.task } : {}),
        tasksDone: r.tasksDone,
      });
    }
    return out;
  }

  #announce(row: TableRow): void {
    row.announced = true;
    this.#news({
      type: 'connect',
      daemon: row.daemon,
      ...(row.pid !== undefined ? { pid: row.pid, hostname: row.hostname } : {}),
      at: row.at,
    });
  }
}
