'use strict';
// What the package reads from untrusted containers and hosts is bounded: log lines, output between
// activations, error quotes, /init and /run replies, action limits from a catalog, and settings
// that would hand the gateway's network to action code. Plain Node, loopback servers, no Docker.

const assert = require('node:assert/strict');
const http = require('node:http');
const { LogFramer, MAX_LINE_CHARS } = require('../../dist/lib/local/logs');
const { postJson, createAgent } = require('../../dist/lib/local/http');
const { effectiveLimits, Messages } = require('../../dist/lib/local/protocol');
const { LocalEngine, checkNetwork, cpuShares } = require('../../dist/lib/local/engine');
const { activationFailure } = require('../../dist/lib/errors');
/** @typedef {import('../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const S = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const MiB = 1024 * 1024;

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: /** @type {import('node:net').AddressInfo} */ (server.address()).port })),
  );
}

describe('bounds: log lines', () => {
  const framer = () => new LogFramer({ framed: true, limitBytes: 10 * MiB, now: () => 0 });

  it(`keeps the first ${MAX_LINE_CHARS} characters of a long line and says how many more there were`, () => {
    const f = framer();
    const frame = f.begin();
    const block = 'a'.repeat(64 * 1024);
    for (let i = 0; i < 64; i++) f.stdout.write(Buffer.from(block)); // 4 MiB, no newline
    f.stdout.write('\nnext\n');
    f.stdout.write(`${S}\n`);
    f.stderr.write(`${S}\n`);
    const lines = frame.settle(10);
    assert.ok(Array.isArray(lines), 'settled at once: both sentinels are in');
    assert.equal(lines.length, 2);
    assert.ok(lines[0].length < MAX_LINE_CHARS + 100, `line kept at ${lines[0].length} characters`);
    assert.match(lines[0], new RegExp(`line truncated: ${4 * MiB - MAX_LINE_CHARS} more characters\\)$`));
    assert.match(lines[1], /stdout: next$/);
  });

  it('recognises the sentinel at the end of a line too long to keep', () => {
    const f = framer();
    const frame = f.begin();
    f.stdout.write('b'.repeat(3 * MAX_LINE_CHARS));
    f.stdout.write(`${S.slice(0, 10)}`); // the sentinel split across chunks
    f.stdout.write(`${S.slice(10)}\n`);
    f.stderr.write(`${S}\n`);
    assert.equal(frame.done, true, 'both sentinels seen');
    assert.equal(frame.lines.length, 1);
    assert.ok(!frame.lines[0].includes('XXX_THE_END'));
  });

  it('recognises a sentinel that straddles the 16 KiB cut, and frames the next activation normally', () => {
    for (const k of [1, 10, 36]) {
      const f = framer();
      const frame = f.begin();
      f.stdout.write('d'.repeat(MAX_LINE_CHARS - k));
      f.stdout.write(`${S}\n`);
      f.stderr.write(`${S}\n`);
      assert.equal(frame.done, true, `k=${k}: both sentinels seen`);
      assert.deepEqual(
        frame.lines.map((l) => l.length - l.indexOf(': ') - 2),
        [MAX_LINE_CHARS - k],
      );
      const next = f.begin();
      f.stdout.write(`second\n${S}\n`);
      f.stderr.write(`${S}\n`);
      assert.equal(next.done, true);
      assert.match(next.lines[0], /stdout: second$/);
    }
  });

  it('holds at most about 1 MB of output written between activations', () => {
    const f = framer();
    const line = 'c'.repeat(10000);
    for (let i = 0; i < 500; i++) f.stdout.write(`${line}\n`); // 5 MB while no activation runs
    const frame = f.begin();
    const chars = frame.lines.reduce((n, l) => n + l.length, 0);
    assert.ok(chars <= MiB + 20000, `carried ${chars} characters`);
    assert.ok(frame.lines.length > 50, 'the latest lines are kept');
  });

  it('quotes at most 30 lines and 4 KB of recent output for error messages', () => {
    const f = framer();
    for (let i = 0; i < 100; i++) f.stderr.write(`${'e'.repeat(2000)} ${i}\n`);
    const tail = f.tail(30, 4096);
    assert.ok(tail.join('\n').length <= 4096);
    assert.ok(tail.length >= 1 && tail.length <= 30);
    assert.ok(
      tail.every((l) => l.length <= 520),
      'each quoted line is clipped',
    );
    for (let i = 0; i < 100; i++) f.stderr.write(`short ${i}\n`);
    assert.equal(f.tail(30, 4096).length, 30);
  });
});

