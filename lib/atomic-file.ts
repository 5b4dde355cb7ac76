// Writing a file so that a crash or a power loss leaves either the old or the new version, never a torn
// one: the data goes to a unique temporary name next to the file (owner-only), is fsynced, renamed (or,
// to create a file only where none is, hard-linked) into place, and the folder is fsynced so the new
// name is durable too. The folder must exist. Used by the activation store's rewrites, the catalog
// cache and the instance id.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, promises as fsp, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A temporary file of these writers: `.<name>.<pid>.<random>.tmp`, next to the file it becomes. */
export const TEMP_FILE = /^\..+\.tmp$/;

function tempFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export interface AtomicWriteOptions {
  /** The new file's permissions (default 0o600: readable by the Node-RED user only). */
  mode?: number;
}

/** Writes `data` to `file` atomically and durably (temporary file, fsync, rename, fsync of the folder). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempFor(file);
  const fh = await fsp.open(tmp, 'wx', opts.mode ?? 0o600);
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
  const dir = await fsp.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface AtomicWriteSyncOptions extends AtomicWriteOptions {
  /**
   * Create the file only if there is none: hard-linked into place instead of renamed, so of two
   * processes creating it at once exactly one wins; the other gets an error with code EEXIST.
   */
  exclusive?: boolean;
}

/**
 * writeFileAtomic for the few places that cannot wait (a node's constructor): blocks the event loop
 * for the write and two fsyncs, so only for small files written once.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, opts: AtomicWriteSyncOptions = {}): void {
  const tmp = tempFor(file);
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.exclusive) linkSync(tmp, file);
    else renameSync(tmp, file);
  } finally {
    // After a rename the name is gone already; after a link (or a failure) the temporary name goes.
    rmSync(tmp, { force: true });
  }
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
