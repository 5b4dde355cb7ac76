// detect-faces: finds frontal faces in a PNG/JPEG image at the edge (LEON example).
// Input {image: <base64>} (or {payload: <base64>}); output {faces: [{x, y, w, h, hash}], width, height, ms}.
// Runs in the leon-edge/face-detect image, which provides jimp, @techstark/opencv-js (WebAssembly: the same
// code on x86 and ARM) and the Haar cascade. `hash` is a 64-bit dHash of each face (see identify-face.js).
const fs = require('fs');
const { Jimp } = require('jimp');

const CASCADES = [process.env.FACE_CASCADE, '/opt/face-detect/haarcascade_frontalface_default.xml',
  '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml'];
let detector; // Promise of {cv, classifier}, kept for warm activations

function loadDetector() {
  detector = detector || new Promise((resolve, reject) => {
    const file = CASCADES.find((f) => f && fs.existsSync(f));
    if (!file) return reject(new Error('Haar cascade not found (set FACE_CASCADE)'));
    const cv = require('@techstark/opencv-js'); // a thenable that never settles: do not await it
    const ready = () => {
      cv.FS_createDataFile('/', 'cascade.xml', fs.readFileSync(file), true, false, false);
      const classifier = new cv.CascadeClassifier();
      if (!classifier.load('cascade.xml')) return reject(new Error(`cannot load cascade ${file}`));
      resolve({ cv, classifier }); // never resolve with cv itself (thenable)
    };
    if (cv.Mat) ready(); else cv.onRuntimeInitialized = ready;
  });
  return detector;
}
loadDetector().catch(() => {}); // start at /init: the first activation then finds OpenCV (nearly) ready

async function dhash(image, { x, y, w, h }) {
  const px = image.clone().crop({ x, y, w, h }).greyscale().resize({ w: 9, h: 8 }).bitmap.data;
  let bits = '';
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) bits += px[(r * 9 + c) * 4] > px[(r * 9 + c + 1) * 4] ? '1' : '0';
  return BigInt('0b' + bits).toString(16).padStart(16, '0');
}

async function main(params) {
  let data = params.image !== undefined ? params.image : params.payload;
  if (data && data.type === 'Buffer' && Array.isArray(data.data)) data = Buffer.from(data.data).toString('base64'); // a JSON'd Buffer
  if (typeof data !== 'string' || data.trim() === '') return { error: 'detect-faces needs {image: <base64 PNG or JPEG>}' };
  const buf = Buffer.from(data.replace(/^data:[^,]*,/, ''), 'base64');
  const t0 = Date.now();
  let image;
  try { image = await Jimp.read(buf); } catch (e) { return { error: `input is not a PNG/JPEG image (${e.message})` }; }
  let cv, classifier;
  try { ({ cv, classifier } = await loadDetector()); } catch (e) { return { error: `face detector unavailable: ${e.message}` }; }
  const src = cv.matFromImageData(image.bitmap), gray = new cv.Mat(), found = new cv.RectVector();
  try {
    cv.cvtColor(src, gray, cv.COLOR_RGBA2GRAY);
    classifier.detectMultiScale(gray, found, 1.1, 5, 0, new cv.Size(30, 30), new cv.Size(0, 0));
    const faces = [];
    for (let i = 0; i < found.size(); i++) { const r = found.get(i); faces.push({ x: r.x, y: r.y, w: r.width, h: r.height }); }
    for (const f of faces) f.hash = await dhash(image, f);
    return { faces, width: image.bitmap.width, height: image.bitmap.height, ms: Date.now() - t0 };
  } finally { src.delete(); gray.delete(); found.delete(); }
}

module.exports.main = main;
