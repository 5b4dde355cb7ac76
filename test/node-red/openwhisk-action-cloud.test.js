'use strict';
const assert = require('node:assert/strict');
const { helper, nodes, nextMessage, waitForStatus } = require('../support/nr');
const { startOpenWhiskServer } = require('../support/openwhisk-server');

const HELLO = 'function main(p) { console.log("hi " + p.name); return { payload: "Hello, " + p.name + "!", params: p }; }';

describe('openwhisk-action in cloud mode (test OpenWhisk server, real openwhisk client)', function () {
  this.timeout(20000);
  let ow;

  before(async () => {
    ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
    ow.putPackage('guest', 'tools', {
      parameters: [
        { key: 'from', value: 'package' },
        { key: 'level', value: 'package' },
      ],
    });
    ow.putAction('guest', 'hello', { exec: { kind: 'nodejs:20', code: HELLO }, parameters: [{ key: 'name', value: 'World' }] });
    ow.putAction('guest', 'tools/echo', {
      exec: { kind: 'nodejs:20', code: 'function main(p) { return { params: p }; }' },
      parameters: [
        { key: 'level', value: 'action' },
        { key: 'action', value: 'action' },
        { key: 'node', value: 'action' },
        { key: 'msg', value: 'action' },
      ],
    });
    ow.putAction('guest', 'fail', { exec: { kind: 'nodejs:20', code: 'function main() { return { error: "sensor offline" }; }' } });
    ow.putAction('guest', 'slow', {
      exec: { kind: 'nodejs:20', code: 'function main(p) { return new Promise(r => setTimeout(() => r({ done: p.n }), 300)); }' },
    });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    ow.blockingWaitMs = 60000;
    await helper.unload();
    await helper.stopServer();
  });

  function flow(action, extra = {}, api) {
    return [
      { id: 'svc', type: 'openwhisk-service', api: api || ow.url },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', action, namespace: '', params: [], wires: [['out']], ...extra },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }
  const creds = (key) => ({ svc: { key: key || ow.key('guest') } });

  it('invokes an action and sends its result, with the activation in msg.data', async () => {
    await helper.load(nodes, flow('hello'), creds());
    const out = helper.getNode('out');
    const got = nextMessage(out);
    helper.getNode('a').receive({ payload: { name: 'Edge' }, topic: 'kept' });
    const msg = await got;
    assert.equal(msg.payload.payload, 'Hello, Edge!');
    assert.equal(msg.topic, 'kept');
    assert.match(msg.data.activationId, /^[0-9a-f]{32}$/);
    assert.equal(msg.data.response.status, 'success');
    assert.ok(
      msg.data.logs.some((l) => /stdout: hi Edge/.test(l)),
      'logs carried in msg.data',
    );
    await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green');
  });

  it('shows "ready" after checking the action exists at deploy, and not found for a missing action', async () => {
    await helper.load(nodes, flow('nope'), creds());
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red');
    assert.match(st.text, /not found/);
  });

  it('merges parameters: package < action defaults < node params < message', async () => {
    const f = flow('tools/echo', {
      params: [
        { key: 'node', value: 'node' },
        { key: 'msg', value: 'node' },
        { key: 'zero', value: 0 },
      ],
    });
    await helper.load(nodes, f, creds());
    const got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { msg: 'message' } });
    const { payload } = await got;
    assert.deepEqual(payload.params, { from: 'package', level: 'action', action: 'action', node: 'node', msg: 'message', zero: 0 });
  });

  it('wraps non-object payloads as {payload}, a Buffer base64-encoded', async () => {
    await helper.load(nodes, flow('tools/echo'), creds());
    const a = helper.getNode('a');
    const out = helper.getNode('out');
    for (const [input, expected] of [
      ['text', 'text'],
      [42, 42],
      [false, false],
      [Buffer.from('hi'), Buffer.from('hi').toString('base64')],
    ]) {
      const got = nextMessage(out);
      a.receive({ payload: input });
      assert.deepEqual((await got).payload.params.payload, expected);
    }
  });

  it('uses msg.action and msg.namespace only when the node leaves them empty', async () => {
    await helper.load(nodes, flow(''), creds());
    const got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ action: 'hello', namespace: 'guest', payload: {} });
    assert.equal((await got).payload.payload, 'Hello, World!');
    await helper.unload();
    await helper.load(nodes, flow('hello'), creds());
    const got2 = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ action: 'fail', payload: { name: 'Node' } });
    assert.equal((await got2).payload.payload, 'Hello, Node!', "the node's action wins over msg.action");
  });

  it('sends an application error to Catch with the original msg and the activation, and the next message works', async () => {
    const f = flow('fail');
    await helper.load(nodes, f, creds());
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('a').receive({ payload: {}, _tag: 'original' });
    const msg = await caught;
    assert.equal(msg._tag, 'original');
    assert.match(msg.error.message, /returned an error: sensor offline/);
    assert.equal(msg.data.response.status, 'application error');
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red');
    assert.equal(st.text, 'action error');
  });

  it('reports a wrong key (401) clearly, through Catch', async () => {
    await helper.load(nodes, flow('hello'), creds('23bc46b1-0000-0000-0000-000000000000:wrong'));
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('a').receive({ payload: {} });
    const msg = await caught;
    assert.match(msg.error.message, /rejected the key .*401.*auth key/);
    assert.ok(msg.error.message.includes(ow.url));
  });

  it('a node whose config cannot work (a service without a key) sends every message to Catch, with the original msg', async () => {
    await helper.load(nodes, flow('hello'), { svc: {} });
    for (const n of [1, 2]) {
      const caught = nextMessage(helper.getNode('caught'));
      helper.getNode('a').receive({ payload: { n }, topic: 'kept' });
      const msg = await caught;
      assert.match(msg.error.message, /key/i);
      assert.deepEqual([msg.payload, msg.topic], [{ n }, 'kept']);
    }
  });

  it('reports a missing action (404) naming the action and the host', async () => {
    await helper.load(nodes, flow(''), creds());
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('a').receive({ payload: {}, action: 'missing' });
    const msg = await caught;
    assert.match(msg.error.message, /'\/_\/missing' was not found on http:\/\/127\.0\.0\.1:\d+ \(404\)/);
  });

  it('says so when the API host is unreachable', async () => {
    await helper.load(nodes, flow('hello', {}, 'http://127.0.0.1:9/api/v1'), creds());
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('a').receive({ payload: {} });
    const msg = await caught;
    assert.match(msg.error.message, /Cannot reach the OpenWhisk API at http:\/\/127\.0\.0\.1:9/);
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red');
    assert.equal(st.text, 'unreachable');
  });

  it('follows a 202 (blocking wait over) by polling the activation', async () => {
    ow.blockingWaitMs = 50;
    await helper.load(nodes, flow('slow'), creds());
    const got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { n: 7 } });
    const msg = await got;
    assert.deepEqual(msg.payload, { done: 7 });
    assert.equal(msg.data.response.status, 'success');
  });

  it('reports throttling (429) as a clear message', async () => {
    await helper.load(nodes, flow('hello'), creds());
    ow.throttle = true;
    try {
      const caught = nextMessage(helper.getNode('caught'));
      helper.getNode('a').receive({ payload: {} });
      assert.match((await caught).error.message, /throttling .*429/);
    } finally {
      ow.throttle = false;
    }
  });

  it('runs a flow exported from node-red-node-openwhisk (service, no runtime)', async () => {
    // As exported by node-red-node-openwhisk 0.3.4: openwhisk-service with an /api/v1 URL,
    // openwhisk-action with func/edit fields and params, and no runtime.
    const legacy = [
      { id: 'svc', type: 'openwhisk-service', name: 'my openwhisk', api: `${ow.url}/api/v1` },
      {
        id: 'a',
        type: 'openwhisk-action',
        name: '',
        func: '',
        namespace: 'guest',
        action: 'hello',
        params: [{ key: 'name', value: 'Legacy' }],
        service: 'svc',
        edit: false,
        wires: [['out']],
      },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(nodes, legacy, creds());
    const got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: 'ignored-string' });
    const msg = await got;
    assert.equal(msg.payload.payload, 'Hello, Legacy!');
    assert.equal(msg.data.response.success, true);
  });

  describe('admin endpoint listing actions for the editor', () => {
    it('lists the actions and packages of a deployed service', async () => {
      await helper.load(nodes, flow('hello'), creds());
      const res = await helper.request().post('/leon-openwhisk/entities').send({ service: 'svc' }).expect(200);
      const names = res.body.actions.map((a) => a.name);
      assert.ok(names.includes('hello') && names.includes('tools/echo'), names.join());
      assert.deepEqual(
        res.body.packages.map((p) => p.name),
        ['tools'],
      );
    });

    it('answers a wrong key with a clear error instead of an empty list', async () => {
      await helper.load(nodes, flow('hello'), creds());
      const res = await helper.request().post('/leon-openwhisk/entities').send({ service: 'svc', api: ow.url, key: 'x:y' }).expect(403);
      assert.match(res.body.error, /rejected the key/);
    });

    it('asks to deploy first when the service is unknown and no key is given', async () => {
      await helper.load(nodes, flow('hello'), creds());
      const res = await helper.request().post('/leon-openwhisk/entities').send({ service: 'not-deployed' }).expect(409);
      assert.match(res.body.error, /Deploy/);
    });

    it('never returns the key', async () => {
      await helper.load(nodes, flow('hello'), creds());
      const res = await helper.request().post('/leon-openwhisk/entities').send({ service: 'svc' }).expect(200);
      assert.ok(!JSON.stringify(res.body).includes(ow.key('guest').split(':')[1]));
    });
  });
});
