'use strict';
// The "direct" side of every comparison: what a minimal hand-written client does with the same
// action container, without Node-RED and without this package. Plain node:http, a keep-alive
// agent, the /run body the engine sends ({value, ...string context fields}), the reply parsed.
// Its /run asks what the engine's asks (X-Leon-Sentinels: if-written: no log sentinels for a silent
// activation), so the container does the same work for both sides of a comparison.

const http = require('node:http');
const { randomUUID } = require('node:crypto');

// A socket idle for 2 s is closed on this side: the servers (Node's default keep-alive 5 s) close
// theirs after 5 s, and a request sent on a socket the other end is closing fails (ECONNRESET). The
// benchmarks' sides sit idle for up to 9 s while the others run.
function createAgent() {
  return new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo', timeout: 2000 });
}

// The headers the engine sends with every /run (the benchmarks load dist/: npm run build first).
const { RUN_HEADERS } = require('../../dist/lib/local/http');

const newId = () => randomUUID().replace(/-/g, '');

/** The /run body for an already serialised value, with fresh context fields (all strings). */
function runBody(valueJson, action) {
  const ctx = {
    namespace: action.namespace,
    action_name: action.qualified,
    action_version: '0.0.1',
    activation_id: newId(),
    transaction_id: newId(),
    deadline: String(Date.now() + 60000),
  };
  return `{"value":${valueJson},${JSON.stringify(ctx).slice(1)}`;
}

/** POST a JSON body; resolves {status, body}. */
function post(agent, port, path, body, extraHeaders = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      agent,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...extraHeaders, 'Content-Length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let data = '';
      res.on('data', (c) => {
        data += c;
      });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One direct activation: serialise the value, POST /run, parse the result (as a user needs it). */
async function runDirect(agent, port, value, action) {
  const r = await post(agent, port, '/run', runBody(JSON.stringify(value), action), RUN_HEADERS);
  if (r.status !== 200) throw new Error(`direct /run on port ${port}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body);
}

/** GET a path the proxy does not serve: any HTTP reply means it listens. */
function probe(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/ping', method: 'GET', agent: false, timeout: 1000 });
    const end = (ok) => {
      req.destroy();
      resolve(ok);
    };
    req.on('response', (res) => {
      res.resume();
      end(true);
    });
    req.on('timeout', () => end(false));
    req.on('error', () => end(false));
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The bare deploy: create + start a container of `image` publishing 8080 on 127.0.0.1 (random host
 * port, as `docker run -d [--network <network>] -p 127.0.0.1::8080 image`), inspect for the port, poll it every 10 ms,
 * POST /init with the same code. Resolves {id, port} once /init answered 200.
 */
async function bareDeploy(docker, image, labels, initValue, marks = {}, network = '') {
  const { performance } = require('node:perf_hooks');
  const mark = (k) => {
    marks[k] = performance.now();
  };
  const created = await docker.createContainer({
    Image: image,
    Labels: labels,
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, ...(network ? { NetworkMode: network } : {}) },
  });
  mark('created');
  const c = docker.getContainer(created.id);
  try {
    return await startAndInit(c, created.id, initValue, mark);
  } catch (err) {
    await c.remove({ force: true, v: true }).catch(() => undefined);
    throw err;
  }
}

async function startAndInit(c, id, initValue, mark) {
  await c.start();
  mark('started');
  const info = await c.inspect();
  mark('inspected');
  const port = Number(info.NetworkSettings.Ports['8080/tcp'][0].HostPort);
  const deadline = Date.now() + 30000;
  for (let i = 1; !(await probe(port)); i++) {
    if (Date.now() > deadline || i % 100 === 0) {
      // Not listening after a second: say whether the container is still running, and what it wrote.
      const st = (await c.inspect().catch(() => ({}))).State || {};
      if (!st.Running || Date.now() > deadline) {
        const logs = await c.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.from(''));
        throw new Error(
          `bare container ${id.slice(0, 12)} ${st.Running ? 'did not listen within 30 s' : `stopped (${st.Status}, exit ${st.ExitCode}${st.OOMKilled ? ', OOM' : ''}${st.Error ? `, ${st.Error}` : ''})`}` +
            ` on 127.0.0.1:${port}; logs: ${JSON.stringify(logs.toString('utf8').slice(-500))}`,
        );
      }
    }
    await sleep(10);
  }
  mark('listening');
  const r = await post(false, port, '/init', JSON.stringify({ value: initValue }));
  if (r.status !== 200) throw new Error(`bare /init: HTTP ${r.status} ${r.body}`);
  mark('inited');
  return { id, port };
}

module.exports = { createAgent, runBody, post, RUN_HEADERS, runDirect, probe, bareDeploy, sleep };
