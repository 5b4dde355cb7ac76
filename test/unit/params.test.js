'use strict';
const assert = require('node:assert/strict');
const { invocationParams, paramsObject, parseActionName } = require('../../dist/lib/params');
const { normaliseApiHost } = require('../../dist/lib/service');
const { parseImageOverrides, parsePlatform, resolveManifestPath } = require('../../dist/lib/runtime-config');

describe('parameters and names', () => {
  it('turns the node\'s {key, value} list into an object, ignoring blank keys, keeping falsy values', () => {
    assert.deepEqual(paramsObject([{ key: 'a', value: 0 }, { key: ' ', value: 1 }, { key: 'b', value: false }, { key: 'c', value: '' }]), { a: 0, b: false, c: '' });
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

  it('takes the runtime\'s platform: empty for the engine\'s own, else amd64, arm64 or arm/v7 only', () => {
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
      assert.equal(resolveManifestPath(path.join(userDir, 'examples', 'manifest.yaml'), userDir), fs.realpathSync(path.join(userDir, 'examples', 'manifest.yaml')));
    } finally {
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });
});
