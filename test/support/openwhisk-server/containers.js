'use strict';
// The OpenWhisk API stand-in (index.js): where activations run.

const vm = require('node:vm');
const util = require('node:util');
const nodeModule = require('node:module');
const { MAX_RESULT, MSG, clone, isObject, nowPrecise, rfc3339Nano, logLine, cleanStack, serializeError } = require('./common');

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
    /** @type {((err?: unknown) => void) | null} called when user code fails outside of a run */
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
          ms,
        );
        c.timers.add(h);
        return h;
      },
      clearTimeout(h) {
        c.timers.delete(h);
        clearTimeout(h);
      },
      setInterval(fn, ms, ...args) {
        const h = setInterval(
          c.guard(() => fn(...args)),
          ms,
        );
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
          }),
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
    /** @type {Record<string, unknown>} the action's global object (`global` is added below) */
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
        const e = /** @type {NodeJS.ErrnoException} */ (new Error(`Cannot find module '${name}'`));
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
          (error) => (error ? { error: serializeError(cleanStack(error)) } : { error: {} }),
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

module.exports = { Container, processRunResponse, processInitResponse, STATUS_TEXT, extendedResponse };
