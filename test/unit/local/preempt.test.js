'use strict';
// Which idle containers the local runtime removes (lib/local/preempt.ts): idle timeouts, high/low
// watermark preemption (OpenWhisk-Light's, with its bugs fixed), eviction for a pool that needs a
// slot. Pure functions, no Docker.

const assert = require('node:assert/strict');
const { selectRemovals, pickVictim, highMark, lowMark, draining } = require('../../../dist/lib/local/preempt');

const NOW = 1_000_000;
const SEC = 1000;

/** Containers of pools: spec = { pool: [[idleSeconds | 'busy' | 'queued'], ...] }. */
function views(spec, starting = {}) {
  const out = [];
  for (const [pool, list] of Object.entries(spec)) {
    const poolSize = list.length + (starting[pool] ?? 0);
    list.forEach((s, i) => {
      const busy = s === 'busy';
      const queued = s === 'queued';
      const idleFor = typeof s === 'number' ? s : 0;
      out.push({ ref: `${pool}${i}`, pool, poolSize, inflight: busy ? 1 : 0, queued, lastUsed: NOW - idleFor * SEC });
    });
  }
  // a queued pool: every container of it sees queued = true
  for (const v of out) if (out.some((w) => w.pool === v.pool && w.queued)) v.queued = true;
  return out;
}

const policy = (over = {}) => ({
  capacity: 4,
  highWatermark: 0.75,
  lowWatermark: 0.25,
  idleTimeout: 60 * SEC,
  warmTimeout: 600 * SEC,
  minIdle: 10 * SEC,
  preempt: true,
  ...over,
});

const refs = (removals) => removals.map((r) => r.view.ref);
const reasons = (removals) => Object.fromEntries(removals.map((r) => [r.view.ref, r.reason]));

