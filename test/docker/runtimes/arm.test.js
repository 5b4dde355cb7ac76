'use strict';
/*
 * The runtime images built for ARM (runtimes/build.sh --platform …) run actions through the real local
 * engine (lib/local), on this machine under qemu user emulation (binfmt_misc): Node.js 22 and 20 and
 * Python actions and native face detection on the astronaut fixture on linux/arm64, the Node.js 20 (Debian
 * trixie's, 20.19 or newer) and Python runtimes on linux/arm/v7 (which has no Node.js 22 image: runtimes/build.sh,
 * docs/images-and-arm.md "ARM"). The engine is told the images' platform (LocalEngineOptions.platform) — the platform
 * check itself stays on: an engine left at its own platform refuses them, which proves the labels.
 *
 *   npm run build && npx mocha --timeout 600000 test/docker/runtimes/arm.test.js
 *
 * Needs Docker and qemu-user-static with binfmt_misc (.ci/run installs both). Missing images are built
 * with runtimes/build.sh and runtimes/face-detection/build.sh --platform …. Without an emulator the suite
 * is skipped, or fails when CI=true. Times printed here are emulated: a sanity check only, not ARM speed.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Docker = require('dockerode');

const { LocalEngine } = require('../../../dist/lib/local/engine');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const INSTANCE = `armtest-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const ASTRONAUT = path.join(ROOT, 'test', 'fixtures', 'faces', 'astronaut.png');
const ASTRONAUT_FACE = { x: 177, y: 66, w: 95, h: 95 }; // test/fixtures/faces/README.md
const PLATFORMS = {
  arm64: { platform: 'linux/arm64', qemu: 'qemu-aarch64', arch: 'arm64', machine: 'aarch64', node22: true },
  // armv7's Node 20 is Debian trixie's nodejs (20.19 and its security updates), not npm's last armv7 build (20.11.0).
  armv7: { platform: 'linux/arm/v7', qemu: 'qemu-arm', arch: 'arm', machine: /^armv(7|8)l$/, node22: false, node20Min: '20.19.0' },
};

// 'v20.19.2' ≥ '20.19.0'
function versionAtLeast(version, min) {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

const docker = new Docker();
const engines = [];

function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (ix * iy) / (a.w * a.h + b.w * b.h - ix * iy);
}

function actionDoc(name, exec, limits = {}) {
  return {
    namespace: 'guest',
    name,
    version: '0.0.1',
    publish: false,
    exec,
    parameters: [],
    annotations: [{ key: 'exec', value: exec.kind }],
    limits: { timeout: 120000, memory: 256, logs: 10, concurrency: 1, ...limits },
  };
}

function catalogOf(docs) {
  const byName = new Map(docs.map((d) => [`/${d.namespace}/${d.name}`, d]));
  return {
    location: 'in-test catalog',
    async getAction(ref) {
      const d = byName.get(`/${ref.namespace}/${ref.name}`);
      if (!d) throw new Error(`no such action /${ref.namespace}/${ref.name}`);
      return structuredClone(d);
    },
    async runtimeImages() {
      return {};
    },
  };
}

function engine(platform, imageOverrides) {
  const e = new LocalEngine({ instanceId: INSTANCE, runtimeId: `rt-${platform || 'engine'}`, imageOverrides, platform, startTimeout: 120000 });
  engines.push(e);
  return e;
}

function emulated(qemu) {
  const dir = '/proc/sys/fs/binfmt_misc';
  try {
    return fs.readFileSync(path.join(dir, qemu), 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}

async function imageExists(name) {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

const NODE_CODE = `
const os = require('os');
function main(p) {
  console.log('node on ' + process.arch);
  return { arch: process.arch, machine: os.machine(), node: process.version, hello: p.name };
}`;
const PYTHON_CODE = `
import platform, sys
def main(args):
    print('python on ' + platform.machine())
    return {'machine': platform.machine(), 'python': sys.version.split()[0], 'hello': args.get('name')}
`;

for (const [suffix, target] of Object.entries(PLATFORMS)) {
  describe(`ARM images, emulated: ${target.platform} through the local engine`, function () {
    this.timeout(10 * 60 * 1000);
    const nodeImage = `leon-edge/action-nodejs-v20:${suffix}`;
    const node22Image = target.node22 ? `leon-edge/action-nodejs-v22:${suffix}` : undefined;
    const pythonImage = `leon-edge/action-python-v3.11:${suffix}`;
    const faceImage = `leon-edge/face-detect-native:${suffix}`;
    let e;

    before(async function () {
      const missing = [];
      try {
        await docker.ping();
      } catch (err) {
        missing.push(`Docker (${err.message})`);
      }
      if (!emulated(target.qemu)) missing.push(`binfmt_misc handler ${target.qemu} (apt-get install qemu-user-static binfmt-support)`);
      if (missing.length) {
        const msg = `cannot run ${target.platform} images here: no ${missing.join(', no ')}`;
        if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`);
        console.log(`    skipped: ${msg}`);
        this.skip();
      }
      if (!(await imageExists(nodeImage)) || !(await imageExists(pythonImage)) || (node22Image && !(await imageExists(node22Image)))) {
        execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh'), '--platform', target.platform], { stdio: 'inherit' });
      }
      if (suffix === 'arm64' && !(await imageExists(faceImage))) {
        execFileSync('bash', [path.join(ROOT, 'runtimes', 'face-detection', 'build.sh'), '--platform', target.platform], { stdio: 'inherit' });
      }
      e = engine(target.platform, { 'nodejs:20': nodeImage, 'nodejs:*': node22Image ?? nodeImage, 'python:*': pythonImage });
      await e.start();
    });

    after(async () => {
      await Promise.all(engines.splice(0).map((x) => x.close().catch(() => undefined)));
    });

    it('the images carry the platform of their binaries; an engine at its own platform refuses them', async () => {
      const want = target.platform.split('/');
      for (const image of [nodeImage, ...(node22Image ? [node22Image] : []), pythonImage, ...(suffix === 'arm64' ? [faceImage] : [])]) {
        const info = await docker.getImage(image).inspect();
        assert.equal(`${info.Os}/${info.Architecture}`, `${want[0]}/${want[1]}`, image);
        if (want[2]) assert.equal(info.Variant, want[2], image);
      }
      const host = (await docker.version()).Arch;
      if (host !== target.arch) {
        const plain = engine(undefined, { 'nodejs:*': nodeImage });
        const doc = actionDoc('refused', { kind: 'nodejs:20', code: NODE_CODE, binary: false });
        await assert.rejects(
          plain.provision('arm-refused', doc, catalogOf([doc])),
          new RegExp(`built for linux/${target.arch} but the Docker engine runs linux/`),
        );
      }
    });

    it('runs a Node.js action (kind nodejs:20) on the ARM binary', async () => {
      const doc = actionDoc('node-arm', { kind: 'nodejs:20', code: NODE_CODE, binary: false });
      const t0 = Date.now();
      const act = await e.provision(`node-${suffix}`, doc, catalogOf([doc]));
      try {
        const a = await act.invoke({ name: 'Pi' });
        console.log(`      (emulated ${target.platform}: Node.js cold start + run ${Date.now() - t0} ms)`);
        assert.equal(a.response.success, true, JSON.stringify(a.response));
        assert.equal(a.response.result.arch, target.arch);
        assert.match(a.response.result.machine, target.machine instanceof RegExp ? target.machine : new RegExp(`^${target.machine}$`));
        assert.match(a.response.result.node, /^v20\./);
        if (target.node20Min) {
          assert.ok(
            versionAtLeast(a.response.result.node, target.node20Min),
            `${nodeImage} runs Node ${a.response.result.node}, older than ${target.node20Min} (rebuild it: bash runtimes/build.sh --platform ${target.platform})`,
          );
        }
        assert.equal(a.response.result.hello, 'Pi');
        assert.ok(
          a.logs.some((l) => l.includes(`node on ${target.arch}`)),
          a.logs.join('\n'),
        );
      } finally {
        await act.close();
      }
    });

    if (target.node22) {
      it('runs a Node.js 22 action (kinds nodejs:22, nodejs:default) on the ARM binary', async () => {
        for (const kind of ['nodejs:22', 'nodejs:default']) {
          const doc = actionDoc(`node22-${kind.replace(':', '-')}`, { kind, code: NODE_CODE, binary: false });
          const t0 = Date.now();
          const act = await e.provision(`node22-${suffix}-${kind}`, doc, catalogOf([doc]));
          try {
            assert.equal(act.image, node22Image);
            const a = await act.invoke({ name: 'Pi' });
            console.log(`      (emulated ${target.platform}: Node.js ${kind} cold start + run ${Date.now() - t0} ms)`);
            assert.equal(a.response.success, true, JSON.stringify(a.response));
            assert.equal(a.response.result.arch, target.arch);
            assert.match(a.response.result.machine, target.machine instanceof RegExp ? target.machine : new RegExp(`^${target.machine}$`));
            assert.match(a.response.result.node, /^v22\./);
            assert.equal(a.response.result.hello, 'Pi');
          } finally {
            await act.close();
          }
        }
      });
    }

    it('runs a Python action (kinds python:3, python:default) on the ARM binary', async () => {
      for (const kind of ['python:3', 'python:default']) {
        const doc = actionDoc(`py-${kind.replace(':', '-')}`, { kind, code: PYTHON_CODE, binary: false });
        const t0 = Date.now();
        const act = await e.provision(`py-${suffix}-${kind}`, doc, catalogOf([doc]));
        try {
          const a = await act.invoke({ name: 'Pi' });
          console.log(`      (emulated ${target.platform}: Python ${kind} cold start + run ${Date.now() - t0} ms)`);
          assert.equal(a.response.success, true, JSON.stringify(a.response));
          assert.match(a.response.result.machine, target.machine instanceof RegExp ? target.machine : new RegExp(`^${target.machine}$`));
          assert.match(a.response.result.python, /^3\.\d+\.\d+$/);
          assert.equal(a.response.result.hello, 'Pi');
          assert.ok(
            a.logs.some((l) => l.includes('python on ')),
            a.logs.join('\n'),
          );
        } finally {
          await act.close();
        }
      }
    });

    if (suffix === 'arm64') {
      it("detects the astronaut's face natively (python3-opencv for arm64, examples/detect-faces.py)", async () => {
        const code = fs.readFileSync(path.join(ROOT, 'examples', 'detect-faces.py'), 'utf8');
        const doc = actionDoc('detect-faces', { kind: 'blackbox', image: faceImage, code, binary: false }, { memory: 512 });
        const t0 = Date.now();
        const act = await e.provision('face-arm64', doc, catalogOf([doc]));
        try {
          const image = fs.readFileSync(ASTRONAUT).toString('base64');
          const a = await act.invoke({ image });
          console.log(`      (emulated arm64: face detection cold start + run ${Date.now() - t0} ms, detect ${a.response.result.ms} ms)`);
          assert.equal(a.response.success, true, JSON.stringify(a.response));
          const r = a.response.result;
          assert.equal(r.width, 512);
          assert.equal(r.height, 512);
          assert.equal(r.faces.length, 1, JSON.stringify(r.faces));
          assert.ok(iou(r.faces[0], ASTRONAUT_FACE) > 0.5, JSON.stringify(r.faces[0]));
          assert.match(r.faces[0].hash, /^[0-9a-f]{16}$/);
        } finally {
          await act.close();
        }
      });
    }
  });
}
