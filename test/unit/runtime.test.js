'use strict';
// The runtime's composition root (lib/runtime.ts): what a local runtime hands its nodes with and without
// its OpenWhisk API, and the reason its nodes are refused. No Docker: the engine points at a socket that
// does not exist (nothing here provisions).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createRuntime } = require('../../dist/lib/runtime');

const NO_DOCKER = 'unix:///nonexistent/leon-runtime-root-docker.sock';
const API_KEY = '0f6e0f1a-3b1c-4d6e-9a55-0d4f2c1b7e11:Ae9s8dFq2LmXo0PzW4rT6yUvB1nC3kJh5gRtYeWq7uIoPlMnBvCxZaSdFgHjKl';
const MANIFEST = 'packages:\n  default:\n    actions:\n      hello:\n        function: hello.js\n        runtime: nodejs:20\n';

describe('the runtime composition root (lib/runtime.ts)', function () {
  this.timeout(20000);
  let dir;
  const opened = [];
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-runtime-root-'));
    fs.writeFileSync(path.join(dir, 'manifest.yaml'), MANIFEST);
    fs.writeFileSync(path.join(dir, 'hello.js'), 'function main(a) { return a; }');
  });
  after(async () => {
    await Promise.all(opened.map((r) => r.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function host(id, over = {}) {
    const said = { log: [], warn: [], error: [], status: [], mounted: [] };
    return {
      said,
      id,
      serviceNode: null,
      apiKey: API_KEY,
      userDir: dir,
      instanceId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      cacheMB: 0,
      admin: { settings: { uiHost: '127.0.0.1' } },
      http: { app: { use: (p) => said.mounted.push(p) }, url: 'http://localhost:1880/' },
      log: (t) => said.log.push(t),
      warn: (t) => said.warn.push(t),
      error: (t) => said.error.push(t),
      status: (s) => said.status.push(s),
      ...over,
    };
  }
  const config = (over = {}) => ({ mode: 'local', source: 'manifest', manifest: path.join(dir, 'manifest.yaml'), docker: NO_DOCKER, ...over });
  const create = (c, h) => {
    const r = createRuntime(c, h);
    opened.push(r);
    return r;
  };

  it('serving no API, it builds none: nothing mounted, and its nodes run on the engine itself (no shared pools, no metrics)', () => {
    const h = host('rt-plain');
    const rt = create(config(), h);
    assert.equal(rt.api, undefined);
    assert.deepEqual(h.said.mounted, []);
    const t = rt.target();
    assert.equal(t.mode, 'local');
    assert.equal(t.observe, undefined, 'no metrics without the API that serves them');
    assert.equal(typeof t.engine.provision, 'function');
  });

  it('serving its API, it mounts it and its nodes share their pools with it (their invocations counted in its metrics)', () => {
    const h = host('rt-api');
    const rt = create(config({ serveApi: true, apiPath: 'root-test' }), h);
    assert.ok(rt.api, h.said.error.join('\n'));
    assert.deepEqual(h.said.mounted, ['/openwhisk']);
    assert.match(h.said.log.join('\n'), /OpenWhisk API on http:\/\/localhost:1880\/openwhisk\/root-test\/api\/v1 \(namespace guest\)/);
    const t = rt.target();
    assert.ok(t.mode === 'local');
    assert.equal(t.engine, rt.api.nodes);
    assert.equal(typeof t.observe?.done, 'function');
  });

  it('an API it cannot serve (no key) is off, said in the log and on its status; its nodes still run', () => {
    const h = host('rt-nokey', { apiKey: undefined });
    const rt = create(config({ serveApi: true, apiPath: 'root-nokey' }), h);
    assert.equal(rt.api, undefined);
    assert.match(h.said.error.join('\n'), /The OpenWhisk API of this runtime is off/);
    assert.match(h.said.status[0].text, /^API off:/);
    assert.equal(rt.target().mode, 'local');
  });

  it("with Node-RED's admin API open to containers, its nodes are refused with that reason, also a node with code of its own", () => {
    const rt = create(config(), host('rt-open', { admin: { settings: { uiHost: '0.0.0.0' } } }));
    assert.equal(rt.engine, undefined, 'no engine is made');
    assert.throws(() => rt.target(), /Node-RED's admin API listens on all interfaces/);
    assert.throws(() => rt.target((lender) => lender), /Node-RED's admin API listens on all interfaces/);
  });
});
