// Reading a wskdeploy manifest (github.com/apache/openwhisk-wskdeploy specification/html) from its parsed
// YAML into the model the catalog serves: its actions, sequences, triggers, rules and package parameters,
// checked all at once so that every error shows (with its file and line) before anything runs.
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
// namespace, as wskdeploy does. Parameters, annotations and limits follow manifest-params.ts; the file and
// its YAML are read by manifest-file.ts.
import * as path from 'path';
import type { KeyValue } from '../types';
import { checkFunctionFile, FunctionFileError, ManifestError } from './manifest-file';
import { checkLimits, interpolateEnv, type Report, resolveInputs } from './manifest-params';
import { describe, isMap, type KeyPath, type YamlSource } from './yaml-source';

export const DEFAULT_PACKAGE = 'default';
/** File extension → runtime family (wskdeploy picks the family's default kind). */
const EXTENSION_FAMILY: Record<string, string> = {
  js: 'nodejs',
  py: 'python',
  java: 'java',
  jar: 'java',
  swift: 'swift',
  php: 'php',
  rb: 'ruby',
  go: 'go',
  rs: 'rust',
  cs: 'dotnet',
  bal: 'ballerina',
};
const KNOWN_FAMILIES = new Set([...Object.values(EXTENSION_FAMILY), 'blackbox']);
const RUNTIME_FORMAT = /^([a-z][a-z0-9]*)(?:[:@]([A-Za-z0-9][A-Za-z0-9._-]*))?$/;
const IMAGE_FORMAT = /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$/;
const NATIVE_IMAGE = 'openwhisk/dockerskeleton';

// Keys wskdeploy knows (parsers/yamlparser.go); others are reported as warnings, not errors, because
// wskdeploy ignores them.
const TOP_KEYS = new Set(['packages', 'project']);
const PROJECT_KEYS = new Set(['name', 'namespace', 'credential', 'apiHost', 'apigwAccessToken', 'version', 'packages', 'config', 'inputs']);
const PACKAGE_KEYS = new Set([
  'name',
  'version',
  'license',
  'public',
  'repositories',
  'dependencies',
  'namespace',
  'credential',
  'apiHost',
  'apigwAccessToken',
  'actions',
  'triggers',
  'feeds',
  'rules',
  'inputs',
  'sequences',
  'description',
  'annotations',
  'apis',
]);
const ACTION_KEYS = new Set([
  'location',
  'version',
  'function',
  'code',
  'runtime',
  'kind',
  'namespace',
  'credential',
  'exposedUrl',
  'web-export',
  'web',
  'main',
  'docker',
  'native',
  'conductor',
  'limits',
  'inputs',
  'outputs',
  'description',
  'annotations',
  'include',
  'exclude',
  'raw-http',
  'final',
  'feed',
]);
const TRIGGER_KEYS = new Set(['inputs', 'annotations', 'feed', 'source', 'description']);
const RULE_KEYS = new Set(['trigger', 'action', 'rule', 'description', 'annotations']);
const SEQUENCE_KEYS = new Set(['actions', 'web', 'web-export', 'annotations', 'description']);

export interface ActionEntry {
  kind: 'action';
  pkg: string;
  name: string;
  path: KeyPath;
  def: Record<string, unknown>;
  version: string;
  exec: { kind: string; image?: string; main?: string };
  /** The code file as written (relative to the manifest's folder); undefined for inline `code` or an image without code. */
  file?: string;
  inlineCode?: string;
}

export interface SequenceEntry {
  kind: 'sequence';
  pkg: string;
  name: string;
  path: KeyPath;
  def: Record<string, unknown>;
  version: string;
  /** Components relative to the namespace ("pkg/name") or fully qualified ("/ns/pkg/name"). */
  components: string[];
}

export type Entry = ActionEntry | SequenceEntry;

export interface TriggerEntry {
  name: string;
  path: KeyPath;
  parameters: KeyValue[];
  feed?: string;
}

export interface RuleEntry {
  name: string;
  path: KeyPath;
  trigger: string;
  /** Relative to the namespace ("pkg/action", "action" in the default package) or fully qualified. */
  action: string;
}

