'use strict';
// A manifest's `function:` files (lib/catalog/manifest-file.ts checkFunctionFile / readFunctionFile): their
// content becomes action code, which the gateway API serves (GET …/actions/{name}), so only a regular file
// of at most 48 MB in the manifest's own folder (after symlinks and '..' are resolved) is read, and the
// read itself is bounded. Errors name the manifest (with the line), the action and the path as written.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ManifestCatalog } = require('../../dist/lib/catalog/manifest');

const HELLO = 'function main() { return { hello: true }; }\n';
const SECRET = 'TOP-SECRET-OUTSIDE-THE-MANIFEST-FOLDER';
/** OpenWhisk's limit on an action's code, the cap on a function file. */
const FUNCTION_MAX_BYTES = 48 * 1024 * 1024;
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('manifest function files: confined to the manifest\'s folder, regular, at most 48 MB', function () {
  let base;
  let dir;
  let outside;
  let n = 0;

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-functions-'));
    dir = path.join(base, 'manifest');
    outside = path.join(base, 'outside');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(dir, 'hello.js'), HELLO);
    fs.writeFileSync(path.join(dir, 'sub', 'code.js'), HELLO);
    fs.writeFileSync(path.join(outside, 'secret.js'), `// ${SECRET}\n`);
    fs.symlinkSync(path.join(outside, 'secret.js'), path.join(dir, 'link-out.js'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero.js'));
    fs.symlinkSync(path.join(dir, 'hello.js'), path.join(dir, 'link-in.js'));
    execFileSync('mkfifo', [path.join(dir, 'pipe.js')]);
    // Sparse: no disk space, and nothing is read before the size is checked.
    fs.writeFileSync(path.join(dir, 'big.js'), '');
    fs.truncateSync(path.join(dir, 'big.js'), FUNCTION_MAX_BYTES + 1);
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  /** A manifest in `dir` whose one action 'a' has `function: <fn>` (on line 5). */
  const manifest = (fn) => {
    const file = path.join(dir, `m${n++}.yaml`);
    fs.writeFileSync(file, `packages:\n  demo:\n    actions:\n      a:\n        function: ${JSON.stringify(fn)}\n        runtime: nodejs:20\n`);
    return file;
  };
  const refused = async (fn, re) => {
    const file = manifest(fn);
    await assert.rejects(new ManifestCatalog(file).list(), (err) => {
      assert.equal(err.code, 'config');
      assert.match(err.message, new RegExp(`^Manifest ${esc(file)}:5:\\d+: action 'a': function file '${esc(fn)}' ${re.source}`));
      assert.doesNotMatch(err.message, new RegExp(SECRET));
      return true;
    }, fn);
  };

  it('refuses an absolute path outside the folder (/etc/passwd, /dev/zero)', async () => {
    await refused('/etc/passwd', /is outside the manifest's folder .*put the code next to the manifest/);
    await refused('/dev/zero', /is outside the manifest's folder/);
    await refused(path.join(outside, 'secret.js'), /is outside the manifest's folder/);
  });

  it('refuses a path that leaves the folder with ..', async () => {
    await refused('../outside/secret.js', new RegExp(`is outside the manifest's folder .* \\(it resolves to ${esc(fs.realpathSync(outside))}/secret\\.js\\)`));
    await refused('sub/../../outside/secret.js', /is outside the manifest's folder/);
    await refused('../../../../../../../../etc/passwd', /is outside the manifest's folder/);
  });

  it('refuses a symlink in the folder that points outside it (to a file, to /dev/zero)', async () => {
    await refused('link-out.js', /is outside the manifest's folder .*\(it resolves to .*secret\.js\)/);
    await refused('zero.js', /is outside the manifest's folder .*\(it resolves to \/dev\/zero\)/);
  });

  it('refuses what is not a regular file (a FIFO would block the read forever) and a file over 48 MB', async () => {
    await refused('pipe.js', /is not a regular file/);
    await refused('big.js', /is larger than 48 MB, OpenWhisk's limit on an action's code/);
  });

  it('reads files in the folder and below, also through a symlink that stays inside, and an absolute path into it', async () => {
    for (const fn of ['hello.js', './sub/code.js', 'sub/../hello.js', 'link-in.js', path.join(dir, 'hello.js')]) {
      const doc = await new ManifestCatalog(manifest(fn)).getAction({ namespace: '_', name: 'demo/a' });
      assert.equal(doc.exec.code, HELLO, fn);
    }
  });

  it('checks again when the code is read: a file swapped for a symlink outside, or grown past 48 MB, since the load', async () => {
    const swapped = path.join(dir, 'swapped.js');
    fs.writeFileSync(swapped, HELLO);
    const file = manifest('swapped.js');
    const catalog = new ManifestCatalog(file);
    assert.equal((await catalog.getAction({ namespace: '_', name: 'demo/a' })).exec.code, HELLO);
    fs.rmSync(swapped);
    fs.symlinkSync(path.join(outside, 'secret.js'), swapped);
    await assert.rejects(catalog.getAction({ namespace: '_', name: 'demo/a' }), (err) => {
      assert.match(err.message, new RegExp(`^Manifest ${esc(file)}:5:\\d+: action 'a': function file 'swapped\\.js' is outside the manifest's folder`));
      assert.doesNotMatch(err.message, new RegExp(SECRET));
      return true;
    });
    fs.rmSync(swapped);
    fs.writeFileSync(swapped, HELLO);
    assert.equal((await catalog.getAction({ namespace: '_', name: 'demo/a' })).exec.code, HELLO);
    fs.truncateSync(swapped, FUNCTION_MAX_BYTES + 1);
    await assert.rejects(catalog.getAction({ namespace: '_', name: 'demo/a' }), /action 'a': function file 'swapped\.js' is larger than 48 MB/);
    fs.rmSync(swapped);
  });
});
