/**
 * Profiles: independent sets of daemons, by name. `withDaemons` makes its profile the default
 * for everything called inside it (AsyncLocalStorage), so nested code needs no `profile`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { rmSync } from 'node:fs';
import { keepAlive } from '../nng';
import { ipcPath } from '../wire/url';
import type { DispatcherHandle } from '../dispatcher/main';
import type { Host } from './host';
import type { LocalDaemons } from '../launchers/local';
import type { RemoteLaunch } from '../launchers/remote';

export const DEFAULT_PROFILE = 'default';

/** What one live profile owns. */
export interface Profile {
  name: string;
  host: Host;
  /** Daemons' URL (real port), as given to launch commands. */
  url: string;
  /** The certificate daemons verify the host with (tls+tcp), PEM. */
  tlsCert: string | undefined;
  /** What its daemons prove they know (lib/wire/auth.ts); handed to every launch. */
  secret: string;
  /** The dispatcher, when there is one. */
  dispatcher: DispatcherHandle | undefined;
  local: LocalDaemons[];
  /** Daemon options given to daemons(), reused by launchLocal/launchRemote. */
  daemonOptions: Record<string, unknown>;
  /** Remote launches: for their relaunch counts (status()) and to disarm them at teardown. */
  remote: RemoteLaunch[];
  /** Stops remote launches (ssh sessions, cluster jobs) at teardown. */
  cleanups: Array<() => Promise<void> | void>;
  launched: number;
}

const profiles = new Map<string, Profile>();
const scope = new AsyncLocalStorage<string>();

/** The profile name to use: the one given, else the enclosing withDaemons', else 'default'. */
export function profileName(name: string | undefined): string {
  if (name === undefined) return scope.getStore() ?? DEFAULT_PROFILE;
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`profile must be a non-empty string (got ${typeof name === 'string' ? "''" : typeof name})`);
  }
  return name;
}

export function getProfile(name: string): Profile | undefined {
  return profiles.get(name);
}

export function setProfile(p: Profile): void {
  profiles.set(p.name, p);
}

export function deleteProfile(name: string): void {
  profiles.delete(name);
}

export function allProfiles(): Profile[] {
  return [...profiles.values()];
}

/** Runs fn with `name` as the default profile. */
export function withProfile<T>(name: string, fn: () => T): T {
  return scope.run(name, fn);
}

/** Tears a profile down: settles its mirai with ErrorValue RESET; daemons and dispatcher exit. */
export async function teardown(name: string): Promise<void> {
  const p = getProfile(name);
  if (!p) return;
  deleteProfile(name);
  // Whoever leaves from now on leaves because of this reset (daemonEvents(): 'hostClosed').
  p.host.daemonHub.closing();
  // Daemons told to exit below may die any way they like: none of them is to be replaced.
  for (const l of p.local) l.disarm();
  for (const r of p.remote) r.disarm?.();
  const release = keepAlive();
  try {
    await p.host.close(true);
    if (p.dispatcher) {
      const exited = await Promise.race([p.dispatcher.exited.then(() => true), delay(3000, false)]);
      if (!exited) p.dispatcher.kill();
    }
    await Promise.all(p.local.map((l) => l.stop()));
    await Promise.all(
      p.cleanups.map((c) =>
        Promise.resolve()
          .then(c)
          .catch(() => {}),
      ),
    );
    const file = ipcPath(p.url);
    if (file) rmSync(file, { force: true });
  } finally {
    // Every daemon's disconnect has been told (local ones with their exit status): the end.
    p.host.daemonHub.end();
    release();
  }
}

export function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}
