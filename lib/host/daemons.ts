/**
 * daemons(): set up, reset and tear down the daemons of a profile, and what goes with them:
 * status(), withDaemons(), requireDaemons(). Options and schemas: lib/host/daemons-options.ts;
 * launchLocal() / launchRemote(): lib/host/launch.ts (re-exported here).
 */
import { checkSecret, DEFAULT_MAX_MESSAGE_SIZE, newSecret } from '../wire/auth';
import { startDispatcher } from '../dispatcher/main';
import { Host } from './host';
import { keepAlive } from '../nng';
import { checkOptions, describe } from '../wire/validate';
import { makePayload } from '../wire/payload';
import { getProfile, profileName, setProfile, teardown, delay, withProfile, type Profile } from './profiles';
import { checkSerial, SerialCodec, serialSources, type SerialConfig } from '../wire/serial';
import { hostTls, serverConfig, type HostTls } from './tls-setup';
import { localUrl, parseUrl, removeStaleFiles } from '../wire/url';
import {
  checkCount,
  CONNECT_TIMEOUT,
  DAEMONS_SCHEMA,
  pickProcessOptions,
  type DaemonSet,
  type DaemonsOptions,
  type Status,
} from './daemons-options';
import { launchLocal, launchRemote } from './launch';
import { daemonCommand } from '../launchers/local';
import { startSync } from './sync';
import { QueueBudget } from './budget';
import { endSpan, startSpan } from '../wire/trace';
import { adoptWaiting } from './events';

export { launchLocal, launchRemote, type LaunchLocalOptions, type LaunchRemoteOptions } from './launch';
export {
  MAX_DAEMONS,
  type DaemonProcessOptions,
  type DaemonSet,
  type DaemonsOptions,
  type Status,
} from './daemons-options';

/**
 * Sets up daemons for a profile and resolves once they are connected.
 * `daemons(n)`: n local daemons. `daemons({ url, remote })`: listen for remote daemons (and
 * launch n through `remote`). `daemons(0)`: tear the profile down. A live profile is reset first.
 */
