/**
 * clusterConfig(): daemons as jobs of a cluster resource manager (Slurm, SGE, PBS, LSF).
 *
 * Each daemon gets a job script: `#!/bin/sh`, the scheduler's option lines (bare options get the
 * scheduler's prefix), then the daemon command. The script is submitted with `sbatch --parsable`,
 * `qsub` or `bsub < script`; stop() cancels the jobs (`scancel` / `qdel` / `bkill`) and removes the
 * scripts. A submission that fails, and (Slurm) a job that ends in failure before the daemons have
 * connected, settle `failed` with the reason.
 *
 * No `respawn` option (a TypeError): unlike sshConfig and remoteConfig launchers, no process here
 * lives as long as the job, so a job that ends later cannot be told from one that finished.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DaemonOptions } from '../daemon/options';
import { SECRET_ENV } from '../wire/auth';
import {
  daemonCommand,
  nodeWords,
  redact,
  shellQuote,
  type NodeCommand,
  type RemoteConfig,
  type RemoteLaunch,
} from './remote';
import { checkOptions, describe, is, type Schema } from '../wire/validate';
import { runChild } from './child';

export type ClusterCommand = 'sbatch' | 'qsub' | 'bsub';

export interface ClusterConfigOptions {
  /** The submit command: 'sbatch' (Slurm), 'qsub' (SGE or PBS), 'bsub' (LSF). */
  command: ClusterCommand;
  /**
   * Scheduler options, one per line, e.g. '#SBATCH --mem 512\n#SBATCH -t 10' or bare
   * '--mem 512' (given the right prefix: #SBATCH, #$ for SGE, #PBS, #BSUB). An array of lines is
   * accepted too.
   */
  options?: string | string[];
  /** The Node.js binary on the cluster's nodes (default 'node', found on the job's PATH), or its
   *  words, e.g. ['env', 'NODE_PATH=/shared/lib/node_modules', 'node']. */
  node?: NodeCommand;
  /** qsub only: 'sge' (#$ lines, the default) or 'pbs' (#PBS lines); implied by prefixed lines. */
  scheduler?: 'sge' | 'pbs';
  /** How long daemons() / launchRemote() wait for the jobs' daemons to connect (ms). */
  timeout?: number;
}

type Flavor = 'slurm' | 'sge' | 'pbs' | 'lsf';

const PREFIX: Record<Flavor, string> = { slurm: '#SBATCH', sge: '#$', pbs: '#PBS', lsf: '#BSUB' };
const NAME: Record<Flavor, string> = { slurm: 'Slurm', sge: 'SGE', pbs: 'PBS', lsf: 'LSF' };
const CANCEL: Record<Flavor, string> = { slurm: 'scancel', sge: 'qdel', pbs: 'qdel', lsf: 'bkill' };

/** How long one submit / cancel / query command may take (ms). */
const COMMAND_TIMEOUT = 30000;
/** How often Slurm jobs are checked for early failure while daemons are awaited (ms). */
const POLL_MS = 1000;
/** Default wait for the daemons to connect, matching launchRemote's. */
const DEFAULT_TIMEOUT = 60000;

/**
 * clusterConfig() options (lib/wire/validate.ts vocabulary); `node` is checked by nodeWords(),
 * `options` and `scheduler` by optionLines() / flavorOf(), with messages of their own.
 */
const CLUSTER_SCHEMA: Schema = {
  command: [(v) => v === 'sbatch' || v === 'qsub' || v === 'bsub', "'sbatch', 'qsub' or 'bsub'"],
  options: [is.any, 'option lines'],
  node: [is.any, 'a node command'],
  scheduler: [is.any, "'sge' or 'pbs'"],
  timeout: [is.posFinite, 'a positive number of ms'],
};

/**
 * A launch configuration that starts each daemon as a cluster job: for `daemons(n, { url,
 * remote })` or `launchRemote(n, { remote })`. `describe()` gives e.g. 'sbatch (Slurm)'.
 */
