#!/usr/bin/env node
'use strict';
/*
 * Soak benchmark of the local (Docker) mode under faults. A benchmark, NOT a test:
 *
 *   npm run build && node bench/soak.js [--minutes 10] [--seed 42] [--no-dockerd] [--stem-cells 1]
 *
 * The real Node-RED runtime (node-red-node-test-helper, as the Node-RED tests do; Node-RED 5 on Node >= 22.9,
 * else 4.1) runs a flow with one local openwhisk-runtime (capacity 6, queue 50, the engine's default
 * preemption/idle policy) and four openwhisk-action nodes, all wired to one output and watched by
 * one Catch node. The catalog is the OpenWhisk API test server (test/support/openwhisk-server/).
 *
 * Load, for N minutes: a fast action (50 msg/s), a slow one (4 msg/s, 100–800 ms each), a flaky one
 * (2 msg/s: result, application error or crash), a hostile one every 5 s (the test image
 * test/support/hostile-image, in turn: a 1 GB reply, a 64 MB log line without a newline, 40 log lines
 * of 1 MB, a run that never answers), and every 20 s a burst above capacity (150 slow +
 * 150 fast + 30 flaky at once: the slow queue overflows). Faults on a schedule: every 25 s a
 * `docker kill` of a random container of this run (busy or idle), every 45 s a message to an action
 * that exceeds its memory limit (OOM kill), and once, at 40 % of the run, dockerd stopped (SIGTERM)
 * for 5 s and started again the way .ci/run does (needs root and a local dockerd; --no-dockerd skips it).
 *
 * It counts messages in, results out and errors by code (msg.error.code at the Catch node), checks
 * that every message is accounted for (in = results + errors, none pending at the end), and counts
 * the containers of this run left over after the flow is stopped (must be 0). Prints a markdown
 * summary, writes bench/results/soak.json, exits 1 when a message was lost or a container was left.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Docker = require('dockerode');

const ROOT = path.resolve(__dirname, '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const SOCKET = '/var/run/docker.sock';

// ---- arguments --------------------------------------------------------------------------------

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return dflt;
  const a = argv[i];
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
}
const MINUTES = Number(opt('minutes', '10'));
const SEED = Number(opt('seed', '42'));
// --stem-cells N: the runtime keeps N stem cells per image (default 1, the runtime's own default; 0 for none).
const STEM_CELLS = Number(opt('stem-cells', '1'));
const WITH_DOCKERD = !argv.includes('--no-dockerd');
if (!(MINUTES > 0)) {
  console.error('usage: node bench/soak.js [--minutes 10] [--seed 42] [--no-dockerd]');
  process.exit(2);
}
const DURATION = Math.round(MINUTES * 60000);

// ---- Node-RED ---------------------------------------------------------------------------------

function nodeRedPath() {
  if (process.env.NODE_RED_PATH) return process.env.NODE_RED_PATH;
  const [maj, min] = process.versions.node.split('.').map(Number);
  return require.resolve(maj > 22 || (maj === 22 && min >= 9) ? 'node-red' : 'node-red-v4', { paths: [ROOT] });
}
const helper = require('node-red-node-test-helper');
helper.init(nodeRedPath());
const nodes = ['openwhisk-service', 'openwhisk-runtime', 'openwhisk-action'].map((n) => require(path.join(ROOT, 'dist', 'nodes', `${n}.js`)));
const { startOpenWhiskServer } = require(path.join(ROOT, 'test', 'support', 'openwhisk-server'));
const { instanceId } = require(path.join(ROOT, 'dist', 'lib', 'runtime-config.js'));
const { LABELS } = require(path.join(ROOT, 'dist', 'lib', 'local', 'engine.js'));
const { DockerdControl } = require(path.join(ROOT, 'test', 'support', 'dockerd.js'));
const { HOSTILE_IMAGE, buildHostileImage } = require(path.join(ROOT, 'test', 'support', 'hostile.js'));

// ---- small things -----------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const docker = new Docker();
const t0 = Date.now();
const elapsed = () => Date.now() - t0;
const stamp = () => `${(elapsed() / 1000).toFixed(1).padStart(6)} s`;
const log = (...a) => console.log(`[soak ${stamp()}]`, ...a);

/** mulberry32: a seeded PRNG, so a run's schedule of choices can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

function quantile(xs, q) {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// ---- dockerd control: test/support/dockerd.js (started again on exit if it is down) ------------

const ctl = new DockerdControl(SOCKET);
let dockerd; // what findDockerd saw: {pid, argv} or {why}

// ---- the flow ---------------------------------------------------------------------------------

const RUN = `soak${process.pid}`;
const ID = {
  svc: `${RUN}-svc`,
  rt: `${RUN}-rt`,
  fast: `${RUN}-fast`,
  slow: `${RUN}-slow`,
  flaky: `${RUN}-flaky`,
  hog: `${RUN}-hog`,
  hostile: `${RUN}-hostile`,
  out: `${RUN}-out`,
  catch: `${RUN}-catch`,
  caught: `${RUN}-caught`,
};
const ACTIONS = ['fast', 'slow', 'flaky', 'hog', 'hostile'];
const HOSTILE_MODES = [
  { mode: 'huge', bytes: 1024 * 1024 * 1024 },
  { mode: 'endless-line', bytes: 64 * 1024 * 1024 },
  { mode: 'big-lines', lines: 40, lineBytes: 1024 * 1024 },
  { mode: 'hang' },
];
const CAPACITY = 6;
const QUEUE = 50;

const CODE = {
  fast: 'function main(p) { return { n: p.n }; }',
  slow: 'function main(p) { return new Promise((r) => setTimeout(() => r({ n: p.n, slept: p.ms }), p.ms)); }',
  flaky: `function main(p) {
    if (p.kind === 'app') return { error: 'flaky said no to ' + p.n };
    if (p.kind === 'crash') throw new Error('flaky crashed on ' + p.n);
    return { n: p.n };
  }`,
  hog: `function main(p) {
    const keep = [];
    for (let i = 0; i < 30; i++) keep.push(Buffer.alloc(10 * 1024 * 1024, i + 1));
    return { n: p.n, mb: keep.length * 10 };
  }`,
};

function flow(owUrl) {
  const action = (name) => ({ id: ID[name], type: 'openwhisk-action', runtime: ID.rt, action: `soak/${name}`, namespace: '', params: [], wires: [[ID.out]] });
  return [
    { id: ID.svc, type: 'openwhisk-service', api: owUrl },
    {
      id: ID.rt,
      type: 'openwhisk-runtime',
      mode: 'local',
      service: ID.svc,
      images: `nodejs:*=${IMAGE}`,
      capacity: CAPACITY,
      queue: QUEUE,
      stemCells: STEM_CELLS,
    },
    ...ACTIONS.map(action),
    { id: ID.out, type: 'helper' },
    { id: ID.catch, type: 'catch', scope: null, uncaught: false, wires: [[ID.caught]] },
    { id: ID.caught, type: 'helper' },
  ];
}

// ---- accounting -------------------------------------------------------------------------------

const stats = {
  in: 0,
  results: 0,
  errors: 0,
  byCode: {},
  byAction: Object.fromEntries(ACTIONS.map((a) => [a, { in: 0, results: 0, errors: {}, latency: [] }])),
  faults: { kills: [], oomSent: 0, dockerd: null },
  health: [],
  samples: [],
  maxPending: 0,
  maxContainers: 0,
  maxRss: 0,
  maxHeap: 0,
  lateSettled: 0,
  oomReported: 0,
};
const pending = new Map(); // id → { action, at }
let seq = 0;
let actionNodes = {};

function send(action, payload) {
  const id = ++seq;
  pending.set(id, { action, at: Date.now() });
  stats.in++;
  stats.byAction[action].in++;
  if (pending.size > stats.maxPending) stats.maxPending = pending.size;
  actionNodes[action].receive({ payload: { ...payload, n: id }, _soak: id });
}

function settled(msg, code) {
  const p = pending.get(msg._soak);
  if (!p) {
    stats.lateSettled++; // settled twice: would be a bug
    return;
  }
  pending.delete(msg._soak);
  const a = stats.byAction[p.action];
  if (code === undefined) {
    stats.results++;
    a.results++;
    a.latency.push(Date.now() - p.at);
  } else {
    stats.errors++;
    stats.byCode[code] = (stats.byCode[code] || 0) + 1;
    a.errors[code] = (a.errors[code] || 0) + 1;
  }
}

async function ourContainers(all = true) {
  return docker.listContainers({ all, filters: { label: [`${LABELS.runtime}=${ID.rt}`] } });
}

// ---- the run ----------------------------------------------------------------------------------

async function main() {
  try {
    await docker.ping();
    await docker.getImage(IMAGE).inspect();
  } catch (err) {
    console.error(`Needs a running Docker engine and ${IMAGE} (bash runtimes/build.sh): ${err.message}`);
    process.exit(1);
  }
  dockerd = WITH_DOCKERD ? ctl.found : { why: '--no-dockerd' };

  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-soak-'));
  const ow = await startOpenWhiskServer();
  ow.putPackage('guest', 'soak', {});
  for (const a of ACTIONS) {
    if (a === 'hostile') continue;
    ow.putAction('guest', `soak/${a}`, { exec: { kind: 'nodejs:20', code: CODE[a] }, limits: { timeout: 60000, memory: 128 } });
  }
  buildHostileImage();
  ow.putAction('guest', 'soak/hostile', { exec: { kind: 'blackbox', image: HOSTILE_IMAGE }, limits: { timeout: 5000, memory: 256, logs: 1 } });
  helper.settings({ userDir });
  await helper.startServer();
  stats.nodeRed = helper._RED.version();
  log(`${MINUTES} min, seed ${SEED}, Node ${process.versions.node}, Node-RED ${stats.nodeRed}; dockerd fault: ${dockerd.pid ? 'yes' : `no (${dockerd.why})`}`);
  const timers = [];
  let finished = false;
  try {
    await helper.load(nodes, flow(ow.url), { [ID.svc]: { key: ow.key('guest') } });
    actionNodes = Object.fromEntries(ACTIONS.map((a) => [a, helper.getNode(ID[a])]));
    helper.getNode(ID.out).on('input', (msg) => settled(msg, undefined));
    helper.getNode(ID.caught).on('input', (msg) => {
      if (msg.payload && msg.payload.hog && /exhausted its memory/.test((msg.error && msg.error.message) || '')) stats.oomReported++;
      settled(msg, (msg.error && msg.error.code) || 'uncoded');
    });
    const engine = helper.getNode(ID.rt).engine;
    engine.on('health', (h) => {
      stats.health.push({ t: elapsed(), state: h.state, short: h.short });
      log(`engine health: ${h.state}${h.short ? ` (${h.short})` : ''}`);
    });
    // wait for the four warm containers, then drop the helper's spies (they record every call for ever)
    const w0 = Date.now();
    while ((await ourContainers(false)).length < ACTIONS.length && Date.now() - w0 < 120000) await sleep(200);
    log(`deployed: ${(await ourContainers(false)).length} containers ready in ${Date.now() - w0} ms (instance ${instanceId(userDir)})`);
    helper._sandbox.restore();
    // Node-RED copies Node.prototype.send onto each wired node at deploy, i.e. the helper's spy,
    // which would record every message for ever: point them back at the real send.
    for (const id of Object.values(ID)) {
      const n = helper.getNode(id);
      if (n && Object.prototype.hasOwnProperty.call(n, 'send') && n.send.callCount !== undefined) n.send = Object.getPrototypeOf(n).send;
    }

    const every = (ms, fn, first = ms) => {
      const start = setTimeout(() => {
        fn();
        timers.push(setInterval(fn, ms));
      }, first);
      timers.push(start);
    };
    const safe = (what, fn) => () =>
      Promise.resolve()
        .then(fn)
        .catch((err) => log(`${what} failed: ${err.message}`));

    // steady load
    every(20, () => send('fast', {}));
    every(250, () => send('slow', { ms: 100 + Math.floor(rand() * 700) }));
    every(500, () => send('flaky', { kind: pick(['ok', 'app', 'crash']) }));
    let hostileTurn = 0;
    every(5000, () => send('hostile', HOSTILE_MODES[hostileTurn++ % HOSTILE_MODES.length]));
    // bursts above capacity
    every(
      20000,
      () => {
        for (let i = 0; i < 150; i++) send('slow', { ms: 300 });
        for (let i = 0; i < 150; i++) send('fast', {});
        for (let i = 0; i < 30; i++) send('flaky', { kind: pick(['ok', 'app', 'crash']) });
      },
      10000,
    );
    // OOM now and then
    every(
      45000,
      () => {
        stats.faults.oomSent++;
        send('hog', { hog: true });
      },
      30000,
    );
    // docker kill of a random container of this run (busy or idle)
    every(
      25000,
      safe('docker kill', async () => {
        if (ctl.down) return;
        const list = await ourContainers(false);
        if (list.length === 0) return;
        const c = pick(list);
        const node = c.Labels[LABELS.node];
        const action = ACTIONS.find((a) => ID[a] === node) || node;
        await docker.getContainer(c.Id).kill();
        stats.faults.kills.push({ t: elapsed(), action });
        log(`docker kill ${c.Names[0]} (${action})`);
      }),
      15000,
    );
    // dockerd stop/start, once
    if (dockerd.pid) {
      timers.push(
        setTimeout(
          safe('dockerd stop/start', async () => {
            const at = elapsed();
            log('dockerd: SIGTERM');
            const stopMs = await ctl.stop();
            log(`dockerd stopped (${stopMs} ms); down for 5 s`);
            await sleep(5000);
            const startMs = await ctl.start();
            log(`dockerd back (${startMs} ms)`);
            stats.faults.dockerd = { at, stopMs, downMs: 5000, startMs };
          }),
          Math.round(DURATION * 0.4),
        ),
      );
    }
    // samples
    every(
      5000,
      safe('sample', async () => {
        const m = process.memoryUsage();
        let containers = null;
        if (!ctl.down) containers = (await ourContainers(false).catch(() => null))?.length ?? null;
        if (containers !== null) stats.maxContainers = Math.max(stats.maxContainers, containers);
        stats.maxRss = Math.max(stats.maxRss, m.rss);
        stats.maxHeap = Math.max(stats.maxHeap, m.heapUsed);
        stats.samples.push({
          t: elapsed(),
          in: stats.in,
          results: stats.results,
          errors: stats.errors,
          pending: pending.size,
          containers,
          rss: m.rss,
          heap: m.heapUsed,
          health: engine.health.state,
        });
      }),
    );
    every(60000, () => log(`in ${stats.in}, results ${stats.results}, errors ${stats.errors} ${JSON.stringify(stats.byCode)}, pending ${pending.size}`));

    await sleep(DURATION);
    for (const t of timers) (clearInterval(t), clearTimeout(t));
    timers.length = 0;
    while (ctl.down) await sleep(200); // a dockerd restart in progress finishes first
    log(`load stopped; waiting for ${pending.size} messages in flight`);
    const d0 = Date.now();
    while (pending.size > 0 && Date.now() - d0 < 180000) await sleep(100);
    stats.drainMs = Date.now() - d0;
    finished = true;
  } finally {
    for (const t of timers) (clearInterval(t), clearTimeout(t));
    if (ctl.down || !(await ctl.up())) {
      if (dockerd && dockerd.argv) await ctl.start().catch((err) => log(`could not start dockerd: ${err.message}`));
    }
    const lost = [...pending.values()];
    stats.lost = lost.length;
    stats.lostSample = lost.slice(0, 10).map((p) => ({ action: p.action, age: Date.now() - p.at }));
    await helper.unload().catch((err) => log(`unload: ${err.message}`));
    await helper.stopServer().catch(() => undefined);
    await ow.stop();
    await sleep(1000);
    const left = await ourContainers(true).catch(() => []);
    stats.leftover = left.length;
    stats.leftoverNames = left.map((c) => `${c.Names[0]} (${c.State})`);
    await Promise.all(
      left.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    fs.rmSync(userDir, { recursive: true, force: true });
    stats.finished = finished;
  }
}

/** Median heap used over the first and the last minute of samples (a leak shows as a steady climb). */
function heapTrend() {
  const xs = stats.samples.filter((x) => x.heap);
  if (xs.length < 4) return undefined;
  const end = xs[xs.length - 1].t;
  const first = xs.filter((x) => x.t <= 60000).map((x) => x.heap);
  const last = xs.filter((x) => x.t >= end - 60000).map((x) => x.heap);
  return { first: quantile(first, 0.5), last: quantile(last, 0.5) };
}

