import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import type { Activation } from '../types';
import { boundedLogs, boundedValue } from './bounded';
import { rowOf, type ActivationRow, type Where } from './row';

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
 * or not it has reached the file. The file is written off the event loop (fs promises), one write at a
 * time per file (also across stores: a redeployed runtime's new store waits for its old one's), a
 * batch of the lines added since the last write each time: records added while a write runs are
 * appended by the next one, in the order they were added. The lines waiting are bounded by the store's
 * own bounds (maxCount lines, maxBytes bytes): past them they stand for records already dropped, so
 * they are let go and the next write rewrites the file with the records kept instead.
 */
export class ActivationStore {
  private readonly entries: Entry[] = []; // oldest first
  private readonly byId = new Map<string, Entry>();
  private bytes = 0;
  private timer?: NodeJS.Timeout;
  private dirty = false;
  /** Lines added since the last write began, appended to the file by the next one. */
  private pending: string[] = [];
  private pendingBytes = 0;
  /** The next write, waiting for the one running (on this file): the changes until it starts go with it. */
  private queued?: Promise<void>;
  private closed = false;
  /** The last write failed: the next failure is not reported again until one succeeds. */
  private failing = false;
  /** Lines in the file (kept ones and superseded ones): beyond twice the bounds it is rewritten. */
  private fileLines = 0;
  private fileBytes = 0;
  private rewrite = false;
  private readonly listeners = new Set<(row: ActivationRow) => void>();
  readonly maxCount: number;
  readonly maxBytes: number;
  private readonly flushMs: number;

  constructor(private readonly opts: ActivationStoreOptions = {}) {
    this.maxCount = Math.max(1, Math.floor(opts.maxCount ?? 1000));
    this.maxBytes = Math.max(4096, Math.floor(opts.maxBytes ?? 8 * 1048576));
    this.flushMs = opts.flushMs ?? 500;
    if (opts.file) this.load(opts.file);
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
    // Only a store with a file has lines to write (queueLine: in memory only, they would pile up).
    this.queueLine(json);
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
    this.changed();
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const file = this.opts.file;
    if (!file) return Promise.resolve();
    if (this.queued) return this.queued;
    const next = serial(file, () => {
      this.queued = undefined;
      return this.write(file);
    });
    this.queued = next;
    return next;
  }

  /**
   * Writes what is waiting (see flush); records added afterwards are kept in memory only. Resolves once
   * the file has them all; rejects when that write fails (already told to onError, if given).
   */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  /** One write: what changed since the last one began, taken at once (so the order holds). */
  private async write(file: string): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const add = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    try {
      await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      if (this.rewrite || this.fileLines + lines.length > 2 * this.maxCount || this.fileBytes + add > 2 * this.maxBytes) {
        // Taken now, with the lines above: what is added during the write goes to the next one.
        this.rewrite = false;
        const kept = this.entries.length;
        const text = this.entries.map((e) => e.json).join('\n') + (kept ? '\n' : '');
        await writeFileAtomic(file, text);
        this.fileLines = kept;
        this.fileBytes = Buffer.byteLength(text);
      } else if (lines.length > 0) {
        await fsp.appendFile(file, lines.join('\n') + '\n', { mode: 0o600 });
        this.fileLines += lines.length;
        this.fileBytes += add;
      }
      this.failing = false;
    } catch (err) {
      // The file may hold part of the batch now: the next write rewrites it whole from memory.
      this.rewrite = true;
      this.dirty = true;
      const e = new Error(
        `Cannot write the activation records to ${file} (${(err as Error).message}): they are kept in memory, and the file is rewritten whole at the next change. Check that Node-RED's user directory is writable and has space.`,
        { cause: err },
      );
      if (!this.failing) this.opts.onError?.(e);
      this.failing = true;
      throw e;
    }
  }

  /** A line for the next write; past the store's own bounds the lines waiting give way to a rewrite. */
  private queueLine(json: string): void {
    if (!this.opts.file || this.rewrite) return; // a rewrite takes every kept record anyway
    this.pending.push(json);
    this.pendingBytes += Buffer.byteLength(json) + 1;
    if (this.pending.length > this.maxCount || this.pendingBytes > this.maxBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      this.rewrite = true;
    }
  }

  private changed(): void {
    this.dirty = true;
    if (!this.opts.file || this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failure is told to onError (and tried again at the next change).
      this.flush().catch(() => undefined);
    }, this.flushMs);
    this.timer.unref();
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

  private load(file: string): void {
    let text: string;
    try {
      // A file much bigger than the budget is not ours to read whole.
      if (statSync(file).size > this.maxBytes * 2 + 65536) return;
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    this.fileBytes = Buffer.byteLength(text);
    if (text.length > 0 && !text.endsWith('\n')) this.rewrite = true; // a torn last line: start clean
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      this.fileLines++;
      try {
        const a = JSON.parse(line) as Activation;
        if (a && typeof a.activationId === 'string') {
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
      } catch {
        this.rewrite = true; // a damaged line is skipped, and gone at the next write
      }
    }
    this.trim();
  }
}

/**
 * Where a runtime keeps its activations: `<userDir>/.leon-openwhisk/activations/<runtime id>~<namespace>.jsonl`,
 * one file per namespace the runtime's API serves, so that records kept under one namespace are never
 * served under another after the namespace changes. Without a namespace: `<runtime id>.jsonl` (the file
 * of earlier versions, whose records name no namespace: not served).
 */
export function activationFile(userDir: string, runtimeId: string, namespace?: string): string {
  const id = runtimeId.replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(userDir, '.leon-openwhisk', 'activations', namespace === undefined ? `${id}.jsonl` : `${id}~${encodeURIComponent(namespace)}.jsonl`);
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

/** Writes on one file, one after the other (the store's and a redeployed runtime's new store's). */
const tails = new Map<string, Promise<void>>();
function serial(file: string, fn: () => Promise<void>): Promise<void> {
  const run = (tails.get(file) ?? Promise.resolve()).then(fn);
  const tail = run.catch(() => undefined);
  tails.set(file, tail);
  void tail.then(() => {
    if (tails.get(file) === tail) tails.delete(file);
  });
  return run;
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}
