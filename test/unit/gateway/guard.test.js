'use strict';
// What the gateway API checks before a request's key: the Host it was meant for (DNS rebinding), the
// client's wrong keys so far (guessing), and at deploy the key's strength. Clocks are injected: no test
// here waits for a window to pass.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { GatewayApi } = require('../../../dist/lib/gateway/api');
const { listenGateway } = require('../../../dist/lib/gateway/listen');
const { ActivationStore } = require('../../../dist/lib/activations/store');
const { AuthFailures, canonicalAddress, checkApiKey, hostName, knownHost, parseHostNames, secretBits } = require('../../../dist/lib/gateway/guard');

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

/** Deterministic bytes: SHA-256 of a label and a counter, as many as asked. */
function bytesOf(label, n) {
  const out = [];
  for (let i = 0; out.length < n; i++) out.push(...crypto.createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.from(out.slice(0, n));
}

/** A secret as the dialog's Generate button makes it: 64 letters and digits, bytes of 248 or more skipped. */
function generated(label) {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let secret = '';
  for (const b of bytesOf(label, 256)) if (b < 248 && secret.length < 64) secret += abc[b % 62];
  return secret;
}

/** One request with exactly these headers (Host included), from `localAddress` if given. */
function request(port, path, /** @type {{ headers?: Record<string, string>, localAddress?: string }} */ { headers = {}, localAddress } = {}) {
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

describe("the gateway API's guards", () => {
  it("refuses weak and published keys at deploy, saying how to make one; takes OpenWhisk's form and 128 random bits", () => {
    for (const weak of [
      'a:b',
      'uuid:short',
      'u:password123',
      'u:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      'u:0123456789abcdef0123456789abcdef01234567',
      'b1a2c3d4-0000-4000-8000-000000000001:tight-key-0123456789',
      '0a0a0a0a-0000-4000-8000-00000000000a:gateway-a-secret-0123456789',
    ]) {
      assert.throws(() => checkApiKey(weak), /too weak to guess at: .* bits, at least 120 .*Generate/, weak);
    }
    assert.throws(
      () => checkApiKey('23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP'),
      /default key published with OpenWhisk/,
    );
    for (const bad of ['', 'nocolon', ':secret', 'u: spaced secret']) assert.throws(() => checkApiKey(bad), /form "uuid:key"/, bad);
    assert.equal(checkApiKey(` ${KEY} `), KEY);
    checkApiKey('u:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'); // openssl rand -hex 32
    checkApiKey('u:3a7bd3e2360a3d29eea436fcfb7e44c7'); // 32 hex digits: 128 bits
    checkApiKey('u:q2Vb8sT1xR4mW7nZ0pL9kJ'); // 22 of base64
    assert.ok(secretBits('3a7bd3e2360a3d29eea436fcfb7e44c7') >= 120);
    assert.ok(secretBits('abcdefghijklmnopqrstuvwxyz') < 40, 'a run counts once');
  });

  it('judges a secret by what a guesser has to try: a repeated word, pair or keyboard row is weak however long it is', () => {
    for (const secret of [
      'password'.repeat(4),
      'ab'.repeat(16),
      'Password1'.repeat(3),
      '0a'.repeat(16),
      'aZ'.repeat(11),
      'qwertyuiop'.repeat(3),
      'passwordpasswordpasswordpassword1',
      'password1password2password3',
      'Zq3'.repeat(22),
      '\u00e9'.repeat(40),
      'abbaabababbbaaababbabaaabbbbabab',
    ]) {
      assert.throws(() => checkApiKey(`x:${secret}`), /too weak to guess at/, secret);
      assert.ok(secretBits(secret) < 80, `${secret}: ${secretBits(secret)}`);
    }
    // The published secrets, whatever the uuid, and secrets built on them.
    const guest = '123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
    const system = 'abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';
    for (const key of [`my-own-uuid:${guest}`, `${crypto.randomUUID()}:${system}`, `u:${guest.slice(0, -1)}p`, `u:${guest}${generated('tail').slice(0, 22)}`]) {
      assert.throws(() => checkApiKey(key), /default key published with OpenWhisk/, key);
    }
    // What Generate makes, OpenWhisk's own form and random hex pass.
    for (let i = 0; i < 500; i++) {
      const secret = generated(`generate-${i}`);
      assert.equal(secret.length, 64);
      assert.ok(secretBits(secret) > 300, secret);
      checkApiKey(`${crypto.randomUUID()}:${secret}`);
      checkApiKey(`u:${bytesOf(`hex64-${i}`, 32).toString('hex')}`);
    }
    // 32 random hex digits are 128 bits, 8 above the floor: chance runs ("aaa", "789") rarely take more.
    let passed = 0;
    for (let i = 0; i < 2000; i++) if (secretBits(bytesOf(`hex32-${i}`, 16).toString('hex')) >= 120) passed++;
    assert.ok(passed >= 1980, `${passed} of 2000`);
  });

  it('knows localhost and loopback addresses, the address a request reached, and the listed names and addresses; no other Host', () => {
    const names = new Set(
      parseHostNames('gateway, Gateway.Local  10.1.2.3 203.0.113.7:1880, FD00:0::7, [2001:db8::0:1]:3233, fe80::1%eth0 ::ffff:198.51.100.4'),
    );
    assert.deepEqual([...names], ['gateway', 'gateway.local', '10.1.2.3', '203.0.113.7', 'fd00::7', '2001:db8::1', 'fe80::1', '198.51.100.4']);
    for (const h of [
      'localhost',
      'localhost:1880',
      'LOCALHOST.',
      '127.0.0.1:3233',
      '127.1.2.3',
      '[::1]:3233',
      'gateway:1880',
      'gateway.local',
      '192.168.1.5:1880',
      '[0:0:0:0:0:0:0:1]',
      '[::ffff:7f00:1]:1880',
      '[::ffff:127.0.0.1]',
      '[::FFFF:192.168.1.5]',
      '127.1',
      '2130706433',
    ]) {
      assert.equal(knownHost(h, '::ffff:192.168.1.5', names), true, h);
    }
    // A listed address answers although the socket reports another one (NAT, port forwarding, a published container port).
    for (const h of [
      '203.0.113.7',
      '203.0.113.7:1880',
      '[::ffff:203.0.113.7]',
      '10.1.2.3',
      '[fd00::0:7]:1880',
      '[2001:DB8:0:0:0:0:0:1]',
      '[fe80::1%25eth0]:1880',
      '[fe80::1]',
      '198.51.100.4',
    ]) {
      assert.equal(knownHost(h, '172.17.0.2', names), true, h);
    }
    for (const h of [
      'evil.example',
      'evil.example:1880',
      'gateway.evil.example',
      '192.168.1.6',
      '[::2]',
      '',
      undefined,
      'a b',
      'gateway@evil',
      'app.localhost',
      'evil.localhost:1880',
      'localhost.evil.example',
      '203.0.113.8',
      '[fe80::2%25eth0]',
      '1.2.3.4.5',
      'gateway.123',
      '127.0.0.1.nip.io',
    ]) {
      assert.equal(knownHost(h, '192.168.1.5', names), false, String(h));
    }
    assert.equal(knownHost('[fe80::5%25eth0]', 'fe80::5%eth0', names), true, 'the address reached, with zone ids on both sides');
    assert.equal(hostName('[::ffff:7f00:1]:1880'), '127.0.0.1');
    assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonicalAddress('gateway'), undefined);
    for (const bad of ['gate/way', 'fe80::zz', 'gateway.123']) assert.throws(() => parseHostNames(bad), /not a host name/, bad);
  });

  it("counts wrong keys per client in a window, a bounded table; IPv6 by address on the gateway's network, by /64 from other sites", () => {
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
    // Another site: its /64, any address of which it may use.
    assert.equal(AuthFailures.clientOf('2001:db8:1:2:3:4:5:6', '2001:db8:9:9::1'), '2001:db8:1:2::/64');
    assert.equal(AuthFailures.clientOf('2001:db8:1:2:aaaa::9', '2001:db8:9:9::1'), '2001:db8:1:2::/64');
    assert.equal(AuthFailures.clientOf('2001:db8::1'), '2001:db8:0:0::/64');
    // The gateway's own /64 (its LAN), link-local and unique-local addresses: each device by itself.
    assert.equal(AuthFailures.clientOf('2001:db8:9:9:3:4:5:6', '2001:db8:9:9::1'), '2001:db8:9:9:3:4:5:6');
    assert.equal(AuthFailures.clientOf('2001:db8:9:9::7', '::ffff:10.0.0.1'), '2001:db8:9:9::/64');
    assert.equal(AuthFailures.clientOf('fe80::2%eth0', 'fe80::1%eth0'), 'fe80::2');
    assert.equal(AuthFailures.clientOf('fd00::1:2', 'fd00::1'), 'fd00::1:2');
    assert.equal(AuthFailures.clientOf('0:0:0:0:0:0:0:1', '::1'), '::1');
    assert.equal(AuthFailures.clientOf('::ffff:10.0.0.1'), '10.0.0.1');
    // One LAN device past its tries locks out itself, not its neighbours; many devices keep the table bounded.
    now = 5000;
    const lan = new AuthFailures({ tries: 3, windowMs: 1000, clients: 100, now: () => now });
    const local = '2001:db8:9:9::1';
    for (let i = 0; i < 3; i++) lan.failed(AuthFailures.clientOf('2001:db8:9:9::66', local));
    assert.ok(lan.retryAfter(AuthFailures.clientOf('2001:db8:9:9::66', local)) > 0);
    assert.equal(lan.retryAfter(AuthFailures.clientOf('2001:db8:9:9::67', local)), 0);
    for (let i = 0; i < 10000; i++) lan.failed(AuthFailures.clientOf(`2001:db8:9:9::${i.toString(16)}:1`, local));
    assert.equal(lan.size, 100);
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

  it('a right key does not wipe the wrong ones: 9 wrong and 1 right, over and over, gets 429 within the minute', async () => {
    let now = 2_000_000;
    const l = await listenGateway(api({ authFailures: { now: () => now } }), { host: '127.0.0.1', port: 0 });
    try {
      const p = l.address.port;
      const from = (key) => request(p, '/api/v1/namespaces', { localAddress: '127.0.0.5', headers: { host: `127.0.0.1:${p}`, authorization: basic(key) } });
      const seen = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 9; i++) seen.push((await from(`${KEY.split(':')[0]}:guess-${round}-${i}`)).status);
        seen.push((await from(KEY)).status);
      }
      assert.deepEqual(seen.slice(0, 10), [...Array(9).fill(401), 200]);
      assert.deepEqual(seen.slice(10, 11), [401], 'the 10th wrong key');
      assert.deepEqual([...new Set(seen.slice(11))], [429], 'then every request, the right key included');
      now += 60_000;
      assert.equal((await from(KEY)).status, 200, 'the window is over');
    } finally {
      await l.close();
    }
  });

  it('past 10 wrong keys from one client in a minute: 429 with Retry-After, a right key too, other clients unaffected', async function () {
    this.timeout(60000); // a thousand requests: seconds on a loaded 2-core machine (nothing here is timed)
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
      for (let i = 0; i < 20; i++)
        assert.equal((await request(p, '/api/v1/namespaces', { localAddress: '127.0.0.4', headers: { host: `127.0.0.1:${p}` } })).status, 401);
      assert.equal((await from('127.0.0.4', KEY)).status, 200);
    } finally {
      await l.close();
    }
  });
});
