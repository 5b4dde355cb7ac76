'use strict';
// Hostile manifests on a real Node-RED process (the version under test, started from its CLI): a 500-byte
// manifest of nested YAML aliases ("billion laughs") through the editor's lookup endpoint and as the
// catalog of a deployed runtime, also across a restart. Node-RED must answer with a clear error at once,
// stay up, not grow, and go on serving legitimate manifests. And `function:` files outside the manifest's
// folder, or Node-RED's own files next to a manifest in the user directory (its credentials and their key),
// whose content the runtime's OpenWhisk API would serve as action code. No Docker is used: the
// runtime's engine points at a socket that does not exist, and nothing here starts a container.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../browser/support/env');

const MiB = 1024 * 1024;
const NO_DOCKER = 'unix:///nonexistent/leon-openwhisk-test-docker.sock';

/** Nine levels of nine aliases: 9^9 strings once expanded; the alias chain starts on line 2. */
function laughs() {
  const names = 'abcdefghi'.split('');
  const lines = [`a: &a [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < 9; i++)
    lines.push(
      `${names[i]}: &${names[i]} [${Array(9)
        .fill(`*${names[i - 1]}`)
        .join(', ')}]`,
    );
  lines.push(
    'packages:',
    '  demo:',
    '    inputs:',
    '      lol: *i',
    '    actions:',
    '      hello:',
    '        function: hello.js',
    '        runtime: nodejs:20',
  );
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

const KEY = '7e1f0a55-3333-4ed5-8c54-816aa4f8c502:Qm3v8XkP2rT7wL9sN4yB6hJ1cF5dG0aZeR8tY2uI6oP4lK7jH3gS9dA1fW5qE0zX';
const SECRET = 'TOP-SECRET-NEXT-TO-THE-USER-DIRECTORY';

/** GET an action (with its code) from a runtime's OpenWhisk API served at /openwhisk/<apiPath>. */
async function getAction(nr, apiPath, name) {
  const res = await fetch(`${nr.url}/openwhisk/${apiPath}/api/v1/namespaces/_/actions/${name}`, {
    headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` },
    signal: AbortSignal.timeout(15000),
  });
  return { status: res.status, text: await res.text() };
}

