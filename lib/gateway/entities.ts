// How the gateway API shapes the entities of its catalog, as apache/openwhisk's controller lists and
// gets them (WhiskEntity/WhiskAction/WhiskPackage summaryAsJson, WhiskPackageWithActions, WhiskRule,
// Controller.info, RestAPIs info). Only what the catalog really holds: the gateway makes nothing up.
import { DEFAULT_LIMITS, LIMIT_RANGES } from '../limits';
import { BUILTIN_RUNTIMES, resolveImage } from '../local/images';
import type { ActionSummary } from '../openwhisk-rest';
import type { KeyValue } from '../types';

/**
 * One action of the catalog, as the runtime knows it (its GET document without the code, or a list
 * entry): the REST list's summary shape; `namespace` is "ns" or "ns/pkg" (the API puts its own
 * namespace in front of the package), `name` the short name ("sort", never "utils/sort").
 */
export type ListedAction = ActionSummary;

export interface ListedPackage {
  name: string;
  version?: string;
  publish?: boolean;
  annotations?: KeyValue[];
  parameters?: KeyValue[];
  /** A binding of another package ("ns/pkg"), as the catalog reports it. */
  binding?: { namespace: string; name: string };
  updated?: number;
}

export interface ListedTrigger {
  name: string;
  parameters?: KeyValue[];
  annotations?: KeyValue[];
  version?: string;
  updated?: number;
}

export interface ListedRule {
  name: string;
  trigger: string;
  /** "[pkg/]action" relative to the namespace, or "/ns/[pkg/]action". */
  action: string;
  status: 'active' | 'inactive';
  annotations?: KeyValue[];
  version?: string;
  updated?: number;
}

/** What the runtime lets the API read besides actions (all optional: an empty collection without them). */
export interface GatewayEntities {
  listPackages?(): Promise<ListedPackage[]>;
  /** One package with its parameters, when the list does not carry them; undefined: not found. */
  getPackage?(name: string): Promise<ListedPackage | undefined>;
  listTriggers?(): Promise<ListedTrigger[]>;
  listRules?(): Promise<ListedRule[]>;
}

export const DEFAULT_VERSION = '0.0.1';

/** "ns[/pkg]" with the API's namespace as its root. */
export function underNamespace(ns: string, catalogNamespace: string): string {
  const pkg = String(catalogNamespace ?? '')
    .split('/')
    .filter(Boolean)[1];
  return pkg ? `${ns}/${pkg}` : ns;
}

/** The annotations as the controller keeps them: `exec` always the kind (it writes that one itself). */
function withExecAnnotation(annotations: KeyValue[] | undefined, kind: string | undefined): KeyValue[] {
  const rest = (annotations ?? []).filter((a) => a && a.key !== 'exec');
  return kind ? [...rest, { key: 'exec', value: kind }] : rest;
}

/** An action list entry (WhiskAction summaryAsJson), plus `exec.kind`, which the catalog knows and clients read. */
export function actionEntry(ns: string, a: ListedAction): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    namespace: underNamespace(ns, a.namespace),
    name: a.name,
    version: a.version ?? DEFAULT_VERSION,
    publish: a.publish ?? false,
    annotations: withExecAnnotation(a.annotations, a.kind),
    limits: { ...DEFAULT_LIMITS, ...(a.limits ?? {}) },
    exec: { ...(a.kind ? { kind: a.kind } : {}), binary: a.binary ?? false },
  };
  if (a.updated !== undefined) entry.updated = a.updated;
  return entry;
}

/** A package list entry (WhiskPackage summaryAsJson): `binding` false or the bound package. */
export function packageEntry(ns: string, p: ListedPackage): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    namespace: ns,
    name: p.name,
    version: p.version ?? DEFAULT_VERSION,
    publish: p.publish ?? false,
    annotations: p.annotations ?? [],
    binding: p.binding ? { namespace: p.binding.namespace, name: p.binding.name } : false,
  };
  if (p.updated !== undefined) entry.updated = p.updated;
  return entry;
}

/** GET of a package (WhiskPackageWithActions): its parameters, its actions by name, version and annotations, no feeds. */
export function packageDoc(ns: string, p: ListedPackage, actions: ListedAction[]): Record<string, unknown> {
  const { binding, ...summary } = packageEntry(ns, p);
  return {
    ...summary,
    binding: binding === false ? {} : binding,
    parameters: p.parameters ?? [],
    actions: actions.map((a) => ({ name: a.name, version: a.version ?? DEFAULT_VERSION, annotations: withExecAnnotation(a.annotations, a.kind) })),
    feeds: [],
  };
}

