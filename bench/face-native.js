#!/usr/bin/env node
'use strict';
/*
 * Face detection at the edge, native OpenCV (examples/detect-faces.py in leon-edge/face-detect-native,
 * Debian's python3-opencv) against OpenCV as WebAssembly (examples/detect-faces.js in
 * leon-edge/face-detect), warm, per 512×512 image (the astronaut fixture), side by side in one run:
 * both containers are started and initialized, warmed up, then measured in alternating rounds.
 * A third side, 'native-full', runs the native action with minFace 24 (a full-resolution search from the
 * cascade's window; the default, 30 px, searches coarse to fine).
 * Figures: the action's own detection time (its `ms`: decode + detect + fingerprint) and the /run
 * round trip, median and p90 over all rounds; and the boxes of both (IoU with the fixture's face).
 * Writes bench/results/face-native.json.
 *
 *   node bench/face-native.js [--rounds=10] [--per-round=5] [--platform-suffix=arm64]
 *
 * Needs Docker and the images (bash runtimes/build.sh && bash runtimes/face-detection/build.sh).
 * With --platform-suffix=arm64 it measures the :arm64 images (under qemu here: a sanity check only).
 */
const fs = require('node:fs');
const path = require('node:path');
const Docker = require('dockerode');
const { request } = require('../test/support/http');

const ROOT = path.resolve(__dirname, '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const ROUNDS = Number(args.rounds || 10);
const PER_ROUND = Number(args['per-round'] || 5);
const TAG = args['platform-suffix'] || 'latest';
const ASTRONAUT = path.join(ROOT, 'test', 'fixtures', 'faces', 'astronaut.png');
const ASTRONAUT_FACE = { x: 177, y: 66, w: 95, h: 95 };
const TARGET_NATIVE_MS = 30;

// 'native-full' is the native action told to search the whole picture at full resolution (minFace 24: 24-26
// searches at full resolution), in its own container: what the coarse pass saves.
const SIDES = {
  native: { image: `leon-edge/face-detect-native:${TAG}`, code: 'detect-faces.py', params: {} },
  wasm: { image: `leon-edge/face-detect:${TAG}`, code: 'detect-faces.js', params: {} },
  'native-full': { image: `leon-edge/face-detect-native:${TAG}`, code: 'detect-faces.py', params: { minFace: 24 } },
};

const docker = new Docker();
const containers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (ix * iy) / (a.w * a.h + b.w * b.h - ix * iy);
}

async function start(side) {
  const container = await docker.createContainer({
    Image: side.image,
    Labels: { 'leon-edge.test': 'bench-face-native' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, Memory: 512 * 1024 * 1024 },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const url = `http://127.0.0.1:${info.NetworkSettings.Ports['8080/tcp'][0].HostPort}`;
  const code = fs.readFileSync(path.join(ROOT, 'examples', side.code), 'utf8');
  for (const deadline = Date.now() + 120000; ;) {
    try {
      const res = await request(`${url}/init`, { value: { name: 'detect-faces', main: 'main', code, binary: false } });
      if (res.status !== 200) throw new Error(`/init of ${side.image}: ${res.status} ${JSON.stringify(res.body)}`);
      break;
    } catch (err) {
      if (/\/init of/.test(err.message) || Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
  return url;
}

async function main() {
  const image = fs.readFileSync(ASTRONAUT).toString('base64');
  const urls = {};
  for (const [name, side] of Object.entries(SIDES)) urls[name] = await start(side);
  const run = async (name) => {
    const t0 = process.hrtime.bigint();
    const res = await request(`${urls[name]}/run`, {
      value: { image, ...SIDES[name].params },
      action_name: '/facedemo/detect-faces',
      activation_id: 'b'.repeat(32),
    });
    const rtt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 200 || res.body.error) throw new Error(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return { rtt, result: res.body };
  };
  const names = Object.keys(SIDES);
  const samples = Object.fromEntries(names.map((n) => [n, { ms: [], rtt: [] }]));
  const last = {};
  for (const name of Object.keys(SIDES)) for (let i = 0; i < 3; i++) await run(name); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]); // each side first in turn
    for (const name of order) {
      for (let i = 0; i < PER_ROUND; i++) {
        const { rtt, result } = await run(name);
        samples[name].ms.push(result.ms);
        samples[name].rtt.push(rtt);
        last[name] = result;
      }
    }
  }
  const summary = {};
  for (const name of Object.keys(SIDES)) {
    const faces = last[name].faces.map(({ x, y, w, h }) => ({ x, y, w, h, iou: Number(iou({ x, y, w, h }, ASTRONAUT_FACE).toFixed(3)) }));
    summary[name] = {
      image: SIDES[name].image,
      detectMsP50: quantile(samples[name].ms, 0.5),
      detectMsP90: quantile(samples[name].ms, 0.9),
      roundTripMsP50: Number(quantile(samples[name].rtt, 0.5).toFixed(1)),
      roundTripMsP90: Number(quantile(samples[name].rtt, 0.9).toFixed(1)),
      faces,
      hash: last[name].faces.map((f) => f.hash),
    };
  }
  const ratio = Number((summary.wasm.roundTripMsP50 / summary.native.roundTripMsP50).toFixed(2));
  const hamming =
    summary.native.hash[0] && summary.wasm.hash[0]
      ? [...(BigInt(`0x${summary.native.hash[0]}`) ^ BigInt(`0x${summary.wasm.hash[0]}`)).toString(2)].filter((b) => b === '1').length
      : null;
  const out = {
    date: new Date().toISOString(),
    tag: TAG,
    rounds: ROUNDS,
    perRound: PER_ROUND,
    samplesPerSide: ROUNDS * PER_ROUND,
    ...summary,
    wasmOverNativeRoundTrip: ratio,
    hashHammingNativeVsWasm: hamming,
    fullOverCoarseToFineDetect: Number((summary['native-full'].detectMsP50 / summary.native.detectMsP50).toFixed(2)),
  };
  console.log('| side | image | detect ms p50 / p90 (action) | /run round trip ms p50 / p90 | face box (IoU with fixture) |');
  console.log('|---|---|---|---|---|');
  for (const name of Object.keys(SIDES)) {
    const s = summary[name];
    console.log(
      `| ${name} | ${s.image} | ${s.detectMsP50} / ${s.detectMsP90} | ${s.roundTripMsP50} / ${s.roundTripMsP90} | ` +
        `${s.faces.map((f) => `${f.x},${f.y} ${f.w}×${f.h} (${f.iou})`).join('; ')} |`,
    );
  }
  console.log(
    `\nWebAssembly / native round trip (p50): ${ratio}×; native detect p50 ${summary.native.detectMsP50} ms ` +
      `(target ≤ ${TARGET_NATIVE_MS} ms: ${summary.native.detectMsP50 <= TARGET_NATIVE_MS ? 'PASS' : 'MISS'}); ` +
      `dHash Hamming distance native vs WebAssembly: ${hamming} bits; full-resolution search / coarse-to-fine ` +
      `(native detect p50): ${out.fullOverCoarseToFineDetect}×`,
  );
  if (TAG === 'latest') {
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'face-native.json'), `${JSON.stringify(out, null, 2)}\n`);
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => {}))));
