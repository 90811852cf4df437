// lib/daemon/interrupts.ts driven directly, with a fake mechanism: no socket, no signals. The
// accounting that tells a SIGINT the daemon caused (a CANCEL on an armed receive) from one sent
// from outside, the settle-before-arm wait, the grace for an interrupted run, and failure.
// Last, the real mechanism (the SIGINT keeper and the addon's interrupt) in a child process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { killChildren, spawnNode, withTimeout } from '../helpers';
import { Interrupts, INTERRUPT_GRACE, type InterruptMechanism } from '../../dist/daemon/interrupts';
import { header, Kind, readHeader } from '../../dist/wire/protocol';

class FakeMechanism implements InterruptMechanism {
  up = true;
  failed = false;
  absorbed = 0;
  onAbsorb: (() => void) | undefined;
  onFail: ((err: Error) => void) | undefined;
  log: string[] = [];
  /** What waitAbsorbed does: land one pending SIGINT, or nothing (it got lost). */
  landOnWait = true;
  idleResult: 'ok' | 'timed-out' | 'interrupted' = 'ok';
  aboutToRun(): void {
    this.log.push('aboutToRun');
  }
  entered(): void {
    this.log.push('entered');
  }
  ran(): void {
    this.log.push('ran');
  }
  waitAbsorbed(n: number, ms: number): void {
    this.log.push('waitAbsorbed');
    if (this.landOnWait) this.absorbed = n + 1;
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); // nothing lands: the bounded wait runs out
  }
  waitUp(_ms: number): boolean {
    this.log.push('waitUp');
    this.up = true;
    return true;
  }
  waitUpInterruptibly(_ms: number) {
    this.log.push('waitUpInterruptibly');
    return this.idleResult;
  }
  stop(): void {
    this.log.push('stop');
  }
  /** The keeper took a SIGINT while no task ran. */
  absorb(): void {
    this.absorbed++;
    this.onAbsorb?.();
  }
  fail(): void {
    this.failed = true;
    this.onFail?.(new Error('gone'));
  }
}

function setup() {
  const mech = new FakeMechanism();
  const events: string[] = [];
  let checked: (external: boolean) => void = () => {};
  const ints = new Interrupts(mech, {
    external: () => events.push('external'),
    unavailable: () => events.push('unavailable'),
    checked: (external) => checked(external),
  });
  const nextCheck = () =>
    new Promise<boolean>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no check ran')), INTERRUPT_GRACE + 2000);
      checked = (external) => {
        clearTimeout(t);
        resolve(external);
      };
    });
  return { mech, ints, events, nextCheck };
}

const cancel = (id: number, flags = 0) => readHeader(header(Kind.CANCEL, id, flags));

test("received() counts only the armed task's own CANCEL (flags 0) as a SIGINT the addon raised", () => {
  const { ints } = setup();
  assert.is(ints.received(7, cancel(7)), true);
  assert.is(ints.received(7, cancel(8)), false, "another task's CANCEL");
  assert.is(ints.received(7, cancel(7, 1)), false, 'flags set: not the armed prefix');
  assert.is(ints.received(-1, cancel(7)), false, 'receive not armed');
  assert.is(ints.received(7, readHeader(header(Kind.TASK, 7))), false, 'not a CANCEL');
  assert.is(ints.received(7, null), false, 'malformed');
  assert.equal(ints.counts, { caused: 1, seen: 0, lost: 0 });
});

test('a SIGINT the daemon caused, absorbed while no task ran, is not external', async () => {
  const { mech, ints, events, nextCheck } = setup();
  ints.received(3, cancel(3));
  const check = nextCheck();
  mech.absorb();
  assert.is(await check, false);
  assert.equal(events, []);
  ints.stop();
});

test('a SIGINT nobody caused (Ctrl-C) is external, once the grace has passed', async () => {
  const { mech, ints, events, nextCheck } = setup();
  const check = nextCheck();
  const t0 = Date.now();
  mech.absorb();
  assert.is(await check, true);
  assert.ok(Date.now() - t0 >= INTERRUPT_GRACE - 5, 'waited for the grace');
  assert.equal(events, ['external']);
  ints.stop();
});