async function waitForLog(nr, re, ms = 10000) {
  const end = Date.now() + ms;
  while (!re.test(nr.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.match(nr.log(), re);
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

  it("billion laughs as a deployed runtime's catalog: the action node says why, Node-RED stays up, and restarts", async () => {
    const before = peakRss(nr.pid);
    const flows = [
      { id: 'tab', type: 'tab', label: 't' },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', source: 'manifest', manifest: 'laughs.yaml', docker: NO_DOCKER },
      { id: 'act', type: 'openwhisk-action', z: 'tab', runtime: 'rt', action: 'demo/hello', params: [], wires: [[]] },
    ];
    await deploy(nr, flows);
    const error = /\[openwhisk-action:act\] Manifest .*laughs\.yaml:\d+:\d+: too large with its YAML aliases expanded/;
    await waitForLog(nr, error);
    assert.ok(await alive(nr));
    const growth = peakRss(nr.pid) - before;
    assert.ok(growth < 50 * MiB, `peak RSS grew ${(growth / MiB).toFixed(1)} MB`);

    // The flow is saved: a restart loads the same manifest at start-up, and must come up again.
    const userDir = nr.userDir;
    await nr.stop({ keep: true });
    nr = undefined;
    nr = await env.startNodeRed({ ...opts, userDir });
    // The server may be up before the flows have started and the action node has logged.
    await waitForLog(nr, error);
    assert.ok(await alive(nr));
    const mine = await lookup(nr, 'manifest.yaml');
    assert.equal(mine.status, 200, mine.text);
  });

  describe("function files outside the manifest's folder", function () {
    let gw;
    before(() => {
      // A manifest in its own folder of the user directory; a secret next to that folder, and a big file.
      gw = path.join(nr.userDir, 'gw');
      fs.mkdirSync(gw);
      fs.writeFileSync(path.join(nr.userDir, 'secret.js'), `// ${SECRET}\n`);
      fs.writeFileSync(path.join(gw, 'a.js'), 'function main() { return { a: 1 }; }\n');
      fs.symlinkSync(path.join(nr.userDir, 'secret.js'), path.join(gw, 'link.js'));
      fs.writeFileSync(path.join(gw, 'big.js'), '');
      fs.truncateSync(path.join(gw, 'big.js'), 48 * MiB + 1);
      const one = (fn) => `packages:\n  demo:\n    actions:\n      a:\n        function: ${JSON.stringify(fn)}\n        runtime: nodejs:20\n`;
      fs.writeFileSync(path.join(gw, 'manifest.yaml'), one('a.js'));
      for (const [name, fn] of [
        ['abs', '/etc/passwd'],
        ['dotdot', '../secret.js'],
        ['link', 'link.js'],
        ['zero', '/dev/zero'],
        ['big', 'big.js'],
      ]) {
        fs.writeFileSync(path.join(gw, `${name}.yaml`), one(fn));
      }
    });

    it('the editor lookup names the manifest, its line, the action and the path; never reads the file', async () => {
      /** @type {Array<[string, string, RegExp]>} */
      const cases = [
        ['abs', '/etc/passwd', /is outside the manifest's folder/],
        ['dotdot', '../secret.js', /is outside the manifest's folder .*\(it resolves to .*secret\.js\)/],
        ['link', 'link.js', /is outside the manifest's folder .*\(it resolves to .*secret\.js\)/],
        ['zero', '/dev/zero', /is outside the manifest's folder/],
        ['big', 'big.js', /is larger than 48 MB/],
      ];
      for (const [name, fn, re] of cases) {
        const r = await lookup(nr, `gw/${name}.yaml`);
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.match(
          r.json.error,
          new RegExp(`^Manifest .*/gw/${name}\\.yaml:5:\\d+: action 'a': function file '${fn.replace(/[./]/g, '\\$&')}' ${re.source}`),
          name,
        );
        assert.doesNotMatch(r.text, /root:|TOP-SECRET/);
      }
      const ok = await lookup(nr, 'gw/manifest.yaml');
      assert.equal(ok.status, 200, ok.text);
      assert.ok(await alive(nr));
    });

    it("the runtime's OpenWhisk API never serves such a file as action code: at deploy, nor when it is swapped in later", async () => {
      const runtime = (id, manifest, apiPath) => ({
        id,
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest,
        docker: NO_DOCKER,
        serveApi: true,
        apiPath,
        apiNamespace: 'guest',
        credentials: { apiKey: KEY },
      });
      await deploy(nr, [
        { id: 'tab', type: 'tab', label: 't' },
        runtime('rt-ok', 'gw/manifest.yaml', 'gwok'),
        runtime('rt-out', 'gw/dotdot.yaml', 'gwout'),
        { id: 'act-out', type: 'openwhisk-action', z: 'tab', runtime: 'rt-out', action: 'demo/a', params: [], wires: [[]] },
      ]);
      // The deploy's answer may come before the new flows have mounted their APIs.
      let ok;
      for (const end = Date.now() + 10000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        ok = await getAction(nr, 'gwok', 'demo/a');
        if (ok.status !== 404) break;
      }
      assert.equal(ok.status, 200, ok.text);
      assert.match(JSON.parse(ok.text).exec.code, /return \{ a: 1 \}/);
      const out = await getAction(nr, 'gwout', 'demo/a');
      assert.notEqual(out.status, 200, out.text);
      assert.doesNotMatch(out.text, /TOP-SECRET/);
      await waitForLog(
        nr,
        /\[openwhisk-action:act-out\] Manifest .*dotdot\.yaml:5:\d+: action 'a': function file '\.\.\/secret\.js' is outside the manifest's folder/,
      );

      // The file is replaced by a symlink to the secret after the deploy: the API answers an error.
      fs.rmSync(path.join(gw, 'a.js'));
      fs.symlinkSync(path.join(nr.userDir, 'secret.js'), path.join(gw, 'a.js'));
      const swapped = await getAction(nr, 'gwok', 'demo/a');
      assert.notEqual(swapped.status, 200, swapped.text);
      assert.doesNotMatch(swapped.text, /TOP-SECRET/);
      assert.ok(await alive(nr));
    });
  });

  describe("a manifest in the user directory itself: Node-RED's own files are not action code", function () {
    // What a real Node-RED keeps there by now (the deploys above saved flows with credentials), and this
    // package's activation records.
    /** @type {Array<[string, string, RegExp]>} */
    const OWN = [
      ['cfg', '.config.runtime.json', /is refused: '\.config\.runtime\.json' begins with '\.'/],
      ['cred', 'flows_cred.json', /is refused: it is a \.json file/],
      ['flows', 'flows.json', /is refused: it is a \.json file/],
      ['settings', 'settings.js', /is refused: it is named settings\.js/],
      ['act', '.leon-openwhisk/activations/x.jsonl', /is refused: '\.leon-openwhisk' begins with '\.'/],
    ];
    const one = (fn) => `packages:\n  demo:\n    actions:\n      a:\n        function: ${JSON.stringify(fn)}\n        runtime: nodejs:20\n`;
    /** The content of the user directory's own files that exist, none of which may appear in an answer. */
    const contents = () =>
      OWN.map(([, fn]) => path.join(nr.userDir, fn))
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, 'utf8').trim())
        .filter((c) => c.length > 8);
    before(() => {
      fs.mkdirSync(path.join(nr.userDir, '.leon-openwhisk', 'activations'), { recursive: true });
      fs.writeFileSync(path.join(nr.userDir, '.leon-openwhisk', 'activations', 'x.jsonl'), `{"note":"${SECRET}"}\n`);
      for (const [name, fn] of OWN) fs.writeFileSync(path.join(nr.userDir, `own-${name}.yaml`), one(fn));
    });

    it('the editor lookup refuses each, naming the manifest, its line, the action and the path; a code file next to a manifest there works', async () => {
      assert.ok(
        fs.existsSync(path.join(nr.userDir, 'flows_cred.json')) && fs.existsSync(path.join(nr.userDir, '.config.runtime.json')),
        'Node-RED has written its credentials and their key',
      );
      const secrets = contents();
      for (const [name, fn, re] of OWN) {
        const r = await lookup(nr, `own-${name}.yaml`);
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.match(
          r.json.error,
          new RegExp(`^Manifest .*/own-${name}\\.yaml:5:\\d+: action 'a': function file '${fn.replace(/[./]/g, '\\$&')}' ${re.source}`),
          name,
        );
        assert.match(r.json.error, /keep each manifest and its code in a folder of their own/);
        for (const c of secrets) assert.ok(!r.text.includes(c), `${name}: the answer holds a file's content`);
        assert.doesNotMatch(r.text, /TOP-SECRET/);
      }
      const ok = await lookup(nr, 'manifest.yaml');
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json.actions, [{ name: 'mine/hi', kind: 'nodejs:20' }]);
    });

    it("the runtime's OpenWhisk API never serves them; it serves the code file next to a manifest in the user directory", async () => {
      const runtime = (id, manifest, apiPath) => ({
        id,
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest,
        docker: NO_DOCKER,
        serveApi: true,
        apiPath,
        apiNamespace: 'guest',
        credentials: { apiKey: KEY },
      });
      await deploy(nr, [
        { id: 'tab', type: 'tab', label: 't' },
        runtime('rt-ud-ok', 'manifest.yaml', 'udok'),
        runtime('rt-ud-cfg', 'own-cfg.yaml', 'udcfg'),
        runtime('rt-ud-cred', 'own-cred.yaml', 'udcred'),
        { id: 'act-ud', type: 'openwhisk-action', z: 'tab', runtime: 'rt-ud-cred', action: 'demo/a', params: [], wires: [[]] },
      ]);
      let ok;
      for (const end = Date.now() + 10000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        ok = await getAction(nr, 'udok', 'mine/hi');
        if (ok.status !== 404) break;
      }
      assert.equal(ok.status, 200, ok.text);
      assert.equal(JSON.parse(ok.text).exec.code, 'function main() { return {}; }');
      const secrets = contents();
      for (const apiPath of ['udcfg', 'udcred']) {
        const r = await getAction(nr, apiPath, 'demo/a');
        assert.notEqual(r.status, 200, `${apiPath}: ${r.text}`);
        for (const c of secrets) assert.ok(!r.text.includes(c), `${apiPath}: the answer holds a file's content`);
      }
      await waitForLog(
        nr,
        /\[openwhisk-action:act-ud\] Manifest .*own-cred\.yaml:5:\d+: action 'a': function file 'flows_cred\.json' is refused: it is a \.json file/,
      );
      assert.ok(await alive(nr));
    });
  });
});
