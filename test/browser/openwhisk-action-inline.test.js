'use strict';
/* global RED, document -- page.evaluate() functions run in the browser page */
// Inline code in a real browser (Chromium) on a real Node-RED (4.1 or 5, from NODE_RED_PATH): the action
// node's "Code: written here", the code typed into Node-RED's code editor, deployed, the inject button
// clicked, the result read in the debug sidebar; the same in Python; a syntax error shown on the node; Fetch
// from OpenWhisk loading an existing action into the editor (a blackbox or a sequence refused with the reason).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./support/env');
const ui = require('./support/editor');

const id = (k) => `e2ein${k}`.padEnd(16, '0');
const PY_IMAGE = 'leon-edge/action-python-v3.11:latest';

describe('inline code in the action node, in a real browser (Chromium)', function () {
  this.timeout(180000);
  let nr;
  let browser;
  let page;
  let shotDir;

  before(async function () {
    this.timeout(240000);
    env.checkBuild();
    const docker = await env.requireDockerImage(this);
    try {
      await docker.getImage(PY_IMAGE).inspect();
    } catch {
      if (env.CI) throw new Error(`image ${PY_IMAGE} missing: run bash runtimes/build.sh`);
      this.skip();
    }
    browser = await env.launchBrowser(this);
    nr = await env.startNodeRed();
    shotDir = nr.major >= 5 ? env.SCREENSHOTS : path.join(env.ROOT, 'test-results', `e2e-node-red-${nr.version}`);
    console.log(`      Node-RED ${nr.version} on Node ${process.versions.node} at ${nr.url}`);
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.log(`      [page error] ${err.message}`));
    await ui.openEditor(page, nr.url);
    // A local runtime with no catalog at all, an inject, the action node (from the catalog, as dropped) and a debug node.
    await ui.importFlow(
      page,
      [
        { id: id('rt'), type: 'openwhisk-runtime', name: 'local, no catalog', mode: 'local', source: 'none', capacity: 2, queue: 10 },
        {
          id: id('in'),
          type: 'inject',
          name: 'reading',
          props: [{ p: 'payload' }],
          repeat: '',
          once: false,
          payload: '{"value":21}',
          payloadType: 'json',
          x: 120,
          y: 100,
          wires: [[id('act')]],
        },
        { id: id('act'), type: 'openwhisk-action', name: '', runtime: id('rt'), action: '', namespace: '', params: [], x: 320, y: 100, wires: [[id('dbg')]] },
        { id: id('dbg'), type: 'debug', name: 'result', active: true, tosidebar: true, complete: 'payload', targetType: 'msg', x: 520, y: 100, wires: [] },
      ],
      400,
      300,
    );
  });

  after(async () => {
    if (browser) await browser.close();
    if (nr) await nr.stop();
  });

  afterEach(async function () {
    if (this.currentTest.state !== 'failed' || !page) return;
    const dir = path.join(env.ROOT, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, `e2e-inline-failure-${nr.version}.png`) }).catch(() => {});
    await ui.closeTrays(page).catch(() => {});
    console.log(`      --- Node-RED log (tail) ---\n${nr.log().split('\n').slice(-30).join('\n')}`);
  });

  /** Opens the action node, sets Code: written here, the kind, and types the code into the code editor. */
  async function writeCode(kind, code, shot) {
    await ui.openNode(page, id('act'));
    await page.locator('#node-input-source').selectOption('inline');
    await page.locator('#node-input-kind').selectOption(kind);
    const editor = page.locator('#leon-ow-code-editor');
    await editor.waitFor({ state: 'visible' });
    await editor.click();
    // As pasted (typing would meet the editor's auto-closed brackets and suggestions): the dialog's own editor.
    // The node being edited is the last of the edit stack; its code editor is the one in the dialog.
    await page.evaluate((text) => {
      RED.editor.getEditStack().at(-1).codeEditor.setValue(text);
    }, code);
    assert.equal(await page.evaluate(() => RED.editor.getEditStack().at(-1).codeEditor.getValue()), code);
    if (shot) {
      await ui.waitNotificationsGone(page);
      await ui.settle(page);
      fs.mkdirSync(shotDir, { recursive: true });
      await page.screenshot({ path: path.join(shotDir, shot) });
    }
    await ui.closeNode(page);
  }

  async function injectAndRead(count) {
    await ui.showSidebar(page, 'debug');
    await ui.clickInject(page, id('in'));
    const msgs = await ui.waitDebugCount(page, count);
    return msgs[msgs.length - 1];
  }

  it('Node.js: main written in the editor, deployed, injected: the result in the debug sidebar', async () => {
    await writeCode('nodejs:20', 'function main(params) {\n  return { doubled: params.value * 2, node: process.version };\n}\n', 'inline-editor-nodejs.png');
    await ui.deploy(page);
    await ui.waitStatus(page, id('act'), /ready/);
    const msg = await injectAndRead(1);
    assert.match(msg.payload, /doubled: 42/);
    assert.match(msg.payload, /node: "v20\./);
  });

  it('Python: the same node switched to python:3.11', async () => {
    await writeCode(
      'python:3.11',
      'import sys\n\ndef main(args):\n    return {"tripled": args["value"] * 3, "python": sys.version.split()[0]}\n',
      'inline-editor-python.png',
    );
    await ui.deploy(page);
    await ui.waitStatus(page, id('act'), /ready/);
    const msg = await injectAndRead(2);
    assert.match(msg.payload, /tripled: 63/);
    assert.match(msg.payload, /python: "3\.11\./);
  });

  it("a syntax error shows on the node with the action's words", async () => {
    await writeCode('nodejs:20', 'function main(params) {\n  return { ok: true \n}\n');
    await ui.deploy(page);
    const st = await ui.waitStatus(page, id('act'), /init failed/);
    assert.match(st.text, /^init failed: SyntaxError/);
    await ui.waitNotificationsGone(page);
    await ui.settle(page);
    fs.mkdirSync(shotDir, { recursive: true });
    await page.screenshot({ path: path.join(shotDir, 'inline-syntax-error.png'), clip: { x: 0, y: 0, width: 1280, height: 400 } });
    // The code saved with the node is what was typed.
    const code = await page.evaluate((nid) => RED.nodes.node(nid).code, id('act'));
    assert.match(code, /return \{ ok: true \n\}/);
  });
});

