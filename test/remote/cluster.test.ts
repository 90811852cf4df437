// clusterConfig(): daemons as cluster jobs. First against stand-ins for sbatch / qsub / bsub
// (test/fixtures/cluster/fake-scheduler.sh: job scripts, option prefixes, job id parsing,
// cancelling, failures), then against a real single-node Slurm cluster started by the test
// (Debian's slurmctld, slurmd and munge; test/fixtures/cluster/slurm.ts): two daemons launched
// with sbatch connect and run tasks inside their jobs, and teardown leaves the queue empty.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { daemons, everywhere, launchRemote, mirai, status, type RemoteLaunch } from '../../dist';
import { clusterConfig, parseJobId } from '../../dist/launchers/cluster';
import { daemonCommand } from '../../dist/launchers/remote';
import { errorOf, skipTest, tempPath, withTimeout } from '../helpers';
import { waitForAsync } from '../fixtures/cluster/common';
import { slurmUnavailable, startSlurm, type SlurmCluster } from '../fixtures/cluster/slurm';

const FAKE = path.join(__dirname, '..', 'fixtures', 'cluster', 'fake-scheduler.sh');
const URL = 'tcp://127.0.0.1:5555';

interface Fake {
  log: string;
  calls(): string[];
  script(n: number): string;
  restore(): Promise<void>;
}