test('arm() waits for a caused SIGINT still in flight before flagging the next task', () => {
  const { mech, ints } = setup();
  ints.received(1, cancel(1));
  ints.arm();
  assert.equal(mech.log, ['waitAbsorbed', 'aboutToRun']);
  assert.equal(ints.counts, { caused: 1, seen: 1, lost: 0 });
  mech.log.length = 0;
  ints.arm(); // nothing in flight: no wait
  assert.equal(mech.log, ['aboutToRun']);
});

test('arm() counts a caused SIGINT that never lands as lost (bounded wait), so it is not expected again', () => {
  const { mech, ints } = setup();
  mech.landOnWait = false;
  ints.received(1, cancel(1));
  const t0 = Date.now();
  ints.arm();
  assert.ok(Date.now() - t0 < 5000, 'bounded');
  assert.equal(ints.counts, { caused: 1, seen: 0, lost: 1 });
});

test('beforeArm() waits for the mechanism to come up first; disarm() tells it the task will not run', () => {
  const { mech, ints } = setup();
  mech.up = false;
  ints.beforeArm();
  ints.disarm();
  assert.equal(mech.log, ['waitUp', 'aboutToRun', 'ran']);
});

test('interrupted(): unexplained after the grace, unless the CANCEL explained it first', async () => {
  const { ints } = setup();
  const order: string[] = [];
  const explained = ints.interrupted(() => order.push('first'));
  explained();
  // Same grace, started later: if the first had not been cleared it would fire before this one.
  await new Promise<void>((resolve) =>
    ints.interrupted(() => {
      order.push('second');
      resolve();
    }),
  );
  assert.equal(order, ['second']);
  assert.is(ints.counts.seen, 2, 'both runs saw their SIGINT');
});

test('idle(): only while the mechanism is down, and an interrupt that ends the wait is counted', () => {
  const { mech, ints } = setup();
  ints.idle();
  assert.equal(mech.log, [], 'up: nothing to do');
  mech.up = false;
  mech.idleResult = 'interrupted';
  ints.idle();
  assert.equal(mech.log, ['waitUpInterruptibly']);
  assert.is(ints.counts.seen, 1);
});

test('a mechanism that fails: unavailable() once, and tasks are no longer armed', () => {
  const { mech, ints, events } = setup();
  assert.is(ints.available, true);
  mech.fail();
  assert.is(ints.available, false);
  assert.equal(events, ['unavailable']);
  ints.beforeArm();
  ints.arm();
  assert.equal(mech.log, []);
});

test('after detach() no check runs; stop() releases the mechanism', async () => {
  const { mech, ints, events } = setup();
  mech.absorb(); // schedules a check...
  ints.detach(); // ...that is cancelled
  ints.stop();
  assert.ok(mech.log.includes('stop'));
  assert.is(mech.onAbsorb, undefined);
  // Another object's check, scheduled later with the same grace, runs after ours would have.
  const other = setup();
  const check = other.nextCheck();
  other.mech.absorb();
  assert.is(await check, true);
  assert.equal(events, []);
  other.ints.stop();
});

test('the real mechanism: an interrupt while no task runs is absorbed; one that lands on the keeper just before a run is handed on to it', async () => {
  const child = spawnNode([path.join(__dirname, '..', 'fixtures', 'daemon', 'keeper.js')], { timeoutMs: 30000 });
  try {
    const exit = await withTimeout(child.exited, 32000, 'keeper fixture');
    assert.equal(exit, { code: 0, signal: null }, `stdout: ${child.stdout}stderr: ${child.stderr}`);
    assert.match(child.stdout, /^absorbed 1$/m);
    // The hand-on is not absorbed: the count stays at the first interrupt's.
    assert.match(child.stdout, /^handed on in \d+ ms; absorbed 1$/m);
    assert.match(child.stdout, /^alive$/m);
  } finally {
    killChildren();
  }
});

test.run();
