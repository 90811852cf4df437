/**
 * The daemon's receive-run-reply loop (see lib/daemon/daemon.ts for the protocol it speaks): one
 * receive pending at any time, armed with the running task's CANCEL header so that the addon
 * raises SIGINT for it (the accounting around those SIGINTs: lib/daemon/interrupts.ts); autoExit.
 * Exit conditions (maxTasks, idleTime, walltime, BYE / EXIT): lib/daemon/exit-rules.ts.
 * Replies: lib/daemon/replies.ts.
 */
import { Proof, raiseLimit } from '../wire/auth';
import type { DaemonOptions, ExitReason } from './options';
import { Replies } from './replies';
import { Evaluator, isInterrupt, isThenable, TaskContext } from './evaluate';
import { plainError, readTask } from './task-input';
import { Interrupts, type InterruptMechanism } from './interrupts';
import { ExitRules } from './exit-rules';
import { Code } from '../wire/errors';
import { NngError } from '../nng/errors';
import type { Message } from '../nng/message';
import type { Socket } from '../nng/socket';
import { hostname } from 'node:os';
import {
  BYE_IDLE_TIME,
  BYE_WALLTIME,
  header,
  HEADER_SIZE,
  hello,
  Kind,
  readHeader,
  splitBatch,
} from '../wire/protocol';

/** A TASK / EVERYWHERE waiting its turn (only round-robin hosts send more than one at a time). */
interface Held {
  kind: Kind;
  id: number;
  /** The message (header and payload): a Message's body, or a view of one BATCH item. */
  body: Buffer;
}

const RUNNING = 0;
const ASYNC = 1;
const INTERRUPTED = 2;

interface Running {
  id: number;
  everywhere: boolean;
  ctx: TaskContext;
  state: number;
  /** Set while INTERRUPTED: call once the CANCEL that explains the interrupt has come. */
  explained: (() => void) | undefined;
}

export class DaemonLoop {
  readonly #socket: Socket;
  readonly #interrupts: Interrupts;
  readonly #ev: Evaluator;
  readonly #autoExit: boolean;
  readonly #done: (reason: ExitReason) => void;
  #finished = false;
  #pending = false;
  #pendingArmed = false;
  /** Id of the task whose CANCEL the pending receive is armed for. */
  #pendingArmedId = -1;
  /** The interrupt prefix (a CANCEL header), rewritten for each armed receive. */
  readonly #armPrefix = Buffer.alloc(HEADER_SIZE);
  #current: Running | undefined;
  /** The task that was running when its host left (--no-auto-exit): it ends unanswered. */
  #orphan: Running | undefined;
  #queue: Held[] = [];
  readonly #exit: ExitRules;
  #recvErrors = 0;
  readonly #replies: Replies;
  /** Nothing from the host is acted on until it has answered our proof (lib/wire/auth.ts). */
  readonly #proof: Proof;
  /** Why the host was refused, if it was: daemon() throws it. */
  authError: Error | undefined;