/** A manifest as read: entities by the name getAction() takes, and the YAML they came from (for error lines). */
export interface Manifest {
  entries: Map<string, Entry>;
  triggers: Map<string, TriggerEntry>;
  rules: Map<string, RuleEntry>;
  packageParams: Map<string, KeyValue[]>;
  /** Non-fatal findings (keys wskdeploy ignores, ...), each with file and line. */
  warnings: string[];
  source: YamlSource;
}

/** Validates the whole manifest `file` from its parsed YAML; throws ManifestError at the first error. */
export function readManifest(file: string, source: YamlSource): Manifest {
  return new ManifestReader(file, source).read();
}

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `a ${typeof v}`);

class ManifestReader {
  private readonly warnings: string[] = [];
  private readonly entries = new Map<string, Entry>();
  private readonly triggers = new Map<string, TriggerEntry>();
  private readonly rules = new Map<string, RuleEntry>();
  private readonly packageParams = new Map<string, KeyValue[]>();
  private readonly dir: string;
  /** Where the parameter and limit checks report. */
  private readonly report: Required<Report> = {
    fail: (problem, keyPath, preferValue) => this.fail(problem, keyPath, preferValue),
    warn: (problem, keyPath) => this.warn(problem, keyPath),
  };

  constructor(
    private readonly file: string,
    private readonly src: YamlSource,
  ) {
    this.dir = path.dirname(file);
  }

  private fail(problem: string, keyPath: KeyPath, preferValue = false): ManifestError {
    return ManifestError.at(this.file, this.src, problem, keyPath, { preferValue });
  }

  private warn(problem: string, keyPath: KeyPath): void {
    const pos = this.src.nearest(keyPath);
    this.warnings.push(`${this.file}${pos ? `:${pos.line}` : ''}: ${problem}`);
  }

  private unknownKeys(map: Record<string, unknown>, known: Set<string>, where: KeyPath, what: string): void {
    for (const key of Object.keys(map)) {
      if (!known.has(key)) this.warn(`unknown ${what} key '${key}' (wskdeploy ignores it)`, [...where, key]);
    }
  }

  private optionalString(map: Record<string, unknown>, key: string, where: KeyPath): string | undefined {
    const v = map[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') throw this.fail(`'${key}' must be a string, not ${describe(v)}`, [...where, key]);
    return v;
  }

  read(): Manifest {
    const root = this.src.value;
    if (root === null || root === undefined) throw this.fail('the manifest is empty', []);
    // Not a manifest at all (/etc/passwd parses as one string): say what it is, never what it holds.
    if (!isMap(root)) throw this.fail(`not a wskdeploy manifest: its top level is ${kindOf(root)}, not a mapping with 'packages:'`, []);
    if (!('packages' in root) && !('project' in root) && !('package' in root)) {
      throw this.fail("not a wskdeploy manifest: no 'packages:' (or 'project:') at its top level", []);
    }
    this.unknownKeys(root, TOP_KEYS, [], 'top-level');
    let packages: unknown = root.packages;
    let pkgPath: KeyPath = ['packages'];
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
      this.packageParams.set(pkgName, resolveInputs(pkg.inputs, [...where, 'inputs'], this.report));
      this.readActions(pkgName, pkg.actions, [...where, 'actions']);
      this.readSequences(pkgName, pkg.sequences, [...where, 'sequences']);
      this.readTriggers(pkg.triggers, [...where, 'triggers']);
      this.readRules(pkgName, pkg.rules, [...where, 'rules']);
    }
    for (const entry of this.entries.values()) {
      if (entry.kind === 'sequence') this.checkComponents(entry);
    }
    this.checkRules();
    const { entries, triggers, rules, packageParams, warnings } = this;
    return { entries, triggers, rules, packageParams, warnings, source: this.src };
  }

  /** The entity's `version` as written ("1.0" stays "1.0"), else the API's first version. */
  private version(where: KeyPath, def: Record<string, unknown>): string {
    if (def.version === undefined || def.version === null) return '0.0.1';
    const text = this.src.textAt([...where, 'version']) ?? String(def.version);
    return interpolateEnv(text.trim()) || '0.0.1';
  }

