'use strict';
/*
 * Differential test of our Node.js action runtime (runtimes/nodejs, leon-edge/action-nodejs-v20) against
 * Apache OpenWhisk's own (apache/openwhisk-runtime-nodejs, core/nodejsActionBase), built as a local image by
 * ../shared/upstream/build-nodejs-reference.sh (next to the project folder; see that folder's README.md).
 * Every case starts one container of each image, sends both the same /init and /run requests and compares
 * each answer's status and body byte for byte (no case needs mere JSON equality: the keys come in the same
 * order), then the two containers' `docker logs` (stdout and stderr apart, read after both were killed, so
 * that nothing is still on its way). Where the runtimes differ on purpose, DIFFERENCES below says how and
 * why, and what each side answers instead; what is each runtime's own (its source files in stack traces,
 * a zipped action's folder) is compared as a placeholder.
 *
 *   npx mocha --timeout 120000 test/docker/runtimes/nodejs-upstream-diff.test.js
 *   NODEJS_IMAGE=leon-edge/action-nodejs-v22:latest UPSTREAM_NODEJS_IMAGE=<upstream's, same Node> npx mocha …
 *
 * The cases are those of upstream's conformance suites (NodeJsActionContainerTests of
 * apache/openwhisk-runtime-nodejs, BasicActionRunnerTests of apache/openwhisk), restated here, then ours.
 * Needs Docker; without it, or without the upstream image and a way to build it, the suite is skipped, or
 * fails when CI=true.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Docker = require('dockerode');
const { startProxy, zipBase64, imageExists } = require('../../support/runtime-container');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OURS = process.env.NODEJS_IMAGE || 'leon-edge/action-nodejs-v20:latest';
const UPSTREAM = process.env.UPSTREAM_NODEJS_IMAGE || 'openwhisk-upstream/action-nodejs-v20:d7baea7';
const UPSTREAM_SCRIPT = upstreamScript();

/**
 * The reference build script in ../shared/upstream next to the project; for a clone made elsewhere (CI
 * clones the repository into a temporary folder), next to the repository it was cloned from.
 */
