'use strict';
/* global RED -- page.evaluate() functions run in the browser page */
// openwhisk-trigger in a real Node-RED (4.1 or 5, from NODE_RED_PATH): an old node-red-node-openwhisk flow
// (service, action and trigger nodes as that package saved them) imported through the admin API and
// running, and the trigger node's edit dialog in Chromium.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./support/env');
const ui = require('./support/editor');

const LEGACY = path.join(env.ROOT, 'test', 'fixtures', 'legacy-openwhisk-flow.json');

async function api(nr, method, route, body) {
  const res = await fetch(`${nr.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('openwhisk-trigger in a real Node-RED', function () {
  this.timeout(180000);
  let nr;
  let ow;
  let browser;
  let page;

  before(async function () {
    this.timeout(240000);
    env.checkBuild();
    ow = await env.startCatalog();
    ow.putAction('guest', 'record', { exec: { kind: 'nodejs:20', code: 'function main(p) { return { seen: p }; }' } });
    ow.putTrigger('guest', 'greeted');
    ow.putRule('guest', 'onGreeted', { trigger: 'greeted', action: 'record' });
    nr = await env.startNodeRed();
    console.log(`      Node-RED ${nr.version} on Node ${process.versions.node} at ${nr.url}; OpenWhisk test server at ${ow.url}`);
  });

  after(async function () {
    this.timeout(60000);
    if (page) await page.close().catch(() => {});
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (ow) await ow.stop();
  });

  it('imports an old node-red-node-openwhisk flow (service, action, trigger) through POST /flows; it starts and runs', async () => {
    const flow = JSON.parse(fs.readFileSync(LEGACY, 'utf8'));
    // The user points the old service at their OpenWhisk (here the test server) and gives its key, as
    // the old package's credentials; nothing else in the flow changes.
    const svc = flow.find((n) => n.type === 'openwhisk-service');
    svc.api = `${ow.url}/api/v1`;
    svc.credentials = { key: ow.key('guest') };
    const res = await api(nr, 'POST', '/flows', { flows: flow });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await env.until('the flows started', async () => /Started flows/.test(nr.log().split('Stopping flows').pop()), 30000);
    assert.doesNotMatch(nr.log(), /Waiting for missing types|Missing node modules|unknown type/i);
    // Every node of the old flow is there with its old properties (Node-RED kept them unchanged).
    const saved = (await api(nr, 'GET', '/flows')).body.flows;
    for (const n of flow.filter((x) => x.type !== 'tab')) {
      const got = saved.find((s) => s.id === n.id);
      assert.ok(got, `${n.type} ${n.id} saved`);
      for (const k of Object.keys(n).filter((k) => k !== 'credentials')) assert.deepEqual(got[k], n[k], `${n.type}.${k}`);
    }
    // Running: the HTTP request invokes the action; its result fires the trigger, whose rule runs `record`.
    const before = ow.firings.length;
    const reply = await fetch(`${nr.url}/legacy-hello?name=Ada`);
    assert.equal(reply.status, 200);
    const body = await reply.json();
    assert.equal(body.greeting, 'Hello, Ada!'); // msg.payload of http-in: the query, as the old node sent it
    await env.until('the trigger fired', async () => ow.firings.length > before && ow.firings.at(-1).status === 202, 10000);
    const firing = ow.firings.at(-1);
    assert.equal(firing.name, 'greeted');
    assert.equal(firing.namespace, 'guest');
    // The old node's "Allow Edits" params ride along with every firing; the payload (the action's result) over them.
    assert.deepEqual(firing.params, { source: 'node-red', greeting: 'Hello, Ada!', site: null });
    await env.until(
      'the rule ran its action',
      async () => ow.invocations.some((i) => i.rule === 'guest/onGreeted' && ow.activations.has(i.activationId)),
      10000,
    );
  });

  it("the trigger node's edit dialog: an old node shows its service; a new one needs a runtime; params are saved", async function () {
    browser = await env.launchBrowser(this);
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.log(`      [page error] ${err.message}`));
    await ui.openEditor(page, nr.url);
    const oldId = '5f6a7b8c.9d0e1';
    await ui.waitStatus(page, oldId, /cloud · ready|fired/, 30000);
    assert.equal(await ui.nodeLabel(page, oldId), 'greeted (cloud)');

    // The old node: its service row is shown (it has no runtime), its fields as saved.
    await ui.openNode(page, oldId);
    assert.equal(await page.locator('#leon-ow-trigger-legacy-row').isVisible(), true);
    assert.equal(await page.locator('#node-input-trigger').inputValue(), 'greeted');
    assert.equal(await page.locator('#node-input-namespace').inputValue(), 'guest');
    assert.equal(await ui.fieldError(page, '#node-input-runtime'), null, 'a service is enough for an old node');
    const keys = await page
      .locator('#node-input-trigger-params-container .node-input-param-key')
      .evaluateAll((els) => els.map((e) => /** @type {HTMLInputElement} */ (e).value));
    assert.deepEqual(keys, ['source']);
    await ui.closeNode(page, 'cancel');

    // A new node from the palette: invalid until it has a runtime; the dialog says so.
    await ui.filterPalette(page, 'openwhisk trigger', 'openwhisk-trigger');
    const id = await ui.dragFromPalette(page, 'openwhisk-trigger', 420, 260);
    assert.equal(await ui.nodeLabel(page, id), 'openwhisk trigger');
    assert.equal(await page.evaluate((id) => RED.nodes.node(id).valid, id), false);
    await ui.openNode(page, id);
    assert.equal(await page.locator('#leon-ow-trigger-legacy-row').isVisible(), false);
    assert.equal(await ui.fieldError(page, '#node-input-runtime'), 'Choose a runtime (or, for old flows, a service).');
    // A new cloud runtime on the old service, a trigger and a parameter.
    await ui.openConfig(page, 'node-input', 'runtime', 'add', '#node-config-input-mode');
    // On the way (local mode, API served): the API's own port is "[host:]port" or empty.
    await page.locator('#node-config-input-mode').selectOption('local');
    await page.locator('#node-config-input-serveApi').check();
    assert.equal(await page.locator('#node-config-input-apiListen').isVisible(), true);
    await ui.fillField(page, '#node-config-input-apiListen', 'port 80');
    assert.match(await ui.fieldError(page, '#node-config-input-apiListen'), /Own port: a port/);
    await ui.fillField(page, '#node-config-input-apiListen', '127.0.0.1:3233');
    assert.equal(await ui.fieldError(page, '#node-config-input-apiListen'), null);
    await ui.fillField(page, '#node-config-input-apiListen', '');
    await page.locator('#node-config-input-serveApi').uncheck();
    await page.locator('#node-config-input-mode').selectOption('cloud');
    assert.equal(await page.locator('#node-config-input-apiListen').isVisible(), false);
    await page.locator('#node-config-input-service').selectOption('3a4b5c6d.7e8f9');
    await ui.closeConfig(page, '#node-input-trigger');
    assert.equal(await ui.fieldError(page, '#node-input-runtime'), null);
    await ui.fillField(page, '#node-input-trigger', 'greeted');
    await page.locator('#dialog-form .red-ui-editableList-addButton').click();
    const row = page.locator('#node-input-trigger-params-container li').last();
    await row.locator('.node-input-param-key').fill('level');
    await row.locator('.red-ui-typedInput-input').fill('high');
    await ui.closeNode(page);
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id);
      return { trigger: n.trigger, params: n.params, valid: n.valid, runtime: !!n.runtime };
    }, id);
    assert.deepEqual(saved, { trigger: 'greeted', params: [{ key: 'level', value: 'high' }], valid: true, runtime: true });
    assert.equal(await ui.nodeLabel(page, id), 'greeted (cloud)');
    await ui.deploy(page);
    await ui.waitStatus(page, id, /cloud · ready/, 30000);
  });

  it("the runtime dialog tells which images are on the engine and what builds the missing one; the trigger picker lists the manifest's triggers", async function () {
    await ui.filterPalette(page, 'openwhisk trigger', 'openwhisk-trigger');
    const id = await ui.dragFromPalette(page, 'openwhisk-trigger', 420, 360);
    await ui.openNode(page, id);
    await ui.openConfig(page, 'node-input', 'runtime', 'add', '#node-config-input-mode');
    await page.locator('#node-config-input-mode').selectOption('local');
    // Defaults are shown as values.
    assert.equal(await page.locator('#node-config-input-stemCells').inputValue(), '1');
    assert.equal(await page.locator('#node-config-input-maxPayload').inputValue(), '8');
    // The engine's own platform: no qemu tip.
    assert.equal(await page.locator('#leon-ow-platform-tip').isVisible(), false);
    await page.locator('#node-config-input-source').selectOption('manifest');
    await ui.fillField(page, '#node-config-input-manifest', 'examples/manifest.yaml');
    await ui.fillField(page, '#node-config-input-images', `nodejs:*=${env.IMAGE}\npython:*=leon-edge/no-such-runtime:1`);
    await page.locator('#leon-ow-status-refresh').click();
    const row = (kind) => page.locator(`#leon-ow-status tr[data-kind="${kind}"]`);
    await row('nodejs:20').waitFor({ timeout: 20000 });
    assert.equal(await row('nodejs:20').getAttribute('data-state'), 'present');
    assert.equal(await row('python:3.10').getAttribute('data-state'), 'missing');
    assert.match(await page.locator('#leon-ow-status code.leon-ow-build').first().textContent(), /^bash runtimes\/build\.sh/);
    if (nr.major >= 5) {
      fs.mkdirSync(env.SCREENSHOTS, { recursive: true });
      await page.locator('#leon-ow-status').evaluate((el) => el.scrollIntoView({ block: 'end' }));
      await page.mouse.move(300, 745);
      await page.screenshot({ path: path.join(env.SCREENSHOTS, 'runtime-status.png') });
    }
    await ui.closeConfig(page, '#node-input-trigger');
    await page.locator('#leon-ow-trigger-refresh').click();
    await page
      .locator('#leon-ow-trigger-status')
      .filter({ hasText: /trigger\(s\)/ })
      .waitFor({ timeout: 20000 });
    const triggers = await page.locator('#leon-ow-triggers option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(triggers.includes('sensor-reading'), JSON.stringify(triggers));
    await ui.closeNode(page, 'cancel');
  });
});
