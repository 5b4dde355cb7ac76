'use strict';
// The OpenWhisk API stand-in (index.js): its limits, messages, errors and small helpers.

const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');

const GUEST_KEY = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP';

const MB = 1024 * 1024;
const MAX_PAYLOAD = MB; // invoke payload limit (OpenWhisk's system limits), 413 above
const MAX_PARAMETERS = MB; // parameter-size-limit
const MAX_CODE = 48 * MB; // Exec.maxSize
const MAX_RESULT = MB; // activation result limit
const MAX_REQUEST_BODY = 50 * MB; // front-end request limit
const MAX_WAIT = 60000; // max-wait-for-blocking-activation (validation bound of ?timeout)
const MAX_LIST_LIMIT = 200;
const DEFAULT_LIST_LIMIT = 30;
const SEQUENCE_LIMIT = 50;
const ACTIONS_PER_MINUTE = 120;
const DEFAULT_LIMITS = Object.freeze({ timeout: 60000, memory: 256, logs: 10, concurrency: 1 });
const LIMIT_RANGES = Object.freeze({
  timeout: [100, 300000],
  memory: [128, 512],
  logs: [0, 10],
  concurrency: [1, 1],
});
const ENTITY_NAME_RE = /^(\w|\w[\w@ .&-]{0,254}[\w@.&-])$/;
const SEMVER_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const BASE64_RE = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$/;
const HEX32_RE = /^[0-9a-fA-F]{32}$/;
const TID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

const MSG = {
  notFound: 'The requested resource does not exist.',
  routeNotFound: 'The requested resource could not be found.',
  forbidden: 'The supplied authentication is not authorized to access this resource.',
  authInvalid: 'The supplied authentication is invalid',
  authMissing: 'The resource requires authentication, which was not supplied with the request',
  conflict: 'resource already exists',
  conformance: 'Resource by this name exists but is not in this collection.',
  entityNameIllegal: 'The name of the entity contains illegal characters.',
  namespaceIllegal: 'The namespace contains illegal characters.',
  activationIdIllegal: 'The activation id is not valid.',
  parametersNotAllowed: 'Request defines parameters that are not allowed (e.g., reserved properties).',
  sequenceIsTooLong: 'Too many actions in the sequence.',
  sequenceNoComponent: 'No component specified for the sequence.',
  sequenceIsCyclic: 'Sequence may not refer to itself.',
  sequenceComponentNotFound: 'Sequence component does not exist.',
  bindingDoesNotExist: 'Binding references a package that does not exist.',
  packageCannotBecomeBinding: 'Resource is a package and cannot be converted into a binding.',
  bindingCannotReferenceBinding: 'Cannot bind to another package binding.',
  requestedBindingIsNotValid: 'Cannot bind to a resource that is not a package.',
  notAllowedOnBinding: 'Operation not permitted on package binding.',
  docsNotAllowedWithCount: "The parameter 'docs' is not permitted with 'count'.",
  abnormalRun: 'The action did not produce a valid response and exited unexpectedly.',
  logWarningDeveloperError: 'The action did not initialize or run as expected. Log data might be missing.',
  unsupportedContentType: "The request's Content-Type is not supported. Expected:\napplication/json",
  tooManyRequests: (count, allowed) => `Too many requests in the last minute (count: ${count}, allowed: ${allowed}).`,
  entityTooBig: (field, is, allowed) => `${field} larger than allowed: ${is} > ${allowed} bytes.`,
  invalidTimeout: (max) => `Timeout must be number of milliseconds up to ${max}.`,
  timedout: (ms, init) => `The action exceeded its time limits of ${ms} milliseconds${init ? ' during initialization.' : '.'}`,
  invalidRunResponse: (s) => 'The action did not produce a valid JSON or JSON Array response' + (s ? `: ${s}` : '.'),
  truncatedResponse: (trunk, len, max) =>
    `The action produced a response that exceeded the allowed length: ${len} > ${max} bytes. The truncated response was: ${trunk}`,
  invalidRuntime: (kind, kinds) => `The specified runtime '${kind}' is not supported by this platform. Valid values are: '${kinds.join("', '")}'.`,
  runtimeDeprecated: (kind) => `The '${kind}' runtime is no longer supported. You may read and delete but not update or invoke this action.`,
  packageNameIsReserved: (name) => `Package name '${name}' is reserved.`,
  badNameFilter: (v) => `Parameter may be a 'simple' name or 'package-name/simple' name: ${v}`,
  badEpoch: (v) => `Parameter is not a valid value for epoch seconds: ${v}`,
  listLimitOutOfRange: (c, v) => `The value '${v}' is not in the range of 0 to ${MAX_LIST_LIMIT} for ${c}.`,
  listSkipOutOfRange: (c, v) => `The value '${v}' is not greater than or equal to 0 for ${c}.`,
  argumentNotInteger: (c, v) => `The value '${v}' is not an integer for ${c}.`,
  malformedQuery: (name, msg) => `The query parameter '${name}' was malformed:\n${msg}`,
  malformedContent: (msg) => `The request content was malformed:\n${msg}`,
  methodNotAllowed: (methods) => `HTTP method not allowed, supported methods: ${methods.join(', ')}`,
};

