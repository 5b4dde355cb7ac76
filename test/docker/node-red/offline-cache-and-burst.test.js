'use strict';
// Edge survival at the node level: the on-disk catalog cache when the OpenWhisk catalog is down
// before a restart, and bursting to the cloud when local capacity is exhausted.
const assert = require('node:assert/strict');
const { helper, nodes, nextMessage, waitForStatus } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const version = (v) => `function main(p) { return { version: ${JSON.stringify(v)}, got: p.n }; }`;

describe('edge survival: offline catalog cache and bursting (real Node-RED, real Docker)', function () {
  this.timeout(60000);

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
  });
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  function flow(ow, action, rt = {}) {
    return [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', images: `nodejs:*=${IMAGE}`, capacity: 2, queue: 10, ...rt },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', action, namespace: '', params: [], wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  it('runs the cached action when the catalog is down at restart, and picks up a newer version once it is back', async () => {
    let ow = await startOpenWhiskServer();
    const port = Number(new URL(ow.url).port);
    const action = `cached-${Date.now()}`;
    ow.putAction('guest', action, { exec: { kind: 'nodejs:20', code: version('v1') } });
    const creds = { svc: { key: ow.key('guest') } };

    await helper.load(nodes, flow(ow, action), creds);
    await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green', 30000);
    await helper.unload();

    await ow.stop(); // the uplink is gone; Node-RED restarts (the flow is loaded again)
    await helper.load(nodes, flow(ow, action), creds);
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green' || s.fill === 'red', 30000);
    assert.equal(st.fill, 'green', JSON.stringify(st));
    assert.match(st.text, /cached/);
    let got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { n: 1 } });
    assert.deepEqual((await got).payload, { version: 'v1', got: 1 });
    await helper.unload();

    ow = await startOpenWhiskServer({ port }); // the catalog is back, with a newer version
    ow.putAction('guest', action, { exec: { kind: 'nodejs:20', code: version('v2') } });
    try {
      await helper.load(nodes, flow(ow, action), creds);
      const st2 = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green', 30000);
      assert.doesNotMatch(st2.text, /cached/);
      got = nextMessage(helper.getNode('out'));
      helper.getNode('a').receive({ payload: { n: 2 } });
      assert.deepEqual((await got).payload, { version: 'v2', got: 2 });
    } finally {
      await ow.stop();
    }
  });

  it('says so when the catalog is down and nothing is cached', async () => {
    const ow = await startOpenWhiskServer();
    const creds = { svc: { key: ow.key('guest') } };
    await ow.stop();
    await helper.load(nodes, flow(ow, `never-seen-${Date.now()}`), creds);
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red', 30000);
    assert.equal(st.text, 'unreachable');
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('a').receive({ payload: {} });
    assert.match((await caught).error.message, /Cannot reach the OpenWhisk API .*No cached copy/);
  });

  it('bursts to the cloud when the local queue is full, and msg.data says where each message ran', async () => {
    const ow = await startOpenWhiskServer();
    try {
      ow.putAction('guest', 'slow', {
        exec: { kind: 'nodejs:20', code: 'function main(p) { return new Promise(r => setTimeout(() => r({ n: p.n }), 400)); }' },
      });
      await helper.load(nodes, flow(ow, 'slow', { capacity: 1, queue: 1, burst: true }), { svc: { key: ow.key('guest') } });
      const a = helper.getNode('a');
      await waitForStatus(a, (s) => s.fill === 'green', 30000);
      const results = [];
      const all = new Promise((resolve) => {
        helper.getNode('out').on('input', (msg) => {
          results.push(msg);
          if (results.length === 4) resolve();
        });
      });
      for (let n = 1; n <= 4; n++) a.receive({ payload: { n } });
      await all;
      const where = (m) => m.data.annotations.find((x) => x.key === 'where').value;
      const byWhere = results.reduce((acc, m) => ({ ...acc, [where(m)]: (acc[where(m)] || 0) + 1 }), {});
      assert.deepEqual(byWhere, { local: 2, cloud: 2 });
      assert.ok(results.filter((m) => where(m) === 'cloud').every((m) => m.data.annotations.some((x) => x.key === 'burst' && x.value === true)));
      assert.deepEqual(results.map((m) => m.payload.n).sort(), [1, 2, 3, 4]);
      assert.equal(ow.invocations.filter((i) => i.name === 'slow').length, 2);
    } finally {
      await ow.stop();
    }
  });
});