describe('bounds: results nested too deep for Node-RED to copy', () => {
  const { mapRunResponse } = require('../../dist/lib/local/protocol');
  const { nestedDeeperThan, MAX_RESULT_DEPTH } = require('../../dist/lib/params');
  const deep = (n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

  it('maps a reply nested past the limit to a developer error, and keeps one at the limit', () => {
    const r = mapRunResponse(200, deep(10000));
    assert.equal(r.status, 'action developer error');
    assert.match(/** @type {{ error: string }} */ (r.result).error, /nested more than 200 levels deep/);
    assert.equal(mapRunResponse(200, deep(MAX_RESULT_DEPTH)).status, 'success');
    assert.equal(nestedDeeperThan([[[[1]]]], 3), true);
    assert.equal(nestedDeeperThan([[[1]]], 3), false);
  });

  it('a deep error object still gives a short error text (no recursion)', () => {
    /** @type {object} */
    let e = { message: 'bottom' };
    for (let i = 0; i < 150; i++) e = { error: e };
    // A record as far as activationFailure reads one (its response and annotations).
    const failed = /** @type {import('../../dist/lib/types').Activation} */ ({
      response: { status: 'application error', success: false, result: { error: e } },
      annotations: [],
    });
    const err = activationFailure(failed, '/guest/x');
    assert.ok(err.message.length < 4200);
  });
});

describe('bounds: error messages', () => {
  it("clip an action's huge error result to a few KB", () => {
    const activation = /** @type {import('../../dist/lib/types').Activation} */ ({
      response: { status: 'application error', success: false, result: { error: 'x'.repeat(MiB) } },
      annotations: [],
    });
    const err = activationFailure(activation, '/guest/big');
    assert.ok(err.message.length < 4200, `${err.message.length} characters`);
    assert.match(err.message, /more characters\)$/);
    assert.equal(/** @type {{ error: string }} */ (err.activation.response.result).error.length, MiB, 'the activation record keeps the result');
  });
});

describe('bounds: replies from a container (postJson)', () => {
  let srv;
  const agent = createAgent();
  before(async () => {
    srv = await listen((req, res) => {
      req.resume();
      if (req.url === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const block = Buffer.alloc(64 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 64 * MiB) {
            sent += block.length;
            if (!res.write(block)) return res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (sent = Infinity));
        pump();
      } else if (req.url === '/declared') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 1024 * MiB });
        res.write('{"x":"'); // and never the rest
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: 'é'.repeat(1000) }));
      }
    });
  });
  after(() => {
    agent.destroy();
    srv.server.closeAllConnections();
    srv.server.close();
  });

  it('stops reading a chunked reply as soon as it passes the limit', async () => {
    const err = await postJson(agent, '127.0.0.1', srv.port, '/chunked', '{}', 10000, undefined, MiB).then(
      () => assert.fail('resolved'),
      (e) => e,
    );
    assert.equal(err.kind, 'too_large');
    assert.ok(err.oversize.length > MiB && err.oversize.length <= MiB + 64 * 1024, `read ${err.oversize.length}`);
    assert.equal(err.oversize.limit, MiB);
    assert.ok(err.oversize.head.length <= 256 && err.oversize.head.startsWith('aaa'));
  });

  it('refuses a declared Content-Length over the limit without waiting for the body', async () => {
    const t0 = Date.now();
    const err = await postJson(agent, '127.0.0.1', srv.port, '/declared', '{}', 10000, undefined, MiB).then(
      () => assert.fail('resolved'),
      (e) => e,
    );
    assert.equal(err.kind, 'too_large');
    assert.equal(err.oversize.length, 1024 * MiB);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(
      Messages.truncatedResponse(err.oversize.length, err.oversize.limit, ''),
      'The action produced a response that exceeded the allowed length: 1073741824 > 1048576 bytes.',
    );
  });

  it('reads a reply under the limit whole, multi-byte characters intact', async () => {
    const reply = await postJson(agent, '127.0.0.1', srv.port, '/small', '{}', 10000, undefined, MiB);
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).ok, 'é'.repeat(1000));
  });
});

