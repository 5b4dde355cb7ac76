'use strict';
// The runtime's container capacity (lib/local/slots.ts) with fake pools and a fake eviction
// policy: no Docker.

const assert = require('node:assert/strict');
const { Slots, QueueBytes } = require('../../../dist/lib/local/slots');

/** A pool that wants `want` more containers; every slot it accepts is counted. */
function pool(name, want = 1, empty = false) {
  return {
    name,
    empty,
    want,
    accepted: 0,
    wantsMore() {
      return this.want > 0;
    },
    acceptSlot() {
      if (this.want <= 0) return false;
      this.want--;
      this.accepted++;
      return true;
    },
  };
}
function policy(evictable = 0) {
  return {
    evictable,
    evictions: [],
    freedCalls: 0,
    evict(requester, allowLast) {
      this.evictions.push({ requester: requester.name, allowLast });
      if (this.evictable <= 0) return false;
      this.evictable--;
      return true;
    },
    freed() {
      this.freedCalls++;
    },
  };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('slots (capacity of a runtime)', () => {
  it('hands out at most capacity slots; a released one can be taken again', () => {
    const s = new Slots(2, 1000, policy());
    assert.equal(s.take(), true);
    assert.equal(s.take(), true);
    assert.equal(s.take(), false);
    assert.equal(s.used, 2);
    s.release();
    assert.equal(s.used, 1);
    assert.equal(s.take(), true);
  });

  it('a freed slot goes to the pool waiting for one (it stays in use), else it is free and the policy hears of it', () => {
    const p = policy();
    const s = new Slots(1, 1000, p);
    s.take();
    const a = pool('a', 1, true);
    s.waitFor(a);
    assert.deepEqual(p.evictions, [{ requester: 'a', allowLast: true }], "an empty pool may take another action's last idle container");
    assert.equal(s.wanted, true);
    s.release();
    assert.equal(a.accepted, 1);
    assert.equal(s.used, 1, 'the slot moved to the waiter');
    assert.equal(s.wanted, false);
    s.release();
    assert.equal(s.used, 0);
    assert.equal(p.freedCalls, 1);
  });

  it('a waiter satisfied meanwhile refuses the slot, which then goes to the next', () => {
    const s = new Slots(1, 1000, policy());
    s.take();
    const a = pool('a', 1);
    const b = pool('b', 1);
    s.waitFor(a);
    s.waitFor(b);
    s.waitFor(a); // one wait per pool
    a.want = 0;
    s.release();
    assert.deepEqual([a.accepted, b.accepted], [0, 1]);
  });

  it('rebalance evicts for the first waiter that still wants a slot, dropping satisfied ones', () => {
    const p = policy();
    const s = new Slots(1, 1000, p);
    s.take();
    const a = pool('a', 1);
    const b = pool('b', 1);
    s.waitFor(a);
    s.waitFor(b);
    p.evictions.length = 0;
    a.want = 0;
    s.rebalance();
    assert.deepEqual(p.evictions, [{ requester: 'b', allowLast: false }]);
  });

  it('reserve: a free slot at once; none and nothing to evict → a capacity error naming the action, at once', async () => {
    const p = policy(0);
    const s = new Slots(1, 1000, p);
    await s.reserve(pool('first'));
    const t0 = Date.now();
    const err = await s.reserve(pool('second')).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(Date.now() - t0 < 500, 'no wait when nothing can give way');
    assert.equal(err.code, 'config');
    assert.equal(err.reason, 'capacity');
    assert.equal(err.short, 'capacity full');
    assert.match(err.message, /All 1 containers of the local runtime are busy with other actions \(running or starting\): 'second' cannot get one now/);
  });

  it("reserve asks for another action's last idle container too: a first container never fails while one is idle", async () => {
    const p = policy(1);
    const s = new Slots(1, 1000, p);
    s.take();
    const r = s.reserve(pool('newcomer'));
    assert.deepEqual(p.evictions, [{ requester: 'newcomer', allowLast: true }]);
    s.release(); // the evicted container is gone
    await r;
    assert.equal(s.used, 1);
  });

  it('reserve waits for the slot an eviction frees, ahead of pools that want to grow', async () => {
    const s = new Slots(1, 1000, policy(2));
    s.take();
    const grower = pool('grower', 1);
    s.waitFor(grower);
    let got = false;
    const r = s.reserve(pool('first')).then(() => (got = true));
    await tick();
    assert.equal(got, false);
    s.release(); // the evicted container is gone
    await r;
    assert.equal(got, true);
    assert.equal(grower.accepted, 0, 'a first container goes before growth');
    assert.equal(s.used, 1);
  });

  it('reserve waits for a removal in progress (releaseAfter), and times out with the capacity error', async () => {
    const s = new Slots(1, 50, policy(0));
    s.take();
    /** @type {(value?: unknown) => void} */
    let done;
    s.releaseAfter(new Promise((r) => (done = r)));
    assert.equal(s.used, 1, 'held until the container is gone');
    const r = s.reserve(pool('a'));
    done();
    await r;
    const late = await new Slots(1, 50, policy(1)).reserve(pool('b')).then(
      () => 'took the free slot',
      (e) => e,
    );
    assert.equal(late, 'took the free slot');
    const s2 = new Slots(1, 50, policy(1));
    s2.take();
    const t0 = Date.now();
    const err = await s2.reserve(pool('c')).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(err.reason, 'capacity');
    assert.ok(Date.now() - t0 >= 45);
  });

  it('reserve with patience (work already accepted): nothing idle → it waits in line; the next container to go idle gives way to it', async () => {
    const p = policy(0);
    const s = new Slots(1, 1000, p);
    s.take(); // another action's container, running
    let got = false;
    const r = s.reserve(pool('queued'), 5000).then(() => (got = true));
    await tick();
    assert.equal(got, false, 'it waits; it does not fail at once');
    p.evictable = 1; // the running container finished: it is idle now
    p.evictions.length = 0;
    s.rebalance();
    assert.deepEqual(p.evictions, [{ requester: 'queued', allowLast: true }], "another action's last idle container gives way");
    s.release(); // the evicted container is gone
    await r;
    assert.equal(s.used, 1);
    const t0 = Date.now();
    const err = await s.reserve(pool('late'), 60).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(Date.now() - t0 >= 55, 'it waited its patience');
    assert.equal(err.reason, 'capacity');
    assert.match(err.message, /'late' got none within 60 ms/);
  });

  it('first containers get freed slots in the order they asked for them, ahead of growth', async () => {
    const s = new Slots(1, 1000, policy(0));
    s.take();
    const grower = pool('grower', 1);
    s.waitFor(grower);
    const order = [];
    const a = s.reserve(pool('a'), 1000).then(() => order.push('a'));
    const b = s.reserve(pool('b'), 1000).then(() => order.push('b'));
    s.release();
    await a;
    s.release();
    await b;
    assert.deepEqual(order, ['a', 'b']);
    assert.equal(grower.accepted, 0);
  });

  it("a first container for a node's deploy gets a freed slot before one for work already accepted, which waits longer", async () => {
    const s = new Slots(1, 1000, policy(0));
    s.take();
    /** @type {(value?: unknown) => void} */
    let done;
    s.releaseAfter(new Promise((r) => (done = r))); // a removal in progress: the node's reserve waits for it
    const order = [];
    const queued = s.reserve(pool('queued'), 5000).then(() => order.push('queued'));
    const node = s.reserve(pool('node')).then(() => order.push('node'));
    done();
    await node;
    assert.deepEqual(order, ['node']);
    s.release();
    await queued;
    assert.deepEqual(order, ['node', 'queued']);
  });

  it('close fails waiting provisionings as closed and hands out nothing more', async () => {
    const s = new Slots(1, 1000, policy(1));
    s.take();
    const r = s.reserve(pool('a')).then(
      () => undefined,
      (e) => e,
    );
    s.close();
    const err = await r;
    assert.equal(err.reason, 'closed');
    s.release();
    assert.equal(s.take(), false);
  });

  it('a forgotten pool is not offered slots', () => {
    const s = new Slots(1, 1000, policy());
    s.take();
    const a = pool('a', 1);
    s.waitFor(a);
    s.forget(a);
    s.release();
    assert.equal(a.accepted, 0);
    assert.equal(s.used, 0);
  });
});

describe('queue bytes (all queues of a runtime)', () => {
  it('holds up to the limit and no more; released bytes can be held again', () => {
    const q = new QueueBytes(10);
    assert.equal(q.hold(6), true);
    assert.equal(q.hold(5), false);
    assert.equal(q.hold(4), true);
    q.release(6);
    assert.equal(q.hold(6), true);
    q.release(100);
    assert.equal(q.hold(10), true);
  });
});
