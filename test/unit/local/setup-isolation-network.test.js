'use strict';
// Which isolation network every process keeps when an engine holds several with one name
// (lib/local/setup.ts reconcileIsolation): pure, no Docker.

const assert = require('node:assert/strict');
const { reconcileIsolation } = require('../../../dist/lib/local/setup');

const ICC_OFF = { 'com.docker.network.bridge.enable_icc': 'false' };
const OURS = { 'io.leon-edge.managed': 'true' };
const net = (Id, Created, over = {}) => ({ Id, Name: 'leon-openwhisk-isolated', Created, Options: ICC_OFF, Labels: OURS, ...over });

describe('local: the isolation network kept among duplicates (setup.ts)', () => {
  it('keeps the oldest to the nanosecond (two created 0.7 ms apart), whatever order the engine lists them in', () => {
    const a = net('bbb', '2026-12-07T13:20:00.1234567Z');
    const b = net('aaa', '2026-12-07T13:20:00.12415Z');
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      const { keep, extra } = reconcileIsolation(order);
      assert.equal(keep.Id, 'bbb');
      assert.deepEqual(
        extra.map((n) => n.Id),
        ['aaa'],
      );
    }
  });

  it('the same time: the lowest id; any time zone the engine writes', () => {
    assert.equal(reconcileIsolation([net('b2', '2026-12-07T13:20:00.5Z'), net('a1', '2026-12-07T13:20:00.500Z')]).keep.Id, 'a1');
    assert.equal(reconcileIsolation([net('x', '2026-12-07T14:20:00.2+01:00'), net('y', '2026-12-07T13:20:00.1Z')]).keep.Id, 'y');
  });

  it('never keeps one that lets containers reach each other, and removes only its own copies', () => {
    const open = net('0open', '2026-01-01T00:00:00Z', { Options: {}, Labels: {} });
    const foreign = net('1foreign', '2026-12-07T13:00:00Z', { Labels: {} });
    const ours = net('2ours', '2026-12-07T13:30:00Z');
    const { keep, extra } = reconcileIsolation([ours, open, foreign]);
    assert.equal(keep.Id, '1foreign');
    assert.deepEqual(
      extra.map((n) => n.Id),
      ['2ours'],
    );
    assert.deepEqual(reconcileIsolation([open]), { keep: undefined, extra: [] });
  });
});
