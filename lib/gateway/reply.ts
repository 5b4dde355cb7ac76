// The gateway API's replies and request bodies, as apache/openwhisk's controller shapes them: status,
// `{error, code}` bodies, paging, name checks, the parameters of an invoke, the record of a failure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OpenWhiskNodeError } from '../errors';
import { newActivationId } from '../local/protocol';
import { ENTITY_NAME_MAX, isEntityName } from '../names';
import type { ActionDoc, ActionRef, Activation, KeyValue } from '../types';
import { DEFAULT_VERSION } from './entities';

export interface Reply {
  status: number;
  body: unknown;
  /** A controller error: its body gets the request's code. */
  own?: boolean;
  headers?: Record<string, string>;
  /** A body that is not JSON, sent as it is with this Content-Type. */
  text?: { type: string; body: string };
  /** Work the answer need not wait for (keeping the activation's record): run once it is written. */
  after?: () => void;
}

export const NOT_FOUND = 'The requested resource does not exist.';
export const LIST_MAX = 200;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** 32 lowercase hex characters, as OpenWhisk's ids: the engine's activation ids (hex of a pooled random buffer). */
export const newId = newActivationId;

/**
 * The invoke's parameters: a JSON object of at most `max` bytes, arriving within `bodyMs`, and its size in bytes
 * (as received; as JSON when a parser before the API read them).
 */
export function readBody(req: IncomingMessage, max: number, bodyMs: number): Promise<{ params: Record<string, unknown>; bytes: number }> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.reject(new HttpError(413, `The request content was too large (${declared} bytes exceeds the maximum of ${max} bytes).`));
  }
  const type = String(req.headers['content-type'] ?? '');
  // With httpAdminRoot at "/" (Node-RED's default) the admin app's JSON parser has read the body already.
  const pre = req as IncomingMessage & { _body?: boolean; body?: unknown };
  if (pre._body || pre.readableEnded) {
    const v = pre.body;
    if (v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0 && !(Number(declared) > 2)))
      return Promise.resolve({ params: {}, bytes: 2 });
    if (type && !/^application\/json\b/i.test(type))
      return Promise.reject(new HttpError(415, "The request's Content-Type is not supported. Expected: application/json"));
    if (!v || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v))
      return Promise.reject(new HttpError(400, 'The request content was malformed: the parameters must be a JSON object.'));
    const bytes = Buffer.byteLength(JSON.stringify(v));
    if (bytes > max) return Promise.reject(new HttpError(413, `The request content was too large (more than the maximum of ${max} bytes).`));
    return Promise.resolve({ params: v as Record<string, unknown>, bytes });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (e?: Error, v?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) reject(e);
      // An empty body counts as "{}".
      else resolve({ params: v as Record<string, unknown>, bytes: Math.max(size, 2) });
    };
    const timer = setTimeout(() => {
      finish(new HttpError(408, 'The request body did not arrive in time.'));
      req.destroy();
    }, bodyMs);
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        finish(new HttpError(413, `The request content was too large (more than the maximum of ${max} bytes).`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => finish(new HttpError(400, 'The request body could not be read.')));
    req.on('end', () => {
      if (size === 0) return finish(undefined, {});
      if (type && !/^application\/json\b/i.test(type))
        return finish(new HttpError(415, "The request's Content-Type is not supported. Expected: application/json"));
      let v: unknown;
      try {
        v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return finish(new HttpError(400, 'The request content was malformed: the body is not JSON.'));
      }
      if (!v || typeof v !== 'object' || Array.isArray(v))
        return finish(new HttpError(400, 'The request content was malformed: the parameters must be a JSON object.'));
      finish(undefined, v as Record<string, unknown>);
    });
  });
}

export function err(status: number, error: string): Reply {
  return { status, body: { error }, own: true };
}

export function send(res: ServerResponse, reply: Reply): void {
  if (reply.text) {
    const { type, body: raw } = reply.text;
    res.writeHead(reply.status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(raw), 'Cache-Control': 'no-store', ...reply.headers });
    res.end(raw);
    return;
  }
  let body = reply.body;
  // A controller error carries the request's code (the transaction id a client can quote).
  if (reply.own) body = { ...(body as object), code: newId() };
  const text = JSON.stringify(body ?? null);
  res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...reply.headers });
  res.end(text);
}

export function paging(q: URLSearchParams): { skip: number; limit: number } {
  const n = (k: string, d: number) => {
    if (!q.has(k)) return d;
    const v = Number(q.get(k));
    if (!Number.isInteger(v) || v < 0) throw new HttpError(400, `The parameter '${k}' must be a non-negative integer.`);
    return v;
  };
  const skip = n('skip', 0);
  let limit = n('limit', 30);
  if (limit === 0) limit = LIST_MAX;
  if (limit > LIST_MAX) throw new HttpError(400, `The value '${limit}' is not in the range of 0 to ${LIST_MAX} for parameter 'limit'.`);
  return { skip, limit };
}

/** Entity names in a path, as the controller checks them. */
export function checkNames(parts: string[]): void {
  for (const part of parts) {
    if (part.length > ENTITY_NAME_MAX) throw new HttpError(400, `Name segment longer than allowed: ${part.length} > ${ENTITY_NAME_MAX} characters.`);
    if (!isEntityName(part)) throw new HttpError(400, 'The name of the entity contains illegal characters.');
  }
}

export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'The request path is malformed.');
  }
}

export function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** A failure of the runner without an activation, as the controller would answer it. */
export function failureOf(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (!(e instanceof OpenWhiskNodeError)) return new HttpError(500, 'The server encountered an internal error.');
  if (e.statusCode === 404 || e.short === 'not found') return new HttpError(404, NOT_FOUND);
  // No container can give way now: OpenWhisk throttles with 429 (clients retry), never a server error.
  if (e.reason === 'capacity') return new HttpError(429, `Too many concurrent requests in flight: ${e.message}`);
  switch (e.code) {
    case 'overload':
      return new HttpError(429, e.message);
    case 'http':
      return new HttpError(e.statusCode === 429 ? 429 : 502, e.message);
    case 'unreachable':
    case 'docker':
      return new HttpError(503, e.message);
    case 'input':
      return new HttpError(400, e.message);
    case 'timeout':
      return new HttpError(502, e.message);
    default:
      return new HttpError(500, e.message);
  }
}

/** The record of an invocation that failed before its action ran, shaped as the platform's records. */
export function failedBeforeRun(ref: ActionRef, doc: ActionDoc | undefined, activationId: string, namespace: string, received: number, e: unknown): Activation {
  const now = Date.now();
  const i = ref.name.lastIndexOf('/');
  const annotations: KeyValue[] = [{ key: 'path', value: `${namespace}/${ref.name}` }];
  if (doc?.exec?.kind) annotations.push({ key: 'kind', value: doc.exec.kind });
  if (doc?.limits) annotations.push({ key: 'limits', value: doc.limits });
  annotations.push({ key: 'waitTime', value: now - received });
  return {
    activationId,
    namespace,
    name: ref.name.slice(i + 1),
    subject: namespace,
    version: doc?.version ?? DEFAULT_VERSION,
    publish: false,
    start: now,
    end: now,
    duration: 0,
    response: { status: 'whisk internal error', success: false, result: { error: e instanceof Error ? e.message : String(e) } },
    logs: [],
    annotations,
  };
}
