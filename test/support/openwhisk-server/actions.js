'use strict';
// The OpenWhisk API stand-in (index.js): /actions, and running activations (actions and sequences). Methods of OpenWhiskServer.

const {
  MAX_PAYLOAD,
  MAX_WAIT,
  SEQUENCE_LIMIT,
  ACTIONS_PER_MINUTE,
  MSG,
  OwError,
  clone,
  isObject,
  newActivationId,
  newTid,
  nowPrecise,
  javaInstant,
  logLine,
  paramsToObject,
  getAnnotation,
  parseBool,
  parseListArgs,
  checkEntityName,
} = require('./common');
const { Container, processRunResponse, processInitResponse, extendedResponse } = require('./containers');

/** @typedef {import("./index").Server} Server the server these methods become part of (their `this`) */

class ActionRoutes {
  // --- /actions ---------------------------------------------------------------------------

  /** @this {Server} */
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
      return this._send(
        ctx.res,
        200,
        list.slice(skip, skip + limit).map((e) => this._actionSummary(e.doc)),
      );
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
      return this._send(
        ctx.res,
        200,
        list.slice(skip, skip + limit).map((e) => this._actionSummary(e.doc)),
      );
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

  /** @this {Server} */
  _isDeprecated(kind) {
    const rt = this._resolveKind(kind);
    return Boolean(rt && rt.deprecated);
  }

  /** @this {Server} */
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

  /** @this {Server} */
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

  /** @this {Server} */
  _store(activation, statusCode) {
    this.activations.set(activation.activationId, activation);
    this._activationMeta.set(activation.activationId, { statusCode });
  }

  /** @this {Server} */
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
   * @this {Server}
   */
  _invokePrimitive(user, action, payload, opts) {
    const activationId = newActivationId();
    const done = this._runPrimitive(user, action, payload, activationId, opts);
    done.catch(() => {}); // a non-blocking invoke nobody awaits
    return { activationId, done };
  }

  /** @this {Server} */
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

  /**
   * For onInvoke hooks: run the action the default way (vm for nodejs) and return its result like the action would.
   * @this {Server}
   */
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

  /**
   * SequenceActions.invokeSequence
   * @this {Server}
   */
  _invokeSequence(user, seq, payload, opts) {
    const activationId = newActivationId();
    const done = this._runSequence(user, seq, payload, activationId, opts);
    done.catch(() => {});
    return { activationId, done };
  }

  /** @this {Server} */
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
    /** @type {Array<{ key: string, value: unknown }>} */
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
}

module.exports = ActionRoutes;
