// TLS with real daemon processes (dist/cli.js daemon, or the launch commands run by a shell)
// against daemons() listening on tls+tcp://127.0.0.1. Zero-config: a fresh ECDSA key and
// self-signed certificate per daemons() call, CN = the URL's host, the certificate (never the key)
// in the launch commands; what it costs. Refused: a wrong certificate, a certificate for another
// name, a plain tcp:// daemon, an expired certificate, a tls daemon against a plain listener, a
// chain without its intermediate: each daemon exits 1 saying why and the host gets nothing.
// CA-signed: a root -> intermediate -> leaf chain made with openssl, as [chain, key] or one PEM
// file with an encrypted key and `pass`; daemons given the chain via launchRemote({ tlsCert }).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { daemons, launchRemote, mirai, status, unresolved, type DaemonsOptions, type Mirai } from '../../dist';
import { writeCert } from '../../dist/nng';
import { errorOf, skipTest, spawnNode, tempFile, withTimeout, type Child } from '../helpers';
import { certsOf, ROOT, runCommand, runDaemon, secretOf, urlOf, waitConnections } from '../fixtures/cluster/common';
import { haveOpenssl, makePki, type Pki } from '../fixtures/cluster/pki';
import { marker, touchTask } from '../fixtures/mirai/common';

const W = 15000;
const HOST_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'remote', 'killed-host.js');
const started: Child[] = [];
const track = (c: Child): Child => (started.push(c), c);

// Warnings tls-setup emits for a certificate that cannot verify (expired, another name).
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  if (w.name === 'MiraiTlsWarning') warnings.push(w.message);
};
process.on('warning', onWarning);

test.after.each(async () => {
  await daemons(0).catch(() => {});
  for (const c of started.splice(0)) c.kill();
});
test.after(() => {
  process.off('warning', onWarning);
});

let pki: Pki | undefined;
function getPki(): Pki {
  pki ??= makePki();
  return pki;
}

function assertNoKey(cmds: string[]): void {
  for (const c of cmds) {
    assert.not.ok(c.includes('PRIVATE KEY'), 'a launch command contains a private key');
    assert.not.ok(c.includes('ENCRYPTED'), 'a launch command contains an (encrypted) key');
  }
}

/** Starts the commands in a shell and waits until that many more daemons are connected. */
async function connect(cmds: string[], before = 0): Promise<Child[]> {
  const children = cmds.map((c) => track(runCommand(c)));
  try {
    await waitConnections(before + cmds.length, W);
  } catch (e) {
    throw new Error(`${(e as Error).message}; daemon stderr: ${children.map((c) => c.stderr).join(' | ')}`);
  }
  return children;
}

/** Runs tasks and checks they ran in another process. */
async function tasksRun(): Promise<void> {
  const out = await withTimeout(
    Promise.all([2, 3, 4].map((x) => mirai((d) => ({ y: d.x ** 3, pid: process.pid }), { x }))),
    W,
    'tasks',
  );
  assert.equal(
    out.map((r) => r.y),
    [8, 27, 64],
  );
  for (const r of out) assert.is.not(r.pid, process.pid);
}

/** Ends the profile and checks its daemons exit with status 0. */
async function endAndCheck(children: Child[]): Promise<void> {
  await daemons(0);
  for (const c of children) {
    const exit = await c.exitWithin(W);
    assert.ok(exit, 'daemon exits after daemons(0)');
    assert.is(exit!.code, 0, `daemon exit status (stderr: ${c.stderr})`);
  }
}

/**
 * With a task queued on the host, runs one daemon with args: it must exit 1 quickly with a
 * message matching re, no connection must show up and the task must not run.
 */
async function refused(args: string[], re: RegExp): Promise<{ task: Mirai<number>; file: string; stderr: string }> {
  const file = marker();
  const task = mirai(touchTask, { file });
  const d = track(runDaemon(args));
  const exit = await d.exitWithin(W);
  assert.ok(exit, `daemon did not exit (stderr: ${d.stderr})`);
  assert.is(exit!.code, 1, `daemon exit status (stderr: ${d.stderr})`);
  assert.match(d.stderr, re);
  assert.is((await status()).connections, 0, 'the host saw a connection');
  assert.not.ok(fs.existsSync(file), 'a task ran');
  assert.ok(unresolved(task), 'the queued task is still waiting');
  return { task, file, stderr: d.stderr.trim() };
}

