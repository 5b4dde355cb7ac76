'use strict';
// One pool per action for a runtime's nodes and its gateway API (lib/gateway/shared-pools.ts): the API
// runs an action in a node's pool of the same action, and provisions its own only when no node runs it.

const assert = require('node:assert/strict');
const { SharedPools } = require('../../../dist/lib/gateway/shared-pools');

/** @typedef {import('../../../dist/lib/types').Activation} Activation */
/** @typedef {import('../../../dist/lib/types').Provisioner} Provisioner */
/** What the fake pools answer in place of an activation: the pool that ran the call. @typedef {Activation & { ranIn: string, params?: unknown, id?: string }} Ran */

/** The pool a call ran in, from what a fake pool answered. @param {Activation} a */
const ranIn = (a) => /** @type {Ran} */ (a).ranIn;
/** The activation id a fake pool was given. @param {Activation} a */
const ranId = (a) => /** @type {Ran} */ (a).id;
/** No catalog: the fake engines read none. */
const catalog = /** @type {import('../../../dist/lib/types').Catalog} */ ({});

/**
 * A fake engine: each provision is a pool named after its caller; records who provisioned what.
 * @returns {Provisioner & { log: { provisioned: string[], closed: string[] } }}
 */
function fakeEngine() {
  const log = { provisioned: [], closed: [] };
  return {
    log,
    async provision(nodeId, doc) {
      const pool = `${nodeId}:${doc.name}`;
      log.provisioned.push(pool);
      return {
        containers: 1,
        invoke: async (params) => /** @type {Ran} */ ({ ranIn: pool, params }),
        close: async (opts) => {
          log.closed.push(opts ? `${pool} (${opts.wait})` : pool);
        },
      };
    },
  };
}

const doc = (name, code = 'function main(a){return a}') => ({ namespace: 'guest', name, version: '0.0.1', exec: { kind: 'nodejs:20', code } });

