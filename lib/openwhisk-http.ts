// The HTTP layer under openwhisk-rest.ts: one JSON request to an OpenWhisk API host over node:http or
// node:https, with the key as basic auth. What the host sends back is bounded as it arrives: an API
// host is the user's to choose, but a wrong URL, a proxy or a hostile host must not be able to fill
// Node-RED's memory. So each reply's body is counted chunk by chunk and the request is dropped past
// its limit; a reply whose head says its body is compressed is refused (no compression is asked for,
// and a small gzip body can inflate to gigabytes); only JSON is parsed, anything else is kept as text.
// Through a proxy, an https API host is reached by a CONNECT tunnel: the proxy sees its name, never the key.

import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';

export type RefusedReason = 'size' | 'encoding';

/** A reply dropped by its bound (service.ts apiFailure names it). */
export class ReplyRefused extends Error {
  constructor(
    readonly reason: RefusedReason,
    readonly limitBytes: number,
  ) {
    super(reason === 'size' ? `the reply is larger than ${limitBytes} bytes` : 'the reply is compressed, which was not asked for');
    this.name = 'ReplyRefused';
  }
}

/** The ReplyRefused a REST call failed with, if that is what it was. */
export function replyRefused(err: unknown): ReplyRefused | undefined {
  return err instanceof ReplyRefused ? err : undefined;
}

/** The API host answered with an HTTP status of 400 or more; `error` is its body (parsed when JSON). */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: unknown,
    method: string,
    url: string,
  ) {
    const detail = typeof error === 'object' && error !== null && 'error' in error && typeof error.error === 'string' ? error.error : '';
    super(`${method} ${url} returned HTTP ${statusCode} (${http.STATUS_CODES[statusCode] ?? 'unknown status'})${detail ? `: ${detail}` : ''}`);
    this.name = 'ApiError';
  }
}

/** How long a connection to the API host (or its proxy) may take to open. */
export const CONNECT_TIMEOUT_MS = 10000;
/** How long a kept-alive connection to the API host may sit unused before it is closed. */
export const IDLE_MS = 30000;

const JSON_TYPES = new Set(['application/json', 'application/hal+json', 'text/javascript', 'application/vnd.api+json']);

/**
 * The proxy for the API host, read from the environment when the client is made: PROXY, HTTP_PROXY
 * or HTTPS_PROXY (either case), the first one set, whatever the API's scheme. A value without a
 * scheme is an http:// proxy.
 */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = env.PROXY || env.proxy || env.HTTP_PROXY || env.http_proxy || env.HTTPS_PROXY || env.https_proxy;
  if (!p) return undefined;
  return /^https?:\/\//i.test(p) ? p : `http://${p}`;
}

/**
 * NO_PROXY (or no_proxy), read at each request: a comma- or space-separated list of patterns, each
 * looked for anywhere in the request's URL; "*" matches any run of characters and a leading "." is
 * "*." ("example.com", ".example.com", "127.0.0.1:3233", "*").
 */
export function bypassesProxy(url: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const list = env.NO_PROXY || env.no_proxy;
  if (!list) return false;
  return list.split(/[\s,]+/).some((pattern) => {
    if (!pattern) return false;
    const source = pattern
      .replace(/^\./, '*')
      .split('*')
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    return new RegExp(source).test(url);
  });
}

export interface HttpClientOptions {
  /** "uuid:key", sent as basic auth. */
  key: string;
  /** Skip TLS certificate verification (of the API host, or of an https proxy). */
  insecure: boolean;
  /** A proxy URL (see proxyFromEnv); NO_PROXY still applies per request. */
  proxy?: string;
  /** Idle kept-alive connections close after this long (ms). */
  idleMs?: number;
  /** The User-Agent header. */
  userAgent?: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: URL;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal: AbortSignal;
  /** The most body bytes the reply may have, as sent. */
  limitBytes: number;
}

function proxyAuthorization(proxy: URL): string | undefined {
  return proxy.username ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` : undefined;
}

/**
 * An https agent whose connections go through a CONNECT tunnel of an http(s) proxy, TLS to the API
 * host inside it: the proxy relays bytes it cannot read. Kept-alive tunnels are reused per host.
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly insecure: boolean,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback as (err: Error | null, stream?: Duplex) => void;
    const host = String(options.hostname ?? options.host ?? '');
    const port = Number(options.port) || 443;
    const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const secureProxy = this.proxy.protocol === 'https:';
    const auth = proxyAuthorization(this.proxy);
    const connect = (secureProxy ? https : http).request({
      method: 'CONNECT',
      hostname: this.proxy.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.proxy.port || (secureProxy ? 443 : 80),
      path: authority,
      headers: { host: authority, ...(auth ? { 'proxy-authorization': auth } : {}) },
      agent: false,
      rejectUnauthorized: !this.insecure,
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connect.destroy();
      done(err);
    };
    const timer = setTimeout(
      () => fail(new Error(`no tunnel through the proxy ${this.proxy.host} to ${authority} within ${CONNECT_TIMEOUT_MS / 1000} s`)),
      CONNECT_TIMEOUT_MS,
    );
    connect.once('connect', (res, socket) => {
      if (settled) {
        socket.destroy();
        return;
      }
      if (res.statusCode !== 200) {
        socket.destroy();
        fail(new Error(`the proxy ${this.proxy.host} refused a tunnel to ${authority}: HTTP ${res.statusCode}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      // `host` is what the certificate is checked against; SNI takes names only, not addresses.
      done(null, tls.connect({ socket, host, servername: isIP(host) ? undefined : host, rejectUnauthorized: options.rejectUnauthorized !== false }));
    });
    connect.once('error', (err) => fail(err));
    connect.end();
    return undefined;
  }
}

