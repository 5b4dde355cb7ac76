'use strict';
// openwhisk-action with its code written in the node ("code: written here"): on a local runtime with
// no catalog at all (real Docker), and deployed to an OpenWhisk service (the API stand-in).
const assert = require('node:assert/strict');
const { helper, nodes, nextMessage, waitForStatus, errorsOf } = require('../support/nr');
const { requireDocker, requireImage } = require('../support/docker');

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

  /** A local runtime with no service and no manifest: only the node carries the action. */
  function flow(inline) {
    return [
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', capacity: 2, queue: 10 },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', source: 'inline', action: '', namespace: '', params: [{ key: 'unit', value: 'C' }], wires: [['out']], ...inline },
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
    assert.ok(msg.data.logs.some((l) => /stdout: got 21/.test(l)), JSON.stringify(msg.data.logs));
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

  it('shows a syntax error on the ring and in the log with the action\'s message, and sends messages to Catch', async () => {
    await helper.load(nodes, flow({ kind: 'nodejs:20', code: 'function main(p) {\n  return { ok: true \n}\n' }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red', 60000);
    assert.match(st.text, /^init failed: .*SyntaxError/, st.text);
    const logged = errorsOf(a).join('\n');
    assert.match(logged, /failed to initialize.*SyntaxError/s, logged);
    const caught = nextMessage(helper.getNode('caught'), 30000);
    a.receive({ payload: {} });
    const msg = await caught;
    assert.match(msg.error.message, /SyntaxError/);
  });

  it('refuses a node with no code, saying what to write', async () => {
    await helper.load(nodes, flow({ kind: 'python:3.11', code: '  ' }));
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red');
    assert.equal(st.text, 'no code');
    assert.match(errorsOf(a).join('\n'), /has no code: write it in the openwhisk-action node/);
  });
});
