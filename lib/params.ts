import { OpenWhiskNodeError } from './errors';

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
      throw new OpenWhiskNodeError('input', `msg.payload of type ${typeof payload} cannot be sent to an action: use an object, a string, a number, a boolean or a Buffer.`, { short: 'bad payload' });
  }
}

/** Splits "ns/pkg/name", "/ns/name", "pkg/name" or "name" into namespace and name (with package). */
export function parseActionName(action: string, namespace: string): { namespace: string; name: string } {
  const trimmed = action.trim();
  if (trimmed.startsWith('/')) {
    const parts = trimmed.slice(1).split('/').filter(Boolean);
    if (parts.length < 2 || parts.length > 3) {
      throw new OpenWhiskNodeError('config', `Action name '${action}' is not valid: use "action", "package/action" or "/namespace/[package/]action".`, { short: 'bad action name' });
    }
    return { namespace: parts[0], name: parts.slice(1).join('/') };
  }
  const parts = trimmed.split('/').filter(Boolean);
  if (parts.length === 0 || parts.length > 2) {
    throw new OpenWhiskNodeError('config', `Action name '${action}' is not valid: use "action", "package/action" or "/namespace/[package/]action".`, { short: 'bad action name' });
  }
  return { namespace: namespace.trim() || '_', name: parts.join('/') };
}
