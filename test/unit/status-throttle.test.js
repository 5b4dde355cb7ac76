'use strict';
// How often the status ring changes (lib/status-throttle.ts): every change while they come slowly,
// at most one per interval when they come fast, and the last one always shows.

const assert = require('node:assert/strict');
const { StatusThrottle } = require('../../dist/lib/status-throttle');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function throttle(opts = { burst: 3, everyMs: 40 }) {
  const shown = [];
  const t = new StatusThrottle((v) => shown.push(v), opts);
  return { t, shown };
}

describe('status ring throttle', () => {
  it('a few changes show at once, each in order', () => {
    const { t, shown } = throttle();
    t.push('invoking');
    t.push('invoking (2)');
    t.push('ready (2)');
    assert.deepEqual(shown, ['invoking', 'invoking (2)', 'ready (2)']);
    t.close();
  });

  it('a fast run of changes shows at most one per interval, and ends on the last one', async () => {
    const { t, shown } = throttle();
    const start = Date.now();
    for (let i = 0; i < 2000; i++) {
      t.push(i % 2 ? 'ready (1)' : 'invoking');
      if (i % 100 === 0) await sleep(1);
    }
    t.push('ready (1)');
    const elapsed = Date.now() - start;
    assert.ok(shown.length <= 3 + Math.ceil(elapsed / 40) + 1, `${shown.length} changes shown in ${elapsed} ms`);
    await sleep(60);
    assert.equal(shown[shown.length - 1], 'ready (1)', 'the last change shows');
    for (let i = 1; i < shown.length; i++) assert.notEqual(shown[i], shown[i - 1], 'no change shown twice in a row');
    t.close();
  });

  it('after a quiet spell changes show at once again', async () => {
    const { t, shown } = throttle({ burst: 2, everyMs: 20 });
    for (let i = 0; i < 5; i++) t.push(`s${i}`);
    assert.deepEqual(shown, ['s0', 's1']);
    await sleep(30);
    assert.deepEqual(shown, ['s0', 's1', 's4'], 'only the latest of the waiting ones');
    await sleep(60);
    t.push('error');
    assert.equal(shown[shown.length - 1], 'error', 'shown at once');
    t.close();
  });

  it('a clock that goes back does not hold the waiting change back (at most one interval)', async () => {
    let clock = 1e9;
    const shown = [];
    const t = new StatusThrottle(
      (v) => shown.push(v),
      { burst: 1, everyMs: 20 },
      () => clock,
    );
    t.push('a');
    clock -= 3600e3; // set back an hour
    t.push('error');
    await sleep(60);
    assert.deepEqual(shown, ['a', 'error']);
    t.close();
  });

  it('after close nothing more shows, not even a waiting change', async () => {
    const { t, shown } = throttle({ burst: 1, everyMs: 20 });
    t.push('a');
    t.push('b');
    t.close();
    t.push('c');
    await sleep(40);
    assert.deepEqual(shown, ['a']);
  });
});
