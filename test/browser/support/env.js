'use strict';
/**
 * Support for the browser tests: a real Node-RED (the one NODE_RED_PATH points at, as for the Node-RED tests)
 * started from its CLI with a temporary userDir that loads this repository through `nodesDir`, the
 * OpenWhisk API test server with a few actions, Chromium through playwright-core, and the checks that
 * make CI fail (never skip) when Chromium or Docker is missing.
 */
const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const node22 = require('../../../scripts/node22');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');
const CI = process.env.CI === 'true';

/**
 * Skips (locally) or fails (in CI) with a reason.
 * @param {Mocha.Context} ctx
 * @returns {never}
 */
function unavailable(ctx, why) {
  if (CI) throw new Error(`${why}. Browser tests never skip in CI.`);
  console.log(`      (skipped: ${why})`);
  ctx.skip();
}

/** The Node-RED package directory and version for NODE_RED_PATH (…/node-red/lib/red.js) or the default node-red. */
function nodeRedPackage() {
  let dir = path.dirname(process.env.NODE_RED_PATH || require.resolve('node-red', { paths: [ROOT] }));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg.name === 'node-red') return { dir, version: pkg.version, major: Number(pkg.version.split('.')[0]) };
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no node-red package above ${process.env.NODE_RED_PATH}`);
    dir = up;
  }
}

/** Node-RED 5 needs Node >= 22.9: use Node 22 from scripts/node22.js when this process runs an older Node. */
function nodeBinaryFor(major) {
  const [maj, min] = process.versions.node.split('.').map(Number);
  if (major >= 5 && (maj < 22 || (maj === 22 && min < 9))) {
    const bin = node22.find();
    if (!bin)
      throw new Error(
        `Node-RED ${major} needs Node >= 22.9 and Node 22 is not installed: run node scripts/node22.js (or the tests through node scripts/test.js)`,
      );
    return bin;
  }
  return process.execPath;
}

/** dist/ is what Node-RED loads (package.json node-red.nodes); a stale copy would test old editor code. */
function checkBuild() {
  const same = (src, built) => {
    if (!fs.existsSync(built)) throw new Error(`${path.relative(ROOT, built)} is missing: run npm run build`);
    if (src && fs.readFileSync(built, 'utf8') !== fs.readFileSync(src, 'utf8')) {
      throw new Error(`${path.relative(ROOT, built)} differs from ${path.relative(ROOT, src)}: run npm run build`);
    }
  };
  for (const f of fs.readdirSync(path.join(ROOT, 'nodes'))) {
    if (f.endsWith('.html')) same(path.join(ROOT, 'nodes', f), path.join(ROOT, 'dist', 'nodes', f));
    if (f.endsWith('.ts')) same(null, path.join(ROOT, 'dist', 'nodes', f.replace(/\.ts$/, '.js')));
  }
  const locales = path.join(ROOT, 'nodes', 'locales', 'en-US');
  for (const f of fs.readdirSync(locales)) same(path.join(locales, f), path.join(ROOT, 'dist', 'nodes', 'locales', 'en-US', f));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

async function until(what, fn, ms = 30000, every = 200) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Starts Node-RED from its CLI (red.js) with a fresh userDir, or with opts.userDir (a restart: the flows and
 * files a previous start left there). opts.env adds environment variables, opts.settings settings.js entries. Returns {url, pid, version, userDir, log(),
 * stop({keep})}. stop() sends SIGINT (Node-RED closes the flows, so local runtimes remove their containers),
 * then SIGKILL, and removes the userDir unless {keep: true}.
 */
async function startNodeRed(opts = {}) {
  const nr = nodeRedPackage();
  const userDir = opts.userDir || fs.mkdtempSync(path.join(os.tmpdir(), 'leon-ow-e2e-'));
  const settingsFile = path.join(userDir, 'settings.js');
  const settings = {
    uiHost: '127.0.0.1',
    flowFile: 'flows.json',
    credentialSecret: 'leon-openwhisk-e2e',
    nodesDir: [ROOT],
    editorTheme: { tours: false, projects: { enabled: false } },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    ...opts.settings,
  };
  fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const bin = nodeBinaryFor(nr.major);
  let output = '';
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(bin, [path.join(nr.dir, 'red.js'), '-u', userDir, '-s', settingsFile, '-p', String(port)], {
      cwd: userDir,
      env: { ...process.env, NODE_RED_PATH: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    output = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => (output += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => (output += d));
    let exited = null;
    const exit = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((exited = { code, signal }))));
    const url = `http://127.0.0.1:${port}`;
    try {
      await until(
        `Node-RED ${nr.version} on ${url}`,
        async () => {
          if (exited) throw new Error(`Node-RED exited (${JSON.stringify(exited)})`);
          return /Started flows|Server now running/.test(output) && (await get(`${url}/settings`)).status === 200;
        },
        60000,
        250,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      await exit;
      if (/EADDRINUSE/.test(output) && attempt < 3) continue;
      if (!opts.userDir) fs.rmSync(userDir, { recursive: true, force: true });
      throw new Error(`${err.message}\n--- Node-RED output ---\n${output}`, { cause: err });
    }
    // Never leave a Node-RED behind, even if mocha itself is interrupted.
    const killOnExit = () => proc.kill('SIGKILL');
    process.once('exit', killOnExit);
    const stop = async ({ keep = false } = {}) => {
      if (!exited) {
        proc.kill('SIGINT');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
        await exit;
        clearTimeout(timer);
      }
      process.off('exit', killOnExit);
      if (!keep) fs.rmSync(userDir, { recursive: true, force: true });
      return exited;
    };
    return { url, port, pid: proc.pid, userDir, version: nr.version, major: nr.major, node: bin, log: () => output, stop };
  }
}

