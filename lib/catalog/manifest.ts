// A Catalog without an OpenWhisk account: the actions of a wskdeploy manifest (the OpenWhisk ecosystem's
// YAML format, github.com/apache/openwhisk-wskdeploy specification/html), returned as the REST API would
// return them after `wskdeploy -m <manifest>` (apache/openwhisk's REST API, GET /namespaces/{ns}/actions/{name}).
//
//   packages:
//     <pkg>:
//       inputs: {...}                      # package parameters (merged into every entity)
//       actions:
//         <name>: {function, runtime | docker | native, main, inputs, limits, annotations, web, version}
//       sequences:
//         <name>: {actions: "a, b, otherpkg/c"}
//       triggers:
//         <name>: {inputs, annotations, feed}     # namespace-level entities, as wskdeploy deploys them
//       rules:
//         <name>: {trigger: <trigger>, action: <action in this package, or pkg/action, or /ns/pkg/action>}
//
// Also accepted: `project: {packages: ...}`. The package named "default" puts its entities directly in the
// namespace, as wskdeploy does.
import * as fs from 'fs';
import * as path from 'path';
import { OpenWhiskNodeError } from '../errors';
import { DEFAULT_LIMITS, LIMIT_RANGES } from '../limits';
import { parseName } from '../names';
import type { ActionDoc, ActionLimits, ActionRef, Catalog, KeyValue } from '../types';
import {
  checkFunctionFile, FunctionFileError, MANIFEST_MAX_BYTES, MANIFEST_MAX_NODES, MANIFEST_MAX_TEXT, readFunctionFile,
  readManifestText, readManifestTextSync,
} from './manifest-file';
import { parseYamlSource, SourcePosition, YamlBudgetError, YamlSource, YamlSyntaxError } from './yaml-source';

/** One entry of `list()`, e.g. for an editor dropdown. */
export interface ManifestEntity {
  /** What getAction() takes as `name`: "pkg/action", or "action" in the default package. */
  name: string;
  /** The entity's own name ("action"). */
  action: string;
  /** Package name; "" for the default package. */
  package: string;
  /** "nodejs:20", "blackbox", "sequence", ... */
  kind: string;
  /** Blackbox image. */
  image?: string;
  description?: string;
}

/** A trigger of the manifest with the rules that name it (what firing it runs). */
export interface ManifestTrigger {
  name: string;
  namespace: string;
  /** The trigger's own parameters (its `inputs`); the firing's parameters are merged over them. */
  parameters: KeyValue[];
  /** `feed` as written: a feed is not run locally (the flow fires the trigger). */
  feed?: string;
  /** Rules naming this trigger, sorted by name; `action` is what getAction() takes. All are active. */
  rules: { name: string; action: string; status: 'active' }[];
}

type Path = (string | number)[];

/** Anything wrong with the manifest: the message names the file, the line when known, and the problem. */
export class ManifestError extends OpenWhiskNodeError {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Key path inside the manifest, e.g. ["packages", "facedemo", "actions", "hello", "function"]. */
  readonly keyPath?: string[];

  constructor(file: string, problem: string, pos?: SourcePosition, keyPath?: Path, cause?: unknown) {
    const where = pos ? `${file}:${pos.line}:${pos.column}` : file;
    super('config', `Manifest ${where}: ${problem}`, { short: 'bad manifest', cause });
    this.name = 'ManifestError';
    this.file = file;
    this.line = pos?.line;
    this.column = pos?.column;
    this.keyPath = keyPath?.map(String);
  }
}

const DEFAULT_PACKAGE = 'default';
/** File extension → runtime family (wskdeploy picks the family's default kind). */
const EXTENSION_FAMILY: Record<string, string> = {
  js: 'nodejs', py: 'python', java: 'java', jar: 'java', swift: 'swift', php: 'php', rb: 'ruby', go: 'go',
  rs: 'rust', cs: 'dotnet', bal: 'ballerina',
};
const KNOWN_FAMILIES = new Set([...Object.values(EXTENSION_FAMILY), 'blackbox']);
const RUNTIME_FORMAT = /^([a-z][a-z0-9]*)(?:[:@]([A-Za-z0-9][A-Za-z0-9._-]*))?$/;
const IMAGE_FORMAT = /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$/;
const NATIVE_IMAGE = 'openwhisk/dockerskeleton';
const PARAM_TYPES: Record<string, unknown> = { string: '', integer: 0, float: 0, boolean: false, json: {} };
const PARAM_TYPE_ALIASES: Record<string, string> = {
  int: 'integer', int8: 'integer', int16: 'integer', int32: 'integer', int64: 'integer', bool: 'boolean',
  float32: 'float', float64: 'float', map: 'json',
};

// Keys wskdeploy knows (parsers/yamlparser.go); others are reported as warnings, not errors, because
// wskdeploy ignores them.
const TOP_KEYS = new Set(['packages', 'project']);
const PROJECT_KEYS = new Set(['name', 'namespace', 'credential', 'apiHost', 'apigwAccessToken', 'version',
  'packages', 'config', 'inputs']);
const PACKAGE_KEYS = new Set(['name', 'version', 'license', 'public', 'repositories', 'dependencies', 'namespace',
  'credential', 'apiHost', 'apigwAccessToken', 'actions', 'triggers', 'feeds', 'rules', 'inputs', 'sequences',
  'description', 'annotations', 'apis']);
