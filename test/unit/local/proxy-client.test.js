'use strict';
// The action proxy's protocol client (lib/local/proxy-client.ts) on its own, against a loopback
// server: given an address, an agent and limits it probes, sends /init and /run and returns what
// happened; what a dropped connection means is left to its caller (the container).

const assert = require('node:assert/strict');
const { ProxyClient } = require('../../../dist/lib/local/proxy-client');
const { createAgent } = require('../../../dist/lib/local/http');
const { loopbackServer } = require('../../support/loopback-server');
const { containerPlan } = require('../../support/container-plan');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const LIMITS = { startTimeout: 1000, logGrace: 20, maxResult: 1 << 20 };

function plan() {
  return containerPlan({ namespace: 'guest', name: 'echo', exec: { kind: 'nodejs:20', code: 'function main(a) { return a }' } });
}

describe('proxy client (readiness probe, POST /init, POST /run; no container object)', () => {
  let server;
  let agent;
  let answer;
  before(async () => {
    server = await loopbackServer((req, res) => {
      req.resume();
      req.on('end', () => answer(req, res));
    });
  });
  after(() => server.stop());
  beforeEach(() => (agent = createAgent()));
  afterEach(() => agent.destroy());

  function client(port = server.port) {
    const c = new ProxyClient(agent, LIMITS, plan());
    c.host = '127.0.0.1';
    c.port = port;
    return c;
  }

  it('probeReady: true once the proxy answers HTTP', async () => {
    answer = (req, res) => res.end('{}');
    assert.equal(await client().probeReady(Date.now() + 1000), true);
  });

  it("postInit: its duration on HTTP 200; the action's own message on another status; `dropped` when the connection breaks", async () => {
    answer = (req, res) => res.end('{"ok":true}');
    const ok = await client().postInit(plan(), 'container c1');
    assert.ok('ms' in ok, 'not dropped');
    assert.equal(typeof ok.ms, 'number');
    answer = (req, res) => {
      res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'SyntaxError: Unexpected token' }));
    };
    await assert.rejects(
      client().postInit(plan(), 'container c1'),
      (/** @type {OpenWhiskNodeError} */ e) =>
        e.code === 'developer_error' && /failed to initialize \(HTTP 502\): SyntaxError: Unexpected token/.test(e.message),
    );
    answer = (req) => req.socket.destroy();
    assert.deepEqual(await client().postInit(plan(), 'container c1'), { dropped: true });
    const err = await client().initDropped(plan(), true);
    assert.match(err.message, /failed to initialize: The action exhausted its memory and was aborted\./);
  });

  it('postRun: the reply, or the failure; never rejects', async () => {
    answer = (req, res) => res.end('{"echo":1}');
    const ok = await client().postRun(JSON.stringify({ value: {} }), 1000);
    assert.equal(ok.reply.status, 200);
    assert.equal(ok.failure, undefined);
    answer = (req) => req.socket.destroy();
    const dropped = await client().postRun(JSON.stringify({ value: {} }), 1000);
    assert.equal(dropped.reply, undefined);
    assert.equal(dropped.failure, 'dropped');
  });

  it('postRun asks for sentinels only when the run wrote; a reply saying none owes none, so the next run gets its own lines', async () => {
    const c = client();
    const S = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
    const asked = [];
    answer = (req, res) => {
      asked.push(req.headers['x-leon-sentinels']);
      res.writeHead(200, { 'X-Leon-Log-Bytes': '0', 'X-Leon-Sentinels': 'none' });
      res.end('{}');
    };
    const quiet = await c.postRun(JSON.stringify({ value: {} }), 1000);
    assert.deepEqual(quiet.logs, []);
    answer = (req, res) => {
      asked.push(req.headers['x-leon-sentinels']);
      c.sinks.stdout.write(`hello\n${S}\n`);
      c.sinks.stderr.write(`${S}\n`);
      res.writeHead(200, { 'X-Leon-Log-Bytes': '6' });
      res.end('{}');
    };
    const loud = await c.postRun(JSON.stringify({ value: {} }), 1000);
    assert.deepEqual(asked, ['if-written', 'if-written']);
    assert.equal(loud.logs.length, 1);
    assert.match(loud.logs[0], / stdout: hello$/);
  });
});
