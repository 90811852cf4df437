// Opt-in relaunch of remote launchers (remoteConfig / sshConfig { respawn: true }): a launcher
// that ends unexpectedly after its daemons connected is run again with the same start options
// (the secret in its environment, or on the session's stdin for ssh), under the local daemons'
// backoff and crash-loop limit; a crash loop stops and is reported by status().error and a
// MiraiWarning. Not relaunched: without respawn, a daemon leaving on purpose (status 0), a
// launch that never connected, and anything during daemons(0). ssh runs through a stand-in
// client (a script that runs the remote command with sh) so that this needs no sshd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { daemons, everywhere, mirai, status, type Status } from '../../dist';
import { remoteConfig } from '../../dist/launchers/remote-config';
import { sshConfig } from '../../dist/launchers/ssh';
import { clusterConfig } from '../../dist/launchers/cluster';
import { RESPAWN } from '../../dist/launchers/local';
import { errorOf, removeTemps, tempFile, tempPath, waitFor, waitForEvent, withTimeout } from '../helpers';
import { alive, pidTask, testHooks, waitGone } from '../fixtures/mirai/common';
import { pidsWith, waitNoProcess } from '../fixtures/remote/common';

const W = 15000;
const URL = 'tcp://127.0.0.1:0';

testHooks(test);
test.after.each(async () => {
  await daemons(0).catch(() => {});
});
test.after(async () => {
  await daemons(0).catch(() => {});
  removeTemps();
});