function report() {
  const accounted = stats.results + stats.errors;
  const ok = stats.finished && stats.lost === 0 && stats.in === accounted && stats.leftover === 0 && stats.lateSettled === 0;
  const mb = (n) => `${(n / 1048576).toFixed(0)} MB`;
  const lines = [];
  lines.push(`## Soak: ${MINUTES} min of mixed load under faults — ${ok ? 'PASS' : 'FAIL'}`);
  lines.push('');
  lines.push(
    `Node ${process.versions.node}, Node-RED ${stats.nodeRed} via node-red-node-test-helper, runtime capacity ${CAPACITY}, queue ${QUEUE}, seed ${SEED}.`,
  );
  lines.push('');
  lines.push('| figure | value |');
  lines.push('|---|---|');
  lines.push(`| messages in | ${stats.in} |`);
  lines.push(`| results out | ${stats.results} |`);
  lines.push(`| errors (Catch) | ${stats.errors} |`);
  for (const [code, n] of Object.entries(stats.byCode).sort((a, b) => b[1] - a[1])) lines.push(`| · ${code} | ${n} |`);
  lines.push(`| in = results + errors | ${stats.in === accounted ? 'yes' : `NO (${stats.in} ≠ ${accounted})`} |`);
  lines.push(`| still pending at the end (lost) | ${stats.lost} |`);
  lines.push(`| settled twice | ${stats.lateSettled} |`);
  lines.push(`| containers left over | ${stats.leftover} |`);
  lines.push(`| docker kills | ${stats.faults.kills.length} |`);
  lines.push(`| OOM messages sent / reported as "exhausted its memory" | ${stats.faults.oomSent} / ${stats.oomReported} |`);
  const d = stats.faults.dockerd;
  lines.push(
    `| dockerd stop/start | ${d ? `at ${(d.at / 1000).toFixed(0)} s: stop ${d.stopMs} ms, down ${d.downMs} ms, start ${d.startMs} ms` : `not done (${dockerd && dockerd.why})`} |`,
  );
  lines.push(`| engine health changes | ${stats.health.map((h) => `${(h.t / 1000).toFixed(0)} s ${h.state}`).join(', ') || 'none'} |`);
  lines.push(`| max messages in flight | ${stats.maxPending} |`);
  lines.push(`| max containers (sampled) | ${stats.maxContainers} (capacity ${CAPACITY}) |`);
  lines.push(`| max RSS / heap used | ${mb(stats.maxRss)} / ${mb(stats.maxHeap)} |`);
  const trend = heapTrend();
  if (trend) lines.push(`| heap used, median of the first / last minute | ${mb(trend.first)} / ${mb(trend.last)} |`);
  lines.push(`| drain after the load stopped | ${stats.drainMs ?? '?'} ms |`);
  lines.push('');
  lines.push('| action | in | results | errors by code | result latency p50 / p99 / max |');
  lines.push('|---|---|---|---|---|');
  for (const a of ACTIONS) {
    const s = stats.byAction[a];
    const lat = s.latency.length ? `${quantile(s.latency, 0.5)} / ${quantile(s.latency, 0.99)} / ${Math.max(...s.latency)} ms` : '–';
    lines.push(`| ${a} | ${s.in} | ${s.results} | ${JSON.stringify(s.errors)} | ${lat} |`);
  }
  if (stats.leftover) lines.push('', `Left over: ${stats.leftoverNames.join(', ')}`);
  if (stats.lost) lines.push('', `Lost (first 10): ${JSON.stringify(stats.lostSample)}`);
  console.log(`\n${lines.join('\n')}\n`);

  const out = {
    when: new Date(t0).toISOString(),
    minutes: MINUTES,
    seed: SEED,
    node: process.versions.node,
    nodeRed: stats.nodeRed,
    capacity: CAPACITY,
    queue: QUEUE,
    pass: ok,
    in: stats.in,
    results: stats.results,
    errors: stats.errors,
    errorsByCode: stats.byCode,
    lost: stats.lost,
    settledTwice: stats.lateSettled,
    leftoverContainers: stats.leftover,
    leftoverNames: stats.leftoverNames,
    faults: { dockerKills: stats.faults.kills, oomSent: stats.faults.oomSent, dockerd: stats.faults.dockerd },
    health: stats.health,
    maxInFlight: stats.maxPending,
    maxContainers: stats.maxContainers,
    maxRssBytes: stats.maxRss,
    maxHeapBytes: stats.maxHeap,
    heapTrendBytes: heapTrend(),
    oomReported: stats.oomReported,
    drainMs: stats.drainMs,
    byAction: Object.fromEntries(
      ACTIONS.map((a) => {
        const s = stats.byAction[a];
        return [
          a,
          {
            in: s.in,
            results: s.results,
            errors: s.errors,
            latencyMs: { p50: quantile(s.latency, 0.5), p99: quantile(s.latency, 0.99), max: s.latency.length ? Math.max(...s.latency) : null },
          },
        ];
      }),
    ),
    samples: stats.samples,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'soak.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log('wrote bench/results/soak.json');
  return ok;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping (dockerd is started again if it is down)`);
    process.exit(130); // DockerdControl's exit handler starts dockerd again if it is down
  });
}

main().then(
  () => process.exit(report() ? 0 : 1),
  (err) => {
    console.error(err);
    try {
      report();
    } catch {
      /* nothing to report */
    }
    process.exit(1);
  },
);
