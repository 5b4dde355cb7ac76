'use strict';
// Work that outlives its request is bounded: the gateway API's activations in work, blocking or not,
// until they are done. A fake runtime: every call is held until the test lets it finish, so what is
// in flight is exactly what the test sent.
const assert = require('node:assert/strict');
const { GatewayApi } = require('../../dist/lib/gateway/api');
const { listenGateway } = require('../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../dist/lib/activations/store');

const activation = (name, result) => ({
  activationId: 'a'.repeat(32), namespace: 'guest', name, start: 1, end: 2, duration: 1,
  response: { status: 'success', success: true, result }, logs: [], annotations: [],
});

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

describe('the gateway API\'s activations in work', () => {
  const KEY = '11111111-2222-4333-8444-555555555555:unit-key';
  const headers = { authorization: `Basic ${Buffer.from(KEY).toString('base64')}`, 'content-type': 'application/json' };

  async function serve(opts) {
    const runs = gates();
    const api = new GatewayApi({
      namespace: 'guest', keys: [KEY], instanceId: 'abcdef0123456789abcdef0123456789', store: new ActivationStore(), maxBody: 1024,
      invoke: (ref, params) => runs.hold(activation(ref.name, params)),
      getAction: async () => ({}), listActions: async () => [],
      ...opts,
    });
    const l = await listenGateway(api, { host: '127.0.0.1', port: 0 });
    const invoke = async (query, body = {}) => {
      const res = await fetch(`http://127.0.0.1:${l.address.port}/api/v1/namespaces/_/actions/a?${query}`, { method: 'POST', headers, body: JSON.stringify(body) });
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
      assert.match(refused.body.error, /^Too many concurrent requests in flight \(count: 2, allowed: 2\): activations started through this API are still running\. Retry later\.$/);
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
      assert.match(refused.body.error, /^Too many concurrent requests in flight \(count: 2, allowed: 256\): the activations still running hold 222 bytes of parameters; with this one's 111 bytes they would pass 250 bytes\. Retry later\.$/);
      assert.equal((await invoke('blocking=false', {})).status, 202, 'a small one still fits');
      runs.release();
    } finally {
      await close();
    }
  });
});
