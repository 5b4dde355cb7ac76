'use strict';
// Which image a local runtime starts for an action (lib/local/provision.ts ImageChooser): this package's
// own image when the engine has it, else OpenWhisk's, said once; a missing image's error gives the command
// that builds ours; a failed pull is not retried on every message. A fake Docker API: no engine.

const assert = require('node:assert/strict');
const { ImageChooser } = require('../../../dist/lib/local/provision');

/** A catalog as far as the chooser reads one (its runtimes manifest: empty). */
const catalog = /** @type {import('../../../dist/lib/types').Catalog} */ ({ location: 'test', runtimeImages: async () => ({}) });
const doc = (kind) => ({ namespace: 'guest', name: 'a', exec: { kind, code: 'function main() {}' } });

/** A Docker engine of `arch` holding `images`; pulls fail (no registry) and are counted. */
function engine(arch, images) {
  /** @type {import('../../../dist/lib/local/provision').ImageEngine & { pulls: number, notices: string[], failures: number }} */
  const e = {
    pulls: 0,
    notices: [],
    failures: 0,
    platform: { os: 'linux', arch },
    target: { description: 'unix:///fake', options: { socketPath: '/fake' }, socketPath: '/fake' },
    hasReady: () => false,
    noteFailure: () => e.failures++,
    notice: (t) => e.notices.push(t),
    // The Docker API as far as the chooser calls it.
    docker: /** @type {import('dockerode')} */ (
      /** @type {unknown} */ ({
        getImage: (name) => ({
          inspect: async () => {
            if (!images.includes(name)) throw Object.assign(new Error(`No such image: ${name}`), { statusCode: 404 });
            return { Os: 'linux', Architecture: arch === 'arm' ? 'arm' : arch, Config: { Labels: {} } };
          },
        }),
        pull: (name, cb) => {
          e.pulls++;
          cb(Object.assign(new Error(`pull access denied for ${name}: no registry`), { statusCode: 404 }));
        },
      })
    ),
  };
  return e;
}

describe("local: the image chooser prefers this package's images", () => {
  it("takes this package's image for the engine's platform when the engine has it (nodejs:20, nodejs:default, python:3.11)", async () => {
    const e = engine('amd64', ['leon-edge/action-nodejs-v20:amd64', 'leon-edge/action-python-v3.11:amd64']);
    const c = new ImageChooser({});
    assert.equal((await c.choose(doc('nodejs:20'), catalog, e)).image, 'leon-edge/action-nodejs-v20:amd64');
    assert.equal((await c.choose(doc('nodejs:default'), catalog, e)).image, 'leon-edge/action-nodejs-v20:amd64');
    assert.equal((await c.choose(doc('python:3.11'), catalog, e)).source, 'package');
    const arm = engine('arm', ['leon-edge/action-nodejs-v20:armv7']);
    assert.equal((await c.choose(doc('nodejs:20'), catalog, arm)).image, 'leon-edge/action-nodejs-v20:armv7');
    // nodejs:default is the newest Node.js of ours the engine has: 22 where it exists, 20 on linux/arm/v7.
    const both = engine('arm64', ['leon-edge/action-nodejs-v22:arm64', 'leon-edge/action-nodejs-v20:arm64']);
    assert.deepEqual(await c.choose(doc('nodejs:default'), catalog, both), {
      image: 'leon-edge/action-nodejs-v22:arm64',
      kind: 'nodejs:22',
      family: 'nodejs',
      source: 'package',
    });
    assert.equal((await c.choose(doc('nodejs'), catalog, arm)).kind, 'nodejs:20');
    assert.equal((await c.choose(doc('nodejs:22'), catalog, arm)).image, 'openwhisk/action-nodejs-v22:nightly', 'an exact kind is not swapped');
    assert.deepEqual(e.notices, []);
  });

  it("an override wins; without ours, OpenWhisk's image is used and the runtime says so once, with the command", async () => {
    const e = engine('arm64', ['leon-edge/action-nodejs-v20:arm64']);
    assert.equal((await new ImageChooser({ 'nodejs:*': 'mine:1' }).choose(doc('nodejs:20'), catalog, e)).image, 'mine:1');
    const bare = engine('arm64', []);
    const c = new ImageChooser({});
    assert.equal((await c.choose(doc('nodejs:20'), catalog, bare)).image, 'openwhisk/action-nodejs-v20:nightly');
    await c.choose(doc('nodejs:20'), catalog, bare);
    assert.equal(bare.notices.length, 1);
    assert.match(bare.notices[0], /leon-edge\/action-nodejs-v20:arm64 is not on the Docker engine, so openwhisk\/action-nodejs-v20:nightly is used/);
    assert.match(bare.notices[0], /bash runtimes\/build\.sh --platform linux\/arm64/);
  });

  it('a missing image: the error names the command that builds ours and the override; the pull is not retried on every message', async () => {
    const e = engine('amd64', []);
    const c = new ImageChooser({});
    const first = await c
      .prepare(doc('nodejs:20'), catalog, e, () => undefined)
      .then(
        () => undefined,
        (err) => err,
      );
    assert.match(first.message, /Failed to pull container image 'openwhisk\/action-nodejs-v20:nightly'/);
    assert.match(first.message, /leon-edge\/action-nodejs-v20:amd64: run `bash runtimes\/build\.sh --platform linux\/amd64`/);
    assert.match(first.message, /image override \(nodejs:20=<image>\)/);
    assert.match(first.message, /Not pulled again for 30 s/);
    assert.equal(e.pulls, 1);
    for (let i = 0; i < 5; i++) {
      const again = await c
        .prepare(doc('nodejs:20'), catalog, e, () => undefined)
        .then(
          () => undefined,
          (err) => err,
        );
      assert.match(again.message, /Failed to pull/);
    }
    assert.equal(e.pulls, 1, 'no pull while the last one failed less than 30 s ago');
  });
});
