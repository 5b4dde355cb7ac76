'use strict';
// The gateway API's answers in the shapes apache/openwhisk's controller gives them, for what the
// `openwhisk` client and `wsk` read: action lists, packages, triggers and rules of the catalog, the
// API and platform descriptions, the activation list's name filter, and 405 for every write.
const assert = require('node:assert/strict');
const { GatewayApi } = require('../../../dist/lib/gateway/api');
const { listenGateway } = require('../../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../../dist/lib/activations/store');

const KEY = '11111111-2222-4333-8444-555555555555:unit-key-for-the-shapes';
const auth = { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` };

const SORT = {
  namespace: 'guest/utils',
  name: 'sort',
  version: '0.0.3',
  exec: { kind: 'nodejs:20', code: 'x', binary: false },
  limits: { timeout: 3000, memory: 128, logs: 10, concurrency: 1 },
  annotations: [{ key: 'provide-api-key', value: false }],
  updated: 1700000000000,
  publish: false,
};

/** @returns {import('../../../dist/lib/types').Activation} */
function record(id, name, path) {
  return {
    activationId: id.padStart(32, '0'),
    namespace: 'guest',
    name,
    start: Number(id) * 10,
    end: Number(id) * 10 + 1,
    duration: 1,
    response: { status: 'success', success: true, result: {} },
    logs: [],
    annotations: [{ key: 'path', value: path }],
  };
}

describe("the gateway API's answers as OpenWhisk shapes them", () => {
  let l;
  let base;
  before(async () => {
    const store = new ActivationStore();
    store.add(record('1', 'echo', 'guest/echo'));
    store.add(record('2', 'echo', 'guest/utils/echo'));
    store.add(record('3', 'sort', 'guest/utils/sort'));
    const api = new GatewayApi({
      namespace: 'acme',
      keys: [KEY],
      instanceId: 'abcdef0123456789abcdef0123456789',
      store,
      maxBody: 1024,
      invoke: async () => {
        throw new Error('not in this test');
      },
      getAction: async (ref) => {
        if (ref.name === 'utils/sort') return SORT;
        if (ref.name === 'echo') return { namespace: 'guest', name: 'echo', exec: { kind: 'python:3.11', code: 'y', binary: false } };
        throw Object.assign(new Error('nope'), { statusCode: 404 });
      },
      listActions: async () => [
        {
          namespace: 'guest/utils',
          name: 'sort',
          kind: 'nodejs:20',
          version: '0.0.3',
          limits: SORT.limits,
          annotations: SORT.annotations,
          updated: SORT.updated,
        },
        { namespace: 'guest', name: 'echo', kind: 'python:3.11' },
      ],
      entities: {
        listPackages: async () => [{ name: 'utils', parameters: [{ key: 'site', value: 'plant-1' }] }],
        listTriggers: async () => [{ name: 'tick', parameters: [{ key: 'every', value: 5 }] }],
        listRules: async () => [{ name: 'on-tick', trigger: 'tick', action: 'utils/sort', status: 'active' }],
      },
      imageOverrides: { 'nodejs:20': 'leon-edge/action-nodejs-v20:latest', 'nodejs:*': 'leon-edge/action-nodejs-v22:latest' },
      // The engine has this package's Python image (the overrides above win for Node.js).
      ownImages: async () => ({ 'python:3.11': 'leon-edge/action-python-v3.11:arm64', 'nodejs:20': 'leon-edge/action-nodejs-v20:arm64' }),
    });
    l = await listenGateway(api, { host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${l.address.port}`;
  });
  after(() => l?.close());

  /** @param {string} p @param {Record<string, string>} [headers] */
  const get = async (p, headers = auth) => {
    const r = await fetch(`${base}${p}`, { headers });
    return { status: r.status, body: await r.json() };
  };

  it('lists a packaged action under its package namespace and short name, with the version, kind, limits and updated its GET gives', async () => {
    const { status, body } = await get('/api/v1/namespaces/_/actions');
    assert.equal(status, 200);
    const sort = body.find((a) => a.name === 'sort');
    assert.ok(sort, JSON.stringify(body));
    assert.equal(sort.namespace, 'acme/utils');
    assert.deepEqual(sort.exec, { kind: 'nodejs:20', binary: false });
    assert.deepEqual(sort.annotations, [
      { key: 'provide-api-key', value: false },
      { key: 'exec', value: 'nodejs:20' },
    ]);
    assert.deepEqual(sort.limits, SORT.limits);
    assert.equal(sort.updated, SORT.updated);
    assert.equal(sort.publish, false);
    const one = await get('/api/v1/namespaces/_/actions/utils/sort?code=false');
    assert.equal(one.status, 200);
    assert.equal(sort.version, one.body.version);
    assert.equal(one.body.namespace, 'acme/utils');
    assert.deepEqual(one.body.annotations, sort.annotations);
    // Nothing of the catalog says a version: the same default in the list and in a GET.
    const echo = body.find((a) => a.name === 'echo');
    assert.equal(echo.namespace, 'acme');
    assert.equal(echo.version, (await get('/api/v1/namespaces/_/actions/echo')).body.version);
    assert.deepEqual(echo.limits, { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
    assert.deepEqual((await get('/api/v1/namespaces/_/actions?count=true')).body, { actions: 2 });
  });

  it('filters activations by the action\'s whole path: "echo" is not "utils/echo"; a longer name is refused', async () => {
    const ids = async (name) =>
      (await get(`/api/v1/namespaces/_/activations?name=${encodeURIComponent(name)}`)).body.map((a) => Number.parseInt(a.activationId, 16));
    assert.deepEqual(await ids('echo'), [1]);
    assert.deepEqual(await ids('utils/echo'), [2]);
    assert.deepEqual(await ids('utils/sort'), [3]);
    assert.deepEqual(await ids('sort'), []);
    assert.deepEqual((await get('/api/v1/namespaces/_/activations?name=echo&count=true')).body, { activations: 1 });
    const bad = await get('/api/v1/namespaces/_/activations?name=a/b/c');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /'simple' name or 'package-name\/simple' name: a\/b\/c/);
  });

  it("serves the catalog's packages, triggers and rules read-only, so namespaces.get() and wsk list work", async () => {
    const pkgs = await get('/api/v1/namespaces/_/packages');
    assert.equal(pkgs.status, 200);
    assert.deepEqual(pkgs.body, [{ namespace: 'acme', name: 'utils', version: '0.0.1', publish: false, annotations: [], binding: false }]);
    const pkg = await get('/api/v1/namespaces/_/packages/utils');
    assert.equal(pkg.status, 200);
    assert.deepEqual(pkg.body.parameters, [{ key: 'site', value: 'plant-1' }]);
    assert.deepEqual(pkg.body.binding, {});
    assert.deepEqual(pkg.body.actions, [
      {
        name: 'sort',
        version: '0.0.3',
        annotations: [
          { key: 'provide-api-key', value: false },
          { key: 'exec', value: 'nodejs:20' },
        ],
      },
    ]);
    assert.deepEqual(pkg.body.feeds, []);
    assert.equal((await get('/api/v1/namespaces/_/packages/nope')).status, 404);
    const triggers = await get('/api/v1/namespaces/_/triggers');
    assert.deepEqual(
      triggers.body.map((t) => [t.namespace, t.name]),
      [['acme', 'tick']],
    );
    const tick = await get('/api/v1/namespaces/_/triggers/tick');
    assert.deepEqual(tick.body.parameters, [{ key: 'every', value: 5 }]);
    assert.deepEqual(tick.body.rules, { 'acme/on-tick': { action: { path: 'acme/utils', name: 'sort' }, status: 'active' } });
    const rules = await get('/api/v1/namespaces/_/rules');
    assert.deepEqual(
      rules.body.map((r) => [r.name, r.trigger, r.action, r.status]),
      [['on-tick', { path: 'acme', name: 'tick' }, { path: 'acme/utils', name: 'sort' }, 'active']],
    );
    assert.equal((await get('/api/v1/namespaces/_/rules/on-tick')).body.status, 'active');
    assert.deepEqual((await get('/api/v1/namespaces/_/rules?count=true')).body, { rules: 1 });
    // Without a key: 401, as every entity.
    assert.equal((await get('/api/v1/namespaces/_/packages', {})).status, 401);
  });

  it('describes the API and the platform (its runtimes with the images it would start, its limits) without a key', async () => {
    const v1 = await get('/api/v1', {});
    assert.equal(v1.status, 200);
    assert.deepEqual(v1.body, { description: 'OpenWhisk API', api_version: '1.0.0', api_version_path: 'v1' });
    const root = await get('/', {});
    assert.equal(root.status, 200);
    assert.deepEqual(root.body.api_paths, ['/api/v1']);
    const node = (kind) => root.body.runtimes.nodejs.find((k) => k.kind === kind);
    assert.deepEqual(node('nodejs:22'), { kind: 'nodejs:22', image: 'leon-edge/action-nodejs-v22:latest', default: true, deprecated: false, attached: false });
    assert.deepEqual(node('nodejs:20'), { kind: 'nodejs:20', image: 'leon-edge/action-nodejs-v20:latest', default: false, deprecated: false, attached: false });
    assert.equal(root.body.runtimes.python.find((k) => k.kind === 'python:3.11').image, 'leon-edge/action-python-v3.11:arm64');
    assert.equal(root.body.runtimes.python.find((k) => k.kind === 'python:3.10').image, 'openwhisk/action-python-v3.10:nightly');
    assert.equal(root.body.limits.concurrent_actions, 256);
    assert.equal(root.body.limits.max_action_memory, 512 * 1048576);
    assert.equal(root.body.limits.max_action_duration, 300000);
  });

  it("answers every write with 405 and the controller's error shape", async () => {
    for (const [method, p] of [
      ['PUT', '/api/v1/namespaces/_/actions/echo'],
      ['DELETE', '/api/v1/namespaces/_/actions/utils/sort'],
      ['POST', '/api/v1/namespaces/_/actions'],
      ['PUT', '/api/v1/namespaces/_/packages/utils'],
      ['DELETE', '/api/v1/namespaces/_/packages/utils'],
      ['POST', '/api/v1/namespaces/_/packages'],
      ['PUT', '/api/v1/namespaces/_/triggers/tick'],
      ['DELETE', '/api/v1/namespaces/_/triggers/tick'],
      ['POST', '/api/v1/namespaces/_/triggers/tick'],
      ['PUT', '/api/v1/namespaces/_/rules/on-tick'],
      ['DELETE', '/api/v1/namespaces/_/rules/on-tick'],
      ['POST', '/api/v1/namespaces/_/rules/on-tick'],
      ['DELETE', '/api/v1/namespaces/_/activations'],
      ['POST', '/api/v1'],
      ['PUT', '/'],
    ]) {
      const r = await fetch(`${base}${p}`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: method === 'DELETE' ? undefined : '{}' });
      const body = await r.json();
      assert.equal(r.status, 405, `${method} ${p}: ${JSON.stringify(body)}`);
      assert.match(body.error, /^HTTP method not allowed, supported methods: GET/, `${method} ${p}`);
      assert.match(body.code, /^[0-9a-f]{32}$/);
    }
  });
});
