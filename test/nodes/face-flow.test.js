'use strict';
// The face-detection example flow (examples/face-detection.json) deployed in Node-RED: an image
// dropped into the watched folder reaches the dashboard with its faces and labels. The dashboard
// widgets are replaced by helper nodes so the test sees exactly what the dashboard is sent.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, nodes, coreNode, nextMessage, waitForStatus } = require('../support/nr');
const { requireDocker, requireImage, containersWith } = require('../support/docker');

const astronaut = () => fs.readFileSync(path.resolve(__dirname, '..', 'fixtures', 'faces', 'astronaut.png'));

function iou(a, b) {
  const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w), y2 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** A PNG with no face: a plain gradient, encoded with jimp from the face-detect image's host install. */
async function gradientPng() {
  const { Jimp } = require(require.resolve('jimp', { paths: [path.resolve(__dirname, '..', '..', 'runtimes', 'face-detection')] }));
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
  const extra = [coreNode('common/90-comment.js'), coreNode('common/21-debug.js'), coreNode('function/10-function.js'), coreNode('storage/23-watch.js'), coreNode('storage/10-file.js')];

  before(async function () {
    await requireDocker(this);
    await requireImage(this, 'leon-edge/action-nodejs-v20:latest');
    await requireImage(this, 'leon-edge/face-detect:latest');
  });
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-faces-'));
    await helper.startServer();
    const flow = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'examples', 'face-detection.json'), 'utf8'))
      .filter((n) => !/^ui-(base|theme|page|group)$/.test(n.type) && n.type !== 'global-config')
      .map((n) => {
        if (n.type === 'ui-template' || n.type === 'ui-table') return { id: n.id, z: n.z, type: 'helper', wires: [] };
        if (n.type === 'watch') return { ...n, files: dir };
        return n;
      });
    await helper.load([...nodes, ...extra], flow);
    await waitForStatus(helper.getNode('face.detect'), (s) => s.fill === 'green', 60000);
    await waitForStatus(helper.getNode('face.identify'), (s) => s.fill === 'green', 60000);
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  after(async function () {
    if (!dir) return;
    // Containers of this Node-RED instance (the test's), whatever other instances on this engine run.
    const { instanceId } = require('../../dist/lib/runtime-config');
    const mine = (await containersWith(`io.leon-edge.instance=${instanceId(undefined)}`)).filter((c) => /^face\./.test(c.Labels['io.leon-edge.node']));
    assert.equal(mine.length, 0, 'no container left over');
  });

  const drop = (name, data) => fs.writeFileSync(path.join(dir, name), data);

  it('finds the astronaut\'s face at the edge, names it in the cloud stage, and sends both to the dashboard', async () => {
    const latest = nextMessage(helper.getNode('face.ui.latest'), 60000);
    const history = nextMessage(helper.getNode('face.ui.history'), 60000);
    drop('astronaut.png', astronaut());
    const { payload } = await latest;
    assert.equal(payload.file, 'astronaut.png');
    assert.equal(payload.faces.length, 1);
    const [face] = payload.faces;
    assert.ok(iou(face, { x: 177, y: 66, w: 95, h: 95 }) > 0.5, JSON.stringify(face));
    assert.equal(face.name, 'Eileen Collins');
    assert.match(payload.image, /^data:image\/png;base64,/);
    assert.equal(payload.width, 512);
    assert.ok(payload.timings.detect > 0 && payload.timings.total >= payload.timings.detect);
    const rows = (await history).payload;
    assert.equal(rows[0].faces, 1);
    assert.equal(rows[0].names, 'Eileen Collins');
  });

  it('reports no face for a picture without one', async () => {
    const latest = nextMessage(helper.getNode('face.ui.latest'), 60000);
    drop('gradient.png', await gradientPng());
    const { payload } = await latest;
    assert.equal(payload.file, 'gradient.png');
    assert.equal(payload.faces.length, 0);
  });

  it('turns a non-image, an empty file and an image over the payload limit into clear errors in the history, then processes the next file', async () => {
    const history = helper.getNode('face.ui.history');
    const errors = [];
    const seen = new Promise((resolve) => {
      history.on('input', (msg) => {
        errors.push(msg.payload[0]);
        if (errors.length === 3) resolve();
      });
    });
    drop('notes.txt', 'this is not an image');
    await new Promise((r) => setTimeout(r, 500));
    drop('empty.png', Buffer.alloc(0));
    await new Promise((r) => setTimeout(r, 500));
    drop('huge.png', require('node:crypto').randomBytes(7 * 1024 * 1024));
    await seen;
    const byFile = Object.fromEntries(errors.map((r) => [r.file, r.names]));
    assert.match(byFile['notes.txt'], /^error: .*not a PNG\/JPEG image/);
    assert.match(byFile['empty.png'], /^error: .*needs \{image/);
    assert.match(byFile['huge.png'], /^error: .* are 9\.3 MB, over the local runtime's payload limit of 8\.0 MB/);
    history.removeAllListeners('input');
    const latest = nextMessage(helper.getNode('face.ui.latest'), 60000);
    drop('astronaut.png', astronaut());
    assert.equal((await latest).payload.faces.length, 1);
  });
});
