# detect-faces (native): finds frontal faces in a PNG/JPEG image at the edge (LEON example), with OpenCV
# compiled for the gateway's CPU (Debian's python3-opencv: amd64, arm64, armhf, …) instead of WebAssembly.
# Input {image: <base64>} (or {payload: <base64>}); output {faces: [{x, y, w, h, hash}], width, height, ms},
# the same shape and detector settings as detect-faces.js. Runs in the leon-edge/face-detect-native image
# (runtimes/face-detection/build.sh), which provides cv2, numpy and the Haar cascade. `hash` is a 64-bit
# dHash of each face (see identify-face.js).
import base64
import binascii
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


def dhash(rgb, x, y, w, h):
    # Luma as detect-faces.js's image library computes it, then 9×8 pixels: bit = left > right.
    crop = rgb[y:y + h, x:x + w].astype(np.float32)
    grey = crop[:, :, 0] * 0.2126 + crop[:, :, 1] * 0.7152 + crop[:, :, 2] * 0.0722
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, :8] > small[:, 1:]).flatten()
    return '%016x' % int(''.join('1' if b else '0' for b in bits), 2)


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
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return {'error': 'input is not a PNG/JPEG image (cannot decode it)'}
    try:
        c = classifier()
    except RuntimeError as e:
        return {'error': 'face detector unavailable: %s' % e}
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    found = c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, flags=0, minSize=(30, 30))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = []
    for (x, y, w, h) in (found if len(found) else []):
        x, y, w, h = int(x), int(y), int(w), int(h)
        faces.append({'x': x, 'y': y, 'w': w, 'h': h, 'hash': dhash(rgb, x, y, w, h)})
    height, width = bgr.shape[:2]
    return {'faces': faces, 'width': int(width), 'height': int(height),
            'ms': int(round((time.perf_counter() - t0) * 1000))}
