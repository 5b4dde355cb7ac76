// An on-disk cache in front of a catalog: the newest version of every action fetched is kept (metadata
// and code), so a gateway that loses its uplink still deploys and restarts with the last version it saw.
// The catalog is always asked first: a newer version is picked up when it is back.
//
// Layout: <dir>/v3/<service>/<doc>.json and <dir>/v3/<service>/<ref>.ref, where <service> is a hash of the
// API host and the key's subject (the namespace "_" stands for), <doc> a hash of the document's own
// identity (the namespace, package and name it says it has, once checked against what was asked for)
// and <ref> a hash of a name it was asked by: a .ref file holds the <doc> it leads to. So two services
// never share cached code, an action has exactly one copy however many names lead to it ("_/x" and
// "guest/x"; storing a version replaces the last), and an answer that is not the action asked for is not
// kept. The whole cache is bounded in bytes (all services together, default 256 MB): past the bound, the
// copies stored longest ago go first. Files are written to a unique temporary name, fsynced, renamed into
// place and the folder fsynced, so a crash or power loss leaves either the old or the new version, never
// a torn file. A temporary file a crash left behind (as large as a cached action: tens of MB) counts
// towards the bound and is removed once it is a minute old: at the first scan, or at the next store
// after that.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEMP_FILE, writeFileAtomic } from '../atomic-file';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, ActionRef, Catalog } from '../types';

interface Entry {
  service: string;
  /** What the document says it is ("ns[/pkg]/name"), and the binding it was asked through, if any. */
  identity: string;
  version?: string;
  savedAt: number;
  doc: ActionDoc;
}

/** The cache's bound in bytes, all services together, unless the runtime says otherwise. */
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * How old a temporary file found on disk must be to count as left by a crash: a write in progress (by
 * another process on the same folder) is younger, since it takes well under a second.
 */
export const TEMP_FILE_MAX_AGE_MS = 60_000;

/**
 * The identity of `doc` as the answer to `ref`, or undefined when it is not the action asked for. The
 * name must be the one asked; the namespace too, unless "_" (the key's own, whatever its name) was
 * asked; the package too, unless it was asked through a package of another name (a binding, whose
 * parameters are merged into the answer: a document of its own, named with the binding).
 */
export function identityOf(ref: ActionRef, doc: ActionDoc): string | undefined {
  const asked = String(ref.name ?? '').split('/');
  const askedName = asked.pop();
  const askedPkg = asked.length > 0 ? asked.join('/') : undefined;
  const [docNs, docPkg, ...more] = String(doc.namespace ?? '').split('/');
  const askedNs = ref.namespace || '_';
  if (!docNs || more.length > 0 || doc.name !== askedName || (askedPkg === undefined) !== (docPkg === undefined)) return undefined;
  const own = `${doc.namespace}/${doc.name}`;
  if (askedPkg === docPkg) return askedNs === '_' || askedNs === docNs ? own : undefined;
  // Through a binding: only a one-part package name can be one.
  return askedPkg && !askedPkg.includes('/') ? `${own} via /${askedNs}/${askedPkg}` : undefined;
}

/**
 * What the cache folder holds, for the byte bound: every file under v3/ with its size and age, and
 * where each .ref file leads. One per folder in this process (every runtime's CachedCatalog shares
 * it); read from the disk once, then kept up to date by the stores and evictions, one at a time.
 */
class Ledger {
  /** File → its size, in the order they were stored (oldest first). */
  readonly files = new Map<string, number>();
  /** .ref file → the .json file it leads to. */
  readonly refs = new Map<string, string>();
  /** Temporary files found on disk younger than TEMP_FILE_MAX_AGE_MS: counted, removed once that old. */
  readonly leftovers = new Set<string>();
  total = 0;
  private queue: Promise<unknown>;

  constructor(readonly root: string) {
    this.queue = this.scan();
  }

  /** Runs `fn` after every earlier store of this folder has finished. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `file` was (re)written with `bytes`: it is the newest. */
  note(file: string, bytes: number): void {
    this.total -= this.files.get(file) ?? 0;
    this.files.delete(file);
    this.files.set(file, bytes);
    this.total += bytes;
  }

  async remove(file: string): Promise<void> {
    await fsp.rm(file, { force: true }).catch(() => undefined);
    this.total -= this.files.get(file) ?? 0;
    this.files.delete(file);
    this.refs.delete(file);
    this.leftovers.delete(file);
  }

