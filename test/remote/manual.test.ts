// Manual deployment and remoteConfig(), the original documentation's "Manual Deployment" and
// "Cluster Resource Managers" routes, run for real on this machine: launchRemote(n) without a
// launcher returns shell commands; pasted into `sh -c` where 'mirai' is installed (node_modules,
// NODE_PATH, or npm's global folder) they start daemons that connect and run tasks. Commands embed
// the url and the zero-config certificate but never a private key, and survive POSIX quoting of
// any PEM text and of file names with quotes, spaces and `$`. remoteConfig() runs launchers
// (`sh -c .`, `env ... .` with quote: false, a custom quoting function); a launcher that fails
// makes daemons() reject with its reason and resets the profile; IPv6 tcp://[::1]:0 works.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { daemonCommand, daemons, everywhere, launchRemote, mirai, status } from '../../dist';
import { remoteConfig } from '../../dist/launchers/remote-config';
import { daemonArgv, shellQuote } from '../../dist/launchers/remote';
import { writeCert } from '../../dist/nng';
import { errorOf, killChildren, spawnNode, spawnProcess, tempPath, withTimeout } from '../helpers';
import { ROOT, runCommand } from '../fixtures/cluster/common';
import { SECRET } from '../fixtures/auth';
import { alive, testHooks, waitGone } from '../fixtures/mirai/common';
import {
  ARGV_ECHO,
  envWith,
  install,
  parentOf,
  pidsWith,
  runShell,
  waitConnections,
  waitNoProcess,
  whereTask,
} from '../fixtures/remote/common';

const W = 20000;
const inst = install();

testHooks(test);
test.after.each(async () => {
  await daemons(0).catch(() => {});
});
test.after(async () => {
  await daemons(0).catch(() => {});
  killChildren();
});

const where = async (): Promise<ReturnType<typeof whereTask>[]> =>
  (await withTimeout(everywhere(whereTask), W, 'everywhere')) as ReturnType<typeof whereTask>[];

test("require('mirai/cli') resolves through the package's exports (and types)", async () => {
  const c = spawnProcess(
    process.execPath,
    [
      '-e',
      'const c=require("mirai/cli");console.log(typeof c.main,typeof c.buildDaemonArgs,require.resolve("mirai/cli"))',
    ],
    {
      cwd: inst.cwd,
      env: envWith(),
      timeoutMs: W,
    },
  );
  const exit = await c.exited;
  assert.is(exit.code, 0, c.stderr);
  const [main, build, file] = c.stdout.trim().split(' ');
  assert.equal([main, build], ['function', 'function']);
  assert.is(fs.realpathSync(file!), fs.realpathSync(path.join(__dirname, '..', '..', 'dist', 'cli.js')));
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  assert.equal(pkg.exports['./cli'], { types: './dist/cli.d.ts', default: './dist/cli.js' });
  assert.ok(fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'cli.d.ts')), 'dist/cli.d.ts exists');
  assert.is(pkg.bin.mirai, 'dist/cli.js');
});

