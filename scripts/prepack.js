#!/usr/bin/env node
'use strict';
// `npm pack` / `npm publish` run this first (package.json "prepack"). It refuses to make a
// tarball unless all six prebuilds are there, unchanged since they were built, and built from
// the current native sources (prebuilds/manifest.json): a release without prebuilds would make
// every user compile, so this step cannot be forgotten. `npm run prebuild:all` makes them.
//
// MIRAI_PACK_PARTIAL=1 packs whatever is there (for a local try of the tarball, as
// test/prebuild.test.ts does with the host's prebuild only); it says what is missing.
const manifest = require('./prebuilds-manifest');

const problems = manifest.problems();
if (problems.length === 0) {
  console.error('prepack: all six prebuilds present and built from the current sources');
} else if (process.env.MIRAI_PACK_PARTIAL === '1') {
  console.error(`prepack: MIRAI_PACK_PARTIAL=1, packing anyway; NOT fit to publish:\n  ${problems.join('\n  ')}`);
} else {
  console.error(
    `prepack: refusing to pack, the prebuilds are not ready:\n  ${problems.join('\n  ')}\n` +
      'Run `npm run prebuild:all` (about 10 minutes; toolchains via scripts/cross-setup.sh), then pack again.',
  );
  process.exit(1);
}
