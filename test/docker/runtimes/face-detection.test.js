'use strict';
/*
 * The LEON face pipeline's detection stage in real containers: detect-faces (examples/) runs in the
 * leon-edge/face-detect image with its code injected at /init, exactly as the manifest catalog
 * returns it (exec kind blackbox + image + code). The crop and identification stages are tested in
 * face-identify.test.js.
 *
 *   npm run build && npx mocha --timeout 120000 test/docker/runtimes/face-detection.test.js
 *
 * Needs Docker. Without it the suite is skipped, or fails when CI=true. Missing images are built
 * with runtimes/build.sh and runtimes/face-detection/build.sh (offline, nothing is pulled).
 * Prints the measured container start, /init and detection times.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { createRequire } = require('node:module');
const Docker = require('dockerode');
const { request } = require('../../support/http');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FACE_IMAGE = 'leon-edge/face-detect:latest';
const NODE_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const ASTRONAUT = path.join(ROOT, 'test', 'fixtures', 'faces', 'astronaut.png');
const ASTRONAUT_FACE = { x: 177, y: 66, w: 95, h: 95 }; // test/fixtures/faces/README.md
const LABEL = 'leon-edge.test';

const docker = new Docker();
const containers = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function fixture() {
  // test/fixtures/faces (a copy of the project's shared fixture); FACE_FIXTURE overrides.
  const candidates = [process.env.FACE_FIXTURE, ASTRONAUT];
  const file = candidates.find((f) => f && fs.existsSync(f));
  if (!file) throw new Error(`astronaut.png not found (looked in ${candidates.filter(Boolean).join(', ')}); set FACE_FIXTURE`);
  return fs.readFileSync(file);
}

/** POST a JSON body without keep-alive; resolves {status, body}. */
const post = (url, body) => request(url, body);

/** Intersection over union of two {x, y, w, h} boxes. */
function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Starts `image` with 8080 on a random 127.0.0.1 port, waits until the proxy answers and sends
 * /init for the action document `doc` (as a Catalog returns it). Resolves {run, startMs, initMs}.
 */
