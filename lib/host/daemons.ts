/**
 * daemons(): set up, reset and tear down the daemons of a profile, and what goes with them:
 * status(), withDaemons(), launchLocal(), launchRemote().
 */
import { checkSecret, DEFAULT_MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE_LIMIT, newSecret, SECRET_ENV } from '../wire/auth';
import { startDispatcher } from '../dispatcher/main';
import { Host } from './host';
import { LocalDaemons, type LocalLaunchOptions } from '../launchers/local';
import { warnRespawnStopped } from '../launchers/respawn';
import type { RemoteConfig } from '../launchers/remote';
import { manualCommands } from '../launchers/remote';
import { keepAlive } from '../nng';
import { checkOptions, describe, is, type Schema } from '../wire/validate';
import { makePayload } from '../wire/payload';
import { deleteProfile, getProfile, profileName, setProfile, withProfile, type Profile } from './profiles';
import { checkSerial, SerialCodec, serialSources, type SerialConfig } from '../wire/serial';
import { hostTls, serverConfig, type HostTls } from './tls-setup';
import { ipcPath, localUrl, parseUrl, removeStaleFiles } from '../wire/url';
import { rmSync } from 'node:fs';

/** Options of the daemon processes themselves (also for launchLocal / launchRemote). */
export interface DaemonProcessOptions {
  /** Exit after this many tasks. */
  maxTasks?: number;
  /** Exit after this long (ms) without a task. */
  idleTime?: number;
  /** Exit after this long (ms) in all. */
  walltime?: number;
  /** Remove the globals a task created after it (default true). */
  cleanup?: boolean;
  /** Forward the daemons' stdout/stderr to this process (default false). */
  output?: boolean;
  /** Exit when the connection to the host is gone (default true). */
  autoExit?: boolean;
  /** Environment for local daemons (merged over this process's). */
  env?: Record<string, string>;
  /** Node flags for local daemons. */
  execArgv?: string[];
  /** Heap limit of local daemons, in MB (--max-old-space-size). */
  memory?: number;
  /** Mutual TLS (a host given tls: { cert, key, ca }): the daemons' certificate, PEM or a path. */
  tlsClientCert?: string;
  /** Mutual TLS: the key of tlsClientCert, as a file path where the daemons run. */
  tlsClientKey?: string;
  /**
   * Replace a local daemon that dies unexpectedly (default true): after a backoff (0.1 s
   * doubling to 5 s), until 5 have died within 30 s; then status().error says why and a
   * warning is emitted. Daemons leaving on purpose (idleTime, maxTasks, walltime) are not
   * replaced. Remote daemons are relaunched only when their launch config opts in
   * (sshConfig(..., { respawn: true }), remoteConfig({ ..., respawn: true })); false here
   * turns that off too.
   */
  respawn?: boolean;
}

export interface DaemonsOptions extends DaemonProcessOptions {
  /** Listen here for daemons: tcp://, tls+tcp://, ws://, ipc://, abstract:// (Linux); port 0 picks a free one. */
  url?: string;
  /** How to launch daemons on other machines (sshConfig, remoteConfig, clusterConfig). */
  remote?: RemoteConfig;
  /** FIFO dispatcher on a thread (true, default), in its own process, or none (round-robin). */
  dispatcher?: boolean | 'thread' | 'process';
  /**
   * CA-signed TLS: a PEM file (certificate, chain, key), [certChain, key], or { cert, key, ca }:
   * with `ca`, TLS is mutual and daemons must present a client certificate (daemon options
   * tlsClientCert / tlsClientKey) that chains to it.
   */
  tls?: string | [string, string] | { cert: string; key: string; ca?: string };
  /** Passphrase of the TLS key. */
  pass?: string;
  /**
   * What daemons must prove they know before they get anything (at least 16 characters).
   * Default: a fresh random secret per daemons() call, handed to every daemon it launches; give
   * your own only for daemons you start by other means than launchRemote() and the launchers.
   */
  secret?: string;
  /**
   * The largest message (a task's result, with an 8-byte header) the host accepts from a daemon,
   * in bytes; default 1 GiB, 0 for no limit. A daemon whose result is larger settles that task
   * with an error saying so; a peer that sends a larger frame anyway is disconnected.
   */
  maxMessageSize?: number;
  profile?: string;
  /**
   * Custom serialization for classes the structured clone cannot carry (a URL, a class
   * instance): `{ class: 'URL', serialize: (u) => u.href, deserialize: (s) => new URL(s) }`, or
   * an array of them. Applies to task data, results and everywhere(), both ways.
   */
  serial?: SerialConfig | SerialConfig[];
}

