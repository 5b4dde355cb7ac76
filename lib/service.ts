import { OpenWhiskNodeError } from './errors';
import { qualifiedName } from './names';
import { type ActionSummary, BadReply, OpenWhiskRest, type PackageSummary, UnsafePath } from './openwhisk-rest';
import { replyRefused } from './openwhisk-http';
import type { ActionDoc, ActionRef, Catalog, InvokeOptions } from './types';

export interface ServiceConfig {
  /** API host, with or without the /api/v1 suffix; http or https; scheme defaults to https. */
  api: string;
  /** "uuid:key" */
  key: string;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
  timeouts?: ServiceTimeouts;
}

/** Bounds on the REST calls: an API host that accepts the connection and never answers must not hang a flow. */
export interface ServiceTimeouts {
  /** A lookup (action, list, runtimes, one poll of an activation), in ms. Default 10000. */
  requestMs?: number;
  /**
   * The deployment's blocking window, in ms (OpenWhisk's max-wait-for-blocking-activation, 60 s):
   * a blocking invoke is answered within it, with the activation or with 202 and its id. The
   * invoke call is bounded by this window plus requestMs. Default 60000.
   */
  blockingWindowMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10000;
export const DEFAULT_BLOCKING_WINDOW_MS = 60000;

/** Normalises an API host the way users type it: "host:3233", "https://host/api/v1/" → "https://host". */
export function normaliseApiHost(api: string): string {
  let url = (api ?? '').trim();
  if (!url)
    throw new OpenWhiskNodeError('config', 'The OpenWhisk service has no API host: set it in the openwhisk-service config node.', { short: 'no API host' });
  if (!/^https?:\/\//i.test(url)) url = `https://${url}`;
  url = url
    .replace(/\/+$/, '')
    .replace(/\/api\/v1$/i, '')
    .replace(/\/+$/, '');
  try {
    new URL(url);
  } catch {
    throw new OpenWhiskNodeError('config', `The OpenWhisk API host '${api}' is not a valid URL.`, { short: 'bad API host' });
  }
  return url;
}

/** A summary of what the namespace holds, for the editor's action list. */
export interface EntityList {
  namespace: string;
  /** "[pkg/]name", with what the list gave of the action besides (gateway API lists). */
  actions: ({ name: string; kind?: string } & Omit<ActionSummary, 'name' | 'namespace' | 'kind'>)[];
  packages: PackageSummary[];
  /** The namespace's triggers, by name. */
  triggers: { name: string }[];
}

/** What every REST call takes: its bound, as a signal (see OpenWhiskRest). */
export interface Bounded {
  signal: AbortSignal;
}

/** A REST call that got no answer in time; not an HTTP status. */
export class NoAnswer extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${formatSeconds(ms)}`);
    this.name = 'NoAnswer';
  }
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

const formatMB = (bytes: number): string => String(Math.round((bytes / (1024 * 1024)) * 10) / 10);

interface OwError {
  statusCode?: number;
  error?: unknown;
  message?: string;
}

/** Maps a REST call's failure to a message that names the entity, the host and what to do. */
export function apiFailure(err: unknown, what: string, host: string): OpenWhiskNodeError {
  const e = (err ?? {}) as OwError;
  const body = (e.error ?? {}) as { error?: unknown };
  const detail = typeof body.error === 'string' ? body.error : '';
  const status = e.statusCode;
  const suffix = detail ? ` (${detail})` : '';
  if (err instanceof NoAnswer) {
    return new OpenWhiskNodeError(
      'unreachable',
      `The OpenWhisk API at ${host} did not answer the request for ${what} within ${formatSeconds(err.ms)}. ` +
        `Check that the API host in the openwhisk-service config node is an OpenWhisk API and that it is up.`,
      { short: 'no answer', cause: err },
    );
  }
  if (err instanceof UnsafePath) {
    return new OpenWhiskNodeError('input', `Not sent to OpenWhisk at ${host}: ${err.message}.`, { short: 'bad name', cause: err });
  }
  const refused = replyRefused(err);
  if (refused) {
    const sent = refused.reason === 'size' ? `more than ${formatMB(refused.limitBytes)} MB in its reply` : 'a compressed reply (not asked for)';
    return new OpenWhiskNodeError(
      'http',
      `OpenWhisk at ${host} sent ${sent} for ${what}; the reply was dropped. Check that the API host in the openwhisk-service config node is an OpenWhisk API (not a proxy or another server).`,
      {
        short: 'bad reply',
        cause: err,
      },
    );
  }
  if (err instanceof BadReply) {
    return new OpenWhiskNodeError('http', `OpenWhisk at ${host} answered the request for ${what} with something else: ${err.message}.`, {
      short: 'bad reply',
      cause: err,
    });
  }
  switch (status) {
    case undefined: {
      const cause = e.message ?? String(err);
      return new OpenWhiskNodeError(
        'unreachable',
        `Cannot reach the OpenWhisk API at ${host} for ${what}: ${cause}. Check the API host in the openwhisk-service config node and the network.`,
        { short: 'unreachable', cause: err },
      );
    }
    case 401:
      return new OpenWhiskNodeError(
        'http',
        `OpenWhisk at ${host} rejected the key for ${what} (401)${suffix}. Check the auth key ("uuid:key") in the openwhisk-service config node.`,
        { short: 'unauthorized', statusCode: status, cause: err },
      );
    case 403:
      return new OpenWhiskNodeError(
        'http',
        `The key is not allowed to access ${what} on ${host} (403)${suffix}. Check the namespace and the key's permissions.`,
        { short: 'forbidden', statusCode: status, cause: err },
      );
    case 404:
      return new OpenWhiskNodeError(
        'http',
        `${what} was not found on ${host} (404). Check the namespace and the action name (packaged actions are "package/action").`,
        { short: 'not found', statusCode: status, cause: err },
      );
    case 413:
      return new OpenWhiskNodeError(
        'http',
        `The parameters for ${what} are too large for ${host} (413)${suffix}. OpenWhisk accepts at most 1 MB of parameters: send a reference instead of the data.`,
        { short: 'too large', statusCode: status, cause: err },
      );
    case 429:
      return new OpenWhiskNodeError(
        'http',
        `OpenWhisk at ${host} is throttling ${what} (429)${suffix}. Slow the flow down (e.g. a delay node in rate-limit mode) or raise the namespace's limits.`,
        { short: 'throttled', statusCode: status, cause: err },
      );
    default:
      return new OpenWhiskNodeError('http', `OpenWhisk at ${host} answered HTTP ${status} for ${what}${suffix}.`, {
        short: `HTTP ${status}`,
        statusCode: status,
        cause: err,
      });
  }
}

