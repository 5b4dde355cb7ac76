#!/usr/bin/env node
'use strict';
// Benchmark of the local (Docker) mode, every figure measured side by side in one run, the two
// sides interleaved in rounds: the openwhisk-action node in the real Node-RED runtime versus a
// minimal direct client of the same action container(s). Not a test: it prints a markdown table
// with each figure's target and PASS/MISS and writes bench/results/local.json.
//
//   node bench/local.js [--only=latency,throughput,deploy,payload,memory,cells,store,inline,inline-deploy] [--quick] [--spies]
//
// See bench/README.md for what each figure means.

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { spawn, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

// Node-RED 5 needs Node >= 22.9: on an older Node run again under Node 22 from scripts/node22.js
// (fetched from the npm registry on first use), so the figures always come from the same runtime.
// Signals are passed on, so the inner run always cleans up.
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number);
if (NODE_MAJOR < 22 || (NODE_MAJOR === 22 && NODE_MINOR < 9)) {
  if (!process.env.BENCH_NO_REEXEC) {
    const NODE22 = require('../scripts/node22').ensure();
    const inner = spawn(NODE22, [...process.execArgv, __filename, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_NO_REEXEC: '1' },
    });
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => inner.kill(sig));
    inner.on('exit', (code) => process.exit(code === null ? 1 : code));
    return;
  }
}

const { performance } = require('node:perf_hooks');
const { randomBytes } = require('node:crypto');
const { percentile, median, fmt, markdownTable } = require('./lib/stats');
const { createAgent, runDirect, bareDeploy, sleep } = require('./lib/direct');
const { docker, nodeContainers, removeWith } = require('./lib/docker');
const { helper, nodes, floorNodes, nodeRedVersion, statusHistory, whenStatus, containersInStatus, NodePort } = require('./lib/nr');
const { startOpenWhiskServer } = require(path.join(root, 'test/support/openwhisk-server'));
const { instanceId } = require(path.join(root, 'dist/lib/runtime-config'));
const { initBody, runContext, identityOf } = require(path.join(root, 'dist/lib/local/protocol'));
const { LocalEngine, ISOLATION_NETWORK } = require(path.join(root, 'dist/lib/local/engine'));
// The bare side runs its containers on the network the engine puts its own on (a bridge with
// inter-container traffic off): the comparison is of the same container, so the figure is the
// node's overhead. A user-defined bridge itself costs ~0.1 s per container start over Docker's
// default bridge (bench/README.md, Deploy and the isolation network).
const BARE_NETWORK = ISOLATION_NETWORK;

const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const PY_IMAGE = 'leon-edge/action-python-v3.11:latest';
const args = new Set(process.argv.slice(2));
const only = (() => {
  const a = process.argv.find((x) => x.startsWith('--only='));
  return a ? new Set(a.slice(7).split(',')) : null;
})();
const QUICK = args.has('--quick');
const KEEP_SPIES = args.has('--spies');
// --profile-python: the --profile stages for the Python no-op (runtimes/python) instead of the Node.js one.
const PROFILE_PY = args.has('--profile-python');
const want = (phase) => !only || only.has(phase) || (phase === 'profile' && args.has('--profile'));

const RUN = randomBytes(3).toString('hex');
// A user directory of our own: the engine labels containers with an instance id derived from it and
// sweeps that instance's leftovers at start, so another Node-RED (or test run) in this checkout
// never sweeps ours, nor we theirs.
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `leon-bench-${RUN}-`));
const userDir = path.join(runDir, 'nr');
const childUserDir = path.join(runDir, 'nr-memory');
fs.mkdirSync(userDir);
fs.mkdirSync(childUserDir);
const BARE_LABEL = `io.leon-edge.bench=${RUN}`;

const t00 = performance.now();
const log = (...a) => console.error(`[${((performance.now() - t00) / 1000).toFixed(1).padStart(5)} s]`, ...a);

// ---- actions in the catalog -----------------------------------------------------------------------

const ACTIONS = {
  noop: 'function main(p) { return { n: p.n }; }',
  sleep5: 'function main(p) { return new Promise((r) => setTimeout(() => r({ n: p.n }), 5)); }',
  echo: 'function main(p) { return { data: p.data }; }',
};
// The same no-op in Python (phase "python": our Python runtime, runtimes/python).
const PY_ACTIONS = {
  pynoop: 'def main(p):\n    return {"n": p.get("n")}\n',
};
const actionInfo = (name) => ({ namespace: 'guest', qualified: `/guest/${name}` });

// ---- the flow under test ---------------------------------------------------------------------------

let ow;
let loaded = false;
let child;

function ids(tag) {
  const p = `b${RUN}${tag}`;
  return { svc: `${p}svc`, rt: `${p}rt`, a: `${p}a`, out: `${p}out`, c: `${p}c`, caught: `${p}caught`, floor: `${p}floor` };
}

function flow(id, action, { capacity = 4, queue = 1000, actions = 1 } = {}) {
  const f = [
    { id: id.svc, type: 'openwhisk-service', api: ow.url },
    { id: id.rt, type: 'openwhisk-runtime', mode: 'local', service: id.svc, images: `nodejs:*=${IMAGE}\npython:*=${PY_IMAGE}`, capacity, queue },
    { id: id.out, type: 'helper' },
    { id: id.c, type: 'catch', scope: null, uncaught: false, wires: [[id.caught]] },
    { id: id.caught, type: 'helper' },
  ];
  for (let i = 0; i < actions; i++) {
    f.push({ id: i === 0 ? id.a : `${id.a}${i}`, type: 'openwhisk-action', runtime: id.rt, action, namespace: '', params: [], wires: [[id.out]] });
  }
  f.push({ id: id.floor, type: 'bench-floor', wires: [[id.out]] });
  return f;
}
const creds = (id) => ({ [id.svc]: { key: ow.key('guest') } });

async function load(id, action, opts) {
  helper.settings({ userDir });
  loaded = true;
  await helper.load([...nodes, floorNodes], flow(id, action, opts), creds(id));
}

async function unload() {
  if (!loaded) return;
  loaded = false;
  await helper.unload();
}

const green = (s) => s.fill === 'green';
const red = (s) => s.fill === 'red';

async function waitReady(node, ms = 60000) {
  const r = await Promise.race([whenStatus(node, green, ms), whenStatus(node, red, ms).then((x) => ({ failed: x.status }))]);
  if (r.failed) throw new Error(`node ${node.id} failed to deploy: ${r.failed.text}`);
  return r;
}

/**
 * Production Node-RED does not spy on Node.prototype: the helper's sinon spies on status/send/log
 * record every call (arguments included, i.e. every message) for as long as the flow runs. Drop
 * them once deployed unless --spies: restore the prototype, and the own `send` Node-RED copied
 * from it onto every wired node at deploy (the spy, then).
 */
function dropHelperSpies(id) {
  if (KEEP_SPIES) return;
  helper._sandbox.restore();
  for (const nid of Object.values(id)) {
    const n = helper.getNode(nid);
    if (n && Object.prototype.hasOwnProperty.call(n, 'send') && n.send.callCount !== undefined) n.send = Object.getPrototypeOf(n).send;
  }
}

