#!/usr/bin/env node
// `npm start`: prepares the images the demo needs, starts Node-RED on 127.0.0.1 with this package and
// the FlowFuse dashboard, deploys the face-detection example on first start (never over a flow the user
// has edited since), and prints where to look and where to drop images.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const Docker = require('dockerode');

const root = path.resolve(__dirname, '..');
const userDir = path.join(root, 'demo', '.userdir');
const imagesDir = path.resolve(process.env.LEON_IMAGES_DIR || path.join(root, 'demo', 'images'));
const port = Number(process.env.PORT) || 1880;

async function dockerProblem() {
  try {
    await new Docker().ping();
    return undefined;
  } catch (err) {
    return err.message;
  }
}

const BUILDS = [
  ['runtimes/build.sh', 'the action runtimes (Node.js, Python)', 'build-runtimes.log'],
  ['runtimes/face-detection/build.sh', 'face detection', 'build-face-detection.log'],
  ['runtimes/face-identify/build.sh', 'face identification', 'build-face-identify.log'],
];

const secs = (ms) => `${Math.round(ms / 1000)} s`;

/**
 * Builds (or finds up to date) the images the demo needs. A first run takes minutes: each script's
 * full output goes to a log file; the console shows each image as it is built, the elapsed time,
 * and on failure the log's last lines.
 */
async function buildImages() {
  const logDir = path.join(userDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const t0 = Date.now();
  for (const [i, [script, what, logName]] of BUILDS.entries()) {
    const log = path.join(logDir, logName);
    console.log(`▶ [${i + 1}/${BUILDS.length}] images for ${what}: bash ${script} (full log: ${path.relative(process.cwd(), log)})`);
    const out = fs.openSync(log, 'w');
    const started = Date.now();
    const child = spawn('bash', [script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    const onData = (chunk) => {
      fs.writeSync(out, chunk);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) if (/: (building|built) /.test(line)) console.log(`    ${line.trim()}  (${secs(Date.now() - started)})`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const ticker = setInterval(() => console.log(`    … still building (${secs(Date.now() - started)}; ${path.relative(process.cwd(), log)})`), 30000);
    const code = await new Promise((resolve) => child.on('close', resolve));
    clearInterval(ticker);
    fs.closeSync(out);
    if (code !== 0) {
      const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-25).join('\n    ');
      throw new Error(`${script} failed (exit ${code}) after ${secs(Date.now() - started)}. Last lines of ${log}:\n    ${tail}`);
    }
    console.log(`  ✓ ${what} ready in ${secs(Date.now() - started)}`);
  }
  console.log(`✓ images ready in ${secs(Date.now() - t0)}`);
}

/** Copies the example flow on first start only; later starts keep whatever the user deployed. */
function prepareFlows() {
  fs.mkdirSync(userDir, { recursive: true });
  fs.mkdirSync(imagesDir, { recursive: true });
  const flows = path.join(userDir, 'flows.json');
  if (fs.existsSync(flows)) return false;
  const example = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'face-detection.json'), 'utf8'));
  fs.writeFileSync(flows, JSON.stringify(example, null, 2)); // its watch folder: LEON_FACES_WATCH, set below
  return true;
}

async function main() {
  const problem = await dockerProblem();
  if (problem) {
    console.log(`
✗ Docker is not available here (${problem}).
  The demo runs its actions in Docker containers. To get Docker:
    Debian/Ubuntu/Raspberry Pi OS:  sudo apt-get install docker.io && sudo systemctl start docker
    elsewhere:                      https://docs.docker.com/engine/install/
  and let this user use it:         sudo usermod -aG docker $USER  (then log in again)
  Node-RED starts anyway; local actions show "unreachable" until Docker runs.
`);
  } else {
    await buildImages();
  }
  const fresh = prepareFlows();
  // Node-RED 5 needs Node >= 22.9; on an older Node (20 LTS) the demo runs on Node-RED 4.1 (devDependency node-red-v4).
  const [major, minor] = process.versions.node.split('.').map(Number);
  const redPackage = major > 22 || (major === 22 && minor >= 9) ? 'node-red' : 'node-red-v4';
  const red = path.join(path.dirname(require.resolve(`${redPackage}/package.json`, { paths: [root] })), 'red.js');
  if (redPackage === 'node-red-v4') console.log(`Node.js ${process.version}: starting Node-RED 4.1 (Node-RED 5 needs Node.js 22.9 or later)`);
  const child = spawn(process.execPath, [red, '-u', userDir, '-s', path.join(root, 'demo', 'settings.js'), '-p', String(port)], {
    cwd: root,
    // The face example's settings (its tab's environment reads them): the demo's knowledge base (who the face
    // example knows) lives beside its flows, and the watched folder is demo/images.
    env: {
      ...process.env,
      LEON_FACES_KB: process.env.LEON_FACES_KB || path.join(userDir, 'leon-faces-knowledge.json'),
      LEON_FACES_WATCH: process.env.LEON_FACES_WATCH || imagesDir,
    },
    stdio: ['inherit', 'pipe', 'inherit'],
  });
  let announced = false;
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    // Once the flows run (Node-RED listens first): a photo dropped before the watch node starts is never seen.
    if (!announced && /Started flows/.test(String(chunk))) {
      announced = true;
      console.log(`
  ─────────────────────────────────────────────────────────────────
  Node-RED editor:   http://127.0.0.1:${port}/
  Dashboard:         http://127.0.0.1:${port}/dashboard/faces
  Drop images into:  ${imagesDir}
  ${fresh ? 'Deployed the face-detection example (examples/face-detection.json).' : 'Kept your flows (demo/.userdir/flows.json); delete that file to start from the example again.'}
  ─────────────────────────────────────────────────────────────────
`);
    }
  });
  const stop = () => child.kill('SIGINT');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code) => process.exit(code ?? 0));
}

main().catch((err) => {
  console.error(`\n✗ ${err.message}`);
  process.exit(1);
});