export function clusterConfig(config: ClusterConfigOptions): RemoteConfig {
  if (config === null || typeof config !== 'object') {
    throw new TypeError(
      `clusterConfig() expects an options object such as { command: 'sbatch', options: '#SBATCH --mem 512' }`,
    );
  }
  if ('respawn' in config) {
    // Nothing here stays up with the job: the submit command exits once the job is queued, so a
    // job that dies later is not seen as a process ending. The scheduler requeues failed jobs.
    throw new TypeError(
      'clusterConfig(): respawn is not supported: a submitted job has no launcher process here to watch; ' +
        "use the scheduler's own requeue (e.g. options '#SBATCH --requeue'), or launchRemote() again",
    );
  }
  checkOptions('clusterConfig()', config, CLUSTER_SCHEMA, { plain: true });
  const { command, timeout } = config;
  // Required, so not left to the schema (which skips absent keys).
  if (!CLUSTER_SCHEMA.command![0](command)) {
    throw new TypeError(`clusterConfig(): command must be 'sbatch', 'qsub' or 'bsub' (got ${describe(command)})`);
  }
  const node = nodeWords(config.node, 'clusterConfig(): node');
  const lines = optionLines(config.options);
  const flavor = flavorOf(command, config.scheduler, lines);
  const header = normalizeOptions(lines, flavor);
  const description = `${command} (${NAME[flavor]})`;

  return {
    describe: () => description,
    timeout,
    launch: (n, url, opts) =>
      launchJobs(n, url, opts, { command, flavor, header, node, timeout: timeout ?? DEFAULT_TIMEOUT }),
  };
}

function optionLines(options: unknown): string[] {
  if (options === undefined) return [];
  let text: string;
  if (typeof options === 'string') text = options;
  else if (Array.isArray(options) && options.every((o) => typeof o === 'string')) text = options.join('\n');
  else
    throw new TypeError(
      `clusterConfig(): options must be a string of option lines or an array of them (got ${describe(options)})`,
    );
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Which scheduler's script syntax to write. */
function flavorOf(command: ClusterCommand, scheduler: unknown, lines: string[]): Flavor {
  if (command === 'sbatch') return 'slurm';
  if (command === 'bsub') return 'lsf';
  if (scheduler !== undefined) {
    if (scheduler !== 'sge' && scheduler !== 'pbs')
      throw new TypeError(`clusterConfig(): scheduler must be 'sge' or 'pbs' (got ${describe(scheduler)})`);
    return scheduler;
  }
  if (lines.some((l) => prefixOf(l) === 'pbs')) return 'pbs';
  return 'sge';
}

/** The scheduler whose directive prefix starts line, if any. */
function prefixOf(line: string): Flavor | undefined {
  for (const [f, p] of Object.entries(PREFIX) as Array<[Flavor, string]>) {
    if (line === p || line.startsWith(`${p} `) || line.startsWith(`${p}\t`)) return f;
  }
  return undefined;
}

/** Option lines with the scheduler's prefix: bare options get it, other schedulers' are refused. */
function normalizeOptions(lines: string[], flavor: Flavor): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const f = prefixOf(line);
    if (f === flavor || (f !== undefined && PREFIX[f] === PREFIX[flavor])) {
      out.push(line);
    } else if (f !== undefined) {
      throw new TypeError(
        `clusterConfig(): option line '${line}' is for ${NAME[f]}, but the jobs are submitted to ${NAME[flavor]} (expected ${PREFIX[flavor]} lines or bare options)`,
      );
    } else if (line.startsWith('#')) {
      out.push(line); // a comment
    } else {
      if (line.includes('\0')) throw new TypeError('clusterConfig(): options must not contain NUL characters');
      out.push(`${PREFIX[flavor]} ${line}`);
    }
  }
  return out;
}