/** Deploy one action node; resolves with its NodePort and its containers (id, port). */
async function deploy(tag, action, opts) {
  const id = ids(tag);
  await load(id, action, opts);
  const a = helper.getNode(id.a);
  await waitReady(a);
  const port = new NodePort(a, helper.getNode(id.out), helper.getNode(id.caught));
  return { id, a, port };
}

// ---- 1. warm latency -------------------------------------------------------------------------------

async function phaseLatency(action = 'noop', tag = 'lat') {
  const WARM = QUICK ? 100 : 500;
  const ROUNDS = QUICK ? 6 : 20;
  const PER = QUICK ? 100 : 250;
  const { id, port } = await deploy(tag, action, { capacity: 1 });
  const [c] = await nodeContainers(id.a);
  dropHelperSpies(id);
  const agent = createAgent();
  const act = actionInfo(action);
  const viaNode = async (n) => {
    const m = await port.send({ n });
    if (m.payload.n !== n) throw new Error('node: wrong reply');
  };
  const direct = async (n) => {
    const r = await runDirect(agent, c.port, { n }, act);
    if (r.n !== n) throw new Error('direct: wrong reply');
  };
  // The floor of any node: Node-RED's message passing around the direct client (bench/lib/nr.js).
  const floorNode = helper.getNode(id.floor);
  floorNode.target = { port: c.port, action: act };
  const floorPort = new NodePort(floorNode, helper.getNode(id.out), helper.getNode(id.caught));
  const viaFloor = async (n) => {
    const m = await floorPort.send({ n });
    if (m.payload.n !== n) throw new Error('floor: wrong reply');
  };
  log(`latency: warming up (${WARM} each side), container ${c.name} on 127.0.0.1:${c.port}`);
  for (let i = 0; i < WARM; i++) await viaNode(i);
  await sleep(20);
  for (let i = 0; i < WARM; i++) await direct(i);
  await sleep(20);
  for (let i = 0; i < WARM; i++) await viaFloor(i);
  // A third side runs the direct client again (an A/A control): how far two identical sides' p99 lie
  // apart in this run says how much of an added p99 this machine's noise alone can make. A fourth
  // is the floor node: what Node-RED itself adds to any node that calls a container.
  const samples = { node: [], direct: [], again: [], floor: [] };
  const fns = { node: viaNode, direct, again: direct, floor: viaFloor };
  const names = Object.keys(fns);
  const side = async (name) => {
    await sleep(20); // let the other side's trailing log sentinels arrive before switching
    const s = samples[name];
    for (let i = 0; i < PER; i++) {
      const t0 = performance.now();
      await fns[name](i);
      s.push(performance.now() - t0);
    }
  };
  // Each round in another order (a rotation), so no side always follows another.
  for (let r = 0; r < ROUNDS; r++) for (let k = 0; k < names.length; k++) await side(names[(k + r) % names.length]);
  agent.destroy();
  await unload();
  const st = (a) => ({ n: a.length, p50: percentile(a, 50), p90: percentile(a, 90), p99: percentile(a, 99), mean: a.reduce((x, y) => x + y, 0) / a.length });
  const node = st(samples.node);
  const dir = st(samples.direct);
  const again = st(samples.again);
  const floor = st(samples.floor);
  return {
    node,
    direct: dir,
    again,
    floor,
    addedP50: node.p50 - dir.p50,
    addedP99: node.p99 - dir.p99,
    aaP50: again.p50 - dir.p50,
    aaP99: again.p99 - dir.p99,
    floorP50: floor.p50 - dir.p50,
    floorP99: floor.p99 - dir.p99,
    rounds: ROUNDS,
    perRound: PER,
    spies: KEEP_SPIES,
  };
}

// ---- 7. the activation store: on (the default) against off, interleaved -------------------------

/**
 * Two runtimes side by side, each with one node running the no-op: one keeps its activations (the
 * default: the last 200 in memory, for the editor's sidebar), the other none (`activations: 0`). The
 * two nodes take turns in rounds; the added p50 is what keeping a record costs a message.
 */
async function phaseStore() {
  const WARM = QUICK ? 100 : 500;
  const ROUNDS = QUICK ? 6 : 20;
  const PER = QUICK ? 100 : 250;
  const on = ids('ston');
  const off = ids('stoff');
  // One Catch node for both (the test helper registers the catch type once per flow node).
  const f = [
    ...flow(on, 'noop', { capacity: 1 }),
    ...flow(off, 'noop', { capacity: 1 }).filter((x) => x.id !== off.c && x.id !== off.caught && x.id !== off.floor),
  ];
  f.find((x) => x.id === off.rt).activations = '0';
  helper.settings({ userDir });
  loaded = true;
  await helper.load([...nodes, floorNodes], f, { ...creds(on), ...creds(off) });
  for (const id of [on, off]) await waitReady(helper.getNode(id.a));
  dropHelperSpies(on);
  dropHelperSpies(off);
  const ports = {
    on: new NodePort(helper.getNode(on.a), helper.getNode(on.out), helper.getNode(on.caught)),
    off: new NodePort(helper.getNode(off.a), helper.getNode(off.out), helper.getNode(on.caught)),
  };
  const send = async (side, n) => {
    const m = await ports[side].send({ n });
    if (m.payload.n !== n) throw new Error(`${side}: wrong reply`);
  };
  log(`store: warming up (${WARM} each side)`);
  for (const side of ['on', 'off']) for (let i = 0; i < WARM; i++) await send(side, i);
  const samples = { on: [], off: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of r % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
      await sleep(20);
      for (let i = 0; i < PER; i++) {
        const t0 = performance.now();
        await send(side, i);
        samples[side].push(performance.now() - t0);
      }
    }
  }
  const { feed } = require(path.join(root, 'dist/lib/activations/feed'));
  const listed = feed.list();
  const kept = { on: (listed.find((x) => x.id === on.rt) || {}).kept, off: (listed.find((x) => x.id === off.rt) || {}).kept };
  if (!(kept.on > 0) || kept.off !== 0) throw new Error(`store: expected records on one side only, got ${JSON.stringify(kept)}`);
  await unload();
  const st = (a) => ({ n: a.length, p50: percentile(a, 50), p90: percentile(a, 90), p99: percentile(a, 99), mean: a.reduce((x, y) => x + y, 0) / a.length });
  const a = st(samples.on);
  const b = st(samples.off);
  return { on: a, off: b, addedP50: a.p50 - b.p50, addedP99: a.p99 - b.p99, kept, rounds: ROUNDS, perRound: PER };
}

// ---- 8. inline code against the same code from the catalog, interleaved ------------------------------

