'use strict';
/*
 * Stem cells (lib/local/engine.ts) against the real Docker engine: started containers without
 * code, handed to an action that needs a new container (it then costs one /init), replaced in the
 * background, evicted first under capacity pressure, removed with the runtime (close, and the
 * sweep after a crash), and never given code twice.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const Docker = require('dockerode');

const { LocalEngine, LABELS } = require('../../../dist/lib/local/engine');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const INSTANCE = `itest-cells-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const docker = new Docker();
const engines = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Top-level code runs at /init: each /init a container receives writes one marker line.
const CODE = `console.log('INIT-MARKER ' + process.pid);
function main(p) { return p.ms ? new Promise((r) => setTimeout(() => r({ ms: p.ms }), p.ms)) : { pid: process.pid, n: p.n }; }`;

function doc(name, memory = 256, version = '0.0.1') {
  return {
    namespace: 'guest',
    name,
    version,
    exec: { kind: 'nodejs:20', code: CODE, binary: false },
    parameters: [],
    annotations: [],
    limits: { timeout: 60000, memory, logs: 10, concurrency: 1 },
  };
}
const catalog = {
  location: 'test catalog',
  async getAction() {
    throw new Error('not used');
  },
  async runtimeImages() {
    return {};
  },
};

function engine(opts = {}) {
  const e = new LocalEngine({ instanceId: INSTANCE, runtimeId: 'rt-cells', imageOverrides: { 'nodejs:*': IMAGE }, stemCells: 1, ...opts });
  engines.push(e);
  return e;
}
const list = (labels) => docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${INSTANCE}`, ...labels] } });
const cellsOnDocker = () => list([LABELS.cell]);

async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** How many /init a container got (its logs' markers); null for one Docker is removing (its logs are gone with it). */
async function initMarkers(id) {
  let out;
  try {
    out = (await docker.getContainer(id).logs({ stdout: true, stderr: true })).toString('latin1');
  } catch (err) {
    if (err.statusCode === 409 && /dead or marked for removal/.test(err.message)) return null;
    throw err;
  }
  return (out.match(/INIT-MARKER/g) || []).length;
}

