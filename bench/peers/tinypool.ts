// tinypool (worker threads): 2 threads, the worker module in fixtures/pool-worker.js.
import * as path from 'node:path';
import { once, type Impl, type Runner } from './types';

const WORKER = path.join(__dirname, 'fixtures', 'pool-worker.js');

type TinypoolCtor = typeof import('tinypool').default;
let Tinypool: TinypoolCtor | undefined;

export const tinypool: Impl = {
  name: 'tinypool',
  workers: 'thread',
  async load() {
    // ESM-only package: a dynamic import works from this CommonJS module.
    Tinypool ??= (await import('tinypool')).default;
  },
  async start(): Promise<Runner> {
    await this.load!();
    const pool = new Tinypool!({ filename: WORKER, minThreads: 2, maxThreads: 2 });
    return {
      tiny: (x) => pool.run({ x }, { name: 'tiny' }),
      echo: (a) => pool.run({ a }, { name: 'echo' }),
      close: once(() => pool.destroy()),
    };
  },
};
