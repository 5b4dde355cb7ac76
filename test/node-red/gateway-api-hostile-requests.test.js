'use strict';
// The gateway's OpenWhisk API on a real Node-RED process (the version under test, from its CLI), driven
// with raw HTTP requests as a hostile client or web page could send them. No Docker: the runtime is a
// local one whose catalog is the OpenWhisk API stand-in and whose Docker engine is a socket that does not
// exist, so every answer here comes from the API and the catalog, never from a container. The stand-in
// records every request the gateway makes with the cloud service's key.
const assert = require('node:assert/strict');
const http = require('node:http');
const env = require('../browser/support/env');
const { startOpenWhiskServer } = require('../support/openwhisk-server');

const CLOUD_KEY = '5a1e6b9c-1111-4ed5-8c54-816aa4f8c502:Cl0udKeyOfTheGatewaysService0123456789abcdefghijklmnopqrstuvwxyzAB';
const API_KEY = '0f6e0f1a-3b1c-4d6e-9a55-0d4f2c1b7e11:Ae9s8dFq2LmXo0PzW4rT6yUvB1nC3kJh5gRtYeWq7uIoPlMnBvCxZaSdFgHjKl';
const SECRET = 'function main() { return { secret: "OTHER-NAMESPACE-SECRET" }; }';