describe('local: container removal policy (preempt.ts)', () => {
  describe('watermarks', () => {
    it('OWL CONFIG.md example: capacity 8, 70 % / 40 % → starts above 5.6 (6 containers), stops at 3', () => {
      assert.equal(highMark(8, 0.7), 5.6);
      assert.equal(lowMark(8, 0.4), 3);
      const p = policy({ capacity: 8, highWatermark: 0.7, lowWatermark: 0.4, idleTimeout: 1e9, warmTimeout: 0 });
      const five = views({ a: [20], b: [30], c: [40], d: [50], e: [60] });
      assert.deepEqual(selectRemovals(five, 5, p, NOW), [], '5 ≤ 5.6: nothing');
      const six = views({ a: [20], b: [30], c: [40], d: [50], e: [60], f: [70] });
      assert.deepEqual(refs(selectRemovals(six, 6, p, NOW)), ['f0', 'e0', 'd0'], 'down to 3, least recently used first');
    });

    it('defaults 0.75 / 0.25 on capacity 4: 4 containers → 1; 3 containers is not above the mark', () => {
      assert.equal(lowMark(4, 0.25), 1);
      const p = policy({ idleTimeout: 1e9, warmTimeout: 0 });
      assert.deepEqual(selectRemovals(views({ a: [20], b: [30], c: [40] }), 3, p, NOW), []);
      assert.deepEqual(refs(selectRemovals(views({ a: [20], b: [30], c: [40], d: [15] }), 4, p, NOW)), ['c0', 'b0', 'a0']);
    });

    it('once above the high mark, preemption goes on at later periods down to the low mark (a container not idle long enough yet goes then)', () => {
      // capacity 4, 0.75 / 0.5: 4 containers start it; two of the three idle ones have not been idle for a period (10 s) yet.
      const p = policy({ highWatermark: 0.75, lowWatermark: 0.5, idleTimeout: 1e9, warmTimeout: 0 });
      const first = views({ p1: ['busy'], p2: [12], p3: [5], p4: [9] });
      assert.equal(draining(4, false, true, 4, 0.75, 0.5), true);
      assert.deepEqual(refs(selectRemovals(first, 4, { ...p, draining: true }, NOW)), ['p20'], 'the one idle for a period');
      // Next period: 3 containers, not above the high mark (3), still above the low one (2).
      const second = views({ p1: ['busy'], p3: [15], p4: [19] });
      assert.equal(draining(3, true, true, 4, 0.75, 0.5), true, 'still draining');
      assert.equal(draining(3, false, true, 4, 0.75, 0.5), false, '3 alone does not start it');
      assert.deepEqual(refs(selectRemovals(second, 3, { ...p, draining: true }, NOW)), ['p40'], 'p4, the least recently used, goes now');
      assert.deepEqual(selectRemovals(second, 3, { ...p, draining: false }, NOW), [], 'without the state, preemption stopped above the low mark');
      assert.equal(draining(2, true, true, 4, 0.75, 0.5), false, 'at the low mark it ends');
      // Busy between the marks with nothing idle (not even young): the drain ends, stem cells come back.
      assert.equal(draining(3, true, false, 4, 0.75, 0.5), false, 'nothing idle: it ends');
      assert.equal(draining(3, false, true, 4, 0.75, 0.5), false, 'and a later idle container does not restart it below the high mark');
    });

    it('a container with a run in flight, or whose action has messages waiting, is never removed', () => {
      const p = policy({ idleTimeout: 1e9, warmTimeout: 0 });
      const v = views({ a: ['busy'], b: ['busy'], c: ['queued', 'queued'], d: [100] });
      assert.deepEqual(refs(selectRemovals(v, 5, p, NOW)), ['d0'], 'only the idle one, even though the target (1) is not reached');
      const allBusy = views({ a: ['busy', 'busy'], b: ['busy', 'busy'] });
      assert.deepEqual(selectRemovals(allBusy, 4, p, NOW), []);
      // idle timeouts do not touch them either, however long ago they were last used
      const old = views({ a: ['busy'], c: ['queued'] }).map((x) => ({ ...x, lastUsed: 0 }));
      assert.deepEqual(selectRemovals(old, 2, policy({ idleTimeout: 1, warmTimeout: 1 }), NOW), []);
    });

    it('busy and starting containers count toward the watermark (OWL counted only idle ones)', () => {
      const p = policy({ idleTimeout: 1e9, warmTimeout: 0 });
      // 2 busy + 1 idle + 1 starting (not in the views, but in `used`) = 4 > 3
      const v = views({ a: ['busy', 'busy'], b: [30] }, { b: 1 });
      assert.deepEqual(refs(selectRemovals(v, 4, p, NOW)), ['b0']);
    });

    it("surplus containers go before an action's last one, least recently used within each group", () => {
      const p = policy({ capacity: 6, highWatermark: 0.5, lowWatermark: 0, idleTimeout: 1e9, warmTimeout: 0 });
      // a has 3 (all idle), b has 1 (idle the longest), c has 1
      const v = views({ a: [20, 40, 30], b: [500], c: [100] });
      // a's surplus (40 s, then 30 s) first; then a's last (20 s) is a last one like b and c → LRU among them
      assert.deepEqual(refs(selectRemovals(v, 5, p, NOW)), ['a1', 'a2', 'b0', 'c0', 'a0']);
    });

    it('a container idle for less than minIdle is not preempted (a pipeline between two messages)', () => {
      const p = policy({ idleTimeout: 1e9, warmTimeout: 0, minIdle: 10 * SEC });
      const v = views({ a: [1], b: [2], c: [3], d: [30] });
      assert.deepEqual(refs(selectRemovals(v, 4, p, NOW)), ['d0']);
    });

    it('watermarks only when preempt is true (once per preemption period); highWatermark 1 never preempts', () => {
      const v = views({ a: [20], b: [30], c: [40], d: [50] });
      assert.deepEqual(selectRemovals(v, 4, policy({ preempt: false, idleTimeout: 1e9, warmTimeout: 0 }), NOW), []);
      assert.deepEqual(selectRemovals(v, 4, policy({ highWatermark: 1, idleTimeout: 1e9, warmTimeout: 0 }), NOW), []);
    });
  });

  describe('idle timeouts (whatever the watermarks: OWL ran them only above the high mark)', () => {
    it('surplus after idleTimeout, the last container after warmTimeout, even far below the high watermark', () => {
      const p = policy({ capacity: 100, idleTimeout: 60 * SEC, warmTimeout: 600 * SEC });
      const v = views({ a: [61, 70, 5], b: [599], c: [601] });
      const r = selectRemovals(v, 6, p, NOW);
      assert.deepEqual(reasons(r), { a1: 'idle', a0: 'idle', c0: 'idle' }, 'a keeps its most recent; b not yet; c after 600 s');
      assert.deepEqual(refs(r), ['c0', 'a1', 'a0'], 'oldest first');
    });

    it('of a pool whose containers all timed out, the most recently used one stays while warmTimeout has not passed', () => {
      const r = selectRemovals(views({ a: [100, 200, 300] }), 3, policy({ capacity: 100 }), NOW);
      assert.deepEqual(refs(r), ['a2', 'a1']);
    });

    it('warmTimeout 0 keeps the last container forever', () => {
      assert.deepEqual(selectRemovals(views({ a: [1e6] }), 1, policy({ capacity: 100, warmTimeout: 0 }), NOW), []);
    });

    it('a starting container makes the only ready one surplus (the pool keeps one)', () => {
      const r = selectRemovals(views({ a: [120] }, { a: 1 }), 2, policy({ capacity: 100 }), NOW);
      assert.deepEqual(reasons(r), { a0: 'idle' });
    });

    it('idle removals count toward the watermark target', () => {
      // 4 used; a1 times out (idle) → 3, not above 3: no preemption on top
      const p = policy({ idleTimeout: 60 * SEC, warmTimeout: 0 });
      const r = selectRemovals(views({ a: [20, 90], b: [30], c: [40] }), 4, p, NOW);
      assert.deepEqual(reasons(r), { a1: 'idle' });
    });
  });

  describe('eviction for a pool that needs a slot now', () => {
    it("takes an idle surplus container of another pool, least recently used, never the requester's own", () => {
      const v = views({ a: [10, 50], b: [30, 40], req: [100, 200] });
      assert.equal(pickVictim(v, 'req', false).ref, 'a1');
    });

    it("a pool's last container only when allowed (the requester has none and messages wait)", () => {
      const v = views({ a: [10], b: [300], req: [] });
      assert.equal(pickVictim(v, 'req', false), undefined);
      assert.equal(pickVictim(v, 'req', true).ref, 'b0');
      // surplus still goes first when last ones are allowed
      assert.equal(pickVictim(views({ a: [5, 6], b: [300] }), 'req', true).ref, 'a1');
    });

    it('never a busy container or one whose action has messages waiting', () => {
      const v = views({ a: ['busy', 'busy'], b: ['queued', 'queued'], c: ['busy'] });
      assert.equal(pickVictim(v, 'req', true), undefined);
    });
  });
});
