'use strict';
// What an operator reads from a runtime that serves the API: GET /ping (liveness, no key) and GET
// /metrics (Prometheus text format 0.0.4, behind the API's key), on Node-RED's path and on the
// runtime's own port. Real Node-RED 5, real Docker: messages sent through a deployed flow and calls of
// the API are counted by action, status, where and source, as they happened.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createRed, until, freePort } = require('../../support/red-process');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage, docker, containersWith } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const KEY = '5d1c7a0e-2f4b-4c3e-8a61-7b9e0c2d4f10:Qw3eR5tY7uI9oP1aS3dF5gH7jK9lZ2xC4vB6nM8qW0eR2tY4uI6oP8aS0dF2gH4j';

/**
 * A strict parser of the Prometheus text format 0.0.4: every line is a comment, HELP, TYPE or a sample;
 * a family's HELP and TYPE come before its samples and only once; sample names belong to the declared
 * family (a histogram's _bucket, _sum, _count); labels are name="value" with the format's escapes; no
 * series twice; a histogram's buckets are cumulative with +Inf equal to _count. Throws on anything else.
 */
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map();
  const seen = new Set();
  let current;
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, what, name, rest] = m;
      let f = families.get(name);
      if (!f) {
        assert.ok(!seen.has(name), `${where}: family ${name} declared after its samples`);
        f = { name, samples: [] };
        families.set(name, f);
      }
      if (what === 'HELP') {
        assert.equal(f.help, undefined, `${where}: HELP twice`);
        assert.doesNotMatch(rest, /\\[^\\n]/, `${where}: bad escape in HELP`);
        f.help = rest;
      } else {
        assert.equal(f.type, undefined, `${where}: TYPE twice`);
        assert.equal(f.samples.length, 0, `${where}: TYPE after samples`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), `${where}: unknown type`);
        f.type = rest;
      }
      current = f;
      return;
    }
    assert.notEqual(line.trim(), '', `${where}: empty line`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    assert.ok(m, `${where}: not a sample`);
    const [, name, , labelText, valueText] = m;
    const labels = {};
    if (labelText !== undefined && labelText !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const l = re.exec(labelText);
        assert.ok(l, `${where}: bad labels at ${pos}`);
        assert.ok(!(l[1] in labels), `${where}: label ${l[1]} twice`);
        labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
        if (l[3] === '' && pos < labelText.length) assert.fail(`${where}: trailing text in labels`);
      }
    }
    assert.ok(/^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(valueText), `${where}: bad value`);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    assert.ok(current, `${where}: sample without a family`);
    const base = current.type === 'histogram' ? name.replace(/_(bucket|sum|count)$/, '') : name;
    assert.equal(base, current.name, `${where}: sample of another family than ${current.name}`);
    assert.ok(NAME.test(name));
    if (current.type === 'histogram' && name.endsWith('_bucket')) assert.ok('le' in labels, `${where}: bucket without le`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `${where}: series twice`);
    seen.add(key);
    seen.add(current.name);
    current.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    assert.ok(f.help !== undefined && f.type, `${f.name}: HELP and TYPE`);
    if (f.type !== 'histogram') continue;
    const bySeries = new Map();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      const e = bySeries.get(k) ?? { buckets: [], count: undefined };
      bySeries.set(k, e);
      if (s.name.endsWith('_bucket')) e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
      if (s.name.endsWith('_count')) e.count = s.value;
    }
    for (const [k, e] of bySeries) {
      for (let i = 1; i < e.buckets.length; i++) {
        assert.ok(e.buckets[i][0] > e.buckets[i - 1][0] && e.buckets[i][1] >= e.buckets[i - 1][1], `${f.name}${k}: buckets cumulative`);
      }
      assert.equal(e.buckets.at(-1)[0], Infinity, `${f.name}${k}: +Inf bucket last`);
      assert.equal(e.buckets.at(-1)[1], e.count, `${f.name}${k}: +Inf equals _count`);
    }
  }
  return families;
}

