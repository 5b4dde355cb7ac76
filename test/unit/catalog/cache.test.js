'use strict';
// The on-disk catalog cache (lib/catalog/cache.ts): per service, one file per action (the newest),
// written atomically and durably, in a private folder when there is no user directory.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { CachedCatalog, cacheDirFor, serviceIdentity, identityOf } = require('../../../dist/lib/catalog/cache');
const { writeFileAtomic } = require('../../../dist/lib/atomic-file');
const { OpenWhiskNodeError } = require('../../../dist/lib/errors');

/** A catalog in memory that can go offline, like an API host whose uplink is gone. */
function catalog(location) {
  const actions = new Map();
  return {
    location,
    online: true,
    put(name, code, version) {
      actions.set(name, { namespace: 'guest', name, version, exec: { kind: 'nodejs:20', code }, parameters: [], annotations: [], limits: {} });
    },
    async getAction(ref) {
      if (!this.online) throw new OpenWhiskNodeError('unreachable', `Cannot reach the OpenWhisk API at ${location}.`);
      const doc = actions.get(ref.name);
      if (!doc) throw new OpenWhiskNodeError('http', 'not found', { statusCode: 404 });
      return structuredClone(doc);
    },
    async runtimeImages() {
      return {};
    },
  };
}

const files = (dir) =>
  fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();

