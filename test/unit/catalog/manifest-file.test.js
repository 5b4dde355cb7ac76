'use strict';
// Which files a manifest catalog reads (lib/catalog/manifest-file.ts): a .yaml/.yml regular file of at
// most 1 MB inside the Node-RED user directory or this package's examples folder, after symlinks and
// '..' are resolved; refusals name the path and the rule, never the file's content.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { locateManifest, locateManifestSync, MANIFEST_MAX_BYTES } = require('../../../dist/lib/catalog/manifest-file');
const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const MANIFEST = 'packages:\n  demo:\n    actions:\n      hello:\n        function: hello.js\n        runtime: nodejs:20\n';

describe('manifest files: what is read, and from where', () => {
  let userDir;
  let outside;
  const secret = 'root:x:0:0:TOP-SECRET-LINE';

  before(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-userdir-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-outside-'));
    fs.writeFileSync(path.join(userDir, 'manifest.yaml'), MANIFEST);
    fs.writeFileSync(path.join(userDir, 'hello.js'), 'function main() { return {}; }');
    fs.writeFileSync(path.join(userDir, 'secrets.txt'), `${secret}\n`);
    fs.writeFileSync(path.join(userDir, 'notes.yaml'), `${secret}\n`);
    fs.writeFileSync(path.join(userDir, 'list.yml'), `- ${secret}\n`);
    fs.writeFileSync(path.join(userDir, 'config.yaml'), `server: ${secret}\n`);
    fs.writeFileSync(path.join(outside, 'manifest.yaml'), MANIFEST);
    fs.symlinkSync('/etc/passwd', path.join(userDir, 'passwd.yaml'));
    fs.symlinkSync(path.join(userDir, 'secrets.txt'), path.join(userDir, 'secrets.yaml'));
    fs.symlinkSync(path.join(outside, 'manifest.yaml'), path.join(userDir, 'elsewhere.yaml'));
    fs.writeFileSync(path.join(userDir, 'big.yaml'), `packages: {}\n#${'x'.repeat(MANIFEST_MAX_BYTES)}\n`);
  });
  after(() => {
    fs.rmSync(userDir, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const both = async (file, re) => {
    await assert.rejects(locateManifest(file, userDir), (/** @type {OpenWhiskNodeError} */ err) => {
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /TOP-SECRET|root:x/);
      assert.equal(err.code, 'config');
      return true;
    });
    assert.throws(() => locateManifestSync(file, userDir), re);
  };

  it('accepts a manifest in the user directory, relative or absolute, and the package examples', async () => {
    const real = fs.realpathSync(path.join(userDir, 'manifest.yaml'));
    assert.equal(await locateManifest('manifest.yaml', userDir), real);
    assert.equal(await locateManifest(path.join(userDir, 'manifest.yaml'), userDir), real);
    assert.equal(locateManifestSync('manifest.yaml', userDir), real);
    assert.match(await locateManifest('examples/manifest.yaml', userDir), /examples\/manifest\.yaml$/);
    assert.match(await locateManifest('examples/manifest.yaml', undefined), /examples\/manifest\.yaml$/);
  });

  it('refuses files outside the user directory and the examples, however the path gets there', async () => {
    await both('/etc/passwd', /outside|not inside/);
    await both('/dev/zero', /not inside/);
    await both(path.join(outside, 'manifest.yaml'), /not inside the Node-RED user directory/);
    await both('../../../../../../etc/passwd', /not inside|not found/);
    await both(`${userDir}/../${path.basename(outside)}/manifest.yaml`, /not inside/);
    await both('passwd.yaml', /not inside/); // a symlink to /etc/passwd, resolved first
    await both('elsewhere.yaml', /not inside/); // a symlink to a manifest elsewhere
    await both('examples/../package.json', /not inside/); // this package, outside examples/
  });

  it('refuses what is not a .yaml/.yml regular file of at most 1 MB', async () => {
    await both('secrets.txt', /not a \.yaml or \.yml file/);
    await both('secrets.yaml', /not a \.yaml or \.yml file/); // a .yaml symlink to a .txt file
    await both('big.yaml', /larger than 1 MB/);
    await both('.', /is a folder/);
    await both('missing.yaml', /not found/);
    await assert.rejects(locateManifest('  ', userDir), /No manifest file given/);
  });

  it('a .yaml file that is not a manifest: says so, never what it holds', async () => {
    // Syntax errors whose js-yaml reason would quote the text (an alias, a tag handle, a tag name).
    fs.writeFileSync(path.join(userDir, 'alias.yaml'), 'a: *TOP-SECRET-ALIAS\n');
    fs.writeFileSync(path.join(userDir, 'handle.yaml'), 'a: !TOPSECRET!x 1\n');
    fs.writeFileSync(path.join(userDir, 'tag.yaml'), 'a: !<TOP-SECRET{x}> 1\n');
    for (const name of ['alias.yaml', 'handle.yaml', 'tag.yaml']) {
      const cat = new ManifestCatalog(await locateManifest(name, userDir));
      await assert.rejects(
        cat.list(),
        (/** @type {Error} */ err) => {
          assert.match(err.message, new RegExp(`${name}:1:\\d+: YAML syntax error`));
          assert.doesNotMatch(err.message, /TOP-?SECRET/);
          return true;
        },
        name,
      );
    }
    for (const name of ['notes.yaml', 'list.yml', 'config.yaml']) {
      const cat = new ManifestCatalog(await locateManifest(name, userDir));
      await assert.rejects(
        cat.list(),
        (/** @type {Error} */ err) => {
          assert.match(err.message, /not a wskdeploy manifest/);
          assert.doesNotMatch(err.message, /TOP-SECRET|root:x/);
          return true;
        },
        name,
      );
    }
  });

  it('ManifestCatalog itself reads only a regular file of at most 1 MB, without blocking on devices', async () => {
    await assert.rejects(new ManifestCatalog('/dev/zero').list(), /not a regular file/);
    assert.throws(() => new ManifestCatalog('/dev/zero').warnings(), /not a regular file/);
    await assert.rejects(new ManifestCatalog(path.join(userDir, 'big.yaml')).list(), /larger than 1 MB/);
    const fifo = path.join(userDir, 'pipe.yaml');
    require('node:child_process').execFileSync('mkfifo', [fifo]);
    await assert.rejects(new ManifestCatalog(fifo).list(), /not a regular file/);
    const good = new ManifestCatalog(path.join(userDir, 'manifest.yaml'));
    assert.deepEqual(
      (await good.list()).map((e) => e.name),
      ['demo/hello'],
    );
  });

  it('keeps file:line errors for real manifests', async () => {
    const bad = path.join(userDir, 'bad-manifest.yaml');
    fs.writeFileSync(bad, 'packages:\n  demo:\n    actions: [1, 2]\n');
    await assert.rejects(new ManifestCatalog(bad).list(), (/** @type {Error} */ err) => {
      assert.match(err.message, new RegExp(`^Manifest ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: 'actions' must be a mapping`));
      return true;
    });
  });
});
