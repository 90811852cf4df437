// daemonEvents() and info() (issue 11 items 2 and 3), with real daemons: connect events carry the
// pids everywhere(() => process.pid) sees; disconnect says why (maxTasks, idleTime, walltime,
// crash with the signal, hostClosed) with a local daemon's exit status; replaced on respawn;
// taskLost when the daemon running a mirai is killed; the async iterator ends when the profile
// is reset; info() rows busy / idle with the running mirai's id and tasks done, and gone rows
// with their reason. Thread dispatcher and round-robin throughout, the process dispatcher once.
// Plus the hub's bookkeeping on its own (bounded departed rows, order, bounded waits).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  daemonEvents,
  daemons,
  everywhere,
  info,
  isErrorValue,
  mirai,
  status,
  type ConnectEvent,
  type DaemonEvent,
  type DaemonEvents,
  type DisconnectEvent,
  type TaskLostEvent,
} from '../../dist';
import { DaemonHub, DEPARTED_KEPT, DaemonEvents as EventsClass } from '../../dist/host/events';
import { errorOf, removeTemps, waitFor, withTimeout } from '../helpers';
import {
  Gate,
  KILLED,
  blockTask,
  marker,
  pidTask,
  readPid,
  testHooks,
  assertNoDaemonChildren,
} from '../fixtures/mirai/common';

const W = 15000;

// A test that failed before its daemons(0) must not hand its live profile to the next one.
test.before.each(async () => {
  await daemons(0);
});

test.after(async () => {
  await daemons(0).catch(() => {});
  removeTemps();
});

