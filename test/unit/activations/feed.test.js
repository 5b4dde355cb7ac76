'use strict';
// What the editor's OpenWhisk sidebar reads: rows of the records (node, where, cold or warm, status),
// bounded previews and details, memory-only stores that stay bounded, batches published at a bounded
// rate, a node's records naming it, and the action node's log lines at a bounded rate.
const assert = require('node:assert/strict');
const { ActivationStore } = require('../../../dist/lib/activations/store');
const { ActivationFeed, RowPublisher, TOPIC } = require('../../../dist/lib/activations/feed');
const { boundedValue } = require('../../../dist/lib/activations/bounded');
const { recording } = require('../../../dist/lib/activations/record');
const { LogLines } = require('../../../dist/lib/activations/log-lines');

/** @typedef {import('../../../dist/lib/types').Activation} Activation */

let seq = 0;
/**
 * @param {Partial<Activation>} [extra]
 * @returns {Activation}
 */
const act = (extra = {}) => ({
  activationId: (++seq).toString(16).padStart(32, '0'),
  namespace: 'guest',
  name: 'hello',
  start: 1000 + seq,
  end: 1010 + seq,
  duration: 10,
  response: { status: 'success', success: true, result: { ok: true } },
  logs: ['one', 'two'],
  annotations: [
    { key: 'path', value: 'guest/hello' },
    { key: 'kind', value: 'nodejs:20' },
  ],
  ...extra,
});

