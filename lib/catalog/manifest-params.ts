// The settings of a manifest's entities beside their code: parameters (`inputs`), annotations and
// limits, read by wskdeploy's rules (parsers/parameters.go, parsers/yamlparser.go) and reported as the
// REST API reports them after `wskdeploy -m`: package parameters merged under the action's own, web
// flags as annotations, limits over the platform defaults. The manifest reader checks them when the
// manifest loads (errors and warnings with their lines); the catalog resolves them at each getAction(),
// so that $VAR substitutions read the environment of that moment.
import { DEFAULT_LIMITS, LIMIT_RANGES } from '../limits';
import type { ActionLimits, KeyValue } from '../types';
import { describe, isMap, type KeyPath } from './yaml-source';

/** How a check reports: `fail` returns the error to throw (it names the file and line); `warn` keeps a finding. */
export interface Report {
  fail(problem: string, keyPath: KeyPath, preferValue?: boolean): Error;
  warn?(problem: string, keyPath: KeyPath): void;
}

const PARAM_TYPES: Record<string, unknown> = { string: '', integer: 0, float: 0, boolean: false, json: {} };
const PARAM_TYPE_ALIASES: Record<string, string> = {
  int: 'integer',
  int8: 'integer',
  int16: 'integer',
  int32: 'integer',
  int64: 'integer',
  bool: 'boolean',
  float32: 'float',
  float64: 'float',
  map: 'json',
};
const PARAM_KEYS = new Set(['type', 'description', 'value', 'required', 'default', 'status', 'schema', 'properties']);
const LIMIT_KEYS: Record<string, keyof ActionLimits | null> = {
  timeout: 'timeout',
  memorySize: 'memory',
  memoryLimit: 'memory',
  memory: 'memory',
  logSize: 'logs',
  logs: 'logs',
  concurrentActivations: null,
  userInvocationRate: null,
  codeSize: null,
  parameterSize: null,
};
/** Below these wskdeploy drops the limit (with a warning) and the platform default applies. */
const LIMIT_MINIMUM: Partial<Record<keyof ActionLimits, number>> = { timeout: LIMIT_RANGES.timeout.min, memory: LIMIT_RANGES.memory.min };

/** wskdeploy's $VAR / ${VAR} substitution from the environment (missing variables become ""). */
export function interpolateEnv(value: string, env: NodeJS.ProcessEnv = process.env): string {
  if (value.startsWith('$') && !value.includes('{') && value.length > 1) {
    return env[value.slice(1)] ?? '';
  }
  if (!value.includes('${')) return value;
  return value.replace(/\$?\$\{([^{}]*)\}/g, (m, name: string) => (m.startsWith('$$') ? `\${${name}}` : (env[name] ?? '')));
}

function interpolateDeep(value: unknown): unknown {
  if (typeof value === 'string') return interpolateEnv(value);
  if (Array.isArray(value)) return value.map(interpolateDeep);
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v)]));
  return value;
}

/** Package params first, then the entity's own (the entity's win), as the controller merges them. */
export function mergeParams(pkg: KeyValue[], own: KeyValue[]): KeyValue[] {
  const out = pkg.filter((p) => !own.some((o) => o.key === p.key));
  return [...out, ...own];
}

/**
 * wskdeploy's parameter rules (parsers/parameters.go): a mapping is the multi-line form
 * {type, value | default, description, ...}; anything else is the value itself. A single-line string
 * that names a type ("string", "integer", ...) stands for that type's zero value.
 */
export function resolveInputs(inputs: unknown, where: KeyPath, report: Report): KeyValue[] {
  if (inputs === undefined || inputs === null) return [];
  if (!isMap(inputs)) throw report.fail(`'inputs' must be a mapping of parameter names, not ${describe(inputs)}`, where);
  const out: KeyValue[] = [];
  for (const [key, raw] of Object.entries(inputs)) {
    if (report.warn && isMap(raw)) {
      const unknown = Object.keys(raw).filter((k) => !PARAM_KEYS.has(k));
      if (unknown.length === Object.keys(raw).length) {
        report.warn(`parameter '${key}' is a mapping without type/value: wskdeploy deploys it as "" ` + `(write {type: json, value: {...}} for an object)`, [
          ...where,
          key,
        ]);
      } else if (unknown.length) {
        report.warn(`parameter '${key}': unknown key(s) ${unknown.join(', ')} (known: ${[...PARAM_KEYS].join(', ')})`, [...where, key, unknown[0]]);
      }
    }
    out.push({ key, value: resolveParam(key, raw, [...where, key], report) });
  }
  return out;
}