test('launchRemote(2) without remote: 2 commands; pasted into sh where mirai is installed, 2 daemons connect and run tasks', async () => {
  const set = await daemons({ url: 'tcp://127.0.0.1:0' });
  assert.match(set.url, /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
  const cmds = await launchRemote(2, { maxTasks: 50 });
  assert.is(cmds.length, 2);
  for (const c of cmds) {
    assert.ok(c.includes(set.url), 'the command embeds the real url');
    assert.ok(c.includes('--max-tasks 50'), 'the command embeds the daemon options');
    assert.match(c, /^env MIRAI_SECRET=[\w-]{43} node -e '/); // the profile's secret, never in the daemon's own argv
  }
  assert.is((await status()).connections, 0, 'nothing connects before the commands run');
  const shells = cmds.map((c) => runShell(c, { cwd: inst.cwd }));
  await waitConnections(2, W);
  const w = await where();
  assert.is(new Set(w.map((x) => x.pid)).size, 2, 'everywhere ran on 2 distinct daemons');
  for (const x of w)
    assert.is(fs.realpathSync(x.cwd), fs.realpathSync(inst.cwd), 'the daemons run where the commands were pasted');
  const shellPids = shells.map((s) => s.proc.pid!);
  for (const x of w)
    assert.ok(
      shellPids.includes(x.pid) || shellPids.includes(parentOf(x.pid)),
      'each daemon is (or is run by) one of the shells',
    );
  const values = await withTimeout(Promise.all([1, 2, 3, 4].map((x) => mirai((d) => d.x * 10, { x }))), W, 'tasks');
  assert.equal(values, [10, 20, 30, 40]);
  await daemons(0);
  const exits = await Promise.all(shells.map((s) => s.exitWithin(W)));
  assert.equal(
    exits.map((e) => e?.code),
    [0, 0],
    'the daemons exit 0 when the host goes',
  );
  assert.equal(await status(), { connections: 0, daemons: '' });
});

test('zero-config TLS: the command embeds url and certificate, no private key; it connects through NODE_PATH', async () => {
  const t0 = Date.now();
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
  const setupMs = Date.now() - t0;
  const [cmd] = await launchRemote(1);
  assert.ok(cmd!.includes(set.url));
  assert.match(cmd!, /--tls-cert '-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?'/);
  assert.not.match(cmd!, /PRIVATE KEY/);
  assert.not.match(cmd!, /-----BEGIN [A-Z ]*KEY-----/);
  const t1 = Date.now();
  const sh = runShell(cmd!, { cwd: inst.empty, env: envWith({ NODE_PATH: inst.nodePath }) });
  await waitConnections(1, W);
  const connectMs = Date.now() - t1;
  const [x] = await where();
  assert.is(fs.realpathSync(x!.cwd), fs.realpathSync(inst.empty));
  assert.is(
    await withTimeout(
      mirai(() => 'over tls'),
      W,
      'task',
    ),
    'over tls',
  );
  process.stdout.write(`\n  [zero-config TLS: daemons() ${setupMs} ms; pasted command to connected ${connectMs} ms]`);
  await daemons(0);
  assert.is((await sh.exitWithin(W))?.code, 0);
});

test("the global route: 'mirai' in npm's global folder next to the node that runs the command", async () => {
  const prefix = tempPath('mirai-prefix');
  fs.mkdirSync(path.join(prefix, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(prefix, 'lib', 'node_modules'), { recursive: true });
  const node = path.join(prefix, 'bin', 'node');
  try {
    fs.linkSync(fs.realpathSync(process.execPath), node); // a hard link: process.execPath stays in prefix/bin
  } catch (e) {
    console.log(`\n  skipped (cannot hard-link node into a temp prefix: ${(e as Error).message})`);
    return;
  }
  fs.symlinkSync(path.join(__dirname, '..', '..'), path.join(prefix, 'lib', 'node_modules', 'mirai'), 'dir');
  await daemons({ url: 'tcp://127.0.0.1:0' });
  const [cmd] = await launchRemote(1);
  // The same command with this prefix's node, as on a machine where `npm install -g mirai` ran.
  const sh = runShell(cmd!, {
    cwd: inst.empty,
    env: envWith({ PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` }),
  });
  await waitConnections(1, W);
  assert.is(
    await withTimeout(
      mirai(() => process.execPath),
      W,
      'task',
    ),
    node,
  );
  await daemons(0);
  assert.is((await sh.exitWithin(W))?.code, 0);
});

test('where mirai is not installed, the command fails with a clear message', async () => {
  await daemons({ url: 'tcp://127.0.0.1:0' });
  const [cmd] = await launchRemote(1);
  const sh = runShell(cmd!, { cwd: inst.empty });
  const exit = await sh.exitWithin(W);
  assert.is(exit?.code, 1);
  assert.match(sh.stderr, /mirai daemon: cannot find package mirai \(from .+, node .+\): npm install mirai/);
  assert.is((await status()).connections, 0);
});

// Every character of PEM text (base64 alphabet, '=', '-', spaces, newlines) and then every
// character a shell treats specially.
const HOSTILE = [
  '-----BEGIN CERTIFICATE-----',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/==',
  'Proc-Type: 4,ENCRYPTED',
  `' " \` $HOME $(id) \${x} \\ \\' ! * ? [a] ; & && | || < > ( ) { } # ~ % ^ \t tab`,
  "it's '' ''' \"\"",
  '-----END CERTIFICATE-----',
  '',
].join('\n');

test('quoting: a certificate with every PEM character (and every shell metacharacter) reaches the daemon intact', async () => {
  const url = 'tls+tcp://127.0.0.1:5555';
  const words = daemonArgv(url, { tlsCert: HOSTILE, maxTasks: 3 });
  const shells = ['sh', 'bash', 'dash', 'zsh', 'ksh'].filter((s) =>
    ['/bin', '/usr/bin'].some((d) => fs.existsSync(path.join(d, s))),
  );
  assert.ok(shells.includes('sh'));
  for (const shell of shells) {
    // The daemon command with `node` swapped for a script that prints the words it was given.
    const cmd = daemonCommand(url, { tlsCert: HOSTILE, maxTasks: 3 }, { node: [process.execPath, ARGV_ECHO] });
    const c = runShell(cmd, { shell, cwd: inst.empty, timeoutMs: W });
    const exit = await c.exited;
    assert.is(exit.code, 0, `${shell}: ${c.stderr}`);
    assert.equal(JSON.parse(c.stdout), words.slice(1), `${shell} split the command into the daemon's words`);
  }
  assert.ok(words.includes(HOSTILE));
  // A custom quoting function (POSIX double quotes) is used for every word.
  const dq = (w: string): string => `"${w.replace(/[\\"$`]/g, '\\$&')}"`;
  const cmd = daemonCommand(url, { tlsCert: HOSTILE }, { node: [process.execPath, ARGV_ECHO], quote: dq });
  assert.ok(cmd.startsWith('"'));
  const c = runShell(cmd, { cwd: inst.empty, timeoutMs: W });
  assert.is((await c.exited).code, 0, c.stderr);
  assert.equal(JSON.parse(c.stdout), daemonArgv(url, { tlsCert: HOSTILE }).slice(1));
  assert.is(shellQuote("a'b"), `'a'\\''b'`);
  assert.is(shellQuote('plain-word_1.2:3/x=y@z'), 'plain-word_1.2:3/x=y@z');
  assert.is(shellQuote(''), "''");
});

test('quoting, for real: a CA-style certificate file whose name has quotes, spaces and $ verifies the host', async () => {
  const pair = writeCert({ cn: '127.0.0.1' });
  const dir = tempPath('mirai-cert dir');
  fs.mkdirSync(dir);
  const certFile = path.join(dir, `it's a "cert" $HOME \`x\` (1).pem`);
  fs.writeFileSync(certFile, pair.client[0]);
  await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: pair.server });
  const [cmd] = await launchRemote(1, { tlsCert: certFile });
  assert.ok(cmd!.includes(`'${certFile.replace(/'/g, `'\\''`)}'`), 'the file name is quoted');
  assert.not.match(cmd!, /BEGIN/, 'a file path, not PEM text, is embedded');
  const sh = runShell(cmd!, { cwd: inst.cwd });
  await waitConnections(1, W);
  assert.is(
    await withTimeout(
      mirai(() => 6 * 7),
      W,
      'task',
    ),
    42,
  );
  await daemons(0);
  assert.is((await sh.exitWithin(W))?.code, 0, sh.stderr);
});

test('daemons(n, { url, tls: [cert, key], remote }): the launcher gets the certificate, never the key', async () => {
  const pair = writeCert({ cn: '127.0.0.1' });
  const inner = remoteConfig({ command: 'sh', args: ['-c', '.'] });
  const seen: string[] = [];
  const remote = {
    ...inner,
    launch: async (...a: Parameters<typeof inner.launch>) => {
      const l = await inner.launch(...a);
      seen.push(...l.commands);
      return l;
    },
  };
  await daemons(1, { url: 'tls+tcp://127.0.0.1:0', tls: pair.server, remote });
  assert.is(
    await withTimeout(
      mirai(() => 'ca'),
      W,
      'task',
    ),
    'ca',
  );
  assert.is(seen.length, 1);
  assert.ok(seen[0]!.includes(pair.server[0].trim().split('\n')[1]!), 'the certificate is in the command');
  assert.not.match(seen[0]!, /PRIVATE KEY/);
  assert.not.ok(seen[0]!.includes(pair.server[1].trim().split('\n')[1]!), 'no line of the key');
});

test("remoteConfig({ command: 'sh', args: ['-c', '.'] }): daemons(2, { url, remote }) launches through a shell", async () => {
  const remote = remoteConfig({ command: 'sh', args: ['-c', '.'] });
  assert.is(remote.describe(), "launcher 'sh -c .'");
  const t0 = Date.now();
  const set = await daemons(2, { url: 'tcp://127.0.0.1:0', remote });
  const ms = Date.now() - t0;
  assert.is(set.launched, 2);
  assert.is((await status()).connections, 2);
  const w = await where();
  assert.is(new Set(w.map((x) => x.pid)).size, 2);
  assert.equal(await withTimeout(Promise.all([1, 2].map((x) => mirai((d) => d.x + 1, { x }))), W, 'tasks'), [2, 3]);
  process.stdout.write(`\n  [remoteConfig sh -c: daemons(2) connected in ${ms} ms]`);
  await daemons(0);
  await waitGone(
    w.map((x) => x.pid),
    W,
    'daemons',
  );
  await waitNoProcess(set.url, W, 'launcher shells to exit');
});

test('remoteConfig: stop() ends the launcher and the daemon under it, while the host is still up', async () => {
  const set = await daemons({ url: 'tcp://127.0.0.1:0', secret: SECRET });
  const launch = await remoteConfig({ command: 'sh', args: ['-c', '.'] }).launch(1, set.url, { secret: SECRET });
  await waitConnections(1, W);
  const [x] = await where();
  assert.ok(alive(x!.pid));
  const t0 = Date.now();
  await launch.stop();
  await waitGone([x!.pid], W, 'the daemon');
  await waitConnections(0, W);
  assert.equal(pidsWith(set.url), [], 'no launcher or daemon left');
  assert.ok(Date.now() - t0 < 10000, 'bounded');
});

test('remoteConfig quote: false passes the words to a launcher that executes directly (env VAR=x .)', async () => {
  const remote = remoteConfig({ command: 'env', args: ['MIRAI_REMOTE_TEST=words', '.'], quote: false });
  await daemons(1, { url: 'tcp://127.0.0.1:0', remote });
  const [x] = await where();
  assert.is(x!.marker, 'words');
  await daemons(0);
});

test('remoteConfig with a node override (words) and a custom quote function, over zero-config TLS', async () => {
  const dq = (w: string): string => `"${w.replace(/[\\"$`]/g, '\\$&')}"`;
  const remote = remoteConfig({
    command: 'sh',
    args: ['-c', '.'],
    quote: dq,
    node: ['env', 'MIRAI_REMOTE_TEST=override', process.execPath],
  });
  await daemons(1, { url: 'tls+tcp://127.0.0.1:0', remote });
  const [x] = await where();
  assert.is(x!.marker, 'override');
  await daemons(0);
});

test('a launcher that fails: daemons() rejects with its reason and the profile is reset', async () => {
  const t0 = Date.now();
  const e1 = await errorOf(
    daemons(1, { url: 'tcp://127.0.0.1:0', remote: remoteConfig({ command: 'false', args: ['.'] }) }),
  );
  assert.match(
    e1.message,
    /via launcher 'false \.' did not connect to tcp:\/\/127\.0\.0\.1:\d+: the launcher failed with exit status 1/,
  );
  assert.equal(await status(), { connections: 0, daemons: '' });

  const e2 = await errorOf(
    daemons(2, { url: 'tcp://127.0.0.1:0', remote: remoteConfig({ command: 'mirai-no-such-launcher', args: ['.'] }) }),
  );
  assert.match(e2.message, /the launcher: cannot run 'mirai-no-such-launcher'.*ENOENT/);
  assert.equal(await status(), { connections: 0, daemons: '' });

  // The daemon command itself fails where mirai is not installed: its message comes through.
  const e3 = await errorOf(
    daemons(1, {
      url: 'tcp://127.0.0.1:0',
      remote: remoteConfig({ command: 'env', args: ['-C', inst.empty, 'NODE_PATH=', '.'], quote: false }),
    }),
  );
  assert.match(e3.message, /failed with exit status 1: mirai daemon: cannot find package mirai/);
  assert.equal(await status(), { connections: 0, daemons: '' });
  assert.ok(Date.now() - t0 < 15000, `failures are reported promptly (${Date.now() - t0} ms)`);
  // The profile works again afterwards.
  await daemons(1, { url: 'tcp://127.0.0.1:0', remote: remoteConfig({ command: 'sh', args: ['-c', '.'] }) });
  assert.is((await status()).connections, 1);
});

test('remoteConfig: bad configurations are TypeErrors', () => {
  assert.throws(
    () => remoteConfig({ command: 'sh', args: ['-c'] }),
    (e: Error) => e instanceof TypeError && /must contain "\."/.test(e.message),
  );
  assert.throws(() => remoteConfig({ command: '', args: ['.'] }), TypeError);
  assert.throws(() => remoteConfig({ command: 'sh', args: ['.'], quote: 'yes' as never }), TypeError);
  assert.throws(() => remoteConfig({ command: 'sh', args: ['.'], node: '' }), TypeError);
  assert.throws(() => remoteConfig({ command: 'sh', args: ['.'], rscript: 'x' } as never), /unknown option 'rscript'/);
});

async function hasIPv6Loopback(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e) => resolve((e as Error).message));
    s.listen(0, '::1', () => s.close(() => resolve(undefined)));
  });
}

// A killed host closes its sockets without a word: daemons must notice the connection drop
// wherever it lands in a message, and exit (tls+tcp: test/remote/tls.test.ts).
test('a host killed with SIGKILL mid-traffic: its tcp:// and ws:// daemons exit (dispatcher and round-robin)', async () => {
  const fixture = path.join(ROOT, 'test', 'fixtures', 'remote', 'killed-host.js');
  for (const url of ['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/mirai']) {
    for (const mode of ['thread', 'false']) {
      const host = spawnNode([fixture, mode, '2', url], { timeoutMs: 60000, cwd: ROOT });
      const { cmds } = JSON.parse(await host.line(/"cmds"/, W)) as { cmds: string[] };
      const children = cmds.map((c) => runCommand(c));
      await host.line(/"ready"/, W);
      host.kill();
      for (const c of children) {
        const exit = await c.exitWithin(W);
        assert.ok(exit, `${url} ${mode}: a daemon did not exit after its host was killed (stderr: ${c.stderr})`);
        assert.is(exit!.code, 0, `daemon exit status (stderr: ${c.stderr})`);
      }
    }
  }
});

test('IPv6: tcp://[::1]:0, launched by hand', async () => {
  const why = await hasIPv6Loopback();
  if (why) {
    console.log(`\n  skipped: this machine has no IPv6 loopback (${why})`);
    return;
  }
  const set = await daemons({ url: 'tcp://[::1]:0' });
  assert.match(set.url, /^tcp:\/\/\[::1\]:[1-9]\d*$/);
  const [cmd] = await launchRemote(1);
  assert.ok(cmd!.includes(set.url));
  const sh = runShell(cmd!, { cwd: inst.cwd });
  await waitConnections(1, W);
  assert.is(
    await withTimeout(
      mirai(() => 'v6'),
      W,
      'task',
    ),
    'v6',
  );
  await daemons(0);
  assert.is((await sh.exitWithin(W))?.code, 0);
});

test.run();
