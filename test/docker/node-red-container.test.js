'use strict';
// LEON's topology: Node-RED itself in a container on the gateway's Docker engine, the engine's socket
// mounted, a user-defined network shared with the action containers. The Node-RED image is built here
// without a registry (test/support/node-red-image): node-red 4.1 and this package (npm pack) are
// installed on the host, then copied onto leon-edge/node-base:20 with `docker build --network none`.
// A flow deployed through the admin API runs a local action for an HTTP request from this test; when
// that Node-RED container stops, no action container is left.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { until } = require('../support/red-process');
const { docker, requireDocker, requireImage, containersWith } = require('../support/docker');

const root = path.resolve(__dirname, '..', '..');
const { instanceIdFile } = require('../../dist/lib/runtime-config');
const BASE = 'leon-edge/node-base:20';
const ACTION_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const NR_IMAGE = 'leon-edge/test-node-red:4.1';
const NODE_RED_VERSION = require(path.join(root, 'node_modules', 'node-red-v4', 'package.json')).version;
const SOCKET = '/var/run/docker.sock';

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 180000, ...opts });
  if (res.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.error?.message ?? ''}${res.stderr || res.stdout}`);
  return res.stdout;
}

/**
 * Builds NR_IMAGE from this checkout's dist/ unless an image of the very same inputs exists (label
 * leon-edge.test.fingerprint): the packed tarball, the Dockerfile, node-red's version and the base image.
 */
async function buildNodeRedImage() {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-nr-image-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', ctx], { cwd: root }))[0].filename;
    const tarball = path.join(ctx, path.basename(packed));
    const dockerfile = path.join(root, 'test', 'support', 'node-red-image', 'Dockerfile');
    const baseId = (await docker.getImage(BASE).inspect()).Id;
    const fingerprint = crypto
      .createHash('sha256')
      .update(fs.readFileSync(tarball))
      .update(fs.readFileSync(dockerfile))
      .update(NODE_RED_VERSION)
      .update(baseId)
      .digest('hex')
      .slice(0, 16);
    const existing = await docker
      .getImage(NR_IMAGE)
      .inspect()
      .catch(() => undefined);
    if (existing?.Config?.Labels?.['leon-edge.test.fingerprint'] === fingerprint) return;

    const app = path.join(ctx, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'leon-node-red-image', private: true }));
    // From the host's npm cache when it holds these versions (npm ci of this repo put node-red 4.1 there).
    run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--omit=optional',
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        `node-red@${NODE_RED_VERSION}`,
        tarball,
      ],
      { cwd: app },
    );
    fs.rmSync(tarball);
    fs.copyFileSync(dockerfile, path.join(ctx, 'Dockerfile'));
    run('docker', ['build', '--network', 'none', '-q', '--label', `leon-edge.test.fingerprint=${fingerprint}`, '-t', NR_IMAGE, ctx]);
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

const manifest = `packages:
  edge:
    actions:
      where:
        function: where.js
        runtime: nodejs:20
        inputs:
          name: World
