'use strict';
// Kind → image resolution of the local Docker runtime (lib/local/images.ts), no Docker needed.

const assert = require('node:assert/strict');
const { resolveImage, resolveDefaultKind, familyOf, supportsConcurrency, BUILTIN_RUNTIMES } = require('../../../dist/lib/local/images');
const { OpenWhiskNodeError } = require('../../../dist/lib/errors');

function configError(fn, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof OpenWhiskNodeError, `not an OpenWhiskNodeError: ${e}`);
    assert.equal(e.code, 'config');
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('local: image resolution', () => {
  it('built-in table mirrors the current runtimes manifest (openwhisk/...:nightly)', () => {
    const expected = {
      'nodejs:18': 'openwhisk/action-nodejs-v18:nightly',
      'nodejs:20': 'openwhisk/action-nodejs-v20:nightly',
      'nodejs:22': 'openwhisk/action-nodejs-v22:nightly',
      'python:3.10': 'openwhisk/action-python-v3.10:nightly',
      'python:3.11': 'openwhisk/action-python-v3.11:nightly',
      'go:1.20': 'openwhisk/action-golang-v1.20:nightly',
      'java:8': 'openwhisk/java8action:nightly',
      'php:8.1': 'openwhisk/action-php-v8.1:nightly',
      'ruby:2.5': 'openwhisk/action-ruby-v2.5:nightly',
      'swift:5.3': 'openwhisk/action-swift-v5.3:nightly',
      'swift:5.7': 'openwhisk/action-swift-v5.7:nightly',
      'dotnet:3.1': 'openwhisk/action-dotnet-v3.1:nightly',
      'dotnet:6.0': 'openwhisk/action-dotnet-v6.0:nightly',
      'rust:1.34': 'openwhisk/action-rust-v1.34:nightly',
    };
    for (const [kind, image] of Object.entries(expected)) {
      const r = resolveImage({ kind });
      assert.deepEqual(r, { image, kind, family: familyOf(kind), source: 'builtin' }, kind);
    }
    // every family has exactly one default
    for (const [family, kinds] of Object.entries(BUILTIN_RUNTIMES)) {
      assert.equal(Object.values(kinds).filter((k) => k.default).length, 1, family);
    }
  });

  it('<family>:default resolves to the family default', () => {
    assert.equal(resolveDefaultKind('nodejs:default'), 'nodejs:22');
    assert.equal(resolveDefaultKind('nodejs'), 'nodejs:22');
    assert.equal(resolveDefaultKind('python:default'), 'python:3.10');
    assert.equal(resolveDefaultKind('nodejs:18'), 'nodejs:18');
    assert.equal(resolveDefaultKind('nodejs:20'), 'nodejs:20');
    const r = resolveImage({ kind: 'nodejs:default' });
    assert.equal(r.kind, 'nodejs:22');
    assert.equal(r.image, 'openwhisk/action-nodejs-v22:nightly');
    // a family only the deployment knows
    assert.equal(resolveDefaultKind('deno:default', { 'deno:1': 'x/deno:1' }), 'deno:1');
  });

  it('blackbox uses exec.image, before any override', () => {
    const r = resolveImage({ kind: 'blackbox', image: 'me/echo:1' }, { blackbox: 'other', 'nodejs:*': 'x' });
    assert.deepEqual(r, { image: 'me/echo:1', kind: 'blackbox', family: 'blackbox', source: 'blackbox' });
    configError(() => resolveImage({ kind: 'blackbox' }), /no exec.image/);
  });

  it('override: exact kind, then family wildcard, over manifest and built-ins', () => {
    const manifest = { 'nodejs:20': 'registry/ow/action-nodejs-v20:1.23.0', 'nodejs:18': 'registry/ow/action-nodejs-v18:1.23.0' };
    const overrides = { 'nodejs:20': 'local/node20:arm', 'nodejs:*': 'local/node:any' };
    assert.deepEqual(resolveImage({ kind: 'nodejs:20' }, overrides, manifest), {
      image: 'local/node20:arm',
      kind: 'nodejs:20',
      family: 'nodejs',
      source: 'override',
    });
    assert.equal(resolveImage({ kind: 'nodejs:18' }, overrides, manifest).image, 'local/node:any');
    assert.equal(resolveImage({ kind: 'nodejs:default' }, { 'nodejs:22': 'local/x' }).image, 'local/x');
    // the runtime's usual pair: Node 20 for the actions that name it, the 22 image for every other nodejs kind
    const pair = { 'nodejs:20': 'leon-edge/action-nodejs-v20:latest', 'nodejs:*': 'leon-edge/action-nodejs-v22:latest' };
    assert.equal(resolveImage({ kind: 'nodejs:20' }, pair).image, 'leon-edge/action-nodejs-v20:latest');
    for (const kind of ['nodejs:22', 'nodejs:default']) {
      assert.deepEqual(
        resolveImage({ kind }, pair),
        { image: 'leon-edge/action-nodejs-v22:latest', kind: 'nodejs:22', family: 'nodejs', source: 'override' },
        kind,
      );
    }
    assert.equal(resolveImage({ kind: 'nodejs:default' }, { 'nodejs:default': 'local/d' }).image, 'local/d');
    // blank override values are ignored
    assert.equal(resolveImage({ kind: 'nodejs:20' }, { 'nodejs:20': '  ' }).source, 'builtin');
  });

  it("python:3, python:3.11 and python:default all take a 'python:*' override (our Python runtime)", () => {
    const overrides = { 'nodejs:*': 'leon-edge/action-nodejs-v20:latest', 'python:*': 'leon-edge/action-python-v3.11:latest' };
    for (const kind of ['python:3', 'python:3.11', 'python:default', 'python']) {
      const r = resolveImage({ kind }, overrides);
      assert.equal(r.image, 'leon-edge/action-python-v3.11:latest', kind);
      assert.equal(r.source, 'override', kind);
      assert.equal(r.family, 'python', kind);
    }
    assert.equal(resolveImage({ kind: 'python:3' }).image, 'openwhisk/python3action:nightly');
    assert.equal(resolveImage({ kind: 'nodejs:20' }, overrides).image, 'leon-edge/action-nodejs-v20:latest');
  });

  it('manifest (GET / of the API host) beats the built-in table', () => {
    const manifest = { 'python:3.11': 'openwhisk/action-python-v3.11:1.2.3', 'python:3.12': 'openwhisk/action-python-v3.12:nightly' };
    assert.deepEqual(resolveImage({ kind: 'python:3.11' }, {}, manifest), {
      image: 'openwhisk/action-python-v3.11:1.2.3',
      kind: 'python:3.11',
      family: 'python',
      source: 'manifest',
    });
    // a kind newer than the built-in table
    assert.equal(resolveImage({ kind: 'python:3.12' }, {}, manifest).image, 'openwhisk/action-python-v3.12:nightly');
    // manifest may also carry an explicit ":default" entry
    assert.equal(resolveImage({ kind: 'python:default' }, {}, { 'python:default': 'm/p:d' }).image, 'm/p:d');
  });

  it('unknown kind → clear config error naming the kind and what to do', () => {
    configError(() => resolveImage({ kind: 'cobol:85' }), /Unsupported action kind 'cobol:85'.*image override for kind 'cobol:85' \(or 'cobol:\*'\)/s);
    configError(() => resolveImage({ kind: '' }), /no exec.kind/);
    configError(() => resolveImage({ kind: 'sequence', components: [] }), /sequence/);
  });

  it('concurrency support: nodejs family, or a known nodejs action image', () => {
    assert.equal(supportsConcurrency(resolveImage({ kind: 'nodejs:20' })), true);
    assert.equal(supportsConcurrency(resolveImage({ kind: 'python:3.11' })), false);
    assert.equal(supportsConcurrency(resolveImage({ kind: 'blackbox', image: 'openwhisk/action-nodejs-v20:nightly' })), true);
    assert.equal(supportsConcurrency(resolveImage({ kind: 'blackbox', image: 'leon-edge/action-nodejs-v20:latest' })), true);
    assert.equal(supportsConcurrency(resolveImage({ kind: 'blackbox', image: 'leon-edge/blackbox-echo:latest' })), false);
  });
});
