/**
 * Which task runs where: the dispatcher's FIFO queue, its idle daemons and what each daemon
 * holds. lib/dispatcher/dispatcher.ts owns the sockets, reads the headers and calls in here;
 * everything leaves through `SchedulerIo`.
 *
 * A daemon runs one task at a time. With `prefetch`, a daemon that runs a task may also hold
 * the next one (`ahead`), sent while it works, so that it starts it without waiting for the
 * dispatcher: the one round trip per task that bounds a dispatcher's throughput is gone. A task
 * held ahead has not started, so it is never lost with its daemon (it is queued again, first),
 * and it is taken back (RECALL) when another daemon goes idle first; the daemon answers
 * RECALLED only if it had not started it yet. Held-ahead tasks keep a copy of their message
 * for that.
 */
import type { Message } from '../nng';
import { Code } from '../wire/errors';
import { header, Kind } from '../wire/protocol';
import { Busy, nextPending, TaskQueue, TaskState, type Daemon, type Task } from './state';

/** What the scheduler sends, and what it reports to the daemon table. */
export interface SchedulerIo {
  toDaemon(d: Daemon, data: Message | Buffer): void;
  toHost(data: Message | Buffer): void;
  /** Task id was lost with daemon d (retried: queued again). */
  taskLost(d: Daemon, id: number, retried: boolean): void;
}

export class Scheduler {
  readonly #io: SchedulerIo;
  readonly #prefetch: boolean;
  readonly #tasks = new Map<number, Task>();
  readonly #queue = new TaskQueue();
  /** Idle daemons, longest idle first. */
  readonly #idle = new Set<Daemon>();
  /** Daemons that run a task and hold none ahead (prefetch): where a new task goes next. */
  readonly #open = new Set<Daemon>();
  /** Daemons that hold a task ahead: where an idle daemon's recall looks. */
  readonly #holders = new Set<Daemon>();
  executing = 0;
  completed = 0;

  constructor(io: SchedulerIo, prefetch: boolean) {
    this.#io = io;
    this.#prefetch = prefetch;
  }

  get awaiting(): number {
    return this.#queue.size;
  }

