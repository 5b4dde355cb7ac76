// The OpenWhisk REST calls this package makes, typed: the catalog (service.ts: actions, packages,
// the runtimes manifest), the cloud invoker (cloud.ts: invoke, activations) and the trigger node
// (trigger.ts: fire, get), over the bounded HTTP client of openwhisk-http.ts. Replies are untrusted
// JSON: each is checked for the shape the caller relies on before it is typed. Every call takes an
// AbortSignal (its bound).

import { HttpClient, proxyFromEnv } from './openwhisk-http';
import type { ActionDoc, ActionLimits, Activation, KeyValue } from './types';

export interface RestCall {
  signal: AbortSignal;
  /** Extra request headers (the gateway's via header on an invoke to another gateway). */
  headers?: Record<string, string>;
}

/** What a PUT of an action sends: its code and limits (and, for an old node's deploy, its parameters). */
export interface ActionPut {
  exec: { kind: string; code: string; main?: string };
  limits?: ActionLimits;
  parameters?: KeyValue[];
  annotations?: KeyValue[];
}

export interface ActionSummary {
  /** "ns" or "ns/pkg". */
  namespace: string;
  name: string;
  /** The exec kind, from the 'exec' annotation, when the list gives it. */
  kind?: string;
  /** What else the list gives, when it does (WhiskAction summaryAsJson). */
  version?: string;
  binary?: boolean;
  limits?: ActionLimits;
  annotations?: KeyValue[];
  publish?: boolean;
  updated?: number;
}

export interface PackageSummary {
  name: string;
  /** The package is a binding of another. */
  binding: boolean;
  /** The bound package, for a binding. */
  bound?: { namespace: string; name: string };
  version?: string;
  publish?: boolean;
  annotations?: KeyValue[];
  updated?: number;
  /** Only in a GET of the package. */
  parameters?: KeyValue[];
}

const keyValues = (v: unknown): KeyValue[] | undefined =>
  Array.isArray(v) ? v.filter((x): x is KeyValue => isObject(x) && typeof x.key === 'string').map((x) => ({ ...x })) : undefined;

/** The fields of a list entry or a document that the gateway passes on, checked. */
function entityFields(a: Record<string, unknown>): { version?: string; publish?: boolean; annotations?: KeyValue[]; updated?: number } {
  const out: { version?: string; publish?: boolean; annotations?: KeyValue[]; updated?: number } = {};
  if (typeof a.version === 'string') out.version = a.version;
  if (typeof a.publish === 'boolean') out.publish = a.publish;
  const ann = keyValues(a.annotations);
  if (ann) out.annotations = ann;
  if (typeof a.updated === 'number' && Number.isFinite(a.updated)) out.updated = a.updated;
  return out;
}

function packageSummary(p: Record<string, unknown> & { name: string }): PackageSummary {
  const b = p.binding;
  const bound = isObject(b) && typeof b.namespace === 'string' && typeof b.name === 'string' ? { namespace: b.namespace, name: b.name } : undefined;
  return { name: p.name, binding: !!bound || (isObject(b) && Object.keys(b).length > 0), ...(bound ? { bound } : {}), ...entityFields(p) };
}

/** kind → image entries of the runtimes manifest (GET / on the API host), per family. */
export type RuntimesManifest = Record<string, { kind: string; image?: string; default?: boolean }[]>;

