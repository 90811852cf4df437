// sshConfig() against a real OpenSSH server started by this test ("SSH Direct Connection" and
// "SSH Tunnelling" in the original documentation): keys made with ssh-keygen, sshd on a loopback
// port (and, for tunnels, a second sshd inside a network namespace: another "machine" with its own
// 127.0.0.1, reachable only over a veth pair). Daemons launched over ssh connect and run tasks
// inside the ssh sessions; daemons(0) ends them on the far side; a host that refuses or never
// answers fails promptly with an error naming it. Prints the time from daemons() to connected.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as net from 'node:net';
import * as path from 'node:path';
import { daemons, everywhere, mirai, status } from '../../dist';
import { sshConfig } from '../../dist/launchers/ssh';
import { errorOf, freePort, skipTest, spawnProcess, waitFor, withTimeout } from '../helpers';
import { testHooks, waitGone } from '../fixtures/mirai/common';
import {
  cmdline,
  install,
  netnsOfThisProcess,
  pidsWith,
  waitConnections,
  waitNoProcess,
  whereTask,
} from '../fixtures/remote/common';
import { makeNetns, sshUnavailable, startSshd, type Netns, type Sshd } from '../fixtures/remote/sshd';
import { SECRET } from '../fixtures/auth';

const W = 30000;
const skip = sshUnavailable();
const inst = install();
// The far side's login environment: node on the PATH, 'mirai' on NODE_PATH (as after
// `npm install -g mirai`), and a marker only ssh sessions have.
const sessionEnv = {
  PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
  NODE_PATH: inst.nodePath,
  MIRAI_REMOTE_TEST: 'ssh-session',
};
let sshd: Sshd | undefined;
let ns: Netns | string | undefined;
let nsSshd: Sshd | undefined;
const timings: string[] = [];

test.before(async () => {
  if (skip) return;
  sshd = await startSshd({ env: sessionEnv });
});
testHooks(test);
test.after.each(async () => {
  await daemons(0).catch(() => {});
});
test.after(async () => {
  await daemons(0).catch(() => {});
  await sshd?.stop();
  await nsSshd?.stop();
  if (typeof ns === 'object') ns.remove();
  if (timings.length)
    process.stdout.write(`\n  ssh timings (daemons() to connected):\n${timings.map((t) => `    ${t}`).join('\n')}\n`);
});

const skipped = (what: string): boolean => {
  if (!skip) return false;
  skipTest(`${what}: ${skip}`);
  return true;
};
const where = async (): Promise<ReturnType<typeof whereTask>[]> =>
  (await withTimeout(everywhere(whereTask), W, 'everywhere')) as ReturnType<typeof whereTask>[];
const loopback = (extra: Parameters<typeof sshConfig>[1] = {}): ReturnType<typeof sshConfig> =>
  sshConfig('root@127.0.0.1', { port: sshd!.port, identity: sshd!.identity, sshArgs: sshd!.sshArgs, ...extra });

/** Asserts the daemons run inside ssh sessions on this sshd, not as children of this process. */
function assertInSsh(w: ReturnType<typeof whereTask>[]): void {
  for (const x of w) {
    assert.match(
      x.ssh,
      /^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+$/,
      'SSH_CONNECTION is set: the daemon runs in an ssh session',
    );
    assert.is(x.marker, 'ssh-session', "the session's environment (authorized_keys environment=)");
    assert.is.not(x.ppid, process.pid);
    const parent = cmdline(x.ppid);
    assert.match(parent, /^sshd|sh -c /, `the parent is an sshd session (or its shell): ${parent}`);
  }
}

