'use strict';
/* global RED -- page.evaluate() functions run in the browser page */
// Inline code in a real browser (Chromium) on a real Node-RED (4.1 or 5, from NODE_RED_PATH): the action
// node's "Code: written here", the code typed into Node-RED's code editor, deployed, the inject button
// clicked, the result read in the debug sidebar; the same in Python; a syntax error shown on the node.
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
    await ui.importFlow(page, [
      { id: id('rt'), type: 'openwhisk-runtime', name: 'local, no catalog', mode: 'local', source: 'none', capacity: 2, queue: 10 },
      { id: id('in'), type: 'inject', name: 'reading', props: [{ p: 'payload' }], repeat: '', once: false, payload: '{"value":21}', payloadType: 'json', x: 120, y: 100, wires: [[id('act')]] },
      { id: id('act'), type: 'openwhisk-action', name: '', runtime: id('rt'), action: '', namespace: '', params: [], x: 320, y: 100, wires: [[id('dbg')]] },
      { id: id('dbg'), type: 'debug', name: 'result', active: true, tosidebar: true, complete: 'payload', targetType: 'msg', x: 520, y: 100, wires: [] },
    ], 400, 300);
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
    await writeCode('python:3.11', 'import sys\n\ndef main(args):\n    return {"tripled": args["value"] * 3, "python": sys.version.split()[0]}\n', 'inline-editor-python.png');
    await ui.deploy(page);
    await ui.waitStatus(page, id('act'), /ready/);
    const msg = await injectAndRead(2);
    assert.match(msg.payload, /tripled: 63/);
    assert.match(msg.payload, /python: "3\.11\./);
  });

  it('a syntax error shows on the node with the action\'s words', async () => {
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
