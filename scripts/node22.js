#!/usr/bin/env node
// Node 22 for the tests and benchmarks that run Node-RED 5 (it needs Node >= 22.9) on a machine whose Node is
// another version. The binary comes from the npm registry on first use: the node-<platform>-<arch> package (what
// the `node` package installs, without its install script), into a cache directory outside the repository, so
// `npm install` of this repository downloads no Node binary and puts none on the PATH of npm scripts.
//
//   node scripts/node22.js            prints the binary's path; installs it first when it is not in the cache
//   require('./node22').find()        the path, or null when it is not installed (no network)
//   require('./node22').ensure()      the path; installs it when missing, throws saying why when that fails
//
// LEON_NODE22=<path to a node 22.9+ binary> uses that binary instead (no download). The cache is
// LEON_NODE22_CACHE, else $XDG_CACHE_HOME/leon-node22, else ~/.cache/leon-node22.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** The Node 22 release that is fetched (a node-<platform>-<arch> package on the npm registry). */
const VERSION = '22.23.3';
const INSTALL_TIMEOUT_MS = 10 * 60 * 1000;

const isNode22 = (v) => /^v?22\.(\d+)\./.test(v) && Number(/^v?22\.(\d+)\./.exec(v)[1]) >= 9;

function cacheDir() {
  if (process.env.LEON_NODE22_CACHE) return path.resolve(process.env.LEON_NODE22_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'leon-node22');
}

/** The package with the binary for this machine, named as the `node` package's installer names it. */
function platformPackage() {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const arch = platform === 'win' && process.arch === 'ia32' ? 'x86' : process.arch;
  const prefix = process.platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node';
  return `${prefix}-${platform}-${arch}`;
}

const versionDir = () => path.join(cacheDir(), `${platformPackage()}@${VERSION}`);

function binaryIn(dir) {
  const pj = path.join(dir, 'node_modules', platformPackage(), 'package.json');
  if (!fs.existsSync(pj)) return null;
  const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
  const bin = path.join(path.dirname(pj), typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.node);
  return fs.existsSync(bin) ? bin : null;
}

function versionOf(bin) {
  const res = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 30000 });
  return res.status === 0 ? res.stdout.trim() : null;
}

/** The Node 22 binary when it is at hand (LEON_NODE22, this process, or the cache), else null. Never downloads. */
function find() {
  if (process.env.LEON_NODE22) {
    const bin = path.resolve(process.env.LEON_NODE22);
    const v = fs.existsSync(bin) ? versionOf(bin) : null;
    if (!v || !isNode22(v))
      throw new Error(
        `LEON_NODE22=${process.env.LEON_NODE22} is not a Node 22.9+ binary (${v ? `it is ${v}` : 'it does not run'}): point it at one, or unset it to fetch Node ${VERSION}`,
      );
    return bin;
  }
  if (isNode22(process.version)) return process.execPath;
  return binaryIn(versionDir());
}

/** find(), installing Node VERSION into the cache first when it is missing. */
function ensure() {
  const found = find();
  if (found) return found;
  const final = versionDir();
  fs.mkdirSync(cacheDir(), { recursive: true });
  // Installed beside the final directory and renamed into place: an interrupted install is never found.
  const tmp = fs.mkdtempSync(`${final}.partial-`);
  try {
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'leon-node22', private: true }));
    const spec = `${platformPackage()}@${VERSION}`;
    const env = { ...process.env };
    delete env.npm_config_local_prefix; // set when this runs inside an npm script
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const res = spawnSync(npm, ['install', '--prefix', tmp, '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', spec], {
      stdio: ['ignore', process.stderr, process.stderr],
      env,
      timeout: INSTALL_TIMEOUT_MS,
      shell: process.platform === 'win32',
    });
    if (res.error || res.status !== 0) {
      const why = res.error
        ? res.error.message
        : res.signal
          ? `killed by ${res.signal} (timeout ${INSTALL_TIMEOUT_MS / 60000} min)`
          : `exit code ${res.status}`;
      throw new Error(
        `could not install Node ${VERSION} for the Node-RED 5 tests (npm install ${spec}: ${why}). ` +
          `Check that the npm registry is reachable, or set LEON_NODE22 to a Node 22.9+ binary.`,
      );
    }
    const bin = binaryIn(tmp);
    const v = bin && versionOf(bin);
    if (!v || !isNode22(v))
      throw new Error(`npm installed ${spec} into ${tmp} but its node binary ${bin ? `reports ${v}` : 'is missing'}: remove ${cacheDir()} and try again`);
    try {
      fs.renameSync(tmp, final);
    } catch (err) {
      // Another run installed it meanwhile: keep that one.
      if (!binaryIn(final)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const bin = binaryIn(final);
  if (!bin) throw new Error(`Node ${VERSION} is not in ${final} after installing it: remove ${cacheDir()} and try again`);
  return bin;
}

module.exports = { VERSION, find, ensure, cacheDir };

if (require.main === module) {
  try {
    console.log(ensure());
  } catch (err) {
    console.error(`scripts/node22.js: ${err.message}`);
    process.exit(1);
  }
}
