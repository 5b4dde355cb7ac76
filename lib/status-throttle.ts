// How often an action node's status ring changes. Every node.status() goes through Node-RED's
// status handling and out to each open editor over its websocket; at a message a millisecond, two
// changes per message (invoking, then ready) cost the flow more than the node's own work does, and
// no one can see them. So a node shows every change at once while they come slowly (a burst of a
// few), and at most one per interval once they come fast; the last change always shows, an
// interval after the one before it at the latest.

import { performance } from 'node:perf_hooks';

export interface ThrottleOptions {
  /** Changes shown at once before the rate applies. */
  burst: number;
  /** Once the burst is spent: at most one change per this many ms (one more burst credit each). */
  everyMs: number;
}

export const RING_THROTTLE: ThrottleOptions = { burst: 8, everyMs: 50 };

export class StatusThrottle<T> {
  private credits: number;
  private refilled: number;
  private pending?: { value: T };
  private timer?: NodeJS.Timeout;
  private last?: string;
  private closed = false;

  constructor(
    private readonly show: (value: T) => void,
    private readonly opts: ThrottleOptions = RING_THROTTLE,
    // A monotonic clock: a wall clock set back (NTP, by hand) must not hold a change back for that long.
    private readonly now: () => number = () => performance.now(),
  ) {
    this.credits = opts.burst;
    this.refilled = now();
  }

  /** A change: shown now if a credit is left, else (only the latest one) when the next credit comes. */
  push(value: T): void {
    if (this.closed) return;
    this.refill();
    if (this.credits >= 1 && !this.timer) {
      this.credits -= 1;
      this.display(value);
      return;
    }
    this.pending = { value };
    if (!this.timer) this.schedule();
  }

  /** No more changes: what waits is dropped. */
  close(): void {
    this.closed = true;
    this.pending = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const t = this.now();
    if (t < this.refilled) this.refilled = t; // a clock that went back (an injected one): start again from now
    const earned = Math.floor((t - this.refilled) / this.opts.everyMs);
    if (earned <= 0) return;
    this.credits = Math.min(this.opts.burst, this.credits + earned);
    this.refilled = this.credits === this.opts.burst ? t : this.refilled + earned * this.opts.everyMs;
  }

  private schedule(): void {
    const wait = Math.min(this.opts.everyMs, Math.max(0, this.refilled + this.opts.everyMs - this.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      this.pending = undefined;
      if (!p || this.closed) return;
      this.refill();
      this.credits = Math.max(0, this.credits - 1);
      this.display(p.value);
    }, wait);
    // A waiting change must not keep the process alive, nor be lost while it runs: Node-RED runs on.
    this.timer.unref();
  }

  private display(value: T): void {
    // The same ring twice in a row (a coalesced burst that ended where it began) is not shown again.
    const key = JSON.stringify(value);
    if (key === this.last) return;
    this.last = key;
    this.show(value);
  }
}