  private add(entry: Entry): void {
    const ref = entry.pkg === DEFAULT_PACKAGE ? entry.name : `${entry.pkg}/${entry.name}`;
    if (this.entries.has(ref)) {
      throw this.fail(`'${entry.name}' is defined twice in package '${entry.pkg}' (an action and a sequence?)`, entry.path);
    }
    this.entries.set(ref, entry);
  }

  private readActions(pkg: string, actions: unknown, where: KeyPath): void {
    if (actions === undefined || actions === null) return;
    if (!isMap(actions)) throw this.fail(`'actions' must be a mapping of action names, not ${describe(actions)}`, where);
    for (const [name, def] of Object.entries(actions)) {
      const at = [...where, name];
      if (!isMap(def)) throw this.fail(`action '${name}' must be a mapping (function, runtime, ...), not ${describe(def)}`, at);
      this.add(this.readAction(pkg, name, def, at));
    }
  }

  private readAction(pkg: string, name: string, def: Record<string, unknown>, at: KeyPath): ActionEntry {
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
        throw this.fail(`action '${name}': remote functions (${rel}) are not supported; download the file next to the manifest`, [...at, fnKey]);
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
        throw this.fail(`action '${name}': '${image}' is not a Docker image name (like leon-edge/face-detect:latest)`, [...at, 'docker'], true);
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
    checkLimits(name, def.limits, [...at, 'limits'], this.report);
    if (def.annotations !== undefined && def.annotations !== null && !isMap(def.annotations)) {
      throw this.fail(`action '${name}': 'annotations' must be a mapping, not ${describe(def.annotations)}`, [...at, 'annotations']);
    }
    // Parameters are resolved at getAction(), but their errors belong to loading.
    resolveInputs(def.inputs, [...at, 'inputs'], this.report);
    const entry: ActionEntry = { kind: 'action', pkg, name, path: at, def, version: this.version(at, def), exec: { kind }, file };
    if (image) entry.exec.image = image;
    if (main) entry.exec.main = main;
    if (code !== undefined && file === undefined) entry.inlineCode = code;
    return entry;
  }

  private kindOf(name: string, runtime: string, where: KeyPath): string {
    const m = RUNTIME_FORMAT.exec(runtime);
    if (!m) {
      throw this.fail(`action '${name}': runtime '${runtime}' is not of the form <language>:<version> (e.g. nodejs:20, python:3.11)`, where, true);
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

  private readSequences(pkg: string, sequences: unknown, where: KeyPath): void {
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
      const components = list
        .map((a) => a.trim())
        .filter(Boolean)
        .map((a) => {
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
  private readTriggers(triggers: unknown, where: KeyPath): void {
    if (triggers === undefined || triggers === null) return;
    if (!isMap(triggers)) throw this.fail(`'triggers' must be a mapping of trigger names, not ${describe(triggers)}`, where);
    for (const [name, raw] of Object.entries(triggers)) {
      const at = [...where, name];
      const def = raw === null ? {} : raw;
      if (!isMap(def)) throw this.fail(`trigger '${name}' must be a mapping (inputs, feed, ...), not ${describe(def)}`, at);
      if (this.triggers.has(name)) throw this.fail(`trigger '${name}' is defined twice (trigger names are unique in the namespace)`, at);
      this.unknownKeys(def, TRIGGER_KEYS, at, 'trigger');
      const feed = this.optionalString(def, 'feed', at) ?? this.optionalString(def, 'source', at);
      if (feed)
        this.warn(`trigger '${name}': its feed '${feed}' is not run locally; the flow fires the trigger`, [...at, def.feed !== undefined ? 'feed' : 'source']);
      const parameters = resolveInputs(def.inputs, [...at, 'inputs'], this.report);
      this.triggers.set(name, { name, path: at, parameters, feed: feed ? interpolateEnv(feed) : undefined });
    }
  }

  private readRules(pkg: string, rules: unknown, where: KeyPath): void {
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
        throw this.fail(
          `rule '${rule.name}': trigger '${rule.trigger}' is not defined in this manifest (declare it under 'triggers:')`,
          [...rule.path, 'trigger'],
          true,
        );
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
