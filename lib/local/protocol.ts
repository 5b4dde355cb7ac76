// Pure pieces of the action-container protocol (apache/openwhisk's docs/actions-new.md and its
// invoker's ContainerProxy):
// parameter partition and merge, /init and /run bodies, reply → activation response mapping,
// activation records. No I/O here, so all of it is unit-tested without Docker.

import { randomFillSync } from 'node:crypto';
import { DEFAULT_LIMITS, LIMIT_RANGES } from '../limits';
import { parseName } from '../names';
import { MAX_RESULT_DEPTH, nestedDeeperThan, tooDeepMessage } from '../params';
import type { ActionDoc, ActionLimits, Activation, ActivationResponse, KeyValue } from '../types';

export const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';

export { DEFAULT_LIMITS, LIMIT_RANGES };

/** Platform messages (apache/openwhisk common/scala/.../http/ErrorResponse.scala). */
export const Messages = {
  abnormalInitialization: 'The action did not initialize and exited unexpectedly.',
  abnormalRun: 'The action did not produce a valid response and exited unexpectedly.',
  memoryExhausted: 'The action exhausted its memory and was aborted.',
  timedOut(timeout: number, init: boolean): string {
    return `The action exceeded its time limits of ${timeout} milliseconds${init ? ' during initialization.' : '.'}`;
  },
  invalidInitResponse(body: string): string {
    return 'The action failed during initialization' + (body ? `: ${body}` : '.');
  },
  invalidRunResponse(body: string): string {
    return 'The action did not produce a valid JSON or JSON Array response' + (body ? `: ${body}` : '.');
  },
  /** A reply over the result limit; `head` is its beginning (a few hundred characters at most, may be empty). */
  truncatedResponse(length: number, limit: number, head: string): string {
    return (
      `The action produced a response that exceeded the allowed length: ${length} > ${limit} bytes.` + (head ? ` The truncated response was: ${head}` : '')
    );
  },
} as const;

/** Identity of an action as the invoker names it. */
export interface ActionIdentity {
  /** Namespace root, e.g. "guest" (also used as activation namespace and subject). */
  namespace: string;
  /** Package name or undefined. */
  pkg?: string;
  /** Short entity name, e.g. "hello" (sent as /init value.name). */
  name: string;
  /** "/guest/pkg/hello" (sent as /run action_name, __OW_ACTION_NAME). */
  qualified: string;
  /** "guest/pkg/hello" (the activation's path annotation). */
  path: string;
  version: string;
}

export function identityOf(doc: Pick<ActionDoc, 'namespace' | 'name' | 'version'>): ActionIdentity {
  const parts = String(doc.namespace ?? '')
    .split('/')
    .filter((s) => s !== '');
  const namespace = parts[0] ?? '_';
  const pkg = parts[1];
  const path = [namespace, ...(pkg ? [pkg] : []), doc.name].join('/');
  return { namespace, pkg, name: doc.name, qualified: `/${path}`, path, version: doc.version || '0.0.1' };
}

/** "/ns/pkg/name" or "/ns/name" (a sequence component) → the parts the Catalog needs. */
export function parseQualifiedName(fqn: string): { namespace: string; name: string } {
  const parsed = parseName(fqn);
  if (!parsed || parsed.namespace === undefined) {
    throw new Error(`'${fqn}' is not a fully qualified action name (/namespace/[package/]action)`);
  }
  return { namespace: parsed.namespace, name: parsed.name };
}

