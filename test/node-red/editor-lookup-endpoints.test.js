'use strict';
// The editor's lookup endpoints on a real Node-RED process (the version under test, started from its
// CLI with no adminAuth, its default), driven with real HTTP requests as a hostile web page could send
// them: form posts (no CORS preflight needed) and JSON. A listener on loopback records every connection
// and request that reaches it: a stored key must never go to any host but its own service's.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const env = require('../browser/support/env');
const { startOpenWhiskServer } = require('../support/openwhisk-server');

const STORED_KEY = '5a1e6b9c-1111-4ed5-8c54-816aa4f8c502:the-stored-secret-key';
const TYPED_KEY = '0d0d0d0d-2222-4ed5-8c54-816aa4f8c502:typed-in-the-dialog';
const SECRET = 'root:x:0:0:TOP-SECRET-LINE';

/** A loopback HTTP listener that records every connection and request (with its Authorization). */
function startRecorder() {
  const seen = { connections: 0, requests: [] };
  const srv = http.createServer((req, res) => {
    seen.requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization || '' });
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"nothing here","code":"x"}');
  });
  srv.on('connection', () => seen.connections++);
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      resolve({ url: `http://127.0.0.1:${port}`, port, seen, stop: () => new Promise((r) => srv.close(r)) });
    }),
  );
}

const decode = (auth) => Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8');

async function post(url, body, type, headers = {}) {
  const data = type === 'form' ? new URLSearchParams(body).toString() : JSON.stringify(body);
  const contentType = { form: 'application/x-www-form-urlencoded', text: 'text/plain', json: 'application/json' }[type];
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body: data });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

