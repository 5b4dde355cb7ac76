#!/usr/bin/env node
// Type-checks the tests (plain CommonJS, checked as JavaScript with TypeScript's checkJs) against the declarations
// `npm run build` writes beside each compiled file in dist/: a test's require('../../dist/lib/local/pool') gets
// lib/local/pool.ts's types, so a renamed method or a changed option shape in lib/ fails here, not when the test
// runs. Two programs: tsconfig.test.json (Node: unit, node-red, docker, pack, support, and scripts/) and tsconfig.test-browser.json
// (test/browser, whose page functions also see the DOM's globals).
// Usage: npm run build, then node scripts/typecheck.js (npm run typecheck; npm run lint runs it).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The .ts sources under lib/ and nodes/ whose declaration in dist/ is missing or older than the source. */
function staleDeclarations() {
  const stale = [];
  for (const dir of ['lib', 'nodes']) {
    for (const f of fs.readdirSync(path.join(root, dir), { recursive: true })) {
      const rel = path.join(dir, String(f));
      if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
      const dts = path.join(root, 'dist', rel.replace(/\.ts$/, '.d.ts'));
      const src = fs.statSync(path.join(root, rel));
      if (!fs.existsSync(dts) || fs.statSync(dts).mtimeMs < src.mtimeMs) stale.push(rel);
    }
  }
  return stale;
}

const stale = staleDeclarations();
if (stale.length) {
  const shown = stale.slice(0, 5).join(', ') + (stale.length > 5 ? ` and ${stale.length - 5} more` : '');
  console.error(
    `✗ typecheck: dist/ has no declarations for ${shown}, or older ones than the source: run \`npm run build\` first (the tests are checked against dist/'s .d.ts files)`,
  );
  process.exit(1);
}

let failed = false;
for (const config of ['tsconfig.test.json', 'tsconfig.test-browser.json']) {
  const res = spawnSync(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(`✗ typecheck: ${config} has errors (above)`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