export interface DaemonSet extends AsyncDisposable {
  readonly profile: string;
  /** The URL daemons connect to (real port). */
  readonly url: string;
  /** How many daemons this set launched. */
  readonly launched: number;
  close(): Promise<void>;
}

export interface Status {
  /** Daemons connected now. */
  connections: number;
  /** The URL daemons connect to; '' when no daemons are set. */
  daemons: string;
  /** Task counters (with a dispatcher). */
  mirai?: { awaiting: number; executing: number; completed: number };
  /** Messages dropped: malformed, of a kind a daemon may not send, or answers from a daemon
   *  that does not hold that task. */
  dropped?: number;
  /** Connections closed because they did not prove they know the secret. */
  rejected?: number;
  /** Local daemons started to replace ones that died, and remote launchers started again
   *  (respawn: true in their config), when any were. */
  respawned?: number;
  /**
   * Why the profile has fewer daemons than it launched, when respawning stopped after a crash
   * loop. Tasks stay queued (as in R mirai) until daemons connect again (launchLocal()) or the
   * profile is reset.
   */
  error?: string;
}

const PROCESS_SCHEMA: Schema = {
  maxTasks: [(v) => is.nonNegInt(v) && (v as number) > 0, 'a positive integer'],
  idleTime: [is.posNumber, 'a positive number of ms'],
  walltime: [is.posNumber, 'a positive number of ms'],
  cleanup: [is.bool, 'a boolean'],
  output: [is.bool, 'a boolean'],
  autoExit: [is.bool, 'a boolean'],
  env: [is.stringRecord, 'an object of strings'],
  execArgv: [is.stringArray, 'an array of strings'],
  memory: [is.posNumber, 'a number of MB'],
  respawn: [is.bool, 'a boolean'],
  tlsClientCert: [is.string, 'PEM text or a file path'],
  tlsClientKey: [is.string, 'a file path (or PEM text)'],
};

const DAEMONS_SCHEMA: Schema = {
  ...PROCESS_SCHEMA,
  url: [is.string, 'a URL string'],
  remote: [is.object, 'a launch configuration (sshConfig, remoteConfig, clusterConfig)'],
  dispatcher: [(v) => typeof v === 'boolean' || v === 'thread' || v === 'process', "true, false, 'thread' or 'process'"],
  tls: [(v) => typeof v === 'string' || Array.isArray(v) || (typeof v === 'object' && v !== null), 'a PEM file path, [certChain, key] or { cert, key, ca? }'],
  pass: [is.string, 'a string'],
  secret: [is.string, 'a string of at least 16 characters'],
  maxMessageSize: [(v) => is.nonNegInt(v) && (v as number) <= MAX_MESSAGE_SIZE_LIMIT, `a number of bytes from 0 (no limit) to ${MAX_MESSAGE_SIZE_LIMIT}`],
  profile: [is.string, 'a string'],
  serial: [is.any, 'serialization config'],
};

/** How long daemons(n) waits for its daemons to connect. */
const CONNECT_TIMEOUT = 15000;

/**
 * Most daemons one daemons() / launchLocal() call starts. Each is a Node process (~40 MB); far
 * more than this is a typo (daemons(1e6)) that would fork until the machine gives out.
 */
export const MAX_DAEMONS = 1024;

function checkCount(what: string, n: number): void {
  if (n > MAX_DAEMONS) {
    throw new RangeError(`${what}: n must be at most ${MAX_DAEMONS} daemons per call (got ${n}); call launchLocal() again to add more`);
  }
}

/**
 * Sets up daemons for a profile and resolves once they are connected.
 * `daemons(n)`: n local daemons. `daemons({ url, remote })`: listen for remote daemons (and
 * launch n through `remote`). `daemons(0)`: tear the profile down. A live profile is reset first.
 */
