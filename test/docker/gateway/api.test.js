'use strict';
// The OpenWhisk REST API a local runtime serves on Node-RED's own HTTP server, driven by the real
// `openwhisk` npm client and by plain HTTP (raw status codes), in a real Node-RED process with real
// containers. The activation store keeps what flows and API clients ran, across a restart. The same
// API on the runtime's own port (a listener of its own, without Node-RED's HTTP stack in front).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const openwhisk = require('openwhisk');
const { gatewayId } = require('../../../dist/lib/gateway/context');
const { createRed, until, freePort } = require('../../support/red-process');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage, docker, containersWith } = require('../../support/docker');

/** What the openwhisk client rejects with: the HTTP status and OpenWhisk's error body. @typedef {Error & { statusCode: number, error: { error: string, code?: string } }} ClientError */

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const KEY = '0f6e0f1a-3b1c-4d6e-9a55-0d4f2c1b7e11:Ae9s8dFq2LmXo0PzW4rT6yUvB1nC3kJh5gRtYeWq7uIoPlMnBvCxZaSdFgHjKl';
const TIGHT_KEY = 'b1a2c3d4-0000-4000-8000-000000000001:K7cKadr0VQaN5TLXVaoEHtU9pfcF3zlchaGhnDns5HoRIF3zSLdmtcFw28EQoUpu';

