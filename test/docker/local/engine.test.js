'use strict';
/*
 * Integration tests of the local Docker runtime (lib/local) against the REAL Docker engine and
 * the project's own runtime images (leon-edge/action-nodejs-v20, leon-edge/blackbox-echo):
 *
 *   npx tsc -p tsconfig.json && npx mocha --exit --timeout 120000 test/docker/local/engine.test.js
 *
 * Without Docker the suite is skipped, or fails when CI=true. Missing images are built with
 * `bash runtimes/build.sh`. Every container carries this run's instance label and is removed in
 * the after hooks.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync } = require('node:child_process');
const Docker = require('dockerode');

const { LocalEngine, LABELS } = require('../../../dist/lib/local/engine');
const { postJson, createAgent } = require('../../../dist/lib/local/http');
const { OpenWhiskNodeError } = require('../../../dist/lib/errors');
const { until } = require('../../support/red-process');

/** An activation's result, as this file's actions shape it. @param {import('../../../dist/lib/types').Activation} a @returns {Record<string, any>} */
const result = (a) => /** @type {Record<string, any>} */ (a.response.result);

const ROOT = path.resolve(__dirname, '..', '..', '..');
const NODE_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const NODE22_IMAGE = 'leon-edge/action-nodejs-v22:latest';
const ECHO_IMAGE = 'leon-edge/blackbox-echo:latest';
const OTHER_ARCH_IMAGE = 'leon-edge-test/other-arch:1';
const CRASH_IMAGE = 'leon-edge-test/crash-on-start:1';
const INSTANCE = `itest-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const FOREIGN = `${INSTANCE}-foreign`;
const OVERRIDES = { 'nodejs:20': NODE_IMAGE, 'nodejs:*': NODE22_IMAGE };
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr): /;

const docker = new Docker();
const engines = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// These tests find an action's containers by their node label, which a container that was a stem
// cell does not carry (Docker labels are immutable): stem cells are off here and have their own
// suite (test/docker/local/stem-cells.test.js).
function engine(opts = {}) {
  const e = new LocalEngine({ instanceId: INSTANCE, runtimeId: 'rt-test', imageOverrides: OVERRIDES, stemCells: 0, ...opts });
  engines.push(e);
  return e;
}

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

async function containersOf(labels, all = true) {
  return docker.listContainers({ all, filters: { label: labels } });
}
const ours = (extra = []) => containersOf([`${LABELS.instance}=${INSTANCE}`, ...extra]);
const ofNode = (nodeId) => ours([`${LABELS.node}=${nodeId}`]);

async function removeByLabel(label) {
  const list = await containersOf([label]);
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

const annotation = (a, key) => a.annotations.find((x) => x.key === key)?.value;

// ---- test fixtures: action documents as the OpenWhisk API returns them ----------------------

const CODE = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function main(p) {
  switch (p.mode) {
    case 'apperror': return { error: { message: 'bad input', field: 'x' } };
    case 'throw': throw new Error('boom');
    case 'number': return 42;
    case 'array': return [1, 2];
    case 'reject': return Promise.reject(new Error('async nope'));
    case 'sleep': return sleep(p.ms).then(() => ({ slept: p.ms }));
    case 'env': {
      const ow = {};
      for (const [k, v] of Object.entries(process.env)) if (k.startsWith('__OW_')) ow[k] = v;
      return { ow, secret: process.env.secret, flag: process.env.flag };
    }
    default:
      console.log('hello ' + p.name);
      console.error('to stderr');
      return { params: p };
  }
}`;

function actionDoc(name, over = {}) {
  const [namespace, ...rest] = name.split('/').filter(Boolean);
  const short = rest.pop();
  return {
    namespace: [namespace, ...rest].join('/'),
    name: short,
    version: '0.0.7',
    publish: false,
    exec: { kind: 'nodejs:20', code: CODE, binary: false },
    parameters: [],
    annotations: [
      { key: 'exec', value: 'nodejs:20' },
      { key: 'provide-api-key', value: false },
    ],
    limits: { timeout: 60000, memory: 128, logs: 10, concurrency: 1 },
    ...over,
  };
}

function catalogOf(docs) {
  const byName = new Map(docs.map((d) => [`/${d.namespace}/${d.name}`, d]));
  return {
    location: 'in-test catalog',
    fetched: [],
    async getAction(ref) {
      const key = `/${ref.namespace}/${ref.name}`;
      this.fetched.push(key);
      const d = byName.get(key);
      if (!d) throw new OpenWhiskNodeError('http', `The requested resource does not exist: ${key}`, { statusCode: 404, short: 'not found' });
      return structuredClone(d);
    },
    async runtimeImages() {
      return {};
    },
  };
}

/** A zip archive (stored, no compression) as base64, for binary actions. */
function zipBase64(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content, 'utf8');
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]).toString('base64');
}

/** A ustar archive of in-memory files. */
function tar(files) {
  const blocks = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    const h = Buffer.alloc(512);
    const put = (s, off, len) => h.write(s, off, len, 'ascii');
    put(name, 0, 100);
    put('0000644\0', 100, 8);
    put('0000000\0', 108, 8);
    put('0000000\0', 116, 8);
    put(data.length.toString(8).padStart(11, '0') + '\0', 124, 12);
    put('00000000000\0', 136, 12);
    put('        ', 148, 8);
    put('0', 156, 1);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** `docker load` an image whose config claims another CPU architecture than the engine's. */
async function loadOtherArchImage(engineArch) {
  const arch = engineArch === 'arm64' ? 'amd64' : 'arm64';
  const layer = tar({ 'hello.txt': 'not runnable here\n' });
  const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Cmd: ['/nothing'] },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
      history: [{ created_by: 'local-engine.test.js' }],
    }),
  );
  const configName = `${sha(config)}.json`;
  const archive = tar({
    [configName]: config,
    'layer/layer.tar': layer,
    'manifest.json': JSON.stringify([{ Config: configName, RepoTags: [OTHER_ARCH_IMAGE], Layers: ['layer/layer.tar'] }]),
  });
  const { Readable } = require('node:stream');
  const stream = await docker.loadImage(Readable.from([archive]));
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  return arch;
}

