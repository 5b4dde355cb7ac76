'use strict';
// The face-detection example flow (examples/face-detection.json) deployed in Node-RED: an image
// dropped into the watched folder reaches the dashboard with its faces, their best matches and labels;
// a face named through the knowledge base node is recognised in other photos, also after a redeploy
// (the knowledge base file). The dashboard widgets are replaced by helper nodes so the test sees
// exactly what the dashboard is sent, and sends what the dashboard's buttons send.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, nodes, coreNode, nextMessage, waitForStatus } = require('../../support/nr');
const { requireDocker, requireImage, containersWith } = require('../../support/docker');
const { photo, variants } = require('../../support/faces');

const astronaut = () => photo('astronaut');

function iou(a, b) {
  const x1 = Math.max(a.x, b.x),
    y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w),
    y2 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** A PNG with no face: a plain gradient, encoded with jimp from the face-detect image's host install. */
async function gradientPng() {
  const { Jimp } = require(require.resolve('jimp', { paths: [path.resolve(__dirname, '..', '..', '..', 'runtimes', 'face-detection')] }));
  const img = new Jimp({ width: 200, height: 150, color: 0xffffffff });
  img.scan(0, 0, 200, 150, (x, y, idx) => {
    img.bitmap.data[idx] = x;
    img.bitmap.data[idx + 1] = y;
    img.bitmap.data[idx + 2] = 128;
  });
  return img.getBuffer('image/png');
}

