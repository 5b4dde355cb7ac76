'use strict';
// Node-RED context for actions across a restart: a real Node-RED process (4.1 and 5) with a
// persistent context store (localfilesystem), an inline action deployed to the OpenWhisk API
// stand-in that counts in flow context; the count goes on after Node-RED is stopped and started.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createRed } = require('../support/red-process');
const { startOpenWhiskServer } = require('../support/openwhisk-server');

const root = path.resolve(__dirname, '..', '..');
const COUNTER = 'function main(p) { const n = (p._context.flow || {}).count || 0; return { count: n + 1, _context: { flow: { count: n + 1 } } }; }';

for (const version of [4, 5]) {
  describe(`context kept in a persistent store across a restart (a real Node-RED ${version} process)`, function () {
    this.timeout(120000);
    let ow;
    let red;

    before(async () => {
      ow = await startOpenWhiskServer({ blockingWaitMs: 60000 });
      const settings =
        `module.exports = { uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'test', nodesDir: [${JSON.stringify(root)}], editorTheme: { tours: false }, ` +
        "contextStorage: { default: { module: 'memory' }, disk: { module: 'localfilesystem' } } };";
      red = await createRed({ version, files: { 'settings.js': settings } });
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
        { id: 'a', z: 'tab', type: 'openwhisk-action', runtime: 'rt', source: 'inline', action: `counter${version}`, kind: 'nodejs:20', code: COUNTER, context: 'flow.count', contextStore: 'disk', params: [], wires: [['res']] },
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
