'use strict';
// Tiers: gateway A (Node-RED 4.1) bursts to gateway B's OpenWhisk API (Node-RED 5), B bursts to the
// cloud (the OpenWhisk stand-in). With A and B full, a message takes A → B → cloud, and msg.data on A
// says so; a loop (A → B → A) is refused with a clear error.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { gatewayId } = require('../../../dist/lib/gateway/context');
const { createRed } = require('../../support/red-process');
const { startOpenWhiskServer } = require('../../support/openwhisk-server');
const { requireDocker, requireImage, docker, containersWith } = require('../../support/docker');

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const KEY_A = '0a0a0a0a-0000-4000-8000-00000000000a:hwVbbv3iaIz4C9oIuwdsR1FvvThq05SSTM9sV9LwVsaiKPmfEuprxWWZoumvq3kl';
const KEY_B = '0b0b0b0b-0000-4000-8000-00000000000b:X76HeofwiVj1AuM2VYDNqBhmuPQGcNg6FOmINm4qmd92MJ0XdPQI6hQN8Y1Dx5UI';
// It says when it starts (in its container's log), so the test sends the next message once the
// previous one is running where it should, not after a fixed gap.
const SLOW = "function main(p) { console.log('start ' + p.n); return new Promise((r) => setTimeout(() => r({ n: p.n }), 2500)); }";
const MANIFEST = 'packages:\n  tiers:\n    actions:\n      slow:\n        function: slow.js\n        runtime: nodejs:20\n';

