'use strict';
// The npm pack tarball, packed from the files a git checkout has (no dist/: the package builds it while
// packing), installs into a plain Node-RED user directory, the nodes appear in the palette, and the admin
// endpoint is permission-checked by a real Node-RED with adminAuth.
const assert = require('node:assert/strict');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const root = path.resolve(__dirname, '..', '..');
const redJs = path.join(path.dirname(require.resolve('node-red/package.json', { paths: [root] })), 'red.js');
const PKG = '@leon-edge/node-red-openwhisk';
// What README.md (Install) tells a user to answer npm 11's install-scripts notice with.
const DENY = ['protobufjs', 'ssh2', 'cpu-features'];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/** The files a commit of the working tree would hold (tracked, plus new ones git does not ignore), copied to dir. */
function copyCheckout(dir) {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  for (const f of listed.split('\0')) {
    if (!f || f === 'node_modules' || f.startsWith('node_modules/')) continue;
    const from = path.join(root, f);
    if (!fs.existsSync(from)) continue; // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.cpSync(from, path.join(dir, f), { verbatimSymlinks: true });
  }
  // The repository's dev tooling (tsc for the build) without installing it again.
  fs.symlinkSync(fs.realpathSync(path.join(root, 'node_modules')), path.join(dir, 'node_modules'), 'dir');
}

/** npm's stderr and status, failing with both when it fails. */
function npm(args, cwd) {
  const res = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240000 });
  if (res.status !== 0) throw new Error(`npm ${args.join(' ')} in ${cwd} failed (${res.error ? res.error.message : `status ${res.status}`}):\n${res.stderr}`);
  return res;
}