describe('stem cells (real Docker engine)', function () {
  this.timeout(120000);

  before(async function () {
    this.timeout(15 * 60 * 1000);
    try {
      await docker.ping();
    } catch (err) {
      const msg = `Docker is not reachable (${err.message})`;
      if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      this.skip();
    }
    if (
      !(await docker
        .getImage(IMAGE)
        .inspect()
        .then(
          () => true,
          () => false,
        ))
    ) {
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
  });

  // Each test counts this instance's containers: the engines of the one before are closed first.
  afterEach(async function () {
    await Promise.all(engines.splice(0).map((e) => e.close().catch(() => undefined)));
  });

  after(async function () {
    await Promise.all(engines.map((e) => e.close().catch(() => undefined)));
    for (const c of await list([]))
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  it('an image without the stemcell-safe label gets no cell (a page in the browser could /init a waiting one)', async () => {
    // Our runtime image with the label taken away: built from it on the host, nothing downloads.
    const UNSAFE = 'leon-edge/test-stemcell-unsafe:latest';
    const build = await docker.buildImage(
      { context: path.join(ROOT, 'test', 'support', 'unsafe-image'), src: ['Dockerfile'] },
      { t: UNSAFE, buildargs: { BASE: IMAGE } },
    );
    await new Promise((resolve, reject) =>
      docker.modem.followProgress(build, (err, out) => {
        const failed = err || out.find((o) => o.error);
        if (failed) reject(new Error(`building ${UNSAFE}: ${failed.message || failed.error}`));
        else resolve();
      }),
    );
    const e = engine({ capacity: 4, imageOverrides: { 'nodejs:*': UNSAFE } });
    const a = await e.provision('node-a', doc('a'), catalog);
    assert.equal((await a.invoke({ n: 1 })).response.success, true);
    await sleep(1500); // a cell would be started 100 ms after the first action is ready, and listen within ~0.5 s
    assert.equal(e.readyCells, 0);
    assert.deepEqual(await cellsOnDocker(), [], 'no cell container was started');
    // The same engine with the labelled image keeps one, as before.
    const b = await engine({ capacity: 4 }).provision('node-b', doc('b'), catalog);
    await until('a stem cell of the labelled image', async () => (await cellsOnDocker()).length === 1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a new container of any action takes the ready cell (one /init, no action labels), and the cell is replaced', async () => {
    const e = engine({ capacity: 4 });
    const first = await e.provision('node-a', doc('a'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    const [cell] = await cellsOnDocker();
    assert.ok(cell, 'the cell is on Docker');
    assert.equal(cell.Labels[LABELS.node], undefined, 'a cell carries no node label');
    assert.equal(cell.Labels[LABELS.action], undefined, 'nor an action label');
    assert.equal(cell.Labels[LABELS.runtime], 'rt-cells');
    assert.equal(await initMarkers(cell.Id), 0, 'no code in a cell');

    // An action named at its first message (msg.action) or redeployed: provisioning takes the cell.
    const second = await e.provision('node-b', doc('b'), catalog);
    const r = await second.invoke({ n: 1 });
    assert.equal(r.response.success, true);
    const ids = new Set((await cellsOnDocker()).map((c) => c.Id));
    assert.ok(ids.has(cell.Id), 'the handed-over container keeps its (immutable) cell label');
    assert.equal(await initMarkers(cell.Id), 1, "it got exactly one /init, with b's code");
    const renamed = await until('the rename after its action', async () => {
      const info = await docker.getContainer(cell.Id).inspect();
      return /node-b/.test(info.Name) && info.Name;
    });
    assert.match(renamed, /guest_b/);
    // Replenished in the background: a new cell, never initialised.
    await until('a new stem cell', () => e.readyCells === 1);
    const fresh = (await cellsOnDocker()).filter((c) => c.Id !== cell.Id);
    assert.equal(fresh.length, 1);
    assert.equal(await initMarkers(fresh[0].Id), 0);
    await Promise.all([first.close(), second.close()]);
  });

  it('scale-up under a burst takes the cell; a crashed container is replaced from a cell; no container is initialised twice', async () => {
    const e = engine({ capacity: 4 });
    const a = await e.provision('node-burst', doc('burst'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    const held = a.invoke({ ms: 1500 });
    const t0 = Date.now();
    const quick = await a.invoke({ n: 2 });
    assert.ok(Date.now() - t0 < 1500, 'the waiting message ran in the new container, not after the held one');
    assert.equal(quick.response.success, true);
    assert.ok(
      quick.annotations.some((x) => x.key === 'initTime'),
      'its first activation reports the /init',
    );
    await held;
    assert.equal(a.containers, 2);
    await a.close();

    // A crash of an action's only container: its replacement is a cell.
    const c = await e.provision('node-crashy', doc('crashy'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    // The ready cell: cell label, no code yet. The action's container: named after it (a container
    // that was a cell keeps the cell label and has no node label, so it is found by its name).
    let cell;
    for (const x of await cellsOnDocker()) if ((await initMarkers(x.Id)) === 0) cell = x;
    assert.ok(cell, 'a ready cell');
    const only = await until('the container of node-crashy', async () => (await list([])).find((x) => x.Names.some((n) => /node-crashy/.test(n))));
    await docker.getContainer(only.Id).kill();
    await until('the cell handed over as the replacement', async () => (await initMarkers(cell.Id)) === 1);
    await until('the replacement ready', () => c.containers === 1);
    assert.equal((await c.invoke({ n: 5 })).response.success, true);
    // Every container this engine ever made got code at most once.
    // (A container being removed, the crashed one or a closed pool's, can no longer be read: it is skipped.)
    for (const c of await list([])) {
      const n = await initMarkers(c.Id);
      if (n !== null) assert.ok(n <= 1, `container ${c.Names[0]} was initialised twice`);
    }
    await c.close();
  });

  it('a cell is never handed over twice', async () => {
    const e = engine({ capacity: 3 });
    const a = await e.provision('node-once', doc('once'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    const plan = /** @type {import('../../../dist/lib/local/pool').PoolAction} */ (a).plan;
    const cell = e.takeCell(plan);
    assert.ok(cell, 'the engine hands the cell out once');
    assert.equal(e.takeCell(plan), undefined, 'and no second time');
    await cell.handOver(plan);
    await assert.rejects(cell.handOver(plan), /at most once/);
    assert.equal(await initMarkers(cell.id), 1);
    await cell.remove();
    e.releaseSlot();
    await a.close();
  });

  it('under capacity pressure the cell is evicted first, before any action container', async () => {
    const e = engine({ capacity: 2 });
    const a = await e.provision('node-p1', doc('p1'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    // Another memory size is another container shape: it cannot use the cell, so the cell makes room.
    const b = await e.provision('node-p2', doc('p2', 128), catalog);
    assert.equal(a.containers, 1, 'the first action keeps its warm container');
    assert.equal(b.containers, 1);
    assert.equal(e.readyCells, 0);
    await until('the evicted cell gone from Docker', async () => (await cellsOnDocker()).length === 0);
    await Promise.all([a.close(), b.close()]);
    // Room again: the cells come back.
    await until('cells refilled', () => e.readyCells >= 1);
  });

  it('a cell still starting gives its slot to an action that needs it (capacity full): the provisioning waits, it does not fail', async () => {
    const e = engine({ capacity: 2 });
    const a = await e.provision('node-s1', doc('s1'), catalog);
    // The cell of a's shape is on its way (created, not ready yet): the second slot is its.
    await until('a cell starting', async () => e.readyCells === 0 && (await cellsOnDocker()).length === 1, 10000);
    // Another shape: it cannot use the cell; a's container is its last. Before, this failed at once with
    // "capacity … used up by other actions".
    const b = await e.provision('node-s2', doc('s2', 128), catalog);
    assert.equal((await b.invoke({ n: 1 })).response.success, true);
    assert.equal(a.containers, 1, 'the first action keeps its warm container');
    await until('the cell gone from Docker', async () => (await cellsOnDocker()).length === 0);
    await Promise.all([a.close(), b.close()]);
  });

  it('a shape no pool uses any more (a changed memory limit, a removed node) loses its cells after the idle timeout; a redeploy keeps them', async () => {
    const e = engine({ capacity: 3, idleTimeout: 1500 });
    const a = await e.provision('node-shape', doc('shape'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    const [cell] = await cellsOnDocker();
    // A redeploy: the old node closes, the new one comes at once and takes the cell.
    await a.close();
    const again = await e.provision('node-shape', doc('shape', 256, '0.0.2'), catalog);
    await until('the redeployed node took the cell (its /init marker in the log)', async () => (await initMarkers(cell.Id)) === 1, 5000);
    await until('a new stem cell', () => e.readyCells === 1);
    // Now the node goes for good (or comes back with another memory limit: another shape).
    await again.close();
    const other = await e.provision('node-shape', doc('shape', 128, '0.0.3'), catalog);
    // Cells waiting (not handed over: still named as cells): only the 128 MB shape's, once 256 MB's has lingered 1.5 s.
    await until(
      'only cells of the shape in use',
      async () => {
        const plans = (await cellsOnDocker()).filter((c) => c.Names[0].includes('stemcell'));
        const info = (
          await Promise.all(
            plans.map((c) =>
              docker
                .getContainer(c.Id)
                .inspect()
                .catch(() => undefined),
            ),
          )
        ).filter(Boolean);
        return info.length === 1 && info[0].HostConfig.Memory === 128 * 1024 * 1024;
      },
      15000,
    );
    await other.close();
  });

  it('close removes the cells; after a crash the next engine of the instance sweeps them', async () => {
    const e = engine({ capacity: 3 });
    const a = await e.provision('node-close', doc('close'), catalog);
    await until('a stem cell', () => e.readyCells === 1);
    await a.close();
    await e.close();
    assert.deepEqual(await list([]), [], 'nothing left after close');

    // A Node-RED process that dies (SIGKILL) with a cell: its next start sweeps it.
    const script = `
      const { LocalEngine } = require(${JSON.stringify(path.join(ROOT, 'dist/lib/local/engine'))});
      const e = new LocalEngine({ instanceId: ${JSON.stringify(INSTANCE)}, runtimeId: 'rt-crash', imageOverrides: { 'nodejs:*': ${JSON.stringify(IMAGE)} }, capacity: 3, stemCells: 1 });
      const catalog = { async getAction() { throw new Error('x'); }, async runtimeImages() { return {}; } };
      e.provision('node-crash', ${JSON.stringify(doc('crash'))}, catalog).then(async () => {
        while (e.readyCells < 1) await new Promise((r) => setTimeout(r, 50));
        console.log('CELL READY');
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => /CELL READY/.test(String(d)) && resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    child.kill('SIGKILL');
    assert.equal((await cellsOnDocker()).length, 1, 'the crashed process left its cell');
    const next = engine({ capacity: 3 });
    await next.start();
    assert.deepEqual(await list([]), [], 'the sweep removed the cell and the action container');
  });

  it('stemCells 0 turns them off', async () => {
    const e = engine({ capacity: 3, stemCells: 0 });
    const a = await e.provision('node-off', doc('off'), catalog);
    await sleep(1500);
    assert.equal(e.readyCells, 0);
    assert.deepEqual(await cellsOnDocker(), []);
    await a.close();
  });
});