async function phaseInline() {
  const WARM = QUICK ? 100 : 500;
  const ROUNDS = QUICK ? 6 : 20;
  const PER = QUICK ? 100 : 250;
  const cat = ids('incat');
  const inl = ids('ininl');
  // One runtime, two nodes: the catalog's noop and the same code written in the node (one Catch node).
  const f = flow(cat, 'noop', { capacity: 2 });
  f.push({
    id: inl.a,
    type: 'openwhisk-action',
    runtime: cat.rt,
    source: 'inline',
    action: '',
    kind: 'nodejs:20',
    code: ACTIONS.noop,
    namespace: '',
    params: [],
    wires: [[inl.out]],
  });
  f.push({ id: inl.out, type: 'helper' });
  helper.settings({ userDir });
  loaded = true;
  await helper.load([...nodes, floorNodes], f, creds(cat));
  for (const a of [cat.a, inl.a]) await waitReady(helper.getNode(a));
  dropHelperSpies(cat);
  dropHelperSpies(inl);
  const ports = {
    catalog: new NodePort(helper.getNode(cat.a), helper.getNode(cat.out), helper.getNode(cat.caught)),
    inline: new NodePort(helper.getNode(inl.a), helper.getNode(inl.out), helper.getNode(cat.caught)),
  };
  const send = async (side, n) => {
    const m = await ports[side].send({ n });
    if (m.payload.n !== n) throw new Error(`${side}: wrong reply`);
  };
  log(`inline: warming up (${WARM} each side)`);
  for (const side of ['catalog', 'inline']) for (let i = 0; i < WARM; i++) await send(side, i);
  const samples = { catalog: [], inline: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of r % 2 === 0 ? ['inline', 'catalog'] : ['catalog', 'inline']) {
      await sleep(20);
      for (let i = 0; i < PER; i++) {
        const t0 = performance.now();
        await send(side, i);
        samples[side].push(performance.now() - t0);
      }
    }
  }
  await unload();
  const st = (a) => ({ n: a.length, p50: percentile(a, 50), p90: percentile(a, 90), p99: percentile(a, 99) });
  const a = st(samples.inline);
  const b = st(samples.catalog);
  return { inline: a, catalog: b, addedP50: a.p50 - b.p50, addedP99: a.p99 - b.p99, rounds: ROUNDS, perRound: PER };
}

// ---- 9. a new inline action: deploy → first result, with stem cells ---------------------------------

/**
 * A running flow (a local runtime with one action of the same container shape, so the runtime keeps a
 * stem cell of it) gets a new openwhisk-action node with code written in it, by a "modified nodes"
 * deploy (what the editor's Deploy button sends by default); a message goes in as soon as the deploy
 * returns. Timed: the deploy call → that message's result at the wired node. The node is removed by
 * another modified-nodes deploy, and the next sample waits until the engine has its stem cell again.
 * Floor, interleaved: one /init of the same code into a fresh bare container that listens (its
 * `listening → inited` span, as figure 6), and the whole bare docker run + /init.
 */
async function phaseInlineDeploy() {
  const REPS = QUICK ? 3 : 16;
  const base = ids('idep');
  const f = flow(base, 'noop', { capacity: 4 });
  helper.settings({ userDir });
  loaded = true;
  await helper.load([...nodes, floorNodes], f, creds(base));
  await waitReady(helper.getNode(base.a));
  // No status is waited for from here on: without the helper's spies, as in production (unless --spies).
  dropHelperSpies(base);
  const engine = helper.getNode(base.rt).engine;
  if (!engine) throw new Error('inline-deploy: the runtime node has no local engine');
  const out = helper.getNode(base.out);
  const caught = helper.getNode(base.caught);
  const pending = new Map();
  out.on('input', (msg) => {
    const p = pending.get(msg._bench);
    if (p) p.resolve(msg);
  });
  caught.on('input', (msg) => {
    const p = pending.get(msg._bench);
    if (p) p.reject(new Error((msg.error && msg.error.message) || 'caught'));
  });
  const cellReady = async () => {
    const until = Date.now() + 60000;
    while (engine.readyCells < 1) {
      if (Date.now() > until) throw new Error('inline-deploy: no stem cell within 60 s');
      await sleep(20);
    }
    await sleep(200); // let the cell's start settle (CPU) before timing
  };
  const doc = (code) => ({ namespace: 'guest', name: 'bare', version: '0.0.1', exec: { kind: 'nodejs:20', code, binary: false } });
  const bare = async (code) => {
    const marks = {};
    const t0 = performance.now();
    const c = await bareDeploy(
      docker,
      IMAGE,
      { 'io.leon-edge.bench': RUN },
      initBody(doc(code), runContext(identityOf(doc(code)), 60000, undefined), {}).value,
      marks,
      BARE_NETWORK,
    );
    const full = performance.now() - t0;
    await docker.getContainer(c.id).remove({ force: true, v: true });
    return { full, init: marks.inited - marks.listening };
  };
  const { instrumentInlineDeploy } = require('./lib/profile');
  const rec = instrumentInlineDeploy();
  let seq = 0;
  // Each sample's code differs (a comment): nothing of an earlier one can be reused.
  const codeOf = (k) => `${ACTIONS.noop} // ${RUN} ${k}`;
  const viaNode = async (k) => {
    await cellReady();
    const nid = `${base.a}i${k}`;
    const node = {
      id: nid,
      type: 'openwhisk-action',
      runtime: base.rt,
      source: 'inline',
      action: '',
      kind: 'nodejs:20',
      code: codeOf(k),
      namespace: '',
      params: [],
      wires: [[base.out]],
    };
    const m = { t0: performance.now() };
    rec.current = m;
    let result;
    try {
      await helper.setFlows([...f, node], 'nodes', creds(base));
      m.flowsStarted = performance.now();
      const id = ++seq;
      result = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inline-deploy: no result from ${nid} within 60 s`)), 60000);
        pending.set(id, {
          resolve: (msg) => (clearTimeout(timer), resolve(msg)),
          reject: (err) => (clearTimeout(timer), reject(err)),
        });
        helper.getNode(nid).receive({ payload: { n: k }, _bench: id });
      }).finally(() => pending.delete(id));
      m.result = performance.now();
    } finally {
      rec.current = null;
    }
    if (result.payload.n !== k) throw new Error('inline-deploy: wrong reply');
    // Gone again (its container removed in the background), as a user deleting the node and deploying.
    await helper.setFlows(f, 'nodes', creds(base));
    return m;
  };
  const r = { node: [], init: [], full: [], marks: [] };
  try {
    log(`inline-deploy: 1 warm-up + ${REPS} interleaved samples of a new inline node's deploy → first result, bare /init`);
    await viaNode(0);
    await bare(codeOf('w'));
    for (let i = 1; i <= REPS; i++) {
      for (const side of i % 2 === 1 ? ['node', 'bare'] : ['bare', 'node']) {
        await sleep(100);
        if (side === 'bare') {
          const b = await bare(codeOf(`b${i}`));
          r.init.push(b.init);
          r.full.push(b.full);
        } else {
          const m = await viaNode(i);
          r.node.push(m.result - m.t0);
          r.marks.push(m);
        }
      }
    }
  } finally {
    rec.restore();
    await unload();
  }
  // Where the time goes: each mark's median, ms after the deploy call.
  const keys = [...new Set(r.marks.flatMap((m) => Object.keys(m)))].filter((k) => k !== 't0');
  const marks = Object.fromEntries(keys.map((k) => [k, median(r.marks.filter((m) => m[k] !== undefined).map((m) => m[k] - m.t0))]).sort((a, b) => a[1] - b[1]));
  const cellsTaken = r.marks.filter((m) => m.cell !== undefined).length;
  if (cellsTaken !== r.marks.length) log(`inline-deploy: only ${cellsTaken} of ${r.marks.length} samples took a stem cell`);
  // Also the median of the per-round ratios (each deploy ÷ the /init run next to it): a drift of the machine's load cancels out of each pair.
  const pairRatio = median(r.node.map((x, i) => x / r.init[i]));
  return {
    reps: REPS,
    node: median(r.node),
    init: median(r.init),
    full: median(r.full),
    ratio: median(r.node) / median(r.init),
    pairRatio,
    marks,
    cellsTaken,
    runs: r,
  };
}

// ---- --profile: where the added latency goes -------------------------------------------------------

async function phaseProfile() {
  const ROUNDS = QUICK ? 4 : 10;
  const PER = 200;
  const profiled = PROFILE_PY ? 'pynoop' : 'noop';
  const { id, port } = await deploy('prof', profiled, { capacity: 1 });
  const [c] = await nodeContainers(id.a);
  dropHelperSpies(id);
  const { instrument } = require('./lib/profile');
  const { post, runBody, RUN_HEADERS } = require('./lib/direct');
  const rec = instrument();
  const agent = createAgent();
  const act = actionInfo(profiled);
  const node = [];
  const direct = [];
  const viaNode = async (n, keep) => {
    const cur = { in: performance.now() };
    rec.current = cur;
    await port.send({ n });
    cur.out = performance.now();
    rec.current = null;
    if (keep) node.push(cur);
  };
  const viaDirect = async (n, keep) => {
    const cur = { in: performance.now() };
    const r = await post(agent, c.port, '/run', runBody(JSON.stringify({ n }), act), RUN_HEADERS);
    cur.reply = performance.now();
    JSON.parse(r.body);
    cur.out = performance.now();
    if (keep) direct.push(cur);
  };
  for (let i = 0; i < 300; i++) await viaNode(i, false);
  await sleep(20);
  for (let i = 0; i < 300; i++) await viaDirect(i, false);
  rec.settleLate = 0;
  rec.settleSync = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [viaNode, viaDirect] : [viaDirect, viaNode];
    for (const fn of order) {
      await sleep(20);
      for (let i = 0; i < PER; i++) await fn(i, true);
    }
  }
  rec.restore();
  agent.destroy();
  await unload();
  const deployMarks = await profileDeploy();
  const stage = (list, a, b) => {
    const d = list.map((x) => x[b] - x[a]);
    return { p50: percentile(d, 50), p90: percentile(d, 90), p99: percentile(d, 99), mean: d.reduce((x, y) => x + y, 0) / d.length };
  };
  return {
    deploy: deployMarks,
    samples: node.length,
    logSentinelsLate: rec.settleLate,
    logSentinelsInTime: rec.settleSync,
    node: {
      'receive → POST /run sent (Node-RED in, runner, pool, body)': stage(node, 'in', 'post'),
      'POST /run → reply read (HTTP, container)': stage(node, 'post', 'reply'),
      'reply → log sentinels in (ActionContainer.run resolves)': stage(node, 'reply', 'run'),
      'run done → helper node has the message (activation, Node-RED send)': stage(node, 'run', 'out'),
      total: stage(node, 'in', 'out'),
    },
    direct: {
      'POST /run (body built) → reply read': stage(direct, 'in', 'reply'),
      'JSON.parse of the reply': stage(direct, 'reply', 'out'),
      total: stage(direct, 'in', 'out'),
    },
  };
}