// --- zero-config --------------------------------------------------------------------------

test('zero-config: a fresh ECDSA P-256 key and self-signed certificate (CN = the URL host) per daemons() call; the cost', async () => {
  // writeCert alone, warmed up.
  writeCert({ cn: '127.0.0.1' });
  const N = 20;
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) writeCert({ cn: '127.0.0.1' });
  const certMs = Number(process.hrtime.bigint() - t) / 1e6 / N;
  // daemons() (round-robin: the listener is in this process) on tcp:// and on tls+tcp://,
  // alternating; medians.
  const times = { tcp: [] as number[], tls: [] as number[] };
  for (let i = 0; i < 11; i++) {
    for (const scheme of ['tcp', 'tls'] as const) {
      t = process.hrtime.bigint();
      await daemons({ url: `${scheme === 'tls' ? 'tls+tcp' : 'tcp'}://127.0.0.1:0`, dispatcher: false });
      times[scheme].push(Number(process.hrtime.bigint() - t) / 1e6);
      await daemons(0);
    }
  }
  const median = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
  const [tcpMs, tlsMs] = [median(times.tcp), median(times.tls)];
  console.log(
    `\n  [tls] zero-config setup: writeCert (ECDSA P-256 key + self-signed certificate) ${certMs.toFixed(2)} ms; ` +
      `daemons() on tls+tcp ${tlsMs.toFixed(2)} ms vs tcp ${tcpMs.toFixed(2)} ms (medians of 11)`,
  );
  assert.ok(certMs < 200, `writeCert took ${certMs} ms`);

  const seen = new Set<string>();
  for (let i = 0; i < 2; i++) {
    const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
    assert.match(set.url, /^tls\+tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const cmds = await launchRemote(2);
    assert.is(cmds.length, 2);
    assertNoKey(cmds);
    for (const c of cmds) {
      assert.is(urlOf(c), set.url);
      assert.match(c, /--tls-cert '-----BEGIN CERTIFICATE-----\n/);
    }
    const pems = certsOf(cmds[0]!);
    assert.is(pems.length, 1, 'one self-signed certificate');
    const cert = new X509Certificate(pems[0]!);
    assert.is(cert.subject, 'CN=127.0.0.1');
    assert.is(cert.issuer, cert.subject, 'self-signed');
    assert.ok(cert.verify(cert.publicKey), 'signed by its own key');
    assert.is(cert.publicKey.asymmetricKeyType, 'ec');
    assert.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(Date.parse(cert.validTo) > Date.now());
    seen.add(cert.fingerprint256);
    await daemons(0);
  }
  assert.is(seen.size, 2, 'each daemons() call makes its own key and certificate');
});

for (const dispatcher of [true, false]) {
  test(`zero-config end to end (${dispatcher ? 'dispatcher' : 'round-robin'}): launch commands run by a shell connect, tasks run, daemons(0) ends them`, async () => {
    await daemons({ url: 'tls+tcp://127.0.0.1:0', dispatcher });
    const cmds = await launchRemote(2);
    assertNoKey(cmds);
    const t0 = Date.now();
    const children = await connect(cmds);
    console.log(
      `\n  [tls] ${dispatcher ? 'dispatcher' : 'round-robin'}: 2 daemons from launch commands connected over tls+tcp in ${Date.now() - t0} ms`,
    );
    await tasksRun();
    await endAndCheck(children);
  });
}

test('zero-config over IPv6: tls+tcp://[::1]:0 gets a certificate for ::1 and works', async () => {
  await daemons({ url: 'tls+tcp://[::1]:0' });
  const [cmd] = await launchRemote(1);
  assert.match(urlOf(cmd!), /^tls\+tcp:\/\/\[::1\]:\d+$/);
  assert.is(new X509Certificate(certsOf(cmd!)[0]!).subject, 'CN=::1');
  const children = await connect([cmd!]);
  await tasksRun();
  await endAndCheck(children);
});

// --- refused ------------------------------------------------------------------------------

test('refused: a daemon given the wrong certificate (another writeCert) exits 1 saying so; the host gets nothing and still serves a good daemon', async () => {
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
  const wrong = tempFile('wrong.pem', writeCert({ cn: '127.0.0.1' }).client[0]);
  const { task, stderr } = await refused(
    [set.url, '--tls-cert', wrong],
    /cannot connect to tls\+tcp:\/\/127\.0\.0\.1:\d+: .*did not verify against tlsCert/,
  );
  console.log(`\n  [tls] wrong certificate: ${stderr}`);
  // The listener is unharmed: the real command connects and the queued task runs.
  const children = await connect(await launchRemote(1));
  assert.type(await withTimeout(task, W, 'the queued task'), 'number');
  await tasksRun();
  await endAndCheck(children);
});

test('refused: a certificate for another name (CN other.example while dialing 127.0.0.1)', async () => {
  const other = writeCert({ cn: 'other.example' });
  warnings.length = 0;
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: [other.server[0], other.server[1]] });
  assert.ok(
    warnings.some((w) => /does not name '127\.0\.0\.1'/.test(w)),
    `a warning at daemons(): ${warnings}`,
  );
  const [cmd] = await launchRemote(1);
  assertNoKey([cmd!]);
  assert.is(certsOf(cmd!)[0], other.client[0], 'daemons are given that certificate');
  const { stderr } = await refused([set.url, '--tls-cert', other.client[0]], /did not verify against tlsCert/);
  console.log(`\n  [tls] another name: ${stderr}`);
});