describe('the on-disk catalog cache', () => {
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-cache-test-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("never serves one service's code for another with the same namespace, action and version", async () => {
    const a = catalog('https://ow-a.example');
    const b = catalog('https://ow-b.example');
    a.put('hello', 'code from A', '0.0.1');
    b.put('hello', 'code from B', '0.0.1');
    const ca = new CachedCatalog(a, dir, serviceIdentity(a.location, 'uuid-a:secret'));
    const cb = new CachedCatalog(b, dir, serviceIdentity(b.location, 'uuid-a:secret'));
    await ca.getAction({ namespace: 'guest', name: 'hello' });
    await cb.getAction({ namespace: 'guest', name: 'hello' });
    a.online = b.online = false;
    const fromA = await ca.getAction({ namespace: 'guest', name: 'hello' });
    const fromB = await cb.getAction({ namespace: 'guest', name: 'hello' });
    assert.equal(fromA.exec.code, 'code from A');
    assert.equal(fromB.exec.code, 'code from B');
    assert.ok(ca.fromCache(fromA) && cb.fromCache(fromB));
  });

  it('keeps apart two keys of one API host ("_" is each key\'s own namespace), but not a rotated secret', async () => {
    const host = 'https://ow.example';
    const one = catalog(host);
    const two = catalog(host);
    one.put('hello', 'one', '1');
    two.put('hello', 'two', '1');
    const c1 = new CachedCatalog(one, dir, serviceIdentity(host, 'uuid-1:k'));
    const c2 = new CachedCatalog(two, dir, serviceIdentity(host, 'uuid-2:k'));
    await c1.getAction({ namespace: '_', name: 'hello' });
    await c2.getAction({ namespace: '_', name: 'hello' });
    one.online = two.online = false;
    assert.equal((await c1.getAction({ namespace: '_', name: 'hello' })).exec.code, 'one');
    assert.equal((await c2.getAction({ namespace: '_', name: 'hello' })).exec.code, 'two');
    const rotated = new CachedCatalog(one, dir, serviceIdentity(host, 'uuid-1:new-secret'));
    assert.equal((await rotated.getAction({ namespace: '_', name: 'hello' })).exec.code, 'one');
  });

  it('keeps only the newest version of an action, readable by the owner only', async () => {
    const a = catalog('https://ow.example');
    const c = new CachedCatalog(a, dir, serviceIdentity(a.location, 'u:k'));
    for (const v of ['1', '2', '3']) {
      a.put('hello', `v${v}`, v);
      await c.getAction({ namespace: 'guest', name: 'hello' });
    }
    const stored = files(dir).filter((f) => f.endsWith('.json'));
    assert.equal(stored.length, 1, files(dir).join());
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, stored[0]), 'utf8')).doc.exec.code, 'v3');
    assert.equal(fs.statSync(path.join(dir, stored[0])).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(path.join(dir, stored[0]))).mode & 0o777, 0o700);
    a.online = false;
    assert.equal((await c.getAction({ namespace: 'guest', name: 'hello' })).exec.code, 'v3');
  });

  it('removes the earlier layouts (every version under actions/ and refs/; one copy per name asked under v2/)', async () => {
    fs.mkdirSync(path.join(dir, 'v2', 'abc'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'v2', 'abc', 'x.json'), '{}');
    fs.mkdirSync(path.join(dir, 'actions', 'guest'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'actions', 'guest', 'hello@0.0.1.json'), '{}');
    fs.mkdirSync(path.join(dir, 'refs'));
    fs.writeFileSync(path.join(dir, 'refs', 'x.json'), '{}');
    const a = catalog('https://ow.example');
    a.put('hello', 'new', '2');
    await new CachedCatalog(a, dir, 'svc').getAction({ namespace: 'guest', name: 'hello' });
    assert.deepEqual(
      files(dir).filter((f) => !f.startsWith('v3/')),
      [],
    );
  });

  it('keeps one copy of an action however many names lead to it: 20 names of a 1 MB action take 1 MB, not 20', async () => {
    // A catalog that answers as OpenWhisk does: "_" is the key's own namespace ("guest"), and a URL
    // resolver takes "p1/../hello" to "hello" (what the gateway API used to pass through).
    const code = `// ${'x'.repeat(1024 * 1024)}\nfunction main() { return {}; }`;
    const hello = { namespace: 'guest', name: 'hello', version: '0.0.1', exec: { kind: 'nodejs:20', code }, parameters: [], annotations: [], limits: {} };
    const ow = {
      location: 'https://ow.example',
      online: true,
      async getAction(ref) {
        if (!this.online) throw new OpenWhiskNodeError('unreachable', 'Cannot reach the OpenWhisk API at https://ow.example.');
        if (new URL(`namespaces/${ref.namespace}/actions/${ref.name}`, 'https://ow.example/api/v1/').pathname.endsWith('/actions/hello'))
          return structuredClone(hello);
        throw new OpenWhiskNodeError('http', 'not found', { statusCode: 404 });
      },
      async runtimeImages() {
        return {};
      },
    };
    const c = new CachedCatalog(ow, dir, serviceIdentity(ow.location, 'u:k'));
    const names = [
      { namespace: '_', name: 'hello' },
      { namespace: 'guest', name: 'hello' },
    ];
    for (let i = 0; names.length < 20; i++) names.push({ namespace: '_', name: `p${i}/../hello` });
    for (const ref of names) assert.equal((await c.getAction(ref)).exec.code, code);
    const bytes = files(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(bytes < 1.1 * 1024 * 1024, `${bytes} bytes on disk for 20 names of one 1 MB action`);
    assert.equal(files(dir).filter((f) => f.endsWith('.json')).length, 1);
    ow.online = false;
    assert.equal((await c.getAction({ namespace: '_', name: 'hello' })).exec.code, code);
    assert.equal((await c.getAction({ namespace: 'guest', name: 'hello' })).exec.code, code);
  });

  it('keeps an answer only under the action it says it is, when that is the one asked for', async () => {
    const doc = (namespace, name) => ({ namespace, name, exec: { kind: 'nodejs:20', code: `${namespace}/${name}` } });
    // The same action, asked as it is, in "_", or through a binding (its parameters merged in: its own copy).
    assert.equal(identityOf({ namespace: 'guest', name: 'hello' }, doc('guest', 'hello')), 'guest/hello');
    assert.equal(identityOf({ namespace: '_', name: 'hello' }, doc('guest', 'hello')), 'guest/hello');
    assert.equal(identityOf({ namespace: '_', name: 'utils/echo' }, doc('guest/utils', 'echo')), 'guest/utils/echo');
    assert.equal(identityOf({ namespace: '_', name: 'mine/echo' }, doc('whisk.system/utils', 'echo')), 'whisk.system/utils/echo via /_/mine');
    // Not what was asked: another name, another namespace, a package where none was asked, and the reverse.
    assert.equal(identityOf({ namespace: '_', name: 'a' }, doc('guest', 'b')), undefined);
    assert.equal(identityOf({ namespace: 'guest', name: 'a' }, doc('other', 'a')), undefined);
    assert.equal(identityOf({ namespace: '_', name: 'a' }, doc('guest/pkg', 'a')), undefined);
    assert.equal(identityOf({ namespace: '_', name: 'pkg/a' }, doc('guest', 'a')), undefined);
    assert.equal(identityOf({ namespace: '_', name: 'p/../a' }, doc('guest', 'a')), undefined);
    assert.equal(identityOf({ namespace: '_', name: 'a' }, doc('guest/x/y', 'a')), undefined);
    // A catalog that answers "a" with "b": kept under neither name.
    const liar = catalog('https://ow.example');
    liar.put('b', 'code of b', '1');
    liar.getAction = async function () {
      if (!this.online) throw new OpenWhiskNodeError('unreachable', 'offline');
      return { namespace: 'guest', name: 'b', exec: { kind: 'nodejs:20', code: 'code of b' } };
    };
    const c = new CachedCatalog(liar, dir, 'svc');
    await c.getAction({ namespace: '_', name: 'a' });
    liar.online = false;
    await assert.rejects(c.getAction({ namespace: '_', name: 'a' }), /No cached copy/);
    await assert.rejects(c.getAction({ namespace: '_', name: 'b' }), /No cached copy/);
  });

  it('is bounded in bytes, all services together: the copies stored longest ago go first', async () => {
    const MB = 1024 * 1024;
    const a = catalog('https://ow-a.example');
    const b = catalog('https://ow-b.example');
    const opts = { maxBytes: 3.5 * MB };
    const ca = new CachedCatalog(a, dir, 'svc-a', opts);
    const cb = new CachedCatalog(b, dir, 'svc-b', opts);
    for (let i = 0; i < 10; i++) {
      const [cat, cc] = i % 2 ? [b, cb] : [a, ca];
      cat.put(`act${i}`, `${i}`.repeat(MB), '1');
      await cc.getAction({ namespace: 'guest', name: `act${i}` });
      const bytes = files(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
      assert.ok(bytes <= opts.maxBytes, `after ${i + 1} actions: ${bytes} bytes on disk`);
    }
    a.online = b.online = false;
    // The three newest are there; the oldest went first.
    for (const i of [7, 8, 9]) assert.equal((await (i % 2 ? cb : ca).getAction({ namespace: 'guest', name: `act${i}` })).exec.code, `${i}`.repeat(MB));
    for (const i of [0, 1, 2, 3, 4, 5, 6]) await assert.rejects((i % 2 ? cb : ca).getAction({ namespace: 'guest', name: `act${i}` }), /No cached copy/);
    // After a restart (a new process: here, the folder copied elsewhere) what is on disk counts towards the bound.
    const again = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-cache-test-'));
    try {
      fs.cpSync(dir, again, { recursive: true });
      const held = files(again).reduce((n, f) => n + fs.statSync(path.join(again, f)).size, 0);
      assert.ok(held > 2.5 * MB, `${held}`);
      const c = catalog('https://ow-c.example');
      c.put('new', 'n'.repeat(MB), '1');
      await new CachedCatalog(c, again, 'svc-c', opts).getAction({ namespace: 'guest', name: 'new' });
      const bytes = files(again).reduce((n, f) => n + fs.statSync(path.join(again, f)).size, 0);
      assert.ok(bytes <= opts.maxBytes, `after a restart: ${bytes} bytes on disk`);
      a.online = false;
      await assert.rejects(new CachedCatalog(a, again, 'svc-a', opts).getAction({ namespace: 'guest', name: 'act7' }), /No cached copy/, 'the oldest went');
      assert.equal((await new CachedCatalog(b, again, 'svc-b', opts).getAction({ namespace: 'guest', name: 'act9' })).exec.code, '9'.repeat(MB));
    } finally {
      fs.rmSync(again, { recursive: true, force: true });
    }
    // A newer version larger than the whole cache replaces nothing: the older copy goes, none is served.
    a.online = true;
    a.put('act8', 'y'.repeat(4 * MB), '2');
    await ca.getAction({ namespace: 'guest', name: 'act8' });
    a.online = false;
    await assert.rejects(ca.getAction({ namespace: 'guest', name: 'act8' }), /No cached copy/);
  });

  it('writes atomically and durably (lib/atomic-file.ts): a unique temp file, fsynced, renamed, then the folder fsynced', async () => {
    const fsp = fs.promises;
    const calls = [];
    const handle = await fsp.open(path.join(dir, 'probe'), 'w');
    const FileHandle = Object.getPrototypeOf(handle);
    await handle.close();
    const { sync } = FileHandle;
    const { rename, open } = fsp;
    const opened = new WeakMap();
    fsp.open = async function (p, ...rest) {
      const h = await open.call(this, p, ...rest);
      opened.set(h, String(p));
      return h;
    };
    FileHandle.sync = function () {
      calls.push(['sync', opened.get(this)]);
      return sync.call(this);
    };
    fsp.rename = async function (from, to) {
      calls.push(['rename', String(from), String(to)]);
      return rename.call(this, from, to);
    };
    const file = path.join(dir, 'entry.json');
    try {
      await Promise.all([writeFileAtomic(file, JSON.stringify({ n: 1 })), writeFileAtomic(file, JSON.stringify({ n: 2 }))]);
    } finally {
      FileHandle.sync = sync;
      fsp.rename = rename;
      fsp.open = open;
    }
    const renames = calls.filter((c) => c[0] === 'rename');
    assert.equal(renames.length, 2);
    assert.notEqual(renames[0][1], renames[1][1], 'each writer has its own temp name');
    for (const [, tmp, to] of renames) {
      assert.equal(to, file);
      assert.equal(path.dirname(tmp), dir);
      const synced = calls.findIndex((c) => c[0] === 'sync' && c[1] === tmp);
      const renamed = calls.findIndex((c) => c[0] === 'rename' && c[1] === tmp);
      assert.ok(synced >= 0 && synced < renamed, `fsync of ${tmp} before its rename: ${JSON.stringify(calls)}`);
    }
    const lastRename = calls.map((c) => c[0]).lastIndexOf('rename');
    assert.ok(
      calls.slice(lastRename + 1).some((c) => c[0] === 'sync' && c[1] === dir),
      `the folder fsynced after the rename: ${JSON.stringify(calls)}`,
    );
    assert.ok([1, 2].includes(JSON.parse(fs.readFileSync(file, 'utf8')).n));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['entry.json', 'probe'], 'no temp file left');
  });

  it('a torn temp file left by a crash does not disturb the cached copy', async () => {
    const a = catalog('https://ow.example');
    a.put('hello', 'good', '1');
    const c = new CachedCatalog(a, dir, 'svc');
    await c.getAction({ namespace: 'guest', name: 'hello' });
    const file = await c.fileFor({ namespace: 'guest', name: 'hello' });
    fs.writeFileSync(`${path.dirname(file)}/.${path.basename(file)}.999.abc.tmp`, '{"doc": {"exec": {"co');
    a.online = false;
    assert.equal((await c.getAction({ namespace: 'guest', name: 'hello' })).exec.code, 'good');
  });

  it('removes temporary files a crash left behind once they are a minute old, and counts younger ones towards the bound', async () => {
    const MB = 1024 * 1024;
    const a = catalog('https://ow.example');
    a.put('hello', 'good', '1');
    const first = new CachedCatalog(a, dir, 'svc');
    await first.getAction({ namespace: 'guest', name: 'hello' });
    const service = path.relative(dir, path.dirname(await first.fileFor({ namespace: 'guest', name: 'hello' })));
    // A restart (a new process: here, the folder copied elsewhere) after crashes in the middle of writes.
    const again = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-cache-test-'));
    try {
      fs.cpSync(dir, again, { recursive: true });
      const tmp = (name, bytes, ageMs) => {
        const file = path.join(again, service, name);
        fs.writeFileSync(file, '');
        fs.truncateSync(file, bytes); // sparse: the size counts, no disk space is used
        const t = new Date(Date.now() - ageMs);
        fs.utimesSync(file, t, t);
        return file;
      };
      const old = tmp(`.${'a'.repeat(24)}.json.4242.0a0a0a0a0a0a.tmp`, 3 * MB, 2 * 60_000);
      const young = tmp(`.${'b'.repeat(24)}.json.4243.0b0b0b0b0b0b.tmp`, 2 * MB, 0);
      const opts = { maxBytes: 2.5 * MB };
      const c = new CachedCatalog(a, again, 'svc', opts);
      const onDisk = () => files(again).reduce((n, f) => n + fs.statSync(path.join(again, f)).size, 0);
      a.put('one', '1'.repeat(400 * 1024), '1');
      await c.getAction({ namespace: 'guest', name: 'one' });
      assert.ok(!fs.existsSync(old), 'a temp file older than a minute is removed at the first scan');
      assert.ok(fs.existsSync(young), 'a younger one may be a write in progress: it stays');
      a.put('two', '2'.repeat(400 * 1024), '1');
      await c.getAction({ namespace: 'guest', name: 'two' });
      assert.ok(onDisk() <= opts.maxBytes, `the young temp file counts towards the bound: ${onDisk()} bytes on disk`);
      a.online = false;
      await assert.rejects(c.getAction({ namespace: 'guest', name: 'one' }), /No cached copy/, 'the oldest copy went to make room');
      // Once it is a minute old, the next store removes it.
      const t = new Date(Date.now() - 2 * 60_000);
      fs.utimesSync(young, t, t);
      a.online = true;
      a.put('three', '3'.repeat(400 * 1024), '1');
      await c.getAction({ namespace: 'guest', name: 'three' });
      assert.ok(!fs.existsSync(young), 'removed at the next store once a minute old');
      assert.deepEqual(
        files(again).filter((f) => f.endsWith('.tmp')),
        [],
      );
      a.online = false;
      for (const name of ['two', 'three']) assert.equal((await c.getAction({ namespace: 'guest', name })).exec.code.length, 400 * 1024, name);
    } finally {
      fs.rmSync(again, { recursive: true, force: true });
    }
  });

  it('without a user directory: a private mkdtemp folder (0700, random name), not a predictable /tmp path', () => {
    const d = cacheDirFor(undefined);
    assert.equal(cacheDirFor(undefined), d, 'one folder per process');
    assert.equal(path.dirname(d), os.tmpdir());
    assert.match(path.basename(d), /^leon-openwhisk-cache-[A-Za-z0-9]{6}$/);
    const st = fs.lstatSync(d);
    assert.ok(st.isDirectory() && !st.isSymbolicLink());
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.getuid());
    assert.equal(cacheDirFor('/srv/nr'), path.join('/srv/nr', '.leon-openwhisk', 'catalog-cache'));
  });
});
