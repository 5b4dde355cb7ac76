'use strict';
// Bounds of the local runtime on a real Docker engine: waiting messages bounded by bytes for the
// whole runtime, CPU shares and clamped limits on the containers it creates, and a hanging
// container's run ended by the action's time limit (clamped) with the next message served.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const Docker = require('dockerode');
const { LocalEngine, LABELS } = require('../../../dist/lib/local/engine');
const { requireDocker, requireImage } = require('../../support/docker');
const { ACTION_IMAGE, HOSTILE_IMAGE, buildHostileImage } = require('../../support/hostile');

/** An activation's result, as this file's actions shape it. @param {import('../../../dist/lib/types').Activation} a @returns {Record<string, any>} */
const result = (a) => /** @type {Record<string, any>} */ (a.response.result);

const INSTANCE = `bounds-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const docker = new Docker();
const engines = [];
const CODE = `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function main(p) { return sleep(p.ms || 0).then(() => ({ n: p.n, size: JSON.stringify(p).length })); }`;

function engine(opts = {}) {
  const e = new LocalEngine({ instanceId: INSTANCE, runtimeId: 'rt-bounds', imageOverrides: { 'nodejs:*': ACTION_IMAGE }, ...opts });
  engines.push(e);
  return e;
}
function doc(name, over = {}) {
  return {
    namespace: 'guest',
    name,
    version: '0.0.1',
    exec: { kind: 'nodejs:20', code: CODE },
    limits: { timeout: 60000, memory: 256, logs: 10, concurrency: 1 },
    ...over,
  };
}
const catalog = (docs) => ({
  location: 'in-test catalog',
  async getAction(ref) {
    return structuredClone(docs.find((d) => d.name === ref.name));
  },
  async runtimeImages() {
    return {};
  },
});

describe('local runtime bounds (real Docker)', function () {
  this.timeout(120000);
  before(async function () {
    await requireDocker(this);
    await requireImage(this, ACTION_IMAGE);
    buildHostileImage();
  });
  after(async () => {
    await Promise.all(engines.map((e) => e.close()));
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${INSTANCE}`] } });
    assert.equal(left.length, 0, 'no container left');
  });

  it('bounds the bytes of waiting messages for the whole runtime, with a clear overload error', async () => {
    // max payload 64 KB → the runtime's queues hold at most 512 KB of parameters.
    const e = engine({ capacity: 1, queueLimit: 1000, maxPayload: 64 * 1024 });
    const d = doc('slow');
    const act = await e.provision('node-slow', d, catalog([d]));
    const blob = 'x'.repeat(60 * 1024);
    const busy = act.invoke({ ms: 1500, n: 0 });
    const waiting = Array.from({ length: 12 }, (_, i) =>
      act.invoke({ n: i + 1, blob }).then(
        (a) => result(a).n,
        (err) => err,
      ),
    );
    const settled = await Promise.all(waiting);
    await busy;
    const refused = /** @type {import('../../../dist/lib/errors').OpenWhiskNodeError[]} */ (settled.filter((r) => r instanceof Error));
    const ran = settled.filter((r) => typeof r === 'number');
    assert.ok(ran.length >= 7 && ran.length <= 8, `${ran.length} messages fit in 512 KB`);
    assert.equal(refused.length + ran.length, 12);
    assert.equal(refused[0].code, 'overload');
    assert.match(
      refused[0].message,
      /overloaded: the messages waiting in the local runtime \(all its actions together\) already hold more than .* of the 0\.5 MB it keeps for waiting messages/,
    );
    // Once the queue has drained, messages are accepted again.
    assert.equal(result(await act.invoke({ n: 99, blob })).n, 99);
    await act.close();
  });

  it('creates containers with CPU shares by memory and limits clamped to the documented maxima', async () => {
    const e = engine({ capacity: 4 });
    const d = doc('greedy', { limits: { timeout: 2 ** 40, memory: 64 * 1024, logs: 500, concurrency: 1 } });
    const act = await e.provision('node-greedy', d, catalog([d]));
    try {
      const [info] = await docker.listContainers({ filters: { label: [`${LABELS.node}=node-greedy`, `${LABELS.instance}=${INSTANCE}`] } });
      const c = await docker.getContainer(info.Id).inspect();
      assert.equal(c.HostConfig.Memory, 512 * 1024 * 1024, 'memory clamped to 512 MB');
      assert.equal(c.HostConfig.CpuShares, 512, '512 MB out of 4 × 256 MB → 512 of 1024 shares');
      const a = await act.invoke({ n: 1 });
      assert.deepEqual(a.annotations.find((x) => x.key === 'limits').value, { timeout: 300000, memory: 512, logs: 10, concurrency: 1 });
    } finally {
      await act.close();
    }
  });

  it("isolates action containers from each other by default; a runtime's own network is the user's choice", async () => {
    const probeDoc = {
      namespace: 'guest',
      name: 'probe',
      version: '1',
      exec: { kind: 'blackbox', image: HOSTILE_IMAGE },
      limits: { timeout: 10000, memory: 256, logs: 10, concurrency: 1 },
    };
    const victimDoc = doc('victim');
    const ipOf = async (nodeId) => {
      const [info] = await docker.listContainers({ filters: { label: [`${LABELS.node}=${nodeId}`, `${LABELS.instance}=${INSTANCE}`] } });
      const c = await docker.getContainer(info.Id).inspect();
      return Object.values(c.NetworkSettings.Networks)
        .map((n) => n.IPAddress)
        .find(Boolean);
    };
    // Default: the isolation network, inter-container traffic off.
    const e = engine({ capacity: 2 });
    const victim = await e.provision('node-victim', victimDoc, catalog([victimDoc]));
    const prober = await e.provision('node-prober', probeDoc, catalog([probeDoc]));
    const [victimInfo] = await docker.listContainers({ filters: { label: [`${LABELS.node}=node-victim`, `${LABELS.instance}=${INSTANCE}`] } });
    assert.deepEqual(Object.keys(victimInfo.NetworkSettings.Networks), ['leon-openwhisk-isolated']);
    const blocked = await prober.invoke({ mode: 'probe', host: await ipOf('node-victim'), port: 8080 });
    assert.equal(result(blocked).reachable, false, 'another action container is out of reach');
    assert.equal(result(await victim.invoke({ n: 1 })).n, 1, 'the victim still serves Node-RED');
    await Promise.all([victim.close(), prober.close()]);

    // Control: on a plain user network of the user's choosing, containers do reach each other.
    const net = `leon-bounds-${crypto.randomBytes(3).toString('hex')}`;
    await docker.createNetwork({ Name: net, Driver: 'bridge', Labels: { 'io.leon-edge.test': 'bounds' } });
    const e2 = engine({ capacity: 2, network: net });
    try {
      const v2 = await e2.provision('node-victim2', victimDoc, catalog([victimDoc]));
      const p2 = await e2.provision('node-prober2', probeDoc, catalog([probeDoc]));
      const open = await p2.invoke({ mode: 'probe', host: await ipOf('node-victim2'), port: 8080 });
      assert.equal(result(open).reachable, true, 'the probe itself works');
      await Promise.all([v2.close(), p2.close()]);
    } finally {
      // Its containers (a stem cell too) leave the network first: Docker refuses to remove a network in use.
      await e2.close();
      await docker.getNetwork(net).remove();
    }
  });

  it('ends a run that never answers at the time limit, replaces the container, and serves the next message', async () => {
    const e = engine({ capacity: 2 });
    const d = {
      namespace: 'guest',
      name: 'hang',
      version: '1',
      exec: { kind: 'blackbox', image: HOSTILE_IMAGE },
      limits: { timeout: 1000, memory: 256, logs: 10, concurrency: 1 },
    };
    const act = await e.provision('node-hang', d, catalog([d]));
    try {
      const err = await act.invoke({ mode: 'hang' }).then(
        () => assert.fail('resolved'),
        (x) => x,
      );
      assert.equal(err.code, 'timeout');
      assert.match(err.message, /exceeded its time limits of 1000 milliseconds/);
      const next = await act.invoke({ mode: 'ok', n: 5 });
      assert.deepEqual(next.response.result, { ok: true, n: 5 });
    } finally {
      await act.close();
    }
  });
});