export function triggerEntry(ns: string, t: ListedTrigger): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    namespace: ns,
    name: t.name,
    version: t.version ?? DEFAULT_VERSION,
    publish: false,
    annotations: t.annotations ?? [],
  };
  if (t.updated !== undefined) entry.updated = t.updated;
  return entry;
}

/** "[pkg/]name" or "/ns/[pkg/]name" → {path, name} as a rule names its action (FullyQualifiedEntityName). */
function qualified(ns: string, ref: string): { path: string; name: string } {
  const parts = ref.split('/').filter(Boolean);
  if (ref.startsWith('/')) parts[0] = parts[0] === '_' ? ns : parts[0];
  else parts.unshift(ns);
  const name = parts.pop() as string;
  return { path: parts.join('/'), name };
}

/** GET of a trigger: its parameters, no limits, and the rules that name it. */
export function triggerDoc(ns: string, t: ListedTrigger, rules: ListedRule[]): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...triggerEntry(ns, t), parameters: t.parameters ?? [], limits: {} };
  const mine = rules.filter((r) => r.trigger === t.name);
  if (mine.length) doc.rules = Object.fromEntries(mine.map((r) => [`${ns}/${r.name}`, { action: qualified(ns, r.action), status: r.status }]));
  return doc;
}

/** A rule (list entry and GET): trigger and action as fully qualified names, and its status. */
export function ruleDoc(ns: string, r: ListedRule): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    namespace: ns,
    name: r.name,
    version: r.version ?? DEFAULT_VERSION,
    publish: false,
    annotations: r.annotations ?? [],
    trigger: qualified(ns, r.trigger),
    action: qualified(ns, r.action),
    status: r.status,
  };
  if (r.updated !== undefined) doc.updated = r.updated;
  return doc;
}

/** GET /api/v1 (RestAPIs info): the API version; no build date, no swagger (this gateway serves neither). */
export function apiInfo(): Record<string, unknown> {
  return { description: 'OpenWhisk API', api_version: '1.0.0', api_version_path: 'v1' };
}

export interface PlatformLimits {
  /** Activations started through the API that may run at once. */
  concurrentActions: number;
}

/**
 * GET / (Controller.info): the runtimes this gateway runs (each kind with the image it would start:
 * the runtime's image override, else this package's image when the engine has it, else OpenWhisk's) and the limits it enforces. No per-minute rates: it has none.
 */
export function platformInfo(
  apiPath: string,
  limits: PlatformLimits,
  overrides: Record<string, string> = {},
  /** This package's images the engine has, by kind (used before OpenWhisk's, after the overrides). */
  own: Record<string, string> = {},
): Record<string, unknown> {
  const runtimes: Record<string, { kind: string; image: string; default: boolean; deprecated: boolean; attached: boolean }[]> = {};
  for (const [family, kinds] of Object.entries(BUILTIN_RUNTIMES)) {
    runtimes[family] = Object.entries(kinds).map(([kind, k]) => {
      let image = k.image;
      try {
        const r = resolveImage({ kind }, overrides);
        image = r.source === 'override' ? r.image : (own[kind] ?? r.image);
      } catch {
        /* the built-in image then */
      }
      return { kind, image, default: k.default === true, deprecated: false, attached: false };
    });
  }
  const r = LIMIT_RANGES;
  const mb = 1048576;
  return {
    description: 'OpenWhisk',
    api_paths: [apiPath],
    limits: {
      concurrent_actions: limits.concurrentActions,
      min_action_duration: r.timeout.min,
      max_action_duration: r.timeout.max,
      min_action_memory: r.memory.min * mb,
      max_action_memory: r.memory.max * mb,
      min_action_logs: r.logs.min * mb,
      max_action_logs: r.logs.max * mb,
      default_min_action_duration: r.timeout.min,
      default_max_action_duration: r.timeout.max,
      default_min_action_memory: r.memory.min * mb,
      default_max_action_memory: r.memory.max * mb,
      default_min_action_logs: r.logs.min * mb,
      default_max_action_logs: r.logs.max * mb,
    },
    runtimes,
  };
}
