// workerpool with process workers (child_process.fork) and with thread workers, 2 of each,
// the worker script in fixtures/workerpool-worker.js.
//
// Process workers use `serialization: 'advanced'` (structured clone over the IPC channel): with
// the default JSON a Float64Array would come back as a plain object, so it would not be the same
// data crossing as for the other implementations.
import * as path from 'node:path';
import { once, type Impl, type Runner } from './types';

const WORKER = path.join(__dirname, 'fixtures', 'workerpool-worker.js');

type WorkerpoolModule = typeof import('workerpool');
let wp: WorkerpoolModule | undefined;

function impl(workerType: 'process' | 'thread'): Impl {
  return {
    name: `workerpool (${workerType})`,
    workers: workerType,
    async load() {
      wp ??= await import('workerpool');
    },
    async start(): Promise<Runner> {
      await this.load!();
      const pool = wp!.pool(WORKER, {
        minWorkers: 2,
        maxWorkers: 2,
        workerType,
        ...(workerType === 'process' ? { forkOpts: { serialization: 'advanced' as const } } : {}),
      });
      return {
        tiny: (x) => pool.exec('tiny', [{ x }]) as PromiseLike<number>,
        echo: (a) => pool.exec('echo', [{ a }]) as PromiseLike<Float64Array>,
        close: once(async () => {
          await pool.terminate();
        }),
      };
    },
  };
}

export const workerpoolProcess = impl('process');
export const workerpoolThread = impl('thread');
