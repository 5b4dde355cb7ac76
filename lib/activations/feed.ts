// The editor's view of the activations this Node-RED keeps: each runtime node registers its stores
// here, the sidebar plugin (nodes/openwhisk-activations.ts) reads them through its admin endpoints and
// sends the rows of new records to the editors as they come (RED.comms), at a bounded rate.
import type { ActivationDetail, ActivationStore } from './store';
import type { ActivationRow } from './row';

export interface FeedRuntime {
  id: string;
  name: string;
  mode: 'cloud' | 'local';
  /** Its stores: local records (on disk when the runtime serves the API), and cloud ones its nodes ran. */
  stores: ActivationStore[];
  /** Records kept on disk (the runtime serves the OpenWhisk API). */
  persisted: boolean;
}

export interface RowFilter {
  runtime?: string;
  node?: string;
  /** Part of the action's path, case-insensitive. */
  action?: string;
  /** "success", "failed" (any other status), or one of OpenWhisk's statuses. */
  status?: string;
}

/** The most rows one answer or one published batch carries. */
export const MAX_ROWS = 200;
/** Batches are published at most this often (ms) … */
export const PUBLISH_MS = 250;
/** … with at most this many rows each (the newest; `more` says how many were left out). */
export const PUBLISH_ROWS = 50;
export const TOPIC = 'openwhisk/activations';

export function matches(r: ActivationRow, f: RowFilter): boolean {
  if (f.runtime && r.runtime !== f.runtime) return false;
  if (f.node && r.node !== f.node) return false;
  if (f.action && !r.action.toLowerCase().includes(f.action.toLowerCase())) return false;
  if (f.status) {
    if (f.status === 'failed') return r.status !== 'success';
    if (r.status !== f.status) return false;
  }
  return true;
}

type Publish = (topic: string, data: unknown) => void;

/** Sends rows in batches: at most one batch per PUBLISH_MS, of at most PUBLISH_ROWS rows. */
export class RowPublisher {
  private queue: ActivationRow[] = [];
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private last = 0;

  constructor(
    private readonly publish: Publish,
    private readonly everyMs = PUBLISH_MS,
    private readonly maxRows = PUBLISH_ROWS,
  ) {}

  push(row: ActivationRow): void {
    this.queue.push(row);
    if (this.queue.length > this.maxRows) {
      this.queue.shift();
      this.dropped++;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.last + this.everyMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const rows = this.queue.reverse(); // newest first, as the lists are
    const more = this.dropped;
    this.queue = [];
    this.dropped = 0;
    this.last = Date.now();
    try {
      this.publish(TOPIC, { rows, more });
    } catch {
      /* the editor's feed must never fail an activation */
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }
}

/** The runtimes of this Node-RED, as the editor's sidebar sees them. */
export class ActivationFeed {
  private readonly runtimes = new Map<string, { rt: FeedRuntime; off: (() => void)[] }>();
  private publisher?: RowPublisher;

  /** Sends new rows with `publish` (RED.comms.publish) from now on. */
  setPublisher(publish: Publish | undefined): void {
    this.publisher?.close();
    this.publisher = publish ? new RowPublisher(publish) : undefined;
  }

  /** A runtime node's stores, until the returned function is called (its close). */
  register(rt: FeedRuntime): () => void {
    this.runtimes.get(rt.id)?.off.forEach((f) => f());
    const off = rt.stores.map((s) => s.subscribe((row) => this.publisher?.push(row)));
    const entry = { rt, off };
    this.runtimes.set(rt.id, entry);
    return () => {
      if (this.runtimes.get(rt.id) !== entry) return;
      off.forEach((f) => f());
      this.runtimes.delete(rt.id);
    };
  }

  list(): { id: string; name: string; mode: string; kept: number; maxCount: number; persisted: boolean }[] {
    return [...this.runtimes.values()].map(({ rt }) => ({
      id: rt.id,
      name: rt.name,
      mode: rt.mode,
      kept: rt.stores.reduce((n, s) => n + s.size, 0),
      maxCount: rt.stores.reduce((n, s) => n + s.maxCount, 0),
      persisted: rt.persisted,
    }));
  }

  /** Rows of every runtime (or the filter's), newest first, at most `limit` (≤ MAX_ROWS). */
  rows(f: RowFilter, limit = 100): ActivationRow[] {
    const n = Math.max(1, Math.min(MAX_ROWS, Math.floor(limit) || 100));
    const all: ActivationRow[] = [];
    for (const { rt } of this.runtimes.values()) {
      if (f.runtime && rt.id !== f.runtime) continue;
      for (const s of rt.stores) all.push(...s.rows(n, (r) => matches(r, f)));
    }
    return all.sort((a, b) => b.start - a.start).slice(0, n);
  }

  detail(runtime: string, id: string): ActivationDetail | undefined {
    const e = this.runtimes.get(runtime);
    if (!e) return undefined;
    for (const s of e.rt.stores) {
      const d = s.detail(id);
      if (d) return d;
    }
    return undefined;
  }
}

/** The one feed of this process (node files and the plugin load this module once). */
export const feed = new ActivationFeed();
