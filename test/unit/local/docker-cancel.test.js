'use strict';
// A Docker call that gets no answer is cancelled at its bound: while dockerd hangs, the health probe
// (every 2 s) and the other bounded calls leave no request and no connection behind. A stand-in
// engine on a Unix socket accepts every request and never answers; no Docker.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const Docker = require('dockerode');
const { bounded, parseDockerTarget } = require('../../../dist/lib/local/docker');
const { DockerHealth } = require('../../../dist/lib/local/health');
const { Containers } = require('../../../dist/lib/local/registry');
const { sweepLeftovers } = require('../../../dist/lib/local/setup');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

/** An engine that takes each request and never answers; counts the connections still open. */
function hangingDocker(socketPath) {
  const open = new Set();
  const seen = [];
  const server = http.createServer((req) => seen.push(`${req.method} ${req.url.replace(/^\/v[\d.]+/, '').replace(/\?.*/, '')}`));
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(socketPath, () =>
      resolve({
        open,
        seen,
        stop: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      }),
    ),
  );
}

/** Polls until no connection is open, for at most `ms`; returns how many still are. */
async function drained(engine, ms = 2000) {
  const t0 = Date.now();
  while (engine.open.size > 0 && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
  return engine.open.size;
}

describe('local: Docker calls are cancelled at their bound', function () {
  this.timeout(30000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-cancel-'));
  const sock = path.join(dir, 'docker.sock');
  const target = parseDockerTarget(`unix://${sock}`, {});
  let engine;
  beforeEach(async () => {
    engine = await hangingDocker(sock);
  });
  afterEach(() => engine.stop());
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the health probe of a hanging engine says down, then probes on by itself with at most one connection open', async () => {
    const health = new DockerHealth(target, new Docker(target.options));
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, engine.open.size)), 10);
    try {
      assert.equal(await health.reachable(), false, 'unreachable');
      assert.equal(health.current.state, 'down');
      // Down, it pings a second after each failed ping, each bounded at 2 s: the third starts at about 6 s.
      const t0 = Date.now();
      while (engine.seen.length < 3 && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(engine.seen, ['GET /_ping', 'GET /_ping', 'GET /_ping']);
      assert.equal(most, 1, `at most one probe's connection is open at a time (saw ${most})`);
    } finally {
      clearInterval(sample);
      health.close();
    }
    assert.equal(await drained(engine, 3000), 0, `after close, ${engine.open.size} connection(s) of ours are still open`);
  });

  it('the sweeps of leftover and own containers give up at their bound and close their requests', async () => {
    const docker = new Docker(target.options);
    for (let i = 1; i <= 2; i++) {
      await assert.rejects(
        sweepLeftovers(docker, target, 'inst', () => false, 200),
        /did not answer within 200 ms while listing leftover containers/,
      );
      await assert.rejects(new Containers(() => false).sweepOwn(docker, target, 'eng', 200), /did not answer within 200 ms while listing containers/);
      assert.equal(await drained(engine), 0, `round ${i}: ${engine.open.size} connection(s) left open`);
    }
  });

  it('every kind of call the runtime bounds is cancelled there', async () => {
    const docker = new Docker(target.options);
    const c = docker.getContainer('abc');
    // dockerode takes options (abortSignal) in these calls too; its types list none there.
    const withOptions = /** @type {Record<'ping' | 'version' | 'info', (opts: object) => Promise<unknown>>} */ (/** @type {unknown} */ (docker));
    const calls = {
      ping: (abortSignal) => withOptions.ping({ abortSignal }),
      version: (abortSignal) => withOptions.version({ abortSignal }),
      info: (abortSignal) => withOptions.info({ abortSignal }),
      listContainers: (abortSignal) => docker.listContainers({ all: true, abortSignal }),
      listNetworks: (abortSignal) => docker.listNetworks({ filters: { name: ['x'] }, abortSignal }),
      createNetwork: (abortSignal) => docker.createNetwork({ Name: 'x', abortSignal }),
      removeNetwork: (abortSignal) => docker.getNetwork('x').remove({ abortSignal }),
      createContainer: (abortSignal) => docker.createContainer({ name: 'x', Image: 'img', abortSignal }),
      attach: (abortSignal) => c.attach({ stream: true, stdout: true, stderr: true, logs: false, abortSignal }),
      start: (abortSignal) => c.start({ abortSignal }),
      inspect: (abortSignal) => c.inspect({ abortSignal }),
      rename: (abortSignal) => c.rename({ name: 'y', abortSignal }),
      remove: (abortSignal) => c.remove({ force: true, v: true, abortSignal }),
    };
    for (const [name, call] of Object.entries(calls)) {
      await assert.rejects(bounded(call, 150, target, name), (/** @type {OpenWhiskNodeError} */ e) => {
        assert.equal(e.code, 'unreachable');
        assert.match(e.message, new RegExp(`did not answer within 150 ms while ${name}\\. Is dockerd running and healthy\\?`));
        return true;
      });
      assert.equal(await drained(engine), 0, `${name}: ${engine.open.size} connection(s) left open`);
    }
    assert.equal(engine.seen.length, Object.keys(calls).length, `each call reached the engine once: ${engine.seen.join(', ')}`);
  });
});
