/**
 * The daemon of daemons({ sync: true }): the same receive-run-reply loop (lib/daemon/loop.ts),
 * run in the host's own process over an inproc:// socket, so that task code runs on the host's
 * main thread, one task at a time and in order, where a debugger's breakpoints (`debugger;`)
 * stop in it, while tasks and results still cross the real serialization and wire format.
 *
 * What a daemon process does to its process is left out here, because this process is the
 * user's: no interrupt mechanism (CANCEL still aborts an async task's signal; synchronous code
 * cannot be stopped from the thread it blocks), no handlers for uncaught errors, no silenced
 * output, no process exit.
 */
import { Socket } from '../nng/socket';
import { HANDSHAKE_MAX_SIZE } from '../wire/auth';
import { DaemonLoop } from './loop';
import type { InterruptMechanism } from './interrupts';
import type { ExitReason } from './options';

/** An interrupt mechanism that has none: tasks run without interrupts (Interrupts.available is false). */
const NO_INTERRUPTS: InterruptMechanism = {
  up: false,
  failed: true,
  absorbed: 0,
  onAbsorb: undefined,
  onFail: undefined,
  aboutToRun() {},
  entered() {},
  ran() {},
  waitAbsorbed() {},
  waitUp: () => false,
  waitUpInterruptibly: () => 'timed-out',
  stop() {},
};

export interface InProcessDaemon {
  /** Resolves when the loop ends (the host closed, or it was told to exit). */
  readonly done: Promise<ExitReason>;
}

/** Dials the host at url (an inproc:// listener of this process) and serves it until it closes. */
export async function startInProcessDaemon(url: string, secret: string): Promise<InProcessDaemon> {
  const socket = new Socket('pair', { recvMaxSize: HANDSHAKE_MAX_SIZE });
  socket.unref(); // an idle sync profile keeps nothing alive, like any host socket
  let loop: DaemonLoop | undefined;
  const off = socket.onPipe((ev) => {
    if (ev.type === 'remove') loop?.disconnected();
  });
  await socket.dial(url, { block: true });
  const done = new Promise<ExitReason>((resolve) => {
    // cleanup off: the globals a task sets are the host's globals, and so are those the host
    // creates between tasks, which a cleanup would delete.
    loop = new DaemonLoop(socket, NO_INTERRUPTS, { secret, cleanup: false, autoExit: true }, Date.now(), (reason) => {
      off();
      resolve(reason);
    });
    loop.start(false);
  });
  return { done };
}
