// The runtime's container capacity: one slot per container (starting, ready, being removed, or a
// stem cell), shared by all actions of one runtime. A pool takes a slot before it starts a
// container and gives it back once the container is gone; a pool that wants one while none is
// free waits in line, and the slot policy (capacity.ts: stem cells first, then preempt.ts's
// victim choice) may free one by removing an idle container elsewhere. Also the bound on the bytes
// all queues of the runtime may hold. No Docker here: unit-tested with fakes.

import { OpenWhiskNodeError } from '../errors';
import { closedError } from './container';

/** A pool as the slots see it. */
export interface SlotRequester {
  readonly name: string;
  /** No container ready, busy or starting: may take another action's last idle container. */
  readonly empty: boolean;
  /** Messages wait beyond what its starting containers will take. */
  wantsMore(): boolean;
  /** A freed slot is offered: take it (and start a container on it) or refuse it. */
  acceptSlot(): boolean;
}

export interface SlotPolicy {
  /**
   * Free a slot for `requester` by removing one idle container elsewhere (its last one only when
   * `allowLast`); the slot comes back through releaseAfter(). False when nothing qualifies.
   */
  evict(requester: SlotRequester, allowLast: boolean): boolean;
  /** A slot came free and nobody waited for it. */
  freed?(): void;
}

interface Waiter {
  /** Take a freed slot; false = not needed any more. */
  accept(): boolean;
  cancel?(): void;
  owner?: SlotRequester;
  /** A pool waiting for its first container (reserve): an idle container of another action, its last one too, gives way. */
  first?: SlotRequester;
  /** A first container for work already accepted (reserve with patience): it waits behind the others. */
  patient?: boolean;
}

export class Slots {
  private usedNow = 0;
  /** Slots held by removals in progress (released when the container is gone). */
  private releasing = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;

  /**
   * @param capacity containers of the runtime
   * @param reserveWaitMs how long a first container waits for a slot an eviction frees
   */
  constructor(
    readonly capacity: number,
    private readonly reserveWaitMs: number,
    private readonly policy: SlotPolicy,
  ) {}

  /** Slots in use (containers starting, ready, being removed, stem cells). */
  get used(): number {
    return this.usedNow;
  }

  /** True while some pool waits for a slot: a run that leaves a container idle calls rebalance(). */
  get wanted(): boolean {
    return this.waiters.length > 0;
  }

  /** A slot now if one is free. */
  take(): boolean {
    if (this.closed || this.usedNow >= this.capacity) return false;
    this.usedNow++;
    return true;
  }

  /** Give a slot back: it goes to the first waiter that still wants one. */
  release(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters.shift() as Waiter;
      if (!this.closed && w.accept()) return; // the slot moves to the waiter
    }
    if (this.usedNow > 0) this.usedNow--;
    if (!this.closed) this.policy.freed?.();
  }

  /** Give a slot back once this removal has settled (the container is gone, or the engine gave up). */
  releaseAfter(removal: Promise<unknown>): void {
    this.releasing++;
    const done = () => {
      this.releasing--;
      this.release();
    };
    removal.then(done, done);
  }

  /** A pool that wants to grow, or has no container left: a slot as soon as one frees up. */
  waitFor(pool: SlotRequester): void {
    if (this.waiters.some((w) => w.owner === pool)) return; // one eviction per wait; rebalance() does more
    this.waiters.push({ owner: pool, accept: () => pool.acceptSlot() });
    this.policy.evict(pool, pool.empty);
  }

  /** A container went idle (after a run, or ready after its start): evict for the first waiter that still wants a slot. */
  rebalance(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      if (w.owner && !w.owner.wantsMore()) {
        this.waiters.shift(); // satisfied meanwhile
        continue;
      }
      if (w.first) this.policy.evict(w.first, true);
      else if (w.owner) this.policy.evict(w.owner, w.owner.empty);
      return;
    }
  }

  /**
   * A slot for a pool's first container (provisioning): now; or after an idle container of another
   * action gives way (least recently used, surplus first, an action's last one too: that action
   * cold-starts at its next message) or a removal in progress frees one, within reserveWaitMs; else a
   * capacity error, at once when no container is idle (all running or starting: a caller may retry or
   * run elsewhere; an action node provisions again at its next message).
   *
   * `patienceMs`: a caller that has already accepted the work (an activation answered 202, which
   * OpenWhisk queues until a container is free) waits that long in line instead: the first container
   * of another action that goes idle gives way to it. First containers wait in the order they asked.
   */
  reserve(pool: SlotRequester, patienceMs?: number): Promise<void> {
    if (this.take()) return Promise.resolve();
    if (this.closed) return Promise.reject(closedError(`Provisioning '${pool.name}'`));
    const waitMs = patienceMs ?? this.reserveWaitMs;
    const full = (waited: boolean) =>
      new OpenWhiskNodeError(
        'config',
        `All ${this.capacity} containers of the local runtime are busy with other actions (running or starting): '${pool.name}' ` +
          `${waited ? `got none within ${waitMs < 1000 ? `${waitMs} ms` : `${Math.round(waitMs / 1000)} s`}` : 'cannot get one now'}. ` +
          `Try again later, send fewer different actions at once, or raise the capacity in the runtime config.`,
        { reason: 'capacity' },
      );
    if (!this.policy.evict(pool, true) && this.releasing === 0 && patienceMs === undefined) return Promise.reject(full(false));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(full(true));
      }, waitMs);
      timer.unref();
      const patient = patienceMs !== undefined;
      const waiter: Waiter = {
        first: pool,
        patient,
        accept: () => {
          clearTimeout(timer);
          resolve();
          return true;
        },
        cancel: () => {
          clearTimeout(timer);
          reject(closedError(`Provisioning '${pool.name}'`));
        },
      };
      // First containers go before growth of others, among themselves in the order they asked; those
      // that may wait long (work already accepted) behind those that fail soon (a node's deploy).
      let at = 0;
      while (at < this.waiters.length && this.waiters[at].first && (patient || !this.waiters[at].patient)) at++;
      this.waiters.splice(at, 0, waiter);
    });
  }

  /** A pool closed: it waits for nothing any more. */
  forget(pool: SlotRequester): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i].owner === pool) this.waiters.splice(i, 1);
  }

  /** No slot is handed out any more; waiting provisionings fail as closed. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.cancel?.();
  }
}

/** Bytes of parameters all of the runtime's queues hold together, bounded. */
export class QueueBytes {
  private held = 0;

  constructor(readonly limit: number) {}

  /** Count `bytes`; false (nothing counted) when they do not fit. */
  hold(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }
}
