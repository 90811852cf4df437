// The dispatcher's life: READY (with the resolved port, or an error), SHUTDOWN, the host
// leaving, and the thread / process modes of startDispatcher and the `mirai dispatcher` command.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Socket, TlsConfig, writeCert } from '../../dist/nng';
import { runDispatcher, type DispatcherOptions } from '../../dist/dispatcher/dispatcher';
import { startDispatcher } from '../../dist/dispatcher/main';
import { nodeWords } from '../helpers';
import { SECRET } from '../fixtures/auth';
import { bounded, expect, ipc, K, Rig, send, uniq, withRig } from './rig';

test('READY carries the resolved port; SHUTDOWN sends EXIT to each daemon and returns', () =>
  withRig(async (r) => {
    const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(r.url);
    assert.ok(m && Number(m[1]) > 0, r.url);
    await r.counters({});
    const a = await r.daemon(1);
    const b = await r.daemon(2);
    await r.counters({ connections: 2 });
    await send(r.host, K.SHUTDOWN, 0);
    await expect(a, K.EXIT);
    await expect(b, K.EXIT);
    a.close();
    b.close();
    await bounded(r.done!, 'return after SHUTDOWN');
  }, 'tcp://127.0.0.1:0'));

test('no host: rejects; READY { error } for a port in use, a bad URL, TLS on plain tcp, bad PEM', async () => {
  const busy = new Socket('pair');
  const taken = busy.listen('tcp://127.0.0.1:0').url;
  const key = writeCert().server;
  const cases: Array<[string, DispatcherOptions['tls'], RegExp]> = [
    [taken, undefined, /in use/i],
    ['nope://x', undefined, /./],
    ['tcp://127.0.0.1:0', { cert: key[0], key: key[1] }, /not a tls\+tcp/],
    ['tls+tcp://127.0.0.1:0', { cert: 'garbage', key: 'garbage' }, /tls\.cert/],
  ];
  try {
    const unreachable = await runDispatcher({
      hostUrl: `inproc://nobody-${uniq()}`,
      daemonUrl: 'inproc://x',
      secret: SECRET,
    }).catch((e) => e);
    assert.match(String(unreachable), /cannot reach the host/);
    for (const [url, tls, re] of cases) {
      const r = new Rig();
      try {
        r.done = runDispatcher({ hostUrl: r.hostUrl, daemonUrl: url, tls, secret: SECRET });
        const res = await r.ready();
        assert.ok(res.error && re.test(res.error), `${url}: ${res.error}`);
      } finally {
        await r.close();
      }
    }
  } finally {
    busy.close();
  }
});

test('closing the host socket makes the dispatcher tell daemons to exit and return', async () => {
  const r = new Rig();
  try {
    await r.start();
    const d = await r.daemon(1);
    await send(r.host, K.TASK, 1);
    await expect(d, K.TASK, 1);
    r.host.close();
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.done!, 'return after the host left');
  } finally {
    await r.close();
  }
});

test("startDispatcher('thread'): READY, STATUS, a task over ipc, SHUTDOWN ends the worker", async () => {
  const r = new Rig();
  try {
    r.handle = startDispatcher('thread', { hostUrl: r.hostUrl, daemonUrl: ipc(), secret: SECRET });
    assert.ok((await r.ready()).url?.startsWith('ipc://'));
    const d = await r.daemon(1);
    await send(r.host, K.TASK, 5, 0, Buffer.from('hi'));
    await expect(d, K.TASK, 5);
    await send(d, K.RESULT, 5);
    await expect(r.host, K.RESULT, 5);
    await r.counters({ connections: 1, completed: 1 });
    await send(r.host, K.SHUTDOWN, 0);
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.handle.exited, 'worker exit');
  } finally {
    await r.close();
  }
});

test("'process' mode: TLS keys over stdin, a task over tls+tcp, the host leaving ends the process", async () => {
  const r = new Rig(ipc());
  const [cert, key] = writeCert({ cn: '127.0.0.1' }).server;
  const client = new TlsConfig({ mode: 'client', ca: cert });
  try {
    r.handle = startDispatcher(
      'process',
      {
        hostUrl: r.hostUrl,
        daemonUrl: 'tls+tcp://127.0.0.1:0',
        tls: { cert, key },
        secret: SECRET,
      },
      nodeWords(),
    );
    assert.match((await r.ready()).url!, /^tls\+tcp:\/\/127\.0\.0\.1:[1-9]/);
    await r.counters({});
    const d = await r.daemon(1, client);
    await send(r.host, K.TASK, 9, 0, Buffer.from('over tls'));
    assert.ok((await expect(d, K.TASK, 9)).body.subarray(8).equals(Buffer.from('over tls')));
    await send(d, K.RESULT, 9);
    await expect(r.host, K.RESULT, 9);
    await r.counters({ connections: 1, completed: 1 });
    r.host.close(); // as if the host were killed
    await expect(d, K.EXIT);
    d.close();
    await bounded(r.handle.exited, 'dispatcher process exit');
  } finally {
    await r.close();
    client.close();
  }
});

test('`mirai dispatcher` rejects bad arguments with exit code 1 and a message', async () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const [node, ...prefix] = nodeWords();
  const child = spawn(node, [...prefix, cli, 'dispatcher', 'only-one'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  try {
    const code = await bounded(new Promise((res) => child.once('close', res)), 'cli exit'); // 'close': stderr has ended
    assert.is(code, 1);
    assert.match(err, /expected 2 URLs/);
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();
