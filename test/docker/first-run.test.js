'use strict';
/*
 * A Docker engine that has never run this package: the isolation network does not exist yet, and
 * runtimes that start at the same moment (the face demo's three, two Node-REDs on one engine) must
 * end up with one network and working actions. Engines before Docker 25 accept two networks with
 * one name, after which every container that names it fails ("network ... is ambiguous").
 * Also: an engine closed while a container creation is in flight leaves nothing behind.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { docker, requireDocker, requireImage } = require('../support/docker');
const { createRed, until, freePort } = require('../support/red-process');
const { LocalEngine, LABELS } = require('../../dist/lib/local/engine');
const { ISOLATION_NETWORK } = require('../../dist/lib/local/options');

/** An activation's result, as this file's actions shape it. @param {import('../../dist/lib/types').Activation} a @returns {Record<string, any>} */
const result = (a) => /** @type {Record<string, any>} */ (a.response.result);

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const RUN = `itest-first-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const ACTION = {
  namespace: 'guest',
  name: 'hello',
  version: '0.0.1',
  exec: { kind: 'nodejs:20', code: 'function main(p) { return { hello: p.who, pid: process.pid }; }', binary: false },
  parameters: [],
  annotations: [],
  limits: { timeout: 60000, memory: 128, logs: 10, concurrency: 1 },
};
const catalog = {
  location: 'test catalog',
  async getAction() {
    throw new Error('not used');
  },
  async runtimeImages() {
    return {};
  },
};

const isolationNetworks = async () => (await docker.listNetworks({ filters: { name: [ISOLATION_NETWORK] } })).filter((n) => n.Name === ISOLATION_NETWORK);
const ours = (instance) => docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instance}`] } });

/** The engine as a user's first run finds it: none of the package's containers or isolation networks. */
async function freshEngine() {
  const managed = await docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`] } });
  await Promise.all(
    managed.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  for (const n of await isolationNetworks()) await docker.getNetwork(n.Id).remove();
  assert.deepEqual(await isolationNetworks(), [], 'no isolation network before the test');
}

/**
 * A child Node.js process that starts `count` local runtimes at once when it reads a line on stdin,
 * runs the action on each and prints one JSON line: the results, or the errors.
 */
function childProcess(instance, count) {
  const script = `
    const { LocalEngine } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'local', 'engine'))});
    const action = ${JSON.stringify(ACTION)};
    const catalog = { async getAction() { throw new Error('not used'); }, async runtimeImages() { return {}; } };
    process.stdin.once('data', async () => {
      const engines = Array.from({ length: ${count} }, (_, i) => new LocalEngine({
        instanceId: ${JSON.stringify(instance)}, runtimeId: 'rt-' + i, imageOverrides: { 'nodejs:*': ${JSON.stringify(IMAGE)} }, stemCells: 0,
      }));
      const out = await Promise.all(engines.map(async (e, i) => {
        try {
          await e.start();
          const a = await e.provision('node-' + i, action, catalog);
          const r = await a.invoke({ who: 'runtime ' + i });
          return { ok: r.response.success, result: r.response.result };
        } catch (err) {
          return { ok: false, error: String(err && err.message) };
        }
      }));
      await Promise.all(engines.map((e) => e.close()));
      process.stdout.write(JSON.stringify(out) + '\\n');
      process.exit(0);
    });
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  let readySeen;
  const ready = new Promise((resolve) => (readySeen = resolve));
  child.stdout.on('data', (d) => {
    buf += d;
    if (buf.startsWith('ready\n')) readySeen();
  });
  const result = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(buf.slice(6))) : reject(new Error(`child exited with ${code}: ${buf}`))));
  });
  return { child, ready, result };
}

