'use strict';
// --profile: where the time of one warm message through the node goes. Wraps (in this process
// only, nothing on disk changes) the /run call of dist/lib/local/http.js, ActionContainer.run and
// LogFrame.settle, and timestamps each message at
//   in      node.receive() called
//   post    postJson('/run') called        (Node-RED input → runner → pool → body built)
//   reply   postJson resolved               (HTTP to the container and back, reply read)
//   run     ActionContainer.run resolved    (log sentinels in: waited for them if late)
//   out     the wired helper node got it    (activation record, runner, Node-RED send)

const path = require('node:path');
const { performance } = require('node:perf_hooks');

const dist = path.resolve(__dirname, '..', '..', 'dist', 'lib', 'local');

function instrument() {
  const http = require(path.join(dist, 'http.js'));
  const { ActionContainer } = require(path.join(dist, 'container.js'));
  const { LogFrame } = require(path.join(dist, 'logs.js'));
  const rec = { current: null, settleLate: 0, settleSync: 0 };
  const origPost = http.postJson;
  const origRun = ActionContainer.prototype.run;
  const origSettle = LogFrame.prototype.settle;
  http.postJson = function (...a) {
    const cur = rec.current;
    if (a[3] !== '/run' || !cur) return origPost.apply(this, a);
    cur.post = performance.now();
    return origPost.apply(this, a).then((r) => {
      cur.reply = performance.now();
      return r;
    });
  };
  ActionContainer.prototype.run = function (...a) {
    const cur = rec.current;
    return origRun.apply(this, a).then((r) => {
      if (cur) cur.run = performance.now();
      return r;
    });
  };
  LogFrame.prototype.settle = function (...a) {
    const r = origSettle.apply(this, a);
    if (Array.isArray(r)) rec.settleSync++;
    else rec.settleLate++;
    return r;
  };
  rec.restore = () => {
    http.postJson = origPost;
    ActionContainer.prototype.run = origRun;
    LogFrame.prototype.settle = origSettle;
  };
  return rec;
}

/**
 * Marks for rec.current, each the first time it happens, and wrappers that set them around a method
 * (restored by rec.restore()). A method renamed in lib/ is skipped: its mark is simply missing.
 */
function marker() {
  const rec = { current: null };
  const mark = (k) => {
    if (rec.current && rec.current[k] === undefined) rec.current[k] = performance.now();
  };
  const wraps = [];
  const wrap = (obj, name, before, after) => {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    wraps.push(() => {
      obj[name] = orig;
    });
    obj[name] = function (...a) {
      if (before) before(a);
      const r = orig.apply(this, a);
      if (after && r && typeof r.then === 'function') return r.then((v) => (after(v, a), v));
      if (after) after(r, a);
      return r;
    };
  };
  rec.restore = () => wraps.reverse().forEach((f) => f());
  return { rec, mark, wrap };
}

/**
 * Deploy marks (ms since performance.now() origin) of the current deploy in rec.current: the
 * engine's start (Docker ping, version, leftover sweep), ActionContainer create (create + attach),
 * the first readiness probe (after docker start + inspect), the successful probe and the number
 * of probes, /init done.
 */
function instrumentDeploy() {
  const http = require(path.join(dist, 'http.js'));
  const { ActionContainer } = require(path.join(dist, 'container.js'));
  const { LocalEngine } = require(path.join(dist, 'engine.js'));
  const { rec, mark, wrap } = marker();
  wrap(
    LocalEngine.prototype,
    'doStart',
    () => mark('engineStart'),
    () => mark('engineStarted'),
  );
  wrap(
    ActionContainer.prototype,
    'create',
    () => mark('create'),
    () => mark('created'),
  );
  wrap(
    ActionContainer.prototype,
    'init',
    () => mark('init'),
    () => mark('inited'),
  );
  wrap(
    http,
    'probe',
    () => {
      mark('firstProbe');
      if (rec.current) rec.current.probes = (rec.current.probes || 0) + 1;
    },
    (ok) => {
      if (ok) mark('listening');
    },
  );
  // The Docker API calls of the deploy (dockerode is shared with the bare side, which runs with
  // rec.current unset and so leaves no marks).
  const Docker = require('dockerode');
  const Container = require('dockerode/lib/container');
  for (const m of ['ping', 'version', 'info', 'listContainers', 'createContainer'])
    wrap(
      Docker.prototype,
      m,
      () => mark(`${m}>`),
      () => mark(`${m}<`),
    );
  for (const m of ['attach', 'start', 'inspect'])
    wrap(
      Container.prototype,
      m,
      () => mark(`${m}>`),
      () => mark(`${m}<`),
    );
  return rec;
}

/**
 * Marks of a new inline action's deploy → first result (bench/local.js inline-deploy) in rec.current,
 * each the first time it happens (ms since performance.now() origin): the node constructed (its runner
 * started, `node`), the inline catalog's lookup
 * (`catalog>`/`catalog<`), the image choice (`image>`/`image<`), the stem cell taken (`cell`), the
 * /init sent and answered (`init>`/`init<`), the engine's provisioning resolved (`provisioned`), the
 * runner's ready status (`ready`), the first /run sent and answered (`run>`/`run<`).
 */
function instrumentInlineDeploy() {
  const http = require(path.join(dist, 'http.js'));
  const { ImageChooser } = require(path.join(dist, 'provision.js'));
  const { StemCells } = require(path.join(dist, 'cells.js'));
  const { LocalEngine } = require(path.join(dist, 'engine.js'));
  const { InlineCatalog } = require(path.join(dist, '..', 'catalog', 'inline.js'));
  const { ActionRunner } = require(path.join(dist, '..', 'runner.js'));
  const { rec, mark, wrap } = marker();
  // The node's constructor starts its runner last: Node-RED's deploy has reached the new node.
  wrap(ActionRunner.prototype, 'start', () => mark('node'));
  wrap(
    InlineCatalog.prototype,
    'getAction',
    () => mark('catalog>'),
    () => mark('catalog<'),
  );
  wrap(
    ImageChooser.prototype,
    'prepare',
    () => mark('image>'),
    () => mark('image<'),
  );
  wrap(StemCells.prototype, 'take', undefined, (c) => c && mark('cell'));
  wrap(LocalEngine.prototype, 'provision', undefined, () => mark('provisioned'));
  wrap(ActionRunner.prototype, 'dispatch', (a) => a[0] && a[0].type === 'phase' && a[0].phase === 'ready' && mark('ready'));
  const path0 = (a) => a[3];
  wrap(
    http,
    'postJson',
    (a) => mark(`${path0(a).slice(1)}>`),
    (v, a) => mark(`${path0(a).slice(1)}<`),
  );
  return rec;
}

module.exports = { instrument, instrumentDeploy, instrumentInlineDeploy };
