'use strict';
// The example flows as a user imports them: the small examples share one local runtime (Node-RED
// reuses a config node with the same id on import, so importing them all makes one runtime, one pool
// per action and one stem cell), none of them fires forever, every OpenWhisk node's errors reach a
// Catch node; and deployed together they work (real Docker), the cloud half of hello saying what it needs.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { helper, nodes, coreNode, nextMessage, waitForStatus } = require('../../support/nr');
const { requireDocker, requireImage, containersWith, ownInstance } = require('../../support/docker');

const DIR = path.join(__dirname, '..', '..', '..', 'examples');
const load = (f) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
const FLOWS = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));
const SMALL = ['hello-cloud-vs-local.json', 'sensor-threshold-at-the-edge.json', 'sequence.json', 'trigger-at-the-edge.json'];
const SHARED = 'leon.rt.examples';
const isConfig = (n) => !('x' in n) && n.type !== 'tab';

describe('the example flows', () => {
  it('config nodes with one name are one node: the small examples share one local runtime', () => {
    const byName = new Map();
    for (const f of FLOWS) {
      for (const n of load(f).filter((x) => isConfig(x) && x.name && x.type === 'openwhisk-runtime')) {
        const seen = byName.get(n.name);
        if (seen) assert.deepEqual(n, seen.node, `${f} and ${seen.f} each bring a runtime named "${n.name}": one node (same id and settings) or two names`);
        else byName.set(n.name, { f, node: n });
      }
    }
    for (const f of SMALL) {
      const runtimes = load(f).filter((n) => n.type === 'openwhisk-runtime' && n.mode === 'local');
      assert.deepEqual(
        runtimes.map((n) => n.id),
        [SHARED],
        f,
      );
    }
  });

  it('no inject fires for ever: readings stop after a few (a click sends more)', () => {
    for (const f of FLOWS) {
      for (const n of load(f).filter((x) => x.type === 'inject')) {
        assert.ok(!n.repeat && !n.crontab, `${f}: inject "${n.name}" repeats (${n.repeat || n.crontab})`);
      }
    }
  });

  it("every OpenWhisk node's errors reach a Catch node", () => {
    for (const f of FLOWS) {
      const flow = load(f);
      const catches = flow.filter((n) => n.type === 'catch');
      for (const n of flow.filter((x) => x.type === 'openwhisk-action' || x.type === 'openwhisk-trigger')) {
        const caught = catches.some((c) => c.z === n.z && (!Array.isArray(c.scope) || c.scope.includes(n.id)));
        assert.ok(caught, `${f}: "${n.name}" (${n.id}) has no Catch node`);
      }
    }
  });
});

describe('the small examples deployed together (real Docker)', function () {
  this.timeout(120000);

  before(async function () {
    await requireDocker(this);
    await requireImage(this, 'leon-edge/action-nodejs-v20:latest');
  });
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  it('one runtime and at most one stem cell; hello runs at the edge and its cloud half says it needs a service; the sensor sends five readings and stops', async () => {
    // As Node-RED imports them one after the other: a config node that exists already is reused.
    const ids = new Set();
    const flow = [];
    for (const f of SMALL) {
      for (const n of load(f)) {
        if (ids.has(n.id)) continue;
        ids.add(n.id);
        // The test helper loads a core node's module once per node of its type: one Catch node only (hello's).
        const stub = n.type === 'debug' || (n.type === 'catch' && n.id !== 'hello.catch');
        flow.push(stub ? { id: n.id, z: n.z, type: 'helper' } : n);
      }
    }
    flow.push({ id: 'sens.count', z: 'sens.tab', type: 'helper' });
    flow.find((n) => n.id === 'sens.act').wires[0].push('sens.count');
    const core = ['common/90-comment.js', 'common/20-inject.js', 'function/10-function.js', 'function/89-delay.js', 'function/10-switch.js'];
    const readings = [];
    await helper.load([...nodes, ...core.map(coreNode)], flow);
    helper.getNode('sens.count').on('input', (m) => readings.push(m));

    for (const id of ['hello.local', 'sens.act', 'seq.act', 'trig.t']) await waitForStatus(helper.getNode(id), (s) => s.fill === 'green', 60000);
    const local = nextMessage(helper.getNode('hello.dbg'), 20000);
    const cloudErr = nextMessage(helper.getNode('hello.err'), 20000);
    helper.getNode('hello.in').receive({ payload: { name: 'Edge' } });
    assert.match(JSON.stringify((await local).payload), /Edge/);
    const e = await cloudErr;
    assert.equal(e.error.source.id, 'hello.cloud');
    assert.match(e.error.message, /key/i, 'the error says what the service lacks');

    // Five readings at deploy (one every 2 s), then none.
    const t0 = Date.now();
    while (readings.length < 5 && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 200));
    assert.equal(readings.length, 5);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(readings.length, 5, 'the sensor stops after five readings');

    const mine = await containersWith(ownInstance());
    const runtimes = new Set(mine.map((c) => c.Labels['io.leon-edge.runtime']));
    assert.deepEqual([...runtimes], [SHARED], 'one runtime for all the examples');
    assert.ok(mine.filter((c) => c.Labels['io.leon-edge.stemcell']).length <= 1, 'one stem cell at most');
  });
});
