// An on-disk cache in front of a catalog: every action fetched is kept (metadata and code, keyed by
// namespace, name and version), so a gateway that loses its uplink still deploys and restarts with the
// last version it saw. The catalog is always asked first: a newer version is picked up when it is back.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, ActionRef, Catalog } from '../types';

interface Pointer {
  ref: ActionRef;
  file: string;
  version?: string;
  savedAt: number;
}

/** Failures that mean "the catalog cannot be reached", as opposed to "it answered no". */
export function catalogUnreachable(err: unknown): boolean {
  if (!(err instanceof OpenWhiskNodeError)) return false;
  if (err.code === 'unreachable') return true;
  return err.code === 'http' && (err.statusCode ?? 0) >= 500;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.@-]/g, '_');

export class CachedCatalog implements Catalog {
  private readonly cached = new WeakSet<ActionDoc>();

  constructor(private readonly inner: Catalog, private readonly dir: string) {}

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

  private pointerFile(ref: ActionRef): string {
    const key = createHash('sha256').update(`${this.inner.location}\n${ref.namespace || '_'}\n${ref.name}`).digest('hex').slice(0, 24);
    return path.join(this.dir, 'refs', `${key}.json`);
  }

  private async store(ref: ActionRef, doc: ActionDoc): Promise<void> {
    const file = path.join(this.dir, 'actions', safe(doc.namespace), `${safe(doc.name)}@${safe(doc.version ?? '0')}.json`);
    // Action code and default parameters may be private: readable by the Node-RED user only.
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await atomicWrite(file, JSON.stringify(doc));
    const pointer: Pointer = { ref, file: path.relative(this.dir, file), version: doc.version, savedAt: Date.now() };
    await mkdir(path.dirname(this.pointerFile(ref)), { recursive: true, mode: 0o700 });
    await atomicWrite(this.pointerFile(ref), JSON.stringify(pointer));
  }

  private async load(ref: ActionRef): Promise<ActionDoc | undefined> {
    try {
      const pointer = JSON.parse(await readFile(this.pointerFile(ref), 'utf8')) as Pointer;
      return JSON.parse(await readFile(path.join(this.dir, pointer.file), 'utf8')) as ActionDoc;
    } catch {
      return undefined;
    }
  }
}

async function atomicWrite(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
}