export function daemons(n: 0, opts?: { profile?: string }): Promise<void>;
export function daemons(n: number, opts?: DaemonsOptions): Promise<DaemonSet>;
export function daemons(opts: DaemonsOptions & { url: string }): Promise<DaemonSet>;
export async function daemons(nOrOpts: number | DaemonsOptions, maybeOpts?: DaemonsOptions): Promise<DaemonSet | void> {
  let n: number;
  let opts: DaemonsOptions;
  if (typeof nOrOpts === 'object' && nOrOpts !== null) {
    opts = checkOptions('daemons()', nOrOpts, DAEMONS_SCHEMA) as DaemonsOptions;
    n = 0;
    if (!opts.url) throw new TypeError('daemons(opts): opts.url is required without a number of daemons');
  } else {
    if (typeof nOrOpts !== 'number' || !Number.isInteger(nOrOpts) || nOrOpts < 0) {
      throw new TypeError(`daemons(n): n must be a non-negative integer (got ${describe(nOrOpts)})`);
    }
    n = nOrOpts;
    checkCount('daemons(n)', n);
    opts = checkOptions('daemons()', maybeOpts, DAEMONS_SCHEMA) as DaemonsOptions;
  }
  const name = profileName(opts.profile);
  const serial = opts.serial === undefined ? undefined : checkSerial(opts.serial);
  // Everything that can be checked is checked before a live profile is reset: bad input
  // must not cost the tasks already submitted.
  if (opts.url !== undefined) parseUrl(opts.url);
  // Local daemons leave stderr logs in the temp dir; a killed earlier run could not remove its own.
  if (n > 0) removeStaleFiles();
  const url = opts.url ?? localUrl();
  const tls = n === 0 && !opts.url ? undefined : hostTls(url, opts.tls, opts.pass);
  if (opts.secret !== undefined) checkSecret(opts.secret, 'daemons()');
  await teardown(name);
  if (n === 0 && !opts.url) return;
  return setUp(name, n, opts, url, tls, serial);
}

async function setUp(
  name: string, n: number, opts: DaemonsOptions, url: string, tls: HostTls | undefined, serial: SerialConfig[] | undefined,
): Promise<DaemonSet> {
  const mode = opts.dispatcher === false ? 'direct' : 'dispatcher';
  const secret = opts.secret ?? newSecret();
  const maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const host = new Host(mode, secret, maxMessageSize);
  const profile: Profile = {
    name, host, url, tlsCert: tls?.clientCert, secret, dispatcher: undefined, local: [],
    daemonOptions: pickProcessOptions(opts), remote: [], cleanups: [], launched: 0,
  };
  const release = keepAlive();
  let early: Promise<void> | undefined;
  try {
    if (mode === 'dispatcher') {
      const dmode = opts.dispatcher === 'process' ? 'process' : 'thread';
      const hostUrl = dmode === 'thread' ? `inproc://mirai-host-${name}-${process.pid}-${Date.now()}` : localUrl();
      host.socket.listen(hostUrl);
      host.start();
      installSerial(host, serial);
      profile.dispatcher = startDispatcher(dmode, {
        hostUrl, daemonUrl: url, tls: tls ? { cert: tls.cert, key: tls.key, pass: tls.pass, ca: tls.ca } : undefined, secret, maxMessageSize,
      });
      // Local daemons on our own fresh IPC path start while the dispatcher comes up (they
      // wait for its socket): both take tens of ms, so this halves the time to connected.
      if (!opts.url && !opts.remote && n > 0) {
        setProfile(profile);
        early = launchLocal(n, { profile: name });
        early.catch(() => {});
      }
      const ready = await Promise.race([
        host.ready(10000),
        profile.dispatcher.exited.then(() => {
          const why = profile.dispatcher?.error;
          return { url: undefined, error: `the dispatcher exited before it was ready${why ? `: ${why}` : ''}` };
        }),
      ]);
      if (!ready.url) throw new Error(`daemons(): cannot listen on '${url}': ${ready.error ?? 'dispatcher failed'}`);
      profile.url = ready.url;
    } else {
      let listener;
      try {
        listener = host.socket.listen(url, { tls: tls ? serverConfig(tls) : undefined });
      } catch (e) {
        throw new Error(`daemons(): cannot listen on '${url}': ${(e as Error).message}`);
      }
      host.url = profile.url = listener.url;
      host.start();
      installSerial(host, serial);
    }
    setProfile(profile);
    if (early) await early;
    else if (opts.remote) {
      // Only daemon options travel to the launcher: never tls (the key), pass, url, dispatcher.
      await launchRemote(n || opts.remote.count || 1, { ...pickProcessOptions(opts), remote: opts.remote, profile: name });
    }
    else if (!opts.url && n > 0) await launchLocal(n, { profile: name });
  } catch (e) {
    await teardown(name).catch(() => {});
    await host.close(false);
    // It ends by itself once the host is gone; terminating a worker mid-flight is the last resort.
    if (profile.dispatcher) {
      const exited = await Promise.race([profile.dispatcher.exited.then(() => true), delay(3000, false)]);
      if (!exited) profile.dispatcher.kill();
    }
    throw e;
  } finally {
    release();
  }
  return daemonSet(profile);
}

