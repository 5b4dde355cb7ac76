// Per-container log collection: splits the demultiplexed stdout/stderr of an attached container
// into lines and frames them per activation with the sentinel the action proxy writes on both
// streams after every /run and after a failed /init (the action proxies of apache/openwhisk-runtime-*
// write XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX).

import { StringDecoder } from 'node:string_decoder';
import { SENTINEL } from './protocol';

export type StreamName = 'stdout' | 'stderr';

/** Minimal writable that docker.modem.demuxStream can write to. */
export interface ChunkSink {
  write(chunk: Buffer | string): boolean;
}

export interface LogFramerOptions {
  /**
   * false when several activations share the container at once (limits.concurrency > 1): the
   * sentinel then cannot tell whose line is whose, so activations get no logs (the platform
   * needs decoupled log collection for that too, docs/intra-concurrency.md). Lines are still
   * read (so the container never blocks on a full pipe) and kept in the recent-lines ring for
   * error messages.
   */
  framed: boolean;
  /** Per-activation cap in bytes (limits.logs MB); 0 keeps no activation logs. */
  limitBytes: number;
  /** How many recent lines to keep for error messages (container crashed, /init failed). */
  ringSize?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const MAX_PENDING_LINES = 1000;
/** Output between activations kept for the next one, in characters. */
const MAX_PENDING_CHARS = 1024 * 1024;
/**
 * Longest log line kept, in characters (Docker's json-file driver splits lines at 16 KiB too). The
 * rest of a longer line is counted, not kept: an action that writes 1 GB without a newline costs a
 * scan, not a gigabyte.
 */
export const MAX_LINE_CHARS = 16 * 1024;
/** Characters of each line kept in the recent-lines ring (error messages quote from it). */
const RING_LINE_CHARS = 512;

/** The line being read on one stream: its first MAX_LINE_CHARS, how much more, and its last characters. */
interface OpenLine {
  kept: string;
  dropped: number;
  /** The last SENTINEL.length characters of the dropped part: a sentinel ends a line. */
  tail: string;
}

export function formatLine(time: number, stream: StreamName, line: string): string {
  return `${new Date(time).toISOString()} ${stream}: ${line}`;
}

export function truncationMessage(limitBytes: number): string {
  return `Logs were truncated because the total bytes size exceeds the limit of ${limitBytes} bytes.`;
}

/** The lines of one activation; complete once both streams delivered their sentinel (or on close). */
export class LogFrame {
  readonly lines: string[] = [];
  readonly seen: Record<StreamName, boolean> = { stdout: false, stderr: false };
  done = false;
  /** True when the frame was closed without both sentinels (grace ran out, container ended). */
  incomplete = false;
  bytes = 0;
  truncated = false;
  private waiter: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly owner: LogFramer) {}

  add(line: string, limitBytes: number): void {
    if (this.truncated) return;
    const size = Buffer.byteLength(line);
    if (this.bytes + size > limitBytes) {
      this.truncated = true;
      if (limitBytes > 0) this.lines.push(truncationMessage(limitBytes));
      return;
    }
    this.bytes += size;
    this.lines.push(line);
  }

  /** @internal */
  complete(incomplete: boolean): void {
    if (this.done) return;
    this.done = true;
    this.incomplete = incomplete;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  /**
   * The frame's lines once it is complete, waiting at most `graceMs` for missing sentinels.
   * Returns synchronously when the sentinels are already in (the common case on a warm path),
   * so no promise or timer is created then.
   */
  settle(graceMs: number): string[] | Promise<string[]> {
    if (this.done) return this.lines;
    return new Promise<string[]>((resolve) => {
      this.waiter = () => resolve(this.lines);
      this.timer = setTimeout(() => this.owner.abandon(this), graceMs);
    });
  }
}

export class LogFramer {
  /** Demux targets. */
  readonly stdout: ChunkSink;
  readonly stderr: ChunkSink;
  /** False once a frame timed out without any sentinel ever seen: the image writes none. */
  sentinels: 'unknown' | 'yes' | 'no' = 'unknown';

  private readonly framed: boolean;
  private readonly limitBytes: number;
  private readonly ringSize: number;
  private readonly now: () => number;
  private lastPrefix: { time: number; stream: StreamName | ''; text: string } = { time: NaN, stream: '', text: '' };
  private readonly decoders: Record<StreamName, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private readonly open: Record<StreamName, OpenLine> = {
    stdout: { kept: '', dropped: 0, tail: '' },
    stderr: { kept: '', dropped: 0, tail: '' },
  };
  /** Sentinels still to come for frames that were closed early: swallow them (and lines before them). */
  private readonly owed: Record<StreamName, number> = { stdout: 0, stderr: 0 };
  private pending: string[] = [];
  private pendingChars = 0;
  private current: LogFrame | undefined;
  /** Recent lines for error messages: a circular buffer of ringSize (next write at ringNext). */
  private readonly ring: string[] = [];
  private ringNext = 0;
  private ended = false;

