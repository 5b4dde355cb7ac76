#!/usr/bin/env node
// Runs the whole suite: unit tests, the node tests on Node-RED 4.1 (Node 20) and Node-RED 5 (Node 22),
// the Docker integration tests, the fault tests, the browser tests and the packaging test.
// Usage: node scripts/test.js [unit|nodes|integration|faults|e2e|pack ...]
// `faults` (test/integration/faults.test.js) stops and kills the Docker engine: never run it on an engine
// that other test runs share. `integration` is everything else in test/integration.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
// Inside npm scripts `node` is the node@22 devDependency; npm itself runs on the machine's Node.
const node20 = process.env.npm_node_execpath || process.execPath;
const node22 = path.join(root, 'node_modules', 'node', 'bin', 'node');
const nodeRed4 = require.resolve('node-red-v4', { paths: [root] });
const nodeRed5 = require.resolve('node-red', { paths: [root] });

function version(bin) {
  return spawnSync(bin, ['-v'], { encoding: 'utf8' }).stdout.trim();
}

function run(label, bin, args, env = {}) {
  console.log(`\n=== ${label} (node ${version(bin)}) ===`);
  const res = spawnSync(bin, [mocha, ...args], { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (res.status !== 0) {
    console.error(`\n✗ ${label} failed`);
    process.exit(res.status || 1);
  }
}

const has = (dir) => fs.existsSync(path.join(root, 'test', dir)) && fs.readdirSync(path.join(root, 'test', dir)).some((f) => f.endsWith('.test.js'));
const wanted = process.argv.slice(2);
const want = (s) => wanted.length === 0 || wanted.includes(s);
const common = ['--exit', '--recursive'];

if (want('unit') && has('unit')) run('unit tests', node20, [...common, 'test/unit']);
if (want('nodes') && has('nodes')) {
  run('node tests, Node-RED 4.1', node20, [...common, 'test/nodes'], { NODE_RED_PATH: nodeRed4 });
  run('node tests, Node-RED 5', node22, [...common, 'test/nodes'], { NODE_RED_PATH: nodeRed5 });
}
const FAULTS = 'test/integration/faults.test.js';
if (want('integration') && has('integration')) {
  const files = fs.readdirSync(path.join(root, 'test', 'integration')).filter((f) => f.endsWith('.test.js')).map((f) => `test/integration/${f}`).filter((f) => f !== FAULTS);
  run('Docker integration tests', node20, [...common, '--timeout', '120000', ...files]);
}
if (want('faults') && fs.existsSync(path.join(root, FAULTS))) run('Docker fault tests (stops the engine)', node20, [...common, '--timeout', '120000', FAULTS]);
if (want('e2e') && has('e2e')) {
  run('browser tests, Node-RED 4.1', node20, [...common, '--timeout', '180000', 'test/e2e'], { NODE_RED_PATH: nodeRed4 });
  run('browser tests, Node-RED 5', node22, [...common, '--timeout', '180000', 'test/e2e'], { NODE_RED_PATH: nodeRed5 });
}
if (want('pack') && has('pack')) run('npm pack install test', node22, [...common, '--timeout', '300000', 'test/pack']);
console.log('\n✓ all test groups passed');
