'use strict';
// The activation store: newest first, bounded by count and bytes, a copy of what it is given, kept in
// an owner-only file that a new store (a restarted Node-RED) reads back.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ActivationStore, summaryOf, activationFile } = require('../../dist/lib/activations/store');

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

describe('activation store', () => {
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lists newest first, pages, filters by the action\'s path below the namespace', () => {
    const s = new ActivationStore();
    for (let i = 1; i <= 10; i++) s.add(act(i));
    assert.deepEqual(s.list({ limit: 3 }).map((a) => a.response.result.i), [10, 9, 8]);
    assert.deepEqual(s.list({ skip: 2, limit: 2 }).map((a) => a.response.result.i), [8, 7]);
    assert.deepEqual(s.list({ name: 'pkg/odd', limit: 2 }).map((a) => a.response.result.i), [9, 7]);
    assert.deepEqual(s.list({ name: 'pkg/even', limit: 1 }).map((a) => a.response.result.i), [10]);
    // "odd" is an action outside any package: none of these.
    assert.deepEqual(s.list({ name: 'odd' }), []);
    s.add(act(11, { name: 'odd', annotations: [{ key: 'path', value: 'guest/odd' }] }));
    assert.deepEqual(s.list({ name: 'odd' }).map((a) => a.response.result.i), [11]);
    assert.deepEqual(s.list({ name: 'pkg/odd', limit: 1 }).map((a) => a.response.result.i), [9]);
    assert.deepEqual(s.list({ name: 'other/even' }), []);
    assert.deepEqual(s.list({ since: 1008 }).map((a) => a.response.result.i), [11, 10, 9, 8]);
    assert.equal(summaryOf(s.get(act(3).activationId)).statusCode, 0);
    assert.equal(summaryOf(act(1, { response: { status: 'application error', success: false, result: {} } })).statusCode, 1);
  });

  it('keeps a copy: later changes to the activation (msg.data) do not reach it', () => {
    const s = new ActivationStore();
    const a = act(1);
    s.add(a);
    a.annotations.push({ key: 'where', value: 'local' });
    a.response.result.i = 99;
    assert.deepEqual(s.get(a.activationId).response.result, { i: 1 });
    assert.equal(s.get(a.activationId).annotations.length, 1);
  });

  it('drops the oldest beyond its count and its bytes; a huge record loses its result, not the others', () => {
    const byCount = new ActivationStore({ maxCount: 5 });
    for (let i = 1; i <= 12; i++) byCount.add(act(i));
    assert.equal(byCount.size, 5);
    assert.deepEqual(byCount.list().map((a) => a.response.result.i), [12, 11, 10, 9, 8]);
    assert.equal(byCount.get(act(1).activationId), undefined);

    const byBytes = new ActivationStore({ maxBytes: 20000 });
    for (let i = 1; i <= 100; i++) byBytes.add(act(i, { logs: ['x'.repeat(1000)] }));
    assert.ok(byBytes.byteSize <= 20000, String(byBytes.byteSize));
    assert.ok(byBytes.size >= 10 && byBytes.size < 100, String(byBytes.size));
    assert.equal(byBytes.list({ limit: 1 })[0].response.result.i, 100);
    byBytes.add(act(101, { response: { status: 'success', success: true, result: { big: 'y'.repeat(50000) } } }));
    const big = byBytes.get(act(101).activationId);
    assert.match(big.response.result.error, /too large for the activation store/);
    assert.ok(byBytes.size > 5, 'one big result does not push out everything else');
  });

  it('keeps one file per namespace: records kept under one are not read under another', () => {
    const a = activationFile(dir, 'rt-1', 'guest');
    const b = activationFile(dir, 'rt-1', 'acme');
    assert.notEqual(a, b);
    assert.notEqual(activationFile(dir, 'rt-1', 'a b@c'), activationFile(dir, 'rt-1', 'a_b_c'));
    const s = new ActivationStore({ file: a });
    s.add(act(1));
    s.close();
    assert.equal(new ActivationStore({ file: a }).size, 1);
    assert.equal(new ActivationStore({ file: b }).size, 0);
  });

  it('survives a restart: an owner-only file, written atomically, read back by a new store', () => {
    const file = activationFile(dir, 'rt-1');
    const s = new ActivationStore({ file, flushMs: 10 });
    for (let i = 1; i <= 4; i++) s.add(act(i));
    s.close();
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['rt-1.jsonl'], 'no temporary file left');
    fs.appendFileSync(file, 'not json\n');
    const again = new ActivationStore({ file, maxCount: 3 });
    assert.deepEqual(again.list().map((a) => a.response.result.i), [4, 3, 2]);
  });

  it('appends to its file and rewrites it before it holds twice its bounds', () => {
    const file = activationFile(dir, 'rt-2');
    const s = new ActivationStore({ file, maxCount: 5 });
    for (let i = 1; i <= 60; i++) {
      s.add(act(i));
      s.flush();
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      assert.ok(lines <= 10, `${lines} lines after ${i} records`);
    }
    assert.deepEqual(new ActivationStore({ file, maxCount: 5 }).list().map((a) => a.response.result.i), [60, 59, 58, 57, 56]);
  });
});
