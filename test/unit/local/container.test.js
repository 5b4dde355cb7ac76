'use strict';
// An action container's lifecycle states (lib/local/container.ts) without Docker: a fake Docker API
// (create / attach / start / inspect / remove) and a real HTTP server on loopback as the action
// proxy. Checks that Docker's and the proxy's answers move a container along its states (the table
// itself: container-states.test.js), and that its watcher (the pool, or the stem cells) is told what
// happened on its own.

const assert = require('node:assert/strict');
const http = require('node:http');
const { PassThrough } = require('node:stream');
const { ActionContainer, takesWork } = require('../../../dist/lib/local/container');
const { containerPlan } = require('../../support/container-plan');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** The action proxy: /init and /run answer `status` (200 unless the test says otherwise). */
async function proxy() {
  const p = { status: 200, inits: 0, runs: 0 };
  p.server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/init') p.inits++;
      if (req.url === '/init' && p.dropInit) return req.socket.destroy();
      if (req.url === '/run') p.runs++;
      res.writeHead(p.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(p.status === 200 ? { ok: true } : { error: 'broken' }));
    });
  });
  await new Promise((r) => p.server.listen(0, '127.0.0.1', r));
  p.port = p.server.address().port;
  return p;
}

/** A fake engine: what Docker answers is in `docker` (running, reachable, removal failing, port taken once). */
function fakeEnv(port, opts = {}) {
  const docker = { running: true, reachable: true, removeFails: false, portTakenOnce: false, streams: [], removed: [], failedRemovals: 0, ids: 0 };
  const api = {
    createContainer: async () => ({ id: `x${++docker.ids}` }),
    getContainer: (id) => ({
      attach: async () => {
        const s = new PassThrough();
        docker.streams.push(s);
        return s;
      },
      start: async () => {
        if (docker.ambiguousOnce) {
          docker.ambiguousOnce = false;
          throw Object.assign(new Error('(HTTP code 500) server error - network leon-openwhisk-isolated is ambiguous (2 matches found on name)'), {
            statusCode: 500,
            json: { message: 'network leon-openwhisk-isolated is ambiguous (2 matches found on name)' },
          });
        }
        if (docker.portTakenOnce) {
          docker.portTakenOnce = false;
          throw Object.assign(new Error('Bind for 127.0.0.1:0 failed: port is already allocated'), { statusCode: 500 });
        }
      },
      inspect: async () => ({
        State: { Running: docker.running, OOMKilled: docker.oom === true, ExitCode: docker.running ? 0 : 1 },
        NetworkSettings: { Ports: { '8080/tcp': [{ HostPort: String(port) }] } },
      }),
      remove: async () => {
        if (docker.removeFails) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        docker.removed.push(id);
      },
      rename: async () => undefined,
    }),
    modem: { demuxStream: (stream, out) => stream.on('data', (d) => out.write(d)) },
  };
  /** @type {import('../../../dist/lib/local/container-setup').ContainerEnv} */
  const env = {
    docker: {
      // The Docker API as far as a container calls it.
      api: /** @type {import('dockerode')} */ (/** @type {unknown} */ (api)),
      target: { description: 'fake engine', options: {} },
      agent: new http.Agent({ keepAlive: false }),
      network: '',
      isolationNetwork: '',
      renewIsolation: async () => {},
      publishIp: '127.0.0.1',
      connectHost: '127.0.0.1',
      liveRestore: opts.liveRestore ?? false,
    },
    health: {
      downError: undefined,
      reachable: async () => docker.reachable,
      noteFailure: () => undefined,
      noteSuccess: () => undefined,
    },
    registry: {
      closed: false,
      track: () => undefined,
      untrack: () => undefined,
      nextSeq: () => docker.ids + 1,
      creation: (call) => call,
      removalFailed: () => docker.failedRemovals++,
    },
    limits: { startTimeout: 3000, logGrace: 20, maxResult: 1 << 20 },
  };
  return { env, docker };
}

