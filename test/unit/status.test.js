'use strict';
// The status reducer (lib/status.ts): what an action node's ring shows for what happens, with no
// runner, no engine and no timers.

const assert = require('node:assert/strict');
const { initialRing, reduceRing } = require('../../dist/lib/status');

/** Feed events in order; returns the last state, everything shown, and the effects asked for. */
function feed(events, state = initialRing) {
  const shown = [];
  const effects = [];
  for (const ev of events) {
    const r = reduceRing(state, ev);
    state = r.state;
    if (r.show) shown.push(r.show);
    if (r.count) effects.push('count');
    if (r.reprovision) effects.push('reprovision');
  }
  return { state, shown, effects, last: shown[shown.length - 1] };
}
const local = (over = {}) => ({ type: 'health', provisioned: false, hasAction: true, ...over });

describe('status reducer', () => {
  it('provisioning phases show in order, then ready with the container count', () => {
    const r = feed([
      { type: 'phase', phase: 'fetching' },
      { type: 'phase', phase: 'pulling', detail: '12 MB' },
      { type: 'phase', phase: 'starting', detail: 'img' },
      { type: 'phase', phase: 'initializing', detail: '/guest/a' },
      { type: 'phase', phase: 'ready', detail: 1 },
    ]);
    assert.deepEqual(
      r.shown.map((s) => s.phase),
      ['fetching', 'pulling', 'starting', 'initializing'],
    );
    assert.deepEqual(r.effects, ['count']);
    const after = feed([{ type: 'count', n: 1 }], r.state);
    assert.deepEqual(after.last, { phase: 'ready', detail: 1 });
  });

  it('the same count is not shown twice in a row, a new one is', () => {
    const r = feed([
      { type: 'count', n: 1 },
      { type: 'count', n: 1 },
      { type: 'count', n: 2 },
    ]);
    assert.deepEqual(r.shown, [
      { phase: 'ready', detail: 1 },
      { phase: 'ready', detail: 2 },
    ]);
  });

  it('invocations show the in-flight count; the last one settling asks for the count', () => {
    const r = feed([{ type: 'invoke-start' }, { type: 'invoke-start' }, { type: 'invoke-end' }]);
    assert.deepEqual(r.shown, [
      { phase: 'invoking', detail: 1 },
      { phase: 'invoking', detail: 2 },
      { phase: 'invoking', detail: 1 },
    ]);
    assert.deepEqual(r.effects, []);
    const done = feed([{ type: 'invoke-end' }], r.state);
    assert.deepEqual(done.effects, ['count']);
  });

  it('a failed invocation shows its error until a success; a count meanwhile shows nothing', () => {
    const r = feed([
      { type: 'invoke-start' },
      { type: 'invoke-end', failure: { short: 'timeout', fromEngine: false } },
      { type: 'count', n: 1 },
      { type: 'tick', provisioned: true },
    ]);
    assert.deepEqual(r.last, { phase: 'error', detail: 'timeout' });
    assert.deepEqual(r.effects, []);
    const ok = feed([{ type: 'invoke-start' }, { type: 'invoke-end' }, { type: 'count', n: 1 }], r.state);
    assert.deepEqual(ok.last, { phase: 'ready', detail: 1 });
  });

  it('a ready from the engine while messages are in flight shows them as invoking', () => {
    const r = feed([{ type: 'invoke-start' }, { type: 'phase', phase: 'ready', detail: 1 }]);
    assert.deepEqual(r.last, { phase: 'invoking', detail: 1 });
    assert.deepEqual(r.effects, []);
  });

  describe('Docker health events', () => {
    it('a node with no action of its own shows the outage, then idle again (not "ready (0)")', () => {
      const r = feed([{ type: 'idle' }, local({ state: 'down', short: 'docker unreachable', hasAction: false }), local({ state: 'ok', hasAction: false })]);
      assert.deepEqual(r.shown, [{ phase: 'idle' }, { phase: 'error', detail: 'docker unreachable' }, { phase: 'idle' }]);
      assert.deepEqual(r.effects, []);
    });

    it('a failed /init keeps its error through a health change (the bug: it turned into a green "ready (0)")', () => {
      const r = feed([
        { type: 'phase', phase: 'fetching' },
        { type: 'failed', failure: { short: 'init failed', fromEngine: false } },
        local({ state: 'degraded', short: 'docker: disk full' }),
        local({ state: 'ok' }),
      ]);
      assert.deepEqual(r.last, { phase: 'error', detail: 'init failed' });
      assert.deepEqual(r.effects, [], 'neither counted as ready nor provisioned again');
    });

    it('a deploy that failed because Docker was down asks to provision again when it is back', () => {
      const r = feed([{ type: 'failed', failure: { short: 'docker unreachable', fromEngine: true } }, local({ state: 'ok' })]);
      assert.deepEqual(r.effects, ['reprovision']);
      const back = feed([{ type: 'provisioned' }, { type: 'count', n: 1 }], r.state);
      assert.deepEqual(back.last, { phase: 'ready', detail: 1 });
    });

    it('a provisioned node shows the outage, then its container count again', () => {
      const r = feed([
        { type: 'count', n: 1 },
        local({ state: 'down', short: 'docker unreachable', provisioned: true }),
        local({ state: 'ok', provisioned: true }),
      ]);
      assert.deepEqual(
        r.shown.map((s) => s.phase),
        ['ready', 'error'],
      );
      assert.deepEqual(r.effects, ['count']);
      assert.deepEqual(feed([{ type: 'count', n: 1 }], r.state).last, { phase: 'ready', detail: 1 }, 'shown again after the error');
    });

    it('a health change while messages run changes nothing on the ring; ticks count only when healthy', () => {
      const r = feed([{ type: 'invoke-start' }, local({ state: 'down', short: 'docker unreachable', provisioned: true })]);
      assert.equal(r.shown.length, 1);
      const idle = feed(
        [
          { type: 'invoke-end', failure: { short: 'docker unreachable', fromEngine: true } },
          { type: 'tick', provisioned: true },
        ],
        r.state,
      );
      assert.deepEqual(idle.effects, []);
      const healthy = feed([local({ state: 'ok', provisioned: true }), { type: 'tick', provisioned: true }], idle.state);
      assert.deepEqual(healthy.effects, ['count', 'count']);
    });
  });

  it('nothing shows after close', () => {
    const r = feed([{ type: 'close' }, { type: 'idle' }, { type: 'failed', failure: { short: 'x', fromEngine: false } }, { type: 'count', n: 1 }]);
    assert.deepEqual(r.shown, []);
  });
});
