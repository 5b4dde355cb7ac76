'use strict';
/**
 * A stand-in for an Apache OpenWhisk controller (+ invoker) for tests.
 *
 * Plain Node.js (node:http, node:vm), no dependencies. It implements the subset of the
 * OpenWhisk REST API (/api/v1) that the nodes use, following the documented and
 * implemented behaviour of the real controller (paths, status codes, bodies, error
 * shapes `{error, code}`), so that the real `openwhisk` npm client can be driven
 * against it over loopback HTTP. The API is the one Apache OpenWhisk documents in
 * "Using REST APIs with OpenWhisk" and in the controller's Swagger description (served
 * at /api/v1/api-docs): the collections /api/v1/namespaces/{namespace}/actions, /triggers,
 * /rules, /packages and /activations and their entities, behind HTTP Basic authentication,
 * with the system limits of OpenWhisk's reference documentation.
 *
 *   const { startOpenWhiskServer } = require('./support/openwhisk-server');
 *   const ow = await startOpenWhiskServer({ port: 0, users: { guest: 'uuid:key' }, blockingWaitMs: 60000 });
 *   ow.url; ow.key('guest'); ow.putAction(ns, name, action); ow.putPackage(ns, name, pkg);
 *   ow.putTrigger(ns, name, {parameters}); ow.putRule(ns, name, {trigger, action, status}); ow.firings;
 *   ow.entitle(ns, otherNs);
 *   ow.setRuntimes(runtimes); ow.onInvoke = (ns, fullName, params, ctx) => result;
 *   ow.invocations; ow.activations; ow.throttle = true; await ow.stop();
 *
 * Actions of kind nodejs:* with plain (non-binary) code run in a node:vm context that
 * mimics the Node.js action runtime (apache/openwhisk-runtime-nodejs core/nodejsActionBase):
 * warm "containers" are reused, a cold start reports `initTime`. Everything else needs
 * `onInvoke`.
 */

const http = require('node:http');
const crypto = require('node:crypto');
const vm = require('node:vm');
const util = require('node:util');
const nodeModule = require('node:module');
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
  invalidRuntime: (kind, kinds) =>
    `The specified runtime '${kind}' is not supported by this platform. Valid values are: '${kinds.join("', '")}'.`,
  runtimeDeprecated: (kind) =>
    `The '${kind}' runtime is no longer supported. You may read and delete but not update or invoke this action.`,
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
  const nanos = String(Math.floor((t - Math.floor(t / 1000) * 1000) * 1e6)).padStart(9, '0').slice(0, 9);
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

// ------------------------------------------------------------------------------------------
// "containers": where activations run

/**
 * A warm container for one action. For nodejs kinds it holds a vm context initialised with
 * the action code (the /init of the Node.js runtime); for hooked actions it holds nothing.
 */
class Container {
  constructor(server, key, action, mode) {
    this.server = server;
    this.key = key;
    this.action = action;
    this.mode = mode; // 'vm' | 'hook'
    this.active = 0;
    this.stopped = false;
    this.timers = new Set();
    this.immediates = new Set();
    this.intervals = new Set();
    this.sinks = []; // log arrays of the activations in flight
    this.orphanLogs = []; // output produced between activations (shows up in the next one, like docker logs)
    this.crash = null; // set when user code fails outside of a run (uncaught error in a timer)
    this.onCrash = null;
    this.env = {};
    this.context = null;
    this.handler = null;
  }

  log(stream, args) {
    const text = util.format(...args);
    const time = rfc3339Nano(nowPrecise());
    const lines = String(text).split('\n');
    const target = this.sinks.length ? this.sinks[this.sinks.length - 1] : this.orphanLogs;
    for (const l of lines) target.push(logLine(time, stream, l));
  }

  guard(fn) {
    return (...args) => {
      if (this.stopped) return undefined;
      try {
        return fn(...args);
      } catch (e) {
        this.fail(e);
        return undefined;
      }
    };
  }

  /** An uncaught error outside the run: the runtime process would die. */
  fail(err) {
    this.log('stderr', [cleanStack(err)]);
    this.crash = err;
    this.destroy();
    if (this.onCrash) this.onCrash(err);
  }

  makeConsole() {
    const out = (...a) => this.log('stdout', a);
    const err = (...a) => this.log('stderr', a);
    return {
      log: out,
      info: out,
      debug: out,
      dir: (o, opts) => this.log('stdout', [util.inspect(o, opts)]),
      error: err,
      warn: err,
      trace: (...a) => this.log('stderr', ['Trace: ' + util.format(...a) + '\n' + new Error().stack.split('\n').slice(2).join('\n')]),
      table: out,
      time: () => {},
      timeEnd: () => {},
      assert: (c, ...a) => {
        if (!c) err('Assertion failed' + (a.length ? ': ' + util.format(...a) : ''));
      },
    };
  }

  makeSandbox() {
    const c = this;
    const timers = {
      setTimeout(fn, ms, ...args) {
        const h = setTimeout(
          c.guard(() => {
            c.timers.delete(h);
            fn(...args);
          }),
          ms
        );
        c.timers.add(h);
        return h;
      },
      clearTimeout(h) {
        c.timers.delete(h);
        clearTimeout(h);
      },
      setInterval(fn, ms, ...args) {
        const h = setInterval(c.guard(() => fn(...args)), ms);
        c.intervals.add(h);
        return h;
      },
      clearInterval(h) {
        c.intervals.delete(h);
        clearInterval(h);
      },
      setImmediate(fn, ...args) {
        const h = setImmediate(
          c.guard(() => {
            c.immediates.delete(h);
            fn(...args);
          })
        );
        c.immediates.add(h);
        return h;
      },
      clearImmediate(h) {
        c.immediates.delete(h);
        clearImmediate(h);
      },
    };
    const env = this.env;
    const processShim = {
      env,
      version: process.version,
      versions: process.versions,
      platform: process.platform,
      arch: process.arch,
      argv: ['node', 'app.js'],
      pid: process.pid,
      cwd: () => '/nodejsAction',
      hrtime: process.hrtime,
      uptime: process.uptime,
      memoryUsage: process.memoryUsage,
      nextTick: (fn, ...args) => process.nextTick(c.guard(() => fn(...args))),
      stdout: { write: (s) => (this.log('stdout', [String(s).replace(/\n$/, '')]), true) },
      stderr: { write: (s) => (this.log('stderr', [String(s).replace(/\n$/, '')]), true) },
    };
    const moduleObj = { exports: {} };
    const sandbox = {
      console: this.makeConsole(),
      ...timers,
      queueMicrotask: (fn) => queueMicrotask(c.guard(fn)),
      process: processShim,
      Buffer,
      URL,
      URLSearchParams,
      TextEncoder,
      TextDecoder,
      AbortController,
      AbortSignal,
      structuredClone,
      atob,
      btoa,
      fetch: globalThis.fetch,
      Headers: globalThis.Headers,
      Request: globalThis.Request,
      Response: globalThis.Response,
      module: moduleObj,
      exports: moduleObj.exports,
      require: (name) => {
        if (typeof name === 'string' && nodeModule.isBuiltin(name)) return require(name);
        const e = new Error(`Cannot find module '${name}'`);
        e.code = 'MODULE_NOT_FOUND';
        throw e;
      },
    };
    sandbox.global = sandbox;
    return sandbox;
  }

  /** Like the Node.js runtime's /init with plain code. Returns null on success or a {status, body} error answer. */
  init(timeoutMs) {
    const exec = this.action.exec;
    const main = exec.main || 'main';
    const context = vm.createContext(this.makeSandbox(), { name: `openwhisk-action ${this.action.namespace}/${this.action.name}` });
    this.context = context;
    this.server._contextPromises.add(vm.runInContext('Promise', context));
    const wrapper = `(function(){\n${exec.code}\ntry {\n  return ${main}\n} catch (e) {\n  if (e.name === 'ReferenceError') {\n    return module.exports.${main} || exports.${main}\n  } else throw e\n}\n})()`;
    let handler;
    try {
      const script = new vm.Script(wrapper, { filename: `${this.action.name}.js` });
      handler = script.runInContext(context, { timeout: timeoutMs });
    } catch (e) {
      if (e && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return { timeout: true };
      cleanStack(e);
      return this.initFailure(e && e.stack ? String(e.stack) : String(e));
    }
    if (typeof handler !== 'function') {
      return this.initFailure(`Action entrypoint '${main}' is not a function.`);
    }
    this.handler = handler;
    this.runScript = new vm.Script('__ow_main__(JSON.parse(__ow_args__))', { filename: 'runner.js' });
    return null;
  }

  initFailure(reason) {
    this.log('stderr', ['Error during initialization:', reason]);
    this.destroy();
    return { status: 502, body: JSON.stringify({ error: `Initialization has failed due to: ${reason}` }) };
  }

  /**
   * Runs the action once (the Node.js runtime's /run). Resolves to {status, body} like the
   * proxy would answer, {timeout: true} or {crashed: true}.
   */
  run(args, timeoutMs, hookCall) {
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => finish({ timeout: true }), timeoutMs);
      this.server._timers.add(timer);
      const finish = (answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.server._timers.delete(timer);
        this.onCrash = null;
        resolve(answer);
      };
      this.onCrash = () => finish({ crashed: true });

      let result;
      try {
        if (hookCall) {
          result = hookCall();
        } else {
          Object.defineProperty(this.context, '__ow_main__', { value: this.handler, configurable: true, writable: true });
          Object.defineProperty(this.context, '__ow_args__', { value: JSON.stringify(args), configurable: true, writable: true });
          try {
            result = this.runScript.runInContext(this.context, { timeout: timeoutMs });
          } finally {
            delete this.context.__ow_main__;
            delete this.context.__ow_args__;
          }
        }
      } catch (e) {
        if (e && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
          finish({ timeout: true });
          return;
        }
        // the runtime: `An error has occurred: ${error}` and the container goes to `stopped`
        this.log('stderr', [cleanStack(e)]);
        this.stopped = true;
        finish({ status: 502, body: JSON.stringify({ error: `An error has occurred: ${e}` }) });
        return;
      }
      Promise.resolve(result)
        .then(
          (value) => (value === undefined ? {} : value),
          (error) => (error ? { error: serializeError(cleanStack(error)) } : { error: {} })
        )
        .then((value) => {
          if (typeof value !== 'object') {
            this.log('stderr', [`Result must be of type object but has type "${typeof value}":`, value]);
            finish({ status: 502, body: JSON.stringify({ error: 'The action did not return a dictionary.' }) });
            return;
          }
          let body;
          try {
            body = JSON.stringify(value);
          } catch (e) {
            this.log('stderr', [e]);
            finish({ crashed: true });
            return;
          }
          finish({ status: 200, body });
        })
        .catch(() => finish({ crashed: true }));
    });
  }

  destroy() {
    this.stopped = true;
    for (const h of this.timers) clearTimeout(h);
    for (const h of this.intervals) clearInterval(h);
    for (const h of this.immediates) clearImmediate(h);
    this.timers.clear();
    this.intervals.clear();
    this.immediates.clear();
  }
}

