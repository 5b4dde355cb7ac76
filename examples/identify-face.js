// identify-face: the "cloud" stage of the LEON face pipeline. For each face crop sent by the edge
// (crop-faces), computes a 128-number face descriptor with a face-recognition network and names the face
// after the nearest descriptor in the knowledge base.
//
// Input {faces: [{x, y, w, h, crop: <base64 JPEG/PNG>, inner?: {x, y, w, h}}], known: [{name, descriptors:
// [<base64 of 128 float32>]}], threshold?: 0.6, certain?: 0.5}. Output {faces: [{x, y, w, h, name, match,
// distance, best, descriptor}], names, ms, msPerFace, stages: {decode, landmarks, descriptor, cpu} (ms)}: match is
// "known" (distance <= certain), "uncertain" (certain < distance <= threshold: name is the best guess) or
// "unknown"; best = {name, distance} of the nearest person whatever the distance; descriptor (base64) is what
// enrolment stores.
//
// How: face-api's 68-point landmark net finds the eyes and mouth in the face box; the crop is rotated so the
// eyes are level and cut to a square around eyes and mouth (the proportions face-api uses for dlib-style
// alignment), 150x150; face-api's recognition net (a ResNet-34-like network whose weights come from dlib's
// face recognition model) turns it into the descriptor. Two photos of one person are usually closer than 0.6
// (Euclidean), the threshold dlib documents for this model; see docs/face-example.md.
// Runs in the leon-edge/face-identify image (face-api with its weights, tfjs on WebAssembly, sharp).
const path = require('path');

const MAX_FACES = 16;
const MAX_CROP_CHARS = 400 * 1024; // base64 of one crop; crop-faces sends ~10-30 KB
const MAX_DESCRIPTORS = 5000;

let models; // Promise of {tf, faceapi}, kept for warm activations

function loadModels() {
  models =
    models ||
    (async () => {
      const tf = require('@tensorflow/tfjs');
      const wasm = require('@tensorflow/tfjs-backend-wasm');
      const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
      const wasmDir = process.env.TFJS_WASM_DIR || path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(wasmDir.endsWith('/') ? wasmDir : `${wasmDir}/`, false); // local files, never a CDN
      await tf.setBackend('wasm');
      await tf.ready();
      tf.enableProdMode(); // no per-op debug checks
      const dir = process.env.FACE_MODELS || path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
      await faceapi.nets.faceLandmark68Net.loadFromDisk(dir);
      await faceapi.nets.faceRecognitionNet.loadFromDisk(dir);
      return { tf, faceapi };
    })();
  return models;
}
loadModels().catch(() => {}); // start at /init: the first activation then finds the models (nearly) ready

const mean = (ps) => ({ x: ps.reduce((s, p) => s + p.x, 0) / ps.length, y: ps.reduce((s, p) => s + p.y, 0) / ps.length });

/** The descriptor (Float32Array(128)) of the face in `bitmap` ({width, height, data: RGB}) within box `inner`. */
async function describe({ tf, faceapi }, bitmap, inner, stages) {
  const { width, height, data } = bitmap; // data: RGB, 3 bytes a pixel
  const image = tf.tensor4d(Float32Array.from(data), [1, height, width, 3]);
  const face = tf.slice(image, [0, inner.y, inner.x, 0], [1, inner.h, inner.w, 3]);
  const tensors = [image, face];
  try {
    let t = Date.now();
    const marks = await faceapi.nets.faceLandmark68Net.detectLandmarks(face);
    stages.landmarks += Date.now() - t;
    const shift = (ps) => ps.map((p) => ({ x: p.x + inner.x, y: p.y + inner.y }));
    const left = mean(shift(marks.getLeftEye())),
      right = mean(shift(marks.getRightEye())),
      mouth = mean(shift(marks.getMouth()));
    const angle = Math.atan2(right.y - left.y, right.x - left.x);
    const centre = mean([left, right, mouth]);
    const toMouth = (p) => Math.hypot(mouth.x - p.x, mouth.y - p.y);
    const side = (toMouth(left) + toMouth(right)) / 2 / 0.45;
    const level = tf.image.rotateWithOffset(image, angle, 0, [centre.x / width, centre.y / height]);
    tensors.push(level);
    const x1 = centre.x - 0.5 * side,
      y1 = centre.y - 0.43 * side;
    const chip = tf.image.cropAndResize(level, [[y1 / height, x1 / width, (y1 + side) / height, (x1 + side) / width]], [0], [150, 150]);
    tensors.push(chip);
    const squeezed = chip.squeeze([0]);
    tensors.push(squeezed);
    t = Date.now();
    const descriptor = await faceapi.computeFaceDescriptor(squeezed);
    stages.descriptor += Date.now() - t;
    return descriptor;
  } finally {
    tf.dispose(tensors);
  }
}

