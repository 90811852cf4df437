// `npm run bench`: bench/nng (the addon against NNG's C perf tools), then bench/mirai (this
// package against piscina, tinypool, workerpool and child_process.fork).
// BENCH=nng or BENCH=mirai runs one of them.
const which = (process.env.BENCH ?? '').trim().toLowerCase();
const SUITES = ['nng', 'mirai'] as const;

async function main(): Promise<void> {
  if (which && !(SUITES as readonly string[]).includes(which)) {
    throw new Error(`BENCH must be one of ${SUITES.join(', ')} (got '${process.env.BENCH}')`);
  }
  const suites = which ? [which] : [...SUITES];
  for (const [i, s] of suites.entries()) {
    if (i > 0) console.log('');
    // Loaded on demand: each suite needs only what it measures (bench/mirai needs dist/).
    const mod: { run(): Promise<void> } = s === 'nng' ? await import('./nng') : await import('./mirai');
    await mod.run();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
