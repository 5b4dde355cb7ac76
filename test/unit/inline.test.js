'use strict';
const assert = require('node:assert/strict');
const { inlineSpec, inlineRef, inlineDoc, differences } = require('../../dist/lib/inline');
const { parseContextKeys, contextParam, takeUpdates, MAX_CONTEXT_BYTES } = require('../../dist/lib/context');
const { initReason } = require('../../dist/lib/local/proxy-client');

describe("inline actions: the node's own action", () => {
  it('checks kind, entry point, limits and code, with messages naming the field', () => {
    const s = inlineSpec({ kind: 'python:3.11', main: 'handle', code: 'def handle(a): return a', memory: '128', timeout: 5, concurrency: '' });
    assert.deepEqual(s.limits, { memory: 128, timeout: 5000, concurrency: 1 });
    assert.throws(() => inlineSpec({ kind: 'java:8', code: 'x' }), /kind 'java:8' is not one this node writes: choose nodejs:20, nodejs:22, python:3.11/);
    assert.throws(() => inlineSpec({ code: 'x', memory: 64 }), /memory \(MB\) must be a whole number from 128 to 4096, not '64'/);
    assert.throws(() => inlineSpec({ code: 'x', main: 'no such' }), /entry point 'no such' is not a function name/);
    assert.throws(() => inlineSpec({ code: 'x'.repeat(1024 * 1024 + 1) }), /more than the 1048576 an inline action may have/);
  });

  it("names the action after the node unless the node names it; a package goes into the document's namespace", () => {
    assert.deepEqual(inlineRef('', '', '7c1d2e3f.4a5b6'), { namespace: '_', name: 'node-red/7c1d2e3f.4a5b6' });
    const doc = inlineDoc(inlineSpec({ code: 'function main(){}' }), inlineRef('/guest/tools/x', '', 'n'));
    assert.equal(doc.namespace, 'guest/tools');
    assert.equal(doc.name, 'x');
  });

  it('sees a change of code, kind, entry point or limits, and none when the service resolved nodejs:default', () => {
    const spec = inlineSpec({ kind: 'nodejs:default', code: 'c' });
    const held = { namespace: '_', name: 'x', exec: { kind: 'nodejs:20', code: 'c' }, limits: { memory: 256, timeout: 60000, concurrency: 1, logs: 10 } };
    assert.deepEqual(differences(held, spec), []);
    assert.deepEqual(differences({ ...held, exec: { kind: 'python:3.11', code: 'd', main: 'go' }, limits: { ...held.limits, memory: 512 } }, spec), [
      'kind',
      'code',
      'entry point',
      'memory',
    ]);
  });

  it("quotes the cause of an /init failure: the runtime's words, or the log's last line when they are generic", () => {
    assert.equal(
      initReason("Initialization has failed due to: SyntaxError: Unexpected token ')'\n    at new Function", ''),
      "SyntaxError: Unexpected token ')'",
    );
    const logs =
      'Container logs:\n2026-01-01T00:00:00Z stderr: Traceback (most recent call last):\n2026-01-01T00:00:00Z stderr: File "main__.py", line 1\n2026-01-01T00:00:00Z stderr: NameError: name \'x\' is not defined\n2026-01-01T00:00:00Z stderr: Command exited abruptly during initialization.';
    assert.equal(initReason('Cannot start action. Check logs for details.', logs), "NameError: name 'x' is not defined");
  });
});

describe('context for actions', () => {
  it('parses declared keys and refuses others, naming them', () => {
    assert.deepEqual(parseContextKeys('flow.avg, global.limit\nflow.avg'), [
      { scope: 'flow', key: 'avg' },
      { scope: 'global', key: 'limit' },
    ]);
    assert.throws(() => parseContextKeys('node.x'), /'node\.x' is not valid/);
    assert.throws(() => parseContextKeys(Array.from({ length: 33 }, (_, i) => `flow.k${i}`).join(',')), /33 context keys; an action may use at most 32/);
  });

  it('passes the declared values in, bounded', () => {
    const keys = parseContextKeys('flow.a, global.b, flow.none');
    assert.deepEqual(
      contextParam(keys, (k) => ({ a: 1, b: 'x' })[k.key]),
      { flow: { a: 1 }, global: { b: 'x' } },
    );
    assert.throws(() => contextParam(keys, (k) => (k.key === 'b' ? 'x'.repeat(MAX_CONTEXT_BYTES) : 1)), /the largest, global\.b/);
  });

  it('takes updates out of the result: declared ones applied, null deletes, undeclared ignored, bad shapes refused whole', () => {
    const keys = parseContextKeys('flow.a, global.b');
    const result = { out: 1, _context: { flow: { a: 2, z: 3 }, global: { b: null } } };
    const { updates, undeclared } = takeUpdates(result, keys, '/_/x');
    assert.deepEqual(result, { out: 1 });
    assert.deepEqual(updates, [
      { scope: 'flow', key: 'a', value: 2 },
      { scope: 'global', key: 'b', value: undefined },
    ]);
    assert.deepEqual(undeclared, ['flow.z']);
    assert.throws(() => takeUpdates({ _context: [1] }, keys, '/_/x'), /returned _context that is not an object.*No context was changed/);
    assert.throws(() => takeUpdates({ _context: { node: {} } }, keys, '/_/x'), /_context\.node/);
    assert.throws(() => takeUpdates({ _context: { flow: { a: 'x'.repeat(MAX_CONTEXT_BYTES) } } }, keys, '/_/x'), /bytes of context updates/);
  });
});
