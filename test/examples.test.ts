// Every file in examples/ runs here as a user would run it (`node`, or `node --import tsx` for
// TypeScript), importing the package by its name, and prints what its comments promise: local
// daemons, TLS, the Electron main-process pattern (under plain Node: Electron is not installed
// here), a bundle made with esbuild that externalizes the package (README "Bundlers"), SSH
// direct and tunnelled against a real sshd, and Slurm against a real single-node cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipTest, spawnNode, tempPath, type Child } from './helpers';
import { install } from './fixtures/remote/common';
import { makeNetns, sshUnavailable, startSshd, type Netns, type Sshd } from './fixtures/remote/sshd';
import { waitForAsync } from './fixtures/cluster/common';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './fixtures/cluster/slurm';

const ROOT = path.join(__dirname, '..');
const EX = path.join(ROOT, 'examples');
const W = 60_000;

/** Runs an example to its end; resolves with its stdout, rejects with its output if it fails. */
async function run(file: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ts = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child: Child = spawnNode([...ts, path.join(EX, file), ...args], { cwd: ROOT, env, timeoutMs: W });
  const exit = await child.exited;
  assert.equal(exit, { code: 0, signal: null }, `${file} failed\nstdout: ${child.stdout}\nstderr: ${child.stderr}`);
  return child.stdout;
}

test('examples/local.mjs: mirai, code strings, everywhere, miraiMap, status', async () => {
  const out = await run('local.mjs');
  for (const line of ['sum: 42', 'max: 9', 'scaled: [ 10, 20, 30 ]', 'connections: 2'])
    assert.ok(out.includes(line), `${line} in\n${out}`);
});

test('examples/local.ts: typed results, remote errors, AbortSignal.timeout, await using', async () => {
  const out = await run('local.ts');
  for (const line of [
    'job 1: 5 words',
    'ran in daemon another process',
    'remote SyntaxError: caught',
    'stopped: TimeoutError (ErrorValue 20)',
    'squares: 1 4 9 16',
  ]) {
    assert.ok(out.includes(line), `${line} in\n${out}`);
  }
});

test('examples/tls.ts: zero-config TLS with launchLocal', async () => {
  const out = await run('tls.ts');
  assert.match(out, /listening on tls\+tcp:\/\/127\.0\.0\.1:<port>/);
  assert.match(out, /connections: 2/);
  assert.match(out, /over tls: hello over TLS/);
});

test('examples/electron-main.cjs: the main-process pattern runs (plain Node stand-in for app)', async () => {
  const out = await run('electron-main.cjs');
  assert.match(out, /sha256: [0-9a-f]{16}/);
});

test('Bundlers: an esbuild bundle with the package external runs as the unbundled script', async () => {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const dir = tempPath('mirai-bundle');
  fs.mkdirSync(dir);
  const outfile = path.join(dir, 'app.mjs');
  await esbuild.build({
    entryPoints: [path.join(EX, 'local.mjs')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    external: ['mirai'],
  });
  // Where the app is deployed, mirai is installed beside it (node_modules), not in the bundle.
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'mirai'), 'dir');
  const child = spawnNode([outfile], { cwd: dir, timeoutMs: W });
  const exit = await child.exited;
  assert.equal(exit, { code: 0, signal: null }, `bundle failed\n${child.stdout}\n${child.stderr}`);
  assert.ok(child.stdout.includes('scaled: [ 10, 20, 30 ]'), child.stdout);
});

// ---- ssh ----

const inst = install();
let sshd: Sshd | undefined;
let netns: Netns | string | undefined;
let nsSshd: Sshd | undefined;
const sshSkip = sshUnavailable();
const sessionEnv = { PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, NODE_PATH: inst.nodePath };

function sshArgs(s: Sshd, remote: string): string[] {
  return [
    '--remote',
    remote,
    '--port',
    String(s.port),
    '--identity',
    s.identity,
    ...s.sshArgs.map((a) => `--ssh-arg=${a}`),
    '--node',
    process.execPath,
  ];
}

test('examples/ssh.mjs: daemons over ssh to a real sshd dial back over TLS', async () => {
  if (sshSkip) return skipTest(sshSkip);
  sshd ??= await startSshd({ env: sessionEnv });
  const out = await run('ssh.mjs', [...sshArgs(sshd, 'root@127.0.0.1'), '--url', 'tls+tcp://127.0.0.1:0']);
  assert.match(out, /connections: 2/);
  assert.match(out, /ran on: \S+/);
});

test('examples/ssh.mjs --tunnel: daemons in another network namespace reach this host only through ssh -R', async () => {
  if (sshSkip) return skipTest(sshSkip);
  netns ??= makeNetns();
  if (typeof netns === 'string') return skipTest(netns);
  nsSshd ??= await startSshd({ listen: netns.address, netns: netns.name, env: sessionEnv });
  const out = await run('ssh.mjs', [...sshArgs(nsSshd, `root@${netns.address}`), '--tunnel']);
  assert.match(out, /connections: 2/);
});

// ---- Slurm ----

let slurm: SlurmCluster | undefined;

test('examples/cluster.mjs: daemons as jobs of a real single-node Slurm cluster', async () => {
  const why = slurmUnavailable();
  if (why) return skipTest(why);
  slurm = await startSlurm();
  // The test node has little memory: ask for little (without --mem a job asks for the whole node).
  // Job output goes to the cluster's temp dir, not to the submission directory (the repository).
  const options = `#SBATCH --job-name=mirai-example\n#SBATCH --mem=100\n#SBATCH --output=${path.join(slurm.dir, 'jobs', 'job-%j.out')}`;
  const out = await run(
    'cluster.mjs',
    ['--url', 'tcp://127.0.0.1:0', '--node', process.execPath, '--options', options],
    slurm.env,
  );
  assert.match(out, /connections: 2/);
  assert.match(out, /inside Slurm jobs: true/);
  // The jobs end as their daemons exit, just after the example's daemons(0).
  await waitForAsync(async () => (await slurm!.activeJobs()).length === 0, 20_000, 'the queue to empty');
});

test.after(async () => {
  await sshd?.stop();
  await nsSshd?.stop();
  if (typeof netns === 'object') netns.remove();
  await slurm?.stop();
});

test.run();
