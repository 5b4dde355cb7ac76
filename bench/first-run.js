#!/usr/bin/env node
// A user's first `npm start`, timed: on a Docker engine without this package's images, containers or
// networks, and with an empty demo user directory. It removes those (the images `leon-edge/*` too: they
// are rebuilt, which is the point), runs `npm start` in this checkout, and times
//   images    the builds npm start runs (its "images ready in" line),
//   editor    Node-RED listening (the editor URL printed),
//   processed   astronaut.png dropped into the watched folder → its row in the flow's history (admin API),
//   face        then the dashboard page opened in a real browser shows it.
// Prints one line per stage and writes bench/results/first-run.json. Needs Docker, Debian's chromium, and
// `npm install` done (the build is part of what is timed). Takes minutes; run it on a quiet engine: it
// removes every image and container of this package on it (`--keep-images`: only the demo's user directory).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const userDir = path.join(root, 'demo', '.userdir');
const watchDir = path.join(root, 'demo', 'images');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const lines = (s) => s.split('\n').filter(Boolean);

function resetEngine() {
  if (process.argv.includes('--keep-images')) {
    fs.rmSync(userDir, { recursive: true, force: true });
    fs.rmSync(watchDir, { recursive: true, force: true });
    return;
  }
  // A Node-RED still stopping may be removing some of them itself: until none is left.
  for (let i = 0; i < 30; i++) {
    const containers = lines(docker('ps', '-aq', '--filter', 'label=io.leon-edge.managed'));
    if (!containers.length) break;
    try {
      docker('rm', '-f', '-v', ...containers);
    } catch {
      execFileSync('sleep', ['1']);
    }
  }
  const nets = lines(docker('network', 'ls', '-q', '--filter', 'name=leon-openwhisk-isolated'));
  if (nets.length) docker('network', 'rm', ...nets);
  const images = lines(docker('images', '--format', '{{.Repository}}:{{.Tag}}')).filter((i) => i.startsWith('leon-edge/'));
  if (images.length) docker('rmi', '-f', ...images);
  fs.rmSync(userDir, { recursive: true, force: true });
  fs.rmSync(watchDir, { recursive: true, force: true });
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function main() {
  resetEngine();
  const port = await freePort();
  const t0 = Date.now();
  const at = {};
  let out = '';
  // Its own process group: SIGINT reaches npm, start.js and Node-RED (a shell in between forwards nothing).
  const child = spawn('npm', ['start'], { cwd: root, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const seen = (chunk) => {
    out += chunk;
    process.stdout.write(chunk);
    if (!at.images && /images ready in/.test(out)) at.images = Date.now() - t0;
    if (!at.editor && /Node-RED editor:/.test(out)) at.editor = Date.now() - t0;
  };
  child.stdout.on('data', seen);
  child.stderr.on('data', seen);
  try {
    while (!at.editor) {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // The photo dropped; processed once the flow's history (its flow context, read through the admin API)
    // has its row; then shown on a dashboard page opened in a real browser.
    const dropped = Date.now();
    fs.copyFileSync(path.join(root, 'test', 'fixtures', 'faces', 'astronaut.png'), path.join(watchDir, 'astronaut.png'));
    for (;;) {
      const ctx = await fetch(`http://127.0.0.1:${port}/context/flow/face.tab`).then(
        (r) => r.json(),
        () => ({}),
      );
      if (String((ctx.memory ?? ctx).history?.msg ?? '').includes('astronaut.png')) break;
      if (Date.now() - dropped > 300000) throw new Error('the photo was not processed within 5 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    at.processed = Date.now() - t0;
    at.processedAfterDrop = Date.now() - dropped;
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
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
      await page.goto(`http://127.0.0.1:${port}/dashboard/faces`);
      await page.getByText('Original: astronaut.png').waitFor({ timeout: 60000 });
      at.face = Date.now() - t0;
    } finally {
      await browser.close();
    }
    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `\nfirst run: images built ${s(at.images)}, editor up ${s(at.editor)}, the dropped photo processed ${s(at.processed)} (${s(at.processedAfterDrop)} after the drop), on the dashboard ${s(at.face)}`,
    );
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'first-run.json'), JSON.stringify({ date: new Date().toISOString(), ms: at }, null, 2) + '\n');
  } finally {
    const exited = new Promise((r) => child.on('exit', r));
    process.kill(-child.pid, 'SIGINT');
    const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 20000);
    await exited;
    clearTimeout(timer);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
