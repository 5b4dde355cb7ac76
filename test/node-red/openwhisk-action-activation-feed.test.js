'use strict';
// The action node's side of the OpenWhisk sidebar and its log option, in cloud mode (no Docker): the
// activations a cloud runtime's nodes run are kept for the sidebar, each naming its node, successful or
// failed; with "Logs" ticked, the action's log lines go to Node-RED's log, at most 20 a second.
const assert = require('node:assert/strict');
const path = require('node:path');
const { helper, nodes, nextMessage, callsOf } = require('../support/nr');
const { startOpenWhiskServer } = require('../support/openwhisk-server');
const { feed } = require(path.join(__dirname, '..', '..', 'dist', 'lib', 'activations', 'feed'));

describe("openwhisk-action: records for the sidebar, log lines to Node-RED's log", function () {
  this.timeout(20000);
  let ow;

  before(async () => {
    ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
    ow.putAction('guest', 'chatty', {
      exec: { kind: 'nodejs:20', code: 'function main(p) { for (let i = 0; i < (p.lines || 1); i++) console.log("line " + i); return { n: p.n }; }' },
    });
    ow.putAction('guest', 'fail', { exec: { kind: 'nodejs:20', code: 'function main() { return { error: "sensor offline" }; }' } });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  const flow = (extra = {}) => [
    { id: 'svc', type: 'openwhisk-service', api: ow.url },
    { id: 'rt', type: 'openwhisk-runtime', name: 'cloudy', mode: 'cloud', service: 'svc' },
    { id: 'a', type: 'openwhisk-action', runtime: 'rt', action: 'chatty', namespace: '', params: [], wires: [['out']], ...extra },
    { id: 'f', type: 'openwhisk-action', runtime: 'rt', action: 'fail', namespace: '', params: [], wires: [['out']] },
    { id: 'out', type: 'helper' },
    { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
  const creds = () => ({ svc: { key: ow.key('guest') } });
  const logLines = (node) => callsOf(node, 'log').map((c) => String(c.args[0]));

  it("keeps the cloud activations of a runtime's nodes, each naming its node, failed ones too", async () => {
    await helper.load(nodes, flow(), creds());
    const got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { n: 7 } });
    const msg = await got;
    const caught = nextMessage(helper.getNode('caught'));
    helper.getNode('f').receive({ payload: {} });
    await caught;
    assert.deepEqual(
      feed.list().find((r) => r.id === 'rt'),
      { id: 'rt', name: 'cloudy', mode: 'cloud', kept: 2, maxCount: 200, persisted: false },
    );
    const rows = feed.rows({ runtime: 'rt' });
    assert.deepEqual(
      rows.map((r) => [r.node, r.action, r.where, r.status]),
      [
        ['f', '/guest/fail', 'cloud', 'application error'],
        ['a', '/guest/chatty', 'cloud', 'success'],
      ],
    );
    const d = feed.detail('rt', msg.data.activationId);
    assert.deepEqual(d.params, { n: 7 });
    assert.deepEqual(d.result, { n: 7 });
    assert.ok(d.logs.some((l) => /line 0/.test(l)));
    // The message's record is the runner's, without the sidebar's node annotation.
    assert.ok(!msg.data.annotations.some((k) => k.key === 'node'));
    // A closed runtime is no longer listed.
    await helper.unload();
    assert.equal(
      feed.list().find((r) => r.id === 'rt'),
      undefined,
    );
  });

  it('writes log lines to Node-RED\'s log only when "Logs" is ticked, at most 20 a second', async () => {
    await helper.load(nodes, flow(), creds());
    let got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { n: 1 } });
    await got;
    assert.deepEqual(
      logLines(helper.getNode('a')).filter((l) => /line/.test(l)),
      [],
      'off by default',
    );
    await helper.unload();
    await helper.load(nodes, flow({ logs: true }), creds());
    got = nextMessage(helper.getNode('out'));
    helper.getNode('a').receive({ payload: { n: 2, lines: 30 } });
    await got;
    const lines = logLines(helper.getNode('a')).filter((l) => /line/.test(l));
    assert.equal(lines.length, 20);
    assert.match(lines[0], /^chatty: .*stdout: line 0$/);
  });
});
