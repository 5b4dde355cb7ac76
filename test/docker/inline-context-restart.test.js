'use strict';
// Node-RED context for actions across a restart: a real Node-RED process (4.1 and 5) with a
// persistent context store (localfilesystem), an inline action that counts in flow context, deployed
// to the OpenWhisk API stand-in (cloud) or run in a Docker container of a local runtime; the count
// goes on after Node-RED is stopped and started.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createRed } = require('../support/red-process');
const { startOpenWhiskServer } = require('../support/openwhisk-server');
const { docker, requireDocker, requireImage, containersWith } = require('../support/docker');

const root = path.resolve(__dirname, '..', '..');
const { instanceId } = require('../../dist/lib/runtime-config');
const IMAGE = 'leon-edge/action-nodejs-v20:latest';
const SETTINGS =
  `module.exports = { uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'test', nodesDir: [${JSON.stringify(root)}], editorTheme: { tours: false }, ` +
  "contextStorage: { default: { module: 'memory' }, disk: { module: 'localfilesystem' } } };";
const COUNTER = 'function main(p) { const n = ((p._context || {}).flow || {}).count || 0; return { count: n + 1, _context: { flow: { count: n + 1 } } }; }';

for (const version of [4, 5]) {
  describe(`context kept in a persistent store across a restart (a real Node-RED ${version} process)`, function () {
    this.timeout(120000);
    let ow;
    let red;

    before(async () => {
      ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
      red = await createRed({ version, files: { 'settings.js': SETTINGS } });
      await red.start();
    });
    after(async () => {
      if (red) await red.destroy();
      if (ow) await ow.stop();
    });

    const count = async () => {
      const res = await fetch(`${red.url}/count`, { signal: AbortSignal.timeout(20000) });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()).count;
    };

    it('counts on from where it was', async () => {
      await red.deploy([
        { id: 'tab', type: 'tab', label: 'count' },
        { id: 'svc', type: 'openwhisk-service', api: ow.url, credentials: { key: ow.key('guest') } },
        { id: 'rt', type: 'openwhisk-runtime', mode: 'cloud', service: 'svc' },
        { id: 'in', z: 'tab', type: 'http in', url: '/count', method: 'get', wires: [['a']] },
        {
          id: 'a',
          z: 'tab',
          type: 'openwhisk-action',
          runtime: 'rt',
          source: 'inline',
          action: `counter${version}`,
          kind: 'nodejs:20',
          code: COUNTER,
          context: 'flow.count',
          contextStore: 'disk',
          params: [],
          wires: [['res']],
        },
        { id: 'res', z: 'tab', type: 'http response', wires: [] },
      ]);
      assert.deepEqual([await count(), await count()], [1, 2]);
      await red.stop(); // SIGINT: Node-RED closes its context stores (writes them out)
      await red.start();
      assert.equal(await count(), 3);
      assert.ok(fs.existsSync(path.join(red.userDir, 'context', 'tab', 'flow.json')), 'kept in the user directory');
    });
  });
}

for (const version of [4, 5]) {
  describe(`context kept in a persistent store across a restart, local runtime (a real Node-RED ${version} process, Docker)`, function () {
    this.timeout(180000);
    let red;
    let inst;

    before(async function () {
      await requireDocker(this);
      await requireImage(this, IMAGE);
      red = await createRed({ version, files: { 'settings.js': SETTINGS } });
      // The id this Node-RED labels its containers with (kept in its user directory; it reads the same).
      inst = instanceId(red.userDir);
      await red.start();
    });
    after(async () => {
      if (red) await red.destroy();
      // A clean stop removes the containers; after a failure, whatever this Node-RED left.
      if (inst)
        for (const c of await containersWith(`io.leon-edge.instance=${inst}`))
          await docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => undefined);
    });

    const count = async () => {
      const res = await fetch(`${red.url}/count`, { signal: AbortSignal.timeout(60000) });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()).count;
    };

    it('counts on from where it was, the action running in a container', async () => {
      await red.deploy([
        { id: 'tabl', type: 'tab', label: 'count locally' },
        { id: 'rtl', type: 'openwhisk-runtime', mode: 'local', source: 'none', images: `nodejs:*=${IMAGE}`, capacity: 2, queue: 10 },
        { id: 'inl', z: 'tabl', type: 'http in', url: '/count', method: 'get', wires: [['al']] },
        {
          id: 'al',
          z: 'tabl',
          type: 'openwhisk-action',
          runtime: 'rtl',
          source: 'inline',
          action: '',
          kind: 'nodejs:20',
          code: COUNTER,
          context: 'flow.count',
          contextStore: 'disk',
          params: [],
          wires: [['resl']],
        },
        { id: 'resl', z: 'tabl', type: 'http response', wires: [] },
      ]);
      assert.deepEqual([await count(), await count()], [1, 2]);
      // Only a local engine can run it here (the runtime has no service): this Node-RED's containers.
      assert.ok((await containersWith(`io.leon-edge.instance=${inst}`)).length >= 1, 'the action runs in a container of this Node-RED');
      await red.stop(); // SIGINT: Node-RED closes its context stores (writes them out) and its runtime removes the containers
      const stored = JSON.parse(fs.readFileSync(path.join(red.userDir, 'context', 'tabl', 'flow.json'), 'utf8'));
      assert.equal(stored.count, 2, 'written out to the user directory at the stop');
      await red.start();
      assert.equal(await count(), 3);
    });
  });
}
