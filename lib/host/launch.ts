/**
 * launchLocal() and launchRemote(): more daemons for a profile that has daemons set, started on
 * this machine (lib/launchers/local.ts) or through a launch configuration (ssh, a shell command,
 * a cluster), each call waiting until its daemons have connected.
 */
import { SECRET_ENV } from '../wire/auth';
import { LocalDaemons, type LocalLaunchOptions } from '../launchers/local';
import { warnRespawnStopped } from '../launchers/respawn';
import { manualCommands, type RemoteConfig } from '../launchers/remote';
import { keepAlive } from '../nng';
import { checkOptions, describe, is } from '../wire/validate';
import { CONNECT_TIMEOUT, PROCESS_SCHEMA, checkCount, type DaemonProcessOptions } from './daemons-options';
import { getProfile, profileName, teardown, type Profile } from './profiles';

export interface LaunchLocalOptions extends DaemonProcessOptions {
  profile?: string;
}

/** Starts n more local daemons for a profile (which must have daemons set) and waits for them. */
export async function launchLocal(n: number, opts: LaunchLocalOptions = {}): Promise<void> {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new TypeError(`launchLocal(n): n must be a positive integer (got ${describe(n)})`);
  }
  checkCount('launchLocal(n)', n);
  checkOptions('launchLocal()', opts, { ...PROCESS_SCHEMA, profile: [is.string, 'a string'] });
  const p = requireProfile(opts.profile, 'launchLocal()');
  const { profile: _ignored, memory, respawn, ...rest } = { ...p.daemonOptions, ...opts } as LaunchLocalOptions;
  // The secret goes in the environment: other users cannot read it there (unlike argv).
  const launchOpts: LocalLaunchOptions = { ...rest, tlsCert: p.tlsCert, env: { ...rest.env, [SECRET_ENV]: p.secret } };
  if (memory) launchOpts.execArgv = [...(launchOpts.execArgv ?? []), `--max-old-space-size=${Math.floor(memory)}`];
  const target = p.host.connections + n;
  const batch = new LocalDaemons(n, p.url, launchOpts, p.host.daemonHub);
  p.local.push(batch);
  p.launched += n;
  const release = keepAlive();
  try {
    const ok = await Promise.race([
      p.host.waitConnections(target, CONNECT_TIMEOUT),
      new Promise<boolean>((resolve) => {
        const check = (): void => {
          if (batch.exited > 0 && p.host.connections < target) resolve(false);
          else batch.onExit(check);
        };
        batch.onExit(check);
      }),
    ]);
    if (ok && respawn !== false) {
      // Armed only once all are connected: a batch that cannot start at all fails
      // launchLocal() below instead of being retried.
      batch.respawn({
        onGiveUp: (reason) => warnRespawnStopped(p.name, reason),
      });
    }
    if (!ok) {
      const err = batch.stderr();
      throw new Error(
        `daemons did not connect to ${p.url}: ${p.host.connections} of ${target} connected` +
          (batch.exited ? `, ${batch.exited} exited` : ` within ${CONNECT_TIMEOUT} ms`) +
          (err ? `; their stderr:\n${err}` : ''),
      );
    }
  } finally {
    release();
  }
}

export interface LaunchRemoteOptions extends DaemonProcessOptions {
  profile?: string;
  /** How to launch; without it, the shell commands to start daemons by hand are returned. */
  remote?: RemoteConfig;
  /** Chain to the root CA for CA-signed TLS (default: the profile's certificate). */
  tlsCert?: string;
}

/**
 * Launches n daemons through `remote` and waits for them; without `remote`, returns the shell
 * commands that start them by hand (each needs only `node` and this package there).
 */
export async function launchRemote(n: number, opts: LaunchRemoteOptions = {}): Promise<string[]> {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new TypeError(`launchRemote(n): n must be a positive integer (got ${describe(n)})`);
  }
  const p = requireProfile(opts.profile, 'launchRemote()');
  const { profile: _p, remote, tlsCert, ...rest } = opts;
  const respawn = (rest.respawn ?? p.daemonOptions.respawn) !== false;
  const daemonOpts = { ...p.daemonOptions, ...rest, tlsCert: tlsCert ?? p.tlsCert, secret: p.secret };
  delete (daemonOpts as Record<string, unknown>).env;
  delete (daemonOpts as Record<string, unknown>).execArgv;
  delete (daemonOpts as Record<string, unknown>).memory;
  delete (daemonOpts as Record<string, unknown>).node;
  delete (daemonOpts as Record<string, unknown>).respawn;
  if (!remote) return manualCommands(n, p.url, daemonOpts);
  const target = p.host.connections + n;
  const launch = await remote.launch(n, p.url, daemonOpts);
  p.cleanups.push(launch.stop);
  p.remote.push(launch);
  p.launched += n;
  const release = keepAlive();
  try {
    const ok = await Promise.race([p.host.waitConnections(target, remote.timeout ?? 60000), launch.failed]);
    if (ok !== true) {
      const why = typeof ok === 'string' ? ok : `not all connected within ${remote.timeout ?? 60000} ms`;
      await teardown(p.name);
      throw new Error(`launchRemote(): ${n} daemon(s) via ${remote.describe()} did not connect to ${p.url}: ${why}`);
    }
    // Armed only once all are connected, as for local daemons: a launch that never worked is
    // reported above instead of being retried.
    if (respawn) launch.respawn?.({ onGiveUp: (reason) => warnRespawnStopped(p.name, reason) });
  } finally {
    release();
  }
  return launch.commands;
}

export function requireProfile(name: string | undefined, what: string): Profile {
  const p = getProfile(profileName(name));
  if (!p) throw new Error(`${what}: no daemons set for profile '${profileName(name)}'; call daemons() first`);
  return p;
}