describe('SharedPools: the gateway API and the action nodes share one pool per action', () => {
  it('the API runs an action in the pool of the node that runs it, without provisioning one of its own', async () => {
    const engine = fakeEngine();
    const pools = new SharedPools(engine);
    const node = await pools.nodes.provision('n1', doc('hello'), catalog);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    assert.deepEqual(ranIn(await api.invoke({ x: 1 })), 'n1:hello');
    assert.deepEqual(engine.log.provisioned, ['n1:hello']);
    assert.equal(api.containers, 1);
    await api.close();
    assert.deepEqual(engine.log.closed, [], "closing the API's view leaves the node's pool alone");
    assert.equal(ranIn(await node.invoke({})), 'n1:hello');
  });

  it("a node's close options reach its pool, through the activation recorder too (a redeploy waits for its containers to stop, not to be removed)", async () => {
    const engine = fakeEngine();
    const { ActivationStore } = require('../../../dist/lib/activations/store');
    const { recording } = require('../../../dist/lib/activations/record');
    const pools = new SharedPools(recording(engine, new ActivationStore({ maxCount: 10 })));
    const node = await pools.nodes.provision('n1', doc('hello'), catalog);
    await node.close({ wait: 'stopped' });
    assert.deepEqual(engine.log.closed, ['n1:hello (stopped)']);
  });

  it("an invoke answered 202 that joined a blocking call's provisioning keeps its wait for capacity when that one fails at once", async () => {
    const { OpenWhiskNodeError } = require('../../../dist/lib/errors');
    const asked = [];
    /** @type {(value?: unknown) => void} */
    let failFirst;
    /** @type {Provisioner} */
    const engine = {
      async provision(nodeId, d, _catalog, _onStatus, opts) {
        asked.push(opts?.capacityWaitMs);
        if (opts?.capacityWaitMs === undefined) {
          await new Promise((r) => (failFirst = r));
          throw new OpenWhiskNodeError('config', 'All 1 containers … cannot get one now.', { reason: 'capacity' });
        }
        return { containers: 1, invoke: async () => /** @type {Ran} */ ({ ranIn: 'patient' }), close: async () => undefined };
      },
    };
    const pools = new SharedPools(engine);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    const blocking = api.invoke({}, undefined, {}).then(
      () => 'ran',
      (e) => e.reason,
    );
    const queued = api.invoke({}, undefined, { capacityWaitMs: 60000 });
    await new Promise((r) => setImmediate(r));
    failFirst();
    assert.equal(await blocking, 'capacity', 'the blocking call fails at once (429)');
    assert.deepEqual(await queued, { ranIn: 'patient' });
    assert.deepEqual(asked, [undefined, 60000]);
  });

  it('an action no node runs (or with other code) gets a pool of its own, made once, at the first call', async () => {
    const engine = fakeEngine();
    const pools = new SharedPools(engine);
    await pools.nodes.provision('n1', doc('hello'), catalog);
    const other = await pools.api.provision('api', doc('hello', 'function main(){return {v:2}}'), catalog);
    assert.deepEqual(engine.log.provisioned, ['n1:hello'], 'nothing provisioned before the first call');
    assert.equal(ranIn(await other.invoke({})), 'api:hello');
    assert.equal(ranIn(await other.invoke({})), 'api:hello');
    assert.deepEqual(engine.log.provisioned, ['n1:hello', 'api:hello']);
    await other.close();
    assert.deepEqual(engine.log.closed, ['api:hello']);
  });

  it('after the node closes (a redeploy), the API goes on in a pool of its own; when a node runs it again, in that one (its own pool closed)', async () => {
    const engine = fakeEngine();
    const pools = new SharedPools(engine);
    const node = await pools.nodes.provision('n1', doc('hello'), catalog);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    assert.equal(ranIn(await api.invoke({})), 'n1:hello');
    await node.close();
    assert.equal(ranIn(await api.invoke({})), 'api:hello');
    await pools.nodes.provision('n2', doc('hello'), catalog);
    assert.equal(ranIn(await api.invoke({})), 'n2:hello');
    assert.deepEqual(engine.log.closed, ['n1:hello', 'api:hello'], "the API's own pool gives its capacity back");
  });

  it("a call running in the API's own pool finishes before that pool is closed", async () => {
    const engine = fakeEngine();
    /** @type {() => void} */
    let release;
    const real = engine.provision;
    engine.provision = async (nodeId, d) => {
      const h = await real(nodeId, d, catalog);
      if (nodeId !== 'api') return h;
      return { ...h, invoke: () => new Promise((r) => (release = () => r(/** @type {Ran} */ ({ ranIn: 'api:hello' })))) };
    };
    const pools = new SharedPools(engine);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    const slow = api.invoke({});
    await new Promise((r) => setImmediate(r));
    await pools.nodes.provision('n1', doc('hello'), catalog);
    assert.equal(ranIn(await api.invoke({})), 'n1:hello');
    assert.deepEqual(engine.log.closed, [], 'not while its call runs');
    release();
    assert.equal(ranIn(await slow), 'api:hello');
    assert.deepEqual(engine.log.closed, ['api:hello']);
  });

  it("an API call while a node's pool is still being provisioned (just after a deploy) waits for it and takes no capacity of its own", async () => {
    const engine = fakeEngine();
    const real = engine.provision;
    /** @type {(value?: unknown) => void} */
    let finish;
    let failNode = false;
    engine.provision = async (nodeId, d) => {
      if (nodeId === 'n1') {
        await new Promise((r) => (finish = r));
        if (failNode) throw new Error('no room for n1');
      }
      return real(nodeId, d, catalog);
    };
    const pools = new SharedPools(engine);
    const nodeP = pools.nodes.provision('n1', doc('hello'), catalog);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    const call = api.invoke({ x: 1 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(engine.log.provisioned, [], 'the API did not provision a pool of its own meanwhile');
    finish();
    assert.equal(ranIn(await call), 'n1:hello');
    assert.equal(ranIn(await (await nodeP).invoke({})), 'n1:hello');
    assert.deepEqual(engine.log.provisioned, ['n1:hello']);

    // The node's provisioning fails: the waiting call runs in a pool of the API's own.
    failNode = true;
    const other = pools.nodes.provision('n1', doc('other'), catalog);
    const api2 = await pools.api.provision('api', doc('other'), catalog);
    const call2 = api2.invoke({});
    await new Promise((r) => setImmediate(r));
    finish();
    await assert.rejects(other, /no room for n1/);
    assert.equal(ranIn(await call2), 'api:other');
  });

  it("two nodes provisioning the same action: the first fails, the API waits for the second's pool (still no pool of its own)", async () => {
    const engine = fakeEngine();
    const real = engine.provision;
    const gates = {};
    engine.provision = async (nodeId, d) => {
      if (nodeId !== 'api') {
        const ok = await new Promise((r) => (gates[nodeId] = r));
        if (!ok) throw new Error(`no room for ${nodeId}`);
      }
      return real(nodeId, d, catalog);
    };
    const pools = new SharedPools(engine);
    const n1 = pools.nodes.provision('n1', doc('hello'), catalog);
    const n2 = pools.nodes.provision('n2', doc('hello'), catalog);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    const call = api.invoke({});
    await new Promise((r) => setImmediate(r));
    gates.n1(false);
    await assert.rejects(n1, /no room for n1/);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(engine.log.provisioned, [], 'the API waits for n2 instead of provisioning its own');
    gates.n2(true);
    await n2;
    assert.equal(ranIn(await call), 'n2:hello');
    assert.deepEqual(engine.log.provisioned, ['n2:hello']);
  });

  it('a failed provisioning is asked again at the next call', async () => {
    const engine = fakeEngine();
    let fail = true;
    const real = engine.provision;
    engine.provision = async (...a) => {
      if (fail) throw new Error('no room');
      return real(...a);
    };
    const pools = new SharedPools(engine);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    await assert.rejects(api.invoke({}), /no room/);
    fail = false;
    assert.equal(ranIn(await api.invoke({})), 'api:hello');
  });

  it("the invocation's options reach the pool: an API call answered 202 provisions its pool waiting for capacity, and its activation id reaches the node's pool", async () => {
    const engine = fakeEngine();
    const waits = [];
    const real = engine.provision;
    engine.provision = async (nodeId, d, c, onStatus, opts) => {
      waits.push(opts?.capacityWaitMs);
      const h = await real(nodeId, d, c);
      return { ...h, invoke: async (params, ref, o) => /** @type {Ran} */ ({ ...(await h.invoke(params, ref)), id: o?.activationId }) };
    };
    const pools = new SharedPools(engine);
    const api = await pools.api.provision('api', doc('hello'), catalog);
    assert.equal(ranId(await api.invoke({}, undefined, { capacityWaitMs: 60000, activationId: 'a'.repeat(32) })), 'a'.repeat(32));
    assert.deepEqual(waits, [60000], "the API's own pool is provisioned with the wait its first call was given");
    const other = await pools.api.provision('api', doc('other'), catalog);
    await other.invoke({});
    assert.deepEqual(waits, [60000, undefined], 'a blocking call does not wait for capacity');
    await pools.nodes.provision('n1', doc('node'), catalog);
    const shared = await pools.api.provision('api', doc('node'), catalog);
    assert.equal(ranId(await shared.invoke({}, undefined, { activationId: 'b'.repeat(32) })), 'b'.repeat(32), "in a node's pool, too");
  });
});
