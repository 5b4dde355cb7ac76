// The one owner of the runtime's container capacity (the ContainerPool of OpenWhisk's invoker): the
// slots (slots.ts), the bytes all queues may hold, the stem cells (cells.ts), and keeping the
// runtime within its capacity over all pools (the policy itself is preempt.ts): eviction when a pool
// needs a slot (a stem cell first, then another action's idle container), and the maintenance timer
// (idle and warm timeouts every tick, watermark preemption every preemptPeriod).
//
// It talks to the pools of the actions (pool.ts) through two closed interfaces: what a pool offers
// it (PoolMember: idle containers as views, remove-idle, wants-more / accept-slot, the engine's ups
// and downs) and what it offers a pool (PoolCapacity: containers on slots, and the events a pool
// sends: a container idle, a container gone, the pool closed).

import type { ActionContainer, ContainerEnv, ContainerPlan } from './container';
import { StemCells, type CellOwner } from './cells';
import { OpenWhiskNodeError } from '../errors';
import type { EngineSettings } from './options';
import { anyIdle, draining, pickVictim, selectRemovals, type ContainerView } from './preempt';
import { QueueBytes, Slots, type SlotPolicy, type SlotRequester } from './slots';

/** One ready container of a pool as the removal policy sees it. */
export type IdleView = ContainerView<ActionContainer, PoolMember>;

/** What a pool offers the owner of capacity. */
export interface PoolMember extends SlotRequester {
  /** Its containers' plan (their shape: the stem cells kept for it). */
  readonly plan: ContainerPlan;
  /** Its ready containers that take work, as the removal policy sees them (none once closed). */
  collectViews(out: IdleView[]): void;
  /** Remove an idle container (idle timeout, preemption, eviction); false if it is busy or gone meanwhile. */
  removeIdle(c: ActionContainer, reason: string): boolean;
  /** The Docker engine went down (`down` set: a pool without any container fails its queue) or is back (one warm container again). */
  engineChanged(down: OpenWhiskNodeError | undefined): void;
}

/** What the owner of capacity offers a pool. */
export interface PoolCapacity {
  /** Containers of the runtime. */
  readonly capacity: number;
  /** Count a waiting message's parameters against the bytes all queues may hold together; the error when they do not fit. */
  holdQueued(action: string, bytes: number): OpenWhiskNodeError | undefined;
  /** A waiting message left its queue. */
  releaseQueued(bytes: number): void;
  /** A pool exists (at provisioning): stem cells of its shape are kept, idle containers are watched. */
  joined(pool: PoolMember): void;
  /** A ready stem cell of `plan`'s shape with the slot it holds (now the pool's); undefined if none. */
  cell(plan: ContainerPlan): ActionContainer | undefined;
  /** Start stem cells of this shape again, in the background (after one was handed over). */
  replenish(plan: ContainerPlan): void;
  /** Room for one more container now: a ready stem cell of `plan`'s shape with its slot, else a free slot (no cell); undefined if none. */
  room(plan: ContainerPlan): { cell?: ActionContainer } | undefined;
  /** A slot for the pool's first container (slots.ts reserve). */
  reserve(pool: PoolMember, patienceMs?: number): Promise<void>;
  /** The pool wants to grow, or has no container left: a slot as soon as one frees up (acceptSlot). */
  waitFor(pool: PoolMember): void;
  /** One of its containers went idle with nothing queued: room for a pool waiting for a slot. */
  containerIdle(): void;
  /** A container is gone (its launch failed: no removal) or being removed: its slot comes back once removed. */
  containerGone(removal?: Promise<unknown>): void;
  /** The pool closed: it waits for nothing any more, and its shape's cells may go. */
  left(pool: PoolMember): void;
}

/** What the owner of capacity reads of the engine. */
export interface CapacityEngine {
  readonly instanceId: string;
  readonly runtimeId: string;
  readonly engineId: string;
  readonly health: { readonly downError: OpenWhiskNodeError | undefined };
  /** Also run on every maintenance tick (failed removals retried). */
  tick(): void;
}

/** How long the cells of a shape no pool uses stay when the idle timeout is 0 (containers never idle out). */
const CELL_LINGER_MS = 60000;

export class Capacity implements PoolCapacity, SlotPolicy {
  readonly capacity: number;
  private readonly queue: QueueBytes;
  private readonly slots: Slots;
  private readonly cells: StemCells;
  private readonly members = new Set<PoolMember>();
  private timer?: NodeJS.Timeout;
  private lastPreempt = Date.now();
  private isDraining = false;
  private isClosed = false;

  constructor(
    private readonly settings: EngineSettings,
    env: ContainerEnv,
    private readonly engine: CapacityEngine,
  ) {
    const s = settings;
    this.capacity = s.capacity;
    // The slots ask this owner to evict (evict) and tell it of a slot nobody wanted (freed); they ask
    // only once a pool wants a slot, never while this constructor runs.
    this.slots = new Slots(s.capacity, s.startTimeout, this);
    this.queue = new QueueBytes(s.queueBytes);
    const owner: CellOwner = {
      instanceId: engine.instanceId,
      runtimeId: engine.runtimeId,
      engineId: engine.engineId,
      closed: () => this.isClosed,
      downError: () => engine.health.downError,
      draining: () => this.isDraining,
    };
    this.cells = new StemCells(s.stemCells, this.slots, env, owner, s.idleTimeout > 0 ? s.idleTimeout : CELL_LINGER_MS);
  }

