'use strict';
// Log framing of the local runtime (lib/local/logs.ts): lines per activation up to the sentinel on
// both streams, carried-over lines, late sentinels, sentinel-less images, concurrency. No Docker.

const assert = require('node:assert/strict');
const { LogFramer, formatLine, truncationMessage } = require('../../../dist/lib/local/logs');

const S = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const T = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const ISO = '2024-01-02T03:04:05.678Z';
const framer = (opts = {}) => new LogFramer({ framed: true, limitBytes: 10 * 1024 * 1024, now: () => T, ...opts });
const sentinels = (f) => {
  f.stdout.write(`${S}\n`);
  f.stderr.write(`${S}\n`);
};

describe('local: log framing', () => {
  it('formats lines like "<ISO time> stdout: <line>"', () => {
    assert.equal(formatLine(T, 'stdout', 'hello'), `${ISO} stdout: hello`);
    assert.equal(formatLine(T, 'stderr', ''), `${ISO} stderr: `);
  });

  it('frames one activation up to the sentinel on both streams, sentinel stripped', () => {
    const f = framer();
    const frame = f.begin();
    f.stdout.write('one\ntw');
    f.stderr.write('oops\n');
    f.stdout.write('o\n');
    assert.equal(frame.done, false);
    f.stdout.write(`${S}\n`);
    assert.equal(frame.done, false, 'waits for stderr too');
    f.stderr.write(`${S}\n`);
    assert.equal(frame.done, true);
    assert.equal(frame.incomplete, false);
    assert.deepEqual(frame.settle(10), [`${ISO} stdout: one`, `${ISO} stderr: oops`, `${ISO} stdout: two`]);
  });

  it('settle() is synchronous when complete, waits for late sentinels otherwise', async () => {
    const f = framer();
    const frame = f.begin();
    f.stdout.write('a\n');
    const p = frame.settle(1000);
    assert.ok(p instanceof Promise);
    setTimeout(() => sentinels(f), 5);
    assert.deepEqual(await p, [`${ISO} stdout: a`]);
  });

  it('lines after a stream sentinel and between activations go to the next activation', () => {
    const f = framer();
    const a = f.begin();
    f.stdout.write(`x\n${S}\nnext-out\n`);
    f.stderr.write(`${S}\n`);
    f.stderr.write('between\n');
    assert.deepEqual(a.lines, [`${ISO} stdout: x`]);
    const b = f.begin();
    sentinels(f);
    assert.deepEqual(b.lines, [`${ISO} stdout: next-out`, `${ISO} stderr: between`]);
  });

  it('output of a successful /init (no sentinel) lands in the first activation', () => {
    const f = framer();
    f.stdout.write('module loaded\n');
    const first = f.begin();
    f.stdout.write('run\n');
    sentinels(f);
    assert.deepEqual(first.lines, [`${ISO} stdout: module loaded`, `${ISO} stdout: run`]);
  });

  it('a sentinel glued to output keeps the output; CRLF and split UTF-8 are handled', () => {
    const f = framer();
    const frame = f.begin();
    f.stdout.write(`no newline${S}\n`);
    const euro = Buffer.from('€ sign\r\n');
    f.stderr.write(euro.subarray(0, 1));
    f.stderr.write(euro.subarray(1));
    f.stderr.write(`${S}\n`);
    assert.deepEqual(frame.lines, [`${ISO} stdout: no newline`, `${ISO} stderr: € sign`]);
  });

  it('a frame closed by the grace swallows its late sentinels (and late lines) instead of misframing the next', async () => {
    const f = framer();
    const a = f.begin();
    f.stdout.write(`${S}\n`); // stdout done, stderr late
    const lines = await a.settle(5);
    assert.deepEqual(lines, []);
    assert.equal(a.incomplete, true);
    f.stderr.write(`late\n${S}\n`); // belongs to a
    const b = f.begin();
    f.stdout.write('b-out\n');
    f.stdout.write(`${S}\n`);
    assert.equal(b.done, false);
    f.stderr.write(`${S}\n`);
    assert.equal(b.done, true);
    assert.deepEqual(b.lines, [`${ISO} stdout: b-out`]);
  });

  it('an image that never writes sentinels is detected; a late sentinel after all re-synchronises', async () => {
    const f = framer();
    const a = f.begin();
    f.stdout.write('a\n');
    assert.deepEqual(await a.settle(5), [`${ISO} stdout: a`]);
    assert.equal(f.sentinels, 'no');
    const b = f.begin();
    f.stdout.write('b\n');
    f.abandon(b); // what the container does when sentinels are 'no'
    assert.deepEqual(b.lines, [`${ISO} stdout: b`]);
    // ...and if they turn up after all, they end b's frame and the next frame is clean
    sentinels(f);
    assert.equal(f.sentinels, 'yes');
    const c = f.begin();
    f.stdout.write('c\n');
    sentinels(f);
    assert.equal(c.done, true);
    assert.deepEqual(c.lines, [`${ISO} stdout: c`]);
  });

  it('a silent activation (the runtime counted 0 bytes) closes at once; its late sentinels are swallowed, the next frame is clean', () => {
    const f = framer();
    const a = f.begin();
    f.closeSilent(a);
    assert.equal(a.done, true);
    assert.equal(a.incomplete, false);
    assert.deepEqual(a.lines, []);
    const b = f.begin(); // the next run starts before Docker relayed a's sentinels
    sentinels(f); // a's, late
    assert.equal(b.done, false, "a's sentinels do not end b");
    assert.equal(f.sentinels, 'yes', 'not taken for a sentinel-less image');
    f.stdout.write('b-out\n');
    sentinels(f);
    assert.equal(b.done, true);
    assert.deepEqual(b.lines, [`${ISO} stdout: b-out`]);
    // a container that says 0 and writes anyway loses only those lines, from its own logs
    const liar = f.begin();
    f.closeSilent(liar);
    f.stdout.write('unannounced\n');
    sentinels(f);
    const d = f.begin();
    f.stdout.write('d-out\n');
    sentinels(f);
    assert.deepEqual([liar.lines, d.lines], [[], [`${ISO} stdout: d-out`]]);
    // lines carried from between activations stay with the silent frame that got them
    f.stdout.write('between\n');
    const c = f.begin();
    f.closeSilent(c);
    assert.deepEqual(c.lines, [`${ISO} stdout: between`]);
  });

  it('a silent activation the runtime wrote no sentinels for (closeSilent(frame, false)) owes none: the next frame ends at its own sentinels, with its lines', () => {
    const f = framer();
    const a = f.begin();
    f.closeSilent(a, false);
    assert.equal(a.done, true);
    assert.deepEqual(a.lines, []);
    const b = f.begin();
    f.stdout.write('b-out\n');
    sentinels(f);
    assert.equal(b.done, true, "b's sentinels end b (none are swallowed for a)");
    assert.deepEqual(b.lines, [`${ISO} stdout: b-out`]);
  });

  it("a runtime that says it wrote no sentinels is one that writes them: a later run whose sentinels come after the wait keeps the next run's logs its own", () => {
    const f = framer();
    f.closeSilent(f.begin(), false);
    assert.equal(f.sentinels, 'yes', 'known to write sentinels (not taken for a sentinel-less image later)');
    const slow = f.begin();
    f.stdout.write('slow-out\n');
    f.abandon(slow); // its sentinels later than the wait
    sentinels(f); // slow's, late: swallowed
    const next = f.begin();
    f.stdout.write('next-out\n');
    sentinels(f);
    assert.equal(next.done, true);
    assert.deepEqual(next.lines, [`${ISO} stdout: next-out`]);
  });

  it('a runtime that says none after writing one sentinel is owed the other: the next activation keeps its own stderr', () => {
    const f = framer();
    const liar = f.begin();
    f.stdout.write(`${S}\n`); // one stream's sentinel, then a reply that says none were written
    f.closeSilent(liar, false);
    const next = f.begin(); // the next run starts before Docker relayed the other one
    f.stderr.write(`${S}\n`); // the liar's other sentinel, late
    f.stderr.write('next-err\n');
    sentinels(f);
    assert.equal(next.done, true);
    assert.deepEqual(next.lines, [`${ISO} stderr: next-err`]);
  });

  it('concurrent containers (framed:false) give activations no logs but keep recent lines', () => {
    const f = framer({ framed: false });
    const a = f.begin();
    assert.equal(a.done, true);
    f.stdout.write('x\n');
    sentinels(f);
    assert.deepEqual(a.lines, []);
    assert.deepEqual(f.recent(), [`${ISO} stdout: x`]);
  });

  it('per-activation byte limit with the platform truncation message', () => {
    const f = framer({ limitBytes: 60 });
    const a = f.begin();
    f.stdout.write('a'.repeat(20) + '\n' + 'b'.repeat(20) + '\n' + 'c\n');
    sentinels(f);
    assert.equal(a.lines.length, 2);
    assert.equal(a.lines[1], truncationMessage(60));
    assert.equal(truncationMessage(60), 'Logs were truncated because the total bytes size exceeds the limit of 60 bytes.');
    const none = framer({ limitBytes: 0 });
    const b = none.begin();
    none.stdout.write('x\n');
    sentinels(none);
    assert.deepEqual(b.lines, []);
  });

  it('end() (container stopped) flushes partial lines and completes the open frame', async () => {
    const f = framer();
    const a = f.begin();
    f.stdout.write('partial');
    f.end();
    assert.equal(a.done, true);
    assert.deepEqual(await a.settle(1000), [`${ISO} stdout: partial`]);
    assert.equal(f.begin().done, true, 'frames after the end complete at once');
  });

  it('recent() is a bounded ring', () => {
    const f = framer({ ringSize: 3 });
    f.stdout.write('1\n2\n3\n4\n');
    assert.deepEqual(
      f.recent(),
      ['2', '3', '4'].map((n) => `${ISO} stdout: ${n}`),
    );
  });
});