/** Deploy marks, node and bare, medians over interleaved repetitions (ms from the start of each). */
async function profileDeploy() {
  const REPS = QUICK ? 3 : 6;
  const { instrumentDeploy } = require('./lib/profile');
  const rec = instrumentDeploy();
  const doc = { namespace: 'guest', name: 'noop', version: '0.0.1', exec: { kind: 'nodejs:20', code: ACTIONS.noop, binary: false } };
  const initValue = initBody(doc, runContext(identityOf(doc), 60000, undefined), {}).value;
  const nodeMarks = [];
  const bareMarks = [];
  for (let i = 0; i < REPS + 1; i++) {
    const order = i % 2 === 0 ? ['node', 'bare'] : ['bare', 'node'];
    for (const side of order) {
      await sleep(200);
      if (side === 'node') {
        const id = ids(`pdep${i}`);
        const m = { t0: performance.now() };
        rec.current = m;
        await load(id, 'noop', { capacity: 1 });
        m.loaded = performance.now();
        const a = helper.getNode(id.a);
        const phases = {};
        const on = (call) => {
          const s = call.args[0];
          const key = s && s.fill === 'green' ? 'ready' : s && s.text;
          if (key && phases[key] === undefined) phases[key] = performance.now();
        };
        a.on('call:status', on);
        const r = await waitReady(a);
        a.off('call:status', on);
        m.ready = r.at;
        for (const [k, v] of Object.entries(phases)) if (/fetching|starting|initializing/.test(k)) m[`status ${k.split('.').pop()}`] = v;
        rec.current = null;
        await unload();
        if (i > 0) nodeMarks.push(m);
      } else {
        const m = { t0: performance.now() };
        const c = await bareDeploy(docker, IMAGE, { 'io.leon-edge.bench': RUN }, initValue, m, BARE_NETWORK);
        await docker.getContainer(c.id).remove({ force: true, v: true });
        if (i > 0) bareMarks.push(m);
      }
    }
  }
  rec.restore();
  const summary = (list) => {
    const keys = [...new Set(list.flatMap((m) => Object.keys(m)))].filter((k) => k !== 't0' && k !== 'probes');
    const out = {};
    for (const k of keys) out[k] = median(list.filter((m) => m[k] !== undefined).map((m) => m[k] - m.t0));
    const sorted = Object.fromEntries(Object.entries(out).sort((a, b) => a[1] - b[1]));
    if (list[0].probes !== undefined) sorted.probes = median(list.map((m) => m.probes));
    return sorted;
  };
  return { reps: REPS, node: summary(nodeMarks), bare: summary(bareMarks) };
}

function profileTable(P) {
  const rows = [];
  for (const [side, stages] of [
    ['node', P.node],
    ['direct', P.direct],
  ]) {
    for (const [name, s] of Object.entries(stages)) rows.push([side, name, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.mean)]);
  }
  return (
    markdownTable(['side', 'stage (ms)', 'p50', 'p90', 'p99', 'mean'], rows) +
    `\n\n${P.samples} samples each side; log sentinels already in when the reply was read: ${P.logSentinelsInTime}, late (waited for): ${P.logSentinelsLate}` +
    `\n\nDeploy marks, ms after the start (median of ${P.deploy.reps}):\n\n` +
    markdownTable(
      ['side', 'marks'],
      [
        [
          'node',
          Object.entries(P.deploy.node)
            .map(([k, v]) => `${k} ${fmt(v, k === 'probes' ? 0 : 0)}`)
            .join(' · '),
        ],
        [
          'bare',
          Object.entries(P.deploy.bare)
            .map(([k, v]) => `${k} ${fmt(v, 0)}`)
            .join(' · '),
        ],
      ],
    )
  );
}

// ---- 2. throughput -----------------------------------------------------------------------------------

