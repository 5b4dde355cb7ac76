'use strict';
// Work that outlives its request is bounded too: activations started through the gateway API count
// until they are done (a 202 does not end them), and a runtime's messages bursting to the cloud are
// bounded in count and bytes. The local engine points at a Docker socket that does not exist, so every
// message bursts; the OpenWhisk stand-in holds the burst invokes open until the test lets them finish.
// Real Node-RED, no Docker.
const assert = require('node:assert/strict');
const net = require('node:net');
const { helper, nodes, nextMessage } = require('../support/nr');
const { startOpenWhiskServer } = require('../support/openwhisk-server');
const { request } = require('../support/http');

const NO_DOCKER = 'unix:///tmp/no-such-docker.sock';
const API_KEY = '5d2b6c1e-8f3a-4b7c-9e10-2a4c6e8f0b1d:background-bounds-key-0123456789';
const MiB = 1024 * 1024;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

async function until(what, pred, ms = 20000) {
  const start = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The stand-in runs action 'hold' only when the test says so: each invoke waits for its gate. */
function holdingCloud(ow) {
  const gates = [];
  let open = false;
  ow.putAction('guest', 'hold', { exec: { kind: 'nodejs:20', code: 'function main(p) { return p; }' }, limits: { timeout: 300000 } });
  ow.onInvoke = (ns, name, params) => (open ? { n: params.n } : new Promise((resolve) => gates.push(() => resolve({ n: params.n }))));
  return {
    /** Invokes of 'hold' that reached the stand-in and have no answer yet. */
    pending: () => ow.invocations.filter((i) => i.name === 'hold' && i.status === null).length,
    release: () => {
      open = true;
      for (const g of gates.splice(0)) g();
    },
  };
}

describe('bounds on background work: the gateway API and bursting (real Node-RED, no Docker)', function () {
  this.timeout(60000);
  let ow;
  beforeEach(async () => {
    ow = await startOpenWhiskServer();
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    await ow.stop();
  });

  it('the API answers 429 to non-blocking invokes beyond its activations in work, holds that bound while they run, and takes the next one once they are done', async () => {
    const cloud = holdingCloud(ow);
    const port = await freePort();
    await helper.load(
      nodes,
      [
        { id: 'svc', type: 'openwhisk-service', api: ow.url },
        {
          id: 'rt',
          type: 'openwhisk-runtime',
          mode: 'local',
          service: 'svc',
          docker: NO_DOCKER,
          burst: true,
          serveApi: true,
          apiPath: 'gw',
          apiListen: `127.0.0.1:${port}`,
        },
      ],
      { svc: { key: ow.key('guest') }, rt: { apiKey: API_KEY } },
    );
    const base = `http://127.0.0.1:${port}/api/v1/namespaces/_`;
    const auth = { Authorization: `Basic ${Buffer.from(API_KEY).toString('base64')}` };
    await until('the API listening', () =>
      request(`${base}/actions`, undefined, 'GET', auth).then(
        (r) => r.status === 200,
        () => false,
      ),
    );

    // 0.9 MB each: the API keeps at most 4 × max payload (8 MB) = 32 MB of parameters in work.
    const body = (n) => ({ n, blob: 'x'.repeat(0.9 * MiB) });
    const size = Buffer.byteLength(JSON.stringify(body(10)));
    const fits = Math.floor((32 * MiB) / size);
    const sent = 60;
    const replies = await Promise.all(Array.from({ length: sent }, (_, i) => request(`${base}/actions/hold`, body(10 + i), 'POST', auth)));
    const accepted = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status === 429);
    assert.equal(accepted.length, fits, JSON.stringify(replies.map((r) => r.status)));
    assert.equal(refused.length, sent - fits);
    for (const r of refused) {
      assert.match(r.body.error, /^Too many concurrent requests in flight \(count: \d+, allowed: 256\)/);
      assert.equal(typeof r.body.code, 'string');
    }
    // Every accepted one is running (at the cloud, held open); more are still refused meanwhile.
    await until(`${fits} invokes open at the cloud`, () => cloud.pending() === fits);
    const again = await request(`${base}/actions/hold`, body(99), 'POST', auth);
    assert.equal(again.status, 429);
    assert.equal(cloud.pending(), fits);

    cloud.release();
    const ids = accepted.map((r) => r.body.activationId);
    await until('the accepted activations stored', async () => {
      const got = await Promise.all(ids.map((id) => request(`${base}/activations/${id}`, undefined, 'GET', auth)));
      return got.every((g) => g.status === 200);
    });
    const one = await request(`${base}/activations/${ids[0]}`, undefined, 'GET', auth);
    assert.equal(one.body.response.success, true, JSON.stringify(one.body.response));

    const next = await request(`${base}/actions/hold`, body(100), 'POST', auth);
    assert.equal(next.status, 202, JSON.stringify(next.body));
    const done = await until('the next activation', async () => {
      const g = await request(`${base}/activations/${next.body.activationId}`, undefined, 'GET', auth);
      return g.status === 200 ? g.body : undefined;
    });
    assert.deepEqual([done.response.success, done.response.result.n], [true, 100]);
  });

  it('a message the local runtime cannot take and its burst limit cannot either fails as overload, reaches Catch with the message, and the next one bursts once there is room', async () => {
    const cloud = holdingCloud(ow);
    await helper.load(
      nodes,
      [
        { id: 'svc', type: 'openwhisk-service', api: ow.url },
        { id: 'rt', type: 'openwhisk-runtime', name: 'edge-rt', mode: 'local', service: 'svc', docker: NO_DOCKER, burst: true },
        { id: 'a', type: 'openwhisk-action', runtime: 'rt', action: 'hold', namespace: '', params: [], wires: [['out']] },
        { id: 'out', type: 'helper' },
        { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
      { svc: { key: ow.key('guest') } },
    );
    const a = helper.getNode('a');
    const caught = [];
    helper.getNode('caught').on('input', (m) => caught.push(m));
    const out = [];
    helper.getNode('out').on('input', (m) => out.push(m));

    const sent = 70;
    for (let n = 1; n <= sent; n++) a.receive({ payload: { n }, tag: `m${n}` });
    // 64 messages burst at once; the rest fail at once, each with its own msg.
    await until('the messages beyond the burst limit caught', () => caught.length === sent - 64);
    await until('64 invokes open at the cloud', () => cloud.pending() === 64);
    for (const m of caught) {
      assert.equal(m.error.message.includes("The local runtime 'edge-rt' cannot run this message"), true, m.error.message);
      assert.match(m.error.message, /64 messages are already on their way there \(at most 64 at once\).*Send messages more slowly/);
      assert.equal(m.tag, `m${m.payload.n}`);
    }
    assert.equal(out.length, 0);

    cloud.release();
    await until('the bursting messages answered', () => out.length === 64);
    const next = nextMessage(helper.getNode('out'));
    a.receive({ payload: { n: 100 } });
    const got = await next;
    assert.equal(got.payload.n, 100);
    assert.ok(got.data.annotations.some((x) => x.key === 'burst' && x.value === true));
    assert.equal(caught.length, sent - 64);
  });
});