/** The job script for one daemon. */
function jobScript(header: string[], flavor: Flavor, command: string, secret: string | undefined): string {
  const lines = ['#!/bin/sh', ...header];
  // The script is the owner's only (0700): the secret is safer here than on a command line.
  if (secret !== undefined) lines.push(`${SECRET_ENV}=${shellQuote(secret)}; export ${SECRET_ENV}`);
  // SGE (without -cwd) and PBS start jobs in the home directory: go back to where they were
  // submitted from, where the daemon command finds this package (as sbatch and bsub do anyway).
  if (flavor === 'sge' || flavor === 'pbs') lines.push('cd "${PBS_O_WORKDIR:-${SGE_O_WORKDIR:-.}}" 2>/dev/null');
  lines.push(command, '');
  return lines.join('\n');
}

interface JobPlan {
  command: ClusterCommand;
  flavor: Flavor;
  header: string[];
  node: string[];
  timeout: number;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be run at all (e.g. not found) or timed out. */
  error?: string;
}

/**
 * Output kept of one scheduler command (characters per stream): far more than submit, cancel and
 * query commands print for the jobs of one launch, yet bounded.
 */
const OUTPUT_CHARS = 1 << 20;

/** Runs a command without a shell (child.ts runChild), optionally with a file as stdin; never rejects. */
async function run(cmd: string, args: string[], stdinFile?: string, timeoutMs = COMMAND_TIMEOUT): Promise<Result> {
  let input: Buffer | undefined;
  if (stdinFile) input = readFileSync(stdinFile);
  const r = await runChild(cmd, args, { input, timeoutMs, tailChars: OUTPUT_CHARS });
  const e = r.exit;
  const error = e.errno === 'ENOENT' ? `command '${cmd}' not found` : e.error;
  return { code: e.code, stdout: r.stdout, stderr: r.stderr, ...(error !== undefined ? { error } : {}) };
}

/** The job id in a submit command's output, or undefined. */
export function parseJobId(command: ClusterCommand, stdout: string): string | undefined {
  const out = stdout.trim();
  if (command === 'sbatch') {
    // --parsable: "id" or "id;cluster"
    const m = /^(\d+)(?:;\S+)?$/m.exec(out);
    return m?.[1];
  }
  if (command === 'bsub') return /Job <(\d+)>/.exec(out)?.[1];
  // SGE: 'Your job 123 ("name") has been submitted'; PBS: '123.server' (qdel wants it whole).
  const sge = /Your job(?:-array)? (\d+)/.exec(out);
  if (sge) return sge[1];
  const pbs = /^(\d+(?:\[\])?(?:\.[\w.-]+)?)$/m.exec(out);
  return pbs?.[1];
}

function submitArgs(command: ClusterCommand, script: string): { args: string[]; stdin?: string } {
  if (command === 'sbatch') return { args: ['--parsable', script] };
  if (command === 'qsub') return { args: [script] };
  return { args: [], stdin: script }; // bsub < script: bsub reads the #BSUB lines from stdin
}

function describeFailure(cmd: string, r: Result): string {
  const err = r.stderr.trim();
  if (r.error) {
    const hint = r.error.endsWith('not found')
      ? ` (is the scheduler's client installed and '${cmd}' on the PATH?)`
      : '';
    return `${r.error}${hint}${err ? `: ${err}` : ''}`;
  }
  return `'${cmd}' exited with status ${r.code ?? 'unknown'}${err ? `: ${err}` : r.stdout.trim() ? `: ${r.stdout.trim()}` : ''}`;
}