/** Records every event of ev; waits (event-driven, bounded) for ones that match. */
class Recorder {
  readonly events: DaemonEvent[] = [];
  #waiters = new Set<() => void>();
  constructor(readonly ev: DaemonEvents) {
    const push = (e: DaemonEvent): void => {
      this.events.push(e);
      for (const w of [...this.#waiters]) w();
    };
    ev.on('connect', push).on('disconnect', push).on('replaced', push).on('taskLost', push);
  }

  /** The first n recorded events that match, once there are n; rejects after ms. */
  wait<E extends DaemonEvent>(pred: (e: DaemonEvent) => e is E, n: number, ms: number, what: string): Promise<E[]>;
  wait(pred: (e: DaemonEvent) => boolean, n: number, ms: number, what: string): Promise<DaemonEvent[]>;
  wait(pred: (e: DaemonEvent) => boolean, n: number, ms: number, what: string): Promise<DaemonEvent[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const got = this.events.filter(pred);
        if (got.length < n) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(got.slice(0, n));
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(this.events)}`));
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }
}

const isConnect = (e: DaemonEvent): e is ConnectEvent => e.type === 'connect';
const disconnectOf =
  (pid: number) =>
  (e: DaemonEvent): e is DisconnectEvent =>
    e.type === 'disconnect' && e.daemon.pid === pid;
const anyDisconnect = (e: DaemonEvent): e is DisconnectEvent => e.type === 'disconnect';

/** The pid a blockTask wrote to `file` once it started (the file may exist a moment before it is written). */
async function startedPid(file: string): Promise<number> {
  await waitFor(() => fs.existsSync(file) && readPid(file) > 0, W, 'the task to start');
  return readPid(file);
}

/** The scheme of the profile's daemon URL: every daemon's transport. */
async function scheme(): Promise<string> {
  const url = (await status()).daemons;
  return url.slice(0, url.indexOf('://'));
}

for (const [label, dispatcher] of [
  ['dispatcher', true],
  ['round-robin', false],
] as const) {
  test(`${label}: connect events for 3 daemons carry the pids everywhere(() => process.pid) sees`, async () => {
    const rec = new Recorder(daemonEvents()); // before daemons(): it follows the next set
    await daemons(3, { dispatcher });
    const connects = await rec.wait(isConnect, 3, W, '3 connects');
    const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
    assert.equal(connects.map((e) => e.daemon.pid).sort(), [...pids].sort());
    assert.equal(connects.map((e) => e.daemon.id).sort(), [1, 2, 3]);
    const transport = await scheme();
    for (const e of connects) {
      assert.is(e.daemon.hostname, os.hostname());
      assert.is(e.daemon.transport, transport);
      assert.is(e.daemon.local, true);
      assert.ok(e.type === 'connect' && e.at instanceof Date);
    }
    await daemons(0);
  });

  test(`${label}: maxTasks, idleTime and walltime are the reasons, with exit status 0`, async () => {
    for (const [opts, reason, tasks] of [
      [{ maxTasks: 2 }, 'maxTasks', 2],
      [{ idleTime: 1000 }, 'idleTime', 0], // timers run from the daemon's start: room for a slow handshake
      [{ walltime: 1500 }, 'walltime', 0],
    ] as const) {
      const rec = new Recorder(daemonEvents());
      await daemons(1, { dispatcher, ...opts });
      const [c] = await rec.wait(isConnect, 1, W, 'its connect');
      const pid = c!.daemon.pid!;
      for (let i = 0; i < tasks; i++) assert.is(await withTimeout(Promise.resolve(mirai(pidTask)), W, 'a task'), pid);
      const [d] = await rec.wait(disconnectOf(pid), 1, W, `its ${reason} disconnect`);
      assert.is(d!.reason, reason);
      assert.equal(d!.exit, { code: 0, signal: null });
      assert.is(d!.tasksDone, tasks);
      const rows = await info();
      assert.is(rows.length, 1);
      assert.is(rows[0]!.state, 'gone');
      assert.is(rows[0]!.reason, reason);
      assert.is(rows[0]!.tasksDone, tasks);
      assert.ok(rows[0]!.disconnectedAt instanceof Date);
      assert.is(rec.events.filter((e) => e.type === 'replaced').length, 0, 'left on purpose: not replaced');
      await daemons(0);
    }
  });

  test(`${label}: SIGKILL is a crash with its signal; the replacement is told as replaced`, async () => {
    const rec = new Recorder(daemonEvents());
    await daemons(2, { dispatcher });
    const connects = await rec.wait(isConnect, 2, W, '2 connects');
    const victim = connects[0]!.daemon;
    process.kill(victim.pid!, 'SIGKILL');
    const [d] = await rec.wait(disconnectOf(victim.pid!), 1, W, 'the crash');
    assert.is(d!.reason, 'crash');
    assert.equal(d!.exit, KILLED);
    assert.equal(d!.daemon, victim);
    const [r] = await rec.wait((e) => e.type === 'replaced', 1, W, 'replaced');
    assert.ok(r!.type === 'replaced');
    if (r!.type !== 'replaced') return;
    assert.equal(r!.old, victim);
    assert.is.not(r!.new.pid, victim.pid);
    assert.is(r!.new.id, 3);
    // Its connect came first, with the same daemon.
    const third = await rec.wait(isConnect, 3, W, 'the replacement connect');
    assert.equal(third[2]!.daemon, r!.new);
    assert.ok(rec.events.indexOf(third[2]!) < rec.events.indexOf(r!));
    const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
    assert.ok(pids.includes(r!.new.pid!));
    await daemons(0);
  });

  test(`${label}: taskLost names the mirai and its daemon, after that daemon's disconnect; retried with retry`, async () => {
    const rec = new Recorder(daemonEvents());
    await daemons(2, { dispatcher });
    await rec.wait(isConnect, 2, W, '2 connects');
    for (const retry of [0, 1]) {
      const gate = new Gate();
      const started = marker();
      const m = mirai(blockTask, { gate: gate.path, started }, { retry });
      const pid = await startedPid(started);
      process.kill(pid, 'SIGKILL');
      const isLost = (e: DaemonEvent): e is TaskLostEvent => e.type === 'taskLost' && e.task === m.id;
      const [lost] = await rec.wait(isLost, 1, W, 'taskLost');
      assert.is(lost!.daemon.pid, pid);
      assert.is(lost!.retried, retry > 0);
      const [d] = await rec.wait(disconnectOf(pid), 1, W, 'its disconnect');
      assert.ok(rec.events.indexOf(d!) < rec.events.indexOf(lost!), 'disconnect first');
      if (retry === 0) {
        const e = await withTimeout(errorOf(m), W, 'the lost mirai');
        assert.ok(isErrorValue(e) && e.code === 19, String(e));
      } else {
        gate.open();
        assert.type(await withTimeout(Promise.resolve(m), W, 'the retried mirai'), 'number');
      }
      gate.open();
    }
    await daemons(0);
  });