/** JSON requests with basic auth over kept-alive connections, each reply bounded. */
export class HttpClient {
  private readonly auth: string;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private tunnel?: TunnelAgent;

  constructor(private readonly opts: HttpClientOptions) {
    this.auth = `Basic ${Buffer.from(opts.key).toString('base64')}`;
    // An agent's `timeout` closes its free sockets after that long (a host that never closes holds
    // none); on a socket in use it only emits 'timeout', which requests here do not listen to.
    const idle = opts.idleMs ?? IDLE_MS;
    this.agents = { http: new http.Agent({ keepAlive: true, timeout: idle }), https: new https.Agent({ keepAlive: true, timeout: idle }) };
  }

  /**
   * One request. Resolves with the body of a reply under 400 (parsed when its type is JSON and it
   * parses, else its text; undefined when empty); rejects with ApiError for 400 and above, with
   * ReplyRefused when the reply is over its limit or compressed, or with the transport's error.
   */
  request(r: HttpRequest): Promise<unknown> {
    const target = r.url;
    const proxied = this.opts.proxy && !bypassesProxy(target.href) ? new URL(this.opts.proxy) : undefined;
    // https through a proxy: a CONNECT tunnel (the agent); plain http: the proxy is sent the whole URL.
    const tunnelled = proxied && target.protocol === 'https:';
    const proxy = tunnelled ? undefined : proxied;
    if (tunnelled && !this.tunnel) this.tunnel = new TunnelAgent(proxied, !!this.opts.insecure, { keepAlive: true, timeout: this.opts.idleMs ?? IDLE_MS });
    const via = proxy ?? target;
    const secure = via.protocol === 'https:';
    const payload = r.body === undefined ? undefined : Buffer.from(JSON.stringify(r.body));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.opts.userAgent ?? 'node-red-openwhisk',
      authorization: this.auth,
    };
    if (payload) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = String(payload.length);
    }
    if (proxy) {
      // A forward proxy is sent the whole URL; the Host header names the API host.
      headers.host = target.host;
      const auth = proxyAuthorization(proxy);
      if (auth) headers['proxy-authorization'] = auth;
    }
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
    delete headers['accept-encoding'];

    const options: https.RequestOptions = {
      method: r.method,
      protocol: via.protocol,
      hostname: via.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: via.port || (secure ? 443 : 80),
      path: proxy ? target.href : `${target.pathname}${target.search}`,
      headers,
      agent: tunnelled ? this.tunnel : secure ? this.agents.https : this.agents.http,
      rejectUnauthorized: !this.opts.insecure,
    };

    return new Promise((resolve, reject) => {
      if (r.signal.aborted) {
        reject(abortError(r.signal));
        return;
      }
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const finish = (err: unknown, value?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        r.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value);
      };
      const req = (secure ? https : http).request(options, (res) => {
        const status = res.statusCode ?? 0;
        const encoding = String(res.headers['content-encoding'] ?? '')
          .trim()
          .toLowerCase();
        if (encoding && encoding !== 'identity') {
          drop(new ReplyRefused('encoding', r.limitBytes));
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > r.limitBytes) {
          drop(new ReplyRefused('size', r.limitBytes));
          return;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > r.limitBytes) {
            drop(new ReplyRefused('size', r.limitBytes));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => drop(err));
        res.on('end', () => {
          if (settled) return;
          const body = decodeBody(Buffer.concat(chunks), res.headers['content-type']);
          if (status >= 400) finish(new ApiError(status, body, r.method, target.href));
          else finish(undefined, body);
        });
      });
      // Drop the request and its connection (a socket that was given up on is never reused).
      function drop(err: unknown): void {
        finish(err);
        req.destroy();
      }
      function onAbort(): void {
        drop(abortError(r.signal));
      }
      r.signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => finish(err));
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => drop(new Error(`no connection to ${via.host} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      req.end(payload);
    });
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('the request was aborted');
}

/** JSON when the reply says it is JSON and it parses; otherwise its text; undefined when empty. */
function decodeBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (JSON_TYPES.has(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
