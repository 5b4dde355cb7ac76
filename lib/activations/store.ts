import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  /** Changes reach the file at most this long after they happen, in ms (default 500). */
  flushMs?: number;
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

/** A record as `wsk activation list` shows it (WhiskActivation summaryAsJson in apache/openwhisk). */
export interface ActivationSummary {
  activationId: string;
  namespace: string;
  name: string;
  version?: string;
  publish?: boolean;
  subject?: string;
  start: number;
  end: number;
  duration: number;
  statusCode: number;
  annotations: Activation['annotations'];
  cause?: string;
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

const STATUS_CODES: Record<string, number> = { success: 0, 'application error': 1, 'action developer error': 2, 'whisk internal error': 3 };
/** Part of the byte budget one record may take before its result and logs are left out. */
const MAX_RECORD_SHARE = 4;

/**
 * The local activations of one runtime, newest first, bounded by count and bytes, kept in a file in
 * the Node-RED user directory (rewritten atomically, readable by the owner only) so they survive a
 * restart. Records are serialised when they are added: later changes to the object (msg.data) do not
 * reach the store, and the store never changes the object it is given.
 */
export class ActivationStore {
  private readonly entries: Entry[] = []; // oldest first
  private readonly byId = new Map<string, Entry>();
  private bytes = 0;
  private timer?: NodeJS.Timeout;
  private dirty = false;
  /** Lines added since the last flush, appended to the file at the next one. */
  private pending: string[] = [];
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
    // Only a store with a file has lines to write (in memory only, they would pile up).
    if (this.opts.file) this.pending.push(json);
    const e: Entry = { id: a.activationId, name: String(a.name ?? ''), path: pathOf(a), start: Number(a.start) || Date.now(), json, row: rowOf(a, this.opts.runtime ?? '', this.opts.where) };
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
  list(q: { skip?: number; limit?: number; name?: string; since?: number; upto?: number } = {}): Activation[] {
    const out: Activation[] = [];
    let skip = q.skip ?? 0;
    const limit = q.limit ?? 30;
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.entries[i];
      if (q.name && !nameMatches(e, q.name)) continue;
      if (q.since !== undefined && e.start < q.since) continue;
      if (q.upto !== undefined && e.start > q.upto) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(JSON.parse(e.json) as Activation);
    }
    return out;
  }

  /**
   * Writes pending changes now: new records are appended (a torn last line after a crash is skipped
   * when the file is read); once the file holds twice the bounds it is rewritten with the kept records
   * only, atomically (a new file, fsynced, renamed over the old one).
   */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.dirty || !this.opts.file) return;
    this.dirty = false;
    const lines = this.pending;
    this.pending = [];
    const file = this.opts.file;
    const add = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    if (this.rewrite || this.fileLines + lines.length > 2 * this.maxCount || this.fileBytes + add > 2 * this.maxBytes) {
      const text = this.entries.map((e) => e.json).join('\n') + (this.entries.length ? '\n' : '');
      writeAtomic(file, text);
      this.rewrite = false;
      this.fileLines = this.entries.length;
      this.fileBytes = Buffer.byteLength(text);
      return;
    }
    if (lines.length === 0) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
    this.fileLines += lines.length;
    this.fileBytes += add;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.dirty = false;
    }
  }

  private changed(): void {
    this.dirty = true;
    if (!this.opts.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch {
        this.dirty = true; // next change tries again
      }
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
          const e: Entry = { id: a.activationId, name: String(a.name ?? ''), path: pathOf(a), start: Number(a.start) || 0, json: line, row: rowOf(a, this.opts.runtime ?? '', this.opts.where) };
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

/** The summary form of a record (`statusCode` 0..3 as in OpenWhisk's list answers). */
export function summaryOf(a: Activation): ActivationSummary {
  const s: ActivationSummary = {
    activationId: a.activationId,
    namespace: a.namespace,
    name: a.name,
    version: a.version,
    publish: a.publish ?? false,
    subject: a.subject,
    start: a.start,
    end: a.end,
    duration: a.duration,
    statusCode: STATUS_CODES[a.response?.status] ?? 3,
    annotations: a.annotations ?? [],
  };
  if (a.cause) s.cause = a.cause;
  return s;
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

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

function writeAtomic(file: string, data: string): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
