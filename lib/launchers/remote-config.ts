/**
 * remoteConfig(): daemons started through any launcher program, once per daemon. Each `"."` in
 * `args` becomes the daemon command:
 *
 *   - quote: true (default): one argument, the whole command as POSIX shell text, for launchers
 *     that hand it to a shell: `sh -c .`, `ssh host .`, `sbatch --wrap .`, `bsub .`;
 *   - quote: false: the command's words as separate arguments, for launchers that execute a
 *     program directly: `srun .`, `env VAR=x .`, `docker exec box .`, `kubectl exec pod -- .`;
 *   - quote: a function: one argument, each word quoted by it (for a non-POSIX shell on the far
 *     side).
 *
 * Launchers are run directly (no shell on this side), each in its own process group: stop() ends
 * those still running, with whatever they started. A launcher that fails to start or exits with a
 * non-zero status fails the launch with its output; one that exits 0 (e.g. after submitting a
 * job) is fine.
 *
 * With `respawn: true`, a launcher that ends unexpectedly after its daemons have connected is run
 * again (same command, same environment), as local daemons are replaced: for launchers that stay
 * up while their daemon runs (`sh -c .`, `ssh host .`, `srun .`, `docker exec box .`). One that
 * exits 0 after submitting a job (`sbatch --wrap .`, `bsub .`) ended on purpose as far as this
 * side can tell, and a job that dies later is not seen: use the scheduler's requeue for those.
 *
 * The secret the daemons prove to the host travels in the launcher's environment (MIRAI_SECRET)
 * by default, which `sh -c`, `srun`, `sbatch`, `bsub` pass on to the daemon; for launchers that
 * do not (`ssh`, `docker exec`, `kubectl exec`), `secret: 'command'` puts it in the command as an
 * `env MIRAI_SECRET=...` prefix instead, where other users of that machine may see it in `ps`.
 */
import type { DaemonOptions } from '../daemon/options';
import { SECRET_ENV } from '../wire/auth';
import {
  daemonArgv,
  daemonCommand,
  LaunchGroup,
  redact,
  nodeWords,
  shellQuote,
  type NodeCommand,
  type Quoter,
  type RemoteConfig,
  type RemoteLaunch,
} from './remote';
import { checkOptions, describe, is, type Schema } from '../wire/validate';

export interface RemoteConfigOptions {
  /** The launcher program, e.g. 'sh', 'ssh', 'sbatch', 'docker'. */
  command: string;
  /** Its arguments; each "." is replaced by the daemon command. */
  args: string[];
  /** The Node.js binary where the daemon runs (default 'node'), or its words. */
  node?: NodeCommand;
  /** How "." is replaced: quoted shell text (true, default), separate words (false), or each
   *  word quoted by the given function. */
  quote?: boolean | Quoter;
  /** How long to wait for the daemons to connect, ms (default 60000). */
  timeout?: number;
  /** How the secret reaches the daemon: the launcher's environment ('env', default) or an
   *  `env MIRAI_SECRET=...` prefix in the command ('command'). */
  secret?: 'env' | 'command';
  /**
   * Run a launcher again when it ends unexpectedly after its daemons connected (default false):
   * backoff 0.1 s doubling to 5 s, at most 5 unexpected ends in 30 s, then status().error and a
   * warning. Only for launchers that stay up while their daemon runs (`sh -c`, `ssh`, `srun`):
   * an exit with status 0 (or 130) counts as the daemon leaving on purpose.
   */
  respawn?: boolean;
}

/** remoteConfig() options (lib/wire/validate.ts vocabulary); `node` is checked by nodeWords(). */
const REMOTE_SCHEMA: Schema = {
  command: [is.nonEmptyString, 'a non-empty string'],
  args: [is.stringArray, 'an array of strings'],
  node: [is.any, 'a node command'],
  quote: [(v) => typeof v === 'boolean' || typeof v === 'function', 'a boolean or a function'],
  timeout: [is.posFinite, 'a positive number of ms'],
  secret: [(v) => v === 'env' || v === 'command', "'env' or 'command'"],
  respawn: [is.bool, 'a boolean'],
};

/** A launch configuration that runs `command args...` once per daemon ("." = daemon command). */
export function remoteConfig(config: RemoteConfigOptions): RemoteConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(
      `remoteConfig(config): config must be an object such as { command: 'sh', args: ['-c', '.'] } (got ${describe(config)})`,
    );
  }
  checkOptions('remoteConfig()', config, REMOTE_SCHEMA, { plain: true });
  const { command, args, quote = true, timeout } = config;
  // Required, so not left to the schema (which skips absent keys).
  if (typeof command !== 'string' || command === '')
    throw new TypeError(`remoteConfig(): command must be a non-empty string (got ${describe(command)})`);
  if (!Array.isArray(args))
    throw new TypeError(`remoteConfig(): args must be an array of strings (got ${describe(args)})`);
  if (!args.includes('.')) {
    throw new TypeError(
      `remoteConfig(): args must contain "." where the daemon command goes, e.g. ['-c', '.'] (got ${JSON.stringify(args)})`,
    );
  }
  const respawn = config.respawn === true;
  const inCommand = config.secret === 'command';
  const node = nodeWords(config.node, 'remoteConfig(): node');
  const argsCopy = [...args];
  const label = [command, ...argsCopy].map(shellQuote).join(' ');

  const launch = async (n: number, url: string, opts: DaemonOptions): Promise<RemoteLaunch> => {
    let full: string[];
    if (quote === false) {
      const words = daemonArgv(url, opts, { node, secretInCommand: inCommand });
      full = argsCopy.flatMap((a) => (a === '.' ? words : [a]));
    } else {
      const text = daemonCommand(url, opts, {
        node,
        quote: quote === true ? shellQuote : quote,
        secretInCommand: inCommand,
      });
      full = argsCopy.map((a) => (a === '.' ? text : a));
    }
    const group = new LaunchGroup({ respawn, what: `launchers (${label})` });
    const line = redact([command, ...full].map(shellQuote).join(' '), opts.secret);
    const env = !inCommand && opts.secret !== undefined ? { [SECRET_ENV]: opts.secret } : undefined;
    for (let i = 0; i < n; i++) group.start('the launcher', command, full, { output: opts.output === true, env });
    // Each relaunch reuses these start options: the secret again in the launcher's environment.
    return group.launch(Array.from({ length: n }, () => line));
  };

  return { launch, describe: () => `launcher '${label}'`, ...(timeout !== undefined ? { timeout } : {}) };
}