/** The runtimes part of a realistic GET / answer (apache/openwhisk ansible/files/runtimes.json rendered by ExecManifest.Runtimes.toJson). */
function defaultRuntimes() {
  const rt = (kind, name, dflt, requireMain = false) => ({
    kind,
    image: `openwhisk/${name}:nightly`,
    deprecated: false,
    default: dflt,
    attached: true,
    requireMain,
  });
  return {
    nodejs: [rt('nodejs:18', 'action-nodejs-v18', false), rt('nodejs:20', 'action-nodejs-v20', true), rt('nodejs:22', 'action-nodejs-v22', false)],
    python: [rt('python:3.10', 'action-python-v3.10', true), rt('python:3.11', 'action-python-v3.11', false)],
    swift: [rt('swift:5.3', 'action-swift-v5.3', true), rt('swift:5.7', 'action-swift-v5.7', false)],
    java: [rt('java:8', 'java8action', true, true)],
    php: [rt('php:8.1', 'action-php-v8.1', true)],
    ruby: [rt('ruby:2.5', 'action-ruby-v2.5', true)],
    go: [rt('go:1.20', 'action-golang-v1.20', true)],
    dotnet: [rt('dotnet:3.1', 'action-dotnet-v3.1', true, true), rt('dotnet:6.0', 'action-dotnet-v6.0', false, true)],
    rust: [rt('rust:1.34', 'action-rust-v1.34', true)],
  };
}

// ------------------------------------------------------------------------------------------
// small helpers

class OwError extends Error {
  constructor(status, message, extraHeaders) {
    super(message);
    this.status = status;
    this.headers = extraHeaders || {};
  }
}

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const newActivationId = () => crypto.randomUUID().replace(/-/g, '');
const newTid = () => {
  const bytes = crypto.randomBytes(32);
  let s = '';
  for (const b of bytes) s += TID_CHARS[b % TID_CHARS.length];
  return s;
};
const isBinaryCode = (code) => {
  if (typeof code !== 'string') return false;
  const t = code.trim();
  return t.length > 0 && t.length % 4 === 0 && BASE64_RE.test(t);
};
const upPatch = (v) => {
  const m = SEMVER_RE.exec(v) || [null, 0, 0, 0];
  return `${m[1]}.${m[2]}.${Number(m[3]) + 1}`;
};

/** Current time in epoch ms with sub-millisecond fraction. */
const nowPrecise = () => performance.timeOrigin + performance.now();

/** RFC3339Nano like Docker's json-file log driver writes it (trailing zeros trimmed). */
function rfc3339Nano(t) {
  const ms = Math.floor(t);
  const iso = new Date(ms).toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
  const nanos = String(Math.floor((t - Math.floor(t / 1000) * 1000) * 1e6))
    .padStart(9, '0')
    .slice(0, 9);
  const frac = nanos.replace(/0+$/, '');
  return iso.slice(0, 19) + (frac ? '.' + frac : '') + 'Z';
}

/** java.time.Instant#toString (fraction in groups of 3 digits). */
function javaInstant(t) {
  const base = rfc3339Nano(t).replace(/Z$/, '');
  const [sec, frac = ''] = base.split('.');
  if (!frac) return sec + 'Z';
  const len = Math.ceil(frac.length / 3) * 3;
  return `${sec}.${frac.padEnd(len, '0')}Z`;
}

/** One stored log line: `f"$time%-30s $stream: $log"` (DockerToActivationLogStore LogLine.toFormattedString). */
const logLine = (time, stream, text) => `${time.padEnd(30)} ${stream}: ${text}`;

// Parameters are arrays of {key, value, init?, encryption?} with Map semantics.
function mergeParams(base, over) {
  const out = (base || []).map((p) => ({ ...p }));
  for (const p of over || []) {
    const i = out.findIndex((q) => q.key === p.key);
    if (i >= 0) out[i] = { ...p };
    else out.push({ ...p });
  }
  return out;
}
const paramsToObject = (params) => {
  const o = {};
  for (const p of params || []) o[p.key] = clone(p.value);
  return o;
};
const getAnnotation = (anns, key) => {
  const a = (anns || []).find((x) => x.key === key);
  return a ? a.value : undefined;
};
const removeKey = (params, key) => (params || []).filter((p) => p.key !== key);
const paramsJson = (params) =>
  (params || []).map((p) => {
    const o = { key: p.key, value: clone(p.value) };
    if (p.init) o.init = true;
    if (p.encryption) o.encryption = p.encryption;
    return o;
  });

