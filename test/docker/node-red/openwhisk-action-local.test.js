'use strict';
// openwhisk-action on a local runtime: the real Node-RED runtime, a real Docker engine, and the
// catalog served by the OpenWhisk API test server through the real openwhisk client (or a manifest).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, nodes, nextMessage, waitForStatus } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage, containersWith, ownInstance } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const IMAGE22 = 'leon-edge/action-nodejs-v22:latest';

describe('openwhisk-action in local mode (real Docker)', function () {
  this.timeout(60000);
  let ow;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    ow = await startOpenWhiskServer();
    ow.putPackage('guest', 'edge', {
      parameters: [
        { key: 'site', value: 'plant-1' },
        { key: 'unit', value: 'pkg' },
      ],
    });
    ow.putAction('guest', 'edge/threshold', {
      exec: {
        kind: 'nodejs:20',
        code: 'function main(p) { console.log("checking", p.value); return { alert: p.value > p.limit, site: p.site, unit: p.unit, limit: p.limit }; }',
      },
      parameters: [
        { key: 'limit', value: 10 },
        { key: 'unit', value: 'C' },
      ],
    });
    ow.putAction('guest', 'broken', { exec: { kind: 'nodejs:20', code: 'function main() { return { error: "bad reading" }; }' } });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  function flow(action, extra = {}) {
    return [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', images: `nodejs:*=${IMAGE}`, capacity: 2, queue: 10 },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', action, namespace: '', params: [], wires: [['out']], ...extra },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }
  const creds = () => ({ svc: { key: ow.key('guest') } });

  it('provisions at deploy, routes msg.payload through /run, and shows the activation', async () => {
    await helper.load(nodes, flow('edge/threshold', { params: [{ key: 'limit', value: 20 }] }), creds());
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green', 30000);
    const running = await containersWith(`io.leon-edge.node=${a.id}`, ownInstance());
    assert.equal(running.length, 1, 'one warm container ready at deploy');
    assert.equal(ow.invocations.length, 0, 'local mode never invokes in the cloud');

    const got = nextMessage(helper.getNode('out'));
    a.receive({ payload: { value: 25 }, topic: 't' });
    const msg = await got;
    assert.deepEqual(msg.payload, { alert: true, site: 'plant-1', unit: 'C', limit: 20 });
    assert.equal(msg.topic, 't');
    assert.match(msg.data.activationId, /^[0-9a-f]{32}$/);
    assert.equal(msg.data.response.status, 'success');
    assert.ok(
      msg.data.logs.some((l) => /stdout: checking 25/.test(l)),
      JSON.stringify(msg.data.logs),
    );
  });

  it('sends an application error to Catch, and the next message works', async () => {
    await helper.load(nodes, flow('broken'), creds());
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green', 30000);
    const caught = nextMessage(helper.getNode('caught'));
    a.receive({ payload: {}, _id: 1 });
    const msg = await caught;
    assert.match(msg.error.message, /returned an error: bad reading/);
    assert.equal(msg.data.response.status, 'application error');
    assert.equal(msg._id, 1);
  });

  it('removes its containers when the flow is stopped', async () => {
    await helper.load(nodes, flow('edge/threshold'), creds());
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green', 30000);
    assert.equal((await containersWith(`io.leon-edge.node=${a.id}`, ownInstance())).length, 1);
    await helper.unload();
    assert.equal((await containersWith(`io.leon-edge.node=a`, ownInstance())).length, 0);
  });

  it('reports an action missing from the catalog at deploy', async () => {
    await helper.load(nodes, flow('nope'), creds());
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red');
    assert.equal(st.text, 'not found');
  });
});

describe('openwhisk-action on a local runtime with a manifest: each Node.js kind runs on its Node (real Docker)', function () {
  this.timeout(60000);
  let dir;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    await requireImage(this, IMAGE22);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-node22-'));
    fs.writeFileSync(path.join(dir, 'version.js'), 'function main() { return { node: process.version }; }\n');
    fs.writeFileSync(
      path.join(dir, 'manifest.yaml'),
      [
        'packages:',
        '  versions:',
        '    actions:',
        '      node22:',
        '        function: version.js',
        '        runtime: nodejs:22',
        '      node20:',
        '        function: version.js',
        '        runtime: nodejs:20',
        '      plain:', // no runtime: nodejs:default, from the .js file
        '        function: version.js',
        '',
      ].join('\n'),
    );
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    helper.settings({});
  });

  it("runs nodejs:22 and nodejs:default on Node 22 and nodejs:20 on Node 20 (the runtime config's usual image pair)", async () => {
    const names = ['node22', 'node20', 'plain'];
    helper.settings({ userDir: dir }); // a manifest is read only from the user directory (or the examples)
    await helper.load(nodes, [
      {
        id: 'rt22',
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest: path.join(dir, 'manifest.yaml'),
        images: `nodejs:20=${IMAGE}\nnodejs:*=${IMAGE22}`,
        capacity: 3,
      },
      ...names.flatMap((n) => [
        { id: `v-${n}`, type: 'openwhisk-action', runtime: 'rt22', action: `versions/${n}`, namespace: '', params: [], wires: [[`out-${n}`]] },
        { id: `out-${n}`, type: 'helper' },
      ]),
    ]);
    const versions = {};
    for (const n of names) {
      const a = helper.getNode(`v-${n}`);
      await waitForStatus(a, (s) => s.fill === 'green', 30000);
      const got = nextMessage(helper.getNode(`out-${n}`));
      a.receive({ payload: {} });
      const msg = await got;
      assert.equal(msg.data.response.status, 'success', JSON.stringify(msg.data.response));
      versions[n] = msg.payload.node;
    }
    assert.match(versions.node22, /^v22\./, JSON.stringify(versions));
    assert.match(versions.plain, /^v22\./, JSON.stringify(versions));
    assert.match(versions.node20, /^v20\./, JSON.stringify(versions));
  });
});