async function launchJobs(n: number, url: string, opts: DaemonOptions, plan: JobPlan): Promise<RemoteLaunch> {
  // Bad daemon options throw here, before anything is written or submitted.
  const command = daemonCommand(url, opts, plan.node);
  const dir = mkdtempSync(path.join(os.tmpdir(), `mirai-${plan.command}-${process.pid}-`));
  const scripts: string[] = [];
  const ids: string[] = [];
  let stopped = false;
  let settle!: (why: string) => void;
  const failed = new Promise<string>((resolve) => (settle = resolve));
  let failure: string | undefined;
  const fail = (why: string): void => {
    if (failure === undefined) {
      failure = why;
      settle(why);
    }
  };

  try {
    const tag = randomBytes(3).toString('hex');
    for (let i = 0; i < n; i++) {
      const file = path.join(dir, `mirai-daemon-${tag}-${i + 1}.sh`);
      const text = jobScript(plan.header, plan.flavor, command, opts.secret);
      writeFileSync(file, text, { mode: 0o700 });
      scripts.push(redact(text, opts.secret));
      const { args, stdin } = submitArgs(plan.command, file);
      const r = await run(plan.command, args, stdin);
      if (r.error || r.code !== 0) {
        fail(`submitting job ${i + 1} of ${n} failed: ${describeFailure(plan.command, r)}`);
        break;
      }
      const id = parseJobId(plan.command, r.stdout);
      if (!id) {
        fail(
          `'${plan.command}' printed no job id (stdout: ${JSON.stringify(r.stdout.trim())}${r.stderr.trim() ? `, stderr: ${JSON.stringify(r.stderr.trim())}` : ''})`,
        );
        break;
      }
      ids.push(id);
    }
  } catch (e) {
    fail(`cannot write the job script in ${dir}: ${(e as Error).message}`);
  }

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (ids.length > 0) await run(CANCEL[plan.flavor], [...ids]);
    rmSync(dir, { recursive: true, force: true });
  };

  if (failure === undefined && plan.flavor === 'slurm') watchSlurm(ids, plan.timeout, () => stopped, fail);
  return { commands: scripts, stop, failed };
}

/**
 * Until the wait for connections is over (or stop()), checks the jobs: one that ended in failure
 * (its daemon could not start or connect) fails the launch, with its exit code and output.
 */
function watchSlurm(ids: string[], windowMs: number, stopped: () => boolean, fail: (why: string) => void): void {
  const deadline = Date.now() + windowMs;
  const tick = async (): Promise<void> => {
    if (stopped() || Date.now() > deadline) return;
    const r = await run('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T'], undefined, 10000);
    if (stopped()) return;
    if (!r.error && r.code === 0) {
      for (const line of r.stdout.split('\n')) {
        const [id, state] = line.trim().split('|');
        if (!id || !state || !FAILED_STATES.has(state)) continue;
        fail(`Slurm job ${id} ended with state ${state} before its daemon connected${await jobOutput(id)}`);
        return;
      }
    }
    // Every second at first (a broken job fails fast), then every five (jobs waiting in a queue).
    const every = Date.now() - start < 30000 ? POLL_MS : 5 * POLL_MS;
    setTimeout(() => void tick(), every).unref();
  };
  const start = Date.now();
  setTimeout(() => void tick(), POLL_MS).unref();
}

const FAILED_STATES = new Set([
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
  'PREEMPTED',
  'REVOKED',
]);

/** '; exit code ...; its output: ...' for a finished Slurm job, as far as it can be found here. */
async function jobOutput(id: string): Promise<string> {
  const r = await run('scontrol', ['-o', 'show', 'job', id], undefined, 10000);
  if (r.error || r.code !== 0) return '';
  const field = (k: string): string | undefined => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(r.stdout)?.[1];
  let out = '';
  const code = field('ExitCode');
  if (code) out += ` (exit code ${code})`;
  const seen = new Set<string>();
  for (const k of ['StdErr', 'StdOut']) {
    const file = field(k);
    if (!file || seen.has(file)) continue;
    seen.add(file);
    try {
      const text = readFileSync(file, 'utf8').trim();
      if (text) out += `; its output (${file}):\n${text.split('\n').slice(-20).join('\n')}`;
    } catch {
      // not on this machine's filesystem
    }
  }
  return out;
}
