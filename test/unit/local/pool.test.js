'use strict';
// One action's pool (lib/local/pool.ts) with fake containers handed out as stem cells, real slots
// and a fake capacity and engine around them: queueing, growth to capacity, overload, replacement and close
// without Docker.

const assert = require('node:assert/strict');
const { PoolAction } = require('../../../dist/lib/local/pool');
const { Slots, QueueBytes } = require('../../../dist/lib/local/slots');
const { containerPlan } = require('../../support/container-plan');

/** A container that answers each /run when the test says so (or at once). */
function fakeContainer(log) {
  const c = {
    id: `c${log.made.length + 1}`,
    state: 'ready',
    watch: (fn) => (c.watcher = fn),
    inflight: 0,
    runs: 0,
    initTime: 7,
    lastUsed: Date.now(),
    pending: [],
    handOver: async () => undefined,
    remove: async (reason) => {
      c.state = 'removing';
      log.removed.push([c.id, reason]);
    },
    execute(body) {
      c.inflight++;
      c.runs++;
      const value = JSON.parse(body).value;
      return new Promise((resolve) => {
        const answer = (out) => {
          c.inflight--;
          resolve(out);
        };
        const ok = () => answer({ reply: { status: 200, body: JSON.stringify({ echo: value }) }, logs: [], fatal: false });
        if (log.hold)
          c.pending.push({
            ok,
            crash: () => {
              c.state = 'dead';
              answer({ failure: 'dropped', logs: [], fatal: true });
            },
          });
        else ok();
      });
    },
  };
  log.made.push(c);
  return c;
}

function setup({ capacity = 2, queueLimit = 10, hold = false } = {}) {
  const log = { made: [], removed: [], hold };
  const slots = new Slots(capacity, 1000, { evict: () => false });
  const doc = { namespace: 'guest', name: 'echo', exec: { kind: 'nodejs:20' } };
  const plan = containerPlan(doc);
  // The runtime's capacity (lib/local/capacity.ts PoolCapacity) over real slots, without eviction:
  // every new container is a "stem cell" the fake makes on a slot of its own.
  const queue = new QueueBytes(1 << 20);
  const cell = () => (slots.take() ? fakeContainer(log) : undefined);
  const owner = {
    capacity,
    holdQueued: (action, bytes) => (queue.hold(bytes) ? undefined : new Error(`queue bytes full for ${action}`)),
    releaseQueued: (bytes) => queue.release(bytes),
    joined: () => undefined,
    cell,
    replenish: () => undefined,
    room: () => {
      const c = cell();
      return c ? { cell: c } : undefined;
    },
    reserve: (pool, patienceMs) => slots.reserve(pool, patienceMs),
    waitFor: (pool) => slots.waitFor(pool),
    containerIdle: () => (slots.wanted ? slots.rebalance() : undefined),
    containerGone: (removal) => (removal ? slots.releaseAfter(removal) : slots.release()),
    left: (pool) => slots.forget(pool),
  };
  /** @type {import('../../../dist/lib/local/pool').PoolDeps} */
  const deps = {
    // The capacity owner and the containers as far as a pool uses them.
    capacity: /** @type {import('../../../dist/lib/local/capacity').PoolCapacity} */ (/** @type {unknown} */ (owner)),
    health: { downError: undefined },
    containers: /** @type {import('../../../dist/lib/local/container-setup').ContainerEnv} */ ({}),
    maxPayload: 1 << 20,
    startTimeout: 1000,
    forget: () => undefined,
  };
  const p = new PoolAction(deps, plan, { fromDefaults: 1 }, queueLimit);
  return { p, log, slots };
}
const tick = () => new Promise((r) => setImmediate(r));
/** What the fake containers answer: the parameters they were given, as { echo }. */
const echoed = (a) => /** @type {{ echo: { i: number } }} */ (a.response.result).echo;