describe('Fetch from OpenWhisk in the inline editor, in a real browser (Chromium)', function () {
  this.timeout(180000);
  let nr;
  let ow;
  let browser;
  let page;
  const CODE = 'function handler(params) {\n  const celsius = (params.f - 32) / 1.8;\n  return { celsius };\n}\n';

  before(async function () {
    this.timeout(240000);
    env.checkBuild();
    browser = await env.launchBrowser(this);
    // The OpenWhisk stand-in holds an action with code (its own kind, entry point and limits), a blackbox and a sequence.
    ow = await env.startCatalog();
    ow.putAction('guest', 'to-celsius', { exec: { kind: 'nodejs:22', code: CODE, main: 'handler' }, limits: { memory: 512, timeout: 30000 } });
    ow.putAction('guest', 'boxed', { exec: { kind: 'blackbox', image: 'example/echo:1' } });
    ow.putAction('guest', 'pipeline', { exec: { kind: 'sequence', components: ['/guest/hello', '/guest/edge/threshold'] } });
    nr = await env.startNodeRed();
    console.log(`      Node-RED ${nr.version} on Node ${process.versions.node} at ${nr.url}; OpenWhisk stand-in at ${ow.url}`);
    // A cloud runtime on the stand-in (its key stored with the deployed service) and an action node as dropped.
    const flow = [
      { id: id('ftab'), type: 'tab', label: 'fetch' },
      { id: id('fsvc'), type: 'openwhisk-service', name: 'stand-in', api: `${ow.url}/api/v1`, credentials: { key: ow.key('guest') } },
      { id: id('frt'), type: 'openwhisk-runtime', name: 'cloud', mode: 'cloud', service: id('fsvc') },
      {
        id: id('fact'),
        z: id('ftab'),
        type: 'openwhisk-action',
        name: '',
        runtime: id('frt'),
        action: '',
        namespace: '',
        params: [],
        x: 320,
        y: 100,
        wires: [[]],
      },
    ];
    const res = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: flow }),
    });
    assert.equal(res.status, 200, await res.text());
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.log(`      [page error] ${err.message}`));
    await ui.openEditor(page, nr.url);
  });

  after(async () => {
    if (page) await page.close().catch(() => {});
    if (browser) await browser.close();
    if (nr) await nr.stop();
    if (ow) await ow.stop();
  });

  afterEach(async function () {
    if (this.currentTest.state !== 'failed' || !page) return;
    const dir = path.join(env.ROOT, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, `e2e-inline-fetch-failure-${nr.version}.png`) }).catch(() => {});
    console.log(`      --- Node-RED log (tail) ---\n${nr.log().split('\n').slice(-30).join('\n')}`);
  });

  /** Types the action's name, presses Fetch from OpenWhisk and waits until the line next to it says something new. */
  async function fetchAction(name) {
    await ui.fillField(page, '#node-input-action', name);
    await page.evaluate(() => (document.querySelector('#leon-ow-fetch-status').textContent = ''));
    await page.locator('#leon-ow-fetch').click();
    const h = await page.waitForFunction(
      () => {
        const t = document.querySelector('#leon-ow-fetch-status').textContent;
        return t && !/^Fetching/.test(t) && t;
      },
      null,
      { timeout: 30000 },
    );
    return h.jsonValue();
  }

  const dialog = () =>
    page.evaluate(() => ({
      code: RED.editor.getEditStack().at(-1).codeEditor.getValue(),
      shown: /** @type {HTMLElement} */ (document.querySelector('#leon-ow-code-editor')).innerText.replace(/\s+/g, ' '),
      kind: /** @type {HTMLInputElement} */ (document.querySelector('#node-input-kind')).value,
      main: /** @type {HTMLInputElement} */ (document.querySelector('#node-input-main')).value,
      memory: /** @type {HTMLInputElement} */ (document.querySelector('#node-input-memory')).value,
      timeout: /** @type {HTMLInputElement} */ (document.querySelector('#node-input-timeout')).value,
      concurrency: /** @type {HTMLInputElement} */ (document.querySelector('#node-input-concurrency')).value,
    }));

  it("loads an existing action's code, kind, entry point and limits into the editor; a blackbox or a sequence says why not", async () => {
    await ui.openNode(page, id('fact'));
    await page.locator('#node-input-source').selectOption('inline');
    await page.locator('#leon-ow-code-editor').waitFor({ state: 'visible' });
    // Other values first, so that each one the fetch sets is seen to change.
    await page.locator('#node-input-kind').selectOption('python:3.11');
    await ui.fillField(page, '#node-input-main', 'other');
    await ui.fillField(page, '#node-input-memory', '128');
    await ui.fillField(page, '#node-input-timeout', '5');
    await ui.fillField(page, '#node-input-concurrency', '4');

    assert.match(await fetchAction('to-celsius'), /^Loaded to-celsius 0\.0\.1 into the editor/);
    // The code editor draws its new text on a later animation frame: wait (bounded) until it shows, then read it all.
    // (The start of a line only: a narrow dialog may draw the end of a long one out of view.)
    await page
      .waitForFunction(
        () =>
          /const celsius = \(params\.f - 32\)/.test(/** @type {HTMLElement} */ (document.querySelector('#leon-ow-code-editor')).innerText.replace(/\s+/g, ' ')),
        null,
        { timeout: 10000 },
      )
      .catch(() => undefined);
    const got = await dialog();
    assert.equal(got.code, CODE);
    assert.match(got.shown, /const celsius = \(params\.f - 32\)/, 'the code editor shows the fetched code');
    assert.deepEqual(
      { kind: got.kind, main: got.main, memory: got.memory, timeout: got.timeout, concurrency: got.concurrency },
      { kind: 'nodejs:22', main: 'handler', memory: '512', timeout: '30', concurrency: '1' },
    );

    // Refused with the reason; what the editor holds stays as it was.
    assert.equal(await fetchAction('boxed'), "'boxed' is a blackbox action: its code is its Docker image (example/echo:1), which cannot be edited here.");
    assert.equal(await fetchAction('pipeline'), "'pipeline' is a sequence: it has no code of its own, only its components.");
    assert.deepEqual(await dialog(), got);
    await ui.closeNode(page, 'cancel');
  });
});
