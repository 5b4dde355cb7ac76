'use strict';
// The stem-cell warm-up call (lib/local/http.ts warmUpCall): a POST /warm-up shaped like a /run; it
// keeps the connection for the /init that follows, and a container that answers with an endless or
// missing reply cannot hold it up.

const assert = require('node:assert/strict');
const { warmUpCall, createAgent } = require('../../../dist/lib/local/http');
const { ProxyClient } = require('../../../dist/lib/local/proxy-client');
const { loopbackServer } = require('../../support/loopback-server');

/** A loopback server; `open` is how many connections to it are open now. */
async function server(handler) {
  const s = await loopbackServer(handler);
  return {
    port: s.port,
    get connections() {
      return s.accepted();
    },
    get open() {
      return s.connections.size;
    },
    close: s.stop,
  };
}

describe('stem-cell warm-up call', () => {
  it('POSTs /warm-up with a /run-shaped body, answers true and keeps one connection open (no new connection per call)', async () => {
    const seen = [];
    const s = await server((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
        res.statusCode = 404; // an image without the route: as good as an answer
        res.end('not found');
      });
    });
    const agent = createAgent();
    try {
      for (let i = 0; i < 4; i++) assert.equal(await warmUpCall(agent, '127.0.0.1', s.port, 1000), true);
      assert.equal(seen.length, 4);
      assert.deepEqual(seen[0], {
        method: 'POST',
        url: '/warm-up',
        type: 'application/json',
        body: { value: {}, namespace: '', action_name: '', action_version: '', activation_id: '', transaction_id: '', deadline: '0' },
      });
      assert.equal(s.connections, 1);
      assert.equal(s.open, 1, 'the connection stays open after the last call');
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  it('an endless reply is cut at 4 KB and its connection closed: false, at once', async () => {
    const s = await server((req, res) => {
      const chunk = Buffer.alloc(1024, 'x');
      const t = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(t));
    });
    const agent = createAgent();
    try {
      const t0 = Date.now();
      assert.equal(await warmUpCall(agent, '127.0.0.1', s.port, 5000), false);
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s.open, 0, 'the connection was closed');
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  it('no reply: false after the timeout, connection closed', async () => {
    const s = await server(() => {});
    const agent = createAgent();
    try {
      const t0 = Date.now();
      assert.equal(await warmUpCall(agent, '127.0.0.1', s.port, 200), false);
      const ms = Date.now() - t0;
      assert.ok(ms >= 190 && ms < 1500, `took ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s.open, 0);
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  it('nothing listening: false', async () => {
    const s = await server(() => {});
    const port = s.port;
    await s.close();
    const agent = createAgent();
    assert.equal(await warmUpCall(agent, '127.0.0.1', port, 1000), false);
    agent.destroy();
  });

  it("a container's removal closes its kept-alive connections (a later container may get its address), no one else's", async () => {
    const s1 = await server((req, res) => res.end('ok'));
    const s2 = await server((req, res) => res.end('ok'));
    const agent = createAgent();
    try {
      // A plan as far as the client's log framer reads one.
      const plan = /** @type {import('../../../dist/lib/local/proxy-client').ProtocolPlan} */ ({ maxInflight: 1, limits: { logs: 1 } });
      const io = new ProxyClient(agent, { startTimeout: 1000, logGrace: 50, maxResult: 1024 }, plan);
      io.host = '127.0.0.1';
      io.port = s1.port;
      assert.equal(await warmUpCall(agent, '127.0.0.1', s1.port, 1000), true);
      assert.equal(await warmUpCall(agent, '127.0.0.1', s2.port, 1000), true);
      assert.equal(s1.open, 1);
      io.abortAll('closed');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s1.open, 0, "the removed container's connection is closed");
      assert.equal(s2.open, 1, "another container's stays");
    } finally {
      agent.destroy();
      await s1.close();
      await s2.close();
    }
  });
});