describe('pool of one action (fake containers)', () => {
  it('warm provisions one container; a message runs there with the defaults merged, initTime on the first run only', async () => {
    const { p, log } = setup();
    await p.warm();
    assert.equal(p.containers, 1);
    const a1 = await p.invoke({ x: 1 });
    assert.deepEqual(a1.response.result, { echo: { fromDefaults: 1, x: 1 } });
    assert.ok(a1.annotations.some((k) => k.key === 'initTime' && k.value === 7));
    const a2 = await p.invoke({ x: 2 });
    assert.ok(!a2.annotations.some((k) => k.key === 'initTime'));
    assert.equal(log.made.length, 1);
  });

  it('busy containers: messages queue FIFO and the pool grows to the capacity, no further', async () => {
    const { p, log, slots } = setup({ capacity: 2, hold: true });
    await p.warm();
    const results = [1, 2, 3, 4].map((i) => p.invoke({ i }));
    await tick();
    await tick();
    assert.equal(log.made.length, 2, 'grew to capacity');
    assert.equal(slots.used, 2);
    assert.equal(p.queued, 2);
    log.hold = false;
    for (const c of log.made) c.pending.shift().ok();
    // Queued messages go to the freed containers in order.
    await tick();
    for (const c of log.made) while (c.pending.length) c.pending.shift().ok();
    const got = await Promise.all(results);
    assert.deepEqual(
      got.map((a) => echoed(a).i),
      [1, 2, 3, 4],
    );
  });

  it('a full queue fails the message as overload (queue full)', async () => {
    const { p, log } = setup({ capacity: 1, queueLimit: 1, hold: true });
    await p.warm();
    const running = p.invoke({ i: 1 });
    const queued = p.invoke({ i: 2 });
    const err = await p.invoke({ i: 3 }).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(err.code, 'overload');
    assert.equal(err.short, 'queue full');
    log.hold = false;
    log.made[0].pending.shift().ok();
    await tick();
    await Promise.all([running, queued]);
  });

  it('a container whose run failed is removed and replaced (by a stem cell: the old slot comes back once it is gone)', async () => {
    const { p, log, slots } = setup({ capacity: 2, hold: true });
    await p.warm();
    const run = p.invoke({ i: 1 });
    log.made[0].pending.shift().crash();
    const err = await run.then(
      () => undefined,
      (e) => e,
    );
    assert.equal(err.code, 'developer_error');
    await tick();
    assert.deepEqual(log.removed, [['c1', 'retired']]);
    await tick();
    assert.equal(log.made.length, 2, 'a replacement, its action stays warm');
    assert.equal(p.containers, 1);
    assert.equal(slots.used, 1, 'the removed container gave its slot back');
  });

  it("reads its containers' states: no message for a suspended one, messages again once it is detached (engine gone, container kept)", async () => {
    const { p, log } = setup({ capacity: 1 });
    await p.warm();
    const c = log.made[0];
    c.state = 'suspended';
    c.watcher(c);
    const waiting = p.invoke({ i: 1 });
    await tick();
    assert.equal(c.runs, 0, 'a suspended container gets no message');
    c.state = 'detached';
    c.watcher(c);
    const a = await waiting;
    assert.equal(echoed(a).i, 1);
    assert.equal(c.runs, 1, 'a detached container serves on');
    assert.equal(log.made.length, 1);
  });

  it('a container that dies on its own (its watcher sees it dead) is removed and replaced', async () => {
    const { p, log, slots } = setup({ capacity: 2 });
    await p.warm();
    const c = log.made[0];
    c.state = 'dead';
    c.watcher(c);
    await tick();
    assert.deepEqual(log.removed, [['c1', 'retired']]);
    assert.equal(log.made.length, 2, 'a replacement');
    await p.invoke({ i: 2 });
    assert.equal(log.made[1].runs, 1, 'the next message runs on the replacement');
    assert.equal(c.runs, 0);
    assert.equal(slots.used, 1);
  });

  it('close rejects waiting messages as closed and removes the containers', async () => {
    const { p, log } = setup({ capacity: 1, hold: true });
    await p.warm();
    const running = p.invoke({ i: 1 }).then(
      () => 'ran',
      (e) => e,
    );
    const waiting = p.invoke({ i: 2 }).then(
      () => 'ran',
      (e) => e,
    );
    const closing = p.close();
    const err = await waiting;
    assert.equal(err.reason, 'closed');
    log.made[0].pending.shift().ok();
    await closing;
    await running;
    assert.deepEqual(
      log.removed.map((r) => r[1]),
      ['closed'],
    );
    assert.equal(
      (
        await p.invoke({}).then(
          () => undefined,
          (e) => e,
        )
      ).reason,
      'closed',
    );
  });

  it("close({ wait: 'stopped' }) resolves before Docker has removed the containers; their slots stay taken until then", async () => {
    const { p, log, slots } = setup({ capacity: 1 });
    await p.warm();
    /** @type {(value?: unknown) => void} */
    let finish;
    log.made[0].remove = (reason) => {
      log.made[0].state = 'removing';
      log.removed.push([log.made[0].id, reason]);
      return new Promise((r) => (finish = r));
    };
    await p.close({ wait: 'stopped' });
    assert.deepEqual(
      log.removed.map((r) => r[1]),
      ['closed'],
      'its removal has begun',
    );
    assert.equal(
      (
        await p.invoke({}).then(
          () => undefined,
          (e) => e,
        )
      ).reason,
      'closed',
      'it takes no more work',
    );
    assert.equal(slots.used, 1, 'the container still counts against the capacity');
    assert.equal(slots.take(), false);
    let removed = false;
    const full = p.close().then(() => (removed = true));
    await tick();
    assert.equal(removed, false, 'a plain close still waits for the removal');
    finish();
    await full;
    await tick();
    assert.equal(slots.used, 0, 'the slot comes back once it is gone');
  });
});
