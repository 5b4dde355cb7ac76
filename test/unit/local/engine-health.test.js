'use strict';
// The local runtime's view of the Docker engine (LocalEngine.health and its 'health' event) and the
// "no room" errors, without Docker: a stand-in engine answers on a Unix socket, or is absent.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { LocalEngine } = require('../../../dist/lib/local/engine');
const { translateDockerError, parseDockerTarget, noRoom } = require('../../../dist/lib/local/docker');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A stand-in Docker engine on a Unix socket: ping, version, info, an empty container list, the isolation network. */
function fakeDocker(socketPath) {
  const server = http.createServer((req, res) => {
    const url = req.url.replace(/^\/v[\d.]+/, '');
    const json = (o) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    if (url.startsWith('/_ping')) return res.end('OK');
    if (url.startsWith('/version')) return json({ Os: 'linux', Arch: 'amd64', ApiVersion: '1.41' });
    if (url.startsWith('/info')) return json({ LiveRestoreEnabled: false });
    if (url.startsWith('/containers/json')) return json([]);
    if (url.startsWith('/networks') && req.method === 'GET') {
      return json([{ Name: 'leon-openwhisk-isolated', Options: { 'com.docker.network.bridge.enable_icc': 'false' } }]);
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ message: 'not in this stand-in' }));
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

describe('local: engine health and "no room" errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-health-'));
  const sock = path.join(dir, 'docker.sock');
  const engines = [];
  after(async () => {
    await Promise.all(engines.map((e) => e.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('no room on the Docker host → code docker, a short status text and what to do', () => {
    const t = parseDockerTarget('', {});
    const daemon = (message) => Object.assign(new Error(`(HTTP code 500) server error - ${message}`), { statusCode: 500, json: { message } });
    const disk = translateDockerError(
      daemon('mkdir /var/lib/docker/overlay2/0a1b-init: no space left on device'),
      t,
      "creating a container for /guest/x from image 'img'",
    );
    assert.equal(disk.code, 'docker');
    assert.equal(disk.short, 'docker: disk full');
    assert.match(
      disk.message,
      /has no disk space left: Docker refused creating a container for \/guest\/x .*no space left on device\. Free disk space .*docker system prune/s,
    );
    const mem = translateDockerError(
      daemon(
        'failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: fork/exec /proc/self/exe: cannot allocate memory: unknown',
      ),
      t,
      'starting container leon_x',
    );
    assert.equal(mem.short, 'docker: no memory');
    assert.match(mem.message, /is out of memory: .*cannot allocate memory.*Lower the runtime's capacity or the actions' memory limits/s);
    assert.equal(noRoom('fork/exec /usr/bin/runc: resource temporarily unavailable').short, 'docker: no room');
    assert.equal(noRoom('No such image: x'), undefined);
    assert.equal(translateDockerError(daemon('No such image: x'), t, 'x').short, 'docker error');
  });

  it('engine absent → health down (event), messages get "Cannot reach … Is dockerd running?"; back → ok by itself', async function () {
    this.timeout(15000);
    const e = new LocalEngine({ instanceId: 'unit-health', runtimeId: 'rt', docker: `unix://${sock}` });
    engines.push(e);
    const seen = [];
    e.on('health', (h) => seen.push(h));
    assert.equal(e.health.state, 'ok', 'optimistic until Docker has been asked');
    const err = await e.start().then(
      () => assert.fail('start should fail'),
      (x) => x,
    );
    assert.equal(err.code, 'unreachable');
    assert.equal(e.health.state, 'down');
    assert.equal(e.health.short, 'docker unreachable');
    assert.match(
      e.health.message,
      new RegExp(`^Cannot reach the Docker engine at unix://${sock.replace(/[/.]/g, '\\$&')}.*Is dockerd running\\?.*reconnects by itself`, 's'),
    );
    assert.deepEqual(
      seen.map((h) => h.state),
      ['down'],
    );
    assert.match(e.downError.message, /Is dockerd running\?/);

    const server = await fakeDocker(sock);
    try {
      const t0 = Date.now();
      while (e.health.state !== 'ok' && Date.now() - t0 < 5000) await sleep(50);
      assert.equal(e.health.state, 'ok', 'the probe found the engine back within seconds');
      assert.deepEqual(
        seen.map((h) => h.state),
        ['down', 'ok'],
      );
      assert.equal(e.downError, undefined);
      await e.start(); // and start() now works without a new engine
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
