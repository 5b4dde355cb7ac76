'use strict';
// Node-RED for the benchmarks: the real runtime driven by node-red-node-test-helper (as the node
// tests do), on Node-RED 5 when this Node can run it (>= 22.9), else on Node-RED 4.1.

const path = require('node:path');
const helper = require('node-red-node-test-helper');

const root = path.resolve(__dirname, '..', '..');

function nodeRedPath() {
  if (process.env.NODE_RED_PATH) return process.env.NODE_RED_PATH;
  const [maj, min] = process.versions.node.split('.').map(Number);
  const name = maj > 22 || (maj === 22 && min >= 9) ? 'node-red' : 'node-red-v4';
  return require.resolve(name, { paths: [root] });
}

const runtimePath = nodeRedPath();
helper.init(runtimePath);

const actionModule = require(path.join(root, 'dist/nodes/openwhisk-action.js'));

/**
 * The package's three node modules. The action module gets an RED._ that keeps the variables of
 * a status text (the helper's RED._ drops them), so "ready (N containers)" can be read.
 */
const nodes = [
  require(path.join(root, 'dist/nodes/openwhisk-service.js')),
  require(path.join(root, 'dist/nodes/openwhisk-runtime.js')),
  function (RED) {
    RED._ = (key, vars) => (vars && vars.count !== undefined ? `${key}|${vars.count}` : key);
    return actionModule(RED);
  },
];

/**
 * The floor of any Node-RED node (bench/local.js latency): a node of this type sends each message's
 * payload straight to a container with the direct client (lib/direct.js) and sends the result on.
 * What it adds over the direct client is Node-RED's own message passing, not this package.
 */
function floorNodes(RED) {
  const { createAgent, runDirect } = require('./direct');
  function BenchFloorNode(config) {
    RED.nodes.createNode(this, config);
    const agent = createAgent();
    this.target = undefined; // { port, action }: set by the benchmark once the container is known
    this.on('input', (msg, send, done) => {
      runDirect(agent, this.target.port, msg.payload, this.target.action).then(
        (result) => {
          msg.payload = result;
          send(msg);
          done();
        },
        (err) => done(err),
      );
    });
    this.on('close', () => agent.destroy());
  }
  RED.nodes.registerType('bench-floor', BenchFloorNode);
}

function nodeRedVersion() {
  return helper._RED.version();
}

/** The status calls of one node so far (the helper spies on Node.prototype.status for all nodes). */
function statusHistory(node) {
  const spy = node.status;
  if (!spy || typeof spy.getCalls !== 'function') return [];
  return spy
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args[0]);
}

/**
 * Resolves with performance.now() of the first status of `node` matching pred (already set, or
 * the helper's 'call:status' event, emitted on the next tick after the call), or rejects after ms.
 */
function whenStatus(node, pred, ms = 60000) {
  const { performance } = require('node:perf_hooks');
  return new Promise((resolve, reject) => {
    const hist = statusHistory(node);
    const last = hist[hist.length - 1];
    if (last && pred(last)) {
      resolve({ at: performance.now(), status: last, already: true });
      return;
    }
    const timer = setTimeout(() => {
      node.off('call:status', on);
      const h = statusHistory(node);
      reject(new Error(`node ${node.id}: status never matched within ${ms} ms; last ${JSON.stringify(h[h.length - 1])}`));
    }, ms);
    function on(call) {
      const s = call.args[0];
      if (s && pred(s)) {
        const at = performance.now();
        clearTimeout(timer);
        node.off('call:status', on);
        resolve({ at, status: s, already: false });
      }
    }
    node.on('call:status', on);
  });
}

/** Containers count from a status text "…ready-containers|N[ · note]". */
function containersInStatus(s) {
  const m = /ready-containers\|(\d+)/.exec((s && s.text) || '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Drives one deployed openwhisk-action node: send(payload) puts a message in with node.receive and
 * resolves with the message the wired helper node gets (or rejects with what the Catch node got).
 */
let portSeq = 0;

class NodePort {
  constructor(actionNode, outNode, caughtNode) {
    this.a = actionNode;
    this.pending = new Map();
    outNode.on('input', (msg) => this.settle(msg, null));
    caughtNode.on('input', (msg) => this.settle(msg, new Error((msg.error && msg.error.message) || 'caught')));
  }

  settle(msg, err) {
    const p = this.pending.get(msg._bench);
    if (!p) return;
    this.pending.delete(msg._bench);
    if (err) p.reject(err);
    else p.resolve(msg);
  }

  send(payload) {
    const id = ++portSeq; // unique over all ports: several may listen on the same helper node
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.a.receive({ payload, _bench: id });
    });
  }
}

module.exports = { helper, nodes, floorNodes, nodeRedVersion, runtimePath, statusHistory, whenStatus, containersInStatus, NodePort };
