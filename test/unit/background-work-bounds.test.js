'use strict';
// Work that outlives its request is bounded: a runtime's messages bursting to the cloud at once (in
// count and bytes of parameters), and the gateway API's activations in work, blocking or not, until
// they are done. Fakes for the engine, the cloud and the runtime: every call is held until the test
// lets it finish, so what is in flight is exactly what the test sent.
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { ActionRunner } = require('../../dist/lib/runner');
const { OpenWhiskNodeError } = require('../../dist/lib/errors');
const { GatewayApi } = require('../../dist/lib/gateway/api');
const { listenGateway } = require('../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../dist/lib/activations/store');

const MiB = 1024 * 1024;
const activation = (name, result) => ({
  activationId: 'a'.repeat(32),
  namespace: 'guest',
  name,
  start: 1,
  end: 2,
  duration: 1,
  response: { status: 'success', success: true, result },
  logs: [],
  annotations: [],
});

/** Lets the event loop turn until `pred` holds (nothing here waits for a timer or the network). */
async function turns(pred) {
  for (let i = 0; i < 1000 && !pred(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(pred(), 'never settled');
}

/** Calls that wait until released; `pending` counts those not released yet. */
function gates() {
  const open = [];
  return {
    hold: (value) => new Promise((resolve) => open.push(() => resolve(value))),
    get pending() {
      return open.length;
    },
    release: () => {
      for (const g of open.splice(0)) g();
    },
  };
}

describe('the burst limit of a local runtime', () => {
  const catalog = {
    location: 'fake',
    getAction: async (ref) => ({ namespace: 'guest', name: ref.name, exec: { kind: 'nodejs:20' } }),
    runtimeImages: async () => ({}),
  };
  /** The local queue is full: every message is for the burst target. */
  const full = Object.assign(new EventEmitter(), {
    provision: async () => ({
      containers: 1,
      invoke: async () => {
        throw new OpenWhiskNodeError('overload', "Action 'a' is overloaded", { short: 'queue full' });
      },
      close: async () => undefined,
    }),
  });

  function setup() {
    const cloud = gates();
    const service = {
      host: 'https://cloud.test',
      blockingWindowMs: 60000,
      requestMs: 10000,
      invokeHeaders: () => ({}),
      bounded: (ms, fn) => fn({ signal: new AbortController().signal }),
      rest: { invoke: (ns, name, params) => cloud.hold(activation(name, { n: params.n })) },
    };
    // The cloud service as far as a burst uses it.
    const burst = /** @type {import('../../dist/lib/service').OpenWhiskService} */ (/** @type {unknown} */ (service));
    const r = new ActionRunner('rt-edge', { mode: 'local', catalog, engine: full, burst }, { namespace: '', name: 'a' }, () => undefined);
    return { r, cloud };
  }

  /** Sends each message; resolves once each one is at the cloud or has failed, with the ones that failed. */
  async function send(r, cloud, messages) {
    const before = cloud.pending;
    const failed = [];
    const running = messages.map((p) => r.invoke(p, { namespace: '', name: 'a' }).catch((e) => failed.push(e)));
    await turns(() => cloud.pending - before + failed.length === messages.length);
    return { failed, running };
  }

  it('sends at most 64 messages at once: the next one fails as overload naming the runtime, and once they are done the next one goes', async () => {
    const { r, cloud } = setup();
    const { failed, running } = await send(
      r,
      cloud,
      Array.from({ length: 66 }, (_, n) => ({ n })),
    );
    assert.equal(cloud.pending, 64);
    assert.equal(failed.length, 2);
    for (const e of failed) {
      assert.equal(e.code, 'overload');
      assert.equal(e.short, 'burst full');
      assert.match(
        e.message,
        /^The local runtime 'rt-edge' cannot run this message \(queue full\) and cannot burst it to the cloud either: 64 messages are already on their way there \(at most 64 at once\)\. The message was not sent\. Send messages more slowly/,
      );
    }
    cloud.release();
    await Promise.all(running);
    const next = r.invoke({ n: 100 }, { namespace: '', name: 'a' });
    await turns(() => cloud.pending === 1);
    cloud.release();
    const a = await next;
    assert.deepEqual(a.response.result, { n: 100 });
    assert.ok(a.annotations.some((x) => x.key === 'burst' && x.value === true));
    await r.close();
  });

  it('holds at most 8 × max payload (64 MB) of parameters at once: a message that would pass it fails as overload', async () => {
    const { r, cloud } = setup();
    const blob = 'x'.repeat(3 * MiB);
    const size = Buffer.byteLength(JSON.stringify({ n: 10, blob }));
    const fits = Math.floor((64 * MiB) / size);
    assert.ok(fits < 64);
    const { failed, running } = await send(
      r,
      cloud,
      Array.from({ length: fits + 3 }, (_, i) => ({ n: 10 + i, blob })),
    );
    assert.equal(cloud.pending, fits);
    assert.equal(failed.length, 3);
    for (const e of failed) {
      assert.equal(e.code, 'overload');
      assert.match(
        e.message,
        /the messages already on their way there hold 6\d(\.\d)? MB of parameters, and this one's 3 MB would pass the 64 MB it sends at once/,
      );
    }
    // Small messages still fit in what is left.
    const small = await send(r, cloud, [{ n: 1 }]);
    assert.equal(small.failed.length, 0);
    assert.equal(cloud.pending, fits + 1);
    cloud.release();
    await Promise.all([...running, ...small.running]);
    await r.close();
  });
});

describe("the gateway API's activations in work", () => {
  const KEY = '11111111-2222-4333-8444-555555555555:unit-key';
  const headers = { authorization: `Basic ${Buffer.from(KEY).toString('base64')}`, 'content-type': 'application/json' };

  async function serve(opts) {
    const runs = gates();
    const api = new GatewayApi({
      namespace: 'guest',
      keys: [KEY],
      instanceId: 'abcdef0123456789abcdef0123456789',
      store: new ActivationStore(),
      maxBody: 1024,
      invoke: (ref, params) => runs.hold(activation(ref.name, params)),
      getAction: async () => ({}),
      listActions: async () => [],
      ...opts,
    });
    const l = await listenGateway(api, { host: '127.0.0.1', port: 0 });
    const invoke = async (query, body = {}) => {
      const res = await fetch(`http://127.0.0.1:${l.address.port}/api/v1/namespaces/_/actions/a?${query}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    return { runs, invoke, close: () => l.close() };
  }

  it('counts blocking invokes that outlive their wait until they are done: beyond the limit, 429 as OpenWhisk answers it', async () => {
    const { runs, invoke, close } = await serve({ maxActivations: 2 });
    try {
      // Each waits 1 ms, answers 202 and goes on in the background.
      assert.equal((await invoke('blocking=true&timeout=1')).status, 202);
      assert.equal((await invoke('blocking=true&timeout=1')).status, 202);
      assert.equal(runs.pending, 2);
      const refused = await invoke('blocking=false');
      assert.equal(refused.status, 429);
      assert.match(
        refused.body.error,
        /^Too many concurrent requests in flight \(count: 2, allowed: 2\): activations started through this API are still running\. Retry later\.$/,
      );
      assert.match(refused.body.code, /^[0-9a-f]{32}$/);
      assert.equal((await invoke('blocking=true')).status, 429);
      assert.equal(runs.pending, 2, 'nothing more started');
      runs.release();
      await new Promise((r) => setImmediate(r));
      assert.equal((await invoke('blocking=false')).status, 202);
      runs.release();
    } finally {
      await close();
    }
  });

  it('bounds the bytes of parameters they hold', async () => {
    const { runs, invoke, close } = await serve({ maxActivationBytes: 250 });
    try {
      const body = { blob: 'x'.repeat(100) };
      assert.equal((await invoke('blocking=false', body)).status, 202);
      assert.equal((await invoke('blocking=false', body)).status, 202);
      const refused = await invoke('blocking=false', body);
      assert.equal(refused.status, 429);
      assert.match(
        refused.body.error,
        /^Too many concurrent requests in flight \(count: 2, allowed: 256\): the activations still running hold 222 bytes of parameters; with this one's 111 bytes they would pass 250 bytes\. Retry later\.$/,
      );
      assert.equal((await invoke('blocking=false', {})).status, 202, 'a small one still fits');
      runs.release();
    } finally {
      await close();
    }
  });
});