async function phaseThroughput() {
  const out = [];
  const ROUNDS = QUICK ? 2 : 10;
  for (const N of [1, 2, 4]) {
    const M = (QUICK ? 60 : 100) * N;
    const { id, a, port } = await deploy(`tp${N}`, 'sleep5', { capacity: N, queue: 10000 });
    // Grow the pool to N containers: bursts queue messages, the pool scales up to the capacity;
    // the status after a burst counts the containers in service.
    const deadline = Date.now() + 60000;
    for (;;) {
      await Promise.all(Array.from({ length: 20 * N }, (_, i) => port.send({ n: i })));
      await sleep(50);
      const hist = statusHistory(a);
      const count = containersInStatus(hist[hist.length - 1]);
      if (count === N) break;
      if (Date.now() > deadline) throw new Error(`throughput: the pool did not grow to ${N} containers (status ${JSON.stringify(hist[hist.length - 1])})`);
      await sleep(250);
    }
    const cs = await nodeContainers(id.a);
    if (cs.length !== N) throw new Error(`throughput: ${cs.length} containers running for ${id.a}, expected ${N}`);
    dropHelperSpies(id);
    const agent = createAgent();
    const act = actionInfo('sleep5');
    // Node: a window of 2N messages in flight (the pool runs one per container and queues the rest).
    const viaNode = async () => {
      let sent = 0;
      const t0 = performance.now();
      const worker = async () => {
        while (sent < M) {
          const n = sent++;
          await port.send({ n });
        }
      };
      await Promise.all(Array.from({ length: 2 * N }, worker));
      return M / ((performance.now() - t0) / 1000);
    };
    // Direct: one worker per container, one request in flight each.
    const direct = async () => {
      let sent = 0;
      const t0 = performance.now();
      const worker = async (c) => {
        while (sent < M) {
          const n = sent++;
          await runDirect(agent, c.port, { n }, act);
        }
      };
      await Promise.all(cs.map(worker));
      return M / ((performance.now() - t0) / 1000);
    };
    log(`throughput: N=${N} containers warm, ${ROUNDS} rounds of ${M} messages each side`);
    await viaNode();
    await sleep(20);
    await direct();
    const r = { node: [], direct: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? ['node', 'direct'] : ['direct', 'node'];
      for (const s of order) {
        await sleep(20);
        r[s].push(s === 'node' ? await viaNode() : await direct());
      }
    }
    agent.destroy();
    await unload();
    const node = median(r.node);
    const dir = median(r.direct);
    // The ratio is the median of the per-round ratios (node round i ÷ direct round i, run back to
    // back): a slow drift of the machine's load cancels out of each pair.
    const ratio = median(r.node.map((x, i) => x / r.direct[i]));
    out.push({
      containers: N,
      messagesPerRound: M,
      rounds: ROUNDS,
      node,
      direct: dir,
      ratio,
      ratioOfMedians: node / dir,
      nodeRounds: r.node,
      directRounds: r.direct,
    });
  }
  return out;
}

// ---- 3. deploy to ready ------------------------------------------------------------------------------

async function phaseDeploy() {
  const REPS = QUICK ? 3 : 8;
  const doc = { namespace: 'guest', name: 'noop', version: '0.0.1', exec: { kind: 'nodejs:20', code: ACTIONS.noop, binary: false } };
  const initValue = initBody(doc, runContext(identityOf(doc), 60000, undefined), {}).value;
  const viaNode = async (i) => {
    const id = ids(`dep${i}`);
    const t0 = performance.now();
    await load(id, 'noop', { capacity: 1 });
    const r = await waitReady(helper.getNode(id.a));
    const ms = r.at - t0;
    await unload();
    return ms;
  };
  const bare = async () => {
    const t0 = performance.now();
    const c = await bareDeploy(docker, IMAGE, { 'io.leon-edge.bench': RUN }, initValue, {}, BARE_NETWORK);
    const ms = performance.now() - t0;
    await docker.getContainer(c.id).remove({ force: true, v: true });
    return ms;
  };
  log(`deploy: 1 warm-up + ${REPS} interleaved deploys each side`);
  await viaNode('w');
  await bare();
  const r = { node: [], bare: [] };
  for (let i = 0; i < REPS; i++) {
    const order = i % 2 === 0 ? ['node', 'bare'] : ['bare', 'node'];
    for (const s of order) {
      await sleep(200);
      r[s].push(s === 'node' ? await viaNode(i) : await bare());
    }
  }
  const node = median(r.node);
  const b = median(r.bare);
  return { reps: REPS, node, bare: b, ratio: node / b, nodeRuns: r.node, bareRuns: r.bare };
}

// ---- 6. stem cells: new containers in one /init ------------------------------------------------------

const HOLD_CODE = 'function main(p) { return p.hold ? new Promise((r) => setTimeout(() => r({ held: p.hold }), p.hold)) : { n: p.n }; }';

/**
 * Engine level (the node adds ~0.1 ms to these; the runtime config node's own engine has the same
 * options): a LocalEngine of this run's instance, capacity 4, one stem cell per image. Each sample
 * waits until the engine has its stem cell again. Baselines, interleaved: one /init of the same
 * code into a fresh bare container (its `listening → inited` span), and bare docker run + /init.
 */
async function phaseCells() {
  const REPS = QUICK ? 3 : 8;
  const doc = (name, code = HOLD_CODE, version = '0.0.1') => ({ namespace: 'guest', name, version, exec: { kind: 'nodejs:20', code, binary: false } });
  const catalog = {
    getAction: async () => {
      throw new Error('not used');
    },
    runtimeImages: async () => ({}),
  };
  const e = new LocalEngine({ instanceId: instanceId(userDir), runtimeId: `b${RUN}cells`, imageOverrides: { 'nodejs:*': IMAGE }, capacity: 4, stemCells: 1 });
  const cellReady = async () => {
    const until = Date.now() + 60000;
    while (e.readyCells < 1) {
      if (Date.now() > until) throw new Error('no stem cell within 60 s');
      await sleep(20);
    }
    await sleep(200); // let the cell's start settle (CPU) before timing
  };
  const initValue = (d) => initBody(d, runContext(identityOf(d), 60000, undefined), {}).value;
  const bare = async () => {
    const marks = {};
    const t0 = performance.now();
    const c = await bareDeploy(docker, IMAGE, { 'io.leon-edge.bench': RUN }, initValue(doc('bare')), marks, BARE_NETWORK);
    const full = performance.now() - t0;
    await docker.getContainer(c.id).remove({ force: true, v: true });
    return { full, init: marks.inited - marks.listening };
  };
  const r = { scaleUp: [], cold: [], coldProvision: [], coldRun: [], redeploy: [], redeployClose: [], redeployProvision: [], init: [], full: [] };
  try {
    await e.start();
    // Scale-up: one container busy with a held message; the next message needs a new container.
    const burst = await e.provision(`b${RUN}burst`, doc('burst'), catalog);
    let redeployed = await e.provision(`b${RUN}redeploy`, doc('redeploy', HOLD_CODE, '0.0.1'), catalog);
    let coldN = 0;
    const samples = {
      scaleUp: async () => {
        await cellReady();
        const held = burst.invoke({ hold: 1500 });
        const t0 = performance.now();
        await burst.invoke({ n: 1 });
        const ms = performance.now() - t0;
        await held;
        return ms;
      },
      // An action named by msg.action: provisioned at its first message (a name never seen before).
      cold: async () => {
        await cellReady();
        const name = `cold${++coldN}`;
        const t0 = performance.now();
        const a = await e.provision(`b${RUN}cold${coldN}`, doc(name), catalog);
        const t1 = performance.now();
        await a.invoke({ n: 1 });
        const ms = performance.now() - t0;
        r.coldProvision.push(t1 - t0);
        r.coldRun.push(ms - (t1 - t0));
        await a.close();
        return ms;
      },
      // Redeploy of a changed action: Node-RED closes the old node, then starts the new one. The node's
      // close (lib/runner.ts) waits until the old action takes no more work; Docker removes its
      // container in the background, on the slot it keeps until gone.
      redeploy: async () => {
        await cellReady();
        const next = `0.0.${coldN + 2}`;
        coldN++;
        const t0 = performance.now();
        await redeployed.close({ wait: 'stopped' });
        const t1 = performance.now();
        redeployed = await e.provision(`b${RUN}redeploy`, doc('redeploy', `${HOLD_CODE} // ${next}`, next), catalog);
        const t2 = performance.now();
        r.redeployClose.push(t1 - t0);
        r.redeployProvision.push(t2 - t1);
        return t2 - t0;
      },
    };
    log(`cells: 1 warm-up + ${REPS} interleaved samples of scale-up, msg.action cold start, redeploy, bare /init and bare run + /init`);
    await samples.scaleUp();
    await bare();
    for (let i = 0; i < REPS; i++) {
      const order = ['scaleUp', 'cold', 'redeploy', 'bare'];
      if (i % 2 === 1) order.reverse();
      for (const k of order) {
        await sleep(100);
        if (k === 'bare') {
          const b = await bare();
          r.init.push(b.init);
          r.full.push(b.full);
        } else r[k].push(await samples[k]());
      }
    }
  } finally {
    await e.close();
  }
  const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
  return { reps: REPS, medians: m, runs: r };
}

