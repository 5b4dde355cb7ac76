'use strict';
// The gateway's OpenWhisk API as the `openwhisk` client reads it, on a real Node-RED process (the version
// under test, from its CLI), for a manifest catalog and a service catalog. No Docker: the runtimes' engine
// is a socket that does not exist, so invokes fail (their records are still kept) and reads work.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const openwhisk = require('openwhisk');
const env = require('../browser/support/env');
const { startOpenWhiskServer } = require('../support/openwhisk-server');
const { helper, nodes } = require('../support/nr');
/** What the openwhisk client rejects with: the HTTP status and OpenWhisk's error body. @typedef {Error & { statusCode: number, error: { error: string, code?: string } }} ClientError */

const CLOUD_KEY = '5a1e6b9c-1111-4ed5-8c54-816aa4f8c502:Cl0udKeyOfTheGatewaysService0123456789abcdefghijklmnopqrstuvwxyzAB';
const API_KEY = '0f6e0f1a-3b1c-4d6e-9a55-0d4f2c1b7e11:Ae9s8dFq2LmXo0PzW4rT6yUvB1nC3kJh5gRtYeWq7uIoPlMnBvCxZaSdFgHjKl';
const NO_DOCKER = 'unix:///nonexistent/leon-test-docker.sock';
const MANIFEST = [
  'packages:',
  '  utils:',
  '    inputs:',
  '      site: plant-1',
  '    actions:',
  '      sort:',
  '        function: sort.js',
  '        runtime: nodejs:20',
  '        version: 0.0.7',
  '        limits:',
  '          timeout: 3000',
  '    triggers:',
  '      tick: {}',
  '    rules:',
  '      on-tick:',
  '        trigger: tick',
  '        action: sort',
  '',
].join('\n');