  /**
   * Removes the temporary files found on disk that are now TEMP_FILE_MAX_AGE_MS old (their writer died
   * too; one that finished renamed its file away: no longer counted), then the copies stored longest ago
   * (and the names leading to them) until `max` bytes are held. `keep` stays.
   */
  async evict(max: number, keep: string): Promise<void> {
    for (const tmp of [...this.leftovers.keys()]) {
      const st = await fsp.lstat(tmp).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs > TEMP_FILE_MAX_AGE_MS) await this.remove(tmp);
    }
    while (this.total > max) {
      let oldest: string | undefined;
      for (const f of this.files.keys()) {
        if (f !== keep && f.endsWith('.json')) {
          oldest = f;
          break;
        }
      }
      if (!oldest) return;
      await this.drop(oldest);
    }
  }

  /** Removes a copy and the names that lead to it. */
  async drop(json: string): Promise<void> {
    await this.remove(json);
    for (const [ref, target] of [...this.refs]) if (target === json) await this.remove(ref);
  }

  private async scan(): Promise<void> {
    const v3 = path.join(this.root, 'v3');
    let services: string[];
    try {
      services = await fsp.readdir(v3);
    } catch {
      return;
    }
    const found: { file: string; bytes: number; at: number }[] = [];
    for (const svc of services) {
      const dir = path.join(v3, svc);
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const file = path.join(dir, name);
        const temp = TEMP_FILE.test(name);
        if (!temp && !name.endsWith('.json') && !name.endsWith('.ref')) continue;
        try {
          const st = await fsp.lstat(file);
          if (!st.isFile()) continue;
          if (temp) {
            // Left by a crash mid-write (nothing in this process has written here yet): removed when old
            // enough to be sure, else counted until the next store after it is.
            if (Date.now() - st.mtimeMs > TEMP_FILE_MAX_AGE_MS) {
              await fsp.rm(file, { force: true });
              continue;
            }
            this.leftovers.add(file);
          }
          found.push({ file, bytes: st.size, at: st.mtimeMs });
          if (name.endsWith('.ref')) this.refs.set(file, path.join(dir, `${(await fsp.readFile(file, 'utf8')).trim()}.json`));
        } catch {
          // gone meanwhile
        }
      }
    }
    for (const f of found.sort((x, y) => x.at - y.at)) this.note(f.file, f.bytes);
  }
}

const ledgers = new Map<string, Ledger>();
const ledgerOf = (root: string): Ledger => {
  let l = ledgers.get(root);
  if (!l) {
    l = new Ledger(root);
    ledgers.set(root, l);
  }
  return l;
};

/** Failures that mean "the catalog cannot be reached", as opposed to "it answered no". */
export function catalogUnreachable(err: unknown): boolean {
  if (!(err instanceof OpenWhiskNodeError)) return false;
  if (err.code === 'unreachable') return true;
  return err.code === 'http' && (err.statusCode ?? 0) >= 500;
}

const hash = (s: string, n = 24) => createHash('sha256').update(s).digest('hex').slice(0, n);

/**
 * What identifies a service for the cache: its API host and the subject of its key (the part before
 * ':'; the secret is not used, so a rotated secret keeps the cache).
 */
export function serviceIdentity(apiHost: string, key: string | undefined): string {
  return `${apiHost}\n${(key ?? '').split(':')[0]}`;
}

let privateDir: string | undefined;

/**
 * Where the cache lives: `.leon-openwhisk/catalog-cache` under the Node-RED user directory. Without
 * one (only under a test harness), a private folder made by mkdtemp (mode 0700, a random name, removed
 * when the process exits) — never a predictable /tmp path another user could create first.
 */