// ---- 4. payloads ------------------------------------------------------------------------------------

async function phasePayload() {
  const sizes = [
    { label: '1 KB', bytes: 1024, rounds: 10, per: QUICK ? 30 : 100 },
    { label: '100 KB', bytes: 100 * 1024, rounds: 10, per: QUICK ? 10 : 30 },
    { label: '1 MB', bytes: 1024 * 1024, rounds: QUICK ? 6 : 16, per: QUICK ? 4 : 10 },
  ];
  const { id, port } = await deploy('pay', 'echo', { capacity: 1 });
  const [c] = await nodeContainers(id.a);
  dropHelperSpies(id);
  const agent = createAgent();
  const act = actionInfo('echo');
  const out = [];
  for (const size of sizes) {
    // {"data":"…"} of `bytes` bytes of JSON; base64 text, like an image sent as a string.
    const data = randomBytes(Math.ceil(size.bytes * 0.75))
      .toString('base64')
      .slice(0, size.bytes - 11);
    const viaNode = async () => {
      const m = await port.send({ data });
      if (m.payload.data.length !== data.length) throw new Error('node: wrong echo');
    };
    const direct = async () => {
      const r = await runDirect(agent, c.port, { data }, act);
      if (r.data.length !== data.length) throw new Error('direct: wrong echo');
    };
    for (let i = 0; i < 5; i++) await viaNode();
    await sleep(20);
    for (let i = 0; i < 5; i++) await direct();
    const s = { node: [], direct: [] };
    for (let r = 0; r < size.rounds; r++) {
      const order = r % 2 === 0 ? ['node', 'direct'] : ['direct', 'node'];
      for (const side of order) {
        await sleep(20);
        for (let i = 0; i < size.per; i++) {
          const t0 = performance.now();
          await (side === 'node' ? viaNode() : direct());
          s[side].push(performance.now() - t0);
        }
      }
    }
    out.push({
      size: size.label,
      bytes: JSON.stringify({ data }).length,
      samples: s.node.length,
      node: { p50: percentile(s.node, 50), p99: percentile(s.node, 99) },
      direct: { p50: percentile(s.direct, 50), p99: percentile(s.direct, 99) },
    });
    log(`payload ${size.label}: node p50 ${fmt(out[out.length - 1].node.p50)} ms, direct p50 ${fmt(out[out.length - 1].direct.p50)} ms`);
  }
  agent.destroy();
  await unload();
  return out;
}

// ---- 5. memory ---------------------------------------------------------------------------------------

function phaseMemory() {
  const COUNT = 20;
  return new Promise((resolve, reject) => {
    const cfg = JSON.stringify({ owUrl: ow.url, key: ow.key('guest'), image: IMAGE, userDir: childUserDir, count: COUNT, run: RUN });
    child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'lib', 'memory-child.js')], {
      env: { ...process.env, BENCH_MEMORY: cfg },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const timer = setTimeout(() => {
      if (child) child.kill('SIGTERM');
    }, 150000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child = undefined;
      const line = stdout.trim().split('\n').pop();
      if (code !== 0) return reject(new Error(`memory child exited with ${signal || code}`));
      try {
        resolve(JSON.parse(line));
      } catch (err) {
        reject(err);
      }
    });
  });
}

// ---- report ------------------------------------------------------------------------------------------

const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const signed = (n) => (n < 0 ? `−${fmt(-n)}` : `+${fmt(n)}`);