/** One raw request: the path is sent exactly as given (no URL normalisation), from `localAddress` if set. */
function call(
  base,
  path,
  /** @type {{ method?: string, key?: string, headers?: Record<string, string>, body?: unknown, localAddress?: string }} */ {
    method = 'GET',
    key = API_KEY,
    headers = {},
    body,
    localAddress,
  } = {},
) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        localAddress,
        agent: false,
        headers: {
          ...(key ? { authorization: `Basic ${Buffer.from(key).toString('base64')}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('the gateway OpenWhisk API on a real Node-RED (hostile requests, no Docker)', function () {
  this.timeout(120000);
  let nr;
  let ow;
  const seen = [];
  const api = (p) => `/openwhisk/gw${p}`;
  const flows = () => [
    { id: 'tab', type: 'tab', label: 't' },
    { id: 'svc', type: 'openwhisk-service', api: ow.url, insecure: false, credentials: { key: CLOUD_KEY } },
    {
      id: 'rt',
      type: 'openwhisk-runtime',
      mode: 'local',
      source: 'service',
      service: 'svc',
      docker: 'unix:///nonexistent/leon-test-docker.sock',
      serveApi: true,
      apiPath: 'gw',
      apiNamespace: 'guest',
      apiHosts: 'gateway.test, 203.0.113.7',
      credentials: { apiKey: API_KEY },
    },
    // A runtime whose API key is far too weak: its API stays off.
    {
      id: 'rtweak',
      type: 'openwhisk-runtime',
      mode: 'local',
      source: 'service',
      service: 'svc',
      docker: 'unix:///nonexistent/leon-test-docker.sock',
      serveApi: true,
      apiPath: 'weak',
      apiNamespace: 'guest',
      credentials: { apiKey: 'a:b' },
    },
    // A runtime whose own settings cannot work (a platform no image is built for): its API stays off too.
    {
      id: 'rtbroken',
      type: 'openwhisk-runtime',
      mode: 'local',
      source: 'service',
      service: 'svc',
      docker: 'unix:///nonexistent/leon-test-docker.sock',
      platform: 'sparc/v9',
      serveApi: true,
      apiPath: 'broken',
      apiNamespace: 'guest',
      credentials: { apiKey: API_KEY },
    },
    { id: 'rtc', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
    // msg.action / msg.trigger from an HTTP request: errors reach the Catch node with the original msg.
    { id: 'in', z: 'tab', type: 'http in', url: '/go', method: 'post', wires: [['prep']] },
    {
      id: 'prep',
      z: 'tab',
      type: 'function',
      func: 'msg.action = msg.payload.action; msg.trigger = msg.payload.trigger; msg.namespace = msg.payload.namespace; msg.marker = "original"; msg.payload = {}; return msg.trigger ? [null, msg] : [msg, null];',
      outputs: 2,
      wires: [['act'], ['trig']],
    },
    { id: 'act', z: 'tab', type: 'openwhisk-action', runtime: 'rtc', action: '', params: [], wires: [['ok']] },
    { id: 'trig', z: 'tab', type: 'openwhisk-trigger', runtime: 'rtc', trigger: '', params: [], wires: [['ok']] },
    { id: 'ok', z: 'tab', type: 'function', func: 'msg.payload = { result: msg.payload }; return msg;', wires: [['out']] },
    { id: 'c', z: 'tab', type: 'catch', scope: ['act', 'trig'], uncaught: false, wires: [['bad']] },
    {
      id: 'bad',
      z: 'tab',
      type: 'function',
      func: 'msg.statusCode = 500; msg.payload = { error: msg.error.message, marker: msg.marker }; return msg;',
      wires: [['out']],
    },
    { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {} },
  ];

  before(async function () {
    env.checkBuild();
    ow = await startOpenWhiskServer({ users: { guest: CLOUD_KEY, otherns: '7e7e7e7e-3333-4ed5-8c54-816aa4f8c502:the-other-namespace-key' } });
    // The cloud key may use another namespace too (an entitlement OpenWhisk can grant): the gateway's
    // clients must still only ever reach the key's own namespace through it.
    ow.entitle('guest', 'otherns');
    ow.putAction('guest', 'hello', { exec: { kind: 'nodejs:20', code: 'function main() { return { hello: true }; }' } });
    ow.putAction('otherns', 'secret', { exec: { kind: 'nodejs:20', code: SECRET } });
    ow.putTrigger('guest', 'tick', {});
    ow.server.on('request', (req) => seen.push(`${req.method} ${req.url}`));
    nr = await env.startNodeRed();
    const res = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows()),
    });
    assert.equal(res.status, 204, await res.text());
    // The API is up once it answers (the runtime's Docker engine is missing: only the catalog answers).
    await env.until('the gateway API', async () => (await call(nr.url, api('/api/v1/namespaces'))).status === 200);
  });

  after(async () => {
    if (nr) await nr.stop();
    if (ow) await ow.stop();
  });

  afterEach(function () {
    if (this.currentTest.state === 'failed' && nr) console.log(nr.log().split('\n').slice(-30).join('\n'));
  });

  /** Requests the gateway sent with the cloud key outside the key's own namespace ("_"), or to no action path at all. */
  const strays = (from) => seen.slice(from).filter((r) => !/^(GET|POST) \/api\/v1\/namespaces\/_\/(actions|triggers)(\/|\?|$)/.test(r));

  it('dot segments in an action name never leave the namespace: 400, and nothing is sent with the cloud key', async () => {
    const ok = await call(nr.url, api('/api/v1/namespaces/_/actions/hello'));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.name, 'hello');
    const from = seen.length;
    const attacks = [
      '/api/v1/namespaces/_/actions/..%2F..%2Fotherns%2Factions/secret',
      '/api/v1/namespaces/_/actions/..%2F..%2Fotherns%2Factions%2Fsecret',
      '/api/v1/namespaces/_/actions/../secret',
      '/api/v1/namespaces/_/actions/pkg/..',
      '/api/v1/namespaces/_/actions/%2E%2E/hello',
      '/api/v1/namespaces/_/actions/.',
      '/api/v1/namespaces/_/actions/a%2Fb',
      `/api/v1/namespaces/_/actions/${'a'.repeat(257)}`,
    ];
    for (const p of attacks) {
      for (const method of ['GET', 'POST']) {
        const r = await call(nr.url, api(`${p}${method === 'POST' ? '?blocking=true' : ''}`), { method, body: method === 'POST' ? {} : undefined });
        assert.equal(r.status, 400, `${method} ${p}: ${r.status} ${r.text}`);
        assert.match(r.json.error, /name of the entity contains illegal characters|Name segment longer than allowed/, p);
        assert.match(r.json.code, /^[0-9a-f]{32}$/);
        assert.doesNotMatch(r.text, /OTHER-NAMESPACE-SECRET/);
      }
    }
    // A namespace that is not a name: the controller's answer.
    for (const ns of ['..', '.', '%2E%2E', 'a%2Fb']) {
      const r = await call(nr.url, api(`/api/v1/namespaces/${ns}/actions/hello`));
      assert.equal(r.status, 400, `${ns}: ${r.text}`);
      assert.match(r.json.error, /namespace contains illegal characters/);
    }
    assert.deepEqual(seen.slice(from), [], 'no request reached the cloud for any of them');
  });

  it('msg.action, msg.namespace and msg.trigger with dot segments fail at the node, naming them, with the original msg', async () => {
    const from = seen.length;
    const go = (payload) =>
      fetch(`${nr.url}/go`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }).then(async (r) => ({
        status: r.status,
        body: await r.json(),
      }));
    for (const [payload, re] of /** @type {Array<[Record<string, string>, RegExp]>} */ ([
      [{ action: '../secret' }, /Action name '\.\.\/secret' is not valid/],
      [{ action: '/_/../secret' }, /Action name '\/_\/\.\.\/secret' is not valid/],
      [{ action: 'pkg//hello' }, /Action name 'pkg\/\/hello' is not valid/],
      [{ action: 'hello', namespace: '..' }, /Namespace '\.\.' is not valid/],
      [{ trigger: '..' }, /'\.\.' is not a trigger name/],
      [{ trigger: '/../tick' }, /'\/\.\.\/tick' is not a trigger name/],
      [{ trigger: 'tick', namespace: '..' }, /Namespace '\.\.' is not valid/],
    ])) {
      const r = await go(payload);
      assert.equal(r.status, 500, JSON.stringify(r));
      assert.match(r.body.error, re, JSON.stringify(payload));
      assert.equal(r.body.marker, 'original', 'Catch got the original msg');
    }
    assert.deepEqual(strays(from), [], "nothing went to a path outside the key's own actions and triggers");
    // A valid msg.action still runs.
    const ok = await go({ action: 'hello' });
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.deepEqual(ok.body.result, { hello: true });
  });

  it('answers only for host names it knows: 421 for a rebound name, even with an Origin that matches it', async () => {
    const port = new URL(nr.url).port;
    for (const host of [`evil.example:${port}`, 'evil.example', `gateway.test.evil.example:${port}`, `app.localhost:${port}`, '203.0.113.8']) {
      for (const method of ['GET', 'POST']) {
        const r = await call(nr.url, api(`/api/v1/namespaces/_/actions/hello${method === 'POST' ? '?blocking=true' : ''}`), {
          method,
          body: method === 'POST' ? {} : undefined,
          headers: { host, origin: `http://${host}` },
        });
        assert.equal(r.status, 421, `${method} ${host}: ${r.text}`);
        assert.match(r.json.error, /does not answer for the host .*Misdirected Request/);
        assert.doesNotMatch(r.text, /hello": ?true|"exec"/);
      }
    }
    // A listed address (the one clients use behind NAT or a published port), and loopback in any spelling.
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `gateway.test:${port}`,
      'gateway.test',
      `203.0.113.7:${port}`,
      `[0:0:0:0:0:0:0:1]:${port}`,
      `[::ffff:127.0.0.1]:${port}`,
      `[::ffff:7f00:1]:${port}`,
    ]) {
      const r = await call(nr.url, api('/api/v1/namespaces'), { headers: { host } });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
    }
  });

  it('a weak API key is refused at deploy, saying how to make one: that runtime serves no API', async () => {
    assert.match(nr.log(), /The OpenWhisk API of this runtime is off: the API key is too weak to guess at.*Generate/);
    const r = await call(nr.url, '/openwhisk/weak/api/v1/namespaces', { key: 'a:b' });
    assert.equal(r.status, 404, r.text);
  });

  it('a runtime whose settings cannot work says its API is off, and why', async () => {
    assert.match(nr.log(), /The OpenWhisk API of this runtime is off: Invalid local runtime settings: platform 'sparc\/v9' is not one of/);
    const r = await call(nr.url, '/openwhisk/broken/api/v1/namespaces');
    assert.equal(r.status, 404, r.text);
  });

  it('1000 wrong keys from one client: 10 answered 401, then 429 with Retry-After (the right key too); other clients go on', async () => {
    const statuses = new Map();
    for (let i = 0; i < 1000; i++) {
      const r = await call(nr.url, api('/api/v1/namespaces'), { key: `${API_KEY.split(':')[0]}:guess-${i}`, localAddress: '127.0.0.2' });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (i === 10) {
        assert.equal(r.status, 429, r.text);
        assert.match(r.headers['retry-after'], /^[1-9][0-9]*$/);
        assert.ok(Number(r.headers['retry-after']) <= 60);
      }
    }
    assert.deepEqual(
      [...statuses],
      [
        [401, 10],
        [429, 990],
      ],
    );
    const right = await call(nr.url, api('/api/v1/namespaces'), { localAddress: '127.0.0.2' });
    assert.equal(right.status, 429, 'the right key from that client is refused as well: a refusal must not tell a hit');
    assert.equal((await call(nr.url, api('/api/v1/namespaces'), { localAddress: '127.0.0.3' })).status, 200);
  });

  it("the editor's lookup refuses a namespace that is not a name, before asking anyone", async () => {
    const from = seen.length;
    for (const namespace of ['..', '.', 'a/b', '../otherns']) {
      const r = await fetch(`${nr.url}/leon-openwhisk/entities`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service: 'svc', api: ow.url, namespace }),
      });
      const body = await r.json();
      assert.equal(r.status, 400, `${namespace}: ${JSON.stringify(body)}`);
      assert.match(body.error, /Namespace '.*' is not valid/);
    }
    assert.deepEqual(seen.slice(from), []);
    const ok = await fetch(`${nr.url}/leon-openwhisk/entities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'svc', api: ow.url, namespace: '_' }),
    });
    assert.equal(ok.status, 200);
  });
});