async function startAction(image, doc) {
  const t0 = Date.now();
  const container = await docker.createContainer({
    Image: image,
    Labels: { [LABEL]: 'face-detection' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: {
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      Memory: (doc.limits?.memory ?? 256) * 1024 * 1024,
    },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const url = `http://127.0.0.1:${info.NetworkSettings.Ports['8080/tcp'][0].HostPort}`;
  // Like the invoker: retry /init while the connection is refused.
  const init = { name: doc.name, main: doc.exec.main || 'main', code: doc.exec.code, binary: doc.exec.binary === true };
  let res;
  let tInit;
  for (const deadline = Date.now() + 15000; ;) {
    tInit = Date.now();
    try {
      res = await post(`${url}/init`, { value: init });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${image} did not answer on ${url}: ${err.message}`, { cause: err });
      await sleep(25);
    }
  }
  const done = Date.now();
  assert.equal(res.status, 200, `/init of ${doc.name} in ${image}: ${JSON.stringify(res.body)}`);
  const defaults = Object.fromEntries((doc.parameters || []).map((p) => [p.key, p.value]));
  return {
    startMs: tInit - t0,
    initMs: done - tInit,
    totalMs: done - t0,
    run: (params) =>
      post(`${url}/run`, {
        value: { ...defaults, ...params },
        action_name: `/${doc.namespace}/${doc.name}`,
        activation_id: 'f'.repeat(32),
        deadline: String(Date.now() + (doc.limits?.timeout ?? 60000)),
      }),
  };
}

async function imageExists(name) {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

describe('LEON face pipeline in containers (examples/, leon-edge/face-detect)', function () {
  this.timeout(60000);
  let catalog;
  let Jimp;
  let astronaut; // base64
  let detect; // the detect-faces container
  let detectDoc;

  before(async function () {
    this.timeout(15 * 60 * 1000);
    try {
      await docker.ping();
    } catch (err) {
      const msg = `Docker is not reachable (${err.message}); the face-detection tests need a Docker engine`;
      if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      console.log(`    skipped: ${msg}`);
      this.skip();
    }
    if (!(await imageExists(NODE_IMAGE))) {
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
    // Idempotent and fast when nothing changed; also installs jimp used below.
    execFileSync('bash', [path.join(ROOT, 'runtimes', 'face-detection', 'build.sh')], { stdio: 'inherit' });
    ({ Jimp } = createRequire(path.join(ROOT, 'runtimes', 'face-detection', 'package.json'))('jimp'));

    const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');
    catalog = new ManifestCatalog(path.join(ROOT, 'examples', 'manifest.yaml'));
    detectDoc = await catalog.getAction({ namespace: 'guest', name: 'facedemo/detect-faces' });
    assert.equal(detectDoc.exec.kind, 'blackbox');
    assert.equal(detectDoc.exec.image, FACE_IMAGE);
    astronaut = fixture().toString('base64');

    detect = await startAction(detectDoc.exec.image, detectDoc);
    console.log(`    detect-faces: container start ${detect.startMs} ms + /init ${detect.initMs} ms = ${detect.totalMs} ms`);
  });

  after(async function () {
    const all = containers.splice(0);
    await Promise.all(all.map((c) => c.remove({ force: true }).catch(() => {})));
  });

  it("finds the astronaut's face (IoU > 0.5 with 177,66,95,95), then fast when warm", async function () {
    const cold = await detect.run({ image: astronaut });
    assert.equal(cold.status, 200, JSON.stringify(cold.body));
    const { faces, width, height } = cold.body;
    assert.deepEqual([width, height], [512, 512]);
    assert.equal(faces.length, 1, JSON.stringify(faces));
    const overlap = iou(faces[0], ASTRONAUT_FACE);
    assert.ok(overlap > 0.5, `IoU ${overlap.toFixed(2)} with ${JSON.stringify(faces[0])}`);
    assert.match(faces[0].hash, /^[0-9a-f]{16}$/);

    const warm = [];
    const wall = [];
    for (let i = 0; i < 5; i++) {
      const t = Date.now();
      const res = await detect.run({ payload: astronaut }); // payload is accepted too
      wall.push(Date.now() - t);
      assert.equal(res.body.faces.length, 1);
      warm.push(res.body.ms);
    }
    console.log(
      `    detect-faces 512x512: first run ${cold.body.ms} ms; warm median ${median(warm)} ms in the action, ` +
        `${median(wall)} ms per /run round trip (base64 PNG ${Math.round(astronaut.length / 1024)} KB)`,
    );
  });

  it('finds no face in a picture without one (a gradient)', async function () {
    const image = new Jimp({ width: 320, height: 240 });
    image.scan(0, 0, 320, 240, (x, y, idx) => {
      image.bitmap.data[idx] = Math.round((x / 320) * 255);
      image.bitmap.data[idx + 1] = Math.round((y / 240) * 255);
      image.bitmap.data[idx + 2] = 128;
      image.bitmap.data[idx + 3] = 255;
    });
    const jpeg = (await image.getBuffer('image/jpeg')).toString('base64');
    const res = await detect.run({ image: jpeg });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.faces, []);
    assert.deepEqual([res.body.width, res.body.height], [320, 240]);
  });

  it('answers bad input with {error} (an application error), not a crash', async function () {
    for (const params of [{ image: Buffer.from('this is not an image').toString('base64') }, { image: '' }, {}, { image: 42 }]) {
      const res = await detect.run(params);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(typeof res.body.error, 'string', `${JSON.stringify(params)} → ${JSON.stringify(res.body)}`);
      assert.ok(!('faces' in res.body));
    }
    // The container is still fine afterwards.
    const again = await detect.run({ image: astronaut });
    assert.equal(again.body.faces.length, 1);
  });
});
