// The `mirai` command line at its top level: --version, a help that describes each command and
// hides the internal `dispatcher` one, and a clear error for an unknown command.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { spawnNode } from './helpers';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const { version } = require('../package.json') as { version: string };

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawnNode([CLI, ...args], { timeoutMs: 20_000 });
  const { code } = await c.exited;
  return { code, stdout: c.stdout, stderr: c.stderr };
}

test('--version (and -v): the package, NNG, mbedTLS and Node versions', async () => {
  for (const flag of ['--version', '-v']) {
    const r = await cli(flag);
    assert.is(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^mirai ${version.replace(/\./g, '\\.')} \\(NNG \\d+\\.\\d+\\.\\d+, mbedTLS \\d+\\.\\d+\\.\\d+, Node\\.js ${process.versions.node}\\)\\n$`,
      ),
    );
  }
});

test('--help describes the daemon command and the options, not the internal dispatcher', async () => {
  const r = await cli('--help');
  assert.is(r.code, 0);
  assert.match(r.stdout, /^usage: mirai <command> \[options\]/);
  assert.match(r.stdout, /\n {2}daemon <url> +connect to a host/);
  assert.match(r.stdout, /--version/);
  assert.not.match(r.stdout, /dispatcher/);
});

test('no command or an unknown one: the usage on stderr, exit status 1', async () => {
  const none = await cli();
  assert.is(none.code, 1);
  assert.match(none.stderr, /^usage: mirai <command>/);
  const bad = await cli('deamon');
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /^mirai: unknown command 'deamon'\nusage:/);
});

test.run();
