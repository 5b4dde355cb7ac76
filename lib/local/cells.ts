// Stem cells: started containers without code, kept per container shape in use (image, memory, log
// limit, environment), so that a new container of an action costs one /init (the prewarmed
// containers of OpenWhisk's invoker, apache/openwhisk ContainerPool). They hold slots (slots.ts),
// are the first to go when an action needs one, and are never started while an action waits for a
// slot, while the engine is down, or while preemption drains the runtime to its low watermark.

import type { ActionDoc } from '../types';
import { ActionContainer, type ContainerEnv, type ContainerPlan } from './container';
import { LABELS } from './options';
import type { Slots } from './slots';

/**
 * A cell that failed to start or died idle (crash, docker kill) is replaced after this long, doubled
 * at each failure in a row up to CELL_RETRY_MAX_MS, so a broken image or a full disk cannot spin.
 */
const CELL_RETRY_MS = 2000;
const CELL_RETRY_MAX_MS = 60000;
/** Replenishing (and renaming a handed-over cell) waits this long after the hand-over. */
export const CELL_DEFER_MS = 100;

interface CellSet {
  /** The runtime-level plan cells of this shape are created with (no action, no code). */
  plan: ContainerPlan;
  ready: ActionContainer[];
  starting: number;
  /** After a failed start: no new cell of this shape before then. */
  pausedUntil: number;
  /** Failed starts (or idle deaths) in a row: the pause doubles with each. */
  failures: number;
  /** Pools of this shape: with none left for `lingerMs`, the shape's cells go. */
  users: number;
  dropTimer?: NodeJS.Timeout;
}

export interface CellOwner {
  readonly instanceId: string;
  readonly runtimeId: string;
  readonly engineId: string;
  closed(): boolean;
  /** Set while the engine cannot be reached: no cell is started. */
  downError(): unknown;
  /** True while preemption brings the runtime down to its low watermark: no cell is started. */
  draining(): boolean;
}

export class StemCells {
  private readonly sets = new Map<string, CellSet>();
  private refillQueued = false;

  /**
   * `perShape`: cells kept per container shape (0 = none). `lingerMs`: how long a shape's cells stay
   * once no pool of it is left (the runtime's idle timeout: a redeploy closes the old node before the
   * new one takes the cell; a shape nobody uses any more, e.g. after a memory limit changed, goes).
   */
  constructor(
    private readonly perShape: number,
    private readonly slots: Slots,
    private readonly env: ContainerEnv,
    private readonly owner: CellOwner,
    private readonly lingerMs: number,
  ) {}

  /** Cells ready to be handed over (all shapes). */
  get ready(): number {
    let n = 0;
    for (const set of this.sets.values()) n += set.ready.length;
    return n;
  }

  /** Slots held by cells, ready or starting. */
  get slotsHeld(): number {
    let n = 0;
    for (const set of this.sets.values()) n += set.ready.length + set.starting;
    return n;
  }

  hasReady(image: string): boolean {
    for (const set of this.sets.values()) if (set.plan.image === image && set.ready.length > 0) return true;
    return false;
  }

  /** A ready cell of this plan's shape, with the slot it holds (now the caller's); undefined if none. */
  take(plan: ContainerPlan): ActionContainer | undefined {
    if (this.perShape === 0 || this.owner.closed()) return undefined;
    const set = this.sets.get(cellKey(plan));
    if (!set) return undefined;
    while (set.ready.length > 0) {
      const c = set.ready.shift() as ActionContainer;
      c.watch(undefined);
      if (c.state === 'started') return c;
      this.slots.releaseAfter(c.remove('retired'));
    }
    return undefined;
  }

  /**
   * A pool of this plan's shape exists (capacity.ts, at provisioning): cells of its shape are kept
   * while any does, for a cell-safe image only (images.ts STEM_CELL_SAFE_LABEL).
   */
  use(plan: ContainerPlan): void {
    if (this.perShape === 0 || !plan.cellSafe) return;
    const key = cellKey(plan);
    const set = this.sets.get(key);
    if (set) {
      set.users++;
      if (set.dropTimer) clearTimeout(set.dropTimer);
      set.dropTimer = undefined;
    } else this.sets.set(key, { plan: cellPlan(plan, this.owner), ready: [], starting: 0, pausedUntil: 0, failures: 0, users: 1 });
  }

  /** A pool of this shape closed: once none is left for `lingerMs`, the shape's cells go. */
  unuse(plan: ContainerPlan): void {
    const key = cellKey(plan);
    const set = this.sets.get(key);
    if (!set || --set.users > 0) return;
    set.dropTimer = setTimeout(() => this.dropShape(key, set), this.lingerMs);
    set.dropTimer.unref();
  }

  private dropShape(key: string, set: CellSet): void {
    if (set.users > 0 || this.sets.get(key) !== set) return;
    this.sets.delete(key);
    for (const c of set.ready.splice(0)) {
      c.watch(undefined);
      this.slots.releaseAfter(c.remove('retired'));
    }
    // Cells still starting are removed when their start completes (fill() sees the shape gone).
  }

