#!/usr/bin/env node
'use strict';
// `npm run check:layers`: the architecture of lib/ as a rule a machine checks. lib/ is split by
// side of the wire (lib/host, lib/dispatcher, lib/daemon, lib/wire, lib/launchers, lib/nng), and
// this reads the import graph of the TypeScript sources (import, export ... from, require())
// and fails when:
//
//  - host-side code (lib/host, lib/launchers, lib/dispatcher) reaches the daemon runtime: it may
//    import lib/daemon/options.ts (options and argv, runtime-free) and nothing else of lib/daemon,
//    directly or through other modules; the one exception is lib/host/sync.ts, which runs the
//    daemon in the host's process for daemons({ sync: true }) and loads it only then;
//  - lib/daemon imports lib/host, lib/dispatcher or lib/launchers;
//  - lib/wire (what both sides share) imports lib/host, lib/daemon, lib/dispatcher or lib/launchers;
//  - lib/daemon/options.ts imports any other lib/daemon file;
//  - modules import each other in a cycle (type-only imports, erased by tsc, do not count).
//
// Type-only imports count for the layer rules (a type from the daemon runtime is still a
// dependency on it), not for cycles. Exit status 1 with one line per violation.
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const lib = path.join(root, 'lib');

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The lib/-relative module a relative specifier names (without .ts), or null if outside lib/. */
function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const cand of [base + '.ts', path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (fs.existsSync(cand) && cand.startsWith(lib + path.sep)) return path.relative(lib, cand).replace(/\.ts$/, '');
  }
  return null;
}

/** Imports of one file: [{ target, typeOnly }]. */
function importsOf(file) {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out = [];
  const add = (spec, typeOnly) => {
    if (!spec.startsWith('.')) return;
    const target = resolve(file, spec);
    if (target === null) {
      if (spec.endsWith('.json')) return; // package.json: data, not a layer
      throw new Error(`${path.relative(root, file)}: cannot resolve '${spec}'`);
    }
    out.push({ target, typeOnly });
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const named = c && c.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      const typeOnly =
        !!c && (c.isTypeOnly || (!c.name && named !== null && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : null;
      add(
        node.moduleSpecifier.text,
        node.isTypeOnly || (named !== null && named.length > 0 && named.every((e) => e.isTypeOnly)),
      );
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      add(node.moduleReference.expression.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

const graph = new Map(); // module -> [{ target, typeOnly }]
for (const file of walk(lib)) graph.set(path.relative(lib, file).replace(/\.ts$/, ''), importsOf(file));

const layer = (m) => (m.includes('/') ? m.slice(0, m.indexOf('/')) : 'top');
const DAEMON_OPTIONS = 'daemon/options';
const HOST_SIDE = new Set(['host', 'launchers', 'dispatcher']);
const FORBIDDEN = {
  daemon: new Set(['host', 'dispatcher', 'launchers']),
  wire: new Set(['host', 'daemon', 'dispatcher', 'launchers']),
};
const problems = [];

for (const [m, deps] of graph) {
  const from = layer(m);
  for (const { target } of deps) {
    const to = layer(target);
    if (FORBIDDEN[from]?.has(to)) problems.push(`${m} imports ${target}: lib/${from} may not import lib/${to}`);
    if (m === DAEMON_OPTIONS && to === 'daemon')
      problems.push(`${m} imports ${target}: the daemon's options file must stay runtime-free`);
  }
}

// Host side: nothing of the daemon runtime, also not through other modules (a path is shown).
// daemons({ sync: true }) runs the daemon in this process: lib/host/sync.ts loads it lazily.
const SYNC = 'host/sync';
for (const [m] of graph) {
  if (!HOST_SIDE.has(layer(m))) continue;
  const seen = new Map([[m, null]]);
  const queue = [m];
  while (queue.length) {
    const cur = queue.shift();
    for (const { target } of graph.get(cur) || []) {
      if (cur === SYNC && layer(target) === 'daemon') continue;
      if (seen.has(target)) continue;
      seen.set(target, cur);
      if (layer(target) === 'daemon' && target !== DAEMON_OPTIONS) {
        const chain = [target];
        for (let p = cur; p !== null; p = seen.get(p)) chain.unshift(p);
        problems.push(`${m} reaches the daemon runtime: ${chain.join(' -> ')}`);
        continue;
      }
      queue.push(target);
    }
  }
}

// Cycles among runtime imports (Tarjan's strongly connected components).
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
function strong(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const { target: w, typeOnly } of graph.get(v) || []) {
    if (typeOnly || !graph.has(w)) continue;
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    const self = (graph.get(v) || []).some((d) => !d.typeOnly && d.target === v);
    if (comp.length > 1 || self) problems.push(`import cycle: ${comp.reverse().join(' <-> ')}`);
  }
}
for (const v of graph.keys()) if (!idx.has(v)) strong(v);

if (problems.length) {
  for (const p of problems) console.error(`check:layers: ${p}`);
  console.error(`check:layers: ${problems.length} problem(s) in ${graph.size} modules`);
  process.exit(1);
}
console.log(`check:layers: ${graph.size} modules under lib/, no layer violations, no import cycles`);
