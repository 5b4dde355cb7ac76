'use strict';
/*
 * The identification half of the LEON face pipeline in real containers, with the actions exactly as the
 * manifest catalog returns them (blackbox kind + image + code at /init): detect-faces (leon-edge/face-detect)
 * finds the face, crop-faces (leon-edge/face-identify, edge) cuts it out, identify-face (leon-edge/face-identify,
 * the "cloud" stage) computes its descriptor and matches it against a knowledge base made from its own output.
 * Two public-domain people (test/fixtures/faces) and variants made here: mirrored, smaller, rotated, darker.
 */
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { docker, requireDocker, requireImage } = require('../../support/docker');
const { request } = require('../../support/http');
const { photo, variants } = require('../../support/faces');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const LABEL = 'leon-edge.test';
const containers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `doc`'s image on a random 127.0.0.1 port and sends /init as the invoker does. Resolves run(params). */
async function start(doc) {
  const container = await docker.createContainer({
    Image: doc.exec.image,
    Labels: { [LABEL]: 'face-identify' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, Memory: doc.limits.memory * 1024 * 1024 },
  });
  containers.push(container);
  await container.start();
  const url = `http://127.0.0.1:${(await container.inspect()).NetworkSettings.Ports['8080/tcp'][0].HostPort}`;
  const init = { value: { name: doc.name, main: 'main', code: doc.exec.code, binary: false } };
  for (const deadline = Date.now() + 15000; ;) {
    try {
      const res = await request(`${url}/init`, init);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      break;
    } catch (err) {
      if (err.code !== 'ECONNREFUSED' && err.code !== 'ECONNRESET') throw err;
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
  const defaults = Object.fromEntries(doc.parameters.map((p) => [p.key, p.value]));
  return async (params) => {
    const res = await request(`${url}/run`, { value: { ...defaults, ...params }, activation_id: 'f'.repeat(32), deadline: String(Date.now() + 60000) });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 500));
    return res.body;
  };
}

