'use strict';
// Hostile actions against the real Node-RED runtime and a real Docker engine: a container that
// replies with a gigabyte, writes a gigabyte without a newline, floods its logs, or never answers.
// The runtime reads no more than its bounds, the message gets the platform's error, the next works.
const assert = require('node:assert/strict');
const { helper, nodes, nextMessage, waitForStatus, errorsOf } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage } = require('../../support/docker');
const { ACTION_IMAGE, HOSTILE_IMAGE, buildHostileImage } = require('../../support/hostile');

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Peak RSS above `base` while `work` runs (sampled every 5 ms). */
async function rssGrowth(work) {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

describe('hostile actions in local mode (real Node-RED, real Docker)', function () {
  this.timeout(120000);
  let ow;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, ACTION_IMAGE);
    buildHostileImage();
    ow = await startOpenWhiskServer();
    const blackbox = { kind: 'blackbox', image: HOSTILE_IMAGE };
    ow.putAction('guest', 'hostile', { exec: blackbox, limits: { timeout: 60000, memory: 256, logs: 1, concurrency: 1 } });
    ow.putAction('guest', 'hostile-init', { exec: blackbox, parameters: [{ key: 'HOSTILE_INIT', value: 'huge', init: true }] });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  function flow(action) {
    return [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      { id: 'rt', type: 'openwhisk-runtime', mode: 'local', service: 'svc', capacity: 2, queue: 10 },
      { id: 'a', type: 'openwhisk-action', runtime: 'rt', action, namespace: '', params: [], wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
  }
  const creds = () => ({ svc: { key: ow.key('guest') } });

  async function deployed() {
    await helper.load(nodes, flow('hostile'), creds());
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green', 30000);
    return a;
  }

  async function nextWorks(a, n) {
    const got = nextMessage(helper.getNode('out'), 30000);
    a.receive({ payload: { mode: 'ok', n } });
    const msg = await got;
    assert.deepEqual(msg.payload, { ok: true, n });
  }

  for (const declared of [false, true]) {
    it(`fails a 1 GB reply (${declared ? 'Content-Length' : 'chunked'}) with the platform's error, reading at most the limit`, async () => {
      const a = await deployed();
      const { result: msg, growth } = await rssGrowth(() => {
        const caught = nextMessage(helper.getNode('caught'), 60000);
        a.receive({ payload: { mode: 'huge', bytes: GiB, declared }, _id: 'big' });
        return caught;
      });
      assert.equal(msg._id, 'big', 'Catch gets the original message');
      assert.match(msg.error.message, /The action produced a response that exceeded the allowed length: \d+ > 1048576 bytes\./);
      if (declared) assert.match(msg.error.message, new RegExp(`: ${GiB} > 1048576 bytes`));
      assert.ok(msg.error.message.length < 5000, `error message is short (${msg.error.message.length})`);
      assert.equal(msg.data.response.status, 'application error');
      assert.ok(growth < 100 * MiB, `RSS grew ${(growth / MiB).toFixed(1)} MB`);
      await nextWorks(a, 1);
    });
  }

  it('survives a 1 GB log line without a newline: the line is cut, the result arrives, the next message works', async () => {
    const a = await deployed();
    const { result: msg, growth } = await rssGrowth(() => {
      const got = nextMessage(helper.getNode('out'), 90000);
      a.receive({ payload: { mode: 'endless-line', bytes: GiB } });
      return got;
    });
    assert.deepEqual(msg.payload, { ok: true, n: null });
    const long = msg.data.logs.find((l) => l.includes('aaaa'));
    assert.ok(long, JSON.stringify(msg.data.logs.map((l) => l.slice(0, 80))));
    assert.ok(long.length < 20000, `the line is cut (${long.length} characters)`);
    assert.match(long, /line truncated: \d+ more characters/);
    assert.ok(!msg.data.logs.some((l) => l.includes('XXX_THE_END')), 'the sentinel at the end of the long line is recognised');
    assert.ok(growth < 100 * MiB, `RSS grew ${(growth / MiB).toFixed(1)} MB`);
    await nextWorks(a, 2);
  });

  it("keeps an activation's logs within limits.logs, with OpenWhisk's truncation line", async () => {
    const a = await deployed();
    const got = nextMessage(helper.getNode('out'), 90000);
    a.receive({ payload: { mode: 'big-lines', lines: 150, lineBytes: 4 * MiB } });
    const msg = await got;
    const total = msg.data.logs.reduce((n, l) => n + Buffer.byteLength(l), 0);
    assert.ok(total <= MiB + 200, `logs hold ${total} bytes`);
    assert.equal(msg.data.logs.at(-1), 'Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes.');
    await nextWorks(a, 3);
  });

  it('fails a small result nested 10,000 levels deep instead of crashing Node-RED when it copies the message', async () => {
    await helper.load(
      nodes,
      flow('hostile')
        .map((n) => (n.id === 'a' ? { ...n, wires: [['out', 'out2']] } : n))
        .concat({ id: 'out2', type: 'helper' }),
      creds(),
    );
    const a = helper.getNode('a');
    await waitForStatus(a, (s) => s.fill === 'green', 30000);
    const caught = nextMessage(helper.getNode('caught'), 30000);
    a.receive({ payload: { mode: 'deep', depth: 10000 }, _id: 'deep' });
    const msg = await caught;
    assert.equal(msg._id, 'deep');
    assert.match(msg.error.message, /nested more than 200 levels deep/);
    assert.equal(msg.data.response.status, 'action developer error');
    await nextWorks(a, 5);
  });

  it('quotes at most a few KB of logs in an error message', async () => {
    const a = await deployed();
    const caught = nextMessage(helper.getNode('caught'), 30000);
    a.receive({ payload: { mode: 'noisy-fail', lines: 100, lineBytes: 20000 } });
    const msg = await caught;
    assert.match(msg.error.message, /noisy failure/);
    assert.ok(msg.error.message.length < 5000, `error message is ${msg.error.message.length} characters`);
    await nextWorks(a, 4);
  });

  it('refuses a huge /init reply at deploy with the platform wording, and logs the whole message once', async () => {
    await helper.load(nodes, flow('hostile-init'), creds());
    const a = helper.getNode('a');
    const st = await waitForStatus(a, (s) => s.fill === 'red', 60000);
    assert.equal(st.text, 'init failed');
    const logged = errorsOf(a);
    const mine = logged.filter((m) => /failed to initialize: The action produced a response that exceeded the allowed length/.test(m));
    assert.equal(mine.length, 1, JSON.stringify(logged));
  });
});
