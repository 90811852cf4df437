// Local daemons from TypeScript: run with `npx tsx examples/local.ts`. Results are typed from
// the task function; failures are MiraiError (the task threw) or ErrorValue (it timed out, was
// stopped, or its daemon was lost), both Errors.
import { daemons, ErrorValue, isMiraiError, mirai, miraiMap, type TaskContext } from 'mirai';

interface Job {
  id: number;
  text: string;
}

async function main(): Promise<void> {
  await using _set = await daemons(2); // daemons(0) when this scope ends

  const words = await mirai((job: Job) => ({ id: job.id, words: job.text.split(/\s+/).length }), {
    id: 1,
    text: 'tasks run on persistent daemons',
  });
  console.log(`job ${words.id}: ${words.words} words`);

  const pid: number = await mirai(() => process.pid);
  console.log(`ran in daemon ${pid === process.pid ? 'this process' : 'another process'}`);

  // A failing task rejects with a MiraiError carrying the remote name, message and stack.
  const err = await mirai(() => JSON.parse('{oops')).catch((e: unknown) => e);
  if (isMiraiError(err)) console.log(`remote ${err.name}: caught`);

  // Node-style cancellation: an AbortSignal stops the task on its daemon; an async task sees
  // it as ctx.signal (its second argument) and can stop its own work.
  const wait = (_: object, ctx: TaskContext) =>
    new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  const stopped = await mirai(wait, {}, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
  if (stopped instanceof ErrorValue) console.log(`stopped: ${stopped.name} (ErrorValue ${stopped.code})`);

  const squares: number[] = await miraiMap([1, 2, 3, 4], (i: number) => i * i);
  console.log('squares:', squares.join(' '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
