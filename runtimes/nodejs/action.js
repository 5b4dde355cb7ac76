'use strict';
/*
 * Loading and calling the user's action code (leon-edge OpenWhisk Node.js runtime).
 *
 *   loadAction({code, main, binary}) -> Promise<function>  (rejects with the init failure)
 *   loadActionFile(file, main)       -> Promise<function>  (code baked into an image)
 *   runAction(fn, args)              -> Promise<{threw: true, error} | {threw: false, result}>
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

// `main` for plain code is evaluated as an expression, so it must be a (dotted) identifier.
const IDENTIFIER_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
const ZIP_MAGIC = 0x04034b50; // "PK\x03\x04", little endian

function pick(obj, dottedPath) {
  return dottedPath.split('.').reduce((o, key) => (o === null || o === undefined ? undefined : o[key]), obj);
}

function assertFunction(fn, main) {
  if (typeof fn !== 'function') {
    throw new Error(`Action entrypoint '${main}' is not a function.`);
  }
  return fn;
}

/**
 * Plain code: run it as the body of a CommonJS-like module function so that a top-level
 * `function main(){}`, `module.exports.main = …` and `exports.main = …` all work.
 */
function loadPlainCode(code, main) {
  if (!IDENTIFIER_PATH.test(main)) {
    throw new Error(`Action entrypoint '${main}' is not a valid name.`);
  }
  const mod = { exports: {} };
  const initialExports = mod.exports;
  const body = `${code}\n;try { return ${main}; } catch (e) {\n` +
    `  if (e && e.name === 'ReferenceError') { return undefined; }\n  throw e;\n}`;
  // The action's source is the code the platform asked us to run: evaluating it is the job.
  const factory = new Function('module', 'exports', 'require', '__filename', '__dirname', body);
  const filename = path.join(process.cwd(), 'action.js');
  let fn = factory(mod, initialExports, require, filename, process.cwd());
  if (fn === undefined) {
    fn = pick(mod.exports, main) || pick(initialExports, main);
  }
  return assertFunction(fn, main);
}

/** Requires a module, falling back to import() for ES modules ("type": "module", .mjs). */
async function requireOrImport(target) {
  try {
    return require(target);
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      const ns = await import(pathToFileURL(require.resolve(target)).href);
      return ns.default && typeof ns.default === 'object' ? { ...ns.default, ...ns } : ns;
    }
    throw err;
  }
}

/**
 * Zipped code (base64): unpack into a fresh temp dir, chdir there and require it.
 * `main` is either `fn` (module = package.json "main" or index.js) or `file.fn`.
 */
async function loadZip(base64, main) {
  const archive = Buffer.from(base64, 'base64');
  if (archive.length < 4 || archive.readUInt32LE(0) !== ZIP_MAGIC) {
    throw new Error('The action archive is not a zip file.');
  }
  const match = /^([^.]+)$|^([^.]+)\.(.+)$/.exec(main);
  if (!match) {
    throw new Error('Name of main function is not valid.');
  }
  const file = match[2];
  const fnPath = match[3] || match[1];

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'action-'));
  try {
    // Loaded lazily: only zip actions need it.
    const AdmZip = require('adm-zip');
    new AdmZip(archive).extractAllTo(dir, true);
  } catch (err) {
    throw new Error(`There was an error uncompressing the action archive: ${err.message || err}`, { cause: err });
  }
  process.chdir(dir);
  if (file === undefined && !fs.existsSync(path.join(dir, 'package.json')) &&
      !fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error('Zipped actions must contain either package.json or index.js at the root.');
  }
  const mod = await requireOrImport(file === undefined ? dir : path.join(dir, file));
  return assertFunction(pick(mod, fnPath), main);
}

async function loadAction({ code, main, binary }) {
  return binary ? loadZip(code, main) : loadPlainCode(code, main);
}

/** Code baked into the image (blackbox images): a module file exporting `main`. */
async function loadActionFile(file, main) {
  return assertFunction(pick(await requireOrImport(path.resolve(file)), main), main);
}

/** A JSON-friendly copy of an Error (or any thrown value): name, message, stack, own props. */
function serializeError(value, seen = new WeakSet()) {
  if (typeof value === 'function') {
    return `[Function: ${value.name || 'anonymous'}]`;
  }
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : value;
  }
  if (seen.has(value)) {
    return '[Circular]';
  }
  seen.add(value);
  if (Buffer.isBuffer(value)) {
    return '[object Buffer]';
  }
  if (typeof value.toJSON === 'function' && !(value instanceof Error)) {
    return value.toJSON();
  }
  const out = Array.isArray(value) ? [] : {};
  for (const [key, val] of Object.entries(value)) {
    out[key] = serializeError(val, seen);
  }
  if (value instanceof Error) {
    for (const key of ['name', 'message', 'stack', 'code', 'cause']) {
      if (value[key] !== undefined) {
        out[key] = serializeError(value[key], seen);
      }
    }
  }
  return out;
}

/**
 * Calls the action. A synchronous throw is reported as {threw: true}; a rejected promise
 * becomes the result {error: <serialized error>}; `undefined` becomes {}.
 */
async function runAction(fn, args) {
  let returned;
  try {
    returned = fn(args);
  } catch (error) {
    return { threw: true, error };
  }
  try {
    const result = await returned;
    return { threw: false, result: result === undefined ? {} : result };
  } catch (error) {
    return { threw: false, result: { error: error ? serializeError(error) : {} } };
  }
}

module.exports = { loadAction, loadActionFile, runAction, serializeError };
