// crop-faces: the edge half of the LEON face pipeline after detection. Cuts each face found by detect-faces
// out of the picture, with a margin, and scales it down (Lanczos) so the face is at most `size` pixels wide:
// these small JPEGs and their boxes are all that goes on to the cloud stage (identify-face), never the
// picture. A small face is sent as it is, at JPEG quality 92 without chroma subsampling: enlarging it here
// made two people's descriptors closer, not one person's (bench/README.md).
// Input {image: <base64 PNG/JPEG>, faces: [{x, y, w, h}], margin?: 0.3, size?: 150, quality?: 92, maxFaces?: 10}.
// Output {faces: [{x, y, w, h, crop: <base64 JPEG>, inner: {x, y, w, h}}], width, height, dropped, ms}:
// x/y/w/h is the box in the picture, `inner` the same box inside the (scaled) crop.
// Runs in the leon-edge/face-identify image (sharp: libvips, prebuilt for amd64, arm64 and armv7); the code
// arrives at /init (runtimes/face-identify).
const sharp = require('sharp');

sharp.concurrency(1); // the action's container has one job: leave the other cores to the gateway
sharp.cache(false); // every picture is new: nothing to reuse

const num = (v, lo, hi, dflt) => (v !== undefined && v !== null && v !== '' && Number.isFinite(Number(v)) ? Math.min(hi, Math.max(lo, Number(v))) : dflt);

async function main(params) {
  const data = params.image;
  if (typeof data !== 'string' || data === '') return { error: 'crop-faces needs {image: <base64 PNG or JPEG>, faces}' };
  if (!Array.isArray(params.faces)) return { error: 'crop-faces needs {faces: [{x, y, w, h}]} (the boxes from detect-faces)' };
  const margin = num(params.margin, 0, 1, 0.3);
  const size = num(params.size, 32, 300, 150);
  const quality = Math.round(num(params.quality, 50, 100, 92));
  const maxFaces = num(params.maxFaces, 1, 32, 10);
  const t0 = Date.now();
  let pixels;
  try {
    // Decoded once (RGB), then every face is cut from the pixels: no decode per face.
    pixels = await sharp(Buffer.from(data.replace(/^data:[^,]*,/, ''), 'base64'))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    return { error: `input is not a PNG/JPEG image (${e.message})` };
  }
  const { width, height, channels } = pixels.info;
  const boxes = params.faces
    .map((f) => ({ x: Math.round(Number(f && f.x)), y: Math.round(Number(f && f.y)), w: Math.round(Number(f && f.w)), h: Math.round(Number(f && f.h)) }))
    .map((b) => ({ x: Math.max(0, b.x), y: Math.max(0, b.y), w: Math.min(b.w, width - Math.max(0, b.x)), h: Math.min(b.h, height - Math.max(0, b.y)) }))
    .filter((b) => [b.x, b.y, b.w, b.h].every(Number.isFinite) && b.w >= 8 && b.h >= 8)
    .sort((a, b) => b.w * b.h - a.w * a.h); // the largest faces first when there are too many
  const faces = [];
  for (const b of boxes.slice(0, maxFaces)) {
    const x0 = Math.max(0, Math.round(b.x - margin * b.w)),
      y0 = Math.max(0, Math.round(b.y - margin * b.h));
    const x1 = Math.min(width, Math.round(b.x + b.w + margin * b.w)),
      y1 = Math.min(height, Math.round(b.y + b.h + margin * b.h));
    const scale = b.w > size ? size / b.w : 1;
    const w = Math.max(1, Math.round((x1 - x0) * scale)),
      h = Math.max(1, Math.round((y1 - y0) * scale));
    let crop = sharp(pixels.data, { raw: { width, height, channels } }).extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 });
    if (scale !== 1) crop = crop.resize(w, h, { kernel: 'lanczos3', fit: 'fill' });
    const jpeg = await crop.jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
    faces.push({
      ...b,
      crop: jpeg.toString('base64'),
      inner: { x: Math.round((b.x - x0) * scale), y: Math.round((b.y - y0) * scale), w: Math.round(b.w * scale), h: Math.round(b.h * scale) },
    });
  }
  return { faces, width, height, dropped: Math.max(0, boxes.length - maxFaces), ms: Date.now() - t0 };
}

module.exports.main = main;