const ACTION_KEYS = new Set(['location', 'version', 'function', 'code', 'runtime', 'kind', 'namespace', 'credential',
  'exposedUrl', 'web-export', 'web', 'main', 'docker', 'native', 'conductor', 'limits', 'inputs', 'outputs',
  'description', 'annotations', 'include', 'exclude', 'raw-http', 'final', 'feed']);
const TRIGGER_KEYS = new Set(['inputs', 'annotations', 'feed', 'source', 'description']);
const RULE_KEYS = new Set(['trigger', 'action', 'rule', 'description', 'annotations']);
const SEQUENCE_KEYS = new Set(['actions', 'web', 'web-export', 'annotations', 'description']);
const LIMIT_KEYS: Record<string, keyof ActionLimits | null> = {
  timeout: 'timeout', memorySize: 'memory', memoryLimit: 'memory', memory: 'memory', logSize: 'logs',
  logs: 'logs', concurrentActivations: null, userInvocationRate: null, codeSize: null, parameterSize: null,
};
/** Below these wskdeploy drops the limit (with a warning) and the platform default applies. */
const LIMIT_MINIMUM: Partial<Record<keyof ActionLimits, number>> = { timeout: LIMIT_RANGES.timeout.min, memory: LIMIT_RANGES.memory.min };
const PARAM_KEYS = new Set(['type', 'description', 'value', 'required', 'default', 'status', 'schema', 'properties']);

interface ActionEntry {
  kind: 'action';
  pkg: string;
  name: string;
  path: Path;
  def: Record<string, unknown>;
  version: string;
  exec: { kind: string; image?: string; main?: string };
  /** The code file as written (relative to the manifest's folder); undefined for inline `code` or an image without code. */
  file?: string;
  inlineCode?: string;
}

interface SequenceEntry {
  kind: 'sequence';
  pkg: string;
  name: string;
  path: Path;
  def: Record<string, unknown>;
  version: string;
  /** Components relative to the namespace ("pkg/name") or fully qualified ("/ns/pkg/name"). */
  components: string[];
}

type Entry = ActionEntry | SequenceEntry;

interface TriggerEntry {
  name: string;
  path: Path;
  parameters: KeyValue[];
  feed?: string;
}

interface RuleEntry {
  name: string;
  path: Path;
  trigger: string;
  /** Relative to the namespace ("pkg/action", "action" in the default package) or fully qualified. */
  action: string;
}

interface Loaded {
  stamp: string;
  entries: Map<string, Entry>;
  triggers: Map<string, TriggerEntry>;
  rules: Map<string, RuleEntry>;
  packageParams: Map<string, KeyValue[]>;
  warnings: string[];
  manifestMtime: number;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `a ${typeof v}`);

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;

/** wskdeploy's $VAR / ${VAR} substitution from the environment (missing variables become ""). */
export function interpolateEnv(value: string, env: NodeJS.ProcessEnv = process.env): string {
  if (value.startsWith('$') && !value.includes('{') && value.length > 1) {
    return env[value.slice(1)] ?? '';
  }
  if (!value.includes('${')) return value;
  return value.replace(/\$?\$\{([^{}]*)\}/g, (m, name: string) => (m.startsWith('$$') ? `\${${name}}` : env[name] ?? ''));
}

function interpolateDeep(value: unknown): unknown {
  if (typeof value === 'string') return interpolateEnv(value);
  if (Array.isArray(value)) return value.map(interpolateDeep);
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v)]));
  return value;
}

/**
 * The actions and sequences of a wskdeploy manifest as a Catalog. The file is read lazily and again
 * whenever it changes on disk; code files are read at every getAction().
 */
export class ManifestCatalog implements Catalog {
  /** Absolute path of the manifest. */
  readonly location: string;
  /** The namespace the entities are reported in (a ref's own namespace wins unless it is "_" or empty). */
  readonly namespace: string;
  private loaded?: Loaded;

  constructor(file: string, namespace = 'guest') {
    if (typeof file !== 'string' || file.trim() === '') {
      throw new OpenWhiskNodeError('config', 'No manifest file given', { short: 'no manifest' });
    }
    this.location = path.resolve(file);
    this.namespace = namespace && namespace !== '_' ? namespace : 'guest';
  }

  /** Non-fatal findings of the last load (keys wskdeploy ignores, ...), each with file and line. */
  warnings(): string[] {
    this.load();
    return [...(this.loaded?.warnings ?? [])];
  }

  async runtimeImages(): Promise<Record<string, string>> {
    return {};
  }

  /** Actions and sequences, sorted by name. */
  async list(): Promise<ManifestEntity[]> {
    const { entries } = await this.loadAsync();
    return [...entries.entries()]
      .map(([ref, e]): ManifestEntity => {
        const item: ManifestEntity = {
          name: ref,
          action: e.name,
          package: e.pkg === DEFAULT_PACKAGE ? '' : e.pkg,
          kind: e.kind === 'sequence' ? 'sequence' : e.exec.kind,
        };
        if (e.kind === 'action' && e.exec.image) item.image = e.exec.image;
        if (typeof e.def.description === 'string') item.description = e.def.description;
        return item;
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The declared packages (not "default"), sorted by name, with their parameters. */
  async listPackages(): Promise<{ name: string; parameters: KeyValue[] }[]> {
    const loaded = await this.loadAsync();
    return [...loaded.packageParams.entries()]
      .filter(([name]) => name !== DEFAULT_PACKAGE)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, params]) => ({ name, parameters: params.map((p) => ({ ...p })) }));
  }

