'use strict';
// The runtime config node's Platform field, through deployed flows (real Node-RED, real Docker): a
// Node.js and a Python action run on the engine's own platform and on linux/arm64 under qemu user
// emulation (binfmt_misc), each answering with the architecture of the binary that ran it; native
// face detection (examples/detect-faces.py on leon-edge/face-detect-native:arm64) finds the
// astronaut's face on arm64 through a flow; arm64 images on a runtime left at the engine's platform
// are refused at deploy with a message naming both platforms; a bad platform is a config error.
// Needs the images of runtimes/build.sh (host and --platform linux/arm64) and
// runtimes/face-detection/build.sh --platform linux/arm64; .ci/run builds them and sets up binfmt.
// Emulated run times are not ARM speed.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { helper, nodes, nextMessage, waitForStatus, lastStatus, errorsOf } = require('../../support/nr');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { docker, requireDocker, requireImage, containersWith, ownInstance } = require('../../support/docker');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ASTRONAUT_FACE = { x: 177, y: 66, w: 95, h: 95 }; // test/fixtures/faces/README.md
// On an amd64 engine the foreign platform is arm64 (images tagged :arm64); on an arm64 one, amd64.
const FOREIGN = {
  amd64: { platform: 'linux/arm64', tag: 'arm64', qemu: 'qemu-aarch64', nodeArch: 'arm64', machine: 'aarch64' },
  arm64: { platform: 'linux/amd64', tag: 'amd64', qemu: 'qemu-x86_64', nodeArch: 'x64', machine: 'x86_64' },
};
const HOST = {
  amd64: { nodeArch: 'x64', machine: 'x86_64' },
  arm64: { nodeArch: 'arm64', machine: 'aarch64' },
};

const NODE_CODE = `
const os = require('os');
function main(p) {
  console.log('node on ' + process.arch);
  return { arch: process.arch, machine: os.machine(), hello: p.name };
}`;
const PYTHON_CODE = `
import platform
def main(args):
    print('python on ' + platform.machine())
    return {'machine': platform.machine(), 'hello': args.get('name')}
`;

function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (ix * iy) / (a.w * a.h + b.w * b.h - ix * iy);
}

