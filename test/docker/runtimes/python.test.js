'use strict';
/*
 * Integration test of the package's Python action runtime (runtimes/python,
 * leon-edge/action-python-v3.11): the OpenWhisk action interface as apache/openwhisk-runtime-python
 * answers it (its Go actionloop proxy and launcher), messages included.
 *
 *   npx mocha test/docker/runtimes/python.test.js
 *   PYTHON_IMAGE=leon-edge/action-python-v3.11:arm64 npx mocha …   (another build, e.g. under qemu)
 *
 * Needs Docker. Without it the suite is skipped, or fails when CI=true. A missing image is built
 * with `bash runtimes/build.sh`.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Docker = require('dockerode');
const { SENTINEL, countSentinels, startProxy, zipBase64, imageExists, sleep } = require('../../support/runtime-container');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PYTHON_IMAGE = process.env.PYTHON_IMAGE || 'leon-edge/action-python-v3.11:latest';

const docker = new Docker();
const containers = [];

// The action used by most tests: its behaviour is chosen by args['mode'].
const PLAIN_CODE = `
import os, sys

def div(x, y):
    return x / y

def main(args):
    mode = args.get('mode') if isinstance(args, dict) else None
    if mode == 'env':
        ow = {k: v for k, v in os.environ.items() if k.startswith('__OW_')}
        return {'GREETING': os.environ.get('GREETING'), 'NUM': os.environ.get('NUM'),
                'OBJ': os.environ.get('OBJ'), 'NIL': os.environ.get('NIL'), 'ow': ow}
    if mode == 'raise':
        return {'divBy0': div(5, 0)}
    if mode == 'string':
        return 'not a json object'
    if mode == 'none':
        return None
    if mode == 'apperror':
        return {'error': 'sorry'}
    if mode == 'unicode':
        sep = args['delimiter']
        s = sep + ' \\u2603 ' + sep
        print(s)
        return {'winter': s}
    if mode == 'sys':
        return {'sys': sys.executable, 'version': sys.version_info[:2], 'cwd': os.getcwd()}
    if mode == 'array':
        return ['a', 'b']
    if mode == 'exit':
        sys.exit(3)
    print('hello stdout')
    print('hello stderr', file=sys.stderr)
    return args
`;

describe(`Python runtime image: OpenWhisk action interface (${PYTHON_IMAGE})`, function () {
  this.timeout(60000);
  let pending = {};

  before(async function () {
    this.timeout(10 * 60 * 1000);
    try {
      await docker.ping();
    } catch (err) {
      const msg = `Docker is not reachable (${err.message}); the runtime image tests need a Docker engine`;
      if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      console.log(`    skipped: ${msg}`);
      this.skip();
    }
    const hasZipLib = fs.existsSync(path.join(ROOT, 'runtimes', 'nodejs', 'node_modules', 'adm-zip'));
    if (!hasZipLib || !(await imageExists(docker, PYTHON_IMAGE))) {
      if (process.env.PYTHON_IMAGE) throw new Error(`${PYTHON_IMAGE} not found: build it with runtimes/build.sh --platform …`);
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
    const start = () => startProxy(docker, containers, PYTHON_IMAGE, { label: 'runtime-python', readyMs: 60000 });
    const starts = {};
    for (const name of ['plain', 'named', 'zipNamed', 'zipFile', 'zipMissing', 'venv', 'venvInvalid', 'syntax', 'importFail', 'exit', 'browser']) {
      starts[name] = start();
    }
    await Promise.allSettled(Object.values(starts));
    pending = starts;
  });

  after(async () => {
    await Promise.all(containers.splice(0).map((c) => c.remove({ force: true }).catch(() => {})));
  });

  describe('plain code, one container through its whole life', function () {
    let proxy;
    let processedRuns = 0;
    before(async () => {
      proxy = await pending.plain;
    });

    it('answers /run before /init with 500 "no action defined yet"', async () => {
      const res = await proxy.run({});
      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { error: 'no action defined yet' });
    });

    it('answers invalid JSON at /init with 400 "Error unmarshaling request: …"', async () => {
      const res = await proxy.request('/init', '{"value": ');
      assert.equal(res.status, 400);
      assert.match(res.body.error, /^Error unmarshaling request: /);
    });

    it('answers /init without code with 403 "Missing main/no code to execute."', async () => {
      const res = await proxy.init({ name: 'plain', main: 'main' });
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: 'Missing main/no code to execute.' });
    });

    it('initializes plain code: 200 {"ok":true}, and writes no sentinel', async () => {
      const res = await proxy.init({
        name: 'plain',
        main: 'main',
        binary: false,
        code: PLAIN_CODE,
        env: { GREETING: 'hello', NUM: 5, OBJ: { a: 1 }, NIL: null },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { ok: true });
      const logs = await proxy.logs();
      assert.equal(countSentinels(logs.stdout) + countSentinels(logs.stderr), 0);
    });

    it('refuses a second /init with 403 and says so on stderr', async () => {
      const res = await proxy.init({ name: 'plain', main: 'main', code: PLAIN_CODE });
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: 'Cannot initialize the action more than once.' });
      const logs = await proxy.logsWhen((l) => l.stderr.includes('more than once'));
      assert.match(logs.stderr, /Cannot initialize the action more than once\./);
    });

    it('runs main(args): 200 + the dict, the logs end with the sentinel on both streams', async () => {
      const res = await proxy.run({ name: 'World' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { name: 'World' });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.match(logs.stdout, new RegExp(`hello stdout\\n${SENTINEL}\\n`));
      assert.match(logs.stderr, new RegExp(`hello stderr\\n${SENTINEL}\\n`));
      assert.equal(countSentinels(logs.stdout), 1);
      assert.equal(countSentinels(logs.stderr), 1);
    });

    it('exports /init env: strings as they are, other values as JSON', async () => {
      const res = await proxy.run({ mode: 'env' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.equal(res.body.GREETING, 'hello');
      assert.equal(res.body.NUM, '5');
      assert.equal(res.body.OBJ, '{"a":1}');
      assert.equal(res.body.NIL, 'null');
    });

    it('sets every string key of /run except value as __OW_<KEY>, per activation', async () => {
      const context = (id) => ({
        namespace: 'guest',
        action_name: '/guest/pkg/plain',
        action_version: '0.0.1',
        activation_id: id,
        transaction_id: 'tid-1',
        deadline: '1893456000000',
        api_key: 'uuid:key',
        api_host: 'https://whisk.example',
        retries: 3,
      });
      const first = await proxy.run({ mode: 'env' }, context('a'.repeat(32)));
      const second = await proxy.run({ mode: 'env' }, context('b'.repeat(32)));
      processedRuns += 2;
      assert.equal(first.status, 200);
      const ow = first.body.ow;
      assert.equal(ow.__OW_NAMESPACE, 'guest');
      assert.equal(ow.__OW_ACTION_NAME, '/guest/pkg/plain');
      assert.equal(ow.__OW_ACTION_VERSION, '0.0.1');
      assert.equal(ow.__OW_ACTIVATION_ID, 'a'.repeat(32));
      assert.equal(ow.__OW_TRANSACTION_ID, 'tid-1');
      assert.equal(ow.__OW_DEADLINE, '1893456000000');
      assert.equal(ow.__OW_API_KEY, 'uuid:key');
      assert.equal(ow.__OW_API_HOST, 'https://whisk.example');
      assert.equal(ow.__OW_RETRIES, undefined, 'non-string keys are not exported');
      assert.equal(ow.__OW_VALUE, undefined);
      assert.equal(second.body.ow.__OW_ACTIVATION_ID, 'b'.repeat(32));
    });

    it('passes unicode through (print and result)', async () => {
      const res = await proxy.run({ mode: 'unicode', delimiter: '❄' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { winter: '❄ ☃ ❄' });
      // The sentinel follows the print once the reply is sent (as upstream's): wait for both.
      const printed = new RegExp(`❄ ☃ ❄\\n${SENTINEL}\\n`);
      const logs = await proxy.logsWhen((l) => printed.test(l.stdout));
      assert.match(logs.stdout, printed);
    });

    it('takes an array as input and returns an array result', async () => {
      const arrayIn = await proxy.run(['a', 'b']);
      processedRuns++;
      assert.deepEqual(arrayIn, { status: 200, body: ['a', 'b'] });
      const arrayOut = await proxy.run({ mode: 'array' });
      processedRuns++;
      assert.deepEqual(arrayOut, { status: 200, body: ['a', 'b'] });
    });

    it('returns an exception as 200 {"error": str(ex)} with the traceback on stderr, and stays usable', async () => {
      const res = await proxy.run({ mode: 'raise' });
      processedRuns++;
      assert.deepEqual(res, { status: 200, body: { error: 'division by zero' } });
      const logs = await proxy.logsWhen((l) => l.stderr.includes('ZeroDivisionError'));
      assert.match(logs.stderr, /Traceback \(most recent call last\):[\s\S]*ZeroDivisionError: division by zero/);
      const app = await proxy.run({ mode: 'apperror' });
      processedRuns++;
      assert.deepEqual(app, { status: 200, body: { error: 'sorry' } });
    });

    it('answers a result that is no dictionary or array with 502, and stays usable', async () => {
      for (const mode of ['string', 'none']) {
        const res = await proxy.run({ mode });
        processedRuns++;
        assert.equal(res.status, 502, mode);
        assert.deepEqual(res.body, { error: 'The action did not return a dictionary or array.' });
      }
      assert.equal((await proxy.run({ again: true })).status, 200);
      processedRuns++;
    });

    it('has a valid sys.executable (Debian python3) and runs in the action folder', async () => {
      const res = await proxy.run({ mode: 'sys' });
      processedRuns++;
      assert.equal(res.status, 200);
      assert.match(res.body.sys, /python/);
      assert.equal(res.body.version[0], 3);
      assert.match(res.body.cwd, /^\/tmp\/action\//);
    });

    it('serves overlapping /run requests one after the other', async () => {
      const code = await Promise.all([proxy.run({ n: 1 }), proxy.run({ n: 2 }), proxy.run({ n: 3 })]);
      processedRuns += 3;
      assert.deepEqual(
        code.map((r) => r.body.n),
        [1, 2, 3],
      );
    });

    it('wrote exactly one sentinel per processed /run on each stream', async () => {
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= processedRuns && countSentinels(l.stderr) >= processedRuns);
      assert.equal(countSentinels(logs.stdout), processedRuns);
      assert.equal(countSentinels(logs.stderr), processedRuns);
    });
  });

  // A web page in the user's browser can post to a container's loopback port without a preflight.
  describe('requests a web browser made', function () {
    it("are refused on /init and /run, load no code and log nothing; the engine's /init that follows is the first", async () => {
      const proxy = await pending.browser;
      const hostile = JSON.stringify({ value: { name: 'page', main: 'main', code: 'def main(args):\n  return {"owned": True}\n' } });
      const attempts = [
        { headers: { 'Content-Type': 'text/plain;charset=UTF-8', Origin: 'https://attacker.example', 'Sec-Fetch-Site': 'cross-site' }, status: 403 },
        { headers: { Origin: 'http://rebound.example:8080', 'Sec-Fetch-Site': 'same-origin' }, status: 403 },
        { headers: { 'Sec-Fetch-Mode': 'navigate' }, status: 403 },
        { headers: { 'Content-Type': 'text/plain' }, status: 415 },
        // A large form post still gets its answer (its body is drained, not parsed).
        { headers: { 'Content-Type': 'text/plain' }, status: 415, body: `${'x'.repeat(300 * 1024)}` },
        { headers: { 'Content-Type': 'multipart/form-data; boundary=x' }, status: 415 },
      ];
      for (const route of ['/init', '/run']) {
        for (const a of attempts) {
          const res = await proxy.request(route, a.body ?? hostile, 'POST', a.headers);
          assert.equal(res.status, a.status, `${route} with ${JSON.stringify(a.headers)}`);
          assert.match(res.body.error, a.status === 403 ? /from a web browser/ : /must be application\/json/);
        }
      }
      await sleep(200);
      assert.deepEqual(await proxy.logs(), { stdout: '', stderr: '' });
      const init = await proxy.init({ name: 'mine', main: 'main', code: 'def main(args):\n  return {"mine": args.get("n")}\n' });
      assert.equal(init.status, 200);
      assert.deepEqual((await proxy.run({ n: 1 })).body, { mine: 1 });
    });
  });

  describe('entry points other than main', function () {
    it('honours main "niam" in plain code', async () => {
      const proxy = await pending.named;
      const init = await proxy.init({ name: 'niam', main: 'niam', code: 'def niam(args):\n  return {"niam": args}\n' });
      assert.equal(init.status, 200);
      assert.deepEqual(await proxy.run({ a: 1 }), { status: 200, body: { niam: { a: 1 } } });
    });

    it('a zip with __main__.py importing its own module, entry point "niam"', async () => {
      const proxy = await pending.zipNamed;
      const code = zipBase64({
        '__main__.py': 'from echo import echo\ndef niam(args):\n    return echo(args)\n',
        'echo.py': 'def echo(args):\n  return { "echo": args }\n',
      });
      const init = await proxy.init({ name: 'zipped', main: 'niam', binary: true, code });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      assert.deepEqual(await proxy.run({ msg: 'it works' }), { status: 200, body: { echo: { msg: 'it works' } } });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.equal(logs.stdout, `${SENTINEL}\n`);
      assert.equal(logs.stderr, `${SENTINEL}\n`);
    });
  });

  describe('zip actions (binary)', function () {
    it('reads files of the zip by relative path', async () => {
      const proxy = await pending.zipFile;
      const code = zipBase64({
        '__main__.py': "def main(args):\n    with open('workfile', 'r') as f:\n      return { 'file': f.read() }\n",
        workfile: 'this is a test string',
      });
      assert.equal((await proxy.init({ name: 'file', main: 'main', binary: true, code })).status, 200);
      assert.deepEqual(await proxy.run({}), { status: 200, body: { file: 'this is a test string' } });
    });

    it('a zip without __main__.py: 502, "Zip file does not include" and the sentinels on the logs', async () => {
      const proxy = await pending.zipMissing;
      const code = zipBase64({ 'echo.py': 'def echo(args):\n  return { "echo": args }\n' });
      const init = await proxy.init({ name: 'missing', main: 'echo', binary: true, code });
      assert.equal(init.status, 502);
      assert.deepEqual(init.body, { error: 'The action failed to generate or locate a binary. See logs for details.' });
      // Each stream's sentinel arrives on its own: wait for both before counting them.
      const logs = await proxy.logsWhen((l) => countSentinels(l.stderr) >= 1 && countSentinels(l.stdout) >= 1);
      assert.match(logs.stderr, /Zip file does not include/);
      assert.equal(countSentinels(logs.stdout), 1);
      assert.equal(countSentinels(logs.stderr), 1);
      assert.equal((await proxy.run({})).status, 500);
    });

    it("activates the zip's virtualenv/: its packages import", async () => {
      const proxy = await pending.venv;
      // What `virtualenv` writes: bin/activate_this.py puts the env's site-packages first on sys.path.
      const activate = [
        'import os, site, sys',
        'base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))',
        "site_packages = os.path.join(base, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages')",
        'prev = list(sys.path)',
        'site.addsitedir(site_packages)',
        'sys.path[:] = [p for p in sys.path if p not in prev] + prev',
        'sys.prefix = base',
        '',
      ].join('\n');
      const files = {
        '__main__.py': 'import agent\ndef main(args):\n    return {"agent": agent.name(), "from": agent.__file__}\n',
        'virtualenv/bin/activate_this.py': activate,
      };
      for (const v of ['3.9', '3.10', '3.11', '3.12', '3.13']) {
        files[`virtualenv/lib/python${v}/site-packages/agent.py`] = 'def name():\n    return "venv-agent"\n';
      }
      const init = await proxy.init({ name: 'venv', main: 'main', binary: true, code: zipBase64(files) });
      assert.equal(init.status, 200, JSON.stringify(init.body));
      const res = await proxy.run({});
      assert.equal(res.status, 200);
      assert.equal(res.body.agent, 'venv-agent');
      assert.match(res.body.from, /\/virtualenv\/lib\/python3\.\d+\/site-packages\/agent\.py$/);
    });

    it('a virtualenv/ without bin/activate_this.py: 502, "Invalid virtualenv" on stderr', async () => {
      const proxy = await pending.venvInvalid;
      const code = zipBase64({
        '__main__.py': 'def main(args):\n    return {}\n',
        'virtualenv/invalidvirtualenv.md': 'not a virtualenv',
      });
      const init = await proxy.init({ name: 'badvenv', main: 'main', binary: true, code });
      assert.equal(init.status, 502);
      assert.match(init.body.error, /action failed/);
      const logs = await proxy.logsWhen((l) => countSentinels(l.stderr) >= 1);
      assert.match(logs.stderr, /Invalid virtualenv\. Zip file does not include 'activate_this\.py'\./);
    });
  });

  describe('failed /init', function () {
    it('code that does not compile: 502 and the reason on stderr, then /run answers 500', async () => {
      const proxy = await pending.syntax;
      const init = await proxy.init({ name: 'basic', main: 'main', code: '10 PRINT "Hello!"\n20 GOTO 10\n' });
      assert.equal(init.status, 502);
      assert.deepEqual(init.body, { error: 'The action failed to generate or locate a binary. See logs for details.' });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.match(logs.stderr, /invalid syntax/i);
      assert.equal((await proxy.run({})).status, 500);
    });

    it('importing a package that is not there: 502 "Cannot start action", traceback on stderr', async () => {
      const proxy = await pending.importFail;
      const init = await proxy.init({
        name: 'imp',
        main: 'main',
        code: 'import iamnotsupported\ndef main(args):\n    return { "error": "not reaching here" }\n',
      });
      assert.equal(init.status, 502);
      assert.deepEqual(init.body, { error: 'Cannot start action. Check logs for details.' });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stderr) >= 1 && countSentinels(l.stdout) >= 1);
      assert.match(logs.stderr, /Traceback[\s\S]*ModuleNotFoundError: No module named 'iamnotsupported'/);
      assert.match(logs.stderr, /Command exited abruptly during initialization\./);
      assert.equal(countSentinels(logs.stdout), 1);
    });
  });

  describe('an action that exits', function () {
    it('answers 400 "command exited", then 500 "no action defined yet"', async () => {
      const proxy = await pending.exit;
      const init = await proxy.init({ name: 'exit', main: 'main', code: PLAIN_CODE });
      assert.equal(init.status, 200);
      const res = await proxy.run({ mode: 'exit' });
      assert.deepEqual(res, { status: 400, body: { error: 'command exited' } });
      await sleep(50);
      assert.deepEqual(await proxy.run({}), { status: 500, body: { error: 'no action defined yet' } });
      const logs = await proxy.logsWhen((l) => countSentinels(l.stdout) >= 1 && countSentinels(l.stderr) >= 1);
      assert.equal(countSentinels(logs.stdout), 1);
    });
  });
});