  /** Triggers, sorted by name, each with the rules that name it. */
  async listTriggers(): Promise<ManifestTrigger[]> {
    const loaded = await this.loadAsync();
    return [...loaded.triggers.keys()].sort().map((t) => this.trigger(loaded, t));
  }

  /** A trigger and its rules; a config error (404) when the manifest declares no such trigger. */
  async getTrigger(name: string): Promise<ManifestTrigger> {
    const loaded = await this.loadAsync();
    let n = String(name ?? '').trim();
    if (n.startsWith('/')) n = n.split('/').filter(Boolean).slice(1).join('/');
    if (!loaded.triggers.has(n)) {
      const known = [...loaded.triggers.keys()].sort();
      throw new OpenWhiskNodeError('config', `Trigger '${n}' not found in manifest ${this.location}` +
        (known.length ? ` (it declares ${known.map((k) => `'${k}'`).join(', ')})` : " (it declares no 'triggers:')"),
      { short: 'not found', statusCode: 404 });
    }
    return this.trigger(loaded, n);
  }

  private trigger(loaded: Loaded, name: string): ManifestTrigger {
    const t = loaded.triggers.get(name) as TriggerEntry;
    const rules = [...loaded.rules.values()]
      .filter((r) => r.trigger === name)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => ({ name: r.name, action: r.action, status: 'active' as const }));
    const out: ManifestTrigger = { name, namespace: this.namespace, parameters: t.parameters.map((p) => ({ ...p })), rules };
    if (t.feed) out.feed = t.feed;
    return out;
  }

  /** The action; with `code: false` its document without the code (function files are checked, not read). */
  async getAction(ref: ActionRef, opts: { code?: boolean } = {}): Promise<ActionDoc> {
    const loaded = await this.loadAsync();
    let ns = ref.namespace && ref.namespace !== '_' ? ref.namespace : this.namespace;
    let name = String(ref.name ?? '').trim();
    if (name.startsWith('/')) {
      // Fully qualified: /ns/pkg/action or /ns/action.
      const parsed = parseName(name);
      if (!parsed?.namespace) throw this.notFound(name, loaded);
      ns = parsed.namespace === '_' ? ns : parsed.namespace;
      name = parsed.name;
    }
    if (name.startsWith(`${DEFAULT_PACKAGE}/`)) name = name.slice(DEFAULT_PACKAGE.length + 1);
    const entry = loaded.entries.get(name);
    if (!entry) throw this.notFound(name, loaded);

    const inDefault = entry.pkg === DEFAULT_PACKAGE;
    const doc: ActionDoc = {
      namespace: inDefault ? ns : `${ns}/${entry.pkg}`,
      name: entry.name,
      version: entry.version,
      exec: { kind: 'sequence' },
      publish: false,
    };
    let updated = loaded.manifestMtime;
    if (entry.kind === 'sequence') {
      doc.exec = {
        kind: 'sequence',
        components: entry.components.map((c) => (c.startsWith('/') ? c : `/${ns}/${c}`)),
      };
    } else {
      doc.exec = { kind: entry.exec.kind };
      if (entry.exec.image) doc.exec.image = entry.exec.image;
      if (entry.file) {
        const { code, binary, mtime } = await this.readCode(entry, opts.code !== false);
        if (code !== undefined) doc.exec.code = code;
        doc.exec.binary = binary;
        updated = Math.max(updated, mtime);
      } else if (entry.inlineCode !== undefined) {
        if (opts.code !== false) doc.exec.code = entry.inlineCode;
        doc.exec.binary = false;
      } else {
        doc.exec.binary = false;
      }
      if (entry.exec.main) doc.exec.main = entry.exec.main;
    }
    const params = mergeParams(loaded.packageParams.get(entry.pkg) ?? [], this.entryParams(entry));
    doc.parameters = params;
    doc.limits = this.limits(entry);
    doc.annotations = this.annotations(entry, doc.exec.kind);
    doc.updated = updated;
    return doc;
  }

  // ---------------------------------------------------------------------------------------------

  private notFound(name: string, loaded: Loaded): OpenWhiskNodeError {
    const short = name.split('/').pop() ?? name;
    const similar = [...loaded.entries.keys()].filter((k) => k.split('/').pop() === short && k !== name);
    const hint = similar.length ? ` (did you mean ${similar.map((s) => `'${s}'`).join(' or ')}?)` : '';
    return new OpenWhiskNodeError('config', `Action '${name}' not found in manifest ${this.location}${hint}`, {
      short: 'not found',
      statusCode: 404,
    });
  }

  private async readCode(entry: ActionEntry, read = true): Promise<{ code?: string; binary: boolean; mtime: number }> {
    const file = entry.file as string;
    let data: Buffer | undefined;
    let mtime: number;
    const key = entry.def.function !== undefined ? 'function' : 'location';
    try {
      if (read) ({ data, mtime } = await readFunctionFile(file, path.dirname(this.location)));
      else mtime = (await fs.promises.stat(checkFunctionFile(file, path.dirname(this.location)).real)).mtimeMs;
    } catch (err) {
      const problem = err instanceof FunctionFileError ? err.problem : `cannot read function file '${file}': ${(err as Error).message}`;
      throw this.error(`action '${entry.name}': ${problem}`, [...entry.path, key], err);
    }
    const ext = path.extname(file).toLowerCase();
    if (ext === '.zip' || ext === '.jar') return { code: data?.toString('base64'), binary: true, mtime: Math.round(mtime) };
    return { code: data?.toString('utf8'), binary: false, mtime: Math.round(mtime) };
  }

  private entryParams(entry: Entry): KeyValue[] {
    if (entry.kind !== 'action') return [];
    return resolveInputs(entry.def.inputs, [...entry.path, 'inputs'], (msg, p) => this.error(msg, p));
  }

  private limits(entry: Entry): ActionLimits {
    const out: ActionLimits = { ...DEFAULT_LIMITS };
    const limits = entry.kind === 'action' ? entry.def.limits : undefined;
    if (isMap(limits)) {
      for (const [key, value] of Object.entries(limits)) {
        const field = LIMIT_KEYS[key];
        if (field && typeof value === 'number' && value >= (LIMIT_MINIMUM[field] ?? 0)) out[field] = value;
      }
    }
    return out;
  }

  private annotations(entry: Entry, kind: string): KeyValue[] {
    const out: KeyValue[] = [];
    const set = (key: string, value: unknown) => {
      const i = out.findIndex((a) => a.key === key);
      if (i >= 0) out[i] = { key, value };
      else out.push({ key, value });
    };
    if (isMap(entry.def.annotations)) {
      for (const [key, value] of Object.entries(entry.def.annotations)) set(key, interpolateDeep(value));
    }
    const web = entry.def.web ?? entry.def['web-export'];
    if (web !== undefined) {
      const w = String(web).toLowerCase();
      if (w === 'true' || w === 'yes' || w === 'raw') {
        set('web-export', true);
        set('raw-http', w === 'raw' || entry.def['raw-http'] === true);
        set('final', true);
      } else {
        set('web-export', false);
      }
    }
    if (entry.kind === 'action' && entry.def.conductor === true) set('conductor', true);
    if (!out.some((a) => a.key === 'provide-api-key')) set('provide-api-key', false);
    set('exec', kind);
    return out;
  }

  private error(problem: string, keyPath: Path, cause?: unknown): ManifestError {
    return new ManifestError(this.location, problem, this.source?.nearest(keyPath), keyPath, cause);
  }

  private source?: YamlSource;

  /** (Re)reads the manifest when it changed; throws ManifestError on any problem. */
  private load(): Loaded {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.location);
    } catch (err) {
      throw new ManifestError(this.location, `cannot read the manifest: ${(err as Error).message}`, undefined, [], err);
    }
    const stamp = this.check(stat);
    if (this.loaded && this.loaded.stamp === stamp) return this.loaded;
    return this.parse(readManifestTextSync(this.location), stamp, stat.mtimeMs);
  }

  /** load() without blocking the event loop (the editor's lookup). */
  private async loadAsync(): Promise<Loaded> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(this.location);
    } catch (err) {
      throw new ManifestError(this.location, `cannot read the manifest: ${(err as Error).message}`, undefined, [], err);
    }
    const stamp = this.check(stat);
    if (this.loaded && this.loaded.stamp === stamp) return this.loaded;
    return this.parse(await readManifestText(this.location), stamp, stat.mtimeMs);
  }

  /** Only a regular file of at most MANIFEST_MAX_BYTES is read (never a device, a FIFO or a huge file). */
  private check(stat: fs.Stats): string {
    if (stat.isDirectory()) {
      throw new ManifestError(this.location, 'is a folder; give the path of the manifest file (manifest.yaml)');
    }
    if (!stat.isFile()) throw new ManifestError(this.location, 'not a regular file');
    if (stat.size > MANIFEST_MAX_BYTES) throw new ManifestError(this.location, `larger than ${MANIFEST_MAX_BYTES / 1048576} MB: not a manifest`);
    return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
  }

  private parse(text: string, stamp: string, mtime: number): Loaded {
    let source: YamlSource;
    try {
      source = parseYamlSource(text, this.location, { maxNodes: MANIFEST_MAX_NODES, maxText: MANIFEST_MAX_TEXT });
    } catch (err) {
      if (err instanceof YamlBudgetError) {
        const pos = err.line ? { line: err.line, column: err.column ?? 1 } : undefined;
        const problem = err.bound === 'recursive'
          ? 'a YAML alias (*name) inside the value its anchor (&name) names: a recursive structure, which no manifest ' +
            'needs; write the value out instead of the alias'
          : err.aliases
            ? `too large with its YAML aliases expanded: ${err.reason} (an alias *name counts as the whole value of its ` +
              `anchor &name; a manifest may hold at most ${MANIFEST_MAX_NODES} values and ${MANIFEST_MAX_TEXT / 1048576} MB ` +
              'of text counted so). Write shared values out, or put large data in a file the action reads'
            : `too large: ${err.reason} (a manifest may hold at most ${MANIFEST_MAX_NODES} values and ` +
              `${MANIFEST_MAX_TEXT / 1048576} MB of text). Put large data in a file the action reads`;
        throw new ManifestError(this.location, problem, pos, undefined, err);
      }
      if (err instanceof YamlSyntaxError) {
        const pos = err.line ? { line: err.line, column: err.column ?? 1 } : undefined;
        // The file may not be a manifest at all: keep js-yaml's reason but not the names it quotes from the text.
        const reason = err.reason.replace(/"[^"\n]*"/g, '"…"').replace(/: .*$/s, '');
        throw new ManifestError(this.location, `YAML syntax error: ${reason}`, pos, undefined, err);
      }
      throw err;
    }
    this.source = source;
    const loaded = new ManifestReader(this, source).read(stamp, mtime);
    this.loaded = loaded;
    return loaded;
  }

  /** @internal used by ManifestReader */
  fail(problem: string, keyPath: Path, source: YamlSource, preferValue = false): ManifestError {
    const pos = preferValue ? source.valueAt(keyPath) ?? source.nearest(keyPath) : source.nearest(keyPath);
    return new ManifestError(this.location, problem, pos, keyPath);
  }
}