  /** A TASK from the host (flags: its retry budget); false if that id is queued or running. */
  submit(id: number, m: Message, retry: number): boolean {
    if (this.#tasks.has(id)) return false;
    // Only a task that may run again pays for a copy: the Message itself is handed to NNG.
    const copy = retry > 0 ? Buffer.from(m.body) : null;
    const t: Task = { id, msg: m, state: TaskState.QUEUED, daemon: null, cancelSent: false, retry, copy };
    this.#tasks.set(id, t);
    // Idle daemons exist only while the queue is empty, so this keeps FIFO order.
    const d = this.#takeIdle();
    if (d !== undefined) this.#start(d, t);
    else if (!this.#sendAhead(t)) this.#queue.push(t);
    return true;
  }

  /** CANCEL from the host; false if no such task (finished already, or an everywhere id). */
  cancel(id: number, m: Message): boolean {
    const t = this.#tasks.get(id);
    if (t === undefined) return false;
    if (t.state === TaskState.QUEUED) {
      this.#settle(t, Code.CANCELED);
      this.#queue.removed();
    } else if (!t.cancelSent && t.daemon !== null) {
      // The daemon answers ERROR_VALUE 20, or RESULT if it finished first; either settles it.
      t.cancelSent = true;
      this.#io.toDaemon(t.daemon, m);
    }
    return true;
  }

  /**
   * A daemon's RESULT, ERROR_VALUE or RECALLED for id. Returns false if it is not an answer to
   * anything that daemon holds (the caller counts it as dropped).
   */
  answer(d: Daemon, kind: number, id: number, m: Message, last: boolean): boolean {
    const ahead = d.ahead;
    if (ahead !== null && id === ahead.id && d.runId !== id) {
      // About the task it holds ahead: taken back, or cancelled before it started.
      if (kind === Kind.RECALLED) this.#takenBack(d);
      else if (kind === Kind.ERROR_VALUE) this.#aheadCancelled(d, m);
      else return false;
      return true;
    }
    if ((kind !== Kind.RESULT && kind !== Kind.ERROR_VALUE) || d.busy === Busy.IDLE || d.runId !== id) return false;
    const busy = d.busy;
    d.busy = Busy.IDLE;
    this.#open.delete(d);
    if (busy === Busy.TASK) {
      const t = d.task!;
      d.task = null;
      this.executing--;
      this.#done(t);
      d.row.tasksDone++;
      this.#io.toHost(m);
    } else if (busy === Busy.EVERYWHERE) {
      this.#io.toHost(m);
    }
    if (last) {
      d.retiring = true; // its last answer (maxTasks): it exits by itself, running nothing more
      if (d.ahead !== null) this.#requeueAhead(d);
    } else if (d.ahead !== null) {
      this.#promote(d); // it has started the task it held
    } else if (d.retiring) {
      this.#io.toDaemon(d, header(Kind.EXIT, 0)); // it said BYE: it may go now
    } else {
      this.next(d);
    }
    return true;
  }

  /** The daemon said BYE: nothing more for it; EXIT at once if it holds nothing. */
  retire(d: Daemon): void {
    d.retiring = true;
    this.#idle.delete(d);
    this.#open.delete(d);
    if (d.busy === Busy.IDLE && d.ahead === null) this.#io.toDaemon(d, header(Kind.EXIT, 0));
  }

  /** Its connection went: out of the idle set at once (lost() settles what it held, later). */
  gone(d: Daemon): void {
    this.#idle.delete(d);
    this.#open.delete(d);
  }

  /** Settles what a lost daemon held: its task fails with ErrorValue 19 (or runs again). */
  lost(d: Daemon, closing: boolean): void {
    this.#holders.delete(d);
    if (closing) return;
    if (d.ahead !== null) this.#requeueAhead(d); // it never started: queued again, first
    if (d.busy === Busy.TASK && d.task!.retry > 0) {
      this.#io.taskLost(d, d.task!.id, true);
      this.#requeue(d.task!);
    } else if (d.busy === Busy.TASK) {
      const t = d.task!;
      this.#io.taskLost(d, t.id, false);
      this.executing--;
      this.#settle(t, Code.RESET);
    } else if (d.busy === Busy.EVERYWHERE) {
      this.#io.toHost(header(Kind.ERROR_VALUE, d.runId, Code.RESET));
    }
    d.busy = Busy.IDLE;
    d.task = null;
    // EVERYWHERE calls it was counted in but never ran: the host waits for one answer each.
    for (let item = nextPending(d); item !== undefined; item = nextPending(d)) {
      if (item.forward) this.#io.toHost(header(Kind.ERROR_VALUE, item.id, Code.RESET));
    }
  }

  /** A daemon is free: its pending EVERYWHERE items first, then the head of the queue. */
  next(d: Daemon): void {
    if (d.gone || d.retiring) return;
    const item = nextPending(d);
    if (item !== undefined) {
      d.busy = item.forward ? Busy.EVERYWHERE : Busy.REPLAY;
      d.runId = item.id;
      this.#io.toDaemon(d, item.body);
      return;
    }
    const t = this.#queue.shift();
    if (t !== undefined) {
      this.#start(d, t);
      return;
    }
    this.#idle.add(d);
    this.#recallFor();
  }

  /** An idle daemon got EVERYWHERE work: start it. */
  wake(d: Daemon): void {
    if (d.busy !== Busy.IDLE) return;
    this.#idle.delete(d);
    this.next(d);
  }

  /** What the daemon runs now (info()). */
  running(d: Daemon | undefined): { busy: boolean; task?: number } {
    if (d === undefined || d.busy === Busy.IDLE) return { busy: false };
    return d.busy === Busy.TASK ? { busy: true, task: d.runId } : { busy: true };
  }

  #start(d: Daemon, t: Task): void {
    const m: Message | Buffer = t.msg ?? t.copy!;
    t.msg = null;
    if (t.retry === 0) t.copy = null;
    t.state = TaskState.RUNNING;
    t.daemon = d;
    d.busy = Busy.TASK;
    d.runId = t.id;
    d.task = t;
    this.executing++;
    this.#io.toDaemon(d, m);
    this.#offer(d);
  }

  /** d runs a task: with prefetch, give it the next one to hold, or mark it as open for one. */
  #offer(d: Daemon): void {
    if (!this.#prefetch || d.ahead !== null || d.busy !== Busy.TASK || d.retiring || d.gone) return;
    if (d.pendingHead < d.pending.length) return; // EVERYWHERE work comes first
    const t = this.#queue.shift();
    if (t === undefined) this.#open.add(d);
    else this.#hold(d, t);
  }

  /** A new task with no idle daemon: to a daemon that can hold it ahead, if there is one. */
  #sendAhead(t: Task): boolean {
    for (const d of this.#open) {
      this.#open.delete(d);
      this.#hold(d, t);
      return true;
    }
    return false;
  }