export function daemons(n: 0, opts?: { profile?: string }): Promise<void>;
export function daemons(n: number, opts?: DaemonsOptions): Promise<DaemonSet>;
export function daemons(opts: DaemonsOptions & { url: string }): Promise<DaemonSet>;
export function daemons(opts: DaemonsOptions & { sync: true }): Promise<DaemonSet>;
export async function daemons(nOrOpts: number | DaemonsOptions, maybeOpts?: DaemonsOptions): Promise<DaemonSet | void> {
  let n: number;
  let opts: DaemonsOptions;
  if (typeof nOrOpts === 'object' && nOrOpts !== null) {
    opts = checkOptions('daemons()', nOrOpts, DAEMONS_SCHEMA) as DaemonsOptions;
    n = 0;
    if (!opts.url && !opts.sync) throw new TypeError('daemons(opts): opts.url is required without a number of daemons');
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
  if (opts.sync) {
    const clash = (['url', 'remote', 'dispatcher', 'tls'] as const).filter((k) => opts[k] !== undefined);
    if (clash.length > 0)
      throw new TypeError(`daemons(): sync: true runs tasks in this process, so it takes no ${clash.join(', ')}`);
  }
  await teardown(name);
  if (n === 0 && !opts.url && !opts.sync) return;
  const mode = opts.sync
    ? 'sync'
    : opts.dispatcher === false
      ? 'round-robin'
      : `dispatcher ${opts.dispatcher === 'process' ? 'process' : 'thread'}`;
  const span = startSpan('mirai.daemons', {
    'mirai.profile': name,
    'mirai.daemons.n': n,
    'mirai.mode': mode,
    'url.scheme': opts.sync ? 'inproc' : url.slice(0, url.indexOf(':')),
  });
  try {
    const set = opts.sync ? await setUpSync(name, opts, serial) : await setUp(name, n, opts, url, tls, serial);
    if (span !== undefined) endSpan(span, undefined, { 'mirai.daemons.launched': set.launched });
    return set;
  } catch (e) {
    if (span !== undefined) endSpan(span, e);
    throw e;
  }
}

async function setUp(
  name: string,
  n: number,
  opts: DaemonsOptions,
  url: string,
  tls: HostTls | undefined,
  serial: SerialConfig[] | undefined,
): Promise<DaemonSet> {
  const mode = opts.dispatcher === false ? 'direct' : 'dispatcher';
  const secret = opts.secret ?? newSecret();
  const maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const host = new Host(mode, secret, maxMessageSize);
  if (opts.maxQueueBytes !== undefined) host.budget = new QueueBudget(opts.maxQueueBytes);
  adoptWaiting(name, host.daemonHub); // daemonEvents() called before this daemons()
  const profile: Profile = {
    name,
    host,
    url,
    tlsCert: tls?.clientCert,
    secret,
    dispatcher: undefined,
    local: [],
    daemonOptions: pickProcessOptions(opts),
    remote: [],
    cleanups: [],
    launched: 0,
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
      profile.dispatcher = startDispatcher(
        dmode,
        {
          hostUrl,
          daemonUrl: url,
          tls: tls ? { cert: tls.cert, key: tls.key, pass: tls.pass, ca: tls.ca } : undefined,
          secret,
          maxMessageSize,
          ...(opts.prefetch ? { prefetch: true } : {}),
        },
        daemonCommand(opts.node),
      );
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
      await launchRemote(n || opts.remote.count || 1, {
        ...pickProcessOptions(opts),
        remote: opts.remote,
        profile: name,
      });
    } else if (!opts.url && n > 0) await launchLocal(n, { profile: name });
  } catch (e) {
    await teardown(name).catch(() => {});
    await host.close(false);
    host.daemonHub.end();
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

/** daemons({ sync: true }): one daemon in this process (lib/host/sync.ts). */
async function setUpSync(name: string, opts: DaemonsOptions, serial: SerialConfig[] | undefined): Promise<DaemonSet> {
  const secret = opts.secret ?? newSecret();
  const host = new Host('direct', secret, opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
  if (opts.maxQueueBytes !== undefined) host.budget = new QueueBudget(opts.maxQueueBytes);
  adoptWaiting(name, host.daemonHub);
  const profile: Profile = {
    name,
    host,
    url: '',
    tlsCert: undefined,
    secret,
    dispatcher: undefined,
    local: [],
    daemonOptions: {},
    remote: [],
    cleanups: [],
    launched: 1,
  };
  try {
    profile.url = await startSync(host, name, secret, CONNECT_TIMEOUT);
    installSerial(host, serial);
  } catch (e) {
    await host.close(false);
    throw e;
  }
  setProfile(profile);
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

/**
 * Throws unless daemons are set for the profile: for library code that must never fall back to
 * one-off processes (mirai() without daemons starts one per task).
 */
export function requireDaemons(profile?: string): void {
  const name = profileName(profile);
  if (!getProfile(name)) {
    throw new Error(
      `requireDaemons(): no daemons are set for profile '${name}': call daemons(n) (or daemons({ url })) first`,
    );
  }
}

/** Connections, the daemons' URL and (with a dispatcher) task counters of a profile. */
export async function status(profile?: string): Promise<Status> {
  const p = getProfile(profileName(profile));
  if (!p) return { connections: 0, daemons: '' };
  // The host's own figure as of the call: the dispatcher's answer comes after the results sent
  // before it, which would already have released their bytes.
  const budget = p.host.budget;
  const memory = budget !== undefined ? { used: budget.used, limit: budget.limit } : undefined;
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
  if (memory !== undefined) s.memory = memory;
  const respawned =
    p.local.reduce((sum, l) => sum + l.respawned, 0) + p.remote.reduce((sum, r) => sum + (r.respawned ?? 0), 0);
  if (respawned > 0) s.respawned = respawned;
  const errors = [...p.local.map((l) => l.gaveUp), ...p.remote.map((r) => r.gaveUp)].filter(
    (e): e is string => e !== undefined,
  );
  if (errors.length > 0) s.error = errors.join('\n');
  return s;
}

/**
 * Sets daemons up, runs fn with their profile as the default, and tears them down when fn
 * settles (also when it throws).
 */
export async function withDaemons<T>(
  n: number | (DaemonsOptions & { n?: number }),
  fn: () => Promise<T> | T,
): Promise<T> {
  const opts: DaemonsOptions & { n?: number } = typeof n === 'number' ? { n } : { ...n };
  const count = opts.n ?? 0;
  delete opts.n;
  const name = opts.profile ?? `withDaemons-${process.pid}-${++withCounter}`;
  const set =
    opts.url && !opts.remote && count === 0
      ? await daemons({ ...opts, url: opts.url, profile: name })
      : await daemons(count, { ...opts, profile: name });
  try {
    return await withProfile(name, fn);
  } finally {
    await set.close();
  }
}
let withCounter = 0;
