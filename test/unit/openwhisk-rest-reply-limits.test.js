'use strict';
// What an API host sends back is bounded: a reply that never ends, or a small gzip body that would
// inflate to gigabytes, is dropped with an error that names the host and the entity, memory stays
// flat, and the next call works. The REST client against loopback HTTP servers; no Docker.

const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { OpenWhiskService } = require('../../dist/lib/service');
const { OpenWhiskRest, REPLY_LIMITS } = require('../../dist/lib/openwhisk-rest');
const { loopbackServer } = require('../support/loopback-server');
/** @typedef {import('../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const action = (name, extra = {}) => ({
  name,
  namespace: 'guest',
  version: '0.0.1',
  exec: { kind: 'nodejs:20', ...extra },
  limits: {},
  annotations: [],
  parameters: [],
});

/** A loopback API host; `reply(req, res)` decides what each request gets. */
const host = loopbackServer;

/** Writes JSON-looking bytes until the client goes away; counts what it managed to send. */
function endless(res, counter) {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  res.write('{"name":"x","pad":"');
  const more = () => {
    while (!res.destroyed && res.write(chunk)) counter.bytes += chunk.length;
    if (!res.destroyed) res.once('drain', more);
  };
  res.on('close', () => (counter.closed = true));
  more();
}