/** The platform's interpretation of a /run answer (ActivationResult.scala processRunResponseContent). */
function processRunResponse(status, str) {
  if (str.length > MAX_RESULT) {
    return {
      statusCode: 1,
      result: { error: MSG.truncatedResponse(str.slice(0, MAX_RESULT), str.length, MAX_RESULT) },
      size: str.length,
    };
  }
  const size = str.length;
  let parsed;
  try {
    parsed = JSON.parse(str);
  } catch {
    return { statusCode: 2, result: { error: MSG.invalidRunResponse(str) }, size };
  }
  if (isObject(parsed)) {
    if (status === 200) {
      if ('error' in parsed) return { statusCode: 1, result: { error: parsed.error }, size };
      return { statusCode: 0, result: parsed, size };
    }
    return { statusCode: 2, result: { error: 'error' in parsed ? parsed.error : MSG.invalidRunResponse(str) }, size };
  }
  if (Array.isArray(parsed)) {
    if (status === 200) return { statusCode: 0, result: parsed, size };
    return { statusCode: 2, result: { error: MSG.invalidRunResponse(str) }, size };
  }
  return { statusCode: 2, result: { error: MSG.invalidRunResponse(str) }, size };
}

/** The platform's interpretation of a failed /init answer (processInitResponseContent). */
function processInitResponse(str) {
  const size = str.length;
  try {
    const parsed = JSON.parse(str);
    if (isObject(parsed)) {
      return { statusCode: 2, result: { error: 'error' in parsed ? parsed.error : `The action failed during initialization: ${str}` }, size };
    }
  } catch {
    // fall through
  }
  return { statusCode: 2, result: { error: `The action failed during initialization: ${str}` }, size };
}

const STATUS_TEXT = ['success', 'application error', 'action developer error', 'whisk internal error'];

function extendedResponse(r) {
  const o = { result: clone(r.result) };
  if (r.size !== undefined) o.size = r.size;
  o.success = r.statusCode === 0;
  o.status = STATUS_TEXT[r.statusCode];
  return o;
}

// ------------------------------------------------------------------------------------------
// the server

class OpenWhiskServer {
  constructor(options) {
    this.users = { ...(options.users || { guest: GUEST_KEY }) };
    this.entitlements = {}; // namespace -> other namespaces its key may use (see entitle)
    this.blockingWaitMs = options.blockingWaitMs === undefined ? 60000 : Number(options.blockingWaitMs);
    this.port = options.port || 0;
    this.host = '127.0.0.1';
    this.onInvoke = null;
    this.throttle = false;
    this.invocations = [];
    this.firings = []; // every trigger POST past authentication: {namespace, name, params, status, activationId}
    this.activations = new Map();
    this.url = null;
    this._runtimes = defaultRuntimes();
    this._entities = new Map(); // docid -> {type: 'action'|'package', doc}
    this._activationMeta = new Map(); // id -> {statusCode}
    this._pool = new Map(); // container key -> Container[]
    this._timers = new Set();
    this._contextPromises = new WeakSet();
    this._seq = 0;
    this._onUnhandledRejection = (reason, promise) => {
      if (promise && this._contextPromises.has(promise.constructor)) return; // action code; the runtime keeps going
      if (process.listenerCount('unhandledRejection') <= 1) throw reason; // keep Node's default behaviour for everything else
    };
    this.server = http.createServer((req, res) => this._handle(req, res));
    this.server.keepAliveTimeout = 1000;
  }

  // --- public helpers ---------------------------------------------------------------------

  key(namespace) {
    return this.users[namespace];
  }

  /** Lets `namespace`'s key use `other` too (OpenWhisk's entitlement provider can grant a subject rights in other namespaces). */
  entitle(namespace, other) {
    (this.entitlements[namespace] ||= []).push(other);
    return this;
  }

  setRuntimes(runtimes) {
    const src = runtimes && isObject(runtimes.runtimes) ? runtimes.runtimes : runtimes;
    const out = {};
    for (const [family, list] of Object.entries(src || {})) {
      if (!Array.isArray(list)) continue;
      out[family] = list.map((r) => {
        const image = isObject(r.image)
          ? [r.image.registry, r.image.prefix, r.image.name].filter(Boolean).join('/') + (r.image.tag ? `:${r.image.tag}` : '')
          : r.image;
        return {
          kind: r.kind,
          image,
          deprecated: Boolean(r.deprecated),
          default: Boolean(r.default),
          attached: r.attached === undefined ? true : Boolean(r.attached),
          requireMain: Boolean(r.requireMain),
        };
      });
    }
    this._runtimes = out;
    return this;
  }

  /** Creates or replaces an action (name 'name' or 'pkg/name'); returns the stored entity JSON. */
  putAction(namespace, name, action = {}) {
    const { nsPath, simple } = this._splitName(namespace, name);
    if (nsPath.includes('/')) {
      const pkg = this._get(namespace, nsPath.split('/')[1]);
      if (!pkg || pkg.type !== 'package') throw new Error(`putAction: package '${nsPath}' does not exist (use putPackage first)`);
      if (pkg.doc.binding) throw new Error(`putAction: ${MSG.notAllowedOnBinding}`);
    }
    const existing = this._entities.get(`${nsPath}/${simple}`);
    if (existing && existing.type !== 'action') throw new Error(`putAction: ${MSG.conformance}`);
    let doc;
    try {
      doc = this._buildAction(nsPath, simple, action, existing ? existing.doc : null, namespace);
    } catch (e) {
      throw new Error(`putAction: ${e.message}`, { cause: e });
    }
    this._entities.set(`${nsPath}/${simple}`, { type: 'action', doc, seq: ++this._seq });
    return this._actionJson(doc, true);
  }

  /** Creates or replaces a package or package binding; returns the stored entity JSON. */
  putPackage(namespace, name, pkg = {}) {
    checkEntityName(name);
    const existing = this._entities.get(`${namespace}/${name}`);
    if (existing && existing.type !== 'package') throw new Error(`putPackage: ${MSG.conformance}`);
    let doc;
    try {
      doc = this._buildPackage(namespace, name, pkg, existing ? existing.doc : null, null);
    } catch (e) {
      throw new Error(`putPackage: ${e.message}`, { cause: e });
    }
    this._entities.set(`${namespace}/${name}`, { type: 'package', doc, seq: ++this._seq });
    return this._packageJson(doc);
  }

  /** Creates or replaces a trigger (namespace-level); returns its JSON. */
  putTrigger(namespace, name, trigger = {}) {
    checkEntityName(name);
    const existing = this._entities.get(`${namespace}/${name}`);
    if (existing && existing.type !== 'trigger') throw new Error(`putTrigger: ${MSG.conformance}`);
    const doc = {
      namespace, name,
      parameters: clone(trigger.parameters || (existing && existing.doc.parameters) || []),
      annotations: clone(trigger.annotations || []),
      version: existing ? upPatch(existing.doc.version) : '0.0.1',
      publish: false,
      limits: {},
      updated: Date.now(),
    };
    this._entities.set(`${namespace}/${name}`, { type: 'trigger', doc, seq: ++this._seq });
    return this._triggerJson(doc);
  }