function report(results) {
  const rows = [];
  const L = results.latency;
  if (L && !L.error) {
    rows.push([
      '1. warm invocation p50',
      `${fmt(L.node.p50)} ms`,
      `${fmt(L.direct.p50)} ms`,
      `${signed(L.addedP50)} ms`,
      'added p50 < 0.5 ms',
      verdict(L.addedP50 < 0.5),
    ]);
    rows.push([
      '1. warm invocation p99',
      `${fmt(L.node.p99)} ms`,
      `${fmt(L.direct.p99)} ms`,
      `${signed(L.addedP99)} ms`,
      'added p99 ≤ 0.3 ms',
      verdict(L.addedP99 <= 0.3),
    ]);
    if (L.again)
      rows.push([
        '1. A/A control: the direct side run twice, p50 / p99',
        `${fmt(L.again.p50)} / ${fmt(L.again.p99)} ms`,
        `${fmt(L.direct.p50)} / ${fmt(L.direct.p99)} ms`,
        `${signed(L.aaP50)} / ${signed(L.aaP99)} ms`,
        '(noise: identical sides)',
        '',
      ]);
    if (L.floor)
      rows.push([
        '1. floor: a bare Node-RED node around the direct client, p50 / p99',
        `${fmt(L.floor.p50)} / ${fmt(L.floor.p99)} ms`,
        `${fmt(L.direct.p50)} / ${fmt(L.direct.p99)} ms`,
        `${signed(L.floorP50)} / ${signed(L.floorP99)} ms`,
        '(Node-RED itself)',
        '',
      ]);
  }
  const P = results.python;
  if (P && !P.error) {
    rows.push([
      '1. Python: warm invocation p50',
      `${fmt(P.node.p50)} ms`,
      `${fmt(P.direct.p50)} ms`,
      `${signed(P.addedP50)} ms`,
      'added p50 ≤ 0.1 ms',
      verdict(P.addedP50 <= 0.1),
    ]);
    rows.push(['1. Python: warm invocation p99', `${fmt(P.node.p99)} ms`, `${fmt(P.direct.p99)} ms`, `${signed(P.addedP99)} ms`, '(reported)', '']);
  }
  for (const t of (results.throughput && !results.throughput.error && results.throughput) || []) {
    rows.push([
      `2. throughput, ${t.containers} container${t.containers > 1 ? 's' : ''} (5 ms action)`,
      `${fmt(t.node, 0)} msg/s`,
      `${fmt(t.direct, 0)} msg/s`,
      `${fmt(t.ratio * 100, 0)} %`,
      '≥ 70 % of direct',
      verdict(t.ratio >= 0.7),
    ]);
  }
  const D = results.deploy;
  if (D && !D.error) {
    rows.push(['3. deploy → ready (median)', `${fmt(D.node, 0)} ms`, `${fmt(D.bare, 0)} ms`, `${fmt(D.ratio, 2)}x`, '≤ 1.3x bare', verdict(D.ratio <= 1.3)]);
  }
  for (const p of (results.payload && !results.payload.error && results.payload) || []) {
    const target = p.size === '1 MB' ? 'p50 < 20 ms' : '(reported)';
    rows.push([
      `4. round trip ${p.size} (echo) p50 / p99`,
      `${fmt(p.node.p50)} / ${fmt(p.node.p99)} ms`,
      `${fmt(p.direct.p50)} / ${fmt(p.direct.p99)} ms`,
      `${signed(p.node.p50 - p.direct.p50)} ms`,
      target,
      p.size === '1 MB' ? verdict(p.node.p50 < 20) : '',
    ]);
  }
  const M = results.memory;
  if (M && !M.error) {
    const mb = (b) => `${fmt(b / 1048576)} MB`;
    rows.push([
      `5. memory, ${M.count} local action nodes: RSS`,
      `${mb(M.after.rss)}`,
      `${mb(M.before.rss)} (empty flow)`,
      `${signed((M.after.rss - M.before.rss) / 1048576)} MB`,
      '< 20 MB added',
      verdict(M.after.rss - M.before.rss < 20 * 1048576),
    ]);
    rows.push([
      `5. memory, ${M.count} local action nodes: JS heap`,
      `${mb(M.after.heapUsed)}`,
      `${mb(M.before.heapUsed)} (empty flow)`,
      `${signed((M.after.heapUsed - M.before.heapUsed) / 1048576)} MB`,
      '< 20 MB added',
      verdict(M.after.heapUsed - M.before.heapUsed < 20 * 1048576),
    ]);
  }
  const C = results.cells;
  if (C && !C.error) {
    const m = C.medians;
    rows.push([
      '6. scale-up: waiting message → its result (median)',
      `${fmt(m.scaleUp, 1)} ms`,
      `${fmt(m.init, 1)} ms (one /init)`,
      `${fmt(m.scaleUp / m.init, 2)}x`,
      '≤ 1.5x one /init',
      verdict(m.scaleUp <= 1.5 * m.init),
    ]);
    rows.push([
      '6. cold start of a msg.action action (median)',
      `${fmt(m.cold, 1)} ms`,
      `${fmt(m.init, 1)} ms (one /init)`,
      `${fmt(m.cold / m.init, 2)}x`,
      '≤ 1.5x one /init',
      verdict(m.cold <= 1.5 * m.init),
    ]);
    rows.push([
      '6. … of which: provisioned (stem cell taken, /init) / first /run',
      `${fmt(m.coldProvision, 1)} / ${fmt(m.coldRun, 1)} ms`,
      '',
      '',
      '(reported)',
      '',
    ]);
    rows.push([
      '6. redeploy of a changed action → ready (median)',
      `${fmt(m.redeploy, 0)} ms`,
      `${fmt(m.full, 0)} ms (docker run + /init)`,
      `${fmt(m.redeploy / m.full, 2)}x`,
      '≤ 0.2x bare',
      verdict(m.redeploy <= 0.2 * m.full),
    ]);
    rows.push([
      '6. … of which: old node closed (its container removed in the background) / new one ready',
      `${fmt(m.redeployClose, 0)} / ${fmt(m.redeployProvision, 1)} ms`,
      '',
      `${fmt(m.redeployProvision / m.full, 2)}x`,
      '(reported)',
      '',
    ]);
  }
  const S = results.store;
  if (S && !S.error) {
    rows.push([
      '7. activation store on (default, 200 kept) vs off: warm p50',
      `${fmt(S.on.p50)} ms`,
      `${fmt(S.off.p50)} ms (off)`,
      `${signed(S.addedP50)} ms`,
      'added p50 ≤ 0.1 ms',
      verdict(S.addedP50 <= 0.1),
    ]);
    rows.push(['7. … p99', `${fmt(S.on.p99)} ms`, `${fmt(S.off.p99)} ms (off)`, `${signed(S.addedP99)} ms`, '(reported)', '']);
  }
  const I = results.inline;
  if (I && !I.error) {
    rows.push([
      '8. inline code vs the same code from the catalog: warm p50',
      `${fmt(I.inline.p50)} ms`,
      `${fmt(I.catalog.p50)} ms (catalog)`,
      `${signed(I.addedP50)} ms`,
      'no difference beyond noise (|added| ≤ 0.1 ms)',
      verdict(Math.abs(I.addedP50) <= 0.1),
    ]);
    rows.push(['8. … p99', `${fmt(I.inline.p99)} ms`, `${fmt(I.catalog.p99)} ms (catalog)`, `${signed(I.addedP99)} ms`, '(reported)', '']);
  }
  const ID = results['inline-deploy'];
  if (ID && !ID.error) {
    rows.push([
      '9. new inline action node: deploy → first result (median)',
      `${fmt(ID.node, 1)} ms`,
      `${fmt(ID.init, 1)} ms (one /init)`,
      `${fmt(ID.ratio, 2)}x (per round ${fmt(ID.pairRatio, 2)}x)`,
      '≤ 1.5x one /init',
      verdict(ID.ratio <= 1.5),
    ]);
    const mk = ID.marks;
    const at = (k) => (mk[k] === undefined ? '?' : fmt(mk[k], 1));
    rows.push([
      '9. … marks, ms after the deploy call (medians)',
      `node ${at('node')} · catalog ${at('catalog>')}–${at('catalog<')} · image ${at('image>')}–${at('image<')} · cell ${at('cell')} · /init ${at('init>')}–${at('init<')} · ready ${at('ready')} · flows started ${at('flowsStarted')} · /run ${at('run>')}–${at('run<')} · result ${at('result')}`,
      `${fmt(ID.full, 0)} ms (docker run + /init)`,
      '',
      `(reported; ${ID.cellsTaken}/${ID.runs.node.length} took a stem cell)`,
      '',
    ]);
  }
  for (const [k, v] of Object.entries(results)) if (v && v.error) rows.push([k, 'ERROR', '', '', '', v.error]);
  return markdownTable(['figure', 'through the node', 'direct / bare', 'added / ratio', 'target', 'result'], rows);
}

// ---- main ------------------------------------------------------------------------------------------

// dockerd restarts during a phase (other jobs on this machine stop and start it): a watcher pings
// Docker every 500 ms and counts the times it came back after being unreachable.
let dockerRestarts = 0;
let dockerDown = false;
const watcher = setInterval(() => {
  docker.ping().then(
    () => {
      if (dockerDown) dockerRestarts++;
      dockerDown = false;
    },
    () => {
      dockerDown = true;
    },
  );
}, 500);
watcher.unref();

