#!/bin/sh
# Removes from a node_modules folder (argument) what the face-identify actions never load: source maps,
# TypeScript sources, browser bundles of tfjs and face-api, and the face-api models they do not use.
# Node loads only each @tensorflow package's dist/*.node.js (and the backend's .wasm files) and
# face-api's dist/face-api.node-wasm.js; keeping the rest would triple the image.
set -eu
nm="$1"
[ -d "$nm/@tensorflow" ] || { echo "prune.sh: $nm has no @tensorflow folder" >&2; exit 1; }
find "$nm" -name '*.map' -type f -delete
for p in "$nm"/@tensorflow/*; do
  rm -rf "$p/src" "$p/dist/"*/ "$p/scripts" 2>/dev/null || true
  find "$p/dist" -maxdepth 1 -type f ! -name '*.node.js' ! -name '*.wasm' ! -name '*.d.ts' -delete
done
fa="$nm/@vladmandic/face-api"
rm -rf "$fa/src" "$fa/demo" "$fa/types"
find "$fa/dist" -type f ! -name 'face-api.node-wasm.js' -delete
find "$fa/model" -type f ! -name 'face_landmark_68_model*' ! -name 'face_recognition_model*' -delete
# Not loaded at run time: core-js (a polyfill tfjs lists but Node does not need), type definitions.
rm -rf "$nm/core-js" "$nm/@types" "$nm/@webgpu"
find "$nm" -name '*.d.ts' -type f -delete
