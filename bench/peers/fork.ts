// A bare child_process.fork ping-pong: 2 children, tasks sent round-robin over the IPC channel
// (`serialization: 'advanced'`, so typed arrays cross as themselves), results matched by id.
// The simplest correct implementation a Node user would write; the child is fixtures/fork-worker.js.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { once, type Impl, type Runner } from './types';

const WORKER = path.join(__dirname, 'fixtures', 'fork-worker.js');
const N = 2;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export const bareFork: Impl = {
  name: 'child_process.fork',
  workers: 'process',
  async start(): Promise<Runner> {
    const pending = new Map<number, Pending>();
    const children: ChildProcess[] = [];
    const exited: Array<Promise<void>> = [];
    let nextId = 0;
    let rr = 0;
    const failAll = (why: string): void => {
      for (const p of pending.values()) p.reject(new Error(why));
      pending.clear();
    };
    for (let i = 0; i < N; i++) {
      // execArgv: [] - plain node children, not this process's flags (the bench runs under tsx's
      // loader, which would add ~400 ms to each child's start); workerpool does the same.
      const c = fork(WORKER, [], {
        serialization: 'advanced',
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      c.on('message', (m: [number, boolean, unknown]) => {
        const p = pending.get(m[0]);
        if (!p) return;
        pending.delete(m[0]);
        if (m[1]) p.resolve(m[2]);
        else p.reject(m[2]);
      });
      exited.push(
        new Promise((resolve) =>
          c.once('exit', (code, signal) => {
            failAll(`child ${c.pid} exited (${code ?? signal})`);
            resolve();
          }),
        ),
      );
      c.on('error', (e) => failAll(`child error: ${e.message}`));
      children.push(c);
    }
    const call = <T>(name: string, data: object): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        children[rr].send([id, name, data]);
        rr = (rr + 1) % N;
      });
    return {
      tiny: (x) => call<number>('tiny', { x }),
      echo: (a) => call<Float64Array>('echo', { a }),
      close: once(async () => {
        for (const c of children) {
          if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }
        await Promise.all(exited);
      }),
    };
  },
};
