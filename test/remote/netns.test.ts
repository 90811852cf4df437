// A second host: a network namespace with its own address on a veth pair (10.200.X.2, the host
// side 10.200.X.1). The host listens with zero-config TLS on tls+tcp://10.200.X.1:0; a daemon
// started inside the namespace (ip netns exec ... node dist/cli.js daemon <url> --tls-cert <file>,
// url and certificate taken from launchRemote(1)) dials it and runs tasks there. The namespace and
// the veth pair are removed at the end, also when a test fails or the process exits early.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { daemons, launchRemote, mirai, status } from '../../dist';
import { skipTest, spawnProcess, tempFile, withTimeout, type Child } from '../helpers';
import { secretEnv, SECRET } from '../fixtures/auth';
import { CLI, ROOT, certsOf, onTerminate, urlOf, waitConnections } from '../fixtures/cluster/common';

const W = 15000;
const tag = randomBytes(3).toString('hex');
const ns = `mirai-${tag}`;
const vethHost = `mvh${tag}`;
const vethNs = `mvn${tag}`;
let subnet = '';
let created = false;
const started: Child[] = [];

function ip(args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 }).toString();
}

function errText(e: unknown): string {
  const err = e as { stderr?: Buffer; message: string };
  return (err.stderr?.toString().trim() || err.message).split('\n')[0]!;
}

/** Removes the namespace and the host end of the pair (deleting either removes both ends). */
function teardownNetwork(): void {
  if (!created) return;
  created = false;
  unregister();
  for (const c of started.splice(0)) c.kill();
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // already gone
  }
  try {
    ip(['link', 'del', vethHost]);
  } catch {
    // went with the namespace
  }
}
let unregister = (): void => {};

/** A 10.200.X.0/24 not in use on this machine. */
function freeSubnet(): string {
  const used = ip(['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < 50; i++) {
    const x = 1 + Math.floor(Math.random() * 254);
    if (!used.includes(`10.200.${x}.`)) return `10.200.${x}`;
  }
  throw new Error('no free 10.200.X.0/24 subnet');
}

/** Sets up the namespace, or returns why it cannot be done here. */
function setUpNetwork(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  try {
    ip(['-V']);
  } catch {
    return "the 'ip' command (iproute2) is not installed";
  }
  try {
    ip(['netns', 'add', ns]);
  } catch (e) {
    return `'ip netns add' failed (not permitted here?): ${errText(e)}`;
  }
  created = true;
  unregister = onTerminate(teardownNetwork);
  subnet = freeSubnet();
  ip(['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs, 'netns', ns]);
  ip(['addr', 'add', `${subnet}.1/24`, 'dev', vethHost]);
  ip(['link', 'set', vethHost, 'up']);
  ip(['-n', ns, 'addr', 'add', `${subnet}.2/24`, 'dev', vethNs]);
  ip(['-n', ns, 'link', 'set', vethNs, 'up']);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  return undefined;
}

let skip: string | undefined;

test.before(() => {
  try {
    skip = setUpNetwork();
  } catch (e) {
    teardownNetwork();
    throw new Error(`cannot set up the namespace: ${errText(e)}`);
  }
});

test.after(async () => {
  await daemons(0).catch(() => {});
  teardownNetwork();
});

test("the namespace is another host: its own address, and it cannot see the host's", () => {
  if (skip) return skipTest(skip);
  const inside = execFileSync('ip', ['netns', 'exec', ns, 'ip', '-o', '-4', 'addr', 'show'], {
    timeout: 10000,
  }).toString();
  assert.ok(inside.includes(`${subnet}.2/24`), inside);
  const hostAddrs = Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith(`${subnet}.`));
  for (const a of hostAddrs)
    assert.not.ok(inside.includes(`${a!.address}/`), `the namespace has host address ${a!.address}`);
});

test('a daemon inside the namespace dials tls+tcp://<host side>:port with the zero-config certificate and runs tasks there', async () => {
  if (skip) return skipTest(skip);
  const set = await daemons({ url: `tls+tcp://${subnet}.1:0`, secret: SECRET });
  assert.match(set.url, new RegExp(`^tls\\+tcp://${subnet.replace(/\./g, '\\.')}\\.1:\\d+$`));
  const [cmd] = await launchRemote(1);
  assert.not.ok(cmd!.includes('PRIVATE KEY'));
  const url = urlOf(cmd!);
  assert.is(url, set.url);
  const [cert] = certsOf(cmd!);
  const certFile = tempFile('host-cert.pem', cert!);

  const t0 = Date.now();
  const d = spawnProcess('ip', ['netns', 'exec', ns, process.execPath, CLI, 'daemon', url, '--tls-cert', certFile], {
    timeoutMs: 60000,
    cwd: ROOT,
    env: secretEnv(),
  });
  started.push(d);
  try {
    await waitConnections(1, W);
  } catch (e) {
    throw new Error(`${(e as Error).message}; daemon stderr: ${d.stderr}`);
  }
  console.log(`\n  [netns] daemon in namespace ${ns} connected over tls+tcp to ${url} in ${Date.now() - t0} ms`);

  const where = await withTimeout(
    mirai(() => {
      const addrs = Object.values(
        require('node:os').networkInterfaces() as Record<string, Array<{ family: string; address: string }>>,
      )
        .flat()
        .filter((a) => a.family === 'IPv4')
        .map((a) => a.address);
      return { addrs, pid: process.pid };
    }),
    W,
    'task',
  );
  assert.ok(where.addrs.includes(`${subnet}.2`), `task ran inside the namespace: ${where.addrs}`);
  assert.not.ok(where.addrs.includes(`${subnet}.1`), 'not on the host side');
  assert.is.not(where.pid, process.pid);
  const squares = await withTimeout(Promise.all([1, 2, 3].map((x) => mirai((v) => v.x * v.x, { x }))), W, 'tasks');
  assert.equal(squares, [1, 4, 9]);

  await daemons(0);
  const exit = await d.exitWithin(W);
  assert.ok(exit, 'the daemon exits after daemons(0)');
  assert.is(exit!.code, 0, d.stderr);
});

test("the same daemon without the certificate's trust (another key) is refused across the namespace; the host gets nothing", async () => {
  if (skip) return skipTest(skip);
  const set = await daemons({ url: `tls+tcp://${subnet}.1:0`, secret: SECRET });
  const { writeCert } = await import('../../dist/nng');
  const wrong = tempFile('wrong.pem', writeCert({ cn: `${subnet}.1` }).client[0]);
  const d = spawnProcess('ip', ['netns', 'exec', ns, process.execPath, CLI, 'daemon', set.url, '--tls-cert', wrong], {
    timeoutMs: 60000,
    cwd: ROOT,
    env: secretEnv(),
  });
  started.push(d);
  const exit = await d.exitWithin(W);
  assert.ok(exit, 'daemon exits');
  assert.is(exit!.code, 1);
  assert.match(d.stderr, /did not verify against tlsCert/);
  assert.is((await status()).connections, 0);
  await daemons(0);
});

test('teardown removes the namespace and the veth pair', () => {
  if (skip) return skipTest(skip);
  teardownNetwork();
  assert.not.ok(
    ip(['netns', 'list'])
      .split('\n')
      .some((l) => l.split(' ')[0] === ns),
    'namespace gone',
  );
  assert.not.ok(ip(['-o', 'link', 'show']).includes(vethHost), 'veth gone');
});

test.run();
