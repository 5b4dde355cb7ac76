'use strict';
// Face fixtures for the tests and the benchmark: the two public-domain portraits in test/fixtures/faces
// (provenance in its README) and variants of them made here with jimp (from the host install of the
// leon-edge/face-identify image's libraries, runtimes/face-identify/node_modules, which build.sh makes).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, 'test', 'fixtures', 'faces');
const PEOPLE = {
  astronaut: { file: 'astronaut.png', name: 'Eileen Collins' },
  hopper: { file: 'grace_hopper.jpg', name: 'Grace Hopper' },
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

module.exports = { DIR, PEOPLE, photo, variants, jimp };
