'use strict';
// The face-detection example as a user meets it: Node-RED with this package and FlowFuse Dashboard 2,
// the example flow deployed, astronaut.png dropped into the watched folder, and the dashboard page in
// a real browser showing the face boxed and labelled, with the history row.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, SCREENSHOTS, checkBuild, startNodeRed, launchBrowser, requireDockerImage, until } = require('./support/env');

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'faces', 'astronaut.png');

describe('face-detection example on the dashboard (real browser)', function () {
  this.timeout(240000);
  let red;
  let browser;
  let dir;

  before(async function () {
    checkBuild();
    const docker = await requireDockerImage(this);
    await docker.getImage('leon-edge/face-detect:latest').inspect().catch(() => {
      throw new Error('image leon-edge/face-detect:latest missing: run bash runtimes/face-detection/build.sh');
    });
    browser = await launchBrowser(this);
    red = await startNodeRed();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-faces-e2e-'));
  });

  after(async () => {
    if (browser) await browser.close();
    if (red) await red.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the astronaut\'s face boxed and labelled, and the history row', async () => {
    const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'face-detection.json'), 'utf8'));
    for (const n of flow) if (n.type === 'watch') n.files = dir;
    const res = await fetch(`${red.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flow),
    });
    assert.equal(res.status, 204, await res.text());
    await until('the dashboard to be served', async () => (await fetch(`${red.url}/dashboard/faces`)).status === 200, 60000);

    const page = await browser.browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${red.url}/dashboard/faces`);
    await page.getByText('Drop a PNG or JPEG image into the watched folder.').waitFor({ timeout: 60000 });
    fs.copyFileSync(FIXTURE, path.join(dir, 'astronaut.png'));

    const label = page.locator('svg text', { hasText: 'Eileen Collins' });
    await label.waitFor({ timeout: 150000 });
    assert.equal(await page.locator('svg rect[stroke]').count(), 1, 'one face box');
    const box = await page.locator('svg rect[stroke]').evaluate((r) => ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a))));
    assert.ok(Math.abs(box[0] - 177) < 10 && Math.abs(box[1] - 66) < 10 && Math.abs(box[2] - 95) < 15, `box ${box}`);
    await page.getByRole('cell', { name: 'Eileen Collins' }).waitFor({ timeout: 30000 });
    await page.getByText('1 face(s): Eileen Collins').waitFor();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-faces.png') });
    await page.close();
  });
});
