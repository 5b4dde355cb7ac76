'use strict';
const assert = require('node:assert/strict');
const { invocationParams, paramsObject, parseActionName } = require('../../dist/lib/params');
const { apiFailure, normaliseApiHost } = require('../../dist/lib/service');
const { OpenWhiskRest, UnsafePath } = require('../../dist/lib/openwhisk-rest');
const { parseTriggerName } = require('../../dist/lib/trigger');
const { loopbackServer } = require('../support/loopback-server');
const { parseImageOverrides, parsePlatform, resolveManifestPath } = require('../../dist/lib/runtime-config');

describe('parameters and names', () => {
  it("turns the node's {key, value} list into an object, ignoring blank keys, keeping falsy values", () => {
    assert.deepEqual(
      paramsObject([
        { key: 'a', value: 0 },
        { key: ' ', value: 1 },
        { key: 'b', value: false },
        { key: 'c', value: '' },
      ]),
      { a: 0, b: false, c: '' },
    );
  });

  it('merges an object payload over the node params, and wraps anything else as {payload}', () => {
    const node = { a: 1, payload: 'node' };
    assert.deepEqual(invocationParams(node, { a: 2, b: 3 }), { a: 2, b: 3, payload: 'node' });
    assert.deepEqual(invocationParams(node, 'x'), { a: 1, payload: 'x' });
    assert.deepEqual(invocationParams(node, 0), { a: 1, payload: 0 });
    assert.deepEqual(invocationParams(node, [1, 2]), { a: 1, payload: [1, 2] });
    assert.deepEqual(invocationParams(node, Buffer.from([0xff, 0x00])), { a: 1, payload: '/wA=' });
    assert.deepEqual(invocationParams(node, undefined), node);
    assert.throws(() => invocationParams(node, () => 1), /cannot be sent to an action/);
  });

  it('parses action names with and without namespace and package', () => {
    assert.deepEqual(parseActionName('hello', ''), { namespace: '_', name: 'hello' });
    assert.deepEqual(parseActionName('pkg/hello', 'guest'), { namespace: 'guest', name: 'pkg/hello' });
    assert.deepEqual(parseActionName('/ns/pkg/hello', 'ignored'), { namespace: 'ns', name: 'pkg/hello' });
    assert.throws(() => parseActionName('a/b/c', ''), /not valid/);
  });

  it('takes only OpenWhisk entity names: no dot segments, empty parts or other characters, at most 256 characters', () => {
    for (const ok of ['a', '_', 'hello-world', 'my action', 'a.b', 'x@y.z', 'R&D', 'A1_b', 'a'.repeat(256)]) {
      assert.deepEqual(parseActionName(ok, ''), { namespace: '_', name: ok }, ok);
    }
    assert.deepEqual(parseActionName('/whisk.system/utils/echo', ''), { namespace: 'whisk.system', name: 'utils/echo' });
    for (const bad of [
      '..',
      '.',
      '../secret',
      'pkg/..',
      '/_/../secret',
      '/../x',
      'pkg//x',
      'x/',
      '.hidden',
      '-x',
      'a /b',
      'a\\b',
      'a%2Fb',
      'a?b',
      'a#b',
      'é',
      'a'.repeat(257),
    ]) {
      assert.throws(() => parseActionName(bad, ''), /is not valid/, bad);
    }
    assert.throws(() => parseActionName('hello', '..'), /Namespace '\.\.' is not valid/);
    assert.throws(() => parseActionName('hello', 'a/b'), /Namespace 'a\/b' is not valid/);
    assert.deepEqual(parseActionName('hello', ' guest '), { namespace: 'guest', name: 'hello' });
  });

  it('trigger names are one entity name, with or without a namespace', () => {
    assert.deepEqual(parseTriggerName('tick', ''), { namespace: '_', name: 'tick' });
    assert.deepEqual(parseTriggerName('/ns/tick', 'x'), { namespace: 'ns', name: 'tick' });
    for (const bad of ['..', '.', '/../tick', '/ns/..', 'pkg/tick', '/ns/pkg/tick', '']) {
      assert.throws(() => parseTriggerName(bad, ''), /is not a trigger name/, bad);
    }
    assert.throws(() => parseTriggerName('tick', '..'), /Namespace '\.\.' is not valid/);
  });

  it('the REST layer refuses dot segments and empty parts, and sends nothing (the second line behind the names)', async () => {
    const seen = [];
    const srv = await loopbackServer((req, res) => {
      seen.push(req.url);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ namespace: 'guest', name: 'x', exec: { kind: 'nodejs:20' }, activationId: 'a', response: { success: true } }));
    });
    try {
      const rest = new OpenWhiskRest(srv.url, 'u:k', false);
      const call = () => ({ signal: AbortSignal.timeout(5000) });
      const refused = [
        () => rest.getAction('_', '../../otherns/actions/secret', true, call()),
        () => rest.getAction('_', 'pkg/..', true, call()),
        () => rest.getAction('_', '.', true, call()),
        () => rest.getAction('..', 'x', true, call()),
        () => rest.getAction('_', 'a//b', true, call()),
        () => rest.invoke('_', '../x', {}, call()),
        () => rest.getActivation('_', '..', call()),
        () => rest.fireTrigger('_', '..', {}, call()),
        () => rest.getTrigger('..', 'tick', call()),
        () => rest.listActions('..', 10, call()),
      ];
      for (const f of refused) await assert.rejects(f(), (e) => e instanceof UnsafePath && /never empty, "\." or "\.\."/.test(e.message), String(f));
      assert.deepEqual(seen, []);
      // Each segment is encoded: a name with characters a URL gives meaning to stays one segment.
      await rest.getAction('_', 'pkg/a b', false, call());
      await rest.getAction('_', 'a\\b', false, call()).catch(() => undefined);
      assert.deepEqual(seen, ['/api/v1/namespaces/_/actions/pkg/a%20b?code=false', '/api/v1/namespaces/_/actions/a%5Cb?code=false']);
      // A refused path is said plainly by the service layer (named, "bad name"), not as a 404 of somebody else's path.
      const e = apiFailure(new UnsafePath('..', "action '..'"), "action '/_/..'", srv.url);
      assert.equal(e.code, 'input');
      assert.equal(e.short, 'bad name');
    } finally {
      await srv.stop();
    }
  });

  it('accepts the API host with or without /api/v1, http or https, https by default', () => {
    assert.equal(normaliseApiHost('https://ow.example.com/api/v1'), 'https://ow.example.com');
    assert.equal(normaliseApiHost('https://ow.example.com/api/v1/'), 'https://ow.example.com');
    assert.equal(normaliseApiHost('http://localhost:3233'), 'http://localhost:3233');
    assert.equal(normaliseApiHost('ow.example.com'), 'https://ow.example.com');
    assert.equal(normaliseApiHost(' HTTP://host:80/ '), 'HTTP://host:80');
    assert.throws(() => normaliseApiHost(''), /no API host/);
  });

  it('reads image overrides as kind=image lines or JSON, and rejects anything else clearly', () => {
    assert.deepEqual(parseImageOverrides('nodejs:*=a/b:1\npython:3.11 = c'), { 'nodejs:*': 'a/b:1', 'python:3.11': 'c' });
    assert.deepEqual(parseImageOverrides('{"nodejs:20":"x"}'), { 'nodejs:20': 'x' });
    assert.deepEqual(parseImageOverrides(''), {});
    assert.throws(() => parseImageOverrides('nodejs:20 x'), /not of the form kind=image/);
  });

  it("takes the runtime's platform: empty for the engine's own, else amd64, arm64 or arm/v7 only", () => {
    assert.equal(parsePlatform(''), undefined);
    assert.equal(parsePlatform(undefined), undefined);
    assert.equal(parsePlatform(' linux/arm64 '), 'linux/arm64');
    assert.equal(parsePlatform('linux/arm/v7'), 'linux/arm/v7');
    assert.equal(parsePlatform('linux/amd64'), 'linux/amd64');
    for (const bad of ['arm64', 'linux/arm', 'windows/amd64', 'linux/arm64; rm -rf /', 'linux/ARM64']) {
      assert.throws(() => parsePlatform(bad), /is not one of linux\/amd64, linux\/arm64, linux\/arm\/v7/, bad);
    }
  });

  it('finds a relative manifest in the user directory first, then in this package', () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const pkgManifest = fs.realpathSync(path.resolve(__dirname, '..', '..', 'examples', 'manifest.yaml'));
    assert.equal(resolveManifestPath('examples/manifest.yaml', '/nonexistent'), pkgManifest);
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-manifest-path-'));
    try {
      fs.mkdirSync(path.join(userDir, 'examples'));
      fs.writeFileSync(path.join(userDir, 'examples', 'manifest.yaml'), 'packages: {}\n');
      assert.equal(resolveManifestPath('examples/manifest.yaml', userDir), fs.realpathSync(path.join(userDir, 'examples', 'manifest.yaml')));
      assert.equal(
        resolveManifestPath(path.join(userDir, 'examples', 'manifest.yaml'), userDir),
        fs.realpathSync(path.join(userDir, 'examples', 'manifest.yaml')),
      );
    } finally {
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });
});
