import type { Activation } from '../types';
import { boundedLogs, boundedValue } from './bounded';
import { rowOf, type ActivationRow, type Where } from './row';
import { StoreFile } from './store-file';

export interface ActivationStoreOptions {
  /** File the records are kept in (JSON lines, owner-only); undefined = in memory only. */
  file?: string;
  /** Most records kept (default 1000); older ones are dropped first. */
  maxCount?: number;
  /** Most bytes of records kept (default 8 MB); older ones are dropped first. */
  maxBytes?: number;
  /** Changes reach the file this long after they happen, in ms (default 500), plus the write before them. */
  flushMs?: number;
  /**
   * Told when writing the file fails (the first failure after a success; the records stay in memory and
   * the next write rewrites the file whole). Without it such a failure shows only to flush() and close().
   */
  onError?: (err: Error) => void;
  /** The runtime node the records are of (rows name it). */
  runtime?: string;
  /** Where records that carry no `where` annotation ran (default local). */
  where?: Where;
  /**
   * Keep a bounded preview of each record instead of the whole (for a store no API serves: the editor's
   * list): the result cut to 16 KB, the last 200 log lines of 1000 characters each.
   */
  preview?: boolean;
}

/** What the editor's sidebar shows of one record: the record (result and logs bounded) and its parameters. */
export interface ActivationDetail {
  row: ActivationRow;
  result: unknown;
  logs: string[];
  /** The parameters it was invoked with (bounded), when this store saw them (not kept on disk). */
  params?: unknown;
  annotations: Activation['annotations'];
  /** What was left out or shortened. */
  cut: { result: boolean; logs: boolean; params: boolean };
}

/** Bounds of a preview record and of the detail the editor gets. */
export const DETAIL_BOUNDS = { result: { maxChars: 16384, maxString: 4096 }, params: { maxChars: 8192, maxString: 2048 }, logLines: 200, logLine: 1000 };

/** A list's filters and page: `name` is the action's path below the namespace, "[pkg/]action". */
export interface ActivationQuery {
  skip?: number;
  limit?: number;
  name?: string;
  since?: number;
  upto?: number;
}

interface Entry {
  id: string;
  name: string;
  /** "ns/pkg/name" from the path annotation, when there is one. */
  path?: string;
  start: number;
  json: string;
  /** The editor's row of it. */
  row: ActivationRow;
  /** Parameters (bounded), kept in memory only. */
  params?: unknown;
  paramsCut?: boolean;
  /** Bytes of the kept parameters (counted in the store's byte budget). */
  paramsBytes?: number;
  /** A preview record: its result or logs were cut when it was added. */
  cutResult?: boolean;
  cutLogs?: boolean;
}

/** Part of the byte budget one record may take before its result and logs are left out. */
const MAX_RECORD_SHARE = 4;

/**
 * The local activations of one runtime, newest first, bounded by count and bytes, kept in a file in
 * the Node-RED user directory (rewritten atomically, readable by the owner only) so they survive a
 * restart. Records are serialised when they are added: later changes to the object (msg.data) do not
 * reach the store, and the store never changes the object it is given.
 *
 * Reads (get, list, count) answer from memory, so a record is found as soon as add() returns, whether
 * or not it has reached the file; the file and its writes are ./store-file.ts.
 */
export class ActivationStore {
  private readonly entries: Entry[] = []; // oldest first
  private readonly byId = new Map<string, Entry>();
  private bytes = 0;
  /** The file the records are kept in; none for a store in memory only. */
  private readonly file?: StoreFile;
  private readonly listeners = new Set<(row: ActivationRow) => void>();
  readonly maxCount: number;
  readonly maxBytes: number;

  constructor(private readonly opts: ActivationStoreOptions = {}) {
    this.maxCount = Math.max(1, Math.floor(opts.maxCount ?? 1000));
    this.maxBytes = Math.max(4096, Math.floor(opts.maxBytes ?? 8 * 1048576));
    if (opts.file) {
      this.file = new StoreFile(opts.file, {
        maxCount: this.maxCount,
        maxBytes: this.maxBytes,
        flushMs: opts.flushMs ?? 500,
        kept: () => this.entries.map((e) => e.json),
        onError: opts.onError,
      });
      this.file.load((line, a) => this.loaded(line, a));
      this.trim();
    }
  }

