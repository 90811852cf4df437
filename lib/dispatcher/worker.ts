/**
 * Worker-thread entry of the dispatcher (`startDispatcher('thread', opts)`): runs
 * runDispatcher(workerData) and ends with it. The host links to it over inproc://.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runDispatcher, type DispatcherOptions } from './dispatcher';

if (isMainThread) throw new Error('lib/dispatcher/worker.ts is the entry of a worker thread, not a module to require');

runDispatcher(workerData as DispatcherOptions).catch((e: unknown) => {
  // To the host, which quotes it in the error daemons() throws.
  parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) });
  process.exitCode = 1;
});