function plan(name = 'echo') {
  const doc = { namespace: 'guest', name, exec: { kind: 'nodejs:20', code: 'function main(a) { return a }' } };
  return containerPlan(doc);
}

/** A container whose watcher records the states it is told about. */
function watched(env, p = plan()) {
  const c = new ActionContainer(env, p);
  const told = [];
  c.watch((x) => told.push(x.state));
  return { c, told };
}

async function until(cond, what) {
  for (let i = 0; i < 200 && !cond(); i++) await tick(10);
  assert.ok(cond(), what);
}

describe('local container states (fake Docker, loopback proxy)', () => {
  let p;
  before(async () => (p = await proxy()));
  after(() => p.server.close());
  beforeEach(() => {
    p.status = 200;
    p.inits = 0;
    p.dropInit = false;
  });

  it('launch: starting → ready, one /init; a run that fails leaves it dead; removal: removing → gone', async () => {
    const { env, docker } = fakeEnv(p.port);
    const { c, told } = watched(env);
    assert.equal(c.state, 'starting');
    await c.launch();
    assert.equal(c.state, 'ready');
    assert.equal(p.inits, 1);
    const ok = await c.execute(JSON.stringify({ value: {} }), 5000);
    assert.equal(ok.fatal, false);
    assert.equal(c.state, 'ready');
    p.status = 502;
    const bad = await c.execute(JSON.stringify({ value: {} }), 5000);
    assert.equal(bad.fatal, true);
    assert.equal(c.state, 'dead');
    const removal = c.remove('retired');
    assert.equal(c.state, 'removing');
    await removal;
    assert.equal(c.state, 'gone');
    assert.deepEqual(docker.removed, ['x1']);
    assert.deepEqual(told, [], 'nothing happened on its own: the watcher was not called');
  });

  it('a stem cell: started without code, handed over once; a second hand-over is refused and changes nothing', async () => {
    const { env } = fakeEnv(p.port);
    const c = new ActionContainer(env, plan('cell'));
    await c.launch(undefined, false);
    assert.equal(c.state, 'started');
    assert.equal(p.inits, 0);
    await c.handOver(plan('echo'));
    assert.equal(c.state, 'ready');
    assert.equal(p.inits, 1);
    await assert.rejects(c.handOver(plan('other')), /initialised already/);
    assert.equal(c.state, 'ready');
    assert.equal(p.inits, 1);
    await c.remove();
  });

  it('its output stream ends and the container is gone: suspended, then dead; the watcher is told both; no hand-over', async () => {
    const { env, docker } = fakeEnv(p.port);
    const c = new ActionContainer(env, plan('cell'));
    await c.launch(undefined, false);
    const told = [];
    c.watch((x) => told.push(x.state));
    docker.running = false;
    docker.streams[0].end();
    await until(() => told.length === 2, 'told twice');
    assert.deepEqual(told, ['suspended', 'dead']);
    assert.equal(c.state, 'dead');
    await assert.rejects(c.handOver(plan('echo')), (/** @type {OpenWhiskNodeError} */ e) => e.reason === 'closed');
    assert.equal(p.inits, 0, 'a dead cell receives no code');
    await c.remove();
    assert.equal(c.state, 'gone');
  });

  it('the engine goes away but keeps it (live-restore): suspended → detached, still takes work; reattach → ready with its logs followed again', async () => {
    const { env, docker } = fakeEnv(p.port, { liveRestore: true });
    const { c, told } = watched(env);
    await c.launch();
    docker.reachable = false;
    docker.streams[0].end();
    await until(() => told.length === 2, 'told twice');
    assert.deepEqual(told, ['suspended', 'detached']);
    assert.ok(takesWork(c.state));
    const out = await c.execute(JSON.stringify({ value: {} }), 5000);
    assert.equal(out.fatal, false, 'it serves on without logs');
    docker.reachable = true;
    await c.reattach();
    assert.equal(c.state, 'ready');
    assert.equal(docker.streams.length, 2, 're-attached');
    assert.equal(c.exited, false);
    await c.reattach();
    assert.equal(docker.streams.length, 2, 'reattach of a container that is not detached does nothing');
    await c.remove();
  });

  it('reattach finds it stopped after the outage: dead, and the watcher is told', async () => {
    const { env, docker } = fakeEnv(p.port, { liveRestore: true });
    const { c, told } = watched(env);
    await c.launch();
    docker.reachable = false;
    docker.streams[0].end();
    await until(() => c.state === 'detached', 'detached');
    docker.reachable = true;
    docker.running = false;
    await c.reattach();
    assert.equal(c.state, 'dead');
    assert.deepEqual(told, ['suspended', 'detached', 'dead']);
    await c.remove();
  });

  it('a removed container refuses to move on: a late stream end does not suspend it, a failed removal stays removing until a retry succeeds', async () => {
    const { env, docker } = fakeEnv(p.port);
    const { c, told } = watched(env);
    await c.launch();
    docker.removeFails = true;
    await assert.rejects(c.remove('retired'), (/** @type {OpenWhiskNodeError} */ e) => e.code === 'unreachable');
    assert.equal(c.state, 'removing');
    assert.equal(docker.failedRemovals, 1, 'handed to the registry to retry');
    docker.streams[0].end();
    await tick(20);
    assert.equal(c.state, 'removing', 'not suspended');
    assert.deepEqual(told, []);
    await assert.rejects(c.launch(), (/** @type {OpenWhiskNodeError} */ e) => e.reason === 'closed', 'a removed container is not launched again');
    docker.removeFails = false;
    await c.remove();
    assert.equal(c.state, 'gone');
    assert.deepEqual(docker.removed, ['x1']);
  });

  it('the port Docker picked is taken: the launch retries with a new container and stays starting meanwhile', async () => {
    const { env, docker } = fakeEnv(p.port);
    docker.portTakenOnce = true;
    const phases = [];
    const c = new ActionContainer(env, plan());
    await c.launch((ph) => phases.push([ph, c.state]));
    assert.equal(c.state, 'ready');
    assert.deepEqual(docker.removed, ['x1'], 'the first container was removed');
    assert.equal(c.id, 'x2');
    assert.deepEqual(phases, [
      ['starting', 'starting'],
      ['initializing', 'starting'],
    ]);
    await c.remove();
  });

  it('the isolation network is ambiguous at start (another process made a duplicate a moment ago): found again, and the launch retries', async () => {
    const { env, docker } = fakeEnv(p.port);
    /** @type {{ isolationNetwork: string }} */ (env.docker).isolationNetwork = 'net-1';
    let renewed = 0;
    env.docker.renewIsolation = async () => {
      renewed++;
    };
    docker.ambiguousOnce = true;
    const c = new ActionContainer(env, plan());
    await c.launch();
    assert.equal(c.state, 'ready');
    assert.equal(renewed, 1, 'the duplicates reconciled before the retry');
    assert.deepEqual(docker.removed, ['x1'], 'the first attempt was discarded');
    await c.remove();
  });

  it('a failed /init: the launch rejects and the container ends gone', async () => {
    const { env, docker } = fakeEnv(p.port);
    p.status = 502;
    const c = new ActionContainer(env, plan());
    await assert.rejects(
      c.launch(),
      (/** @type {OpenWhiskNodeError} */ e) => e.code === 'developer_error' && /failed to initialize \(HTTP 502\)/.test(e.message),
    );
    assert.equal(c.state, 'gone');
    assert.deepEqual(docker.removed, ['x1']);
  });

  it('the /init connection drops and Docker says its memory limit killed it: the launch fails saying so, and the container ends gone', async () => {
    const { env, docker } = fakeEnv(p.port);
    p.dropInit = true;
    docker.running = false;
    docker.oom = true;
    const c = new ActionContainer(env, plan());
    await assert.rejects(
      c.launch(),
      (/** @type {OpenWhiskNodeError} */ e) =>
        e.code === 'developer_error' && /failed to initialize: The action exhausted its memory and was aborted\./.test(e.message),
    );
    assert.equal(c.state, 'gone');
    assert.equal(p.inits, 1);
  });
});
