// Keeping the runtime within its capacity, over all pools (the policy itself is preempt.ts):
// eviction when a pool needs a slot (a stem cell first, then another action's idle container),
// and the maintenance timer (idle and warm timeouts every tick, watermark preemption every
// preemptPeriod).

import type { ActionContainer } from './container';
import type { StemCells } from './cells';
import type { EngineSettings } from './options';
import { PoolAction } from './pool';
import { anyIdle, draining, pickVictim, selectRemovals, type ContainerView } from './preempt';
import type { SlotRequester, Slots } from './slots';

export class Maintenance {
  private timer?: NodeJS.Timeout;
  private lastPreempt = Date.now();
  private isDraining = false;

  constructor(
    private readonly pools: ReadonlySet<PoolAction>,
    private readonly cells: StemCells,
    private readonly slots: () => Slots,
    private readonly settings: EngineSettings,
    /** Also run on every tick (failed removals retried). */
    private readonly tick: () => void,
  ) {}

  /**
   * Free a slot for `requester`: a ready stem cell first, else another action's idle surplus container
   * (least recently used), else a cell still starting (it gives its slot up once started), else, when
   * `allowLast`, another action's last idle container. The slot comes back through the slots once the
   * container is gone.
   */
  evictFor(requester: SlotRequester, allowLast: boolean): boolean {
    if (this.cells.evictOne()) return true;
    const views: ContainerView<ActionContainer>[] = [];
    for (const p of this.pools) if (p !== requester) p.collectViews(views);
    const evict = (last: boolean): boolean => {
      for (;;) {
        const v = pickVictim(views, requester, last);
        if (!v) return false;
        if (v.pool instanceof PoolAction && v.pool.removeIdle(v.ref, 'evicted')) return true;
        views.splice(views.indexOf(v), 1);
      }
    };
    // A surplus container, then a cell still starting (it gives its slot up once started), and only
    // then another action's last one: its next message would meet a cold start.
    if (evict(false)) return true;
    if (this.cells.yielding) return true;
    return allowLast && evict(true);
  }

  /** Start the timer (at the first provisioned action); its period follows the shortest timeout. */
  start(): void {
    if (this.timer) return;
    const s = this.settings;
    const halves = [s.preemptPeriod, s.idleTimeout / 2, s.warmTimeout > 0 ? s.warmTimeout / 2 : Infinity];
    const every = Math.max(50, Math.min(10000, Math.floor(Math.min(...halves))));
    this.timer = setInterval(() => this.run(), every);
    this.timer.unref();
  }

  /**
   * Preemption is bringing the runtime down to its low watermark: no stem cell takes a slot meanwhile
   * (cells.ts), or a cell would refill each slot preemption frees.
   */
  get draining(): boolean {
    return this.isDraining;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private run(): void {
    const s = this.settings;
    const now = Date.now();
    const preempt = now - this.lastPreempt >= s.preemptPeriod - 5;
    if (preempt) this.lastPreempt = now;
    const views: ContainerView<ActionContainer>[] = [];
    for (const p of this.pools) p.collectViews(views);
    const containers = this.slots().used - this.cells.slotsHeld; // cells are evicted on demand, never a reason to preempt
    if (preempt) {
      const was = this.isDraining;
      this.isDraining = draining(containers, was, anyIdle(views), s.capacity, s.highWatermark, s.lowWatermark);
      if (was && !this.isDraining) this.cells.fillAll();
    }
    const removals = selectRemovals(
      views,
      containers,
      {
        capacity: s.capacity,
        highWatermark: s.highWatermark,
        lowWatermark: s.lowWatermark,
        idleTimeout: s.idleTimeout,
        warmTimeout: s.warmTimeout,
        minIdle: s.preemptPeriod,
        preempt,
        draining: this.isDraining,
      },
      now,
    );
    for (const r of removals) if (r.view.pool instanceof PoolAction) r.view.pool.removeIdle(r.view.ref, r.reason);
    this.tick();
  }
}
