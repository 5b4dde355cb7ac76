'use strict';
/* global RED, document -- page.evaluate() functions run in the browser page */
// The OpenWhisk sidebar tab in a real Node-RED (4.1 or 5, from NODE_RED_PATH) and Chromium: a flow with a
// local runtime (Docker) deployed, messages injected with the inject button, the activations appearing in
// the sidebar as they run (pushed over the editor's comms, not fetched), a record opened (its logs, result
// and parameters), the filters, and the link that reveals the node that ran it.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./support/env');
const ui = require('./support/editor');

const n = (k) => `e2esb${k}`.padEnd(16, '0');
const ROW = '.leon-ow-acts-list .leon-ow-acts-row';

describe('the OpenWhisk sidebar tab in a real browser (Chromium)', function () {
  this.timeout(180000);
  let nr;
  let ow;
  let docker;
  let browser;
  let page;
  let instance;
  let shotDir;
  /** Requests the page made for the activation list (not for one record). */
  let listRequests = 0;

  const rows = () =>
    page.evaluate(
      (sel) =>
        [...document.querySelectorAll(sel)].map((r) => ({
          id: r.getAttribute('data-id'),
          action: r.querySelector('.leon-ow-acts-action').textContent,
          node: r.querySelector('.leon-ow-acts-node').textContent,
          where: r.querySelector('.leon-ow-acts-where').textContent,
          start: (r.querySelector('.leon-ow-acts-start') || {}).textContent || '',
          failed: r.classList.contains('leon-ow-acts-failed'),
          duration: r.querySelector('.leon-ow-acts-duration').textContent,
        })),
      ROW,
    );
  const waitRows = (what, fn) =>
    page
      .waitForFunction(
        ({ sel, src }) => {
          const list = [...document.querySelectorAll(sel)].map((r) => ({
            action: r.querySelector('.leon-ow-acts-action').textContent,
            failed: r.classList.contains('leon-ow-acts-failed'),
          }));
          return new Function('rows', `return (${src})(rows)`)(list);
        },
        { sel: ROW, src: fn.toString() },
        { timeout: 60000 },
      )
      .catch(async (err) => {
        throw new Error(`the sidebar never showed ${what}: ${JSON.stringify(await rows())} (${err.message.split('\n')[0]})`);
      });
  const shot = async (name) => {
    await ui.waitNotificationsGone(page);
    await page.mouse.move(300, 745);
    await ui.settle(page);
    fs.mkdirSync(shotDir, { recursive: true });
    // The sidebar only: a small picture of what the user reads there.
    const box = await page.locator('.leon-ow-acts').boundingBox();
    await page.screenshot({
      path: path.join(shotDir, name),
      clip: { x: Math.max(0, box.x - 4), y: Math.max(0, box.y - 40), width: Math.min(box.width + 8, 520), height: Math.min(box.height + 44, 760) },
    });
  };

  before(async function () {
    this.timeout(240000);
    env.checkBuild();
    docker = await env.requireDockerImage(this);
    browser = await env.launchBrowser(this);
    ow = await env.startCatalog();
    ow.putAction('guest', 'chatty', {
      exec: {
        kind: 'nodejs:20',
        code: 'function main(p) { console.log("reading " + p.n); if (p.long) console.log("x".repeat(5000)); return { n: p.n, twice: p.n * 2 }; }',
      },
    });
    nr = await env.startNodeRed();
    instance = require(path.join(env.ROOT, 'dist', 'lib', 'runtime-config.js')).instanceId(nr.userDir);
    // Screenshots for docs/local-mode.md come from the Node-RED 5 run (docs/images); the 4.1 run keeps its own out of the repository.
    shotDir = nr.major >= 5 ? path.join(env.ROOT, 'docs', 'images') : path.join(env.ROOT, 'test-results', `e2e-sidebar-${nr.version}`);
    console.log(`      Node-RED ${nr.version} on Node ${process.versions.node} at ${nr.url}; OpenWhisk test server at ${ow.url}`);
    // The flow: two tabs, a local runtime without the REST API (its records are kept in memory only).
    const flow = [
      { id: n('tab1'), type: 'tab', label: 'sensors' },
      { id: n('tab2'), type: 'tab', label: 'alarms' },
      { id: n('svc'), type: 'openwhisk-service', name: 'test server', api: `${ow.url}/api/v1`, credentials: { key: ow.key('guest') } },
      { id: n('rt'), type: 'openwhisk-runtime', name: 'edge', mode: 'local', service: n('svc'), images: `nodejs:*=${env.IMAGE}`, capacity: 2, queue: 10 },
      {
        id: n('inj'),
        z: n('tab1'),
        type: 'inject',
        name: 'reading',
        props: [{ p: 'payload' }],
        payload: '{"n":3}',
        payloadType: 'json',
        repeat: '',
        once: false,
        x: 120,
        y: 80,
        wires: [[n('chatty')]],
      },
      {
        id: n('long'),
        z: n('tab1'),
        type: 'inject',
        name: 'long log',
        props: [{ p: 'payload' }],
        payload: '{"n":4,"long":true}',
        payloadType: 'json',
        repeat: '',
        once: false,
        x: 120,
        y: 140,
        wires: [[n('chatty')]],
      },
      {
        id: n('chatty'),
        z: n('tab1'),
        type: 'openwhisk-action',
        name: 'read sensor',
        runtime: n('rt'),
        action: 'chatty',
        params: [],
        x: 340,
        y: 80,
        wires: [[]],
      },
      {
        id: n('injf'),
        z: n('tab2'),
        type: 'inject',
        name: 'check',
        props: [{ p: 'payload' }],
        payload: '{}',
        payloadType: 'json',
        repeat: '',
        once: false,
        x: 120,
        y: 80,
        wires: [[n('fails')]],
      },
      { id: n('fails'), z: n('tab2'), type: 'openwhisk-action', name: 'alarm', runtime: n('rt'), action: 'fails', params: [], x: 340, y: 80, wires: [[]] },
    ];
    const res = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: flow }),
    });
    assert.equal(res.status, 200, await res.text());
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.log(`      [page error] ${err.message}`));
    page.on('request', (r) => {
      if (/\/leon-openwhisk\/activations(\?|$)/.test(r.url())) listRequests++;
    });
    await ui.openEditor(page, nr.url);
  });

  afterEach(async function () {
    if (this.currentTest.state !== 'failed' || !page) return;
    const dir = path.join(env.ROOT, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `e2e-failure-${nr ? nr.version : 'nr'}-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    console.log(`      screenshot of the failure: ${path.relative(env.ROOT, file)}`);
    if (nr) console.log(`      --- Node-RED log (tail) ---\n${nr.log().split('\n').slice(-40).join('\n')}`);
  });

  after(async function () {
    this.timeout(90000);
    if (page) await page.close().catch(() => {});
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (docker && instance) {
      // Containers of this Node-RED instance that its close did not remove (a failed run): never anyone else's.
      for (const c of await docker.listContainers({ all: true, filters: { label: [`io.leon-edge.instance=${instance}`] } }).catch(() => [])) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
    if (ow) await ow.stop();
  });

  it('shows each activation as it runs (pushed, not polled): action, node, where, cold or warm, duration, status', async () => {
    await ui.waitStatus(page, n('chatty'), /^ready \(1\)$/);
    await page.evaluate(() => RED.sidebar.show('openwhisk'));
    await page.locator('.leon-ow-acts').waitFor({ state: 'visible' });
    await page.locator('.leon-ow-acts-empty').waitFor({ state: 'visible' });
    assert.equal((await rows()).length, 0);
    const before = listRequests;
    await ui.clickInject(page, n('inj'));
    await waitRows('the first activation', (r) => r.length === 1);
    await ui.clickInject(page, n('inj'));
    await waitRows('the second activation', (r) => r.length === 2);
    // The rows came over the editor's comms: the page did not ask for the list again.
    assert.equal(listRequests, before, 'no list request while the rows arrived');
    const [second, first] = await rows();
    for (const r of [first, second]) {
      assert.equal(r.action, 'chatty');
      assert.equal(r.node, 'read sensor (local)'); // the node's label, as the workspace shows it
      assert.equal(r.where, 'local');
      assert.equal(r.failed, false);
      assert.match(r.duration, /^\d+ ms$/);
    }
    // The node's container was started and initialised at deploy: its first message meets it ready
    // (initTime is reported on the container's first run), the second is warm.
    assert.match(first.start, /^cold \(\d+ ms init\)$/);
    assert.equal(second.start, 'warm');

    // On the other tab, an action that returns an error: a failed row.
    await page.evaluate((z) => RED.workspaces.show(z), n('tab2'));
    await ui.waitStatus(page, n('fails'), /^ready \(1\)$/);
    await ui.clickInject(page, n('injf'));
    await waitRows('the failed activation', (r) => r.length === 3 && r[0].action === 'fails' && r[0].failed);
    const [failed] = await rows();
    assert.equal(failed.node, 'alarm (local)');
    assert.match(await page.locator(`${ROW}[data-id="${failed.id}"] .leon-ow-acts-status`).textContent(), /application error/);
    await shot('sidebar-activations.png');
  });

  it('opens a record: its logs, result and parameters; long log lines are cut and say so; "Show" reveals the node', async () => {
    await page.evaluate((z) => RED.workspaces.show(z), n('tab1'));
    await ui.clickInject(page, n('long'));
    await waitRows('the long-log activation', (r) => r.length === 4);
    const [row] = await rows();
    assert.equal(row.action, 'chatty');
    await page.locator(`${ROW}[data-id="${row.id}"]`).click();
    await page.locator('.leon-ow-acts-logs pre').waitFor();
    const logs = await page.locator('.leon-ow-acts-logs pre').textContent();
    assert.match(logs, /reading 4/);
    // A 5000-character line is cut at 1000 characters, and the section says it was cut.
    const long = logs.split('\n').find((l) => /xxxx/.test(l));
    assert.ok(long && long.length < 1100 && long.endsWith('…'), `long line cut: ${long && long.length}`);
    assert.match(await page.locator('.leon-ow-acts-logs .leon-ow-acts-cut').textContent(), /cut/);
    assert.deepEqual(JSON.parse(await page.locator('.leon-ow-acts-result pre').textContent()), { n: 4, twice: 8 });
    assert.deepEqual(JSON.parse(await page.locator('.leon-ow-acts-params pre').textContent()), { n: 4, long: true });
    assert.equal(await page.locator('.leon-ow-acts-result .leon-ow-acts-cut').count(), 0, 'a small result is not cut');

    // The node is on the "sensors" tab; the editor shows "alarms": "Show" goes to the node.
    await page.evaluate((z) => RED.workspaces.show(z), n('tab2'));
    assert.equal(await page.evaluate(() => RED.workspaces.active()), n('tab2'));
    await page.locator('.leon-ow-acts-reveal').click();
    await page.waitForFunction((z) => RED.workspaces.active() === z, n('tab1'));
    assert.ok(await page.locator(ui.NODE(n('chatty'))).isVisible());
    // Another row: the detail follows.
    const other = (await rows()).find((r) => r.action === 'chatty' && r.id !== row.id);
    await page.locator(`${ROW}[data-id="${other.id}"]`).click();
    await page.waitForFunction(() => /reading 3/.test((document.querySelector('.leon-ow-acts-logs pre') || {}).textContent || ''));
    assert.deepEqual(JSON.parse(await page.locator('.leon-ow-acts-params pre').textContent()), { n: 3 });
    await shot('sidebar-record.png');
    await page.locator('.leon-ow-acts-close').click();
  });

  it('filters by status, node, action and runtime', async () => {
    await page.locator('#leon-ow-acts-status').selectOption('failed');
    await waitRows('only the failed one', (r) => r.length === 1 && r[0].action === 'fails');
    await page.locator('#leon-ow-acts-status').selectOption('');
    await waitRows('all four', (r) => r.length === 4);
    await page.locator('#leon-ow-acts-node').selectOption(n('chatty'));
    await waitRows('the three of "read sensor"', (r) => r.length === 3 && r.every((x) => x.action === 'chatty'));
    // A new activation of another node does not enter the filtered list.
    await page.evaluate((z) => RED.workspaces.show(z), n('tab2'));
    await ui.clickInject(page, n('injf'));
    await env.until('the fifth activation', async () => (await (await fetch(`${nr.url}/leon-openwhisk/activations`)).json()).rows.length === 5, 30000);
    assert.equal((await rows()).length, 3);
    await page.locator('#leon-ow-acts-node').selectOption('');
    await waitRows('all five', (r) => r.length === 5);
    await page.locator('#leon-ow-acts-action').pressSequentially('fail', { delay: 20 });
    await waitRows('the two of "fails"', (r) => r.length === 2 && r.every((x) => x.action === 'fails'));
    await page.locator('#leon-ow-acts-action').fill('');
    await page.locator('#leon-ow-acts-action').dispatchEvent('input');
    assert.deepEqual(await page.locator('#leon-ow-acts-runtime option').evaluateAll((os) => os.map((o) => o.textContent)), ['all runtimes', 'edge']);
    await page.locator('#leon-ow-acts-runtime').selectOption(n('rt'));
    await waitRows('all five of runtime edge', (r) => r.length === 5);
  });

  it('serves the lists to the editor only: another site gets 403; answers are bounded', async () => {
    const list = await fetch(`${nr.url}/leon-openwhisk/activations?limit=100000`);
    assert.equal(list.status, 200);
    const body = await list.json();
    assert.equal(body.rows.length, 5);
    assert.deepEqual(
      body.runtimes.map((r) => [r.id, r.name, r.mode, r.persisted]),
      [[n('rt'), 'edge', 'local', false]],
    );
    for (const url of ['/leon-openwhisk/activations', `/leon-openwhisk/activations/${n('rt')}/${body.rows[0].id}`]) {
      const res = await fetch(`${nr.url}${url}`, { headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(res.status, 403, url);
      assert.equal((await res.json()).code, 'cross-site');
    }
    const missing = await fetch(`${nr.url}/leon-openwhisk/activations/${n('rt')}/nosuchid`);
    assert.equal(missing.status, 404);
  });
});