describe('gateway tiers: A full → B, B full → cloud, loops refused (two real Node-RED processes)', function () {
  this.timeout(240000);
  let ow;
  let a;
  let b;
  const ids = {};
  const instances = {};

  // A gateway: the manifest's actions, capacity 1 and no queue, its API on, bursting to `burstTo`.
  const gateway = (name, key, burstTo, burstKey) => [
    { id: 'tab', type: 'tab', label: name },
    { id: 'next', type: 'openwhisk-service', api: burstTo, credentials: { key: burstKey } },
    {
      id: 'rt',
      type: 'openwhisk-runtime',
      mode: 'local',
      source: 'manifest',
      manifest: 'manifest.yaml',
      service: 'next',
      burst: true,
      images: `nodejs:*=${IMAGE}`,
      capacity: 1,
      queue: 0,
      serveApi: true,
      apiPath: name,
      credentials: { apiKey: key },
    },
    { id: 'in', z: 'tab', type: 'http in', url: '/go', method: 'post', wires: [['act']] },
    { id: 'act', z: 'tab', type: 'openwhisk-action', runtime: 'rt', action: 'tiers/slow', params: [], wires: [['ok']] },
    { id: 'ok', z: 'tab', type: 'function', func: 'msg.payload = { result: msg.payload, data: msg.data }; return msg;', wires: [['out']] },
    { id: 'c', z: 'tab', type: 'catch', scope: ['act'], uncaught: false, wires: [['bad']] },
    {
      id: 'bad',
      z: 'tab',
      type: 'function',
      func: 'msg.statusCode = 500; msg.payload = { error: msg.error.message, code: msg.error.code }; return msg;',
      wires: [['out']],
    },
    { id: 'out', z: 'tab', type: 'http response', statusCode: '', headers: {} },
  ];

  const go = (red, n) =>
    fetch(`${red.url}/go`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
  const ann = (data, key) => data.annotations.find((k) => k.key === key)?.value;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Ready = the gateway ran the action in its own container (its API's record says so in its first hop;
  // an answer its burst target gave while its container was still starting does not count).
  const ready = async (red) => {
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${red.url}/openwhisk/${red.name}/api/v1/namespaces/_/actions/tiers/slow?blocking=true`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(red.key).toString('base64')}`, 'content-type': 'application/json' },
        body: '{"n":0}',
      }).catch(() => undefined);
      const record = r && r.status === 200 ? await r.json() : undefined;
      if (record && ann(record, 'hops')?.[0]?.where === 'local') return;
      await sleep(200);
    }
    throw new Error(`${red.name} never ran the action in its own container`);
  };
  // Wait until message n is running in one of `red`'s own containers (its log says so).
  const startedOn = async (red, n) => {
    for (const c of await containersWith(`io.leon-edge.instance=${instances[red.name]}`)) {
      const log = await docker
        .getContainer(c.Id)
        .logs({ stdout: true, stderr: false })
        .catch(() => Buffer.alloc(0));
      if (log.toString('latin1').includes(`start ${n}\n`)) return true;
    }
    return false;
  };
  const runningOn = async (red, n) => {
    const t0 = Date.now();
    while (Date.now() - t0 < 30000) {
      if (await startedOn(red, n)) return;
      await sleep(50);
    }
    const elsewhere = [];
    for (const r of [a, b]) if (r !== red && (await startedOn(r, n))) elsewhere.push(r.name);
    const mine = await containersWith(`io.leon-edge.instance=${instances[red.name]}`);
    const tail = (r) => `--- Node-RED ${r.name}, last lines ---\n${r.out.split('\n').slice(-40).join('\n')}`;
    throw new Error(
      `message ${n} never started on gateway ${red.name} within 30 s (started on: ${elsewhere.join(', ') || 'no gateway'}; ${red.name} has ${mine.length} container(s): ${mine.map((c) => c.State).join(', ')})\n${tail(a)}\n${tail(b)}`,
    );
  };

  before(async function () {
    await requireDocker(this);
    await requireImage(this, IMAGE);
    ow = await startOpenWhiskServer();
    ow.putPackage('guest', 'tiers', {});
    ow.putAction('guest', 'tiers/slow', { exec: { kind: 'nodejs:20', code: SLOW } });
    const files = { 'manifest.yaml': MANIFEST, 'slow.js': SLOW };
    a = await createRed({ version: 4, files });
    b = await createRed({ version: 5, files });
    Object.assign(a, { name: 'a', key: KEY_A });
    Object.assign(b, { name: 'b', key: KEY_B });
    await Promise.all([a.start(), b.start()]);
  });

  after(async () => {
    for (const r of [a, b]) if (r) await r.destroy();
    for (const id of Object.values(instances))
      for (const c of await containersWith(`io.leon-edge.instance=${id}`))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
    if (ow) await ow.stop();
  });

  it('runs on A, then on B when A is full, then in the cloud when B is full too; msg.data shows the path', async () => {
    await b.deploy(gateway('b', KEY_B, ow.url, ow.key('guest')));
    await a.deploy(gateway('a', KEY_A, `${b.url}/openwhisk/b`, KEY_B));
    // Each gateway's id: its Node-RED's random instance id (kept in its user directory) and the runtime's.
    for (const r of [a, b]) {
      instances[r.name] = fs.readFileSync(path.join(r.userDir, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
      ids[r.name] = gatewayId(instances[r.name], 'rt');
    }
    await Promise.all([ready(a), ready(b)]);
    const cloudBefore = ow.invocations.length;
    const first = go(a, 1);
    await runningOn(a, 1);
    const second = go(a, 2);
    await runningOn(b, 2);
    const third = go(a, 3);
    const [r1, r2, r3] = await Promise.all([first, second, third]);
    for (const r of [r1, r2, r3]) assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      [r1, r2, r3].map((r) => r.body.result),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );

    assert.equal(ann(r1.body.data, 'where'), 'local');
    assert.equal(ann(r1.body.data, 'hops'), undefined);

    assert.equal(ann(r2.body.data, 'where'), 'gateway');
    assert.equal(ann(r2.body.data, 'burst'), true);
    assert.deepEqual(ann(r2.body.data, 'hops'), [{ gateway: ids.b, where: 'local' }]);

    assert.equal(ann(r3.body.data, 'where'), 'gateway');
    assert.deepEqual(ann(r3.body.data, 'hops'), [{ gateway: ids.b, where: 'cloud' }]);
    assert.equal(ow.invocations.length - cloudBefore, 1, 'one message reached the cloud');
  });

  it('refuses a loop A → B → A with a clear error, and both gateways go on working', async () => {
    await b.deploy(gateway('b', KEY_B, `${a.url}/openwhisk/a`, KEY_A));
    await Promise.all([ready(a), ready(b)]);
    const cloudBefore = ow.invocations.length;
    const first = go(a, 11);
    await runningOn(a, 11);
    const second = go(a, 12);
    await runningOn(b, 12);
    const third = await go(a, 13);
    assert.equal(third.status, 500);
    assert.match(third.body.error, /Gateway loop refused/);
    assert.match(third.body.error, new RegExp(`${ids.a.slice(0, 8)} → ${ids.b.slice(0, 8)} → ${ids.a.slice(0, 8)}`));
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);
    assert.deepEqual(ann(r2.body.data, 'hops'), [{ gateway: ids.b, where: 'local' }]);
    assert.equal(ow.invocations.length, cloudBefore, 'nothing reached the cloud');
    const again = await go(a, 4);
    assert.equal(again.status, 200);
  });
});