  get size(): number {
    return this.entries.length;
  }

  get byteSize(): number {
    return this.bytes;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Called with the row of each record added, until the returned function is called. */
  subscribe(fn: (row: ActivationRow) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Keeps a copy of `a` (replacing an earlier record with the same id); `extra.params`, the parameters
   * it ran with, are kept bounded and in memory only (OpenWhisk's records have none).
   */
  add(a: Activation, extra?: { params?: unknown }): void {
    if (!a || typeof a.activationId !== 'string') return;
    let cutResult = false;
    let cutLogs = false;
    if (this.opts.preview) {
      const r = boundedValue(a.response?.result, DETAIL_BOUNDS.result);
      const l = boundedLogs(a.logs, DETAIL_BOUNDS.logLines, DETAIL_BOUNDS.logLine);
      cutResult = r.cut;
      cutLogs = l.cut;
      a = { ...a, response: { ...a.response, result: r.value }, logs: l.logs };
    }
    let json = safeJson(a);
    if (json === undefined) return;
    if (Buffer.byteLength(json) > this.maxBytes / MAX_RECORD_SHARE) {
      const size = Buffer.byteLength(json);
      json = safeJson({
        ...a,
        response: { ...a.response, result: { error: `The result and logs (${size} bytes) were too large for the activation store.` } },
        logs: [],
      }) as string;
    }
    const old = this.byId.get(a.activationId);
    if (old) this.remove(old);
    // Only a store with a file has lines to write (in memory only, they would pile up).
    this.file?.append(json);
    const e: Entry = {
      id: a.activationId,
      name: String(a.name ?? ''),
      path: pathOf(a),
      start: Number(a.start) || Date.now(),
      json,
      row: rowOf(a, this.opts.runtime ?? '', this.opts.where),
    };
    if (cutResult) e.cutResult = true;
    if (cutLogs) e.cutLogs = true;
    if (extra?.params !== undefined) {
      const p = boundedValue(extra.params, DETAIL_BOUNDS.params);
      e.params = p.value;
      e.paramsCut = p.cut;
      e.paramsBytes = Buffer.byteLength(safeJson(p.value) ?? '');
    }
    this.entries.push(e);
    this.byId.set(e.id, e);
    this.bytes += entryBytes(e);
    this.trim();
    this.file?.changed();
    for (const fn of this.listeners) {
      try {
        fn(e.row);
      } catch {
        /* a listener must never fail an activation */
      }
    }
  }

  /** Rows newest first, at most `limit`, those `keep` accepts (all without it). */
  rows(limit: number, keep?: (row: ActivationRow) => boolean): ActivationRow[] {
    const out: ActivationRow[] = [];
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.entries[i].row;
      if (!keep || keep(r)) out.push(r);
    }
    return out;
  }

  /** A record as the editor shows it: result, logs and parameters bounded (DETAIL_BOUNDS). */
  detail(id: string): ActivationDetail | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    const a = JSON.parse(e.json) as Activation;
    // A preview record is bounded already (cutting it again would cut its "… (N characters)" marks).
    const r = this.opts.preview ? { value: a.response?.result, cut: false } : boundedValue(a.response?.result, DETAIL_BOUNDS.result);
    const l = this.opts.preview ? { logs: a.logs ?? [], cut: false } : boundedLogs(a.logs, DETAIL_BOUNDS.logLines, DETAIL_BOUNDS.logLine);
    const d: ActivationDetail = {
      row: e.row,
      result: r.value,
      logs: l.logs,
      annotations: boundedValue(a.annotations ?? [], DETAIL_BOUNDS.params).value as Activation['annotations'],
      cut: { result: r.cut || !!e.cutResult, logs: l.cut || !!e.cutLogs, params: !!e.paramsCut },
    };
    if (e.params !== undefined) d.params = e.params;
    return d;
  }

  get(id: string): Activation | undefined {
    const e = this.byId.get(id);
    return e ? (JSON.parse(e.json) as Activation) : undefined;
  }

  /** Newest first, like `wsk activation list`; `name` is the action's path below the namespace, "[pkg/]action". */
  list(q: ActivationQuery = {}): Activation[] {
    const out: Activation[] = [];
    let skip = q.skip ?? 0;
    const limit = q.limit ?? 30;
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.entries[i];
      if (!matches(e, q)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(JSON.parse(e.json) as Activation);
    }
    return out;
  }

  /**
   * How many records `list` would give without skip and limit (`?count=true`), from what the store
   * knows of each record (its action and start), without reading the records themselves. The store
   * holds one namespace (one file per namespace), so every record kept counts.
   */
  count(q: Pick<ActivationQuery, 'name' | 'since' | 'upto'> = {}): number {
    if (!q.name && q.since === undefined && q.upto === undefined) return this.entries.length;
    let n = 0;
    for (const e of this.entries) if (matches(e, q)) n++;
    return n;
  }

  /**
   * Writes the changes so far (asynchronous; resolves once they are in the file, rejects when the
   * write fails): new records are appended (a torn last line after a crash is skipped when the file
   * is read); once the file holds twice the bounds, or after a failed write, it is rewritten with the
   * kept records only, atomically (lib/atomic-file.ts). One write runs at a time per file; a flush
   * while one runs waits for it and writes what came meanwhile.
   */
  flush(): Promise<void> {
    return this.file ? this.file.flush() : Promise.resolve();
  }

  /**
   * Writes what is waiting (see flush); records added afterwards are kept in memory only. Resolves once
   * the file has them all; rejects when that write fails (already told to onError, if given).
   */
  close(): Promise<void> {
    return this.file ? this.file.close() : Promise.resolve();
  }

  private remove(e: Entry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.byId.delete(e.id);
    this.bytes -= entryBytes(e);
  }

  private trim(): void {
    let drop = 0;
    let bytes = this.bytes;
    while (this.entries.length - drop > this.maxCount || (bytes > this.maxBytes && this.entries.length - drop > 0)) {
      bytes -= entryBytes(this.entries[drop]);
      this.byId.delete(this.entries[drop].id);
      drop++;
    }
    if (drop > 0) this.entries.splice(0, drop);
    this.bytes = bytes;
  }

  /** A record read back from the file (bounded by trim() once all are read). */
  private loaded(line: string, a: Activation): void {
    const e: Entry = {
      id: a.activationId,
      name: String(a.name ?? ''),
      path: pathOf(a),
      start: Number(a.start) || 0,
      json: line,
      row: rowOf(a, this.opts.runtime ?? '', this.opts.where),
    };
    const old = this.byId.get(e.id);
    if (old) this.remove(old);
    this.entries.push(e);
    this.byId.set(e.id, e);
    this.bytes += Buffer.byteLength(line) + 1;
  }
}

function entryBytes(e: Entry): number {
  return Buffer.byteLength(e.json) + 1 + (e.paramsBytes ?? 0);
}

function pathOf(a: Activation): string | undefined {
  const p = (a.annotations ?? []).find((k) => k.key === 'path')?.value;
  return typeof p === 'string' ? p : undefined;
}

/**
 * OpenWhisk's name filter: "name" is the action's path below the namespace, "[pkg/]action", so
 * "echo" matches the action echo and not utils/echo, and "utils/echo" only that one.
 */
function nameMatches(e: Entry, name: string): boolean {
  const below = e.path ? e.path.split('/').slice(1).join('/') : e.name;
  return below === name;
}

function matches(e: Entry, q: Pick<ActivationQuery, 'name' | 'since' | 'upto'>): boolean {
  if (q.name && !nameMatches(e, q.name)) return false;
  if (q.since !== undefined && e.start < q.since) return false;
  if (q.upto !== undefined && e.start > q.upto) return false;
  return true;
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}
