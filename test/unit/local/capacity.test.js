'use strict';
// The one owner of a runtime's capacity (lib/local/capacity.ts) with fake pools speaking its closed
// interface (PoolMember) and no stem cells: who gives way when a pool needs a slot, the idle
// timeout of the maintenance timer, the engine's ups and downs, a pool that left, close. No Docker.

const assert = require('node:assert/strict');
const { Capacity } = require('../../../dist/lib/local/capacity');
const { OpenWhiskNodeError } = require('../../../dist/lib/errors');
const { containerPlan } = require('../../support/container-plan');

function settings(over = {}) {
  return {
    capacity: 2,
    queueLimit: 10,
    startTimeout: 500,
    maxPayload: 1 << 20,
    maxResult: 1 << 20,
    queueBytes: 1 << 20,
    idleTimeout: 600000,
    warmTimeout: 0,
    highWatermark: 1,
    lowWatermark: 1,
    preemptPeriod: 600000,
    stemCells: 0,
    network: 'bridge',
    ...over,
  };
}

function owner(over) {
  const ticks = { n: 0 };
  const engine = { instanceId: 'i', runtimeId: 'r', engineId: 'e', health: { downError: undefined }, tick: () => ticks.n++ };
  // No containers are made here: no environment to make them in.
  const env = /** @type {import('../../../dist/lib/local/container-setup').ContainerEnv} */ ({});
  return { cap: new Capacity(settings(over), env, engine), ticks };
}

/** A pool as the owner sees it; `idle` lists its containers' last-used times (all idle, ready). */
function member(cap, name, idle = []) {
  const m = {
    name,
    plan: containerPlan({ namespace: 'guest', name, exec: { kind: 'nodejs:20' } }),
    containers: idle.map((lastUsed, i) => ({ id: `${name}${i + 1}`, lastUsed })),
    want: 0,
    removed: [],
    engine: [],
    get empty() {
      return m.containers.length === 0;
    },
    wantsMore: () => m.want > 0,
    acceptSlot() {
      if (m.want <= 0) return false;
      m.want--;
      m.containers.push({ id: `${name}${m.containers.length + 1}`, lastUsed: Date.now() });
      return true;
    },
    collectViews(out) {
      for (const c of m.containers) out.push({ ref: c, pool: m, poolSize: m.containers.length, inflight: 0, queued: false, lastUsed: c.lastUsed });
    },
    removeIdle(c, reason) {
      const i = m.containers.indexOf(c);
      if (i < 0) return false;
      m.containers.splice(i, 1);
      m.removed.push(`${c.id} ${reason}`);
      cap.containerGone(Promise.resolve()); // its slot comes back once "removed"
      return true;
    },
    engineChanged: (down) => m.engine.push(down ? down.message : 'back'),
  };
  cap.joined(m);
  for (let i = 0; i < idle.length; i++) assert.ok(cap.room(m.plan), 'a slot for each idle container');
  return m;
}

async function until(what, cond, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the owner of capacity (fake pools)', () => {
  it("a first container gets the slot of another action's idle container: the least recently used surplus one, then its last one", async () => {
    const { cap } = owner({ capacity: 2 });
    const a = member(cap, 'a', [Date.now() - 5000, Date.now() - 1000]);
    assert.equal(cap.used, 2);
    const b = member(cap, 'b');
    await cap.reserve(b);
    assert.deepEqual(a.removed, ['a1 evicted']);
    const c = member(cap, 'c');
    await cap.reserve(c);
    assert.deepEqual(a.removed, ['a1 evicted', 'a2 evicted'], "an action's last idle container gives way to a first one");
    assert.equal(cap.used, 2);
    cap.close();
  });

  it('a pool that wants to grow takes a surplus container of another action, never its last one', async () => {
    const { cap } = owner({ capacity: 2 });
    const a = member(cap, 'a', [Date.now() - 5000]);
    const b = member(cap, 'b', [Date.now()]);
    b.want = 1;
    cap.waitFor(b);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(a.removed, [], "a's only container stays");
    assert.equal(b.containers.length, 1);
    cap.close();
  });

  it("the maintenance timer removes a surplus container idle beyond the idle timeout and keeps the action's last one", async () => {
    const { cap, ticks } = owner({ capacity: 3, idleTimeout: 100 });
    const a = member(cap, 'a', [Date.now() - 1000, Date.now() - 2000]);
    await until('the idle removal', () => a.removed.length > 0);
    assert.deepEqual(a.removed, ['a2 idle']);
    const at = ticks.n;
    await until('two more ticks', () => ticks.n >= at + 2);
    assert.deepEqual(a.removed, ['a2 idle'], 'warmTimeout 0: the last one stays');
    cap.close();
  });

  it('the engine going down and coming back reaches every pool, not one that left; a pool that left is not waited for', async () => {
    const { cap } = owner({ capacity: 1 });
    const a = member(cap, 'a', [Date.now()]);
    const b = member(cap, 'b');
    cap.engineDown(new OpenWhiskNodeError('docker', 'gone'));
    assert.deepEqual([a.engine, b.engine], [['gone'], ['gone']]);
    b.want = 1;
    cap.waitFor(b);
    cap.left(b);
    cap.engineBack();
    assert.deepEqual([a.engine, b.engine], [['gone', 'back'], ['gone']]);
    a.removeIdle(a.containers[0], 'idle');
    await until('the slot back', () => cap.used === 0);
    assert.equal(b.containers.length, 0, 'the freed slot did not go to the pool that left');
    cap.close();
  });

  it('after close, no slot is handed out and a waiting first container fails as closed', async () => {
    const { cap } = owner({ capacity: 1 });
    member(cap, 'a', [Date.now()]);
    const b = member(cap, 'b');
    const waiting = cap.reserve(b, 5000).then(
      () => 'got one',
      (e) => e.message,
    );
    // The eviction for b frees a's container; b gets its slot once it is gone, so close before that.
    cap.close();
    assert.match(await waiting, /closed|shut/i);
    assert.equal(cap.room(b.plan), undefined);
  });
});
