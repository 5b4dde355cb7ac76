// An action node's option "logs to Node-RED's log": each activation's log lines written with node.log,
// at a bounded rate so that a chatty action cannot flood the log.

/** Lines per second a node writes at most (a burst of up to this many at once); the rest are counted. */
export const LOG_LINES_PER_SECOND = 20;
/** Characters kept of one line. */
export const LOG_LINE_CHARS = 1000;

export class LogLines {
  private tokens: number;
  private last: number;
  private skipped = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly perSecond = LOG_LINES_PER_SECOND,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  /** Writes an activation's lines, as far as the rate allows; says how many were left out before, once there is room again. */
  add(action: string, logs: unknown): void {
    if (!Array.isArray(logs) || logs.length === 0) return;
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.skipped > 0 && this.tokens >= 1) {
      this.tokens--;
      this.write(`${this.skipped} log line(s) of this node left out (at most ${this.perSecond} a second)`);
      this.skipped = 0;
    }
    for (const l of logs) {
      if (this.tokens < 1) {
        this.skipped++;
        continue;
      }
      this.tokens--;
      const s = typeof l === 'string' ? l : String(l);
      this.write(`${action}: ${s.length > LOG_LINE_CHARS ? `${s.slice(0, LOG_LINE_CHARS)}…` : s}`);
    }
  }
}