/**
 * Custom serialization: the host codes with the functions themselves; daemons get their source
 * through an everywhere() sent before any task, which also reaches daemons that join later.
 */
function installSerial(host: Host, serial: SerialConfig[] | undefined): void {
  if (!serial) return;
  const install = (d: { s: unknown }): void => {
    (globalThis as Record<symbol, unknown>)[Symbol.for('mirai.serial')] = d.s;
  };
  host.everywhere(makePayload('daemons()', install, { s: serialSources(serial) })).catch(() => {});
  host.codec = SerialCodec.fromConfigs(serial);
}

function daemonSet(p: Profile): DaemonSet {
  const close = (): Promise<void> => (getProfile(p.name) === p ? teardown(p.name) : Promise.resolve());
  return {
    profile: p.name,
    url: p.url,
    get launched() {
      return p.launched;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function pickProcessOptions(opts: DaemonsOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(PROCESS_SCHEMA)) if ((opts as Record<string, unknown>)[k] !== undefined) out[k] = (opts as Record<string, unknown>)[k];
  return out;
}

/** Tears a profile down: settles its mirai with ErrorValue 19; daemons and dispatcher exit. */
async function teardown(name: string): Promise<void> {
  const p = getProfile(name);
  if (!p) return;
  deleteProfile(name);
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
    await Promise.all(p.cleanups.map((c) => Promise.resolve().then(c).catch(() => {})));
    const file = ipcPath(p.url);
    if (file) rmSync(file, { force: true });
  } finally {
    release();
  }
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

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
  const batch = new LocalDaemons(n, p.url, launchOpts);
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

function requireProfile(name: string | undefined, what: string): Profile {
  const p = getProfile(profileName(name));
  if (!p) throw new Error(`${what}: no daemons set for profile '${profileName(name)}'; call daemons() first`);
  return p;
}

/**
 * Throws unless daemons are set for the profile: for library code that must never fall back to
 * one-off processes (mirai() without daemons starts one per task).
 */
export function requireDaemons(profile?: string): void {
  const name = profileName(profile);
  if (!getProfile(name)) {
    throw new Error(`requireDaemons(): no daemons are set for profile '${name}': call daemons(n) (or daemons({ url })) first`);
  }
}

/** Connections, the daemons' URL and (with a dispatcher) task counters of a profile. */
export async function status(profile?: string): Promise<Status> {
  const p = getProfile(profileName(profile));
  if (!p) return { connections: 0, daemons: '' };
  const c = await p.host.counters();
  const own = p.host.refused;
  const s: Status = c
    ? {
        connections: c.connections,
        daemons: p.url,
        mirai: { awaiting: c.awaiting, executing: c.executing, completed: c.completed },
        dropped: own.dropped + c.dropped,
        rejected: own.rejected + c.rejected,
      }
    : { connections: p.host.connections, daemons: p.url, ...own };
  const respawned = p.local.reduce((sum, l) => sum + l.respawned, 0) + p.remote.reduce((sum, r) => sum + (r.respawned ?? 0), 0);
  if (respawned > 0) s.respawned = respawned;
  const errors = [...p.local.map((l) => l.gaveUp), ...p.remote.map((r) => r.gaveUp)].filter((e): e is string => e !== undefined);
  if (errors.length > 0) s.error = errors.join('\n');
  return s;
}

/**
 * Sets daemons up, runs fn with their profile as the default, and tears them down when fn
 * settles (also when it throws).
 */
export async function withDaemons<T>(n: number | (DaemonsOptions & { n?: number }), fn: () => Promise<T> | T): Promise<T> {
  const opts: DaemonsOptions & { n?: number } = typeof n === 'number' ? { n } : { ...n };
  const count = opts.n ?? 0;
  delete opts.n;
  const name = opts.profile ?? `withDaemons-${process.pid}-${++withCounter}`;
  const set = opts.url && !opts.remote && count === 0 ? await daemons({ ...opts, url: opts.url, profile: name }) : await daemons(count, { ...opts, profile: name });
  try {
    return await withProfile(name, fn);
  } finally {
    await set.close();
  }
}
let withCounter = 0;
