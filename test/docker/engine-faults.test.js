'use strict';
/*
 * The local runtime (lib/local) under REAL faults, against the real Docker engine:
 *   - dockerd stopped and started again (SIGTERM, then started the way .ci/run does), with and
 *     without live-restore;
 *   - a container killed mid-run and idle (docker kill), an action over its memory limit (OOM kill);
 *   - no room on the Docker host (disk full / out of memory at create and start, injected by a
 *     proxy in front of the real Docker socket: filling the real disk would hurt everyone else);
 *   - preemption (high/low watermarks), idle and warm timeouts, a pool waiting for a slot;
 *   - a flood of messages at a slow action with a small queue (memory stays bounded).
 * Every case asserts what each caller receives, that the next message works, and that no container
 * of this run is left over. Containers are counted by this run's instance label only: other people
 * use the same engine.
 * The suite runs twice: without stem cells, and with one per shape (a cell handed to an action keeps
 * its cell labels, Docker cannot change them, and is renamed after the node: see nodeOf()).
 *
 *   npx tsc -p tsconfig.json && npx mocha --exit --timeout 120000 test/docker/engine-faults.test.js
 *
 * Stopping dockerd needs root and a local dockerd process; without them those cases are skipped
 * (failed when CI=true). dockerd is ALWAYS started again in the after hooks and on process exit.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const v8 = require('node:v8');
const vm = require('node:vm');
const Docker = require('dockerode');

const { LocalEngine, LABELS } = require('../../dist/lib/local/engine');
const { OpenWhiskNodeError } = require('../../dist/lib/errors');
const { requireDocker, requireImage } = require('../support/docker');
const { DockerdControl } = require('../support/dockerd');

const NODE_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const INSTANCE = `faults-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const SOCKET = '/var/run/docker.sock';
const NETWORK = `leon-faults-${process.pid}`;
const docker = new Docker();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const engines = [];
/** Stem cells per shape for the engines of the suite that runs now (0, then 1). */
let CELLS = 0;

const CODE = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function main(p) {
  switch (p.mode) {
    case 'sleep': return sleep(p.ms).then(() => ({ slept: p.ms }));
    case 'hog': {
      const keep = [];
      for (let i = 0; i < 30; i++) keep.push(Buffer.alloc(10 * 1024 * 1024, i + 1));
      return { allocated: keep.length * 10 };
    }
    default:
      console.log('hello ' + p.name);
      return { name: p.name };
  }
}`;

function doc(name, over = {}) {
  return {
    namespace: 'guest',
    name,
    version: '0.0.1',
    exec: { kind: 'nodejs:20', code: CODE, binary: false },
    parameters: [],
    annotations: [{ key: 'provide-api-key', value: false }],
    limits: { timeout: 60000, memory: 128, logs: 10, concurrency: 1 },
    ...over,
  };
}

const catalog = {
  location: 'faults test',
  async getAction(ref) {
    return doc(ref.name);
  },
  async runtimeImages() {
    return {};
  },
};

function engine(opts = {}) {
  const e = new LocalEngine({ instanceId: INSTANCE, runtimeId: 'rt-faults', imageOverrides: { 'nodejs:*': NODE_IMAGE }, stemCells: CELLS, ...opts });
  engines.push(e);
  return e;
}

/** Settles to {ok, value} or {ok:false, error}: every message must end one way or the other. */
const settle = (p) =>
  p.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );

async function rejection(p) {
  const r = await settle(p);
  assert.ok(!r.ok, `expected an error, got ${JSON.stringify(r.value && r.value.response)}`);
  assert.ok(r.error instanceof OpenWhiskNodeError, `not an OpenWhiskNodeError: ${r.error && r.error.stack}`);
  return r.error;
}

const annotation = (a, key) => a.annotations.find((x) => x.key === key)?.value;

/**
 * The node a container works for: its label, or for a stem cell handed over to a node, the name it
 * was given then (`leon_<node>_…`, a moment after its /init); undefined for a cell still waiting.
 */
function nodeOf(c) {
  if (c.Labels[LABELS.node]) return c.Labels[LABELS.node];
  const m = /^\/leon_(.+?)_/.exec(c.Names[0] || '');
  return m && m[1] !== 'stemcell' ? m[1] : undefined;
}

/** This run's containers (all states, stem cells included), optionally of one node. */
async function ours(node) {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${INSTANCE}`] } });
  return node ? list.filter((c) => nodeOf(c) === node) : list;
}

