// Node-RED settings for `npm start` (scripts/start.js): this package loaded from the working tree,
// the FlowFuse dashboard from the project's node_modules, the editor bound to 127.0.0.1 only.
const path = require('node:path');

module.exports = {
  uiHost: '127.0.0.1',
  uiPort: Number(process.env.PORT) || 1880,
  flowFile: 'flows.json',
  // The demo's credentials file is encrypted with this key; change it for anything but the demo.
  credentialSecret: process.env.LEON_DEMO_SECRET || 'leon-edge-demo',
  nodesDir: [path.resolve(__dirname, '..')],
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
