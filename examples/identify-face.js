// identify-face: the "cloud" stage of the LEON face pipeline. Compares face fingerprints with a small
// knowledge base `known: [{name, hash}]` (64-bit dHash, 16 hex digits) by Hamming distance.
// Input, one of: {faces: [{x, y, w, h, hash}]} (the output of detect-faces: only hashes leave the edge),
// {hash}, or {image: <base64 face crop>, face?: {x, y, w, h}} (needs jimp, i.e. the leon-edge/face-detect image).
// A perceptual hash recognises the same picture of a face (re-identification), not a person across photos.

function distance(a, b) {
  let x = BigInt('0x' + a) ^ BigInt('0x' + b), n = 0;
  for (; x; x >>= 1n) n += Number(x & 1n);
  return n;
}

function identify(hash, known, maxDistance) {
  if (!/^[0-9a-f]{16}$/i.test(String(hash))) throw new Error(`'${hash}' is not a 64-bit hash (16 hex digits)`);
  let best = { name: 'unknown', distance: 64 };
  for (const k of known) {
    const d = distance(hash, k.hash);
    if (d < best.distance) best = { name: k.name, distance: d };
  }
  const confidence = Math.round((1 - best.distance / 64) * 100) / 100;
  return best.distance <= maxDistance ? { ...best, confidence } : { name: 'unknown', distance: best.distance };
}

async function hashImage(base64, face) {
  let Jimp;
  try { ({ Jimp } = require('jimp')); } catch {
    throw new Error('image input needs jimp (leon-edge/face-detect image); send the hashes from detect-faces instead');
  }
  const image = await Jimp.read(Buffer.from(base64.replace(/^data:[^,]*,/, ''), 'base64'))
    .catch((e) => { throw new Error(`image is not a PNG/JPEG image (${e.message})`); });
  const { x = 0, y = 0, w = image.bitmap.width, h = image.bitmap.height } = face || {};
  const px = image.crop({ x, y, w, h }).greyscale().resize({ w: 9, h: 8 }).bitmap.data;
  let bits = '';
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) bits += px[(r * 9 + c) * 4] > px[(r * 9 + c + 1) * 4] ? '1' : '0';
  return BigInt('0b' + bits).toString(16).padStart(16, '0');
}

async function main(params) {
  const known = Array.isArray(params.known) ? params.known : [];
  const maxDistance = Number.isFinite(Number(params.maxDistance)) ? Number(params.maxDistance) : 10;
  const bad = known.find((k) => !k || typeof k.name !== 'string' || !/^[0-9a-f]{16}$/i.test(String(k.hash)));
  if (bad) return { error: `bad knowledge base entry ${JSON.stringify(bad)}: need {name, hash: <16 hex digits>}` };
  try {
    if (Array.isArray(params.faces)) {
      const faces = params.faces.map((f) => ({ ...f, ...identify(f.hash, known, maxDistance) }));
      return { faces, names: faces.map((f) => f.name), width: params.width, height: params.height };
    }
    if (typeof params.image === 'string' && params.image !== '') params.hash = await hashImage(params.image, params.face);
    if (params.hash === undefined) return { error: 'identify-face needs {faces} from detect-faces, {hash} or {image}' };
    return { hash: params.hash, ...identify(params.hash, known, maxDistance) };
  } catch (e) {
    return { error: e.message };
  }
}

module.exports.main = main;
