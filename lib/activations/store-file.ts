import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import type { Activation } from '../types';

/** What a store's file needs of its store. */
export interface StoreFileOptions {
  /** The store's bounds: the lines waiting, the file's size and what is read back are kept within them. */
  maxCount: number;
  maxBytes: number;
  /** Changes reach the file this long after they happen, in ms, plus the write before them. */
  flushMs: number;
  /** The lines of the records the store keeps, oldest first: what a rewrite writes. */
  kept: () => string[];
  /** Told when a write fails (the first failure after a success). */
  onError?: (err: Error) => void;
}

/**
 * The file an ActivationStore keeps its records in, JSON lines in the Node-RED user directory
 * (readable by the owner only), so they survive a restart.
 *
 * The file is written off the event loop (fs promises), one write at a time per file (also across
 * stores: a redeployed runtime's new store waits for its old one's), a batch of the lines added since
 * the last write each time: records added while a write runs are appended by the next one, in the
 * order they were added. The lines waiting are bounded by the store's own bounds (maxCount lines,
 * maxBytes bytes): past them they stand for records already dropped, so they are let go and the next
 * write rewrites the file with the records kept instead.
 */
export class StoreFile {
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

  constructor(
    readonly path: string,
    private readonly opts: StoreFileOptions,
  ) {}

  /**
   * Reads the file as it was left, giving `take` each record in it, oldest first, with its line. A file
   * missing, unreadable or much bigger than the bounds gives nothing; a torn last line or a damaged line
   * is skipped, and the next write rewrites the file without it.
   */
  load(take: (line: string, a: Activation) => void): void {
    let text: string;
    try {
      // A file much bigger than the budget is not ours to read whole.
      if (statSync(this.path).size > this.opts.maxBytes * 2 + 65536) return;
      text = readFileSync(this.path, 'utf8');
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
        if (a && typeof a.activationId === 'string') take(line, a);
      } catch {
        this.rewrite = true; // a damaged line is skipped, and gone at the next write
      }
    }
  }

  /** A record's line for the next write; past the store's own bounds the lines waiting give way to a rewrite. */
  append(json: string): void {
    if (this.rewrite) return; // a rewrite takes every kept record anyway
    this.pending.push(json);
    this.pendingBytes += Buffer.byteLength(json) + 1;
    if (this.pending.length > this.opts.maxCount || this.pendingBytes > this.opts.maxBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      this.rewrite = true;
    }
  }

  /** The store changed: a write follows within flushMs (none once closed). */
  changed(): void {
    this.dirty = true;
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failure is told to onError (and tried again at the next change).
      this.flush().catch(() => undefined);
    }, this.opts.flushMs);
    this.timer.unref();
  }

  /** See ActivationStore.flush. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queued) return this.queued;
    const next = serial(this.path, () => {
      this.queued = undefined;
      return this.write();
    });
    this.queued = next;
    return next;
  }

  /** See ActivationStore.close. */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  /** One write: what changed since the last one began, taken at once (so the order holds). */
  private async write(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const file = this.path;
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const add = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    try {
      await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      if (this.rewrite || this.fileLines + lines.length > 2 * this.opts.maxCount || this.fileBytes + add > 2 * this.opts.maxBytes) {
        // Taken now, with the lines above: what is added during the write goes to the next one.
        this.rewrite = false;
        const kept = this.opts.kept();
        const text = kept.join('\n') + (kept.length ? '\n' : '');
        await writeFileAtomic(file, text);
        this.fileLines = kept.length;
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