  constructor(opts: LogFramerOptions) {
    this.framed = opts.framed;
    this.limitBytes = Math.max(0, opts.limitBytes);
    this.ringSize = opts.ringSize ?? 200;
    this.now = opts.now ?? Date.now;
    this.stdout = { write: (c) => this.onChunk('stdout', c) };
    this.stderr = { write: (c) => this.onChunk('stderr', c) };
  }

  /** Start the frame of a new activation. Lines that arrived since the previous frame belong to it. */
  begin(): LogFrame {
    if (this.current && !this.current.done) this.abandon(this.current);
    const frame = new LogFrame(this);
    if (!this.framed) {
      frame.complete(false);
      return frame;
    }
    const carried = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    for (const l of carried) frame.add(l, this.limitBytes);
    this.current = frame;
    if (this.ended) frame.complete(true);
    return frame;
  }

  /** Close a frame without (all) its sentinels; they are swallowed when they turn up later. */
  abandon(frame: LogFrame): void {
    if (frame.done) return;
    if (this.current === frame) {
      this.current = undefined;
      if (!this.ended) {
        if (!frame.seen.stdout && !frame.seen.stderr && this.sentinels === 'unknown') {
          // Nothing ever marked the end of an activation: treat the image as sentinel-less and stop
          // waiting for sentinels from now on (every later frame ends with the /run reply).
          this.sentinels = 'no';
        } else {
          this.owe(frame);
        }
      }
    }
    frame.complete(true);
  }

  /** The sentinels a frame closed early has not had yet: swallow them, and the lines before them, when they come. */
  private owe(frame: LogFrame): void {
    if (this.sentinels === 'no') return;
    if (!frame.seen.stdout) this.owed.stdout++;
    if (!frame.seen.stderr) this.owed.stderr++;
  }

  /**
   * Close a frame whose activation wrote nothing (the runtime said so in its reply): complete now,
   * with the lines it has (output from between activations), and swallow its sentinels when Docker
   * relays them — unless `sentinelsFollow` is false (the runtime wrote none for it). Not a sign of a
   * sentinel-less image, unlike abandon(); a runtime that says it wrote none is one that writes them.
   * A frame that has seen one stream's sentinel all the same is owed the other's (a runtime that says
   * none after writing one does not shift the next activation's logs).
   */
  closeSilent(frame: LogFrame, sentinelsFollow = true): void {
    if (frame.done) return;
    if (!sentinelsFollow && this.sentinels === 'unknown') this.sentinels = 'yes';
    if (this.current === frame) {
      this.current = undefined;
      if (!this.ended && (sentinelsFollow || frame.seen.stdout || frame.seen.stderr)) this.owe(frame);
    }
    frame.complete(false);
  }

  /** Lines of the last activation-less period and the recent history, for error messages. */
  recent(max = 50): string[] {
    return this.ringLines().slice(-max);
  }

  private ringLines(): string[] {
    return this.ring.length < this.ringSize ? this.ring.slice() : [...this.ring.slice(this.ringNext), ...this.ring.slice(0, this.ringNext)];
  }

  /** The last lines, at most `maxLines` of them and `maxChars` in all (each ring line is clipped already). */
  tail(maxLines: number, maxChars: number): string[] {
    const ring = this.ringLines();
    const out: string[] = [];
    let chars = 0;
    for (let i = ring.length - 1; i >= 0 && out.length < maxLines; i--) {
      chars += ring[i].length + 1;
      if (chars > maxChars) break;
      out.unshift(ring[i]);
    }
    return out;
  }