describe('replies from the API host are bounded', function () {
  this.timeout(30000);
  let api;
  let mode;
  const counter = { bytes: 0, closed: false };

  // 64 MB of spaces in a ~64 KB gzip body, said to be JSON (made before any memory is measured).
  const bomb = zlib.gzipSync(Buffer.concat([Buffer.from('{"name":"x","pad":"'), Buffer.alloc(64 * 1024 * 1024, 0x20), Buffer.from('"}')]));

  before(async () => {
    api = await host((req, res) => {
      const m = mode;
      if (m === 'endless') return endless(res, counter);
      if (m === 'gzip-bomb') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length });
        return res.end(bomb);
      }
      if (m === 'big') {
        // 10 MB: under the limit for one reply, over it for two on one connection.
        const body = JSON.stringify(action('hello', { code: 'x'.repeat(10 * 1024 * 1024) }));
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(body);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(action('hello', { code: 'function main(p) { return p; }' })));
    });
  });
  after(() => api.stop());

  it('drops a reply that never ends at the limit, names the host and the action, and the next call works', async () => {
    const svc = new OpenWhiskService({ api: api.url, key: 'uuid:key', timeouts: { requestMs: 20000 } });
    mode = 'endless';
    const before = process.memoryUsage().rss;
    const err = await svc.getAction({ namespace: 'guest', name: 'hello' }, false).then(
      () => assert.fail('resolved'),
      (e) => e,
    );
    assert.match(err.message, /OpenWhisk at http:\/\/127\.0\.0\.1:\d+ sent more than 16 MB in its reply for action '\/guest\/hello'; the reply was dropped/);
    assert.match(err.message, /openwhisk-service config node/);
    assert.equal(err.short, 'bad reply');
    // The server saw its connection closed, having sent about the limit (kernel buffers aside).
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(counter.closed, 'the connection is closed');
    assert.ok(counter.bytes < REPLY_LIMITS.other + 8 * 1024 * 1024, `sent ${counter.bytes} bytes`);
    assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024, 'memory stayed bounded');
    mode = 'ok';
    const doc = await svc.getAction({ namespace: 'guest', name: 'hello' }, false);
    assert.equal(doc.name, 'hello');
  });

  it('refuses a compressed reply it did not ask for (no inflating of a gzip bomb)', async () => {
    const svc = new OpenWhiskService({ api: api.url, key: 'uuid:key', timeouts: { requestMs: 20000 } });
    mode = 'gzip-bomb';
    const before = process.memoryUsage().rss;
    const err = await svc.getAction({ namespace: 'guest', name: 'hello' }, true).then(
      () => assert.fail('resolved'),
      (e) => e,
    );
    assert.match(err.message, /sent a compressed reply \(not asked for\) for action '\/guest\/hello'; the reply was dropped/);
    assert.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'nothing was inflated');
    mode = 'ok';
    assert.equal((await svc.getAction({ namespace: 'guest', name: 'hello' }, true)).exec.code, 'function main(p) { return p; }');
  });

  it('counts each reply on a kept-alive connection on its own', async () => {
    const rest = new OpenWhiskRest(api.url, 'uuid:key', false, { code: 16 * 1024 * 1024, other: 1024 });
    mode = 'big';
    const call = () => rest.getAction('guest', 'hello', true, { signal: AbortSignal.timeout(20000) });
    const before = api.accepted();
    assert.equal((await call()).exec.code.length, 10 * 1024 * 1024);
    assert.equal((await call()).exec.code.length, 10 * 1024 * 1024);
    assert.equal(api.accepted() - before, 1, 'both replies came on one connection');
    // The small limit applies to the calls without code.
    await assert.rejects(rest.listActions('guest', 10, { signal: AbortSignal.timeout(20000) }), (/** @type {OpenWhiskNodeError} */ e) => {
      assert.equal(e.reason, 'size');
      return true;
    });
  });

  it('is not fooled by an informational head without a reason phrase, bytes on an idle socket, or XML', async () => {
    const net = require('node:net');
    const small = zlib.gzipSync(Buffer.from(JSON.stringify(action('hello'))));
    let step = 0;
    const socks = new Set();
    const raw = net.createServer((sock) => {
      socks.add(sock);
      sock.on('data', () => {
        step++;
        if (step === 1) {
          // 100 with no reason phrase, then a gzip reply.
          sock.write(
            `HTTP/1.1 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${small.length}\r\n\r\n`,
          );
          sock.write(small);
        } else if (step === 2) {
          const body = JSON.stringify(action('hello'));
          sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
          // A head sent while the socket sits idle in the pool.
          setTimeout(() => sock.write('HTTP/1.1 200 OK\r\n\r\n'), 50);
        } else if (step === 3) {
          sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${small.length}\r\n\r\n`);
          sock.write(small);
        } else {
          const body = '<a/>'.repeat(512 * 1024);
          sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise((r) => raw.listen(0, '127.0.0.1', () => r(null)));
    try {
      const svc = new OpenWhiskService({
        api: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (raw.address()).port}`,
        key: 'uuid:key',
        timeouts: { requestMs: 5000 },
      });
      const get = () =>
        svc.getAction({ namespace: 'guest', name: 'hello' }, false).then(
          () => 'resolved',
          (e) => e.message,
        );
      assert.match(await get(), /sent a compressed reply \(not asked for\)/);
      assert.equal(await get(), 'resolved');
      await new Promise((r) => setTimeout(r, 150));
      assert.match(await get(), /sent a compressed reply \(not asked for\)/);
      const before = process.memoryUsage().rss;
      assert.match(await get(), /answered the request for action '\/guest\/hello' with something else/);
      assert.ok(process.memoryUsage().rss - before < 60 * 1024 * 1024, 'XML was not parsed into objects');
    } finally {
      for (const sock of socks) sock.destroy();
      await new Promise((r) => raw.close(r));
    }
  });

  it('closes a kept-alive connection to the API host once it has been idle (a host that never closes holds no socket)', async () => {
    const rest = new OpenWhiskRest(api.url, 'uuid:key', false, { code: 16 * 1024 * 1024, other: 1024 * 1024, idleMs: 300 });
    mode = 'ok';
    const before = api.connections.size;
    await rest.getAction('guest', 'hello', false, { signal: AbortSignal.timeout(5000) });
    assert.equal(api.connections.size, before + 1, 'kept alive after the reply');
    const t0 = Date.now();
    while (api.connections.size > before && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(api.connections.size, before, 'closed after being idle');
    assert.ok(Date.now() - t0 >= 200, 'not before its idle time');
  });
});
