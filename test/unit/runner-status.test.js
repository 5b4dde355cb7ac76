'use strict';
// The status ring of an action node when the Docker engine's health changes (lib/runner.ts), with a
// fake engine and catalog: no Docker. A health event must not turn a node with no action, or one
// whose /init failed, into a green "ready (0)".

const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { ActionRunner } = require('../../dist/lib/runner');
const { OpenWhiskNodeError } = require('../../dist/lib/errors');

/** @typedef {EventEmitter & import('../../dist/lib/types').Provisioner & { calls: number }} FakeEngine */

/** An engine that tells its health ('health' events) and counts its provisions. */
function fakeEngine(provision) {
  const e = /** @type {FakeEngine} */ (new EventEmitter());
  e.calls = 0;
  e.provision = async (...args) => {
    e.calls++;
    return provision(...args);
  };
  return e;
}
const catalog = {
  location: 'fake',
  getAction: async (ref) => ({ namespace: ref.namespace, name: ref.name, exec: { kind: 'nodejs:20' } }),
  runtimeImages: async () => ({}),
};
const handle = { containers: 1, invoke: async () => ({}), close: async () => undefined };
const tick = () => new Promise((r) => setTimeout(r, 10));

/** The fake engine a runner was made with. @returns {FakeEngine} */
const engineOf = (r) => /** @type {{ engine: FakeEngine }} */ (r['target']).engine;

function runner(engine, ref) {
  const reports = [];
  const r = new ActionRunner('n1', { mode: 'local', catalog, engine }, ref, (x) => reports.push(x));
  return { r, reports, last: () => reports[reports.length - 1] };
}

describe('runner status across Docker health changes', () => {
  it('a node with no action of its own stays idle when the engine recovers', async () => {
    const { r, last } = runner(
      fakeEngine(async () => handle),
      undefined,
    );
    await r.start();
    assert.equal(last().phase, 'idle');
    engineOf(r).emit('health', { state: 'down', short: 'docker unreachable' });
    assert.deepEqual([last().phase, last().detail], ['error', 'docker unreachable']);
    engineOf(r).emit('health', { state: 'ok' });
    await tick();
    assert.equal(last().phase, 'idle');
    await r.close();
  });

  it('a failed /init keeps its error through a health change', async () => {
    const engine = fakeEngine(async () => {
      throw new OpenWhiskNodeError('developer_error', "Action '/guest/a' failed to initialize", { short: 'init failed' });
    });
    const { r, last } = runner(engine, { namespace: 'guest', name: 'a' });
    const err = await r.start();
    assert.match(err.message, /failed to initialize/);
    assert.deepEqual([last().phase, last().detail], ['error', 'init failed']);
    engine.emit('health', { state: 'degraded', short: 'docker: disk full' });
    engine.emit('health', { state: 'ok' });
    await tick();
    assert.deepEqual([last().phase, last().detail], ['error', 'init failed']);
    assert.equal(engine.calls, 1, 'not provisioned again');
    await r.close();
  });

  it('a deploy that failed because Docker was down provisions again when it is back', async () => {
    let up = false;
    const engine = fakeEngine(async () => {
      if (!up) throw new OpenWhiskNodeError('unreachable', 'Cannot reach the Docker engine', { short: 'docker unreachable' });
      return handle;
    });
    const { r, last } = runner(engine, { namespace: 'guest', name: 'a' });
    await r.start();
    assert.deepEqual([last().phase, last().detail], ['error', 'docker unreachable']);
    up = true;
    engine.emit('health', { state: 'ok' });
    for (let i = 0; i < 50 && last().phase !== 'ready'; i++) await tick();
    assert.deepEqual([last().phase, last().detail], ['ready', 1]);
    assert.equal(engine.calls, 2);
    await r.close();
  });

  it('a provisioned node is ready again with its container count', async () => {
    const engine = fakeEngine(async () => handle);
    const { r, last } = runner(engine, { namespace: 'guest', name: 'a' });
    await r.start();
    await tick();
    engine.emit('health', { state: 'down', short: 'docker unreachable' });
    assert.equal(last().phase, 'error');
    engine.emit('health', { state: 'ok' });
    for (let i = 0; i < 50 && last().phase !== 'ready'; i++) await tick();
    assert.deepEqual([last().phase, last().detail], ['ready', 1]);
    await r.close();
  });

  it("closing the node does not wait for Docker to remove its containers (close({ wait: 'stopped' }))", async () => {
    const closes = [];
    // A handle whose containers are never removed: only a close that does not wait for that returns.
    const h = {
      containers: 1,
      invoke: async () => ({}),
      close: (opts) => (closes.push(opts), opts?.wait === 'stopped' ? Promise.resolve() : new Promise(() => undefined)),
    };
    const { r } = runner(
      fakeEngine(async () => h),
      { namespace: 'guest', name: 'a' },
    );
    await r.start();
    await r.close();
    assert.deepEqual(closes, [{ wait: 'stopped' }]);
  });
});
