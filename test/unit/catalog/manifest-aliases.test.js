'use strict';
// YAML aliases in a manifest (lib/catalog/yaml-source.ts, manifest.ts): an alias stands for its anchor's
// whole value, so a few hundred bytes of nested aliases stand for billions of values. js-yaml builds them
// as shared references in microseconds, then parameter interpolation copies the tree and Node-RED runs out
// of memory. A manifest is measured with its aliases expanded before anything is built.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');
/** @typedef {import('../../../dist/lib/errors').OpenWhiskNodeError} OpenWhiskNodeError */

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HELLO = 'function main(p) { return { payload: `Hello, ${p.name}!` }; }\n';

/**
 * `levels` lines of `width` aliases each, the last one a package parameter (or, with asKey, the key of a
 * mapping: js-yaml turns a collection key into a string while loading). The alias chain starts on line 2.
 */
function laughs(levels, width, { asKey = false } = {}) {
  const names = 'abcdefghijklmnop'.split('');
  const lines = [`${names[0]}: &${names[0]} [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++)
    lines.push(
      `${names[i]}: &${names[i]} [${Array(width)
        .fill(`*${names[i - 1]}`)
        .join(', ')}]`,
    );
  const last = `*${names[levels - 1]}`;
  lines.push('packages:', '  demo:', '    inputs:', asKey ? `      ? ${last}\n      : x` : `      lol: ${last}`);
  return `${lines.join('\n')}\n`;
}

describe('manifest YAML aliases: measured expanded, before anything is built', function () {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-aliases-'));
    fs.writeFileSync(path.join(dir, 'hello.js'), HELLO);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name, text) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };

  it('billion laughs (9 levels of 9, 500 bytes): a clear error in milliseconds, in a process that could not hold the expansion', function () {
    this.timeout(60000);
    const files = [write('laughs.yaml', laughs(9, 9)), write('laughs-key.yaml', laughs(9, 9, { asKey: true }))];
    assert.ok(fs.statSync(files[0]).size < 700);
    // A child with a 256 MB heap: the expanded tree (387 M strings) would kill it, not the test runner.
    const script = `
      const { ManifestCatalog } = require(${JSON.stringify(path.join(ROOT, 'dist/lib/catalog/manifest'))});
      (async () => {
        const out = [];
        for (const file of ${JSON.stringify(files)}) {
          const t = Date.now();
          let asyncError, syncError;
          await new ManifestCatalog(file).list().then(() => {}, (e) => { asyncError = e.message; });
          try { new ManifestCatalog(file).warnings(); } catch (e) { syncError = e.message; }
          out.push({ asyncError, syncError, ms: Date.now() - t });
        }
        process.stdout.write(JSON.stringify(out));
      })();`;
    const child = spawnSync(process.execPath, ['--max-old-space-size=256', '-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(child.status, 0, `the child died (${child.signal || child.status}): ${child.stderr.slice(0, 400)}`);
    const results = JSON.parse(child.stdout);
    results.forEach((r, i) => {
      const name = path.basename(files[i]).replace('.', '\\.');
      for (const message of [r.asyncError, r.syncError]) {
        assert.match(message, new RegExp(`^Manifest .*${name}:\\d+:\\d+: too large with its YAML aliases expanded: more than 100000 values`));
        assert.match(message, /Write shared values out/);
      }
      assert.ok(r.ms < 2000, `${files[i]}: ${r.ms} ms`);
    });
  });

  it('names the line of the alias that passes the bound; a smaller amplification is refused too', async function () {
    // 10^5 values: the old code copied them all (fast enough, but a flow message clones them again).
    const file = write('wide.yaml', laughs(5, 10));
    await assert.rejects(new ManifestCatalog(file).list(), (/** @type {OpenWhiskNodeError} */ err) => {
      assert.equal(err.code, 'config');
      assert.match(err.message, /wide\.yaml:5:\d+: too large with its YAML aliases expanded: more than 100000 values/);
      return true;
    });
  });

  it('counts the text an alias repeats: a 100 KB string 64 times is refused (4 MB of text)', async function () {
    const big = 'x'.repeat(100 * 1024);
    const file = write('text.yaml', `s: &s "\${HOME}${big}"\nl: &l [${Array(64).fill('*s').join(', ')}]\npackages:\n  demo:\n    inputs:\n      l: *l\n`);
    await assert.rejects(new ManifestCatalog(file).list(), /text\.yaml:2:\d+: too large with its YAML aliases expanded: more than 4194304 characters of text/);
  });

  it('a manifest with that many values written out (no alias) is refused too, and said so', async function () {
    const file = write('flat.yaml', `packages: {}\nx: [${Array(100001).fill('1').join(',')}]\n`);
    await assert.rejects(new ManifestCatalog(file).list(), (/** @type {Error} */ err) => {
      assert.match(err.message, /flat\.yaml:2:\d+: too large: more than 100000 values \(a manifest may hold at most 100000 values/);
      assert.doesNotMatch(err.message, /YAML alias/);
      return true;
    });
  });

  it("an alias inside its own anchor's value (a cycle every copy would follow forever) is refused with its line", async function () {
    const file = write('cycle.yaml', 'packages:\n  demo:\n    inputs:\n      x: &x [1, *x]\n');
    await assert.rejects(new ManifestCatalog(file).list(), (/** @type {Error} */ err) => {
      assert.match(err.message, /cycle\.yaml:4:\d+: a YAML alias \(\*name\) inside the value its anchor \(&name\) names: a recursive structure/);
      return true;
    });
    const nested = write('cycle-map.yaml', 'packages: &p\n  demo:\n    inputs:\n      again: *p\n');
    await assert.rejects(new ManifestCatalog(nested).list(), /cycle-map\.yaml:4:\d+: a YAML alias .* recursive structure/);
  });

  it('accepts aliases within the bounds, as wskdeploy does: shared inputs, and 10^4 expanded values', async function () {
    const file = write(
      'shared.yaml',
      [
        'packages:',
        '  demo:',
        '    actions:',
        '      a:',
        '        function: hello.js',
        '        runtime: nodejs:20',
        '        inputs: &shared',
        '          site: edge-1',
        '          limit: 5',
        '      b:',
        '        function: hello.js',
        '        runtime: nodejs:20',
        '        inputs: *shared',
        '',
      ].join('\n'),
    );
    const catalog = new ManifestCatalog(file);
    const b = await catalog.getAction({ namespace: '_', name: 'demo/b' });
    assert.deepEqual(b.parameters, [
      { key: 'site', value: 'edge-1' },
      { key: 'limit', value: 5 },
    ]);
    const many = new ManifestCatalog(write('many.yaml', laughs(4, 10)));
    assert.deepEqual(await many.list(), []);
    assert.deepEqual(
      many.warnings().filter((w) => !/unknown top-level key/.test(w)),
      [],
    );
  });
});
