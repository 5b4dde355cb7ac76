'use strict';
/*
 * Integration test of the package's own action runtime images (runtimes/): the OpenWhisk
 * action interface of leon-edge/action-nodejs-v20 and leon-edge/blackbox-echo, checked against
 * the behaviour of the official Node.js proxy (docs: openwhisk-interfaces.md §1).
 *
 *   npx mocha test/docker/runtimes/nodejs-proxy.test.js
 *
 * Needs Docker. Without it the suite is skipped, or fails when CI=true. Missing images are
 * built with `bash runtimes/build.sh`.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { createRequire } = require('node:module');
const Docker = require('dockerode');
const { request: httpRequest } = require('../../support/http');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const NODE_IMAGE = 'leon-edge/action-nodejs-v20:latest';
const ECHO_IMAGE = 'leon-edge/blackbox-echo:latest';
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const LABEL = 'leon-edge.test';

const docker = new Docker();
const containers = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST (or any method) with a JSON body, no keep-alive; resolves {status, body}. */
const request = (baseUrl, urlPath, body, method = 'POST', headers = {}) => httpRequest(`${baseUrl}${urlPath}`, body, method, headers);

/** Splits docker's multiplexed log stream (8-byte frame headers) into stdout and stderr. */
function demuxLogs(buffer) {
  const out = { stdout: '', stderr: '' };
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    const text = buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    if (stream === 1) {
      out.stdout += text;
    } else if (stream === 2) {
      out.stderr += text;
    }
    offset += 8 + size;
  }
  return out;
}

const countSentinels = (text) => text.split('\n').filter((line) => line === SENTINEL).length;

