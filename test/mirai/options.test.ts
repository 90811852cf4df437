// Daemon options: cleanup on and off, output on and off (through a child host), and the exits
// maxTasks / idleTime / walltime (status connections drop to 0; the CLI names the reason).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { daemons, everywhere, launchLocal, mirai, status } from '../../dist';
import { spawnNode, withTimeout, type Child } from '../helpers';
import { assertNoDaemonChildren, CLI, pidTask, testHooks, waitGone } from '../fixtures/mirai/common';
import { secretEnv, SECRET } from '../fixtures/auth';

const W = 15000;
const OUTPUT_HOST = path.join(__dirname, '..', 'fixtures', 'mirai', 'host-output.js');
const run = <T>(m: PromiseLike<T>, what = 'task'): Promise<T> => withTimeout(Promise.resolve(m), W, what);

/** Resolves once status(profile).connections is n (checked on each status reply); bounded. */
async function connectionsReach(n: number, ms: number, profile?: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const c = (await status(profile)).connections;
    if (c === n) return;
    if (Date.now() > end) throw new Error(`connections stayed at ${c}, expected ${n} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test.after(async () => {
  for (const profile of ['default', 'max', 'idle', 'wall']) await daemons(0, { profile }).catch(() => {});
});

for (const cleanup of [true, false]) {
  test(`cleanup: ${cleanup}: globals a task created are ${cleanup ? 'gone' : 'still there'} for the next task`, async () => {
    await daemons(1, cleanup ? {} : { cleanup });
    const [pid] = (await run(
      everywhere(() => {
        (globalThis as any).kept = 'from everywhere';
        return process.pid;
      }),
      'everywhere',
    )) as number[];
    assert.is(await run(mirai(() => ((globalThis as any).leak = 1))), 1);
    assert.is(await run(mirai('var leakedVar = 5; function leakedFn() {}; globalThis.other = 2; leakedVar')), 5);
    const seen = await run(
      mirai(() => {
        const g = globalThis as any;
        return [process.pid, typeof g.leak, typeof g.leakedVar, typeof g.leakedFn, typeof g.other, g.kept];
      }),
    );
    const t = cleanup ? 'undefined' : undefined;
    assert.equal(seen, [pid, t ?? 'number', t ?? 'number', t ?? 'function', t ?? 'number', 'from everywhere']);
    await daemons(0);
  });
}

for (const output of [true, false]) {
  test(`output: ${output}: a daemon's console output ${output ? 'reaches' : 'does not reach'} the host's stdout/stderr`, async () => {
    const text = `marker-${process.pid}-${Date.now()}`;
    const host = spawnNode([OUTPUT_HOST, JSON.stringify(output ? { output } : {}), text], { timeoutMs: 30_000 });
    await host.line(/^host (done|failed)/, W);
    const exit = await host.exitWithin(W);
    assert.equal(exit, { code: 0, signal: null }, host.stderr);
    assert.match(host.stdout, /^host done$/m);
    if (output) {
      assert.match(host.stdout, new RegExp(`^${text}$`, 'm'), 'daemon stdout on the host stdout');
      assert.match(host.stderr, new RegExp(`^${text}-err$`, 'm'), 'daemon stderr on the host stderr');
    } else {
      assert.not.ok(host.stdout.includes(text), `daemon output leaked: ${host.stdout}`);
      assert.not.ok(host.stderr.includes(text), `daemon stderr leaked: ${host.stderr}`);
    }
  });
}

test('maxTasks: each daemon exits after that many tasks; connections drop to 0; no task is lost', async () => {
  await daemons(2, { maxTasks: 1, profile: 'max' });
  const ms = Array.from({ length: 3 }, () => mirai(pidTask, {}, { profile: 'max' }));
  const [a, b] = await run(Promise.all(ms.slice(0, 2)));
  assert.is.not(a, b, 'one task each');
  await connectionsReach(0, 5000, 'max');
  await waitGone([a!, b!], 2000, 'daemons past maxTasks');
  // The third task must wait for a daemon, not go to one that is retiring (and be lost).
  assert.ok(ms[2]!.unresolved, `the third task was settled with ${String(ms[2]!.data)}`);
  assert.equal((await status('max')).mirai, { awaiting: 1, executing: 0, completed: 2 });
  await launchLocal(1, { profile: 'max' });
  const c = await run(ms[2]!, 'the third task, on a new daemon');
  assert.not.ok([a, b].includes(c));
  await daemons(0, { profile: 'max' });
});

test('idleTime: a daemon exits after that long without a task, counted from its last task', async () => {
  await daemons(1, { idleTime: 300, profile: 'idle' });
  const t0 = Date.now(); // the idle time counts from the end of the task, after this
  const pid = await run(mirai(pidTask, {}, { profile: 'idle' }));
  await connectionsReach(0, 5000, 'idle');
  assert.ok(Date.now() - t0 >= 300, `exited ${Date.now() - t0} ms after its last task was submitted, idleTime is 300`);
  await waitGone([pid], 2000, 'idle daemon');
  await daemons(0, { profile: 'idle' });
});

test('walltime: a daemon exits once it has passed, finishing the running task first', async () => {
  const walltime = 1500;
  await daemons(1, { walltime, profile: 'wall' });
  // Runs until 400 ms past the walltime, by the daemon's own clock (ms since its process started,
  // a little before the walltime clock starts).
  const m = mirai(
    (d) => new Promise((r) => setTimeout(() => r(process.pid), Math.max(0, d.until - performance.now()))),
    { until: walltime + 400 },
    { profile: 'wall' },
  );
  const pid = (await run(m, 'the task spanning the walltime')) as number;
  await connectionsReach(0, 5000, 'wall');
  await waitGone([pid], 2000, 'daemon past its walltime');
  await daemons(0, { profile: 'wall' });
});

test('the CLI daemon names its exit reason: maxTasks, idleTime, walltime', async () => {
  const cases = [
    { profile: 'max', flags: ['--max-tasks', '1'], reason: 'maxTasks' },
    { profile: 'idle', flags: ['--idle-time', '200'], reason: 'idleTime' },
    { profile: 'wall', flags: ['--walltime', '600'], reason: 'walltime' },
  ];
  const children: Child[] = [];
  try {
    await Promise.all(
      cases.map(async (c) => {
        const set = await daemons({
          url: `ipc://${path.join(require('node:os').tmpdir(), `mirai-opt-${process.pid}-${c.reason}.sock`)}`,
          profile: c.profile,
          secret: SECRET,
        });
        const child = spawnNode([CLI, 'daemon', set.url, '--output', ...c.flags], { timeoutMs: W, env: secretEnv() });
        children.push(child);
        await connectionsReach(1, W, c.profile);
        if (c.reason === 'maxTasks') assert.is(await run(mirai(pidTask, {}, { profile: c.profile })), child.proc.pid);
        const exit = await child.exitWithin(5000);
        assert.equal(exit, { code: 0, signal: null }, `${c.reason}: ${child.stderr}`);
        assert.match(child.stderr, new RegExp(`mirai daemon: ${c.reason}`));
        await connectionsReach(0, 2000, c.profile);
        await daemons(0, { profile: c.profile });
      }),
    );
  } finally {
    for (const c of children) c.kill();
  }
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
