// The `node` option: local daemons started by another command (a prefix such as `env`, `nice` or
// qemu before a Node binary), for the first batch, launchLocal() and respawned replacements.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, launchLocal, mirai, status } from '../../dist';
import * as fs from 'node:fs';
import { skipTest, withTimeout } from '../helpers';
import { cliChildren } from '../fixtures/mirai/common';

const W = 15000;
const run = <T>(m: PromiseLike<T>, what = 'task'): Promise<T> => withTimeout(Promise.resolve(m), W, what);
/** What a daemon reports of itself: whether the prefix ran it, and which process it is. */
const whoAmI = (): Promise<{ via: string | undefined; pid: number; gc: boolean }> =>
  run(
    mirai(() => ({
      via: process.env.MIRAI_VIA_PREFIX,
      pid: process.pid,
      gc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    })),
  );
// POSIX env(1) sets a variable and execs the rest: proof that the prefix, not Node, was run.
const ENV = '/usr/bin/env';
/** The words that start a Node here: under qemu (scripts/cross-test.sh arm64) qemu + the node. */
const NODE: string[] = process.env.MIRAI_DAEMON_NODE?.startsWith('[')
  ? (JSON.parse(process.env.MIRAI_DAEMON_NODE) as string[])
  : [process.env.MIRAI_DAEMON_NODE || process.execPath];

test.after(async () => {
  await daemons(0).catch(() => {});
});

test('node as a command prefix: the prefix runs the daemon, its Node words come before the CLI', async () => {
  if (process.platform === 'win32') return skipTest('needs /usr/bin/env (POSIX)');
  await daemons(1, { dispatcher: false, node: [ENV, 'MIRAI_VIA_PREFIX=yes', ...NODE, '--expose-gc'] });
  const me = await whoAmI();
  assert.is(me.via, 'yes');
  assert.is(me.gc, true, 'a Node flag in the prefix reached the daemon');
  assert.is.not(me.pid, process.pid);
});

test('node as one path: that binary runs the daemons; launchLocal() uses it too', async () => {
  if (NODE.length > 1) return skipTest(`this run's Node is a command prefix (${NODE.join(' ')})`);
  await daemons(1, { node: NODE[0], env: { MIRAI_VIA_PREFIX: 'env' } });
  await run(launchLocal(1), 'launchLocal');
  assert.is((await status()).connections, 2);
  const me = await whoAmI();
  assert.is(me.via, 'env');
});

test('a process dispatcher is started by the same command as the daemons', async () => {
  if (process.platform !== 'linux') return skipTest('reads the environment of a process in /proc (Linux)');
  await daemons(1, { dispatcher: 'process', node: [ENV, 'MIRAI_VIA_PREFIX=dispatcher', ...NODE] });
  assert.is((await whoAmI()).via, 'dispatcher');
  const [pid, ...more] = cliChildren(process.pid, /dist\/cli\.js dispatcher/);
  assert.ok(pid !== undefined && more.length === 0, 'one dispatcher process');
  const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  assert.ok(environ.includes('MIRAI_VIA_PREFIX=dispatcher'), 'the prefix started the dispatcher');
});

test('a replacement for a daemon that died is started by the same command', async () => {
  if (process.platform === 'win32') return skipTest('needs /usr/bin/env (POSIX)');
  await daemons(1, { dispatcher: false, node: [ENV, 'MIRAI_VIA_PREFIX=again', ...NODE] });
  const first = await whoAmI();
  assert.is(first.via, 'again');
  process.kill(first.pid, 'SIGKILL');
  let next: { via: string | undefined; pid: number } | undefined;
  const end = Date.now() + W;
  // Each try is a task: it fails while no daemon is connected, then the replacement answers.
  while (!next || next.pid === first.pid) {
    if (Date.now() > end) throw new Error('no replacement daemon answered');
    next = await whoAmI().catch(() => undefined);
  }
  assert.is(next.via, 'again');
  assert.ok(((await status()).respawned ?? 0) >= 1, 'counted as respawned');
});

test('a node command that cannot start makes daemons() reject, and leaves nothing set', async () => {
  const err = await withTimeout(
    daemons(1, { node: ['/nonexistent/mirai-no-such-node'] }).then(
      () => undefined,
      (e: Error) => e,
    ),
    W,
    'daemons()',
  );
  assert.ok(err instanceof Error, 'daemons() rejected');
  assert.match(err!.message, /did not connect|ENOENT|no-such-node/);
  assert.is((await status()).daemons, '', 'no profile left behind');
});

test('MIRAI_DAEMON_NODE is the default command (a JSON array of words); the option wins over it', async () => {
  if (process.platform === 'win32') return skipTest('needs /usr/bin/env (POSIX)');
  const before = process.env.MIRAI_DAEMON_NODE;
  process.env.MIRAI_DAEMON_NODE = JSON.stringify([ENV, 'MIRAI_VIA_PREFIX=from-env', ...NODE]);
  try {
    await daemons(1, { dispatcher: false });
    assert.is((await whoAmI()).via, 'from-env');
    await daemons(1, { dispatcher: false, node: [ENV, 'MIRAI_VIA_PREFIX=option', ...NODE] });
    assert.is((await whoAmI()).via, 'option');
    process.env.MIRAI_DAEMON_NODE = '[not json';
    let threw: unknown;
    await daemons(1).catch((e: unknown) => (threw = e));
    assert.instance(threw, TypeError);
    assert.match((threw as Error).message, /MIRAI_DAEMON_NODE/);
  } finally {
    if (before === undefined) delete process.env.MIRAI_DAEMON_NODE;
    else process.env.MIRAI_DAEMON_NODE = before;
  }
});

test('node is checked: not a string, empty, or an array with a non-string word', async () => {
  for (const bad of [5, '', [], ['node', 3], [''], { path: 'node' }]) {
    let threw: unknown;
    try {
      await daemons(1, { node: bad as never });
    } catch (e) {
      threw = e;
    }
    assert.instance(threw, TypeError, `node: ${JSON.stringify(bad)}`);
    assert.match((threw as Error).message, /node/);
  }
  assert.is((await status()).connections, 0);
});

test.run();