  /** Creates or replaces a rule {trigger, action, status: 'active' (default) | 'inactive'}; returns its JSON. */
  putRule(namespace, name, rule) {
    checkEntityName(name);
    const doc = this._buildRule(namespace, name, rule, this._entities.get(`${namespace}/${name}`));
    this._entities.set(`${namespace}/${name}`, { type: 'rule', doc, seq: ++this._seq });
    return this._ruleJson(doc);
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        this.port = this.server.address().port;
        this.url = `http://${this.host}:${this.port}`;
        process.on('unhandledRejection', this._onUnhandledRejection);
        resolve(this);
      });
    });
  }

  async stop() {
    process.off('unhandledRejection', this._onUnhandledRejection);
    for (const list of this._pool.values()) for (const c of list) c.destroy();
    this._pool.clear();
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    await new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- entities ---------------------------------------------------------------------------

  _splitName(namespace, name) {
    if (typeof name !== 'string') throw new Error('name must be a string');
    const parts = name.split('/');
    if (parts.length > 2) throw new Error(`invalid action name '${name}'`);
    for (const p of parts) checkEntityName(p);
    return parts.length === 2 ? { nsPath: `${namespace}/${parts[0]}`, simple: parts[1] } : { nsPath: namespace, simple: name };
  }

  _get(nsPath, name) {
    return this._entities.get(`${nsPath}/${name}`) || null;
  }

  _kinds() {
    const out = [];
    for (const list of Object.values(this._runtimes)) for (const r of list) out.push(r.kind);
    return out;
  }

  _resolveKind(kind) {
    const m = /^(.+):default$/.exec(kind);
    for (const [family, list] of Object.entries(this._runtimes)) {
      for (const r of list) {
        if (m ? family === m[1] && r.default : r.kind === kind) return r;
      }
    }
    return null;
  }

  _parseFqn(s, userNs) {
    if (typeof s !== 'string') throw new OwError(400, MSG.malformedContent('fully qualified entity name malformed'));
    const parts = s.replace(/^\//, '').split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
      throw new OwError(400, MSG.malformedContent('The fully qualified name of the entity must contain at least the namespace and the name of the entity.'));
    }
    if (parts[0] === '_') parts[0] = userNs;
    return '/' + parts.join('/');
  }

  _parseExec(exec, userNs) {
    if (!isObject(exec) || typeof exec.kind !== 'string') throw new OwError(400, MSG.malformedContent("'kind' must be a string defined in 'exec'"));
    const kind = exec.kind.trim().toLowerCase();
    if (exec.main !== undefined && typeof exec.main !== 'string') {
      throw new OwError(400, MSG.malformedContent(`if defined, 'main' be a string in 'exec' for '${kind}' actions`));
    }
    if (kind === 'sequence') {
      if (!Array.isArray(exec.components)) {
        throw new OwError(400, MSG.malformedContent(exec.components === undefined ? "'components' must be defined for sequence kind" : "'components' must be an array"));
      }
      return { kind, components: exec.components.map((c) => this._parseFqn(c, userNs)) };
    }
    if (kind === 'blackbox') {
      if (typeof exec.image !== 'string' || !exec.image.trim()) {
        throw new OwError(400, MSG.malformedContent("'image' must be a string defined in 'exec' for 'blackbox' actions"));
      }
      const out = { kind, image: exec.image.trim(), binary: false };
      if (typeof exec.code === 'string' && exec.code.trim()) {
        out.code = exec.code;
        out.binary = isBinaryCode(exec.code);
      }
      if (exec.main !== undefined) out.main = exec.main;
      return out;
    }
    const rt = this._resolveKind(kind);
    if (!rt) throw new OwError(400, MSG.malformedContent(MSG.invalidRuntime(kind, [...this._kinds(), 'sequence', 'blackbox'])));
    if (typeof exec.code !== 'string') {
      throw new OwError(400, MSG.malformedContent(`'code' must be a string defined in 'exec' for '${kind}' actions`));
    }
    if (rt.requireMain && exec.main === undefined) {
      throw new OwError(400, MSG.malformedContent(`'main' must be a string defined in 'exec' for '${kind}' actions`));
    }
    if (rt.deprecated) throw new OwError(400, MSG.runtimeDeprecated(rt.kind));
    const out = { kind: rt.kind, code: exec.code, binary: isBinaryCode(exec.code) };
    if (exec.main !== undefined) out.main = exec.main;
    return out;
  }

  _parseLimits(limits, base) {
    if (limits === undefined) return { ...base };
    if (!isObject(limits)) throw new OwError(400, MSG.malformedContent('limits malformed'));
    const out = { ...base };
    for (const k of ['timeout', 'memory', 'logs', 'concurrency']) {
      if (limits[k] === undefined) continue;
      const v = limits[k];
      if (!Number.isInteger(v)) throw new OwError(400, MSG.malformedContent(`${k} limit must be an integer`));
      const [min, max] = LIMIT_RANGES[k];
      if (v < min || v > max) {
        let msg;
        if (k === 'timeout') msg = `duration ${v} milliseconds ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max} milliseconds`;
        else if (k === 'concurrency') msg = `concurrency ${v} ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max}`;
        else msg = `${k === 'logs' ? 'log' : 'memory'} size ${v} MB ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max} MB`;
        throw new OwError(400, MSG.malformedContent(msg));
      }
      out[k] = v;
    }
    if (limits.instances !== undefined) out.instances = limits.instances;
    return out;
  }

  /** WhiskActionPut applied to an existing action (update) or nothing (create). */
  _buildAction(nsPath, name, content, existing, userNs) {
    if (!isObject(content)) throw new OwError(400, MSG.malformedContent('Object expected'));
    checkEntityName(name);
    const exec = content.exec !== undefined ? this._parseExec(content.exec, userNs) : undefined;
    if (!existing && !exec) throw new OwError(400, 'exec undefined');
    if (exec && exec.code && exec.code.length > MAX_CODE) {
      throw new OwError(413, MSG.entityTooBig('Code size', exec.code.length, MAX_CODE));
    }
    const parameters = readParams(content.parameters);
    const annotations = readParams(content.annotations, 'annotations');
    if (content.version !== undefined && (typeof content.version !== 'string' || !SEMVER_RE.test(content.version))) {
      throw new OwError(400, MSG.malformedContent('bad semantic version'));
    }
    if (content.publish !== undefined && typeof content.publish !== 'boolean') throw new OwError(400, MSG.malformedContent('publish must be a boolean'));
    if (parameters && JSON.stringify(paramsToObject(parameters)).length > MAX_PARAMETERS) {
      throw new OwError(413, MSG.entityTooBig('Parameters', JSON.stringify(paramsToObject(parameters)).length, MAX_PARAMETERS));
    }
    const finalExec = exec || existing.exec;
    let params;
    if (finalExec.kind === 'sequence' && exec) params = [{ key: '_actions', value: exec.components.slice() }];
    else if (exec) params = parameters || (existing && existing.exec.kind !== 'sequence' ? existing.parameters : []);
    else params = existing.exec.kind === 'sequence' ? existing.parameters : parameters || existing.parameters;

    let anns;
    if (existing) {
      let base = existing.annotations;
      if (Array.isArray(content.delAnnotations)) for (const k of content.delAnnotations) base = removeKey(base, k);
      anns = mergeParams(base, annotations || []);
    } else {
      anns = annotations || [];
      if (getAnnotation(anns, 'provide-api-key') === undefined) anns = mergeParams(anns, [{ key: 'provide-api-key', value: false }]);
    }
    anns = mergeParams(anns, [{ key: 'exec', value: finalExec.kind }]);

    return {
      namespace: nsPath,
      name,
      exec: finalExec,
      parameters: params,
      limits: this._parseLimits(content.limits, existing ? existing.limits : DEFAULT_LIMITS),
      version: content.version || (existing ? upPatch(existing.version) : '0.0.1'),
      publish: content.publish !== undefined ? content.publish : existing ? existing.publish : false,
      annotations: anns,
      updated: Date.now(),
    };
  }

  _buildPackage(namespace, name, content, existing, user) {
    if (!isObject(content)) throw new OwError(400, MSG.malformedContent('Object expected'));
    if (name === 'default') throw new OwError(400, MSG.packageNameIsReserved(name));
    let binding;
    if (content.binding !== undefined && !(isObject(content.binding) && Object.keys(content.binding).length === 0)) {
      const b = content.binding;
      if (!isObject(b) || typeof b.namespace !== 'string' || typeof b.name !== 'string') {
        throw new OwError(400, MSG.malformedContent('binding malformed'));
      }
      binding = { namespace: b.namespace === '_' ? namespace : b.namespace, name: b.name };
      if (existing && !existing.binding) throw new OwError(409, MSG.packageCannotBecomeBinding);
      const target = this._get(binding.namespace, binding.name);
      if (!target) throw new OwError(400, MSG.bindingDoesNotExist);
      if (target.type !== 'package') throw new OwError(409, MSG.requestedBindingIsNotValid);
      if (target.doc.binding) throw new OwError(400, MSG.bindingCannotReferenceBinding);
      if (user && binding.namespace !== user.namespace && !target.doc.publish) throw new OwError(403, MSG.forbidden);
    }
    const parameters = readParams(content.parameters);
    const annotations = readParams(content.annotations, 'annotations');
    if (content.version !== undefined && (typeof content.version !== 'string' || !SEMVER_RE.test(content.version))) {
      throw new OwError(400, MSG.malformedContent('bad semantic version'));
    }
    const finalBinding = binding || (existing ? existing.binding : undefined);
    let anns = removeKey(annotations || (existing ? existing.annotations : []), 'binding');
    if (finalBinding) anns = mergeParams(anns, [{ key: 'binding', value: { ...finalBinding } }]);
    return {
      namespace,
      name,
      binding: finalBinding,
      parameters: parameters || (existing ? existing.parameters : []),
      version: content.version || (existing ? upPatch(existing.version) : '0.0.1'),
      publish: content.publish !== undefined ? Boolean(content.publish) : existing ? existing.publish : false,
      annotations: anns,
      updated: Date.now(),
    };
  }

  _execJson(exec, withCode) {
    if (exec.kind === 'sequence') return { kind: exec.kind, components: exec.components.slice() };
    const o = { kind: exec.kind };
    if (exec.kind === 'blackbox') o.image = exec.image;
    if (withCode && exec.code !== undefined) o.code = exec.code;
    o.binary = exec.binary;
    if (exec.main !== undefined) o.main = exec.main;
    return o;
  }

  _actionJson(doc, withCode, extra = {}) {
    const o = {
      namespace: doc.namespace,
      name: doc.name,
      exec: this._execJson(doc.exec, withCode),
      parameters: paramsJson(extra.parameters || doc.parameters),
      limits: { ...doc.limits },
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
    };
    if (!withCode && extra.binding) o.binding = extra.binding;
    return o;
  }

  _actionSummary(doc) {
    return {
      namespace: doc.namespace,
      name: doc.name,
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
      limits: { ...doc.limits },
      exec: { binary: doc.exec.kind === 'sequence' ? false : Boolean(doc.exec.binary) },
    };
  }

  _packageJson(doc, parameters) {
    return {
      namespace: doc.namespace,
      name: doc.name,
      binding: doc.binding ? { ...doc.binding } : {},
      parameters: paramsJson(parameters || doc.parameters),
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
    };
  }

  _sorted(filter) {
    return [...this._entities.values()].filter(filter).sort((a, b) => b.doc.updated - a.doc.updated || b.seq - a.seq);
  }

  /**
   * WhiskPackage.resolveBinding(mergeParameters = true): the real package behind a package
   * or binding, with binding parameters overriding package parameters.
   */
  _resolvePackage(namespace, name, user) {
    const e = this._get(namespace, name);
    if (!e) throw new OwError(404, MSG.notFound);
    if (e.type !== 'package') throw new OwError(409, MSG.conformance);
    if (user && namespace !== user.namespace && !e.doc.publish) throw new OwError(403, MSG.forbidden);
    if (!e.doc.binding) return { pkg: e.doc, parameters: e.doc.parameters };
    const b = e.doc.binding;
    if (b.namespace === namespace && b.name === name) throw new OwError(404, MSG.notFound);
    const inner = this._resolvePackage(b.namespace, b.name, user && b.namespace !== user.namespace ? user : null);
    return { pkg: inner.pkg, parameters: mergeParams(inner.parameters, e.doc.parameters) };
  }

  /**
   * WhiskActionMetaData.resolveActionAndMergeParameters: the action (in the real package)
   * with package (and binding) parameters merged under its own.
   */
  _resolveAction(namespace, pkgName, name, user) {
    if (!pkgName) {
      const e = this._get(namespace, name);
      if (!e) throw new OwError(404, MSG.notFound);
      if (e.type !== 'action') throw new OwError(409, MSG.conformance);
      return { doc: e.doc, parameters: e.doc.parameters, binding: undefined };
    }
    const { pkg, parameters } = this._resolvePackage(namespace, pkgName, user);
    const fullPath = `${pkg.namespace}/${pkg.name}`;
    const e = this._get(fullPath, name);
    if (!e) throw new OwError(404, MSG.notFound);
    if (e.type !== 'action') throw new OwError(409, MSG.conformance);
    const requested = `${namespace}/${pkgName}`;
    return { doc: e.doc, parameters: mergeParams(parameters, e.doc.parameters), binding: requested === fullPath ? undefined : requested };
  }

  _resolveFqn(fqn) {
    const parts = fqn.replace(/^\//, '').split('/');
    return parts.length === 3 ? this._resolveAction(parts[0], parts[1], parts[2], null) : this._resolveAction(parts[0], null, parts[1], null);
  }

  /** checkSequenceActionLimits: length, existence, cycles. */
  _checkSequence(selfFqn, components) {
    if (components.length > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
    if (components.length === 0) throw new OwError(400, MSG.sequenceNoComponent);
    const resolveName = (fqn) => {
      const parts = fqn.replace(/^\//, '').split('/');
      if (parts.length === 2) return `/${parts[0]}/${parts[1]}`;
      const { pkg } = this._resolvePackage(parts[0], parts[1], null);
      return `/${pkg.namespace}/${pkg.name}/${parts[2]}`;
    };
    const count = (comps, depth) => {
      let n = 0;
      for (const c of comps) {
        let resolved;
        let doc;
        try {
          resolved = resolveName(c);
          doc = this._resolveFqn(c).doc;
        } catch {
          throw new OwError(400, MSG.sequenceComponentNotFound);
        }
        if (resolved === selfFqn) throw new OwError(400, MSG.sequenceIsCyclic);
        if (doc.exec.kind === 'sequence') {
          if (depth > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
          n += count(doc.exec.components, depth + 1);
        } else n += 1;
        if (n > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
      }
      return n;
    };
    count(components, 0);
  }

  // --- HTTP plumbing ----------------------------------------------------------------------

  _send(res, status, body, headers = {}) {
    const data = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(data),
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': 'GET, DELETE, POST, PUT, HEAD',
      'Access-Control-Allow-Headers': 'Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent',
      ...headers,
    });
    res.end(data);
  }

  _readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c) => {
        size += c.length;
        if (size > MAX_REQUEST_BODY) tooBig = true;
        else chunks.push(c);
      });
      req.on('end', () => (tooBig ? reject(new OwError(413, MSG.entityTooBig('Request', size, MAX_REQUEST_BODY))) : resolve(Buffer.concat(chunks))));
      req.on('error', reject);
    });
  }

  /** Parses a JSON request entity; undefined when empty. */
  _jsonEntity(req, buf) {
    if (!buf.length) return undefined;
    const ct = String(req.headers['content-type'] || '').toLowerCase();
    if (!ct.startsWith('application/json')) throw new OwError(415, MSG.unsupportedContentType);
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (e) {
      throw new OwError(400, MSG.malformedContent(e.message));
    }
  }

  _authenticate(req) {
    const h = req.headers.authorization;
    const challenge = { 'WWW-Authenticate': 'Basic realm="OpenWhisk secure realm"' };
    if (!h) throw new OwError(401, MSG.authMissing, challenge);
    const m = /^Basic\s+(.+)$/i.exec(h);
    if (!m) throw new OwError(401, MSG.authInvalid, challenge);
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    for (const [namespace, key] of Object.entries(this.users)) {
      if (key === decoded) return { namespace, subject: namespace, key };
    }
    throw new OwError(401, MSG.authInvalid, challenge);
  }

  async _handle(req, res) {
    const tid = newTid();
    res.setHeader('X-Request-ID', tid);
    try {
      await this._route(req, res, tid);
    } catch (e) {
      if (res.headersSent) return;
      if (e instanceof OwError) this._send(res, e.status, { error: e.message, code: tid }, e.headers);
      else this._send(res, 500, { error: 'There was an internal server error.', code: tid });
    }
  }

  async _route(req, res, tid) {
    const url = new URL(req.url, 'http://localhost');
    const raw = url.pathname.split('/').slice(1);
    let segs;
    try {
      segs = raw.map(decodeURIComponent);
    } catch {
      throw new OwError(400, 'Illegal request-target');
    }
    const method = req.method.toUpperCase();
    const q = url.searchParams;

    if (method === 'OPTIONS') return this._send(res, 200, undefined, { 'Content-Length': 0 });

    // GET / (unauthenticated deployment info with the runtimes manifest) and /ping
    if (url.pathname === '/' && method === 'GET') return this._send(res, 200, this._info());
    if (url.pathname === '/ping' && method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
      return res.end('pong');
    }
    if (segs[0] !== 'api' || segs[1] !== 'v1') throw new OwError(404, MSG.routeNotFound);
    const rest = segs.slice(2);
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      return this._send(res, 200, {
        description: 'OpenWhisk API',
        api_version: '1.0.0',
        api_version_path: 'v1',
        build: '2024-01-01T00:00:00Z',
        buildno: 'openwhisk-test-server',
        swagger_paths: { ui: '/docs', 'api-docs': '/api-docs' },
      });
    }

    const user = this._authenticate(req);
    const body = await this._readBody(req);

    if (rest[0] !== 'namespaces') throw new OwError(404, MSG.routeNotFound);
    // GET /namespaces
    if (rest.length === 1 || (rest.length === 2 && rest[1] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      return this._send(res, 200, [user.namespace]);
    }
    let ns = rest[1];
    if (ns === '_') ns = user.namespace;
    const collection = rest[2];
    const tail = rest.slice(3);
    if (!collection) throw new OwError(404, MSG.routeNotFound);
    const ctx = { req, res, tid, user, ns, q, method, body };
    switch (collection) {
      case 'actions':
        return this._actions(ctx, tail);
      case 'packages':
        return this._packages(ctx, tail);
      case 'activations':
        return this._activationsRoute(ctx, tail);
      case 'triggers':
        return this._triggers(ctx, tail);
      case 'rules':
        return this._rules(ctx, tail);
      default:
        throw new OwError(404, MSG.routeNotFound);
    }
  }

  _info() {
    return {
      description: 'OpenWhisk',
      support: { github: 'https://github.com/apache/openwhisk/issues', slack: 'http://slack.openwhisk.org' },
      api_paths: ['/api/v1'],
      limits: {
        actions_per_minute: ACTIONS_PER_MINUTE,
        triggers_per_minute: 60,
        concurrent_actions: 100,
        sequence_length: SEQUENCE_LIMIT,
        default_min_action_duration: LIMIT_RANGES.timeout[0],
        default_max_action_duration: LIMIT_RANGES.timeout[1],
        default_min_action_memory: LIMIT_RANGES.memory[0] * MB,
        default_max_action_memory: LIMIT_RANGES.memory[1] * MB,
        default_min_action_logs: LIMIT_RANGES.logs[0] * MB,
        default_max_action_logs: LIMIT_RANGES.logs[1] * MB,
        min_action_duration: LIMIT_RANGES.timeout[0],
        max_action_duration: LIMIT_RANGES.timeout[1],
        min_action_memory: LIMIT_RANGES.memory[0] * MB,
        max_action_memory: LIMIT_RANGES.memory[1] * MB,
        min_action_logs: LIMIT_RANGES.logs[0] * MB,
        max_action_logs: LIMIT_RANGES.logs[1] * MB,
      },
      runtimes: clone(this._runtimes),
    };
  }

  /** Entitlement: the caller's own namespace only (published packages may be read/activated). */
  _entitled(ctx, sharedOk) {
    if (ctx.ns === ctx.user.namespace) return;
    if ((this.entitlements[ctx.user.namespace] || []).includes(ctx.ns)) return;
    if (!/^\w[\w@ .&-]*$/.test(ctx.ns)) throw new OwError(400, MSG.namespaceIllegal);
    if (sharedOk && sharedOk()) return;
    throw new OwError(403, MSG.forbidden);
  }

  _throttled() {
    if (this.throttle === true) return true;
    if (typeof this.throttle === 'number' && this.throttle > 0) {
      this.throttle -= 1;
      return true;
    }
    return false;
  }

  // --- /triggers and /rules (apache/openwhisk Triggers.scala, Rules.scala) ----------------------

  _triggerJson(doc) {
    const out = { namespace: doc.namespace, name: doc.name, version: doc.version, publish: false, parameters: clone(doc.parameters), annotations: clone(doc.annotations), limits: {}, updated: doc.updated };
    const rules = this._rulesOf(doc.namespace, doc.name);
    if (rules.length) {
      out.rules = {};
      for (const r of rules) out.rules[`${r.namespace}/${r.name}`] = { action: { name: r.action.name, path: r.action.path }, status: r.status };
    }
    return out;
  }

  _ruleJson(doc) {
    return { namespace: doc.namespace, name: doc.name, version: doc.version, publish: false, annotations: [], status: doc.status, trigger: clone(doc.trigger), action: clone(doc.action), updated: doc.updated };
  }

  _rulesOf(namespace, trigger) {
    return this._sorted((e) => e.type === 'rule' && e.doc.trigger.path === namespace && e.doc.trigger.name === trigger).map((e) => e.doc);
  }

  /** "/ns/[pkg/]name", "ns/name" or "name" → {path, name}, relative names in `namespace`. */
  _entityRef(s, namespace) {
    const parts = String(s).replace(/^\//, '').split('/').filter(Boolean);
    const abs = String(s).startsWith('/');
    if (parts.length === 0) throw new OwError(400, MSG.malformedContent('The fully qualified name of the entity must contain at least the namespace and the name of the entity.'));
    if (!abs) return { path: parts.length > 1 ? `${namespace}/${parts.slice(0, -1).join('/')}` : namespace, name: parts[parts.length - 1] };
    let ns = parts[0] === '_' ? namespace : parts[0];
    return { path: [ns, ...parts.slice(1, -1)].join('/'), name: parts[parts.length - 1] };
  }

  _buildRule(namespace, name, rule, existing) {
    if (!rule || !rule.trigger || !rule.action) throw new OwError(400, MSG.malformedContent("'trigger' and 'action' are required"));
    const trigger = this._entityRef(rule.trigger, namespace);
    const action = this._entityRef(rule.action, namespace);
    const t = this._entities.get(`${trigger.path}/${trigger.name}`);
    if (!t || t.type !== 'trigger') throw new OwError(404, MSG.notFound);
    const status = rule.status === 'inactive' ? 'inactive' : 'active';
    return { namespace, name, trigger, action, status, version: existing ? upPatch(existing.doc.version) : '0.0.1', updated: Date.now() };
  }

  async _triggers(ctx, tail) {
    const { method, ns, user, q } = ctx;
    this._entitled(ctx, null);
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      const { limit, skip, count } = parseListArgs(q, 'triggers');
      const list = this._sorted((e) => e.type === 'trigger' && e.doc.namespace === ns);
      if (count) return this._send(ctx.res, 200, { triggers: list.length });
      return this._send(ctx.res, 200, list.slice(skip, skip + limit).map((e) => ({ namespace: ns, name: e.doc.name, version: e.doc.version, publish: false, annotations: clone(e.doc.annotations) })));
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'trigger') throw new OwError(409, MSG.conformance);
    switch (method) {
      case 'GET':
        if (!existing) throw new OwError(404, MSG.notFound);
        return this._send(ctx.res, 200, this._triggerJson(existing.doc));
      case 'PUT': {
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        if (existing && !parseBool('overwrite', q.get('overwrite'), false)) throw new OwError(409, MSG.conflict);
        return this._send(ctx.res, 200, this.putTrigger(ns, name, content));
      }
      case 'DELETE':
        if (!existing) throw new OwError(404, MSG.notFound);
        this._entities.delete(docid);
        return this._send(ctx.res, 200, this._triggerJson(existing.doc));
      case 'POST':
        return this._fire(ctx, name, existing, user);
      default:
        throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE', 'POST']));
    }
  }

  /**
   * POST /triggers/{name}: 404 for an unknown trigger; 204 (and no record) without an active rule;
   * else 202 {activationId} at once, each active rule's action invoked non-blocking with the trigger's
   * parameters and the payload over them, and a trigger activation whose logs hold one JSON line per rule.
   */
  async _fire(ctx, name, existing, user) {
    const record = { namespace: ctx.ns, name, params: undefined, status: null, activationId: null };
    this.firings.push(record);
    const reply = (status, body, headers) => {
      record.status = status;
      return this._send(ctx.res, status, body, headers);
    };
    if (ctx.body.length > MAX_PAYLOAD) return reply(413, { error: MSG.entityTooBig('Request', ctx.body.length, MAX_PAYLOAD), code: ctx.tid });
    const payload = this._jsonEntity(ctx.req, ctx.body);
    record.params = clone(payload) || {};
    if (!existing) return reply(404, { error: MSG.notFound, code: ctx.tid });
    if (this._throttled()) return reply(429, { error: MSG.tooManyRequests(61, 60), code: ctx.tid });
    const rules = this._rulesOf(existing.doc.namespace, name).filter((r) => r.status === 'active');
    if (rules.length === 0) {
      // akka-http's complete(NoContent): no body, no Content-Type
      record.status = 204;
      ctx.res.writeHead(204, { 'Access-Control-Allow-Origin': '*' });
      return ctx.res.end();
    }
    const args = {};
    for (const p of existing.doc.parameters || []) args[p.key] = p.value;
    Object.assign(args, payload || {});
    const activationId = newActivationId();
    record.activationId = activationId;
    const start = Date.now();
    const logs = [];
    for (const r of rules) {
      const ids = { rule: `${r.namespace}/${r.name}`, action: `${r.action.path}/${r.action.name}` };
      try {
        const [nsOfAction, ...pkg] = r.action.path.split('/');
        const action = this._resolveAction(nsOfAction, pkg.length ? pkg.join('/') : null, r.action.name, nsOfAction === user.namespace ? null : user);
        const { activationId: id } =
          action.doc.exec.kind === 'sequence'
            ? this._invokeSequence(user, action, clone(args), { topmost: true, transStart: start })
            : this._invokePrimitive(user, action, clone(args), { transStart: start });
        this.invocations.push({ namespace: nsOfAction, name: pkg.length ? `${pkg.join('/')}/${r.action.name}` : r.action.name, params: clone(args), blocking: false, result: false, activationId: id, status: 202, rule: ids.rule });
        logs.push(JSON.stringify({ statusCode: 0, success: true, activationId: id, ...ids }));
      } catch (e) {
        const status = e instanceof OwError ? e.status : 500;
        logs.push(JSON.stringify({ statusCode: status >= 500 ? 3 : 1, success: false, error: e.message, ...ids }));
      }
    }
    this._store({
      activationId, namespace: user.namespace, name, subject: user.subject, version: existing.doc.version, publish: false,
      start, end: 0, duration: 0, response: { status: 'success', statusCode: 0, success: true, result: clone(payload) || {} },
      logs, annotations: [],
    }, 0);
    return reply(202, { activationId }, { 'x-openwhisk-activation-id': activationId });
  }

  async _rules(ctx, tail) {
    const { method, ns, q } = ctx;
    this._entitled(ctx, null);
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      const list = this._sorted((e) => e.type === 'rule' && e.doc.namespace === ns);
      return this._send(ctx.res, 200, list.map((e) => this._ruleJson(e.doc)));
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'rule') throw new OwError(409, MSG.conformance);
    switch (method) {
      case 'GET':
        if (!existing) throw new OwError(404, MSG.notFound);
        return this._send(ctx.res, 200, this._ruleJson(existing.doc));
      case 'PUT': {
        if (existing && !parseBool('overwrite', q.get('overwrite'), false)) throw new OwError(409, MSG.conflict);
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        return this._send(ctx.res, 200, this.putRule(ns, name, content));
      }
      case 'POST': {
        // enable / disable: {status: "active" | "inactive"}
        if (!existing) throw new OwError(404, MSG.notFound);
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        if (content.status !== 'active' && content.status !== 'inactive') throw new OwError(400, MSG.malformedContent("status must be 'active' or 'inactive'"));
        if (existing.doc.status === content.status) return this._send(ctx.res, 200, undefined, { 'Content-Length': 0 });
        existing.doc.status = content.status;
        return this._send(ctx.res, 200, undefined, { 'Content-Length': 0 });
      }
      case 'DELETE':
        if (!existing) throw new OwError(404, MSG.notFound);
        this._entities.delete(docid);
        return this._send(ctx.res, 200, this._ruleJson(existing.doc));
      default:
        throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE', 'POST']));
    }
  }

  // --- /actions ---------------------------------------------------------------------------

  async _actions(ctx, tail) {
    const { method, q, ns, user } = ctx;
    const isShared = (pkgName) => () => {
      const e = this._get(ns, pkgName);
      return Boolean(e && e.type === 'package' && e.doc.publish && (method === 'GET' || method === 'POST'));
    };

    // collection: list
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      this._entitled(ctx);
      const { limit, skip, count } = parseListArgs(q, 'actions');
      const list = this._sorted((e) => e.type === 'action' && e.doc.namespace.split('/')[0] === ns);
      if (count) return this._send(ctx.res, 200, { actions: list.length });
      return this._send(ctx.res, 200, list.slice(skip, skip + limit).map((e) => this._actionSummary(e.doc)));
    }

    // GET /actions/{pkg}/ lists the actions of a package or binding
    if (tail.length === 2 && tail[1] === '') {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      checkEntityName(tail[0]);
      this._entitled(ctx, isShared(tail[0]));
      const { pkg } = this._resolvePackage(ns, tail[0], ns === user.namespace ? null : user);
      const { limit, skip, count } = parseListArgs(q, 'actions');
      const path = `${pkg.namespace}/${pkg.name}`;
      const list = this._sorted((e) => e.type === 'action' && e.doc.namespace === path);
      if (count) return this._send(ctx.res, 200, { actions: list.length });
      return this._send(ctx.res, 200, list.slice(skip, skip + limit).map((e) => this._actionSummary(e.doc)));
    }

    if (tail.length > 2) throw new OwError(404, MSG.routeNotFound);
    const pkgName = tail.length === 2 ? tail[0] : null;
    const name = tail[tail.length - 1];
    if (pkgName !== null) checkEntityName(pkgName);
    checkEntityName(name);
    if (!['GET', 'PUT', 'DELETE', 'POST'].includes(method)) throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE', 'POST']));
    this._entitled(ctx, pkgName ? isShared(pkgName) : null);

    if (method === 'POST') return this._invokeRoute(ctx, pkgName, name);

    if (method === 'GET') {
      const code = parseBool('code', q.get('code'), true);
      const r = this._resolveAction(ns, pkgName, name, ns === user.namespace ? null : user);
      return this._send(ctx.res, 200, this._actionJson(r.doc, code, { parameters: r.parameters, binding: r.binding }));
    }

    // PUT / DELETE: a packaged action must be in a real package (not a binding)
    let nsPath = ns;
    if (pkgName) {
      const p = this._get(ns, pkgName);
      if (!p) throw new OwError(404, MSG.notFound);
      if (p.type !== 'package') throw new OwError(409, MSG.conformance);
      if (p.doc.binding) throw new OwError(400, MSG.notAllowedOnBinding);
      nsPath = `${ns}/${pkgName}`;
    }
    const docid = `${nsPath}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'action') throw new OwError(409, MSG.conformance);

    if (method === 'DELETE') {
      if (!existing) throw new OwError(404, MSG.notFound);
      this._entities.delete(docid);
      return this._send(ctx.res, 200, this._actionJson(existing.doc, true));
    }

    // PUT
    const overwrite = parseBool('overwrite', q.get('overwrite'), false);
    const content = this._jsonEntity(ctx.req, ctx.body);
    if (content === undefined) throw new OwError(400, MSG.malformedContent('Object expected'));
    if (existing && !overwrite) throw new OwError(409, MSG.conflict);
    const doc = this._buildAction(nsPath, name, content, existing ? existing.doc : null, user.namespace);
    if (doc.exec.kind === 'sequence' && content.exec !== undefined) this._checkSequence(`/${nsPath}/${name}`, doc.exec.components);
    if (existing && content.exec === undefined && this._isDeprecated(existing.doc.exec.kind)) {
      throw new OwError(400, MSG.runtimeDeprecated(existing.doc.exec.kind));
    }
    this._entities.set(docid, { type: 'action', doc, seq: ++this._seq });
    return this._send(ctx.res, 200, this._actionJson(doc, true));
  }

  _isDeprecated(kind) {
    const rt = this._resolveKind(kind);
    return Boolean(rt && rt.deprecated);
  }

  async _invokeRoute(ctx, pkgName, name) {
    const transStart = Date.now();
    // every invoke request that got past authentication is recorded, with the HTTP status it got
    const record = {
      namespace: ctx.ns,
      name: pkgName ? `${pkgName}/${name}` : name,
      params: undefined,
      blocking: false,
      result: false,
      activationId: null,
      status: null,
    };
    this.invocations.push(record);
    const reply = (status, bodyOut, headers) => {
      record.status = status;
      return this._send(ctx.res, status, bodyOut, headers);
    };
    try {
      return await this._invoke(ctx, pkgName, name, transStart, record, reply);
    } catch (e) {
      record.status = e instanceof OwError ? e.status : 500;
      throw e;
    }
  }

  async _invoke(ctx, pkgName, name, transStart, record, reply) {
    const { q, ns, user } = ctx;
    try {
      record.params = ctx.body.length ? JSON.parse(ctx.body.toString('utf8')) : {};
    } catch {
      record.params = undefined;
    }
    if (this._throttled()) throw new OwError(429, MSG.tooManyRequests(ACTIONS_PER_MINUTE + 1, ACTIONS_PER_MINUTE));
    const blocking = parseBool('blocking', q.get('blocking'), false);
    const resultOnly = parseBool('result', q.get('result'), false);
    record.blocking = blocking;
    record.result = resultOnly;
    let wait = this.blockingWaitMs;
    if (q.get('timeout') !== null) {
      const v = q.get('timeout');
      const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
      if (!(n > 0 && n <= MAX_WAIT)) throw new OwError(400, MSG.malformedQuery('timeout', MSG.invalidTimeout(MAX_WAIT)));
      wait = Math.min(n, this.blockingWaitMs);
    }
    const length = ctx.body.length;
    if (length > MAX_PAYLOAD) throw new OwError(413, MSG.entityTooBig('Request', length, MAX_PAYLOAD));
    const payload = this._jsonEntity(ctx.req, ctx.body);
    if (payload !== undefined && !isObject(payload)) throw new OwError(400, MSG.malformedContent('Object expected'));

    const action = this._resolveAction(ns, pkgName, name, ns === user.namespace ? null : user);
    if (action.doc.exec.kind !== 'sequence' && this._isDeprecated(action.doc.exec.kind)) {
      throw new OwError(400, MSG.runtimeDeprecated(action.doc.exec.kind));
    }
    // final parameters (annotation final: true) may not be overridden by the payload
    if (payload && getAnnotation(action.doc.annotations, 'final') === true) {
      const defined = new Set(action.parameters.filter((p) => p.value !== null && p.value !== undefined).map((p) => p.key));
      if (Object.keys(payload).some((k) => defined.has(k))) throw new OwError(400, MSG.parametersNotAllowed);
    }

    record.params = clone(payload) || {};
    const { activationId, done } =
      action.doc.exec.kind === 'sequence'
        ? this._invokeSequence(user, action, payload, { topmost: true, transStart })
        : this._invokePrimitive(user, action, payload, { transStart });
    record.activationId = activationId;
    const idHeader = { 'x-openwhisk-activation-id': activationId };

    if (!blocking) return reply(202, { activationId }, idHeader);

    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), wait);
      this._timers.add(timer);
    });
    const activation = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    this._timers.delete(timer);
    if (!activation) return reply(202, { activationId }, idHeader);
    const statusCode = this._activationMeta.get(activationId).statusCode;
    const result = activation.response.result;
    const bodyOut = Array.isArray(result) ? result : resultOnly ? result : activation;
    const status = statusCode === 0 ? 200 : statusCode === 3 ? 500 : 502;
    return reply(status, bodyOut, idHeader);
  }

  // --- running activations ----------------------------------------------------------------

  _store(activation, statusCode) {
    this.activations.set(activation.activationId, activation);
    this._activationMeta.set(activation.activationId, { statusCode });
  }

  _acquire(action, mode) {
    const doc = action.doc;
    const key = `${doc.namespace}/${doc.name}@${doc.version}#${doc.updated}:${mode}`;
    let list = this._pool.get(key);
    if (!list) this._pool.set(key, (list = []));
    for (let i = list.length - 1; i >= 0; i--) if (list[i].stopped) list.splice(i, 1);
    const max = doc.limits.concurrency || 1;
    const warm = list.find((c) => c.active < max && (mode === 'hook' || c.handler));
    if (warm) return { container: warm, cold: false };
    const c = new Container(this, key, doc, mode);
    list.push(c);
    return { container: c, cold: true };
  }

  /**
   * Invokes a primitive action: returns the activation id at once and a promise of the stored
   * activation record (extended JSON).
   */
  _invokePrimitive(user, action, payload, opts) {
    const activationId = newActivationId();
    const done = this._runPrimitive(user, action, payload, activationId, opts);
    done.catch(() => {}); // a non-blocking invoke nobody awaits
    return { activationId, done };
  }

  async _runPrimitive(user, action, payload, activationId, opts) {
    await new Promise((r) => setImmediate(r)); // let the controller answer a non-blocking invoke first
    const doc = action.doc;
    const transStart = opts.transStart || Date.now();
    // merge package parameters with action (action parameters supersede), then the payload
    let args;
    if (Array.isArray(payload)) args = clone(payload);
    else args = { ...paramsToObject(action.parameters), ...(clone(payload) || {}) };
    const initKeys = new Set(action.parameters.filter((p) => p.init).map((p) => p.key));
    const initEnv = {};
    if (!Array.isArray(args)) {
      for (const k of initKeys) {
        if (k in args) {
          initEnv[k] = args[k];
          delete args[k];
        }
      }
    }
    const pkgPath = doc.namespace.split('/');
    const fullName = pkgPath.length > 1 ? `${pkgPath[1]}/${doc.name}` : doc.name;
    const kind = doc.exec.kind;
    const timeoutMs = doc.limits.timeout;
    const isNode = /^nodejs(:|$)/.test(kind) && !doc.exec.binary && typeof doc.exec.code === 'string';
    const hook = typeof this.onInvoke === 'function' ? this.onInvoke : null;
    const mode = hook ? 'hook' : isNode ? 'vm' : null;

    const logs = [];
    let response;
    let timeout = false;
    let initTime;
    let start = Date.now();

    const owEnv = {
      __OW_API_HOST: this.url,
      __OW_NAMESPACE: user.namespace,
      __OW_ACTION_NAME: `/${doc.namespace}/${doc.name}`,
      __OW_ACTION_VERSION: doc.version,
      __OW_ACTIVATION_ID: activationId,
      __OW_TRANSACTION_ID: newTid(),
    };
    if (getAnnotation(doc.annotations, 'provide-api-key') === true) owEnv.__OW_API_KEY = user.key;

    if (!mode) {
      response = {
        statusCode: 2,
        result: {
          error: `The OpenWhisk test server cannot run actions of kind '${kind}'${doc.exec.binary ? ' with binary code' : ''}; set ow.onInvoke to simulate them.`,
        },
      };
    } else {
      const { container, cold } = this._acquire(action, mode);
      container.active += 1;
      container.sinks.push(logs);
      if (container.orphanLogs.length) logs.push(...container.orphanLogs.splice(0));
      try {
        if (cold) {
          start = Date.now();
          const t0 = nowPrecise();
          container.env.__OW_API_HOST = this.url;
          for (const [k, v] of Object.entries(initEnv)) container.env[k] = v === null || typeof v !== 'object' ? (v ? String(v) : '') : JSON.stringify(v);
          const failed = mode === 'vm' ? container.init(timeoutMs) : null;
          initTime = Math.round(nowPrecise() - t0);
          if (failed && failed.timeout) {
            timeout = true;
            container.destroy();
            response = { statusCode: 2, result: { error: MSG.timedout(timeoutMs, true) } };
          } else if (failed) {
            response = processInitResponse(failed.body);
          }
        } else {
          start = Date.now();
        }
        if (!response) {
          const runStart = Date.now();
          const deadline = runStart + timeoutMs;
          for (const [k, v] of Object.entries(owEnv)) container.env[k] = v;
          container.env.__OW_DEADLINE = String(deadline);
          const hookCall = hook
            ? () =>
                hook(doc.namespace.split('/')[0], fullName, clone(args), {
                  activationId,
                  action: this._actionJson(doc, true, { parameters: action.parameters }),
                  env: { ...container.env },
                  log: (line, stream = 'stdout') => container.log(stream === 'stderr' ? 'stderr' : 'stdout', [line]),
                  runDefault: () => this._runDefault(doc, args, container.env, timeoutMs, logs),
                })
            : null;
          const answer = await container.run(args, timeoutMs, hookCall);
          if (answer.timeout) {
            timeout = true;
            container.destroy();
            response = { statusCode: 2, result: { error: MSG.timedout(timeoutMs, false) } };
          } else if (answer.crashed) {
            container.destroy();
            response = { statusCode: 2, result: { error: MSG.abnormalRun } };
          } else {
            response = processRunResponse(answer.status, answer.body);
          }
        }
      } finally {
        container.active -= 1;
        const i = container.sinks.indexOf(logs);
        if (i >= 0) container.sinks.splice(i, 1);
        if (container.stopped) {
          const list = this._pool.get(container.key) || [];
          const j = list.indexOf(container);
          if (j >= 0) list.splice(j, 1);
        }
      }
    }
    const end = Date.now();
    if (response.statusCode === 2) logs.push(logLine(javaInstant(nowPrecise()), 'stderr', MSG.logWarningDeveloperError));

    const annotations = [
      { key: 'limits', value: { ...doc.limits } },
      { key: 'path', value: `${doc.namespace}/${doc.name}` },
      { key: 'kind', value: kind },
      { key: 'timeout', value: timeout },
    ];
    if (opts.causedBySequence) annotations.push({ key: 'causedBy', value: 'sequence' });
    if (initTime !== undefined) annotations.push({ key: 'initTime', value: initTime });
    annotations.push({ key: 'waitTime', value: Math.max(0, start - transStart) });
    if (action.binding) annotations.push({ key: 'binding', value: action.binding });

    const activation = {
      namespace: user.namespace,
      name: doc.name,
      subject: user.subject,
      activationId,
      start,
      end,
    };
    if (opts.cause) activation.cause = opts.cause;
    Object.assign(activation, {
      response: extendedResponse(response),
      logs,
      version: doc.version,
      publish: false,
      annotations,
      duration: end - start,
    });
    this._store(activation, response.statusCode);
    return activation;
  }

  /** For onInvoke hooks: run the action the default way (vm for nodejs) and return its result like the action would. */
  async _runDefault(doc, args, env, timeoutMs, logs) {
    const isNode = /^nodejs(:|$)/.test(doc.exec.kind) && !doc.exec.binary && typeof doc.exec.code === 'string';
    if (!isNode) throw new Error(`runDefault: kind '${doc.exec.kind}' cannot run in the test server`);
    const c = new Container(this, 'default', doc, 'vm');
    Object.assign(c.env, env);
    c.sinks.push(logs);
    try {
      const failed = c.init(timeoutMs);
      if (failed) throw new Error(failed.timeout ? MSG.timedout(timeoutMs, true) : JSON.parse(failed.body).error);
      const answer = await c.run(args, timeoutMs, null);
      if (answer.timeout) throw new Error(MSG.timedout(timeoutMs, false));
      if (answer.crashed) throw new Error(MSG.abnormalRun);
      const parsed = JSON.parse(answer.body);
      if (answer.status !== 200) throw new Error(parsed.error);
      return parsed;
    } finally {
      c.destroy();
    }
  }

  /** SequenceActions.invokeSequence */
  _invokeSequence(user, seq, payload, opts) {
    const activationId = newActivationId();
    const done = this._runSequence(user, seq, payload, activationId, opts);
    done.catch(() => {});
    return { activationId, done };
  }

  async _runSequence(user, seq, payload, seqActivationId, opts) {
    const transStart = opts.transStart || Date.now();
    const start = Date.now();
    const components = seq.doc.exec.components;
    const logs = [];
    let duration = 0;
    let maxMemory;
    // the payload placeholder: the first component gets the invoke payload
    let previous = { statusCode: 1, result: payload === undefined ? undefined : clone(payload) };
    const counter = opts.counter || { n: 0 }; // dynamic atomic action count since the topmost sequence started
    for (const fqn of components) {
      let component;
      try {
        component = this._resolveFqn(fqn);
      } catch {
        previous = { statusCode: 1, result: { error: MSG.sequenceComponentNotFound } };
        break;
      }
      const input = isObject(previous.result) || Array.isArray(previous.result) ? previous.result : undefined;
      let activation;
      if (component.doc.exec.kind === 'sequence') {
        if (counter.n >= SEQUENCE_LIMIT) {
          previous = { statusCode: 1, result: { error: MSG.sequenceIsTooLong } };
          break;
        }
        activation = await this._invokeSequence(user, component, input, { topmost: false, cause: seqActivationId, counter }).done;
      } else {
        if (counter.n >= SEQUENCE_LIMIT) {
          previous = { statusCode: 1, result: { error: MSG.sequenceIsTooLong } };
          break;
        }
        activation = await this._invokePrimitive(user, component, input, { cause: seqActivationId, causedBySequence: true }).done;
        counter.n += 1;
      }
      logs.push(activation.activationId);
      duration += activation.duration || 0;
      const lim = getAnnotation(activation.annotations, 'limits');
      if (lim && typeof lim.memory === 'number') maxMemory = maxMemory === undefined ? lim.memory : Math.max(maxMemory, lim.memory);
      const meta = this._activationMeta.get(activation.activationId);
      previous = { statusCode: meta.statusCode, result: activation.response.result, size: activation.response.size };
      if (isObject(previous.result) && 'error' in previous.result) break;
    }
    const end = Date.now();
    const annotations = [
      { key: 'topmost', value: Boolean(opts.topmost) },
      { key: 'path', value: `${seq.doc.namespace}/${seq.doc.name}` },
      { key: 'kind', value: 'sequence' },
    ];
    if (!opts.topmost) annotations.push({ key: 'causedBy', value: 'sequence' });
    annotations.push({ key: 'waitTime', value: Math.max(0, start - transStart) });
    if (seq.binding) annotations.push({ key: 'binding', value: seq.binding });
    if (maxMemory !== undefined) {
      annotations.push({ key: 'limits', value: { timeout: seq.doc.limits.timeout, memory: maxMemory, logs: seq.doc.limits.logs, concurrency: 1 } });
    }
    const activation = {
      namespace: user.namespace,
      name: seq.doc.name,
      subject: user.subject,
      activationId: seqActivationId,
      start,
      end,
    };
    if (!opts.topmost && opts.cause) activation.cause = opts.cause;
    Object.assign(activation, {
      response: extendedResponse(previous),
      logs,
      version: seq.doc.version,
      publish: false,
      annotations,
      duration,
    });
    this._store(activation, previous.statusCode);
    return activation;
  }

  // --- /activations -----------------------------------------------------------------------

  async _activationsRoute(ctx, tail) {
    const { method, q, ns, res } = ctx;
    if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      this._entitled(ctx);
      const { limit, skip, count } = parseListArgs(q, 'activations');
      const docs = parseBool('docs', q.get('docs'), false);
      const name = q.get('name');
      if (name !== null && name !== '' && !/^[^/]+(\/[^/]+)?$/.test(name)) throw new OwError(400, MSG.malformedQuery('name', MSG.badNameFilter(name)));
      const epoch = (p) => {
        const v = q.get(p);
        if (v === null) return undefined;
        if (!/^\d+$/.test(v)) throw new OwError(400, MSG.malformedQuery(p, MSG.badEpoch(v)));
        return Number(v);
      };
      const since = epoch('since');
      const upto = epoch('upto');
      if (count && docs) throw new OwError(400, MSG.docsNotAllowedWithCount);
      let list = [...this.activations.values()].filter((a) => a.namespace === ns);
      if (name) {
        list = list.filter((a) => {
          const path = String(getAnnotation(a.annotations, 'path') || '');
          return path.split('/').slice(1).join('/') === name;
        });
      }
      if (since !== undefined) list = list.filter((a) => a.start >= since);
      if (upto !== undefined) list = list.filter((a) => a.start <= upto);
      list.sort((a, b) => b.start - a.start);
      if (count) return this._send(res, 200, { activations: list.length });
      list = list.slice(skip, skip + limit);
      return this._send(res, 200, docs ? list.map(clone) : list.map((a) => this._activationSummary(a)));
    }
    if (tail.length > 2) throw new OwError(404, MSG.routeNotFound);
    const id = tail[0];
    if (id.length !== 32) throw new OwError(400, `Activation id length is ${id.length} but must be 32.`);
    if (!HEX32_RE.test(id)) throw new OwError(400, MSG.activationIdIllegal);
    this._entitled(ctx);
    const sub = tail[1];
    if (sub !== undefined && sub !== '' && sub !== 'result' && sub !== 'logs') throw new OwError(404, MSG.routeNotFound);
    const a = this.activations.get(id.toLowerCase());
    if (!a || a.namespace !== ns) throw new OwError(404, MSG.notFound);
    if (sub === 'result') return this._send(res, 200, clone(a.response));
    if (sub === 'logs') return this._send(res, 200, { logs: a.logs.slice() });
    return this._send(res, 200, clone(a));
  }

  _activationSummary(a) {
    const o = {
      namespace: a.namespace,
      name: a.name,
      version: a.version,
      publish: a.publish,
      annotations: clone(a.annotations),
      activationId: a.activationId,
      start: a.start,
    };
    if (a.cause) o.cause = a.cause;
    o.end = a.end;
    o.duration = a.duration;
    o.statusCode = this._activationMeta.get(a.activationId).statusCode;
    return o;
  }

  // --- /packages --------------------------------------------------------------------------

  async _packages(ctx, tail) {
    const { method, q, ns, user, res } = ctx;
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      this._entitled(ctx, () => parseBool('public', q.get('public'), false));
      const { limit, skip, count } = parseListArgs(q, 'packages');
      const own = ns === user.namespace;
      const list = this._sorted((e) => e.type === 'package' && e.doc.namespace === ns && (own || e.doc.publish));
      if (count) return this._send(res, 200, { packages: list.length });
      return this._send(
        res,
        200,
        list.slice(skip, skip + limit).map((e) => ({
          namespace: e.doc.namespace,
          name: e.doc.name,
          version: e.doc.version,
          publish: e.doc.publish,
          annotations: paramsJson(e.doc.annotations),
          updated: e.doc.updated,
          binding: e.doc.binding ? { ...e.doc.binding } : false,
        }))
      );
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    if (!['GET', 'PUT', 'DELETE'].includes(method)) throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE']));
    this._entitled(ctx, () => {
      const e = this._get(ns, name);
      return method === 'GET' && Boolean(e && e.type === 'package' && e.doc.publish);
    });
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'package') throw new OwError(409, MSG.conformance);

    if (method === 'GET') {
      if (!existing) throw new OwError(404, MSG.notFound);
      const doc = existing.doc;
      let out;
      let actionsPath;
      if (doc.binding) {
        const target = this._get(doc.binding.namespace, doc.binding.name);
        if (!target || target.type !== 'package') throw new OwError(404, MSG.notFound);
        out = this._packageJson(doc, mergeParams(target.doc.parameters, doc.parameters));
        actionsPath = `${target.doc.namespace}/${target.doc.name}`;
      } else {
        out = this._packageJson(doc);
        actionsPath = docid;
      }
      const acts = this._sorted((e) => e.type === 'action' && e.doc.namespace === actionsPath).map((e) => ({
        name: e.doc.name,
        version: e.doc.version,
        annotations: paramsJson(e.doc.annotations),
      }));
      out.actions = acts.filter((a) => getAnnotation(a.annotations, 'feed') === undefined);
      out.feeds = acts.filter((a) => getAnnotation(a.annotations, 'feed') !== undefined);
      return this._send(res, 200, out);
    }

    if (method === 'DELETE') {
      if (!existing) throw new OwError(404, MSG.notFound);
      if (!existing.doc.binding) {
        const contents = [...this._entities.entries()].filter(([, e]) => e.type === 'action' && e.doc.namespace === docid);
        if (contents.length) {
          if (!parseBool('force', q.get('force'), false)) {
            throw new OwError(
              409,
              `Package not empty (contains ${contents.length} ${contents.length === 1 ? 'entity' : 'entities'}). Set force param or delete package contents.`
            );
          }
          for (const [k] of contents) this._entities.delete(k);
        }
      }
      this._entities.delete(docid);
      return this._send(res, 200, this._packageJson(existing.doc));
    }

    // PUT
    const overwrite = parseBool('overwrite', q.get('overwrite'), false);
    const content = this._jsonEntity(ctx.req, ctx.body);
    if (content === undefined) throw new OwError(400, MSG.malformedContent('Object expected'));
    if (name === 'default') throw new OwError(400, MSG.packageNameIsReserved(name));
    if (existing && !overwrite) throw new OwError(409, MSG.conflict);
    const doc = this._buildPackage(ns, name, content, existing ? existing.doc : null, user);
    this._entities.set(docid, { type: 'package', doc, seq: ++this._seq });
    return this._send(res, 200, this._packageJson(doc));
  }
}

/**
 * Starts the server on 127.0.0.1.
 * @param {{port?: number, users?: Record<string, string>, blockingWaitMs?: number}} [options]
 * @returns {Promise<OpenWhiskServer>}
 */
async function startOpenWhiskServer(options = {}) {
  const server = new OpenWhiskServer(options);
  await server.listen();
  return server;
}

module.exports = { startOpenWhiskServer, OpenWhiskServer, GUEST_KEY };
