// A Catalog without an OpenWhisk account: the actions of a wskdeploy manifest (the OpenWhisk ecosystem's
// YAML format, github.com/apache/openwhisk-wskdeploy specification/html), returned as the REST API would
// return them after `wskdeploy -m <manifest>` (apache/openwhisk's REST API, GET /namespaces/{ns}/actions/{name}),
// and its triggers with their rules. The manifest is read again whenever it changes on disk:
// manifest-file.ts reads it within bounds, manifest-reader.ts checks it and builds its model,
// manifest-params.ts resolves the parameters, annotations and limits each getAction() reports.
import * as fs from 'fs';
import * as path from 'path';
import { OpenWhiskNodeError } from '../errors';
import { parseName } from '../names';
import type { ActionDoc, ActionRef, Catalog, KeyValue } from '../types';
import { checkFunctionFile, FunctionFileError, ManifestError, manifestStamp, noManifestGiven, readFunctionFile, readManifestSource } from './manifest-file';
import { annotationsOf, limitsOf, mergeParams, resolveInputs } from './manifest-params';
import { type ActionEntry, DEFAULT_PACKAGE, type Entry, type Manifest, readManifest, type TriggerEntry } from './manifest-reader';

/** What the catalog throws for a manifest it cannot serve (callers catch it from here). */
export { ManifestError };

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

