// The smallest HTTP client the action protocol needs: one JSON POST over a keep-alive agent,
// bounded by a timer, abortable from outside (container exited, runtime closing). Plain node:http
// on purpose: the /run path must add as little latency as possible.

import http from 'node:http';

export interface HttpReply {
  status: number;
  body: string;
}

export type CallFailure = 'timeout' | 'dropped' | 'aborted';

export class HttpCallError extends Error {
  constructor(
    readonly kind: CallFailure,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpCallError';
  }
}

/** Lets the owner of a call abort it (the promise then rejects with kind 'aborted' and this reason). */
export interface CallHandle {
  abort(reason: string): void;
}

export function createAgent(): http.Agent {
  // keepAlive: reuse the connection to each container. Node's agent honours the server's
  // "Keep-Alive: timeout=N" hint and drops idle sockets a second before the server would.
  return new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
}

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

export function postJson(
  agent: http.Agent | false,
  host: string,
  port: number,
  path: string,
  body: string,
  timeoutMs: number,
  onHandle?: (h: CallHandle | undefined) => void,
): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const req = http.request({
      host,
      port,
      path,
      method: 'POST',
      agent,
      headers: { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(body) },
    });
    const finish = (err: HttpCallError | undefined, reply?: HttpReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (onHandle) onHandle(undefined);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(reply as HttpReply);
      }
    };
    const timer = setTimeout(
      () => finish(new HttpCallError('timeout', `no reply to POST ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    if (onHandle) {
      onHandle({ abort: (reason) => finish(new HttpCallError('aborted', reason)) });
    }
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let data = '';
      res.on('data', (c: string) => {
        data += c;
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: data }));
      res.on('aborted', () => finish(new HttpCallError('dropped', 'the connection closed before the reply was complete')));
      res.on('error', (e: NodeJS.ErrnoException) => finish(new HttpCallError('dropped', e.message, e.code)));
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish(new HttpCallError('dropped', e.message, e.code)));
    req.end(body);
  });
}

/**
 * One readiness probe: GET a path neither /init nor /run (no side effects on any action proxy:
 * Node/express, Go ActionLoop and dockerskeleton all answer 404). Any HTTP reply means the proxy
 * listens; a network error means not yet.
 */
export function probe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let done = false;
    const req = http.request({ host, port, path: '/ping', method: 'GET', agent: false, timeout: timeoutMs });
    const end = (ok: boolean): void => {
      if (done) return;
      done = true;
      req.destroy();
      resolve(ok);
    };
    req.on('response', (res) => {
      res.resume();
      end(true);
    });
    req.on('timeout', () => end(false));
    req.on('error', () => end(false));
    req.end();
  });
}
