// detect-faces: finds frontal faces in a PNG/JPEG image at the edge (LEON example).
// Input {image: <base64>} (or {payload: <base64>}); output {faces: [{x, y, w, h, hash}], width, height, ms}.
// Optional `minFace`: the smallest face to find, in pixels (default 30, at least 24: the cascade's window). The detector (coarse to fine, see `detect`) is the one of detect-faces.py, step for step.
// Runs in the leon-edge/face-detect image, which provides sharp (image decoding: libvips, prebuilt for amd64,
// arm64 and armv7), @techstark/opencv-js (WebAssembly: the same code on x86 and ARM) and the Haar cascade.
// `hash` is a 64-bit dHash of each face (see identify-face.js), computed as detect-faces.py does.
const fs = require('fs');
const sharp = require('sharp');

sharp.concurrency(1); // the action's container has one job
sharp.cache(false);

const CASCADES = [
  process.env.FACE_CASCADE,
  '/opt/face-detect/haarcascade_frontalface_default.xml',
  '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml',
];
let detector; // Promise of {cv, classifier}, kept for warm activations

function loadDetector() {
  detector =
    detector ||
    new Promise((resolve, reject) => {
      const file = CASCADES.find((f) => f && fs.existsSync(f));
      if (!file) return reject(new Error('Haar cascade not found (set FACE_CASCADE)'));
      const cv = require('@techstark/opencv-js'); // a thenable that never settles: do not await it
      const ready = () => {
        cv.FS_createDataFile('/', 'cascade.xml', fs.readFileSync(file), true, false, false);
        const classifier = new cv.CascadeClassifier();
        if (!classifier.load('cascade.xml')) return reject(new Error(`cannot load cascade ${file}`));
        resolve({ cv, classifier }); // never resolve with cv itself (thenable)
      };
      if (cv.Mat) ready();
      else cv.onRuntimeInitialized = ready;
    });
  return detector;
}
loadDetector().catch(() => {}); // start at /init: the first activation then finds OpenCV (nearly) ready

// The face's grey levels scaled to 9x8 pixels (INTER_AREA), as detect-faces.py: bit = left > right.
function dhash(cv, gray, { x, y, w, h }) {
  const roi = gray.roi(new cv.Rect(x, y, w, h)),
    f = new cv.Mat(),
    small = new cv.Mat();
  try {
    roi.convertTo(f, cv.CV_32F);
    cv.resize(f, small, new cv.Size(9, 8), 0, 0, cv.INTER_AREA);
    const px = small.data32F;
    let bits = '';
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) bits += px[r * 9 + c] > px[r * 9 + c + 1] ? '1' : '0';
    return BigInt('0b' + bits)
      .toString(16)
      .padStart(16, '0');
  } finally {
    roi.delete();
    f.delete();
    small.delete();
  }
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (ix * iy) / (a.w * a.h + b.w * b.h - ix * iy);
}

// The smallest face looked for, in pixels: `minFace` if given (at least 24, the cascade's window), else 30.
const MIN_FACE = 30;
function minFace(width, height, wanted) {
  const mf = typeof wanted === 'number' && Number.isFinite(wanted) ? wanted : MIN_FACE;
  return Math.trunc(Math.min(Math.max(24, mf), Math.max(24, Math.min(width, height))));
}

function search(cv, classifier, mat, scaleFactor, neighbours, lo, hi) {
  const found = new cv.RectVector();
  try {
    classifier.detectMultiScale(mat, found, scaleFactor, neighbours, 0, new cv.Size(lo, lo), new cv.Size(hi, hi));
    const out = [];
    for (let i = 0; i < found.size(); i++) {
      const r = found.get(i);
      out.push({ x: r.x, y: r.y, w: r.width, h: r.height });
    }
    return out;
  } finally {
    found.delete();
  }
}

// Haar cascade detection, coarse to fine: faces are found on a copy scaled the smallest face wanted
// is 25.5 px, just above the cascade's 24 px window (scaleFactor 1.2, 2 neighbours), then each candidate is searched again at
// full resolution around it (scaleFactor 1.1, 5 neighbours, sizes 0.75-1.35x the candidate, from 24 px: a
// search from minFace up misses faces just above it, for want of neighbours); a candidate
// that search does not confirm is dropped. Where the scale would be 0.95 or more (minFace 24 to 26), one
// full-resolution search. With the default 30 px, this costs about half of a full-resolution search from
// 30 px and finds the same faces (bench/README.md).
function detect(cv, classifier, gray, wanted) {
  const width = gray.cols,
    height = gray.rows,
    mf = minFace(width, height, wanted),
    s = 25.5 / mf;
  if (s >= 0.95) return search(cv, classifier, gray, 1.1, 5, mf, 0);
  const small = new cv.Mat();
  let coarse;
  try {
    cv.resize(gray, small, new cv.Size(Math.max(24, Math.trunc(width * s + 0.5)), Math.max(24, Math.trunc(height * s + 0.5))), 0, 0, cv.INTER_AREA);
    coarse = search(cv, classifier, small, 1.2, 2, 24, 0);
  } finally {
    small.delete();
  }
  const out = [];
  for (const c of coarse) {
    const x = c.x / s,
      y = c.y / s,
      w = c.w / s,
      m = 0.35 * w;
    const x0 = Math.max(0, Math.trunc(x - m)),
      y0 = Math.max(0, Math.trunc(y - m));
    const x1 = Math.min(width, Math.trunc(x + w + m)),
      y1 = Math.min(height, Math.trunc(y + w + m));
    const lo = Math.max(24, Math.trunc(w * 0.75)),
      hi = Math.trunc(w * 1.35) + 1;
    if (x1 - x0 < lo || y1 - y0 < lo) continue;
    const roi = gray.roi(new cv.Rect(x0, y0, x1 - x0, y1 - y0));
    try {
      for (const f of search(cv, classifier, roi, 1.1, 5, lo, hi)) {
        const box = { x: f.x + x0, y: f.y + y0, w: f.w, h: f.h };
        if (!out.some((o) => iou(box, o) > 0.5)) out.push(box);
      }
    } finally {
      roi.delete();
    }
  }
  return out;
}

async function main(params) {
  let data = params.image !== undefined ? params.image : params.payload;
  if (data && data.type === 'Buffer' && Array.isArray(data.data)) data = Buffer.from(data.data).toString('base64'); // a JSON'd Buffer
  if (typeof data !== 'string' || data.trim() === '') return { error: 'detect-faces needs {image: <base64 PNG or JPEG>}' };
  const buf = Buffer.from(data.replace(/^data:[^,]*,/, ''), 'base64');
  const t0 = Date.now();
  let image;
  try {
    image = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true }); // RGB
  } catch (e) {
    return { error: `input is not a PNG/JPEG image (${e.message})` };
  }
  let cv, classifier;
  try {
    ({ cv, classifier } = await loadDetector());
  } catch (e) {
    return { error: `face detector unavailable: ${e.message}` };
  }
  const { width, height } = image.info;
  const rgb = new cv.Mat(height, width, cv.CV_8UC3),
    gray = new cv.Mat();
  try {
    rgb.data.set(image.data);
    cv.cvtColor(rgb, gray, cv.COLOR_RGB2GRAY);
    const faces = detect(cv, classifier, gray, params.minFace);
    for (const f of faces) f.hash = dhash(cv, gray, f);
    return { faces, width, height, ms: Date.now() - t0 };
  } finally {
    rgb.delete();
    gray.delete();
  }
}

module.exports.main = main;