/** The manifest as last read, and what it was read from. */
interface Loaded {
  stamp: string;
  manifestMtime: number;
  manifest: Manifest;
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
    if (typeof file !== 'string' || file.trim() === '') throw noManifestGiven();
    this.location = path.resolve(file);
    this.namespace = namespace && namespace !== '_' ? namespace : 'guest';
  }

  /** Non-fatal findings of the last load (keys wskdeploy ignores, ...), each with file and line. */
  warnings(): string[] {
    return [...this.load().manifest.warnings];
  }

  async runtimeImages(): Promise<Record<string, string>> {
    return {};
  }

  /** Actions and sequences, sorted by name. */
  async list(): Promise<ManifestEntity[]> {
    const { entries } = this.load().manifest;
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
    return [...this.load().manifest.packageParams.entries()]
      .filter(([name]) => name !== DEFAULT_PACKAGE)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, params]) => ({ name, parameters: params.map((p) => ({ ...p })) }));
  }

  /** Triggers, sorted by name, each with the rules that name it. */
  async listTriggers(): Promise<ManifestTrigger[]> {
    const { manifest } = this.load();
    return [...manifest.triggers.keys()].sort().map((t) => this.trigger(manifest, t));
  }

  /** A trigger and its rules; a config error (404) when the manifest declares no such trigger. */
  async getTrigger(name: string): Promise<ManifestTrigger> {
    const { manifest } = this.load();
    let n = String(name ?? '').trim();
    if (n.startsWith('/')) n = n.split('/').filter(Boolean).slice(1).join('/');
    if (!manifest.triggers.has(n)) {
      const known = [...manifest.triggers.keys()].sort();
      throw new OpenWhiskNodeError(
        'config',
        `Trigger '${n}' not found in manifest ${this.location}` +
          (known.length ? ` (it declares ${known.map((k) => `'${k}'`).join(', ')})` : " (it declares no 'triggers:')"),
        { short: 'not found', statusCode: 404 },
      );
    }
    return this.trigger(manifest, n);
  }

  private trigger(manifest: Manifest, name: string): ManifestTrigger {
    const t = manifest.triggers.get(name) as TriggerEntry;
    const rules = [...manifest.rules.values()]
      .filter((r) => r.trigger === name)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => ({ name: r.name, action: r.action, status: 'active' as const }));
    const out: ManifestTrigger = { name, namespace: this.namespace, parameters: t.parameters.map((p) => ({ ...p })), rules };
    if (t.feed) out.feed = t.feed;
    return out;
  }

  /** The action; with `code: false` its document without the code (function files are checked, not read). */
  async getAction(ref: ActionRef, opts: { code?: boolean } = {}): Promise<ActionDoc> {
    const { manifest, manifestMtime } = this.load();
    let ns = ref.namespace && ref.namespace !== '_' ? ref.namespace : this.namespace;
    let name = String(ref.name ?? '').trim();
    if (name.startsWith('/')) {
      // Fully qualified: /ns/pkg/action or /ns/action.
      const parsed = parseName(name);
      if (!parsed?.namespace) throw this.notFound(name, manifest);
      ns = parsed.namespace === '_' ? ns : parsed.namespace;
      name = parsed.name;
    }
    if (name.startsWith(`${DEFAULT_PACKAGE}/`)) name = name.slice(DEFAULT_PACKAGE.length + 1);
    const entry = manifest.entries.get(name);
    if (!entry) throw this.notFound(name, manifest);

    const inDefault = entry.pkg === DEFAULT_PACKAGE;
    const doc: ActionDoc = {
      namespace: inDefault ? ns : `${ns}/${entry.pkg}`,
      name: entry.name,
      version: entry.version,
      exec: { kind: 'sequence' },
      publish: false,
    };
    let updated = manifestMtime;
    if (entry.kind === 'sequence') {
      doc.exec = {
        kind: 'sequence',
        components: entry.components.map((c) => (c.startsWith('/') ? c : `/${ns}/${c}`)),
      };
    } else {
      doc.exec = { kind: entry.exec.kind };
      if (entry.exec.image) doc.exec.image = entry.exec.image;
      if (entry.file) {
        const { code, binary, mtime } = await this.readCode(entry, manifest, opts.code !== false);
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
    doc.parameters = mergeParams(manifest.packageParams.get(entry.pkg) ?? [], this.entryParams(entry, manifest));
    doc.limits = limitsOf(entry.kind === 'action' ? entry.def.limits : undefined);
    doc.annotations = annotationsOf(entry.def, doc.exec.kind, entry.kind === 'action');
    doc.updated = updated;
    return doc;
  }

  private notFound(name: string, manifest: Manifest): OpenWhiskNodeError {
    const short = name.split('/').pop() ?? name;
    const similar = [...manifest.entries.keys()].filter((k) => k.split('/').pop() === short && k !== name);
    const hint = similar.length ? ` (did you mean ${similar.map((s) => `'${s}'`).join(' or ')}?)` : '';
    return new OpenWhiskNodeError('config', `Action '${name}' not found in manifest ${this.location}${hint}`, {
      short: 'not found',
      statusCode: 404,
    });
  }

  private async readCode(entry: ActionEntry, manifest: Manifest, read = true): Promise<{ code?: string; binary: boolean; mtime: number }> {
    const file = entry.file as string;
    let data: Buffer | undefined;
    let mtime: number;
    const key = entry.def.function !== undefined ? 'function' : 'location';
    try {
      if (read) ({ data, mtime } = await readFunctionFile(file, path.dirname(this.location)));
      else mtime = (await fs.promises.stat(checkFunctionFile(file, path.dirname(this.location)).real)).mtimeMs;
    } catch (err) {
      const problem = err instanceof FunctionFileError ? err.problem : `cannot read function file '${file}': ${(err as Error).message}`;
      throw ManifestError.at(this.location, manifest.source, `action '${entry.name}': ${problem}`, [...entry.path, key], { cause: err });
    }
    const ext = path.extname(file).toLowerCase();
    if (ext === '.zip' || ext === '.jar') return { code: data?.toString('base64'), binary: true, mtime: Math.round(mtime) };
    return { code: data?.toString('utf8'), binary: false, mtime: Math.round(mtime) };
  }

  private entryParams(entry: Entry, manifest: Manifest): KeyValue[] {
    if (entry.kind !== 'action') return [];
    return resolveInputs(entry.def.inputs, [...entry.path, 'inputs'], {
      fail: (problem, keyPath) => ManifestError.at(this.location, manifest.source, problem, keyPath),
    });
  }

  /**
   * The manifest, read again when its stamp (time, size, inode) changed; throws ManifestError on any
   * problem. Synchronous, so that the runtime node's deploy reports a bad manifest at once; for the
   * editor's lookups the read is one of at most MANIFEST_MAX_BYTES from a regular file, and the YAML is
   * parsed on the event loop either way.
   */
  private load(): Loaded {
    const { stamp, mtime } = manifestStamp(this.location);
    if (this.loaded?.stamp !== stamp) {
      const manifest = readManifest(this.location, readManifestSource(this.location));
      this.loaded = { stamp, manifestMtime: Math.round(mtime), manifest };
    }
    return this.loaded;
  }
}
