'use strict';
// Builds the test-only hostile action image (test/support/hostile-image) from the package's
// Node.js runtime image, offline; docker's layer cache makes repeated builds instant.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const HOSTILE_IMAGE = 'leon-edge/test-hostile:latest';
const ACTION_IMAGE = 'leon-edge/action-nodejs-v20:latest';

function buildHostileImage() {
  const dir = path.join(__dirname, 'hostile-image');
  const res = spawnSync('docker', ['build', '-q', '--network', 'none', '--build-arg', `ACTION_IMAGE=${ACTION_IMAGE}`, '-t', HOSTILE_IMAGE, dir], {
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`docker build of ${HOSTILE_IMAGE} failed: ${res.stderr || res.stdout}`);
  return HOSTILE_IMAGE;
}

module.exports = { HOSTILE_IMAGE, ACTION_IMAGE, buildHostileImage };