describe('face-detection example flow (real Node-RED, real Docker)', function () {
  this.timeout(120000);
  let dir;
  let kbDir;
  const extra = [
    coreNode('common/90-comment.js'),
    coreNode('common/20-inject.js'),
    coreNode('common/21-debug.js'),
    coreNode('function/10-function.js'),
    coreNode('storage/23-watch.js'),
    coreNode('storage/10-file.js'),
  ];

  before(async function () {
    await requireDocker(this);
    await requireImage(this, 'leon-edge/action-nodejs-v20:latest');
    await requireImage(this, 'leon-edge/face-detect:latest');
    await requireImage(this, 'leon-edge/face-identify:latest');
    // The knowledge base file of these tests (the flow reads LEON_FACES_KB); kept across the tests' deploys.
    kbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-faces-kb-'));
    process.env.LEON_FACES_KB = path.join(kbDir, 'sub', 'knowledge.json');
  });
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-faces-'));
    process.env.LEON_FACES_WATCH = dir; // the flow's watch folder setting (its tab's environment), as a user sets it
    await helper.startServer();
    const flow = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'examples', 'face-detection.json'), 'utf8'))
      .filter((n) => !/^ui-(base|theme|page|group)$/.test(n.type) && n.type !== 'global-config')
      .map((n) => {
        if (n.type === 'ui-template' || n.type === 'ui-table') return { id: n.id, z: n.z, type: 'helper', wires: [] };
        return n;
      });
    await helper.load([...nodes, ...extra], flow);
    await waitForStatus(helper.getNode('face.detect'), (s) => s.fill === 'green', 60000);
    await waitForStatus(helper.getNode('face.identify'), (s) => s.fill === 'green', 60000);
    await waitForStatus(helper.getNode('face.cropper'), (s) => s.fill === 'green', 60000);
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  after(async function () {
    delete process.env.LEON_FACES_KB;
    delete process.env.LEON_FACES_WATCH;
    if (kbDir) fs.rmSync(kbDir, { recursive: true, force: true });
    if (!dir) return;
    // Containers of this Node-RED instance (the test's), whatever other instances on this engine run.
    const { instanceId } = require('../../../dist/lib/runtime-config');
    const mine = (await containersWith(`io.leon-edge.instance=${instanceId(undefined)}`)).filter((c) => /^face\./.test(c.Labels['io.leon-edge.node']));
    assert.equal(mine.length, 0, 'no container left over');
  });

  const drop = (name, data) => fs.writeFileSync(path.join(dir, name), data);

  const kb = (msg) => {
    const reply = nextMessage(helper.getNode('face.ui.people'), 10000);
    helper.getNode('face.kb').receive(msg);
    return reply.then((m) => JSON.parse(JSON.stringify(m.payload))); // out of the function node's vm realm
  };
  const show = async (name, data) => {
    const latest = nextMessage(helper.getNode('face.ui.latest'), 90000);
    const history = nextMessage(helper.getNode('face.ui.history'), 90000);
    drop(name, data);
    return { latest: (await latest).payload, row: (await history).payload[0] };
  };

  it('finds the astronaut at the edge, sends only crops to the cloud stage, and shows her as unknown with nothing enrolled', async () => {
    const sent = [];
    helper.getNode('face.identify').on('input', (msg) => sent.push(msg.payload));
    const { latest: payload, row } = await show('astronaut.png', astronaut());
    assert.equal(payload.file, 'astronaut.png');
    assert.equal(payload.faces.length, 1);
    const [face] = payload.faces;
    assert.ok(iou(face, { x: 177, y: 66, w: 95, h: 95 }) > 0.5, JSON.stringify(face));
    assert.equal(face.name, 'unknown');
    assert.equal(face.match, 'unknown');
    assert.equal(face.label, 'unknown');
    assert.match(face.crop, /^data:image\/jpeg;base64,/);
    assert.match(payload.image, /^data:image\/png;base64,/);
    assert.equal(payload.width, 512);
    assert.ok(payload.timings.detect > 0 && payload.timings.crop > 0 && payload.timings.identify > 0 && payload.timings.total >= payload.timings.detect);
    assert.equal(row.faces, 1);
    assert.equal(row['who (distance)'], 'unknown');
    // What went to the cloud stage: the crop and its box, no picture.
    assert.equal(sent.length, 1);
    assert.deepEqual(Object.keys(sent[0]).sort(), ['faces', 'known']);
    assert.ok(JSON.stringify(sent[0]).length < 40000, `${JSON.stringify(sent[0]).length} characters to the cloud`);
    assert.ok(!JSON.stringify(sent[0]).includes(astronaut().toString('base64').slice(0, 200)));
    helper.getNode('face.identify').removeAllListeners('input');
  });

  it('names a face from the dashboard; a mirrored, darker copy is then recognised, another person is not; the file keeps it', async () => {
    const { latest } = await show('astronaut.png', astronaut());
    const people = await kb({ topic: 'enrol', payload: { face: latest.faces[0].id, name: '  Eileen   Collins ' } });
    assert.equal(people.error, '');
    assert.deepEqual(people.people, [{ name: 'Eileen Collins', photos: 1 }]);
    const stored = JSON.parse(fs.readFileSync(process.env.LEON_FACES_KB, 'utf8'));
    assert.equal(stored.people[0].name, 'Eileen Collins');
    assert.equal(Buffer.from(stored.people[0].descriptors[0], 'base64').length, 512);

    const v = await variants('astronaut');
    const mirror = await show('mirror.png', v.mirror);
    assert.equal(mirror.latest.faces[0].name, 'Eileen Collins');
    assert.equal(mirror.latest.faces[0].match, 'known');
    assert.equal(mirror.latest.faces[0].label, 'Eileen Collins');
    assert.match(mirror.row['who (distance)'], /^Eileen Collins \(0\.[0-4]\d*\)$/);
    assert.equal((await show('darker.png', v.darker)).latest.faces[0].name, 'Eileen Collins');

    const other = await show('hopper.jpg', photo('hopper'));
    assert.equal(other.latest.faces[0].name, 'unknown');
    assert.match(other.row['who (distance)'], /^unknown \(nearest Eileen Collins, 0\.[6-9]\d*\)$/);
  });

  it('loads the knowledge base file on deploy: the astronaut is known straight away; removing her is saved', async () => {
    const people = await kb({ topic: 'list' });
    assert.deepEqual(people.people, [{ name: 'Eileen Collins', photos: 1 }]);
    const { latest } = await show('smaller.png', (await variants('astronaut')).smaller);
    assert.equal(latest.faces[0].name, 'Eileen Collins');
    const after = await kb({ topic: 'forget', payload: { name: 'Eileen Collins' } });
    assert.deepEqual(after.people, []);
    assert.deepEqual(JSON.parse(fs.readFileSync(process.env.LEON_FACES_KB, 'utf8')).people, []);
    assert.equal((await show('again.png', astronaut())).latest.faces[0].name, 'unknown');
  });

  it('says so when a match is uncertain (between certain and threshold): "Name?" on the picture, "uncertain" in the history', async () => {
    const { latest } = await show('astronaut.png', astronaut());
    await kb({ topic: 'enrol', payload: { face: latest.faces[0].id, name: 'Eileen Collins' } });
    // What the flow sends to the cloud stage for a mirrored copy (known at ~0.2), kept to send again.
    /** @type {Record<string, any>} */
    let sent;
    helper.getNode('face.identify').once('input', (m) => (sent = { ...m, t: { ...m.t }, payload: { ...m.payload } }));
    assert.equal((await show('mirror.png', (await variants('astronaut')).mirror)).latest.faces[0].match, 'known');
    // The same crop and knowledge base with "certain" lowered below its distance: an uncertain match.
    const again = nextMessage(helper.getNode('face.ui.latest'), 90000);
    const history = nextMessage(helper.getNode('face.ui.history'), 90000);
    helper.getNode('face.identify').receive({ ...sent, file: 'mirror-unsure.png', payload: { ...sent.payload, certain: 0.05 } });
    const l = (await again).payload;
    const row = (await history).payload[0];
    assert.equal(l.file, 'mirror-unsure.png');
    assert.equal(l.faces[0].match, 'uncertain');
    assert.equal(l.faces[0].name, 'Eileen Collins');
    assert.equal(l.faces[0].label, 'Eileen Collins?');
    assert.match(row['who (distance)'], /^Eileen Collins\? uncertain \(0\.\d+\)$/);
    await kb({ topic: 'forget', payload: { name: 'Eileen Collins' } });
  });

  it('treats names and face ids from the page as untrusted: bad names and unknown faces are refused, the size is bounded', async () => {
    const { latest } = await show('astronaut.png', astronaut());
    const face = latest.faces[0].id;
    for (const name of ['', '   ', 'unknown', '<img src=x onerror=alert(1)>', 'a'.repeat(61), 'Eileen\u0000Collins', '{{ 7*7 }}', 42, '1234']) {
      const res = await kb({ topic: 'enrol', payload: { face, name } });
      assert.notEqual(res.error, '', `${JSON.stringify(name)} accepted`);
      assert.deepEqual(res.people, []);
    }
    assert.match((await kb({ topic: 'enrol', payload: { face: 'forged-id', name: 'Mallory' } })).error, /no longer on the page/);
    assert.match(
      (await kb({ topic: 'enrol', payload: { face, descriptor: 'AAAA', name: "José María O'Neil-Núñez (Jr.)" } })).note,
      /^Named José María O'Neil-Núñez \(Jr\.\)/,
    );
  });

  it('bounds the knowledge base: with 100 people nobody new is taken, an existing person still gets photos (at most 5)', async () => {
    const file = process.env.LEON_FACES_KB;
    await show('astronaut.png', astronaut());
    const d = helper.getNode('face.kb').context().flow.get('faces_pending')[0].descriptor; // the astronaut's
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ version: 1, people: Array.from({ length: 100 }, (_, i) => ({ name: `Person ${i}`, descriptors: [d] })) }));
    helper.getNode('face.kb').context().flow.set('faces_kb', undefined); // as a deploy does: read the file again
    assert.equal((await kb({ topic: 'list' })).people.length, 100);
    const v = await variants('astronaut');
    // Six photos with descriptors different from the one in the file (the astronaut's original).
    const photos = [v.mirror, v.smaller, v.rotated, v.darker, photo('hopper'), (await variants('hopper')).mirror];
    for (let n = 0; n < photos.length; n++) {
      const { latest } = await show(`a${n}.png`, photos[n]);
      const full = await kb({ topic: 'enrol', payload: { face: latest.faces[0].id, name: 'Someone New' } });
      assert.match(full.error, /full \(100 people\)/);
      const more = await kb({ topic: 'enrol', payload: { face: latest.faces[0].id, name: 'person 7' } });
      assert.equal(more.error, '');
      assert.equal(more.people.find((p) => p.name === 'Person 7').photos, Math.min(5, n + 2));
    }
    fs.writeFileSync(file, '{"people": [');
    helper.getNode('face.kb').context().flow.set('faces_kb', undefined);
    assert.deepEqual((await kb({ topic: 'list' })).people, []); // a broken file: nobody known, the file set aside
    assert.ok(fs.existsSync(`${file}.bad`));
  });

  it('reports no face for a picture without one', async () => {
    const latest = nextMessage(helper.getNode('face.ui.latest'), 60000);
    drop('gradient.png', await gradientPng());
    const { payload } = await latest;
    assert.equal(payload.file, 'gradient.png');
    assert.equal(payload.faces.length, 0);
  });

  it('turns a non-image, an empty file and an image over the payload limit into clear errors in the history, then processes the next file', async () => {
    // The rows of these three files, whatever else reaches the history meanwhile (the previous photo's
    // row may arrive after its 'latest' message did: the dashboard node's outputs are delivered apart).
    const history = helper.getNode('face.ui.history');
    const byFile = {};
    const seen = new Promise((resolve) => {
      history.on('input', (msg) => {
        const row = msg.payload[0];
        if (!['notes.txt', 'empty.png', 'huge.png'].includes(row.file)) return;
        byFile[row.file] = row['who (distance)'];
        if (Object.keys(byFile).length === 3) resolve();
      });
    });
    drop('notes.txt', 'this is not an image');
    await new Promise((r) => setTimeout(r, 500));
    drop('empty.png', Buffer.alloc(0));
    await new Promise((r) => setTimeout(r, 500));
    drop('huge.png', require('node:crypto').randomBytes(7 * 1024 * 1024));
    await seen;
    assert.match(byFile['notes.txt'], /^error: .*not a PNG\/JPEG image/);
    assert.match(byFile['empty.png'], /^error: .*needs \{image/);
    assert.match(byFile['huge.png'], /^error: .* are 9\.3 MB, over the local runtime's payload limit of 8\.0 MB/);
    history.removeAllListeners('input');
    const latest = nextMessage(helper.getNode('face.ui.latest'), 60000);
    drop('astronaut.png', astronaut());
    assert.equal((await latest).payload.faces.length, 1);
  });
});
