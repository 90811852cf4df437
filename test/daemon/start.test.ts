// Starting a daemon process: its HELLO after the handshake; an unreachable host, a wrong TLS
// certificate and bad flags (a non-zero exit and a message); the argv it is started with.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Socket, TlsConfig, writeCert } from '../../dist/nng';
import { header } from '../../dist/wire/protocol';
import { buildDaemonArgs, parseDaemonArgs } from '../../dist/daemon/options';
import { admit } from '../fixtures/auth';
import { bounded, cleanup, Host, K, spawnDaemon, track, WAIT } from './host';

test.after(cleanup);

test('HELLO: right after the handshake, before any reply, the daemon says its pid and host name', async () => {
  const h = new Host();
  const d = await h.daemon();
  const r = await h.run(1, () => process.pid);
  assert.equal(h.hellos.get(h.pipe), { pid: d.child.pid, hostname: os.hostname() });
  assert.is(h.badHellos, 0);
  assert.is(r.value, d.child.pid);
  d.child.kill('SIGKILL');
});

test('unreachable host, wrong certificate and bad flags: non-zero exit with a message', async () => {
  // A host that is not there yet is retried for --connect-timeout, then given up with a message.
  const nowhere = spawnDaemon([
    'daemon',
    `ipc://${path.join(os.tmpdir(), 'mirai-nowhere', 'x.sock')}`,
    '--connect-timeout',
    '300',
  ]);
  const flag = spawnDaemon(['daemon', 'ipc:///tmp/x', '--bogus']);
  const pair = writeCert({ cn: '127.0.0.1' });
  const other = writeCert({ cn: '127.0.0.1' });
  const h = new Host();
  h.sock.close();
  const tls = track(new Socket('poly'));
  const l = tls.listen('tls+tcp://127.0.0.1:0', {
    tls: new TlsConfig({ mode: 'server', cert: pair.server[0], key: pair.server[1] }),
  });
  const wrong = spawnDaemon(['daemon', l.url, '--tls-cert', other.client[0]]);
  for (const [d, re] of [
    [nowhere, /cannot connect to ipc:\/\/.*mirai-nowhere/],
    [flag, /unknown option '--bogus'/],
    [wrong, /cannot connect to tls\+tcp:\/\/127\.0\.0\.1:\d+.*did not verify/],
  ] as const) {
    const e = await bounded(d.exit, WAIT, String(re));
    assert.is(e.code, 1, d.stderr());
    assert.match(d.stderr(), /^mirai daemon: /);
    assert.match(d.stderr(), re);
  }
  const right = spawnDaemon(['daemon', l.url, '--tls-cert', pair.client[0]]);
  const added = new Promise<number>((r) => tls.onPipe((e) => e.type === 'add' && r(e.pipe.id)));
  const pipe = await bounded(added, WAIT, 'tls connection');
  assert.ok(await admit(tls, pipe), 'the daemon proves itself over tls');
  await tls.send([header(K.TASK, 1), v8.serialize({ type: 'c', src: '"over tls"', data: null })], { pipe });
  let b: Buffer;
  do b = (await tls.recv({ timeout: WAIT })).body;
  while (b[1] === K.HELLO);
  assert.equal(v8.deserialize(b.subarray(8)), 'over tls');
  right.child.kill();
});

test('buildDaemonArgs is the inverse of the CLI parser; options are validated', () => {
  const opts = {
    tlsCert: 'ca.pem',
    maxTasks: 3,
    idleTime: 1500,
    walltime: 60000,
    cleanup: false,
    output: true,
    autoExit: false,
    dispatcher: false,
  };
  const args = buildDaemonArgs('tls+tcp://h:5555', opts);
  assert.is(args[0], 'daemon');
  assert.equal(parseDaemonArgs(args.slice(1)), { url: 'tls+tcp://h:5555', opts, help: false });
  assert.equal(parseDaemonArgs(buildDaemonArgs('ipc:///x').slice(1)), { url: 'ipc:///x', opts: {}, help: false });
  assert.throws(() => buildDaemonArgs('ipc:///x', { maxTask: 1 } as any), /unknown daemon option 'maxTask'/);
  assert.throws(() => buildDaemonArgs('ipc:///x', { idleTime: '5' } as any), /'idleTime' must be a positive number/);
  assert.throws(() => buildDaemonArgs('http://x'), /not supported/);
  assert.throws(() => parseDaemonArgs(['ipc:///x', '--max-tasks', '1.5']), /'--max-tasks' expects a positive integer/);
});

test.run();
