'use strict';
// The metrics registry (lib/metrics.ts) and the runtime's metrics (lib/gateway/operators.ts) without
// Docker: the text format's escapes, the series cap, and what an operator reads for each outcome.
const assert = require('node:assert/strict');
const { MetricsRegistry, OVERFLOW } = require('../../dist/lib/metrics');
const { RuntimeMetrics, UNKNOWN_ACTION } = require('../../dist/lib/gateway/operators');
const { OpenWhiskNodeError } = require('../../dist/lib/errors');

/** An activation as far as the metrics read one. */
const activation = (path, status, extra = []) =>
  /** @type {import('../../dist/lib/types').Activation} */ ({
    activationId: 'a'.repeat(32),
    name: path.split('/').pop(),
    namespace: 'guest',
    duration: 20,
    response: { status, success: status === 'success', result: {} },
    annotations: [{ key: 'path', value: path }, { key: 'kind', value: 'nodejs:20' }, ...extra],
  });

describe('metrics registry', () => {
  it('escapes label values and help text as the text format wants', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'x_total', help: 'a \\ b\nc', labelNames: ['v'] });
    c.inc({ v: 'quote " back \\ nl \n' }, 2);
    assert.equal(r.expose(), '# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{v="quote \\" back \\\\ nl \\n"} 2\n');
  });

  it('holds at most maxSeries label sets: the rest is counted in one _other series', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'y_total', help: 'h', labelNames: ['action'], maxSeries: 3 });
    for (let i = 0; i < 100; i++) c.inc({ action: `a${i}` });
    assert.equal(c.size, 4);
    assert.equal(c.get({ action: 'a0' }), 1);
    assert.equal(c.get({ action: OVERFLOW }), 97);
  });

  it('writes histograms with cumulative buckets, +Inf, _sum and _count', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({ name: 'd_seconds', help: 'h', labelNames: ['action'], buckets: [0.1, 1] });
    h.observe({ action: 'a' }, 0.05);
    h.observe({ action: 'a' }, 0.5);
    h.observe({ action: 'a' }, 5);
    assert.match(
      r.expose(),
      /d_seconds_bucket\{action="a",le="0.1"\} 1\nd_seconds_bucket\{action="a",le="1"\} 2\nd_seconds_bucket\{action="a",le="\+Inf"\} 3\nd_seconds_sum\{action="a"\} 5.55\nd_seconds_count\{action="a"\} 3\n/,
    );
  });
});

describe('runtime metrics', () => {
  const ref = { namespace: '_', name: 'edge/hello' };
  it('counts outcomes by status and where, cold and warm starts, and bursts', () => {
    const m = new RuntimeMetrics(() => undefined);
    const flow = m.observer('flow');
    flow.done(ref, 'local', activation('guest/edge/hello', 'success', [{ key: 'initTime', value: 30 }]));
    flow.done(ref, 'local', activation('guest/edge/hello', 'success'));
    flow.done(ref, 'local', activation('guest/edge/hello', 'action developer error'));
    flow.burst(ref);
    flow.done(ref, 'burst', activation('other-ns/edge/hello', 'success'));
    flow.done(ref, 'local', undefined, new OpenWhiskNodeError('overload', 'queue full'));
    m.observer('api').done({ namespace: '_', name: 'typo' }, 'local', undefined, new OpenWhiskNodeError('http', 'not found', { statusCode: 404 }));
    const text = m.expose();
    const line = (s) => assert.ok(text.includes(`${s}\n`), `${s} in\n${text}`);
    line('openwhisk_gateway_activations_total{action="guest/edge/hello",status="success",where="local",source="flow"} 2');
    line('openwhisk_gateway_activations_total{action="guest/edge/hello",status="developer_error",where="local",source="flow"} 1');
    // A burst is counted under the action's local name, not the cloud's path.
    line('openwhisk_gateway_activations_total{action="guest/edge/hello",status="success",where="burst",source="flow"} 1');
    line('openwhisk_gateway_bursts_total{action="guest/edge/hello"} 1');
    line('openwhisk_gateway_activations_total{action="guest/edge/hello",status="rejected",where="local",source="flow"} 1');
    line('openwhisk_gateway_rejections_total{action="guest/edge/hello",code="overload"} 1');
    line(`openwhisk_gateway_rejections_total{action="${UNKNOWN_ACTION}",code="http"} 1`);
    line('openwhisk_gateway_starts_total{action="guest/edge/hello",start="cold"} 1');
    line('openwhisk_gateway_starts_total{action="guest/edge/hello",start="warm"} 2');
    assert.ok(!text.includes('typo'));
  });

  it('labels at most maxActions actions; the others are _other', () => {
    const m = new RuntimeMetrics(() => undefined, 2);
    const o = m.observer('api');
    for (const n of ['a', 'b', 'c', 'd']) o.done({ namespace: '_', name: n }, 'local', activation(`guest/${n}`, 'success'));
    const text = m.expose();
    assert.match(text, /action="guest\/a"/);
    assert.match(text, /action="guest\/b"/);
    assert.doesNotMatch(text, /action="guest\/c"/);
    assert.match(text, /openwhisk_gateway_activations_total\{action="_other",status="success",where="local",source="api"\} 2\n/);
  });
});
