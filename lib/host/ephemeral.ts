/**
 * Without daemons set, each mirai() runs in a one-off process: a direct-mode host listening on
 * a fresh IPC path, one daemon that exits after its task, everything closed once it settles.
 */
import { newSecret, SECRET_ENV } from '../wire/auth';
import { Host } from './host';
import { LocalDaemons } from '../launchers/local';
import { onSettled, type Mirai } from './mirai';
import type { TaskPayload } from '../wire/protocol';
import type { SubmitOptions } from './host';
import { localUrl } from '../wire/url';

export function runEphemeral(payload: TaskPayload, opts: SubmitOptions): Mirai<unknown> {
  const secret = newSecret();
  const host = new Host('direct', secret);
  const url = localUrl();
  host.socket.listen(url);
  host.start();
  let m: Mirai<unknown>;
  try {
    m = host.submit(payload, opts);
  } catch (e) {
    void host.close(false);
    throw e;
  }
  // No stderr file: a one-off process may outlive a script that exits right after its result.
  const daemon = new LocalDaemons(1, url, { maxTasks: 1, captureStderr: false, env: { [SECRET_ENV]: secret } });
  // The daemon dying before it answers settles the task through the host's pipe events;
  // a daemon that never connects is caught here.
  daemon.onExit(() => {
    if (m.unresolved && host.connections === 0) void host.close(false);
  });
  // The daemon exits by itself after its one task (or when the socket closes).
  onSettled(m, () => {
    void host.close(false).then(() => daemon.stop(1000));
  });
  return m;
}