describe('first run on a fresh Docker engine', function () {
  this.timeout(180000);
  const engines = [];

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
  });

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close().catch(() => undefined)));
  });

  it('three runtimes started at once in one process create one isolation network, and all their actions run', async () => {
    await freshEngine();
    const instance = `${RUN}-one`;
    const started = [0, 1, 2].map((i) => new LocalEngine({ instanceId: instance, runtimeId: `rt-${i}`, imageOverrides: { 'nodejs:*': IMAGE }, stemCells: 0 }));
    engines.push(...started);
    const results = await Promise.all(
      started.map(async (e, i) => {
        await e.start();
        const a = await e.provision(`node-${i}`, ACTION, catalog);
        return result(await a.invoke({ who: `runtime ${i}` }));
      }),
    );
    assert.deepEqual(
      results.map((r) => r.hello),
      ['runtime 0', 'runtime 1', 'runtime 2'],
    );
    const nets = await isolationNetworks();
    assert.equal(nets.length, 1, `one isolation network, found ${nets.map((n) => n.Id.slice(0, 12)).join(', ')}`);
    assert.equal(nets[0].Options['com.docker.network.bridge.enable_icc'], 'false');
  });

  it('two Node.js processes starting two runtimes each at the same moment agree on one network, and every action runs', async () => {
    await freshEngine();
    const kids = [childProcess(`${RUN}-a`, 2), childProcess(`${RUN}-b`, 2)];
    await Promise.all(kids.map((k) => k.ready));
    for (const k of kids) k.child.stdin.write('go\n'); // both start within the same millisecond or so
    const outs = await Promise.all(kids.map((k) => k.result));
    for (const [i, out] of outs.entries()) {
      assert.deepEqual(
        out.map((r) => r.error),
        [undefined, undefined],
        `process ${i}: ${JSON.stringify(out)}`,
      );
      assert.deepEqual(
        out.map((r) => r.result.hello),
        ['runtime 0', 'runtime 1'],
      );
    }
    // Each process removed the duplicates it could; one left with its endpoints gone goes now.
    const e = new LocalEngine({ instanceId: `${RUN}-c`, runtimeId: 'rt-c', imageOverrides: { 'nodejs:*': IMAGE }, stemCells: 0 });
    engines.push(e);
    await e.start();
    assert.equal((await isolationNetworks()).length, 1, 'one isolation network once the runtimes are gone');
    for (const inst of [`${RUN}-a`, `${RUN}-b`]) assert.deepEqual(await ours(inst), [], `nothing left of ${inst}`);
  });

  it('an engine that already has duplicate isolation networks (an earlier race) is repaired, not reported', async () => {
    await freshEngine();
    const dup = () =>
      docker.createNetwork({
        Name: ISOLATION_NETWORK,
        Driver: 'bridge',
        Options: { 'com.docker.network.bridge.enable_icc': 'false' },
        Labels: { [LABELS.managed]: 'true' },
      });
    const first = await dup();
    await sleep(5);
    await dup();
    assert.equal((await isolationNetworks()).length, 2, 'this engine accepts two networks with one name');
    const e = new LocalEngine({ instanceId: `${RUN}-dup`, runtimeId: 'rt-dup', imageOverrides: { 'nodejs:*': IMAGE }, stemCells: 0 });
    engines.push(e);
    const a = await e.provision('node-dup', ACTION, catalog);
    assert.equal(result(await a.invoke({ who: 'after the race' })).hello, 'after the race');
    const nets = await isolationNetworks();
    assert.deepEqual(
      nets.map((n) => n.Id),
      [first.id],
      'the oldest is kept',
    );
  });

  it('the isolation network removed by hand while the runtime runs is made again at the next container', async () => {
    await freshEngine();
    const e = new LocalEngine({ instanceId: `${RUN}-rm`, runtimeId: 'rt-rm', imageOverrides: { 'nodejs:*': IMAGE }, stemCells: 0 });
    engines.push(e);
    await e.start();
    await freshEngine();
    const a = await e.provision('node-rm', ACTION, catalog);
    assert.equal(result(await a.invoke({ who: 'again' })).hello, 'again');
    assert.equal((await isolationNetworks()).length, 1);
  });

  it('a Node-RED stopped while a stem cell is being created leaves no container behind', async () => {
    // A Docker API proxy that holds a cell's create request; meanwhile the runtime's process is told
    // to close and then exits, as Node-RED does on SIGINT. The request reaches Docker once the closing
    // runtime has listed its containers (its last sweep), or after a second if it waits for the answer.
    let closing = false;
    let listedWhileClosing;
    const listed = new Promise((resolve) => (listedWhileClosing = resolve));
    let held;
    const cellCreate = new Promise((resolve) => (held = resolve));
    let answered;
    const createAnswered = new Promise((resolve) => (answered = resolve));
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const isCell = req.method === 'POST' && /\/containers\/create/.test(req.url) && Boolean(JSON.parse(body.toString() || '{}').Labels?.[LABELS.cell]);
        const forward = () => {
          const up = http.request(
            { socketPath: '/var/run/docker.sock', path: req.url, method: req.method, headers: { ...req.headers, 'content-length': body.length } },
            (ur) => {
              if (isCell) answered();
              if (closing && req.method === 'GET' && /\/containers\/json/.test(req.url)) ur.on('end', listedWhileClosing);
              res.on('error', () => undefined);
              res.writeHead(ur.statusCode, ur.headers);
              res.flushHeaders();
              ur.pipe(res);
            },
          );
          up.on('error', (e) => res.destroy(e));
          up.end(body);
        };
        if (isCell) held(forward);
        else forward();
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', () => r(null)));
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    const instance = `${RUN}-close`;
    try {
      const script = `
        const { LocalEngine } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'local', 'engine'))});
        const catalog = { async getAction() { throw new Error('not used'); }, async runtimeImages() { return {}; } };
        const e = new LocalEngine({ instanceId: ${JSON.stringify(instance)}, docker: 'tcp://127.0.0.1:${port}', runtimeId: 'rt-close',
          imageOverrides: { 'nodejs:*': ${JSON.stringify(IMAGE)} }, stemCells: 1 });
        e.provision('node-close', ${JSON.stringify(ACTION)}, catalog);
        process.stdin.once('data', () => e.close().then(() => process.exit(0)));
      `;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'inherit'] });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const forward = await cellCreate;
      closing = true;
      child.stdin.write('close\n');
      await Promise.race([listed, sleep(1000)]);
      forward();
      assert.equal(await exited, 0);
      await createAnswered;
      await sleep(200); // nothing of the runtime is left to remove it now
      assert.deepEqual(
        (await ours(instance)).map((c) => `${c.Names[0]} ${c.State}`),
        [],
        'nothing left after close',
      );
    } finally {
      for (const c of await ours(instance))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('two Node-REDs (5 and 4.1) started at once from empty user directories, two local runtimes each: every action answers, one network', async function () {
    this.timeout(240000);
    await freshEngine();
    // Each Node-RED: runtime a reads the package's example manifest and serves the OpenWhisk API on a port of
    // its own (its activation store starts empty); runtime b reads a manifest in the new user directory.
    // An action node on each, behind an HTTP endpoint.
    const KEY = `${crypto.randomUUID()}:${crypto.randomBytes(32).toString('hex')}`;
    const reds = [await createRed({ version: 5 }), await createRed({ version: 4 })];
    const apiPorts = [];
    try {
      for (const red of reds) {
        for (const f of [
          'manifest.yaml',
          'hello.js',
          'to-celsius.js',
          'threshold.js',
          'detect-faces.js',
          'detect-faces.py',
          'crop-faces.js',
          'identify-face.js',
        ]) {
          fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(red.userDir, f));
        }
        const apiPort = await freePort();
        apiPorts.push(apiPort);
        const flows = [
          { id: 'tab', type: 'tab', label: 'first run' },
          {
            id: 'rt-a',
            type: 'openwhisk-runtime',
            name: 'local a',
            mode: 'local',
            service: '',
            source: 'manifest',
            manifest: 'examples/manifest.yaml',
            images: `nodejs:*=${IMAGE}`,
            serveApi: true,
            apiPath: 'first',
            apiListen: `127.0.0.1:${apiPort}`,
            credentials: { apiKey: KEY },
          },
          {
            id: 'rt-b',
            type: 'openwhisk-runtime',
            name: 'local b',
            mode: 'local',
            service: '',
            source: 'manifest',
            manifest: 'manifest.yaml',
            images: `nodejs:*=${IMAGE}`,
          },
          ...['a', 'b'].flatMap((x) => [
            { id: `in-${x}`, z: 'tab', type: 'http in', url: `/hello-${x}`, method: 'get', wires: [[`act-${x}`]] },
            { id: `act-${x}`, z: 'tab', type: 'openwhisk-action', runtime: `rt-${x}`, action: 'facedemo/hello', params: [], wires: [[`out-${x}`]] },
            { id: `out-${x}`, z: 'tab', type: 'http response', wires: [] },
          ]),
        ];
        red.flows = flows;
      }
      // Both started, then both deployed at once (through the admin API: a flow file's inline credentials are not read).
      await Promise.all(reds.map((red) => red.start()));
      await Promise.all(reds.map((red) => red.deploy(red.flows)));
      for (const [i, red] of reds.entries()) {
        for (const x of ['a', 'b']) {
          const answer = await until(
            `${red.url}/hello-${x} to answer`,
            async () => {
              const res = await fetch(`${red.url}/hello-${x}?name=${x}`).catch(() => undefined);
              return res && res.status === 200 && res.json();
            },
            60000,
          ).catch((err) => assert.fail(`${err.message}\n${red.out}`));
          assert.deepEqual(answer, { payload: `Hello, ${x}!` });
        }
        const res = await fetch(`http://127.0.0.1:${apiPorts[i]}/api/v1/namespaces/_/actions/facedemo/hello?blocking=true&result=true`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'API' }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        assert.deepEqual(await res.json(), { payload: 'Hello, API!' });
        const list = await fetch(`http://127.0.0.1:${apiPorts[i]}/api/v1/namespaces/_/activations?limit=5`, {
          headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` },
        });
        assert.equal(list.status, 200);
        assert.ok((await list.json()).length >= 2, "the new activation store holds the action node's and the API's activations");
        assert.doesNotMatch(red.out, /ambiguous|\[error\]/i);
      }
      assert.equal((await isolationNetworks()).length, 1);
    } finally {
      await Promise.all(reds.map((red) => red.destroy()));
    }
  });
});