/** The OpenWhisk API test server with the actions the tests list and run. */
async function startCatalog() {
  const ow = await startOpenWhiskServer();
  ow.putAction('guest', 'hello', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { greeting: "Hello, " + (p.name || "world") + "!", site: p.site || null }; }' },
    parameters: [{ key: 'name', value: 'world' }],
  });
  ow.putPackage('guest', 'edge', {});
  ow.putAction('guest', 'edge/threshold', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { alert: Number(p.value) > Number(p.limit), value: p.value, limit: p.limit }; }' },
    parameters: [{ key: 'limit', value: 10 }],
  });
  ow.putAction('guest', 'slow', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { return new Promise((r) => setTimeout(() => r({ done: true }), Number(p.ms) || 1500)); }' },
  });
  ow.putAction('guest', 'fails', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { return { error: "sensor offline" }; }' },
  });
  ow.putAction('guest', 'crash', {
    exec: { kind: 'nodejs:20', code: 'function main(p) { throw new Error("boom"); }' },
  });
  return ow;
}

/** Chromium through playwright-core (never downloads a browser); launch() gives it a fresh temporary profile. */
async function launchBrowser(ctx) {
  if (!fs.existsSync(CHROMIUM)) unavailable(ctx, `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return { browser, close: () => browser.close().catch(() => {}) };
}

async function requireDockerImage(ctx) {
  const Docker = require('dockerode');
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (err) {
    return unavailable(ctx, `Docker engine not reachable (${err.message}): start dockerd`);
  }
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    return unavailable(ctx, `image ${IMAGE} missing: run bash runtimes/build.sh`);
  }
  return docker;
}

/**
 * Notices when the Docker engine goes away during the run (its event stream ends), so that a failure caused by
 * something else restarting dockerd says so. Returns {lost(): string|null, stop()}.
 */
async function watchDocker(docker) {
  let lost = null;
  let stopped = false;
  const stream = await docker.getEvents({ filters: { type: ['daemon'] } });
  const gone = (why) => {
    if (!stopped && !lost) lost = `${new Date().toISOString()}: ${why}`;
  };
  stream.on('end', () => gone('event stream ended'));
  stream.on('close', () => gone('event stream closed'));
  stream.on('error', (err) => gone(err.message));
  stream.resume();
  return {
    lost: () => lost,
    stop: () => {
      stopped = true;
      stream.destroy();
    },
  };
}

module.exports = {
  ROOT,
  IMAGE,
  SCREENSHOTS,
  CI,
  checkBuild,
  startNodeRed,
  startCatalog,
  launchBrowser,
  requireDockerImage,
  watchDocker,
  until,
};
