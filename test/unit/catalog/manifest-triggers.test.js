'use strict';
// ManifestCatalog: the triggers and rules of a wskdeploy manifest (what a local trigger firing runs).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ManifestCatalog } = require('../../../dist/lib/catalog/manifest');

describe('ManifestCatalog triggers and rules', function () {
  const dirs = [];
  const manifest = (yaml) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-trig-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'a.js'), 'function main(p) { return p; }\n');
    fs.writeFileSync(path.join(dir, 'manifest.yaml'), yaml);
    return new ManifestCatalog(path.join(dir, 'manifest.yaml'));
  };
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const failure = (p) =>
    p.then(
      () => assert.fail('expected a rejection'),
      (e) => e,
    );

  const BASE = `packages:
  edge:
    actions:
      a:
        function: a.js
    triggers:
      reading:
        inputs:
          site: plant-1
          limit:
            type: integer
            value: 10
      quiet:
  default:
    actions:
      top:
        function: a.js
    rules:
      topRule:
        trigger: reading
        action: top
      edgeRule:
        trigger: reading
        action: edge/a
  other:
    rules:
      sameName:
        trigger: reading
        action: /guest/edge/a
`;

  it('reads triggers with their inputs and the rules naming them (actions resolved as wskdeploy does)', async () => {
    const m = manifest(BASE.replace('      quiet:\n', '      quiet:\n    rules:\n      inPkg:\n        trigger: reading\n        action: a\n'));
    const t = await m.getTrigger('reading');
    assert.deepEqual(t.parameters, [
      { key: 'site', value: 'plant-1' },
      { key: 'limit', value: 10 },
    ]);
    assert.deepEqual(
      t.rules.map((r) => [r.name, r.action]),
      [
        ['edgeRule', 'edge/a'],
        ['inPkg', 'edge/a'],
        ['sameName', '/guest/edge/a'],
        ['topRule', 'top'],
      ],
    );
    assert.deepEqual((await m.getTrigger('/guest/quiet')).rules, []);
    assert.deepEqual(
      (await m.listTriggers()).map((x) => x.name),
      ['quiet', 'reading'],
    );
    // Each rule's action is one getAction() finds.
    for (const r of t.rules) assert.ok((await m.getAction({ namespace: '_', name: r.action })).exec.code);
  });

  it('an unknown trigger names the manifest and what it declares', async () => {
    const err = await failure(manifest(BASE).getTrigger('nope'));
    assert.equal(err.statusCode, 404);
    assert.match(err.message, /^Trigger 'nope' not found in manifest .*manifest\.yaml \(it declares 'quiet', 'reading'\)$/);
  });

  it('refuses a rule whose trigger or action the manifest lacks, and a trigger declared twice, with file:line', async () => {
    let err = await failure(manifest(BASE.replace('trigger: reading\n        action: top', 'trigger: missing\n        action: top')).getTrigger('reading'));
    assert.match(err.message, /manifest\.yaml:\d+:\d+: rule 'topRule': trigger 'missing' is not defined in this manifest/);
    err = await failure(manifest(BASE.replace('action: edge/a\n  other', 'action: edge/zzz\n  other')).getTrigger('reading'));
    assert.match(err.message, /rule 'edgeRule': action 'edge\/zzz' is not defined in this manifest/);
    err = await failure(manifest(BASE.replace('  other:\n', '  other:\n    triggers:\n      reading:\n')).getTrigger('reading'));
    assert.match(err.message, /trigger 'reading' is defined twice/);
    err = await failure(manifest(BASE.replace('        action: top\n', '')).getTrigger('reading'));
    assert.match(err.message, /rule 'topRule' needs 'action: <action name>'/);
  });

  it('warns that a feed is not run locally', () => {
    const m = manifest(BASE.replace('      quiet:\n', '      quiet:\n        feed: /whisk.system/alarms/alarm\n'));
    assert.ok(
      m.warnings().some((w) => /trigger 'quiet': its feed '\/whisk.system\/alarms\/alarm' is not run locally/.test(w)),
      m.warnings().join('\n'),
    );
  });
});
