/**
 * sshConfig(): daemons started over SSH. Each daemon runs inside an ssh session held open by an
 * `ssh` client child of this process:
 *
 *   ssh [sshArgs] -o BatchMode=yes -o ConnectTimeout=<s> -T [-p port] [-i identity]
 *       [-o ExitOnForwardFailure=yes -R 127.0.0.1:<port>:127.0.0.1:<port>] <user@host> 'exec node -e ... daemon <url> ...'
 *
 * The daemon exits when its host goes (the connection closes) and also when the session ends
 * (its stdin, held open by the ssh client, reaches EOF): stop() ends the clients and so the
 * daemons on the far side. With `tunnel`, the url must be on 127.0.0.1: ssh forwards that port on
 * the far side back to this machine (`-R`), and the daemons dial 127.0.0.1 there; all daemons of
 * one remote then share one session (one forwarded port per remote).
 *
 * The secret the daemons prove to the host is the first line the session reads on stdin: the
 * remote shell `read`s it into MIRAI_SECRET before starting them, so it is in no command line
 * on either machine.
 *
 * With `respawn: true`, a session that ends unexpectedly after its daemons connected (the
 * connection dropped, the daemon was killed) is started again the same way, the secret on its
 * stdin again; a session whose daemons ended on purpose (status 0) is not. With a tunnel the
 * unit is the session: it is restarted when it ends, not when one of its several daemons does.
 *
 * The remote user's login shell must be a POSIX shell (sh, bash, dash, zsh, ksh).
 */
import type { DaemonOptions } from '../daemon/options';
import { parseUrl } from '../wire/url';
import { SECRET_ENV } from '../wire/auth';
import {
  daemonCommand,
  LaunchGroup,
  nodeWords,
  shellQuote,
  type NodeCommand,
  type RemoteConfig,
  type RemoteLaunch,
} from './remote';
import { checkOptions, describe, is, type Schema } from '../wire/validate';

export interface SshOptions {
  /** Forward the url's port back to this machine (`ssh -R`); the url must be on 127.0.0.1. */
  tunnel?: boolean;
  /** Connection timeout in ms (ssh's ConnectTimeout; default 10000). Daemons then have 30 s
   *  more to connect. */
  timeout?: number;
  /** The ssh client (default 'ssh'). */
  command?: string;
  /** SSH port for remotes that do not name one (default: ssh's own, usually 22). */
  port?: number;
  /** Private key file (`ssh -i`). */
  identity?: string;
  /** More ssh arguments, before the built-in ones (so that their `-o` settings win). */
  sshArgs?: string[];
  /** The Node.js binary on the remotes (default 'node' on the login PATH), or its words. */
  node?: NodeCommand;
  /** Start a session again when it ends unexpectedly after its daemons connected (default
   *  false), with the local daemons' backoff and crash-loop limit. */
  respawn?: boolean;
}

interface Remote {
  /** As given, for messages. */
  name: string;
  /** ssh destination: host or user@host (IPv6 without brackets). */
  dest: string;
  port?: number;
}

/** sshConfig() options (lib/wire/validate.ts vocabulary); `node` is checked by nodeWords(). */
const SSH_SCHEMA: Schema = {
  tunnel: [is.bool, 'a boolean'],
  timeout: [is.posFinite, 'a positive number of ms'],
  command: [is.nonEmptyString, 'a non-empty string'],
  port: [(v) => validPort(v as number), 'an integer 1-65535'],
  identity: [is.nonEmptyString, 'a key file path'],
  sshArgs: [is.stringArray, 'an array of strings'],
  node: [is.any, 'a node command'],
  respawn: [is.bool, 'a boolean'],
};

/**
 * Launches daemons over SSH on `remotes`: 'host', 'user@host' or 'ssh://[user@]host[:port]'
 * (IPv6 as 'ssh://[::1]:22'). Key-based login must already work (ssh runs with BatchMode).
 * n daemons go round-robin over the remotes: n = remotes.length puts one on each (the default
 * when daemons() gets no n); a larger n spreads them evenly.
 */
