'use strict';
// The gateway's OpenWhisk API judged by real clients: the `openwhisk` npm client running the read and
// invoke scenarios of apache/openwhisk-client-js's own integration tests (test/integration/*.test.js),
// restated for the entities a wskdeploy manifest gives, and the REST calls of the `wsk` CLI's read
// commands. One real Node-RED process (its CLI), real containers; every scenario runs on both ways in:
// Node-RED's path (/openwhisk/<apiPath>) and the runtime's own port.
//
// Three local runtimes serve the same manifest: `ow` (the scenarios), `cap` (capacity 4 for seven
// distinct actions) and `one` (capacity 1, no stem cell: a busy action leaves no room for another).
const assert = require('node:assert/strict');
const { randomBytes, randomUUID } = require('node:crypto');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const openwhisk = require('openwhisk');
const { createRed, until, freePort } = require('../../support/red-process');
const { requireDocker, requireImage, docker, containersWith } = require('../../support/docker');
/** What the openwhisk client rejects with: the HTTP status and OpenWhisk's error body. @typedef {Error & { statusCode: number, error: { error: string, code?: string } }} ClientError */

const ROOT = path.resolve(__dirname, '..', '..', '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const NS = 'guest';
const KEY = `${randomUUID()}:${randomBytes(32).toString('hex')}`;
const ID = /^[0-9a-f]{32}$/;

const MANIFEST = `
packages:
  facedemo:
    inputs:
      site: plant-1
    actions:
      hello:
        function: hello.js
        runtime: nodejs:20
        inputs:
          name: World
      echo:
        function: echo.js
        runtime: nodejs:20
    triggers:
      reading:
        inputs:
          unit: C
    rules:
      greet-on-reading:
        trigger: reading
        action: hello
  default:
    actions:
      shout:
        function: shout.js
        runtime: nodejs:20
      step-parse:
        function: step-parse.js
        runtime: nodejs:20
      step-check:
        function: step-check.js
        runtime: nodejs:20
      step-format:
        function: step-format.js
        runtime: nodejs:20
      sleep:
        function: sleep.js
        runtime: nodejs:20
        limits:
          timeout: 20000
    sequences:
      pipeline:
        actions: step-parse, step-check, step-format
`;

const FILES = {
  'manifest.yaml': MANIFEST,
  'hello.js': fs.readFileSync(path.join(ROOT, 'examples', 'hello.js'), 'utf8'),
  'echo.js': 'function main(p) { console.log("echo " + JSON.stringify(p)); return p; }\n',
  'shout.js': 'function main(p) { return { text: String(p.text || "").toUpperCase() }; }\n',
  'step-parse.js': 'function main(p) { return { words: String(p.text || "").split(/\\s+/).filter(Boolean), fail: p.fail === true }; }\n',
  'step-check.js':
    'function main(p) { if (p.fail) return { error: "step-check refused the words (fail: true)" }; return { words: p.words, count: p.words.length }; }\n',
  'step-format.js': 'function main(p) { return { summary: p.count + " words: " + p.words.join(" ") }; }\n',
  'sleep.js': 'function main(p) { const ms = Number(p.ms) || 0; return new Promise((r) => setTimeout(() => r({ slept: ms }), ms)); }\n',
};

/** The catalog's actions as `${namespace}/${name}` of their list entries. */
const ACTIONS = [
  'guest/facedemo/echo',
  'guest/facedemo/hello',
  'guest/pipeline',
  'guest/shout',
  'guest/sleep',
  'guest/step-check',
  'guest/step-format',
  'guest/step-parse',
];
/** Seven distinct actions (no sequence) for the capacity-4 runtime, and a parameter each. */
/** @type {Array<[string, Record<string, unknown>]>} */
const SEVEN = [
  ['facedemo/hello', { name: 'Ada' }],
  ['facedemo/echo', { n: 1 }],
  ['shout', { text: 'hi' }],
  ['step-parse', { text: 'a b' }],
  ['step-check', { words: ['a'] }],
  ['step-format', { count: 1, words: ['a'] }],
  ['sleep', { ms: 1 }],
];

describe('openwhisk-client-js scenarios on the gateway API (real Node-RED, real Docker, both ways in)', function () {
  this.timeout(120000);
  let red;
  let inst;
  /** Own ports per runtime id. */
  const ports = {};
  const RUNTIMES = { ow: { capacity: 10 }, cap: { capacity: 4 }, one: { capacity: 1, stemCells: 0, queue: 5 } };

  const flows = () => [
    { id: 'tab', type: 'tab', label: 'clients' },
    ...Object.entries(RUNTIMES).map(([id, o]) => ({
      // A node id equal to another property's value ('ow') would read as a config node reference to itself.
      id: `rt-${id}`,
      type: 'openwhisk-runtime',
      mode: 'local',
      source: 'manifest',
      manifest: 'manifest.yaml',
      images: `nodejs:*=${IMAGE}`,
      serveApi: true,
      apiPath: id,
      apiNamespace: NS,
      apiListen: String(ports[id]),
      credentials: { apiKey: KEY },
      queue: 10,
      ...o,
    })),
  ];

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    for (const id of Object.keys(RUNTIMES)) ports[id] = await freePort();
    red = await createRed({ version: 5, files: FILES });
    await red.start();
    await red.deploy(flows());
    try {
      for (const way of WAYS) {
        for (const id of Object.keys(RUNTIMES)) {
          const c = way.client(id);
          await until(
            `the API of runtime '${id}' on ${way.name}`,
            () =>
              c.namespaces.list().then(
                (l) => l.length === 1,
                () => false,
              ),
            30000,
          );
        }
      }
    } catch (e) {
      throw new Error(`${e.message}\n--- Node-RED output ---\n${red.out}`, { cause: e });
    }
    inst = fs.readFileSync(path.join(red.userDir, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
  });

  after(async () => {
    if (red) await red.destroy();
    if (inst)
      for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
  });

  afterEach(function () {
    if (this.currentTest.state === 'failed' && red) console.log(red.out.split('\n').slice(-30).join('\n'));
  });

  /** The two ways in: base URL (the client's apihost) per runtime. */
  const WAYS = [
    { name: "Node-RED's path", base: (id) => `${red.url}/openwhisk/${id}` },
    { name: "the runtime's own port", base: (id) => `http://127.0.0.1:${ports[id]}` },
  ].map((w) => ({ ...w, client: (id) => openwhisk({ apihost: w.base(id), api_key: KEY }) }));

  for (const way of WAYS) {
    describe(`on ${way.name}`, () => {
      const ow = () => way.client('ow');
      /** A REST call as `wsk` makes it (Basic auth, JSON), on runtime `ow`. */
      const rest = async (method, p, body) => {
        const res = await fetch(`${way.base('ow')}/api/v1${p}`, {
          method,
          headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(30000),
        });
        return { status: res.status, body: await res.json() };
      };

      it('actions.list (skip, limit, count), get by every listed name, list → get → invoke round trip', async () => {
        const c = ow();
        const list = await c.actions.list();
        assert.deepEqual(list.map((a) => `${a.namespace}/${a.name}`).sort(), ACTIONS);
        // Upstream: every action is in the namespace (a packaged one in "ns/pkg").
        for (const a of list) assert.ok(a.namespace === NS || a.namespace.startsWith(`${NS}/`), JSON.stringify(a));
        assert.deepEqual(await c.actions.list({ namespace: NS }), list);
        assert.deepEqual(await c.actions.list({ count: true }), { actions: ACTIONS.length });
        assert.deepEqual(await c.actions.list({ skip: 2, limit: 3 }), list.slice(2, 5));
        for (const a of list) {
          // Fully qualified, as the client forms it from the entry.
          const doc = await c.actions.get({ name: `/${a.namespace}/${a.name}` });
          assert.equal(doc.name, a.name);
          assert.equal(doc.namespace, a.namespace);
          assert.equal(doc.version, a.version);
          if (a.name !== 'pipeline') {
            assert.equal(doc.exec.kind, 'nodejs:20');
            // Upstream's "get an action with and without its code" (code: false, which the client's types do not list).
            assert.equal(typeof doc.exec.code, 'string');
            assert.equal(
              /** @type {{ code?: string }} */ ((await c.actions.get(/** @type {any} */ ({ name: `/${a.namespace}/${a.name}`, code: false }))).exec).code,
              undefined,
            );
          } else {
            assert.equal(doc.exec.kind, 'sequence');
          }
        }
        // A packaged entry: `${namespace}/${name}` ("guest/facedemo/hello") is read by the client as ns + package/action.
        const hello = list.find((a) => a.name === 'hello');
        assert.equal(hello.namespace, `${NS}/facedemo`);
        const byName = `${hello.namespace}/${hello.name}`;
        assert.equal((await c.actions.get({ name: byName })).namespace, hello.namespace);
        const r = await c.actions.invoke({ name: byName, params: { name: 'Round Trip' }, blocking: true, result: true });
        assert.deepEqual(r, { payload: 'Hello, Round Trip!' });
        // Upstream: an action that does not exist is a 404.
        await assert.rejects(c.actions.get({ name: 'glorfindel' }), (/** @type {ClientError} */ e) => e.statusCode === 404);
        await assert.rejects(c.actions.invoke({ name: 'facedemo/glorfindel', blocking: true }), (/** @type {ClientError} */ e) => e.statusCode === 404);
      });

      it('invokes blocking, blocking with result, and non-blocking; the activation, its logs and result by the returned id', async () => {
        const c = ow();
        // Upstream's "invoke action with fully-qualified name".
        const a = await c.actions.invoke({ name: `/${NS}/facedemo/echo`, params: { n: 1 }, blocking: true });
        assert.match(a.activationId, ID);
        assert.equal(a.response.success, true);
        assert.deepEqual(a.response.result, { n: 1, site: 'plant-1' });
        assert.ok(
          a.logs.some((l) => l.includes('echo {"site":"plant-1","n":1}') || l.includes('echo {"n":1,"site":"plant-1"}')),
          JSON.stringify(a.logs),
        );
        assert.deepEqual(await c.actions.invoke({ name: 'shout', params: { text: 'ada' }, blocking: true, result: true }), { text: 'ADA' });

        const { activationId } = await c.actions.invoke({ name: 'facedemo/echo', params: { n: 2 } });
        assert.match(activationId, ID);
        const rec = await until(
          'the non-blocking activation',
          () =>
            c.activations.get({ name: activationId }).catch((e) => {
              if (e.statusCode !== 404) throw e;
              return undefined;
            }),
          30000,
        );
        assert.equal(rec.activationId, activationId);
        assert.equal(rec.name, 'echo');
        assert.deepEqual(rec.response.result, { n: 2, site: 'plant-1' });
        assert.deepEqual(await c.activations.result({ name: activationId }), rec.response);
        const { logs } = await c.activations.logs({ name: activationId });
        assert.deepEqual(logs, rec.logs);
        assert.ok(
          logs.some((l) => l.includes('echo')),
          JSON.stringify(logs),
        );
        // The other spellings of the id the client takes.
        assert.equal((await c.activations.get(activationId)).activationId, activationId);
        // The client takes these spellings too; its types list only { name }.
        assert.equal((await c.activations.get(/** @type {any} */ ({ activationId }))).activationId, activationId);
      });

      it('activations.list: name (package path vs simple name), since/upto, docs, count; each listed one can be read', async () => {
        const c = ow();
        const since = Date.now();
        const echo = await c.actions.invoke({ name: 'facedemo/echo', params: { n: 3 }, blocking: true });
        const shout = await c.actions.invoke({ name: 'shout', params: { text: 'x' }, blocking: true });
        const ids = (l) => l.map((x) => x.activationId);
        // Newest first.
        assert.deepEqual(ids(await c.activations.list({ since })), [shout.activationId, echo.activationId]);
        // The name filter is the path below the namespace: the packaged action by "pkg/name" only.
        assert.deepEqual(ids(await c.activations.list({ name: 'facedemo/echo', since })), [echo.activationId]);
        assert.deepEqual(ids(await c.activations.list({ name: 'echo', since })), []);
        assert.deepEqual(ids(await c.activations.list({ name: 'shout', since })), [shout.activationId]);
        assert.deepEqual(ids(await c.activations.list({ since, upto: echo.start })), [echo.activationId]);
        assert.deepEqual(
          ids(await c.activations.list({ upto: since - 1, limit: 200 })).filter((i) => i === echo.activationId || i === shout.activationId),
          [],
        );
        assert.deepEqual(await c.activations.list({ since, count: true }), { activations: 2 });
        // Summaries by default, whole records with docs.
        // A summary as the REST API lists it (statusCode; the client's types leave it out).
        const [summary] = /** @type {Array<import('openwhisk').ActivationDesc & { statusCode?: number, logs?: string[] }>} */ (
          await c.activations.list({ name: 'shout', since })
        );
        assert.equal(summary.statusCode, 0);
        assert.equal(summary.logs, undefined);
        const [doc] = /** @type {import('openwhisk').Activation<import('openwhisk').Dict>[]} */ (
          await c.activations.list({ name: 'shout', since, docs: true })
        );
        assert.deepEqual(doc.response, shout.response);
        assert.deepEqual(await c.activations.list({ skip: 1, limit: 1, since }), (await c.activations.list({ since })).slice(1, 2));

        // Upstream's "list all activations" and "retrieve individual activations / logs / result".
        const all = await c.activations.list();
        assert.ok(all.length >= 2 && all.length <= 30, String(all.length));
        for (const r of all) assert.equal(r.namespace, NS, JSON.stringify(r));
        // The id as `activation`, as upstream's tests spell it (the client's types list { name } only).
        const got = await Promise.all(all.map((r) => c.activations.get(/** @type {any} */ ({ activation: r.activationId }))));
        assert.deepEqual(
          got.map((g) => g.activationId),
          ids(all),
        );
        const logs = await Promise.all(all.map((r) => c.activations.logs(/** @type {any} */ ({ activation: r.activationId }))));
        assert.ok(logs.every((l) => Array.isArray(l.logs)));
        const results = await Promise.all(all.map((r) => c.activations.result(/** @type {any} */ ({ activation: r.activationId }))));
        assert.ok(results.every((x) => typeof x.success === 'boolean' && typeof x.status === 'string'));
      });

      it('namespaces.list and namespaces.get (actions, packages, triggers, rules)', async () => {
        const c = ow();
        const names = await c.namespaces.list();
        assert.deepEqual(names, [NS]);
        for (const ns of names) {
          const all = await c.namespaces.get({ namespace: ns });
          assert.deepEqual(all.actions.map((a) => `${a.namespace}/${a.name}`).sort(), ACTIONS);
          assert.deepEqual(
            all.packages.map((p) => [p.namespace, p.name]),
            [[NS, 'facedemo']],
          );
          assert.deepEqual(
            all.triggers.map((t) => [t.namespace, t.name]),
            [[NS, 'reading']],
          );
          assert.deepEqual(
            all.rules.map((r) => [r.namespace, r.name]),
            [[NS, 'greet-on-reading']],
          );
        }
      });

      it('packages, triggers and rules: list and get, 404 for one that does not exist', async () => {
        const c = ow();
        for (const list of [await c.packages.list(), await c.packages.list({ namespace: NS })]) {
          assert.deepEqual(
            list.map((p) => [p.namespace, p.name, p.binding]),
            [[NS, 'facedemo', false]],
          );
        }
        const pkg = await c.packages.get({ name: 'facedemo' });
        assert.equal(pkg.namespace, NS);
        assert.deepEqual(pkg.parameters, [{ key: 'site', value: 'plant-1' }]);
        assert.deepEqual(pkg.actions.map((a) => a.name).sort(), ['echo', 'hello']);
        await assert.rejects(c.packages.get({ name: 'glorfindel' }), (/** @type {ClientError} */ e) => e.statusCode === 404);

        for (const list of [await c.triggers.list(), await c.triggers.list({ namespace: NS })]) {
          assert.deepEqual(
            list.map((t) => [t.namespace, t.name]),
            [[NS, 'reading']],
          );
        }
        const t = await c.triggers.get({ name: 'reading' });
        assert.equal(t.namespace, NS);
        assert.deepEqual(t.parameters, [{ key: 'unit', value: 'C' }]);
        assert.deepEqual(t.limits, {});
        assert.deepEqual(t.rules[`${NS}/greet-on-reading`], { action: { path: `${NS}/facedemo`, name: 'hello' }, status: 'active' });
        await assert.rejects(c.triggers.get({ name: 'glorfindel' }), (/** @type {ClientError} */ e) => e.statusCode === 404);

        for (const list of [await c.rules.list(), await c.rules.list({ namespace: NS })]) {
          assert.deepEqual(
            list.map((r) => [r.namespace, r.name]),
            [[NS, 'greet-on-reading']],
          );
        }
        const r = await c.rules.get({ name: 'greet-on-reading' });
        assert.equal(r.namespace, NS);
        assert.deepEqual(r.trigger, { path: NS, name: 'reading' });
        assert.deepEqual(r.action, { path: `${NS}/facedemo`, name: 'hello' });
        assert.equal(r.status, 'active');
        await assert.rejects(c.rules.get({ name: 'glorfindel' }), (/** @type {ClientError} */ e) => e.statusCode === 404);
      });

      it("a sequence: its logs hold its components' ids, each component's record has the sequence as its cause", async () => {
        const c = ow();
        const seq = await c.actions.invoke({ name: 'pipeline', params: { text: 'edge of the cloud' }, blocking: true });
        assert.deepEqual(seq.response.result, { summary: '4 words: edge of the cloud' });
        assert.equal(seq.logs.length, 3, JSON.stringify(seq.logs));
        const parts = [];
        for (const id of seq.logs) {
          assert.match(id, ID);
          parts.push(/** @type {import('openwhisk').Activation<import('openwhisk').Dict> & { cause?: string }} */ (await c.activations.get({ name: id })));
        }
        assert.deepEqual(
          parts.map((p) => p.name),
          ['step-parse', 'step-check', 'step-format'],
        );
        for (const p of parts) {
          assert.equal(p.cause, seq.activationId, JSON.stringify(p));
          assert.equal(p.response.success, true);
        }
        // The sequence itself, by the id the client got.
        assert.deepEqual((await c.activations.get({ name: seq.activationId })).logs, seq.logs);
      });

      it('a sequence whose component fails answers 502; the failing record is found by its id in the logs', async () => {
        const c = ow();
        const failed = await c.actions.invoke({ name: 'pipeline', params: { text: 'x y', fail: true }, blocking: true }).then(
          (a) => assert.fail(`expected a 502, got ${JSON.stringify(a)}`),
          (e) => e,
        );
        assert.equal(failed.statusCode, 502, failed.message);
        const seq = failed.error;
        assert.match(seq.activationId, ID);
        assert.equal(seq.response.success, false);
        assert.equal(seq.response.status, 'application error');
        // step-format never ran.
        assert.equal(seq.logs.length, 2, JSON.stringify(seq.logs));
        const check = /** @type {import('openwhisk').Activation<import('openwhisk').Dict> & { cause?: string }} */ (
          await c.activations.get({ name: seq.logs[1] })
        );
        assert.equal(check.name, 'step-check');
        assert.equal(check.cause, seq.activationId);
        assert.equal(check.response.status, 'application error');
        assert.deepEqual(check.response.result, { error: 'step-check refused the words (fail: true)' });
        assert.equal((await c.activations.get({ name: seq.logs[0] })).response.success, true);
        assert.equal((await c.activations.get({ name: seq.activationId })).response.success, false);
      });

      it("the client's writes are refused with 405 {error, code}, and the client surfaces it", async () => {
        const c = ow();
        const writes = {
          'actions.create': () => c.actions.create({ name: 'random_action_test', action: 'function main() { return {}; }' }),
          'actions.update': () => c.actions.update({ name: 'facedemo/hello', action: 'function main() { return {}; }' }),
          'actions.delete': () => c.actions.delete({ name: 'facedemo/hello' }),
          'triggers.invoke': () => c.triggers.invoke({ name: 'reading', params: { value: 1 } }),
          'packages.create': () => c.packages.create({ name: 'random_package_test' }),
          'triggers.create': () => c.triggers.create({ name: 'random_trigger_test' }),
          'rules.create': () => c.rules.create({ name: 'random_rule_test', action: 'facedemo/hello', trigger: 'reading' }),
        };
        for (const [what, call] of Object.entries(writes)) {
          const e = await call().then(
            (x) => assert.fail(`${what} answered ${JSON.stringify(x)}`),
            (x) => x,
          );
          assert.equal(e.statusCode, 405, `${what}: ${e.message}`);
          assert.match(e.error.error, /^HTTP method not allowed, supported methods: GET/, what);
          assert.match(e.error.code, ID, what);
          assert.match(e.message, /Returned HTTP 405 \(Method Not Allowed\) --> "HTTP method not allowed/, what);
        }
        // Nothing was written.
        assert.deepEqual((await c.actions.list()).map((a) => `${a.namespace}/${a.name}`).sort(), ACTIONS);
      });

      it("upstream's scenarios for what this gateway does not implement: the client gets the API's error, never a hang or a 500", async () => {
        const c = ow();
        const status = (p) =>
          p.then(
            (x) => assert.fail(`answered ${JSON.stringify(x)}`),
            (e) => e.statusCode,
          );
        // feeds.test.js: a feed is an action of /whisk.system, another namespace (a flow fires the triggers); its
        // spelling feedName, which the client takes and its types do not list.
        assert.equal(
          await status(
            c.feeds.create(/** @type {any} */ ({ feedName: '/whisk.system/alarms/alarm', trigger: `/${NS}/reading`, params: { cron: '* * * * *' } })),
          ),
          403,
        );
        // actions.test.js "invoke action with fully-qualified name" runs /whisk.system/utils/sort: another namespace too.
        assert.equal(await status(c.actions.invoke({ name: '/whisk.system/utils/sort', blocking: true })), 403);
        // routes.test.js: the API gateway (web/whisk.system/apimgmt/…) is not served.
        assert.equal(await status(c.routes.list({ basepath: '/testing' })), 404);
        // Web actions and the namespace's limits (wsk namespace get of newer CLIs).
        // Web actions: without a key 401 as every call of this API, with one 404.
        assert.equal((await fetch(`${way.base('ow')}/api/v1/web/${NS}/facedemo/hello.json`)).status, 401);
        assert.equal((await rest('GET', `/web/${NS}/facedemo/hello.json`)).status, 404);
        assert.equal((await rest('GET', `/namespaces/${NS}/limits`)).status, 404);
      });

      it("docs/gateway-api.md's JavaScript example runs as written with node (apihost and key substituted)", async () => {
        const section = fs.readFileSync(path.join(ROOT, 'docs', 'gateway-api.md'), 'utf8');
        const m = /```js\n([\s\S]*?)```/.exec(section);
        assert.ok(m, 'no ```js block in docs/gateway-api.md');
        assert.ok(m[1].includes("require('openwhisk')"), m[1]);
        const code = m[1].replace('http://gateway:1880/openwhisk/local', way.base('ow')).replace('<uuid>:<key>', KEY);
        assert.notEqual(code, m[1], 'the placeholders are in the example');
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-readme-'));
        try {
          const file = path.join(dir, 'example.cjs');
          fs.writeFileSync(file, code);
          const out = await new Promise((resolve, reject) => {
            execFile(
              process.execPath,
              [file],
              { cwd: dir, timeout: 30000, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } },
              (err, stdout, stderr) => (err ? reject(new Error(`node example.cjs: ${err.message}\n${stderr}`)) : resolve(stdout)),
            );
          });
          assert.match(out, /Hello, Ada!/);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });

      it('the wsk examples and read commands, as the REST calls wsk makes', async () => {
        // wsk action invoke facedemo/hello -p name Ada --result
        const inv = await rest('POST', '/namespaces/_/actions/facedemo/hello?blocking=true&result=true', { name: 'Ada' });
        assert.deepEqual(inv, { status: 200, body: { payload: 'Hello, Ada!' } });
        // wsk activation list
        const acts = await rest('GET', '/namespaces/_/activations?limit=30&skip=0');
        assert.equal(acts.status, 200);
        assert.equal(acts.body[0].name, 'hello');
        const id = acts.body[0].activationId;
        // wsk activation get / logs / result <id>
        assert.equal((await rest('GET', `/namespaces/_/activations/${id}`)).body.activationId, id);
        assert.deepEqual((await rest('GET', `/namespaces/_/activations/${id}/logs`)).body, { logs: [] });
        const res = (await rest('GET', `/namespaces/_/activations/${id}/result`)).body;
        assert.deepEqual([res.status, res.success, res.result], ['success', true, { payload: 'Hello, Ada!' }]);
        // wsk activation get --last; wsk activation list --full
        const last = await rest('GET', '/namespaces/_/activations?limit=1&skip=0');
        assert.deepEqual(
          last.body.map((a) => a.activationId),
          [id],
        );
        const full = await rest('GET', '/namespaces/_/activations?limit=30&skip=0&docs=true');
        assert.deepEqual(full.body[0].response.result, { payload: 'Hello, Ada!' });
        // wsk action list, wsk action get facedemo/hello (with and without --summary's code)
        const al = await rest('GET', '/namespaces/_/actions?limit=30&skip=0');
        assert.deepEqual(al.body.map((a) => `${a.namespace}/${a.name}`).sort(), ACTIONS);
        const ag = await rest('GET', '/namespaces/_/actions/facedemo/hello?code=true');
        assert.equal(ag.status, 200);
        assert.equal(ag.body.namespace, `${NS}/facedemo`);
        assert.match(ag.body.exec.code, /Hello, /);
        assert.equal((await rest('GET', '/namespaces/_/actions/facedemo/hello?code=false')).body.exec.code, undefined);
        // wsk namespace list
        assert.deepEqual((await rest('GET', '/namespaces')).body, [NS]);
        // wsk namespace get / wsk list: the four collections with limit 0 (all), then each rule for its status.
        const wskList = {};
        for (const coll of ['actions', 'packages', 'triggers', 'rules']) {
          const r = await rest('GET', `/namespaces/_/${coll}?limit=0&skip=0`);
          assert.equal(r.status, 200, coll);
          wskList[coll] = r.body.map((x) => `${x.namespace}/${x.name}`).sort();
        }
        assert.deepEqual(wskList, { actions: ACTIONS, packages: [`${NS}/facedemo`], triggers: [`${NS}/reading`], rules: [`${NS}/greet-on-reading`] });
        assert.equal((await rest('GET', '/namespaces/_/rules/greet-on-reading')).body.status, 'active');
        // wsk package list; wsk package get facedemo
        assert.deepEqual(
          (await rest('GET', '/namespaces/_/packages?limit=30&skip=0')).body.map((p) => p.name),
          ['facedemo'],
        );
        assert.deepEqual((await rest('GET', '/namespaces/_/packages/facedemo')).body.actions.map((a) => a.name).sort(), ['echo', 'hello']);
        // wsk action invoke without --result or --blocking: 202 and an id.
        const nb = await rest('POST', '/namespaces/_/actions/facedemo/hello', { name: 'Bo' });
        assert.equal(nb.status, 202);
        assert.match(nb.body.activationId, ID);
      });

      it('capacity 4, seven distinct actions one after the other: each answers 200 (an idle container gives way), none 500', async () => {
        const c = way.client('cap');
        for (const [name, params] of SEVEN) {
          const a = await c.actions.invoke({ name, params, blocking: true }).catch((e) => assert.fail(`${name}: ${e.statusCode} ${e.message}`));
          assert.equal(a.response.success, true, `${name}: ${JSON.stringify(a.response)}`);
        }
        const mine = await containersWith(`io.leon-edge.instance=${inst}`, 'io.leon-edge.runtime=rt-cap');
        assert.ok(mine.filter((x) => x.State === 'running').length <= 4, `at most 4 containers: ${mine.length}`);
      });

      it('capacity 1 with one action busy: an activation answered 202 waits for the container (OpenWhisk queues it); a blocking one answers 429, not 500', async () => {
        const c = way.client('one');
        // Actions this way has not used on runtime `one` yet (the other way runs the same test on the same runtime).
        const [[queued, queuedParams, queuedResult], [refused, refusedParams]] =
          way === WAYS[0]
            ? [
                ['shout', { text: 'hi' }, { text: 'HI' }],
                ['facedemo/hello', { name: 'Ada' }],
              ]
            : [
                ['step-parse', { text: 'a b' }, { words: ['a', 'b'], fail: false }],
                ['facedemo/echo', { n: 1 }],
              ];
        const { activationId: sleepId } = await c.actions.invoke({ name: 'sleep', params: { ms: 5000 } });
        // The sleep holds the only container: the runtime's metrics count it busy.
        const busyNow = async () => {
          const res = await fetch(`${way.base('one')}/metrics`, {
            headers: { authorization: `Basic ${Buffer.from(KEY).toString('base64')}` },
            signal: AbortSignal.timeout(10000),
          });
          return /^openwhisk_gateway_containers\{state="busy"\} 1$/m.test(await res.text());
        };
        await until('the sleep running in the only container', busyNow, 30000);
        // Non-blocking: 202 at once, and the activation runs once the sleep's container is idle and gives way.
        const { activationId: queuedId } = await c.actions.invoke({ name: queued, params: queuedParams });
        assert.match(queuedId, ID);
        // Blocking: nothing can give way now, so OpenWhisk's throttle answer at once (clients retry a 429).
        const t0 = Date.now();
        const busy = await c.actions.invoke({ name: refused, params: refusedParams, blocking: true, result: true }).then(
          (r) => assert.fail(`${refused} ran while the only container was busy: ${JSON.stringify(r)}`),
          (e) => e,
        );
        assert.equal(busy.statusCode, 429, busy.message);
        assert.ok(Date.now() - t0 < 3000, 'answered at once, not after waiting');
        assert.match(busy.error.error, /^Too many concurrent requests in flight: All 1 containers of the local runtime are busy/);
        assert.match(busy.error.code, ID);
        const slept = await until('the sleep to finish', () => c.activations.get({ name: sleepId }).catch(() => undefined), 30000);
        assert.deepEqual([slept.response.success, slept.response.result], [true, { slept: 5000 }]);
        const ran = await until(`${queued} to run after it`, () => c.activations.get({ name: queuedId }).catch(() => undefined), 30000);
        assert.deepEqual([ran.response.success, ran.response.result], [true, queuedResult], JSON.stringify(ran.response));
        assert.ok(ran.start >= slept.end, 'it ran in the container the sleep left');
      });
    });
  }
});
