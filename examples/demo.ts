// npm start: start local daemons, run tasks on them, print status, tear down.
import { daemons, everywhere, mirai, miraiMap, status } from '../dist';

async function main(): Promise<void> {
  const t0 = performance.now();
  await daemons(4);
  console.log(`4 daemons connected in ${(performance.now() - t0).toFixed(0)} ms`);
  console.log('status:', await status());

  // A function runs on a daemon as fn(data); values cross by structured clone.
  const m = mirai(({ x, y }) => ({ sum: x + y, pid: process.pid }), { x: 40, y: 2 });
  console.log('mirai result:', await m);

  // A code string sees data's keys as local names; its completion value is the result.
  console.log('code string:', await mirai('Math.max(...values)', { values: [3, 9, 4] }));

  // everywhere() sets up state on every daemon; later tasks use it.
  await everywhere(() => {
    (globalThis as any).started = new Date();
  });

  // One task per item, results in input order.
  const squares = await miraiMap([1, 2, 3, 4, 5, 6, 7, 8], (i: number) => i * i);
  console.log('miraiMap:', squares);

  const t1 = performance.now();
  const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => mirai((d: { i: number }) => d.i * 2, { i })));
  console.log(`1000 tasks in ${(performance.now() - t1).toFixed(1)} ms (last = ${many[999]})`);
  console.log('status:', await status());
  await daemons(0);
  console.log('daemons reset; status:', await status());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
