// An action written in the openwhisk-action node itself ("code: written here"): its kind, entry
// point, limits and code, checked, and turned into the ActionDoc the engine provisions locally
// (catalog/inline.ts) or the document PUT to an OpenWhisk service (deploy.ts).

import { OpenWhiskNodeError } from './errors';
import { checkNamespace, parseActionName } from './params';
import type { ActionDoc, ActionLimits, ActionRef, KeyValue } from './types';

/** The kinds the editor offers; `nodejs:default` is what an old node-red-node-openwhisk flow deploys. */
export const INLINE_KINDS = ['nodejs:20', 'nodejs:22', 'python:3.11'] as const;
const ACCEPTED_KINDS = new Set<string>([...INLINE_KINDS, 'nodejs:default', 'python:default', 'python:3']);

/** Largest code the node carries (characters): the flow file holds it, and OpenWhisk's own limit is 48 MB. */
export const MAX_INLINE_CODE = 1024 * 1024;

export const INLINE_DEFAULTS = { main: 'main', memory: 256, timeoutSeconds: 60, concurrency: 1 } as const;

/** What the node's config says of its own action. */
export interface InlineConfig {
  kind?: unknown;
  main?: unknown;
  code?: unknown;
  /** MB. */
  memory?: unknown;
  /** Seconds (as the function node's timeout). */
  timeout?: unknown;
  concurrency?: unknown;
}

export interface InlineSpec {
  kind: string;
  main: string;
  code: string;
  limits: Required<Pick<ActionLimits, 'memory' | 'timeout' | 'concurrency'>>;
  /** An old node's parameters, deployed as the action's defaults (as node-red-node-openwhisk did). */
  parameters?: KeyValue[];
}

const bad = (message: string, short: string) => new OpenWhiskNodeError('config', message, { short });

function whole(v: unknown, dflt: number, what: string, min: number, max: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    throw bad(
      `The inline action's ${what} must be a whole number from ${min} to ${max}, not '${String(v)}': set it in the openwhisk-action node.`,
      `bad ${what.split(' ')[0]}`,
    );
  }
  return n;
}

/** Checks the node's inline action; throws a config error naming the field and what to do. */
export function inlineSpec(cfg: InlineConfig): InlineSpec {
  const kind = typeof cfg.kind === 'string' && cfg.kind.trim() ? cfg.kind.trim() : INLINE_KINDS[0];
  if (!ACCEPTED_KINDS.has(kind)) {
    throw bad(`The inline action's kind '${kind}' is not one this node writes: choose ${INLINE_KINDS.join(', ')} in the openwhisk-action node.`, 'bad kind');
  }
  const main = typeof cfg.main === 'string' && cfg.main.trim() ? cfg.main.trim() : INLINE_DEFAULTS.main;
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(main) || main.length > 128) {
    throw bad(
      `The inline action's entry point '${main.slice(0, 128)}' is not a function name: write the name of the function to run (default 'main').`,
      'bad entry point',
    );
  }
  const code = typeof cfg.code === 'string' ? cfg.code : '';
  if (!code.trim())
    throw bad('The inline action has no code: write it in the openwhisk-action node (a function main(params) that returns an object).', 'no code');
  if (code.length > MAX_INLINE_CODE) {
    throw bad(
      `The inline action's code has ${code.length} characters, more than the ${MAX_INLINE_CODE} an inline action may have: put larger code in a manifest or an OpenWhisk service and choose "from the catalog".`,
      'code too large',
    );
  }
  return {
    kind,
    main,
    code,
    limits: {
      memory: whole(cfg.memory, INLINE_DEFAULTS.memory, 'memory (MB)', 128, 4096),
      timeout: whole(cfg.timeout, INLINE_DEFAULTS.timeoutSeconds, 'timeout (seconds)', 1, 300) * 1000,
      concurrency: whole(cfg.concurrency, INLINE_DEFAULTS.concurrency, 'concurrency', 1, 500),
    },
  };
}

/** The name an inline action has when the node gives none: one per node, in the package 'node-red'. */
export function defaultInlineName(nodeId: string): string {
  return `node-red/${String(nodeId).replace(/[^\w@ .&-]/g, '_')}`;
}

/** The action's reference: the node's Action (and Namespace), or the default name. */
export function inlineRef(action: string, namespace: string, nodeId: string): ActionRef {
  if (action.trim()) return parseActionName(action.trim(), namespace.trim());
  return { namespace: namespace.trim() ? checkNamespace(namespace.trim()) : '_', name: defaultInlineName(nodeId) };
}

/** The document the engine provisions: the ref's package goes into its namespace, as GET of an action gives it. */
export function inlineDoc(spec: InlineSpec, ref: ActionRef, version?: string): ActionDoc {
  const parts = ref.name.split('/');
  const name = parts.pop() as string;
  const ns = ref.namespace || '_';
  return {
    namespace: parts.length ? `${ns}/${parts.join('/')}` : ns,
    name,
    ...(version ? { version } : {}),
    exec: { kind: spec.kind, code: spec.code, main: spec.main, binary: false },
    limits: { ...spec.limits },
    parameters: spec.parameters ? spec.parameters.map((p) => ({ ...p })) : [],
    annotations: [{ key: 'exec', value: spec.kind }],
  };
}

const sameKind = (want: string, have: string | undefined): boolean =>
  want === have || (want.endsWith(':default') && typeof have === 'string' && have.startsWith(want.slice(0, -'default'.length)));

const canonical = (params: KeyValue[] | undefined): string =>
  JSON.stringify([...(params ?? [])].map((p) => [p.key, p.value]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));

/** What differs between the service's action and the node's (empty: nothing to deploy). */
export function differences(current: ActionDoc, spec: InlineSpec): string[] {
  const out: string[] = [];
  const exec = current.exec ?? { kind: '' };
  if (!sameKind(spec.kind, exec.kind)) out.push('kind');
  if (exec.binary === true || exec.code !== spec.code) out.push('code');
  if ((exec.main ?? 'main') !== spec.main) out.push('entry point');
  for (const k of ['memory', 'timeout', 'concurrency'] as const) {
    if (current.limits?.[k] !== spec.limits[k]) out.push(k);
  }
  if (spec.parameters && canonical(current.parameters) !== canonical(spec.parameters)) out.push('parameters');
  return out;
}
