'use strict';
// Two Node-RED processes on one host and one Docker engine with the same user-directory path string
// but different directories (like two Node-RED containers, each with its own volume at /data): each
// runs in its own mount namespace (`unshare -m`) where the same path is a bind mount of its own folder.
// Neither may sweep the other's containers, and a restart on the same directory keeps its id (and so
// sweeps what its crashed run left).
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { until: untilWithin, freePort, writeUserDir } = require('../support/red-process');
const until = (what, pred, ms = 60000) => untilWithin(what, pred, ms);
const { docker, requireDocker, requireImage, containersWith } = require('../support/docker');

const root = path.resolve(__dirname, '..', '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const redJs = path.join(path.dirname(require.resolve('node-red/package.json', { paths: [root] })), 'red.js');
const node22 = require('../../scripts/node22');

const flows = [
  { id: 'tab1', type: 'tab', label: 'local' },
  {
    id: 'rt',
    type: 'openwhisk-runtime',
    name: 'local',
    mode: 'local',
    service: '',
    source: 'manifest',
    manifest: 'examples/manifest.yaml',
    images: `nodejs:*=${IMAGE}`,
    capacity: 2,
    queue: 10,
  },
  { id: 'hello', z: 'tab1', type: 'openwhisk-action', runtime: 'rt', action: 'facedemo/hello', params: [], wires: [[]] },
];

describe('two Node-REDs with the same hostname and user-directory path (separate mount namespaces)', function () {
  this.timeout(240000);
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-data-')); // the path both see as their user directory
  const backing = { a: fs.mkdtempSync(path.join(os.tmpdir(), 'leon-vol-a-')), b: fs.mkdtempSync(path.join(os.tmpdir(), 'leon-vol-b-')) };
  const procs = [];
  const ids = {};

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'true']);
    if (probe.status !== 0) throw new Error(`unshare -m is needed (root, util-linux): ${probe.stderr}`);
    for (const dir of Object.values(backing)) {
      writeUserDir(dir, flows);
    }
  });

  after(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const id of Object.values(ids)) {
      for (const c of await containersWith(`io.leon-edge.instance=${id}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    }
    for (const d of [shared, ...Object.values(backing)]) fs.rmSync(d, { recursive: true, force: true });
  });

  /** Starts Node-RED with `shared` as its user directory, which in its own mount namespace is `volume`. */
  async function startRed(volume) {
    const port = await freePort();
    const node = node22.find() || process.execPath;
    const script = 'mount --bind "$1" "$2" && exec "$3" "$4" -u "$2" -p "$5"';
    const proc = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', volume, shared, node, redJs, String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(proc);
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    await until('Node-RED to start its flows', () => /Started flows/.test(out) || (proc.exitCode !== null && Promise.reject(new Error(out))));
    assert.match(out, new RegExp(`User directory : ${shared.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    return proc;
  }
  const exited = (p) => until('Node-RED to exit', () => p.exitCode !== null || p.signalCode !== null, 30000);
  const idIn = (volume) => fs.readFileSync(path.join(volume, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
  const containersOf = (id) => containersWith(`io.leon-edge.instance=${id}`);
  const notCell = (c) => !c.Labels['io.leon-edge.stemcell'];
  const warm = (id) => until(`a warm container of ${id}`, async () => (await containersOf(id)).some((c) => c.State === 'running'));

  it('each gets its own id although hostname and user-directory path are the same', async () => {
    const a = await startRed(backing.a);
    ids.a = idIn(backing.a);
    await warm(ids.a);
    assert.deepEqual(fs.readdirSync(shared), [], "the host's folder at that path stays empty: each Node-RED saw its own volume");
    a.kill('SIGKILL'); // a crash: its container stays behind
    await exited(a);
    const left = await containersOf(ids.a);
    const leftover = left.map((c) => c.Id);
    // One action container (and possibly the runtime's stem cell, started once it was ready).
    assert.equal(left.filter(notCell).length, 1);

    const b = await startRed(backing.b);
    ids.b = idIn(backing.b);
    assert.notEqual(ids.b, ids.a);
    await warm(ids.b);
    // B's start swept its own leftovers (none): A's crashed container is still there.
    assert.deepEqual(
      (await containersOf(ids.a)).map((c) => c.Id),
      leftover,
      "the other Node-RED's container survives",
    );
    b.kill('SIGINT');
    await exited(b);
    assert.deepEqual(await containersOf(ids.b), [], 'a clean stop removes its own containers');
    assert.deepEqual(
      (await containersOf(ids.a)).map((c) => c.Id),
      leftover,
      'and only its own',
    );

    // A restarts on its volume: the same id, so it sweeps what its crash left and starts a new one.
    const again = await startRed(backing.a);
    assert.equal(idIn(backing.a), ids.a, 'the id survives a restart');
    await until('the leftover swept and a new container warm', async () => {
      const all = await containersOf(ids.a);
      const now = all.filter(notCell);
      return now.length === 1 && all.every((c) => !leftover.includes(c.Id)) && now[0].State === 'running';
    });
    again.kill('SIGINT');
    await exited(again);
    assert.deepEqual(await containersOf(ids.a), []);
  });
});
