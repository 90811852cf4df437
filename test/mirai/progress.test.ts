// miraiMap's progress bar (issue 12 item 6): percentage, rate and ETA; redrawn on a timer, not per
// task; ends where it stands when a task fails (the stopped rest are not progress); other output
// clears the bar's line and the bar comes back under it. Drawn on a terminal stand-in (an object
// with isTTY and write) so that the test sees every byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, mirai } from '../../dist';
import { progressLine, showProgress } from '../../dist/host/progress';
import { waitFor, withTimeout } from '../helpers';
import { asyncBlockTask, Gate, testHooks } from '../fixtures/mirai/common';

const W = 15000;

function terminal(): { isTTY: true; columns: number; writes: string[]; write(s: string): boolean; text(): string } {
  return {
    isTTY: true,
    columns: 100,
    writes: [],
    write(s: string) {
      this.writes.push(s);
      return true;
    },
    text() {
      return this.writes.join('');
    },
  };
}

/** The bar as a terminal would show it last: after the last carriage return. */
const shown = (t: ReturnType<typeof terminal>): string =>
  t
    .text()
    .split('\r')
    .filter((l) => l.trim() !== '' && l !== '\x1b[K')
    .pop()!
    .replace(/\x1b\[K/g, ''); // eslint-disable-line no-control-regex

test('progressLine: bar, count, percentage, rate and ETA', () => {
  assert.match(progressLine(25, 100, 5000, 100), /^\[=+ +\] 25\/100 {3}25% {2}5\.0\/s {2}ETA 15s$/);
  assert.match(progressLine(1, 100, 5000, 100), /ETA 8m15s$/);
  assert.match(progressLine(0, 10, 0, 80), /0\/10 {4}0% {2}0\.0\/s {2}ETA \?$/);
  assert.match(progressLine(10, 10, 2000, 80), /10\/10 {2}100% {2}5\.0\/s {2}ETA 0\.0s$/);
  assert.match(progressLine(1000, 4000, 1000, 80), /1000\/s {2}ETA 3\.0s$/);
});

test('1,000 tasks: a few redraws, not one per task; ends at 100% with a newline', async () => {
  await daemons(2, { dispatcher: false });
  const t = terminal();
  const ms = Array.from({ length: 1000 }, (_, i) => mirai((d: { i: number }) => d.i, { i }));
  showProgress(ms, t);
  await withTimeout(Promise.all(ms), W, 'tasks');
  assert.ok(t.writes.length < 100, `${t.writes.length} writes for 1000 tasks`);
  assert.match(shown(t), /\] 1000\/1000 {2}100% {2}\d+(\.\d)?\/s {2}ETA 0\.0s\n$/);
  await daemons(0);
});

test('a failed task ends the bar where it stands and says so (no jump to the end)', async () => {
  await daemons(1, { dispatcher: false });
  const t = terminal();
  const ms = [
    mirai(() => 1),
    mirai(() => {
      throw new RangeError('bad item');
    }),
    mirai(asyncBlockTask, { gate: new Gate().path }), // stopped below, never opened
  ];
  showProgress(ms, t);
  await ms[1]!.then(
    () => {},
    () => {},
  );
  ms[2]!.stop();
  const last = shown(t);
  assert.match(last, /\] 1\/3 {3}33% .* failed: task \d+ \((?:MiraiError|RangeError)\); the rest were stopped\n$/);
  assert.not.match(t.text(), /3\/3/);
  await daemons(0);
});

test('other output clears the bar first and the bar is drawn again after it', async () => {
  await daemons(1, { dispatcher: false });
  const t = terminal();
  const open = new Gate();
  const early = mirai(() => 'early');
  const gate = mirai(asyncBlockTask, { gate: open.path });
  showProgress([early, gate], t);
  await withTimeout(early, W, 'first task');
  await waitFor(() => t.text().includes(' 1/2 '), W, 'the bar at 1/2');
  const before = t.writes.length;
  process.stdout.write(''); // any write to stdout or stderr goes through the bar's guard
  t.write('a log line\n');
  const after = t.writes.slice(before);
  assert.equal(after.slice(0, 2), ['\r\x1b[K', 'a log line\n'], 'the bar line is cleared before the other output');
  open.open();
  await withTimeout(gate, W, 'task');
  assert.match(shown(t), /2\/2 {2}100%/);
  await daemons(0);
});

testHooks(test);
test.run();