/** Package params first, then the entity's own (the entity's win), as the controller merges them. */
function mergeParams(pkg: KeyValue[], own: KeyValue[]): KeyValue[] {
  const out = pkg.filter((p) => !own.some((o) => o.key === p.key));
  return [...out, ...own];
}

/**
 * wskdeploy's parameter rules (parsers/parameters.go): a mapping is the multi-line form
 * {type, value | default, description, ...}; anything else is the value itself. A single-line string
 * that names a type ("string", "integer", ...) stands for that type's zero value.
 */
function resolveInputs(
  inputs: unknown,
  where: Path,
  fail: (problem: string, path: Path) => Error,
  warn?: (problem: string, path: Path) => void,
): KeyValue[] {
  if (inputs === undefined || inputs === null) return [];
  if (!isMap(inputs)) throw fail(`'inputs' must be a mapping of parameter names, not ${describe(inputs)}`, where);
  const out: KeyValue[] = [];
  for (const [key, raw] of Object.entries(inputs)) {
    if (warn && isMap(raw)) {
      const unknown = Object.keys(raw).filter((k) => !PARAM_KEYS.has(k));
      if (unknown.length === Object.keys(raw).length) {
        warn(`parameter '${key}' is a mapping without type/value: wskdeploy deploys it as "" ` +
          `(write {type: json, value: {...}} for an object)`, [...where, key]);
      } else if (unknown.length) {
        warn(`parameter '${key}': unknown key(s) ${unknown.join(', ')} (known: ${[...PARAM_KEYS].join(', ')})`,
          [...where, key, unknown[0]]);
      }
    }
    out.push({ key, value: resolveParam(key, raw, [...where, key], fail) });
  }
  return out;
}

