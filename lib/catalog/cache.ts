// An on-disk cache in front of a catalog: the newest version of every action fetched is kept (metadata
// and code), so a gateway that loses its uplink still deploys and restarts with the last version it saw.
// The catalog is always asked first: a newer version is picked up when it is back.
//
// Layout: <dir>/v2/<service>/<ref>.json, where <service> is a hash of the API host and the key's subject
// (the namespace "_" stands for), and <ref> a hash of the namespace and name asked for. So two services
// never share cached code, and each action has exactly one file: storing a version replaces the last.
// Files are written to a unique temporary name, fsynced, renamed into place and the folder fsynced, so a
// crash or power loss leaves either the old or the new version, never a torn file.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, ActionRef, Catalog } from '../types';

interface Entry {
  ref: ActionRef;
  service: string;
  version?: string;
  savedAt: number;
  doc: ActionDoc;
}

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

export class CachedCatalog implements Catalog {
  private readonly cached = new WeakSet<ActionDoc>();
  private readonly serviceKey: string;
  private legacyPruned = false;

  /** `service` identifies the catalog (see serviceIdentity); defaults to its location. */
  constructor(private readonly inner: Catalog, private readonly dir: string, service: string = inner.location) {
    this.serviceKey = hash(service, 16);
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
        throw new OpenWhiskNodeError('unreachable', `${(err as Error).message} No cached copy of '/${ref.namespace}/${ref.name}' either: deploy once while the catalog is reachable.`, {
          short: 'unreachable',
          cause: err,
        });
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

  /** The one file that holds the newest cached version of `ref` from this service. */
  fileFor(ref: ActionRef): string {
    return path.join(this.dir, 'v2', this.serviceKey, `${hash(`${ref.namespace || '_'}\n${ref.name}`)}.json`);
  }

  private async store(ref: ActionRef, doc: ActionDoc): Promise<void> {
    const file = this.fileFor(ref);
    // Action code and default parameters may be private: readable by the Node-RED user only.
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const entry: Entry = { ref, service: this.serviceKey, version: doc.version, savedAt: Date.now(), doc };
    await atomicWrite(file, JSON.stringify(entry));
    if (!this.legacyPruned) {
      // The first layout kept every version under actions/ and refs/, shared between services.
      this.legacyPruned = true;
      await Promise.all(['actions', 'refs'].map((d) => fsp.rm(path.join(this.dir, d), { recursive: true, force: true })));
    }
  }

  private async load(ref: ActionRef): Promise<ActionDoc | undefined> {
    try {
      const entry = JSON.parse(await fsp.readFile(this.fileFor(ref), 'utf8')) as Entry;
      return entry.service === this.serviceKey ? entry.doc : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Writes `data` to `file` atomically and durably: unique temp name, fsync, rename, fsync of the folder. */
export async function atomicWrite(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  const d = await fsp.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
