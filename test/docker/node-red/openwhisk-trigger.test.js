'use strict';
// openwhisk-trigger: firing in the cloud (the OpenWhisk API stand-in with triggers and rules, the real
// openwhisk client), an old node-red-node-openwhisk trigger node, and a manifest's triggers and rules
// run locally (real Docker).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, nodes, coreNode, nextMessage, waitForStatus } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage, containersWith } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const RECORD = 'function main(p) { return { seen: p }; }';

async function until(pred, ms = 10000) {
  const start = Date.now();
  while (!(await pred())) {
    if (Date.now() - start > ms) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('openwhisk-trigger in the cloud (test OpenWhisk server, real openwhisk client)', function () {
  this.timeout(20000);
  let ow;

  before(async () => {
    ow = await startOpenWhiskServer();
    ow.putAction('guest', 'record', { exec: { kind: 'nodejs:20', code: RECORD } });
    ow.putTrigger('guest', 'reading', {
      parameters: [
        { key: 'site', value: 'plant-1' },
        { key: 'unit', value: 'trigger' },
      ],
    });
    ow.putRule('guest', 'onReading', { trigger: '/_/reading', action: '/_/record' });
    ow.putTrigger('guest', 'idle');
    ow.putRule('guest', 'offRule', { trigger: 'idle', action: 'record', status: 'inactive' });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  function flow(trigger, extra = {}) {
    return [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
      { id: 't', type: 'openwhisk-trigger', runtime: 'rt', trigger, namespace: '', params: [], wires: [['out']], ...extra },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }
  const creds = (key) => ({ svc: { key: key || ow.key('guest') } });

  it('fires the trigger with msg.payload over the node params; its rule runs the action with the trigger params under them', async () => {
    await helper.load(
      nodes,
      flow('reading', {
        params: [
          { key: 'unit', value: 'node' },
          { key: 'from', value: 'node' },
        ],
      }),
      creds(),
    );
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'green');
    const got = nextMessage(helper.getNode('out'));
    const before = ow.invocations.length;
    t.receive({ payload: { value: 25, from: 'msg' }, topic: 'kept' });
    const msg = await got;
    assert.equal(msg.topic, 'kept');
    assert.match(msg.payload.activationId, /^[0-9a-f]{32}$/);
    const firing = ow.firings.at(-1);
    assert.deepEqual(firing.params, { unit: 'node', from: 'msg', value: 25 });
    assert.equal(firing.status, 202);
    assert.equal(firing.activationId, msg.payload.activationId);
    // The rule's action ran in the cloud with trigger params < firing params.
    const run = ow.invocations.slice(before).find((i) => i.rule === 'guest/onReading');
    assert.ok(run, 'the rule invoked its action');
    await until(() => ow.activations.has(run.activationId));
    assert.deepEqual(ow.activations.get(run.activationId).response.result, { seen: { site: 'plant-1', unit: 'node', from: 'msg', value: 25 } });
    const trig = ow.activations.get(msg.payload.activationId);
    assert.equal(JSON.parse(trig.logs[0]).activationId, run.activationId);
    await waitForStatus(t, (s) => s.fill === 'green' && /fired/.test(s.text));
  });

  it('an unknown trigger: red ring at deploy, and a firing reaches Catch with the original message and a clear error', async () => {
    await helper.load(nodes, flow('nope'), creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'red' && /not found/.test(s.text));
    const caught = nextMessage(helper.getNode('caught'));
    t.receive({ payload: { a: 1 }, topic: 'original' });
    const msg = await caught;
    assert.equal(msg.topic, 'original');
    assert.deepEqual(msg.payload, { a: 1 });
    assert.match(msg.error.message, /Trigger '\/_\/nope' was not found on http:\/\/127\.0\.0\.1:\d+ \(404\)/);
    assert.equal(ow.firings.at(-1).status, 404);
  });

  it('a wrong key says so', async () => {
    await helper.load(nodes, flow('reading'), creds('x:y'));
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'red' && /unauthorized/.test(s.text));
    const caught = nextMessage(helper.getNode('caught'));
    t.receive({ payload: {} });
    assert.match((await caught).error.message, /rejected the key for trigger '\/_\/reading' \(401\)/);
  });

  it('a trigger without an active rule: OpenWhisk answers 204, the message goes on with an empty payload', async () => {
    await helper.load(nodes, flow('idle'), creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'green');
    const got = nextMessage(helper.getNode('out'));
    t.receive({ payload: { x: 1 } });
    assert.deepEqual((await got).payload, {});
    assert.equal(ow.firings.at(-1).status, 204);
    // (the test helper loads no message catalog: the status shows its key)
    await waitForStatus(t, (s) => s.fill === 'yellow' && /no.active.rule/.test(s.text));
  });

  it('a fast run of messages changes the status ring a bounded number of times, and the last change shows', async () => {
    await helper.load(nodes, flow('idle'), creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'green');
    const out = helper.getNode('out');
    const before = t.status.callCount;
    const started = Date.now();
    // One after the other: each message turns the ring to "firing", its answer to "no active rule".
    const N = 150;
    for (let i = 0; i < N; i++) {
      const got = nextMessage(out);
      t.receive({ payload: { i } });
      await got;
    }
    const elapsed = Date.now() - started;
    // The throttle (lib/status-throttle.ts, 8 at once, then one per 50 ms): 2 × N changes without it.
    const bound = 8 + Math.ceil(elapsed / 50) + 2;
    await waitForStatus(t, (s) => s.fill === 'yellow' && /no.active.rule/.test(s.text));
    const shown = t.status.callCount - before;
    assert.ok(shown <= bound, `${shown} status changes for ${N} messages in ${elapsed} ms (bound ${bound})`);
  });

  it("msg.trigger and msg.namespace are used when the node leaves them empty (the old node's rule)", async () => {
    await helper.load(nodes, flow(''), creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'grey');
    const got = nextMessage(helper.getNode('out'));
    t.receive({ payload: 'text', trigger: 'reading', namespace: 'guest' });
    const msg = await got;
    assert.match(msg.payload.activationId, /^[0-9a-f]{32}$/);
    assert.deepEqual(ow.firings.at(-1), {
      namespace: 'guest',
      name: 'reading',
      params: { payload: 'text' },
      status: 202,
      activationId: msg.payload.activationId,
    });
  });

  it('a local runtime whose catalog is the service fires the trigger through that service', async () => {
    /** @type {Record<string, unknown>[]} */
    const f = flow('reading');
    f[1] = { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', source: 'service', images: 'nodejs:*=leon-edge/action-nodejs-v20:latest' };
    await helper.load(nodes, f, creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'green' && /cloud/.test(s.text));
    const got = nextMessage(helper.getNode('out'));
    t.receive({ payload: { value: 7 } });
    const msg = await got;
    assert.equal(ow.firings.at(-1).activationId, msg.payload.activationId);
    assert.deepEqual(ow.firings.at(-1).params, { value: 7 });
  });

  it('an old node-red-node-openwhisk trigger node (service, no runtime; params [{disabled}]) fires in cloud mode', async () => {
    const f = [
      { id: 'svc', type: 'openwhisk-service', name: '', api: `${ow.url}/api/v1` },
      {
        id: 't',
        type: 'openwhisk-trigger',
        name: '',
        namespace: 'guest',
        trigger: 'reading',
        service: 'svc',
        params: [{ disabled: true }],
        edit: false,
        wires: [],
      },
    ];
    await helper.load(nodes, f, creds());
    const t = helper.getNode('t');
    await waitForStatus(t, (s) => s.fill === 'green');
    const n = ow.firings.length;
    t.receive({ payload: { value: 3 } });
    await until(() => ow.firings.length > n && ow.firings.at(-1).status === 202);
    assert.deepEqual(ow.firings.at(-1).params, { value: 3 });
  });
});

describe('openwhisk-trigger on a local runtime with a manifest (real Docker)', function () {
  this.timeout(60000);
  let dir;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-trigger-'));
    fs.writeFileSync(path.join(dir, 'record.js'), 'function main(p) { console.log("rule ran"); return { seen: p }; }\n');
    fs.writeFileSync(path.join(dir, 'fail.js'), 'function main() { return { error: "sensor offline" }; }\n');
    fs.writeFileSync(
      path.join(dir, 'manifest.yaml'),
      [
        'packages:',
        '  edge:',
        '    actions:',
        '      record:',
        '        function: record.js',
        '        runtime: nodejs:20',
        '      fail:',
        '        function: fail.js',
        '        runtime: nodejs:20',
        '    triggers:',
        '      reading:',
        '        inputs:',
        '          site: plant-1',
        '          unit: trigger',
        '      lonely:',
        '    rules:',
        '      onReading:',
        '        trigger: reading',
        '        action: record',
        '      alsoFail:',
        '        trigger: reading',
        '        action: fail',
        '',
      ].join('\n'),
    );
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  // A node id of its own: containers are counted by their node label on a Docker engine others may share.
  function flow(trigger) {
    return [
      {
        id: 'rt',
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest: path.join(dir, 'manifest.yaml'),
        images: `nodejs:*=${IMAGE}`,
        capacity: 4,
      },
      { id: 'trig-local-t', type: 'openwhisk-trigger', runtime: 'rt', trigger, params: [{ key: 'unit', value: 'node' }], wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  it("provisions the rules' actions at deploy; firing runs each of them with trigger < node < message params", async () => {
    const userDir = dir;
    helper.settings({ userDir });
    await helper.load(nodes, flow('reading'));
    const t = helper.getNode('trig-local-t');
    await waitForStatus(t, (s) => s.fill === 'green', 40000);
    assert.equal((await containersWith(`io.leon-edge.node=${t.id}`)).length, 2, 'one warm container per rule action');
    const got = nextMessage(helper.getNode('out'), 30000);
    t.receive({ payload: { value: 30 }, topic: 'kept' });
    const msg = await got;
    assert.equal(msg.topic, 'kept');
    assert.match(msg.payload.activationId, /^[0-9a-f]{32}$/);
    assert.equal(msg.data.activationId, msg.payload.activationId);
    assert.equal(msg.data.name, 'reading');
    assert.deepEqual(msg.data.response.result, { unit: 'node', value: 30 });
    const logs = msg.data.logs.map((l) => JSON.parse(l));
    assert.deepEqual(
      logs.map((l) => [l.rule, l.action, l.statusCode, l.success]),
      [
        ['guest/alsoFail', 'guest/edge/fail', 0, true],
        ['guest/onReading', 'guest/edge/record', 0, true],
      ],
    );
    assert.equal(msg.activations.length, 2);
    const rec = msg.activations.find((a) => a.name === 'record');
    assert.deepEqual(rec.response.result, { seen: { site: 'plant-1', unit: 'node', value: 30 } });
    assert.ok(rec.logs.some((l) => /rule ran/.test(l)));
    assert.equal(rec.cause, msg.payload.activationId);
    assert.ok(rec.annotations.some((a) => a.key === 'where' && a.value === 'local'));
    assert.ok(rec.annotations.some((a) => a.key === 'rule' && a.value === 'guest/onReading'));
    const failed = msg.activations.find((a) => a.name === 'fail');
    assert.equal(failed.response.status, 'application error');
    assert.equal(logs.find((l) => l.rule === 'guest/onReading').activationId, rec.activationId);
  });

  it('an unknown trigger is a config error naming the manifest; a trigger without rules fires and runs nothing', async () => {
    helper.settings({ userDir: dir });
    await helper.load(nodes, flow('nope'));
    const t = helper.getNode('trig-local-t');
    await waitForStatus(t, (s) => s.fill === 'red' && /not found/.test(s.text));
    const caught = nextMessage(helper.getNode('caught'));
    t.receive({ payload: { a: 1 }, topic: 'o' });
    const err = await caught;
    assert.equal(err.topic, 'o');
    assert.match(err.error.message, /Trigger 'nope' not found in manifest .*manifest\.yaml \(it declares 'lonely', 'reading'\)/);

    await helper.unload();
    await helper.load(nodes, flow('lonely'));
    const lonely = helper.getNode('trig-local-t');
    await waitForStatus(lonely, (s) => s.fill === 'green');
    const got = nextMessage(helper.getNode('out'));
    lonely.receive({ payload: { a: 1 } });
    const msg = await got;
    assert.deepEqual(msg.payload, {}, 'no activation id: nothing ran (OpenWhisk answers 204)');
    assert.equal(msg.data, undefined);
    assert.equal((await containersWith(`io.leon-edge.node=${lonely.id}`)).length, 0);
  });

  it('the trigger-at-the-edge example: a reading fires sensor-reading, both rules run at the edge', async () => {
    const example = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', 'trigger-at-the-edge.json'), 'utf8'));
    const f = example.map((n) => {
      if (n.type === 'inject') return { ...n, repeat: '', once: false };
      if (n.type === 'debug') return { id: n.id, z: n.z, type: 'helper' };
      return n;
    });
    const extra = [coreNode('common/90-comment.js'), coreNode('common/20-inject.js'), coreNode('function/10-function.js'), coreNode('function/89-delay.js')];
    await helper.load([...nodes, ...extra], f);
    const t = helper.getNode('trig.t');
    await waitForStatus(t, (s) => s.fill === 'green', 40000);
    const got = nextMessage(helper.getNode('trig.debug'), 30000);
    helper.getNode('trig.in').receive({});
    const msg = await got;
    // (built in the function node's sandbox: compared as JSON)
    assert.deepEqual(JSON.parse(JSON.stringify(msg.payload)), {
      'guest/check-threshold': { value: 31.5, threshold: 30, alarm: true, payload: 'ALARM: 31.5 is above 30' },
      'guest/also-in-celsius': { value: 31.5, unit: 'C' }, // 88.7 °F
    });
  });
});