describe('bounds: action limits from a catalog are clamped to OpenWhisk ranges', () => {
  it('clamps timeout, memory, logs and concurrency', () => {
    assert.deepEqual(effectiveLimits({ timeout: 2 ** 31 + 5, memory: 1e6, logs: 1000, concurrency: 1e9 }), {
      timeout: 300000,
      memory: 512,
      logs: 10,
      concurrency: 500,
    });
    assert.deepEqual(effectiveLimits({ timeout: 1, memory: 4, logs: 0, concurrency: 1 }), { timeout: 100, memory: 128, logs: 0, concurrency: 1 });
    assert.deepEqual(effectiveLimits({ timeout: Infinity, memory: NaN, logs: -1 }), { timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
  });
});

describe('bounds: container settings', () => {
  it('gives CPU shares proportional to memory, a full runtime of 256 MB containers weighing 1024', () => {
    assert.equal(cpuShares(256, 4), 256);
    assert.equal(cpuShares(512, 4), 512);
    assert.equal(cpuShares(128, 1), 512);
    assert.equal(cpuShares(128, 1000), 2, "Docker's minimum");
    assert.equal(cpuShares(512, 1), 1024, 'never more than a whole share');
  });

  it('refuses Docker networks that would share another namespace with action code', () => {
    for (const bad of ['host', 'none', 'container:nodered', 'Container:abc', 'bad name', '-x']) {
      assert.throws(
        () => checkNetwork(bad),
        (/** @type {OpenWhiskNodeError} */ e) => e.code === 'config' && e.short === 'bad network',
        bad,
      );
    }
    assert.equal(checkNetwork(' leon-net '), 'leon-net');
    assert.equal(checkNetwork(''), '');
    assert.throws(() => new LocalEngine({ instanceId: 'x', runtimeId: 'r', network: 'host' }), /'host' would give untrusted action code/);
  });

  it('never publishes action ports on a remote engine host unless the runtime allows it', async () => {
    assert.throws(
      () => new LocalEngine({ instanceId: 'x', runtimeId: 'r', docker: 'tcp://10.0.0.5:2375' }),
      (/** @type {OpenWhiskNodeError} */ e) => e.code === 'config' && e.short === 'remote docker' && /unencrypted/.test(e.message),
    );
    const withNet = new LocalEngine({ instanceId: 'x', runtimeId: 'r', docker: 'tcp://10.0.0.5:2375', network: 'leon' });
    const allowed = new LocalEngine({ instanceId: 'x', runtimeId: 'r', docker: 'tcp://10.0.0.5:2375', publishRemote: true });
    const local = new LocalEngine({ instanceId: 'x', runtimeId: 'r', docker: 'tcp://127.0.0.1:2375' });
    await Promise.all([withNet.close(), allowed.close(), local.close()]);
  });
});

describe('bounds: a cloud result nested too deep', () => {
  const { startOpenWhiskServer } = require('../support/openwhisk-server');
  const { OpenWhiskService } = require('../../dist/lib/service');
  const { CloudInvoker } = require('../../dist/lib/cloud');

  it('fails as a developer error with the activation kept, instead of reaching Node-RED', async () => {
    const ow = await startOpenWhiskServer();
    try {
      ow.putAction('guest', 'deep', {
        exec: { kind: 'nodejs:20', code: 'function main() { let o = {}; for (let i = 0; i < 1000; i++) o = { a: o }; return o; }' },
      });
      const inv = new CloudInvoker(new OpenWhiskService({ api: ow.url, key: ow.key('guest') }));
      const err = await inv.invoke({}, { namespace: 'guest', name: 'deep' }).then(
        () => assert.fail('resolved'),
        (e) => e,
      );
      assert.equal(err.code, 'developer_error');
      assert.match(err.message, /nested more than 200 levels deep/);
      assert.match(err.activation.activationId, /^[0-9a-f]{32}$/);
    } finally {
      await ow.stop();
    }
  });
});