/** The value of the sample `name` whose labels include `labels`, summed over the others (0 if none). */
function sum(families, family, name, labels = {}) {
  const f = families.get(family);
  if (!f) return 0;
  return f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

describe('operators: /ping and /metrics (real Node-RED, real Docker)', function () {
  this.timeout(180000);
  let ow;
  let red;
  let inst;
  let ownPort;
  const auth = (key = KEY) => ({ authorization: `Basic ${Buffer.from(key).toString('base64')}` });

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    ow = await startOpenWhiskServer();
    ow.putPackage('guest', 'edge', { parameters: [{ key: 'site', value: 'plant-1' }] });
    ow.putAction('guest', 'edge/hello', { exec: { kind: 'nodejs:20', code: 'function main(p) { return { greeting: "Hello " + (p.name || "stranger") }; }' } });
    ow.putAction('guest', 'broken', { exec: { kind: 'nodejs:20', code: 'function main() { return { error: "bad reading" }; }' } });
    ownPort = await freePort();
    red = await createRed({ version: 5 });
    await red.start();
    await red.deploy([
      { id: 'tab', type: 'tab', label: 'operators' },
      { id: 'svc', type: 'openwhisk-service', api: ow.url, credentials: { key: ow.key('guest') } },
      {
        id: 'rt',
        type: 'openwhisk-runtime',
        mode: 'local',
        service: 'svc',
        images: `nodejs:*=${IMAGE}`,
        capacity: 3,
        queue: 10,
        serveApi: true,
        apiPath: 'ops',
        apiListen: String(ownPort),
        credentials: { apiKey: KEY },
      },
      { id: 'in', z: 'tab', type: 'http in', url: '/hello', method: 'post', wires: [['act']] },
      { id: 'act', z: 'tab', type: 'openwhisk-action', runtime: 'rt', action: 'edge/hello', params: [], wires: [['out']] },
      { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {} },
    ]);
    inst = fs.readFileSync(path.join(red.userDir, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
    // The action node's container is up before messages come (its status says ready).
    await until(
      'the action node to be provisioned',
      async () => (await containersWith('io.leon-edge.node=act', `io.leon-edge.instance=${inst}`)).length > 0,
      60000,
    );
  });

  after(async () => {
    if (red) await red.destroy();
    if (inst)
      for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    if (ow) await ow.stop();
  });

  it("answers /ping without a key, on Node-RED's path and on the own port", async () => {
    for (const url of [`${red.url}/openwhisk/ops/ping`, `http://127.0.0.1:${ownPort}/ping`]) {
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      assert.equal(await res.text(), 'pong');
      assert.match(res.headers.get('content-type'), /^text\/plain/);
    }
  });

  it('refuses /metrics without the key (401) or with a wrong one', async () => {
    for (const base of [`${red.url}/openwhisk/ops`, `http://127.0.0.1:${ownPort}`]) {
      const none = await fetch(`${base}/metrics`);
      assert.equal(none.status, 401);
      assert.match((await none.json()).error, /requires authentication/);
      const wrong = await fetch(`${base}/metrics`, { headers: auth(`${KEY.split(':')[0]}:wrong`) });
      assert.equal(wrong.status, 401);
    }
  });

  it('counts N messages of a flow and M calls of the API by action, status, where and source', async () => {
    const N = 4;
    const M = 3;
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${red.url}/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `flow-${i}` }),
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).greeting, `Hello flow-${i}`);
    }
    const invoke = (name, base = `http://127.0.0.1:${ownPort}`) =>
      fetch(`${base}/api/v1/namespaces/_/actions/${name}?blocking=true`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: '{}',
      });
    for (let i = 0; i < M; i++) assert.equal((await invoke('edge/hello', i % 2 ? `${red.url}/openwhisk/ops` : undefined)).status, 200);
    assert.equal((await invoke('broken')).status, 502);
    // A name no catalog knows: 404, and no series of its own.
    assert.equal((await invoke('no-such-action')).status, 404);

    const scrape = async (url) => {
      const res = await fetch(url, { headers: auth() });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      return parseExposition(await res.text());
    };
    const m = await scrape(`${red.url}/openwhisk/ops/metrics`);
    const A = 'openwhisk_gateway_activations_total';
    const hello = 'guest/edge/hello';
    assert.equal(sum(m, A, A, { action: hello, status: 'success', where: 'local', source: 'flow' }), N);
    assert.equal(sum(m, A, A, { action: hello, status: 'success', where: 'local', source: 'api' }), M);
    assert.equal(sum(m, A, A, { action: 'guest/broken', status: 'application_error', where: 'local', source: 'api' }), 1);
    assert.equal(sum(m, A, A, { status: 'rejected', source: 'api' }), 1);
    assert.equal(sum(m, A, A), N + M + 2, 'nothing else was counted');
    assert.equal(sum(m, A, A, { where: 'burst' }) + sum(m, A, A, { where: 'cloud' }), 0);
    assert.ok(!m.get(A).samples.some((s) => s.labels.action === 'no-such-action'), 'an unknown name makes no series');
    assert.equal(sum(m, 'openwhisk_gateway_rejections_total', 'openwhisk_gateway_rejections_total', { action: '_unknown' }), 1);
    // Each local activation is a cold or a warm start: the container's first run is cold.
    const S = 'openwhisk_gateway_starts_total';
    assert.equal(sum(m, S, S, { action: hello }), N + M);
    assert.ok(sum(m, S, S, { action: hello, start: 'cold' }) >= 1);
    assert.ok(sum(m, S, S, { action: hello, start: 'warm' }) >= N + M - 3);
    const D = 'openwhisk_gateway_activation_duration_seconds';
    assert.equal(sum(m, D, `${D}_count`, { action: hello }), N + M);
    assert.ok(sum(m, D, `${D}_sum`, { action: hello }) > 0);
    // Gauges read at the scrape: nothing waits, Docker is ok, the action's containers are there.
    assert.equal(sum(m, 'openwhisk_gateway_queue_depth', 'openwhisk_gateway_queue_depth', { action: hello }), 0);
    assert.equal(sum(m, 'openwhisk_gateway_docker_health', 'openwhisk_gateway_docker_health', { state: 'ok' }), 1);
    assert.equal(sum(m, 'openwhisk_gateway_docker_health', 'openwhisk_gateway_docker_health'), 1);
    const C = 'openwhisk_gateway_containers';
    assert.ok(sum(m, C, C, { state: 'idle' }) >= 1);
    assert.ok(sum(m, C, C) <= 3, 'no more containers than the capacity');
    assert.equal(sum(m, 'openwhisk_gateway_capacity', 'openwhisk_gateway_capacity'), 3);
    assert.equal(sum(m, 'openwhisk_gateway_bursts_total', 'openwhisk_gateway_bursts_total'), 0);
    assert.equal(m.get('openwhisk_gateway_stem_cells').type, 'gauge');

    // The own port serves the same registry.
    const own = await scrape(`http://127.0.0.1:${ownPort}/metrics`);
    assert.equal(sum(own, A, A), N + M + 2);
  });

  it('tells the runtime dialog which image each kind resolves to, whether the engine has it, and what builds it', async () => {
    const status = (body, headers = {}) =>
      fetch(`${red.url}/leon-openwhisk/runtime/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    // The deployed runtime with the dialog's overrides: one present image, one that does not exist.
    const r = await status({ id: 'rt', images: `nodejs:*=${IMAGE}\npython:3.11=leon-edge/no-such-runtime:1`, actions: ['edge/hello'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const byKind = Object.fromEntries(r.body.images.kinds.map((k) => [k.kind, k]));
    assert.equal(byKind['nodejs:20'].image, IMAGE);
    assert.equal(byKind['nodejs:20'].state, 'present');
    assert.equal(byKind['python:3.11'].image, 'leon-edge/no-such-runtime:1');
    assert.equal(byKind['python:3.11'].state, 'missing');
    assert.match(byKind['python:3.11'].build, /^bash runtimes\/build\.sh {3}then the override line {2}python:\*=leon-edge\/action-python-v3\.11:latest$/);
    assert.match(r.body.images.enginePlatform, /^linux\//);
    // Its containers, capacity and Docker health.
    assert.equal(r.body.runtime.health.state, 'ok');
    assert.equal(r.body.runtime.capacity, 3);
    assert.ok(
      r.body.runtime.containers.some((c) => c.action === 'guest/edge/hello' && (c.state === 'ready' || c.state === 'busy')),
      JSON.stringify(r.body.runtime),
    );
    // Another platform than the engine's: the image on the engine is the wrong one, and the command names the platform.
    const other = r.body.images.enginePlatform === 'linux/arm64' ? 'linux/amd64' : 'linux/arm64';
    const cross = await status({ id: 'rt', images: `nodejs:*=${IMAGE}`, platform: other });
    const node = cross.body.images.kinds.find((k) => k.kind === 'nodejs:20');
    assert.equal(node.state, 'wrong-platform');
    assert.equal(node.build, `bash runtimes/build.sh --platform ${other}`);
    // Only the editor's own page: another site's request is refused, and bad settings are named.
    assert.equal((await status({ id: 'rt' }, { 'sec-fetch-site': 'cross-site' })).status, 403);
    const bad = await status({ images: 'nodejs:20 no-equals' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /kind=image/);
  });
});
