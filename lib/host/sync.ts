/**
 * daemons({ sync: true }): a debugging mode (as mirai's `daemons(sync = TRUE)`). The profile's
 * host is the usual round-robin host, listening on inproc://; its one daemon is the usual
 * daemon loop, run in this process (lib/daemon/in-process.ts). Tasks then run on this thread, in
 * order, after the same serialization as on any daemon, so that `debugger;` statements and
 * breakpoints stop in task code; status(), everywhere() and profiles behave as with any daemons.
 * The daemon runtime is loaded only here, and only when asked for.
 */
import type { Host } from './host';

let counter = 0;

/** Listens on a fresh inproc:// URL and connects one in-process daemon to it; returns the URL. */
export async function startSync(host: Host, profile: string, secret: string, timeoutMs: number): Promise<string> {
  const url = `inproc://mirai-sync-${profile}-${process.pid}-${++counter}`;
  host.socket.listen(url);
  host.url = url;
  host.start();
  const { startInProcessDaemon } = require('../daemon/in-process') as typeof import('../daemon/in-process');
  await startInProcessDaemon(url, secret);
  if (!(await host.waitConnections(1, timeoutMs)))
    throw new Error('daemons({ sync: true }): the in-process daemon did not connect');
  return url;
}
