'use strict';
// The plan of one container of an action (what provision.ts hands a pool), for unit tests with fakes.
const { effectiveLimits, identityOf } = require('../../dist/lib/local/protocol');

function containerPlan(doc) {
  return {
    nodeId: 'n1',
    id: identityOf(doc),
    doc,
    kind: 'nodejs:20',
    image: 'img',
    limits: effectiveLimits({}),
    maxInflight: 1,
    labels: {},
    env: [],
    initParams: {},
    cpuShares: 256,
  };
}

module.exports = { containerPlan };