function positive(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

const clamp = (n: number, r: { min: number; max: number }) => Math.min(r.max, Math.max(r.min, n));

export function effectiveLimits(limits: ActionLimits | undefined): Required<ActionLimits> {
  const l = limits ?? {};
  return {
    timeout: Math.round(clamp(positive(l.timeout) ?? DEFAULT_LIMITS.timeout, LIMIT_RANGES.timeout)),
    memory: Math.round(clamp(positive(l.memory) ?? DEFAULT_LIMITS.memory, LIMIT_RANGES.memory)),
    logs: clamp(typeof l.logs === 'number' && Number.isFinite(l.logs) && l.logs >= 0 ? l.logs : DEFAULT_LIMITS.logs, LIMIT_RANGES.logs),
    concurrency: Math.floor(clamp(positive(l.concurrency) ?? 1, LIMIT_RANGES.concurrency)),
  };
}

export function annotationValue(annotations: KeyValue[] | undefined, key: string): unknown {
  const a = annotations?.find((x) => x && x.key === key);
  return a ? a.value : undefined;
}

/** The platform's Parameters.isTruthy. */
export function isTruthy(annotations: KeyValue[] | undefined, key: string, valueForNonExistent = false): boolean {
  const a = annotations?.find((x) => x && x.key === key);
  if (!a) return valueForNonExistent;
  const v = a.value;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (v === null || v === undefined) return false;
  return true;
}

/** An API key goes to the action only when `provide-api-key` is truthy or absent (as the invoker decides). */
export function apiKeyAllowed(annotations: KeyValue[] | undefined): boolean {
  return isTruthy(annotations, 'provide-api-key', true);
}

/** Stringify an env value as WhiskAction.containerInitializer does. */
export function envString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** Action parameters split as ContainerProxy.partitionArguments: init:true → /init env, rest → /run defaults. */
export function splitParams(parameters: KeyValue[] | undefined): {
  run: Record<string, unknown>;
  init: Record<string, unknown>;
} {
  const run: Record<string, unknown> = {};
  const init: Record<string, unknown> = {};
  for (const p of parameters ?? []) {
    if (!p || typeof p.key !== 'string') continue;
    if (p.init === true) init[p.key] = p.value;
    else run[p.key] = p.value;
  }
  return { run, init };
}

/**
 * Action defaults underneath the caller's params, by key presence (never truthiness): a caller's
 * 0, false, "" or null wins over the default. An array payload is passed through as is.
 */
export function mergeParams(
  defaults: Record<string, unknown>,
  params: Record<string, unknown> | unknown[] | null | undefined,
): Record<string, unknown> | unknown[] {
  if (Array.isArray(params)) return params;
  if (params === null || params === undefined || typeof params !== 'object') return { ...defaults };
  return { ...defaults, ...params };
}

/** Random bytes for ids, drawn 256 ids at a time (hex of a pooled buffer: a quarter of randomUUID without its dashes, here). */
const idPool = Buffer.alloc(4096);
let idNext = idPool.length;

/** 32 random lowercase hex characters, as OpenWhisk's activation ids. */
export function newActivationId(): string {
  if (idNext >= idPool.length) {
    randomFillSync(idPool);
    idNext = 0;
  }
  const id = idPool.toString('hex', idNext, idNext + 16);
  idNext += 16;
  return id;
}

/** Per-activation context: every field is a string (the Node.js proxy drops non-strings, the Python one crashes). */
export interface RunContext {
  namespace: string;
  action_name: string;
  action_version: string;
  activation_id: string;
  transaction_id: string;
  deadline: string;
  api_key?: string;
}

export function runContext(id: ActionIdentity, timeout: number, apiKey: string | undefined, now = Date.now()): RunContext {
  const ctx: RunContext = {
    namespace: id.namespace,
    action_name: id.qualified,
    action_version: id.version,
    activation_id: newActivationId(),
    transaction_id: newActivationId(),
    deadline: String(now + timeout),
  };
  if (apiKey) ctx.api_key = apiKey;
  return ctx;
}

/** The /init body. `code` is omitted when absent; `binary` is exec.binary, never re-guessed. */
export function initBody(doc: ActionDoc, ctx: RunContext, initParams: Record<string, unknown>): { value: Record<string, unknown> } {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(initParams)) env[k] = envString(v);
  for (const [k, v] of Object.entries(ctx)) {
    if (v === undefined) continue;
    env[`__OW_${k.toUpperCase()}`] = envString(v);
  }
  const value: Record<string, unknown> = {
    name: doc.name,
    main: doc.exec.main || 'main',
    binary: doc.exec.binary === true,
    env,
  };
  if (typeof doc.exec.code === 'string') value.code = doc.exec.code;
  return { value };
}

