/**
 * URLs, one authority for both sides: the schemes this package speaks (SCHEMES), parseUrl() for
 * what users give daemons() and launchers, and the URLs it makes itself (localUrl() for daemons
 * on this machine, hostUrl() for remote ones), plus the sweep of sockets and logs that killed
 * processes left in the temp dir. The daemon's option check uses the same scheme list.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe } from './validate';

/** The URL schemes daemons can connect over. */
export type Scheme = 'ipc' | 'abstract' | 'tcp' | 'tls+tcp' | 'ws' | 'wss' | 'inproc';

export interface ParsedUrl {
  scheme: Scheme;
  /** Host name or address, without IPv6 brackets ('' for ipc / abstract / inproc). */
  host: string;
  /** Port (0: pick one); -1 for ipc / abstract / inproc. */
  port: number;
  /** ipc path, abstract socket name, inproc name, or ws path. */
  path: string;
}

/** Every scheme this package speaks, the one list (daemon options, parseUrl, the CLI check). */
export const SCHEMES: readonly Scheme[] = ['ipc', 'abstract', 'tcp', 'tls+tcp', 'ws', 'wss', 'inproc'];

/** Parses and validates a daemon URL; throws a TypeError that names the URL and what is wrong. */
export function parseUrl(url: unknown): ParsedUrl {
  if (typeof url !== 'string' || url.length === 0) {
    throw new TypeError(`url must be a string such as 'tcp://10.0.0.1:5555' (got ${describe(url)})`);
  }
  const m = /^([a-z+]+):\/\/(.*)$/.exec(url);
  const scheme = m?.[1] as Scheme | undefined;
  if (!m || !scheme || !SCHEMES.includes(scheme)) {
    throw new TypeError(
      `unsupported url '${url}': expected ipc://, abstract:// (Linux), tcp://, tls+tcp://, ws:// or wss://`,
    );
  }
  const rest = m[2]!;
  if (scheme === 'abstract' && process.platform !== 'linux') {
    throw new TypeError(`url '${url}': abstract:// sockets exist on Linux only (use ipc://)`);
  }
  if (scheme === 'ipc' || scheme === 'abstract' || scheme === 'inproc') {
    if (rest.length === 0) throw new TypeError(`url '${url}' needs a ${scheme === 'abstract' ? 'name' : 'path'}`);
    return { scheme, host: '', port: -1, path: rest };
  }
  return hostPort(url, scheme, rest);
}

/**
 * host:port schemes: the WHATWG URL parser splits them (IPv6 in brackets, user info, query
 * and fragment refused); the port as written is required, and one out of range gets its own
 * message (WHATWG only says "invalid").
 */
function hostPort(url: string, scheme: Scheme, rest: string): ParsedUrl {
  const bad = (): TypeError => new TypeError(`url '${url}' must be ${scheme}://host:port (IPv6 in brackets)`);
  const written = /^(?:\[[^\]]*\]|[^/]*?):(\d+)(?:\/|$)/.exec(rest);
  if (written && Number(written[1]) > 65535)
    throw new TypeError(`url '${url}' has port ${written[1]}: expected 0-65535`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad();
  }
  if (!written || u.hostname === '' || u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '')
    throw bad();
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  // ws / wss (special schemes) read an absent path as '/': only a path that was written counts.
  const path = rest.includes('/') ? u.pathname : '';
  return { scheme, host, port: Number(written[1]), path };
}

/** True for TLS URLs: tls+tcp:// and wss:// (and NNG's IPv4 / IPv6-only tls+tcp4, wss6...). */
export function isTlsUrl(url: string): boolean {
  return /^(tls\+tcp[46]?|wss[46]?):\/\//.test(url);
}

/**
 * A URL for daemons on this machine: on Linux a fresh abstract socket (`abstract://mirai-...`,
 * no file, nothing left behind however the host ends), elsewhere a fresh IPC path in the temp
 * dir; with `tcp`, `tcp://127.0.0.1:port` (port 0: any free port). An abstract socket has no
 * file permissions: any local process in the same network namespace may connect to it.
 */
export function localUrl(opts: { tcp?: boolean; port?: number } = {}): string {
  if (opts.tcp) return `tcp://127.0.0.1:${checkPort(opts.port ?? 0)}`;
  removeStaleFiles();
  const name = `mirai-${process.pid}-${randomBytes(6).toString('hex')}`;
  if (process.platform === 'linux') return `abstract://${name}`;
  return `ipc://${path.join(os.tmpdir(), `${name}.sock`)}`;
}

/** `mirai-<pid>-<hex>.sock` / `.log`: the names localUrl() and local daemons' stderr use. */
const OWN_FILE = /^mirai-(\d+)-[0-9a-f]{8,12}\.(sock|log)$/;
let swept = false;

/**
 * Removes the temp-dir sockets and daemon stderr logs left by mirai processes that no longer
 * run (a host killed with SIGKILL cannot remove its own). Once per process, from the first
 * localUrl() or daemons() call with local daemons; only our own user's files, only for pids that are gone, and
 * every error is ignored (another process may be sweeping too). Returns the paths removed.
 * @internal
 */
export function removeStaleFiles(dir = os.tmpdir(), force = false): string[] {
  if (swept && !force) return [];
  swept = true;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = OWN_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const file = path.join(dir, name);
    try {
      const st = lstatSync(file);
      if (uid !== undefined && st.uid !== uid) continue;
      if (m[2] === 'sock' ? !st.isSocket() : !st.isFile()) continue;
      rmSync(file, { force: true });
      removed.push(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A URL on this machine's network address, for daemons on other machines:
 * `tcp://<ip>:<port>` or, with `tls`, `tls+tcp://<ip>:<port>` (port 0: any free port).
 */
export function hostUrl(opts: { tls?: boolean; port?: number } = {}): string {
  const scheme = opts.tls ? 'tls+tcp' : 'tcp';
  return `${scheme}://${hostAddress()}:${checkPort(opts.port ?? 0)}`;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer 0-65535 (got ${String(port)})`);
  }
  return port;
}

/** The first non-internal IPv4 address, else the hostname. */
function hostAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return os.hostname();
}

/** The filesystem path of an ipc:// URL, or undefined. */
export function ipcPath(url: string): string | undefined {
  return url.startsWith('ipc://') ? url.slice(6) : undefined;
}