export function cacheDirFor(userDir: string | undefined): string {
  if (userDir) return path.join(userDir, '.leon-openwhisk', 'catalog-cache');
  if (!privateDir) {
    const dir = mkdtempSync(path.join(tmpdir(), 'leon-openwhisk-cache-'));
    privateDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return privateDir;
}

export interface CacheOptions {
  /** The bound of the whole cache folder in bytes (default DEFAULT_CACHE_BYTES). */
  maxBytes?: number;
}

export class CachedCatalog implements Catalog {
  private readonly cached = new WeakSet<ActionDoc>();
  private readonly serviceKey: string;
  private readonly maxBytes: number;
  private readonly ledger: Ledger;
  private legacyPruned = false;

  /** `service` identifies the catalog (see serviceIdentity); defaults to its location. */
  constructor(
    private readonly inner: Catalog,
    private readonly dir: string,
    service: string = inner.location,
    opts: CacheOptions = {},
  ) {
    this.serviceKey = hash(service, 16);
    this.maxBytes = opts.maxBytes !== undefined && Number.isFinite(opts.maxBytes) && opts.maxBytes > 0 ? opts.maxBytes : DEFAULT_CACHE_BYTES;
    this.ledger = ledgerOf(path.resolve(dir));
  }

  get location(): string {
    return this.inner.location;
  }

  /** True when this document came from the disk cache because the catalog was unreachable. */
  fromCache(doc: ActionDoc): boolean {
    return this.cached.has(doc);
  }

  async getAction(ref: ActionRef): Promise<ActionDoc> {
    let doc: ActionDoc;
    try {
      doc = await this.inner.getAction(ref);
    } catch (err) {
      if (!catalogUnreachable(err)) throw err;
      const copy = await this.load(ref);
      if (!copy) {
        throw new OpenWhiskNodeError(
          'unreachable',
          `${(err as Error).message} No cached copy of '/${ref.namespace}/${ref.name}' either: deploy once while the catalog is reachable.`,
          {
            short: 'unreachable',
            cause: err,
          },
        );
      }
      this.cached.add(copy);
      return copy;
    }
    await this.store(ref, doc).catch(() => undefined); // a full disk must not stop the flow
    return doc;
  }

  runtimeImages(): Promise<Record<string, string>> {
    return this.inner.runtimeImages();
  }

  private folder(): string {
    return path.join(this.dir, 'v3', this.serviceKey);
  }

  /** The file that leads from the name `ref` to its copy. */
  private refFile(ref: ActionRef): string {
    return path.join(this.folder(), `${hash(`${ref.namespace || '_'}\n${ref.name}`)}.ref`);
  }

  /** The file that holds the newest cached copy `ref` leads to, if any. */
  async fileFor(ref: ActionRef): Promise<string | undefined> {
    try {
      const id = (await fsp.readFile(this.refFile(ref), 'utf8')).trim();
      return /^[0-9a-f]{24}$/.test(id) ? path.join(this.folder(), `${id}.json`) : undefined;
    } catch {
      return undefined;
    }
  }

  private async store(ref: ActionRef, doc: ActionDoc): Promise<void> {
    const identity = identityOf(ref, doc);
    if (!identity) return; // not the action asked for: nothing is kept under either name
    const id = hash(`${this.serviceKey}\n${identity}`);
    const file = path.join(this.folder(), `${id}.json`);
    const refFile = this.refFile(ref);
    const entry: Entry = { service: this.serviceKey, identity, version: doc.version, savedAt: Date.now(), doc };
    const data = JSON.stringify(entry);
    await this.ledger.serial(async () => {
      const bytes = Buffer.byteLength(data);
      if (bytes + id.length > this.maxBytes) {
        // Larger than the whole cache: no copy, and not the older one either (the cache holds the newest).
        await this.ledger.drop(file);
        return;
      }
      // Action code and default parameters may be private: readable by the Node-RED user only.
      await fsp.mkdir(this.folder(), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, data);
      this.ledger.note(file, bytes);
      if (this.ledger.refs.get(refFile) !== file) {
        await writeFileAtomic(refFile, id);
        this.ledger.note(refFile, id.length);
        this.ledger.refs.set(refFile, file);
      }
      await this.ledger.evict(this.maxBytes, file);
    });
    if (!this.legacyPruned) {
      // Earlier layouts: every version under actions/ and refs/, shared between services; then one copy per name asked (v2/).
      this.legacyPruned = true;
      await Promise.all(['actions', 'refs', 'v2'].map((d) => fsp.rm(path.join(this.dir, d), { recursive: true, force: true })));
    }
  }

  private async load(ref: ActionRef): Promise<ActionDoc | undefined> {
    try {
      const file = await this.fileFor(ref);
      if (!file) return undefined;
      const entry = JSON.parse(await fsp.readFile(file, 'utf8')) as Entry;
      return entry.service === this.serviceKey ? entry.doc : undefined;
    } catch {
      return undefined;
    }
  }
}