test('sshConfig: bad arguments are TypeErrors; describe() names the hosts', async () => {
  assert.throws(() => sshConfig([]), TypeError);
  assert.throws(() => sshConfig('-oProxyCommand=x'), /is not a host/);
  assert.throws(() => sshConfig('host name'), /is not a host/);
  assert.throws(() => sshConfig('ssh://h:99999'), /port 99999/);
  assert.throws(() => sshConfig('h', { timeout: 0 }), /timeout must be a positive number/);
  assert.throws(() => sshConfig('h', { tunnel: 'yes' as never }), /tunnel must be a boolean/);
  assert.throws(() => sshConfig('h', { rscript: 'x' } as never), /unknown option 'rscript'/);
  const r = sshConfig(['ssh://10.75.32.90:222', 'user@10.75.32.91']);
  assert.is(r.describe(), 'ssh to ssh://10.75.32.90:222, user@10.75.32.91');
  assert.is(r.count, 2);
  assert.is(r.timeout, 40000);
  // tunnel: true needs a url on 127.0.0.1 (checked before anything is started).
  const e = await errorOf(daemons(1, { url: 'tcp://0.0.0.0:0', remote: sshConfig('h', { tunnel: true }) }));
  assert.instance(e, TypeError);
  assert.match(e.message, /tunnel: true.*127\.0\.0\.1.*got 'tcp:\/\/0\.0\.0\.0:\d+'/);
  assert.equal(await status(), { connections: 0, daemons: '' });
});

