import type { Activation } from './types';

/**
 * Kinds of failure a flow can tell apart (msg.error.code on a Catch node):
 * - application_error: the action returned {error} (platform status "application error")
 * - developer_error: the action crashed, returned a non-object, failed /init
 * - timeout: the action exceeded its time limit
 * - http: the OpenWhisk API answered with an error status (401, 404, 429, ...)
 * - unreachable: the API host or Docker engine could not be reached
 * - docker: the Docker engine refused something (image, port, permission)
 * - config: the node or runtime is misconfigured
 * - overload: the queue in front of the containers is full
 * - input: the message cannot be turned into parameters
 */
export type ErrorCode = 'application_error' | 'developer_error' | 'timeout' | 'http' | 'unreachable' | 'docker' | 'config' | 'overload' | 'input';

/**
 * Why something failed, where code paths must tell failures apart (retry, health, bursting). Code
 * branches on this, never on display text: the ring's short text of an error with a reason is
 * derived from it (SHORT_OF_REASON) unless the caller gives one.
 */
export type Reason =
  /** The node or the local runtime was closed (flow stopped or redeployed). */
  | 'closed'
  /** The local runtime's containers are all in use. */
  | 'capacity'
  /** The Docker host is out of disk, memory or processes: the engine's health is degraded. */
  | 'no-disk'
  | 'no-memory'
  | 'no-processes'
  /** The host port Docker picked was taken meanwhile: one more try is worth it. */
  | 'port-in-use'
  /** No permission on the Docker socket. */
  | 'permission'
  /** The Docker engine cannot be reached, or did not answer in time. */
  | 'docker-unreachable'
  | 'docker-timeout';

export const SHORT_OF_REASON: Readonly<Record<Reason, string>> = {
  closed: 'closed',
  capacity: 'capacity full',
  'no-disk': 'docker: disk full',
  'no-memory': 'docker: no memory',
  'no-processes': 'docker: no room',
  'port-in-use': 'docker: port in use',
  permission: 'docker: permission',
  'docker-unreachable': 'docker unreachable',
  'docker-timeout': 'docker timeout',
};

/** Reasons for which the Docker host lacks room (health degraded). */
export const NO_ROOM: ReadonlySet<Reason> = new Set<Reason>(['no-disk', 'no-memory', 'no-processes']);

export class OpenWhiskNodeError extends Error {
  readonly code: ErrorCode;
  /** Short text for a node status ring (under 20 characters where possible). */
  readonly short: string;
  /** The activation record, where one exists. */
  readonly activation?: Activation;
  readonly statusCode?: number;
  /** Why, where code must tell failures apart. */
  readonly reason?: Reason;
  /** The action's own words, where it gave some (its /init error): a ring with room may quote them. */
  readonly detail?: string;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { short?: string; reason?: Reason; activation?: Activation; statusCode?: number; cause?: unknown; detail?: string } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OpenWhiskNodeError';
    this.code = code;
    this.reason = opts.reason;
    this.short = opts.short ?? (opts.reason ? SHORT_OF_REASON[opts.reason] : code.replace('_', ' '));
    this.activation = opts.activation;
    this.statusCode = opts.statusCode;
    if (opts.detail !== undefined) this.detail = opts.detail;
  }
}

/** Message of an action's error result, whatever shape the action gave it. */
export function errorText(error: unknown): string {
  let e = error;
  // Follows {error: {error: …}} a few levels, then gives the JSON (results reaching here are bounded in depth).
  for (let level = 0; level < 8; level++) {
    if (typeof e === 'string') return e;
    if (!e || typeof e !== 'object') break;
    const o = e as Record<string, unknown>;
    if (typeof o.message === 'string') return o.message;
    if (o.error === undefined) break;
    e = o.error;
  }
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/** Longest text an error message quotes from an action (its result, its logs). */
export const MAX_QUOTE_CHARS = 4096;

/** `text` cut to `max` characters, saying how much was left out. */
export function clip(text: string, max = MAX_QUOTE_CHARS): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)} … (${text.length - max} more characters)`;
}

/** Turns any activation that did not succeed into the matching error. */
export function activationFailure(activation: Activation, actionName: string): OpenWhiskNodeError {
  const { response } = activation;
  const result = (response.result ?? {}) as Record<string, unknown>;
  const text = clip(errorText(result.error ?? result) ?? '');
  const timedOut = activation.annotations.some((a) => a.key === 'timeout' && a.value === true);
  if (timedOut) {
    return new OpenWhiskNodeError('timeout', `Action '${actionName}' timed out: ${text}`, {
      short: 'timeout',
      activation,
    });
  }
  if (response.status === 'application error') {
    return new OpenWhiskNodeError('application_error', `Action '${actionName}' returned an error: ${text}`, {
      short: 'action error',
      activation,
    });
  }
  return new OpenWhiskNodeError('developer_error', `Action '${actionName}' failed (${response.status}): ${text}`, { short: 'action failed', activation });
}
