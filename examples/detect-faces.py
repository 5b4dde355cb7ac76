# detect-faces (native): finds frontal faces in a PNG/JPEG image at the edge (LEON example), with OpenCV
# compiled for the gateway's CPU (Debian's python3-opencv: amd64, arm64, armhf, …) instead of WebAssembly.
# Input {image: <base64>} (or {payload: <base64>}); output {faces: [{x, y, w, h, hash}], width, height, ms},
# the same shape and detector as detect-faces.js (see `detect` below). Optional `minFace`: the smallest face
# to find, in pixels (default 30, at least 24). Runs in the leon-edge/face-detect-native image
# (runtimes/face-detection/build.sh), which provides cv2, numpy and the Haar cascade. `hash` is a 64-bit
# dHash of each face (see identify-face.js).
import base64
import binascii
import math
import os
import time

import cv2
import numpy as np

CASCADES = [os.environ.get('FACE_CASCADE'), '/opt/face-detect/haarcascade_frontalface_default.xml',
            '/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml']
# The action's container has one job: one thread leaves the CPU to the rest of the gateway.
cv2.setNumThreads(1)
_classifier = None  # loaded at /init (module import), kept for warm activations


def classifier():
    global _classifier
    if _classifier is None:
        path = next((f for f in CASCADES if f and os.path.exists(f)), None)
        if path is None:
            raise RuntimeError('Haar cascade not found (set FACE_CASCADE)')
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise RuntimeError('cannot load cascade %s' % path)
        _classifier = c
    return _classifier


try:
    classifier()
except RuntimeError:
    pass  # reported by the first activation


def dhash(gray, x, y, w, h):
    # The face's grey levels scaled to 9×8 pixels (INTER_AREA), as detect-faces.js: bit = left > right.
    small = cv2.resize(gray[y:y + h, x:x + w].astype(np.float32), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, :8] > small[:, 1:]).flatten()
    return '%016x' % int(''.join('1' if b else '0' for b in bits), 2)


def iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(a[2] * a[3] + b[2] * b[3] - ix * iy)


MIN_FACE = 30


def min_face(gray, wanted):
    """The smallest face looked for, in pixels: `minFace` if given (at least 24, the cascade's window),
    else 30."""
    ok = isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and math.isfinite(wanted)
    return int(min(max(24, wanted if ok else MIN_FACE), max(24, min(gray.shape[:2]))))


def detect(c, gray, wanted=None):
    """Haar cascade detection, coarse to fine, as detect-faces.js. Faces are found on a copy scaled so
    that the smallest face wanted is 25.5 px, just above the cascade's 24 px window (scaleFactor 1.2,
    2 neighbours), then
    each candidate is searched again at full resolution around it (scaleFactor 1.1, 5 neighbours, sizes
    0.75-1.35x the candidate, from 24 px: a search from minFace up misses faces just above it, for want of
    neighbours), which gives the box and fingerprint of a full-resolution search. A
    candidate the full-resolution search does not confirm is dropped. Where the scale would be 0.95 or
    more (minFace 24 to 26), one full-resolution search. With the default 30 px this costs about half of
    a full-resolution search from 30 px (bench/README.md)."""
    mf = min_face(gray, wanted)
    height, width = gray.shape[:2]
    s = 25.5 / mf
    if s >= 0.95:
        return [tuple(int(v) for v in r) for r in c.detectMultiScale(gray, 1.1, 5, 0, (mf, mf))]
    small = cv2.resize(gray, (max(24, int(width * s + 0.5)), max(24, int(height * s + 0.5))), interpolation=cv2.INTER_AREA)
    out = []
    for (x, y, w, h) in c.detectMultiScale(small, 1.2, 2, 0, (24, 24)):
        x, y, w = x / s, y / s, w / s
        m = 0.35 * w
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(width, int(x + w + m)), min(height, int(y + w + m))
        lo, hi = max(24, int(w * 0.75)), int(w * 1.35) + 1
        if x1 - x0 < lo or y1 - y0 < lo:
            continue
        for (fx, fy, fw, fh) in c.detectMultiScale(gray[y0:y1, x0:x1], 1.1, 5, 0, (lo, lo), (hi, hi)):
            box = (int(fx) + x0, int(fy) + y0, int(fw), int(fh))
            if not any(iou(box, o) > 0.5 for o in out):
                out.append(box)
    return out


def main(params):
    data = params.get('image', params.get('payload'))
    if isinstance(data, dict) and data.get('type') == 'Buffer' and isinstance(data.get('data'), list):
        data = bytes(data['data'])  # a JSON'd Node.js Buffer
    elif isinstance(data, str) and data.strip() != '':
        if data.startswith('data:'):
            data = data.split(',', 1)[-1]
        try:
            data = base64.b64decode(data)
        except (binascii.Error, ValueError) as e:
            return {'error': 'input is not a PNG/JPEG image (%s)' % e}
    else:
        return {'error': 'detect-faces needs {image: <base64 PNG or JPEG>}'}
    t0 = time.perf_counter()
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw[:2].tobytes() == b'\xff\xd8':
        # A JPEG holds the grey levels (luma) as they are: libjpeg decodes them alone, without the colours
        # (3.4 instead of 13 ms for 1920x1080 here).
        gray = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
    else:
        bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR)
        gray = None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if gray is None:
        return {'error': 'input is not a PNG/JPEG image (cannot decode it)'}
    try:
        c = classifier()
    except RuntimeError as e:
        return {'error': 'face detector unavailable: %s' % e}
    found = detect(c, gray, params.get('minFace'))
    faces = []
    for (x, y, w, h) in found:
        faces.append({'x': x, 'y': y, 'w': w, 'h': h, 'hash': dhash(gray, x, y, w, h)})
    height, width = gray.shape[:2]
    return {'faces': faces, 'width': int(width), 'height': int(height),
            'ms': int(round((time.perf_counter() - t0) * 1000))}