function resolveParam(key: string, raw: unknown, where: KeyPath, report: Report): unknown {
  if (!isMap(raw)) {
    if (typeof raw === 'string') {
      if (Object.prototype.hasOwnProperty.call(PARAM_TYPES, raw)) return structuredClone(PARAM_TYPES[raw]);
      return interpolateEnv(raw);
    }
    if (raw instanceof Date) return raw.toISOString();
    return interpolateDeep(raw);
  }
  let type: string | undefined;
  if (raw.type !== undefined) {
    const t = String(raw.type);
    type = PARAM_TYPE_ALIASES[t] ?? t;
    if (!Object.prototype.hasOwnProperty.call(PARAM_TYPES, type)) {
      throw report.fail(`parameter '${key}' has an unknown type '${t}' (known: ${Object.keys(PARAM_TYPES).join(', ')})`, [...where, 'type']);
    }
  }
  let value = raw.value !== undefined && raw.value !== null ? raw.value : raw.default;
  if (value === undefined || value === null) return structuredClone(PARAM_TYPES[type ?? 'string']);
  if (value instanceof Date) value = value.toISOString();
  const valueKey = raw.value !== undefined && raw.value !== null ? 'value' : 'default';
  const mismatch = (expected: string) =>
    report.fail(`parameter '${key}' is declared '${type}' but its ${valueKey} is ${describe(value)} (expected ${expected})`, [...where, valueKey]);
  switch (type) {
    case 'string':
      if (typeof value === 'string') return interpolateEnv(value);
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw mismatch('a string');
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw mismatch('an integer');
    case 'float':
      if (typeof value === 'number') return value;
      throw mismatch('a number');
    case 'boolean':
      if (typeof value === 'boolean') return value;
      throw mismatch('true or false');
    case 'json':
      if (typeof value === 'string') {
        try {
          return JSON.parse(value);
        } catch {
          throw mismatch('a mapping or a JSON text');
        }
      }
      if (isMap(value)) return interpolateDeep(value);
      throw mismatch('a mapping or a JSON text (wskdeploy rejects lists here: drop "type: json")');
    default:
      return interpolateDeep(value);
  }
}

/**
 * The annotations of an entity (`def`, as written) as the API reports them: its own, then what its
 * `web` flag, `conductor` (actions only) and exec kind add.
 */
export function annotationsOf(def: Record<string, unknown>, kind: string, isAction: boolean): KeyValue[] {
  const out: KeyValue[] = [];
  const set = (key: string, value: unknown) => {
    const i = out.findIndex((a) => a.key === key);
    if (i >= 0) out[i] = { key, value };
    else out.push({ key, value });
  };
  if (isMap(def.annotations)) {
    for (const [key, value] of Object.entries(def.annotations)) set(key, interpolateDeep(value));
  }
  const web = def.web ?? def['web-export'];
  if (web !== undefined) {
    const w = String(web).toLowerCase();
    if (w === 'true' || w === 'yes' || w === 'raw') {
      set('web-export', true);
      set('raw-http', w === 'raw' || def['raw-http'] === true);
      set('final', true);
    } else {
      set('web-export', false);
    }
  }
  if (isAction && def.conductor === true) set('conductor', true);
  if (!out.some((a) => a.key === 'provide-api-key')) set('provide-api-key', false);
  set('exec', kind);
  return out;
}

/** Checks an action's `limits` (checked at load: warnings for what wskdeploy ignores or drops). */
export function checkLimits(name: string, limits: unknown, where: KeyPath, report: Required<Report>): void {
  if (limits === undefined || limits === null) return;
  if (!isMap(limits)) throw report.fail(`action '${name}': 'limits' must be a mapping, not ${describe(limits)}`, where);
  for (const [key, value] of Object.entries(limits)) {
    if (!(key in LIMIT_KEYS)) {
      report.warn(`action '${name}': unknown limit '${key}' (known: timeout, memorySize, logSize)`, [...where, key]);
      continue;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw report.fail(
        `action '${name}': limit '${key}' must be a whole number (${key === 'timeout' ? 'milliseconds' : 'MB'}), not ${describe(value)}`,
        [...where, key],
        true,
      );
    }
    const field = LIMIT_KEYS[key];
    if (field === null) {
      report.warn(`action '${name}': limit '${key}' cannot be set per action (wskdeploy ignores it)`, [...where, key]);
    } else if (value < (LIMIT_MINIMUM[field] ?? 0)) {
      report.warn(`action '${name}': limit '${key}' below ${LIMIT_MINIMUM[field]} is dropped (as wskdeploy does); the default applies`, [...where, key]);
    }
    if (key === 'memoryLimit' || key === 'memory') {
      report.warn(`action '${name}': wskdeploy only knows 'memorySize'; '${key}' is used here but ignored by wskdeploy`, [...where, key]);
    }
  }
}

/** The limits the API reports for an action's `limits` (checked at load): the defaults, overridden by those kept. */
export function limitsOf(limits: unknown): ActionLimits {
  const out: ActionLimits = { ...DEFAULT_LIMITS };
  if (isMap(limits)) {
    for (const [key, value] of Object.entries(limits)) {
      const field = LIMIT_KEYS[key];
      if (field && typeof value === 'number' && value >= (LIMIT_MINIMUM[field] ?? 0)) out[field] = value;
    }
  }
  return out;
}
