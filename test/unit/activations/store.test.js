'use strict';
// The activation store: newest first, bounded by count and bytes, a copy of what it is given, kept in
// an owner-only file that a new store (a restarted Node-RED) reads back.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ActivationStore } = require('../../../dist/lib/activations/store');
const { activationFile } = require('../../../dist/lib/activations/store-file');
const { summaryOf } = require('../../../dist/lib/activations/summary');

/** @typedef {import('../../../dist/lib/types').Activation} Activation */

/**
 * An activation numbered i, its result { i }.
 * @param {number} i
 * @param {Partial<Activation>} [extra]
 * @returns {Activation}
 */
const act = (i, extra = {}) => ({
  activationId: i.toString(16).padStart(32, '0'),
  namespace: 'guest',
  name: i % 2 ? 'odd' : 'even',
  start: 1000 + i,
  end: 1001 + i,
  duration: 1,
  response: { status: 'success', success: true, result: { i } },
  logs: [`log ${i}`],
  annotations: [{ key: 'path', value: `guest/pkg/${i % 2 ? 'odd' : 'even'}` }],
  ...extra,
});

/** An activation's result: act(i)'s { i }, or what the store keeps of one too large ({ error }). @param {Activation} a */
const result = (a) => /** @type {{ i?: number, error?: string }} */ (a.response.result);