  test(`${label}: daemons(0) tells hostClosed for each, with exit status 0, and ends the iterator`, async () => {
    const ev = daemonEvents();
    await daemons(2, { dispatcher });
    const seen = (async () => {
      const out: DaemonEvent[] = [];
      for await (const e of ev) out.push(e);
      return out;
    })();
    await withTimeout(everywhere(pidTask), W, 'everywhere');
    await daemons(0);
    const all = await withTimeout(seen, W, 'the iterator to end');
    assert.ok(ev.ended);
    assert.equal(
      all.map((e) => e.type),
      ['connect', 'connect', 'disconnect', 'disconnect'],
    );
    for (const d of all.filter(anyDisconnect)) {
      assert.is(d.reason, 'hostClosed');
      assert.equal(d.exit, { code: 0, signal: null });
    }
  });

  test(`${label}: info() rows: busy with the running mirai's id, idle, tasks done; gone rows keep their reason`, async () => {
    const rec = new Recorder(daemonEvents());
    await daemons(2, { dispatcher });
    await rec.wait(isConnect, 2, W, '2 connects');
    assert.equal(
      (await info()).map((r) => r.state),
      ['idle', 'idle'],
    );
    const gate = new Gate();
    const started = marker();
    const m = mirai(blockTask, { gate: gate.path, started });
    const busyPid = await startedPid(started);
    let rows = await info();
    assert.is(rows.length, 2);
    const busy = rows.find((r) => r.pid === busyPid)!;
    const idle = rows.find((r) => r.pid !== busyPid)!;
    assert.is(busy.state, 'busy');
    assert.is(busy.task, m.id);
    assert.is(idle.state, 'idle');
    assert.is(idle.task, undefined);
    assert.ok(busy.connectedAt instanceof Date && busy.connectedAt.getTime() <= Date.now());
    // Three quick ones: the idle daemon takes them (round-robin: in turn, queued behind the blocked one).
    const quick = [mirai(pidTask), mirai(pidTask), mirai(pidTask)];
    gate.open();
    await withTimeout(Promise.all([m, ...quick]), W, 'the tasks');
    rows = await info();
    assert.is(
      rows.reduce((n, r) => n + r.tasksDone, 0),
      4,
    );
    assert.ok(rows.find((r) => r.pid === busyPid)!.tasksDone >= 1);
    assert.equal(
      rows.map((r) => r.state),
      ['idle', 'idle'],
    );
    // A killed one stays listed as gone, with its reason and exit status.
    process.kill(busyPid, 'SIGKILL');
    await rec.wait(disconnectOf(busyPid), 1, W, 'the crash');
    rows = await info();
    const gone = rows.find((r) => r.pid === busyPid)!;
    assert.is(gone.state, 'gone');
    assert.is(gone.reason, 'crash');
    assert.equal(gone.exit, KILLED);
    assert.is(gone.id, busy.id);
    await daemons(0);
    assert.equal(await info(), [], 'no profile, no rows');
  });
}

test('process dispatcher: connects with matching pids, a SIGKILL crash, replaced, hostClosed at daemons(0)', async () => {
  const ev = daemonEvents();
  const rec = new Recorder(ev);
  await daemons(2, { dispatcher: 'process' });
  const connects = await rec.wait(isConnect, 2, W, '2 connects');
  const pids = (await withTimeout(everywhere(pidTask), W, 'everywhere')) as number[];
  assert.equal(connects.map((e) => e.daemon.pid).sort(), [...pids].sort());
  const victim = connects[1]!.daemon.pid!;
  process.kill(victim, 'SIGKILL');
  const [d] = await rec.wait(disconnectOf(victim), 1, W, 'the crash');
  assert.is(d!.reason, 'crash');
  assert.equal(d!.exit, KILLED);
  await rec.wait((e) => e.type === 'replaced', 1, W, 'replaced');
  // The replacement may still be replaying everywhere(): busy, but with no mirai.
  const rows = await info();
  assert.is(rows.length, 3);
  assert.equal(
    rows.filter((r) => r.state === 'gone').map((r) => r.id),
    [d!.daemon.id],
  );
  assert.ok(rows.every((r) => r.task === undefined));
  const ended = new Promise<void>((resolve) => ev.once('end', resolve));
  await daemons(0);
  await withTimeout(ended, W, "'end'");
  const closed = rec.events.filter(anyDisconnect).filter((e) => e.reason === 'hostClosed');
  assert.is(closed.length, 2);
});