function resolveParam(key: string, raw: unknown, where: Path, fail: (problem: string, path: Path) => Error): unknown {
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
      throw fail(`parameter '${key}' has an unknown type '${t}' (known: ${Object.keys(PARAM_TYPES).join(', ')})`,
        [...where, 'type']);
    }
  }
  let value = raw.value !== undefined && raw.value !== null ? raw.value : raw.default;
  if (value === undefined || value === null) return structuredClone(PARAM_TYPES[type ?? 'string']);
  if (value instanceof Date) value = value.toISOString();
  const valueKey = raw.value !== undefined && raw.value !== null ? 'value' : 'default';
  const mismatch = (expected: string) =>
    fail(`parameter '${key}' is declared '${type}' but its ${valueKey} is ${describe(value)} (expected ${expected})`,
      [...where, valueKey]);
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

/** Validates the whole manifest once per change, so that errors show before anything runs. */
class ManifestReader {
  private readonly warnings: string[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly triggers = new Map<string, TriggerEntry>();
  private readonly rules = new Map<string, RuleEntry>();
  private readonly packageParams = new Map<string, KeyValue[]>();
  private readonly dir: string;

  constructor(
    private readonly catalog: ManifestCatalog,
    private readonly src: YamlSource,
  ) {
    this.dir = path.dirname(catalog.location);
  }

  private fail(problem: string, keyPath: Path, preferValue = false): ManifestError {
    return this.catalog.fail(problem, keyPath, this.src, preferValue);
  }

  private warn(problem: string, keyPath: Path): void {
    const pos = this.src.nearest(keyPath);
    this.warnings.push(`${this.catalog.location}${pos ? `:${pos.line}` : ''}: ${problem}`);
  }

  private unknownKeys(map: Record<string, unknown>, known: Set<string>, where: Path, what: string): void {
    for (const key of Object.keys(map)) {
      if (!known.has(key)) this.warn(`unknown ${what} key '${key}' (wskdeploy ignores it)`, [...where, key]);
    }
  }

  private optionalString(map: Record<string, unknown>, key: string, where: Path): string | undefined {
    const v = map[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') throw this.fail(`'${key}' must be a string, not ${describe(v)}`, [...where, key]);
    return v;
  }

  read(stamp: string, mtime: number): Loaded {
    const root = this.src.value;
    if (root === null || root === undefined) throw this.fail('the manifest is empty', []);
    // Not a manifest at all (/etc/passwd parses as one string): say what it is, never what it holds.
    if (!isMap(root)) throw this.fail(`not a wskdeploy manifest: its top level is ${kindOf(root)}, not a mapping with 'packages:'`, []);
    if (!('packages' in root) && !('project' in root) && !('package' in root)) {
      throw this.fail("not a wskdeploy manifest: no 'packages:' (or 'project:') at its top level", []);
    }
    this.unknownKeys(root, TOP_KEYS, [], 'top-level');
    let packages: unknown = root.packages;
    let pkgPath: Path = ['packages'];
    if (packages === undefined && root.project !== undefined) {
      if (!isMap(root.project)) throw this.fail(`'project' must be a mapping, not ${describe(root.project)}`, ['project']);
      this.unknownKeys(root.project, PROJECT_KEYS, ['project'], 'project');
      packages = root.project.packages;
      pkgPath = ['project', 'packages'];
    }
    if (packages === undefined || packages === null) {
      const hint = 'package' in root ? " (the singular 'package:' is the old format: use 'packages: <name>:')" : '';
      throw this.fail(`no 'packages:' in the manifest${hint}`, root.project !== undefined ? ['project'] : []);
    }
    if (!isMap(packages)) throw this.fail(`'packages' must be a mapping of package names, not ${describe(packages)}`, pkgPath);

    for (const [pkgName, pkg] of Object.entries(packages)) {
      const where = [...pkgPath, pkgName];
      if (pkg === null) continue;
      if (!isMap(pkg)) throw this.fail(`package '${pkgName}' must be a mapping, not ${describe(pkg)}`, where);
      this.unknownKeys(pkg, PACKAGE_KEYS, where, 'package');
      this.packageParams.set(pkgName,
        resolveInputs(pkg.inputs, [...where, 'inputs'], (m, p) => this.fail(m, p), (m, p) => this.warn(m, p)));
      this.readActions(pkgName, pkg.actions, [...where, 'actions']);
      this.readSequences(pkgName, pkg.sequences, [...where, 'sequences']);
      this.readTriggers(pkg.triggers, [...where, 'triggers']);
      this.readRules(pkgName, pkg.rules, [...where, 'rules']);
    }
    for (const entry of this.entries.values()) {
      if (entry.kind === 'sequence') this.checkComponents(entry);
    }
    this.checkRules();
    return { stamp, entries: this.entries, triggers: this.triggers, rules: this.rules, packageParams: this.packageParams, warnings: this.warnings, manifestMtime: Math.round(mtime) };
  }

  /** The entity's `version` as written ("1.0" stays "1.0"), else the API's first version. */
  private version(where: Path, def: Record<string, unknown>): string {
    if (def.version === undefined || def.version === null) return '0.0.1';
    const text = this.src.textAt([...where, 'version']) ?? String(def.version);
    return interpolateEnv(text.trim()) || '0.0.1';
  }

  private refName(pkg: string, name: string): string {
    return pkg === DEFAULT_PACKAGE ? name : `${pkg}/${name}`;
  }

  private add(entry: Entry): void {
    const ref = this.refName(entry.pkg, entry.name);
    if (this.entries.has(ref)) {
      throw this.fail(`'${entry.name}' is defined twice in package '${entry.pkg}' (an action and a sequence?)`, entry.path);
    }
    this.entries.set(ref, entry);
  }

  private readActions(pkg: string, actions: unknown, where: Path): void {
    if (actions === undefined || actions === null) return;
    if (!isMap(actions)) throw this.fail(`'actions' must be a mapping of action names, not ${describe(actions)}`, where);
    for (const [name, def] of Object.entries(actions)) {
      const at = [...where, name];
      if (!isMap(def)) throw this.fail(`action '${name}' must be a mapping (function, runtime, ...), not ${describe(def)}`, at);
      this.add(this.readAction(pkg, name, def, at));
    }
  }

  private readAction(pkg: string, name: string, def: Record<string, unknown>, at: Path): ActionEntry {
    this.unknownKeys(def, ACTION_KEYS, at, 'action');
    const fn = this.optionalString(def, 'function', at) ?? this.optionalString(def, 'location', at);
    const code = this.optionalString(def, 'code', at);
    const runtime = this.optionalString(def, 'runtime', at) ?? this.optionalString(def, 'kind', at);
    const docker = this.optionalString(def, 'docker', at);
    const main = this.optionalString(def, 'main', at);
    this.optionalString(def, 'version', at);
    this.optionalString(def, 'description', at);
    if (def.native !== undefined && typeof def.native !== 'boolean') {
      throw this.fail(`'native' must be true or false, not ${describe(def.native)}`, [...at, 'native']);
    }
    const fnKey = def.function !== undefined ? 'function' : 'location';

    let file: string | undefined;
    let ext = '';
    if (fn !== undefined) {
      const rel = interpolateEnv(fn).trim();
      if (/^https?:\/\//i.test(rel)) {
        throw this.fail(`action '${name}': remote functions (${rel}) are not supported; download the file next to the manifest`,
          [...at, fnKey]);
      }
      // Only a regular file of at most 48 MB in the manifest's folder, none of Node-RED's own (checked again when it is read).
      try {
        checkFunctionFile(rel, this.dir);
      } catch (err) {
        if (err instanceof FunctionFileError) throw this.fail(`action '${name}': ${err.problem}`, [...at, fnKey], true);
        throw err;
      }
      file = rel;
      ext = path.extname(file).slice(1).toLowerCase();
    } else if (code === undefined && docker === undefined && def.native !== true) {
      throw this.fail(`action '${name}' has no 'function' (the file with its code)`, at);
    }
    if (code !== undefined && runtime === undefined && docker === undefined) {
      throw this.fail(`action '${name}': inline 'code' needs a 'runtime'`, [...at, 'code']);
    }

    let kind: string;
    let image: string | undefined;
    if (docker !== undefined || def.native === true) {
      image = def.native === true && docker === undefined ? NATIVE_IMAGE : interpolateEnv(docker as string).trim();
      if (!IMAGE_FORMAT.test(image)) {
        throw this.fail(`action '${name}': '${image}' is not a Docker image name (like leon-edge/face-detect:latest)`,
          [...at, 'docker'], true);
      }
      kind = 'blackbox';
    } else if (runtime !== undefined) {
      kind = this.kindOf(name, runtime.trim(), [...at, def.runtime !== undefined ? 'runtime' : 'kind']);
    } else {
      const family = EXTENSION_FAMILY[ext];
      if (!family) {
        const why = ext === 'zip' ? 'a .zip function' : `the extension '.${ext}'`;
        throw this.fail(`action '${name}' needs a 'runtime' (e.g. nodejs:20): it cannot be derived from ${why}`, at);
      }
      kind = `${family}:default`;
    }
    this.checkLimits(name, def.limits, [...at, 'limits']);
    if (def.annotations !== undefined && def.annotations !== null && !isMap(def.annotations)) {
      throw this.fail(`action '${name}': 'annotations' must be a mapping, not ${describe(def.annotations)}`, [...at, 'annotations']);
    }
    // Parameters are resolved at getAction(), but their errors belong to loading.
    resolveInputs(def.inputs, [...at, 'inputs'], (m, p) => this.fail(m, p), (m, p) => this.warn(m, p));
    const entry: ActionEntry = { kind: 'action', pkg, name, path: at, def, version: this.version(at, def), exec: { kind }, file };
    if (image) entry.exec.image = image;
    if (main) entry.exec.main = main;
    if (code !== undefined && file === undefined) entry.inlineCode = code;
    return entry;
  }

  private kindOf(name: string, runtime: string, where: Path): string {
    const m = RUNTIME_FORMAT.exec(runtime);
    if (!m) {
      throw this.fail(`action '${name}': runtime '${runtime}' is not of the form <language>:<version> (e.g. nodejs:20, python:3.11)`,
        where, true);
    }
    const [, family, version] = m;
    if (family === 'blackbox') {
      throw this.fail(`action '${name}': runtime 'blackbox' needs 'docker: <image>' instead`, where, true);
    }
    if (family === 'sequence') throw this.fail(`action '${name}': sequences go under 'sequences:'`, where, true);
    if (!KNOWN_FAMILIES.has(family)) {
      this.warn(`action '${name}': runtime family '${family}' is not a known OpenWhisk runtime`, where);
    }
    return `${family}:${version ?? 'default'}`;
  }

  private checkLimits(name: string, limits: unknown, where: Path): void {
    if (limits === undefined || limits === null) return;
    if (!isMap(limits)) throw this.fail(`action '${name}': 'limits' must be a mapping, not ${describe(limits)}`, where);
    for (const [key, value] of Object.entries(limits)) {
      if (!(key in LIMIT_KEYS)) {
        this.warn(`action '${name}': unknown limit '${key}' (known: timeout, memorySize, logSize)`, [...where, key]);
        continue;
      }
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw this.fail(`action '${name}': limit '${key}' must be a whole number (${key === 'timeout' ? 'milliseconds' : 'MB'}), not ${describe(value)}`,
          [...where, key], true);
      }
      const field = LIMIT_KEYS[key];
      if (field === null) {
        this.warn(`action '${name}': limit '${key}' cannot be set per action (wskdeploy ignores it)`, [...where, key]);
      } else if (value < (LIMIT_MINIMUM[field] ?? 0)) {
        this.warn(`action '${name}': limit '${key}' below ${LIMIT_MINIMUM[field]} is dropped (as wskdeploy does); the default applies`,
          [...where, key]);
      }
      if (key === 'memoryLimit' || key === 'memory') {
        this.warn(`action '${name}': wskdeploy only knows 'memorySize'; '${key}' is used here but ignored by wskdeploy`, [...where, key]);
      }
    }
  }

  private readSequences(pkg: string, sequences: unknown, where: Path): void {
    if (sequences === undefined || sequences === null) return;
    if (!isMap(sequences)) throw this.fail(`'sequences' must be a mapping of sequence names, not ${describe(sequences)}`, where);
    for (const [name, def] of Object.entries(sequences)) {
      const at = [...where, name];
      if (!isMap(def)) throw this.fail(`sequence '${name}' must be a mapping with 'actions: "a, b"', not ${describe(def)}`, at);
      this.unknownKeys(def, SEQUENCE_KEYS, at, 'sequence');
      let list: string[];
      if (typeof def.actions === 'string') list = def.actions.split(',');
      else if (Array.isArray(def.actions) && def.actions.every((a) => typeof a === 'string')) list = def.actions as string[];
      else throw this.fail(`sequence '${name}' needs 'actions: "a, b"' (a comma-separated string), not ${describe(def.actions)}`, [...at, 'actions']);
      const components = list.map((a) => a.trim()).filter(Boolean).map((a) => {
        if (a.startsWith(`${DEFAULT_PACKAGE}/`)) return a.slice(DEFAULT_PACKAGE.length + 1);
        if (a.startsWith('/') || a.includes('/')) return a;
        return pkg === DEFAULT_PACKAGE ? a : `${pkg}/${a}`;
      });
      if (components.length === 0) throw this.fail(`sequence '${name}' has no actions`, [...at, 'actions']);
      if (def.annotations !== undefined && def.annotations !== null && !isMap(def.annotations)) {
        throw this.fail(`sequence '${name}': 'annotations' must be a mapping`, [...at, 'annotations']);
      }
      this.add({ kind: 'sequence', pkg, name, path: at, def, version: this.version(at, def), components });
    }
  }

  // Triggers and rules are namespace-level entities: wskdeploy deploys those declared under any
  // package into the namespace, so their names are unique across packages.
  private readTriggers(triggers: unknown, where: Path): void {
    if (triggers === undefined || triggers === null) return;
    if (!isMap(triggers)) throw this.fail(`'triggers' must be a mapping of trigger names, not ${describe(triggers)}`, where);
    for (const [name, raw] of Object.entries(triggers)) {
      const at = [...where, name];
      const def = raw === null ? {} : raw;
      if (!isMap(def)) throw this.fail(`trigger '${name}' must be a mapping (inputs, feed, ...), not ${describe(def)}`, at);
      if (this.triggers.has(name)) throw this.fail(`trigger '${name}' is defined twice (trigger names are unique in the namespace)`, at);
      this.unknownKeys(def, TRIGGER_KEYS, at, 'trigger');
      const feed = this.optionalString(def, 'feed', at) ?? this.optionalString(def, 'source', at);
      if (feed) this.warn(`trigger '${name}': its feed '${feed}' is not run locally; the flow fires the trigger`, [...at, def.feed !== undefined ? 'feed' : 'source']);
      const parameters = resolveInputs(def.inputs, [...at, 'inputs'], (m, p) => this.fail(m, p), (m, p) => this.warn(m, p));
      this.triggers.set(name, { name, path: at, parameters, feed: feed ? interpolateEnv(feed) : undefined });
    }
  }

  private readRules(pkg: string, rules: unknown, where: Path): void {
    if (rules === undefined || rules === null) return;
    if (!isMap(rules)) throw this.fail(`'rules' must be a mapping of rule names, not ${describe(rules)}`, where);
    for (const [name, def] of Object.entries(rules)) {
      const at = [...where, name];
      if (!isMap(def)) throw this.fail(`rule '${name}' must be a mapping with 'trigger:' and 'action:', not ${describe(def)}`, at);
      if (this.rules.has(name)) throw this.fail(`rule '${name}' is defined twice (rule names are unique in the namespace)`, at);
      this.unknownKeys(def, RULE_KEYS, at, 'rule');
      const trigger = this.optionalString(def, 'trigger', at)?.trim();
      const action = this.optionalString(def, 'action', at)?.trim();
      if (!trigger) throw this.fail(`rule '${name}' needs 'trigger: <trigger name>'`, at);
      if (!action) throw this.fail(`rule '${name}' needs 'action: <action name>'`, at);
      // An action name without a package is the rule's own package's action (wskdeploy's reading).
      let ref = action;
      if (ref.startsWith(`${DEFAULT_PACKAGE}/`)) ref = ref.slice(DEFAULT_PACKAGE.length + 1);
      else if (!ref.startsWith('/') && !ref.includes('/') && pkg !== DEFAULT_PACKAGE) ref = `${pkg}/${ref}`;
      this.rules.set(name, { name, path: at, trigger: trigger.replace(/^\/[^/]+\//, ''), action: ref });
    }
  }

  /** A rule's trigger must be declared in this manifest; its action too, unless fully qualified. */
  private checkRules(): void {
    for (const rule of this.rules.values()) {
      if (!this.triggers.has(rule.trigger)) {
        throw this.fail(`rule '${rule.name}': trigger '${rule.trigger}' is not defined in this manifest (declare it under 'triggers:')`,
          [...rule.path, 'trigger'], true);
      }
      if (!rule.action.startsWith('/') && !this.entries.has(rule.action)) {
        throw this.fail(`rule '${rule.name}': action '${rule.action}' is not defined in this manifest`, [...rule.path, 'action'], true);
      }
    }
  }

  /** Components in this manifest's own packages must exist; others (other namespaces) cannot be checked. */
  private checkComponents(entry: SequenceEntry): void {
    for (const c of entry.components) {
      if (c.startsWith('/')) continue;
      const [first] = c.split('/');
      const local = c.includes('/') ? this.packageParams.has(first) : true;
      if (local && !this.entries.has(c)) {
        throw this.fail(`sequence '${entry.name}': action '${c}' is not defined in this manifest`, [...entry.path, 'actions'], true);
      }
    }
  }
}
