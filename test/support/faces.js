'use strict';
// Face fixtures for the tests and the benchmark: the two public-domain portraits in test/fixtures/faces
// (provenance in its README) and variants of them made here with jimp (from the host install of the
// leon-edge/face-identify image's libraries, runtimes/face-identify/node_modules, which build.sh makes).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, 'test', 'fixtures', 'faces');
// box: the face as a full-resolution Haar search finds it (test/fixtures/faces/README.md).
const PEOPLE = {
  astronaut: { file: 'astronaut.png', name: 'Eileen Collins', box: { x: 177, y: 66, w: 95, h: 95 } },
  hopper: { file: 'grace_hopper.jpg', name: 'Grace Hopper', box: { x: 155, y: 105, w: 222, h: 222 } },
};

function jimp() {
  const from = path.join(ROOT, 'runtimes', 'face-identify');
  try {
    return require(require.resolve('jimp', { paths: [from] })).Jimp;
  } catch (err) {
    throw new Error(`jimp not found under ${from}: run bash runtimes/face-identify/build.sh`, { cause: err });
  }
}

const photo = (who) => fs.readFileSync(path.join(DIR, PEOPLE[who].file));

/**
 * Variants of a photo as a user would make them: mirrored, rescaled, slightly rotated, darker.
 * Resolves {mirror, smaller, rotated, darker}, each a PNG Buffer.
 */
async function variants(who) {
  const Jimp = jimp();
  const src = await Jimp.read(photo(who));
  const png = (img) => img.getBuffer('image/png');
  return {
    mirror: await png(src.clone().flip({ horizontal: true })),
    smaller: await png(src.clone().resize({ w: Math.round(src.bitmap.width * 0.6) })),
    rotated: await png(src.clone().rotate(8)),
    darker: await png(src.clone().brightness(0.65)),
  };
}

/**
 * A wide scene with one small face, as a camera over a hall sees it: the portrait shrunk so that its face is
 * `face` px wide, placed with its face at (x, y) on a smooth, faceless background of `width`×`height`, then
 * `change`d as a second photo of the same scene would be: `scale` (the whole scene rescaled), `rotate`
 * (degrees), `brightness` (1 = unchanged). Resolves {image: JPEG Buffer (quality 90), box: where the face is}.
 */
async function scene(who, { width = 640, height = 480, face = 32, x = 300, y = 200, scale = 1, rotate = 0, brightness = 1 } = {}) {
  const Jimp = jimp();
  const { box } = PEOPLE[who];
  const k = face / box.w;
  const portrait = (await Jimp.read(photo(who))).resize({ w: Math.round(512 * k) });
  const bg = new Jimp({ width, height, color: 0x808080ff });
  const d = bg.bitmap.data;
  for (let i = 0; i < d.length; i += 4) {
    const px = (i / 4) % width,
      py = Math.floor(i / 4 / width);
    const v = 110 + 50 * Math.sin(px / 37) * Math.cos(py / 53);
    d[i] = v;
    d[i + 1] = v * 0.9;
    d[i + 2] = v * 0.8;
  }
  bg.composite(portrait, Math.round(x - box.x * k), Math.round(y - box.y * k));
  let out = { x, y, w: face, h: face };
  if (scale !== 1) {
    bg.resize({ w: Math.round(width * scale), h: Math.round(height * scale) });
    out = { x: Math.round(x * scale), y: Math.round(y * scale), w: Math.round(face * scale), h: Math.round(face * scale) };
  }
  if (rotate) {
    const { width: w0, height: h0 } = bg.bitmap;
    bg.rotate(rotate); // about the centre; the picture grows to hold the rotated one
    const a = (-rotate * Math.PI) / 180,
      cx = out.x + out.w / 2 - w0 / 2,
      cy = out.y + out.h / 2 - h0 / 2;
    const nx = cx * Math.cos(a) - cy * Math.sin(a) + bg.bitmap.width / 2,
      ny = cx * Math.sin(a) + cy * Math.cos(a) + bg.bitmap.height / 2;
    out = { ...out, x: Math.round(nx - out.w / 2), y: Math.round(ny - out.h / 2) };
  }
  if (brightness !== 1) bg.brightness(brightness);
  return { image: await bg.getBuffer('image/jpeg', { quality: 90 }), box: out };
}

module.exports = { DIR, PEOPLE, photo, variants, scene, jimp };
