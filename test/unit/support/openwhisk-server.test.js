'use strict';
// The OpenWhisk test server, driven by the real `openwhisk` npm client over loopback HTTP.

const assert = require('node:assert/strict');
const openwhisk = require('openwhisk');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');

const GUEST = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
const OTHER = 'a2bb4d44-0d5b-4a6c-a1b4-2b2a5c0e8d11:otherKeyOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOtherKey12';
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z\s+(stdout|stderr): /;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to be rejected');
}

async function waitForActivation(client, activationId, ms = 2000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await client.activations.get({ activationId });
    } catch (e) {
      if (e.statusCode !== 404 || Date.now() > until) throw e;
      await sleep(20);
    }
  }
}

describe('test OpenWhisk server (openwhisk-server.js)', function () {
  this.timeout(5000);
  let ow;
  let client;

  before(async () => {
    ow = await startOpenWhiskServer({ port: 0, users: { guest: GUEST, other: OTHER }, blockingWaitMs: 250 });
    client = openwhisk({ apihost: ow.url, api_key: ow.key('guest') });
    ow.putAction('guest', 'hello', {
      exec: { kind: 'nodejs:20', code: 'function main(p){ console.log("hello " + p.name); return {payload: "Hello " + p.name} }' },
      parameters: [{ key: 'name', value: 'World' }],
    });
  });

  after(async () => {
    if (ow) await ow.stop();
  });

  beforeEach(() => {
    ow.throttle = false;
    ow.onInvoke = null;
  });

  it('listens on loopback and serves the runtimes manifest at GET /', async () => {
    assert.match(ow.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(ow.key('guest'), GUEST);
    const info = await (await fetch(`${ow.url}/`)).json();
    assert.deepEqual(info.api_paths, ['/api/v1']);
    assert.equal(info.limits.actions_per_minute, 120);
    const node20 = info.runtimes.nodejs.find((r) => r.kind === 'nodejs:20');
    assert.deepEqual(node20, {
      kind: 'nodejs:20',
      image: 'openwhisk/action-nodejs-v20:nightly',
      deprecated: false,
      default: true,
      attached: true,
      requireMain: false,
    });
    ow.setRuntimes({ nodejs: [{ kind: 'nodejs:20', image: 'me/node:1', default: true }] });
    assert.equal((await (await fetch(`${ow.url}/`)).json()).runtimes.nodejs[0].image, 'me/node:1');
    ow.setRuntimes(info.runtimes); // back to the default manifest
    assert.deepEqual(await client.namespaces.list(), ['guest']);
  });

  it('actions.get returns the entity as the controller stores it; ?code=false drops the code', async () => {
    const a = await client.actions.get({ name: 'hello' });
    assert.equal(a.namespace, 'guest');
    assert.equal(a.name, 'hello');
    assert.equal(a.version, '0.0.1');
    assert.equal(a.publish, false);
    assert.equal(typeof a.updated, 'number');
    assert.deepEqual(a.exec, {
      kind: 'nodejs:20',
      code: 'function main(p){ console.log("hello " + p.name); return {payload: "Hello " + p.name} }',
      binary: false,
    });
    assert.deepEqual(a.parameters, [{ key: 'name', value: 'World' }]);
    assert.deepEqual(a.limits, { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
    assert.deepEqual(a.annotations, [
      { key: 'provide-api-key', value: false },
      { key: 'exec', value: 'nodejs:20' },
    ]);
    const meta = await client.actions.get({ name: 'hello', code: false });
    assert.deepEqual(meta.exec, { kind: 'nodejs:20', binary: false });
    // base64-looking code is flagged binary by the controller's regex
    const zip = ow.putAction('guest', 'zipped', {
      exec: { kind: 'nodejs:default', code: Buffer.from('PK\u0003\u0004 fake zip').toString('base64'), main: 'hello' },
    });
    assert.equal(zip.exec.kind, 'nodejs:20');
    assert.equal(zip.exec.binary, true);
    assert.equal(zip.exec.main, 'hello');
  });

  it('actions.list returns summaries (no code); packaged actions carry namespace ns/pkg', async () => {
    ow.putPackage('guest', 'listpkg', {});
    ow.putAction('guest', 'listpkg/inner', { exec: { kind: 'nodejs:20', code: 'function main(){return {}}' } });
    const list = await client.actions.list();
    const hello = list.find((a) => a.name === 'hello');
    assert.deepEqual(Object.keys(hello).sort(), ['annotations', 'exec', 'limits', 'name', 'namespace', 'publish', 'updated', 'version']);
    assert.deepEqual(hello.exec, { binary: false });
    assert.ok(list.some((a) => a.name === 'inner' && a.namespace === 'guest/listpkg'));
    assert.equal((await client.actions.list({ limit: 1 })).length, 1);
  });

  it('blocking invoke answers 200 with the activation record', async () => {
    const res = await fetch(`${ow.url}/api/v1/namespaces/_/actions/hello?blocking=true`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(GUEST).toString('base64'), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'John' }),
    });
    assert.equal(res.status, 200);
    const act = await res.json();
    assert.equal(res.headers.get('x-openwhisk-activation-id'), act.activationId);
    assert.match(act.activationId, /^[0-9a-f]{32}$/);
    assert.equal(act.namespace, 'guest');
    assert.equal(act.name, 'hello');
    assert.equal(act.subject, 'guest');
    assert.equal(act.version, '0.0.1');
    assert.equal(act.publish, false);
    assert.equal(act.duration, act.end - act.start);
    assert.deepEqual(act.response, { result: { payload: 'Hello John' }, size: 24, success: true, status: 'success' });
    assert.equal(act.logs.length, 1);
    assert.match(act.logs[0], LOG_LINE);
    assert.match(act.logs[0], / stdout: hello John$/);
    const ann = Object.fromEntries(act.annotations.map((a) => [a.key, a.value]));
    assert.equal(ann.path, 'guest/hello');
    assert.equal(ann.kind, 'nodejs:20');
    assert.equal(ann.timeout, false);
    assert.deepEqual(ann.limits, { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
    assert.equal(typeof ann.waitTime, 'number');
    assert.equal(typeof ann.initTime, 'number', 'first run is a cold start');

    const again = await client.actions.invoke({ name: 'hello', blocking: true });
    assert.deepEqual(again.response.result, { payload: 'Hello World' });
    assert.ok(!again.annotations.some((a) => a.key === 'initTime'), 'second run is warm');
    assert.deepEqual(await client.actions.invoke({ name: 'hello', blocking: true, result: true, params: { name: 'R' } }), { payload: 'Hello R' });
    assert.deepEqual(ow.activations.get(again.activationId).response.result, { payload: 'Hello World' });
    const last = ow.invocations[ow.invocations.length - 1];
    assert.deepEqual(
      { namespace: last.namespace, name: last.name, params: last.params, blocking: last.blocking, status: last.status },
      { namespace: 'guest', name: 'hello', params: { name: 'R' }, blocking: true, status: 200 },
    );
  });

  it('application error: the client rejects with 502 and the activation as error', async () => {
    ow.putAction('guest', 'apperr', { exec: { kind: 'nodejs:20', code: 'function main(){ return {error: "bad input", extra: 1} }' } });
    const e = await rejection(client.actions.invoke({ name: 'apperr', blocking: true }));
    assert.equal(e.statusCode, 502);
    assert.match(e.message, /Returned HTTP 502 \(Bad Gateway\) --> "bad input"/);
    assert.deepEqual(e.error.response, { result: { error: 'bad input' }, size: 31, success: false, status: 'application error' });
    assert.match(e.error.activationId, /^[0-9a-f]{32}$/);

    ow.putAction('guest', 'rejects', { exec: { kind: 'nodejs:20', code: 'async function main(){ throw new Error("nope") }' } });
    const r = await rejection(client.actions.invoke({ name: 'rejects', blocking: true }));
    assert.equal(r.statusCode, 502);
    assert.equal(r.error.response.status, 'application error');
    assert.equal(r.error.response.result.error.message, 'nope');
    assert.equal(r.error.response.result.error.name, 'Error');
  });

  it('developer errors: thrown error, non-dictionary result, exceeded time limit', async () => {
    ow.putAction('guest', 'throws', { exec: { kind: 'nodejs:20', code: 'function main(){ throw new Error("boom") }' } });
    const t = await rejection(client.actions.invoke({ name: 'throws', blocking: true }));
    assert.equal(t.statusCode, 502);
    assert.deepEqual(t.error.response.result, { error: 'An error has occurred: Error: boom' });
    assert.equal(t.error.response.status, 'action developer error');
    assert.match(t.error.logs[t.error.logs.length - 1], /stderr: The action did not initialize or run as expected\. Log data might be missing\.$/);

    ow.putAction('guest', 'number', { exec: { kind: 'nodejs:20', code: 'function main(){ return 42 }' } });
    // the client never sends ?result=true (apache/openwhisk-client-js#197): the 502 body is the activation
    const n = await rejection(client.actions.invoke({ name: 'number', blocking: true, result: true }));
    assert.equal(n.statusCode, 502);
    assert.deepEqual(n.error.response.result, { error: 'The action did not return a dictionary.' });
    // with ?result=true the controller answers only the result
    const raw = await fetch(`${ow.url}/api/v1/namespaces/guest/actions/number?blocking=true&result=true`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(GUEST).toString('base64') },
    });
    assert.equal(raw.status, 502);
    assert.deepEqual(await raw.json(), { error: 'The action did not return a dictionary.' });

    ow.putAction('guest', 'sleepy', {
      exec: { kind: 'nodejs:20', code: 'function main(){ return new Promise(r => setTimeout(() => r({}), 5000)) }' },
      limits: { timeout: 100 },
    });
    const s = await rejection(client.actions.invoke({ name: 'sleepy', blocking: true }));
    assert.equal(s.statusCode, 502);
    assert.deepEqual(s.error.response.result, { error: 'The action exceeded its time limits of 100 milliseconds.' });
    assert.equal(s.error.annotations.find((a) => a.key === 'timeout').value, true);
  });

  it('non-blocking invoke answers 202 {activationId}; the activation is 404 until it is stored', async () => {
    ow.putAction('guest', 'later', { exec: { kind: 'nodejs:20', code: 'function main(p){ return new Promise(r => setTimeout(() => r({n: p.n}), 100)) }' } });
    const { activationId } = await client.actions.invoke({ name: 'later', params: { n: 7 } });
    assert.match(activationId, /^[0-9a-f]{32}$/);
    const e = await rejection(client.activations.get({ activationId }));
    assert.equal(e.statusCode, 404);
    assert.equal(e.error.error, 'The requested resource does not exist.');
    const act = await waitForActivation(client, activationId);
    assert.deepEqual(act.response.result, { n: 7 });
    assert.deepEqual(await client.activations.result({ activationId }), { result: { n: 7 }, size: 7, success: true, status: 'success' });
    assert.deepEqual(await client.activations.logs({ activationId }), { logs: [] });
  });

  it('a blocking invoke that outlasts blockingWaitMs answers 202 and then completes', async () => {
    ow.putAction('guest', 'long', { exec: { kind: 'nodejs:20', code: 'function main(){ return new Promise(r => setTimeout(() => r({done: true}), 400)) }' } });
    const res = await client.actions.invoke({ name: 'long', blocking: true });
    assert.deepEqual(Object.keys(res), ['activationId']);
    // with result=true the client rejects with the {activationId} body
    const rej = await rejection(client.actions.invoke({ name: 'long', blocking: true, result: true }));
    assert.match(rej.activationId, /^[0-9a-f]{32}$/);
    const act = await waitForActivation(client, res.activationId);
    assert.deepEqual(act.response.result, { done: true });
    const listed = await client.activations.list({ name: 'long' });
    assert.ok(listed.some((a) => a.activationId === res.activationId && a.statusCode === 0));
  });

  it('authentication: 401 for a wrong key, 403 for another namespace, 404 JSON bodies', async () => {
    const bad = openwhisk({ apihost: ow.url, api_key: '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:wrong' });
    const e401 = await rejection(bad.actions.list());
    assert.equal(e401.statusCode, 401);
    assert.equal(e401.error.error, 'The supplied authentication is invalid');
    assert.equal(typeof e401.error.code, 'string');

    const e403 = await rejection(client.actions.get({ name: '/other/hello' }));
    assert.equal(e403.statusCode, 403);
    assert.equal(e403.error.error, 'The supplied authentication is not authorized to access this resource.');
    const otherClient = openwhisk({ apihost: ow.url, api_key: ow.key('other') });
    assert.deepEqual(await otherClient.namespaces.list(), ['other']);
    assert.equal((await rejection(otherClient.actions.invoke({ name: '/guest/hello' }))).statusCode, 403);

    const e404 = await rejection(client.actions.get({ name: 'missing' }));
    assert.equal(e404.statusCode, 404);
    assert.deepEqual(Object.keys(e404.error).sort(), ['code', 'error']);
    assert.equal(e404.error.error, 'The requested resource does not exist.');
    assert.equal((await rejection(client.actions.invoke({ name: 'missing', blocking: true }))).statusCode, 404);
    const route = await fetch(`${ow.url}/nothing/here`);
    assert.equal(route.status, 404);
    assert.equal(typeof (await route.json()).error, 'string');
  });

  it('parameters merge package < binding < action < payload, also in GET through the package', async () => {
    ow.putPackage('guest', 'tools', {
      parameters: [
        { key: 'a', value: 'package' },
        { key: 'b', value: 'package' },
        { key: 'c', value: 'package' },
        { key: 'd', value: 'package' },
      ],
    });
    ow.putAction('guest', 'tools/echo', {
      exec: { kind: 'nodejs:20', code: 'function main(p){ return p }' },
      parameters: [
        { key: 'c', value: 'action' },
        { key: 'd', value: 'action' },
      ],
    });
    ow.putPackage('guest', 'mytools', {
      binding: { namespace: 'guest', name: 'tools' },
      parameters: [
        { key: 'b', value: 'binding' },
        { key: 'c', value: 'binding' },
      ],
    });

    const viaPkg = await client.actions.get({ name: 'tools/echo' });
    assert.equal(viaPkg.namespace, 'guest/tools');
    assert.deepEqual(Object.fromEntries(viaPkg.parameters.map((p) => [p.key, p.value])), { a: 'package', b: 'package', c: 'action', d: 'action' });
    const viaBinding = await client.actions.get({ name: 'mytools/echo', code: false });
    assert.equal(viaBinding.namespace, 'guest/tools');
    assert.equal(viaBinding.binding, 'guest/mytools');

    const result = await client.actions.invoke({ name: 'mytools/echo', blocking: true, result: true, params: { d: 'payload' } });
    assert.deepEqual(result, { a: 'package', b: 'binding', c: 'action', d: 'payload' });

    const pkg = await client.packages.get({ name: 'mytools' });
    assert.deepEqual(pkg.binding, { namespace: 'guest', name: 'tools' });
    assert.deepEqual(
      pkg.actions.map((a) => a.name),
      ['echo'],
    );
    assert.deepEqual(Object.fromEntries(pkg.parameters.map((p) => [p.key, p.value])), { a: 'package', b: 'binding', c: 'binding', d: 'package' });
  });

  it('sequences: payload to the first component only, own parameters each, stop at an error', async () => {
    ow.putAction('guest', 'inc', {
      exec: { kind: 'nodejs:20', code: 'function main(p){ return {n: p.n + p.step, seen: p.seen} }' },
      parameters: [{ key: 'step', value: 1 }],
    });
    ow.putAction('guest', 'tools/double', { exec: { kind: 'nodejs:20', code: 'function main(p){ return {n: p.n * 2, a: p.a} }' } });
    ow.putAction('guest', 'fail', { exec: { kind: 'nodejs:20', code: 'function main(p){ return {error: "stop at " + p.n} }' } });
    await client.actions.create({ name: 'pipeline', sequence: ['/_/inc', '/_/tools/double', '/_/inc'] });
    const seq = await client.actions.invoke({ name: 'pipeline', blocking: true, params: { n: 1, seen: 'payload' } });
    // inc(1+1=2, seen=payload) -> double(4, a from package) -> inc(5, seen undefined: payload not passed on)
    assert.deepEqual(seq.response.result, { n: 5 });
    assert.equal(seq.logs.length, 3);
    for (const id of seq.logs) assert.match(id, /^[0-9a-f]{32}$/);
    const second = await client.activations.get({ activationId: seq.logs[1] });
    assert.deepEqual(second.response.result, { n: 4, a: 'package' });
    assert.equal(second.cause, seq.activationId);
    const ann = Object.fromEntries(seq.annotations.map((a) => [a.key, a.value]));
    assert.equal(ann.kind, 'sequence');
    assert.equal(ann.topmost, true);

    ow.putAction('guest', 'broken', { exec: { kind: 'sequence', components: ['/_/inc', '/_/fail', '/_/inc'] } });
    const e = await rejection(client.actions.invoke({ name: 'broken', blocking: true, params: { n: 1 } }));
    assert.equal(e.statusCode, 502);
    assert.deepEqual(e.error.response.result, { error: 'stop at 2' });
    assert.equal(e.error.logs.length, 2);

    const bad = await rejection(client.actions.create({ name: 'dangling', sequence: ['/_/does-not-exist'] }));
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.error.error, 'Sequence component does not exist.');
  });

  it('throttling answers 429 with the controller message', async () => {
    ow.throttle = true;
    const e = await rejection(client.actions.invoke({ name: 'hello', blocking: true }));
    assert.equal(e.statusCode, 429);
    assert.equal(e.error.error, 'Too many requests in the last minute (count: 121, allowed: 120).');
    assert.equal(ow.invocations[ow.invocations.length - 1].status, 429);
    ow.throttle = false;
    assert.equal((await client.actions.invoke({ name: 'hello', blocking: true })).response.success, true);
  });

  it('create/update/delete, 409 without overwrite, 413 payload, final parameters', async () => {
    const created = await client.actions.create({ name: 'crud', action: 'function main(){ return {v: 1} }', params: { k: 'v' } });
    assert.equal(created.exec.kind, 'nodejs:20');
    assert.equal((await rejection(client.actions.create({ name: 'crud', action: 'function main(){}' }))).statusCode, 409);
    const updated = await client.actions.update({ name: 'crud', action: 'function main(){ return {v: 2} }' });
    assert.equal(updated.version, '0.0.2');
    assert.deepEqual(updated.parameters, [{ key: 'k', value: 'v' }]);
    assert.deepEqual(await client.actions.invoke({ name: 'crud', blocking: true, result: true }), { v: 2 });

    const big = await rejection(client.actions.invoke({ name: 'crud', params: { blob: 'x'.repeat(1024 * 1024) } }));
    assert.equal(big.statusCode, 413);

    await client.actions.update({ name: 'crud', annotations: { final: true } });
    const fin = await rejection(client.actions.invoke({ name: 'crud', params: { k: 'override' } }));
    assert.equal(fin.statusCode, 400);
    assert.equal(fin.error.error, 'Request defines parameters that are not allowed (e.g., reserved properties).');

    await client.actions.delete({ name: 'crud' });
    assert.equal((await rejection(client.actions.get({ name: 'crud' }))).statusCode, 404);
  });

  it('onInvoke simulates other kinds; without it they are developer errors', async () => {
    ow.putAction('guest', 'py', { exec: { kind: 'python:3.11', code: 'def main(args):\n  return {"ok": True}' } });
    const e = await rejection(client.actions.invoke({ name: 'py', blocking: true }));
    assert.equal(e.error.response.status, 'action developer error');

    const calls = [];
    ow.onInvoke = (ns, fullName, params, ctx) => {
      calls.push([ns, fullName, params]);
      ctx.log('simulated');
      return { ok: true, kind: ctx.action.exec.kind };
    };
    const act = await client.actions.invoke({ name: 'py', blocking: true, params: { x: 1 } });
    assert.deepEqual(act.response.result, { ok: true, kind: 'python:3.11' });
    assert.match(act.logs[0], / stdout: simulated$/);
    assert.deepEqual(calls, [['guest', 'py', { x: 1 }]]);
  });
});