function emulated(qemu) {
  try {
    return fs.readFileSync(path.join('/proc/sys/fs/binfmt_misc', qemu), 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}

describe("runtime Platform field: actions on the engine's platform and emulated ARM through deployed flows", function () {
  this.timeout(10 * 60 * 1000);
  let ow;
  let host;
  let foreign;

  before(async function () {
    await requireDocker(this);
    const arch = (await docker.version()).Arch;
    host = HOST[arch];
    foreign = FOREIGN[arch];
    if (!foreign) throw new Error(`no emulated platform is defined for an engine on ${arch}`);
    if (!emulated(foreign.qemu)) {
      const why = `binfmt_misc handler ${foreign.qemu} missing (apt-get install qemu-user-static binfmt-support; .ci/run sets it up)`;
      if (process.env.CI === 'true') throw new Error(`${why} (CI=true: failing instead of skipping)`);
      console.log(`      (skipped: ${why})`);
      this.skip();
    }
    for (const image of [
      'leon-edge/action-nodejs-v20:latest',
      'leon-edge/action-python-v3.11:latest',
      `leon-edge/action-nodejs-v20:${foreign.tag}`,
      `leon-edge/action-python-v3.11:${foreign.tag}`,
      `leon-edge/face-detect-native:${foreign.tag}`,
    ])
      await requireImage(this, image);
    ow = await startOpenWhiskServer();
    const limits = { timeout: 120000, memory: 256 };
    ow.putAction('guest', 'arch-node', { exec: { kind: 'nodejs:20', code: NODE_CODE }, limits });
    ow.putAction('guest', 'arch-python', { exec: { kind: 'python:3.11', code: PYTHON_CODE }, limits });
    ow.putAction('guest', 'detect-faces', {
      exec: {
        kind: 'blackbox',
        image: `leon-edge/face-detect-native:${foreign.tag}`,
        code: fs.readFileSync(path.join(ROOT, 'examples', 'detect-faces.py'), 'utf8'),
      },
      limits: { timeout: 120000, memory: 512 },
    });
  });
  after(async () => ow && ow.stop());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
  });

  const creds = () => ({ svc: { key: ow.key('guest') } });
  function runtime(id, platform, tag) {
    return {
      id,
      type: 'openwhisk-runtime',
      mode: 'local',
      service: 'svc',
      platform,
      capacity: 3,
      images: `nodejs:*=leon-edge/action-nodejs-v20:${tag}\npython:*=leon-edge/action-python-v3.11:${tag}`,
    };
  }
  function action(id, rt, name, out) {
    return { id, type: 'openwhisk-action', runtime: rt, action: name, namespace: '', params: [], wires: [[out]] };
  }

  async function ask(node, payload, ms) {
    const got = nextMessage(helper.getNode(`${node.id}-out`), ms);
    node.receive({ payload });
    return got;
  }

  it("runs a Node.js and a Python action on the engine's platform (default) and on emulated ARM, in one flow", async () => {
    const flow = [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      runtime('rt-host', '', 'latest'),
      runtime('rt-arm', foreign.platform, foreign.tag),
      action('host-node', 'rt-host', 'arch-node', 'host-node-out'),
      action('host-py', 'rt-host', 'arch-python', 'host-py-out'),
      action('arm-node', 'rt-arm', 'arch-node', 'arm-node-out'),
      action('arm-py', 'rt-arm', 'arch-python', 'arm-py-out'),
      ...['host-node', 'host-py', 'arm-node', 'arm-py'].map((id) => ({ id: `${id}-out`, type: 'helper' })),
    ];
    await helper.load(nodes, flow, creds());
    const t0 = Date.now();
    for (const id of ['host-node', 'host-py', 'arm-node', 'arm-py']) {
      await waitForStatus(helper.getNode(id), (s) => s.fill === 'green' || s.fill === 'red', 180000);
      const st = lastStatus(helper.getNode(id));
      assert.equal(st.fill, 'green', `${id}: ${JSON.stringify(st)}`);
    }
    console.log(`      (deployed 2 + 2 emulated containers in ${Date.now() - t0} ms)`);

    const hostNode = await ask(helper.getNode('host-node'), { name: 'gateway' }, 30000);
    assert.deepEqual(hostNode.payload, { arch: host.nodeArch, machine: host.machine, hello: 'gateway' });
    const hostPy = await ask(helper.getNode('host-py'), { name: 'gateway' }, 30000);
    assert.deepEqual(hostPy.payload, { machine: host.machine, hello: 'gateway' });

    const armNode = await ask(helper.getNode('arm-node'), { name: 'Pi' }, 60000);
    assert.deepEqual(armNode.payload, { arch: foreign.nodeArch, machine: foreign.machine, hello: 'Pi' });
    assert.ok(
      armNode.data.logs.some((l) => l.includes(`node on ${foreign.nodeArch}`)),
      JSON.stringify(armNode.data.logs),
    );
    const armPy = await ask(helper.getNode('arm-py'), { name: 'Pi' }, 60000);
    assert.deepEqual(armPy.payload, { machine: foreign.machine, hello: 'Pi' });
    assert.ok(
      armPy.data.logs.some((l) => l.includes(`python on ${foreign.machine}`)),
      JSON.stringify(armPy.data.logs),
    );

    // The containers are the images of each runtime's platform.
    for (const [id, want] of [
      ['host-node', 'latest'],
      ['arm-py', foreign.tag],
    ]) {
      const [c] = await containersWith(`io.leon-edge.node=${id}`, ownInstance());
      assert.ok(c, `a container for ${id}`);
      assert.match(c.Image, new RegExp(`:${want}$`), `${id} runs ${c.Image}`);
    }
  });

  it('nodejs:22 and nodejs:default with no images typed: Node.js 22 on emulated arm64; on linux/arm/v7 the default is Node.js 20 and nodejs:22 says why it has no image', async function () {
    if (foreign.tag !== 'arm64') this.skip(); // the ARM images of this package on an amd64 engine
    if (!emulated('qemu-arm')) {
      const why = 'binfmt_misc handler qemu-arm missing (.ci/run sets it up)';
      if (process.env.CI === 'true') throw new Error(why);
      this.skip();
    }
    for (const image of ['leon-edge/action-nodejs-v22:arm64', 'leon-edge/action-nodejs-v20:armv7']) await requireImage(this, image);
    // A manifest: a service stores nodejs:default as its default kind, a manifest's action without a runtime is nodejs:default.
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'leon-platform-'));
    fs.writeFileSync(path.join(dir, 'version.js'), 'function main() { return { version: process.version, arch: process.arch }; }\n');
    fs.writeFileSync(
      path.join(dir, 'manifest.yaml'),
      [
        'packages:',
        '  v:',
        '    actions:',
        '      v22:',
        '        function: version.js',
        '        runtime: nodejs:22',
        '      plain:',
        '        function: version.js',
        '',
      ].join('\n'),
    );
    helper.settings({ userDir: dir }); // a manifest is read only from the user directory (or the examples)
    try {
      const bare = (id, platform) => ({
        id,
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest: path.join(dir, 'manifest.yaml'),
        platform,
        capacity: 3,
        images: '',
      });
      const flow = [
        bare('rt-a64', 'linux/arm64'),
        bare('rt-v7', 'linux/arm/v7'),
        action('a64-22', 'rt-a64', 'v/v22', 'a64-22-out'),
        action('a64-def', 'rt-a64', 'v/plain', 'a64-def-out'),
        action('v7-def', 'rt-v7', 'v/plain', 'v7-def-out'),
        action('v7-22', 'rt-v7', 'v/v22', 'v7-22-out'),
        ...['a64-22', 'a64-def', 'v7-def', 'v7-22'].map((id) => ({ id: `${id}-out`, type: 'helper' })),
      ];
      await helper.load(nodes, flow);
      for (const id of ['a64-22', 'a64-def', 'v7-def']) {
        await waitForStatus(helper.getNode(id), (st) => st.fill === 'green' || st.fill === 'red', 180000);
        assert.equal(lastStatus(helper.getNode(id)).fill, 'green', `${id}: ${errorsOf(helper.getNode(id)).join('; ')}`);
      }
      for (const [id, major, arch] of [
        ['a64-22', 'v22.', 'arm64'],
        ['a64-def', 'v22.', 'arm64'],
        ['v7-def', 'v20.', 'arm'],
      ]) {
        const m = await ask(helper.getNode(id), {}, 60000);
        assert.ok(m.payload.version.startsWith(major), `${id}: ${m.payload.version}`);
        assert.equal(m.payload.arch, arch);
      }
      const v722 = helper.getNode('v7-22');
      await waitForStatus(v722, (st) => st.fill === 'red', 180000);
      const errors = errorsOf(v722);
      assert.ok(
        errors.some((e) => /no image for kind 'nodejs:22' on this platform: no maintained Node\.js 22 build exists for linux\/arm\/v7/.test(e)),
        errors.join('\n'),
      );
    } finally {
      helper.settings({});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("detects the astronaut's face natively on emulated ARM through a flow", async () => {
    const flow = [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      runtime('rt-arm', foreign.platform, foreign.tag),
      action('face', 'rt-arm', 'detect-faces', 'face-out'),
      { id: 'face-out', type: 'helper' },
    ];
    await helper.load(nodes, flow, creds());
    const face = helper.getNode('face');
    await waitForStatus(face, (s) => s.fill === 'green' || s.fill === 'red', 180000);
    assert.equal(lastStatus(face).fill, 'green', JSON.stringify(lastStatus(face)));
    const image = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'faces', 'astronaut.png')).toString('base64');
    const msg = await ask(face, { image }, 120000);
    const r = msg.payload;
    console.log(`      (emulated ${foreign.platform}: detect ${r.ms} ms)`);
    assert.equal(r.width, 512);
    assert.equal(r.height, 512);
    assert.equal(r.faces.length, 1, JSON.stringify(r.faces));
    assert.ok(iou(r.faces[0], ASTRONAUT_FACE) > 0.5, JSON.stringify(r.faces[0]));
  });

  it("refuses ARM images on a runtime left at the engine's own platform, naming both platforms", async () => {
    const flow = [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      runtime('rt-host', '', foreign.tag),
      action('wrong', 'rt-host', 'arch-node', 'wrong-out'),
      { id: 'wrong-out', type: 'helper' },
    ];
    await helper.load(nodes, flow, creds());
    const wrong = helper.getNode('wrong');
    await waitForStatus(wrong, (s) => s.fill === 'red', 60000);
    const errors = errorsOf(wrong);
    assert.ok(
      errors.some((e) => e.includes(`built for ${foreign.platform}`) && /the Docker engine runs linux\//.test(e)),
      errors.join('\n'),
    );
    assert.equal((await containersWith('io.leon-edge.node=wrong')).length, 0);
  });

  it('a platform outside amd64, arm64, arm/v7 is a config error, and no container starts', async () => {
    const flow = [
      { id: 'svc', type: 'openwhisk-service', api: ow.url },
      runtime('rt-bad', 'linux/s390x', 'latest'),
      action('bad', 'rt-bad', 'arch-node', 'bad-out'),
      { id: 'bad-out', type: 'helper' },
    ];
    await helper.load(nodes, flow, creds());
    const bad = helper.getNode('bad');
    await waitForStatus(bad, (s) => s.fill === 'red', 20000);
    const errors = errorsOf(bad);
    assert.ok(
      errors.some((e) => /platform 'linux\/s390x' is not one of linux\/amd64, linux\/arm64, linux\/arm\/v7/.test(e)),
      errors.join('\n'),
    );
    assert.equal((await containersWith('io.leon-edge.node=bad')).length, 0);
  });
});
