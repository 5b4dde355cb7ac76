'use strict';
/*
 * Action code must not reach the gateway's own Node-RED. A real Node-RED listening on every interface
 * without adminAuth (Node-RED's defaults): an action on the isolation network reaches it at the Docker
 * bridge's address and gets 200 from the admin API, so a local runtime refuses to run actions there
 * unless told that every action is trusted; on loopback only, actions run and cannot reach it. And
 * what containers may write: a read-only root, a /tmp bounded by the action's memory, no new privileges.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { requireDocker, requireImage, containersWith, docker } = require('../support/docker');
const { createRed, until } = require('../support/red-process');
const { instanceIdFile } = require('../../dist/lib/runtime-config');

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';

const manifest = `packages:
  probe:
    actions:
      probe:
        function: probe.js
        runtime: nodejs:20
        limits:
          memorySize: 128
`;
// Connects to the container's default gateway (the Docker host on the bridge) on the given port and
// asks for GET /flows; or tries to write where it should not.
const probe = `const fs = require('fs');
const net = require('net');
function gateway() {
  for (const line of fs.readFileSync('/proc/net/route', 'utf8').trim().split('\\n').slice(1)) {
    const f = line.trim().split(/\\s+/);
    if (f[1] === '00000000') return [3, 2, 1, 0].map((i) => parseInt(f[2].substr(i * 2, 2), 16)).join('.');
  }
}
function main(p) {
  if (p.mode === 'write-root') {
    try { fs.writeFileSync(__dirname + '/planted', 'x'); return { wrote: true }; } catch (e) { return { wrote: false, code: e.code }; }
  }
  if (p.mode === 'fill-tmp') {
    const chunk = Buffer.alloc(1 << 20, 1);
    let mb = 0;
    try { for (; mb < 1024; mb++) fs.appendFileSync('/tmp/fill', chunk); } catch (e) { fs.rmSync('/tmp/fill', { force: true }); return { mb, code: e.code }; }
    fs.rmSync('/tmp/fill', { force: true });
    return { mb };
  }
  const host = gateway();
  return new Promise((resolve) => {
    const s = net.connect({ host, port: p.port, timeout: 3000 });
    let out = '';
    s.on('connect', () => s.write('GET /flows HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n'));
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve({ host, reached: true, status: out.split('\\r\\n')[0] }));
    s.on('timeout', () => { s.destroy(); resolve({ host, reached: false, why: 'timeout' }); });
    s.on('error', (e) => resolve({ host, reached: false, why: e.code }));
  });
}
`;

const settings = (uiHost) =>
  `module.exports = { uiHost: '${uiHost}', flowFile: 'flows.json', credentialSecret: 'test', nodesDir: [${JSON.stringify(ROOT)}], editorTheme: { tours: false } };`;

const flows = (allowOpenAdmin) => [
  { id: 'tab', type: 'tab', label: 'probe' },
  {
    id: 'rt',
    type: 'openwhisk-runtime',
    name: 'local',
    mode: 'local',
    service: '',
    source: 'manifest',
    manifest: 'manifest.yaml',
    images: `nodejs:*=${IMAGE}`,
    stemCells: 0,
    allowOpenAdmin,
  },
  { id: 'in', z: 'tab', type: 'http in', url: '/probe', method: 'post', wires: [['act']] },
  { id: 'act', z: 'tab', type: 'openwhisk-action', runtime: 'rt', action: 'probe/probe', params: [], wires: [['out']] },
  { id: 'caught', z: 'tab', type: 'catch', scope: ['act'], wires: [['why']] },
  { id: 'why', z: 'tab', type: 'function', func: 'msg.statusCode = 500; msg.payload = { error: msg.error.message }; return msg;', wires: [['out']] },
  { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {} },
];

async function post(red, body) {
  const res = await fetch(`${red.url}/probe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

for (const version of [5, 4])
  describe(`actions and the gateway's own Node-RED ${version} (real Docker)`, function () {
    this.timeout(180000);
    let red;

    before(async function () {
      await requireDocker(this);
      await requireImage(this, IMAGE);
      red = await createRed({ version, files: { 'settings.js': settings('0.0.0.0'), 'manifest.yaml': manifest, 'probe.js': probe } });
    });

    after(async () => {
      if (red) await red.destroy();
    });

    it('listening on every interface without adminAuth: no container starts, the message reaches Catch saying what to do', async () => {
      await red.start();
      await red.deploy(flows(false));
      const { status, body } = await post(red, { port: red.port });
      assert.equal(status, 500);
      assert.match(body.error, /Local actions are off: Node-RED's admin API listens on all interfaces \(uiHost 0\.0\.0\.0\) without adminAuth/);
      assert.match(body.error, /Set adminAuth in settings\.js/);
      const inst = `io.leon-edge.instance=${fs.readFileSync(instanceIdFile(red.userDir), 'utf8').trim()}`;
      assert.deepEqual(await containersWith(inst), [], 'no container was started');
    });

    it('the threat is real: with the opt-out ticked, the action gets 200 from the admin API at the bridge address', async () => {
      await red.deploy(flows(true));
      const { status, body } = await until(
        'the probe to run',
        async () => {
          const r = await post(red, { port: red.port });
          return r.status === 200 && r;
        },
        60000,
      );
      assert.equal(status, 200);
      assert.equal(body.reached, true, JSON.stringify(body));
      assert.match(body.status, /^HTTP\/1\.1 200/);
    });

    it('on loopback only (uiHost 127.0.0.1): actions run and cannot reach it; their root is read-only, /tmp bounded, no new privileges', async () => {
      await red.stop();
      fs.writeFileSync(path.join(red.userDir, 'settings.js'), settings('127.0.0.1'));
      fs.writeFileSync(path.join(red.userDir, 'flows.json'), JSON.stringify(flows(false)));
      await red.start();
      const { status, body } = await until(
        'the probe to run',
        async () => {
          const r = await post(red, { port: red.port });
          return r.status === 200 && r;
        },
        60000,
      );
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.reached, false, JSON.stringify(body));
      assert.deepEqual((await post(red, { mode: 'write-root' })).body, { wrote: false, code: 'EROFS' });
      // Its settings, while it runs (filling /tmp below may end it, and its replacement may not be there yet).
      const [c] = (await containersWith('io.leon-edge.managed=true')).filter((x) => x.Labels['io.leon-edge.node'] === 'act');
      const info = await docker.getContainer(c.Id).inspect();
      assert.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges']);
      assert.equal(info.HostConfig.ReadonlyRootfs, true);
      // /tmp lives in the container's memory: filling it ends in ENOSPC at the action's memory limit, or
      // the action is aborted for its memory, never on the Docker host's disk.
      const filled = (await post(red, { mode: 'fill-tmp' })).body;
      assert.ok((filled.mb <= 128 && filled.code) || /exhausted its memory/.test(filled.error), `at most the memory limit in /tmp: ${JSON.stringify(filled)}`);
      assert.deepEqual((await post(red, { port: red.port })).status, 200, 'the next message works');
    });
  });
