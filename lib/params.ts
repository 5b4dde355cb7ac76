import { OpenWhiskNodeError } from './errors';
import { ENTITY_NAME_RULE, isEntityName, parseName } from './names';

/**
 * Deepest nesting of objects and arrays a result may have. Node-RED copies messages recursively
 * (when a node has several wires, in Catch and debug), so a small but very deep result — 60 KB
 * of `{"a":{"a":…}}` — would overflow the stack there and take the whole runtime down.
 */
export const MAX_RESULT_DEPTH = 200;

/** True when `value` nests objects/arrays deeper than `max`; iterative, so any depth is safe to test. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return false;
}

export function tooDeepMessage(max = MAX_RESULT_DEPTH): string {
  return `The action produced a result nested more than ${max} levels deep, which Node-RED cannot pass on (it copies messages recursively). Return a flatter result.`;
}

export interface ParamItem {
  key: string;
  value: unknown;
}

/** The node's {key, value} list as an object; blank keys are ignored, later keys win. */
export function paramsObject(list: ParamItem[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of list ?? []) {
    if (p && typeof p.key === 'string' && p.key.trim() !== '') out[p.key.trim()] = p.value;
  }
  return out;
}

/**
 * The parameters of one invocation: msg.payload over the node's params.
 * An object payload is merged key by key; a Buffer arrives base64-encoded as {payload};
 * a string, number, boolean or array arrives as {payload}; null/undefined adds nothing.
 * (Package, binding and action defaults sit underneath, merged by the executor.)
 */
export function invocationParams(nodeParams: Record<string, unknown>, payload: unknown): Record<string, unknown> {
  if (payload === undefined || payload === null) return { ...nodeParams };
  if (Buffer.isBuffer(payload)) return { ...nodeParams, payload: payload.toString('base64') };
  switch (typeof payload) {
    case 'string':
    case 'number':
    case 'boolean':
      return { ...nodeParams, payload };
    case 'object':
      if (Array.isArray(payload)) return { ...nodeParams, payload };
      return { ...nodeParams, ...(payload as Record<string, unknown>) };
    default:
      throw new OpenWhiskNodeError(
        'input',
        `msg.payload of type ${typeof payload} cannot be sent to an action: use an object, a string, a number, a boolean or a Buffer.`,
        { short: 'bad payload' },
      );
  }
}

/** Splits "ns/pkg/name", "/ns/name", "pkg/name" or "name" into namespace and name (with package). */
export function parseActionName(action: string, namespace: string): { namespace: string; name: string } {
  const parsed = parseName(action);
  if (!parsed) {
    throw new OpenWhiskNodeError(
      'config',
      `Action name '${clip(action)}' is not valid: use "action", "package/action" or "/namespace/[package/]action", where ${ENTITY_NAME_RULE}.`,
      { short: 'bad action name' },
    );
  }
  return { namespace: parsed.namespace ?? checkNamespace(namespace, 'bad action name'), name: parsed.name };
}

/** A namespace given apart from the name (the node's field, msg.namespace): "_" when empty, else an entity name. */
export function checkNamespace(namespace: string, short = 'bad namespace'): string {
  const ns = String(namespace ?? '').trim() || '_';
  if (!isEntityName(ns)) {
    throw new OpenWhiskNodeError(
      'config',
      `Namespace '${clip(ns)}' is not valid: a namespace is one OpenWhisk name (${ENTITY_NAME_RULE}), or "_" for the key's own.`,
      { short },
    );
  }
  return ns;
}

/** A name as quoted in a message: at most 80 characters. */
function clip(s: string): string {
  const t = String(s ?? '');
  return t.length > 80 ? `${t.slice(0, 80)}…` : t;
}
