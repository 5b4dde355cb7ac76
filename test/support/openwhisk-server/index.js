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
 *
 * This file is the server (its public helpers, HTTP plumbing and routing); the rest by resource:
 * entities.js (the stored documents), actions.js (/actions and running activations),
 * activations.js, triggers-rules.js and packages.js, all methods of OpenWhiskServer; common.js
 * (limits, messages, helpers) and containers.js (where activations run).
 */

const http = require('node:http');
const {
  GUEST_KEY,
  MB,
  MAX_REQUEST_BODY,
  SEQUENCE_LIMIT,
  ACTIONS_PER_MINUTE,
  LIMIT_RANGES,
  MSG,
  defaultRuntimes,
  OwError,
  clone,
  isObject,
  newTid,
  upPatch,
  checkEntityName,
} = require('./common');

// ------------------------------------------------------------------------------------------
// the server

class OpenWhiskServer {
  constructor(options) {
    this.users = { ...(options.users || { guest: GUEST_KEY }) };
    this.entitlements = {}; // namespace -> other namespaces its key may use (see entitle)
    this.blockingWaitMs = options.blockingWaitMs === undefined ? 60000 : Number(options.blockingWaitMs);
    this.port = options.port || 0;
    this.host = '127.0.0.1';
    /** @type {((namespace: string, fullName: string, params: Record<string, any>, ctx: Record<string, any>) => any) | null} */
    this.onInvoke = null;
    /** @type {boolean | number} true: every action invoke and trigger fire answers 429; a number: that many of them */
    this.throttle = false;
    this.invocations = [];
    this.firings = []; // every trigger POST past authentication: {namespace, name, params, status, activationId}
    this.activations = new Map();
    /** @type {string | null} set by listen() */
    this.url = null;
    /** @type {Record<string, ReturnType<typeof defaultRuntimes>['nodejs']>} family -> its runtimes (the manifest GET / serves) */
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
    const self = /** @type {Server} */ (/** @type {unknown} */ (this)); // with the resources' methods (mixed in below the class)
    this.server = http.createServer((req, res) => self._handle(req, res));
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
    /** @type {OpenWhiskServer['_runtimes']} */
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

  /** Creates or replaces an action (name 'name' or 'pkg/name'); returns the stored entity JSON. @this {Server} */
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

  /** Creates or replaces a package or package binding; returns the stored entity JSON. @this {Server} */
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

  /** Creates or replaces a trigger (namespace-level); returns its JSON. @this {Server} */
  putTrigger(namespace, name, trigger = {}) {
    checkEntityName(name);
    const existing = this._entities.get(`${namespace}/${name}`);
    if (existing && existing.type !== 'trigger') throw new Error(`putTrigger: ${MSG.conformance}`);
    const doc = {
      namespace,
      name,
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

  /** Creates or replaces a rule {trigger, action, status: 'active' (default) | 'inactive'}; returns its JSON. @this {Server} */
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
        this.port = /** @type {import('node:net').AddressInfo} */ (this.server.address()).port;
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

  /** @this {Server} */
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

  /** @this {Server} */
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
}

/**
 * The server with the methods of each resource (below), its type for those methods' `this` and for the tests.
 * @typedef {OpenWhiskServer & import('./entities') & import('./triggers-rules') & import('./actions') & import('./activations') & import('./packages')} Server
 */

// The methods of each resource, from their own files, as methods of the server (none defined twice).
for (const part of [require('./entities'), require('./triggers-rules'), require('./actions'), require('./activations'), require('./packages')]) {
  for (const name of Object.getOwnPropertyNames(part.prototype)) {
    if (name === 'constructor') continue;
    if (Object.prototype.hasOwnProperty.call(OpenWhiskServer.prototype, name)) throw new Error(`openwhisk-server: ${name} is defined twice`);
    Object.defineProperty(OpenWhiskServer.prototype, name, Object.getOwnPropertyDescriptor(part.prototype, name));
  }
}

/**
 * Starts the server on 127.0.0.1.
 * @param {{port?: number, users?: Record<string, string>, blockingWaitMs?: number}} [options]
 * @returns {Promise<Server>}
 */
async function startOpenWhiskServer(options = {}) {
  const server = /** @type {Server} */ (new OpenWhiskServer(options));
  await server.listen();
  return server;
}

module.exports = { startOpenWhiskServer, OpenWhiskServer, GUEST_KEY };