export { qualifiedName };

/** One OpenWhisk deployment reached with one key: the catalog of actions and, in cloud mode, the executor. */
export class OpenWhiskService implements Catalog {
  readonly host: string;
  /** The REST calls of the catalog and the cloud invoker, typed and checked. */
  readonly rest: OpenWhiskRest;
  readonly location: string;
  private readonly key: string;
  private runtimesCache?: Promise<Record<string, string>>;
  readonly requestMs: number;
  readonly blockingWindowMs: number;

  constructor(cfg: ServiceConfig) {
    this.host = normaliseApiHost(cfg.api);
    this.requestMs = positiveMs(cfg.timeouts?.requestMs, DEFAULT_REQUEST_TIMEOUT_MS);
    this.blockingWindowMs = positiveMs(cfg.timeouts?.blockingWindowMs, DEFAULT_BLOCKING_WINDOW_MS);
    this.location = this.host;
    if (!cfg.key || !cfg.key.includes(':')) {
      throw new OpenWhiskNodeError('config', 'The openwhisk-service config node needs an auth key of the form "uuid:key".', { short: 'no auth key' });
    }
    this.key = cfg.key;
    this.rest = new OpenWhiskRest(this.host, cfg.key, Boolean(cfg.insecure));
  }

  /** Headers sent with an invoke (none here; a burst target to another gateway adds its via header). */
  invokeHeaders(_opts?: InvokeOptions): Record<string, string> {
    return {};
  }

