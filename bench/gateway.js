#!/usr/bin/env node
'use strict';
// Benchmark of the gateway's OpenWhisk API: a warm invoke through the API of a real
// Node-RED process (POST …/api/v1/namespaces/_/actions/noop?blocking=true&result=true, Basic auth,
// keep-alive, a plain node:http client: the `openwhisk` npm client's own cost is not the gateway's)
// versus a direct /run to a bare container of the same image with the same code on the same network
// (not the pool's own container: its log reader would take the direct side's log sentinels as its
// activations' — bench/local.js compares the same way). Two gateway sides: the API's own listener
// (the runtime's "own port", the fast path the targets apply to) and the same API mounted on
// Node-RED's HTTP server (/openwhisk/<path>/…, behind Node-RED's Express stack), all sides
// interleaved in rounds in one run. A fourth side is the floor of any gateway design: one plain
// HTTP hop in another Node process (bench/lib/hop.js, same Node as Node-RED) to the direct side's
// container, no auth, store or logs. Not a test: prints a markdown table with each figure's target
// and PASS/MISS and writes bench/results/gateway.json.
//
//   node bench/gateway.js [--quick]

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { percentile, median, fmt, markdownTable } = require('./lib/stats');
const { createAgent, runDirect, bareDeploy } = require('./lib/direct');
const { ISOLATION_NETWORK } = require('../dist/lib/local/engine');
const { docker } = require('./lib/docker');
const { createRed, until, freePort } = require('../test/support/red-process');

const root = path.resolve(__dirname, '..');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const KEY = 'bench000-0000-4000-8000-000000000000:oAC0Qo249jOGCAwxVlYzp8qUkXrvteiiHtBJgH5JfwHl33Ot76olBJAzolUwjrOw';
const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 6 : 20;
const PER_ROUND = 50;
const TP_MS = QUICK ? 1000 : 3000;
const NOOP = 'function main(p) { return { ok: true, n: p.n }; }';
const MANIFEST = 'packages:\n  bench:\n    actions:\n      noop:\n        function: noop.js\n        runtime: nodejs:20\n';

/** bench/lib/hop.js in a child process (Node-RED's Node), forwarding to the container on `port`; resolves its port and the child. */
function startHop(port) {
  const child = spawn(require('../scripts/node22').find() || process.execPath, [path.join(__dirname, 'lib', 'hop.js'), String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`hop.js exited (${code})`)));
    child.stdout.once('data', (d) => resolve({ port: Number(String(d).trim()), child }));
  });
}

