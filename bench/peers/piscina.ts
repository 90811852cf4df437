// piscina (worker threads): 2 threads, the worker module in fixtures/pool-worker.js.
import * as path from 'node:path';
import { once, type Impl, type Runner } from './types';

const WORKER = path.join(__dirname, 'fixtures', 'pool-worker.js');

type PiscinaCtor = typeof import('piscina').Piscina;
let Piscina: PiscinaCtor | undefined;

export const piscina: Impl = {
  name: 'piscina',
  workers: 'thread',
  async load() {
    Piscina ??= (await import('piscina')).Piscina;
  },
  async start(): Promise<Runner> {
    await this.load!();
    const pool = new Piscina!({ filename: WORKER, minThreads: 2, maxThreads: 2 });
    return {
      tiny: (x) => pool.run({ x }, { name: 'tiny' }),
      echo: (a) => pool.run({ a }, { name: 'echo' }),
      close: once(() => pool.destroy()),
    };
  },
};
