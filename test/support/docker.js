'use strict';
// Docker for the tests: in CI a missing engine is a failure, elsewhere the suite is skipped with a reason.
const Docker = require('dockerode');

const docker = new Docker();

async function requireDocker(ctx) {
  try {
    await docker.ping();
  } catch (err) {
    const why = `Docker engine not reachable (${err.message}): start dockerd, or run .ci/run which does`;
    if (process.env.CI === 'true') throw new Error(`${why}. Docker tests never skip in CI.`, { cause: err });
    console.log(`      (skipped: ${why})`);
    ctx.skip();
  }
}

async function requireImage(ctx, image) {
  try {
    await docker.getImage(image).inspect();
  } catch {
    const why = `image ${image} missing: run bash runtimes/build.sh`;
    if (process.env.CI === 'true') throw new Error(why);
    console.log(`      (skipped: ${why})`);
    ctx.skip();
  }
}

/** Containers carrying a label (key=value), running or not. */
async function containersWith(label) {
  return docker.listContainers({ all: true, filters: { label: [label] } });
}

module.exports = { docker, requireDocker, requireImage, containersWith };
