'use strict';
// Starts node-red-node-test-helper on the Node-RED chosen by NODE_RED_PATH (scripts/test.js runs
// test/node-red and test/docker/node-red on Node-RED 4.1 with Node 20 and on Node-RED 5 with Node 22).
const helper = require('node-red-node-test-helper');

const runtimePath = process.env.NODE_RED_PATH || require.resolve('node-red');
helper.init(runtimePath);

const nodes = [
  require('../../dist/nodes/openwhisk-service.js'),
  require('../../dist/nodes/openwhisk-runtime.js'),
  require('../../dist/nodes/openwhisk-action.js'),
  require('../../dist/nodes/openwhisk-trigger.js'),
];

/** A core node module of the Node-RED under test, e.g. coreNode('function/10-function.js'). */
function coreNode(rel) {
  const path = require('node:path');
  const pkg = require.resolve('@node-red/nodes/package.json', { paths: [path.dirname(runtimePath)] });
  return require(path.join(path.dirname(pkg), 'core', rel));
}

/** Resolves with the next message a helper node receives, or rejects after ms. */
function nextMessage(node, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${node.id} within ${ms} ms`)), ms);
    node.once('input', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

/**
 * The calls of a spied Node method made by this node. The helper spies on Node's prototype: one spy for
 * every node, so `node.status.lastCall` is the last status of any node in the flow.
 */
function callsOf(node, method) {
  const spy = node[method];
  return (spy && spy.getCalls ? spy.getCalls() : []).filter((c) => c.thisValue === node);
}

/** This node's last status, or undefined. */
function lastStatus(node) {
  const calls = callsOf(node, 'status');
  return calls.length ? calls[calls.length - 1].args[0] : undefined;
}

/** What this node passed to node.error(), as strings. */
function errorsOf(node) {
  return callsOf(node, 'error').map((c) => String(c.args[0]));
}

/** Waits until this node's status satisfies pred (status calls are spied by the helper). */
async function waitForStatus(node, pred, ms = 20000) {
  const start = Date.now();
  for (;;) {
    const last = lastStatus(node);
    if (last && pred(last)) return last;
    if (Date.now() - start > ms) throw new Error(`status never matched; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { helper, nodes, coreNode, nextMessage, waitForStatus, lastStatus, errorsOf, callsOf, runtimeVersion: () => helper._RED.version() };
