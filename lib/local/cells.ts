// Stem cells: started containers without code, kept per container shape in use (image, memory, log
// limit, environment), so that a new container of an action costs one /init (the prewarmed
// containers of OpenWhisk's invoker, apache/openwhisk ContainerPool). They hold slots (slots.ts),
// are the first to go when an action needs one, and are never started while an action waits for a
// slot or the engine is down.

import type { ActionDoc } from '../types';
import { ActionContainer, type ContainerEnv, type ContainerPlan } from './container';
import { LABELS } from './options';
import type { Slots } from './slots';

/** A cell that died idle (crash, docker kill) is replaced after this long, so a broken image cannot spin. */
const CELL_RETRY_MS = 2000;
/** Replenishing (and renaming a handed-over cell) waits this long after the hand-over. */
export const CELL_DEFER_MS = 100;

interface CellSet {
  /** The runtime-level plan cells of this shape are created with (no action, no code). */
  plan: ContainerPlan;
  ready: ActionContainer[];
  starting: number;
  /** After a failed start: no new cell of this shape before then. */
  pausedUntil: number;
}

export interface CellOwner {
  readonly instanceId: string;
  readonly runtimeId: string;
  readonly engineId: string;
  readonly closed: boolean;
  /** Set while the engine cannot be reached: no cell is started. */
  readonly downError: unknown;
}

export class StemCells {
  private readonly sets = new Map<string, CellSet>();
  private refillQueued = false;

  /** `perShape`: cells kept per container shape (0 = none). */
  constructor(
    private readonly perShape: number,
    private readonly slots: Slots,
    private readonly env: ContainerEnv,
    private readonly owner: CellOwner,
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
    if (this.perShape === 0 || this.owner.closed) return undefined;
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

  /** Start cells of this plan's shape up to the configured number, on free slots, in the background. */
  replenish(plan: ContainerPlan): void {
    if (this.perShape === 0 || this.owner.closed) return;
    const key = cellKey(plan);
    let set = this.sets.get(key);
    if (!set) {
      set = { plan: cellPlan(plan, this.owner), ready: [], starting: 0, pausedUntil: 0 };
      this.sets.set(key, set);
    }
    // A moment later: the Docker work of a new cell does not compete with the first run of the
    // container just handed over.
    const target = set;
    setTimeout(() => this.fill(target), CELL_DEFER_MS).unref();
  }

  /** A slot came free and no action wanted it: cells may take it (after this turn's work). */
  refillSoon(): void {
    if (this.refillQueued || this.perShape === 0 || this.sets.size === 0 || this.owner.closed) return;
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

  /** Start cells on free slots; never while an action waits for a slot or the engine is down. */
  private fill(set: CellSet): void {
    while (
      !this.owner.closed &&
      !this.owner.downError &&
      !this.slots.wanted &&
      Date.now() >= set.pausedUntil &&
      set.ready.length + set.starting < this.perShape &&
      this.slots.take()
    ) {
      set.starting++;
      const c = new ActionContainer(this.env, set.plan);
      c.launch(undefined, false).then(
        () => {
          set.starting--;
          if (this.owner.closed || c.state !== 'started') {
            this.slots.releaseAfter(c.remove('closed'));
            return;
          }
          c.watch((x) => this.drop(set, x));
          set.ready.push(c);
        },
        () => {
          // Failed (no room, a broken image, closed): pause this shape so it cannot spin.
          set.starting--;
          set.pausedUntil = Date.now() + CELL_RETRY_MS;
          setTimeout(() => this.fill(set), CELL_RETRY_MS + 10).unref();
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
    set.pausedUntil = Date.now() + CELL_RETRY_MS;
    this.slots.releaseAfter(c.remove('retired'));
    setTimeout(() => this.fill(set), CELL_RETRY_MS + 10).unref();
  }
}

/** What a container fixes at creation: a cell can become any action's container with the same. */
function cellKey(plan: ContainerPlan): string {
  return JSON.stringify([plan.image, plan.limits.memory, plan.limits.logs, plan.cpuShares, plan.maxInflight > 1, plan.env]);
}

/** A plan for stem cells of `plan`'s shape: the runtime's labels only, no code, no parameters, no key. */
function cellPlan(plan: ContainerPlan, owner: CellOwner): ContainerPlan {
  const id = { namespace: '_', name: 'stemcell', qualified: `stem cell (${plan.image})`, path: plan.kind, version: '0.0.0' };
  const doc: ActionDoc = { namespace: '_', name: 'stemcell', exec: { kind: plan.kind } };
  return {
    nodeId: 'stemcell',
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
  };
}
