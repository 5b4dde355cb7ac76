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
const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const HELLO = 'function main() { return { hello: true }; }\n';
const SECRET = 'TOP-SECRET-OUTSIDE-THE-MANIFEST-FOLDER';
/** OpenWhisk's limit on an action's code, the cap on a function file. */
const FUNCTION_MAX_BYTES = 48 * 1024 * 1024;
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe("manifest function files: confined to the manifest's folder, regular, at most 48 MB", function () {
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

  /** A manifest in `where` (default `dir`) whose one action 'a' has `function: <fn>` (on line 5). */
  const manifest = (fn, where = dir) => {
    const file = path.join(where, `m${n++}.yaml`);
    fs.writeFileSync(file, `packages:\n  demo:\n    actions:\n      a:\n        function: ${JSON.stringify(fn)}\n        runtime: nodejs:20\n`);
    return file;
  };
  const refused = async (fn, re, where = dir) => {
    const file = manifest(fn, where);
    await assert.rejects(
      new ManifestCatalog(file).list(),
      (/** @type {OpenWhiskNodeError} */ err) => {
        assert.equal(err.code, 'config');
        assert.match(err.message, new RegExp(`^Manifest ${esc(file)}:5:\\d+: action 'a': function file '${esc(fn)}' ${re.source}`));
        assert.doesNotMatch(err.message, new RegExp(SECRET));
        return true;
      },
      fn,
    );
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
    await assert.rejects(catalog.getAction({ namespace: '_', name: 'demo/a' }), (/** @type {Error} */ err) => {
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

  describe("Node-RED's own files, when a manifest is in the user directory itself", function () {
    let ud;
    // What Node-RED (and this package) keeps in its user directory: settings, flows, their credentials
    // and the key that decrypts them, sessions, backups, installed nodes, the context store, activations.
    const OWN = [
      '.config.runtime.json',
      '.config.users.json',
      '.sessions.json',
      '.flows.json.backup',
      'flows.json',
      'flows_cred.json',
      'FLOWS_CRED.JSON',
      'settings.js',
      'package.json',
      'package-lock.json',
      '.leon-openwhisk/activations/x.jsonl',
      'node_modules/some-node/index.js',
      'projects/p/flow_cred.json',
      'context/global/global.json',
      '.git/config',
    ];
    before(() => {
      ud = path.join(base, 'userdir');
      for (const f of OWN) {
        fs.mkdirSync(path.dirname(path.join(ud, f)), { recursive: true });
        fs.writeFileSync(path.join(ud, f), `// ${SECRET}\n`);
      }
      fs.writeFileSync(path.join(ud, 'hello.js'), HELLO);
      fs.mkdirSync(path.join(ud, 'lib'));
      fs.writeFileSync(path.join(ud, 'lib', 'code.js'), HELLO);
      fs.symlinkSync('.config.runtime.json', path.join(ud, 'innocent.js'));
      fs.symlinkSync('.leon-openwhisk', path.join(ud, 'records'));
    });

    it('refuses each of them (and a missing file of such a name), naming the manifest, its line, the action and the path', async () => {
      const why = {
        '.config.runtime.json': /is refused: '\.config\.runtime\.json' begins with '\.'/,
        '.leon-openwhisk/activations/x.jsonl': /is refused: '\.leon-openwhisk' begins with '\.'/,
        '.git/config': /is refused: '\.git' begins with '\.'/,
        'flows_cred.json': /is refused: it is a \.json file/,
        'settings.js': /is refused: it is named settings\.js/,
        'node_modules/some-node/index.js': /is refused: it is in node_modules/,
      };
      for (const fn of [...OWN, './.config.runtime.json', 'lib/../flows_cred.json', '.not-there.js']) {
        await refused(fn, why[fn] ?? /is refused: /, ud);
      }
      const file = manifest('flows_cred.json', ud);
      await assert.rejects(
        new ManifestCatalog(file).list(),
        /Names beginning with '\.', node_modules, \.json files and settings\.js are never read as action code .*keep each manifest and its code in a folder of their own, <userDir>\/manifests\/<name>\//,
      );
    });

    it('refuses a symlink that leads to one of them (a file, a folder), naming where it leads', async () => {
      await refused(
        'innocent.js',
        new RegExp(`is refused: '\\.config\\.runtime\\.json' begins with '\\.' \\(it resolves to ${esc(fs.realpathSync(ud))}/\\.config\\.runtime\\.json\\)`),
        ud,
      );
      await refused(
        'records/activations/x.jsonl',
        /is refused: '\.leon-openwhisk' begins with '\.' \(it resolves to .*\/\.leon-openwhisk\/activations\/x\.jsonl\)/,
        ud,
      );
    });

    it('reads a code file next to the manifest, or in a folder below it', async () => {
      for (const fn of ['hello.js', 'lib/code.js', path.join(ud, 'hello.js')]) {
        const doc = await new ManifestCatalog(manifest(fn, ud)).getAction({ namespace: '_', name: 'demo/a' });
        assert.equal(doc.exec.code, HELLO, fn);
      }
    });

    it('refuses at read time a file swapped for a symlink to one of them since the load', async () => {
      const swapped = path.join(ud, 'swapped.js');
      fs.writeFileSync(swapped, HELLO);
      const file = manifest('swapped.js', ud);
      const catalog = new ManifestCatalog(file);
      assert.equal((await catalog.getAction({ namespace: '_', name: 'demo/a' })).exec.code, HELLO);
      fs.rmSync(swapped);
      fs.symlinkSync('flows_cred.json', swapped);
      await assert.rejects(catalog.getAction({ namespace: '_', name: 'demo/a' }), (/** @type {Error} */ err) => {
        assert.match(err.message, new RegExp(`^Manifest ${esc(file)}:5:\\d+: action 'a': function file 'swapped\\.js' is refused: it is a \\.json file`));
        assert.doesNotMatch(err.message, new RegExp(SECRET));
        return true;
      });
      fs.rmSync(swapped);
    });
  });

  describe('the file opened is the one checked: a folder on its way swapped for a symlink between the check and the open', function () {
    let race;
    let catalog;
    let file;
    const { open, readlink } = fs.promises;
    before(async () => {
      race = path.join(dir, 'race');
      fs.mkdirSync(race);
      fs.writeFileSync(path.join(race, 'code.js'), HELLO);
      fs.mkdirSync(path.join(outside, 'race'));
      fs.writeFileSync(path.join(outside, 'race', 'code.js'), `// ${SECRET}\n`);
      fs.mkdirSync(path.join(dir, '.hidden'));
      fs.writeFileSync(path.join(dir, '.hidden', 'code.js'), `// ${SECRET}\n`);
      file = manifest('race/code.js');
      catalog = new ManifestCatalog(file);
      assert.equal((await catalog.getAction({ namespace: '_', name: 'demo/a' })).exec.code, HELLO);
    });
    afterEach(() => {
      fs.promises.open = open;
      fs.promises.readlink = readlink;
      if (fs.lstatSync(race).isSymbolicLink()) {
        fs.rmSync(race);
        fs.renameSync(`${race}.orig`, race);
      }
    });

    /** The next open of race/code.js first replaces the folder race by a symlink to `target` (the check has passed). */
    const swapAtOpen = (target) => {
      const state = { swapped: false };
      fs.promises.open = async function (p, ...rest) {
        if (!state.swapped && String(p).endsWith(`${path.sep}race${path.sep}code.js`)) {
          state.swapped = true;
          fs.renameSync(race, `${race}.orig`);
          fs.symlinkSync(target, race);
        }
        return open.call(this, p, ...rest);
      };
      return state;
    };
    const rejects = async (state, re) => {
      await assert.rejects(catalog.getAction({ namespace: '_', name: 'demo/a' }), (/** @type {Error} */ err) => {
        assert.match(err.message, new RegExp(`^Manifest ${esc(file)}:5:\\d+: action 'a': function file 'race/code\\.js' ${re.source}`));
        assert.doesNotMatch(err.message, new RegExp(SECRET));
        return true;
      });
      assert.ok(state.swapped, 'the folder was swapped between the check and the open');
    };

    it("to a folder outside the manifest's folder: refused, naming where the opened file is", async () => {
      const state = swapAtOpen(path.join(outside, 'race'));
      await rejects(state, new RegExp(`is outside the manifest's folder .*\\(it resolves to ${esc(fs.realpathSync(outside))}/race/code\\.js when opened`));
    });

    it('to a dot-folder inside it: refused', async () => {
      const state = swapAtOpen(path.join(dir, '.hidden'));
      await rejects(state, /is refused: '\.hidden' begins with '\.'/);
    });

    it('without /proc/self/fd (not Linux): the path must still resolve to the very file opened', async () => {
      fs.promises.readlink = /** @type {typeof fs.promises.readlink} */ (
        async (p, ...rest) => {
          if (String(p).startsWith('/proc/self/fd/')) throw Object.assign(new Error('no procfs'), { code: 'ENOENT' });
          return readlink(p, ...rest);
        }
      );
      const state = swapAtOpen(path.join(outside, 'race'));
      await rejects(state, /changed while it was being opened \(a folder on its way was replaced\); it is not read/);
    });

    it('without a swap the file is read', async () => {
      assert.equal((await catalog.getAction({ namespace: '_', name: 'demo/a' })).exec.code, HELLO);
    });
  });
});