const encode = (f32) => Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength).toString('base64');

function decode(b64) {
  const buf = Buffer.from(String(b64), 'base64');
  if (buf.length !== 512) return null;
  const out = new Float32Array(128);
  for (let i = 0; i < 128; i++) out[i] = buf.readFloatLE(i * 4);
  return out.every(Number.isFinite) ? out : null;
}

function distance(a, b) {
  let s = 0;
  for (let i = 0; i < 128; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

async function main(params) {
  const t0 = Date.now();
  if (!Array.isArray(params.faces)) return { error: 'identify-face needs {faces: [{x, y, w, h, crop}]} (from crop-faces)' };
  if (params.faces.length > MAX_FACES) return { error: `identify-face takes at most ${MAX_FACES} faces per call (got ${params.faces.length})` };
  const threshold = Number.isFinite(Number(params.threshold)) ? Number(params.threshold) : 0.6;
  const certain = Math.min(threshold, Number.isFinite(Number(params.certain)) ? Number(params.certain) : 0.5);
  const known = [];
  for (const k of Array.isArray(params.known) ? params.known : []) {
    if (!k || typeof k.name !== 'string' || !Array.isArray(k.descriptors)) return { error: 'bad knowledge base entry: need {name, descriptors: [base64]}' };
    for (const d of k.descriptors) {
      const v = decode(d);
      if (!v) return { error: `bad descriptor for ${JSON.stringify(k.name.slice(0, 60))}: need base64 of 128 float32` };
      if (known.push({ name: k.name, v }) > MAX_DESCRIPTORS) return { error: `knowledge base over ${MAX_DESCRIPTORS} descriptors` };
    }
  }
  let m;
  try {
    m = await loadModels();
  } catch (e) {
    return { error: `face recognition model unavailable: ${e.message}` };
  }
  const sharp = require('sharp');
  sharp.concurrency(1);
  const faces = [];
  const stages = { decode: 0, landmarks: 0, descriptor: 0, cpu: 0 };
  const cpu0 = process.cpuUsage();
  for (const f of params.faces) {
    if (!f || typeof f.crop !== 'string' || f.crop.length > MAX_CROP_CHARS)
      return { error: `each face needs {crop: <base64 JPEG/PNG> of at most ${MAX_CROP_CHARS} characters}` };
    let img;
    const t = Date.now();
    try {
      const { data, info } = await sharp(Buffer.from(f.crop.replace(/^data:[^,]*,/, ''), 'base64'))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      img = { width: info.width, height: info.height, data };
    } catch (e) {
      return { error: `a face crop is not a PNG/JPEG image (${e.message})` };
    }
    stages.decode += Date.now() - t;
    const { width, height } = img;
    const i = f.inner || {};
    const x = Math.min(width - 1, Math.max(0, Math.round(Number(i.x) || 0))),
      y = Math.min(height - 1, Math.max(0, Math.round(Number(i.y) || 0)));
    const inner = { x, y, w: Math.min(width - x, Math.round(Number(i.w) || width)), h: Math.min(height - y, Math.round(Number(i.h) || height)) };
    if (inner.w < 16 || inner.h < 16) return { error: `a face box of ${inner.w}x${inner.h} pixels is too small to identify` };
    const v = await describe(m, img, inner, stages);
    let best = null;
    for (const k of known) {
      const d = distance(v, k.v);
      if (!best || d < best.distance) best = { name: k.name, distance: d };
    }
    if (best) best.distance = Math.round(best.distance * 1000) / 1000;
    const match = !best || best.distance > threshold ? 'unknown' : best.distance > certain ? 'uncertain' : 'known';
    faces.push({
      x: f.x,
      y: f.y,
      w: f.w,
      h: f.h,
      name: match === 'unknown' ? 'unknown' : best.name,
      match,
      distance: best ? best.distance : null,
      best,
      descriptor: encode(v),
    });
  }
  const ms = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  stages.cpu = Math.round((cpu.user + cpu.system) / 1000); // CPU time of this activation: less sensitive to other load
  return { faces, names: faces.map((f) => f.name), threshold, certain, ms, msPerFace: faces.length ? Math.round(ms / faces.length) : 0, stages };
}

module.exports.main = main;