/** Starts an image with 8080 published on 127.0.0.1 (random port) and waits for the proxy. */
async function startProxy(image, env = []) {
  const container = await docker.createContainer({
    Image: image,
    Env: env,
    Labels: { [LABEL]: 'runtime-proxy' },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const port = info.NetworkSettings.Ports['8080/tcp'][0].HostPort;
  const url = `http://127.0.0.1:${port}`;
  // Any HTTP answer means the proxy listens (GET / is a harmless 500 "Bad request.").
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      await request(url, '/', undefined, 'GET');
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`${image} did not answer on ${url}: ${err.message}`, { cause: err });
      }
      await sleep(50);
    }
  }
  const logs = async () => demuxLogs(await container.logs({ stdout: true, stderr: true, follow: false }));
  return {
    container,
    url,
    init: (value) => request(url, '/init', { value }),
    run: (value, extra = {}) => request(url, '/run', { ...extra, value }),
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

async function removeContainers() {
  const all = containers.splice(0);
  await Promise.all(all.map((c) => c.remove({ force: true }).catch(() => {})));
}

async function imageExists(name) {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

function zipBase64(files) {
  // adm-zip is the runtime's own dependency (runtimes/nodejs/node_modules, made by build.sh).
  const AdmZip = createRequire(path.join(ROOT, 'runtimes', 'nodejs', 'package.json'))('adm-zip');
  const zip = new AdmZip();
  for (const [name, content] of Object.entries(files)) {
    zip.addFile(name, Buffer.from(content, 'utf8'));
  }
  return zip.toBuffer().toString('base64');
}

// The action used by most tests: its behaviour is chosen by params.mode.
const PLAIN_CODE = `
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function main(params) {
  switch (params.mode) {
    case 'reject': return Promise.reject(new TypeError('nope'));
    case 'number': return 42;
    case 'undefined': return undefined;
    case 'array': return [1, 2, 3];
    case 'bigint': return { big: 10n };
    case 'throw': throw new Error('boom');
    case 'child': require('node:child_process').execFileSync(process.execPath, ['-e', '']); return { child: true };
    case 'slow': return sleep(params.ms).then(() => ({ slept: params.ms }));
    case 'env': {
      const ow = {};
      for (const [k, v] of Object.entries(process.env)) if (k.startsWith('__OW_')) ow[k] = v;
      const { GREETING, NUM, OBJ, NIL } = process.env;
      return { GREETING, NUM, OBJ, NIL, ow };
    }
    default:
      console.log('hello from the action');
      console.error('warning from the action');
      return { echo: params };
  }
}`;

describe('runtime images: OpenWhisk action interface (runtimes/)', function () {
  this.timeout(30000);
  let pending = {};

  before(async function () {
    this.timeout(10 * 60 * 1000);
    try {
      await docker.ping();
    } catch (err) {
      const msg = `Docker is not reachable (${err.message}); the runtime image tests need a Docker engine`;
      if (process.env.CI === 'true') {
        throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      }
      console.log(`    skipped: ${msg}`);
      this.skip();
    }
    const hasZipLib = fs.existsSync(path.join(ROOT, 'runtimes', 'nodejs', 'node_modules', 'adm-zip'));
    if (!hasZipLib || !(await imageExists(NODE_IMAGE)) || !(await imageExists(ECHO_IMAGE))) {
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
    // Start every container at once; each group awaits its own.
    const starts = {
      plain: startProxy(NODE_IMAGE),
      named: startProxy(NODE_IMAGE),
      exported: startProxy(NODE_IMAGE),
      zipFile: startProxy(NODE_IMAGE),
      zipPackage: startProxy(NODE_IMAGE),
      failing: startProxy(NODE_IMAGE),
      concurrent: startProxy(NODE_IMAGE, ['__OW_ALLOW_CONCURRENT=true']),
      echo: startProxy(ECHO_IMAGE),
      warm: startProxy(NODE_IMAGE),
      warmEcho: startProxy(ECHO_IMAGE),
      browser: startProxy(NODE_IMAGE),
    };
    await Promise.allSettled(Object.values(starts));
    pending = starts;
  });

  after(removeContainers);

  describe('plain code, one container through its whole life', function () {
    let proxy;
    let processedRuns = 0;
    before(async () => {
      proxy = await pending.plain;
    });

    it("keeps an idle connection open past Node's default 5 s (a stem cell waits on the one its warm-up opened)", async () => {
      const { port } = new URL(proxy.url);
      const socket = require('node:net').connect(Number(port), '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d) => (text += d));
      const ask = async (n) => {
        socket.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
        const until = Date.now() + 3000;
        while ((text.match(/HTTP\/1\.1 /g) || []).length < n && Date.now() < until) await sleep(20);
      };
      try {
        await ask(1);
        assert.match(text, /keep-alive: timeout=600/i);
        await sleep(5500);
        assert.equal(socket.destroyed || socket.readyState !== 'open', false, 'the connection is still open after 5.5 s idle');
        await ask(2);
        assert.equal((text.match(/HTTP\/1\.1 /g) || []).length, 2, 'the second request was answered on the same connection');
      } finally {
        socket.destroy();
      }
    });

    it('answers /run before /init with 403 "System not initialized."', async () => {
      const res = await proxy.run({});
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: 'System not initialized.' });
    });

    it('answers bad JSON with 500 {"error":"Bad request."} and unknown routes likewise', async () => {
      const bad = await request(proxy.url, '/init', '{"value": ');
      assert.equal(bad.status, 500);
      assert.deepEqual(bad.body, { error: 'Bad request.' });
      const unknown = await request(proxy.url, '/status', {});
      assert.equal(unknown.status, 500);
    });

    it('answers /init without code with 403 "Missing main/no code to execute."', async () => {
      const res = await proxy.init({ name: 'plain', main: 'main' });
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: 'Missing main/no code to execute.' });
    });

    it('initializes plain code: 200 {"OK":true}, and writes no sentinel', async () => {
      const res = await proxy.init({
        name: 'plain',
        main: 'main',
        binary: false,
        code: PLAIN_CODE,
        env: { GREETING: 'hello', NUM: 5, OBJ: { a: 1 }, NIL: null },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { OK: true });
      const logs = await proxy.logsWhen((l) => l.stderr.includes('System not initialized.'));
      assert.match(logs.stderr, /System not initialized\./);
      assert.equal(countSentinels(logs.stdout) + countSentinels(logs.stderr), 0);
    });

    it('refuses a second /init with 403', async () => {
      const res = await proxy.init({ name: 'plain', main: 'main', code: PLAIN_CODE });
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: 'Cannot initialize the action more than once.' });
    });

    it('runs the action: 200 + result, logs end with the sentinel on both streams', async () => {
      const res = await proxy.run({ name: 'World' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { echo: { name: 'World' } });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.match(logs.stdout, new RegExp(`hello from the action\\n${SENTINEL}\\n`));
      assert.match(logs.stderr, new RegExp(`warning from the action\\n${SENTINEL}\\n`));
      assert.equal(countSentinels(logs.stdout), 1);
      assert.equal(countSentinels(logs.stderr), 1);
      // Counted for the node (X-Leon-Log-Bytes): what was written since the last sentinels, here also
      // the refusals above.
      assert.ok(Number(res.headers['x-leon-log-bytes']) > Buffer.byteLength('hello from the action\nwarning from the action\n'));
    });

    it('says in X-Leon-Log-Bytes what a run wrote: 0 for a silent one, the bytes of its lines otherwise', async () => {
      const quiet = await proxy.run({ mode: 'undefined' });
      processedRuns++;
      assert.equal(quiet.status, 200);
      assert.equal(quiet.headers['x-leon-log-bytes'], '0');
      const loud = await proxy.run({ name: 'again' });
      processedRuns++;
      assert.equal(loud.headers['x-leon-log-bytes'], String(Buffer.byteLength('hello from the action\nwarning from the action\n')));
    });

    it('asked with X-Leon-Sentinels: if-written, writes no sentinels for a successful run that wrote nothing (its reply says none), and writes them for one that wrote', async () => {
      const asked = { 'X-Leon-Sentinels': 'if-written' };
      const quiet = await request(proxy.url, '/run', { value: { mode: 'undefined' } }, 'POST', asked);
      assert.equal(quiet.status, 200);
      assert.equal(quiet.headers['x-leon-log-bytes'], '0');
      assert.equal(quiet.headers['x-leon-sentinels'], 'none');
      const loud = await request(proxy.url, '/run', { value: { name: 'asked' } }, 'POST', asked);
      processedRuns++;
      assert.equal(loud.status, 200);
      assert.equal(loud.headers['x-leon-sentinels'], undefined);
      // The quiet run's sentinels would come before the loud one's: one pair per run that wrote.
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= processedRuns && countSentinels(l.stderr) >= processedRuns);
      assert.equal(countSentinels(logs.stdout), processedRuns);
      assert.equal(countSentinels(logs.stderr), processedRuns);
    });

    it('sets /init env values into process.env (stringified)', async () => {
      const res = await proxy.run({ mode: 'env' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.equal(res.body.GREETING, 'hello');
      assert.equal(res.body.NUM, '5');
      assert.equal(res.body.OBJ, '{"a":1}');
      assert.equal(res.body.NIL, '');
    });

    it('sets every string key of /run except value as __OW_<KEY>', async () => {
      const context = {
        namespace: 'guest',
        action_name: '/guest/pkg/plain',
        action_version: '0.0.1',
        activation_id: '0123456789abcdef0123456789abcdef',
        transaction_id: 'tid-1',
        deadline: '1893456000000',
        api_key: 'uuid:key',
        api_host: 'https://whisk.example',
        retries: 3,
      };
      const res = await proxy.run({ mode: 'env' }, context);
      processedRuns++;
      assert.equal(res.status, 200);
      const ow = res.body.ow;
      assert.equal(ow.__OW_NAMESPACE, 'guest');
      assert.equal(ow.__OW_ACTION_NAME, '/guest/pkg/plain');
      assert.equal(ow.__OW_ACTION_VERSION, '0.0.1');
      assert.equal(ow.__OW_ACTIVATION_ID, '0123456789abcdef0123456789abcdef');
      assert.equal(ow.__OW_TRANSACTION_ID, 'tid-1');
      assert.equal(ow.__OW_DEADLINE, '1893456000000');
      assert.equal(ow.__OW_API_KEY, 'uuid:key');
      assert.equal(ow.__OW_API_HOST, 'https://whisk.example');
      assert.equal(ow.__OW_RETRIES, undefined, 'non-string keys are not exported');
      assert.equal(ow.__OW_VALUE, undefined);
    });

    it('treats value null as {} and accepts an array; other types get 403', async () => {
      const nullValue = await proxy.run(null);
      processedRuns++;
      assert.equal(nullValue.status, 200);
      assert.deepEqual(nullValue.body, { echo: {} });
      const array = await proxy.run([1, 'two']);
      processedRuns++;
      assert.equal(array.status, 200);
      assert.deepEqual(array.body, { echo: [1, 'two'] });
      const text = await proxy.run('text');
      assert.equal(text.status, 403);
      assert.match(text.body.error, /the argument must be a dictionary but has type 'string'\.$/);
    });

    it('answers undefined with 200 {} and an array result with 200 [...]', async () => {
      const undef = await proxy.run({ mode: 'undefined' });
      processedRuns++;
      assert.equal(undef.status, 200);
      assert.deepEqual(undef.body, {});
      const array = await proxy.run({ mode: 'array' });
      processedRuns++;
      assert.equal(array.status, 200);
      assert.deepEqual(array.body, [1, 2, 3]);
    });

    it('turns a rejected promise into 200 {"error": {name, message, stack}}', async () => {
      const res = await proxy.run({ mode: 'reject' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.equal(res.body.error.name, 'TypeError');
      assert.equal(res.body.error.message, 'nope');
      assert.match(res.body.error.stack, /^TypeError: nope\n/);
    });

    it('answers a non-dictionary result with 502 and stays usable', async () => {
      const res = await proxy.run({ mode: 'number' });
      processedRuns++;
      assert.equal(res.status, 502);
      assert.deepEqual(res.body, { error: 'The action did not return a dictionary.' });
      const next = await proxy.run({ again: true });
      processedRuns++;
      assert.equal(next.status, 200);
    });

    it("answers a result JSON cannot carry with 502 naming it; its log line is the run's (counted, before its sentinels), also when asked if-written", async () => {
      const res = await request(proxy.url, '/run', { value: { mode: 'bigint' } }, 'POST', { 'X-Leon-Sentinels': 'if-written' });
      processedRuns++;
      assert.equal(res.status, 502);
      assert.match(res.body.error, /not serializable to JSON/);
      assert.ok(Number(res.headers['x-leon-log-bytes']) > 0, "the error line is counted as the run's output");
      assert.equal(res.headers['x-leon-sentinels'], undefined, 'a run that wrote gets its sentinels');
      const logs = await proxy.logsWhen((l) => countSentinels(l.stderr) >= processedRuns);
      const lines = logs.stderr.split('\n');
      const cannot = lines.reduce((at, l, i) => (l.includes('Cannot serialize the action result') ? i : at), -1);
      const lastSentinel = lines.lastIndexOf(SENTINEL);
      assert.ok(cannot >= 0 && cannot < lastSentinel, "the error line comes before the run's sentinel");
      const next = await proxy.run({ again: true });
      processedRuns++;
      assert.equal(next.status, 200);
    });

    it('refuses an overlapping /run with 403 "status is running"', async () => {
      const slow = proxy.run({ mode: 'slow', ms: 800 });
      await sleep(200);
      const overlap = await proxy.run({});
      assert.equal(overlap.status, 403);
      assert.deepEqual(overlap.body, { error: 'System not ready, status is running.' });
      const done = await slow;
      processedRuns++;
      assert.equal(done.status, 200);
      assert.deepEqual(done.body, { slept: 800 });
    });

    it('wrote exactly one sentinel per processed /run on each stream', async () => {
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= processedRuns && countSentinels(l.stderr) >= processedRuns);
      assert.equal(countSentinels(logs.stdout), processedRuns);
      assert.equal(countSentinels(logs.stderr), processedRuns);
    });

    it('stops counting output once the action started a child process (it may write to the descriptors directly)', async () => {
      const child = await proxy.run({ mode: 'child' });
      processedRuns++;
      assert.deepEqual(child.body, { child: true });
      assert.equal(child.headers['x-leon-log-bytes'], undefined);
      const later = await proxy.run({ mode: 'undefined' });
      processedRuns++;
      assert.equal(later.status, 200);
      assert.equal(later.headers['x-leon-log-bytes'], undefined, 'not after it either');
    });

    it('answers a synchronous throw with 502, then refuses everything with 403 "stopped"', async () => {
      const res = await proxy.run({ mode: 'throw' });
      processedRuns++;
      assert.equal(res.status, 502);
      assert.deepEqual(res.body, { error: 'An error has occurred: Error: boom' });
      const after = await proxy.run({});
      assert.equal(after.status, 403);
      assert.deepEqual(after.body, { error: 'System not ready, status is stopped.' });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stderr) >= processedRuns && countSentinels(l.stdout) >= processedRuns);
      assert.equal(countSentinels(logs.stdout), processedRuns);
      assert.equal(countSentinels(logs.stderr), processedRuns);
    });
  });

  describe('entry points other than main', function () {
    it('honours a main name other than "main" (top-level function)', async () => {
      const proxy = await pending.named;
      const init = await proxy.init({ name: 'greet', main: 'greet', code: 'function greet(p) { return { hi: p.name }; }' });
      assert.equal(init.status, 200);
      const res = await proxy.run({ name: 'Ada' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { hi: 'Ada' });
    });

    it('finds exports.<main> / module.exports.<main>', async () => {
      const proxy = await pending.exported;
      const code = 'exports.hello = (p) => ({ hello: p.name });\nmodule.exports.other = () => ({});';
      const init = await proxy.init({ name: 'hello', main: 'hello', code });
      assert.equal(init.status, 200);
      const res = await proxy.run({ name: 'Bob' });
      assert.deepEqual(res, { status: 200, body: { hello: 'Bob' } });
    });
  });

  describe('zip actions (binary)', function () {
    it('runs main "file.fn" from a zip', async () => {
      const proxy = await pending.zipFile;
      const code = zipBase64({
        'index.js': 'exports.main = () => ({ from: "index" });\n',
        'helper.js': 'const util = require("./lib/util");\n' + 'exports.fn = (p) => ({ from: "helper.fn", x: util.x, cwd: process.cwd(), p });\n',
        'lib/util.js': 'exports.x = 42;\n',
      });
      const init = await proxy.init({ name: 'zipped', main: 'helper.fn', binary: true, code });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const res = await proxy.run({ a: 1 });
      assert.equal(res.status, 200);
      assert.equal(res.body.from, 'helper.fn');
      assert.equal(res.body.x, 42);
      assert.deepEqual(res.body.p, { a: 1 });
      assert.match(res.body.cwd, /^\/tmp\//);
    });

    it('runs main "fn" from the package.json "main" module', async () => {
      const proxy = await pending.zipPackage;
      const code = zipBase64({
        'package.json': JSON.stringify({ name: 'pkg-action', main: 'src/app.js' }),
        'src/app.js': 'module.exports.run = (p) => ({ app: true, n: p.n * 2 });\n',
      });
      const init = await proxy.init({ name: 'pkg', main: 'run', binary: true, code });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const res = await proxy.run({ n: 21 });
      assert.deepEqual(res, { status: 200, body: { app: true, n: 42 } });
    });
  });

  describe('failed /init', function () {
    it('answers 502, writes the sentinels, then refuses /run and /init with 403', async () => {
      const proxy = await pending.failing;
      const init = await proxy.init({ name: 'broken', main: 'main', code: 'function main( {' });
      assert.equal(init.status, 502);
      assert.match(init.body.error, /^Initialization has failed due to: SyntaxError/);
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.equal(countSentinels(logs.stdout), 1);
      assert.equal(countSentinels(logs.stderr), 1);
      const run = await proxy.run({});
      assert.equal(run.status, 403);
      assert.deepEqual(run.body, { error: 'System not initialized.' });
      const again = await proxy.init({ name: 'fixed', main: 'main', code: 'function main() { return {}; }' });
      assert.equal(again.status, 403);
      assert.deepEqual(again.body, { error: 'System not ready, status is stopped.' });
    });
  });

  describe('__OW_ALLOW_CONCURRENT=true', function () {
    it('accepts overlapping /run requests', async () => {
      const proxy = await pending.concurrent;
      const code = 'const main = (p) => new Promise((r) => setTimeout(() => r({ id: p.id }), 600));';
      assert.equal((await proxy.init({ name: 'conc', main: 'main', code })).status, 200);
      const first = proxy.run({ id: 1 });
      await sleep(100);
      const [a, b] = await Promise.all([first, proxy.run({ id: 2 })]);
      assert.equal(a.headers['x-leon-log-bytes'], undefined, 'no count when activations overlap');
      assert.deepEqual(a, { status: 200, body: { id: 1 } });
      assert.deepEqual(b, { status: 200, body: { id: 2 } });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 2 && countSentinels(l.stderr) >= 2);
      assert.equal(countSentinels(logs.stdout), 2);
      assert.equal(countSentinels(logs.stderr), 2);
    });
  });

  // What the engine sends a stem cell while it waits for its action (lib/local/http.ts warmUpCall).
  describe('POST /warm-up (stem cells)', function () {
    const WARM_UP = { value: {}, namespace: '', action_name: '', action_version: '', activation_id: '', transaction_id: '', deadline: '0' };
    /** @param {object} [body] */
    const warmUp = (proxy, body = WARM_UP) => request(proxy.url, '/warm-up', body);

    it('answers 200 {} before /init, writes nothing to the logs, leaves no environment, and the /init that follows is the first', async () => {
      const proxy = await pending.warm;
      for (let i = 0; i < 20; i++) {
        const res = await warmUp(proxy);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, {});
      }
      // A bad body gets an answer but no log line either (nothing before the first activation may reach its logs).
      assert.equal((await warmUp(proxy, { value: 7 })).status, 403);
      await sleep(300);
      assert.deepEqual(await proxy.logs(), { stdout: '', stderr: '' });
      const code = "const seen = Object.keys(process.env).filter((k) => k.startsWith('__OW_')); function main() { return { seen }; }";
      assert.deepEqual(await proxy.init({ name: 'warmed', main: 'main', code }), { status: 200, body: { OK: true } });
      const run = await proxy.run({}, { activation_id: 'a1' });
      assert.deepEqual(run.body, { seen: [] }, 'no __OW_ variable was set before the /init');
      assert.equal(run.headers['x-leon-log-bytes'], '0');
      const refused = await warmUp(proxy);
      assert.equal(refused.status, 403);
      assert.match(refused.body.error, /only for a runtime without an action/);
      assert.equal((await proxy.run({}, { activation_id: 'a2' })).status, 200);
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 2 && countSentinels(l.stderr) >= 2);
      assert.equal(logs.stdout, `${SENTINEL}\n${SENTINEL}\n`, "only the two activations' sentinels");
      assert.equal(logs.stderr, `${SENTINEL}\n${SENTINEL}\n`);
    });

    it("does not load an image's default action: the /init after it still loads it", async () => {
      const proxy = await pending.warmEcho;
      const res = await warmUp(proxy);
      assert.deepEqual(res, { status: 200, body: {} });
      await sleep(200);
      assert.deepEqual(await proxy.logs(), { stdout: '', stderr: '' });
      assert.deepEqual(await proxy.init({ name: 'echo', main: 'main' }), { status: 200, body: { OK: true } });
      assert.deepEqual((await proxy.run({ a: 1 })).body.echo, { a: 1 });
    });
  });

  // A web page in the user's browser can post to a container's loopback port without a preflight.
  describe('requests a web browser made', function () {
    it("are refused on every route, load no code and log nothing; the engine's /init that follows is the first", async () => {
      const proxy = await pending.browser;
      const hostile = { value: { name: 'page', main: 'main', code: 'function main() { return { owned: true }; }' } };
      const attempts = [
        // A form post or a no-cors fetch from another site: text/plain, with Origin and Sec-Fetch-Site.
        {
          headers: {
            'Content-Type': 'text/plain;charset=UTF-8',
            Origin: 'https://attacker.example',
            'Sec-Fetch-Site': 'cross-site',
            'Sec-Fetch-Mode': 'no-cors',
          },
          status: 403,
        },
        // A page whose name was rebound to 127.0.0.1 is same-origin: JSON needs no preflight then, but the marks are there.
        { headers: { Origin: 'http://rebound.example:8080', 'Sec-Fetch-Site': 'same-origin' }, status: 403 },
        { headers: { 'Sec-Fetch-Site': 'none' }, status: 403 },
        // An older browser without the marks can only send a simple content type.
        { headers: { 'Content-Type': 'text/plain' }, status: 415 },
        // A large form post still gets its answer (its body is drained, not parsed).
        { headers: { 'Content-Type': 'text/plain' }, status: 415, body: `${'x'.repeat(300 * 1024)}` },
        { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, status: 415 },
      ];
      for (const route of ['/init', '/warm-up', '/run']) {
        for (const a of attempts) {
          const res = await request(proxy.url, route, a.body ?? JSON.stringify(hostile), 'POST', a.headers);
          assert.equal(res.status, a.status, `${route} with ${JSON.stringify(a.headers)}`);
          assert.match(res.body.error, a.status === 403 ? /from a web browser/ : /must be application\/json/);
        }
      }
      await sleep(200);
      assert.deepEqual(await proxy.logs(), { stdout: '', stderr: '' });
      assert.deepEqual(await proxy.init({ name: 'mine', main: 'main', code: 'function main(p) { return { mine: p.n }; }' }), {
        status: 200,
        body: { OK: true },
      });
      assert.deepEqual((await proxy.run({ n: 1 })).body, { mine: 1 });
      // The JSON type may carry parameters.
      const res = await request(proxy.url, '/run', { value: { n: 2 } }, 'POST', { 'Content-Type': 'application/json; charset=utf-8' });
      assert.deepEqual(res.body, { mine: 2 });
    });
  });

  describe('leon-edge/blackbox-echo', function () {
    it('initializes without code and echoes the input with its __OW_ environment', async () => {
      const proxy = await pending.echo;
      const init = await proxy.init({ name: 'echo', main: 'main' });
      assert.deepEqual(init, { status: 200, body: { OK: true } });
      const res = await proxy.run(
        { a: 1 },
        {
          namespace: 'guest',
          action_name: '/guest/echo',
          activation_id: 'abc123',
          api_key: 'uuid:key',
        },
      );
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.echo, { a: 1 });
      assert.equal(res.body.image, 'blackbox-echo');
      assert.equal(res.body.env.__OW_ACTION_NAME, '/guest/echo');
      assert.equal(res.body.env.__OW_NAMESPACE, 'guest');
      assert.equal(res.body.env.__OW_ACTIVATION_ID, 'abc123');
      assert.equal(res.body.env.__OW_API_KEY, '***');
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.match(logs.stdout, new RegExp(`blackbox-echo: activation abc123 of /guest/echo\\n${SENTINEL}\\n`));
      assert.equal(countSentinels(logs.stderr), 1);
      assert.equal((await proxy.init({ name: 'echo', main: 'main' })).status, 403);
    });
  });
});