describe('face identification in containers (crop-faces, identify-face; leon-edge/face-identify)', function () {
  this.timeout(120000);
  let detect;
  let crop;
  let identify;
  const pipeline = async (png, known = []) => {
    const image = png.toString('base64');
    const found = await detect({ image });
    assert.ok(Array.isArray(found.faces), JSON.stringify(found));
    const crops = await crop({ image, faces: found.faces });
    assert.ok(Array.isArray(crops.faces), JSON.stringify(crops));
    const who = await identify({ faces: crops.faces, known });
    assert.ok(Array.isArray(who.faces), JSON.stringify(who));
    return { found, crops, who };
  };

  before(async function () {
    this.timeout(15 * 60 * 1000);
    await requireDocker(this);
    await requireImage(this, 'leon-edge/action-nodejs-v20:latest');
    execFileSync('bash', [path.join(ROOT, 'runtimes', 'face-detection', 'build.sh')], { stdio: 'inherit' });
    execFileSync('bash', [path.join(ROOT, 'runtimes', 'face-identify', 'build.sh')], { stdio: 'inherit' });
    const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');
    const catalog = new ManifestCatalog(path.join(ROOT, 'examples', 'manifest.yaml'));
    const doc = (name) => catalog.getAction({ namespace: 'guest', name: `facedemo/${name}` });
    const [d, c, i] = await Promise.all(['detect-faces', 'crop-faces', 'identify-face'].map(doc));
    assert.equal(c.exec.image, 'leon-edge/face-identify:latest');
    assert.equal(i.exec.image, 'leon-edge/face-identify:latest');
    [detect, crop, identify] = await Promise.all([start(d), start(c), start(i)]);
  });

  after(async () => {
    await Promise.all(containers.splice(0).map((c) => c.remove({ force: true }).catch(() => {})));
  });

  it('sends on only small face crops: one JPEG per face, well under the 1 MB result limit, never the picture', async () => {
    const image = photo('astronaut').toString('base64');
    const found = await detect({ image });
    const res = await crop({ image, faces: found.faces });
    assert.equal(res.faces.length, 1);
    const [f] = res.faces;
    assert.deepEqual([f.x, f.y, f.w, f.h], [found.faces[0].x, found.faces[0].y, found.faces[0].w, found.faces[0].h]);
    const jpeg = Buffer.from(f.crop, 'base64');
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
    const size = JSON.stringify(res).length;
    assert.ok(size < 64 * 1024 && size < image.length / 5, `crop result ${size} characters, picture ${image.length}`);
    assert.ok(f.inner.w <= 150 && f.inner.x > 0 && f.inner.y > 0, JSON.stringify(f.inner));
  });

  it('bounds what it sends: at most maxFaces crops (largest first), bad boxes dropped', async () => {
    const image = photo('astronaut').toString('base64');
    const boxes = [
      { x: 10, y: 10, w: 40, h: 40 },
      { x: 177, y: 66, w: 95, h: 95 },
      { x: 'a', y: 0, w: 5, h: 5 },
      { x: 600, y: 600, w: 90, h: 90 },
    ];
    const res = await crop({ image, faces: boxes, maxFaces: 1 });
    assert.equal(res.faces.length, 1);
    assert.equal(res.faces[0].w, 95);
    assert.equal(res.dropped, 1);
    assert.match((await crop({ image: 'bm90IGFuIGltYWdl', faces: [] })).error, /not a PNG\/JPEG/);
  });

  it('an empty knowledge base: every face is unknown, with a descriptor to enrol', async () => {
    const { who } = await pipeline(photo('astronaut'));
    assert.equal(who.faces.length, 1);
    assert.equal(who.faces[0].name, 'unknown');
    assert.equal(who.faces[0].match, 'unknown');
    assert.equal(who.faces[0].best, null);
    assert.equal(Buffer.from(who.faces[0].descriptor, 'base64').length, 512);
  });

  it('recognises a person across variants of the photo (mirrored, smaller, rotated, darker), and not another person', async () => {
    const enrol = (await pipeline(photo('astronaut'))).who.faces[0].descriptor;
    const known = [{ name: 'Eileen Collins', descriptors: [enrol] }];
    const seen = {};
    for (const [kind, png] of Object.entries(await variants('astronaut'))) {
      const { who } = await pipeline(png, known);
      assert.equal(who.faces.length, 1, `${kind}: ${JSON.stringify(who.faces)}`);
      const [f] = who.faces;
      seen[kind] = f.distance;
      assert.equal(f.name, 'Eileen Collins', `${kind}: ${JSON.stringify({ ...f, descriptor: undefined })}`);
      assert.equal(f.match, 'known', `${kind} at distance ${f.distance}`);
      assert.ok(f.distance < 0.5, `${kind}: ${f.distance}`);
    }
    const other = (await pipeline(photo('hopper'), known)).who;
    assert.equal(other.faces.length, 1);
    assert.equal(other.faces[0].name, 'unknown', JSON.stringify({ ...other.faces[0], descriptor: undefined }));
    assert.equal(other.faces[0].best.name, 'Eileen Collins'); // the nearest, reported with its distance
    assert.ok(other.faces[0].distance > 0.6, `${other.faces[0].distance}`);
    console.log(
      `    distances to the enrolled astronaut: ${Object.entries(seen)
        .map(([k, d]) => `${k} ${d}`)
        .join(', ')}; Grace Hopper ${other.faces[0].distance}`,
    );
  });

  it('names a small face (40 px in a 640×480 scene) enrolled from one photo when the scene is rescaled 160 %, rotated 6° and darker; another person stays unknown', async () => {
    const { scene } = require('../../support/faces');
    const where = { astronaut: { x: 300, y: 200 }, hopper: { x: 100, y: 300 } };
    const changed = { scale: 1.6, rotate: 6, brightness: 0.7 };
    const enrolled = await pipeline((await scene('astronaut', { face: 40, ...where.astronaut })).image);
    assert.equal(enrolled.found.faces.length, 1, `the 40-px face is found by default: ${JSON.stringify(enrolled.found)}`);
    const known = [{ name: 'Eileen Collins', descriptors: [enrolled.who.faces[0].descriptor] }];
    const again = await pipeline((await scene('astronaut', { face: 40, ...where.astronaut, ...changed })).image, known);
    assert.equal(again.who.faces.length, 1, JSON.stringify(again.found));
    const [f] = again.who.faces;
    assert.equal(f.name, 'Eileen Collins', JSON.stringify({ ...f, descriptor: undefined }));
    assert.ok(f.distance <= 0.6, `${f.distance}`);
    const other = await pipeline((await scene('hopper', { face: 40, ...where.hopper, ...changed })).image, known);
    assert.equal(other.who.faces.length, 1, JSON.stringify(other.found));
    assert.equal(other.who.faces[0].name, 'unknown', JSON.stringify({ ...other.who.faces[0], descriptor: undefined }));
    assert.ok(other.who.faces[0].distance > 0.6, `${other.who.faces[0].distance}`);
    console.log(`    small face, changed scene: the enrolled astronaut at ${f.distance}, Grace Hopper at ${other.who.faces[0].distance}`);
  });

  it('names each of two enrolled people, and calls a match between certain and threshold uncertain', async () => {
    const a = (await pipeline(photo('astronaut'))).who.faces[0].descriptor;
    const h = (await pipeline(photo('hopper'))).who.faces[0].descriptor;
    const known = [
      { name: 'Eileen Collins', descriptors: [a] },
      { name: 'Grace Hopper', descriptors: [h] },
    ];
    const v = await variants('hopper');
    assert.deepEqual((await pipeline(v.mirror, known)).who.names, ['Grace Hopper']);
    assert.deepEqual((await pipeline(v.darker, known)).who.names, ['Grace Hopper']);
    const { who } = await pipeline(v.smaller, known);
    const d = who.faces[0].distance;
    // The same face with a threshold just above and a certainty just below its distance: uncertain.
    const { crops } = await pipeline(v.smaller);
    const unsure = await identify({ faces: crops.faces, known, threshold: d + 0.01, certain: d - 0.01 });
    assert.equal(unsure.faces[0].match, 'uncertain');
    assert.equal(unsure.faces[0].name, 'Grace Hopper');
    const strict = await identify({ faces: crops.faces, known, threshold: d - 0.01 });
    assert.equal(strict.faces[0].match, 'unknown');
  });

  it('answers bad input with {error}, and a forged knowledge base entry is refused', async () => {
    assert.match((await identify({})).error, /needs \{faces/);
    assert.match((await identify({ faces: [{ crop: 'bm90IGFuIGltYWdl' }] })).error, /not a PNG\/JPEG/);
    assert.match((await identify({ faces: Array(17).fill({ crop: 'x' }) })).error, /at most 16 faces/);
    const { crops } = await pipeline(photo('astronaut'));
    assert.match((await identify({ faces: crops.faces, known: [{ name: 'x', descriptors: ['AAAA'] }] })).error, /bad descriptor/);
    assert.match((await identify({ faces: crops.faces, known: [{ name: 7 }] })).error, /bad knowledge base entry/);
    assert.equal((await identify({ faces: crops.faces })).faces.length, 1, 'the container still works');
  });
});