  constructor(
    socket: Socket,
    mechanism: InterruptMechanism,
    opts: DaemonOptions,
    startedAt: number,
    done: (r: ExitReason) => void,
  ) {
    this.#socket = socket;
    this.#interrupts = new Interrupts(mechanism, {
      external: () => this.#finish('interrupted'),
      unavailable: () => {
        this.#ev.interruptible = false;
      },
    });
    this.#ev = new Evaluator({
      cleanup: opts.cleanup ?? true,
      interruptible: this.#interrupts.available,
      runs: this.#interrupts.runs,
    });
    this.#autoExit = opts.autoExit ?? true;
    this.#done = done;
    this.#replies = new Replies(socket);
    this.#proof = new Proof(opts.secret);
    this.#exit = new ExitRules(
      opts,
      startedAt,
      () => this.#current === undefined,
      (r) => this.#leave(r),
    );
  }

  start(lostEarly: boolean): void {
    if (lostEarly) this.disconnected();
    this.#post();
  }

  /** The connection to the host is gone. */
  disconnected(): void {
    this.#proof.reset(); // a new connection proves itself again
    if (this.#autoExit) {
      this.#finish('disconnected');
      return;
    }
    if (this.#finished) return; // closing anyway (its last replies may be lingering)
    // Waiting for the host to come back (--no-auto-exit). NNG's pair socket keeps a send it could
    // not deliver and hands it to the next connection: a reply, HELLO or PROOF meant for the
    // host that left would reach the next one ahead of our PROOF, and its Gate would refuse the
    // connection (and our PROOF to that connection's challenge, left undelivered in turn, the
    // next one). So drop what is pending, and send nothing until a host has proved itself again.
    // (This cancels the pending receive too: #onRecvError posts it again.)
    this.#replies.open = false;
    this.#socket.cancel();
    // The tasks of the host that left are answered to nobody: a next host counts its ids from 1
    // again and would take their results (or a CANCEL of its own) for its own tasks.
    this.#queue.length = 0;
    this.#orphan = this.#current;
  }

  /** Keeps exactly one receive pending, armed while a task runs (or is about to). */
  #post(armFor?: number): void {
    if (this.#pending || this.#finished) return;
    this.#pending = true;
    const id = armFor ?? this.#current?.id;
    const armed = id !== undefined && id >= 0 && this.#ev.interruptible;
    this.#pendingArmed = armed;
    this.#pendingArmedId = armed ? id! : -1;
    let p: Promise<Message>;
    try {
      if (armed) {
        // A fresh prefix buffer per armed receive: the addon copies it at once.
        header(Kind.CANCEL, id!).copy(this.#armPrefix);
        p = this.#socket.recv({ interrupt: { prefix: this.#armPrefix } });
      } else {
        p = this.#socket.recv();
      }
    } catch (e) {
      this.#pending = false;
      this.#onRecvError(e);
      return;
    }
    p.then(this.#onMessage, this.#onRecvError);
  }

  readonly #onRecvError = (e: unknown): void => {
    this.#pending = false;
    if (this.#finished) return;
    if (e instanceof NngError && e.errno === 'ECLOSED') {
      this.#finish('disconnected');
      return;
    }
    // Anything else (ECANCELED, a transient error): receive again, but never spin.
    if (++this.#recvErrors > 1000) {
      this.#finish('disconnected');
      return;
    }
    setImmediate(() => this.#post());
  };

  readonly #onMessage = (msg: Message): void => {
    this.#pending = false;
    this.#recvErrors = 0;
    if (this.#finished) return;
    if (!this.#proof.trusted) {
      this.#handshake(msg);
      this.#post();
      return;
    }
    const armed = this.#pendingArmed ? this.#pendingArmedId : -1;
    let start: Held | undefined;
    try {
      start = this.#handle(msg, armed);
    } catch {
      start = undefined; // never let a bad message take the loop down
    }
    if (this.#finished) return;
    if (start === undefined && this.#current === undefined) start = this.#queue.shift();
    if (start !== undefined) {
      this.#interrupts.beforeArm();
      this.#post(start.id); // armed for the task about to run
      this.#runFrom(start);
    } else {
      this.#post();
      this.#idle();
    }
  };

  /** A message before the host has proved itself: only the handshake is answered. */
  #handshake(msg: Message): void {
    try {
      const reply = this.#proof.handle(msg.body);
      if (reply !== null) this.#socket.send(reply).catch(() => {});
      if (this.#proof.trusted) {
        raiseLimit(this.#socket, msg.pipe, 0); // a host that proved itself may send any task
        this.#replies.maxBytes = this.#proof.maxSize;
        this.#replies.open = true;
        // Who we are, ahead of any reply: the host's info() and daemonEvents() show it.
        this.#socket.send(hello(process.pid, hostname())).catch(() => {});
      }
    } catch (e) {
      this.authError = e as Error;
      this.#finish('disconnected');
    }
  }

  /** Reacts to one message; returns a task to start now, if any. */
  #handle(msg: Message, armedId: number): Held | undefined {
    const h = readHeader(msg);
    const kind = h?.kind ?? -1;
    const id = h?.id ?? -1;
    // Did the addon raise SIGINT for this message (the armed task's own CANCEL)?
    const raised = this.#interrupts.received(armedId, h);
    const cur = this.#current;
    if (cur !== undefined && cur.state === INTERRUPTED) {
      // Normally the message that raised the SIGINT is a CANCEL of this very task.
      cur.explained?.();
      if (!raised) {
        this.#external(cur); // no CANCEL explains it: a SIGINT from outside
        return undefined;
      }
      if (kind === Kind.CANCEL && id === cur.id) {
        this.#cancelCurrent(cur);
        return undefined;
      }
      const by = kind === Kind.CANCEL ? `a cancel of task ${id}, which arrived as it started` : 'a malformed message';
      this.#complete(cur, plainError(`task ${cur.id} was interrupted by ${by}`), true);
      if (kind === Kind.CANCEL) this.#cancelQueued(id);
      return undefined;
    }
    if (h === null) return undefined; // dropped
    switch (kind) {
      case Kind.TASK:
      case Kind.EVERYWHERE: {
        const held: Held = { kind: h.kind, id, body: msg.body };
        if (cur !== undefined || this.#queue.length > 0) {
          this.#queue.push(held);
          return undefined;
        }
        return held;
      }
      case Kind.BATCH: {
        // Tasks a round-robin host sent in one tick: queued in order; replies go out batched too.
        const items = splitBatch(msg.body);
        if (items === null) return undefined; // malformed: dropped whole
        this.#replies.batching = true;
        for (const item of items) {
          const ih = readHeader(item);
          if (ih !== null && (ih.kind === Kind.TASK || ih.kind === Kind.EVERYWHERE))
            this.#queue.push({ kind: ih.kind, id: ih.id, body: item });
        }
        return cur === undefined ? this.#queue.shift() : undefined;
      }
      case Kind.CANCEL:
        if (cur !== undefined && cur.id === id && cur !== this.#orphan) {
          // An async task (a sync one was interrupted and is handled above).
          cur.ctx.abort();
          this.#cancelCurrent(cur);
        } else {
          this.#cancelQueued(id);
        }
        return undefined;
      case Kind.RECALL:
        // The dispatcher takes back a task held ahead for a daemon that went idle first.
        if (this.#dropQueued(id)) this.#reply(Kind.RECALLED, id, 0);
        return undefined;
      case Kind.EXIT: {
        const reason = this.#exit.exit(cur === undefined && this.#queue.length === 0);
        if (reason !== undefined) this.#finish(reason);
        return undefined;
      }
      default:
        return undefined; // unknown kind: dropped
    }
  }

  /** Runs h, then whatever is queued, until a task goes async or the queue is empty. */
  #runFrom(h: Held | undefined): void {
    while (h !== undefined && !this.#finished) {
      this.#startTask(h);
      if (this.#current !== undefined || this.#finished) return;
      h = this.#queue.shift();
    }
    this.#idle();
  }

  #startTask(h: Held): void {
    const run: Running = {
      id: h.id,
      everywhere: h.kind === Kind.EVERYWHERE,
      ctx: new TaskContext(),
      state: RUNNING,
      explained: undefined,
    };
    this.#interrupts.arm();
    const payload = readTask(h.body);
    this.#current = run;
    if (payload instanceof Error) {
      this.#interrupts.disarm();
      this.#complete(run, payload, true);
      return;
    }
    if (payload.trace !== undefined) this.#reply(Kind.STARTED, run.id, 0); // for the host's span
    let value: unknown;
    // A task stuck in synchronous code never sees the pipe event: while it runs, the addon
    // interrupts it if the host connection is lost, so autoExit holds even then.
    if (this.#autoExit) this.#socket.interruptOnPipeRemove(true);
    try {
      value = this.#ev.run(payload, run.ctx);
      if (this.#autoExit) this.#socket.interruptOnPipeRemove(false);
      if (isThenable(value)) {
        run.state = ASYNC;
        Promise.resolve(value).then(
          (v) => this.#settled(run, v, false),
          (e) => this.#settled(run, e, true),
        );
        return;
      }
    } catch (e) {
      if (this.#autoExit) this.#socket.interruptOnPipeRemove(false);
      if (isInterrupt(e)) {
        run.state = INTERRUPTED;
        // The CANCEL that caused it is on its way; if none comes, the SIGINT was external.
        run.explained = this.#interrupts.interrupted(() => {
          if (this.#current === run && run.state === INTERRUPTED && !this.#finished) this.#external(run);
        });
        return;
      }
      this.#complete(run, e, true);
      return;
    }
    this.#complete(run, value, false);
  }

  /** An async task settled. */
  #settled(run: Running, v: unknown, isError: boolean): void {
    if (this.#current !== run || this.#finished) return; // cancelled meanwhile: already answered
    this.#complete(run, v, isError);
    if (!this.#finished && this.#current === undefined) this.#runFrom(this.#queue.shift());
  }

  /** Sends the task's result (or error), then cleans up and counts it. */
  #complete(run: Running, v: unknown, isError: boolean): void {
    this.#current = undefined;
    this.#markLast(run);
    if (run === this.#orphan) this.#orphan = undefined;
    else if (isError) this.#replies.error(run.id, v, this.#exit.replyFlags);
    else this.#replies.value(run.id, v, this.#exit.replyFlags);
    this.#ev.done(run.everywhere);
    this.#counted(run);
  }

  #cancelCurrent(run: Running): void {
    this.#current = undefined;
    this.#markLast(run);
    if (run === this.#orphan) this.#orphan = undefined;
    else this.#reply(Kind.ERROR_VALUE, run.id, Code.CANCELED);
    this.#ev.done(run.everywhere);
    this.#counted(run);
  }

  #cancelQueued(id: number): void {
    if (this.#dropQueued(id)) this.#reply(Kind.ERROR_VALUE, id, Code.CANCELED);
  }

  /** Takes task id out of the queue; false if it is not there (started, done, or never came). */
  #dropQueued(id: number): boolean {
    const i = this.#queue.findIndex((h) => h.id === id);
    if (i < 0) return false;
    this.#queue.splice(i, 1);
    return true;
  }

  /** A SIGINT that no CANCEL explains interrupted run: answer it, then stop (Ctrl-C). */
  #external(run: Running): void {
    this.#complete(run, plainError('the task was interrupted by SIGINT'), true);
    this.#finish('interrupted');
  }

  #counted(run: Running): void {
    const next = this.#exit.counted(run.everywhere, this.#queue.length === 0);
    if (next === 'bye') this.#leave('walltime');
    else if (next !== undefined) this.#finish(next);
  }

  /**
   * idleTime / walltime: a task may be on its way to us already, so ask to leave (BYE) and go
   * when the host or dispatcher answers EXIT, running whatever reached us before it.
   */
  #leave(reason: ExitReason): void {
    if (this.#finished || !this.#exit.startLeaving(reason)) return;
    // Why, in the flags: the host's disconnect event reports it.
    this.#reply(Kind.BYE, 0, reason === 'idleTime' ? BYE_IDLE_TIME : reason === 'walltime' ? BYE_WALLTIME : 0);
  }

  /** Marks the next reply as the last one when it will reach maxTasks. */
  #markLast(run: Running): void {
    this.#exit.markLast(run.everywhere);
  }

  /** Nothing runs: with an armed receive left pending, the interrupts may need to wait (see idle()). */
  #idle(): void {
    if (!this.#pendingArmed || this.#finished || this.#current !== undefined) return;
    this.#interrupts.idle();
  }

  /** A reply without payload; FLAG_LAST is added while the last task's answer is due. */
  #reply(kind: Kind, id: number, flags: number): void {
    this.#replies.send(kind, id, flags | this.#exit.replyFlags);
  }

  #finish(reason: ExitReason): void {
    // The addon raises SIGINT when the host connection is lost (autoExit): that is a disconnect.
    if (reason === 'interrupted' && this.#socket.stats.pipes === 0) reason = 'disconnected';
    if (this.#finished) return;
    this.#finished = true;
    this.#exit.stop();
    this.#interrupts.detach();
    const cur = this.#current;
    if (cur !== undefined) {
      cur.explained?.();
      cur.ctx.abort();
      this.#current = undefined;
    }
    const close = (): void => {
      this.#socket.close();
      this.#interrupts.stop();
      this.#done(reason);
    };
    // The replies of this tick go out; unless the host is gone, a recent one gets time to leave.
    const linger = reason === 'disconnected' ? (this.#replies.flush(), undefined) : this.#replies.lingerBeforeClose();
    if (linger === undefined) close();
    else void linger.then((wait: number) => setTimeout(close, wait));
  }
}
