/**
 * Launch configurations for daemons on other machines, and the daemon command they run.
 * A command needs only `node` and this package on the far side; it embeds the URL, the daemon
 * options and, for TLS, the certificate to verify the host with (never a private key).
 */
import { buildDaemonArgs } from '../cli';
import type { DaemonOptions } from '../daemon';

/** A running launch: its commands, how to stop it, and a promise that settles if it fails. */
export interface RemoteLaunch {
  commands: string[];
  /** Ends what the launch started (ssh sessions, cluster jobs). */
  stop: () => Promise<void>;
  /** Resolves with a reason if the launch fails before its daemons connect. */
  failed: Promise<string>;
}

/** A way to start daemons elsewhere: sshConfig(), remoteConfig(), clusterConfig(). */
export interface RemoteConfig {
  /** Starts n daemons dialing url. */
  launch(n: number, url: string, opts: DaemonOptions): Promise<RemoteLaunch>;
  /** For messages: e.g. "ssh to host1, host2". */
  describe(): string;
  /** How long to wait for the daemons to connect (ms). */
  timeout?: number;
}

/** POSIX shell single-quoting: safe for any string, PEM text included. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_\-.,:/=@+%]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell command that starts one daemon dialing url, using `node` (or the given binary). */
export function daemonCommand(url: string, opts: DaemonOptions, node = 'node'): string {
  const args = buildDaemonArgs(url, opts);
  const boot = "require('mirai/cli').main(process.argv.slice(1))";
  return [node, '-e', boot, ...args].map(shellQuote).join(' ');
}

/** The commands for starting n daemons by hand (all alike; one per daemon). */
export function manualCommands(n: number, url: string, opts: DaemonOptions): string[] {
  const cmd = daemonCommand(url, opts);
  return Array.from({ length: n }, () => cmd);
}