test('refused: a plain tcp:// daemon against the tls listener', async () => {
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
  const plain = set.url.replace('tls+tcp://', 'tcp://');
  const { task, stderr } = await refused([plain], /cannot connect to tcp:\/\/127\.0\.0\.1:\d+/);
  console.log(`\n  [tls] plain tcp daemon: ${stderr}`);
  const children = await connect(await launchRemote(1));
  assert.type(await withTimeout(task, W, 'the queued task'), 'number');
  await endAndCheck(children);
});

test('refused: a tls+tcp:// daemon against a plain tcp listener', async () => {
  const set = await daemons({ url: 'tcp://127.0.0.1:0' });
  const tlsUrl = set.url.replace('tcp://', 'tls+tcp://');
  const { stderr } = await refused(
    [tlsUrl, '--tls-cert', writeCert({ cn: '127.0.0.1' }).client[0]],
    /cannot connect to tls\+tcp:\/\/127\.0\.0\.1:\d+/,
  );
  console.log(`\n  [tls] tls daemon, plain listener: ${stderr}`);
});

test('refused: an expired certificate (openssl, 2020-01-01..02, signed by the test root)', async () => {
  if (!haveOpenssl()) return skipTest('openssl not found');
  const p = getPki();
  warnings.length = 0;
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: [p.expired, p.expiredKey] });
  assert.ok(
    warnings.some((w) => /expired on Jan {2}2 00:00:00 2020 GMT/.test(w)),
    `a warning at daemons(): ${warnings}`,
  );
  const root = tempFile('root.pem', p.root);
  const { stderr } = await refused([set.url, '--tls-cert', root], /did not verify against tlsCert/);
  console.log(`\n  [tls] expired certificate: ${stderr}`);
});

test('refused: a leaf served without its intermediate, daemon trusting only the root', async () => {
  if (!haveOpenssl()) return skipTest('openssl not found');
  const p = getPki();
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: [p.leaf, p.leafKey] });
  await refused([set.url, '--tls-cert', p.root], /did not verify against tlsCert/);
});

// --- CA-signed ----------------------------------------------------------------------------

test('CA chain: tls [leaf + intermediate, key]; daemons get the chain to the root via launchRemote({ tlsCert }) and run tasks', async () => {
  if (!haveOpenssl()) return skipTest('openssl not found');
  const p = getPki();
  console.log(`\n  [tls] openssl root -> intermediate -> leaf (+ expired leaf) made in ${p.ms} ms`);
  warnings.length = 0;
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: [p.leaf + p.intermediate, p.leafKey] });
  assert.equal(warnings, [], 'no warning for a good certificate');
  const chain = p.leaf + p.intermediate + p.root;
  const cmds = await launchRemote(2, { tlsCert: chain });
  assertNoKey(cmds);
  for (const c of cmds) assert.equal(certsOf(c), [p.leaf, p.intermediate, p.root]);
  const children = await connect(cmds);
  // And a daemon that trusts only the root (the host sends the intermediate), as a file.
  children.push(track(runDaemon([set.url, '--tls-cert', tempFile('root.pem', p.root)], 60000, secretOf(cmds[0]!))));
  await waitConnections(3, W);
  await tasksRun();
  await endAndCheck(children);
});

