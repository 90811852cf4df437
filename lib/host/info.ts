/**
 * The public face of lib/host/events.ts: daemonEvents(profile) (what happens to a profile's
 * daemons, pushed) and info(profile) (one row per daemon, now).
 */
import { getProfile, profileName } from './profiles';
import { DaemonEvents, waitForProfile, type DaemonInfo } from './events';

export {
  DaemonEvents,
  EXIT_WAIT_MS,
  DEPARTED_KEPT,
  EVENT_QUEUE_MAX,
  type ConnectEvent,
  type DaemonEvent,
  type DaemonEventMap,
  type DaemonInfo,
  type DaemonRef,
  type DisconnectEvent,
  type DisconnectReason,
  type ProcessExit,
  type ReplacedEvent,
  type TaskLostEvent,
  type Transport,
} from './events';

/**
 * The events of a profile's daemons, pushed as they happen: `connect`, `disconnect` (with
 * why, and a local daemon's exit code or signal), `replaced` (respawn), `taskLost`. Listen
 * with `on(...)` or iterate with `for await`; either ends when the profile is reset. On a
 * profile without daemons yet, it follows the next `daemons()` call for it: subscribe before
 * `daemons(n)` to see its daemons connect. Daemons already connected are not re-announced
 * (info() lists them).
 */
export function daemonEvents(profile?: string): DaemonEvents {
  const name = profileName(profile);
  const ev = new DaemonEvents(name);
  const p = getProfile(name);
  if (p) p.host.daemonHub.subscribe(ev);
  else waitForProfile(name, ev);
  return ev;
}

/**
 * One row per daemon of a profile: each connected one (busy or idle, the mirai it runs, tasks
 * done, since when), then the last 32 that left (state 'gone', with why and, for local ones,
 * their exit status), by id. `[]` without daemons. Rejects if the dispatcher does not answer
 * within 5 s.
 */
export async function info(profile?: string): Promise<DaemonInfo[]> {
  const p = getProfile(profileName(profile));
  if (!p) return [];
  const rows = await p.host.daemonRows();
  if (rows === null) {
    if (getProfile(p.name) !== p) return []; // reset meanwhile
    throw new Error(`info(): the dispatcher of profile '${p.name}' did not answer`);
  }
  return p.host.daemonHub.rows(rows);
}
