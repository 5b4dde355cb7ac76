'use strict';
// A real Node-RED process for tests: Node-RED 5 on Node 22 or Node-RED 4.1 on Node 20, its own user
// directory, this package on its nodesDir, flows deployed through the admin API (credentials inline).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const node22 = require('../../scripts/node22');

const root = path.resolve(__dirname, '..', '..');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

const until = async (what, pred, ms = 30000) => {
  const start = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A Node-RED user directory: settings (loopback only, this package on nodesDir) and a flow file. */
function writeUserDir(userDir, flows = []) {
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = { uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'test', nodesDir: [${JSON.stringify(root)}], editorTheme: { tours: false } };`,
  );
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
}

/** version: 5 (node-red on Node 22 from scripts/node22.js) or 4 (node-red-v4 on this Node). */
async function createRed({ version = 5, files = {} } = {}) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-red-'));
  writeUserDir(userDir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(userDir, name), text);
  const port = await freePort();
  const pkg = version === 4 ? 'node-red-v4' : 'node-red';
  const redJs = path.join(path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] })), 'red.js');
  const bin = version === 4 ? process.execPath : node22.find() || process.execPath;
  const red = {
    userDir,
    port,
    url: `http://127.0.0.1:${port}`,
    proc: undefined,
    out: '',
    async start() {
      red.out = '';
      red.proc = spawn(bin, [redJs, '-u', userDir, '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      red.proc.stdout.on('data', (d) => (red.out += d));
      red.proc.stderr.on('data', (d) => (red.out += d));
      const proc = red.proc;
      await until(
        `Node-RED ${version} to start its flows`,
        () => /Started flows/.test(red.out) || (proc.exitCode !== null && Promise.reject(new Error(red.out))),
        60000,
      );
    },
    async deploy(flows) {
      const started = () => (red.out.match(/Started flows/g) || []).length;
      const before = started();
      const res = await fetch(`${red.url}/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(flows),
      });
      if (res.status !== 204 && res.status !== 200) throw new Error(`deploy: ${res.status} ${await res.text()}`);
      await until('the deploy to start', () => started() > before, 30000);
    },
    async stop() {
      const p = red.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGINT');
      await until('Node-RED to exit', () => p.exitCode !== null || p.signalCode !== null, 30000);
    },
    async destroy() {
      const p = red.proc;
      if (p && p.exitCode === null && p.signalCode === null) {
        await red.stop().catch(() => p.kill('SIGKILL'));
      }
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
  return red;
}

module.exports = { createRed, until, freePort, writeUserDir };
