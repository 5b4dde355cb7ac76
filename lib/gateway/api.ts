import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ActivationStore } from '../activations/store';
import { CONTENT_TYPE as METRICS_TYPE } from '../metrics';
import { isEntityName } from '../names';
import type { ActionDoc, ActionRef, Activation, InvokeOptions } from '../types';
import { getActivation, listActivations } from './activations';
import { getAction, listActions, readEntities } from './catalog-reads';
import { apiInfo, type GatewayEntities, type ListedAction, platformInfo } from './entities';
import { type AuthFailureBounds, AuthFailures, knownHost, listedHost } from './guard';
import { Invoker } from './invoke';
import { checkNames, decodeSegment, err, HttpError, NOT_FOUND, type Reply, sameOrigin, send } from './reply';

export { failureOf, HttpError } from './reply';

/**
 * The OpenWhisk REST API (the part a client needs to run actions and read activations) for the
 * actions of one local runtime. Plain Node HTTP: the runtime node mounts it on Node-RED's server.
 * Answers follow apache/openwhisk's controller (Actions.scala, Activations.scala, Namespaces.scala):
 * status codes, `{error, code}` bodies, the x-openwhisk-activation-id header.
 * This file holds the options, the router and what every request passes (the in-flight bound, the Host and Origin
 * checks, the key); the routes' work is in invoke.ts (POST of an action), activations.ts (the activation queries)
 * and catalog-reads.ts (GET of actions, packages, triggers and rules).
 */
export interface GatewayApiOptions {
  /** The namespace the keys own; "_" in a path means it. */
  namespace: string;
  /** Accepted "uuid:key" pairs. */
  keys: string[];
  /** This Node-RED instance (loop detection between gateways). */
  instanceId: string;
  store: ActivationStore;
  /**
   * Runs an action (through the runtime's runner: local pool, then its burst target). `opts` carries the
   * id the API answers with (the activation must get it), the via list and, answered 202, a wait for capacity.
   */
  invoke(ref: ActionRef, params: Record<string, unknown>, opts: InvokeOptions): Promise<Activation>;
  getAction(ref: ActionRef): Promise<ActionDoc>;
  /** The catalog's actions, each under its short name with "ns/pkg" as its namespace. */
  listActions(): Promise<ListedAction[]>;
  /** Packages, triggers and rules of the catalog (an empty collection for what it has none of). */
  entities?: GatewayEntities;
  /** The runtime's image overrides (kind or "family:*" → image), for GET / (the runtimes it runs). */
  imageOverrides?: Record<string, string>;
  /** This package's runtime images the engine has, by kind (GET / lists them). */
  ownImages?: () => Promise<Record<string, string>>;
  /** Largest request body in bytes (the runtime's max payload). */
  maxBody: number;
  /** Requests the API works on at once, beyond which it answers 429 (default 256). */
  maxInflight?: number;
  /** Longest wait of a blocking invoke before it answers 202 (default 60000 ms, OpenWhisk's). */
  blockingMs?: number;
  /** Longest time a client may take to send its request body (default 10000 ms). */
  bodyMs?: number;
  /**
   * Activations the API has started and that are not done yet, blocking or not (a 202 does not end
   * them), beyond which an invoke gets 429: at most this many (default 256) and this many bytes of
   * parameters (default 4 × maxBody).
   */
  maxActivations?: number;
  maxActivationBytes?: number;
  /**
   * Host names and addresses the API answers for, besides `localhost`, loopback addresses and the address a request
   * reached (see guard.ts knownHost): any other Host gets 421, so a page on a rebound name cannot use it.
   */
  hosts?: string[];
  /** Wrong keys per client before 429 (see guard.ts AuthFailures). */
  authFailures?: AuthFailureBounds;
  /** The runtime's metrics in the Prometheus text format, served at GET /metrics behind the key (none: 404). */
  metrics?: () => string;
}

/** SHA-256 of a string: Node's one-shot hash where it has it (20.12 and later: about a third less than a Hash object), else a Hash object. */
const digest: (s: string) => Buffer = typeof hash === 'function' ? (s) => hash('sha256', s, 'buffer') : (s) => createHash('sha256').update(s).digest();