  /** The attached stream ended (container stopped): flush partial lines, close the open frame. */
  end(): void {
    if (this.ended) return;
    for (const s of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[s].end();
      if (rest !== '') this.append(s, rest, 0, rest.length);
      const o = this.open[s];
      if (o.kept !== '' || o.dropped > 0) this.endLine(s, this.now());
    }
    this.ended = true;
    if (this.current) {
      const f = this.current;
      this.current = undefined;
      f.complete(true);
    }
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private onChunk(stream: StreamName, chunk: Buffer | string): boolean {
    const text = typeof chunk === 'string' ? chunk : this.decoders[stream].write(chunk);
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0) {
      // One timestamp per chunk (its lines arrived together): a flood of short lines costs a scan
      // and a string each, not a date formatting each; a chunk of sentinels only, none at all.
      const time = this.now();
      while (nl >= 0) {
        this.append(stream, text, start, nl);
        this.endLine(stream, time);
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
    }
    if (start < text.length) this.append(stream, text, start, text.length);
    return true;
  }

  /** Add text[from, to) to the stream's open line, keeping at most MAX_LINE_CHARS of it. */
  private append(stream: StreamName, text: string, from: number, to: number): void {
    const o = this.open[stream];
    const room = MAX_LINE_CHARS - o.kept.length;
    const take = Math.min(Math.max(0, room), to - from);
    if (take > 0) o.kept += text.slice(from, from + take);
    if (to - from > take) {
      o.dropped += to - from - take;
      o.tail = (o.tail + text.slice(Math.max(from + take, to - SENTINEL.length), to)).slice(-SENTINEL.length);
    }
  }

  /** "<ISO time> stdout: ", formatted once per chunk and stream (the last one is kept). */
  private prefix(stream: StreamName, time: number): string {
    const m = this.lastPrefix;
    if (m.time === time && m.stream === stream) return m.text;
    const text = `${new Date(time).toISOString()} ${stream}: `;
    this.lastPrefix = { time, stream, text };
    return text;
  }

  private endLine(stream: StreamName, time: number): void {
    const o = this.open[stream];
    let line = o.kept;
    const { dropped, tail } = o;
    this.open[stream] = { kept: '', dropped: 0, tail: '' };
    if (dropped > 0) {
      // A sentinel ends its line; it may lie in the dropped part, or straddle the cut when less
      // than its length was dropped (then the kept end and the dropped part are contiguous).
      const straddle = dropped < SENTINEL.length;
      const end = straddle ? line.slice(-SENTINEL.length) + tail : tail;
      const at = end.indexOf(SENTINEL);
      if (at >= 0) {
        if (straddle) {
          const before = line.slice(0, line.length - (end.length - tail.length) + at);
          if (before !== '') this.addLine(stream, before, time);
        } else {
          this.addLine(stream, `${line} … (line truncated: ${dropped - SENTINEL.length} more characters)`, time);
        }
        this.onSentinel(stream);
        return;
      }
      this.onLine(stream, `${line} … (line truncated: ${dropped} more characters)`, time);
      return;
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.onLine(stream, line, time);
  }

  private onLine(stream: StreamName, line: string, time: number): void {
    const idx = line.indexOf(SENTINEL);
    if (idx >= 0) {
      const before = line.slice(0, idx);
      if (before !== '') this.addLine(stream, before, time);
      this.onSentinel(stream);
      return;
    }
    this.addLine(stream, line, time);
  }

  private addLine(stream: StreamName, line: string, time: number): void {
    const formatted = this.prefix(stream, time) + line;
    const clipped = formatted.length > RING_LINE_CHARS ? `${formatted.slice(0, RING_LINE_CHARS)} …` : formatted;
    if (this.ring.length < this.ringSize) this.ring.push(clipped);
    else this.ring[this.ringNext] = clipped;
    this.ringNext = (this.ringNext + 1) % this.ringSize;
    if (!this.framed) return;
    if (this.owed[stream] > 0) return; // late output of an activation that was already closed
    const f = this.current;
    if (f && !f.seen[stream]) {
      f.add(formatted, this.limitBytes);
    } else {
      this.pending.push(formatted);
      this.pendingChars += formatted.length;
      while (this.pending.length > MAX_PENDING_LINES || (this.pendingChars > MAX_PENDING_CHARS && this.pending.length > 1)) {
        this.pendingChars -= (this.pending.shift() as string).length;
      }
    }
  }

  private onSentinel(stream: StreamName): void {
    if (!this.framed) return;
    if (this.sentinels === 'no') {
      // Late after all: this marker ends a frame that was already closed; so will the other stream's.
      this.sentinels = 'yes';
      this.owed[stream === 'stdout' ? 'stderr' : 'stdout']++;
      return;
    }
    this.sentinels = 'yes';
    if (this.owed[stream] > 0) {
      this.owed[stream]--;
      return;
    }
    const f = this.current;
    if (!f || f.seen[stream]) return; // a stray marker (e.g. a proxy writing one more): ignore
    f.seen[stream] = true;
    if (f.seen.stdout && f.seen.stderr) {
      this.current = undefined;
      f.complete(false);
    }
  }
}
