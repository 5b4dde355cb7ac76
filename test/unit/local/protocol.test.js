'use strict';
// Pure protocol pieces of the local runtime (lib/local/protocol.ts): parameter partition and merge,
// env stringification, /init and /run bodies, reply mapping, activation records. No Docker.

const assert = require('node:assert/strict');
const p = require('../../../dist/lib/local/protocol');
const { activationFailure } = require('../../../dist/lib/errors');

const doc = (over = {}) => ({
  namespace: 'guest/pkg',
  name: 'hello',
  version: '0.0.3',
  exec: { kind: 'nodejs:20', code: 'function main(a){return a}', binary: false },
  parameters: [
    { key: 'name', value: 'World' },
    { key: 'n', value: 0 },
    { key: 'secret', value: { a: 1 }, init: true },
    { key: 'flag', value: true, init: true },
    { key: 'nothing', value: null, init: true },
  ],
  annotations: [
    { key: 'exec', value: 'nodejs:20' },
    { key: 'provide-api-key', value: false },
  ],
  limits: { timeout: 5000, memory: 128, logs: 1, concurrency: 1 },
  ...over,
});

describe('local: protocol', () => {
  it('identity of a packaged and a plain action', () => {
    assert.deepEqual(p.identityOf(doc()), {
      namespace: 'guest',
      pkg: 'pkg',
      name: 'hello',
      qualified: '/guest/pkg/hello',
      path: 'guest/pkg/hello',
      version: '0.0.3',
    });
    const plain = p.identityOf({ namespace: 'guest', name: 'a' });
    assert.equal(plain.qualified, '/guest/a');
    assert.equal(plain.path, 'guest/a');
    assert.equal(plain.version, '0.0.1');
    assert.deepEqual(p.parseQualifiedName('/guest/pkg/a'), { namespace: 'guest', name: 'pkg/a' });
    assert.deepEqual(p.parseQualifiedName('/guest/a'), { namespace: 'guest', name: 'a' });
    assert.throws(() => p.parseQualifiedName('a'), /not a fully qualified/);
  });

  it('limits default like the platform', () => {
    assert.deepEqual(p.effectiveLimits(undefined), { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
    assert.deepEqual(p.effectiveLimits({ timeout: 100, memory: 512, logs: 0, concurrency: 5 }), { timeout: 100, memory: 512, logs: 0, concurrency: 5 });
    // Malformed limits, as an action document from anywhere may carry them.
    assert.deepEqual(p.effectiveLimits(/** @type {any} */ ({ timeout: -1, memory: 'x', concurrency: 0 })), {
      timeout: 60000,
      memory: 256,
      logs: 10,
      concurrency: 1,
    });
  });

  it('env values are stringified as WhiskAction.containerInitializer does', () => {
    assert.equal(p.envString('x'), 'x');
    assert.equal(p.envString(''), '');
    assert.equal(p.envString(null), '');
    assert.equal(p.envString(undefined), '');
    assert.equal(p.envString(true), 'true');
    assert.equal(p.envString(false), 'false');
    assert.equal(p.envString(0), '0');
    assert.equal(p.envString(1.5), '1.5');
    assert.equal(p.envString({ a: [1, 'b'] }), '{"a":[1,"b"]}');
    assert.equal(p.envString([1, 2]), '[1,2]');
  });

  it('init:true parameters go to /init env, the rest are /run defaults', () => {
    const { run, init } = p.splitParams(doc().parameters);
    assert.deepEqual(run, { name: 'World', n: 0 });
    assert.deepEqual(init, { secret: { a: 1 }, flag: true, nothing: null });
  });

  it('merge: action defaults under the caller params, by key presence not truthiness', () => {
    const defaults = { name: 'World', n: 5, keep: 'k' };
    assert.deepEqual(p.mergeParams(defaults, { name: '', n: 0, extra: false }), { name: '', n: 0, keep: 'k', extra: false });
    assert.deepEqual(p.mergeParams(defaults, { name: null }), { name: null, n: 5, keep: 'k' });
    assert.deepEqual(p.mergeParams(defaults, undefined), defaults);
    assert.notEqual(p.mergeParams(defaults, undefined), defaults, 'a copy');
    assert.deepEqual(p.mergeParams(defaults, [1, 2]), [1, 2], 'arrays pass through');
  });

  it('api key only when provide-api-key is truthy or absent (Parameters.isTruthy)', () => {
    assert.equal(p.apiKeyAllowed(undefined), true);
    assert.equal(p.apiKeyAllowed([]), true);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: true }]), true);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: false }]), false);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: 0 }]), false);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: '' }]), false);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: 'yes' }]), true);
    assert.equal(p.apiKeyAllowed([{ key: 'provide-api-key', value: null }]), false);
  });

  it('activation ids: 32 hex characters, none ever twice (also across refills of their random pool)', () => {
    const ids = new Set();
    for (let i = 0; i < 2000; i++) {
      const a = p.newActivationId();
      assert.match(a, /^[0-9a-f]{32}$/);
      ids.add(a);
    }
    assert.equal(ids.size, 2000);
  });

  it('run context: every field a string, 32-hex ids, deadline = now + timeout', () => {
    const id = p.identityOf(doc());
    const ctx = p.runContext(id, 5000, undefined, 1000);
    assert.deepEqual(Object.keys(ctx).sort(), ['action_name', 'action_version', 'activation_id', 'deadline', 'namespace', 'transaction_id']);
    for (const v of Object.values(ctx)) assert.equal(typeof v, 'string');
    assert.match(ctx.activation_id, /^[0-9a-f]{32}$/);
    assert.equal(ctx.deadline, '6000');
    assert.equal(ctx.action_name, '/guest/pkg/hello');
    assert.equal(ctx.namespace, 'guest');
    assert.equal(ctx.action_version, '0.0.3');
    assert.equal(p.runContext(id, 1, 'uuid:key').api_key, 'uuid:key');
  });

  it('/init body: short name, main default, binary as given, code omitted when absent, env stringified', () => {
    const d = doc();
    const ctx = p.runContext(p.identityOf(d), 5000, 'k:v', 1000);
    const { init } = p.splitParams(d.parameters);
    const body = p.initBody(d, ctx, init);
    assert.deepEqual(Object.keys(body), ['value']);
    assert.equal(body.value.name, 'hello');
    assert.equal(body.value.main, 'main');
    assert.equal(body.value.binary, false);
    assert.equal(body.value.code, d.exec.code);
    assert.deepEqual(body.value.env, {
      secret: '{"a":1}',
      flag: 'true',
      nothing: '',
      __OW_NAMESPACE: 'guest',
      __OW_ACTION_NAME: '/guest/pkg/hello',
      __OW_ACTION_VERSION: '0.0.3',
      __OW_ACTIVATION_ID: ctx.activation_id,
      __OW_TRANSACTION_ID: ctx.transaction_id,
      __OW_DEADLINE: '6000',
      __OW_API_KEY: 'k:v',
    });
    for (const v of Object.values(body.value.env)) assert.equal(typeof v, 'string');

    const zip = p.initBody(
      doc({ exec: { kind: 'nodejs:20', code: 'UEsDBA==', binary: true, main: 'hello' } }),
      p.runContext(p.identityOf(d), 1, undefined),
      {},
    );
    assert.equal(zip.value.binary, true);
    assert.equal(zip.value.main, 'hello');
    assert.equal(zip.value.code, 'UEsDBA==');
    assert.equal('__OW_API_KEY' in /** @type {object} */ (zip.value.env), false);

    // base64-looking code flagged binary:false stays binary:false (never re-guessed)
    assert.equal(p.initBody(doc({ exec: { kind: 'nodejs:20', code: 'abcd', binary: false } }), ctx, {}).value.binary, false);

    const bb = p.initBody(doc({ exec: { kind: 'blackbox', image: 'x' } }), ctx, {});
    assert.equal('code' in bb.value, false);
  });

  it('/run body: value (object or array) plus the string context', () => {
    const ctx = p.runContext(p.identityOf(doc()), 5000, undefined, 1000);
    assert.deepEqual(JSON.parse(p.runBody({ a: 1 }, ctx)), { value: { a: 1 }, ...ctx });
    assert.deepEqual(JSON.parse(p.runBody([1, 2], ctx)).value, [1, 2]);
    assert.equal(p.runBodyJson(JSON.stringify({ a: 1 }), ctx), p.runBody({ a: 1 }, ctx));
  });

  describe('reply mapping (ActivationResult.processRunResponseContent)', () => {
    it('200 object without error → success', () => {
      assert.deepEqual(p.mapRunResponse(200, '{"a":1}'), { status: 'success', success: true, result: { a: 1 }, size: 7 });
    });
    it('200 array → success', () => {
      assert.deepEqual(p.mapRunResponse(200, '[1,2]'), { status: 'success', success: true, result: [1, 2], size: 5 });
    });
    it('200 with error → application error (result is {error})', () => {
      const r = p.mapRunResponse(200, '{"error":{"message":"bad"},"x":1}');
      assert.equal(r.status, 'application error');
      assert.equal(r.success, false);
      assert.deepEqual(r.result, { error: { message: 'bad' } });
    });
    it('non-200 with error → developer error with that error', () => {
      const r = p.mapRunResponse(502, '{"error":"An error has occurred: Error: boom"}');
      assert.equal(r.status, 'action developer error');
      assert.deepEqual(r.result, { error: 'An error has occurred: Error: boom' });
    });
    it('non-200 without error / not JSON / 200 non-object → "did not produce a valid JSON" message', () => {
      assert.deepEqual(p.mapRunResponse(500, '{"x":1}').result, { error: 'The action did not produce a valid JSON or JSON Array response: {"x":1}' });
      assert.deepEqual(p.mapRunResponse(502, '[1]').result, { error: 'The action did not produce a valid JSON or JSON Array response: [1]' });
      assert.deepEqual(p.mapRunResponse(200, 'hello').result, { error: 'The action did not produce a valid JSON or JSON Array response: hello' });
      assert.deepEqual(p.mapRunResponse(200, '42').result, { error: 'The action did not produce a valid JSON or JSON Array response: 42' });
      assert.deepEqual(p.mapRunResponse(502, '').result, { error: 'The action did not produce a valid JSON or JSON Array response.' });
      assert.equal(p.mapRunResponse(200, 'null').status, 'action developer error');
    });
    it('init failure text: body.error or the platform message', () => {
      assert.equal(p.initFailureMessage('{"error":"Initialization has failed due to: SyntaxError"}'), 'Initialization has failed due to: SyntaxError');
      assert.equal(p.initFailureMessage('{"error":{"a":1}}'), '{"a":1}');
      assert.equal(p.initFailureMessage('nope'), 'The action failed during initialization: nope');
      assert.equal(p.initFailureMessage(''), 'The action failed during initialization.');
    });
    it('platform messages', () => {
      assert.equal(p.Messages.timedOut(100, false), 'The action exceeded its time limits of 100 milliseconds.');
      assert.equal(p.Messages.timedOut(100, true), 'The action exceeded its time limits of 100 milliseconds during initialization.');
      assert.equal(p.Messages.abnormalRun, 'The action did not produce a valid response and exited unexpectedly.');
    });
  });

  describe('activation record', () => {
    const base = () => ({
      id: p.identityOf(doc()),
      activationId: 'a'.repeat(32),
      kind: 'nodejs:20',
      limits: p.effectiveLimits(doc().limits),
      start: 1000,
      end: 1012,
      response: p.mapRunResponse(200, '{"ok":true}'),
      logs: ['2024-01-01T00:00:00.000Z stdout: hi'],
      timeout: false,
      waitTime: 3,
    });

    it('has the platform shape', () => {
      const a = p.buildActivation({ ...base(), initTime: 40 });
      assert.deepEqual(a, {
        activationId: 'a'.repeat(32),
        namespace: 'guest',
        name: 'hello',
        subject: 'guest',
        version: '0.0.3',
        publish: false,
        start: 1000,
        end: 1012,
        duration: 12,
        response: { status: 'success', success: true, result: { ok: true }, size: 11 },
        logs: ['2024-01-01T00:00:00.000Z stdout: hi'],
        annotations: [
          { key: 'limits', value: { timeout: 5000, memory: 128, logs: 1, concurrency: 1 } },
          { key: 'path', value: 'guest/pkg/hello' },
          { key: 'kind', value: 'nodejs:20' },
          { key: 'timeout', value: false },
          { key: 'initTime', value: 40 },
          { key: 'waitTime', value: 3 },
        ],
      });
      const warm = p.buildActivation({ ...base(), causedBySequence: true });
      assert.equal(
        warm.annotations.some((x) => x.key === 'initTime'),
        false,
      );
      assert.deepEqual(
        warm.annotations.find((x) => x.key === 'causedBy'),
        { key: 'causedBy', value: 'sequence' },
      );
    });

    it('activationFailure maps statuses to error codes', () => {
      const app = p.buildActivation({ ...base(), response: p.mapRunResponse(200, '{"error":"nope"}') });
      const e1 = activationFailure(app, '/guest/pkg/hello');
      assert.equal(e1.code, 'application_error');
      assert.equal(e1.activation, app);
      assert.match(e1.message, /nope/);
      const dev = p.buildActivation({ ...base(), response: p.developerError(p.Messages.abnormalRun) });
      assert.equal(activationFailure(dev, 'x').code, 'developer_error');
      const to = p.buildActivation({ ...base(), response: p.developerError(p.Messages.timedOut(5000, false)), timeout: true });
      const e3 = activationFailure(to, 'x');
      assert.equal(e3.code, 'timeout');
      assert.match(e3.message, /exceeded its time limits of 5000 milliseconds\./);
    });
  });
});