`;
// The action says where it ran: its container's hostname (Docker sets it to the container id's start).
const action = `function main(params) {
  return { payload: 'Hello, ' + params.name + '!', hostname: require('os').hostname(), activation: process.env.__OW_ACTIVATION_ID };
}
module.exports.main = main;
`;

function flow(network) {
  return [
    { id: 'tab1', type: 'tab', label: 'edge' },
    {
      id: 'rt',
      type: 'openwhisk-runtime',
      name: 'in a container',
      mode: 'local',
      service: '',
      source: 'manifest',
      manifest: 'manifest.yaml',
      images: `nodejs:*=${ACTION_IMAGE}`,
      network,
      capacity: 2,
      queue: 10,
      // Node-RED in a container listens on every interface, here without adminAuth: the test's own action only.
      allowOpenAdmin: true,
    },
    { id: 'req', z: 'tab1', type: 'http in', url: '/where', method: 'post', x: 100, y: 40, wires: [['act']] },
    { id: 'act', z: 'tab1', type: 'openwhisk-action', runtime: 'rt', action: 'edge/where', params: [], x: 300, y: 40, wires: [['res']] },
    { id: 'failed', z: 'tab1', type: 'catch', scope: ['act'], x: 100, y: 100, wires: [['why']] },
    {
      id: 'why',
      z: 'tab1',
      type: 'function',
      func: 'msg.statusCode = 500; msg.payload = { error: msg.error.message }; return msg;',
      x: 300,
      y: 100,
      wires: [['res']],
    },
    { id: 'res', z: 'tab1', type: 'http response', statusCode: '', headers: {}, x: 500, y: 40 },
  ];
}

/** The last lines a container wrote (Docker's log stream demultiplexed). */
async function logsOf(container) {
  const raw = await container.logs({ stdout: true, stderr: true, tail: 60 }).catch(() => Buffer.alloc(0));
  const parts = [];
  for (let i = 0; i + 8 <= raw.length; i += 8 + raw.readUInt32BE(i + 4)) parts.push(raw.subarray(i + 8, i + 8 + raw.readUInt32BE(i + 4)));
  return Buffer.concat(parts).toString('utf8');
}

describe("Node-RED in a container with the Docker socket mounted (LEON's topology)", function () {
  this.timeout(240000);
  let userDir;
  let network;
  let red;
  let url;
  let inst;

  before(async function () {
    await requireDocker(this);
    await requireImage(this, BASE);
    await requireImage(this, ACTION_IMAGE);
    const t0 = Date.now();
    await buildNodeRedImage();
    console.log(`      (Node-RED image ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);

    const tag = crypto.randomBytes(4).toString('hex');
    network = `leon-nr-test-${tag}`;
    await docker.createNetwork({ Name: network, Driver: 'bridge', Labels: { 'io.leon-edge.test': 'node-red-container' } });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-nr-data-'));
    fs.writeFileSync(
      path.join(userDir, 'settings.js'),
      'module.exports = { uiHost: "0.0.0.0", uiPort: 1880, flowFile: "flows.json", credentialSecret: "test", editorTheme: { tours: false } };\n',
    );
    fs.writeFileSync(path.join(userDir, 'manifest.yaml'), manifest);
    fs.writeFileSync(path.join(userDir, 'where.js'), action);
    fs.writeFileSync(path.join(userDir, 'flows.json'), '[]');
    run('chown', ['-R', '1000:1000', userDir]); // the image's user "node"

    red = await docker.createContainer({
      Image: NR_IMAGE,
      name: `leon-nr-test-${tag}`,
      Labels: { 'io.leon-edge.test': 'node-red-container' },
      ExposedPorts: { '1880/tcp': {} },
      HostConfig: {
        Binds: [`${userDir}:/data`, `${SOCKET}:${SOCKET}`],
        // The socket's group, as `docker run --group-add` gives it to Node-RED's non-root user.
        GroupAdd: [String(fs.statSync(SOCKET).gid)],
        NetworkMode: network,
        PortBindings: { '1880/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      },
    });
    await red.start();
    const info = await red.inspect();
    url = `http://127.0.0.1:${info.NetworkSettings.Ports['1880/tcp'][0].HostPort}`;
    await until(
      "Node-RED's admin API",
      async () => {
        if (!(await red.inspect()).State.Running) throw new Error(`the Node-RED container exited:\n${await logsOf(red)}`);
        return fetch(`${url}/flows`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
      },
      60000,
    );
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && red) console.log(`      Node-RED container log:\n${await logsOf(red)}`);
  });

  after(async () => {
    if (red) await red.remove({ force: true }).catch(() => undefined);
    if (inst)
      for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    if (network) {
      // Anything of ours still on the network, even if the instance id was never read.
      for (const c of await docker.listContainers({ all: true, filters: { network: [network], label: ['io.leon-edge.managed=true'] } })) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
      await docker
        .getNetwork(network)
        .remove()
        .catch(() => undefined);
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  const ours = () => {
    assert.ok(inst, 'the instance id is known');
    return containersWith(`io.leon-edge.instance=${inst}`);
  };

  it('deploys a flow through the admin API and runs a local action in a container on the user-defined network', async () => {
    const res = await fetch(`${url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flow(network)),
    });
    assert.equal(res.status, 204, await res.text());
    // The id this Node-RED labels its containers with, kept in its user directory (the mounted /data).
    inst = await until('the instance id', () => fs.existsSync(instanceIdFile(userDir)) && fs.readFileSync(instanceIdFile(userDir), 'utf8').trim(), 30000);
    const [warm] = await until(
      'a warm action container',
      async () => {
        const list = (await ours()).filter((c) => c.State === 'running');
        return list.length ? list : undefined;
      },
      60000,
    );

    const answer = await fetch(`${url}/where`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Pi"}' });
    const body = await answer.json();
    assert.equal(answer.status, 200, JSON.stringify(body));
    assert.equal(body.payload, 'Hello, Pi!');
    assert.match(body.activation, /^[0-9a-f]{32}$/);

    // It ran in the action container (not in Node-RED's), which sits on the runtime's network only,
    // publishes no port and was created through the mounted socket by this Node-RED.
    assert.ok(warm.Id.startsWith(body.hostname), `hostname ${body.hostname} is not the warm container ${warm.Id}`);
    const details = await docker.getContainer(warm.Id).inspect();
    assert.deepEqual(Object.keys(details.NetworkSettings.Networks), [network]);
    assert.deepEqual(details.HostConfig.PortBindings ?? {}, {});
    assert.equal(details.Config.Image, ACTION_IMAGE);
  });

  it('leaves no action container behind when the Node-RED container stops', async () => {
    assert.ok((await ours()).length > 0, 'an action container runs before the stop');
    await red.stop({ t: 20 }); // SIGTERM to Node-RED, as `docker stop` and a gateway's shutdown send it
    const state = (await red.inspect()).State;
    assert.equal(state.ExitCode, 0, `Node-RED exited with ${state.ExitCode}`);
    assert.deepEqual(
      (await ours()).map((c) => c.Names[0]),
      [],
    );
    assert.deepEqual(
      (await containersWith('io.leon-edge.managed=true')).filter((c) => c.Labels['io.leon-edge.instance'] === inst),
      [],
    );
    const attached = (await docker.getNetwork(network).inspect()).Containers ?? {};
    assert.deepEqual(
      Object.values(attached).map((c) => c.Name),
      [],
      'nothing is left on the network',
    );
  });
});
