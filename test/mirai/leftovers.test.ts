// A host killed with SIGKILL leaves nothing behind: its local sockets are abstract (Linux, no
// file), its daemons and dispatcher exit, and the one kind of file it cannot remove itself (the
// local daemons' stderr log) is swept by the next run. Also localUrl() and the stale-file sweep
// on their own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { localUrl } from '../../dist';
import * as url from '../../dist/wire/url';
import { parseUrl } from '../../dist/wire/url';
import { spawnNode, tempPath, waitFor, withTimeout } from '../helpers';
// @internal (stripped from the published types).
const { removeStaleFiles } = url as unknown as { removeStaleFiles(dir?: string, all?: boolean): string[] };
import { alive, dispatcherPids, marker, packageTempFiles, testHooks, waitGone } from '../fixtures/mirai/common';

const W = 15000;
const HOST = path.join(__dirname, '..', 'fixtures', 'mirai', 'host-kill.js');
const DIST = path.join(__dirname, '..', '..', 'dist');
const linux = process.platform === 'linux';

/** Abstract unix sockets bound by any process (Linux), from /proc/net/unix. */
function abstractNames(): string[] {
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[7])
    .filter((n): n is string => n?.startsWith('@') === true);
}

test('localUrl(): abstract:// on Linux, named with the pid; parseUrl accepts it', () => {
  const u = localUrl();
  if (linux) {
    assert.match(u, new RegExp(`^abstract://mirai-${process.pid}-[0-9a-f]{12}$`));
    assert.equal(parseUrl(u), { scheme: 'abstract', host: '', port: -1, path: u.slice(11) });
  } else {
    assert.match(u, new RegExp(`^ipc://.*mirai-${process.pid}-[0-9a-f]{12}\\.sock$`));
  }
  assert.is.not(localUrl(), u, 'fresh each time');
  assert.throws(() => parseUrl('abstract://'), linux ? /needs a name/ : /Linux only/);
});

if (linux) {
  for (const mode of ['thread', 'process'] as const) {
    test(`SIGKILLed host (daemons(2), dispatcher '${mode}'): no socket file, daemons gone, the next run sweeps its log`, async () => {
      const started = marker();
      const host = spawnNode([HOST, mode, '2', started], { timeoutMs: 30_000 });
      let pids: number[] = [];
      const hostPid = host.proc.pid!;
      try {
        const info = JSON.parse(await host.line(/^\{/, W)) as { daemons: number[] };
        assert.is(info.daemons.length, 2);
        const dispatcher = dispatcherPids(hostPid, info.daemons);
        assert.is(dispatcher.length, mode === 'process' ? 1 : 0);
        pids = [...info.daemons, ...dispatcher];
        // Accepted connections are listed under their listener's name too: count names.
        const bound = [...new Set(abstractNames().filter((n) => n.startsWith(`@mirai-${hostPid}-`)))];
        assert.is(bound.length, mode === 'process' ? 2 : 1, `the host's abstract sockets: ${bound.join(' ')}`);
        assert.equal(
          packageTempFiles(hostPid).filter((f) => f.endsWith('.sock')),
          [],
          'no socket file',
        );

        host.proc.kill('SIGKILL');
        await host.exited;
        await waitGone(pids, 1000, 'daemons and dispatcher of the killed host (within 1 s; measured 14-74 ms)');
        assert.equal(
          packageTempFiles(hostPid).filter((f) => !f.endsWith('.log')),
          [],
          'only daemon logs are left',
        );
        for (const p of pids) assert.equal(packageTempFiles(p), [], `nothing of pid ${p}`);
        await waitFor(
          () => !abstractNames().some((n) => n.startsWith(`@mirai-${hostPid}-`)),
          5000,
          'abstract sockets to go',
        );

        // The next run (daemons() in a fresh process) removes what the killed one could not.
        const next = spawnNode(
          ['-e', `const m = require(${JSON.stringify(DIST)}); m.daemons(1).then(() => m.daemons(0))`],
          { timeoutMs: W },
        );
        const exit = await withTimeout(next.exited, W, 'the next run');
        assert.equal(exit, { code: 0, signal: null }, next.stderr);
        assert.equal(packageTempFiles(hostPid), [], 'no mirai-<pid>-* file of the killed host');
        assert.equal(packageTempFiles(next.proc.pid!), [], 'nor of the next run');
      } finally {
        host.kill();
        for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
        for (const f of packageTempFiles(hostPid)) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
        fs.rmSync(started, { force: true });
      }
    });
  }
}

test('removeStaleFiles: removes sockets and logs of dead pids only, ours only, by name', async () => {
  const dir = tempPath('mirai-sweep');
  fs.mkdirSync(dir);
  // A dead pid: a child that has exited (its pid is not reused within the test).
  const gone = spawnNode(['-e', '0'], { timeoutMs: W });
  await withTimeout(gone.exited, W, 'a short-lived child');
  const dead = gone.proc.pid!;
  const names = {
    deadSock: `mirai-${dead}-0123456789ab.sock`,
    deadLog: `mirai-${dead}-01234567.log`,
    liveSock: `mirai-${process.pid}-0123456789ab.sock`,
    otherName: `mirai-${dead}-notours.sock`,
    notASocket: `mirai-${dead}-ba9876543210.sock`,
  };
  const liveLog = `mirai-${process.pid}-76543210.log`;
  const servers: net.Server[] = [];
  const listen = (file: string) =>
    new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(file, () => resolve());
      servers.push(s);
    });
  // Windows has no socket files (ipc is a named pipe): there only the logs are swept, and a
  // file named like a socket is left alone.
  const sockets = process.platform !== 'win32';
  try {
    if (sockets) {
      await listen(path.join(dir, names.deadSock));
      await listen(path.join(dir, names.liveSock));
      await listen(path.join(dir, names.otherName));
    }
    fs.writeFileSync(path.join(dir, names.deadLog), 'stderr');
    fs.writeFileSync(path.join(dir, liveLog), 'stderr of a live host');
    fs.writeFileSync(path.join(dir, names.notASocket), 'a regular file named like a socket');
    const removed = removeStaleFiles(dir, true)
      .map((f) => path.basename(f))
      .sort();
    assert.equal(removed, (sockets ? [names.deadLog, names.deadSock] : [names.deadLog]).sort());
    assert.equal(
      fs.readdirSync(dir).sort(),
      [...(sockets ? [names.liveSock, names.otherName] : []), liveLog, names.notASocket].sort(),
    );
  } finally {
    for (const s of servers) s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

testHooks(test);
test.run();
