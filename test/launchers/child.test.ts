// lib/launchers/child.ts, the one child-process supervisor, with real processes (this Node, run
// with -e scripts): exit statuses and signals as one ChildExit, a command that cannot start, the
// bounded output tail, input on stdin, the environment, killing a tree with its grandchild (and
// that a plain kill leaves it), bounded waits, runChild's timeout, stopChildren's escalation, and
// the StderrFile tail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  describeExit,
  exitOnPurpose,
  runChild,
  startChild,
  startNode,
  stopChildren,
  type Child,
} from '../../dist/launchers/child';
import { StderrFile } from '../../dist/launchers/stderr-file';
import { skipTest, tempFile, waitFor, withTimeout } from '../helpers';

const POSIX = process.platform !== 'win32';
/** Keeps a child running until it is ended (and says so on stdout first). */
const RUN_FOREVER = 'process.stdout.write("up\\n"); setInterval(() => {}, 1000);';

/** Children still running at the end of a test are killed (a failed assertion must not leak). */
const started: Child[] = [];
function track<T extends Child>(c: T): T {
  started.push(c);
  return c;
}
test.after.each(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

/** The process is gone, or a zombie nobody has reaped yet (it runs no code either way). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (process.platform !== 'linux') return false;
  try {
    // /proc/<pid>/stat: "pid (comm) S ...": the state after the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

test('exit statuses: one ChildExit each; 0 and 130 are on purpose, others are not', async () => {
  for (const code of [0, 3, 130]) {
    const c = track(startNode(['-e', `process.exit(${code})`]));
    assert.ok(c.pid! > 0, 'a pid');
    const exit = await withTimeout(c.done, 10000, `exit ${code}`);
    assert.equal(exit, { code, signal: null });
    assert.is(c.exit, exit, 'exit is kept');
    assert.not.ok(c.running);
    assert.is(describeExit(exit), `exit code ${code}`);
    assert.is(exitOnPurpose(exit), code !== 3);
  }
});

test('a signal: ChildExit names it; onExit listeners hear it once, late ones at once', async () => {
  if (!POSIX) return skipTest('POSIX signals: a Windows process ends with an exit status');
  const c = track(startNode(['-e', RUN_FOREVER], { stdout: 'capture' }));
  await waitFor(() => c.stdout.includes('up'), 10000, 'the child to start');
  const heard: unknown[] = [];
  c.onExit((e) => heard.push(e));
  assert.ok(c.alive && c.running);
  c.kill('SIGTERM');
  const exit = await withTimeout(c.done, 10000, 'exit by SIGTERM');
  assert.equal(exit, { code: null, signal: 'SIGTERM' });
  assert.equal(heard, [exit]);
  assert.is(describeExit(exit), 'signal SIGTERM');
  assert.not.ok(exitOnPurpose(exit));
  assert.ok(exitOnPurpose({ code: null, signal: 'SIGINT' }), 'Ctrl-C is on purpose');
  let late: unknown;
  c.onExit((e) => (late = e));
  assert.is(late, exit, 'a listener added after the end is called at once');
  c.kill('SIGKILL'); // after the end: nothing (its pid may be someone else's by now)
});

test('a command that cannot start: done settles with error and errno, never rejects; runChild too', async () => {
  const c = startChild('mirai-no-such-command', ['x'], { stdout: 'capture', stderr: 'capture' });
  const exit = await withTimeout(c.done, 10000, 'the spawn failure');
  assert.is(exit.code, null);
  assert.is(exit.signal, null);
  assert.is(exit.errno, 'ENOENT');
  assert.match(exit.error!, /^cannot run 'mirai-no-such-command': .*ENOENT/);
  assert.is(describeExit(exit), exit.error);
  assert.not.ok(exitOnPurpose(exit), 'a failed start is never on purpose');
  c.kill(); // nothing to kill: no throw
  const r = await runChild('mirai-no-such-command', [], { timeoutMs: 10000 });
  assert.is(r.exit.errno, 'ENOENT');
  assert.is(r.timedOut, false);
});

test('captured output: only the last tailChars of each stream are kept; complete when done settles', async () => {
  // 200,000 characters on each stream in many writes, then a marker: the tail ends with it.
  const script =
    'for (let i = 0; i < 2000; i++) { process.stdout.write("o".repeat(100)); process.stderr.write("e".repeat(100)); }' +
    'process.stdout.write("END-OUT"); process.stderr.write("END-ERR");';
  const c = track(startNode(['-e', script], { stdout: 'capture', stderr: 'capture', tailChars: 1000 }));
  const exit = await withTimeout(c.done, 20000, 'the chatty child');
  assert.equal(exit, { code: 0, signal: null });
  assert.is(c.stdout.length, 1000);
  assert.is(c.stderr.length, 1000);
  assert.ok(c.stdout.endsWith('oooEND-OUT'), c.stdout.slice(-20));
  assert.ok(c.stderr.endsWith('eeeEND-ERR'), c.stderr.slice(-20));
});

test('input on stdin (then closed), keepStdin until endStdin(), env added to ours', async () => {
  const echo =
    'let s = ""; process.stdin.on("data", (b) => (s += b)).on("end", () => process.stdout.write(s + "|" + process.env.MIRAI_CHILD_TEST));';
  const a = track(startNode(['-e', echo], { input: 'hello', stdout: 'capture', env: { MIRAI_CHILD_TEST: 'x1' } }));
  await withTimeout(a.done, 10000, 'the echo');
  assert.is(a.stdout, 'hello|x1');
  assert.ok(process.env.MIRAI_CHILD_TEST === undefined, 'our environment is untouched');
  const b = track(startNode(['-e', echo], { input: 'first ', keepStdin: true, stdout: 'capture' }));
  b.stdin!.write('second');
  assert.is(await b.wait(300, true), undefined, 'still running: its stdin is open');
  b.endStdin();
  await withTimeout(b.done, 10000, 'the echo after endStdin');
  assert.is(b.stdout, 'first second|undefined');
});

// A child that starts a grandchild, which prints its pid on the stdout it inherits (our pipe:
// 'close', so done, comes only once the grandchild is gone too). The child is this Node on POSIX;
// on Windows it is cmd.exe, since libuv puts a Node child's own children in a job object that
// ends them with it, and what tree is for there is a launcher that does not.
function startParent(tree: boolean): Child {
  const g = tempFile(
    'grandchild.js',
    // Its pid, then a tick every 50 ms: output that keeps coming shows it is alive.
    'process.stdout.write("grandchild " + process.pid + "\\n"); let n = 0;' +
      'setInterval(() => process.stdout.write("tick " + ++n + "\\n"), 50);',
  );
  if (!POSIX) return track(startChild('cmd.exe', ['/d', '/c', process.execPath, g], { stdout: 'capture', tree }));
  const parent =
    'const g = require("child_process").spawn(process.execPath, [process.argv[1]], { stdio: ["ignore", "inherit", "ignore"] });' +
    'g.on("error", (e) => console.error(e)); setInterval(() => {}, 1000);';
  return track(startNode(['-e', parent, g], { stdout: 'capture', tree }));
}

/** The grandchild's last tick in the child's captured stdout (0 before the first). */
function lastTick(out: string): number {
  let n = 0;
  for (const m of out.matchAll(/tick (\d+)/g)) n = Math.max(n, Number(m[1]));
  return n;
}

async function grandchildOf(c: Child): Promise<number> {
  await waitFor(() => /grandchild (\d+)/.test(c.stdout), 15000, 'the grandchild pid');
  return Number(/grandchild (\d+)/.exec(c.stdout)![1]);
}

test('tree: kill() ends the child and its grandchild (process group; a job object on Windows)', async () => {
  const c = startParent(true);
  const gpid = await grandchildOf(c);
  assert.not.ok(gone(gpid), 'the grandchild runs');
  c.kill('SIGTERM');
  const exit = await withTimeout(c.done, 15000, 'the tree to end (its pipe to close)');
  if (POSIX) assert.equal(exit, { code: null, signal: 'SIGTERM' });
  await waitFor(() => gone(gpid), 10000, 'the grandchild to be gone');
});

test('tree: what the child started is ended after the child itself has exited (an orphan; taskkill /T misses it)', async () => {
  const g = tempFile(
    'orphan.js',
    'process.stdout.write("grandchild " + process.pid + "\\n"); let n = 0;' +
      'setInterval(() => process.stdout.write("tick " + ++n + "\\n"), 50);',
  );
  // The child exits once its child runs. On Windows the grandchild is detached so that the
  // child's own libuv job (which ends a Node process's children with it) leaves it running; on
  // POSIX it must stay in the child's process group, which is what kill() ends.
  const parent =
    'const g = require("child_process").spawn(process.execPath, [process.argv[1]], ' +
    '{ stdio: ["ignore", "inherit", "ignore"], detached: process.platform === "win32" });' +
    'g.unref(); g.on("spawn", () => process.exit(0));';
  const c = track(startNode(['-e', parent, g], { stdout: 'capture', tree: true }));
  const gpid = await grandchildOf(c);
  try {
    await waitFor(() => !c.alive, 10000, 'the child to exit');
    const before = lastTick(c.stdout);
    await waitFor(() => lastTick(c.stdout) > before, 10000, 'the orphan to tick on after its parent exited');
    assert.ok(c.running, 'the tree still runs: the orphan holds its pipe');
    c.kill('SIGTERM');
    await withTimeout(c.done, 15000, 'the tree to end (its pipe to close)');
    await waitFor(() => gone(gpid), 10000, 'the orphan to be gone');
  } finally {
    try {
      process.kill(gpid, 'SIGKILL'); // a failed assertion must not leave it running
    } catch {
      // gone, as it should be
    }
  }
});

test('not a tree: kill() ends the child only, its grandchild lives on (what tree is for)', async () => {
  const c = startParent(false);
  const gpid = await grandchildOf(c);
  try {
    c.kill('SIGKILL');
    await waitFor(() => !c.alive, 10000, 'the child to exit');
    // The grandchild still writes to our pipe after its parent has gone: it survived.
    const before = lastTick(c.stdout);
    await waitFor(() => lastTick(c.stdout) > before, 10000, 'the grandchild to tick on after its parent died');
    assert.not.ok(gone(gpid), 'the grandchild survived');
  } finally {
    try {
      process.kill(gpid, 'SIGKILL'); // by its pid: we started it, through our child
    } catch {
      // gone already
    }
  }
  await waitFor(() => gone(gpid), 10000, 'the grandchild to be killed');
  await withTimeout(c.done, 10000, 'its pipe to close');
});

test('wait(ms) is bounded: undefined while it runs, the exit once it ends', async () => {
  const c = track(startNode(['-e', RUN_FOREVER], { stdout: 'capture' }));
  const t0 = Date.now();
  assert.is(await c.wait(200, true), undefined);
  const waited = Date.now() - t0;
  assert.ok(waited >= 190 && waited < 5000, `waited ${waited} ms`);
  const later = c.wait(10000, true);
  c.kill('SIGKILL');
  const exit = await later;
  assert.ok(exit !== undefined && !c.running);
  assert.is(await c.wait(1), exit, 'at once once it has ended');
});

test('runChild: output and status of a short command; one that overruns is killed after timeoutMs', async () => {
  const ok = await runChild(process.execPath, ['-e', 'console.log("out"); console.error("err"); process.exit(2)'], {
    timeoutMs: 10000,
  });
  assert.equal(ok.exit, { code: 2, signal: null });
  assert.is(ok.stdout.trim(), 'out');
  assert.is(ok.stderr.trim(), 'err');
  assert.is(ok.timedOut, false);
  const t0 = Date.now();
  const slow = await runChild(process.execPath, ['-e', 'console.log(process.pid); setInterval(() => {}, 1000)'], {
    timeoutMs: 2000, // time for it to start and say its pid, even under wine
  });
  const took = Date.now() - t0;
  assert.ok(slow.timedOut, 'timed out');
  assert.match(slow.exit.error!, /did not finish within 2000 ms/);
  assert.ok(took >= 1950 && took < 8000, `took ${took} ms`);
  const pid = Number(slow.stdout.trim());
  assert.ok(pid > 0, `its pid (${slow.stdout})`);
  await waitFor(() => gone(pid), 10000, 'the overrunning command to be killed');
});

test('stopChildren: stdin EOF ends a polite child in the grace time; a stubborn one gets SIGTERM, then SIGKILL', async () => {
  const polite = track(
    startNode(['-e', 'process.stdin.on("end", () => process.exit(0)).resume()'], { keepStdin: true }),
  );
  const stubborn = track(
    startNode(['-e', 'process.on("SIGTERM", () => {}); process.stdin.resume(); ' + RUN_FOREVER], {
      keepStdin: true,
      stdout: 'capture',
      tree: true,
    }),
  );
  await waitFor(() => stubborn.stdout.includes('up'), 10000, 'the stubborn child to start');
  const t0 = Date.now();
  await withTimeout(
    stopChildren([polite, stubborn], { graceMs: 300, signals: ['SIGTERM', 'SIGKILL'], stepMs: 300, ref: true }),
    15000,
    'stopChildren',
  );
  const took = Date.now() - t0;
  assert.equal(polite.exit, { code: 0, signal: null }, 'left by itself at EOF');
  await withTimeout(stubborn.done, 5000, 'the stubborn one');
  if (POSIX) assert.equal(stubborn.exit, { code: null, signal: 'SIGKILL' }, 'SIGTERM ignored, SIGKILL not');
  assert.ok(took >= 250 && took < 10000, `grace + one step, then the kill: ${took} ms`);
});

test('StderrFile: children write to its fd; tail() gives the last maxBytes; the file is unlinked at once (POSIX)', async () => {
  const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`mirai-${process.pid}-`)));
  const log = new StderrFile(100);
  try {
    if (POSIX) {
      const now = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`mirai-${process.pid}-`) && !before.has(f));
      assert.equal(now, [], 'no name left in the temp directory');
    }
    const c = track(startNode(['-e', 'process.stderr.write("x".repeat(500) + "LAST")'], { stderr: log.fd }));
    assert.equal(await withTimeout(c.done, 10000, 'the writer'), { code: 0, signal: null });
    const tail = log.tail();
    assert.is(tail.length, 100);
    assert.ok(tail.endsWith('xLAST'));
  } finally {
    log.close();
  }
  assert.is(log.tail(), '', 'closed');
  assert.is(log.fd, undefined);
});

test.run();