/** An image whose process exits at once with a message (a broken runtime image). */
async function buildCrashImage() {
  const context = tar({
    Dockerfile: `FROM ${NODE_IMAGE}\nCMD ["node", "-e", "console.error('cannot start: missing config'); process.exit(3)"]\n`,
  });
  const { Readable } = require('node:stream');
  const stream = await docker.buildImage(Readable.from([context]), { t: CRASH_IMAGE });
  await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err, events) => {
      const bad = (events || []).find((e) => e.error);
      if (err || bad) reject(err || new Error(bad.error));
      else resolve();
    }),
  );
}

async function imageExists(name) {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

describe('local runtime (lib/local) against the real Docker engine', function () {
  this.timeout(60000);
  let E; // the shared engine of most tests

  before(async function () {
    this.timeout(15 * 60 * 1000);
    try {
      await docker.ping();
    } catch (err) {
      const msg = `Docker is not reachable (${err.message}); the local runtime tests need a Docker engine`;
      if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      console.log(`    skipped: ${msg}`);
      this.skip();
    }
    if (!(await imageExists(NODE_IMAGE)) || !(await imageExists(NODE22_IMAGE)) || !(await imageExists(ECHO_IMAGE))) {
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
    E = engine({ capacity: 12, apiHost: 'http://openwhisk.test:3233', apiKey: 'uuid-1:secretkey' });
  });

  after(async function () {
    this.timeout(60000);
    await Promise.all(engines.map((e) => e.close().catch(() => undefined)));
    await removeByLabel(`${LABELS.instance}=${INSTANCE}`).catch(() => undefined);
    await removeByLabel(`${LABELS.instance}=${FOREIGN}`).catch(() => undefined);
    await docker
      .getImage(OTHER_ARCH_IMAGE)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getImage(CRASH_IMAGE)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getNetwork('leon-itest-net')
      .remove()
      .catch(() => undefined);
  });

  describe('plain actions', () => {
    const docs = [
      actionDoc('/guest/pkg/hello', {
        parameters: [
          { key: 'name', value: 'World' },
          { key: 'n', value: 5 },
          { key: 'keep', value: 'default' },
          { key: 'secret', value: { s: 1 }, init: true },
          { key: 'flag', value: true, init: true },
        ],
      }),
      actionDoc('/guest/withkey', { annotations: [{ key: 'exec', value: 'nodejs:20' }] }),
      actionDoc('/guest/zipped', {
        exec: {
          kind: 'nodejs:20',
          binary: true,
          main: 'hello',
          code: zipBase64({
            'package.json': JSON.stringify({ name: 'zipped', main: 'lib/index.js' }),
            'lib/index.js': "const h = require('./helper');\nexports.hello = (p) => ({ zipped: h.shout(p.word || 'hi') });\n",
            'lib/helper.js': 'exports.shout = (s) => String(s).toUpperCase() + "!";\n',
          }),
        },
      }),
      actionDoc('/guest/named', {
        exec: { kind: 'nodejs:default', code: 'function greet(p) { return { greeted: p.who, node: process.version }; }', main: 'greet' },
      }),
    ];
    const catalog = catalogOf(docs);
    let hello;

    before(async function () {
      this.timeout(60000);
      const statuses = [];
      hello = await E.provision('node-hello', docs[0], catalog, (s) => statuses.push(s.phase));
      assert.deepEqual(statuses, ['starting', 'initializing', 'ready']);
      assert.equal(hello.containers, 1);
      assert.equal(hello.kind, 'nodejs:20');
      assert.equal(hello.image, NODE_IMAGE);
      assert.equal(hello.name, '/guest/pkg/hello');
    });

    it('runs an action: activation record shaped like the platform, logs framed per activation', async () => {
      const a = await hello.invoke({ name: 'Ada' });
      assert.match(a.activationId, /^[0-9a-f]{32}$/);
      assert.equal(a.namespace, 'guest');
      assert.equal(a.name, 'hello');
      assert.equal(a.subject, 'guest');
      assert.equal(a.version, '0.0.7');
      assert.equal(a.publish, false);
      assert.equal(a.duration, a.end - a.start);
      assert.deepEqual(a.response.result, { params: { name: 'Ada', n: 5, keep: 'default' } });
      assert.equal(a.response.status, 'success');
      assert.equal(a.response.success, true);
      assert.equal(a.response.size, JSON.stringify(a.response.result).length);
      assert.deepEqual(a.logs.map((l) => l.replace(LOG_LINE, '$1: ')).sort(), ['stderr: to stderr', 'stdout: hello Ada']);
      for (const l of a.logs) assert.match(l, LOG_LINE);
      assert.equal(annotation(a, 'path'), 'guest/pkg/hello');
      assert.equal(annotation(a, 'kind'), 'nodejs:20');
      assert.equal(annotation(a, 'timeout'), false);
      assert.deepEqual(annotation(a, 'limits'), { timeout: 60000, memory: 128, logs: 10, concurrency: 1 });
      assert.equal(typeof annotation(a, 'initTime'), 'number', 'first run of a fresh container carries initTime');
      assert.equal(typeof annotation(a, 'waitTime'), 'number');
      const b = await hello.invoke({ name: 'Bob' });
      assert.equal(annotation(b, 'initTime'), undefined, 'warm run: no initTime');
      assert.equal(b.logs.length, 2);
      assert.ok(b.logs.some((l) => l.endsWith('stdout: hello Bob')));
      assert.notEqual(b.activationId, a.activationId);
    });

    it('silent and logging activations back to back: each has exactly its own lines (a silent one answers without waiting for its sentinels)', async () => {
      for (let i = 0; i < 15; i++) {
        const quiet = await hello.invoke({ mode: 'sleep', ms: 0 });
        assert.deepEqual(quiet.response.result, { slept: 0 });
        assert.deepEqual(quiet.logs, [], `silent run ${i}`);
        const loud = await hello.invoke({ name: `n${i}` });
        assert.deepEqual(loud.logs.map((l) => l.replace(LOG_LINE, '$1: ')).sort(), ['stderr: to stderr', `stdout: hello n${i}`], `logging run ${i}`);
      }
    });

    it('params: action defaults < caller params, by key presence (0, "", false, null win)', async () => {
      const a = await hello.invoke({ name: '', n: 0, keep: null, extra: false });
      assert.deepEqual(a.response.result.params, { name: '', n: 0, keep: null, extra: false });
    });

    it('/init env (init params, __OW_ context) and /run context arrive as strings; no API key when provide-api-key is false', async () => {
      const a = await hello.invoke({ mode: 'env' });
      const { ow, secret, flag } = a.response.result;
      assert.equal(secret, '{"s":1}');
      assert.equal(flag, 'true');
      assert.equal(ow.__OW_API_HOST, 'http://openwhisk.test:3233');
      assert.equal(ow.__OW_NAMESPACE, 'guest');
      assert.equal(ow.__OW_ACTION_NAME, '/guest/pkg/hello');
      assert.equal(ow.__OW_ACTION_VERSION, '0.0.7');
      assert.equal(ow.__OW_ACTIVATION_ID, a.activationId);
      assert.match(ow.__OW_TRANSACTION_ID, /^[0-9a-f]{32}$/);
      assert.match(ow.__OW_DEADLINE, /^\d{13}$/);
      assert.ok(Math.abs(Number(ow.__OW_DEADLINE) - (a.start + 60000)) < 1000);
      assert.equal(ow.__OW_API_KEY, undefined);
      assert.equal(ow.__OW_ALLOW_CONCURRENT, undefined);
    });

    it('API key given when the provide-api-key annotation is absent', async () => {
      const act = await E.provision('node-withkey', docs[1], catalog);
      try {
        const a = await act.invoke({ mode: 'env' });
        assert.equal(a.response.result.ow.__OW_API_KEY, 'uuid-1:secretkey');
      } finally {
        await act.close();
      }
    });

    it('zip action (binary, exec.binary as given) with main other than "main"', async () => {
      const act = await E.provision('node-zip', docs[2], catalog);
      try {
        const a = await act.invoke({ word: 'zip' });
        assert.deepEqual(a.response.result, { zipped: 'ZIP!' });
      } finally {
        await act.close();
      }
    });

    it('plain code with main "greet" and kind nodejs:default (nodejs:22, on Node 22)', async () => {
      const act = await E.provision('node-named', docs[3], catalog);
      try {
        assert.equal(act.kind, 'nodejs:22');
        assert.equal(act.image, NODE22_IMAGE);
        const a = await act.invoke({ who: 'you' });
        assert.equal(a.response.result.greeted, 'you');
        assert.match(a.response.result.node, /^v22\./);
        assert.equal(annotation(a, 'kind'), 'nodejs:22');
      } finally {
        await act.close();
      }
    });

    it('an array result is a success', async () => {
      const a = await hello.invoke({ mode: 'array' });
      assert.deepEqual(a.response.result, [1, 2]);
    });

    it('application error: rejects with code application_error and the activation; container kept', async () => {
      const before = (await ofNode('node-hello')).map((c) => c.Id);
      const err = await rejection(hello.invoke({ mode: 'apperror' }));
      assert.ok(err instanceof OpenWhiskNodeError);
      assert.equal(err.code, 'application_error');
      assert.equal(err.activation.response.status, 'application error');
      assert.deepEqual(err.activation.response.result, { error: { message: 'bad input', field: 'x' } });
      assert.match(err.message, /bad input/);
      assert.deepEqual(
        (await ofNode('node-hello')).map((c) => c.Id),
        before,
      );
      const ok = await hello.invoke({ name: 'again' });
      assert.equal(annotation(ok, 'initTime'), undefined, 'same warm container');
      // a rejected Promise is an application error too (the proxy answers 200 {error})
      const rej = await rejection(hello.invoke({ mode: 'reject' }));
      assert.equal(rej.code, 'application_error');
      assert.match(rej.message, /async nope/);
    });

    it('developer error (sync throw → 502, proxy stopped): container replaced, the next message succeeds', async () => {
      const before = (await ofNode('node-hello')).map((c) => c.Id);
      const err = await rejection(hello.invoke({ mode: 'throw' }));
      assert.equal(err.code, 'developer_error');
      assert.equal(err.activation.response.status, 'action developer error');
      assert.match(String(err.activation.response.result.error), /boom/);
      assert.ok(err.activation.logs.every((l) => LOG_LINE.test(l)));
      const ok = await hello.invoke({ name: 'after' });
      assert.equal(ok.response.result.params.name, 'after');
      assert.equal(typeof annotation(ok, 'initTime'), 'number', 'ran on a fresh container');
      const after = (await ofNode('node-hello')).map((c) => c.Id);
      assert.equal(after.length, 1);
      assert.ok(!after.includes(before[0]), 'the broken container was removed');
    });

    it('non-dictionary result (502 "did not return a dictionary") → developer error, next succeeds', async () => {
      const err = await rejection(hello.invoke({ mode: 'number' }));
      assert.equal(err.code, 'developer_error');
      assert.match(JSON.stringify(err.activation.response.result), /dictionary/);
      assert.equal((await hello.invoke({ name: 'x' })).response.success, true);
    });

    it('a container killed mid-run (docker kill): that message fails as the platform says, the next succeeds', async () => {
      const running = hello.invoke({ mode: 'sleep', ms: 5000 });
      await sleep(400);
      const [c] = await ofNode('node-hello');
      await docker.getContainer(c.Id).kill();
      const err = await rejection(running);
      assert.equal(err.code, 'developer_error');
      assert.deepEqual(err.activation.response.result, { error: 'The action did not produce a valid response and exited unexpectedly.' });
      const t0 = Date.now();
      const ok = await hello.invoke({ name: 'revived' });
      assert.equal(ok.response.result.params.name, 'revived');
      assert.ok(Date.now() - t0 < 15000);
      const left = await ofNode('node-hello');
      assert.equal(left.length, 1);
      assert.notEqual(left[0].Id, c.Id);
    });

    it('an idle container that dies is replaced before the next message', async () => {
      await hello.invoke({});
      const [c] = await ofNode('node-hello');
      await docker.getContainer(c.Id).kill();
      const ok = await hello.invoke({ name: 'replaced' });
      assert.equal(ok.response.result.params.name, 'replaced');
    });
  });

  describe('timeouts and init failures', () => {
    it('run over limits.timeout → code timeout, platform message, annotation timeout:true; next succeeds', async () => {
      const doc = actionDoc('/guest/slow', { limits: { timeout: 700, memory: 128, logs: 10, concurrency: 1 } });
      const act = await E.provision('node-slow', doc, catalogOf([doc]));
      try {
        const t0 = Date.now();
        const err = await rejection(act.invoke({ mode: 'sleep', ms: 5000 }));
        const took = Date.now() - t0;
        assert.ok(took >= 650 && took < 3000, `took ${took} ms`);
        assert.equal(err.code, 'timeout');
        assert.deepEqual(err.activation.response.result, { error: 'The action exceeded its time limits of 700 milliseconds.' });
        assert.equal(err.activation.response.status, 'action developer error');
        assert.equal(annotation(err.activation, 'timeout'), true);
        const ok = await act.invoke({ mode: 'sleep', ms: 10 });
        assert.deepEqual(ok.response.result, { slept: 10 });
        assert.equal(typeof annotation(ok, 'initTime'), 'number', 'fresh container after the timeout');
        assert.equal((await ofNode('node-slow')).length, 1);
      } finally {
        await act.close();
      }
    });

    it("/init failure: developer error with the action's own message and its logs; container removed", async () => {
      const doc = actionDoc('/guest/broken', {
        exec: { kind: 'nodejs:20', code: 'console.log("loading broken"); function main( { return {} }' },
      });
      const err = await rejection(E.provision('node-broken', doc, catalogOf([doc])));
      assert.ok(err instanceof OpenWhiskNodeError);
      assert.equal(err.code, 'developer_error');
      assert.match(err.message, /Action '\/guest\/broken' failed to initialize \(HTTP 502\)/);
      assert.match(err.message, /SyntaxError/);
      assert.match(err.message, /Container logs:/);
      assert.deepEqual(await ofNode('node-broken'), []);
    });

    it('/init over limits.timeout → "…during initialization." error', async () => {
      const doc = actionDoc('/guest/slowinit', {
        exec: { kind: 'nodejs:20', code: 'const end = Date.now() + 3000; while (Date.now() < end) {} function main() { return {}; }' },
        limits: { timeout: 500, memory: 128, logs: 10, concurrency: 1 },
      });
      const err = await rejection(E.provision('node-slowinit', doc, catalogOf([doc])));
      assert.equal(err.code, 'timeout');
      assert.match(err.message, /The action exceeded its time limits of 500 milliseconds during initialization\./);
      assert.deepEqual(await ofNode('node-slowinit'), []);
    });

    it('missing image → clear docker error naming the image and the override; unknown kind → config error', async () => {
      const e2 = engine({ imageOverrides: { 'nodejs:20': 'leon-edge/does-not-exist:1' } });
      const doc = actionDoc('/guest/noimage');
      const err = await rejection(e2.provision('node-noimage', doc, catalogOf([doc])));
      assert.equal(err.code, 'docker');
      assert.match(err.message, /Failed to pull container image 'leon-edge\/does-not-exist:1'/);
      assert.match(err.message, /set an image override in the runtime config for kind 'nodejs:20'/);
      const odd = actionDoc('/guest/cobol', { exec: { kind: 'cobol:85', code: 'x' } });
      const err2 = await rejection(E.provision('node-cobol', odd, catalogOf([odd])));
      assert.equal(err2.code, 'config');
      assert.match(err2.message, /Unsupported action kind 'cobol:85'/);
    });

    it("this package's image when no override; for other kinds the deployment manifest (catalog.runtimeImages), then the built-in table when the host is unreachable", async () => {
      const e = engine({ imageOverrides: {} });
      const own = actionDoc('/guest/ours');
      const ownCat = { ...catalogOf([own]), runtimeImages: async () => ({ 'nodejs:20': 'openwhisk/action-nodejs-v20:from-the-service' }) };
      const tag = { x64: 'amd64', arm64: 'arm64', arm: 'armv7' }[process.arch];
      const ours = await e.provision('node-ours', own, ownCat);
      try {
        assert.equal(ours.image, `leon-edge/action-nodejs-v20:${tag}`, "ours before the service's runtimes list");
      } finally {
        await ours.close();
      }
      // nodejs:18: a kind this package builds no image for.
      const doc = actionDoc('/guest/manifested', { exec: { kind: 'nodejs:18', code: CODE, binary: false } });
      const cat = { ...catalogOf([doc]), runtimeImages: async () => ({ 'nodejs:18': NODE_IMAGE }) };
      const act = await e.provision('node-manifest', doc, cat);
      try {
        assert.equal(act.image, NODE_IMAGE);
        assert.equal(result(await act.invoke({ name: 'm' })).params.name, 'm');
      } finally {
        await act.close();
      }
      const offline = {
        ...catalogOf([doc]),
        runtimeImages: async () => {
          throw new Error('getaddrinfo ENOTFOUND openwhisk.test');
        },
      };
      // The built-in table's image: provisioned when this engine holds it, else its pull fails (no
      // registry here); either way the engine chose that image, not the manifest's.
      const BUILT_IN = 'openwhisk/action-nodejs-v18:nightly';
      /** @type {{ a?: import('../../../dist/lib/local/engine').LocalAction, err?: OpenWhiskNodeError }} */
      const outcome = await e.provision('node-manifest', doc, offline).then(
        (a) => ({ a }),
        (err) => ({ err }),
      );
      if (outcome.a) {
        try {
          assert.equal(outcome.a.image, BUILT_IN);
        } finally {
          await outcome.a.close();
        }
      } else {
        assert.equal(outcome.err.code, 'docker');
        assert.match(outcome.err.message, /Failed to pull container image 'openwhisk\/action-nodejs-v18:nightly'.*kind 'nodejs:18'/s);
      }
    });

    it('image built for another platform → clear docker error', async () => {
      const arch = await loadOtherArchImage((await docker.version()).Arch);
      const e3 = engine({ imageOverrides: { 'nodejs:*': OTHER_ARCH_IMAGE } });
      const doc = actionDoc('/guest/otherarch');
      const err = await rejection(e3.provision('node-arch', doc, catalogOf([doc])));
      assert.equal(err.code, 'docker');
      assert.match(err.message, new RegExp(`built for linux/${arch} but the Docker engine runs linux/`));
      assert.deepEqual(await ofNode('node-arch'), []);
    });

    it('a container that exits before listening fails fast with its exit code and logs', async () => {
      await buildCrashImage();
      const doc = actionDoc('/guest/crashing', { exec: { kind: 'blackbox', image: CRASH_IMAGE, binary: false } });
      const t0 = Date.now();
      const err = await rejection(E.provision('node-crash', doc, catalogOf([doc])));
      assert.ok(Date.now() - t0 < 10000, 'well before the 30 s start timeout');
      assert.equal(err.code, 'developer_error');
      assert.match(err.message, /exited before it listened on port 8080 \(exit code 3\)/);
      assert.match(err.message, /stderr: cannot start: missing config/);
      assert.deepEqual(await ofNode('node-crash'), []);
    });

    it('Docker unreachable → code unreachable, "Is dockerd running?"', async () => {
      const e4 = engine({ docker: 'unix:///nonexistent/docker.sock' });
      const err = await rejection(e4.start());
      assert.equal(err.code, 'unreachable');
      assert.match(err.message, /Cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker\.sock.*Is dockerd running\?/s);
      const doc = actionDoc('/guest/x');
      assert.equal((await rejection(e4.provision('n', doc, catalogOf([doc])))).code, 'unreachable');
    });
  });

  describe('sequences and blackbox', () => {
    const a = actionDoc('/guest/seq-a', {
      parameters: [{ key: 'n', value: 100 }],
      exec: { kind: 'nodejs:20', code: "function main(p) { console.log('a'); return { n: p.n + 1, trail: ['a'], fail: p.fail }; }" },
    });
    const b = actionDoc('/guest/tools/seq-b', {
      parameters: [{ key: 'inc', value: 10 }],
      exec: { kind: 'nodejs:20', code: "function main(p) { if (p.fail) return { error: 'b failed' }; return { n: p.n + p.inc, trail: [...p.trail, 'b'] }; }" },
    });
    const c = actionDoc('/guest/seq-c', {
      exec: { kind: 'nodejs:20', code: "function main(p) { return { n: p.n * 2, trail: [...p.trail, 'c'], sawInc: 'inc' in p }; }" },
    });
    const seq = actionDoc('/guest/myseq', {
      exec: { kind: 'sequence', components: ['/guest/seq-a', '/guest/tools/seq-b', '/guest/seq-c'] },
      parameters: [],
    });
    const missing = actionDoc('/guest/badseq', { exec: { kind: 'sequence', components: ['/guest/seq-a', '/guest/nope'] } });
    const echo = actionDoc('/guest/echo', { exec: { kind: 'blackbox', image: ECHO_IMAGE, binary: false } });

    it('runs components in order: payload to the first, each result to the next, component params merged', async () => {
      const catalog = catalogOf([a, b, c, seq]);
      const statuses = [];
      const s = await E.provision('node-seq', seq, catalog, (st) => statuses.push(`${st.phase}:${st.action}`));
      try {
        assert.deepEqual(catalog.fetched.sort(), ['/guest/seq-a', '/guest/seq-c', '/guest/tools/seq-b']);
        assert.ok(statuses.includes('fetching:/guest/tools/seq-b'));
        assert.equal(s.kind, 'sequence');
        assert.equal(s.containers, 3);
        assert.equal((await ofNode('node-seq')).length, 3);
        const act = await s.invoke({ n: 1 });
        assert.deepEqual(act.response.result, { n: 24, trail: ['a', 'b', 'c'], sawInc: false });
        assert.equal(act.logs.length, 3);
        for (const id of act.logs) assert.match(id, /^[0-9a-f]{32}$/);
        assert.equal(annotation(act, 'kind'), 'sequence');
        assert.equal(annotation(act, 'path'), 'guest/myseq');
        assert.equal(annotation(act, 'topmost'), true);
        assert.equal(act.name, 'myseq');

        const err = await rejection(s.invoke({ n: 1, fail: true }));
        assert.equal(err.code, 'application_error');
        assert.equal(err.activation.logs.length, 2, 'stopped at the failing component');
        assert.deepEqual(err.activation.response.result, { error: 'b failed' });
        assert.equal(annotation(err.activation, 'kind'), 'sequence');
      } finally {
        await s.close();
      }
      assert.deepEqual(await ofNode('node-seq'), []);
    });

    it('a sequence with a missing component fails to provision and leaves no container', async () => {
      const err = await rejection(E.provision('node-badseq', missing, catalogOf([a, missing])));
      assert.equal(err.code, 'http');
      assert.match(err.message, /Sequence '\/guest\/badseq', component '\/guest\/nope'/);
      await sleep(200);
      assert.deepEqual(await ofNode('node-badseq'), []);
    });

    it('blackbox action: exec.image, no code', async () => {
      const act = await E.provision('node-echo', echo, catalogOf([echo]));
      try {
        assert.equal(act.image, ECHO_IMAGE);
        const r = await act.invoke({ hello: 'box' });
        assert.deepEqual(r.response.result.echo, { hello: 'box' });
        assert.equal(r.response.result.env.__OW_ACTION_NAME, '/guest/echo');
        assert.equal(annotation(r, 'kind'), 'blackbox');
        assert.ok(r.logs.some((l) => /blackbox-echo: activation/.test(l)));
      } finally {
        await act.close();
      }
    });
  });

  describe('pool, queue, capacity', () => {
    it('more concurrent messages than containers: queued FIFO, pool grows to capacity and no further', async () => {
      const e = engine({ capacity: 2, queueLimit: 50 });
      const doc = actionDoc('/guest/busy');
      const act = await e.provision('node-busy', doc, catalogOf([doc]));
      let max = 0;
      const poll = setInterval(async () => {
        max = Math.max(max, (await ofNode('node-busy')).length);
      }, 50);
      try {
        const t0 = Date.now();
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => act.invoke({ mode: 'sleep', ms: 300, i })));
        const took = Date.now() - t0;
        assert.equal(results.length, 8);
        assert.ok(results.every((r) => r.response.success));
        assert.ok(took >= 4 * 300 - 50, `8 × 300 ms on 2 containers takes ≥ 4 rounds (took ${took})`);
        assert.ok(
          results.some((r) => annotation(r, 'waitTime') >= 250),
          'some waited in the queue',
        );
        assert.equal(act.containers, 2);
        assert.ok(max <= 2, `never more than capacity (saw ${max})`);
        assert.equal(act.queued, 0);
      } finally {
        clearInterval(poll);
        await act.close();
      }
    });

    it('surplus containers are removed after idleTimeout; the first one stays warm', async () => {
      const e = engine({ capacity: 3, idleTimeout: 600 });
      const doc = actionDoc('/guest/bursty');
      const act = await e.provision('node-bursty', doc, catalogOf([doc]));
      try {
        // How many containers the action had at the most (on a loaded machine the burst may be over
        // before the last one is up, and an idle one may already be going).
        let peak = act.containers;
        const watch = setInterval(() => (peak = Math.max(peak, act.containers)), 20);
        await Promise.all([0, 1, 2, 3, 4].map(() => act.invoke({ mode: 'sleep', ms: 300 })));
        await until('the third container', () => peak === 3, 10000).finally(() => clearInterval(watch));
        // Removal takes a maintenance tick and a `docker rm` after the idle timeout: waited for, bounded.
        await until('the surplus containers to go', async () => act.containers === 1 && (await ofNode('node-bursty')).length === 1, 10000);
        assert.equal((await act.invoke({ name: 'still' })).response.success, true);
      } finally {
        await act.close();
      }
    });

    it('queue overflow → OpenWhiskNodeError overload naming the action and the limit', async () => {
      const e = engine({ capacity: 1, queueLimit: 2 });
      const doc = actionDoc('/guest/tight');
      const act = await e.provision('node-tight', doc, catalogOf([doc]));
      try {
        const p = [0, 1, 2].map(() => act.invoke({ mode: 'sleep', ms: 300 }));
        const err = await rejection(act.invoke({ mode: 'sleep', ms: 1 }));
        assert.equal(err.code, 'overload');
        assert.match(err.message, /Action '\/guest\/tight' is overloaded: 2 messages already wait.*queue limit 2/s);
        const done = await Promise.all(p);
        assert.equal(done.length, 3);
      } finally {
        await act.close();
      }
    });

    it('capacity is shared: a second action takes an idle surplus container of the first', async () => {
      const e = engine({ capacity: 2 });
      const d1 = actionDoc('/guest/first');
      const d2 = actionDoc('/guest/second');
      const cat = catalogOf([d1, d2]);
      const one = await e.provision('node-first', d1, cat);
      await Promise.all([0, 1, 2].map(() => one.invoke({ mode: 'sleep', ms: 1000 }))); // long enough for the second container to start on a loaded machine
      assert.equal(one.containers, 2);
      const two = await e.provision('node-second', d2, cat);
      assert.equal(two.containers, 1);
      assert.equal(one.containers, 1);
      await sleep(100);
      assert.equal((await ours([`${LABELS.runtime}=rt-test`, `${LABELS.node}=node-first`])).length, 1);
      await Promise.all([one.close(), two.close()]);
      // An action's last container gives way when idle (the next message of that action cold-starts);
      // while busy it does not, and a newcomer is told at once.
      const e2 = engine({ capacity: 1 });
      const x = await e2.provision('node-x', d1, cat);
      const y = await e2.provision('node-y', d2, cat);
      assert.equal(x.containers, 0);
      assert.equal(y.containers, 1);
      const busy = y.invoke({ mode: 'sleep', ms: 3000 });
      await sleep(200);
      const err = await rejection(e2.provision('node-z', actionDoc('/guest/third'), catalogOf([actionDoc('/guest/third')])));
      assert.equal(err.reason, 'capacity');
      assert.match(err.message, /All 1 containers of the local runtime are busy/);
      await busy;
      assert.equal(result(await x.invoke({ name: 'back' })).params.name, 'back', 'the evicted action cold-starts');
      assert.equal(x.containers, 1);
      assert.equal(y.containers, 0);
      await Promise.all([x.close(), y.close()]);
    });

    it('limits.concurrency > 1 (nodejs): one container runs several activations at once, logs []', async () => {
      const doc = actionDoc('/guest/conc', { limits: { timeout: 60000, memory: 128, logs: 10, concurrency: 4 } });
      const act = await E.provision('node-conc', doc, catalogOf([doc]));
      try {
        const t0 = Date.now();
        const rs = await Promise.all([0, 1, 2, 3].map(() => act.invoke({ mode: 'sleep', ms: 500 })));
        assert.ok(Date.now() - t0 < 1900, 'ran in parallel in one container (sequential: ≥ 2000 ms)');
        assert.equal(act.containers, 1);
        assert.ok(rs.every((r) => Array.isArray(r.logs) && r.logs.length === 0));
        const env = await act.invoke({ mode: 'env' });
        assert.equal(env.response.result.ow.__OW_ALLOW_CONCURRENT, 'true');
        // one activation breaks the shared container: the others in flight fail as a crash, not as "closed"
        const [slow, thrown] = await Promise.all([
          rejection(act.invoke({ mode: 'sleep', ms: 2000 })),
          (async () => {
            await sleep(200);
            return rejection(act.invoke({ mode: 'throw' }));
          })(),
        ]);
        assert.equal(thrown.code, 'developer_error');
        assert.equal(slow.code, 'developer_error');
        assert.deepEqual(slow.activation.response.result, { error: 'The action did not produce a valid response and exited unexpectedly.' });
        assert.equal((await act.invoke({ name: 'after' })).response.success, true);
      } finally {
        await act.close();
      }
    });
  });

  describe('lifecycle', () => {
    it('close rejects in-flight and queued messages quickly and removes exactly its containers', async () => {
      const e = engine({ capacity: 1 });
      const doc = actionDoc('/guest/closing');
      const other = await E.provision('node-bystander', doc, catalogOf([doc]));
      const act = await e.provision('node-closing', doc, catalogOf([doc]));
      const inflight = rejection(act.invoke({ mode: 'sleep', ms: 10000 }));
      const queued = rejection(act.invoke({ mode: 'sleep', ms: 1 }));
      await sleep(200);
      const t0 = Date.now();
      await act.close();
      const took = Date.now() - t0;
      assert.ok(took < 3000, `close took ${took} ms`);
      for (const p of [inflight, queued]) {
        const err = await p;
        assert.equal(err.code, 'config');
        assert.equal(err.short, 'closed');
      }
      assert.deepEqual(await ofNode('node-closing'), []);
      assert.equal((await ofNode('node-bystander')).length, 1, 'other actions keep theirs');
      assert.equal((await rejection(act.invoke({}))).short, 'closed');
      await other.close();
    });

    it('20 provision/close cycles leave no container behind', async function () {
      this.timeout(180000);
      const e = engine({ capacity: 2 });
      const doc = actionDoc('/guest/cycle');
      const cat = catalogOf([doc]);
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) {
        const act = await e.provision(`node-cycle`, doc, cat);
        assert.equal(result(await act.invoke({ name: String(i) })).params.name, String(i));
        await act.close();
      }
      assert.deepEqual(await ofNode('node-cycle'), []);
      console.log(`      (20 cycles in ${Date.now() - t0} ms)`);
      // engine.close() also removes whatever it still holds, including a container mid-provisioning
      const pending = e.provision('node-cycle', doc, cat).catch((err) => err);
      await sleep(50);
      await e.close();
      const res = await pending;
      assert.ok(res instanceof OpenWhiskNodeError, 'provisioning cut short by close');
      await sleep(100);
      assert.deepEqual(await ofNode('node-cycle'), []);
    });

    it('start() sweeps leftovers of this instance only, never other instances or live engines', async () => {
      const mk = (labels) => docker.createContainer({ Image: NODE_IMAGE, Labels: { [LABELS.managed]: 'true', ...labels } });
      const leftover = await mk({ [LABELS.instance]: INSTANCE, [LABELS.engine]: 'crashed-engine', [LABELS.node]: 'sweep-left' });
      const foreign = await mk({ [LABELS.instance]: FOREIGN, [LABELS.engine]: 'crashed-engine', [LABELS.node]: 'sweep-foreign' });
      const doc = actionDoc('/guest/sibling');
      const sibling = engine();
      const live = await sibling.provision('sweep-sibling', doc, catalogOf([doc]));
      const fresh = engine();
      await fresh.start();
      await fresh.start(); // idempotent
      const exists = async (c) => (await containersOf([`${LABELS.managed}=true`])).some((x) => x.Id === c.id);
      assert.equal(await exists(leftover), false, 'leftover of a crashed run removed');
      assert.equal(await exists(foreign), true, 'other instance untouched');
      assert.equal((await ofNode('sweep-sibling')).length, 1, 'live engine in this process untouched');
      assert.equal((await live.invoke({ name: 's' })).response.success, true);
      await foreign.remove({ force: true });
      await live.close();
    });

    it('network mode: joins a Docker network and talks to the container IP', async () => {
      await docker.createNetwork({ Name: 'leon-itest-net', Labels: { [LABELS.instance]: INSTANCE } }).catch(() => undefined);
      const e = engine({ network: 'leon-itest-net' });
      const doc = actionDoc('/guest/netted');
      const act = await e.provision('node-net', doc, catalogOf([doc]));
      try {
        const [c] = await ofNode('node-net');
        assert.deepEqual(Object.keys(c.NetworkSettings.Networks), ['leon-itest-net']);
        assert.deepEqual(
          c.Ports.filter((p) => p.PublicPort),
          [],
          'nothing published',
        );
        assert.equal(result(await act.invoke({ name: 'net' })).params.name, 'net');
        // a killed container on a network (no TCP reset) still fails fast
        const running = act.invoke({ mode: 'sleep', ms: 10000 });
        await sleep(300);
        await docker.getContainer(c.Id).kill();
        const t0 = Date.now();
        const err = await rejection(running);
        assert.ok(Date.now() - t0 < 3000);
        assert.equal(err.code, 'developer_error');
      } finally {
        await e.close();
      }
      const bad = engine({ network: 'leon-no-such-net' });
      const err = await rejection(bad.provision('node-nonet', doc, catalogOf([doc])));
      assert.equal(err.code, 'config');
      assert.match(err.message, /Docker network 'leon-no-such-net' does not exist/);
    });

    it('container settings: labels, name, memory, hardening, 127.0.0.1 port, Tty off', async () => {
      const doc = actionDoc('/guest/pkg/inspected', { limits: { timeout: 1000, memory: 192, logs: 10, concurrency: 1 } });
      const act = await E.provision('node.inspect', doc, catalogOf([doc]));
      try {
        const [c] = await ofNode('node.inspect');
        const info = await docker.getContainer(c.Id).inspect();
        assert.deepEqual(Object.fromEntries(Object.entries(info.Config.Labels).filter(([k]) => k.startsWith('io.leon-edge.') && k !== LABELS.engine)), {
          [LABELS.managed]: 'true',
          [LABELS.instance]: INSTANCE,
          [LABELS.runtime]: 'rt-test',
          [LABELS.node]: 'node.inspect',
          [LABELS.action]: '/guest/pkg/inspected',
          [LABELS.version]: '0.0.7',
        });
        assert.match(info.Name, /^\/leon_node\.inspect_guest_pkg_inspected_\d+$/);
        assert.equal(info.Config.Tty, false);
        assert.equal(info.HostConfig.Memory, 192 * 1024 * 1024);
        assert.equal(info.HostConfig.MemorySwap, 192 * 1024 * 1024);
        assert.deepEqual([...info.HostConfig.CapDrop].sort(), ['NET_ADMIN', 'NET_RAW']);
        assert.equal(info.HostConfig.PidsLimit, 1024);
        assert.deepEqual(info.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 1024 }]);
        assert.equal(info.HostConfig.PortBindings['8080/tcp'][0].HostIp, '127.0.0.1');
        assert.equal(info.NetworkSettings.Ports['8080/tcp'][0].HostIp, '127.0.0.1');
        assert.ok(info.Config.Env.includes('__OW_API_HOST=http://openwhisk.test:3233'));
        assert.ok(!info.Config.Env.some((v) => v.startsWith('__OW_ALLOW_CONCURRENT')));
      } finally {
        await act.close();
      }
    });
  });

  describe('latency', () => {
    it('adds < 0.5 ms (p50) over a direct POST /run to the same container', async function () {
      this.timeout(120000);
      const doc = actionDoc('/guest/fast', { exec: { kind: 'nodejs:20', code: 'function main(p) { console.log("x"); return { i: p.i }; }' } });
      const act = await E.provision('node-fast', doc, catalogOf([doc]));
      const agent = createAgent();
      try {
        const [c] = await ofNode('node-fast');
        const port = c.Ports.find((p) => p.PrivatePort === 8080).PublicPort;
        const q50 = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
        let best = Infinity;
        let report = '';
        for (let round = 0; round < 3 && best >= 0.5; round++) {
          const direct = [];
          const ours = [];
          for (let i = 0; i < 1500; i++) {
            let t = process.hrtime.bigint();
            const body = JSON.stringify({
              value: { i },
              namespace: 'guest',
              action_name: '/guest/fast',
              action_version: '0.0.7',
              activation_id: crypto.randomUUID().replace(/-/g, ''),
              transaction_id: 't',
              deadline: String(Date.now() + 60000),
            });
            JSON.parse((await postJson(agent, '127.0.0.1', port, '/run', body, 60000)).body);
            direct.push(Number(process.hrtime.bigint() - t) / 1e6);
            t = process.hrtime.bigint();
            await act.invoke({ i });
            ours.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
          const added = q50(ours) - q50(direct);
          best = Math.min(best, added);
          report = `direct p50 ${q50(direct).toFixed(3)} ms, engine p50 ${q50(ours).toFixed(3)} ms, added ${added.toFixed(3)} ms`;
        }
        console.log(`      (${report})`);
        assert.ok(best < 0.5, report);
      } finally {
        agent.destroy();
        await act.close();
      }
    });
  });
});