/** The reply was not what the OpenWhisk REST API answers (service.ts apiFailure reports it). */
export class BadReply extends Error {
  constructor(what: string) {
    super(`the answer to ${what} is not what the OpenWhisk API sends`);
    this.name = 'BadReply';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isActionDoc(v: unknown): v is ActionDoc {
  return isObject(v) && typeof v.name === 'string' && typeof v.namespace === 'string' && isObject(v.exec) && typeof v.exec.kind === 'string';
}

export function isActivation(v: unknown): v is Activation {
  return isObject(v) && typeof v.activationId === 'string' && isObject(v.response) && typeof v.response.success === 'boolean';
}

/**
 * A path that would leave the namespace it was built for: a part that is empty, "." or ".." (a URL
 * resolver takes those as dot segments: "namespaces/_/actions/../../other/actions/x" is another
 * namespace's action). Names are checked where they enter (names.ts, the gateway API); this is the
 * second line: no such path is ever sent with the key.
 */
export class UnsafePath extends Error {
  constructor(
    readonly part: string,
    what: string,
  ) {
    super(`'${part.length > 80 ? `${part.slice(0, 80)}…` : part}' cannot be part of the path of ${what}: an OpenWhisk name is never empty, "." or ".."`);
    this.name = 'UnsafePath';
  }
}

/** One path segment: refused when it is empty, "." or ".." or holds a "/", else percent-encoded. */
function segment(part: string, what: string): string {
  if (part === '' || part === '.' || part === '..' || part.includes('/')) throw new UnsafePath(part, what);
  return encodeURIComponent(part);
}

/** "pkg/name" → "pkg/name" with each segment checked and encoded. */
function entityPath(name: string, what: string): string {
  return String(name)
    .split('/')
    .map((p) => segment(p, what))
    .join('/');
}

function nsPath(namespace: string, what: string): string {
  return `namespaces/${segment(namespace || '_', what)}`;
}

/**
 * What one reply may hold. An action document with its code: OpenWhisk's largest code is 48 MB,
 * base64 in JSON. Anything else: an activation holds a result (OpenWhisk: ≤ 1 MB by default) and
 * up to 10 MB of logs; lists are of at most 200 entries.
 */
export const REPLY_LIMITS = { code: 72 * 1024 * 1024, other: 16 * 1024 * 1024 } as const;

export class OpenWhiskRest {
  private readonly http: HttpClient;
  /** The API's base URL ("https://host/api/v1/"): every path but "/" resolves below it. */
  private readonly base: string;
  private readonly limits: { code: number; other: number };

  constructor(apihost: string, apiKey: string, insecure: boolean, limits: { code: number; other: number; idleMs?: number } = REPLY_LIMITS) {
    const api = /^https?:\/\//i.test(apihost) ? apihost : `https://${apihost}`;
    this.base = new URL(`${api.replace(/\/+$/, '')}/api/v1/`).href;
    this.limits = { code: limits.code, other: limits.other };
    this.http = new HttpClient({ key: apiKey, insecure, proxy: proxyFromEnv(), idleMs: limits.idleMs });
  }

  /** Every request: `path` below the API's base URL ("/" is the API host's root), its reply bounded by `limit`. */
  private request(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    options: {
      qs?: Record<string, string | number | boolean>;
      body?: unknown;
      signal: AbortSignal;
      headers?: Record<string, string>;
      limit?: 'code' | 'other';
    },
  ): Promise<unknown> {
    // The path must land exactly below the API's base URL.
    const url = new URL(path, this.base);
    if (path !== '/' && url.href !== `${this.base}${path}`) return Promise.reject(new UnsafePath(path, 'a request'));
    for (const [k, v] of Object.entries(options.qs ?? {})) url.searchParams.set(k, String(v));
    return this.http.request({
      method,
      url,
      body: options.body,
      headers: options.headers,
      signal: options.signal,
      limitBytes: this.limits[options.limit ?? 'other'],
    });
  }

  async getAction(namespace: string, name: string, code: boolean, call: RestCall): Promise<ActionDoc> {
    const doc = await this.request('GET', `${nsPath(namespace, `action '${name}'`)}/actions/${entityPath(name, `action '${name}'`)}`, {
      qs: { code },
      signal: call.signal,
      limit: code ? 'code' : 'other',
    });
    if (!isActionDoc(doc)) throw new BadReply(`GET action '${name}'`);
    return doc;
  }

  /**
   * Create or update an action (PUT …/actions/{name}?overwrite=true): resolves with the stored
   * document (its new version). A packaged action needs its package (putPackage).
   */
  async putAction(namespace: string, name: string, action: ActionPut, call: RestCall): Promise<ActionDoc> {
    const doc = await this.request('PUT', `${nsPath(namespace, `action '${name}'`)}/actions/${entityPath(name, `action '${name}'`)}`, {
      qs: { overwrite: true },
      body: action,
      signal: call.signal,
      limit: 'code',
    });
    if (!isActionDoc(doc)) throw new BadReply(`PUT action '${name}'`);
    return doc;
  }

  /** Create a package with no parameters (PUT …/packages/{name}, no overwrite: an existing one answers 409). */
  async putPackage(namespace: string, name: string, call: RestCall): Promise<void> {
    const doc = await this.request('PUT', `${nsPath(namespace, `package '${name}'`)}/packages/${segment(name, `package '${name}'`)}`, {
      body: {},
      signal: call.signal,
    });
    if (!isObject(doc) || typeof doc.name !== 'string') throw new BadReply(`PUT package '${name}'`);
  }

  /**
   * A blocking invoke: resolves with the activation, or with its id when the blocking window ended
   * first (202). A 502 rejects with the activation of an application or developer error in the
   * error body (see activationOf).
   */
  async invoke(namespace: string, name: string, params: Record<string, unknown> | unknown[], call: RestCall): Promise<Activation | { activationId: string }> {
    const reply = await this.request('POST', `${nsPath(namespace, `action '${name}'`)}/actions/${entityPath(name, `action '${name}'`)}`, {
      qs: { blocking: true },
      body: params,
      signal: call.signal,
      headers: call.headers,
    });
    if (isActivation(reply)) return reply;
    if (isObject(reply) && typeof reply.activationId === 'string') return { activationId: reply.activationId };
    throw new BadReply(`the invoke of '${name}'`);
  }

  async getActivation(namespace: string, activationId: string, call: RestCall): Promise<Activation> {
    const a = await this.request(
      'GET',
      `${nsPath(namespace, `activation ${activationId}`)}/activations/${segment(activationId, `activation ${activationId}`)}`,
      { signal: call.signal },
    );
    if (!isActivation(a)) throw new BadReply(`GET activation ${activationId}`);
    return a;
  }

  async listActions(namespace: string, limit: number, call: RestCall): Promise<ActionSummary[]> {
    const list = await this.request('GET', `${nsPath(namespace, 'the list of actions')}/actions`, { qs: { limit }, signal: call.signal });
    if (!Array.isArray(list)) throw new BadReply('the list of actions');
    const out: ActionSummary[] = [];
    for (const a of list) {
      if (!isObject(a) || typeof a.name !== 'string' || typeof a.namespace !== 'string') continue;
      const exec = Array.isArray(a.annotations) ? a.annotations.find((x) => isObject(x) && x.key === 'exec') : undefined;
      const kind = isObject(exec) && typeof exec.value === 'string' ? exec.value : undefined;
      const limits: ActionLimits = {};
      if (isObject(a.limits)) {
        for (const k of ['timeout', 'memory', 'logs', 'concurrency'] as const) {
          const v = a.limits[k];
          if (typeof v === 'number' && Number.isFinite(v)) limits[k] = v;
        }
      }
      const binary = isObject(a.exec) && typeof a.exec.binary === 'boolean' ? a.exec.binary : undefined;
      out.push({
        namespace: a.namespace,
        name: a.name,
        kind,
        ...entityFields(a),
        ...(Object.keys(limits).length ? { limits } : {}),
        ...(binary !== undefined ? { binary } : {}),
      });
    }
    return out;
  }

  async listPackages(namespace: string, limit: number, call: RestCall): Promise<PackageSummary[]> {
    const list = await this.request('GET', `${nsPath(namespace, 'the list of packages')}/packages`, { qs: { limit }, signal: call.signal });
    if (!Array.isArray(list)) throw new BadReply('the list of packages');
    const out: PackageSummary[] = [];
    for (const p of list) {
      if (!isObject(p) || typeof p.name !== 'string') continue;
      out.push(packageSummary(p as Record<string, unknown> & { name: string }));
    }
    return out;
  }

  /** The triggers of a namespace, by name (the trigger node's picker). */
  async listTriggers(namespace: string, limit: number, call: RestCall): Promise<{ name: string }[]> {
    const list = await this.request('GET', `${nsPath(namespace, 'the list of triggers')}/triggers`, { qs: { limit }, signal: call.signal });
    if (!Array.isArray(list)) throw new BadReply('the list of triggers');
    return list.filter((t): t is Record<string, unknown> & { name: string } => isObject(t) && typeof t.name === 'string').map((t) => ({ name: t.name }));
  }

  /** GET a package: its summary and its parameters (binding parameters merged over the bound package's). */
  async getPackage(namespace: string, name: string, call: RestCall): Promise<PackageSummary> {
    const doc = await this.request('GET', `${nsPath(namespace, `package '${name}'`)}/packages/${segment(name, `package '${name}'`)}`, { signal: call.signal });
    if (!isObject(doc) || typeof doc.name !== 'string') throw new BadReply(`GET package '${name}'`);
    return { ...packageSummary(doc as Record<string, unknown> & { name: string }), parameters: keyValues(doc.parameters) ?? [] };
  }

  /**
   * Fire a trigger: OpenWhisk answers 202 {activationId}, or 204 with no body when no rule of the
   * trigger is active (nothing is recorded then: resolves with no id).
   */
  async fireTrigger(namespace: string, name: string, params: Record<string, unknown>, call: RestCall): Promise<{ activationId?: string }> {
    const reply = await this.request('POST', `${nsPath(namespace, `trigger '${name}'`)}/triggers/${segment(name, `trigger '${name}'`)}`, {
      body: params,
      signal: call.signal,
    });
    if (reply === undefined || reply === null || reply === '') return {};
    if (isObject(reply) && (reply.activationId === undefined || typeof reply.activationId === 'string')) {
      return typeof reply.activationId === 'string' ? { activationId: reply.activationId } : {};
    }
    throw new BadReply(`the firing of trigger '${name}'`);
  }

  /** GET a trigger (to check at deploy that it exists and the key may see it). */
  async getTrigger(namespace: string, name: string, call: RestCall): Promise<void> {
    const doc = await this.request('GET', `${nsPath(namespace, `trigger '${name}'`)}/triggers/${segment(name, `trigger '${name}'`)}`, { signal: call.signal });
    if (!isObject(doc) || typeof doc.name !== 'string') throw new BadReply(`GET trigger '${name}'`);
  }

  /** GET / on the API host: the deployment's runtimes manifest (unauthenticated); {} when it lists none. */
  async runtimes(call: RestCall): Promise<RuntimesManifest> {
    const info = await this.request('GET', '/', { signal: call.signal });
    const out: RuntimesManifest = {};
    if (!isObject(info) || !isObject(info.runtimes)) return out;
    for (const [family, kinds] of Object.entries(info.runtimes)) {
      if (!Array.isArray(kinds)) continue;
      out[family] = kinds.flatMap((k) =>
        isObject(k) && typeof k.kind === 'string'
          ? [{ kind: k.kind, image: typeof k.image === 'string' ? k.image : undefined, default: k.default === true }]
          : [],
      );
    }
    return out;
  }

  /** The activation in a 502's error body (an application or developer error of a blocking invoke), if any. */
  static activationOf(err: unknown): Activation | undefined {
    if (typeof err !== 'object' || err === null || !('statusCode' in err) || !('error' in err)) return undefined;
    return err.statusCode === 502 && isActivation(err.error) ? err.error : undefined;
  }
}