test('sshConfig commands: round-robin over remotes, ssh options, ports from ssh:// URLs, -R with a tunnel', async () => {
  // 'true' stands in for ssh: only the command lines are looked at here.
  const r = sshConfig(['a@h1', 'ssh://b@h2:2222', 'ssh://[::1]:23'], {
    command: 'true',
    port: 22,
    identity: '/k',
    sshArgs: ['-v'],
  });
  const l = await r.launch(4, 'tcp://10.0.0.1:5555', { maxTasks: 2 });
  await l.stop();
  assert.is(l.commands.length, 4);
  const dests = l.commands.map((c) => / (a@h1|b@h2|::1) /.exec(c)![1]);
  assert.equal(dests, ['a@h1', 'a@h1', 'b@h2', '::1']);
  assert.match(l.commands[0]!, /^true -v -o BatchMode=yes -o ConnectTimeout=10 -T -p 22 -i \/k a@h1 'exec node -e /);
  assert.match(l.commands[2]!, / -p 2222 /);
  assert.match(l.commands[3]!, / -p 23 /);
  assert.ok(l.commands.every((c) => c.includes('daemon tcp://10.0.0.1:5555 --max-tasks 2')));
  const t = sshConfig('h', { command: 'true', tunnel: true });
  const lt = await t.launch(3, 'tcp://127.0.0.1:41000', {});
  await lt.stop();
  assert.is(lt.commands.length, 1, 'with a tunnel, one session per remote holds the port for all its daemons');
  assert.match(
    lt.commands[0]!,
    /-o ExitOnForwardFailure=yes -R 127\.0\.0\.1:41000:127\.0\.0\.1:41000 h 'exec 3<&0; node /,
  );
  assert.is(lt.commands[0]!.split('<&3 &').length - 1, 3);
});

test('ssh, no tunnel: daemons(2) over ssh to a real sshd connect and run tasks in the ssh sessions', async () => {
  if (skipped('the ssh tests')) return;
  const t0 = Date.now();
  const set = await daemons(2, { url: 'tcp://127.0.0.1:0', remote: loopback() });
  const ms = Date.now() - t0;
  timings.push(`tcp, 2 daemons, one ssh session each: ${ms} ms`);
  assert.is(set.launched, 2);
  assert.is((await status()).connections, 2);
  const w = await where();
  assert.is(new Set(w.map((x) => x.pid)).size, 2);
  assertInSsh(w);
  assert.equal(
    await withTimeout(Promise.all([1, 2, 3].map((x) => mirai((d) => d.x * 3, { x }))), W, 'tasks'),
    [3, 6, 9],
  );
  await daemons(0);
  await waitGone(
    w.map((x) => x.pid),
    W,
    'the far-side daemons',
  );
  await waitNoProcess(set.url, W, 'ssh clients and daemons to exit');
});

test('ssh with zero-config TLS: the certificate travels in the ssh command; 3 daemons round-robin over two spellings of the host', async () => {
  if (skipped('the ssh tests')) return;
  const remote = sshConfig(['root@127.0.0.1', `ssh://root@127.0.0.1:${sshd!.port}`], {
    port: sshd!.port,
    identity: sshd!.identity,
    sshArgs: sshd!.sshArgs,
    node: process.execPath,
  });
  const t0 = Date.now();
  const set = await daemons(3, { url: 'tls+tcp://127.0.0.1:0', remote });
  timings.push(`tls+tcp (zero-config), 3 daemons over 2 remotes: ${Date.now() - t0} ms`);
  const w = await where();
  assert.is(w.length, 3);
  assertInSsh(w);
  assert.is(
    await withTimeout(
      mirai(() => 'tls over ssh'),
      W,
      'task',
    ),
    'tls over ssh',
  );
  await daemons(0);
  await waitGone(
    w.map((x) => x.pid),
    W,
    'the far-side daemons',
  );
  await waitNoProcess(set.url, W, 'ssh clients and daemons to exit');
});

test('ssh: stopping the launch ends the far-side daemon at once, while the host is still up (its stdin ends)', async () => {
  if (skipped('the ssh tests')) return;
  const set = await daemons({ url: 'tcp://127.0.0.1:0', secret: SECRET });
  const launch = await loopback().launch(1, set.url, { secret: SECRET });
  await waitConnections(1, W);
  const [x] = await where();
  assertInSsh([x!]);
  const t0 = Date.now();
  await launch.stop();
  const ms = Date.now() - t0;
  await waitGone([x!.pid], W, 'the far-side daemon');
  await waitConnections(0, W);
  assert.ok(ms < 2500, `the session ended the daemon without waiting for kill signals (${ms} ms)`);
  assert.equal(pidsWith(set.url), [], 'no ssh client or daemon left');
});

test('ssh: a refused connection fails promptly, naming the host and quoting ssh', async () => {
  if (skipped('the ssh tests')) return;
  const closed = await freePort();
  const remote = sshConfig('root@127.0.0.1', {
    port: closed,
    identity: sshd!.identity,
    sshArgs: sshd!.sshArgs,
    timeout: 5000,
  });
  const t0 = Date.now();
  const e = await errorOf(daemons(1, { url: 'tcp://127.0.0.1:0', remote }));
  const ms = Date.now() - t0;
  assert.match(e.message, /via ssh to root@127\.0\.0\.1 did not connect/);
  assert.match(e.message, /ssh to root@127\.0\.0\.1 failed with exit status 255: .*port \d+: Connection refused/);
  assert.ok(ms < 5000, `within the timeout (${ms} ms)`);
  assert.equal(await status(), { connections: 0, daemons: '' });
});

test('ssh: a host that accepts but never answers times out within the timeout, naming the host', async () => {
  if (skipped('the ssh tests')) return;
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s.on('error', () => {})));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const remote = sshConfig(`ssh://root@127.0.0.1:${port}`, {
      identity: sshd!.identity,
      sshArgs: sshd!.sshArgs,
      timeout: 2000,
    });
    const t0 = Date.now();
    const e = await errorOf(daemons(1, { url: 'tcp://127.0.0.1:0', remote }));
    const ms = Date.now() - t0;
    assert.match(
      e.message,
      new RegExp(`ssh to ssh://root@127\\.0\\.0\\.1:${port} failed with exit status 255: .*timed out`),
    );
    assert.ok(ms >= 1500 && ms < 8000, `about the 2 s timeout (${ms} ms)`);
    assert.equal(await status(), { connections: 0, daemons: '' });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

test('ssh: where mirai is not installed, the reason comes back through ssh', async () => {
  if (skipped('the ssh tests')) return;
  const remote = loopback({ node: ['env', '-C', inst.empty, 'NODE_PATH=', process.execPath] });
  const e = await errorOf(daemons(1, { url: 'tcp://127.0.0.1:0', remote }));
  assert.match(
    e.message,
    /ssh to root@127\.0\.0\.1 failed with exit status 1: mirai daemon: cannot find package mirai/,
  );
});

/** Waits (bounded) until only the sshd listener is left in the namespace. */
async function waitEmpty(n: Netns): Promise<void> {
  await waitFor(
    () => n.pids().every((p) => p === nsSshd!.pid),
    W,
    'the namespace to hold only the sshd listener',
  ).catch(() => {});
  assert.equal(n.pids(), [nsSshd!.pid], 'only the sshd listener is left in the namespace');
}

/** The namespace and its sshd, made on first use (or the reason they cannot be). */
async function secondMachine(): Promise<string | undefined> {
  if (skip) return skip;
  if (ns === undefined) {
    ns = makeNetns();
    if (typeof ns === 'object') nsSshd = await startSshd({ listen: ns.address, netns: ns.name, env: sessionEnv });
  }
  return typeof ns === 'string' ? ns : undefined;
}

test('ssh tunnel: daemons in another network namespace reach a 127.0.0.1 host only through ssh -R', async () => {
  const why = await secondMachine();
  if (why) return void console.log(`\n  skipped the tunnel test: ${why}`);
  const n = ns as Netns;
  const remote = sshConfig(`root@${n.address}`, {
    port: nsSshd!.port,
    identity: nsSshd!.identity,
    sshArgs: nsSshd!.sshArgs,
    tunnel: true,
  });
  const t0 = Date.now();
  const set = await daemons(2, { url: 'tcp://127.0.0.1:0', remote });
  timings.push(`tunnel (ssh -R), 2 daemons in one session, another network namespace: ${Date.now() - t0} ms`);
  const w = await where();
  assert.is(new Set(w.map((x) => x.pid)).size, 2);
  const here = netnsOfThisProcess();
  for (const x of w) {
    assert.is(x.marker, 'ssh-session');
    assert.match(
      x.ssh,
      new RegExp(`^${n.hostAddress.replace(/\./g, '\\.')} \\d+ ${n.address.replace(/\./g, '\\.')} \\d+$`),
    );
    assert.ok(x.netns !== '' && x.netns !== here, `the daemon is in another network namespace (${x.netns} vs ${here})`);
    assert.ok(n.pids().includes(x.pid));
  }
  assert.equal(await withTimeout(Promise.all([5, 6].map((x) => mirai((d) => d.x * d.x, { x }))), W, 'tasks'), [25, 36]);
  await daemons(0);
  await waitGone(
    w.map((x) => x.pid),
    W,
    'the far-side daemons',
  );
  await waitNoProcess(set.url, W, 'ssh client to exit');
  await waitEmpty(n);
});

test('ssh tunnel with zero-config TLS (CN 127.0.0.1 holds on both ends of the tunnel)', async () => {
  const why = await secondMachine();
  if (why) return void console.log(`\n  skipped the tunnel test: ${why}`);
  const n = ns as Netns;
  const remote = sshConfig(`root@${n.address}`, {
    port: nsSshd!.port,
    identity: nsSshd!.identity,
    sshArgs: nsSshd!.sshArgs,
    tunnel: true,
  });
  const t0 = Date.now();
  await daemons(1, { url: 'tls+tcp://127.0.0.1:0', remote });
  timings.push(`tunnel with tls+tcp, 1 daemon: ${Date.now() - t0} ms`);
  assert.is(
    await withTimeout(
      mirai(() => require('node:fs').readlinkSync('/proc/self/ns/net')),
      W,
      'task',
    ),
    (await where())[0]!.netns,
  );
  await daemons(0);
  await waitEmpty(n);
});

test('ssh tunnel: a url that is not on 127.0.0.1 is a TypeError, a taken port on the far side a clear error', async () => {
  const why = await secondMachine();
  if (why) return void console.log(`\n  skipped the tunnel test: ${why}`);
  const n = ns as Netns;
  const remote = sshConfig(`root@${n.address}`, {
    port: nsSshd!.port,
    identity: nsSshd!.identity,
    sshArgs: nsSshd!.sshArgs,
    tunnel: true,
  });
  const e1 = await errorOf(daemons(1, { url: `tcp://${n.hostAddress}:0`, remote }));
  assert.instance(e1, TypeError);
  // The far side's port is taken: ExitOnForwardFailure makes ssh say so and exit.
  const blocker = await freePort();
  const hold = spawnProcess(
    'ip',
    [
      'netns',
      'exec',
      n.name,
      process.execPath,
      '-e',
      `require("net").createServer().listen(${blocker},"127.0.0.1",()=>console.log("listening"))`,
    ],
    { timeoutMs: W },
  );
  try {
    await hold.line(/listening/, W);
    const e2 = await errorOf(daemons(1, { url: `tcp://127.0.0.1:${blocker}`, remote }));
    assert.match(
      e2.message,
      new RegExp(
        `ssh to root@${n.address.replace(/\./g, '\\.')} failed with exit status 255: .*forwarding failed.*${blocker}`,
        's',
      ),
    );
    assert.equal(await status(), { connections: 0, daemons: '' });
  } finally {
    hold.kill();
    await hold.exited;
  }
});

test.run();