function readParams(value, what = 'parameters') {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new OwError(400, MSG.malformedContent(`${what} malformed!`));
  const out = [];
  for (const p of value) {
    if (!isObject(p) || typeof p.key !== 'string' || !('value' in p)) {
      throw new OwError(400, MSG.malformedContent(`${what} malformed!`));
    }
    if (p.init !== undefined && typeof p.init !== 'boolean') throw new OwError(400, MSG.malformedContent(`${what} malformed!`));
    const q = { key: p.key, value: clone(p.value) };
    if (p.init) q.init = true;
    if (typeof p.encryption === 'string') q.encryption = p.encryption;
    const i = out.findIndex((x) => x.key === q.key);
    if (i >= 0) out[i] = q;
    else out.push(q);
  }
  return out;
}

/** Removes this server's own frames from a user error's stack (a runtime would show its own instead). */
function cleanStack(err) {
  try {
    if (err && typeof err === 'object' && typeof err.stack === 'string') {
      err.stack = err.stack
        .split('\n')
        .filter((l) => !/^\s+at .*(openwhisk-server(?:\.js|[\\/][\w-]+\.js)|node:vm|node:internal|runner\.js:1:1|new Promise \(<anonymous>\))/.test(l))
        .join('\n');
    }
  } catch {
    // frozen or exotic error objects keep their stack
  }
  return err;
}

/** A subset of serialize-error (used by the Node.js runtime for rejected promises). */
function serializeError(value, seen = new Set()) {
  if (typeof value === 'function') return `[Function: ${value.name || 'anonymous'}]`;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => serializeError(v, seen));
  const out = {};
  for (const k of Object.keys(value)) {
    const v = value[k];
    if (typeof v === 'function') continue;
    if (typeof v === 'bigint') continue;
    out[k] = serializeError(v, seen);
  }
  for (const k of ['name', 'message', 'stack', 'code', 'cause']) {
    if (out[k] === undefined && value[k] !== undefined && typeof value[k] !== 'function') {
      if (k === 'name' && !('message' in value)) continue;
      out[k] = serializeError(value[k], seen);
    }
  }
  seen.delete(value);
  return out;
}

function parseBool(name, v, dflt) {
  if (v === null || v === undefined) return dflt;
  const s = String(v).toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(s)) return true;
  if (['false', 'no', 'off', '0'].includes(s)) return false;
  throw new OwError(400, MSG.malformedQuery(name, `'${v}' is not a valid Boolean value`));
}

function parseListArgs(q, collection) {
  const intArg = (name, dflt) => {
    const v = q.get(name);
    if (v === null) return dflt;
    if (!/^-?\d+$/.test(v)) throw new OwError(400, MSG.malformedQuery(name, MSG.argumentNotInteger(collection, v)));
    return Number(v);
  };
  let limit = intArg('limit', DEFAULT_LIST_LIMIT);
  if (limit === 0) limit = MAX_LIST_LIMIT;
  else if (limit < 0 || limit > MAX_LIST_LIMIT) {
    throw new OwError(400, MSG.malformedQuery('limit', MSG.listLimitOutOfRange(collection, limit)));
  }
  const skip = intArg('skip', 0);
  if (skip < 0) throw new OwError(400, MSG.malformedQuery('skip', MSG.listSkipOutOfRange(collection, skip)));
  const count = parseBool('count', q.get('count'), false);
  return { limit, skip, count };
}

function checkEntityName(name) {
  if (typeof name !== 'string' || !ENTITY_NAME_RE.test(name)) throw new OwError(400, MSG.entityNameIllegal);
}

module.exports = {
  GUEST_KEY,
  MB,
  MAX_PAYLOAD,
  MAX_PARAMETERS,
  MAX_CODE,
  MAX_RESULT,
  MAX_REQUEST_BODY,
  MAX_WAIT,
  MAX_LIST_LIMIT,
  DEFAULT_LIST_LIMIT,
  SEQUENCE_LIMIT,
  ACTIONS_PER_MINUTE,
  DEFAULT_LIMITS,
  LIMIT_RANGES,
  ENTITY_NAME_RE,
  SEMVER_RE,
  BASE64_RE,
  HEX32_RE,
  TID_CHARS,
  MSG,
  defaultRuntimes,
  OwError,
  clone,
  isObject,
  newActivationId,
  newTid,
  isBinaryCode,
  upPatch,
  nowPrecise,
  rfc3339Nano,
  javaInstant,
  logLine,
  mergeParams,
  paramsToObject,
  getAnnotation,
  removeKey,
  paramsJson,
  readParams,
  cleanStack,
  serializeError,
  parseBool,
  parseListArgs,
  checkEntityName,
};
