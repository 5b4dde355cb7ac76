#!/usr/bin/env node
'use strict';
/*
 * Face example benchmark (figures in README "Face identification"; method in bench/README.md):
 *  0. each stage and end to end, warm, in the actions' containers: detection native vs WebAssembly on scenes with
 *     a ~32-px face (640×480, 1920×1080), crop, identification, detect + crop + identify (stagesPhase below).
 *  1. identification per face, warm: identify-face in its own leon-edge/face-identify container (started as the
 *     invoker does: /init with the manifest's code), fed the crops crop-faces makes of the two fixtures, with a
 *     knowledge base of 20 people (40 descriptors). Reports the time in the action per face crop (`msPerFace`: JPEG
 *     decode + landmarks + alignment + descriptor + matching) and the /run round trip, for 1 and 4 faces per call.
 *     Target: <= 60 ms per face crop.
 *  2. end to end per image on the dashboard: a real Node-RED (the e2e support: Node-RED 5 by default) with the
 *     example flow and its Dashboard 2 page open in Chromium; photos are dropped into the watched folder one at a
 *     time and the page is watched until the image appears. Reports the stages the flow measures (read, detect at
 *     the edge, crop at the edge, identify in the cloud, total from the file settling to the dashboard function)
 *     and drop -> shown in the browser (which adds the watch node and the 300 ms "file settled" wait).
 *
 *   npm run build && node bench/faces.js [--quick] [--only=stages|identify|dashboard] [--platform-suffix=arm64|armv7]
 *
 * Needs Docker, the images (runtimes/build.sh, runtimes/face-detection/build.sh, runtimes/face-identify/build.sh)
 * and Chromium (dashboard phase). Writes bench/results/faces.json unless --quick or --only.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const Docker = require('dockerode');
const { request } = require('../test/support/http');
const { photo, variants } = require('../test/support/faces');
const { percentile, median, fmt, markdownTable } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ONLY = (args.find((a) => a.startsWith('--only=')) || '').slice(7);
// --platform-suffix=arm64 (or armv7): the stages phase on the images of that platform (:arm64), under qemu on a PC:
// a sanity check that every stage works there, not ARM speed. Only that phase, 3 rounds, no results file.
const SUFFIX = (args.find((a) => a.startsWith('--platform-suffix=')) || '').slice(18);
const docker = new Docker();
const containers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function start(doc) {
  const c = await docker.createContainer({
    Image: SUFFIX ? doc.exec.image.replace(/:latest$/, `:${SUFFIX}`) : doc.exec.image,
    Labels: { 'leon-edge.bench': 'faces' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, Memory: doc.limits.memory * 1024 * 1024 },
  });
  containers.push(c);
  await c.start();
  const url = `http://127.0.0.1:${(await c.inspect()).NetworkSettings.Ports['8080/tcp'][0].HostPort}`;
  for (const end = Date.now() + 15000; ;) {
    try {
      const r = await request(`${url}/init`, { value: { name: doc.name, main: 'main', code: doc.exec.code, binary: false } });
      if (r.status !== 200) throw new Error(`/init ${r.status} ${JSON.stringify(r.body)}`);
      break;
    } catch (err) {
      if (!/ECONNREFUSED|ECONNRESET|socket hang up/.test(err.message) || Date.now() > end) throw err;
      await sleep(25);
    }
  }
  const defaults = Object.fromEntries(doc.parameters.map((p) => [p.key, p.value]));
  return async (params) => {
    const r = await request(`${url}/run`, { value: { ...defaults, ...params }, activation_id: 'b'.repeat(32), deadline: String(Date.now() + 60000) });
    if (r.status !== 200 || r.body.error) throw new Error(`/run: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  };
}

async function identifyPhase() {
  const { ManifestCatalog } = require('../dist/lib/catalog/manifest');
  const catalog = new ManifestCatalog(path.join(ROOT, 'examples', 'manifest.yaml'));
  const doc = (n) => catalog.getAction({ namespace: 'guest', name: `facedemo/${n}` });
  const [detect, crop, identify] = await Promise.all([start(await doc('detect-faces')), start(await doc('crop-faces')), start(await doc('identify-face'))]);
  const crops = [];
  const v = { ...(await variants('astronaut')), ...Object.fromEntries(Object.entries(await variants('hopper')).map(([k, b]) => [`h-${k}`, b])) };
  for (const png of [photo('astronaut'), photo('hopper'), ...Object.values(v)]) {
    const image = png.toString('base64');
    const found = await detect({ image });
    crops.push(...(await crop({ image, faces: found.faces })).faces);
  }
  // A knowledge base of 20 people, 2 descriptors each (descriptors of the crops, perturbed: distinct people).
  const base = (await identify({ faces: crops.slice(0, 2) })).faces.map((f) => Buffer.from(f.descriptor, 'base64'));
  const known = Array.from({ length: 20 }, (_, i) => ({
    name: `Person ${i}`,
    descriptors: [0, 1].map((j) => {
      const b = Buffer.from(base[j]);
      for (let k = 0; k < 128; k++) b.writeFloatLE(b.readFloatLE(k * 4) + 0.05 * Math.sin(i * 7 + k), k * 4);
      return b.toString('base64');
    }),
  }));
  const n = QUICK ? 8 : 40;
  for (let i = 0; i < 5; i++) await identify({ faces: [crops[i % crops.length]], known }); // warm-up
  const rows = [];
  const results = {};
  for (const batch of [1, 4]) {
    const inAction = [];
    const wall = [];
    const cpu = [];
    const parts = { decode: [], landmarks: [], descriptor: [] };
    for (let i = 0; i < n; i++) {
      const faces = Array.from({ length: batch }, (_, j) => crops[(i * batch + j) % crops.length]);
      const t = process.hrtime.bigint();
      const r = await identify({ faces, known });
      wall.push(Number(process.hrtime.bigint() - t) / 1e6 / batch);
      inAction.push(r.ms / batch);
      cpu.push(r.stages.cpu / batch);
      for (const k of Object.keys(parts)) parts[k].push(r.stages[k] / batch);
    }
    results[`batch${batch}`] = {
      samples: n,
      msPerFaceInAction: { p50: median(inAction), p90: percentile(inAction, 90) },
      msPerFaceRoundTrip: { p50: median(wall), p90: percentile(wall, 90) },
      cpuMsPerFace: { p50: median(cpu), p90: percentile(cpu, 90) },
      stagesMsPerFaceP50: Object.fromEntries(Object.entries(parts).map(([k, xs]) => [k, median(xs)])),
    };
    console.log(
      `  ${batch} face(s) per call, per face p50: ${Object.entries(parts)
        .map(([k, xs]) => `${k} ${fmt(median(xs))} ms`)
        .join(', ')}`,
    );
    rows.push([
      `${batch} face(s) per call`,
      `${fmt(median(inAction))} / ${fmt(percentile(inAction, 90))} ms`,
      `${fmt(median(cpu))} / ${fmt(percentile(cpu, 90))} ms`,
      `${fmt(median(wall))} / ${fmt(percentile(wall, 90))} ms`,
      median(inAction) <= 60 ? 'PASS (≤ 60 ms)' : 'MISS (≤ 60 ms)',
    ]);
  }
  console.log(
    `\nIdentification per face crop, warm (${n} calls each; knowledge base 20 people / 40 descriptors; crops ${crops.length} distinct, ` +
      `${Math.round(median(crops.map((c) => c.crop.length)) / 1024)} KB base64 median)`,
  );
  console.log(markdownTable(['', 'in the action p50 / p90', 'CPU time in the action p50 / p90', '/run round trip p50 / p90', 'target (in the action)'], rows));
  return results;
}

// Each stage on its own and end to end, warm, in the actions' containers (one container per action, as the
// invoker runs them): detection native vs WebAssembly on scenes with one ~32-px face (640×480 and 1920×1080,
// test/support/faces.js `scene`), crop (sharp) and identification (one face, knowledge base of 2 people) of the
// 640×480 scene's face, and detect + crop + identify as three /run round trips in a row. Targets: detection
// <= 40 ms (640×480) and <= 150 ms (1920×1080), crop <= 15 ms, identification <= 60 ms per face, end to end
// <= 250 ms p50 / 400 ms p90. Figures are the actions' own `ms` (and the CPU time of identify-face).
async function stagesPhase() {
  const { ManifestCatalog } = require('../dist/lib/catalog/manifest');
  const { scene } = require('../test/support/faces');
  const catalog = new ManifestCatalog(path.join(ROOT, 'examples', 'manifest.yaml'));
  const doc = (n) => catalog.getAction({ namespace: 'guest', name: `facedemo/${n}` });
  const [native, wasm, crop, identify] = await Promise.all(
    ['detect-faces-native', 'detect-faces', 'crop-faces', 'identify-face'].map(async (n) => start(await doc(n))),
  );
  const vga = (await scene('astronaut', { face: 32, x: 300, y: 200 })).image.toString('base64');
  const hd = (await scene('astronaut', { width: 1920, height: 1080, face: 32, x: 1200, y: 600 })).image.toString('base64');
  const found = await native({ image: vga });
  if (found.faces.length !== 1) throw new Error(`the 640×480 scene's face was not found: ${JSON.stringify(found)}`);
  const crops = (await crop({ image: vga, faces: found.faces })).faces;
  const enrol = (await identify({ faces: crops })).faces[0].descriptor;
  const other = Buffer.from(enrol, 'base64');
  for (let k = 0; k < 128; k++) other.writeFloatLE(-other.readFloatLE(k * 4), k * 4);
  const known = [
    { name: 'A', descriptors: [enrol] },
    { name: 'B', descriptors: [other.toString('base64')] },
  ];
  const n = SUFFIX ? 3 : QUICK ? 8 : 30;
  const series = {};
  const add = (k, v) => (series[k] = series[k] || []).push(v);
  const warm = SUFFIX ? 1 : 3;
  for (let i = 0; i < n + warm; i++) {
    // warm-up rounds, then n, the sides in turn
    const keep = i >= warm;
    for (const [name, det] of [
      ['native', native],
      ['wasm', wasm],
    ]) {
      const a = await det({ image: vga });
      const b = await det({ image: hd });
      if (a.faces.length !== 1 || b.faces.length !== 1) throw new Error(`${name}: ${a.faces.length} / ${b.faces.length} faces`);
      if (keep) {
        add(`detect ${name} 640×480`, a.ms);
        add(`detect ${name} 1920×1080`, b.ms);
      }
    }
    const c = await crop({ image: vga, faces: found.faces });
    const id = await identify({ faces: c.faces, known });
    if (keep) {
      add('crop 640×480, one face', c.ms);
      add('identify, per face', id.ms);
      add('identify, CPU time per face', id.stages.cpu);
    }
    for (const [name, det] of [
      ['native', native],
      ['wasm', wasm],
    ]) {
      const t = process.hrtime.bigint();
      const d = await det({ image: vga });
      const cc = await crop({ image: vga, faces: d.faces });
      const who = await identify({ faces: cc.faces, known });
      if (who.names[0] !== 'A') throw new Error(`end to end (${name}): ${JSON.stringify(who.names)}`);
      if (keep) add(`end to end, ${name} detection (3 /run round trips)`, Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  const target = {
    'detect native 640×480': 40,
    'detect wasm 640×480': 40,
    'detect native 1920×1080': 150,
    'detect wasm 1920×1080': 150,
    'crop 640×480, one face': 15,
    'identify, per face': 60,
    'end to end, native detection (3 /run round trips)': 250,
    'end to end, wasm detection (3 /run round trips)': 250,
  };
  const rows = Object.entries(series).map(([k, xs]) => [
    k,
    `${fmt(median(xs))} / ${fmt(percentile(xs, 90))} ms`,
    target[k] === undefined ? '' : `${median(xs) <= target[k] ? 'PASS' : 'MISS'} (≤ ${target[k]} ms p50)`,
  ]);
  console.log(
    `\nStages, warm${SUFFIX ? `, :${SUFFIX} images (emulated: a sanity check, not its speed)` : ''} (${n} rounds; one face of ~32 px; load ${os
      .loadavg()
      .map((x) => fmt(x, 1))
      .join(' ')})`,
  );
  console.log(markdownTable(['stage', 'p50 / p90', 'target'], rows));
  return Object.fromEntries(Object.entries(series).map(([k, xs]) => [k, { p50: median(xs), p90: percentile(xs, 90) }]));
}

async function dashboardPhase() {
  const { startNodeRed, launchBrowser, until } = require('../test/browser/support/env');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-bench-faces-'));
  const watch = path.join(dir, 'watch');
  fs.mkdirSync(watch);
  if (!process.env.NODE_RED_PATH) process.env.NODE_RED_PATH = require.resolve('node-red', { paths: [ROOT] });
  const red = await startNodeRed({ env: { LEON_FACES_KB: path.join(dir, 'knowledge.json'), LEON_FACES_WATCH: watch } });
  const browser = await launchBrowser({
    skip() {
      throw new Error('Chromium missing');
    },
  });
  try {
    const flow = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'face-detection.json'), 'utf8'));
    const res = await fetch(`${red.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flow),
    });
    if (res.status !== 204) throw new Error(`deploy: ${res.status} ${await res.text()}`);
    await until('the dashboard', async () => (await fetch(`${red.url}/dashboard/faces`)).status === 200, 60000);
    const page = await browser.browser.newPage({ viewport: { width: 1280, height: 1100 } });
    await page.goto(`${red.url}/dashboard/faces`);
    await page.getByText('Drop a PNG or JPEG image into the watched folder.').waitFor({ timeout: 60000 });
    const va = await variants('astronaut');
    const vh = await variants('hopper');
    const pool = [['a.png', photo('astronaut')], ['h.jpg', photo('hopper')], ...Object.entries(va), ...Object.entries(vh).map(([k, b]) => [`h-${k}`, b])];
    const stages = { read: [], detect: [], crop: [], identify: [], total: [], shown: [] };
    const n = QUICK ? 4 : 20;
    let first;
    for (let i = -2; i < n; i++) {
      // two warm-up images (cold containers, model load)
      const [name, data] = pool[(i + 2) % pool.length];
      const file = `${i + 2}-${name}${name.includes('.') ? '' : '.png'}`;
      const t = Date.now();
      fs.writeFileSync(path.join(watch, file), data);
      await page.getByText(`Original: ${file}`).waitFor({ timeout: 180000 });
      const shown = Date.now() - t;
      const line = await page.getByText(/^read \d+ ms · detect/).textContent();
      const ms = Object.fromEntries([...line.matchAll(/(read|detect|crop|identify|total)[^\d]*?(\d+) ms/g)].map((m) => [m[1], Number(m[2])]));
      if (i === -2) first = { ...ms, shown };
      if (i < 0) continue;
      for (const k of ['read', 'detect', 'crop', 'identify', 'total']) stages[k].push(ms[k]);
      stages.shown.push(shown);
    }
    const rows = Object.entries(stages).map(([k, xs]) => [
      k === 'shown' ? 'drop → shown in the browser' : k,
      `${fmt(median(xs))} ms`,
      `${fmt(percentile(xs, 90))} ms`,
    ]);
    console.log(`\nEnd to end per image on the dashboard (Node-RED ${red.version}, ${n} images after 2 warm-up images; one face each)`);
    console.log(markdownTable(['stage', 'p50', 'p90'], rows));
    console.log(`first image after deploy (cold containers and models): ${JSON.stringify(first)}`);
    await page.close();
    return {
      nodeRed: red.version,
      images: n,
      first,
      stages: Object.fromEntries(Object.entries(stages).map(([k, xs]) => [k, { p50: median(xs), p90: percentile(xs, 90) }])),
    };
  } finally {
    await browser.close();
    await red.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const platform = { arm64: 'linux/arm64', armv7: 'linux/arm/v7' }[SUFFIX];
  if (SUFFIX && !platform) throw new Error(`--platform-suffix=${SUFFIX}: use arm64 or armv7`);
  for (const s of ['runtimes/face-detection/build.sh', 'runtimes/face-identify/build.sh']) {
    const r = spawnSync('bash', [path.join(ROOT, s), ...(platform ? ['--platform', platform] : [])], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${s} failed`);
  }
  const out = { date: new Date().toISOString(), machine: `${os.cpus().length} cores, ${os.cpus()[0].model}`, load: os.loadavg().map((x) => fmt(x, 1)) };
  try {
    if (!ONLY || ONLY === 'stages' || SUFFIX) out.stages = await stagesPhase();
    if (!SUFFIX && (!ONLY || ONLY === 'identify')) out.identify = await identifyPhase();
  } finally {
    await Promise.all(containers.splice(0).map((c) => c.remove({ force: true }).catch(() => {})));
  }
  if (!SUFFIX && (!ONLY || ONLY === 'dashboard')) out.dashboard = await dashboardPhase();
  out.loadAfter = os.loadavg().map((x) => fmt(x, 1));
  console.log(`\nload average before ${out.load.join(' ')}, after ${out.loadAfter.join(' ')} (2 cores shared with other jobs)`);
  if (!QUICK && !ONLY && !SUFFIX) {
    fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'faces.json'), `${JSON.stringify(out, null, 2)}\n`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
