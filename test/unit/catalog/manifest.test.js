'use strict';
// ManifestCatalog: wskdeploy manifests as a Catalog (lib/catalog/manifest.ts, compiled to dist/).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ManifestCatalog, ManifestError } = require('../../../dist/lib/catalog/manifest');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'manifest.yaml');

/** A temp folder with the given files; returns its path. */
function folder(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-test-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/** The error getAction (or list) rejects with. */
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

const HELLO = 'function main(p) { return { payload: `Hello, ${p.name}!` }; }\n';
const annotation = (doc, key) => (doc.annotations.find((a) => a.key === key) || {}).value;
const param = (doc, key) => (doc.parameters.find((p) => p.key === key) || {}).value;

describe('ManifestCatalog', function () {
  const dirs = [];
  const make = (files) => {
    const dir = folder(files);
    dirs.push(dir);
    return dir;
  };
  after(function () {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('examples/manifest.yaml', function () {
    const catalog = new ManifestCatalog(EXAMPLE);

    it('lists the actions and sequences for an editor dropdown', async function () {
      const list = await catalog.list();
      const names = list.map((e) => e.name);
      for (const n of [
        'facedemo/detect-faces',
        'facedemo/crop-faces',
        'facedemo/identify-face',
        'facedemo/hello',
        'facedemo/threshold',
        'facedemo/sensor-alarm',
      ]) {
        assert.ok(names.includes(n), `${n} in ${names}`);
      }
      const detect = list.find((e) => e.name === 'facedemo/detect-faces');
      assert.deepEqual(
        { ...detect, description: undefined },
        {
          name: 'facedemo/detect-faces',
          action: 'detect-faces',
          package: 'facedemo',
          kind: 'blackbox',
          image: 'leon-edge/face-detect:latest',
          description: undefined,
        },
      );
      assert.equal(list.find((e) => e.name === 'facedemo/sensor-alarm').kind, 'sequence');
      assert.deepEqual(catalog.warnings(), []);
    });

    it('returns detect-faces as a blackbox action whose code is injected at /init', async function () {
      const doc = await catalog.getAction({ namespace: 'guest', name: 'facedemo/detect-faces' });
      assert.equal(doc.namespace, 'guest/facedemo');
      assert.equal(doc.name, 'detect-faces');
      assert.equal(doc.version, '0.0.1');
      assert.equal(doc.publish, false);
      assert.deepEqual(doc.exec, {
        kind: 'blackbox',
        image: 'leon-edge/face-detect:latest',
        code: fs.readFileSync(path.join(ROOT, 'examples', 'detect-faces.js'), 'utf8'),
        binary: false,
      });
      assert.deepEqual(doc.limits, { timeout: 30000, memory: 512, logs: 10, concurrency: 1 });
      assert.equal(annotation(doc, 'exec'), 'blackbox');
      assert.equal(annotation(doc, 'provide-api-key'), false);
      assert.equal(typeof doc.updated, 'number');
    });

    it('returns identify-face in the face-identify image with an empty knowledge base and its thresholds', async function () {
      const doc = await catalog.getAction({ namespace: '_', name: 'facedemo/identify-face' });
      assert.equal(doc.exec.kind, 'blackbox');
      assert.equal(doc.exec.image, 'leon-edge/face-identify:latest');
      assert.equal(doc.exec.code, fs.readFileSync(path.join(ROOT, 'examples', 'identify-face.js'), 'utf8'));
      assert.deepEqual(param(doc, 'known'), []);
      assert.equal(param(doc, 'threshold'), 0.6);
      assert.equal(param(doc, 'certain'), 0.5);
      assert.equal(doc.limits.memory, 512);
    });

    it('returns a sequence with fully qualified components', async function () {
      const doc = await catalog.getAction({ namespace: 'alice', name: 'facedemo/sensor-alarm' });
      assert.equal(doc.namespace, 'alice/facedemo');
      assert.deepEqual(doc.exec, {
        kind: 'sequence',
        components: ['/alice/facedemo/to-celsius', '/alice/facedemo/threshold'],
      });
      assert.equal(annotation(doc, 'exec'), 'sequence');
    });

    it('accepts fully qualified names and the constructor namespace', async function () {
      const other = new ManifestCatalog(EXAMPLE, 'edge');
      const doc = await other.getAction({ namespace: '_', name: 'facedemo/hello' });
      assert.equal(doc.namespace, 'edge/facedemo');
      assert.deepEqual(doc.parameters, [{ key: 'name', value: 'World' }]);
      const full = await other.getAction({ namespace: '_', name: '/edge/facedemo/threshold' });
      assert.equal(full.name, 'threshold');
      assert.deepEqual(full.parameters, [
        { key: 'threshold', value: 30 },
        { key: 'direction', value: 'above' },
      ]);
    });

    it('knows no runtime images', async function () {
      assert.deepEqual(await catalog.runtimeImages(), {});
      assert.equal(catalog.location, EXAMPLE);
    });
  });

  describe('wskdeploy semantics', function () {
    it('resolves inputs like wskdeploy: multi-line, single-line, type names, json, $ENV; package inputs merged', async function () {
      process.env.MANIFEST_TEST_CITY = 'Haifa';
      const dir = make({
        'hello.js': HELLO,
        'manifest.yaml': [
          'packages:',
          '  demo:',
          '    inputs:',
          '      region: eu',
          '      name: from-package',
          '    actions:',
          '      hello:',
          '        function: hello.js',
          '        runtime: nodejs:20',
          '        inputs:',
          '          name: World',
          '          count: {type: integer, value: 3}',
          '          ratio: {type: float, default: 0.5}',
          '          enabled: {type: boolean}',
          '          label: string',
          '          config: {type: json, value: \'{"a": 1}\'}',
          '          nested: {type: json, value: {b: [1, 2]}}',
          '          list: [1, two]',
          '          city: $MANIFEST_TEST_CITY',
          '          greeting: Hello ${MANIFEST_TEST_CITY}',
          '          described: {description: no value}',
        ].join('\n'),
      });
      const doc = await new ManifestCatalog(path.join(dir, 'manifest.yaml')).getAction({ namespace: 'guest', name: 'demo/hello' });
      assert.deepEqual(doc.parameters, [
        { key: 'region', value: 'eu' },
        { key: 'name', value: 'World' },
        { key: 'count', value: 3 },
        { key: 'ratio', value: 0.5 },
        { key: 'enabled', value: false },
        { key: 'label', value: '' },
        { key: 'config', value: { a: 1 } },
        { key: 'nested', value: { b: [1, 2] } },
        { key: 'list', value: [1, 'two'] },
        { key: 'city', value: 'Haifa' },
        { key: 'greeting', value: 'Hello Haifa' },
        { key: 'described', value: '' },
      ]);
      delete process.env.MANIFEST_TEST_CITY;
    });

    it('derives kinds: runtime forms, file extension, docker, native; main and version', async function () {
      const dir = make({
        'src/a.js': HELLO,
        'b.py': 'def main(args):\n  return {}\n',
        'manifest.yaml': [
          'project:',
          '  name: kinds',
          '  packages:',
          '    p:',
          '      actions:',
          '        plain: {function: src/a.js}',
          '        family: {function: src/a.js, runtime: nodejs}',
          '        at: {function: src/a.js, runtime: "nodejs@18", main: hello, version: 1.0}',
          '        py: {function: b.py}',
          '        box: {function: src/a.js, docker: "me/image:1.0"}',
          '        skeleton: {native: true}',
          '        imageonly: {docker: me/image}',
          '        inline: {code: "function main() { return {}; }", runtime: "nodejs:20"}',
        ].join('\n'),
      });
      const c = new ManifestCatalog(path.join(dir, 'manifest.yaml'));
      const get = (n) => c.getAction({ namespace: 'guest', name: `p/${n}` });
      assert.equal((await get('plain')).exec.kind, 'nodejs:default');
      assert.equal((await get('family')).exec.kind, 'nodejs:default');
      const at = await get('at');
      assert.deepEqual({ kind: at.exec.kind, main: at.exec.main, version: at.version }, { kind: 'nodejs:18', main: 'hello', version: '1.0' });
      assert.equal((await get('py')).exec.kind, 'python:default');
      assert.deepEqual(await get('box').then((d) => d.exec), { kind: 'blackbox', image: 'me/image:1.0', code: HELLO, binary: false });
      assert.deepEqual(await get('skeleton').then((d) => d.exec), { kind: 'blackbox', image: 'openwhisk/dockerskeleton', binary: false });
      assert.deepEqual(await get('imageonly').then((d) => d.exec), { kind: 'blackbox', image: 'me/image', binary: false });
      assert.equal((await get('inline')).exec.code, 'function main() { return {}; }');
    });

    it('sends a .zip function base64-encoded with binary: true', async function () {
      const zip = Buffer.from('504b0304140000000000', 'hex');
      const dir = make({ 'manifest.yaml': 'packages:\n  z:\n    actions:\n      zipped:\n        function: code.zip\n        runtime: nodejs:20\n' });
      fs.writeFileSync(path.join(dir, 'code.zip'), zip);
      const doc = await new ManifestCatalog(path.join(dir, 'manifest.yaml')).getAction({ namespace: 'guest', name: 'z/zipped' });
      assert.deepEqual(doc.exec, { kind: 'nodejs:20', code: zip.toString('base64'), binary: true });
    });

    it('puts the "default" package directly in the namespace', async function () {
      const dir = make({
        'hello.js': HELLO,
        'manifest.yaml':
          'packages:\n  default:\n    actions:\n      hi: {function: hello.js, runtime: "nodejs:20"}\n    sequences:\n      twice: {actions: "hi, hi"}\n',
      });
      const c = new ManifestCatalog(path.join(dir, 'manifest.yaml'), 'ns');
      const doc = await c.getAction({ namespace: '_', name: 'hi' });
      assert.equal(doc.namespace, 'ns');
      assert.deepEqual((await c.getAction({ namespace: '_', name: 'twice' })).exec.components, ['/ns/hi', '/ns/hi']);
      assert.deepEqual(
        (await c.list()).map((e) => [e.name, e.package]),
        [
          ['hi', ''],
          ['twice', ''],
        ],
      );
    });

    it('turns web: true into the web-export annotations and keeps user annotations', async function () {
      const dir = make({
        'hello.js': HELLO,
        'manifest.yaml':
          'packages:\n  w:\n    actions:\n      api:\n        function: hello.js\n        runtime: nodejs:20\n        web: true\n        annotations:\n          owner: edge-team\n',
      });
      const doc = await new ManifestCatalog(path.join(dir, 'manifest.yaml')).getAction({ namespace: 'guest', name: 'w/api' });
      assert.deepEqual(doc.annotations, [
        { key: 'owner', value: 'edge-team' },
        { key: 'web-export', value: true },
        { key: 'raw-http', value: false },
        { key: 'final', value: true },
        { key: 'provide-api-key', value: false },
        { key: 'exec', value: 'nodejs:20' },
      ]);
    });

    it('reads the manifest again when it changes', async function () {
      const dir = make({ 'hello.js': HELLO, 'manifest.yaml': 'packages:\n  a:\n    actions:\n      one: {function: hello.js, runtime: "nodejs:20"}\n' });
      const file = path.join(dir, 'manifest.yaml');
      const c = new ManifestCatalog(file);
      assert.deepEqual(
        (await c.list()).map((e) => e.name),
        ['a/one'],
      );
      fs.writeFileSync(
        file,
        'packages:\n  a:\n    actions:\n      one: {function: hello.js, runtime: "nodejs:20"}\n      two: {function: hello.js, runtime: "nodejs:20"}\n',
      );
      const t = new Date(Date.now() + 5000);
      fs.utimesSync(file, t, t);
      assert.deepEqual(
        (await c.list()).map((e) => e.name),
        ['a/one', 'a/two'],
      );
    });

    it('warns (with the line) about keys wskdeploy ignores', async function () {
      const dir = make({
        'hello.js': HELLO,
        'manifest.yaml':
          'packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n        runtime: nodejs:20\n        timeout: 5\n        limits:\n          memoryLimit: 256\n          timeout: 50\n        inputs:\n          obj: {a: 1}\n',
      });
      const c = new ManifestCatalog(path.join(dir, 'manifest.yaml'));
      const doc = await c.getAction({ namespace: 'guest', name: 'a/one' });
      assert.equal(doc.limits.memory, 256);
      assert.equal(doc.limits.timeout, 60000); // below 100 ms: dropped, as wskdeploy does
      assert.deepEqual(doc.parameters, [{ key: 'obj', value: '' }]); // as wskdeploy would deploy it
      const warnings = c.warnings();
      assert.equal(warnings.length, 4, warnings.join('\n'));
      assert.match(warnings[0], /manifest\.yaml:7: unknown action key 'timeout'/);
      assert.match(warnings[1], /manifest\.yaml:9: .*memorySize/);
      assert.match(warnings[2], /manifest\.yaml:10: .*limit 'timeout' below 100 is dropped/);
      assert.match(warnings[3], /manifest\.yaml:12: parameter 'obj' is a mapping without type\/value/);
    });
  });

  describe('errors', function () {
    /** Writes a manifest (and hello.js) and returns the error of getAction/list. */
    async function errorOf(yamlText, name = 'a/one') {
      const dir = make({ 'hello.js': HELLO, 'manifest.yaml': yamlText });
      const file = path.join(dir, 'manifest.yaml');
      const err = await failure(new ManifestCatalog(file).getAction({ namespace: 'guest', name }));
      return { err, file };
    }

    it('reports a YAML syntax error with file, line and column', async function () {
      const { err, file } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n       runtime: [nodejs:20\n');
      assert.ok(err instanceof ManifestError, String(err));
      assert.equal(err.code, 'config');
      assert.equal(err.file, file);
      assert.equal(err.line, 6);
      assert.match(err.message, new RegExp(`^Manifest ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:\\d+: YAML syntax error: `));
    });

    it('names the line of a missing function file', async function () {
      const { err, file } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        runtime: nodejs:20\n        function: ./nothere.js\n');
      assert.ok(err instanceof ManifestError);
      assert.equal(err.line, 6);
      assert.ok(err.message.startsWith(`Manifest ${file}:6:`), err.message);
      assert.match(err.message, /action 'one': function file '\.\/nothere\.js' not found/);
    });

    it('names the line of an unknown parameter type', async function () {
      const { err } = await errorOf(
        'packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n        inputs:\n          num:\n            type: strnig\n            value: x\n',
      );
      assert.equal(err.line, 8);
      assert.match(err.message, /parameter 'num' has an unknown type 'strnig'/);
    });

    it('names the line of a value that does not match its type', async function () {
      const { err } = await errorOf(
        'packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n        inputs:\n          num: {type: integer, value: many}\n',
      );
      assert.equal(err.line, 7);
      assert.match(err.message, /parameter 'num' is declared 'integer' but its value is string "many"/);
    });

    it('names the line of a bad runtime and of a bad limit', async function () {
      let { err } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n        runtime: node js 20\n');
      assert.equal(err.line, 6);
      assert.match(err.message, /runtime 'node js 20' is not of the form <language>:<version>/);
      ({ err } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n        limits:\n          timeout: 30s\n'));
      assert.equal(err.line, 7);
      assert.match(err.message, /limit 'timeout' must be a whole number \(milliseconds\)/);
    });

    it('rejects a zip without runtime, a folder as function, and a sequence of unknown actions', async function () {
      let { err } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        function: hello.js\n      two:\n        function: x.zip\n');
      assert.match(err.message, /function file 'x\.zip' not found/);
      ({ err } = await errorOf('packages:\n  a:\n    actions:\n      one:\n        function: .\n        runtime: nodejs:20\n'));
      assert.match(err.message, /is a folder; zip it/);
      ({ err } = await errorOf('packages:\n  a:\n    actions:\n      one: {function: hello.js}\n    sequences:\n      s:\n        actions: one, two\n'));
      assert.equal(err.line, 7);
      assert.match(err.message, /sequence 's': action 'a\/two' is not defined in this manifest/);
    });

    it('rejects structural mistakes with the line', async function () {
      let { err } = await errorOf('packages:\n  a:\n    actions:\n      - one\n');
      assert.equal(err.line, 3);
      assert.match(err.message, /'actions' must be a mapping of action names, not a list/);
      ({ err } = await errorOf('package:\n  name: a\n'));
      assert.match(err.message, /no 'packages:' in the manifest.*singular 'package:'/);
      ({ err } = await errorOf('# nothing\n'));
      assert.match(err.message, /YAML syntax error|empty/);
    });

    it('answers an unknown action like the API 404, naming the manifest', async function () {
      const err = await failure(new ManifestCatalog(EXAMPLE).getAction({ namespace: 'guest', name: 'facedemo/nope' }));
      assert.equal(err.statusCode, 404);
      assert.equal(err.message, `Action 'facedemo/nope' not found in manifest ${EXAMPLE}`);
      const hint = await failure(new ManifestCatalog(EXAMPLE).getAction({ namespace: 'guest', name: 'hello' }));
      assert.match(hint.message, /did you mean 'facedemo\/hello'\?/);
    });

    it('reports a missing manifest file', async function () {
      const err = await failure(new ManifestCatalog('/nonexistent/manifest.yaml').list());
      assert.ok(err instanceof ManifestError);
      assert.match(err.message, /^Manifest \/nonexistent\/manifest\.yaml: cannot read the manifest: ENOENT/);
    });
  });
});