  /** Start cells of this plan's shape up to the configured number, on free slots, in the background. */
  replenish(plan: ContainerPlan): void {
    if (this.perShape === 0 || this.owner.closed()) return;
    const set = this.sets.get(cellKey(plan));
    if (!set) return; // no pool of this shape (any more)
    // A moment later: the Docker work of a new cell does not compete with the first run of the
    // container just handed over.
    setTimeout(() => this.fill(set), CELL_DEFER_MS).unref();
  }

  /** A slot came free and no action wanted it: cells may take it (after this turn's work). */
  refillSoon(): void {
    if (this.refillQueued || this.perShape === 0 || this.sets.size === 0 || this.owner.closed()) return;
    this.refillQueued = true;
    setImmediate(() => {
      this.refillQueued = false;
      this.fillAll();
    });
  }

  fillAll(): void {
    for (const set of this.sets.values()) this.fill(set);
  }

  /** Give up one ready cell for an action that needs a slot (they go before any action's container). */
  evictOne(): boolean {
    for (const set of this.sets.values()) {
      const c = set.ready.shift();
      if (!c) continue;
      c.watch(undefined);
      this.slots.releaseAfter(c.remove('evicted'));
      return true;
    }
    return false;
  }

  /**
   * A cell is starting: its slot comes back once it has started, since a cell that starts while an
   * action waits for a slot gives it up (fill()). The last resort of an eviction.
   */
  get yielding(): boolean {
    for (const set of this.sets.values()) if (set.starting > 0) return true;
    return false;
  }

  /** Start cells on free slots; never while an action waits for a slot, the engine is down or preemption drains. */
  private fill(set: CellSet): void {
    while (
      this.sets.get(cellKey(set.plan)) === set &&
      !this.owner.closed() &&
      !this.owner.downError() &&
      !this.owner.draining() &&
      !this.slots.wanted &&
      Date.now() >= set.pausedUntil &&
      set.ready.length + set.starting < this.perShape &&
      this.slots.take()
    ) {
      set.starting++;
      const c = new ActionContainer(this.env, set.plan);
      // Warmed (container.ts warmUp) unless an action starts waiting for the slot meanwhile.
      c.launch(undefined, false)
        .then(() => c.warmUp(() => this.slots.wanted || this.owner.closed()))
        .then(
          () => {
            set.starting--;
            if (this.owner.closed() || c.state !== 'started' || this.sets.get(cellKey(set.plan)) !== set) {
              this.slots.releaseAfter(c.remove('closed'));
              return;
            }
            set.failures = 0;
            if (this.slots.wanted) {
              // An action waits for a slot (this cell's start may be what an eviction counted on): it gets this one.
              this.slots.releaseAfter(c.remove('evicted'));
              return;
            }
            c.watch((x) => this.drop(set, x));
            set.ready.push(c);
          },
          () => {
            // Failed (no room, a broken image, closed): pause this shape so it cannot spin.
            set.starting--;
            this.pause(set);
            this.slots.release();
          },
        );
    }
  }

  /** A ready cell stopped (crash, kill, engine gone): remove it; a new one follows after a pause. */
  private drop(set: CellSet, c: ActionContainer): void {
    const i = set.ready.indexOf(c);
    if (i < 0) return;
    set.ready.splice(i, 1);
    c.watch(undefined);
    this.slots.releaseAfter(c.remove('retired'));
    this.pause(set);
  }

  /** No new cell of this shape for a while: 2 s, doubled with each failure in a row, at most 60 s. */
  private pause(set: CellSet): void {
    const ms = Math.min(CELL_RETRY_MAX_MS, CELL_RETRY_MS * 2 ** Math.min(set.failures, 10));
    set.failures++;
    set.pausedUntil = Date.now() + ms;
    setTimeout(() => this.fill(set), ms + 10).unref();
  }
}

/** What a container fixes at creation: a cell can become any action's container with the same. */
function cellKey(plan: ContainerPlan): string {
  return JSON.stringify([plan.image, plan.limits.memory, plan.limits.logs, plan.cpuShares, plan.maxInflight > 1, plan.env]);
}

/** A plan for stem cells of `plan`'s shape: the runtime's labels only, no code, no parameters, no key. */
/** The node id of a stem cell's plan (it belongs to no node until handed over). */
export const CELL_NODE = 'stemcell';

function cellPlan(plan: ContainerPlan, owner: CellOwner): ContainerPlan {
  const id = { namespace: '_', name: 'stemcell', qualified: `stem cell (${plan.image})`, path: plan.kind, version: '0.0.0' };
  const doc: ActionDoc = { namespace: '_', name: 'stemcell', exec: { kind: plan.kind } };
  return {
    nodeId: CELL_NODE,
    id,
    doc,
    kind: plan.kind,
    image: plan.image,
    limits: plan.limits,
    maxInflight: plan.maxInflight,
    labels: {
      [LABELS.managed]: 'true',
      [LABELS.instance]: owner.instanceId,
      [LABELS.runtime]: owner.runtimeId,
      [LABELS.engine]: owner.engineId,
      [LABELS.cell]: plan.image,
    },
    env: plan.env,
    initParams: {},
    cpuShares: plan.cpuShares,
    cellSafe: true,
  };
}