  /** Capacity slots taken (containers running or starting, stem cells included). */
  get used(): number {
    return this.slots.used;
  }

  /** Stem cells ready to be handed over, and being started. */
  get cellCounts(): { ready: number; starting: number } {
    const ready = this.cells.ready;
    return { ready, starting: Math.max(0, this.cells.slotsHeld - ready) };
  }

  /** A ready stem cell of this image exists (no pull needed). */
  hasReadyCell(image: string): boolean {
    return this.cells.hasReady(image);
  }

  // What a pool asks (PoolCapacity).

  joined(pool: PoolMember): void {
    this.members.add(pool);
    this.cells.use(pool.plan);
    this.startTimer();
  }

  holdQueued(action: string, bytes: number): OpenWhiskNodeError | undefined {
    if (this.queue.hold(bytes)) return undefined;
    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    return new OpenWhiskNodeError(
      'overload',
      `Action '${action}' is overloaded: the messages waiting in the local runtime (all its actions together) already hold ` +
        `more than ${mb(this.queue.limit - bytes)} of the ${mb(this.queue.limit)} it keeps for waiting messages. ` +
        `Send smaller or fewer messages, raise the capacity, or raise "max payload" in the runtime config (the runtime keeps 8 × max payload).`,
      { short: 'queue full' },
    );
  }

  releaseQueued(bytes: number): void {
    this.queue.release(bytes);
  }

  cell(plan: ContainerPlan): ActionContainer | undefined {
    return this.cells.take(plan);
  }

  replenish(plan: ContainerPlan): void {
    this.cells.replenish(plan);
  }

  room(plan: ContainerPlan): { cell?: ActionContainer } | undefined {
    const cell = this.cells.take(plan);
    if (cell) return { cell };
    return this.slots.take() ? {} : undefined;
  }

  reserve(pool: PoolMember, patienceMs?: number): Promise<void> {
    return this.slots.reserve(pool, patienceMs);
  }

  waitFor(pool: PoolMember): void {
    this.slots.waitFor(pool);
  }

  containerIdle(): void {
    if (this.slots.wanted) this.slots.rebalance();
  }

  containerGone(removal?: Promise<unknown>): void {
    if (removal) this.slots.releaseAfter(removal);
    else this.slots.release();
  }

  left(pool: PoolMember): void {
    if (!this.members.delete(pool)) return;
    this.slots.forget(pool);
    this.cells.unuse(pool.plan);
  }

  // What the engine tells (engine.ts).

  /** The Docker engine went down: pools without any container fail their waiting messages now. */
  engineDown(err: OpenWhiskNodeError): void {
    for (const p of this.members) p.engineChanged(err);
  }

  /** The Docker engine is back (recovery): pools the outage emptied and the stem cells start again. */
  engineBack(): void {
    for (const p of this.members) p.engineChanged(undefined);
    this.cells.fillAll();
  }

  /** No slot is handed out any more, no cell started; waiting provisionings fail as closed. */
  close(): void {
    this.isClosed = true;
    if (this.timer) clearInterval(this.timer);
    this.slots.close();
  }

  // The slot policy (SlotPolicy), asked by the slots.

  /**
   * Free a slot for `requester`: a ready stem cell first, else another action's idle surplus container
   * (least recently used), else a cell still starting (it gives its slot up once started), else, when
   * `allowLast`, another action's last idle container. The slot comes back through the slots once the
   * container is gone.
   */
  evict(requester: SlotRequester, allowLast: boolean): boolean {
    if (this.cells.evictOne()) return true;
    const views: IdleView[] = [];
    for (const p of this.members) if (p !== requester) p.collectViews(views);
    const evict = (last: boolean): boolean => {
      for (;;) {
        const v = pickVictim(views, requester, last);
        if (!v) return false;
        if (v.pool.removeIdle(v.ref, 'evicted')) return true;
        views.splice(views.indexOf(v), 1);
      }
    };
    // A surplus container, then a cell still starting (it gives its slot up once started), and only
    // then another action's last one: its next message would meet a cold start.
    if (evict(false)) return true;
    if (this.cells.yielding) return true;
    return allowLast && evict(true);
  }

  /** A slot came free and no pool waited for it: stem cells may take it. */
  freed(): void {
    this.cells.refillSoon();
  }

  // The maintenance timer.

  /** Started at the first pool; its period follows the shortest timeout. */
  private startTimer(): void {
    if (this.timer || this.isClosed) return;
    const s = this.settings;
    const halves = [s.preemptPeriod, s.idleTimeout / 2, s.warmTimeout > 0 ? s.warmTimeout / 2 : Infinity];
    const every = Math.max(50, Math.min(10000, Math.floor(Math.min(...halves))));
    this.timer = setInterval(() => this.maintain(), every);
    this.timer.unref();
  }

  /**
   * Idle and warm timeouts; every preemption period, the watermarks. Preemption is bringing the
   * runtime down to its low watermark: no stem cell takes a slot meanwhile (cells.ts), or a cell
   * would refill each slot preemption frees.
   */
  private maintain(): void {
    const s = this.settings;
    const now = Date.now();
    const preempt = now - this.lastPreempt >= s.preemptPeriod - 5;
    if (preempt) this.lastPreempt = now;
    const views: IdleView[] = [];
    for (const p of this.members) p.collectViews(views);
    const containers = this.slots.used - this.cells.slotsHeld; // cells are evicted on demand, never a reason to preempt
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
    for (const r of removals) r.view.pool.removeIdle(r.view.ref, r.reason);
    this.engine.tick();
  }
}
