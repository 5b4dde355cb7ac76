'use strict';
// Every REST call to the OpenWhisk API is bounded: a host that accepts the connection and never
// answers. The REST client against a silent loopback server; no Docker.

const assert = require('node:assert/strict');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { OpenWhiskService } = require('../../dist/lib/service');
const { CloudInvoker } = require('../../dist/lib/cloud');
const { CachedCatalog } = require('../../dist/lib/catalog/cache');
const { startOpenWhiskServer } = require('../support/openwhisk-server');
/** @typedef {import('../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

function silentServer(port = 0) {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
        accepted: () => accepted,
        stop: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

async function timed(p) {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: Date.now() - t0 };
  }
  assert.fail('resolved');
}

describe('REST timeouts against an API host that never answers', () => {
  let silent;
  let svc;
  beforeEach(async () => {
    silent = await silentServer();
    svc = new OpenWhiskService({ api: silent.url, key: 'uuid:key', timeouts: { requestMs: 300, blockingWindowMs: 500 } });
  });
  afterEach(() => silent.stop());

  it('getAction and list fail as unreachable ("no answer") after the request timeout', async () => {
    const got = await timed(svc.getAction({ namespace: 'guest', name: 'hello' }));
    assert.equal(got.err.code, 'unreachable');
    assert.equal(got.err.short, 'no answer');
    assert.match(got.err.message, /did not answer the request for action '\/guest\/hello' within 0\.3 s/);
    assert.ok(got.ms >= 250 && got.ms < 3000, `${got.ms} ms`);
    const listed = await timed(svc.list('guest'));
    assert.equal(listed.err.short, 'no answer');
  });

  it('the runtimes manifest is not kept after a failure: the next call asks again', async () => {
    await assert.rejects(svc.runtimeImages(), (/** @type {OpenWhiskNodeError} */ e) => e.short === 'no answer');
    const before = silent.accepted();
    await assert.rejects(svc.runtimeImages());
    assert.ok(silent.accepted() > before, 'asked the host again');
  });

  it('a blocking invoke times out after the blocking window plus the request timeout, saying the action may have run', async () => {
    const inv = new CloudInvoker(svc);
    const got = await timed(inv.invoke({ a: 1 }, { namespace: 'guest', name: 'hello' }));
    assert.equal(got.err.code, 'timeout');
    assert.match(got.err.message, /did not answer the invoke of '\/guest\/hello' within 0\.8 s .*0\.5 s blocking window.*may or may not have run/);
    assert.ok(got.ms >= 750 && got.ms < 4000, `${got.ms} ms`);
  });

  it('the offline cache treats a silent catalog as unreachable and serves the cached copy', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-cache-'));
    const ow = await startOpenWhiskServer();
    try {
      ow.putAction('guest', 'hello', { exec: { kind: 'nodejs:20', code: 'function main() { return {v: 1}; }' } });
      const live = new OpenWhiskService({ api: ow.url, key: ow.key('guest') });
      const doc = await new CachedCatalog(live, dir).getAction({ namespace: 'guest', name: 'hello' });
      assert.equal(doc.name, 'hello');
      const port = Number(new URL(ow.url).port);
      await ow.stop();
      await silent.stop();
      silent = await silentServer(port); // the same API host, now silent
      const hung = new OpenWhiskService({ api: ow.url, key: ow.key('guest'), timeouts: { requestMs: 300 } });
      const cached = new CachedCatalog(hung, dir);
      const copy = await cached.getAction({ namespace: 'guest', name: 'hello' });
      assert.equal(copy.exec.code, doc.exec.code);
      assert.equal(cached.fromCache(copy), true);
    } finally {
      await ow.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