  #hold(d: Daemon, t: Task): void {
    this.#open.delete(d);
    // Kept until it starts: it goes again, to someone else, if it is taken back or d is lost.
    t.copy ??= Buffer.from(t.msg !== null ? t.msg.body : Buffer.alloc(0));
    const m: Message | Buffer = t.msg ?? t.copy;
    t.msg = null;
    t.state = TaskState.RUNNING;
    t.daemon = d;
    d.ahead = t;
    d.recalling = false;
    this.#holders.add(d);
    this.executing++;
    this.#io.toDaemon(d, m);
  }

  /** d no longer holds its task ahead (started, taken back, cancelled or lost): that task. */
  #unholdFrom(d: Daemon): Task {
    const t = d.ahead!;
    d.ahead = null;
    d.recalling = false;
    this.#holders.delete(d);
    return t;
  }

  /** d answered its running task and has started the one it held. */
  #promote(d: Daemon): void {
    const t = this.#unholdFrom(d);
    if (t.retry === 0) t.copy = null;
    d.busy = Busy.TASK;
    d.runId = t.id;
    d.task = t;
    this.#offer(d);
    if (this.#idle.size > 0) this.#recallFor(); // its recall, if one was sent, came too late
  }

  /** Someone is idle while others hold tasks ahead: take one back. */
  #recallFor(): void {
    for (const h of this.#holders) {
      if (h.recalling || h.gone) continue;
      h.recalling = true;
      this.#io.toDaemon(h, header(Kind.RECALL, h.ahead!.id));
      return;
    }
  }

  /** The daemon gave back the task it held (RECALLED): it runs elsewhere, first in line. */
  #takenBack(d: Daemon): void {
    this.#queueFirst(this.#unholdFrom(d));
    this.#offer(d);
  }

  #aheadCancelled(d: Daemon, m: Message): void {
    this.executing--;
    this.#done(this.#unholdFrom(d));
    this.#io.toHost(m); // the daemon's ERROR_VALUE 20, as it came
    this.#offer(d);
  }

  /** d ends (maxTasks, lost) before starting the task it held: queued again, retries kept. */
  #requeueAhead(d: Daemon): void {
    const t = this.#unholdFrom(d);
    if (t.cancelSent) {
      // The host cancelled it and the daemon never answered: it did not run.
      this.executing--;
      this.#settle(t, Code.CANCELED);
      return;
    }
    this.#queueFirst(t);
  }

  /** A task that is not running (held and never started, or lost with retries left): first in line. */
  #queueFirst(t: Task): void {
    t.state = TaskState.QUEUED;
    t.daemon = null;
    t.cancelSent = false;
    this.executing--;
    const idle = this.#takeIdle();
    if (idle !== undefined) this.#start(idle, t);
    else this.#queue.unshift(t);
  }

  /** A task whose daemon was lost, with retries left: first in line again. */
  #requeue(t: Task): void {
    t.retry--;
    this.#queueFirst(t);
  }

  /** Settles t at the dispatcher with ErrorValue code. */
  #settle(t: Task, code: number): void {
    this.#done(t);
    this.#io.toHost(header(Kind.ERROR_VALUE, t.id, code));
  }

  /** t is answered (counted as completed): nothing of it is kept. */
  #done(t: Task): void {
    t.state = TaskState.DONE;
    t.msg = null;
    t.copy = null;
    this.#tasks.delete(t.id);
    this.completed++;
  }

  #takeIdle(): Daemon | undefined {
    for (const d of this.#idle) {
      this.#idle.delete(d);
      return d;
    }
    return undefined;
  }
}