  /** The key, for actions whose annotations allow it (provide-api-key). */
  get apiKey(): string {
    return this.key;
  }

  /**
   * Run one client call with a bound: `fn` gets the signal to pass in its options; past `ms` the
   * request is aborted and the call rejects with NoAnswer.
   */
  async bounded<T>(ms: number, fn: (b: Bounded) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ms);
    try {
      return await fn({ signal: ctl.signal });
    } catch (err) {
      if (ctl.signal.aborted) throw new NoAnswer(ms);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async getAction(ref: ActionRef, code = true): Promise<ActionDoc> {
    try {
      return await this.bounded(this.requestMs, (b) => this.rest.getAction(ref.namespace || '_', ref.name, code, b));
    } catch (err) {
      throw apiFailure(err, `action '${qualifiedName(ref)}'`, this.host);
    }
  }

  /** kind → image from the deployment's runtimes manifest. Rejects when it cannot be read (not kept: asked again next time). */
  runtimeImages(): Promise<Record<string, string>> {
    this.runtimesCache ??= this.fetchRuntimeImages();
    return this.runtimesCache;
  }

  private async fetchRuntimeImages(): Promise<Record<string, string>> {
    try {
      // GET / on the API host is the deployment's runtimes manifest (unauthenticated).
      const runtimes = await this.bounded(this.requestMs, (b) => this.rest.runtimes(b));
      const images: Record<string, string> = {};
      for (const [family, kinds] of Object.entries(runtimes)) {
        for (const k of kinds) {
          if (!k.image) continue;
          images[k.kind] = k.image;
          if (k.default) images[`${family}:default`] = k.image;
        }
      }
      return images;
    } catch (err) {
      // The manifest is a hint (the engine falls back to its built-in table); ask again next time.
      this.runtimesCache = undefined;
      throw apiFailure(err, 'the runtimes manifest (GET /)', this.host);
    }
  }

  /** A package with its parameters (the gateway API's GET of a package). */
  async getPackage(name: string, namespace = '_'): Promise<PackageSummary> {
    try {
      return await this.bounded(this.requestMs, (b) => this.rest.getPackage(namespace, name, b));
    } catch (err) {
      throw apiFailure(err, `package '${name}'`, this.host);
    }
  }

  /** Actions and packages of a namespace, for the editor. */
  async list(namespace = '_'): Promise<EntityList> {
    try {
      const [actions, packages, triggers] = await this.bounded(this.requestMs, (b) =>
        Promise.all([this.rest.listActions(namespace, 200, b), this.rest.listPackages(namespace, 200, b), this.rest.listTriggers(namespace, 200, b)]),
      );
      const acts = actions.map(({ namespace: ns, name, ...rest }) => {
        const pkg = ns.split('/')[1];
        return { ...rest, name: pkg ? `${pkg}/${name}` : name };
      });
      const pkgs = packages;
      acts.sort((a, b) => a.name.localeCompare(b.name));
      triggers.sort((a, b) => a.name.localeCompare(b.name));
      return { namespace, actions: acts, packages: pkgs, triggers };
    } catch (err) {
      throw apiFailure(err, `the actions of namespace '${namespace}'`, this.host);
    }
  }
}

function positiveMs(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(Math.round(v), 2 ** 31 - 1) : dflt;
}

/**
 * The service of an openwhisk-service config node; throws the node's own config error (no API host, no
 * auth key), or says the node is incomplete.
 */
export function usableService(node: { service?: OpenWhiskService; configError?: OpenWhiskNodeError }): OpenWhiskService {
  if (node.configError || !node.service) {
    throw node.configError ?? new OpenWhiskNodeError('config', 'The openwhisk-service config node is incomplete.', { short: 'bad service' });
  }
  return node.service;
}