describe('the gateway as an OpenWhisk endpoint (real Node-RED, real Docker, openwhisk client)', function () {
  this.timeout(180000);
  let ow;
  let red;
  let inst;
  let ownPort;
  /** A port another program holds: the runtime that asks for it cannot listen there. */
  let taken;
  const api = () => `${red.url}/openwhisk/gw`;
  const client = (key = KEY) => openwhisk({ apihost: api(), api_key: key });

  const flows = () => [
    { id: 'tab', type: 'tab', label: 'gateway' },
    { id: 'svc', type: 'openwhisk-service', api: ow.url, credentials: { key: ow.key('guest') } },
    {
      id: 'rt',
      type: 'openwhisk-runtime',
      mode: 'local',
      service: 'svc',
      images: `nodejs:*=${IMAGE}`,
      capacity: 3,
      queue: 10,
      maxPayload: 0.01,
      serveApi: true,
      apiPath: 'gw',
      apiNamespace: 'guest',
      apiListen: String(ownPort),
      credentials: { apiKey: KEY },
    },
    {
      id: 'rt2',
      type: 'openwhisk-runtime',
      mode: 'local',
      service: 'svc',
      images: `nodejs:*=${IMAGE}`,
      capacity: 1,
      queue: 0,
      serveApi: true,
      apiPath: 'tight',
      apiListen: `127.0.0.1:${taken.address().port}`,
      credentials: { apiKey: TIGHT_KEY },
    },
    // A flow that runs the same action through an action node: its activation lands in the same store.
    { id: 'in', z: 'tab', type: 'http in', url: '/hello', method: 'post', wires: [['act']] },
    { id: 'act', z: 'tab', type: 'openwhisk-action', runtime: 'rt', action: 'edge/hello', params: [], wires: [['fmt']] },
    { id: 'fmt', z: 'tab', type: 'function', func: 'msg.payload = { payload: msg.payload, data: msg.data }; return msg;', wires: [['out']] },
    { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {} },
    // A runtime that serves no API: nothing could read its records, so it keeps none.
    { id: 'rt3', type: 'openwhisk-runtime', mode: 'local', service: 'svc', images: `nodejs:*=${IMAGE}`, capacity: 1, queue: 10 },
    { id: 'in3', z: 'tab', type: 'http in', url: '/plain', method: 'post', wires: [['act3']] },
    { id: 'act3', z: 'tab', type: 'openwhisk-action', runtime: 'rt3', action: 'edge/hello', params: [], wires: [['out3']] },
    { id: 'out3', z: 'tab', type: 'http response', statusCode: '', headers: {} },
  ];

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    ow = await startOpenWhiskServer();
    ow.putPackage('guest', 'edge', { parameters: [{ key: 'site', value: 'plant-1' }] });
    ow.putAction('guest', 'edge/hello', {
      exec: {
        kind: 'nodejs:20',
        code: 'function main(p) { console.log("hello", p.name); return { greeting: "Hello " + (p.name || "stranger"), site: p.site }; }',
      },
    });
    ow.putAction('guest', 'broken', { exec: { kind: 'nodejs:20', code: 'function main() { return { error: "bad reading" }; }' } });
    ow.putAction('guest', 'slow', {
      exec: { kind: 'nodejs:20', code: 'function main(p) { return new Promise((r) => setTimeout(() => r({ slept: p.ms }), p.ms)); }' },
    });
    ownPort = await freePort();
    taken = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s));
    });
    red = await createRed({ version: 5 });
    await red.start();
    await red.deploy(flows());
    inst = fs.readFileSync(path.join(red.userDir, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
  });

  after(async () => {
    if (red) await red.destroy();
    if (inst)
      for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    if (ow) await ow.stop();
    if (taken) taken.close();
  });

  it('invokes blocking, result-only and non-blocking, and serves the activations', async () => {
    const ow1 = client();
    const a = await ow1.actions.invoke({ name: 'edge/hello', params: { name: 'Ada' }, blocking: true });
    assert.match(a.activationId, /^[0-9a-f]{32}$/);
    assert.equal(a.response.status, 'success');
    assert.deepEqual(a.response.result, { greeting: 'Hello Ada', site: 'plant-1' });
    assert.ok(
      a.logs.some((l) => /stdout: hello Ada/.test(l)),
      JSON.stringify(a.logs),
    );
    assert.deepEqual(a.annotations.find((k) => k.key === 'hops').value, [{ gateway: gatewayId(inst, 'rt'), where: 'local' }]);

    const r = await ow1.actions.invoke({ name: 'edge/hello', params: { name: 'Bo' }, blocking: true, result: true });
    assert.deepEqual(r, { greeting: 'Hello Bo', site: 'plant-1' });

    const { activationId } = await ow1.actions.invoke({ name: 'edge/hello', params: { name: 'Cy' } });
    assert.match(activationId, /^[0-9a-f]{32}$/);
    const later = await until('the non-blocking activation', () => ow1.activations.get({ name: activationId }).catch(() => undefined), 30000);
    assert.deepEqual(later.response.result, { greeting: 'Hello Cy', site: 'plant-1' });
    assert.deepEqual(await ow1.activations.result({ name: activationId }), later.response);
    assert.deepEqual((await ow1.activations.logs({ name: activationId })).logs, later.logs);

    // Summaries and records as the REST API lists them (the client's types leave out statusCode and response).
    const list = /** @type {Array<import('openwhisk').ActivationDesc & { statusCode?: number }>} */ (await ow1.activations.list({ limit: 3 }));
    // Newest first: the non-blocking one, the result-only one, the first.
    assert.equal(list.length, 3);
    assert.equal(list[0].activationId, activationId);
    assert.equal(list[2].activationId, a.activationId);
    assert.equal(list[0].statusCode, 0);
    assert.equal(list[0].name, 'hello');
    const named = /** @type {import('openwhisk').Activation<import('openwhisk').Dict>[]} */ (
      await ow1.activations.list({ name: 'edge/hello', docs: true, limit: 0 })
    );
    assert.ok(named.length >= 3 && named.every((x) => x.response && x.name === 'hello'));
    // The filter is the path below the namespace: "hello" is not "edge/hello".
    assert.deepEqual(await ow1.activations.list({ name: 'hello' }), []);
  });

  it("lists and gets actions from the runtime's catalog, and lists the namespace", async () => {
    const c = client();
    const names = (await c.actions.list()).map((x) => `${x.namespace}/${x.name}`).sort();
    assert.deepEqual(names, ['guest/broken', 'guest/edge/hello', 'guest/slow']);
    const doc = await c.actions.get({ name: 'edge/hello' });
    assert.equal(doc.exec.kind, 'nodejs:20');
    // What the list gives is what a GET gives, and invoking it by that name works.
    const listed = (await c.actions.list()).find((x) => x.name === 'hello');
    assert.equal(listed.namespace, 'guest/edge');
    assert.equal(listed.version, doc.version);
    const byList = await c.actions.invoke({ name: `/${listed.namespace}/${listed.name}`, params: { name: 'Ada' }, blocking: true, result: true });
    assert.equal(byList.greeting, 'Hello Ada');
    assert.match(doc.exec.code, /Hello/);
    assert.deepEqual(await c.namespaces.list(), ['guest']);
  });

  it('refuses a wrong key (401) and answers 404 for an unknown action, as OpenWhisk', async () => {
    await assert.rejects(
      client(`${KEY.split(':')[0]}:wrong`).actions.invoke({ name: 'edge/hello', blocking: true }),
      (/** @type {ClientError} */ e) => e.statusCode === 401,
    );
    await assert.rejects(
      client().actions.invoke({ name: 'nope', blocking: true }),
      (/** @type {ClientError} */ e) => e.statusCode === 404 && /does not exist/.test(e.error.error),
    );
    // One runtime's key does not open another's API.
    await assert.rejects(client(TIGHT_KEY).actions.list(), (/** @type {ClientError} */ e) => e.statusCode === 401);
  });

  const raw = (
    p,
    /** @type {{ method?: string, key?: string, body?: unknown, headers?: Record<string, string> }} */ { method = 'GET', key = KEY, body, headers = {} } = {},
  ) =>
    fetch(`${api()}${p}`, {
      method,
      headers: {
        ...(key ? { authorization: `Basic ${Buffer.from(key).toString('base64')}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, headers: res.headers, body: await res.json() }));

  it('answers the raw status codes and {error, code} bodies', async () => {
    const none = await raw('/api/v1/namespaces', { key: '' });
    assert.equal(none.status, 401);
    assert.match(none.body.error, /requires authentication/);
    assert.match(none.body.code, /^[0-9a-f]{32}$/);
    assert.equal(none.headers.get('www-authenticate'), null, 'no browser login prompt');
    assert.equal((await raw('/api/v1/namespaces/someone-else/actions')).status, 403);
    const big = await raw('/api/v1/namespaces/_/actions/edge/hello?blocking=true', { method: 'POST', body: { blob: 'x'.repeat(20000) } });
    assert.equal(big.status, 413);
    assert.match(big.body.error, /too large/);
    const failed = await raw('/api/v1/namespaces/_/actions/broken?blocking=true', { method: 'POST', body: {} });
    assert.equal(failed.status, 502);
    assert.equal(failed.body.response.status, 'application error');
    assert.equal(failed.headers.get('x-openwhisk-activation-id'), failed.body.activationId);
    const failedResult = await raw('/api/v1/namespaces/_/actions/broken?blocking=true&result=true', { method: 'POST', body: {} });
    assert.equal(failedResult.status, 502);
    assert.deepEqual(failedResult.body, { error: 'bad reading' });
    assert.equal((await raw('/api/v1/namespaces/_/activations/0123')).status, 400);
    assert.equal((await raw(`/api/v1/namespaces/_/activations/${'0'.repeat(32)}`)).status, 404);
    assert.equal((await raw('/api/v1/namespaces/_/actions/edge/hello', { method: 'POST', body: '[1,2]' })).status, 400);
    // A web page of another origin: refused (browsers add Origin; this API sends no CORS headers).
    const page = await raw('/api/v1/namespaces/_/actions/edge/hello?blocking=true', { method: 'POST', body: {}, headers: { origin: 'http://evil.example' } });
    assert.equal(page.status, 403);
    // Beyond the runtime's queue: 429, as OpenWhisk throttles.
    const tight = (body) =>
      fetch(`${red.url}/openwhisk/tight/api/v1/namespaces/_/actions/slow?blocking=true`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(TIGHT_KEY).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = tight({ ms: 3000 });
    await new Promise((r) => setTimeout(r, 1500)); // provisioned and running
    const second = await tight({ ms: 10 });
    assert.equal(second.status, 429, await second.clone().text());
    assert.match((await second.json()).error, /queue|full|capacity/i);
    assert.equal((await first).status, 200);
  });

  it("serves the same API on the runtime's own port, with the same keys, bounds and store", async () => {
    const own = openwhisk({ apihost: `http://127.0.0.1:${ownPort}`, api_key: KEY });
    const r = await own.actions.invoke({ name: 'edge/hello', params: { name: 'Own' }, blocking: true });
    assert.deepEqual(r.response.result, { greeting: 'Hello Own', site: 'plant-1' });
    assert.deepEqual(r.annotations.find((k) => k.key === 'hops').value, [{ gateway: gatewayId(inst, 'rt'), where: 'local' }]);
    // One store: what ran through the own port is listed on Node-RED's path too, and the other way round.
    assert.equal((await client().activations.list({ limit: 1 }))[0].activationId, r.activationId);
    const viaMount = await client().actions.invoke({ name: 'edge/hello', params: { name: 'Mount' }, blocking: true });
    assert.deepEqual((await own.activations.get({ name: viaMount.activationId })).response, viaMount.response);

    const at = (
      p,
      /** @type {{ method?: string, key?: string, body?: unknown, headers?: Record<string, string> }} */ { method = 'GET', key = KEY, body, headers = {} } = {},
    ) =>
      fetch(`http://127.0.0.1:${ownPort}${p}`, {
        method,
        headers: {
          ...(key ? { authorization: `Basic ${Buffer.from(key).toString('base64')}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    // A result-only answer is written before its record is kept (right after it, before another request is
    // read): a client that asks for the record at once, on the same keep-alive connection, gets it complete.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const raw = (method, p, body) =>
      new Promise((resolve, reject) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(
          {
            host: '127.0.0.1',
            port: ownPort,
            agent,
            method,
            path: p,
            headers: {
              authorization: `Basic ${Buffer.from(KEY).toString('base64')}`,
              ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
            },
          },
          (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
          },
        );
        req.setTimeout(30000, () => req.destroy(new Error('no answer in 30 s')));
        req.on('error', reject);
        req.end(text);
      });
    try {
      for (const name of ['Dee', 'Eve', 'Flo']) {
        const answered = await raw('POST', '/api/v1/namespaces/_/actions/edge/hello?blocking=true&result=true', { name });
        assert.equal(answered.status, 200);
        assert.deepEqual(answered.body, { greeting: `Hello ${name}`, site: 'plant-1' });
        const id = answered.headers['x-openwhisk-activation-id'];
        assert.match(id, /^[0-9a-f]{32}$/);
        const rec = await raw('GET', `/api/v1/namespaces/_/activations/${id}`);
        assert.equal(rec.status, 200, JSON.stringify(rec.body));
        assert.equal(rec.body.activationId, id);
        assert.deepEqual(rec.body.response.result, answered.body);
        assert.ok(
          rec.body.logs.some((l) => new RegExp(`stdout: hello ${name}`).test(l)),
          JSON.stringify(rec.body.logs),
        );
        assert.deepEqual(rec.body.annotations.find((k) => k.key === 'hops').value, [{ gateway: gatewayId(inst, 'rt'), where: 'local' }]);
        assert.equal(rec.body.annotations.find((k) => k.key === 'path').value, 'guest/edge/hello');
      }
    } finally {
      agent.destroy();
    }
    assert.equal((await at('/api/v1/namespaces', { key: '' })).status, 401);
    assert.equal((await at('/api/v1/namespaces', { key: `${KEY.split(':')[0]}:wrong` })).status, 401);
    assert.equal((await at('/api/v1/namespaces', { key: TIGHT_KEY })).status, 401);
    // The key in another spelling of the header (lowercase scheme) is still the key.
    const lower = await fetch(`http://127.0.0.1:${ownPort}/api/v1/namespaces`, { headers: { authorization: `basic ${Buffer.from(KEY).toString('base64')}` } });
    assert.equal(lower.status, 200);
    assert.equal(
      (await at('/api/v1/namespaces/_/actions/edge/hello?blocking=true', { method: 'POST', body: {}, headers: { origin: 'http://evil.example' } })).status,
      403,
    );
    const big = await at('/api/v1/namespaces/_/actions/edge/hello?blocking=true', { method: 'POST', body: { blob: 'x'.repeat(20000) } });
    assert.equal(big.status, 413);
    assert.match(big.body.code, /^[0-9a-f]{32}$/);
    assert.equal((await at('/openwhisk/gw/api/v1/namespaces')).status, 404, 'the own port serves the API at its root only');
    assert.equal((await at('/api/v1/namespaces/_/actions/nope?blocking=true', { method: 'POST', body: {} })).status, 404);

    // A port another program holds: that runtime says so, and its API stays on Node-RED's path.
    assert.match(red.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken.address().port}: the port is in use`));
    const tightNs = await fetch(`${red.url}/openwhisk/tight/api/v1/namespaces`, {
      headers: { authorization: `Basic ${Buffer.from(TIGHT_KEY).toString('base64')}` },
    });
    assert.equal(tightNs.status, 200);

    // A full redeploy: the old runtime frees the port before the new one listens on it.
    await red.deploy(flows());
    await until(
      'the own port after a redeploy',
      () =>
        at('/api/v1/namespaces').then(
          (x) => x.status === 200,
          () => false,
        ),
      30000,
    );
    assert.doesNotMatch(red.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${ownPort}`));
  });

  it('keeps the activations of action nodes too, msg.data as before, and all of them across a restart', async () => {
    const res = await fetch(`${red.url}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Flow' }) });
    const { payload, data } = await res.json();
    assert.deepEqual(payload, { greeting: 'Hello Flow', site: 'plant-1' });
    assert.deepEqual(
      data.annotations.filter((k) => k.key === 'where' || k.key === 'hops'),
      [{ key: 'where', value: 'local' }],
    );
    const stored = await client().activations.get({ name: data.activationId });
    assert.deepEqual(stored.response, data.response);
    assert.deepEqual(stored.logs, data.logs);
    const newest = (await client().activations.list({ limit: 200 })).map((x) => x.activationId);
    const plain = await fetch(`${red.url}/plain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Quiet' }) });
    assert.deepEqual(await plain.json(), { greeting: 'Hello Quiet', site: 'plant-1' });

    await red.stop();
    const file = path.join(red.userDir, '.leon-openwhisk', 'activations', 'rt~guest.jsonl'); // one file per API namespace
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'owner-only');
    assert.deepEqual(
      fs.readdirSync(path.join(red.userDir, '.leon-openwhisk', 'activations')).filter((f) => f.startsWith('rt3')),
      [],
      'a runtime without the API keeps no records',
    );
    await red.start();
    await until('the API to be back', async () => (await raw('/api/v1/namespaces')).status === 200);
    const after = (await client().activations.list({ limit: 200 })).map((x) => x.activationId);
    assert.deepEqual(after, newest, 'the same activations, newest first, after a restart');
    assert.deepEqual((await client().activations.get({ name: data.activationId })).response, data.response);
  });
});
