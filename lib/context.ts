// Node-RED context for actions. A node declares the flow and global context keys its action may use;
// each activation gets their values in the parameter `_context` ({flow: {...}, global: {...}}) and may
// return updates in the same reserved field of its result, which the node applies and removes from
// msg.payload. The same code works in local and cloud mode: only parameters and results carry context.
//
// Semantics: values are read when a message reaches the node and written when its activation ends
// (all of one activation's updates together, after it succeeded; none after a failure). Activations
// of one node running at once each see the values as they were when they started: for one key, the
// last to end wins (as with a function node's asynchronous code).

import { OpenWhiskNodeError } from './errors';

/** The reserved parameter and result field. */
export const CONTEXT_FIELD = '_context';
/** Keys a node may declare. */
export const MAX_CONTEXT_KEYS = 32;
/** Bytes of JSON each way: what is passed in, and what one activation may write. */
export const MAX_CONTEXT_BYTES = 64 * 1024;

export type Scope = 'flow' | 'global';
export interface ContextKey {
  scope: Scope;
  key: string;
}
export type ContextValues = Partial<Record<Scope, Record<string, unknown>>>;
export interface ContextUpdate extends ContextKey {
  /** undefined: delete the key (the action returned null). */
  value: unknown;
}

const KEY = /^[A-Za-z_$][\w$-]{0,127}$/;

const bad = (message: string, short: string) => new OpenWhiskNodeError('config', message, { short });

/** "flow.avg, global.limit" (commas or new lines) → the declared keys; throws naming the bad entry. */
export function parseContextKeys(text: unknown): ContextKey[] {
  const entries = String(text ?? '')
    .split(/[\s,]+/)
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length > MAX_CONTEXT_KEYS) {
    throw bad(
      `The node declares ${entries.length} context keys; an action may use at most ${MAX_CONTEXT_KEYS}: keep one object under fewer keys.`,
      'too many keys',
    );
  }
  const out: ContextKey[] = [];
  for (const e of entries) {
    const m = /^(flow|global)\.(.+)$/.exec(e);
    if (!m || !KEY.test(m[2])) {
      throw bad(
        `Context key '${e.slice(0, 80)}' is not valid: write flow.<name> or global.<name> (a name of letters, digits, '_', '$' or '-').`,
        'bad context key',
      );
    }
    if (!out.some((k) => k.scope === m[1] && k.key === m[2])) out.push({ scope: m[1] as Scope, key: m[2] });
  }
  return out;
}

const jsonSize = (v: unknown): number => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

/** The `_context` parameter from the values read; throws when it is larger than the bound (naming the largest key). */
export function contextParam(keys: ContextKey[], read: (k: ContextKey) => unknown): ContextValues {
  const out: ContextValues = {};
  for (const k of keys) {
    const v = read(k);
    if (v === undefined) continue;
    (out[k.scope] ??= {})[k.key] = v;
  }
  let size: number;
  try {
    size = jsonSize(out);
  } catch (err) {
    throw new OpenWhiskNodeError(
      'input',
      `The declared context cannot be sent to the action as JSON (${(err as Error).message}): keep plain data under the declared keys.`,
      { short: 'context not JSON' },
    );
  }
  if (size > MAX_CONTEXT_BYTES) {
    const sizes = keys.map((k) => ({ k, n: out[k.scope]?.[k.key] === undefined ? 0 : jsonSize(out[k.scope]?.[k.key]) })).sort((a, b) => b.n - a.n);
    const big = sizes[0];
    throw new OpenWhiskNodeError(
      'input',
      `The declared context holds ${size} bytes of JSON (the largest, ${big.k.scope}.${big.k.key}, ${big.n}); at most ${MAX_CONTEXT_BYTES} go to an action: keep large data elsewhere (a file, a database) and its reference in context.`,
      { short: 'context too large' },
    );
  }
  return out;
}

/**
 * Takes the action's updates out of its result (the result is changed: the field is removed). Returns
 * the updates to apply and the keys it wrote without declaring them (ignored). Throws, applying
 * nothing, when the updates are not an object of scopes or are larger than the bound.
 */
export function takeUpdates(result: unknown, keys: ContextKey[], actionName: string): { updates: ContextUpdate[]; undeclared: string[] } {
  if (!result || typeof result !== 'object' || Array.isArray(result) || !(CONTEXT_FIELD in result)) return { updates: [], undeclared: [] };
  const r = result as Record<string, unknown>;
  const raw = r[CONTEXT_FIELD];
  delete r[CONTEXT_FIELD];
  const shape = `return ${CONTEXT_FIELD}: {flow: {key: value}, global: {key: value}} (null deletes a key)`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new OpenWhiskNodeError(
      'developer_error',
      `Action '${actionName}' returned ${CONTEXT_FIELD} that is not an object: ${shape}. No context was changed.`,
      { short: 'bad context' },
    );
  }
  const size = jsonSize(raw);
  if (size > MAX_CONTEXT_BYTES) {
    throw new OpenWhiskNodeError(
      'developer_error',
      `Action '${actionName}' returned ${size} bytes of context updates; at most ${MAX_CONTEXT_BYTES} are applied at once: write less, or keep large data elsewhere. No context was changed.`,
      { short: 'context too large' },
    );
  }
  const updates: ContextUpdate[] = [];
  const undeclared: string[] = [];
  for (const [scope, values] of Object.entries(raw)) {
    if ((scope !== 'flow' && scope !== 'global') || !values || typeof values !== 'object' || Array.isArray(values)) {
      throw new OpenWhiskNodeError(
        'developer_error',
        `Action '${actionName}' returned ${CONTEXT_FIELD}.${scope.slice(0, 40)}: ${shape}. No context was changed.`,
        { short: 'bad context' },
      );
    }
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      if (!keys.some((k) => k.scope === scope && k.key === key)) undeclared.push(`${scope}.${key}`);
      else updates.push({ scope, key, value: value === null ? undefined : value });
    }
  }
  return { updates, undeclared };
}
