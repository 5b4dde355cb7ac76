'use strict';
// The REST client's HTTP layer against loopback servers: a reply over its bound is cut while it
// streams (the server sees its connection closed before it has sent everything), a compressed reply
// is refused without being inflated and none is asked for, the key goes as basic auth, a proxy from
// the environment is used as HTTP_PROXY/NO_PROXY say, and TLS is verified unless the service says
// insecure. No Docker.

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { OpenWhiskRest } = require('../../dist/lib/openwhisk-rest');
const { apiFailure } = require('../../dist/lib/service');
const { loopbackServer } = require('../support/loopback-server');

const doc = (name) => ({
  name,
  namespace: 'guest',
  version: '0.0.1',
  exec: { kind: 'nodejs:20', code: 'function main(p) { return p; }' },
  limits: {},
  annotations: [],
  parameters: [],
});
const MB = 1024 * 1024;
const call = (ms = 10000) => ({ signal: AbortSignal.timeout(ms) });
const failure = (p, host) =>
  p.then(
    () => assert.fail('resolved'),
    (e) => apiFailure(e, "action '/guest/hello'", host),
  );

/** Resolves when `test()` holds, polling; fails after `ms`. */
async function until(test, ms, what) {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Streams `total` bytes of a JSON string in 64 KB writes; `seen` records what the server managed. */
function stream(res, total, seen, declareLength) {
  res.writeHead(200, { 'content-type': 'application/json', ...(declareLength ? { 'content-length': total } : {}) });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  chunk.write('{"name":"x","pad":"');
  let sent = 0;
  res.on('close', () => {
    seen.closed = true;
    seen.finished = res.writableFinished;
  });
  const more = () => {
    while (!res.destroyed && sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      seen.bytes = sent;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
    }
    if (!res.destroyed) res.end();
  };
  more();
}

describe('the REST client over HTTP', function () {
  this.timeout(30000);
  let api;
  let handler;
  let seen;
  before(async () => {
    api = await loopbackServer((req, res) => handler(req, res));
  });
  after(() => api.stop());
  beforeEach(() => {
    seen = { bytes: 0, closed: false, finished: undefined, headers: undefined };
  });

  for (const declareLength of [false, true]) {
    it(`cuts a reply over its bound while it streams${declareLength ? ' (its length declared up front)' : ''}, and the next call works`, async () => {
      const rest = new OpenWhiskRest(api.url, 'uuid:key', false, { code: 4 * MB, other: MB });
      handler = (req, res) => stream(res, 64 * MB, seen, declareLength);
      const err = await failure(rest.getAction('guest', 'hello', false, call()), api.url);
      assert.match(err.message, /sent more than 1 MB in its reply for action '\/guest\/hello'; the reply was dropped/);
      await until(() => seen.closed, 5000, 'the server sees its connection closed');
      assert.equal(seen.finished, false, 'the server never finished its reply');
      assert.ok(seen.bytes < 16 * MB, `the server got ${seen.bytes} bytes out of 64 MB before the close`);
      handler = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc('hello')));
      assert.equal((await rest.getAction('guest', 'hello', false, call())).name, 'hello');
    });
  }

  it('the bound of a fetch with code is the larger one', async () => {
    const rest = new OpenWhiskRest(api.url, 'uuid:key', false, { code: 4 * MB, other: MB });
    const body = JSON.stringify({ ...doc('hello'), exec: { kind: 'nodejs:20', code: 'x'.repeat(2 * MB) } });
    handler = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    assert.equal((await rest.getAction('guest', 'hello', true, call())).exec.code.length, 2 * MB);
    const err = await failure(rest.getAction('guest', 'hello', false, call()), api.url);
    assert.match(err.message, /sent more than 1 MB/);
  });

  it('asks for no compression and refuses a gzip reply without inflating it', async () => {
    const rest = new OpenWhiskRest(api.url, 'uuid:key', false);
    const gz = zlib.gzipSync(JSON.stringify(doc('hello')));
    handler = (req, res) => {
      seen.headers = req.headers;
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length }).end(gz);
    };
    const err = await failure(rest.getAction('guest', 'hello', true, call()), api.url);
    assert.match(err.message, /sent a compressed reply \(not asked for\) for action '\/guest\/hello'; the reply was dropped/);
    assert.equal(seen.headers['accept-encoding'], undefined, 'no Accept-Encoding was sent');
  });

  it('sends the key as basic auth and a body as JSON; an HTTP error keeps its status and body', async () => {
    const rest = new OpenWhiskRest(api.url, 'uuid:key', false);
    let body = '';
    handler = (req, res) => {
      seen.headers = req.headers;
      seen.url = req.url;
      req.on('data', (c) => (body += c));
      req.on('end', () =>
        res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Too many requests in the last minute', code: 'x1' })),
      );
    };
    const err = await rest.invoke('guest', 'hello', { a: 1 }, call()).then(
      () => assert.fail('resolved'),
      (e) => e,
    );
    assert.equal(err.statusCode, 429);
    assert.equal(err.error.error, 'Too many requests in the last minute');
    assert.equal(seen.headers.authorization, `Basic ${Buffer.from('uuid:key').toString('base64')}`);
    assert.match(seen.headers['content-type'], /^application\/json(;|$)/);
    assert.equal(seen.url, '/api/v1/namespaces/guest/actions/hello?blocking=true');
    assert.deepEqual(JSON.parse(body), { a: 1 });
    assert.match(
      apiFailure(err, "action '/guest/hello'", api.url).message,
      /is throttling action '\/guest\/hello' \(429\) \(Too many requests in the last minute\)/,
    );
  });

  describe('a proxy from the environment', () => {
    const saved = {};
    const vars = ['PROXY', 'proxy', 'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
    let proxy;
    beforeEach(async () => {
      for (const v of vars) {
        saved[v] = process.env[v];
        delete process.env[v];
      }
      proxy = await loopbackServer((req, res) => {
        proxy.seen.push({ url: req.url, headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc('via-proxy')));
      });
      proxy.seen = [];
    });
    afterEach(async () => {
      for (const v of vars) {
        if (saved[v] === undefined) delete process.env[v];
        else process.env[v] = saved[v];
      }
      await proxy.stop();
    });

    it('HTTP_PROXY gets the whole URL, with the API host as Host and the proxy credentials', async () => {
      process.env.HTTP_PROXY = `http://someone:s%40cret@127.0.0.1:${proxy.port}`;
      const rest = new OpenWhiskRest('http://openwhisk.test:3233', 'uuid:key', false);
      assert.equal((await rest.getAction('guest', 'hello', false, call())).name, 'via-proxy');
      const [got] = proxy.seen;
      assert.equal(got.url, 'http://openwhisk.test:3233/api/v1/namespaces/guest/actions/hello?code=false');
      assert.equal(got.headers.host, 'openwhisk.test:3233');
      assert.equal(got.headers['proxy-authorization'], `Basic ${Buffer.from('someone:s@cret').toString('base64')}`);
      assert.equal(got.headers.authorization, `Basic ${Buffer.from('uuid:key').toString('base64')}`);
    });

    it('https_proxy (lower case, no scheme) is used too; NO_PROXY matching the API URL goes direct', async () => {
      process.env.https_proxy = `127.0.0.1:${proxy.port}`;
      handler = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc('direct')));
      const rest = new OpenWhiskRest(api.url, 'uuid:key', false);
      assert.equal((await rest.getAction('guest', 'hello', false, call())).name, 'via-proxy');
      process.env.NO_PROXY = `example.org, 127.0.0.1:${api.port}`;
      assert.equal((await rest.getAction('guest', 'hello', false, call())).name, 'direct');
      process.env.NO_PROXY = '.example.org';
      assert.equal((await rest.getAction('guest', 'hello', false, call())).name, 'via-proxy');
      assert.equal(proxy.seen.length, 2);
    });
  });

  describe('TLS', () => {
    let dir;
    let tls;
    before(async function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rest-tls-'));
      try {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-keyout',
            path.join(dir, 'key.pem'),
            '-out',
            path.join(dir, 'cert.pem'),
          ],
          { stdio: 'ignore', timeout: 20000 },
        );
      } catch (e) {
        throw new Error(`this test makes a self-signed certificate with openssl, which failed (${e.message}): install openssl`, { cause: e });
      }
      const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (req, res) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc('tls'))),
      );
      await new Promise((r) => server.listen(0, '127.0.0.1', () => r(null)));
      tls = { server, url: `https://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}` };
    });
    after(async () => {
      tls?.server.closeAllConnections();
      await new Promise((r) => (tls ? tls.server.close(r) : r()));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('an https API host through a proxy: a CONNECT tunnel, so the proxy never sees the key; the certificate is still checked', async () => {
      const http = require('node:http');
      const net = require('node:net');
      const seen = { connects: [], bytes: [] };
      const proxy = http.createServer((req, res) => res.writeHead(502).end('no forwarding here'));
      const tunnels = [];
      proxy.on('connect', (req, client, head) => {
        tunnels.push(client);
        seen.connects.push({ url: req.url, auth: req.headers['proxy-authorization'] });
        const [host, port] = [req.url.slice(0, req.url.lastIndexOf(':')), Number(req.url.slice(req.url.lastIndexOf(':') + 1))];
        const upstream = net.connect(port, host, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) upstream.write(head);
          client.on('data', (b) => seen.bytes.push(b));
          client.pipe(upstream);
          upstream.pipe(client);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      await new Promise((r) => proxy.listen(0, '127.0.0.1', () => r(null)));
      const saved = process.env.HTTPS_PROXY;
      process.env.HTTPS_PROXY = `http://someone:pw@127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (proxy.address()).port}`;
      try {
        const err = await failure(new OpenWhiskRest(tls.url, 'uuid:tunnelkey', false).getAction('guest', 'hello', false, call()), tls.url);
        assert.match(err.message, /self[- ]signed certificate/, 'TLS is verified end to end, through the tunnel');
        assert.equal((await new OpenWhiskRest(tls.url, 'uuid:tunnelkey', true).getAction('guest', 'hello', false, call())).name, 'tls');
        const port = new URL(tls.url).port;
        assert.ok(seen.connects.length >= 1);
        for (const c of seen.connects) {
          assert.equal(c.url, `127.0.0.1:${port}`);
          assert.equal(c.auth, `Basic ${Buffer.from('someone:pw').toString('base64')}`);
        }
        const relayed = Buffer.concat(seen.bytes);
        assert.ok(relayed.length > 0);
        assert.equal(relayed.includes(Buffer.from('uuid:tunnelkey').toString('base64')), false, 'the key is not readable by the proxy');
        assert.equal(relayed.includes('/api/v1/'), false, 'nor the path');
      } finally {
        if (saved === undefined) delete process.env.HTTPS_PROXY;
        else process.env.HTTPS_PROXY = saved;
        for (const t of tunnels) t.destroy(); // kept alive by the client's agent
        await new Promise((r) => proxy.close(r));
      }
    });

    it('refuses a self-signed certificate, and takes it when the service is insecure', async () => {
      const err = await failure(new OpenWhiskRest(tls.url, 'uuid:key', false).getAction('guest', 'hello', false, call()), tls.url);
      assert.match(err.message, /Cannot reach the OpenWhisk API at https:\/\/127\.0\.0\.1:\d+ for action '\/guest\/hello': self[- ]signed certificate/);
      assert.equal((await new OpenWhiskRest(tls.url, 'uuid:key', true).getAction('guest', 'hello', false, call())).name, 'tls');
    });
  });
});