function upstreamScript() {
  const rel = ['shared', 'upstream', 'build-nodejs-reference.sh'];
  const roots = [ROOT];
  try {
    const origin = execFileSync('git', ['-C', ROOT, 'remote', 'get-url', 'origin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .replace(/\/\.git\/?$/, '');
    if (path.isAbsolute(origin)) roots.push(origin);
  } catch {
    /* not a clone: the project's own folder only */
  }
  const found = roots.map((r) => path.resolve(r, '..', ...rel)).find((f) => require('node:fs').existsSync(f));
  return found ?? path.resolve(ROOT, '..', ...rel);
}
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const PARALLEL_CASES = 3; // cases played at once (two containers each): a test's own and the next ones

const docker = new Docker();
const containers = [];

// ---------------------------------------------------------------------------------------------------------
// Requests

/** A payload as upstream's test utilities build it: binary when the code is base64. */
function init(code, main = 'main', env = null) {
  const t = code.trim();
  const binary = t.length > 0 && t.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(t);
  return { path: '/init', body: { value: { code, main, binary, env } } };
}
const initValue = (value) => ({ path: '/init', body: { value } });
const run = (value, other = {}) => ({ path: '/run', body: { value, ...other } });
const parallel = (...steps) => ({ parallel: steps });

/** POST `step.body` (JSON, or a string as is); resolves {status, text}: the body exactly as sent. */
function send(url, step) {
  const data = typeof step.body === 'string' ? step.body : step.body === undefined ? '' : JSON.stringify(step.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${step.path}`,
      {
        method: step.method || 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...step.headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(60000, () => req.destroy(new Error(`no answer to ${step.path} within 60 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Starts `image`, plays the case's steps in order, kills the container and reads its whole log. */
async function play(image, c) {
  const proxy = await startProxy(docker, containers, image, { env: c.env || [], label: 'runtime-upstream' });
  const answers = [];
  for (const step of c.steps) {
    answers.push(step.parallel ? await Promise.all(step.parallel.map((s) => send(proxy.url, s))) : await send(proxy.url, step));
  }
  // Both write to their pipes synchronously before they answer; once the container is gone, Docker has
  // drained the pipes into the log.
  await proxy.container.kill();
  await proxy.container.wait();
  return { answers: answers.flat(), logs: await proxy.logs() };
}

// ---------------------------------------------------------------------------------------------------------
// Actions (restated from upstream's conformance suites)

const ECHO = 'function main(args) {\n    return args\n}\n';
const ECHO_LOGGING = "function main(args) {\n    console.log('hello stdout')\n    console.error('hello stderr')\n    return args\n}\n";
const PACKAGE_JSON = JSON.stringify(
  {
    name: 'wskaction',
    version: '1.0.0',
    description: 'An OpenWhisk action as an npm package.',
    main: 'index.js',
    author: 'info@openwhisk.org',
    license: 'Apache-2.0',
  },
  null,
  2,
);
const GREETING = (from) =>
  'exports.main = function (args) {\n' +
  '  var name = typeof args["name"] === "string" ? args["name"] : "stranger";\n' +
  `  return { greeting: "Hello " + name + ", ${from}." };\n};\n`;
const THOUGHT = '    x = " I took the one less traveled by, and that has made all the difference.";\n';
const ERRORS = `
const circular = { a: 1 }; circular.self = circular;
const shared = { s: 1 };
function main(p) {
  switch (p.mode) {
    case 'custom': { const e = new RangeError('out of range'); e.code = 'E_RANGE'; e.extra = { n: 1, f() {} }; e.status = 7; return Promise.reject(e); }
    case 'numeric-code': { const e = new Error('numeric'); e.code = 42; return Promise.reject(e); }
    case 'cause': return Promise.reject(new Error('outer', { cause: new TypeError('inner') }));
    case 'nested': return Promise.reject({ when: 'now', inner: new SyntaxError('deep'), list: [1, { b: 2 }] });
    case 'circular': return Promise.reject(circular);
    case 'shared': return Promise.reject({ one: shared, two: shared });
    case 'date': return Promise.reject({ at: new Date(0) });
    case 'tojson': { const e = new Error('has toJSON'); e.toJSON = () => ({ custom: true }); return Promise.reject(e); }
    case 'buffer': return Promise.reject({ data: Buffer.from('abc') });
    case 'stream': return Promise.reject({ out: process.stdout });
    case 'top-buffer': return Promise.reject(Buffer.from('abc'));
    case 'function': return Promise.reject(function named() {});
    case 'arrow': return Promise.reject(() => {});
    case 'string': return Promise.reject('just a string');
    case 'number': return Promise.reject(7);
    case 'zero': return Promise.reject(0);
    case 'false': return Promise.reject(false);
    case 'array': return Promise.reject([1, 'two', { three: 3 }]);
    case 'symbol-key': return Promise.reject({ [Symbol('s')]: 1, visible: 2 });
    case 'message-only': return Promise.reject({ message: 'm', name: 5 });
  }
  return {};
}`;
const ERROR_MODES = [
  'custom',
  'numeric-code',
  'cause',
  'nested',
  'circular',
  'shared',
  'date',
  'tojson',
  'buffer',
  'stream',
  'top-buffer',
  'function',
  'arrow',
  'string',
  'number',
  'zero',
  'false',
  'array',
  'symbol-key',
  'message-only',
];

function tarGzBase64(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runtime-upstream-'));
  try {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return execFileSync('tar', ['-czf', '-', '-C', dir, ...Object.keys(files)]).toString('base64');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cases: name → steps (and a container environment)

const CASES = [
  // BasicActionRunnerTests (apache/openwhisk)
  { name: 'initialization with no code (code and main empty)', steps: [init('', '')] },
  { name: 'initialization with no content', steps: [{ path: '/init', body: {} }] },
  { name: 'a function not returning a JSON object', steps: [init('function main(args) {\n    return "not a json object"\n}\n'), run({})] },
  { name: 'initialization a second time is refused', steps: [init(ECHO), init(ECHO), run({ a: 1 })] },
  { name: 'a non-standard entry point', steps: [init(' function niam(args) {\n     return args;\n }\n', 'niam'), run({ string: 'hello' })] },
  {
    name: 'echo of arguments, printing to stdout and stderr',
    steps: [init(ECHO_LOGGING), run({ string: 'hello' }), run({ string: '❄ ☃ ❄' }), run({ numbers: [42, 1] }), run({ object: { a: 'A' } })],
  },
  {
    name: 'unicode in source, input, logs and result',
    steps: [
      init('function main(args) {\n    var str = args.delimiter + " ☃ " + args.delimiter;\n    console.log(str);\n    return { "winter": str };\n}'),
      run({ delimiter: '❄' }),
    ],
  },
  {
    name: 'environment variables of /init, there before the code loads',
    steps: [
      init(
        'const envargs = {\n    "SOME_VAR": process.env.SOME_VAR,\n    "ANOTHER_VAR": process.env.ANOTHER_VAR\n}\nfunction main(args) {\n    return envargs\n}',
        'main',
        { SOME_VAR: 'xyz', ANOTHER_VAR: '' },
      ),
      run({}),
    ],
  },
  {
    name: 'the activation context as __OW_ variables (the API host from the container environment)',
    env: ['__OW_API_HOST=xyz'],
    steps: [
      init(
        "function main(args) {\n  const e = process.env;\n  return { api_host: e['__OW_API_HOST'], api_key: e['__OW_API_KEY'], namespace: e['__OW_NAMESPACE'], action_name: e['__OW_ACTION_NAME'], action_version: e['__OW_ACTION_VERSION'], activation_id: e['__OW_ACTIVATION_ID'], deadline: e['__OW_DEADLINE'], retries: e['__OW_RETRIES'], value: e['__OW_VALUE'] };\n}",
      ),
      run({}, { api_key: 'abc', namespace: 'zzz', action_name: 'xxx', action_version: '0.0.1', activation_id: 'iii', deadline: '123', retries: 3 }),
      run({}, { activation_id: 'jjj', namespace: 'other' }),
    ],
  },
  { name: 'a large input (1 MB) echoed', steps: [init(ECHO), run({ arg: 'a'.repeat(1048561) })] },

  // NodeJsActionContainerTests (apache/openwhisk-runtime-nodejs)
  { name: 'initialization with bad code (syntax error)', steps: [init(' 10 PRINT "Hello world!"\n 20 GOTO 10\n'), run({}), init(ECHO)] },
  { name: 'initialization with no code', steps: [init('')] },
  { name: 'an action that throws a string', steps: [init(' function main(args) {\n     throw "nooooo";\n }\n'), run({}), run({})] },
  { name: 'an application error', steps: [init(' function main(args) {\n     return { "error" : "sorry" };\n }\n'), run({})] },
  {
    name: 'the documentation examples (1)',
    steps: [
      init(
        " function main(params) {\n     if (params.payload == 0) {\n         return;\n     } else if (params.payload == 1) {\n         return {payload: 'Hello, World!'}\n     } else if (params.payload == 2) {\n         return {error: 'payload must be 0 or 1'}\n     }\n }\n",
      ),
      run({ payload: 0 }),
      run({ payload: 1 }),
      run({ payload: 2 }),
    ],
  },
  {
    name: 'the documentation examples (2)',
    steps: [
      init(
        ' function main(params) {\n     if (params.payload) {\n         return new Promise(function(resolve, reject) {\n                setTimeout(function() { resolve({ done: true }); }, 100);\n             })\n     } else {\n         return {done: true};\n     }\n }\n',
      ),
      run({}),
      run({ payload: true }),
    ],
  },
  {
    name: 'variables with no var declaration',
    steps: [
      init(" function main(params) {\n    greeting = 'hello, ' + params.payload + '!'\n    console.log(greeting);\n    return {payload: greeting}\n }\n"),
      run({ payload: 'test' }),
    ],
  },
  { name: 'a webpacked function (global.main)', steps: [init('function foo() {\n  return { bar: true }\n}\nglobal.main = foo\n'), { path: '/run', body: {} }] },
  { name: 'exports.main in a single file', steps: [init(' exports.main = function (params) {\n     return params\n }\n'), run({ payload: 'Hello exports!' })] },
  {
    name: 'module.exports.main in a single file',
    steps: [init(' module.exports.main = function (params) {\n     return params\n }\n'), run({ payload: 'Hello exports!' })],
  },
  {
    name: 'requiring a package that does not exist',
    steps: [init(" function main(args) {\n     require('.mildlyinvalidnameofanonexistentpackage');\n }\n"), run({})],
  },
  { name: 'the openwhisk package', steps: [init(' function main(args) {\n     require(\'openwhisk\');\n     return { "result": true }\n }\n'), run({})] },
  {
    name: 'resolved promises',
    steps: [
      init(
        ' function main(args) {\n     return new Promise(function(resolve, reject) {\n       setTimeout(function() { resolve({ done: true }); }, 100);\n    })\n }\n',
      ),
      run({}),
    ],
  },
  {
    name: 'rejected promises',
    steps: [
      init(
        ' function main(args) {\n     return new Promise(function(resolve, reject) {\n       setTimeout(function() { reject({ done: true }); }, 100);\n    })\n }\n',
      ),
      run({}),
    ],
  },
  {
    name: 'rejected promises with no message',
    steps: [init(' function main(args) {\n     return new Promise(function (resolve, reject) {\n         reject();\n     });\n }'), run({})],
  },
  {
    name: 'a large-ish action (500 kB of code)',
    steps: [init(` function main(args) {\n     var x = "hello";\n${THOUGHT.repeat(7000)}     x = "world";\n     return { "message" : x };\n }\n`), run({})],
  },
  { name: 'a zipped npm package', steps: [init(zipBase64({ 'package.json': PACKAGE_JSON, 'index.js': GREETING('from an npm package action') })), run({})] },
  {
    name: 'a zipped package without package.json',
    steps: [init(zipBase64({ 'index.js': GREETING('from an npm package action without a package.json') })), run({})],
  },
  {
    name: 'a zip with main in a file other than index.js',
    steps: [init(zipBase64({ 'other.js': GREETING('from other.niam').replace('exports.main', 'exports.niam') }), 'other.niam'), run({})],
  },
  {
    name: 'a zip with a nested main',
    steps: [
      init(zipBase64({ 'other.js': 'exports.niam = { xyz: function (args) { return { greeting: "from nested main" }; } };\n' }), 'other.niam.xyz'),
      run({}),
    ],
  },
  {
    name: 'a zip with package.json whose entry point is overridden',
    steps: [
      init(
        zipBase64({
          'package.json': PACKAGE_JSON,
          'index.js': 'exports.main = function (args) { return { result: "it works" }; };\n',
          'other.js': 'exports.niam = function (args) { return { result: "it should also work" }; };\n',
        }),
        'other.niam',
      ),
      run({}),
    ],
  },
  { name: 'an invalid zip (base64 text)', steps: [init('Q2VjaSBuJ2VzdCBwYXMgdW4gemlwLgo='), run({})] },
  { name: 'a valid zip that is not an action', steps: [init(zipBase64({ hello: ' Hello world!\n' })), run({})] },
  {
    name: 'a zip with a non-default entry point',
    steps: [
      init(zipBase64({ 'package.json': PACKAGE_JSON, 'index.js': 'exports.niam = function (args) { return { result: "it works" }; };\n' }), 'niam'),
      run({}),
    ],
  },
  {
    name: 'the working directory of a zipped action',
    steps: [
      init(
        zipBase64({
          'package.json': PACKAGE_JSON,
          'test.txt': 'test text',
          'index.js':
            "const fs = require('fs');\nexports.main = function (args) {\n  return { result1: fs.readFileSync('./test.txt').toString(), result2: __dirname === process.cwd() };\n};\n",
        }),
      ),
      run({}),
    ],
  },
  {
    name: 'default function parameters',
    steps: [init(' function main(args) {\n     let foo = 3;\n     return {isValid: (function (a, b = 2) {return a === 3 && b === 2;}(foo))};\n }\n'), run({})],
  },
  {
    name: 'npm packages of the user in the zip',
    steps: [
      init(
        zipBase64({
          'package.json': JSON.stringify({ name: 'test-action', version: '1.0.0', main: 'index.js', dependencies: { 'local-lib': '1.0.0' } }),
          'index.js': "const lib = require('local-lib');\nexports.main = function () { return { message: lib.hello() }; };\n",
          'node_modules/local-lib/package.json': JSON.stringify({ name: 'local-lib', version: '1.0.0', main: 'lib.js' }),
          'node_modules/local-lib/lib.js': "exports.hello = () => 'hello local library';\n",
        }),
      ),
      run({}),
    ],
  },
  {
    name: 'async and await',
    steps: [
      init(
        " const util = require('util');\n const fs = require('fs');\n const stat = util.promisify(fs.stat);\n async function main() {\n   const stats = await stat('.');\n   return stats\n }\n",
      ),
      run({}),
    ],
  },
  { name: 'errors thrown from async functions', steps: [init(' async function main() {\n   return a.b.c\n }\n'), run({})] },
  { name: 'errors the user throws from async functions', steps: [init(" async function main() {\n   throw new Error('app error')\n }\n"), run({})] },
  {
    name: 'concurrent activations (__OW_ALLOW_CONCURRENT=true)',
    env: ['__OW_ALLOW_CONCURRENT=true'],
    steps: [
      init(
        'global.count = 0;\nfunction main(args) {\n  global.count++;\n  console.log("interleave me");\n  return new Promise((resolve, reject) => {\n    const started = Date.now();\n    const check = () => global.count === 5 ? resolve({ args }) : Date.now() - started > 20000 ? reject("did not receive 5 activations within 20 s") : setTimeout(check, 20);\n    check();\n  });\n}\n',
      ),
      parallel(run({ arg1: 'value1' }), run({ arg2: 'value2' }), run({ arg3: 'value3' }), run({ arg4: 'value4' }), run({ arg5: 'value5' })),
    ],
  },

  // Ours
  { name: '/run before /init', steps: [run({}), init(ECHO), run({ a: 1 })] },
  { name: 'main is not a function', steps: [init('const main = 42;\n'), run({}), init(ECHO)] },
  { name: 'main is missing', steps: [init('function other() { return {}; }\n'), run({})] },
  { name: 'a dotted main in plain code', steps: [init('const handlers = { go: (p) => ({ went: p.to }) };\n', 'handlers.go'), run({ to: 'x' })] },
  { name: 'a main that is an expression, not a name', steps: [init('function main() { return (p) => ({ called: p.x }); }\n', 'main()'), run({ x: 1 })] },
  {
    name: 'a main that is not a string',
    steps: [initValue({ code: ECHO, main: 5 }), initValue({ code: 5, main: 'main' }), initValue({ main: 'main' }), init(ECHO), run({ ok: true })],
  },
  { name: 'code that throws while it loads', steps: [init("throw new TypeError('at load');\nfunction main() { return {}; }\n"), run({})] },
  { name: 'code that throws a string while it loads', steps: [init("throw 'at load';\nfunction main() { return {}; }\n"), run({})] },
  { name: 'a zipped main that is not a function', steps: [init(zipBase64({ 'index.js': 'exports.main = 42;\n' })), run({})] },
  { name: 'a zipped main whose module lacks it', steps: [init(zipBase64({ 'index.js': 'exports.other = () => ({});\n' }), 'index.nope'), run({})] },
  { name: 'a zipped main below a missing property', steps: [init(zipBase64({ 'index.js': 'exports.other = () => ({});\n' }), 'index.missing.deep'), run({})] },
  { name: 'a zipped module with a syntax error', steps: [init(zipBase64({ 'index.js': 'exports.main = function ( {\n' })), run({})] },
  { name: 'a zipped module that throws while it loads', steps: [init(zipBase64({ 'index.js': "throw new Error('module load');\n" })), run({})] },
  {
    name: 'a corrupt zip (zip signature, then garbage)',
    steps: [init(Buffer.from('PK\u0003\u0004 this is not really a zip archive at all').toString('base64')), run({})],
  },
  { name: 'a binary that is neither zip nor tar.gz', steps: [init(Buffer.from('#!/bin/sh\necho binary\n').toString('base64')), run({})] },
  { name: 'a tar.gz archive', steps: [init(tarGzBase64({ 'index.js': 'exports.main = () => ({ from: "tar" });\n' })), run({})] },
  { name: 'a synchronous throw stops the container', steps: [init("function main() { throw new Error('boom'); }\n"), run({}), run({}), init(ECHO)] },
  { name: 'a thrown object', steps: [init('function main() { throw { a: 1 }; }\n'), run({})] },
  { name: 'a thrown null', steps: [init('function main() { throw null; }\n'), run({})] },
  { name: 'a value null is {}, an array is passed as is', steps: [init(ECHO), run(null), run([1, 'two']), { path: '/run', body: { namespace: 'n' } }] },
  { name: 'a value that is not an object', steps: [init(ECHO), run('text'), run({ after: true })] },
  {
    name: 'results that are not objects',
    steps: [
      init(
        "function main(p) { return { string: 'text', number: 42, true: true, false: false, undefined: undefined, array: [1, 2, 3], empty: [], object: { a: 1 } }[p.kind]; }\n",
      ),
      run({ kind: 'string' }),
      run({ kind: 'number' }),
      run({ kind: 'true' }),
      run({ kind: 'false' }),
      run({ kind: 'undefined' }),
      run({ kind: 'array' }),
      run({ kind: 'empty' }),
      run({ kind: 'object' }),
    ],
  },
  { name: 'a null result', steps: [init('function main() { return null; }\n'), run({}), run({})] },
  { name: 'a promise resolving to a non-object', steps: [init('async function main() { return 7; }\n'), run({}), run({})] },
  { name: 'a result JSON cannot serialize', steps: [init('function main() { return { big: 10n }; }\n'), run({}), run({})] },
  { name: 'a circular result', steps: [init('function main() { const o = {}; o.o = o; return o; }\n'), run({}), run({})] },
  {
    name: '/init env values of every JSON type',
    steps: [
      init(
        'function main() { const e = process.env; return { S: e.S, N: e.N, O: e.O, A: e.A, NUL: e.NUL, T: e.T, ONE: e.ONE, F: e.F, Z: e.Z, E: e.E }; }\n',
        'main',
        { S: 's', N: 5, O: { a: [1] }, A: [1, 2], NUL: null, T: true, ONE: 1, F: false, Z: 0, E: '' },
      ),
      run({}),
    ],
  },
  { name: 'a rejected promise: every kind of reason', steps: [init(ERRORS), ...ERROR_MODES.map((mode) => run({ mode }))] },
  { name: 'a rejected reason with a null property', steps: [init("function main() { return Promise.reject({ reason: null, code: 'E' }); }\n"), run({})] },
  {
    name: 'a zipped ES module',
    steps: [
      init(
        zipBase64({
          'package.json': JSON.stringify({ name: 'esm', type: 'module', main: 'index.js' }),
          'index.js': 'export function main(p) { return { esm: true, p }; }\n',
        }),
      ),
      run({ a: 1 }),
    ],
  },
  {
    name: 'unparsable JSON and empty bodies',
    steps: [
      { path: '/init', body: '{"value": ' },
      { path: '/run', body: '[1,' },
      { path: '/init', body: '"text"' },
      { path: '/init', body: '' },
      { path: '/run', body: '' },
      init(ECHO),
      run({ ok: 1 }),
    ],
  },
  {
    name: 'unknown routes and methods',
    steps: [
      { path: '/status', body: {} },
      { path: '/init', method: 'GET' },
      { path: '/run', method: 'PUT', body: {} },
      { path: '/init?x=1', body: init(ECHO).body },
      run({ q: 1 }),
    ],
  },
  {
    name: 'a body that is not declared JSON',
    steps: [{ path: '/init', body: JSON.stringify(init(ECHO).body), headers: { 'Content-Type': 'text/plain' } }, init(ECHO), run({ a: 1 })],
  },
];

// ---------------------------------------------------------------------------------------------------------
// Where the answers may differ, and why. Each entry names a case; `same` lists the rewrites applied to both
// sides' bodies and logs before they are compared byte for byte (for what is each runtime's own: its source
// files, its temporary folders); `steps` (by step index, a parallel group counting each of its requests) and
// `logs` give what each side answers instead where the answers are different on purpose: a string is the
// exact text, a RegExp a pattern.

/** Stack frames ("    at …" lines) name each runtime's own source files and lines: a run of them compares as one. */
const FRAMES = (s) => s.replace(/(?:\\n {4}at (?:[^"\\]|\\[^n])*)+/g, '\\n    at …').replace(/(?:\n {4}at [^\n]*)+/g, '\n    at …');
FRAMES.label = 'stack frames';
/** A zipped action's folder: upstream's /nodejsAction/XXXXXXXX (mktemp in its working directory), ours /tmp/action-XXXXXX. */
const ZIP_DIR = (s) => s.replace(/\/nodejsAction\/[A-Za-z0-9]{8}(?=\/)|\/tmp\/action-[A-Za-z0-9]{6}(?=\/)/g, '<action folder>');
ZIP_DIR.label = 'action folder';
/** Node's "Require stack:" lists the requiring files of each runtime (and console.error prints it as requireStack). */
const REQUIRE_STACK = (s) =>
  s
    .replace(/(?:\\n- \/(?:[^"\\]|\\[^n])*)+/g, '\\n- …')
    .replace(/(?:\n- \/[^\n]*)+/g, '\n- …')
    .replace(/requireStack: \[[^\]]*\]/g, 'requireStack: […]');
REQUIRE_STACK.label = 'require stack';

/** A file's stat: device, inode, link count and times are each container's own; compared by its keys and types. */
const STAT_VALUES = (s) => s.replace(/"(\w+)":(?:-?[\d.]+|"[^"]*")/g, (m, key) => `"${key}":${m.endsWith('"') ? '"…"' : '…'}`);
STAT_VALUES.label = 'stat values';
const S = `${SENTINEL}\n`;
const NOT_INITIALIZED = { status: 403, text: '{"error":"System not initialized."}' };
const NOT_A_DICTIONARY = { status: 502, text: '{"error":"The action did not return a dictionary."}' };
const INTERNAL_ERROR = { status: 500, text: '{"error":"Internal error."}' };

const DIFFERENCES = {
  'the openwhisk package': {
    reason: 'no npm package is preinstalled besides adm-zip: a gateway may be offline, an action brings its own in its zip',
    steps: {
      1: {
        upstream: { status: 200, text: '{"result":true}' },
        ours: { status: 502, text: /^\{"error":"An error has occurred: Error: Cannot find module 'openwhisk'\\nRequire stack:/ },
      },
    },
    logs: { stderr: { upstream: S, ours: /^Error: Cannot find module 'openwhisk'\n[\s\S]*\nXXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n$/ } },
  },
  'a tar.gz archive': {
    reason: 'zip archives only (the image has no tar); the message says so',
    steps: {
      0: {
        upstream: { status: 200, text: '{"OK":true}' },
        ours: {
          status: 502,
          text: '{"error":"Initialization has failed due to: There was an error uncompressing the action archive. The file type is unsupported: this runtime takes zip archives only, not tar.gz."}',
        },
      },
      1: { upstream: { status: 200, text: '{"from":"tar"}' }, ours: NOT_INITIALIZED },
    },
    logs: {
      stderr: {
        upstream: S,
        ours: `Error during initialization: There was an error uncompressing the action archive. The file type is unsupported: this runtime takes zip archives only, not tar.gz.\n${S}Internal system error: System not initialized.\n`,
      },
    },
  },
  'a main that is an expression, not a name': {
    reason: 'upstream evaluates main as an expression (any code: here it calls a function); ours takes a dotted name and never evaluates it',
    steps: {
      0: {
        upstream: { status: 200, text: '{"OK":true}' },
        ours: { status: 502, text: `{"error":"Initialization has failed due to: Action entrypoint 'main()' is not a valid name."}` },
      },
      1: { upstream: { status: 200, text: '{"called":1}' }, ours: NOT_INITIALIZED },
    },
    logs: {
      stderr: {
        upstream: S,
        ours: `Error during initialization: Action entrypoint 'main()' is not a valid name.\n${S}Internal system error: System not initialized.\n`,
      },
    },
  },
  'a value that is not an object': {
    reason: 'the refused /run leaves ours ready (upstream stays "running" for good) and logs its message once, not with the prefix twice',
    steps: { 2: { upstream: { status: 403, text: '{"error":"System not ready, status is running."}' }, ours: { status: 200, text: '{"after":true}' } } },
    logs: {
      stdout: { upstream: '', ours: S },
      stderr: {
        upstream:
          "Internal system error: Internal system error: the argument must be a dictionary but has type 'string'.\nInternal system error: System not ready, status is running.\n",
        ours: `Internal system error: the argument must be a dictionary but has type 'string'.\n${S}`,
      },
    },
  },
  'a null result': {
    reason: 'null is no dictionary: ours answers 502 as for any other non-object (upstream 200 null, which the platform rejects anyway)',
    steps: { 1: { upstream: { status: 200, text: 'null' }, ours: NOT_A_DICTIONARY }, 2: { upstream: { status: 200, text: 'null' }, ours: NOT_A_DICTIONARY } },
    logs: { stderr: { upstream: S + S, ours: `Result must be of type object but has type "null": null\n${S}`.repeat(2) } },
  },
  'a result JSON cannot serialize': {
    reason: 'ours answers 502 with the reason, logged as the activation\'s own line (upstream 500 "Internal error." and a log line that says nothing)',
    steps: {
      1: {
        upstream: INTERNAL_ERROR,
        ours: { status: 502, text: '{"error":"The action result is not serializable to JSON: Do not know how to serialize a BigInt"}' },
      },
      2: {
        upstream: INTERNAL_ERROR,
        ours: { status: 502, text: '{"error":"The action result is not serializable to JSON: Do not know how to serialize a BigInt"}' },
      },
    },
    logs: {
      stderr: {
        upstream: `${S}[wrapEndpoint] invalid errored promise {}\n`.repeat(2),
        // The reason is the activation's own log line: before its sentinel.
        ours: /^(Cannot serialize the action result: TypeError: Do not know how to serialize a BigInt\n(?: {4}at [^\n]*\n)+XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n){2}$/,
      },
    },
  },
  'a circular result': {
    reason: 'ours answers 502 with the reason, logged as the activation\'s own line (upstream 500 "Internal error." and a log line that says nothing)',
    steps: {
      1: {
        upstream: INTERNAL_ERROR,
        ours: { status: 502, text: /^\{"error":"The action result is not serializable to JSON: Converting circular structure to JSON/ },
      },
      2: {
        upstream: INTERNAL_ERROR,
        ours: { status: 502, text: /^\{"error":"The action result is not serializable to JSON: Converting circular structure to JSON/ },
      },
    },
    logs: {
      stderr: {
        upstream: `${S}[wrapEndpoint] invalid errored promise {}\n`.repeat(2),
        ours: /^(Cannot serialize the action result: TypeError: Converting circular structure to JSON\n[\s\S]*?XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n){2}$/,
      },
    },
  },
  '/init env values of every JSON type': {
    reason: 'false and 0 become "false" and "0" as every other value becomes its text (upstream: "")',
    steps: {
      1: {
        upstream: { status: 200, text: '{"S":"s","N":"5","O":"{\\"a\\":[1]}","A":"[1,2]","NUL":"","T":"true","ONE":"1","F":"","Z":"","E":""}' },
        ours: { status: 200, text: '{"S":"s","N":"5","O":"{\\"a\\":[1]}","A":"[1,2]","NUL":"","T":"true","ONE":"1","F":"false","Z":"0","E":""}' },
      },
    },
  },
  'a rejected reason with a null property': {
    reason: "a null property stays null (upstream's serialize-error 9 fails on it and answers its own TypeError's message instead)",
    steps: {
      1: {
        upstream: { status: 200, text: `{"error":"Cannot read properties of null (reading 'pipe')"}` },
        ours: { status: 200, text: '{"error":{"reason":null,"code":"E"}}' },
      },
    },
  },
  'unparsable JSON and empty bodies': {
    reason:
      'upstream prints "undefined" to stdout for each unparsable body (a property its error handler logs does not exist), into the next activation\'s logs; ours prints nothing',
    logs: { stdout: { upstream: `undefined\nundefined\nundefined\n${S}`, ours: S } },
  },
  'a body that is not declared JSON': {
    reason:
      'ours refuses a body that is not application/json with 415 (a web page can post text/plain to a loopback port without a preflight); upstream ignores the body',
    steps: {
      0: {
        upstream: { status: 403, text: '{"error":"Missing main/no code to execute."}' },
        ours: { status: 415, text: '{"error":"The request body must be application/json."}' },
      },
    },
  },
  'async and await': { same: [STAT_VALUES] },
  'requiring a package that does not exist': { same: [FRAMES, REQUIRE_STACK] },
  'initialization with bad code (syntax error)': { same: [FRAMES] },
  'errors thrown from async functions': { same: [FRAMES] },
  'errors the user throws from async functions': { same: [FRAMES] },
  'code that throws while it loads': { same: [FRAMES] },
  'a synchronous throw stops the container': { same: [FRAMES] },
  'a rejected promise: every kind of reason': { same: [FRAMES] },
  'a zipped main below a missing property': { same: [FRAMES] },
  'a zipped module with a syntax error': { same: [FRAMES, ZIP_DIR] },
  'a zipped module that throws while it loads': { same: [FRAMES, ZIP_DIR] },
};

// ---------------------------------------------------------------------------------------------------------

const show = (a) => (a === undefined ? 'no answer' : `${a.status} ${a.text.length > 600 ? `${a.text.slice(0, 600)}… (${a.text.length} chars)` : a.text}`);

function matches(expected, actual, what) {
  if (expected instanceof RegExp) assert.match(actual, expected, what);
  else assert.equal(actual, expected, what);
}

describe(`runtime images: ours (${OURS}) answers as upstream's (${UPSTREAM})`, function () {
  this.timeout(60000);
  const outcomes = new Map(); // case name → Promise<{ours, upstream}> (each settled, never rejected)
  /** Plays a case on both images once; a test starts its own and the next few, so that they overlap. */
  const outcome = (c) => {
    if (!outcomes.has(c.name)) {
      outcomes.set(
        c.name,
        Promise.allSettled([play(OURS, c), play(UPSTREAM, c)]).then(([ours, upstream]) => ({ ours, upstream })),
      );
    }
    return outcomes.get(c.name);
  };

  before(async function () {
    this.timeout(10 * 60 * 1000);
    const unavailable = (msg, err) => {
      if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: failing instead of skipping)`, { cause: err });
      console.log(`    skipped: ${msg}`);
      this.skip();
    };
    try {
      await docker.ping();
    } catch (err) {
      unavailable(`Docker is not reachable (${err.message}); the differential runtime test needs a Docker engine`, err);
    }
    if (!(await imageExists(docker, UPSTREAM))) {
      try {
        execFileSync('bash', [UPSTREAM_SCRIPT, UPSTREAM], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      } catch (err) {
        const why = err.code === 'ENOENT' ? 'bash not found' : (err.stderr || err.message).trim();
        unavailable(`upstream's runtime image ${UPSTREAM} is missing and ${UPSTREAM_SCRIPT} could not build it: ${why}`, err);
      }
    }
    const hasZipLib = fs.existsSync(path.join(ROOT, 'runtimes', 'nodejs', 'node_modules', 'adm-zip'));
    // build.sh also installs adm-zip on the host (runtimes/nodejs/node_modules), with which the cases' zips are made.
    if (!hasZipLib || (!process.env.NODEJS_IMAGE && !(await imageExists(docker, OURS)))) {
      execFileSync('bash', [path.join(ROOT, 'runtimes', 'build.sh')], { stdio: 'inherit' });
    }
    if (!(await imageExists(docker, OURS))) throw new Error(`${OURS} not found: build it (runtimes/build.sh)`);
  });

  after(async () => {
    await Promise.all(outcomes.values());
    await Promise.all(containers.splice(0).map((c) => c.remove({ force: true }).catch(() => {})));
  });

  it('lists differences only for cases that exist', () => {
    const names = new Set(CASES.map((c) => c.name));
    assert.equal(names.size, CASES.length, 'case names are unique');
    assert.deepEqual(
      Object.keys(DIFFERENCES).filter((n) => !names.has(n)),
      [],
    );
  });

  CASES.forEach((c, k) => {
    const diff = DIFFERENCES[c.name] || {};
    const placeholders = (diff.same || []).map((f) => f.label).join(', ');
    const title = diff.reason ? `${c.name} (differs: ${diff.reason})` : placeholders ? `${c.name} (as placeholders: ${placeholders})` : c.name;
    it(title, async function () {
      CASES.slice(k + 1, k + PARALLEL_CASES).forEach(outcome);
      const { ours, upstream } = await outcome(c);
      if (upstream.status === 'rejected') throw upstream.reason;
      if (ours.status === 'rejected') throw ours.reason;
      const same = (text) => (diff.same || []).reduce((t, f) => f(t), text);
      const o = ours.value;
      const u = upstream.value;
      const requests = c.steps.flatMap((s) => s.parallel || [s]);
      assert.equal(o.answers.length, requests.length);
      const mismatches = [];
      const check = (fn) => {
        try {
          fn();
        } catch (err) {
          mismatches.push(err.message);
        }
      };
      o.answers.forEach((a, i) => {
        const kept = diff.steps && diff.steps[i];
        const what = `step ${i} (${requests[i].path})`;
        if (kept) {
          check(() => assert.equal(u.answers[i].status, kept.upstream.status, `${what}: upstream's status (${show(u.answers[i])})`));
          check(() => matches(kept.upstream.text, u.answers[i].text, `${what}: upstream's body`));
          check(() => assert.equal(a.status, kept.ours.status, `${what}: our status (${show(a)})`));
          check(() => matches(kept.ours.text, a.text, `${what}: our body`));
        } else if (`${a.status} ${same(a.text)}` !== `${u.answers[i].status} ${same(u.answers[i].text)}`) {
          mismatches.push(`${what}:\n    ours     ${show(a)}\n    upstream ${show(u.answers[i])}`);
        }
      });
      for (const stream of ['stdout', 'stderr']) {
        const kept = diff.logs && diff.logs[stream];
        if (kept) {
          check(() => matches(kept.upstream, u.logs[stream], `upstream's ${stream}: ${JSON.stringify(u.logs[stream])}`));
          check(() => matches(kept.ours, o.logs[stream], `our ${stream}: ${JSON.stringify(o.logs[stream])}`));
        } else if (same(o.logs[stream]) !== same(u.logs[stream])) {
          mismatches.push(`${stream}:\n    ours     ${JSON.stringify(same(o.logs[stream]))}\n    upstream ${JSON.stringify(same(u.logs[stream]))}`);
        }
      }
      assert.deepEqual(mismatches, [], `${c.name}:\n  ${mismatches.join('\n  ')}`);
    });
  });
});
