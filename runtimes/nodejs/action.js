'use strict';
/*
 * Loading and calling the user's action code (leon-edge OpenWhisk Node.js runtime).
 *
 *   loadAction({code, main, binary}) -> Promise<function>  (rejects with the init failure)
 *   loadActionFile(file, main)       -> Promise<function>  (code baked into an image)
 *   runAction(fn, args)              -> Promise<{threw: true, error} | {threw: false, result}>
 *
 * A failure the runtime itself finds (main is not a function, the archive is not usable) is an
 * InitFailure: its answer and log line are the bare message, word for word upstream's; an error the
 * action's code raises while it loads is reported with its stack.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

// `main` for plain code is evaluated as an expression, so it must be a (dotted) identifier.
const IDENTIFIER_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;
const ZIP_MAGIC = 0x04034b50; // "PK\x03\x04", little endian
const GZIP_MAGIC = 0x8b1f; // a tar.gz, which upstream unpacks and this runtime does not

/** A failure found by the runtime, not raised by the action's code: reported as its bare message. */
class InitFailure extends Error {}

/** Follows a dotted path; a missing link raises the TypeError a property access does. */
function pick(obj, dottedPath) {
  return dottedPath.split('.').reduce((o, key) => o[key], obj);
}

function assertFunction(fn, main) {
  if (typeof fn !== 'function') {
    throw new InitFailure(`Action entrypoint '${main}' is not a function.`);
  }
  return fn;
}

/**
 * Plain code: run it as the body of a CommonJS-like module function so that a top-level
 * `function main(){}`, `module.exports.main = …` and `exports.main = …` all work.
 */
function loadPlainCode(code, main) {
  if (!IDENTIFIER_PATH.test(main)) {
    throw new InitFailure(`Action entrypoint '${main}' is not a valid name.`);
  }
  const mod = { exports: {} };
  const initialExports = mod.exports;
  const body = `${code}\n;try { return ${main}; } catch (e) {\n` + `  if (e && e.name === 'ReferenceError') { return undefined; }\n  throw e;\n}`;
  // The action's source is the code the platform asked us to run: evaluating it is the job.
  const factory = new Function('module', 'exports', 'require', '__filename', '__dirname', body);
  const filename = path.join(process.cwd(), 'action.js');
  let fn = factory(mod, initialExports, require, filename, process.cwd());
  if (fn === undefined) {
    fn = pickIfThere(mod.exports, main) || pickIfThere(initialExports, main);
  }
  return assertFunction(fn, main);
}

function pickIfThere(obj, dottedPath) {
  return dottedPath.split('.').reduce((o, key) => (o === null || o === undefined ? undefined : o[key]), obj);
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
  if (archive.length >= 2 && archive.readUInt16LE(0) === GZIP_MAGIC) {
    throw new InitFailure(
      'There was an error uncompressing the action archive. The file type is unsupported: ' + 'this runtime takes zip archives only, not tar.gz.',
    );
  }
  if (archive.length < 4 || archive.readUInt32LE(0) !== ZIP_MAGIC) {
    throw new InitFailure('There was an error uncompressing the action archive. The file type is unsupported');
  }
  const match = /^([^.]+)$|^([^.]+)\.(.+)$/.exec(main);
  if (!match) {
    throw new InitFailure('Name of main function is not valid.');
  }
  const file = match[2];
  const fnPath = match[3] || match[1];

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'action-'));
  try {
    // Loaded lazily: only zip actions need it.
    const AdmZip = require('adm-zip');
    new AdmZip(archive).extractAllTo(dir, true);
  } catch (err) {
    throw new InitFailure('There was an error uncompressing the action Zip archive.', { cause: err });
  }
  process.chdir(dir);
  if (file === undefined && !fs.existsSync(path.join(dir, 'package.json')) && !fs.existsSync(path.join(dir, 'index.js'))) {
    throw new InitFailure('Zipped actions must contain either package.json or index.js at the root.');
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

// What a rejected promise's reason becomes in {error: …}, as upstream answers it (it uses the
// serialize-error package, 9.x): own enumerable properties first, then name, message, stack and code
// when they are strings; functions left out, Buffers and streams named, toJSON() honoured, a reference
// back to an enclosing object "[Circular]". Unlike upstream, a null property is kept as null.
const ERROR_FIELDS = ['name', 'message', 'stack', 'code'];

function copyReason(from, enclosing) {
  if (typeof from.toJSON === 'function') {
    return from.toJSON();
  }
  const to = Array.isArray(from) ? [] : {};
  const chain = [...enclosing, from];
  for (const [key, value] of Object.entries(from)) {
    if (Buffer.isBuffer(value)) {
      to[key] = '[object Buffer]';
    } else if (value !== null && typeof value === 'object' && typeof value.pipe === 'function') {
      to[key] = '[object Stream]';
    } else if (typeof value === 'function') {
      continue;
    } else if (value === null || typeof value !== 'object') {
      to[key] = value;
    } else {
      to[key] = chain.includes(value) ? '[Circular]' : copyReason(value, chain);
    }
  }
  for (const field of ERROR_FIELDS) {
    if (typeof from[field] === 'string') {
      Object.defineProperty(to, field, { value: from[field], enumerable: true, configurable: true, writable: true });
    }
  }
  return to;
}

/** A JSON-friendly copy of a rejected promise's reason (an Error or any value). */
function serializeError(value) {
  if (value !== null && typeof value === 'object') {
    return copyReason(value, []);
  }
  if (typeof value === 'function') {
    return `[Function: ${value.name || 'anonymous'}]`;
  }
  return value;
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

module.exports = { loadAction, loadActionFile, runAction, serializeError, InitFailure };
