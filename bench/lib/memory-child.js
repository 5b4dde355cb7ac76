'use strict';
// Figure 5, in a fresh process (run with --expose-gc): Node-RED's heap and RSS with an empty flow,
// then with N local openwhisk-action nodes deployed, each with its warm container (and one message
// through each), both after forced garbage collection. The catalog server runs in the parent, so
// this process holds only Node-RED and the package. Prints one JSON line on stdout.

const { helper, nodes, whenStatus } = require('./nr');
const { removeWith } = require('./docker');
const { instanceId } = require('../../dist/lib/runtime-config');

const cfg = JSON.parse(process.env.BENCH_MEMORY || '{}');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await sleep(100);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

let loaded = false;
async function main() {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  helper.settings({ userDir: cfg.userDir });
  await helper.startServer();
  const p = `b${cfg.run}mem`;
  const svc = { id: `${p}svc`, type: 'openwhisk-service', api: cfg.owUrl };
  const rt = { id: `${p}rt`, type: 'openwhisk-runtime', mode: 'local', service: svc.id, images: `nodejs:*=${cfg.image}`, capacity: cfg.count, queue: 10 };
  const out = { id: `${p}out`, type: 'helper' };
  const creds = { [svc.id]: { key: cfg.key } };

  // Before: the package's nodes registered, a flow with nothing in it, one deploy/stop cycle done
  // (so Node-RED's own first-deploy allocations are not counted as the package's).
  loaded = true;
  await helper.load(nodes, [{ id: `${p}c0`, type: 'helper' }], {});
  await helper.unload();
  await helper.load(nodes, [{ id: `${p}c1`, type: 'helper' }], {});
  await sleep(500);
  const before = await settledMemory();
  await helper.unload();

  const actions = Array.from({ length: cfg.count }, (_, i) => ({
    id: `${p}a${i}`,
    type: 'openwhisk-action',
    runtime: rt.id,
    action: 'noop',
    namespace: '',
    params: [],
    wires: [[out.id]],
  }));
  const t0 = Date.now();
  await helper.load(nodes, [svc, rt, out, ...actions], creds);
  await Promise.all(
    actions.map(async (a) => {
      const n = helper.getNode(a.id);
      const r = await Promise.race([
        whenStatus(n, (s) => s.fill === 'green', 120000),
        whenStatus(n, (s) => s.fill === 'red', 120000).then((x) => {
          throw new Error(`${a.id}: ${x.status.text}`);
        }),
      ]);
      return r;
    }),
  );
  const deployMs = Date.now() - t0;
  // One message through every node: its keep-alive socket and log frame exist, as in service.
  const outNode = helper.getNode(out.id);
  await Promise.all(
    actions.map(
      (a, i) =>
        new Promise((resolve) => {
          const on = (msg) => {
            if (msg._i === i) {
              outNode.off('input', on);
              resolve();
            }
          };
          outNode.on('input', on);
          helper.getNode(a.id).receive({ payload: { n: i }, _i: i });
        }),
    ),
  );
  // The helper's spies keep every recorded call: not part of the package's memory.
  helper._sandbox.resetHistory();
  await sleep(1000);
  const after = await settledMemory();
  await helper.unload();
  loaded = false;
  await helper.stopServer();
  return { count: cfg.count, before, after, deployMs };
}

async function cleanup() {
  if (loaded) await helper.unload().catch(() => undefined);
  await removeWith(`io.leon-edge.instance=${instanceId(cfg.userDir)}`).catch(() => undefined);
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup().finally(() => process.exit(143));
  });
}

main().then(
  async (r) => {
    await cleanup();
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  async (err) => {
    console.error(`memory: ${err.stack || err}`);
    await cleanup();
    process.exit(1);
  },
);