describe('activation feed (the OpenWhisk sidebar)', () => {
  it('a row says which node ran what, where, cold or warm, how long and how it ended', () => {
    const s = new ActivationStore({ runtime: 'rt1' });
    s.add(
      act({
        annotations: [
          { key: 'path', value: 'guest/pkg/a' },
          { key: 'kind', value: 'nodejs:20' },
          { key: 'initTime', value: 42 },
          { key: 'node', value: 'n1' },
        ],
      }),
    );
    s.add(
      act({
        response: { status: 'application error', success: false, result: { error: 'x' } },
        annotations: [
          { key: 'kind', value: 'nodejs:20' },
          { key: 'node', value: 'n2' },
        ],
      }),
    );
    const [warm, cold] = s.rows(10);
    assert.deepEqual(
      {
        action: cold.action,
        node: cold.node,
        where: cold.where,
        cold: cold.cold,
        initTime: cold.initTime,
        status: cold.status,
        runtime: cold.runtime,
        duration: cold.duration,
      },
      { action: '/guest/pkg/a', node: 'n1', where: 'local', cold: true, initTime: 42, status: 'success', runtime: 'rt1', duration: 10 },
    );
    assert.deepEqual(
      { action: warm.action, node: warm.node, cold: warm.cold, status: warm.status },
      { action: 'guest/hello', node: 'n2', cold: false, status: 'application error' },
    );
    // A cloud store's records without a `where` annotation ran in the cloud; a burst says so.
    const c = new ActivationStore({ runtime: 'rt1', where: 'cloud', preview: true });
    c.add(
      act({
        annotations: [
          { key: 'where', value: 'cloud' },
          { key: 'burst', value: true },
        ],
      }),
    );
    c.add(act());
    assert.deepEqual(
      c.rows(10).map((r) => [r.where, r.burst]),
      [
        ['cloud', false],
        ['cloud', true],
      ],
    );
  });

  it('a preview store keeps each record bounded (16 KB of result, 200 lines of 1000 characters) and says what it cut', () => {
    const s = new ActivationStore({ preview: true, runtime: 'rt' });
    const big = act({
      response: { status: 'success', success: true, result: { text: 'y'.repeat(100000), list: Array.from({ length: 5000 }, (_, i) => i) } },
      logs: Array.from({ length: 1000 }, (_, i) => `${i} ${'z'.repeat(i === 999 ? 3000 : 10)}`),
    });
    s.add(big, { params: { secret: 'p'.repeat(20000), n: 1 } });
    const d = s.detail(big.activationId);
    assert.ok(JSON.stringify(d).length < 64 * 1024, `detail is ${JSON.stringify(d).length} bytes`);
    assert.deepEqual(d.cut, { result: true, logs: true, params: true });
    assert.equal(d.logs.length, 200);
    assert.match(d.logs[0], /^800 /);
    assert.ok(d.logs[199].length <= 1001 && d.logs[199].endsWith('…'));
    assert.match(/** @type {{ text: string }} */ (d.result).text, /… \(100000 characters\)$/);
    assert.equal(/** @type {{ n: number }} */ (d.params).n, 1);
    // The store's copy is the preview: the whole record is not kept in memory.
    assert.ok(s.byteSize < 64 * 1024, `store holds ${s.byteSize} bytes`);
    // The caller's object is untouched.
    assert.equal(/** @type {{ text: string }} */ (big.response.result).text.length, 100000);
    assert.equal(big.logs.length, 1000);
  });

  it('a store without a file keeps nothing but its bounded records (no lines waiting for a file that never comes)', () => {
    const s = new ActivationStore({ maxCount: 5, preview: true });
    for (let i = 0; i < 1000; i++) s.add(act());
    assert.equal(s.size, 5);
    // The lines for a file are queued by the store's file part (store-file.ts); a store without a file has none.
    assert.equal(s['file'], undefined);
  });

  it("the feed lists every runtime's rows newest first, filters them, and stops listing a runtime once it closes", () => {
    const feed = new ActivationFeed();
    const a = new ActivationStore({ runtime: 'A' });
    const b = new ActivationStore({ runtime: 'B', where: 'cloud', preview: true });
    const off = feed.register({ id: 'A', name: 'edge', mode: 'local', stores: [a, b], persisted: false });
    a.add(act({ annotations: [{ key: 'node', value: 'n1' }] }));
    b.add(act({ name: 'other', response: { status: 'action developer error', success: false, result: {} }, annotations: [{ key: 'node', value: 'n2' }] }));
    a.add(act({ annotations: [{ key: 'node', value: 'n1' }] }));
    assert.deepEqual(
      feed.rows({}).map((r) => r.node),
      ['n1', 'n2', 'n1'],
    );
    assert.deepEqual(
      feed.rows({ status: 'failed' }).map((r) => r.action),
      ['guest/other'],
    );
    assert.deepEqual(feed.rows({ node: 'n2' }).length, 1);
    assert.deepEqual(feed.rows({ action: 'OTH' }).length, 1);
    assert.deepEqual(feed.rows({ runtime: 'nope' }).length, 0);
    assert.equal(feed.rows({}, 100000).length, 3);
    assert.deepEqual(feed.list(), [{ id: 'A', name: 'edge', mode: 'local', kept: 3, maxCount: 2000, persisted: false }]);
    const id = feed.rows({ node: 'n2' })[0].id;
    assert.equal(feed.detail('A', id).row.node, 'n2');
    off();
    assert.deepEqual(feed.list(), []);
    assert.equal(feed.detail('A', id), undefined);
  });

  it('publishes new rows in batches: at most one per interval, at most N rows each, newest first, with the count left out', async () => {
    const sent = [];
    const p = new RowPublisher((topic, data) => sent.push({ topic, data }), 50, 3);
    // A row as far as the publisher reads it (its id and start).
    const row = (i) => /** @type {import('../../../dist/lib/activations/row').ActivationRow} */ ({ id: String(i), start: i });
    for (let i = 0; i < 10; i++) p.push(row(i));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].topic, TOPIC);
    assert.deepEqual(
      sent[0].data.rows.map((r) => r.id),
      ['9', '8', '7'],
    );
    assert.equal(sent[0].data.more, 7);
    p.push(row(10));
    p.push(row(11));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(sent.length, 1, 'the next batch waits for the interval');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[1].data, { rows: [row(11), row(10)], more: 0 });
    p.close();
  });

  it("records a node's activations with its id and parameters, and leaves the caller's object as it was", async () => {
    const s = new ActivationStore({ runtime: 'rt' });
    const a = act();
    const engine = { provision: async () => ({ containers: 1, invoke: async () => a, close: async () => undefined }) };
    const h = await recording(engine, s).provision(
      'node-7',
      /** @type {import('../../../dist/lib/types').ActionDoc} */ ({}),
      /** @type {import('../../../dist/lib/types').Catalog} */ ({}),
    );
    assert.equal(await h.invoke({ n: 3 }), a);
    assert.deepEqual(
      a.annotations.map((k) => k.key),
      ['path', 'kind'],
    );
    const d = s.detail(a.activationId);
    assert.equal(d.row.node, 'node-7');
    assert.deepEqual(d.params, { n: 3 });
    assert.deepEqual(s.get(a.activationId).annotations.at(-1), { key: 'node', value: 'node-7' });
  });

  it('boundedValue does work in proportion to its budget, not to the size of long arrays and strings', () => {
    const huge = { list: Array.from({ length: 2000000 }, (_, i) => ({ i, s: 'v'.repeat(10) })), text: 'w'.repeat(10000000) };
    const t0 = process.hrtime.bigint();
    const { value, cut } = boundedValue(huge, { maxChars: 1000, maxString: 100 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(cut);
    assert.ok(/** @type {{ list: unknown[] }} */ (value).list.length < 200);
    assert.ok(ms < 20, `${ms} ms`);
  });

  it('log lines: at most N a second per node, the rest counted and said once there is room', () => {
    let now = 0;
    const out = [];
    const l = new LogLines(
      (s) => out.push(s),
      5,
      () => now,
    );
    l.add(
      'hello',
      Array.from({ length: 12 }, (_, i) => `line ${i}`),
    );
    assert.deepEqual(out, ['hello: line 0', 'hello: line 1', 'hello: line 2', 'hello: line 3', 'hello: line 4']);
    now = 1000;
    l.add('hello', ['later', 'x'.repeat(2000)]);
    assert.equal(out[5], '7 log line(s) of this node left out (at most 5 a second)');
    assert.equal(out[6], 'hello: later');
    assert.ok(out[7].length < 1010 && out[7].endsWith('…'));
  });
});