/** Polls status() until pred holds (bounded); returns that status. */
async function statusUntil(pred: (s: Status) => boolean, ms: number, what: string): Promise<Status> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await status();
    if (pred(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last status ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pids = async (): Promise<number[]> =>
  ((await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[]).sort();

/** Waits 5 first backoffs for a relaunch that must not come; true if one came. */
async function relaunched(url: string, before: number): Promise<boolean> {
  return waitFor(() => pidsWith(url).length > before, 5 * RESPAWN.firstDelayMs, 'a relaunch').then(
    () => true,
    () => false,
  );
}

test('respawn must be a boolean; clusterConfig refuses it with the reason', () => {
  assert.throws(
    () => remoteConfig({ command: 'sh', args: ['-c', '.'], respawn: 'yes' as never }),
    /respawn must be a boolean/,
  );
  assert.throws(() => sshConfig('h', { respawn: 1 as never }), /respawn must be a boolean/);
  assert.throws(
    () => clusterConfig({ command: 'sbatch', respawn: true } as never),
    (e: Error) => e instanceof TypeError && /respawn is not supported.*requeue/.test(e.message),
  );
});

test('remoteConfig sh -c, respawn: true: a daemon killed with SIGKILL is launched again and runs tasks; daemons(0) leaves nothing', async () => {
  const set = await daemons(2, { url: URL, remote: remoteConfig({ command: 'sh', args: ['-c', '.'], respawn: true }) });
  const old = await pids();
  process.kill(old[0]!, 'SIGKILL');
  // Its shell exits 137: an unexpected end, so the launcher runs again after the first backoff.
  const s = await statusUntil((s) => s.respawned === 1 && s.connections === 2, W, 'a relaunched daemon connected');
  assert.is(s.error, undefined);
  assert.is(s.rejected, 0, 'the relaunch proved the secret (passed again in its environment)');
  const now = await pids();
  assert.ok(now.includes(old[1]!), 'the other daemon was left alone');
  assert.ok(!now.includes(old[0]!), 'a new daemon');
  assert.type(await withTimeout(Promise.resolve(mirai(pidTask)), W, 'a task'), 'number');
  await daemons(0);
  await waitGone(now, W, 'daemons');
  await waitNoProcess(set.url, W, 'launchers to exit (none relaunched during teardown)');
});

test('remoteConfig without respawn: a killed daemon is not launched again', async () => {
  const set = await daemons(1, { url: URL, remote: remoteConfig({ command: 'sh', args: ['-c', '.'] }) });
  const [pid] = await pids();
  process.kill(pid!, 'SIGKILL');
  await statusUntil((s) => s.connections === 0, W, '0 connections');
  await waitNoProcess(set.url, W, 'the launcher to exit');
  assert.is(await relaunched(set.url, 0), false, 'no launcher was started');
  const s = await status();
  assert.is(s.respawned, undefined);
  assert.is(s.error, undefined);
});

test('respawn: true, a daemon leaving on purpose (maxTasks: 1, status 0) is not launched again', async () => {
  const set = await daemons(1, {
    url: URL,
    maxTasks: 1,
    remote: remoteConfig({ command: 'sh', args: ['-c', '.'], respawn: true }),
  });
  assert.type(await withTimeout(Promise.resolve(mirai(pidTask)), W, 'the one task'), 'number');
  await statusUntil((s) => s.connections === 0, W, 'the daemon to leave');
  await waitNoProcess(set.url, W, 'the launcher to exit');
  assert.is(await relaunched(set.url, 0), false, 'no launcher was started');
  assert.is((await status()).respawned, undefined);
});

test('respawn: true, daemons({ respawn: false }) turns it off for the launch', async () => {
  const set = await daemons(1, {
    url: URL,
    respawn: false,
    remote: remoteConfig({ command: 'sh', args: ['-c', '.'], respawn: true }),
  });
  const [pid] = await pids();
  process.kill(pid!, 'SIGKILL');
  await waitNoProcess(set.url, W, 'the launcher to exit');
  assert.is(await relaunched(set.url, 0), false, 'no launcher was started');
});

test('respawn: true, a launch that never connected fails as before (not retried)', async () => {
  const t0 = Date.now();
  const e = await errorOf(
    daemons(1, { url: URL, remote: remoteConfig({ command: 'false', args: ['.'], respawn: true }) }),
  );
  assert.match(e.message, /the launcher failed with exit status 1/);
  assert.equal(await status(), { connections: 0, daemons: '' });
  assert.ok(Date.now() - t0 < 5000, 'promptly');
});

test('a crash loop (the launcher exits 1 at once after its first run) stops after 5; status().error and a warning say so', async () => {
  // First run: leave a marker and become the daemon. Every later run: fail at once, loudly.
  const marker = tempPath('mirai-respawn-marker');
  const script = 'if [ -e "$0" ]; then echo "launcher: crashing on purpose" >&2; exit 1; fi; : > "$0"; eval "$1"';
  const set = await daemons(1, {
    url: URL,
    remote: remoteConfig({ command: 'sh', args: ['-c', script, marker, '.'], respawn: true }),
  });
  assert.ok(fs.existsSync(marker));
  const warned = waitForEvent<Error & { code?: string }>(process, 'warning', W);
  const t0 = Date.now();
  const [pid] = await pids();
  process.kill(pid!, 'SIGKILL');
  const w = await warned;
  const ms = Date.now() - t0;
  assert.is(w.code, 'MIRAI_RESPAWN_STOPPED');
  assert.match(
    w.message,
    /^profile 'default': 5 launchers \(sh -c .*\) exited unexpectedly within 30 s \(last: the launcher, exit code 1\); not respawning any more/,
  );
  assert.match(w.message, /their output ends:\nlauncher: crashing on purpose/);
  // Backoff 0.1 + 0.2 + 0.4 + 0.8 s between the 5 ends.
  assert.ok(ms >= 1400 && ms < 8000, `gave up after the backoff (${ms} ms)`);
  const s = await statusUntil((s) => s.error !== undefined, W, 'status().error');
  assert.is(s.respawned, 4);
  assert.is(s.connections, 0);
  assert.match(s.error!, /not respawning any more/);
  await waitNoProcess(set.url, W, 'no launcher left');
  assert.is(await relaunched(set.url, 0), false, 'no more relaunches');
  process.stdout.write(`\n  [remoteConfig crash loop: gave up ${ms} ms after the kill]`);
});

test('sshConfig respawn: true (a stand-in ssh client): a killed daemon gets a new session, the secret on its stdin again', async () => {
  // Runs the remote command (the last argument) with sh, as sshd would with a POSIX login shell;
  // stdin stays the pipe from this process, as with ssh -T.
  const fakeSsh = tempFile('fake-ssh', '#!/bin/sh\nfor a; do last=$a; done\nexec sh -c "$last"\n');
  fs.chmodSync(fakeSsh, 0o755);
  const set = await daemons(2, {
    url: URL,
    remote: sshConfig(['a', 'b'], { command: fakeSsh, node: process.execPath, respawn: true }),
  });
  const old = await pids();
  const t0 = Date.now();
  process.kill(old[1]!, 'SIGKILL');
  const s = await statusUntil((s) => s.respawned === 1 && s.connections === 2, W, 'a new session connected');
  process.stdout.write(`\n  [ssh stand-in: killed daemon back in ${Date.now() - t0} ms]`);
  assert.is(s.rejected, 0, 'the new session read the secret from its stdin');
  assert.is(s.error, undefined);
  const now = await pids();
  assert.ok(now.includes(old[0]!) && !now.includes(old[1]!));
  await daemons(0);
  await waitGone(now, W, 'daemons');
  await waitNoProcess(set.url, W, 'sessions to end');
  assert.ok(!alive(old[1]!));
});
test.run();