test('CA chain: one PEM file (leaf, intermediate, root, encrypted key) with pass; launchRemote() hands daemons the chain', async () => {
  if (!haveOpenssl()) return skipTest('openssl not found');
  const p = getPki();
  const file = tempFile('host.pem', p.leaf + p.intermediate + p.root + p.leafKeyEncrypted);
  await daemons({ url: 'tls+tcp://127.0.0.1:0', tls: file, pass: p.pass, dispatcher: false });
  const cmds = await launchRemote(1);
  assertNoKey(cmds);
  assert.equal(certsOf(cmds[0]!), [p.leaf, p.intermediate, p.root], 'the chain from the file, without the key');
  const children = await connect(cmds);
  await tasksRun();
  await endAndCheck(children);
});

// A killed host sends no TLS close_notify: its daemons see the TCP connection drop, at any point
// of a message. They must notice and exit (autoExit), whatever they were doing.
test('a host killed with SIGKILL mid-traffic: its tls+tcp daemons exit (dispatcher and round-robin)', async () => {
  for (const mode of ['thread', 'false']) {
    for (let round = 0; round < 3; round++) {
      const host = track(spawnNode([HOST_FIXTURE, mode, '2'], { timeoutMs: 60000, cwd: ROOT }));
      const { cmds } = JSON.parse(await host.line(/"cmds"/, W)) as { cmds: string[] };
      const children = cmds.map((c) => track(runCommand(c)));
      await host.line(/"ready"/, W);
      host.kill();
      for (const c of children) {
        const exit = await c.exitWithin(W);
        assert.ok(
          exit,
          `${mode} round ${round}: a daemon did not exit after its host was killed (stderr: ${c.stderr})`,
        );
        assert.is(exit!.code, 0, `daemon exit status (stderr: ${c.stderr})`);
      }
    }
  }
});

test('CA-signed setup mistakes are refused at daemons() with what is wrong, and nothing listens', async () => {
  if (!haveOpenssl()) return skipTest('openssl not found');
  const p = getPki();
  const url = 'tls+tcp://127.0.0.1:0';
  const cases: Array<[DaemonsOptions & { url: string }, RegExp]> = [
    [{ url, tls: [p.leaf, p.leafKeyEncrypted] }, /private key is encrypted: give its passphrase as the pass option/],
    [{ url, tls: [p.leaf, p.leafKeyEncrypted], pass: 'not it' }, /cannot decrypt the private key with the given pass/],
    [{ url, tls: [p.leaf, p.expiredKey] }, /private key does not belong to the certificate \(CN=127\.0\.0\.1\)/],
    [
      { url, tls: [p.intermediate + p.leaf, p.leafKey] },
      /does not belong to the certificate \(CN=mirai test intermediate CA\); the certificate must come first/,
    ],
    [{ url, tls: tempFile('nokey.pem', p.leaf + p.intermediate) }, /no PRIVATE KEY block found/],
    [{ url, tls: [p.leafKey, p.leafKey] }, /tls\[0\]: no CERTIFICATE block found/],
    [{ url, tls: ['/nonexistent/cert.pem', p.leafKey] }, /tls\[0\]: cannot read '\/nonexistent\/cert\.pem'/],
    [{ url: 'tcp://127.0.0.1:0', tls: [p.leaf, p.leafKey] }, /url 'tcp:\/\/127\.0\.0\.1:0' is not tls\+tcp/],
    [{ url, pass: 'x' }, /pass is the passphrase of a key given in tls/],
  ];
  for (const [opts, re] of cases) {
    const e = await errorOf(daemons(opts));
    assert.instance(e, TypeError, String(e));
    assert.match(e.message, re);
    assert.equal(await status(), { connections: 0, daemons: '' });
  }
});

test.run();
