'use strict';
// A real Node-RED process with a local runtime: redeploys through the admin API leave no container
// behind, a clean stop removes them all, and after a crash (SIGKILL) the next start sweeps what this
// instance left — and nothing of anyone else's.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { until, freePort, writeUserDir } = require('../support/red-process');
const { docker, requireDocker, requireImage, containersWith } = require('../support/docker');
const node22 = require('../../scripts/node22');

const root = path.resolve(__dirname, '..', '..');
const { instanceIdFile } = require('../../dist/lib/runtime-config');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';

function flows(suffix) {
  return [
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
      capacity: 4,
      queue: 10,
    },
    { id: `hello${suffix}`, z: 'tab1', type: 'openwhisk-action', runtime: 'rt', action: 'facedemo/hello', params: [], wires: [[]] },
    { id: `thr${suffix}`, z: 'tab1', type: 'openwhisk-action', runtime: 'rt', action: 'facedemo/threshold', params: [], wires: [[]] },
  ];
}

describe('a real Node-RED process with local actions', function () {
  this.timeout(240000);
  let userDir;
  let port;
  let red;
  let inst;
  let foreign;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-red-'));
    writeUserDir(userDir, flows(''));
    port = await freePort();
    // Someone else's container on the same engine, labelled like ours but for another instance.
    foreign = await docker.createContainer({ Image: IMAGE, Labels: { 'io.leon-edge.managed': 'true', 'io.leon-edge.instance': 'someone-else' } });
  });

  after(async () => {
    if (red && red.exitCode === null) red.kill('SIGKILL');
    if (foreign) await foreign.remove({ force: true }).catch(() => undefined);
    if (inst)
      for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  const redJs = path.join(path.dirname(require.resolve('node-red/package.json', { paths: [root] })), 'red.js');

  async function startRed() {
    let out = '';
    red = spawn(node22.find() || process.execPath, [redJs, '-u', userDir, '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    red.stdout.on('data', (d) => (out += d));
    red.stderr.on('data', (d) => (out += d));
    await until('Node-RED to start its flows', () => /Started flows/.test(out) || (red.exitCode !== null && Promise.reject(new Error(out))), 60000);
    // The id this Node-RED labels its containers with: random, kept in its user directory across restarts.
    const id = fs.readFileSync(instanceIdFile(userDir), 'utf8').trim();
    if (inst) assert.equal(id, inst, 'the instance id survives a restart');
    inst = id;
    return () => out;
  }
  // Action containers: a stem cell (label io.leon-edge.stemcell, no node label) is not one of them.
  const everything = () => containersWith(`io.leon-edge.instance=${inst}`);
  const ours = async () => (await containersWith(`io.leon-edge.instance=${inst}`)).filter((c) => !c.Labels['io.leon-edge.stemcell']);
  const running = async () => (await ours()).filter((c) => c.State === 'running');

  it('keeps exactly one warm container per action node across 20 redeploys', async () => {
    await startRed();
    await until('two warm containers', async () => (await running()).length === 2);
    for (let i = 1; i <= 20; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(flows(`-${i}`)),
      });
      assert.equal(res.status, 204, await res.text());
    }
    await until(
      'the last deploy to be ready',
      async () => {
        const list = await ours();
        return list.length === 2 && list.every((c) => /-20$/.test(c.Labels['io.leon-edge.node']));
      },
      60000,
    );
    const all = await ours();
    assert.equal(all.length, 2, all.map((c) => c.Names[0]).join());
  });

  it('removes every container when Node-RED stops', async () => {
    red.kill('SIGINT');
    await until('Node-RED to exit', () => red.exitCode !== null, 30000);
    assert.deepEqual(
      (await everything()).map((c) => c.Names[0]),
      [],
    );
  });

  it("sweeps what a crashed run left at the next start, and nothing of anyone else's", async () => {
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows('-crash')));
    await startRed();
    // The two actions warm and the stem cell started after them (it comes 100 ms after a hand-over; a
    // listing taken before it would miss it).
    await until(
      'warm containers and the stem cell',
      async () => (await running()).length === 2 && (await everything()).some((c) => c.Labels['io.leon-edge.stemcell']),
    );
    red.kill('SIGKILL'); // a crash: no close handlers run
    await until('Node-RED to die', () => red.exitCode !== null || red.signalCode !== null);
    const before = (await everything()).map((c) => c.Id).sort();
    const left = await ours();
    assert.equal(left.length, 2, `a crash leaves the action containers behind: ${left.map((c) => c.Names[0]).join()}`);
    assert.ok(before.length > left.length, 'and the stem cell');
    await startRed();
    await until(
      'the leftovers to be swept and new ones warm',
      async () => {
        const now = await ours();
        return now.length === 2 && now.every((c) => c.State === 'running') && (await everything()).every((c) => !before.includes(c.Id));
      },
      60000,
    );
    assert.ok(await foreign.inspect(), "the other instance's container is untouched");
    red.kill('SIGINT');
    await until('Node-RED to exit', () => red.exitCode !== null, 30000);
  });
});
