'use strict';
// What the gateway API checks before a request's key: the Host it was meant for (DNS rebinding), the
// client's wrong keys so far (guessing), and at deploy the key's strength. Clocks are injected: no test
// here waits for a window to pass.
const assert = require('node:assert/strict');
const http = require('node:http');
const { GatewayApi } = require('../../dist/lib/gateway/api');
const { listenGateway } = require('../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../dist/lib/activations/store');
const { AuthFailures, checkApiKey, knownHost, parseHostNames, secretBits } = require('../../dist/lib/gateway/guard');

const KEY = '0f6e0f1a-3b1c-4d6e-9a55-0d4f2c1b7e11:Ae9s8dFq2LmXo0PzW4rT6yUvB1nC3kJh5gRtYeWq7uIoPlMnBvCxZaSdFgHjKl';
const basic = (key) => `Basic ${Buffer.from(key).toString('base64')}`;

function api(extra = {}) {
  return new GatewayApi({
    namespace: 'guest',
    keys: [KEY],
    instanceId: 'abcdef0123456789abcdef0123456789',
    store: new ActivationStore(),
    maxBody: 1024,
    invoke: async () => {
      throw new Error('not in this test');
    },
    getAction: async () => {
      throw new Error('not in this test');
    },
    listActions: async () => [],
    ...extra,
  });
}

/** One request with exactly these headers (Host included), from `localAddress` if given. */
function request(port, path, { headers = {}, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the gateway API\'s guards', () => {
  it('refuses weak and published keys at deploy, saying how to make one; takes OpenWhisk\'s form and 128 random bits', () => {
    for (const weak of ['a:b', 'uuid:short', 'u:password123', 'u:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'u:0123456789abcdef0123456789abcdef01234567',
      'b1a2c3d4-0000-4000-8000-000000000001:tight-key-0123456789', '0a0a0a0a-0000-4000-8000-00000000000a:gateway-a-secret-0123456789']) {
      assert.throws(() => checkApiKey(weak), /too weak to guess at: .* bits, at least 120 .*Generate/, weak);
    }
    assert.throws(() => checkApiKey('23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP'), /default key published with OpenWhisk/);
    for (const bad of ['', 'nocolon', ':secret', 'u: spaced secret']) assert.throws(() => checkApiKey(bad), /form "uuid:key"/, bad);
    assert.equal(checkApiKey(` ${KEY} `), KEY);
    checkApiKey('u:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'); // openssl rand -hex 32
    checkApiKey('u:3a7bd3e2360a3d29eea436fcfb7e44c7'); // 32 hex digits: 128 bits
    checkApiKey('u:q2Vb8sT1xR4mW7nZ0pL9kJ'); // 22 of base64
    assert.ok(secretBits('3a7bd3e2360a3d29eea436fcfb7e44c7') >= 120);
    assert.ok(secretBits('abcdefghijklmnopqrstuvwxyz') < 40, 'a run counts once');
  });

  it('knows loopback names and addresses, the address a request reached, and the listed names; no other Host', () => {
    const names = new Set(parseHostNames('gateway, Gateway.Local  10.1.2.3'));
    assert.deepEqual([...names], ['gateway', 'gateway.local', '10.1.2.3']);
    for (const h of ['localhost', 'localhost:1880', 'LOCALHOST.', 'app.localhost', '127.0.0.1:3233', '127.1.2.3', '[::1]:3233', 'gateway:1880', 'gateway.local', '192.168.1.5:1880']) {
      assert.equal(knownHost(h, '::ffff:192.168.1.5', names), true, h);
    }
    for (const h of ['evil.example', 'evil.example:1880', 'gateway.evil.example', '192.168.1.6', '[::2]', '', undefined, 'a b', 'gateway@evil']) {
      assert.equal(knownHost(h, '192.168.1.5', names), false, String(h));
    }
    assert.throws(() => parseHostNames('gate/way'), /not a host name/);
  });

  it('counts wrong keys per client in a window, a bounded table, an IPv6 client by its /64', () => {
    let now = 0;
    const f = new AuthFailures({ tries: 3, windowMs: 1000, clients: 2, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(f.retryAfter('a'), 0);
      f.failed('a');
    }
    now = 400;
    assert.equal(f.retryAfter('a'), 600);
    now = 1000;
    assert.equal(f.retryAfter('a'), 0, 'a new window');
    f.failed('b');
    f.failed('c');
    f.failed('d');
    assert.equal(f.size, 2);
    assert.equal(AuthFailures.clientOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(AuthFailures.clientOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(AuthFailures.clientOf('::ffff:10.0.0.1'), '10.0.0.1');
  });

  it('answers 421 for a Host it does not know, even when the Origin matches it (a rebound name)', async () => {
    const l = await listenGateway(api({ hosts: ['gateway.test'] }), { host: '127.0.0.1', port: 0 });
    try {
      const p = l.address.port;
      for (const host of [`evil.example:${p}`, 'evil.example', `gateway.test.evil.example:${p}`]) {
        const r = await request(p, '/api/v1/namespaces', { headers: { host, origin: `http://${host}`, authorization: basic(KEY) } });
        assert.equal(r.status, 421, host);
        assert.match(r.json.error, /does not answer for the host .*Misdirected Request.*host names/);
      }
      for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `gateway.test:${p}`]) {
        const r = await request(p, '/api/v1/namespaces', { headers: { host, authorization: basic(KEY) } });
        assert.equal(r.status, 200, host);
      }
    } finally {
      await l.close();
    }
  });

  it('past 10 wrong keys from one client in a minute: 429 with Retry-After, a right key too, other clients unaffected', async () => {
    let now = 1_000_000;
    const l = await listenGateway(api({ authFailures: { now: () => now } }), { host: '127.0.0.1', port: 0 });
    try {
      const p = l.address.port;
      const from = (localAddress, key) => request(p, '/api/v1/namespaces', { localAddress, headers: { host: `127.0.0.1:${p}`, authorization: basic(key) } });
      const statuses = [];
      for (let i = 0; i < 1000; i++) statuses.push((await from('127.0.0.2', `${KEY.split(':')[0]}:guess-${i}`)).status);
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
      assert.deepEqual([...new Set(statuses.slice(10))], [429]);
      const refused = await from('127.0.0.2', KEY);
      assert.equal(refused.status, 429, 'the right key is refused too while the client is locked out');
      assert.equal(refused.headers['retry-after'], '60');
      assert.match(refused.json.error, /Too many requests with a wrong key/);
      assert.equal((await from('127.0.0.3', KEY)).status, 200, 'another client');
      now += 30_000;
      assert.equal((await from('127.0.0.2', KEY)).headers['retry-after'], '30');
      now += 30_000;
      assert.equal((await from('127.0.0.2', KEY)).status, 200, 'the window is over');
      // Requests without any key are not guesses: they do not count.
      for (let i = 0; i < 20; i++) assert.equal((await request(p, '/api/v1/namespaces', { localAddress: '127.0.0.4', headers: { host: `127.0.0.1:${p}` } })).status, 401);
      assert.equal((await from('127.0.0.4', KEY)).status, 200);
    } finally {
      await l.close();
    }
  });
});