/**
 * A node's containers once there are `n`, all running: a handed-over cell is named after its node a
 * moment after its /init, and a killed container is listed (exited) until its removal completes.
 */
async function oursOnce(node, n = 1) {
  let list = [];
  await waitFor(`${n} running container(s) of ${node}`, async () => (list = await ours(node)).length === n && list.every((c) => c.State === 'running'), 5000);
  return list;
}

/** With stem cells: wait until the engine has its cell (started on a free slot in the background). */
async function cellsReady(e) {
  if (CELLS) await waitFor('the stem cell', () => e.readyCells >= CELLS, 15000);
}

async function waitFor(what, pred, ms = 15000, explain) {
  const t0 = Date.now();
  for (;;) {
    if (await pred()) return Date.now() - t0;
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for: ${what}${explain ? ` (${await explain()})` : ''}`);
    await sleep(50);
  }
}

/** After close, nothing of this run may be left: wait briefly for removals in flight. */
async function assertNoLeftovers(node) {
  await waitFor(`no container left${node ? ` of ${node}` : ''}`, async () => (await ours(node)).length === 0, 10000);
}

// ---- dockerd control: test/support/dockerd.js -------------------------------------------------

let dockerd; // DockerdControl, made in before()

// ---- a proxy in front of the Docker socket that can refuse containers for lack of room ---------

function roomProxy() {
  const inject = { create: undefined, start: undefined };
  const server = http.createServer((req, res) => {
    const route = req.url.replace(/^\/v[\d.]+/, '').split('?')[0];
    const refuse =
      req.method === 'POST' && (/^\/containers\/create$/.test(route) ? inject.create : /^\/containers\/[^/]+\/start$/.test(route) ? inject.start : undefined);
    if (refuse) {
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: refuse }));
      return;
    }
    const up = http.request({ socketPath: SOCKET, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      res.flushHeaders(); // attach streams send nothing until the container writes
      ur.pipe(res);
    });
    up.on('error', (e) => res.destroy(e));
    req.pipe(up);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, inject, port: /** @type {import('node:net').AddressInfo} */ (server.address()).port })),
  );
}

// -------------------------------------------------------------------------------------------------

for (const cells of [0, 1])
  describe(`local runtime under real faults${cells ? ', with stem cells' : ''}`, function () {
    this.timeout(60000);

    before(async function () {
      CELLS = cells;
      await requireDocker(this);
      await requireImage(this, NODE_IMAGE);
      dockerd = new DockerdControl(SOCKET);
    });

    // A failed case must not leave its engine's containers to the next case's leftover check.
    afterEach(async function () {
      if (this.currentTest.state !== 'failed') return;
      this.timeout(30000);
      await Promise.all(engines.map((e) => e.close().catch(() => undefined)));
    });

    after(async function () {
      this.timeout(120000);
      if (dockerd) await dockerd.restore();
      await Promise.all(engines.map((e) => e.close().catch(() => undefined)));
      const left = await ours();
      await Promise.all(
        left.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
      await docker
        .getNetwork(NETWORK)
        .remove()
        .catch(() => undefined);
      assert.deepEqual(
        left.map((c) => c.Names[0]),
        [],
        'containers left over by the suite',
      );
    });

    describe('dockerd stops and starts again', () => {
      before(function () {
        if (!dockerd.found.pid) {
          if (process.env.CI === 'true') throw new Error(`cannot control dockerd in CI: ${dockerd.found.why}`);
          console.log(`      (skipped: ${dockerd.found.why})`);
          this.skip();
        }
      });
      after(async function () {
        this.timeout(120000);
        await dockerd.restore();
      });

      it('without live-restore: in-flight and new messages fail as unreachable, health down → ok, the next messages succeed, nothing leaks', async function () {
        this.timeout(90000);
        const e = engine({ capacity: 3 });
        const health = [];
        e.on('health', (h) => health.push(h));
        const slow = await e.provision('f-dd-slow', doc('ddslow'), catalog);
        const quick = await e.provision('f-dd-quick', doc('ddquick'), catalog);
        assert.equal(e.liveRestore, dockerd.argv.includes('--live-restore'));
        await cellsReady(e);
        const before = (await ours()).map((c) => c.Id);
        assert.equal(before.length, 2 + CELLS);

        const inflight = settle(slow.invoke({ mode: 'sleep', ms: 20000 }));
        await sleep(300);
        const stopTook = await dockerd.stop();

        // The message in flight: its container was stopped with the daemon.
        const r1 = await inflight;
        assert.ok(!r1.ok, 'the in-flight message cannot succeed');
        assert.equal(r1.error.code, 'unreachable', r1.error.message);
        assert.match(
          r1.error.message,
          /^Action '\/guest\/ddslow' was cut off: the Docker engine at .* went away while it ran.*Cannot reach the Docker engine at .*Is dockerd running\?/s,
        );
        assert.equal(r1.error.activation.response.status, 'whisk internal error');
        await waitFor('health down', () => e.health.state === 'down', 5000);
        assert.equal(e.health.short, 'docker unreachable');

        // Messages while the daemon is down fail fast, with the address and the question.
        for (const act of [quick, slow]) {
          const t0 = Date.now();
          const err = await rejection(act.invoke({ name: 'while down' }));
          assert.ok(Date.now() - t0 < 3000, `failed within ${Date.now() - t0} ms`);
          assert.equal(err.code, 'unreachable');
          assert.match(err.message, /^Cannot reach the Docker engine at unix:\/\/\/var\/run\/docker\.sock.*Is dockerd running\?/s);
        }
        assert.equal(quick.containers + slow.containers, 0, 'pools emptied by the outage');

        const startTook = await dockerd.start();
        const backIn = await waitFor('health ok again', () => e.health.state === 'ok', 15000);
        assert.deepEqual(
          health.map((h) => h.state),
          ['down', 'ok'],
          'one outage, reported once, no flapping',
        );

        // The next messages succeed on new containers (cold start visible in initTime), no restart of anything.
        const a = await quick.invoke({ name: 'back' });
        assert.deepEqual(a.response.result, { name: 'back' });
        assert.equal(typeof annotation(a, 'initTime'), 'number', 'first run on a re-created container');
        assert.ok(
          a.logs.some((l) => /stdout: hello back/.test(l)),
          'logs attached on the new container',
        );
        const b = await slow.invoke({ mode: 'sleep', ms: 10 });
        assert.deepEqual(b.response.result, { slept: 10 });

        // Leftovers: the stopped containers are removed, only the two live ones remain (and a new cell), running.
        await waitFor('only the live containers remain', async () => {
          const now = await ours();
          return now.length === 2 + e.readyCells && now.every((c) => c.State === 'running' && !before.includes(c.Id));
        });
        console.log(`      (dockerd stop ${stopTook} ms, start ${startTook} ms, health ok ${backIn} ms later)`);
        await e.close();
        await assertNoLeftovers();
      });

      it('with live-restore: warm containers keep serving through the outage (no logs), logs re-attached after it, nothing leaks', async function () {
        this.timeout(120000);
        // dockerd with --live-restore, for this case only (restored after it)
        if (!dockerd.found.argv.includes('--live-restore')) {
          await dockerd.stop();
          await dockerd.start([...dockerd.found.argv, '--live-restore']);
        }
        // On a Docker network the engine talks to the container IP; a published port would not survive
        // the daemon (its docker-proxy dies with dockerd even under live-restore).
        await docker.createNetwork({ Name: NETWORK, Labels: { [LABELS.instance]: INSTANCE } }).catch(() => undefined);
        const e = engine({ capacity: 2, network: NETWORK });
        const act = await e.provision('f-lr', doc('lr'), catalog);
        assert.equal(e.liveRestore, true);
        const [c0] = await oursOnce('f-lr');

        const inflight = settle(act.invoke({ mode: 'sleep', ms: 1500 }));
        await sleep(200);
        await dockerd.stop();
        // the container survives the daemon: the run in flight completes
        const r = await inflight;
        assert.ok(r.ok, r.error && r.error.message);
        assert.deepEqual(r.value.response.result, { slept: 1500 });
        await waitFor('health down', () => e.health.state === 'down', 5000);
        // the warm container keeps serving; its logs cannot be followed meanwhile
        const during = await act.invoke({ name: 'during' });
        assert.deepEqual(during.response.result, { name: 'during' });
        assert.deepEqual(during.logs, []);
        // a second container cannot be started: that message fails clearly, the first one is unaffected
        const [busy, extra] = await Promise.all([settle(act.invoke({ mode: 'sleep', ms: 500 })), settle(act.invoke({ name: 'extra' }))]);
        assert.ok(busy.ok);
        assert.ok(extra.ok || extra.error.code === 'unreachable', extra.error && extra.error.message);

        await dockerd.start(dockerd.argv);
        await waitFor('health ok', () => e.health.state === 'ok', 15000);
        // logs are followed again (re-attached to the same container)
        await waitFor(
          'logs re-attached',
          async () => {
            const a = await act.invoke({ name: 'after' });
            return a.logs.some((l) => /stdout: hello after/.test(l));
          },
          10000,
        );
        const [c1] = await ours('f-lr');
        assert.equal(c1.Id, c0.Id, 'the same container: kept by the daemon, re-attached');
        await e.close();
        await assertNoLeftovers();
        await dockerd.restore();
      });
    });

    describe('containers killed', () => {
      let e;
      before(() => {
        e = engine({ capacity: 3 });
      });
      after(() => e.close());

      it('docker kill mid-run → developer_error with the platform message; idle → replaced; the next message works; nothing leaks', async () => {
        const act = await e.provision('f-kill', doc('kill'), catalog);
        const running = act.invoke({ mode: 'sleep', ms: 10000 });
        await sleep(300);
        const [c] = await oursOnce('f-kill');
        await docker.getContainer(c.Id).kill();
        const err = await rejection(running);
        assert.equal(err.code, 'developer_error');
        assert.deepEqual(err.activation.response.result, { error: 'The action did not produce a valid response and exited unexpectedly.' });
        assert.equal(err.activation.response.status, 'action developer error');
        const ok = await act.invoke({ name: 'next' });
        assert.deepEqual(ok.response.result, { name: 'next' });
        // an idle container killed: replaced before the next message (with cells: by the cell)
        const [c2] = await oursOnce('f-kill');
        await cellsReady(e);
        await docker.getContainer(c2.Id).kill();
        assert.deepEqual((await act.invoke({ name: 'again' })).response.result, { name: 'again' });
        assert.equal(e.health.state, 'ok');
        await waitFor('one container, running', async () => {
          const list = await ours('f-kill');
          return list.length === 1 && list[0].State === 'running' && list[0].Id !== c.Id && list[0].Id !== c2.Id;
        });
        if (CELLS) assert.ok((await ours('f-kill'))[0].Labels[LABELS.cell], 'the replacement is the stem cell, handed over');
        await act.close();
        await assertNoLeftovers('f-kill');
      });

      it('an action over its memory limit is OOM-killed → "The action exhausted its memory and was aborted."; the next works', async () => {
        const act = await e.provision('f-oom', doc('oom'), catalog);
        const [c] = await oursOnce('f-oom');
        const err = await rejection(act.invoke({ mode: 'hog' }));
        assert.equal(err.code, 'developer_error');
        assert.deepEqual(err.activation.response.result, { error: 'The action exhausted its memory and was aborted.' });
        assert.match(err.message, /Action '\/guest\/oom' failed \(action developer error\): The action exhausted its memory and was aborted\./);
        const ok = await act.invoke({ name: 'after oom' });
        assert.deepEqual(ok.response.result, { name: 'after oom' });
        await waitFor('the killed container removed', async () => {
          const list = await ours('f-oom');
          return list.length === 1 && list[0].Id !== c.Id;
        });
        await act.close();
        await assertNoLeftovers('f-oom');
      });
    });

    describe('no room on the Docker host', () => {
      let proxy;
      before(async () => {
        proxy = await roomProxy();
      });
      after(() => new Promise((r) => proxy.server.close(r)));

      it('disk full at create, out of memory at start → code docker naming what to do, health degraded; room again → works, health ok', async () => {
        const e = engine({ docker: `tcp://127.0.0.1:${proxy.port}`, capacity: 2 });
        const health = [];
        e.on('health', (h) => health.push(h.state));
        const act = await e.provision('f-room', doc('room'), catalog);
        const [c] = await oursOnce('f-room');
        await cellsReady(e);
        const cell = (await ours()).find((x) => x.Id !== c.Id);

        proxy.inject.create = 'mkdir /var/lib/docker/overlay2/3f1c0e9d-init: no space left on device';
        // A stem cell would stand in for the killed container: it goes too, and cannot be replaced.
        if (cell) await docker.getContainer(cell.Id).kill();
        await docker.getContainer(c.Id).kill(); // its replacement needs a new container
        await waitFor('pool emptied', () => act.containers === 0, 5000);
        const disk = await rejection(act.invoke({ name: 'x' }));
        assert.equal(disk.code, 'docker');
        assert.equal(disk.short, 'docker: disk full');
        assert.match(disk.message, /has no disk space left: .*no space left on device\. Free disk space on the Docker host \(docker system prune/s);
        assert.equal(e.health.state, 'degraded');
        assert.equal(e.health.short, 'docker: disk full');

        proxy.inject.create = undefined;
        proxy.inject.start =
          'failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: fork/exec /proc/self/exe: cannot allocate memory: unknown';
        const mem = await rejection(act.invoke({ name: 'y' }));
        assert.equal(mem.code, 'docker');
        assert.equal(mem.short, 'docker: no memory');
        assert.match(mem.message, /is out of memory: .*cannot allocate memory.*Lower the runtime's capacity or the actions' memory limits/s);
        assert.equal(e.health.short, 'docker: no memory');
        await waitFor('the created-but-not-started container removed', async () => (await ours('f-room')).length === 0, 5000);

        proxy.inject.start = undefined;
        const ok = await act.invoke({ name: 'room again' });
        assert.deepEqual(ok.response.result, { name: 'room again' });
        assert.equal(typeof annotation(ok, 'initTime'), 'number');
        assert.equal(e.health.state, 'ok');
        // Without cells exactly: disk full, no memory, ok. Cells retrying in the background may report a
        // refusal once more, never anything else in between.
        if (CELLS) assert.match(health.join(' '), /^degraded( degraded)+ ok$/, health.join(' '));
        else assert.deepEqual(health, ['degraded', 'degraded', 'ok']);
        await e.close();
        await assertNoLeftovers('f-room');
      });
    });

    describe('capacity: preemption and idle timeouts with real containers', () => {
      it('above the high watermark, idle containers are preempted LRU down to the low one; a busy one never; a cold start then works', async function () {
        this.timeout(60000);
        const e = engine({ capacity: 4, highWatermark: 0.75, lowWatermark: 0.5, preemptPeriod: 1000, idleTimeout: 60000, warmTimeout: 0 });
        const [p1, p2, p3, p4] = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((n) => e.provision(`f-${n}`, doc(n), catalog)));
        const busy = settle(p1.invoke({ mode: 'sleep', ms: 3500 }));
        await p3.invoke({ name: 'recent' }); // p3: the most recently used of the idle ones
        // 4 containers > 0.75 × 4 → preempt idle ones (idle ≥ 1 preemption period) down to floor(0.5 × 4) = 2:
        // p1 is busy (never removed), p2 and p4 are the least recently used
        // A preemption tick after the idle containers' period, then their removal: bounded, not timed (it took more than
        // 6 s once at the end of a full CI run, Docker slow after the suite's daemon restarts).
        const explain = async () => {
          const s = e.snapshot();
          const seen = s.containers.map((v) => `${v.action ?? 'stem cell'}: ${v.state}, inflight ${v.inflight}, idle ${v.idleMs} ms`);
          const queued = s.pools.map((p) => `${p.action} ${p.queued}`);
          return `slots used ${s.used}; containers ${[p1, p2, p3, p4].map((p) => p.containers)}; views ${seen.join('; ')}; queued ${queued.join(', ')}; in Docker ${(await ours()).length}`;
        };
        await waitFor('preempted down to 2', () => p2.containers + p4.containers === 0, 15000, explain);
        assert.equal(p1.containers, 1, 'the busy container stays');
        assert.equal(p3.containers, 1, 'the most recently used idle one stays');
        const r = await busy;
        assert.ok(r.ok, 'the run on the busy container completed');
        // a preempted action cold-starts on its next message
        const cold = await p2.invoke({ name: 'cold' });
        assert.deepEqual(cold.response.result, { name: 'cold' });
        assert.equal(typeof annotation(cold, 'initTime'), 'number', 'cold start visible in initTime');
        assert.ok(annotation(cold, 'waitTime') >= annotation(cold, 'initTime'), 'the wait includes the start');
        // 3 containers ≤ 3: no more preemption, although all are idle (warmTimeout 0)
        await sleep(2500);
        assert.deepEqual(
          [p1, p2, p3, p4].map((a) => a.containers),
          [1, 1, 1, 0],
        );
        await waitFor('3 containers of the four nodes in Docker', async () => (await ours()).filter((c) => /^f-p\d$/.test(nodeOf(c) || '')).length === 3, 3000);
        await e.close();
        await assertNoLeftovers();
      });

      it('idle timeouts apply below the watermarks: surplus after idleTimeout, the last container after warmTimeout', async () => {
        const e = engine({ capacity: 10, idleTimeout: 2000, warmTimeout: 3500, preemptPeriod: 10000 });
        const t0 = Date.now();
        const act = await e.provision('f-idle', doc('idle'), catalog);
        // The three runs outlast the other two containers' starts, whatever the machine's load (a cold start
        // is ~0.5 s here, several seconds under load): no container is idle, so none can time out, before
        // all three exist. (With fixed 300 ms runs the first container went idle while the third was
        // still starting, and its idle timeout removed it first when a start took more than 2 s.)
        const run = Math.max(1000, 4 * (Date.now() - t0));
        const runs = Promise.all([0, 1, 2].map(() => act.invoke({ mode: 'sleep', ms: run })));
        await waitFor('three containers (two of them surplus), all busy', () => act.containers === 3, 3 * run);
        await runs;
        await waitFor('surplus removed', () => act.containers === 1, 5000);
        await waitFor('last one removed', () => act.containers === 0, 6000);
        await waitFor('no container in Docker', async () => (await ours('f-idle')).length === 0, 3000);
        const cold = await act.invoke({ name: 'cold' });
        assert.deepEqual(cold.response.result, { name: 'cold' });
        assert.equal(typeof annotation(cold, 'initTime'), 'number');
        await e.close();
        await assertNoLeftovers('f-idle');
      });

      it('a pool without a container takes the slot of an idle one of another action; with none idle it fails after startTimeout', async () => {
        const e = engine({ capacity: 1, warmTimeout: 500, highWatermark: 1, startTimeout: 2500 });
        const a = await e.provision('f-sa', doc('sa'), catalog);
        await waitFor('a emptied by warmTimeout', () => a.containers === 0, 4000);
        const b = await e.provision('f-sb', doc('sb'), catalog);
        const bRun = b.invoke({ mode: 'sleep', ms: 1000 });
        await sleep(100);
        // a needs a container; the only slot is b's, busy: a waits, and gets it as soon as b's run ends
        const t0 = Date.now();
        const got = await a.invoke({ name: 'starved' });
        assert.deepEqual(got.response.result, { name: 'starved' });
        assert.ok(Date.now() - t0 >= 700, `waited for b's run (${Date.now() - t0} ms)`);
        assert.ok((await bRun).response.success);
        assert.equal(b.containers, 0, "b's idle container was given up");
        // now b waits behind a run longer than startTimeout: bounded, clear error
        const aLong = a.invoke({ mode: 'sleep', ms: 4000 });
        await sleep(100);
        const t1 = Date.now();
        const err = await rejection(b.invoke({ name: 'too late' }));
        assert.equal(err.code, 'overload');
        assert.match(err.message, /Action '\/guest\/sb' got no container within 2500 ms: all 1 containers of the runtime are busy/);
        assert.ok(Date.now() - t1 >= 2300 && Date.now() - t1 < 4000, `${Date.now() - t1} ms`);
        assert.ok((await aLong).response.success);
        await e.close();
        await assertNoLeftovers();
      });
    });

    describe('overload', () => {
      it('20,000 messages at a slow action with a small queue: all settle, the queue bound holds, heap growth stays bounded', async function () {
        this.timeout(60000);
        v8.setFlagsFromString('--expose-gc');
        const gc = vm.runInNewContext('gc');
        const e = engine({ capacity: 1, queueLimit: 5 });
        const act = await e.provision('f-flood', doc('flood'), catalog);
        gc();
        const base = process.memoryUsage().heapUsed;
        let peak = base;
        const counts = { ok: 0 };
        const all = [];
        const t0 = Date.now();
        for (let wave = 0; wave < 100; wave++) {
          for (let i = 0; i < 200; i++) {
            all.push(
              act.invoke({ mode: 'sleep', ms: 20, wave, i }).then(
                () => {
                  counts.ok++;
                },
                (err) => {
                  counts[err.code] = (counts[err.code] || 0) + 1;
                },
              ),
            );
          }
          assert.ok(act.queued <= 5, `queue bound (${act.queued})`);
          peak = Math.max(peak, process.memoryUsage().heapUsed);
          await sleep(10);
        }
        await Promise.all(all);
        const took = Date.now() - t0;
        all.length = 0;
        gc();
        const after = process.memoryUsage().heapUsed;
        const total = Object.values(counts).reduce((x, y) => x + y, 0);
        assert.equal(total, 20000, 'every message settled');
        assert.deepEqual(Object.keys(counts).sort(), ['ok', 'overload'], JSON.stringify(counts));
        assert.ok(counts.ok > 6, 'the action kept running meanwhile');
        const mb = (n) => (n / 1048576).toFixed(1);
        console.log(`      (${JSON.stringify(counts)} in ${took} ms; heap ${mb(base)} MB → peak ${mb(peak)} MB → ${mb(after)} MB after)`);
        assert.ok(peak - base < 64 * 1048576, `peak heap growth ${mb(peak - base)} MB`);
        assert.ok(after - base < 8 * 1048576, `heap growth after the flood ${mb(after - base)} MB`);
        assert.deepEqual((await act.invoke({ name: 'after flood' })).response.result, { name: 'after flood' });
        await e.close();
        await assertNoLeftovers('f-flood');
      });
    });
  });
