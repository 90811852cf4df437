// `npm run bench`: bench/nng (the addon against NNG's C perf tools), then bench/compare (this
// package and R's mirai side by side, alternating passes), then bench/mirai (this package against
// piscina, tinypool, workerpool and child_process.fork). BENCH=nng, compare or mirai runs one of
// them (a comma-separated list runs those). Never part of `npm test`. See docs/benchmarks.md.
const SUITES = ['nng', 'compare', 'mirai'] as const;
type Suite = (typeof SUITES)[number];

async function load(s: Suite): Promise<{ run(): Promise<void> }> {
  // Loaded on demand: each suite needs only what it measures (compare and mirai need dist/).
  if (s === 'nng') return import('./nng');
  if (s === 'compare') return import('./compare');
  return import('./mirai');
}

async function main(): Promise<void> {
  const asked = (process.env.BENCH ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const bad = asked.filter((s) => !(SUITES as readonly string[]).includes(s));
  if (bad.length) throw new Error(`BENCH must be one or more of ${SUITES.join(', ')} (got '${process.env.BENCH}')`);
  const suites = asked.length ? SUITES.filter((s) => asked.includes(s)) : [...SUITES];
  const t0 = Date.now();
  for (const [i, s] of suites.entries()) {
    if (i > 0) console.log('');
    const mod = await load(s);
    await mod.run();
  }
  if (suites.length > 1) console.log(`\n(npm run bench took ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
