'use strict';
// Docker lookups for the benchmarks, always scoped by labels this run owns (other people run
// tests on the same engine).

const Docker = require('dockerode');

const docker = new Docker();

/** Running containers carrying every given label (key=value). */
async function runningWith(...labels) {
  return docker.listContainers({ filters: { label: labels, status: ['running'] } });
}

/** Host port published for 8080 on 127.0.0.1, from docker inspect. */
async function publishedPort(id) {
  const info = await docker.getContainer(id).inspect();
  const b = info.NetworkSettings && info.NetworkSettings.Ports && info.NetworkSettings.Ports['8080/tcp'];
  const port = Number(b && b[0] && b[0].HostPort);
  if (!port) throw new Error(`container ${id.slice(0, 12)} publishes no port for 8080`);
  return port;
}

/** The containers of one openwhisk-action node (label io.leon-edge.node=<id>) with their ports. */
async function nodeContainers(nodeId) {
  const list = await runningWith(`io.leon-edge.node=${nodeId}`);
  return Promise.all(list.map(async (c) => ({ id: c.Id, name: (c.Names || [])[0], port: await publishedPort(c.Id) })));
}

/** Force-remove every container carrying one label (key=value); returns how many. */
async function removeWith(label) {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  return list.length;
}

module.exports = { docker, runningWith, publishedPort, nodeContainers, removeWith };
