#!/usr/bin/env node
// Runs the whole suite, by what each test needs (test/<group>):
//   unit      test/unit: plain Node, no Docker, no Node-RED.
//   node-red  test/node-red: a real Node-RED (node-red-node-test-helper in this process, or Node-RED's CLI), no
//             Docker; run on Node-RED 4.1 (Node 20) and on Node-RED 5 (Node 22).
//   docker    test/docker: the Docker engine. test/docker/node-red (Node-RED through the test helper) runs on
//             Node-RED 4.1 and 5 like test/node-red; the rest once, on Node 20 (they start the Node-RED they need).
//   faults    test/docker/engine-faults.test.js alone: it stops and kills the Docker engine, never run it on an
//             engine that other test runs share (the docker group leaves it out).
//   browser   test/browser: Chromium on a real Node-RED 4.1 and 5 (and Docker for some).
//   pack      test/pack: the npm pack of this package installed into a Node-RED.
// Usage: node scripts/test.js [unit|node-red|docker|faults|browser|pack ...]   (no group: all of them)
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.resolve(__dirname, '..');
const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
// The machine's Node (Node 20 in CI) runs Node-RED 4.1; Node-RED 5 runs on Node 22 from scripts/node22.js.
const node20 = process.env.npm_node_execpath || process.execPath;
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

/** The *.test.js files under test/<dir> (subfolders included), as paths from the repository root, sorted. */
function testFiles(dir) {
  const abs = path.join(root, 'test', dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => path.posix.join('test', dir, f.split(path.sep).join('/')))
    .sort();
}
const has = (dir) => testFiles(dir).length > 0;
const GROUPS = ['unit', 'node-red', 'docker', 'faults', 'browser', 'pack'];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((g) => !GROUPS.includes(g));
if (unknown.length) {
  console.error(
    `✗ unknown test group ${unknown.map((g) => `'${g}'`).join(', ')}: the groups are ${GROUPS.join(', ')} (test/nodes is now test/node-red and test/docker/node-red, test/integration test/docker, test/e2e test/browser)`,
  );
  process.exit(2);
}
const want = (s) => wanted.length === 0 || wanted.includes(s);
const common = ['--exit', '--recursive'];

// Node 22 for Node-RED 5: fetched into a cache outside the repository on first use (scripts/node22.js) and
// handed to the tests (their helpers start Node-RED 5 processes) as LEON_NODE22. In CI a Node 22 that cannot
// be had fails the run; elsewhere (offline, say) the Node-RED 5 groups are skipped and the summary says so.
const skipped = [];
let node22 = null;
if (['node-red', 'docker', 'faults', 'browser', 'pack'].some(want)) {
  try {
    node22 = require('./node22').ensure();
    process.env.LEON_NODE22 = node22;
  } catch (err) {
    if (process.env.CI) {
      console.error(`\n✗ Node 22 for the Node-RED 5 tests: ${err.message}`);
      process.exit(1);
    }
    console.error(`\n! Node 22 for the Node-RED 5 tests: ${err.message}\n! The Node-RED 5 test groups are skipped.`);
  }
}
function run22(label, args, env) {
  if (node22) run(label, node22, args, env);
  else skipped.push(label);
}

if (want('unit') && has('unit')) run('unit tests', node20, [...common, 'test/unit']);

if (want('node-red') && has('node-red')) {
  const files = testFiles('node-red');
  run('Node-RED tests, Node-RED 4.1', node20, [...common, ...files], { NODE_RED_PATH: nodeRed4 });
  run22('Node-RED tests, Node-RED 5', [...common, ...files], { NODE_RED_PATH: nodeRed5 });
}
const FAULTS = 'test/docker/engine-faults.test.js';
if (want('docker') && has('docker')) {
  const nodeRedFiles = testFiles('docker/node-red');
  if (nodeRedFiles.length) {
    run('Docker tests through the Node-RED test helper, Node-RED 4.1', node20, [...common, ...nodeRedFiles], { NODE_RED_PATH: nodeRed4 });
    run22('Docker tests through the Node-RED test helper, Node-RED 5', [...common, ...nodeRedFiles], { NODE_RED_PATH: nodeRed5 });
  }
  const files = testFiles('docker').filter((f) => f !== FAULTS && !nodeRedFiles.includes(f));
  if (files.length) run('Docker tests', node20, [...common, '--timeout', '120000', ...files]);
}
if (want('faults') && fs.existsSync(path.join(root, FAULTS))) run('Docker fault tests (stops the engine)', node20, [...common, '--timeout', '120000', FAULTS]);
if (want('browser') && has('browser')) {
  run('browser tests, Node-RED 4.1', node20, [...common, '--timeout', '180000', 'test/browser'], { NODE_RED_PATH: nodeRed4 });
  run22('browser tests, Node-RED 5', [...common, '--timeout', '180000', 'test/browser'], { NODE_RED_PATH: nodeRed5 });
}
if (want('pack') && has('pack')) run22('npm pack install test', [...common, '--timeout', '300000', 'test/pack']);
if (skipped.length) console.log(`\n✓ the test groups that ran passed; skipped for want of Node 22: ${skipped.join(', ')}`);
else console.log('\n✓ all test groups passed');
