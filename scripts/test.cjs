#!/usr/bin/env node
// `npm test`: runs the uvu suites under test/ (TypeScript through tsx), like `uvu -r tsx test
// <pattern>`, and then makes sure the run ends. A suite that leaves something running (a child
// process, a socket, a timer) would otherwise keep this process alive after uvu's summary until
// CI's timeout: instead, after a grace period, the leftovers are listed, every child process the
// helpers started is killed, and the run fails.
//
//   node --import tsx scripts/test.cjs [pattern]   (a regular expression on paths under test/)
'use strict';
const path = require('node:path');

const GRACE_MS = 10000;
const root = path.join(__dirname, '..');
const pattern = process.argv[2] || '\\.test\\.ts$';

// Colours only on a terminal (uvu's kleur would otherwise decide per stream); never forced into
// a redirected log.
if (process.env.FORCE_COLOR === undefined && !process.stdout.isTTY) process.env.NO_COLOR = '1';
// TypeScript (require and import()) comes from tsx, loaded by `node --import tsx`.
if (!process.execArgv.some((a, i, all) => /tsx/.test(a) && (a.startsWith('--import') || all[i - 1] === '--import'))) {
  require('tsx/cjs'); // run without --import tsx: require() of .ts still works
}
const { parse } = require('uvu/parse');
const { run } = require('uvu/run');

async function main() {
  const ctx = await parse(path.join(root, 'test'), pattern, { cwd: root });
  // Only test files: a pattern like `mirai/` must not pick up test/fixtures/mirai/*.js.
  ctx.suites = ctx.suites.filter((s) => /\.test\.ts$/.test(s.name));
  if (ctx.suites.length === 0) throw new Error(`no test files under test/ match /${pattern}/`);
  // Tests that cannot run here print "[skip] why" and return (test/helpers.ts skipTest): uvu
  // counts them as passed, so its totals are corrected here to count them as skipped.
  let skips = 0;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    if (typeof chunk === 'string') {
      skips += chunk.split('[skip] ').length - 1;
      // uvu's Total counts the tests that ran, without its own test.skip ones: so without these.
      chunk = chunk
        .replace(/(Total: +)(\d+)/, (_, label, n) => label + (Number(n) - skips))
        .replace(/(Passed: +)(\d+)/, (_, label, n) => label + (Number(n) - skips))
        // eslint-disable-next-line no-control-regex -- uvu colours the count
        .replace(/(Skipped: +(?:\x1b\[[0-9;]*m)?)(\d+)/, (_, label, n) => label + (Number(n) + skips));
    }
    return write(chunk, ...rest);
  };
  await run(ctx.suites, { bail: false });
  process.stdout.write = write;
  // uvu has set process.exitCode. Nothing should be left: give closing handles a moment.
  setTimeout(leftovers, GRACE_MS).unref();
}

function leftovers() {
  const what = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  console.error(
    `\n  The test run did not end ${GRACE_MS / 1000} s after the last suite: still active: ${what.join(', ') || '(nothing Node can name)'}`,
  );
  try {
    require(path.join(root, 'test', 'helpers.ts')).killChildren();
  } catch (e) {
    console.error(`  could not kill the helpers' child processes: ${e.message}`);
  }
  console.error('  A suite left these running; failing the run.\n');
  process.exit(1);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
