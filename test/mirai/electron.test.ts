// Electron: local daemons (and the dispatcher process) are the host's executable run as Node,
// switched by ELECTRON_RUN_AS_NODE=1 when process.versions.electron is set. There is no Electron
// here: a host that sets process.versions.electron checks the switch; the addon's copying
// message path (Electron forbids external buffers) is covered in test/nng/patterns.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { spawnNode } from '../helpers';

const HOST = path.join(__dirname, '..', 'fixtures', 'mirai', 'electron-host.js');

for (const mode of ['thread', 'process', 'false']) {
  test(`dispatcher ${mode}: under Electron, daemons start with ELECTRON_RUN_AS_NODE=1 and run tasks`, async () => {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    const child = spawnNode([HOST, mode], { env, timeoutMs: 30_000 });
    const exit = await child.exited;
    assert.equal(exit, { code: 0, signal: null }, `host failed\n${child.stdout}\n${child.stderr}`);
    const out = JSON.parse(child.stdout.trim().split('\n').pop()!);
    assert.equal(out, { daemonEnv: ['1', '1'], ran: 'ok' });
  });
}

test.run();
