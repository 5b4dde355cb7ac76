'use strict';
// The Node-RED instance id (lib/runtime-config.ts instanceId): random, kept in the user directory,
// owner-only, created atomically; the same after a restart, never shared by two user directories.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const MODULE = path.resolve(__dirname, '..', '..', 'dist', 'lib', 'runtime-config.js');
const { instanceId, instanceIdFile } = require(MODULE);

/** instanceId(dir) computed by a fresh Node process: what a restarted Node-RED would get. */
async function inNewProcess(dir) {
  const { stdout } = await promisify(execFile)(process.execPath, [
    '-e',
    `process.stdout.write(require(${JSON.stringify(MODULE)}).instanceId(${JSON.stringify(dir)}))`,
  ]);
  return stdout;
}

describe('the Node-RED instance id', function () {
  this.timeout(30000); // the tests start Node processes (eight at once in one of them)
  const dirs = [];
  const fresh = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'leon-instance-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('is random per user directory, not derived from the hostname and the path', async () => {
    const a = fresh();
    const b = fresh();
    const idA = await inNewProcess(a);
    assert.match(idA, /^[0-9a-f]{32}$/);
    assert.notEqual(await inNewProcess(b), idA);
    // Same path string, different directory (a re-created /data volume that is empty): a new id.
    fs.rmSync(a, { recursive: true });
    fs.mkdirSync(a);
    assert.notEqual(await inNewProcess(a), idA);
  });

  it('survives a restart with the same user directory, and is kept owner-only', async () => {
    const d = fresh();
    const first = await inNewProcess(d);
    assert.equal(await inNewProcess(d), first);
    assert.equal(instanceId(d), first);
    const file = instanceIdFile(d);
    assert.equal(file, path.join(d, '.leon-openwhisk', 'instance-id'));
    assert.equal(fs.readFileSync(file, 'utf8').trim(), first);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['instance-id'], 'no temp file left');
  });

  it('processes starting at once on a fresh user directory all end up with one id', async () => {
    const d = fresh();
    const got = await Promise.all(Array.from({ length: 8 }, () => inNewProcess(d)));
    assert.equal(new Set(got).size, 1, got.join(' '));
    assert.equal(fs.readFileSync(instanceIdFile(d), 'utf8').trim(), got[0]);
  });

  it('replaces an id file that holds garbage, and says so when the user directory is not writable', async () => {
    const d = fresh();
    fs.mkdirSync(path.join(d, '.leon-openwhisk'));
    fs.writeFileSync(instanceIdFile(d), 'not an id');
    const id = await inNewProcess(d);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(fs.readFileSync(instanceIdFile(d), 'utf8').trim(), id);
    const ro = fresh();
    fs.writeFileSync(path.join(ro, '.leon-openwhisk'), 'a file where the folder should be');
    assert.throws(() => instanceId(ro), /cannot keep this Node-RED instance's id in .*instance-id/);
  });

  it('without a user directory (a test harness): one random id for the process', async () => {
    assert.equal(instanceId(undefined), instanceId(undefined));
    assert.match(instanceId(undefined), /^[0-9a-f]{32}$/);
    assert.notEqual(await inNewProcess(undefined).catch(() => ''), instanceId(undefined));
  });
});
