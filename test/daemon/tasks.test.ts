// Task evaluation in a real daemon process: function and code-string tasks, require/import(),
// the cleanup of task globals (and --no-cleanup), and --output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Host, K, sharedDaemon } from './host';

const shared = sharedDaemon(test);
let id = 0;

test('function and code-string tasks: data, scope, completion value, async', async () => {
  assert.is(await shared.host.value(++id, (d: any) => d.x + 1, { x: 41 }), 42);
  assert.is(await shared.host.value(++id, 'let z = x * y; z + 1', { x: 6, y: 7 }), 43);
  assert.is(await shared.host.value(++id, 'let z = 1; z'), 1); // `let` is local: no redeclaration error
  assert.equal(
    await shared.host.value(++id, (d: any) => new Map([[d, new Date(0)]]), 'k'),
    new Map([['k', new Date(0)]]),
  );
  assert.is(
    await shared.host.value(
      ++id,
      async (d: number) => {
        await new Promise((r) => setTimeout(r, 5));
        return d * 2;
      },
      21,
    ),
    42,
  );
  assert.is(await shared.host.value(++id, 'Promise.resolve(x)', { x: 'thenable awaited' }), 'thenable awaited');
  assert.is(await shared.host.value(++id, 'f(x) { return x + 1 }', 1, 'f'), 2); // method shorthand source
});

test("require and import() resolve from the daemon's working directory", async () => {
  assert.is(await shared.host.value(++id, () => require('node:os').EOL), os.EOL);
  assert.is(await shared.host.value(++id, 'import("node:path").then((m) => m.sep)'), path.sep);
});

test('cleanup removes task globals; everywhere state persists', async () => {
  assert.equal(
    (await shared.host.run(++id, 'var counter = 10; globalThis.base = { n: 5 }; 1', undefined, K.EVERYWHERE)).flags,
    0,
  );
  await shared.host.value(++id, () => {
    (globalThis as any).leak = 1;
    (globalThis as any).base.touched = true;
  });
  await shared.host.value(++id, 'var tmp = 1; function helper() {}');
  assert.equal(
    await shared.host.value(++id, 'typeof leak + typeof tmp + typeof helper'),
    'undefinedundefinedundefined',
  );
  assert.equal(await shared.host.value(++id, 'counter + base.n'), 15);
  assert.is(await shared.host.value(++id, () => (globalThis as any).base.touched), true);
});

test('cleanup off keeps task globals; output on keeps stdout/stderr, off discards them', async () => {
  const h = new Host(),
    o = new Host();
  const [dh, dout] = await Promise.all([h.daemon('--no-cleanup'), o.daemon('--output')]);
  await h.value(1, () => {
    (globalThis as any).kept = 7;
  });
  assert.is(await h.value(2, 'kept'), 7);
  const noisy = () => {
    console.log('to stdout');
    console.error('to stderr');
    setTimeout(() => {
      throw new Error('stray');
    }, 1);
  };
  await h.value(3, noisy);
  await o.value(1, noisy);
  await h.value(4, 'new Promise((r) => setTimeout(r, 20))'); // the stray throw is survived
  await o.value(2, 'new Promise((r) => setTimeout(r, 20))');
  assert.is(dh.stdout() + dh.stderr(), '');
  assert.is(dout.stdout(), 'to stdout\n');
  assert.match(dout.stderr(), /^to stderr\nmirai daemon: uncaught error in task code \(ignored\): Error: stray/);
});

test.run();
