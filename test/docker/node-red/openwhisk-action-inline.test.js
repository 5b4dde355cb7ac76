'use strict';
// openwhisk-action with its code written in the node ("code: written here"): on a local runtime with
// no catalog at all (real Docker), and deployed to an OpenWhisk service (the API stand-in); Node-RED
// context through `_context` (kept across a restart with a persistent store: test/node-red/inline-context-restart.test.js).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { helper, nodes, nextMessage, waitForStatus, errorsOf } = require('../../support/nr');
const { requireDocker, requireImage } = require('../../support/docker');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');

const NODE_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const PY_IMAGE = 'leon-edge/action-python-v3.11:latest';

describe('openwhisk-action with inline code on a local runtime with no catalog (real Docker)', function () {
  this.timeout(90000);

  before(async function () {
    await requireDocker(this);
    await requireImage(this, NODE_IMAGE);
    await requireImage(this, PY_IMAGE);
  });
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  /** A local runtime with no catalog (Catalog: none): only the node carries the action. */
  function flow(inline) {
    return [
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', source: 'none', capacity: 2, queue: 10 },
      {
        id: 'a',
        type: 'openwhisk-action',
        runtime: 'rt',
        source: 'inline',
        action: '',
        namespace: '',
        params: [{ key: 'unit', value: 'C' }],
        wires: [['out']],
        ...inline,
      },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }

  it('runs a Node.js action written in the node: parameters in, result out, logs in msg.data', async () => {
    const code = 'function main(p) {\n  console.log("got", p.value);\n  return { doubled: p.value * 2, unit: p.unit, node: process.version };\n}\n';
    await helper.load(nodes, flow({ kind: 'nodejs:20', code, memory: 128, timeout: 10 }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red', 60000);
    assert.equal(st.fill, 'green', JSON.stringify(st));
    const got = nextMessage(helper.getNode('out'));
    a.receive({ payload: { value: 21 } });
    const msg = await got;
    assert.equal(msg.payload.doubled, 42);
    assert.equal(msg.payload.unit, 'C');
    assert.match(msg.payload.node, /^v20\./);
    assert.ok(
      msg.data.logs.some((l) => /stdout: got 21/.test(l)),
      JSON.stringify(msg.data.logs),
    );
    assert.equal(msg.data.name, 'a', 'the action is named after the node');
  });

  it('runs a Python action written in the node, with its own entry point', async () => {
    const code = 'import sys\n\ndef handle(args):\n    return {"sum": sum(args.get("values", [])), "python": sys.version.split()[0]}\n';
    await helper.load(nodes, flow({ kind: 'python:3.11', main: 'handle', code }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red', 60000);
    assert.equal(st.fill, 'green', JSON.stringify(st));
    const got = nextMessage(helper.getNode('out'));
    a.receive({ payload: { values: [1, 2, 3.5] } });
    const msg = await got;
    assert.equal(msg.payload.sum, 6.5);
    assert.match(msg.payload.python, /^3\.11\./);
  });

  it("shows a syntax error on the ring and in the log with the action's message, and sends messages to Catch", async () => {
    await helper.load(nodes, flow({ kind: 'nodejs:20', code: 'function main(p) {\n  return { ok: true \n}\n' }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red', 60000);
    assert.match(st.text, /^init failed: SyntaxError: Unexpected token/, st.text);
    const logged = errorsOf(a).join('\n');
    assert.match(logged, /failed to initialize.*SyntaxError/s, logged);
    const caught = nextMessage(helper.getNode('caught'), 30000);
    a.receive({ payload: {} });
    const msg = await caught;
    assert.match(msg.error.message, /SyntaxError/);
  });

  it("shows a Python syntax error on the ring with the interpreter's words", async () => {
    await helper.load(nodes, flow({ kind: 'python:3.11', code: 'def main(args:\n    return {}\n' }));
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red', 60000);
    assert.match(st.text, /^init failed: '\(' was never closed/, st.text);
  });

  it('a node from the catalog on a runtime with no catalog says so and what to do', async () => {
    await helper.load(nodes, flow({ source: 'catalog', action: 'hello' }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red');
    assert.equal(st.text, 'no catalog');
    assert.match(
      errorsOf(a).join('\n'),
      /has no catalog \(Catalog: none\): it runs only code written in the action nodes\. Set the node's Code to "written here"/,
    );
  });

  it('refuses a node with no code, saying what to write', async () => {
    await helper.load(nodes, flow({ kind: 'python:3.11', code: '  ' }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red');
    assert.equal(st.text, 'no code');
    assert.match(errorsOf(a).join('\n'), /has no code: write it in the openwhisk-action node/);
  });
});

describe('openwhisk-action with inline code deployed to OpenWhisk (the API stand-in)', function () {
  this.timeout(20000);
  let ow;

  before(async () => {
    ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  /** The action as the service holds it (GET with the key), or undefined when it has none. */
  async function stored(name) {
    const res = await fetch(`${ow.url}/api/v1/namespaces/guest/actions/${name}?code=true`, {
      headers: { authorization: `Basic ${Buffer.from(ow.key('guest')).toString('base64')}` },
    });
    return res.status === 404 ? undefined : res.json();
  }

  function flow(inline, key) {
    return {
      nodes: [
        { id: 'svc', type: 'openwhisk-service', api: ow.url },
        { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
        { id: 'a', type: 'openwhisk-action', runtime: 'rt', source: 'inline', namespace: '', params: [], wires: [['out']], kind: 'nodejs:20', ...inline },
        { id: 'out', type: 'helper' },
        { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
      creds: { svc: { key: key || ow.key('guest') } },
    };
  }
  async function deploy(inline, key) {
    const f = flow(inline, key);
    await helper.load(nodes, f.nodes, f.creds);
    return helper.getNode('a');
  }
  async function run(a, payload) {
    const got = nextMessage(helper.getNode('out'));
    a.receive({ payload });
    return got;
  }

  const V1 = 'function main(p) { return { greeting: "Hello, " + p.name }; }';
  const V2 = 'function main(p) { return { greeting: "Hi, " + p.name }; }';

  it('creates the action (and its package) at deploy, runs it in the cloud, and the ring says its version', async () => {
    assert.equal(await stored('greeters/greet'), undefined);
    const a = await deploy({ action: 'greeters/greet', code: V1, memory: 128, timeout: 5 });
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red');
    assert.match(st.text, / · v0\.0\.1$/); // the test helper shows message keys: "…status.cloud · …status.ready · v0.0.1"
    const doc = await stored('greeters/greet');
    assert.equal(doc.exec.code, V1);
    assert.deepEqual([doc.limits.memory, doc.limits.timeout], [128, 5000]);
    const msg = await run(a, { name: 'Edge' });
    assert.equal(msg.payload.greeting, 'Hello, Edge');
    assert.equal(ow.invocations.at(-1).name, 'greeters/greet');
  });

  it('leaves the action alone when nothing changed, and updates it (new version) when the code or a limit did', async () => {
    let a = await deploy({ action: 'same', code: V1 });
    await waitForStatus(a, (s) => s.fill === 'green');
    const first = await stored('same');
    await helper.unload();

    a = await deploy({ action: 'same', code: V1 });
    let st = await waitForStatus(a, (s) => s.fill === 'green');
    assert.ok(st.text.endsWith(` · v${first.version}`), st.text);
    assert.equal((await stored('same')).updated, first.updated, 'an unchanged action is not written again');
    await helper.unload();

    a = await deploy({ action: 'same', code: V2 });
    st = await waitForStatus(a, (s) => s.fill === 'green');
    const second = await stored('same');
    assert.notEqual(second.version, first.version);
    assert.ok(st.text.endsWith(` · v${second.version}`), st.text);
    assert.equal((await run(a, { name: 'Edge' })).payload.greeting, 'Hi, Edge');
    await helper.unload();

    a = await deploy({ action: 'same', code: V2, timeout: 30 });
    st = await waitForStatus(a, (s) => s.fill === 'green');
    const third = await stored('same');
    assert.notEqual(third.version, second.version);
    assert.ok(st.text.endsWith(` · v${third.version}`), st.text);
    assert.equal(third.limits.timeout, 30000);
  });

  it('on a local runtime with "deploy" ticked: deploys to the runtime\'s service and runs the same version in a local container', async function () {
    this.timeout(90000);
    await requireDocker(this);
    await requireImage(this, NODE_IMAGE);
    const f = flow({ action: 'edge/twice', code: 'function main(p) { return { twice: p.n * 2 }; }', deploy: true });
    f.nodes[1] = { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', capacity: 1, queue: 4 };
    const before = ow.invocations.length;
    await helper.load(nodes, f.nodes, f.creds);
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red', 60000);
    assert.equal(st.fill, 'green', JSON.stringify(st));
    assert.ok(st.text.endsWith(' · v0.0.1'), st.text);
    assert.equal((await stored('edge/twice')).exec.code, 'function main(p) { return { twice: p.n * 2 }; }');
    const msg = await run(a, { n: 4 });
    assert.equal(msg.payload.twice, 8);
    assert.equal(msg.data.version, '0.0.1');
    assert.equal(ow.invocations.length, before, 'it ran locally');
  });

  it("shows a refused key on the ring and in the log, and messages go to Catch with the service's message", async () => {
    const a = await deploy({ action: 'refused', code: V1 }, 'nobody:wrong');
    const st = await waitForStatus(a, (s) => s.fill === 'red');
    assert.equal(st.text, 'unauthorized');
    assert.match(errorsOf(a).join('\n'), /Cannot deploy the inline action '\/_\/refused' to OpenWhisk at .*rejected the key/);
    const caught = nextMessage(helper.getNode('caught'));
    a.receive({ payload: { name: 'x' } });
    assert.match((await caught).error.message, /Cannot deploy the inline action/);
    assert.equal(await stored('refused'), undefined);
  });

  it('deploys an old node-red-node-openwhisk node\'s code ("Allow Edits": edit and func) with its parameters, and runs it', async () => {
    const legacy = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'legacy-openwhisk-flow.json'), 'utf8'));
    const old = legacy.find((n) => n.type === 'openwhisk-action');
    const svc = legacy.find((n) => n.type === 'openwhisk-service');
    const func = 'function main(p) { return { payload: "Hello from the old node, " + p.name }; }';
    const flowNodes = [
      { ...svc, api: ow.url },
      { ...old, edit: true, func, params: [{ key: 'name', value: 'Legacy' }], wires: [['out']] },
      { id: 'out', type: 'helper', z: old.z },
    ];
    await helper.load(nodes, flowNodes, { [svc.id]: { key: ow.key('guest') } });
    const a = helper.getNode(old.id);
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red');
    assert.equal(st.fill, 'green', JSON.stringify(st));
    const doc = await stored('hello');
    assert.equal(doc.exec.code, func);
    assert.deepEqual(doc.parameters, [{ key: 'name', value: 'Legacy' }]);
    const got = nextMessage(helper.getNode('out'));
    a.receive({ payload: {} });
    assert.equal((await got).payload.payload, 'Hello from the old node, Legacy');
  });
});

describe('openwhisk-action and Node-RED context (declared keys in _context, updates out in _context)', function () {
  this.timeout(90000);
  let ow;

  before(async () => {
    ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
  });
  after(async () => ow && ow.stop());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    helper.settings({});
  });

  const COUNTER = [
    'function main(p) {',
    '  const seen = (p._context.flow && p._context.flow.count) || 0;',
    '  const limit = p._context.global ? p._context.global.limit : undefined;',
    '  return { count: seen + 1, limit, _context: { flow: { count: seen + 1, stray: 1 }, global: { last: p.name } } };',
    '}',
  ].join('\n');

  function flow(rt, extra = {}) {
    return [
      { id: 'tab', type: 'tab' },
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      { ...rt, id: 'rt', service: 'svc' },
      {
        id: 'a',
        z: 'tab',
        type: 'openwhisk-action',
        runtime: 'rt',
        source: 'inline',
        action: 'counter',
        kind: 'nodejs:20',
        code: COUNTER,
        context: 'flow.count, global.limit\nglobal.last',
        params: [],
        wires: [['out']],
        ...extra,
      },
      { id: 'out', z: 'tab', type: 'helper' },
    ];
  }
  const creds = () => ({ svc: { key: ow.key('guest') } });
  async function send(payload) {
    const got = nextMessage(helper.getNode('out'), 30000);
    helper.getNode('a').receive({ payload });
    return got;
  }

  it('cloud mode: reads declared keys, applies the updates, strips _context from the result, ignores undeclared keys with a warning', async () => {
    await helper.startServer();
    await helper.load(nodes, flow({ type: 'openwhisk-runtime', mode: 'cloud' }), creds());
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green');
    a.context().global.set('limit', 7);
    for (let i = 1; i <= 3; i++) {
      const msg = await send({ name: `m${i}` });
      assert.deepEqual(msg.payload, { count: i, limit: 7 });
      assert.equal(msg.data.response.result._context, undefined);
    }
    assert.equal(a.context().flow.get('count'), 3);
    assert.equal(a.context().global.get('last'), 'm3');
    assert.equal(a.context().flow.get('stray'), undefined);
    const warned = require('../../support/nr')
      .callsOf(a, 'warn')
      .map((c) => String(c.args[0]));
    assert.equal(warned.filter((w) => /context key flow\.stray, which the node does not declare/.test(w)).length, 1, 'warned once');
  });

  it('local mode: a Python moving average kept in flow context (the same _context contract)', async function () {
    await requireDocker(this);
    await requireImage(this, PY_IMAGE);
    const code = [
      'def main(args):',
      '    window = (args["_context"].get("flow") or {}).get("window") or []',
      '    window = (window + [args["value"]])[-3:]',
      '    avg = sum(window) / len(window)',
      '    return {"avg": avg, "_context": {"flow": {"window": window}}}',
    ].join('\n');
    await helper.startServer();
    await helper.load(
      nodes,
      flow({ type: 'openwhisk-runtime', mode: 'local', capacity: 1, queue: 4 }, { kind: 'python:3.11', action: '', code, context: 'flow.window' }),
      creds(),
    );
    await waitForStatus(helper.getNode('a'), (s) => s.fill === 'green' || s.fill === 'red', 60000);
    const avgs = [];
    for (const value of [3, 6, 9, 12]) avgs.push((await send({ value })).payload.avg);
    assert.deepEqual(avgs, [3, 4.5, 6, 9]);
    assert.deepEqual(helper.getNode('a').context().flow.get('window'), [6, 9, 12]);
  });

  it('refuses a bad context key declaration and a context too large to send, naming the key', async () => {
    await helper.startServer();
    await helper.load(nodes, flow({ type: 'openwhisk-runtime', mode: 'cloud' }, { context: 'flow.ok, session.x' }), creds());
    const st = await waitForStatus(helper.getNode('a'), (s) => s.fill === 'red');
    assert.equal(st.text, 'bad context key');
    assert.match(errorsOf(helper.getNode('a')).join('\n'), /'session\.x' is not valid: write flow\.<name> or global\.<name>/);
    await helper.unload();

    await helper.load(
      nodes,
      [
        ...flow({ type: 'openwhisk-runtime', mode: 'cloud' }),
        { id: 'c', z: 'tab', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', z: 'tab', type: 'helper' },
      ],
      creds(),
    );
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green');
    a.context().global.set('limit', 'x'.repeat(70 * 1024));
    const caught = nextMessage(helper.getNode('caught'));
    a.receive({ payload: {} });
    assert.match((await caught).error.message, /the largest, global\.limit, \d+\); at most 65536 go to an action/);
  });
});

describe('the inline examples run as imported', function () {
  this.timeout(90000);
  const example = (f) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', f), 'utf8'));
  /** The example's OpenWhisk nodes and config, its output debug node replaced by a test helper. */
  const runnable = (flow, out) =>
    flow
      .filter((n) => ['tab', 'openwhisk-action', 'openwhisk-runtime', 'openwhisk-service'].includes(n.type))
      .concat([{ id: out, z: flow[0].id, type: 'helper' }]);
  let ow;
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    if (ow) await ow.stop();
    ow = undefined;
  });

  it('inline Python moving average: drops the glitch, keeps the window in flow context', async function () {
    await requireDocker(this);
    await requireImage(this, PY_IMAGE);
    await helper.load(nodes, runnable(example('inline-python-moving-average.json'), 'inpy.dbg'));
    const a = helper.getNode('inpy.act');
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red', 60000);
    assert.equal(st.fill, 'green', JSON.stringify(st));
    const out = [];
    for (const payload of [21.2, 21.5, 20.9, 21.8, 22.1, 48.0, 21.7, 21.4]) {
      const got = nextMessage(helper.getNode('inpy.dbg'), 30000);
      a.receive({ payload });
      out.push((await got).payload);
    }
    assert.deepEqual(
      out.map((p) => p.glitch),
      [false, false, false, false, false, true, false, false],
    );
    assert.equal(out[7].average, 21.58);
    assert.deepEqual(a.context().flow.get('window'), [20.9, 21.8, 22.1, 21.7, 21.4]);
  });

  it('inline Node.js to the cloud: deployed at deploy (v0.0.1), then run there', async () => {
    ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
    const flow = runnable(example('inline-nodejs-to-the-cloud.json'), 'incl.dbg').map((n) => (n.type === 'openwhisk-service' ? { ...n, api: ow.url } : n));
    await helper.load(nodes, flow, { 'hello.svc': { key: ow.key('guest') } });
    const a = helper.getNode('incl.act');
    const st = await waitForStatus(a, (s) => s.fill === 'green' || s.fill === 'red');
    assert.ok(st.text.endsWith(' · v0.0.1'), st.text);
    const got = nextMessage(helper.getNode('incl.dbg'));
    a.receive({ payload: { name: 'Node-RED' } });
    assert.equal((await got).payload.greeting, 'Hello, Node-RED!');
  });
});
