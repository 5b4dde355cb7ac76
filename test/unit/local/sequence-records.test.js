'use strict';
// A sequence's component activations are kept beside its record, each with `cause` = the sequence's
// activation id, so that the ids in the sequence's logs can be looked up (lib/local/sequence.ts,
// lib/activations/record.ts). Fake components: no Docker.

const assert = require('node:assert/strict');
const { SequenceAction, componentActivations } = require('../../../dist/lib/local/sequence');
const { identityOf } = require('../../../dist/lib/local/protocol');
const { recording } = require('../../../dist/lib/activations/record');
const { ActivationStore } = require('../../../dist/lib/activations/store');
const { activationFailure } = require('../../../dist/lib/errors');

let n = 0;
/** A component that adds 1 to `x`, or fails as an application error when `x` reaches `failAt`. */
function component(name, failAt) {
  return {
    kind: 'nodejs:20',
    name,
    containers: 1,
    queued: 0,
    memory: 256,
    async run(params) {
      const x = (params && params.x) || 0;
      const success = x + 1 !== failAt;
      /** @type {import('../../../dist/lib/types').Activation} */
      const a = {
        activationId: `c${++n}`.padEnd(32, '0'),
        namespace: 'guest',
        name,
        start: 1,
        end: 2,
        duration: 1,
        response: success ? { status: 'success', success, result: { x: x + 1 } } : { status: 'application error', success, result: { error: 'boom' } },
        logs: [],
        annotations: [],
      };
      if (!success) throw activationFailure(a, name);
      return a;
    },
    close: async () => undefined,
  };
}
const seq = (name, parts) => new SequenceAction(identityOf({ namespace: 'guest', name }), 60000, 10, parts);

describe("a sequence keeps its components' activations, each caused by it", () => {
  it('components in order, cause = the sequence id, nested sequences too; none in the JSON form', async () => {
    const inner = seq('inner', [component('b'), component('c')]);
    const outer = seq('outer', [component('a'), inner, component('d')]);
    const a = await outer.invoke({ x: 0 });
    assert.deepEqual(a.response.result, { x: 4 });
    const parts = componentActivations(a);
    assert.deepEqual(
      parts.map((p) => p.name),
      ['a', 'inner', 'b', 'c', 'd'],
    );
    assert.deepEqual(
      a.logs,
      parts.filter((p) => p.cause === a.activationId).map((p) => p.activationId),
    );
    const innerRec = parts.find((p) => p.name === 'inner');
    assert.deepEqual(
      parts.filter((p) => p.cause === innerRec.activationId).map((p) => p.name),
      ['b', 'c'],
    );
    assert.equal(JSON.stringify(a).includes('cause'), false, 'msg.data stays the sequence record alone');
  });

  it("recorded by the runtime: each id in a sequence's logs is found, also of a failing one and through the API's id", async () => {
    const store = new ActivationStore({ maxCount: 100 });
    const s = seq('fails', [component('a'), component('b', 2), component('c')]);
    const engine = recording({ provision: async () => s }, store);
    // The fake engine reads neither the document nor the catalog.
    const h = await engine.provision(
      'node',
      /** @type {import('../../../dist/lib/types').ActionDoc} */ ({}),
      /** @type {import('../../../dist/lib/types').Catalog} */ ({}),
    );
    const err = await h.invoke({ x: 0 }).then(
      () => undefined,
      (e) => e,
    );
    const rec = store.get(err.activation.activationId);
    assert.ok(rec, 'the failed sequence is kept');
    assert.equal(rec.logs.length, 2);
    for (const id of rec.logs) assert.equal(store.get(id).cause, rec.activationId);
    assert.equal(store.get(rec.logs[1]).response.status, 'application error');
    // Through the gateway API the sequence gets the client's id: its components name that one.
    const ok = await h.invoke({ x: 5 }, undefined, { activationId: 'f'.repeat(32) });
    assert.equal(ok.activationId, 'f'.repeat(32));
    for (const id of ok.logs) assert.equal(store.get(id).cause, 'f'.repeat(32));
  });
});
