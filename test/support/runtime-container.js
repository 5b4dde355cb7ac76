'use strict';
// Runtime image containers for the action interface tests: start an image with 8080 on a random
// 127.0.0.1 port, talk /init and /run to it, read its logs (stdout and stderr apart).
const path = require('node:path');
const { createRequire } = require('node:module');
const { request: httpRequest } = require('./http');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const LABEL = 'leon-edge.test';
const ROOT = path.resolve(__dirname, '..', '..');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits docker's multiplexed log stream (8-byte frame headers) into stdout and stderr. */
function demuxLogs(buffer) {
  const out = { stdout: '', stderr: '' };
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    const text = buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    if (stream === 1) out.stdout += text;
    else if (stream === 2) out.stderr += text;
    offset += 8 + size;
  }
  return out;
}

const countSentinels = (text) => text.split('\n').filter((line) => line === SENTINEL).length;

/**
 * Starts `image` (labelled for cleanup, pushed onto `containers`) and waits until its proxy answers
 * any HTTP request. Resolves {container, url, init(value), run(value, extra), request, logs, logsWhen}.
 */
async function startProxy(docker, containers, image, { env = [], label = 'runtime-proxy', readyMs = 15000 } = {}) {
  const container = await docker.createContainer({
    Image: image,
    Env: env,
    Labels: { [LABEL]: label },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const url = `http://127.0.0.1:${info.NetworkSettings.Ports['8080/tcp'][0].HostPort}`;
  const request = (urlPath, body, method = 'POST', headers = {}) => httpRequest(`${url}${urlPath}`, body, method, headers);
  const deadline = Date.now() + readyMs;
  for (;;) {
    try {
      await request('/', undefined, 'GET');
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${image} did not answer on ${url}: ${err.message}`, { cause: err });
      await sleep(50);
    }
  }
  const logs = async () => demuxLogs(await container.logs({ stdout: true, stderr: true, follow: false }));
  return {
    container,
    url,
    request,
    init: (value) => request('/init', { value }),
    run: (value, extra = {}) => request('/run', { ...extra, value }),
    logs,
    /** Logs once `predicate(logs)` holds (docker's log file lags a little behind the reply). */
    async logsWhen(predicate, timeoutMs = 3000) {
      const until = Date.now() + timeoutMs;
      let current = await logs();
      while (!predicate(current) && Date.now() < until) {
        await sleep(50);
        current = await logs();
      }
      return current;
    },
  };
}

/** A zip of {name: text} as base64 (adm-zip is runtimes/nodejs's own dependency, made by build.sh). */
function zipBase64(files) {
  const AdmZip = createRequire(path.join(ROOT, 'runtimes', 'nodejs', 'package.json'))('adm-zip');
  const zip = new AdmZip();
  for (const [name, content] of Object.entries(files)) zip.addFile(name, Buffer.from(content, 'utf8'));
  return zip.toBuffer().toString('base64');
}

async function imageExists(docker, name) {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

module.exports = { SENTINEL, LABEL, sleep, demuxLogs, countSentinels, startProxy, zipBase64, imageExists };
