'use strict';
// An OpenWhisk API host that accepts the TCP connection and never answers: every REST call is
// bounded. A cloud-mode message reaches Catch with a timeout error shortly after the blocking
// window; a local deploy treats the silence as "unreachable" and runs the cached action.
const assert = require('node:assert/strict');
const net = require('node:net');
const { helper, nodes, nextMessage, waitForStatus, errorsOf } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
// Shortened for the test (settings.js); the defaults are 60 s and 10 s.
const SETTINGS = { openwhiskServiceBlockingWindow: 1.5, openwhiskServiceRequestTimeout: 1 };

/** Accepts connections on loopback, reads what comes, never writes a byte. */
function silentServer(port = 0) {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
        connections: () => sockets.size,
        stop: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

describe('an API host that never answers (real Node-RED)', function () {
  this.timeout(60000);
  beforeEach(() => {
    helper.settings(SETTINGS);
    return helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    helper.settings({});
  });

  it('cloud mode: the deploy says "no answer", and a message reaches Catch with a timeout within the blocking window plus a margin', async () => {
    const silent = await silentServer();
    try {
      await helper.load(
        nodes,
        [
          { id: 'svc', type: 'openwhisk-service', api: silent.url },
          { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
          { id: 'a', type: 'openwhisk-action', runtime: 'rt', action: 'hello', namespace: '', params: [], wires: [['out']] },
          { id: 'out', type: 'helper' },
          { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ],
        { svc: { key: 'uuid:key' } },
      );
      const a = helper.getNode('a');
      const st = await waitForStatus(a, (s) => s.fill === 'red', 10000);
      assert.equal(st.text, 'no answer');
      assert.ok(errorsOf(a).some((e) => /did not answer the request for action '\/_\/hello' within 1 s/.test(e)));

      const caught = nextMessage(helper.getNode('caught'), 15000);
      const t0 = Date.now();
      a.receive({ payload: { name: 'x' }, _id: 'm1' });
      const msg = await caught;
      const took = Date.now() - t0;
      assert.equal(msg._id, 'm1');
      assert.match(msg.error.message, /did not answer the invoke of '\/_\/hello' within 2\.5 s .*blocking window.*may or may not have run/);
      assert.ok(took >= 1500 && took < 2500 + 1500, `settled after ${took} ms`);
    } finally {
      await silent.stop();
    }
  });

  it('local mode: a catalog that hangs counts as unreachable, and the cached version runs', async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    const ow = await startOpenWhiskServer();
    const port = Number(new URL(ow.url).port);
    const action = `hang-cached-${Date.now()}`;
    ow.putAction('guest', action, { exec: { kind: 'nodejs:20', code: 'function main(p) { return { cached: "v1", n: p.n }; }' } });
    const creds = { svc: { key: ow.key('guest') } };
    const flow = (api) => [
      { id: 'svc', type: 'openwhisk-service', api },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', images: `nodejs:*=${IMAGE}`, capacity: 2, queue: 10 },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', action, namespace: '', params: [], wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(nodes, flow(ow.url), creds);
    await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green', 30000);
    await helper.unload();
    await ow.stop();

    // The same API host now accepts connections and never answers.
    const silent = await silentServer(port);
    try {
      const t0 = Date.now();
      await helper.load(nodes, flow(silent.url), creds);
      const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green' || s.fill === 'red', 30000);
      assert.equal(st.fill, 'green', JSON.stringify(st));
      assert.match(st.text, /cached/);
      assert.ok(Date.now() - t0 < 15000, 'the deploy did not wait for ever');
      const got = nextMessage(helper.getNode('out'));
      helper.getNode('a').receive({ payload: { n: 7 } });
      assert.deepEqual((await got).payload, { cached: 'v1', n: 7 });
    } finally {
      await silent.stop();
    }
  });
});
