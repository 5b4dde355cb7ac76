'use strict';
/* global RED, document -- page.evaluate() functions run in the browser page */
// The editor experience in a real browser: Chromium (playwright-core) on a real Node-RED (4.1 or 5, from
// NODE_RED_PATH) started from its CLI with this repository in nodesDir, the OpenWhisk API test server as
// the catalog and cloud, and the local Docker engine. Everything is done the way a user does it: drag from
// the palette, the edit trays and their config-node buttons, Deploy, the inject button, the sidebars.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./support/env');
const ui = require('./support/editor');

const LOCAL_IMAGES = `nodejs:*=${env.IMAGE}`;
const PROVISIONING = ['fetching action', 'starting container', 'initializing'];

/** True if `want` appears in `seq` in this order (other entries may come between). */
function inOrder(seq, want) {
  let i = 0;
  for (const s of seq) if (i < want.length && s === want[i]) i++;
  return i === want.length;
}

describe('the editor in a real browser (Chromium)', function () {
  this.timeout(180000);
  let nr;
  let ow;
  let docker;
  let browser;
  let page;
  let statuses;
  let instance;
  let shotDir;
  let dockerWatch;
  const ids = {};

  const containers = async (label) => (await docker.listContainers({ all: true, filters: { label: [label] } })).length;
  // A node's containers by name (leon_<node>_…): one that was a stem cell has no node label, but
  // is renamed after its action when handed over.
  const containersOfNode = async (nodeId) =>
    (await docker.listContainers({ all: true, filters: { label: ['io.leon-edge.managed=true'] } })).filter((c) =>
      c.Names.some((x) => x.startsWith(`/leon_${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}_`)),
    ).length;
  // Without the runtime's stem cell (label io.leon-edge.stemcell): it is no action's container.
  const actionContainers = async (label) =>
    (await docker.listContainers({ all: true, filters: { label: [label] } })).filter((c) => !c.Labels['io.leon-edge.stemcell']).length;
  const shot = async (name) => {
    await ui.waitNotificationsGone(page);
    await page.mouse.move(300, 745); // no hover highlight or tooltip in the picture
    await ui.settle(page);
    fs.mkdirSync(shotDir, { recursive: true });
    await page.screenshot({ path: path.join(shotDir, name) });
  };

  before(async function () {
    this.timeout(240000);
    env.checkBuild();
    docker = await env.requireDockerImage(this);
    dockerWatch = await env.watchDocker(docker);
    browser = await env.launchBrowser(this);
    ow = await env.startCatalog();
    nr = await env.startNodeRed();
    instance = require(path.join(env.ROOT, 'dist', 'lib', 'runtime-config.js')).instanceId(nr.userDir);
    // The screenshots in docs/ come from the Node-RED 5 run; the 4.1 run keeps its own out of the repository.
    shotDir = nr.major >= 5 ? env.SCREENSHOTS : path.join(env.ROOT, 'test-results', `e2e-node-red-${nr.version}`);
    console.log(`      Node-RED ${nr.version} on Node ${process.versions.node} at ${nr.url}; OpenWhisk test server at ${ow.url}`);
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.log(`      [page error] ${err.message}`));
    await ui.openEditor(page, nr.url);
    statuses = await ui.recordStatuses(page);
  });

  afterEach(async function () {
    if (this.currentTest.state !== 'failed' || !page) return;
    const dir = path.join(env.ROOT, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `e2e-failure-${nr ? nr.version : 'nr'}-${this.currentTest.title.replace(/\W+/g, '-').slice(0, 60)}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    console.log(`      screenshot of the failure: ${path.relative(env.ROOT, file)}`);
    await ui.closeTrays(page).catch(() => {}); // let the next test start from the workspace
    if (dockerWatch && dockerWatch.lost())
      console.log(`      !!! the Docker engine went away during the run (${dockerWatch.lost()}): something else stopped or restarted dockerd`);
    if (nr) console.log(`      --- Node-RED log (tail) ---\n${nr.log().split('\n').slice(-40).join('\n')}`);
  });

  after(async function () {
    this.timeout(90000);
    if (page) await page.close().catch(() => {});
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (docker && instance) {
      // Containers of this Node-RED instance that its close did not remove (a failed run): never anyone else's.
      try {
        for (const c of await docker.listContainers({ all: true, filters: { label: [`io.leon-edge.instance=${instance}`] } })) {
          await docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {});
        }
      } catch (err) {
        console.log(`      (could not look for leftover containers: ${err.message})`);
      }
    }
    if (ow) await ow.stop();
    if (dockerWatch) dockerWatch.stop();
  });

  it('builds a flow from the palette and the dialogs, runs the action locally in Docker, then in the cloud', async () => {
    // The palette: filter, then drag the openwhisk action onto the workspace.
    await ui.filterPalette(page, 'openwhisk', 'openwhisk-action');
    await shot('palette.png');
    ids.action = await ui.dragFromPalette(page, 'openwhisk-action', 420, 160);
    assert.equal(await ui.nodeLabel(page, ids.action), 'openwhisk action');
    // Without a runtime it cannot run: the workspace marks it (red triangle), the dialog says why.
    assert.equal(await page.evaluate((id) => RED.nodes.node(id).valid, ids.action), false);
    assert.doesNotMatch(await page.locator(`${ui.NODE(ids.action)} g.red-ui-flow-node-error`).getAttribute('class'), /\bhide\b/);

    // Its edit dialog: a new local runtime, and from the runtime dialog a new service.
    await ui.openNode(page, ids.action);
    assert.match(await page.locator('#leon-ow-action-status').textContent(), /Choose a runtime/);
    assert.equal(await ui.fieldError(page, '#node-input-runtime'), 'Choose a runtime');
    await ui.openConfig(page, 'node-input', 'runtime', 'add', '#node-config-input-mode');
    // Only the chosen mode's fields: cloud (the default) shows name, mode and service.
    assert.deepEqual(await ui.visibleFields(page), ['name', 'mode', 'service']);
    await page.locator('#node-config-input-mode').selectOption('local');
    let fields = await ui.visibleFields(page);
    for (const f of ['source', 'service', 'docker', 'images', 'platform', 'network', 'capacity', 'queue'])
      assert.ok(fields.includes(f), `${f} shown in local mode: ${fields}`);
    // Platform: the engine's own by default, else one of the three the images are built for.
    assert.equal(await page.locator('#node-config-input-platform').inputValue(), '');
    assert.deepEqual(await page.locator('#node-config-input-platform option').evaluateAll((os) => os.map((o) => o.value)), [
      '',
      'linux/amd64',
      'linux/arm64',
      'linux/arm/v7',
    ]);
    assert.ok(!fields.includes('manifest'), `no manifest field with the service as catalog: ${fields}`);
    await page.locator('#node-config-input-source').selectOption('manifest');
    assert.ok((await ui.visibleFields(page)).includes('manifest'));
    assert.equal(await page.locator('#leon-ow-service-tip-local').isVisible(), false);
    await page.locator('#node-config-input-source').selectOption('service');
    fields = await ui.visibleFields(page);
    assert.ok(!fields.includes('manifest') && (await page.locator('#leon-ow-service-tip-local').isVisible()), `${fields}`);
    // Validation messages of the local fields.
    await ui.fillField(page, '#node-config-input-capacity', '0');
    assert.match(await ui.fieldError(page, '#node-config-input-capacity'), /^Capacity: a whole number of containers, 1 or more/);
    await ui.fillField(page, '#node-config-input-images', 'nodejs:20 leon-edge/action-nodejs-v20');
    assert.match(await ui.fieldError(page, '#node-config-input-images'), /one kind=image per line/);
    await ui.fillField(page, '#node-config-input-capacity', '2');
    await ui.fillField(page, '#node-config-input-images', LOCAL_IMAGES);
    assert.equal(await ui.fieldError(page, '#node-config-input-capacity'), null);
    assert.equal(await ui.fieldError(page, '#node-config-input-images'), null);
    assert.equal(await ui.fieldError(page, '#node-config-input-service'), 'Choose an openwhisk-service');

    await ui.openConfig(page, 'node-config-input', 'service', 'add', '#node-config-input-api');
    await ui.fillField(page, '#node-config-input-api', 'not a host');
    assert.match(await ui.fieldError(page, '#node-config-input-api'), /Enter an API host such as/);
    await ui.fillField(page, '#node-config-input-api', ow.url);
    assert.equal(await ui.fieldError(page, '#node-config-input-api'), null);
    await page.locator('#node-config-input-key').fill(ow.key('guest'));
    await ui.closeConfig(page, '#node-config-input-mode');
    assert.equal(await ui.fieldError(page, '#node-config-input-service'), null);
    assert.equal(await page.locator('#node-config-input-service option:checked').textContent(), ow.url.replace(/^http:\/\//, ''));
    await shot('runtime-local-dialog.png');
    await ui.closeConfig(page, '#node-input-runtime');
    assert.match(await page.locator('#node-input-runtime option:checked').textContent(), /^local Docker · 127\.0\.0\.1:\d+$/);

    // The action list comes from the admin endpoint (the service is not deployed yet: the key travels in the body).
    await page.locator('#leon-ow-refresh').click();
    await ui.waitActionStatus(page, /^\d+ action/);
    const listed = await page.locator('#leon-ow-actions option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(listed.sort(), ['crash', 'edge/threshold', 'fails', 'hello', 'slow']);
    assert.match(await page.locator('#leon-ow-action-status').textContent(), /5 action/);
    await page.locator('#node-input-action').fill('hello');

    // A parameter in the editable list.
    await page.locator('#dialog-form .red-ui-editableList-addButton').click();
    const row = page.locator('#node-input-params-container li').last();
    await row.locator('.node-input-param-key').fill('site');
    await row.locator('.red-ui-typedInput-input').fill('edge-1');
    await shot('action-edit-dialog.png');
    await ui.closeNode(page);
    assert.equal(await ui.nodeLabel(page, ids.action), 'hello (local)');
    assert.equal(await page.evaluate((id) => RED.nodes.node(id).valid, ids.action), true);
    assert.match(await page.locator(`${ui.NODE(ids.action)} g.red-ui-flow-node-error`).getAttribute('class'), /\bhide\b/);
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id);
      return { action: n.action, params: n.params, runtime: n.runtime };
    }, ids.action);
    assert.deepEqual(saved.params, [{ key: 'site', value: 'edge-1' }]);
    ids.runtime = saved.runtime;

    // inject and debug come from the import dialog; the wires are drawn with the mouse.
    const inject = {
      id: 'e2e00000000inject',
      type: 'inject',
      name: 'ask',
      props: [{ p: 'payload' }],
      payload: '{"name":"Leon"}',
      payloadType: 'json',
      repeat: '',
      once: false,
      x: 0,
      y: 0,
      wires: [],
    };
    const debug = {
      id: 'e2e000000000debug',
      type: 'debug',
      name: 'result',
      active: true,
      tosidebar: true,
      console: false,
      complete: 'payload',
      targetType: 'msg',
      x: 460,
      y: 0,
      wires: [],
    };
    await ui.importFlow(page, [inject, debug], 200, 300);
    ids.inject = inject.id;
    ids.debug = debug.id;
    await ui.wire(page, ids.inject, ids.action);
    await ui.wire(page, ids.action, ids.debug);

    // Deploy: provisioning phases, then ready with one warm container.
    await statuses.reset();
    await ui.deploy(page);
    let st = await ui.waitStatus(page, ids.action, /^ready \(1\)$/);
    assert.equal(st.cls, 'red-ui-flow-node-status-dot-green');
    const shown = await statuses.svg(ids.action);
    assert.ok(inOrder(shown, [...PROVISIONING, 'ready (1)']), `status texts under the node: ${JSON.stringify(shown)}`);
    assert.ok(!shown.includes('pulling image'), 'the image is present: no pull');
    assert.equal(await actionContainers(`io.leon-edge.runtime=${ids.runtime}`), 1, 'one warm container');
    await shot('flow-deployed-local.png');

    // Inject: the result in the debug sidebar.
    await ui.showSidebar(page, 'debug');
    await statuses.reset();
    await ui.clickInject(page, ids.inject);
    let msgs = await ui.waitDebugCount(page, 1);
    assert.equal(msgs[0].name.includes('result'), true, JSON.stringify(msgs[0]));
    assert.match(msgs[0].payload, /greeting: "Hello, Leon!"/);
    assert.match(msgs[0].payload, /site: "edge-1"/);
    await ui.waitStatus(page, ids.action, /^ready \(1\)$/, 30000).catch(async (err) => {
      throw new Error(
        `${err.message}; texts shown: ${JSON.stringify(await statuses.svg(ids.action))}; containers: ${await containers(`io.leon-edge.runtime=${ids.runtime}`)}`,
      );
    });
    assert.ok(inOrder(await statuses.svg(ids.action), ['invoking', 'ready (1)']), JSON.stringify(await statuses.svg(ids.action)));
    assert.equal(ow.invocations.length, 0, 'local mode never invokes in the cloud');
    await shot('debug-sidebar-result.png');

    // Switch the runtime to cloud from the action dialog's pencil: only the cloud fields remain.
    await ui.openNode(page, ids.action);
    await ui.openConfig(page, 'node-input', 'runtime', 'edit', '#node-config-input-mode');
    await page.locator('#node-config-input-mode').selectOption('cloud');
    assert.deepEqual(await ui.visibleFields(page), ['name', 'mode', 'service']);
    assert.equal(await page.locator('#leon-ow-service-tip-cloud').isVisible(), true);
    await ui.closeConfig(page, '#node-input-runtime');
    assert.match(await page.locator('#node-input-runtime option:checked').textContent(), /^cloud · 127\.0\.0\.1:\d+$/);
    await ui.closeNode(page);
    assert.equal(await ui.nodeLabel(page, ids.action), 'hello (cloud)');

    await statuses.reset();
    await ui.deploy(page);
    st = await ui.waitStatus(page, ids.action, /^cloud · ready$/);
    assert.equal(st.cls, 'red-ui-flow-node-status-dot-green');
    await env.until('the local containers to be removed', async () => (await containers(`io.leon-edge.runtime=${ids.runtime}`)) === 0, 30000);
    await ui.clickInject(page, ids.inject);
    msgs = await ui.waitDebugCount(page, 2);
    assert.equal(msgs[1].payload, msgs[0].payload, 'the same result in the cloud');
    assert.equal(ow.invocations.length, 1);
    await ui.waitStatus(page, ids.action, /^cloud · ready$/);
    await shot('flow-deployed-cloud.png');
  });

  it('says in the action dialog when the key is wrong, and lists the actions once it is right', async () => {
    const id = await ui.dragFromPalette(page, 'openwhisk-action', 420, 460);
    await ui.openNode(page, id);
    await ui.openConfig(page, 'node-input', 'runtime', 'add', '#node-config-input-mode');
    await page.locator('#node-config-input-name').fill('wrong key');
    await ui.openConfig(page, 'node-config-input', 'service', 'add', '#node-config-input-api');
    await page.locator('#node-config-input-name').fill('wrong key');
    await page.locator('#node-config-input-api').fill(ow.url);
    await page.locator('#node-config-input-key').fill('23bc46b1-71f6-4ed5-8c54-816aa4f8c502:not-the-key');
    await ui.closeConfig(page, '#node-config-input-mode');
    await ui.closeConfig(page, '#node-input-runtime');

    const line = page.locator('#leon-ow-action-status');
    await ui.waitActionStatus(page, /rejected the key/);
    const text = await line.textContent();
    assert.match(text, /Cannot list actions: .*rejected the key/);
    assert.match(text, /auth key/);
    assert.ok(await line.isVisible());
    assert.match(await line.getAttribute('class'), /leon-ow-error/);
    assert.equal(await page.locator('#leon-ow-actions option').count(), 0);
    // The message sits below the action field, inside the form, not over the next rows.
    await ui.settle(page);
    const msgBox = await line.boundingBox();
    const actionBox = await page.locator('#node-input-action').boundingBox();
    const paramsBox = await page.locator('#node-input-params-container').boundingBox();
    const formBox = await page.locator('#dialog-form').boundingBox();
    const where = JSON.stringify({ msgBox, actionBox, paramsBox, formBox });
    assert.ok(
      msgBox.y >= actionBox.y + actionBox.height - 1 && msgBox.y + msgBox.height <= paramsBox.y,
      `between the action field and the parameters: ${where}`,
    );
    assert.ok(
      Math.abs(msgBox.x - actionBox.x) <= 2 && msgBox.x + msgBox.width <= formBox.x + formBox.width,
      `aligned with the field, inside the form: ${where}`,
    );
    await shot('action-wrong-key.png');

    // Fix the key through the pencils: the list fills.
    await ui.openConfig(page, 'node-input', 'runtime', 'edit', '#node-config-input-mode');
    await ui.openConfig(page, 'node-config-input', 'service', 'edit', '#node-config-input-api');
    await page.locator('#node-config-input-key').fill(ow.key('guest'));
    await ui.closeConfig(page, '#node-config-input-mode');
    await ui.closeConfig(page, '#node-input-runtime');
    await ui.waitActionStatus(page, /^5 action/);
    assert.doesNotMatch(await line.getAttribute('class'), /leon-ow-error/);
    assert.equal(await page.locator('#leon-ow-actions option').count(), 5);
    await ui.closeNode(page, 'delete');
  });

  it("asks for the key again when the service's API host is changed in the editor (a stored key only goes to its own host)", async () => {
    // The service is deployed (first test): the editor holds no key for it, only its id.
    await ui.openNode(page, ids.action);
    await ui.openConfig(page, 'node-input', 'runtime', 'edit', '#node-config-input-mode');
    await ui.openConfig(page, 'node-config-input', 'service', 'edit', '#node-config-input-api');
    await ui.fillField(page, '#node-config-input-api', 'http://127.0.0.1:9');
    await ui.closeConfig(page, '#node-config-input-mode');
    await ui.closeConfig(page, '#node-input-runtime');
    const line = page.locator('#leon-ow-action-status');
    await ui.waitActionStatus(page, /type the auth key again/);
    assert.match(await line.textContent(), /^Cannot list actions: The API host or the TLS setting differs from the deployed service/);
    assert.match(await line.getAttribute('class'), /leon-ow-error/);
    // Back to the deployed host: the stored key is used again.
    await ui.openConfig(page, 'node-input', 'runtime', 'edit', '#node-config-input-mode');
    await ui.openConfig(page, 'node-config-input', 'service', 'edit', '#node-config-input-api');
    await ui.fillField(page, '#node-config-input-api', ow.url);
    await ui.closeConfig(page, '#node-config-input-mode');
    await ui.closeConfig(page, '#node-input-runtime');
    await ui.waitActionStatus(page, /^5 action/);
    await ui.closeNode(page, 'cancel');
  });

  it('a hostile page open in the same browser cannot use the lookups: no key leaves, no file is read', async () => {
    const http = require('node:http');
    const service = await page.evaluate((id) => RED.nodes.node(id).service, ids.runtime);
    // A listener on loopback that records whatever reaches it (where a stolen key would go), and the page.
    const seen = [];
    const rec = http.createServer((req, res) => {
      seen.push({ url: req.url, authorization: req.headers.authorization || '' });
      res.end('{}');
    });
    rec.on('connection', () => seen.push({ connection: true }));
    await new Promise((r) => rec.listen(0, '127.0.0.1', () => r(null)));
    const recUrl = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (rec.address()).port}`;
    const evil = http.createServer((req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>evil</title>
      <form id="f" method="POST" action="${nr.url}/leon-openwhisk/entities"><input name="service" value="${service}"><input name="api" value="${recUrl}"></form>
      <form id="m" method="POST" action="${nr.url}/leon-openwhisk/manifest/entities"><input name="manifest" value="/etc/passwd"></form>`),
    );
    await new Promise((r) => evil.listen(0, '127.0.0.1', () => r(null)));
    const hostile = await browser.browser.newPage();
    try {
      await hostile.goto(`http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (evil.address()).port}/`);
      const got = await hostile.evaluate(
        async ({ nrUrl, service, recUrl }) => {
          const out = {};
          const attempt = async (name, url, init) => {
            try {
              const r = await fetch(url, { method: 'POST', ...init });
              out[name] = init.mode === 'no-cors' ? 'sent' : `${r.status} ${await r.text()}`;
            } catch (e) {
              out[name] = `blocked: ${e.message}`;
            }
          };
          const body = JSON.stringify({ service, api: recUrl, namespace: '_' });
          await attempt('json', `${nrUrl}/leon-openwhisk/entities`, { headers: { 'content-type': 'application/json' }, body });
          await attempt('text', `${nrUrl}/leon-openwhisk/entities`, { mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body });
          await attempt('manifest', `${nrUrl}/leon-openwhisk/manifest/entities`, {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ manifest: '/etc/passwd' }),
          });
          await attempt('list', `${nrUrl}/leon-openwhisk/manifest/entities`, {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ manifest: 'examples/manifest.yaml' }),
          });
          return out;
        },
        { nrUrl: nr.url, service, recUrl },
      );
      // Node-RED 4.1 answers every origin's CORS preflight, so there the JSON request arrives and is refused
      // by the endpoint (403); Node-RED 5 sends no CORS headers, so the browser itself stops it.
      for (const k of ['json', 'manifest', 'list']) {
        if (nr.major < 5) assert.match(got[k], /^403 .*another site/, `${k}: ${got[k]}`);
        else assert.match(got[k], /^blocked/, `${k}: ${got[k]}`);
      }
      assert.doesNotMatch(JSON.stringify(got), /root:|facedemo/);
      // Real form submissions (top-level navigations): the answer the page lands on.
      for (const form of ['#f', '#m']) {
        await Promise.all([hostile.waitForNavigation(), hostile.evaluate((sel) => document.querySelector(sel).submit(), form)]);
        const text = await hostile.locator('body').textContent();
        assert.match(text, /"code":"(cross-site|unsupported-media-type)"/, `${form}: ${text}`);
        assert.doesNotMatch(text, /root:/);
        await hostile.goto(`http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (evil.address()).port}/`);
      }
      assert.deepEqual(seen, [], 'nothing reached the listener');
      // The editor's own lookups still work (same origin).
      await ui.openNode(page, ids.action);
      await ui.waitActionStatus(page, /^5 action/);
      await ui.closeNode(page, 'cancel');
    } finally {
      await hostile.close();
      await new Promise((r) => rec.close(r));
      await new Promise((r) => evil.close(r));
    }
  });

  it('shows Inputs, Outputs and Details in the help sidebar, and every property list renders', async () => {
    await page.locator(`${ui.NODE(ids.action)} rect.red-ui-flow-node`).click();
    await ui.showSidebar(page, 'help');
    await ui.waitHelp(page, 'openwhisk action');
    let help = await ui.helpContent(page);
    for (const h of ['Inputs', 'Outputs', 'Details']) assert.ok(help.headings.includes(h), `help has ${h}: ${JSON.stringify(help.headings)}`);
    assert.deepEqual(help.lists, [
      ['payload', 'action', 'namespace'],
      ['payload', 'data'],
    ]);
    assert.match(help.text, /\{payload: value\}/);
    assert.match(help.text, /activationId/);
    assert.equal(help.stray, null, 'no property-list syntax left as text');
    await ui.hideSidebarSection(page, 'debug');
    await shot('help-sidebar.png');

    // The config nodes' help, from the help tree.
    await ui.openHelpTopic(page, 'openwhisk-runtime');
    help = await ui.helpContent(page);
    for (const p of ['Mode', 'Catalog', 'Service', 'Docker engine', 'Image overrides', 'Docker network', 'Capacity', 'Queue']) {
      assert.ok(help.lists.flat().includes(p), `runtime help lists ${p}: ${JSON.stringify(help.lists)}`);
    }
    assert.match(help.text, /unix:\/\/\/path\/to\/docker\.sock/);
    assert.equal(help.stray, null, 'no property-list syntax left as text');
    await ui.openHelpTopic(page, 'openwhisk-service');
    help = await ui.helpContent(page);
    assert.deepEqual(help.lists, [['API host', 'Auth key', 'Skip TLS verification']]);
    assert.match(help.text, /https:\/\/openwhisk\.example\.com/);
    assert.equal(help.stray, null, 'no property-list syntax left as text');
    await ui.showSidebar(page, 'debug');
  });

  it('status rings tell the truth: pulling, containers, invoking, errors with a short reason', async () => {
    await ui.showSidebar(page, 'debug');
    // More nodes on the same service: imported, deployed, then read under each node.
    const service = await page.evaluate((id) => RED.nodes.node(id).service, ids.runtime);
    assert.ok(service, 'the service made in the first test');
    const n = (k) => `e2e${k}`.padEnd(16, '0');
    const flow = [
      { id: n('rtlocal'), type: 'openwhisk-runtime', name: 'edge', mode: 'local', service, images: LOCAL_IMAGES, capacity: 2, queue: 10 },
      { id: n('rtfail'), type: 'openwhisk-runtime', name: 'edge 2', mode: 'local', service, images: LOCAL_IMAGES, capacity: 4, queue: 10 },
      { id: n('rtnoimg'), type: 'openwhisk-runtime', name: 'no image', mode: 'local', service, images: 'nodejs:*=leon-edge/no-such-image:latest' },
      {
        id: n('burst'),
        type: 'inject',
        name: 'burst',
        props: [{ p: 'payload' }],
        payload: '{"ms":1500}',
        payloadType: 'json',
        repeat: '',
        once: false,
        x: 0,
        y: 0,
        wires: [[n('slow')]],
      },
      { id: n('slow'), type: 'openwhisk-action', runtime: n('rtlocal'), action: 'slow', params: [], x: 240, y: 0, wires: [[]] },
      {
        id: n('fail'),
        type: 'inject',
        name: 'fail',
        props: [{ p: 'payload' }],
        payload: '{}',
        payloadType: 'json',
        repeat: '',
        once: false,
        x: 0,
        y: 60,
        wires: [[n('fails')]],
      },
      { id: n('fails'), type: 'openwhisk-action', runtime: n('rtfail'), action: 'fails', params: [], x: 240, y: 60, wires: [[]] },
      { id: n('noimg'), type: 'openwhisk-action', runtime: n('rtnoimg'), action: 'hello', params: [], x: 240, y: 120, wires: [[]] },
      { id: n('nope'), type: 'openwhisk-action', runtime: n('rtlocal'), action: 'no-such-action', params: [], x: 240, y: 180, wires: [[]] },
    ];
    await ui.importFlow(page, flow, 200, 420);
    await statuses.reset();
    await ui.deploy(page);

    await ui.waitStatus(page, n('slow'), /^ready \(1\)$/);
    let st;
    assert.ok(inOrder(await statuses.svg(n('slow')), [...PROVISIONING, 'ready (1)']), JSON.stringify(await statuses.svg(n('slow'))));
    st = await ui.waitStatus(page, n('noimg'), /^image missing$/);
    assert.equal(st.cls, 'red-ui-flow-node-status-ring-red');
    assert.ok(inOrder(await statuses.svg(n('noimg')), ['fetching action', 'pulling image', 'image missing']), JSON.stringify(await statuses.svg(n('noimg'))));
    st = await ui.waitStatus(page, n('nope'), /^not found$/);
    assert.equal(st.cls, 'red-ui-flow-node-status-ring-red');

    // Three quick clicks: two run at once (capacity 2: the second in a new container), the third waits for one of them.
    // (Idle containers of a runtime above 75 % of its capacity are preempted, but only after 10 s idle.)
    await statuses.reset();
    for (let i = 0; i < 3; i++) await ui.clickInject(page, n('burst'));
    await ui.waitStatus(page, n('slow'), /^invoking \(3\)$/, 30000);
    st = await ui.waitStatus(page, n('slow'), /^ready \(2\)$/, 60000);
    assert.equal(st.cls, 'red-ui-flow-node-status-dot-green');
    const seen = await statuses.svg(n('slow'));
    assert.ok(inOrder(seen, ['invoking', 'invoking (2)', 'invoking (3)', 'invoking (2)', 'invoking', 'ready (2)']), JSON.stringify(seen));
    assert.equal(await containersOfNode(n('slow')), 2, 'two containers, as the status says');
    const blue = (await statuses.comms(n('slow'))).filter((s) => /^invoking/.test(s.text));
    assert.ok(blue.length >= 3 && blue.every((s) => s.fill === 'blue'), JSON.stringify(blue));

    // An application error: a red ring with a short reason, the full message in the debug sidebar.
    const before = (await ui.debugMessages(page)).length;
    await ui.clickInject(page, n('fail'));
    st = await ui.waitStatus(page, n('fails'), /^action error$/);
    assert.equal(st.cls, 'red-ui-flow-node-status-ring-red');
    const msgs = await ui.waitDebugCount(page, before + 1);
    const last = msgs[msgs.length - 1];
    assert.match(last.payload, /Action '\/guest\/fails' returned/, JSON.stringify(last));
    assert.match(await ui.expandDebugMessage(page, msgs.length - 1), /Action '\/guest\/fails' returned an error: sensor offline/);
    await shot('status-rings.png');
  });

  it('removes its containers when Node-RED stops', async () => {
    assert.ok((await containers(`io.leon-edge.instance=${instance}`)) > 0);
    const res = await nr.stop();
    assert.equal(res.code === 0 || res.signal === 'SIGINT', true, JSON.stringify(res));
    assert.equal(await containers(`io.leon-edge.instance=${instance}`), 0);
  });
});
