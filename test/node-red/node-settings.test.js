'use strict';
// settings.js entries, registered with the node type that owns them (openwhiskService…, openwhiskRuntime…):
// the registered name takes effect; the name used before still works and says once that it is deprecated.
// No Docker: the editor's lookup against an API host that never answers shows which request timeout
// applies (the default is 10 s), and a page from a proxy's origin shows which editor origins apply.
const assert = require('node:assert/strict');
const net = require('node:net');
const { helper, nodes } = require('../support/nr');

/** Accepts connections on loopback and never answers. */
function silentServer() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
        stop: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

const FLOW = [
  { id: 'svc', type: 'openwhisk-service', api: 'http://127.0.0.1:9' },
  { id: 'svc2', type: 'openwhisk-service', api: 'http://127.0.0.1:9' },
  { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
];

/** The warnings Node-RED logged that mention `text`. */
const warnings = (text) =>
  helper
    .log()
    .args.map((a) => a[0])
    .filter((m) => m && m.level === 30 && String(m.msg).includes(text))
    .map((m) => String(m.msg));

describe('settings.js entries (real Node-RED)', function () {
  this.timeout(30000);
  let silent;
  before(async () => (silent = await silentServer()));
  after(async () => silent && silent.stop());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    helper.settings({});
  });

  async function start(settings) {
    helper.settings(settings);
    await helper.startServer();
    await helper.load(nodes, FLOW, { svc: { key: 'a:b' }, svc2: { key: 'a:b' } });
  }

  /** How long the editor's lookup takes to give up on the silent host, in ms (it answers 502). */
  async function lookupMs() {
    const t0 = Date.now();
    const res = await helper.request().post('/leon-openwhisk/entities').send({ api: silent.url, key: 'a:b' });
    assert.equal(res.status, 502, JSON.stringify(res.body));
    return Date.now() - t0;
  }

  it("openwhiskServiceRequestTimeout bounds the service's requests, and nothing is deprecated", async () => {
    await start({ openwhiskServiceRequestTimeout: 1 });
    const ms = await lookupMs();
    assert.ok(ms >= 900 && ms < 5000, `gave up after ${ms} ms (default: 10 s)`);
    assert.deepEqual(warnings('deprecated'), []);
  });

  it('the earlier openwhiskRequestTimeout still works, and its deprecation is logged once, naming the new setting', async () => {
    await start({ openwhiskRequestTimeout: 1 });
    const ms = await lookupMs();
    assert.ok(ms >= 900 && ms < 5000, `gave up after ${ms} ms (default: 10 s)`);
    await lookupMs();
    const w = warnings("'openwhiskRequestTimeout'");
    assert.equal(w.length, 1, JSON.stringify(w));
    assert.match(w[0], /deprecated.*openwhiskServiceRequestTimeout/);
  });

  it('the registered name wins over the earlier one, which is then reported as ignored', async () => {
    await start({ openwhiskServiceRequestTimeout: 1, openwhiskRequestTimeout: 30 });
    const ms = await lookupMs();
    assert.ok(ms < 5000, `gave up after ${ms} ms`);
    const w = warnings("'openwhiskRequestTimeout'");
    assert.equal(w.length, 1, JSON.stringify(w));
    assert.match(w[0], /ignored.*openwhiskServiceRequestTimeout/);
  });

  it("openwhiskServiceEditorOrigins admits a proxy's origin to both editor lookups; the earlier name too, with one note", async () => {
    const fromProxy = (path, body) => helper.request().post(path).set('Origin', 'https://nodered.example').send(body);
    await start({});
    assert.equal((await fromProxy('/leon-openwhisk/entities', { service: 'nope' })).status, 403);
    assert.equal((await fromProxy('/leon-openwhisk/manifest/entities', { manifest: 'x.yaml' })).status, 403);
    await helper.unload();
    await helper.stopServer();

    await start({ openwhiskServiceEditorOrigins: ['https://nodered.example'] });
    assert.equal((await fromProxy('/leon-openwhisk/entities', { service: 'nope' })).status, 409);
    assert.equal((await fromProxy('/leon-openwhisk/manifest/entities', { manifest: 'x.yaml' })).status, 400);
    assert.deepEqual(warnings('deprecated'), []);
    await helper.unload();
    await helper.stopServer();

    await start({ openwhiskEditorOrigins: 'https://nodered.example' });
    assert.equal((await fromProxy('/leon-openwhisk/entities', { service: 'nope' })).status, 409);
    assert.equal((await fromProxy('/leon-openwhisk/manifest/entities', { manifest: 'x.yaml' })).status, 400);
    const w = warnings("'openwhiskEditorOrigins'");
    assert.equal(w.length, 1, JSON.stringify(w));
    assert.match(w[0], /openwhiskServiceEditorOrigins/);
  });

  it('the earlier openwhiskCacheMB logs one note naming openwhiskRuntimeCacheMB; the new name none', async () => {
    await start({ openwhiskCacheMB: 64 });
    const w = warnings("'openwhiskCacheMB'");
    assert.equal(w.length, 1, JSON.stringify(w));
    assert.match(w[0], /openwhiskRuntimeCacheMB/);
    await helper.unload();
    await helper.stopServer();
    await start({ openwhiskRuntimeCacheMB: 64 });
    assert.deepEqual(warnings('deprecated'), []);
  });

  it('the types register their settings under names Node-RED accepts (no warning about them)', async () => {
    await start({});
    const bad = helper
      .log()
      .args.map((a) => a[0])
      .filter((m) => m && m.level <= 30 && /openwhisk-(service|runtime)/.test(String(m.msg)));
    assert.deepEqual(
      bad.map((m) => m.msg),
      [],
    );
  });
});