export function sshConfig(remotes: string | string[], opts: SshOptions = {}): RemoteConfig {
  const list = typeof remotes === 'string' ? [remotes] : remotes;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      `sshConfig(remotes): remotes must be a host string or a non-empty array of them (got ${describe(remotes)})`,
    );
  }
  checkOptions('sshConfig()', opts, SSH_SCHEMA, { plain: true });
  const { tunnel = false, timeout = 10000, command = 'ssh', port, identity, sshArgs = [], respawn = false } = opts;
  const node = nodeWords(opts.node, 'sshConfig(): node');
  const parsed = list.map((r) => parseRemote(r, port));
  const connectSecs = Math.max(1, Math.ceil(timeout / 1000));
  const names = list.join(', ');

  const launch = async (n: number, url: string, dopts: DaemonOptions): Promise<RemoteLaunch> => {
    let fwd: number | undefined;
    if (tunnel) {
      const u = parseUrl(url);
      if ((u.scheme !== 'tcp' && u.scheme !== 'tls+tcp') || u.host !== '127.0.0.1' || u.port <= 0) {
        throw new TypeError(
          `sshConfig({ tunnel: true }) needs a tcp:// or tls+tcp:// url on 127.0.0.1, such as localUrl({ tcp: true }) (got '${url}')`,
        );
      }
      fwd = u.port;
    }
    // Round-robin: daemon i goes to remote i % length.
    const perRemote = parsed.map((_, i) => Math.floor(n / parsed.length) + (i < n % parsed.length ? 1 : 0));
    const daemon = daemonCommand(url, dopts, { node, exitOnStdinEnd: true });
    const secretLine = dopts.secret !== undefined ? `IFS= read -r ${SECRET_ENV} && export ${SECRET_ENV} && ` : '';
    // Without a tunnel, one session per daemon (each fails or ends on its own); with one, a
    // session per remote holds the forwarded port for all its daemons.
    const sessions: Array<{ remote: Remote; count: number }> = [];
    parsed.forEach((remote, i) => {
      const k = perRemote[i]!;
      if (k === 0) return;
      if (tunnel) sessions.push({ remote, count: k });
      else for (let j = 0; j < k; j++) sessions.push({ remote, count: 1 });
    });
    const group = new LaunchGroup({ respawn, what: `ssh sessions to ${names}` });
    const commands: string[] = [];
    for (const { remote, count } of sessions) {
      const args = [
        ...sshArgs,
        '-o',
        'BatchMode=yes',
        '-o',
        `ConnectTimeout=${connectSecs}`,
        '-T',
        ...(remote.port !== undefined ? ['-p', String(remote.port)] : []),
        ...(identity !== undefined ? ['-i', identity] : []),
        ...(fwd !== undefined ? ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${fwd}:127.0.0.1:${fwd}`] : []),
        remote.dest,
        secretLine + sessionScript(daemon, count),
      ];
      commands.push([command, ...args].map(shellQuote).join(' '));
      // A relaunch reuses these start options: the secret is written to the new session's stdin.
      group.start(`ssh to ${remote.name}`, command, args, {
        keepStdin: true,
        output: dopts.output === true,
        failOnCleanExit: true,
        stdinText: dopts.secret !== undefined ? `${dopts.secret}\n` : undefined,
      });
    }
    return group.launch(commands);
  };

  return {
    launch,
    describe: () => `ssh to ${names}`,
    timeout: timeout + 30000,
    count: list.length,
  };
}

/** The remote shell's command for `count` daemons: exec the one, or start them all and wait. */
function sessionScript(daemon: string, count: number): string {
  if (count === 1) return `exec ${daemon}`;
  // Background jobs of a non-interactive shell get /dev/null as stdin: hand them the session's
  // stdin on fd 3, so that each sees EOF when the session ends.
  return `exec 3<&0; ${Array.from({ length: count }, () => `${daemon} <&3 &`).join(' ')} wait`;
}

function parseRemote(r: unknown, defaultPort: number | undefined): Remote {
  if (typeof r !== 'string' || r === '')
    throw new TypeError(`sshConfig(remotes): each remote must be a non-empty string (got ${describe(r)})`);
  if (/\s/.test(r) || r.startsWith('-')) {
    throw new TypeError(
      `sshConfig(remotes): '${r}' is not a host: expected 'host', 'user@host' or 'ssh://user@host:port'`,
    );
  }
  if (r.includes('://')) {
    const m = /^ssh:\/\/(?:([^@/]+)@)?(\[[0-9A-Fa-f:.%a-zA-Z]+\]|[^:/@[\]]+)(?::(\d+))?\/?$/.exec(r);
    if (!m)
      throw new TypeError(
        `sshConfig(remotes): cannot parse '${r}': expected 'ssh://[user@]host[:port]' (IPv6 as ssh://[::1]:22)`,
      );
    const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
    const port = m[3] !== undefined ? Number(m[3]) : defaultPort;
    if (port !== undefined && !validPort(port))
      throw new TypeError(`sshConfig(remotes): '${r}' has port ${m[3]}: expected 1-65535`);
    return { name: r, dest: m[1] ? `${m[1]}@${host}` : host, port };
  }
  const dest = r.replace(/@\[(.*)\]$/, '@$1').replace(/^\[(.*)\]$/, '$1');
  return { name: r, dest, port: defaultPort };
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}
