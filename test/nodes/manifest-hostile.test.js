'use strict';
// Hostile manifests on a real Node-RED process (the version under test, started from its CLI): a 500-byte
// manifest of nested YAML aliases ("billion laughs") through the editor's lookup endpoint and as the
// catalog of a deployed runtime, also across a restart. Node-RED must answer with a clear error at once,
// stay up, not grow, and go on serving legitimate manifests. No Docker is used: the runtime's engine
// points at a socket that does not exist, and nothing here starts a container.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../e2e/support/env');

const MiB = 1024 * 1024;
const NO_DOCKER = 'unix:///nonexistent/leon-openwhisk-test-docker.sock';

/** Nine levels of nine aliases: 9^9 strings once expanded; the alias chain starts on line 2. */
function laughs() {
  const names = 'abcdefghi'.split('');
  const lines = [`a: &a [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < 9; i++) lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(', ')}]`);
  lines.push('packages:', '  demo:', '    inputs:', '      lol: *i', '    actions:', '      hello:', '        function: hello.js', '        runtime: nodejs:20');
  return `${lines.join('\n')}\n`;
}

const MANIFEST = 'packages:\n  mine:\n    actions:\n      hi:\n        function: hi.js\n        runtime: nodejs:20\n';

/** Peak resident memory of a process so far (VmHWM), in bytes. */
function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

async function lookup(nr, manifest) {
  const res = await fetch(`${nr.url}/leon-openwhisk/manifest/entities`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ manifest }),
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

async function deploy(nr, flows) {
  const res = await fetch(`${nr.url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify(flows),
    signal: AbortSignal.timeout(15000),
  });
  assert.equal(res.status, 204, await res.text());
}

const alive = async (nr) => (await fetch(`${nr.url}/settings`, { signal: AbortSignal.timeout(5000) })).status === 200;

describe('hostile manifests on a real Node-RED', function () {
  this.timeout(120000);
  let nr;
  // A heap cap, so that a regression dies quickly instead of taking the machine's memory with it.
  const opts = { env: { NODE_OPTIONS: '--max-old-space-size=1024' } };

  before(async function () {
    env.checkBuild();
    nr = await env.startNodeRed(opts);
    fs.writeFileSync(path.join(nr.userDir, 'laughs.yaml'), laughs());
    fs.writeFileSync(path.join(nr.userDir, 'hello.js'), 'function main() { return {}; }');
    fs.writeFileSync(path.join(nr.userDir, 'manifest.yaml'), MANIFEST);
    fs.writeFileSync(path.join(nr.userDir, 'hi.js'), 'function main() { return {}; }');
  });

  after(async () => {
    if (nr) await nr.stop();
  });

  afterEach(function () {
    if (this.currentTest.state === 'failed' && nr) console.log(nr.log().split('\n').slice(-30).join('\n'));
  });

  it('billion laughs through the editor lookup: a clear error at once, Node-RED stays up and small, the next lookup works', async () => {
    assert.ok(fs.statSync(path.join(nr.userDir, 'laughs.yaml')).size < 700);
    const before = peakRss(nr.pid);
    const t = Date.now();
    const r = await lookup(nr, 'laughs.yaml');
    const ms = Date.now() - t;
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'config');
    assert.match(r.json.error, /^Manifest .*laughs\.yaml:\d+:\d+: too large with its YAML aliases expanded: more than 100000 values/);
    assert.match(r.json.error, /Write shared values out/);
    assert.ok(ms < 3000, `answered in ${ms} ms`);
    assert.ok(await alive(nr));
    const growth = peakRss(nr.pid) - before;
    assert.ok(growth < 50 * MiB, `peak RSS grew ${(growth / MiB).toFixed(1)} MB`);
    const mine = await lookup(nr, 'manifest.yaml');
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.actions, [{ name: 'mine/hi', kind: 'nodejs:20' }]);
  });

  it('billion laughs as a deployed runtime\'s catalog: the action node says why, Node-RED stays up, and restarts', async () => {
    const before = peakRss(nr.pid);
    const flows = [
      { id: 'tab', type: 'tab', label: 't' },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', source: 'manifest', manifest: 'laughs.yaml', docker: NO_DOCKER },
      { id: 'act', type: 'openwhisk-action', z: 'tab', runtime: 'rt', action: 'demo/hello', params: [], wires: [[]] },
    ];
    await deploy(nr, flows);
    const error = /\[openwhisk-action:act\] Manifest .*laughs\.yaml:\d+:\d+: too large with its YAML aliases expanded/;
    const end = Date.now() + 10000;
    while (!error.test(nr.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    assert.match(nr.log(), error);
    assert.ok(await alive(nr));
    const growth = peakRss(nr.pid) - before;
    assert.ok(growth < 50 * MiB, `peak RSS grew ${(growth / MiB).toFixed(1)} MB`);

    // The flow is saved: a restart loads the same manifest at start-up, and must come up again.
    const userDir = nr.userDir;
    await nr.stop({ keep: true });
    nr = undefined;
    nr = await env.startNodeRed({ ...opts, userDir });
    assert.match(nr.log(), error);
    assert.ok(await alive(nr));
    const mine = await lookup(nr, 'manifest.yaml');
    assert.equal(mine.status, 200, mine.text);
  });
});