function hopCall(agent, port, n) {
  const body = JSON.stringify({ n });
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, agent, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks))) : reject(new Error(`hop: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A path nobody serves on the same Node-RED: its 404 is the floor of Node-RED's own HTTP stack. */
function floorCall(agent, port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, method: 'GET', path: '/no-such-path' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 404 ? resolve({}) : reject(new Error(`floor: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function gatewayCall(agent, port, n, prefix = '/openwhisk/bench') {
  const body = JSON.stringify({ n });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: 'POST',
        path: `${prefix}/api/v1/namespaces/_/actions/bench/noop?blocking=true&result=true`,
        headers: {
          authorization: `Basic ${Buffer.from(KEY).toString('base64')}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks))) : reject(new Error(`gateway: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const red = await createRed({ version: 5, files: { 'manifest.yaml': MANIFEST, 'noop.js': NOOP } });
  let inst;
  let hop;
  const own = await freePort();
  try {
    await red.start();
    await red.deploy([
      {
        id: 'rt',
        type: 'openwhisk-runtime',
        mode: 'local',
        source: 'manifest',
        manifest: 'manifest.yaml',
        service: '',
        images: `nodejs:*=${IMAGE}`,
        capacity: 1,
        queue: 100,
        serveApi: true,
        apiPath: 'bench',
        apiListen: `127.0.0.1:${own}`,
        credentials: { apiKey: KEY },
      },
    ]);
    inst = fs.readFileSync(path.join(red.userDir, '.leon-openwhisk', 'instance-id'), 'utf8').trim();
    const gw = createAgent();
    const mounted = createAgent();
    const direct = createAgent();
    // Its own agent: the setup below takes about the listener's 5 s keep-alive, and a request sent on a
    // socket as the server closes it fails (ECONNRESET), a race of the bench's making.
    const first = createAgent();
    await until(
      'the API to run the action',
      () =>
        gatewayCall(first, own, 0, '').then(
          () => true,
          () => false,
        ),
      60000,
    );
    first.destroy();
    const bare = await bareDeploy(
      docker,
      IMAGE,
      { 'io.leon-edge.bench': 'gateway', 'io.leon-edge.instance': inst },
      { name: 'noop', main: 'main', code: NOOP, binary: false, env: {} },
      {},
      ISOLATION_NETWORK,
    );
    const port = bare.port;
    hop = await startHop(port);
    const hopAgent = createAgent();
    const action = { namespace: 'guest', qualified: '/guest/bench/noop' };
    // A keep-alive socket closed by the other end while idle is retried once on a new one.
    // A failed call is counted and reported (never hidden), and the call made again once.
    const failures = { direct: [], hop: [], gateway: [], mounted: [] };
    const retry = (label, f) => (n) =>
      f(n).catch((e) => {
        failures[label].push(e.code || e.message.slice(0, 120));
        process.stderr.write(`${label}: ${e.code || e.message.slice(0, 200)} (retried) at ${new Date().toISOString()}\n`);
        return f(n);
      });
    const sides = {
      direct: retry('direct', (n) => runDirect(direct, port, { n }, action)),
      hop: retry('hop', (n) => hopCall(hopAgent, hop.port, n)),
      gateway: retry('gateway', (n) => gatewayCall(gw, own, n, '')),
      mounted: retry('mounted', (n) => gatewayCall(mounted, red.port, n)),
    };
    const names = Object.keys(sides);
    // Each round runs the sides in another order (a rotation), so no side always follows another.
    const order = (r) => names.map((_, i) => names[(i + r) % names.length]);
    const floorAgent = createAgent();
    const floor = [];
    for (const f of Object.values(sides)) for (let i = 0; i < 200; i++) await f(i); // warm-up (JIT, sockets)

    const lat = { direct: [], hop: [], gateway: [], mounted: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of order(r)) {
        for (let i = 0; i < PER_ROUND; i++) {
          const t = performance.now();
          const out = await sides[name](i);
          lat[name].push(performance.now() - t);
          if (out.n !== i) throw new Error(`${name}: wrong result ${JSON.stringify(out)}`);
        }
      }
      for (let i = 0; i < PER_ROUND; i++) {
        const t = performance.now();
        await floorCall(floorAgent, red.port);
        floor.push(performance.now() - t);
      }
    }
    // Throughput: one request in flight per side (the container runs one at a time), interleaved.
    const tp = { direct: [], hop: [], gateway: [], mounted: [] };
    for (let r = 0; r < (QUICK ? 3 : 6); r++) {
      for (const name of order(r)) {
        let count = 0;
        const end = performance.now() + TP_MS;
        while (performance.now() < end) {
          await sides[name](count);
          count++;
        }
        tp[name].push((count * 1000) / TP_MS);
      }
    }
    const p = (name, q) => percentile(lat[name], q);
    const added50 = p('gateway', 50) - p('direct', 50);
    const addedMounted50 = p('mounted', 50) - p('direct', 50);
    const ratio = median(tp.gateway) / median(tp.direct);
    const ratioMounted = median(tp.mounted) / median(tp.direct);
    const addedHop50 = p('hop', 50) - p('direct', 50);
    const ratioHop = median(tp.hop) / median(tp.direct);
    const failed = Object.values(failures).reduce((n, f) => n + f.length, 0);
    // The targets: the API on its own port within 0.15 ms (p50) and 95 % (throughput) of the bare hop; on
    // Node-RED's path, no more than its own port plus what Node-RED's HTTP stack takes for a 404.
    const notFound50 = percentile(floor, 50);
    const overHop = added50 - addedHop50;
    const ofHop = median(tp.gateway) / median(tp.hop);
    const mountedLimit = p('gateway', 50) + notFound50;
    const rows = [
      ['direct /run p50 / p99 (ms)', `${fmt(p('direct', 50))} / ${fmt(p('direct', 99))}`, '', ''],
      ['one bare HTTP hop (bench/lib/hop.js) p50 / p99 (ms)', `${fmt(p('hop', 50))} / ${fmt(p('hop', 99))}`, '', ''],
      ["through the API's own port p50 / p99 (ms)", `${fmt(p('gateway', 50))} / ${fmt(p('gateway', 99))}`, '', ''],
      ["through Node-RED's server (/openwhisk/<path>) p50 / p99 (ms)", `${fmt(p('mounted', 50))} / ${fmt(p('mounted', 99))}`, '', ''],
      ["Node-RED's own HTTP stack: a 404 on the same server, p50 (ms)", fmt(percentile(floor, 50)), '', ''],
      ['added by one bare hop, p50 (ms): the floor of any gateway here', fmt(addedHop50), '(reported)', ''],
      ['added by the API on its own port, p50 (ms)', fmt(added50), '(reported)', ''],
      ['the API on its own port beyond the bare hop, p50 (ms)', fmt(overHop), '≤ 0.15', overHop <= 0.15 ? 'PASS' : 'MISS'],
      ["added by the API on Node-RED's server, p50 (ms)", fmt(addedMounted50), '(reported)', ''],
      [
        "Node-RED's server p50 vs own port p50 + Node-RED's 404 p50 (ms)",
        `${fmt(p('mounted', 50))} vs ${fmt(mountedLimit)}`,
        '≤',
        p('mounted', 50) <= mountedLimit ? 'PASS' : 'MISS',
      ],
      [
        "throughput direct / bare hop / own port / Node-RED's server (inv/s)",
        `${fmt(median(tp.direct))} / ${fmt(median(tp.hop))} / ${fmt(median(tp.gateway))} / ${fmt(median(tp.mounted))}`,
        '',
        '',
      ],
      [
        "failed calls direct / bare hop / own port / Node-RED's server (retried once)",
        `${failures.direct.length} / ${failures.hop.length} / ${failures.gateway.length} / ${failures.mounted.length}`,
        '0',
        failed === 0 ? 'PASS' : 'MISS',
      ],
      ['throughput through one bare hop / direct', `${fmt(ratioHop * 100, 0)} %`, '(reported)', ''],
      ['throughput on its own port / direct', `${fmt(ratio * 100, 0)} %`, '(reported)', ''],
      ['throughput on its own port / through the bare hop', `${fmt(ofHop * 100, 0)} %`, '≥ 95 %', ofHop >= 0.95 ? 'PASS' : 'MISS'],
      ["throughput on Node-RED's server / direct", `${fmt(ratioMounted * 100, 0)} %`, '(reported)', ''],
    ];
    console.log(
      `\nGateway API vs direct /run, warm no-op, ${lat.direct.length} calls per side in ${ROUNDS} interleaved rounds (Node-RED ${require(path.join(root, 'node_modules/node-red/package.json')).version}, node ${process.version} client)\n`,
    );
    console.log(markdownTable(['figure', 'measured', 'target', ''], rows));
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(
      path.join(__dirname, 'results', 'gateway.json'),
      JSON.stringify(
        {
          when: new Date().toISOString(),
          quick: QUICK,
          loadavg1: os.loadavg()[0],
          latencyMs: {
            direct: { p50: p('direct', 50), p99: p('direct', 99) },
            gateway: { p50: p('gateway', 50), p99: p('gateway', 99) },
            mounted: { p50: p('mounted', 50), p99: p('mounted', 99) },
            hop: { p50: p('hop', 50), p99: p('hop', 99) },
            addedP50: added50,
            addedMountedP50: addedMounted50,
            addedHopP50: addedHop50,
            overHopP50: overHop,
            nodeRed404P50: notFound50,
            mountedLimitP50: mountedLimit,
          },
          throughput: {
            direct: median(tp.direct),
            gateway: median(tp.gateway),
            mounted: median(tp.mounted),
            hop: median(tp.hop),
            ratio,
            ratioMounted,
            ratioHop,
            ofHop,
          },
          failures,
        },
        null,
        2,
      ),
    );
  } finally {
    if (hop) hop.child.kill();
    await red.destroy();
    if (inst)
      for (const c of await docker.listContainers({ all: true, filters: { label: [`io.leon-edge.instance=${inst}`] } }))
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