/** The /run body as a JSON string (built once per message, nothing else is serialised). */
export function runBody(value: Record<string, unknown> | unknown[], ctx: RunContext): string {
  return JSON.stringify({ value, ...ctx });
}

/** Same as runBody for a value already serialised (the pool serialises once, when the message arrives). */
export function runBodyJson(valueJson: string, ctx: RunContext): string {
  return `{"value":${valueJson},${JSON.stringify(ctx).slice(1)}`;
}

export function developerError(error: unknown, size?: number): ActivationResponse {
  const result = { error };
  return {
    status: 'action developer error',
    success: false,
    result,
    size: size ?? JSON.stringify(result).length,
  };
}

/** A reply over the result limit is an application error on the platform (ActivationResult.processRunResponseContent). */
export function applicationError(error: string, size?: number): ActivationResponse {
  const result = { error };
  return { status: 'application error', success: false, result, size: size ?? JSON.stringify(result).length };
}

/** ActivationResult.processRunResponseContent: map an HTTP reply of /run. */
export function mapRunResponse(status: number, body: string): ActivationResponse {
  const size = body.length;
  let parsed: unknown;
  let ok = true;
  try {
    parsed = JSON.parse(body);
  } catch {
    ok = false;
  }
  if (ok && parsed !== null && typeof parsed === 'object') {
    if (nestedDeeperThan(parsed, MAX_RESULT_DEPTH)) return developerError(tooDeepMessage(), size);
    if (Array.isArray(parsed)) {
      if (status === 200) return { status: 'success', success: true, result: parsed, size };
      return developerError(Messages.invalidRunResponse(body), size);
    }
    const obj = parsed as Record<string, unknown>;
    const hasError = Object.prototype.hasOwnProperty.call(obj, 'error');
    if (status === 200) {
      if (hasError) return { status: 'application error', success: false, result: { error: obj.error }, size };
      return { status: 'success', success: true, result: obj, size };
    }
    return developerError(hasError ? obj.error : Messages.invalidRunResponse(body), size);
  }
  return developerError(Messages.invalidRunResponse(body), size);
}

/** ActivationResult.processInitResponseContent for a non-200 /init reply: the error text. */
export function initFailureMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const e = (parsed as Record<string, unknown>).error;
      if (e !== undefined) return typeof e === 'string' ? e : JSON.stringify(e);
    }
  } catch {
    /* not JSON */
  }
  return Messages.invalidInitResponse(body);
}

export interface ActivationInput {
  id: ActionIdentity;
  activationId: string;
  kind: string;
  limits: Required<ActionLimits>;
  start: number;
  end: number;
  response: ActivationResponse;
  logs: string[];
  timeout: boolean;
  waitTime: number;
  initTime?: number;
  causedBySequence?: boolean;
}

/** An activation record shaped as the platform's (apache/openwhisk, ContainerProxy.constructWhiskActivation). */
export function buildActivation(a: ActivationInput): Activation {
  const annotations: KeyValue[] = [
    { key: 'limits', value: a.limits },
    { key: 'path', value: a.id.path },
    { key: 'kind', value: a.kind },
    { key: 'timeout', value: a.timeout },
  ];
  if (a.causedBySequence) annotations.push({ key: 'causedBy', value: 'sequence' });
  if (a.initTime !== undefined) annotations.push({ key: 'initTime', value: a.initTime });
  annotations.push({ key: 'waitTime', value: a.waitTime });
  return {
    activationId: a.activationId,
    namespace: a.id.namespace,
    name: a.id.name,
    subject: a.id.namespace,
    version: a.id.version,
    publish: false,
    start: a.start,
    end: a.end,
    duration: a.end - a.start,
    response: a.response,
    logs: a.logs,
    annotations,
  };
}