/** The packages npm names in its install-scripts notice (npm 11: scripts not covered by allowScripts). */
const scriptWarned = (stderr) => [...stderr.matchAll(/^npm warn install-scripts\s+((?:@[^@\s/]+\/)?[^@\s]+)@\S+ \(/gm)].map((m) => m[1]).sort();

describe('npm pack tarball in a plain Node-RED user directory', function () {
  this.timeout(300000);
  let srcDir;
  let userDir;
  let red;
  let base;
  let output = '';
  let packed;
  let firstInstall;
  let deniedInstall;
  let npmHasAllowScripts;

  before(async () => {
    srcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-pack-src-'));
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-pack-'));
    copyCheckout(srcDir);
    assert.ok(!fs.existsSync(path.join(srcDir, 'dist')), 'the checkout copy has no dist/');
    const pack = npm(['pack', '--json', '--pack-destination', userDir], srcDir);
    packed = JSON.parse(pack.stdout)[0];
    const tgz = path.join(userDir, packed.filename);
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    firstInstall = npm(['install', '--no-audit', '--no-fund', '--omit=dev', tgz], userDir).stderr;
    // README.md's answer to npm 11's notice, then the same install again from scratch: what runs below.
    npmHasAllowScripts = spawnSync('npm', ['install-scripts', '--help'], { cwd: userDir, encoding: 'utf8', timeout: 60000 }).status === 0;
    if (npmHasAllowScripts) {
      npm(['install-scripts', 'deny', ...DENY, PKG], userDir);
      fs.rmSync(path.join(userDir, 'node_modules'), { recursive: true, force: true });
      fs.rmSync(path.join(userDir, 'package-lock.json'), { force: true });
      deniedInstall = npm(['install', '--no-audit', '--no-fund', '--omit=dev', tgz], userDir).stderr;
    }
    const bcrypt = require(require.resolve('bcryptjs', { paths: [path.dirname(redJs)] }));
    const hash = bcrypt.hashSync('secret', 8);
    fs.writeFileSync(
      path.join(userDir, 'settings.js'),
      `module.exports = {
      uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: 'test',
      adminAuth: { type: 'credentials', users: [
        { username: 'admin', password: '${hash}', permissions: '*' },
        { username: 'viewer', password: '${hash}', permissions: 'read' } ] },
      logging: { console: { level: 'info' } }, editorTheme: { tours: false } };`,
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    red = spawn(process.execPath, [redJs, '-u', userDir, '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    red.stdout.on('data', (d) => (output += d));
    red.stderr.on('data', (d) => (output += d));
    for (let i = 0; i < 300; i++) {
      if (/Server now running/.test(output)) return;
      if (red.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`Node-RED did not start:\n${output}`);
  });

  after(() => {
    if (red && red.exitCode === null) red.kill('SIGINT');
    for (const d of [userDir, srcDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  async function token(username, scope = '*') {
    const res = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password: 'secret' }),
    });
    assert.equal(res.status, 200);
    return (await res.json()).access_token;
  }

  it('is packed from a checkout without dist/: the tarball holds the built nodes', () => {
    const files = packed.files.map((f) => f.path);
    for (const t of ['service', 'runtime', 'action', 'trigger']) {
      assert.ok(
        files.includes(`dist/nodes/openwhisk-${t}.js`),
        `dist/nodes/openwhisk-${t}.js in the tarball: ${files.filter((f) => f.startsWith('dist/')).join(', ') || 'no dist/ at all'}`,
      );
      assert.ok(files.includes(`dist/nodes/openwhisk-${t}.html`), `dist/nodes/openwhisk-${t}.html in the tarball`);
    }
  });

  it("the shipped pages' relative links and images (README.md is the page npmjs.com shows) lead to files the tarball holds", () => {
    const files = new Set(packed.files.map((f) => f.path));
    const pages = [...files].filter((f) => f.endsWith('.md') && !f.startsWith('runtimes/') && !f.startsWith('examples/'));
    assert.ok(pages.includes('README.md') && pages.some((p) => p.startsWith('docs/')), `pages shipped: ${pages.join(', ')}`);
    const missing = [];
    for (const page of pages) {
      const text = fs
        .readFileSync(path.join(root, page), 'utf8')
        .replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '')
        .replace(/`[^`\n]*`/g, '');
      const targets = [...text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
      if (page === 'README.md')
        assert.ok(
          targets.some((t) => t.startsWith('docs/')),
          `README.md links into docs/: ${targets.join(', ')}`,
        );
      for (const t of targets) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(page), t.split('#')[0]));
        if (!files.has(target) && ![...files].some((f) => f.startsWith(`${target}/`))) missing.push(`${page} → ${t}`);
      }
    }
    assert.deepEqual(missing, [], 'links to files the tarball lacks (package.json "files")');
  });

  it('installs without the dev tooling and registers the four node types in the palette', async () => {
    assert.doesNotMatch(output, /Cannot find module/, output);
    assert.doesNotMatch(output, /Failed to register/, output);
    const res = await fetch(`${base}/nodes`, { headers: { accept: 'application/json', authorization: `Bearer ${await token('admin')}` } });
    const sets = await res.json();
    const ours = sets.filter((s) => s.module === PKG);
    const types = ours.flatMap((s) => s.types).sort();
    assert.deepEqual(types, ['openwhisk-action', 'openwhisk-runtime', 'openwhisk-service', 'openwhisk-trigger']);
    assert.ok(
      ours.every((s) => s.enabled && !s.err),
      JSON.stringify(ours),
    );
    assert.ok(!fs.existsSync(path.join(userDir, 'node_modules', 'typescript')), 'dev dependencies are not installed');
  });

  it("npm 11's install-scripts notice names only what README.md explains, and README.md's answer quiets it", function () {
    if (!npmHasAllowScripts) {
      // An npm without allowScripts (npm 10) runs dependencies' install scripts without a word.
      assert.deepEqual(scriptWarned(firstInstall), [], firstInstall);
      return;
    }
    // dockerode 5's protobufjs, ssh2 and cpu-features; and this package's own prepare (it builds dist/ in a git
    // checkout), named because a .tgz file is not a registry source, and not run for one: the install succeeded
    // without typescript.
    assert.deepEqual(scriptWarned(firstInstall), [PKG, ...DENY].sort(), firstInstall);
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    assert.ok(readme.includes(`npm install-scripts deny ${DENY.join(' ')}`), 'README.md (Install) gives the deny command the test runs');
    assert.doesNotMatch(deniedInstall, /install-scripts/, deniedInstall);
    // Denied: nothing was compiled (no compiler needed), and the nodes loaded all the same (the test above).
    assert.ok(!fs.existsSync(path.join(userDir, 'node_modules', 'cpu-features', 'build')), 'cpu-features was not built');
    assert.ok(!fs.existsSync(path.join(userDir, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build')), "ssh2's optional binding was not built");
  });

  it('serves the editor html, help and the icon', async () => {
    const auth = { authorization: `Bearer ${await token('admin')}` };
    const html = await (await fetch(`${base}/nodes`, { headers: { accept: 'text/html', ...auth } })).text();
    assert.match(html, /registerType\('openwhisk-action'/);
    assert.match(html, /data-help-name="openwhisk-action"/);
    const icon = await fetch(`${base}/icons/@leon-edge/node-red-openwhisk/leon-openwhisk.svg`, { headers: auth });
    assert.equal(icon.status, 200);
    assert.match(await icon.text(), /<svg/);
    // The parameters list of the action and trigger dialogs is a resource of the package.
    assert.match(html, /src="resources\/@leon-edge\/node-red-openwhisk\/params-editor\.js"/);
    const script = await fetch(`${base}/resources/@leon-edge/node-red-openwhisk/params-editor.js`, { headers: auth });
    assert.equal(script.status, 200);
    assert.match(await script.text(), /LeonOpenWhiskParams/);
  });

  it('lists the examples under Import → Examples', async () => {
    const res = await fetch(`${base}/library/examples/flows/@leon-edge/node-red-openwhisk/`, { headers: { authorization: `Bearer ${await token('admin')}` } });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const names = JSON.parse(body).map((e) => (typeof e === 'string' ? e : e.fn));
    for (const ex of ['face-detection', 'hello-cloud-vs-local', 'sensor-threshold-at-the-edge', 'sequence', 'trigger-at-the-edge']) {
      assert.ok(names.includes(ex), `${ex} in ${names.join(', ')}`);
    }
  });

  it('ships what the face example needs to run from the installed package: the build scripts of its images and sample pictures', () => {
    const pkg = path.join(userDir, 'node_modules', '@leon-edge', 'node-red-openwhisk');
    for (const f of [
      'runtimes/build.sh',
      'runtimes/face-detection/build.sh',
      'runtimes/face-identify/build.sh',
      'runtimes/base/npm-platform.sh',
      'runtimes/face-identify/package-lock.json',
      'examples/face-detection.json',
      'examples/sample-faces/grace_hopper.jpg',
      'examples/sample-faces/astronaut-small.jpg',
    ]) {
      assert.ok(fs.existsSync(path.join(pkg, f)), `${f} is in the package`);
    }
    // The flow's folder and knowledge base file are its settings (the tab's environment), not fixed paths.
    const flow = JSON.parse(fs.readFileSync(path.join(pkg, 'examples', 'face-detection.json'), 'utf8'));
    assert.equal(flow.find((n) => n.type === 'watch').files, '${LEON_FACES_WATCH}');
    assert.deepEqual(
      flow.find((n) => n.type === 'tab').env.map((e) => e.name),
      ['LEON_FACES_WATCH', 'LEON_FACES_KB'],
    );
  });

  it('checks permissions on the admin endpoint: none → 401, read-only → 401, admin → answered', async () => {
    const url = `${base}/leon-openwhisk/entities`;
    const body = JSON.stringify({ service: 'none' });
    const headers = { 'content-type': 'application/json' };
    assert.equal((await fetch(url, { method: 'POST', headers, body })).status, 401);
    const viewer = await token('viewer', 'read');
    assert.equal((await fetch(url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${viewer}` }, body })).status, 401);
    const admin = await token('admin');
    const res = await fetch(url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${admin}` }, body });
    assert.equal(res.status, 409);
    assert.match((await res.json()).error, /Deploy/);
  });
});
