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

/** Containers carrying every label given (key=value), running or not. */
async function containersWith(...labels) {
  return docker.listContainers({ all: true, filters: { label: labels } });
}

/**
 * The instance label of the containers this test process's Node-RED runtime creates (the tests through
 * node-red-node-test-helper run Node-RED without a user directory: one random instance id per process), so that counting a
 * node's containers never counts another run's leftovers on the same engine.
 */
function ownInstance() {
  return `io.leon-edge.instance=${require('../../dist/lib/runtime-config').instanceId(undefined)}`;
}

module.exports = { docker, requireDocker, requireImage, containersWith, ownInstance };
