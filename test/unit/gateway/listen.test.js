'use strict';
// The gateway API's own listener: what "[host:]port" means, the API answered at the root of a bare
// HTTP server (auth, routing, the invocation), a taken port said plainly, the port free after close.
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { GatewayApi } = require('../../../dist/lib/gateway/api');
const { listenGateway, parseListen } = require('../../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../../dist/lib/activations/store');

const KEY = '11111111-2222-4333-8444-555555555555:unit-key';
const auth = (key = KEY) => ({ authorization: `Basic ${Buffer.from(key).toString('base64')}` });

function api() {
  return new GatewayApi({
    namespace: 'guest',
    keys: [KEY],
    instanceId: 'abcdef0123456789abcdef0123456789',
    store: new ActivationStore(),
    maxBody: 1024,
    invoke: async (ref, params) => ({
      activationId: 'x',
      namespace: 'guest',
      name: ref.name,
      start: 1,
      end: 2,
      duration: 1,
      response: { status: 'success', success: true, result: { echo: params } },
      logs: [],
      annotations: [],
    }),
    getAction: async () => {
      throw new Error('not in this test');
    },
    listActions: async () => [{ name: 'echo', namespace: 'guest', kind: 'nodejs:20' }],
  });
}

describe("the gateway API's own listener", () => {
  it('reads "[host:]port": a port alone is 127.0.0.1, empty is none, anything else is refused', () => {
    assert.equal(parseListen(''), undefined);
    assert.equal(parseListen('  '), undefined);
    assert.deepEqual(parseListen('3233'), { host: '127.0.0.1', port: 3233 });
    assert.deepEqual(parseListen('0.0.0.0:3233'), { host: '0.0.0.0', port: 3233 });
    assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseListen('gateway.local:80'), { host: 'gateway.local', port: 80 });
    for (const bad of ['0', '65536', 'abc', '3233:', ':3233', 'http://x:1', '1.2.3.4:99999']) {
      assert.throws(() => parseListen(bad), /must be a port/, bad);
    }
  });

  it('answers the API at its root, refuses wrong keys, and frees its port when closed', async () => {
    const l = await listenGateway(api(), { host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${l.address.port}`;
    try {
      const ns = await fetch(`${base}/api/v1/namespaces`, { headers: auth() });
      assert.equal(ns.status, 200);
      assert.deepEqual(await ns.json(), ['guest']);
      const inv = await fetch(`${base}/api/v1/namespaces/_/actions/echo?blocking=true&result=true`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      assert.equal(inv.status, 200);
      assert.deepEqual(await inv.json(), { echo: { a: 1 } });
      assert.match(inv.headers.get('x-openwhisk-activation-id'), /^[0-9a-f]{32}$/);
      const wrong = await fetch(`${base}/api/v1/namespaces`, { headers: auth(`${KEY.split(':')[0]}:nope`) });
      assert.equal(wrong.status, 401);
      assert.match((await wrong.json()).code, /^[0-9a-f]{32}$/);
      assert.equal((await fetch(`${base}/api/v1/namespaces`)).status, 401);
      const big = await fetch(`${base}/api/v1/namespaces/_/actions/echo?blocking=true`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: JSON.stringify({ b: 'x'.repeat(2000) }),
      });
      assert.equal(big.status, 413);
      const page = await fetch(`${base}/api/v1/namespaces`, { headers: { ...auth(), origin: 'http://evil.example' } });
      assert.equal(page.status, 403);
      assert.equal((await fetch(`${base}/other`, { headers: auth() })).status, 404);
      // Query strings and encoded segments are read as before (URL parsing of its own).
      const list = await fetch(`${base}/api/v1/namespaces/_/actions?limit=1&skip=0`, { headers: auth() });
      assert.deepEqual(
        (await list.json()).map((a) => a.name),
        ['echo'],
      );
      assert.equal((await fetch(`${base}/api/v1/namespaces/_/actions?limit=-1`, { headers: auth() })).status, 400);
      assert.equal((await fetch(`${base}/api/v1/namespaces/%E0%A4%A/actions`, { headers: auth() })).status, 400);
    } finally {
      await l.close();
    }
    // Closed: the port is free again (a redeployed runtime listens on it at once).
    const again = await listenGateway(api(), { host: '127.0.0.1', port: l.address.port });
    await again.close();
  });

  it('says when the port is taken', async () => {
    const holder = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      await assert.rejects(listenGateway(api(), { host: '127.0.0.1', port: holder.address().port }), /cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
    } finally {
      holder.close();
    }
  });

  it('closes a connection that sends nothing (it would hold one of the bounded connections without a key)', async () => {
    const l = await listenGateway(api(), { host: '127.0.0.1', port: 0 }, { firstByteMs: 300 });
    try {
      const s = net.connect(l.address.port, '127.0.0.1');
      const t0 = Date.now();
      await new Promise((resolve, reject) => {
        s.on('close', resolve);
        s.on('error', () => undefined);
        setTimeout(() => reject(new Error('still open after 5 s')), 5000);
      });
      assert.ok(Date.now() - t0 >= 250, 'not before its time');
      // A client that speaks in time is served.
      const res = await fetch(`http://127.0.0.1:${l.address.port}/api/v1/namespaces`, { headers: auth() });
      assert.equal(res.status, 200);
      // A kept-alive connection that has made its first request stays open past that first bound.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: l.address.port, path: '/api/v1/namespaces', headers: auth(), agent }, (r) => {
              const socket = r.socket;
              r.resume();
              r.on('end', () => resolve({ status: r.statusCode, socket }));
            })
            .on('error', reject);
        });
      const one = await get();
      await new Promise((r) => setTimeout(r, 600));
      const two = await get();
      assert.deepEqual([one.status, two.status], [200, 200]);
      assert.equal(two.socket, one.socket, 'the same connection served both');
      agent.destroy();
    } finally {
      await l.close();
    }
  });
});
