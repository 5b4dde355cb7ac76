#!/usr/bin/env node
'use strict';
/*
 * Identification across real changes, for small faces: our pipeline (examples/detect-faces.js →
 * crop-faces.js → identify-face.js, run in this process with the host installs of the images' libraries)
 * against face-api's own detect–align–describe (its SSD MobileNet detector, 68-point landmarks and alignment,
 * the same recognition net) on the same pictures: the two public-domain portraits (test/fixtures/faces) in
 * 640×480 scenes with their face 32, 40 or 60 px wide, and each scene changed (rescaled 160 %, rotated 6°,
 * darkened to 70 %; test/support/faces.js `scene`). Prints, per face size, the distance between a scene and its
 * changed copy for each person, and between the two people. Then, for our pipeline, every pair of 11 pictures
 * per person (portrait, 4 variants, 3 scenes and their changed copies): same person vs different people.
 *
 *   node bench/face-robustness.js      (after bash runtimes/face-detection/build.sh and runtimes/face-identify/build.sh)
 *
 * Figures in bench/README.md, "Face robustness". No Docker needed; no results file.
 */
const path = require('node:path');
const Module = require('node:module');

const ROOT = path.resolve(__dirname, '..');
process.env.NODE_PATH = [path.join(ROOT, 'runtimes', 'face-identify', 'node_modules'), path.join(ROOT, 'runtimes', 'face-detection', 'node_modules')].join(
  path.delimiter,
);
Module.Module._initPaths(); // the actions require('sharp') etc. as in their images, through NODE_PATH
process.env.FACE_CASCADE = process.env.FACE_CASCADE || '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml';

const { photo, variants, scene } = require('../test/support/faces');
const detect = require('../examples/detect-faces.js').main;
const crop = require('../examples/crop-faces.js').main;
const identify = require('../examples/identify-face.js').main;

const WHERE = { astronaut: { x: 300, y: 200 }, hopper: { x: 100, y: 300 } };
const CHANGED = { scale: 1.6, rotate: 6, brightness: 0.7 };
const f32 = (b64) => new Float32Array(new Uint8Array(Buffer.from(b64, 'base64')).buffer);
const dist = (a, b) => (a && b ? Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0)) : NaN);
const fmt = (d) => (Number.isNaN(d) ? 'no face' : d.toFixed(3));

async function ours(image) {
  const b64 = image.toString('base64');
  const found = await detect({ image: b64 });
  if (!found.faces || !found.faces.length) return null;
  const crops = await crop({ image: b64, faces: found.faces });
  const who = await identify({ faces: crops.faces, known: [] });
  return f32(who.faces[0].descriptor);
}

async function faceApiOwn() {
  const tf = require('@tensorflow/tfjs');
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const sharp = require('sharp');
  const dir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  await identify({ faces: [] }); // loads tfjs on WebAssembly and the nets, as the action does
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(dir); // in the host install; prune.sh leaves it out of the image
  return async (image) => {
    const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const t = tf.tensor3d(Float32Array.from(data), [info.height, info.width, 3]);
    try {
      const r = await faceapi
        .detectSingleFace(t, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.1 }))
        .withFaceLandmarks()
        .withFaceDescriptor();
      return r ? r.descriptor : null;
    } finally {
      t.dispose();
    }
  };
}

async function main() {
  const theirs = await faceApiOwn();
  console.log('| face | pipeline | astronaut: scene → changed | Grace Hopper: scene → changed | the two people (4 pairs): min / max |');
  console.log('|---|---|---|---|---|');
  for (const face of [32, 40, 60]) {
    const pics = {};
    for (const who of ['astronaut', 'hopper']) {
      pics[who] = [(await scene(who, { face, ...WHERE[who] })).image, (await scene(who, { face, ...WHERE[who], ...CHANGED })).image];
    }
    for (const [name, describe] of [
      ['ours', ours],
      ["face-api's own", theirs],
    ]) {
      const d = {};
      for (const who of ['astronaut', 'hopper']) d[who] = [await describe(pics[who][0]), await describe(pics[who][1])];
      const cross = [0, 1].flatMap((i) => [0, 1].map((j) => dist(d.astronaut[i], d.hopper[j])));
      console.log(
        `| ${face} px | ${name} | ${fmt(dist(...d.astronaut))} | ${fmt(dist(...d.hopper))} | ${fmt(Math.min(...cross))} / ${fmt(Math.max(...cross))} |`,
      );
    }
  }
  const all = {};
  for (const who of ['astronaut', 'hopper']) {
    const pictures = [photo(who), ...Object.values(await variants(who))];
    for (const face of [32, 40, 60])
      pictures.push((await scene(who, { face, ...WHERE[who] })).image, (await scene(who, { face, ...WHERE[who], ...CHANGED })).image);
    all[who] = (await Promise.all(pictures.map(ours))).filter(Boolean);
  }
  const same = [];
  for (const who of ['astronaut', 'hopper'])
    for (let i = 0; i < all[who].length; i++) for (let j = i + 1; j < all[who].length; j++) same.push(dist(all[who][i], all[who][j]));
  const diff = all.astronaut.flatMap((a) => all.hopper.map((h) => dist(a, h)));
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(3);
  console.log(
    `\nours, every pair of ${all.astronaut.length} + ${all.hopper.length} pictures: same person ${same.length} pairs, median ${q(same, 0.5)}, max ${q(same, 1)}, ` +
      `over 0.6: ${same.filter((d) => d > 0.6).length}; different people ${diff.length} pairs, min ${q(diff, 0)}, median ${q(diff, 0.5)}, at most 0.6: ${diff.filter((d) => d <= 0.6).length}`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