/** Puts the stand-in scheduler commands first on PATH for this process (and what it spawns). */
function fakeScheduler(env: Record<string, string> = {}): Fake {
  const bin = tempPath('mirai-fake-bin');
  fs.mkdirSync(bin);
  for (const name of ['sbatch', 'qsub', 'bsub', 'scancel', 'qdel', 'bkill']) fs.symlinkSync(FAKE, path.join(bin, name));
  const log = path.join(bin, 'calls.log');
  const saved: Record<string, string | undefined> = {};
  const set = {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_SCHED_LOG: log,
    FAKE_SCHED_MODE: 'ok',
    FAKE_QSUB: 'sge',
    ...env,
  };
  for (const [k, v] of Object.entries(set)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return {
    log,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    script: (n) => fs.readFileSync(`${log}.script.${n}`, 'utf8'),
    async restore() {
      for (const l of launches.splice(0)) await l.stop().catch(() => {});
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** A promise's value if it has settled by the next macrotask, else 'pending'. */
async function settledValue<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

/** Launches made against the stand-ins: stopped by restore() (while the stand-ins are still on
 * PATH, so that a failed test never sends its fake job ids to a real scheduler's cancel command). */
const launches: RemoteLaunch[] = [];
async function launched(p: Promise<RemoteLaunch>): Promise<RemoteLaunch> {
  const l = await p;
  launches.push(l);
  return l;
}
test.after(async () => {
  await daemons(0).catch(() => {});
  await slurm?.stop().catch(() => {});
});

// --- against the stand-ins ------------------------------------------------------------------

test('clusterConfig: describe() names the scheduler; bad configurations are refused with what is wrong', async () => {
  assert.is(clusterConfig({ command: 'sbatch' }).describe(), 'sbatch (Slurm)');
  assert.is(clusterConfig({ command: 'qsub' }).describe(), 'qsub (SGE)');
  assert.is(clusterConfig({ command: 'qsub', options: '#PBS -q short' }).describe(), 'qsub (PBS)');
  assert.is(clusterConfig({ command: 'qsub', scheduler: 'pbs' }).describe(), 'qsub (PBS)');
  assert.is(clusterConfig({ command: 'bsub' }).describe(), 'bsub (LSF)');
  assert.is(clusterConfig({ command: 'sbatch', timeout: 5000 }).timeout, 5000);
  const bad: Array<[unknown, RegExp]> = [
    [undefined, /options object/],
    [{ command: 'srun' }, /command must be 'sbatch', 'qsub' or 'bsub' \(got 'srun'\)/],
    [{}, /command must be/],
    [{ command: 'sbatch', options: 42 }, /options must be a string/],
    [{ command: 'sbatch', node: '' }, /clusterConfig\(\): node must be a non-empty string or an array/],
    [{ command: 'sbatch', timeout: -1 }, /timeout must be a positive number/],
    [{ command: 'sbatch', mem: 512 }, /unknown option 'mem'/],
    [{ command: 'qsub', scheduler: 'slurm' }, /scheduler must be 'sge' or 'pbs'/],
    [
      { command: 'sbatch', options: '#PBS -l mem=1gb' },
      /'#PBS -l mem=1gb' is for PBS, but the jobs are submitted to Slurm/,
    ],
    [{ command: 'bsub', options: '#SBATCH --mem 1' }, /is for Slurm, but the jobs are submitted to LSF/],
  ];
  for (const [cfg, re] of bad) {
    const e = await errorOf(() => clusterConfig(cfg as never));
    assert.instance(e, TypeError);
    assert.match(e.message, re);
  }
});

test('parseJobId: sbatch --parsable, SGE and PBS qsub, bsub', () => {
  assert.is(parseJobId('sbatch', '4242\n'), '4242');
  assert.is(parseJobId('sbatch', '4242;cluster1\n'), '4242');
  assert.is(parseJobId('qsub', 'Your job 77 ("mirai") has been submitted\n'), '77');
  assert.is(parseJobId('qsub', 'Your job-array 78.1-4:1 ("mirai") has been submitted\n'), '78');
  assert.is(parseJobId('qsub', '1234.pbs-server.example.org\n'), '1234.pbs-server.example.org');
  assert.is(parseJobId('bsub', 'Job <5150> is submitted to default queue <normal>.\n'), '5150');
  assert.is(parseJobId('sbatch', 'sbatch: error: oops'), undefined);
  assert.is(parseJobId('bsub', ''), undefined);
});

test('sbatch: a job script per daemon (shebang, #SBATCH lines, daemon command), --parsable ids; stop() scancels them and removes the scripts', async () => {
  const fake = fakeScheduler();
  try {
    const cfg = clusterConfig({
      command: 'sbatch',
      options: '#SBATCH --mem 512\n  --time=5 \n\n# a comment\n-J mirai',
      node: '/opt/node/bin/node',
    });
    const launch = await launched(cfg.launch(2, URL, { maxTasks: 3 }));
    const calls = fake.calls();
    assert.is(calls.length, 2);
    const scripts = calls.map((c) => c.split(' ').pop()!);
    for (const c of calls) assert.match(c, /^sbatch --parsable \S+\.sh$/);
    assert.is.not(scripts[0], scripts[1], 'one script per daemon');
    for (const s of scripts) assert.ok(fs.existsSync(s), 'scripts exist while the jobs may start');
    const expected = [
      '#!/bin/sh',
      '#SBATCH --mem 512',
      '#SBATCH --time=5',
      '# a comment',
      '#SBATCH -J mirai',
      daemonCommand(URL, { maxTasks: 3 }, '/opt/node/bin/node'),
      '',
    ].join('\n');
    assert.is(fake.script(1), expected);
    assert.is(fake.script(2), expected);
    assert.equal(launch.commands, [expected, expected], 'commands are the job scripts');
    assert.is(await settledValue(launch.failed), 'pending');
    await launch.stop();
    assert.is(fake.calls()[2], 'scancel 1001 1002');
    for (const s of scripts) assert.not.ok(fs.existsSync(s), 'scripts removed by stop()');
    assert.not.ok(fs.existsSync(path.dirname(scripts[0]!)), 'script directory removed');
    await launch.stop();
    assert.is(fake.calls().length, 3, 'stop() is idempotent');
  } finally {
    await fake.restore();
  }
});

test('qsub: #$ lines for SGE (job id from "Your job"), #PBS lines for PBS (whole id), back to the submit dir; qdel', async () => {
  for (const [flavor, prefix, id] of [
    ['sge', '#$', '1001'],
    ['pbs', '#PBS', '1001.pbsserver'],
  ] as const) {
    const fake = fakeScheduler({ FAKE_QSUB: flavor });
    try {
      const cfg = clusterConfig({ command: 'qsub', options: '-l mem_free=1G\n-N mirai', scheduler: flavor });
      const launch = await launched(cfg.launch(1, URL, {}));
      assert.match(fake.calls()[0]!, /^qsub \S+\.sh$/);
      const lines = fake.script(1).split('\n');
      assert.equal(lines.slice(0, 3), ['#!/bin/sh', `${prefix} -l mem_free=1G`, `${prefix} -N mirai`]);
      assert.match(lines[3]!, /^cd "\$\{PBS_O_WORKDIR:-\$\{SGE_O_WORKDIR:-\.\}\}"/);
      assert.is(lines[4], daemonCommand(URL, {}));
      await launch.stop();
      assert.is(fake.calls()[1], `qdel ${id}`);
    } finally {
      await fake.restore();
    }
  }
});

test('bsub: the script goes in on stdin (bsub < script), #BSUB lines, id from "Job <id>"; bkill', async () => {
  const fake = fakeScheduler();
  try {
    const launch = await launched(
      clusterConfig({ command: 'bsub', options: ['-n 1', '#BSUB -q normal'] }).launch(2, URL, {}),
    );
    assert.equal(fake.calls().slice(0, 2), ['bsub ', 'bsub '], 'no arguments: the script is on stdin');
    assert.equal(fake.script(2).split('\n').slice(0, 3), ['#!/bin/sh', '#BSUB -n 1', '#BSUB -q normal']);
    await launch.stop();
    assert.is(fake.calls()[2], 'bkill 1001 1002');
  } finally {
    await fake.restore();
  }
});

test('sbatch not found: failed names the command; daemons() rejects saying so and resets the profile', async () => {
  const emptyBin = tempPath('mirai-empty-bin');
  fs.mkdirSync(emptyBin);
  const saved = process.env.PATH;
  process.env.PATH = emptyBin;
  try {
    const launch = await launched(clusterConfig({ command: 'sbatch' }).launch(1, URL, {}));
    const why = await withTimeout(launch.failed, 5000, 'failed');
    assert.match(why, /command 'sbatch' not found/);
    assert.match(why, /on the PATH/);
    await launch.stop();
    const t0 = Date.now();
    // A short timeout: the host's wait for connections (lib/host/host.ts waitConnections) keeps its
    // timer after a failed launch, and with it this process, for that long.
    const e = await errorOf(
      daemons(2, { url: 'tcp://127.0.0.1:0', remote: clusterConfig({ command: 'sbatch', timeout: 5000 }) }),
    );
    assert.ok(Date.now() - t0 < 10000, 'fails at once, not after the connect timeout');
    assert.match(e.message, /via sbatch \(Slurm\)/);
    assert.match(e.message, /command 'sbatch' not found/);
    assert.equal(await status(), { connections: 0, daemons: '' }, 'profile reset');
  } finally {
    process.env.PATH = saved;
  }
});

test('a submit command that fails: failed quotes its stderr; one that prints no id says so; earlier jobs are cancelled', async () => {
  let fake = fakeScheduler({ FAKE_SCHED_MODE: 'fail' });
  try {
    const launch = await launched(clusterConfig({ command: 'sbatch' }).launch(1, URL, {}));
    const why = await withTimeout(launch.failed, 5000, 'failed');
    assert.match(why, /'sbatch' exited with status 1: sbatch: error: Batch job submission failed: Invalid account/);
    await launch.stop();
  } finally {
    await fake.restore();
  }
  fake = fakeScheduler({ FAKE_SCHED_MODE: 'noid' });
  try {
    const launch = await launched(clusterConfig({ command: 'qsub' }).launch(1, URL, {}));
    assert.match(
      await withTimeout(launch.failed, 5000, 'failed'),
      /'qsub' printed no job id \(stdout: "nothing to see"\)/,
    );
    await launch.stop();
    assert.is(fake.calls().length, 1, 'nothing to cancel');
  } finally {
    await fake.restore();
  }
});

// --- a real single-node Slurm cluster ------------------------------------------------------

let slurm: SlurmCluster | undefined;
let slurmStart: Promise<SlurmCluster> | undefined;
const skip = slurmUnavailable();
const savedConf = process.env.SLURM_CONF;

/** The cluster (started on first use), or undefined when this machine cannot run it. */
async function cluster(): Promise<SlurmCluster | undefined> {
  if (skip) {
    skipTest(skip);
    return undefined;
  }
  slurmStart ??= startSlurm();
  slurm = await slurmStart;
  return slurm;
}

async function withSlurmEnv<T>(c: SlurmCluster, fn: () => Promise<T>): Promise<T> {
  process.env.SLURM_CONF = c.conf;
  try {
    return await fn();
  } finally {
    if (savedConf === undefined) delete process.env.SLURM_CONF;
    else process.env.SLURM_CONF = savedConf;
  }
}

/** Active job ids of the test cluster, sorted. */
async function queue(c: SlurmCluster): Promise<string[]> {
  return (await c.activeJobs()).sort();
}

test('Slurm: a single-node cluster starts (munged, slurmctld, slurmd; node idle)', async () => {
  const c = await cluster();
  if (!c) return;
  const r = await c.cmd('sinfo', ['-h', '-o', '%P %T %N %c']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), new RegExp(`^debug\\* idle ${c.node} 2$`));
  assert.equal(await queue(c), []);
  console.log(`\n  [slurm] cluster up in ${c.startMs} ms`);
});

test('Slurm: daemons(2) via sbatch: both jobs connect, tasks run inside them (SLURM_JOB_ID); daemons(0) empties the queue', async () => {
  const c = await cluster();
  if (!c) return;
  await withSlurmEnv(c, async () => {
    const out = path.join(c.dir, 'jobs', 'job-%j.out');
    const t0 = Date.now();
    const set = await daemons(2, {
      url: 'tcp://127.0.0.1:0',
      remote: clusterConfig({
        command: 'sbatch',
        options: `#SBATCH --mem 100\n#SBATCH --output=${out}\n-J mirai-test`,
      }),
    });
    const ms = Date.now() - t0;
    console.log(`\n  [slurm] daemons(2) via sbatch: both daemons connected ${ms} ms after daemons()`);
    assert.is(set.launched, 2);
    assert.is((await status()).connections, 2);
    const jobs = await queue(c);
    assert.is(jobs.length, 2, `two jobs in the queue: ${jobs}`);
    const states = await c.cmd('squeue', ['-h', '-o', '%i %T %j']);
    for (const line of states.stdout.trim().split('\n')) assert.match(line, /^\d+ RUNNING mirai-test$/);

    const perDaemon = (await withTimeout(
      everywhere(() => process.env.SLURM_JOB_ID),
      15000,
      'everywhere',
    )) as string[];
    assert.equal([...perDaemon].sort(), jobs, 'each daemon runs inside its own job');
    const results = await withTimeout(
      Promise.all(
        [1, 2, 3, 4, 5, 6].map((x) =>
          mirai((d) => ({ y: d.x * d.x, job: process.env.SLURM_JOB_ID, pid: process.pid }), { x }),
        ),
      ),
      15000,
      'tasks',
    );
    assert.equal(
      results.map((r) => r.y),
      [1, 4, 9, 16, 25, 36],
    );
    for (const r of results) {
      assert.ok(jobs.includes(r.job!), `task ran in job ${r.job}`);
      assert.is.not(r.pid, process.pid);
    }

    await daemons(0);
    await waitForAsync(async () => (await queue(c)).length === 0, 20000, 'the queue to empty');
    const ended = await c.cmd('squeue', ['-h', '-t', 'all', '-j', jobs.join(','), '-o', '%T']);
    for (const s of ended.stdout.trim().split('\n')) assert.match(s, /^(COMPLETED|CANCELLED)$/, `job state ${s}`);
    assert.equal(await status(), { connections: 0, daemons: '' });
  });
});

test('Slurm: launchRemote over tls+tcp adds a job to a listening profile; it returns the job script (no private key)', async () => {
  const c = await cluster();
  if (!c) return;
  await withSlurmEnv(c, async () => {
    const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
    const t0 = Date.now();
    const scripts = await launchRemote(1, {
      remote: clusterConfig({
        command: 'sbatch',
        options: `--mem 100\n--output=${path.join(c.dir, 'jobs', 'tls-%j.out')}`,
      }),
    });
    console.log(`\n  [slurm] launchRemote(1) via sbatch over tls+tcp: connected in ${Date.now() - t0} ms`);
    assert.is(scripts.length, 1);
    const lines = scripts[0]!.split('\n');
    assert.equal(lines.slice(0, 3), [
      '#!/bin/sh',
      '#SBATCH --mem 100',
      `#SBATCH --output=${path.join(c.dir, 'jobs', 'tls-%j.out')}`,
    ]);
    assert.ok(scripts[0]!.includes(set.url));
    assert.match(scripts[0]!, /--tls-cert '-----BEGIN CERTIFICATE-----/);
    assert.not.ok(scripts[0]!.includes('PRIVATE KEY'));
    const jobs = await queue(c);
    assert.is(jobs.length, 1);
    assert.is(
      await withTimeout(
        mirai(() => process.env.SLURM_JOB_ID),
        15000,
        'task',
      ),
      jobs[0],
    );
    await daemons(0);
    await waitForAsync(async () => (await queue(c)).length === 0, 20000, 'the queue to empty');
  });
});

test('Slurm: a job whose daemon cannot start fails daemons() early with the job state and output; nothing is left queued', async () => {
  const c = await cluster();
  if (!c) return;
  await withSlurmEnv(c, async () => {
    const t0 = Date.now();
    const e = await errorOf(
      daemons(1, {
        url: 'tcp://127.0.0.1:0',
        remote: clusterConfig({
          command: 'sbatch',
          node: '/nonexistent/bin/node',
          timeout: 15000,
          options: `--output=${path.join(c.dir, 'jobs', 'bad-%j.out')}`,
        }),
      }),
    );
    const ms = Date.now() - t0;
    assert.ok(ms < 15000, `failed after ${ms} ms`);
    console.log(`\n  [slurm] a failing job ended daemons() after ${ms} ms`);
    assert.match(e.message, /via sbatch \(Slurm\) did not connect/);
    assert.match(e.message, /Slurm job \d+ ended with state FAILED before its daemon connected \(exit code 127:0\)/);
    assert.match(e.message, /\/nonexistent\/bin\/node: not found|No such file/);
    assert.equal(await status(), { connections: 0, daemons: '' });
    assert.equal(await queue(c), []);
  });
});

test('Slurm: stopping the cluster ends slurmd, slurmctld and munged and removes its directory', async () => {
  const c = await cluster();
  if (!c) return;
  await c.stop();
  assert.ok(c.stopped);
  assert.not.ok(fs.existsSync(c.dir));
});

test.run();
