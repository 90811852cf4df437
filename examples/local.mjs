// Local daemons from plain JavaScript (ES modules): run with `node examples/local.mjs`.
// Tasks are functions shipped as source: they see only their data, the daemon's globals and
// what everywhere() set up, never this file's variables.
import { daemons, everywhere, mirai, miraiMap, status } from 'mirai';

await daemons(2);

// fn(data) runs on a daemon; the result comes back by structured clone.
const sum = await mirai(({ x, y }) => x + y, { x: 40, y: 2 });
console.log('sum:', sum);

// A code string sees data's keys as local names; its completion value is the result.
console.log('max:', await mirai('Math.max(...values)', { values: [3, 9, 4] }));

// everywhere() runs once on every daemon: state for the tasks that follow.
await everywhere(
  ({ factor }) => {
    globalThis.factor = factor;
  },
  { factor: 10 },
);
console.log('scaled:', await miraiMap([1, 2, 3], (i) => i * globalThis.factor));

const { connections } = await status();
console.log('connections:', connections);
await daemons(0);