describe('activation store', () => {
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("lists newest first, pages, filters by the action's path below the namespace", () => {
    const s = new ActivationStore();
    for (let i = 1; i <= 10; i++) s.add(act(i));
    assert.deepEqual(
      s.list({ limit: 3 }).map((a) => result(a).i),
      [10, 9, 8],
    );
    assert.deepEqual(
      s.list({ skip: 2, limit: 2 }).map((a) => result(a).i),
      [8, 7],
    );
    assert.deepEqual(
      s.list({ name: 'pkg/odd', limit: 2 }).map((a) => result(a).i),
      [9, 7],
    );
    assert.deepEqual(
      s.list({ name: 'pkg/even', limit: 1 }).map((a) => result(a).i),
      [10],
    );
    // "odd" is an action outside any package: none of these.
    assert.deepEqual(s.list({ name: 'odd' }), []);
    s.add(act(11, { name: 'odd', annotations: [{ key: 'path', value: 'guest/odd' }] }));
    assert.deepEqual(
      s.list({ name: 'odd' }).map((a) => result(a).i),
      [11],
    );
    assert.deepEqual(
      s.list({ name: 'pkg/odd', limit: 1 }).map((a) => result(a).i),
      [9],
    );
    assert.deepEqual(s.list({ name: 'other/even' }), []);
    assert.deepEqual(
      s.list({ since: 1008 }).map((a) => result(a).i),
      [11, 10, 9, 8],
    );
    assert.equal(summaryOf(s.get(act(3).activationId)).statusCode, 0);
    assert.equal(summaryOf(act(1, { response: { status: 'application error', success: false, result: {} } })).statusCode, 1);
  });

  it('keeps a copy: later changes to the activation (msg.data) do not reach it', () => {
    const s = new ActivationStore();
    const a = act(1);
    s.add(a);
    a.annotations.push({ key: 'where', value: 'local' });
    result(a).i = 99;
    assert.deepEqual(s.get(a.activationId).response.result, { i: 1 });
    assert.equal(s.get(a.activationId).annotations.length, 1);
  });

  it('drops the oldest beyond its count and its bytes; a huge record loses its result, not the others', () => {
    const byCount = new ActivationStore({ maxCount: 5 });
    for (let i = 1; i <= 12; i++) byCount.add(act(i));
    assert.equal(byCount.size, 5);
    assert.deepEqual(
      byCount.list().map((a) => result(a).i),
      [12, 11, 10, 9, 8],
    );
    assert.equal(byCount.get(act(1).activationId), undefined);

    const byBytes = new ActivationStore({ maxBytes: 20000 });
    for (let i = 1; i <= 100; i++) byBytes.add(act(i, { logs: ['x'.repeat(1000)] }));
    assert.ok(byBytes.byteSize <= 20000, String(byBytes.byteSize));
    assert.ok(byBytes.size >= 10 && byBytes.size < 100, String(byBytes.size));
    assert.equal(result(byBytes.list({ limit: 1 })[0]).i, 100);
    byBytes.add(act(101, { response: { status: 'success', success: true, result: { big: 'y'.repeat(50000) } } }));
    const big = byBytes.get(act(101).activationId);
    assert.match(result(big).error, /too large for the activation store/);
    assert.ok(byBytes.size > 5, 'one big result does not push out everything else');
  });

  it('keeps one file per namespace: records kept under one are not read under another', async () => {
    const a = activationFile(dir, 'rt-1', 'guest');
    const b = activationFile(dir, 'rt-1', 'acme');
    assert.notEqual(a, b);
    assert.notEqual(activationFile(dir, 'rt-1', 'a b@c'), activationFile(dir, 'rt-1', 'a_b_c'));
    const s = new ActivationStore({ file: a });
    s.add(act(1));
    await s.close();
    assert.equal(new ActivationStore({ file: a }).size, 1);
    assert.equal(new ActivationStore({ file: b }).size, 0);
  });

  it('survives a restart: an owner-only file, written atomically, read back by a new store', async () => {
    const file = activationFile(dir, 'rt-1');
    const s = new ActivationStore({ file, flushMs: 10 });
    for (let i = 1; i <= 4; i++) s.add(act(i));
    await s.close();
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['rt-1.jsonl'], 'no temporary file left');
    fs.appendFileSync(file, 'not json\n');
    const again = new ActivationStore({ file, maxCount: 3 });
    assert.deepEqual(
      again.list().map((a) => result(a).i),
      [4, 3, 2],
    );
  });

  it('appends to its file and rewrites it before it holds twice its bounds', async () => {
    const file = activationFile(dir, 'rt-2');
    const s = new ActivationStore({ file, maxCount: 5 });
    for (let i = 1; i <= 60; i++) {
      s.add(act(i));
      await s.flush();
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      assert.ok(lines <= 10, `${lines} lines after ${i} records`);
    }
    assert.deepEqual(
      new ActivationStore({ file, maxCount: 5 }).list().map((a) => result(a).i),
      [60, 59, 58, 57, 56],
    );
  });

  it('writes off the event loop: flush() returns before the file has the record, which a read already finds', async () => {
    const file = activationFile(dir, 'rt-3');
    const s = new ActivationStore({ file, flushMs: 3600000 });
    s.add(act(1));
    const written = s.flush();
    assert.ok(written instanceof Promise);
    assert.equal(fs.existsSync(file), false, 'nothing written while the caller still runs');
    assert.equal(result(s.get(act(1).activationId)).i, 1, 'read-your-writes before the file has it');
    await written;
    assert.equal(new ActivationStore({ file }).size, 1);
  });

  it('keeps the order under a burst: records added while writes run reach the file in the order they were added', async () => {
    const file = activationFile(dir, 'rt-4');
    const s = new ActivationStore({ file, flushMs: 1, maxCount: 400 });
    const flushes = [];
    for (let i = 1; i <= 300; i++) {
      s.add(act(i));
      assert.ok(s.has(act(i).activationId));
      if (i % 7 === 0) flushes.push(s.flush());
      if (i % 50 === 0) await new Promise((r) => setImmediate(r)); // let writes start and finish between adds
    }
    await Promise.all(flushes);
    await s.close();
    const ids = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).response.result.i);
    assert.deepEqual(
      ids,
      Array.from({ length: 300 }, (_, k) => k + 1),
    );
    assert.deepEqual(new ActivationStore({ file, maxCount: 400 }).list({ limit: 400 }), s.list({ limit: 400 }));
  });

  it("bounds the lines waiting for the file: past the store's bounds they give way to one rewrite of the kept records", async () => {
    const file = activationFile(dir, 'rt-5');
    const s = new ActivationStore({ file, flushMs: 3600000, maxCount: 10 });
    s.add(act(0));
    const first = s.flush(); // in flight while the burst comes
    for (let i = 1; i <= 1000; i++) s.add(act(i));
    await first;
    await s.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.length <= 10, `${lines.length} lines in the file`);
    assert.deepEqual(
      new ActivationStore({ file, maxCount: 10 }).list({ limit: 10 }).map((a) => result(a).i),
      [1000, 999, 998, 997, 996, 995, 994, 993, 992, 991],
    );
  });

  it('close() writes what waits, and a redeployed store on the same file reads it all', async () => {
    const file = activationFile(dir, 'rt-6', 'guest');
    const s = new ActivationStore({ file, flushMs: 3600000 });
    for (let i = 1; i <= 20; i++) s.add(act(i));
    await s.close();
    const again = new ActivationStore({ file });
    assert.equal(again.size, 20);
    assert.deepEqual(
      again.list({ limit: 3 }).map((a) => result(a).i),
      [20, 19, 18],
    );
  });

  it('count() equals the length of the list it stands for, with and without filters', () => {
    const s = new ActivationStore({ maxCount: 50 });
    for (let i = 1; i <= 80; i++) s.add(act(i));
    s.add(act(81, { name: 'odd', annotations: [{ key: 'path', value: 'guest/odd' }] }));
    const all = { limit: 1000 };
    for (const q of [
      {},
      { name: 'pkg/odd' },
      { name: 'odd' },
      { name: 'nope' },
      { since: 1060 },
      { upto: 1050 },
      { name: 'pkg/even', since: 1040, upto: 1070 },
    ]) {
      assert.equal(s.count(q), s.list({ ...q, ...all }).length, JSON.stringify(q));
    }
    assert.equal(s.count(), 50);
  });

  it('a failed write is reported once, naming the file and what to do; the records stay readable; the next write recovers', async () => {
    const blocker = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    const file = path.join(blocker, 'rt.jsonl'); // its folder is a file: every write fails
    const told = [];
    const s = new ActivationStore({ file, flushMs: 3600000, onError: (e) => told.push(e) });
    s.add(act(1));
    await assert.rejects(s.flush(), /Cannot write the activation records to .*not-a-folder.*rt\.jsonl.*writable/);
    s.add(act(2));
    await assert.rejects(s.close(), /Cannot write/);
    assert.equal(told.length, 1, 'one report for a run of failures');
    assert.match(told[0].message, /not-a-folder/);
    assert.equal(s.count(), 2);
    fs.rmSync(blocker);
    await s.flush();
    assert.deepEqual(
      new ActivationStore({ file }).list().map((a) => result(a).i),
      [2, 1],
    );
  });
});