describe('editor lookup endpoints on a real Node-RED (hostile requests)', function () {
  this.timeout(120000);
  let nr;
  let ow;
  let rec;
  const entities = () => `${nr.url}/leon-openwhisk/entities`;
  const manifest = () => `${nr.url}/leon-openwhisk/manifest/entities`;

  before(async function () {
    this.timeout(120000);
    env.checkBuild();
    ow = await startOpenWhiskServer({ users: { guest: STORED_KEY } });
    ow.putAction('guest', 'hello', { exec: { kind: 'nodejs:20', code: 'function main() { return {}; }' } });
    ow.putAction('guest', 'boxed', { exec: { kind: 'blackbox', image: 'example/echo:1' } });
    ow.putAction('guest', 'zipped', { exec: { kind: 'nodejs:20', code: Buffer.from('PK not really a zip').toString('base64'), binary: true } });
    ow.putTrigger('guest', 'reading');
    ow.putTrigger('guest', 'alarm');
    rec = await startRecorder();
    // The editor is also served through a proxy under another name (settings.js says so).
    nr = await env.startNodeRed({ settings: { openwhiskServiceEditorOrigins: ['https://nodered.example'] } });
    const flows = [
      { id: 'tab', type: 'tab', label: 't' },
      { id: 'svc', type: 'openwhisk-service', api: ow.url, insecure: false, credentials: { key: STORED_KEY } },
      { id: 'inj', type: 'inject', z: 'tab', props: [], repeat: '', once: false, wires: [] },
    ];
    const res = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    assert.equal(res.status, 204, await res.text());
    // The user directory of a gateway: a manifest, a non-manifest .yaml with a secret, tricks.
    const u = nr.userDir;
    fs.writeFileSync(path.join(u, 'manifest.yaml'), 'packages:\n  mine:\n    actions:\n      hi:\n        function: hi.js\n        runtime: nodejs:20\n');
    fs.writeFileSync(path.join(u, 'hi.js'), 'function main() { return {}; }');
    fs.writeFileSync(path.join(u, 'secrets.txt'), `${SECRET}\n`);
    fs.writeFileSync(path.join(u, 'notes.yaml'), `${SECRET}\n`);
    fs.writeFileSync(path.join(u, 'bad-manifest.yaml'), 'packages:\n  mine:\n    actions: [1]\n');
    fs.writeFileSync(path.join(u, 'big-manifest.yaml'), `packages: {}\n#${'x'.repeat(1024 * 1024)}\n`);
    fs.symlinkSync('/etc/passwd', path.join(u, 'passwd-manifest.yaml'));
    fs.symlinkSync(path.join(u, 'secrets.txt'), path.join(u, 'secret-manifest.yaml'));
    fs.symlinkSync('/dev/zero', path.join(u, 'zero-manifest.yaml'));
  });

  after(async () => {
    if (nr) await nr.stop();
    if (ow) await ow.stop();
    if (rec) await rec.stop();
  });

  afterEach(function () {
    if (this.currentTest.state === 'failed' && nr) console.log(nr.log().split('\n').slice(-30).join('\n'));
  });

  it('a form post (or any body that is not JSON) gets 415 from both endpoints, and nothing is sent anywhere', async () => {
    const attacks = [
      [entities(), { service: 'svc', api: rec.url }],
      [entities(), { service: 'svc', api: rec.url, insecure: 'true' }],
      [manifest(), { manifest: '/etc/passwd' }],
      [manifest(), { manifest: '/dev/zero' }],
    ];
    for (const [url, body] of attacks) {
      for (const type of ['form', 'text']) {
        const r = await post(url, body, type);
        assert.equal(r.status, 415, `${type} ${url} ${JSON.stringify(body)}: ${r.text}`);
        assert.match(r.json.error, /JSON/);
        assert.doesNotMatch(r.text, /root:|TOP-SECRET/);
      }
    }
    assert.equal(rec.seen.connections, 0, JSON.stringify(rec.seen));
  });

  it("serves only the editor's own page: a request a browser marks as from another site gets 403", async () => {
    const crossSite = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:${rec.port}` }, // another port on the same host is another origin
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site', origin: nr.url },
      // X-Forwarded-Host is a header like any other: anyone reaching Node-RED can send it.
      { origin: 'http://evil.example', 'x-forwarded-host': 'evil.example' },
      { origin: 'http://evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http', forwarded: 'host=evil.example' },
      { origin: 'https://nodered.example.evil.example', 'x-forwarded-host': 'nodered.example.evil.example' },
      { origin: 'http://nodered.example' }, // another scheme is another origin
    ];
    for (const headers of crossSite) {
      for (const [url, body] of [
        [entities(), { service: 'svc', api: rec.url }],
        [manifest(), { manifest: 'examples/manifest.yaml' }],
      ]) {
        const r = await post(url, body, 'json', headers);
        assert.equal(r.status, 403, `${JSON.stringify(headers)} ${url}: ${r.text}`);
        assert.match(r.json.error, /another site/);
        assert.doesNotMatch(r.text, /facedemo/);
      }
    }
    // The editor's own requests: same origin, or through the proxy that settings.js names (whatever it forwards).
    const sameOrigin = [
      { 'sec-fetch-site': 'same-origin', origin: nr.url },
      { origin: nr.url },
      { origin: 'https://nodered.example' },
      { origin: 'https://nodered.example', 'x-forwarded-host': 'other.example' },
      {},
    ];
    for (const headers of sameOrigin) {
      const r = await post(manifest(), { manifest: 'examples/manifest.yaml' }, 'json', headers);
      assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
    }
    assert.equal(rec.seen.connections, 0);
  });

  it('never sends the stored key to a host taken from the request, nor with another TLS setting', async () => {
    const before = rec.seen.connections;
    for (const api of [rec.url, `127.0.0.1:${rec.port}`, `${rec.url}/api/v1`, `http://localhost:${rec.port}`]) {
      const r = await post(entities(), { service: 'svc', api, insecure: false, namespace: '_' }, 'json');
      assert.equal(r.status, 409, `${api}: ${r.text}`);
      assert.match(r.json.error, /type the auth key again/);
    }
    // The service's own host, but TLS verification off: the key would go without the node's own setting.
    const insecure = await post(entities(), { service: 'svc', api: ow.url, insecure: true }, 'json');
    assert.equal(insecure.status, 409, insecure.text);
    assert.match(insecure.json.error, /TLS setting/);
    assert.equal(rec.seen.connections, before, JSON.stringify(rec.seen));
    assert.ok(!rec.seen.requests.some((q) => decode(q.authorization).includes('the-stored-secret-key')));
  });

  it('refuses an id that is not an openwhisk-service node', async () => {
    const r = await post(entities(), { service: 'inj', api: rec.url }, 'json');
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /not an openwhisk-service/);
    // A tab is no node at all for the runtime: like an id nobody deployed, it needs a key typed.
    const tab = await post(entities(), { service: 'tab', api: rec.url }, 'json');
    assert.equal(tab.status, 409, tab.text);
    assert.equal(rec.seen.connections, 0);
  });

  it('uses the deployed service with its own host, key and TLS setting when the dialog matches it', async () => {
    for (const api of [ow.url, `${ow.url}/api/v1/`, undefined]) {
      const r = await post(entities(), { service: 'svc', api, insecure: false, namespace: '_' }, 'json');
      assert.equal(r.status, 200, `${api}: ${r.text}`);
      assert.deepEqual(
        r.json.actions.map((a) => a.name),
        ['boxed', 'hello', 'zipped'],
      );
      assert.deepEqual(
        r.json.triggers.map((t) => t.name),
        ['alarm', 'reading'],
        'the trigger picker of a service',
      );
    }
    assert.equal(rec.seen.connections, 0);
  });

  it("fetches an action's code for the inline editor; says why not for a blackbox or a zip; the same guards", async () => {
    const code = () => `${nr.url}/leon-openwhisk/action-code`;
    const r = await post(code(), { service: 'svc', api: ow.url, insecure: false, namespace: '_', name: 'hello' }, 'json');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.kind, 'nodejs:20');
    assert.equal(r.json.code, 'function main() { return {}; }');
    const boxed = await post(code(), { service: 'svc', api: ow.url, insecure: false, name: 'boxed' }, 'json');
    assert.equal(boxed.status, 422);
    assert.match(boxed.json.error, /'boxed' is a blackbox action: its code is its Docker image \(example\/echo:1\)/);
    const zipped = await post(code(), { service: 'svc', api: ow.url, insecure: false, name: 'zipped' }, 'json');
    assert.equal(zipped.status, 422);
    assert.match(zipped.json.error, /zip archive/);
    const missing = await post(code(), { service: 'svc', api: ow.url, insecure: false, name: 'nope' }, 'json');
    assert.equal(missing.status, 404);
    // The stored key never goes to a host taken from the request; another site's page is refused.
    const elsewhere = await post(code(), { service: 'svc', api: rec.url, name: 'hello' }, 'json');
    assert.equal(elsewhere.status, 409);
    const cross = await post(code(), { service: 'svc', api: ow.url, name: 'hello' }, 'json', { 'sec-fetch-site': 'cross-site' });
    assert.equal(cross.status, 403);
    assert.equal(rec.seen.connections, 0);
  });

  it("a key typed in the dialog goes with the dialog's host: that key, never the stored one", async () => {
    const r = await post(entities(), { service: 'svc', api: rec.url, key: TYPED_KEY, namespace: '_' }, 'json');
    assert.notEqual(r.status, 200);
    assert.ok(rec.seen.requests.length > 0, 'the lookup reached the typed host');
    for (const q of rec.seen.requests) assert.equal(decode(q.authorization), TYPED_KEY);
    const undeployed = await post(entities(), { service: 'not-deployed-yet', api: ow.url, key: STORED_KEY }, 'json');
    assert.equal(undeployed.status, 200, undeployed.text);
    const none = await post(entities(), { service: 'not-deployed-yet', api: rec.url }, 'json');
    assert.equal(none.status, 409, none.text);
    assert.match(none.json.error, /Deploy the openwhisk-service config node first, or re-enter its auth key/);
  });

  it('reads only manifests from the user directory and the package examples; never echoes anything else', async () => {
    /** @type {Array<[string, RegExp]>} */
    const refused = [
      ['/etc/passwd', /not inside the Node-RED user directory/],
      ['/dev/zero', /not inside/],
      ['../../../../../../../etc/passwd', /not inside|not found/],
      ['passwd-manifest.yaml', /not inside/], // symlink to /etc/passwd
      ['zero-manifest.yaml', /not inside/], // symlink to /dev/zero
      ['secret-manifest.yaml', /not a \.yaml or \.yml file/], // symlink to a non-manifest in the user directory
      ['secrets.txt', /not a \.yaml or \.yml file/],
      ['settings.js', /not a \.yaml or \.yml file/],
      ['big-manifest.yaml', /larger than 1 MB/],
      ['notes.yaml', /not a wskdeploy manifest/],
      [path.join(env.ROOT, 'package.json'), /not inside/],
      ['.', /is a folder/],
    ];
    for (const [file, re] of refused) {
      const r = await post(manifest(), { manifest: file }, 'json');
      assert.equal(r.status, 400, `${file}: ${r.text}`);
      assert.match(r.json.error, re, file);
      assert.doesNotMatch(r.text, /root:|TOP-SECRET|credentialSecret/, file);
    }
    const bad = await post(manifest(), { manifest: 'bad-manifest.yaml' }, 'json');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /bad-manifest\.yaml:3:\d+: 'actions' must be a mapping/);
    const mine = await post(manifest(), { manifest: 'manifest.yaml' }, 'json');
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.actions, [{ name: 'mine/hi', kind: 'nodejs:20' }]);
    const examples = await post(manifest(), { manifest: 'examples/manifest.yaml' }, 'json');
    assert.equal(examples.status, 200, examples.text);
    assert.ok(
      examples.json.actions.some((a) => a.name === 'facedemo/hello'),
      examples.text,
    );
    // Node-RED is still answering (nothing blocked its event loop).
    assert.equal((await fetch(`${nr.url}/settings`)).status, 200);
  });
});