describe('the gateway OpenWhisk API as clients read it (real Node-RED, no Docker)', function () {
  this.timeout(120000);
  let nr;
  let ow;
  const runtime = (id, extra) => ({
    id,
    type: 'openwhisk-runtime',
    mode: 'local',
    service: 'svc',
    docker: NO_DOCKER,
    serveApi: true,
    apiNamespace: 'guest',
    credentials: { apiKey: API_KEY },
    ...extra,
  });
  const flows = (ns = 'guest') => [
    { id: 'tab', type: 'tab', label: 't' },
    { id: 'svc', type: 'openwhisk-service', api: ow.url, credentials: { key: CLOUD_KEY } },
    runtime('rtm', { source: 'manifest', manifest: 'manifest.yaml', apiPath: 'm' }),
    runtime('rts', { source: 'service', apiPath: 's', apiNamespace: ns }),
    // A manifest outside the folders a runtime may read: the API cannot be served, and says why.
    runtime('rtbad', { source: 'manifest', manifest: '/etc/passwd', apiPath: 'bad' }),
  ];
  const client = (p) => openwhisk({ apihost: `${nr.url}/openwhisk/${p}`, api_key: API_KEY });
  const deploy = async (f) => {
    const res = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(f),
    });
    assert.equal(res.status, 204, await res.text());
  };

  before(async function () {
    env.checkBuild();
    ow = await startOpenWhiskServer({ users: { guest: CLOUD_KEY } });
    ow.putPackage('guest', 'utils', { parameters: [{ key: 'site', value: 'plant-2' }] });
    ow.putAction('guest', 'utils/sort', { exec: { kind: 'nodejs:20', code: 'function main() { return {}; }' }, limits: { timeout: 4000 } });
    ow.putAction('guest', 'utils/echo', { exec: { kind: 'nodejs:20', code: 'function main(p) { return p; }' } });
    ow.putAction('guest', 'echo', { exec: { kind: 'nodejs:20', code: 'function main(p) { return p; }' } });
    nr = await env.startNodeRed();
    fs.writeFileSync(path.join(nr.userDir, 'manifest.yaml'), MANIFEST);
    fs.writeFileSync(path.join(nr.userDir, 'sort.js'), 'function main(p) { return p; }\n');
    await deploy(flows());
    const up = async (p) =>
      (
        await client(p)
          .namespaces.list()
          .catch(() => [])
      ).length === 1;
    await env.until('the gateway APIs', async () => (await up('s')) && (await up('m')));
  });

  after(async () => {
    if (nr) await nr.stop();
    if (ow) await ow.stop();
  });

  afterEach(function () {
    if (this.currentTest.state === 'failed' && nr) console.log(nr.log().split('\n').slice(-30).join('\n'));
  });

  for (const [p, version, timeout] of [
    ['m', '0.0.7', 3000],
    ['s', '0.0.1', 4000],
  ]) {
    it(`lists a packaged action as OpenWhisk does, and what the list gives can be fetched by its name (${p === 'm' ? 'manifest' : 'service'})`, async () => {
      const c = client(p);
      const list = await c.actions.list();
      // An entry as the REST API lists it (the client's types leave out exec, limits and updated).
      const sort = /** @type {import('openwhisk').Action & { updated: number }} */ (list.find((a) => a.name === 'sort'));
      assert.ok(sort, JSON.stringify(list));
      assert.equal(sort.namespace, 'guest/utils');
      assert.equal(sort.version, version);
      assert.equal(sort.exec.kind, 'nodejs:20');
      assert.deepEqual(
        sort.annotations.filter((a) => a.key === 'exec'),
        [{ key: 'exec', value: 'nodejs:20' }],
      );
      assert.equal(sort.limits.timeout, timeout);
      assert.equal(typeof sort.updated, 'number');
      // The client sends code=false; its types lack the option.
      const doc = await c.actions.get(/** @type {{ name: string }} */ ({ name: `/${sort.namespace}/${sort.name}`, code: false }));
      assert.equal(doc.version, sort.version);
      assert.equal(doc.namespace, sort.namespace);
      // namespaces.get() lists actions, packages, triggers and rules: none of them fails.
      const all = await /** @type {{ get(namespace?: string): Promise<import('openwhisk').Namespace> }} */ (c.namespaces).get(); // the client's types want a namespace
      assert.deepEqual(
        all.packages.map((x) => [x.namespace, x.name]),
        [['guest', 'utils']],
      );
      const pkg = await c.packages.get({ name: 'utils' });
      assert.deepEqual(pkg.parameters, [{ key: 'site', value: p === 'm' ? 'plant-1' : 'plant-2' }]);
      assert.ok(pkg.actions.some((a) => a.name === 'sort'));
      assert.deepEqual(
        all.triggers.map((x) => x.name),
        p === 'm' ? ['tick'] : [],
      );
      assert.deepEqual(
        all.rules.map((x) => x.name),
        p === 'm' ? ['on-tick'] : [],
      );
      // Read-only: a write is 405 in the controller's shape.
      await assert.rejects(c.packages.update({ name: 'utils' }), (/** @type {ClientError} */ e) => e.statusCode === 405);
      await assert.rejects(c.actions.delete({ name: 'echo' }), (/** @type {ClientError} */ e) => e.statusCode === 405);
    });
  }

  it('keeps activation records per namespace: after the namespace changes, the old ones are not served', async () => {
    const c = client('s');
    // Non-blocking invokes get an id and a record, also when the engine is missing.
    const { activationId: a } = await c.actions.invoke({ name: 'echo' });
    const { activationId: b } = await c.actions.invoke({ name: 'utils/echo' });
    await env.until('both records', async () => (await c.activations.list()).length === 2);
    assert.deepEqual(
      (await c.activations.list({ name: 'echo' })).map((x) => x.activationId),
      [a],
    );
    assert.deepEqual(
      (await c.activations.list({ name: 'utils/echo' })).map((x) => x.activationId),
      [b],
    );
    // A record of a failure before the run (no engine) is shaped as the action's own records.
    const failed = await c.activations.get({ name: b });
    assert.equal(failed.response.status, 'whisk internal error');
    assert.deepEqual([failed.namespace, failed.name, failed.subject, failed.version, failed.publish], ['guest', 'echo', 'guest', '0.0.1', false]);
    const ann = Object.fromEntries(failed.annotations.map((x) => [x.key, x.value]));
    assert.equal(ann.path, 'guest/utils/echo');
    assert.equal(ann.kind, 'nodejs:20');
    assert.equal(typeof ann.limits.timeout, 'number');
    assert.equal(typeof ann.waitTime, 'number');
    await deploy(flows('acme'));
    const c2 = client('s');
    await env.until('the API in acme', async () => JSON.stringify(await c2.namespaces.list().catch(() => [])) === '["acme"]');
    assert.deepEqual(await c2.activations.list(), []);
    await assert.rejects(c2.activations.get({ name: a }), (/** @type {ClientError} */ e) => e.statusCode === 404);
    await deploy(flows('guest'));
    await env.until('the API in guest again', async () => JSON.stringify(await c.namespaces.list().catch(() => [])) === '["guest"]');
    assert.equal((await c.activations.get({ name: a })).activationId, a);
  });

  it('logs where the API is served, and why a runtime cannot serve it', async () => {
    const port = new URL(nr.url).port;
    assert.match(nr.log(), new RegExp(`OpenWhisk API on http://[^ ]+:${port}/openwhisk/m/api/v1`));
    assert.match(nr.log(), new RegExp(`OpenWhisk API on http://[^ ]+:${port}/openwhisk/s/api/v1`));
    assert.match(nr.log(), /The OpenWhisk API of this runtime is off: .*(outside|not allowed|user directory)/i);
    assert.equal((await fetch(`${nr.url}/openwhisk/bad/api/v1`)).status, 404);
    const info = await fetch(`${nr.url}/openwhisk/s/api/v1`);
    assert.equal(info.status, 200);
    assert.equal((await info.json()).api_version_path, 'v1');
  });
});

describe('a runtime that cannot serve its API says why on its status', function () {
  this.timeout(20000);
  afterEach(() => helper.unload());

  it('a config error (a manifest outside the allowed folders) and a weak key: status and log', async () => {
    const flow = [
      { id: 'rt1', type: 'openwhisk-runtime', mode: 'local', source: 'manifest', manifest: '/etc/passwd', docker: NO_DOCKER, serveApi: true, apiPath: 'one' },
      { id: 'rt2', type: 'openwhisk-runtime', mode: 'local', source: 'service', docker: NO_DOCKER, serveApi: true, apiPath: 'two' },
    ];
    await helper.load(nodes, flow, { rt1: { apiKey: API_KEY }, rt2: { apiKey: 'a:b' } });
    const proto = Object.getPrototypeOf(helper.getNode('rt1'));
    const statusOf = (id) =>
      proto.status
        .getCalls()
        .filter((c) => c.thisValue.id === id)
        .map((c) => c.args[0]);
    const errorsOf = (id) =>
      proto.error
        .getCalls()
        .filter((c) => c.thisValue.id === id)
        .map((c) => String(c.args[0]));
    for (const id of ['rt1', 'rt2']) {
      const s = statusOf(id).pop();
      assert.ok(s, `${id} has a status`);
      assert.equal(s.fill, 'red');
      assert.match(s.text, /^API off: /);
      assert.ok(
        errorsOf(id).some((e) => /The OpenWhisk API of this runtime is off: /.test(e)),
        errorsOf(id).join('\n'),
      );
    }
  });
});