/** After a failed phase: was Docker away meanwhile? Then wait (up to 120 s) until it answers again and settles. */
async function dockerWentAway(restartsBefore) {
  await sleep(1000);
  const reachable = await docker.ping().then(
    () => true,
    () => false,
  );
  if (reachable && !dockerDown && dockerRestarts === restartsBefore) return false;
  log('Docker went away (someone restarted dockerd): waiting for it, then running the phase again');
  for (let i = 0; i < 120; i++) {
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    ) {
      await sleep(3000);
      return true;
    }
    await sleep(1000);
  }
  return false;
}

let cleaning;
let stopping = false;
function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (child) child.kill('SIGTERM');
    await unload().catch(() => undefined);
    await helper.stopServer().catch(() => undefined);
    const labels = [BARE_LABEL, `io.leon-edge.instance=${instanceId(userDir)}`, `io.leon-edge.instance=${instanceId(childUserDir)}`];
    const sweep = async () => {
      let n = 0;
      for (const l of labels) n += await removeWith(l);
      return n;
    };
    let removed = 0;
    // Docker may be down for a moment (someone restarting dockerd): retry for up to 30 s.
    for (let attempt = 0; ; attempt++) {
      try {
        removed += await sweep();
        if (stopping && attempt === 0) {
          // Interrupted: a create call already sent to Docker may complete after the first sweep.
          await sleep(1500);
          removed += await sweep();
        }
        break;
      } catch (err) {
        if (attempt >= 15) {
          log(
            `cleanup: Docker unreachable (${err.message}); remove leftovers with: ${labels.map((l) => `docker rm -f $(docker ps -aq --filter label=${l})`).join('; ')}`,
          );
          break;
        }
        await sleep(2000);
      }
    }
    if (removed) log(`cleanup: removed ${removed} leftover container(s)`);
    if (ow) await ow.stop().catch(() => undefined);
    fs.rmSync(runDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    stopping = true;
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  // Docker may be restarting (other jobs on this engine): wait up to 60 s for it.
  for (let i = 0; ; i++) {
    try {
      await docker.ping();
      break;
    } catch (err) {
      if (i >= 30) throw new Error(`Docker engine not reachable (${err.message}): start dockerd`, { cause: err });
      if (i === 0) log(`Docker not reachable (${err.message}); waiting up to 60 s`);
      await sleep(2000);
    }
  }
  await docker
    .getImage(IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`image ${IMAGE} missing: run bash runtimes/build.sh`);
    });
  // The engine creates the isolation network on first use; the bare side may come first.
  const probe = new LocalEngine({ instanceId: `bench-net-${RUN}`, runtimeId: 'bench-net', capacity: 1 });
  await probe.start();
  await probe.close();
  const loadBefore = os.loadavg();
  const foreign = (await docker.listContainers()).length;
  ow = await startOpenWhiskServer();
  for (const [name, code] of Object.entries(ACTIONS)) ow.putAction('guest', name, { exec: { kind: 'nodejs:20', code } });
  if (want('python') || PROFILE_PY) {
    await docker
      .getImage(PY_IMAGE)
      .inspect()
      .catch(() => {
        throw new Error(`image ${PY_IMAGE} missing: run bash runtimes/build.sh`);
      });
    for (const [name, code] of Object.entries(PY_ACTIONS)) ow.putAction('guest', name, { exec: { kind: 'python:3.11', code } });
  }
  await helper.startServer();
  const results = {};
  const phases = [
    ['latency', () => phaseLatency()],
    ['python', () => phaseLatency('pynoop', 'pylat')],
    ['throughput', phaseThroughput],
    ['deploy', phaseDeploy],
    ['payload', phasePayload],
    ['memory', phaseMemory],
    ['cells', phaseCells],
    ['store', phaseStore],
    ['inline', phaseInline],
    ['inline-deploy', phaseInlineDeploy],
  ];
  if (args.has('--profile')) phases.unshift(['profile', phaseProfile]);
  const retried = {};
  for (const [name, fn] of phases) {
    if (!want(name)) continue;
    for (let attempt = 0; !stopping; attempt++) {
      log(`${name}: start${attempt ? ` (attempt ${attempt + 1})` : ''}`);
      const dockerRestartsBefore = dockerRestarts;
      try {
        results[name] = await fn();
        // dockerd restarted by someone else while this phase ran: its figures are not comparable.
        if (dockerRestarts !== dockerRestartsBefore) throw new Error('the Docker engine restarted during the phase');
        break;
      } catch (err) {
        log(`${name}: FAILED: ${err.stack || err}`);
        results[name] = { error: String(err.message || err) };
        await unload().catch(() => undefined);
        if (child) child.kill('SIGTERM');
        // Other jobs share this machine and its Docker engine (they stop and start dockerd, fill
        // it up, kill containers): run a failed phase again, twice at most, after waiting for
        // Docker when it went away. A phase failing three times is reported as failed.
        if (attempt >= 2) break;
        if (!(await dockerWentAway(dockerRestartsBefore))) await sleep(2000);
        retried[name] = attempt + 1;
      }
    }
  }
  const env = {
    date: new Date().toISOString(),
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
    // dist/ is what ran: built from the working tree, which may differ from the commit.
    uncommittedSources: spawnSync('git', ['status', '--porcelain', '--', 'lib', 'nodes'], { cwd: root, encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .filter(Boolean),
    node: process.version,
    nodeRed: nodeRedVersion(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    docker: (await docker.version().catch(() => ({ Version: '?' }))).Version,
    // Noise indicators: the 1-minute load average at start and end, other containers running at start.
    loadavg1: [Math.round(loadBefore[0] * 100) / 100, Math.round(os.loadavg()[0] * 100) / 100],
    otherContainersAtStart: foreign,
    image: IMAGE,
    quick: QUICK,
    helperSpies: KEEP_SPIES,
    // Phases run again because someone else's job restarted dockerd during them.
    retried,
    seconds: Math.round((performance.now() - t00) / 1000),
  };
  const table = report(results);
  console.log(
    `\n## Local mode benchmark (${env.date}, Node ${env.node}, Node-RED ${env.nodeRed}, ${env.cpus} CPUs, Docker ${env.docker}; load ${env.loadavg1.join(' → ')}, ${env.otherContainersAtStart} other containers running)\n`,
  );
  console.log(table);
  if (results.profile && !results.profile.error) console.log(`\n### --profile: one warm message, stage by stage\n\n${profileTable(results.profile)}`);
  const failed = Object.values(results).some((r) => r && r.error);
  if (failed) log('a phase failed: bench/results/local.json not written');
  else if (!only && !QUICK && !args.has('--profile')) {
    const file = path.join(__dirname, 'results', 'local.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ env, table, results }, null, 2) + '\n');
    log(`wrote ${path.relative(root, file)}`);
  }
  return failed ? 1 : 0;
}

main()
  .then(
    (code) => code,
    (err) => {
      log(`failed: ${err.stack || err}`);
      return 1;
    },
  )
  .then(async (code) => {
    await cleanup();
    log(`done in ${((performance.now() - t00) / 1000).toFixed(0)} s`);
    process.exit(code);
  });
