// The smallest HTTP client the action protocol needs: one JSON POST over a keep-alive agent,
// bounded by a timer, abortable from outside (container exited, runtime closing). Plain node:http
// on purpose: the /run path must add as little latency as possible.

import http from 'node:http';

export interface HttpReply {
  status: number;
  body: string;
  /**
   * X-Leon-Log-Bytes of a /run reply: what the action wrote to its stdout and stderr during this
   * activation, as our runtimes (runtimes/) count it. 0 lets the node close the activation's logs
   * without waiting for Docker to relay the sentinels. Absent from other images.
   */
  logBytes?: number;
  /**
   * X-Leon-Sentinels: none of a /run reply: the runtime wrote no log sentinels for this activation
   * (asked with X-Leon-Sentinels: if-written, it skips them when the activation wrote nothing), so
   * none are to be waited for or swallowed. Absent from other images and older ones.
   */
  noSentinels?: boolean;
}

const LOG_BYTES = /^\d{1,15}$/;

export type CallFailure = 'timeout' | 'dropped' | 'aborted' | 'too_large';

export class HttpCallError extends Error {
  constructor(
    readonly kind: CallFailure,
    message: string,
    readonly code?: string,
    /** kind 'too_large': the reply's length as declared (Content-Length) or as far as it was read, and its first characters. */
    readonly oversize?: { length: number; limit: number; head: string },
  ) {
    super(message);
    this.name = 'HttpCallError';
  }
}

/** Characters of an oversized reply kept for its error message. */
const HEAD_CHARS = 256;

/** Lets the owner of a call abort it (the promise then rejects with kind 'aborted' and this reason). */
export interface CallHandle {
  abort(reason: string): void;
}

export function createAgent(): http.Agent {
  // keepAlive: reuse the connection to each container. Without a `timeout` option Node's agent keeps
  // an idle socket until the server closes it (the "Keep-Alive: timeout=N" hint is not applied); our
  // Node.js runtime keeps idle connections 10 minutes, which makes a reuse racing the server's close rare.
  return new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
}

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };
/**
 * A /run's headers: our Node.js runtime writes no log sentinels for an activation that succeeded and
 * wrote nothing (its reply says so), which spares Docker relaying them over the attached stream on
 * every silent run (runtimes/nodejs/README.md). Other images ignore the header.
 */
export const RUN_HEADERS: Readonly<Record<string, string>> = { 'X-Leon-Sentinels': 'if-written' };

export function postJson(
  agent: http.Agent | false,
  host: string,
  port: number,
  path: string,
  body: string,
  timeoutMs: number,
  onHandle?: (h: CallHandle | undefined) => void,
  maxReplyBytes = Infinity,
  extraHeaders?: Readonly<Record<string, string>>,
): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const req = http.request({
      host,
      port,
      path,
      method: 'POST',
      agent,
      headers: { ...JSON_HEADERS, ...extraHeaders, 'Content-Length': Buffer.byteLength(body) },
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
    const timer = setTimeout(() => finish(new HttpCallError('timeout', `no reply to POST ${path} within ${timeoutMs} ms`)), timeoutMs);
    if (onHandle) {
      onHandle({ abort: (reason) => finish(new HttpCallError('aborted', reason)) });
    }
    req.on('response', (res) => {
      // The reply comes from untrusted code: never hold more of it than the limit. A declared length
      // past it fails at once; an undeclared one (chunked) as soon as the bytes read pass it.
      const tooLarge = (length: number, head: string) =>
        finish(
          new HttpCallError('too_large', `the reply to POST ${path} is over ${maxReplyBytes} bytes`, undefined, {
            length,
            limit: maxReplyBytes,
            head: head.slice(0, HEAD_CHARS),
          }),
        );
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxReplyBytes) {
        tooLarge(declared, '');
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        if (settled) return;
        bytes += c.length;
        if (bytes > maxReplyBytes) {
          tooLarge(
            bytes,
            Buffer.concat(chunks.length ? chunks : [c])
              .subarray(0, HEAD_CHARS * 4)
              .toString('utf8'),
          );
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        let body: string;
        try {
          body = Buffer.concat(chunks, bytes).toString('utf8');
        } catch (e) {
          // Only with a limit raised past what a string can hold: fail this call, not the process.
          finish(new HttpCallError('dropped', `the reply to POST ${path} cannot be read: ${(e as Error).message}`));
          return;
        }
        const reply: HttpReply = { status: res.statusCode ?? 0, body };
        const logBytes = res.headers['x-leon-log-bytes'];
        if (typeof logBytes === 'string' && LOG_BYTES.test(logBytes)) reply.logBytes = Number(logBytes);
        if (res.headers['x-leon-sentinels'] === 'none') reply.noSentinels = true;
        finish(undefined, reply);
      });
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

/**
 * The body of a warm-up: shaped like a /run body (an empty value and the run context's keys), so the
 * runtime parses what a /run brings.
 */
const WARM_UP_BODY = JSON.stringify({
  value: {},
  namespace: '',
  action_name: '',
  action_version: '',
  activation_id: '',
  transaction_id: '',
  deadline: '0',
});

/**
 * A `POST /warm-up` on the engine's kept-alive agent, for a stem cell that waits for its action
 * (container.ts warmUp). Our Node.js runtime rehearses its /run path with a built-in no-op there
 * (runtimes/nodejs/README.md); any other image (our Python one too: its action process starts only
 * at /init) answers it as an unknown route, as it answers probe(). The reply is read to its end, at
 * most `maxBytes` and within `timeoutMs`, so the connection stays open for the /init that follows.
 * Anything else (an error, a longer reply, no reply in time) destroys the connection; false then.
 */
export function warmUpCall(agent: http.Agent, host: string, port: number, timeoutMs: number, maxBytes = 4096): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let done = false;
    const req = http.request({
      host,
      port,
      path: '/warm-up',
      method: 'POST',
      agent,
      headers: { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(WARM_UP_BODY) },
    });
    const end = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!ok) req.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => end(false), timeoutMs);
    req.on('response', (res) => {
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        n += chunk.length;
        if (n > maxBytes) end(false);
      });
      res.on('end', () => end(true));
      res.on('aborted', () => end(false));
      res.on('error', () => end(false));
    });
    req.on('error', () => end(false));
    req.end(WARM_UP_BODY);
  });
}