export class GatewayApi {
  private inflight = 0;
  private readonly keyDigests: Buffer[];
  /** Digests of the keys' Authorization headers in their usual spelling ("Basic " + base64). */
  private readonly headerDigests: Buffer[];
  /** knownHost's answers by Host header and local address (bounded): a client sends the same ones on every request. */
  private readonly hostSeen = new Map<string, boolean>();
  private readonly maxInflight: number;
  /** The invoke path (invoke.ts), with the activations started through the API and not done yet (see maxActivations). */
  private readonly invoker: Invoker;
  private readonly hosts: ReadonlySet<string>;
  /** Wrong keys per client address (bounded). */
  readonly failures: AuthFailures;

  constructor(private readonly o: GatewayApiOptions) {
    this.hosts = new Set((o.hosts ?? []).map((h) => listedHost(h)).filter((h): h is string => !!h));
    this.failures = new AuthFailures(o.authFailures);
    this.keyDigests = o.keys.map(digest);
    this.headerDigests = o.keys.map((k) => digest(`Basic ${Buffer.from(k, 'utf8').toString('base64')}`));
    this.maxInflight = o.maxInflight ?? 256;
    this.invoker = new Invoker(o);
  }

  /** Answers one request; `path` is what follows the API's mount point, e.g. "/api/v1/namespaces". */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let reply: Reply;
    if (this.inflight >= this.maxInflight) {
      reply = err(429, `Too many concurrent requests in flight (count: ${this.inflight}, allowed: ${this.maxInflight}).`);
      req.resume();
    } else {
      this.inflight++;
      try {
        reply = await this.route(req, path);
      } catch (e) {
        reply = e instanceof HttpError ? { ...err(e.status, e.message), headers: e.headers } : err(500, 'The server encountered an internal error.');
      } finally {
        this.inflight--;
      }
    }
    send(res, reply);
    // What the answer need not wait for (keeping the record): done once it is written, before any other request is read.
    if (reply.after) {
      try {
        reply.after();
      } catch {
        /* the store reports its own failures */
      }
    }
  }

  /** The key check, after the client's tries: past them, 429 until its window ends, whatever key it sends. */
  private authorised(req: IncomingMessage): void {
    const client = () => AuthFailures.clientOf(req.socket?.remoteAddress, req.socket?.localAddress);
    // No client has failed lately (the usual case): nobody to hold back, and no address to work out.
    const wait = this.failures.size > 0 ? this.failures.retryAfter(client()) : 0;
    if (wait > 0) {
      req.resume();
      const s = Math.ceil(wait / 1000);
      throw new HttpError(429, `Too many requests with a wrong key from this client: try again in ${s} s.`, { 'Retry-After': String(s) });
    }
    try {
      this.checkKey(req);
    } catch (e) {
      if (req.headers.authorization) this.failures.failed(client());
      throw e;
    }
  }

  private checkKey(req: IncomingMessage): void {
    const h = req.headers.authorization;
    if (!h) throw new HttpError(401, 'The resource requires authentication, which was not supplied with the request');
    // The header as clients send it ("Basic " + base64 of the key): digests of one length compared in
    // constant time, so that the time taken tells nothing of the key, its length included.
    if (h.length < 1024) {
      const given = digest(h);
      let hit = false;
      for (const d of this.headerDigests) if (timingSafeEqual(d, given)) hit = true;
      if (hit) return;
    }
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
    const given = m ? digest(Buffer.from(m[1], 'base64').toString('utf8')) : undefined;
    let ok = false;
    for (const d of this.keyDigests) if (given && timingSafeEqual(d, given)) ok = true;
    if (!ok) throw new HttpError(401, 'The supplied authentication is invalid');
  }

  /** guard.ts knownHost, remembered for the last few hundred Host headers and local addresses seen. */
  private knownHost(host: string | undefined, local: string | undefined): boolean {
    if (host === undefined || host.length > 300) return knownHost(host, local, this.hosts);
    const k = `${local ?? ''} ${host}`;
    let ok = this.hostSeen.get(k);
    if (ok === undefined) {
      ok = knownHost(host, local, this.hosts);
      if (this.hostSeen.size >= 256) this.hostSeen.clear();
      this.hostSeen.set(k, ok);
    }
    return ok;
  }

  private namespaceOf(ns: string): void {
    if (ns !== '_' && ns !== this.o.namespace) throw new HttpError(403, 'The supplied authentication is not authorized to access this resource.');
  }

  private async route(req: IncomingMessage, rawPath: string): Promise<Reply> {
    // A request for another name (a page whose own name was rebound to this address): the Origin check
    // below would pass, as the page's Origin is that name too.
    if (!this.knownHost(req.headers.host, req.socket?.localAddress)) {
      req.resume();
      const h = String(req.headers.host ?? '').slice(0, 100);
      throw new HttpError(
        421,
        `This gateway's OpenWhisk API does not answer for the host '${h}' (Misdirected Request). If clients reach it by that name or address, add it to the API's host names in the openwhisk-runtime config node.`,
      );
    }
    // Another origin's web page: browsers send Origin; this API answers no CORS (docs/gateway-api.md, Browsers).
    const origin = req.headers.origin;
    if (origin && !sameOrigin(origin, req.headers.host)) {
      req.resume();
      throw new HttpError(403, 'Requests from web pages of other origins are refused by this gateway.');
    }
    const qi = rawPath.indexOf('?');
    const pathname = qi < 0 ? rawPath : rawPath.slice(0, qi);
    const parts = pathname.split('/').filter(Boolean).map(decodeSegment);
    const method = req.method ?? 'GET';
    // The platform's and the API's descriptions need no key, as the controller's (Controller.info, RestAPIs info).
    if (parts.length === 0 || (parts.length === 2 && parts[0] === 'api' && parts[1] === 'v1')) {
      req.resume();
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      if (parts.length > 0) return { status: 200, body: apiInfo() };
      const own = this.o.ownImages ? await this.o.ownImages().catch(() => ({})) : {};
      return { status: 200, body: platformInfo('/api/v1', { concurrentActions: this.invoker.work.maxCount }, this.o.imageOverrides, own) };
    }
    // Liveness, as the controller's /ping: no key, nothing read but the request line.
    if (parts.length === 1 && parts[0] === 'ping') {
      req.resume();
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      return { status: 200, body: undefined, text: { type: 'text/plain; charset=utf-8', body: 'pong' } };
    }
    // The runtime's metrics (operators.ts), behind the same key as the API: they name its actions.
    if (parts.length === 1 && parts[0] === 'metrics' && this.o.metrics) {
      req.resume();
      this.authorised(req);
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      return { status: 200, body: undefined, text: { type: METRICS_TYPE, body: this.o.metrics() } };
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1') throw new HttpError(404, NOT_FOUND);
    this.authorised(req);
    const q = new URLSearchParams(qi < 0 ? '' : rawPath.slice(qi + 1));
    const rest = parts.slice(2);
    if (rest[0] !== 'namespaces') throw new HttpError(404, NOT_FOUND);
    if (rest.length === 1) {
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      return { status: 200, body: [this.o.namespace] };
    }
    // Names as the controller checks them, segment by segment: "..", "." or a decoded "/" never
    // reaches the catalog (whose client would resolve "../../other/actions/x" to another namespace).
    if (!isEntityName(rest[1])) throw new HttpError(400, 'The namespace contains illegal characters.');
    this.namespaceOf(rest[1]);
    const kind = rest[2];
    const tail = rest.slice(3);
    if (kind === 'actions') {
      if (tail.length === 0) {
        if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
        return listActions(this.o, q);
      }
      if (tail.length > 2) throw new HttpError(404, NOT_FOUND);
      checkNames(tail);
      const ref: ActionRef = { namespace: '_', name: tail.join('/') };
      if (method === 'GET') return getAction(this.o, ref, q);
      if (method === 'POST') return this.invoker.invoke(req, ref, q);
      throw new HttpError(405, 'HTTP method not allowed, supported methods: GET, POST');
    }
    if (kind === 'packages' || kind === 'triggers' || kind === 'rules') {
      // Read-only: the catalog is the service or the manifest, never written through this API.
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      if (tail.length > 1) throw new HttpError(404, NOT_FOUND);
      checkNames(tail);
      return readEntities(this.o, kind, tail[0], q);
    }
    if (kind === 'activations') {
      if (method !== 'GET') throw new HttpError(405, 'HTTP method not allowed, supported methods: GET');
      return tail.length === 0 ? listActivations(this.o.store, q) : getActivation(this.o.store, tail);
    }
    throw new HttpError(404, NOT_FOUND);
  }
}