test('a subscriber of a live profile hears only what happens next; close() ends it early', async () => {
  await daemons(1);
  const ev = daemonEvents();
  const rec = new Recorder(ev);
  const it = ev[Symbol.asyncIterator]();
  const first = it.next();
  ev.close();
  assert.equal(await withTimeout(first, W, 'the iterator to end'), { value: undefined, done: true });
  await daemons(0);
  assert.is(rec.events.length, 0);
});

test('a listener that throws is an uncaught exception, and the host carries on', async () => {
  const ev = daemonEvents();
  ev.on('connect', () => {
    throw new Error('a bug in a listener');
  });
  const caught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
  await daemons(1);
  assert.match((await withTimeout(caught, W, 'the uncaught exception')).message, /a bug in a listener/);
  assert.is(await withTimeout(Promise.resolve(mirai(() => 2)), W, 'a task after'), 2);
  assert.is((await info()).length, 1);
  await daemons(0);
  assert.ok(ev.ended);
});

test('the hub on its own: departed rows are bounded, taskLost waits for its disconnect, exit statuses are waited for', async () => {
  const hub = new DaemonHub(() => 'tcp://127.0.0.1:1');
  // The constructor is @internal (not in the published types).
  const ev = new (EventsClass as unknown as new (profile: string) => InstanceType<typeof EventsClass>)('unit');
  hub.subscribe(ev);
  const got: DaemonEvent[] = [];
  for (const t of ['connect', 'disconnect', 'taskLost', 'replaced'] as const) ev.on(t, (e: DaemonEvent) => got.push(e));
  const n = DEPARTED_KEPT + 8;
  for (let id = 1; id <= n; id++) {
    hub.news({ type: 'connect', daemon: id, pid: 1000 + id, hostname: 'elsewhere', at: Date.now() });
    hub.news({ type: 'disconnect', daemon: id, tasksDone: id, at: Date.now() });
  }
  const rows = hub.rows([]);
  assert.is(rows.length, DEPARTED_KEPT);
  assert.is(rows[0]!.id, n - DEPARTED_KEPT + 1);
  assert.ok(rows.every((r) => r.state === 'gone' && r.reason === 'unknown' && !r.local && r.transport === 'tcp'));
  // A local daemon: its disconnect waits for its exit status, and its lost task waits behind it.
  got.length = 0;
  const id = n + 1;
  hub.spawned(4242);
  hub.news({ type: 'connect', daemon: id, pid: 4242, hostname: os.hostname(), at: Date.now() });
  hub.news({ type: 'disconnect', daemon: id, tasksDone: 0, at: Date.now() });
  hub.news({ type: 'taskLost', daemon: id, task: 7, retried: false, at: Date.now() });
  assert.equal(
    got.map((e) => e.type),
    ['connect'],
    'both held until the exit status is known',
  );
  hub.exited(4242, 1, null);
  assert.equal(
    got.map((e) => e.type),
    ['connect', 'disconnect', 'taskLost'],
  );
  const d = got[1] as DisconnectEvent;
  assert.is(d.reason, 'crash');
  assert.equal(d.exit, { code: 1, signal: null });
  assert.ok(d.daemon.local);
  // maxTasks said by the daemon wins over its exit status; a reset makes the rest hostClosed.
  hub.spawned(4343);
  hub.news({ type: 'connect', daemon: id + 1, pid: 4343, hostname: os.hostname(), at: Date.now() });
  hub.exited(4343, 0, null);
  hub.news({ type: 'disconnect', daemon: id + 1, hint: 'maxTasks', tasksDone: 3, at: Date.now() });
  assert.is((got.at(-1) as DisconnectEvent).reason, 'maxTasks');
  hub.news({ type: 'connect', daemon: id + 2, at: Date.now() });
  hub.closing();
  hub.end();
  const last = got.at(-1) as DisconnectEvent;
  assert.is(last.reason, 'hostClosed');
  assert.is(last.daemon.pid, undefined, 'a daemon that never said who it is');
  assert.ok(ev.ended);
});

test('teardown leaves no daemon process behind', async () => {
  await assertNoDaemonChildren();
});

testHooks(test);
test.run();
