// Which idle containers to remove, as pure functions (unit-tested without Docker). The owner of
// capacity (capacity.ts) calls them from its maintenance timer and when a pool needs a container slot.
//
// Policy (the preemption of OpenWhisk-Light, github.com/kpavel/openwhisk-light, with its bugs fixed):
// - Never a container with a run in flight, nor one whose action has messages waiting (they run
//   there next), nor one still starting (not in the views at all).
// - Idle timeout, checked on every tick whatever the watermarks: a container beyond its action's
//   first is removed after `idleTimeout` ms idle; an action's last container after `warmTimeout`
//   ms idle (0 = never). The next message of that action then meets a cold start.
// - Watermarks, every preemption period: when the containers of the runtime (running, starting,
//   being removed) exceed highWatermark × capacity, idle containers are removed until at most
//   floor(lowWatermark × capacity) remain or no candidate is left; the runtime keeps draining at the
//   next periods until it is down to the low watermark (a container not idle long enough yet, or
//   busy, goes at a later period rather than ending the preemption above it). Busy containers count too
//   (OWL counted only idle ones). Candidates must have been idle for `minIdle` ms (a pipeline
//   that ran a moment ago is not torn down between two messages); surplus containers go before
//   an action's last one, least recently used first within each group.

export interface ContainerView<T = unknown, P = unknown> {
  /** The container (opaque here). */
  ref: T;
  /** Its action's pool (opaque here: compared by identity). */
  pool: P;
  /** Containers its pool has: ready, busy or starting (the same for every view of a pool). */
  poolSize: number;
  /** Runs in flight on it; 0 = idle. */
  inflight: number;
  /** Its pool has messages waiting for a container. */
  queued: boolean;
  /** When it last finished a run (or became ready), ms since the epoch. */
  lastUsed: number;
}

export interface RemovalPolicy {
  capacity: number;
  /** 0..1: preempt when containers > highWatermark × capacity (1 = never preempt). */
  highWatermark: number;
  /** 0..1: preempt down to floor(lowWatermark × capacity). */
  lowWatermark: number;
  /** ms idle after which a container beyond its pool's first is removed. */
  idleTimeout: number;
  /** ms idle after which a pool's last container is removed; 0 = never. */
  warmTimeout: number;
  /** ms a container must have been idle before the watermarks may remove it. */
  minIdle: number;
  /** Run the watermark part on this call (false between preemption periods). */
  preempt: boolean;
  /** The runtime went above the high watermark and has not come down to the low one yet (draining()). */
  draining?: boolean;
}

export type RemovalReason = 'idle' | 'preempted';

export interface Removal<T, P = unknown> {
  view: ContainerView<T, P>;
  reason: RemovalReason;
}

const EPS = 1e-9;

/** Containers above which preemption starts (strictly more than this many). */
export function highMark(capacity: number, highWatermark: number): number {
  return highWatermark * capacity;
}

/**
 * Whether preemption goes on at this period: `count` containers (action containers; stem cells are
 * not counted) above the high mark starts it, and it goes on until the count is down to the low
 * mark, or until no container is idle (`idle`: any container without a run in flight or messages
 * waiting, idle long enough to be taken or not yet): a runtime busy between the marks is not
 * draining, and gets its stem cells back.
 */
export function draining(count: number, wasDraining: boolean, idle: boolean, capacity: number, highWatermark: number, lowWatermark: number): boolean {
  if (count > highMark(capacity, highWatermark) + EPS) return true;
  return wasDraining && idle && count > lowMark(capacity, lowWatermark);
}

/** Whether any of these containers is idle (no run in flight, no message waiting for its action). */
export function anyIdle(views: readonly ContainerView[]): boolean {
  return views.some(removable);
}

/** Containers preemption brings the runtime down to. */
export function lowMark(capacity: number, lowWatermark: number): number {
  return Math.floor(lowWatermark * capacity + EPS);
}

function removable(v: ContainerView): boolean {
  return v.inflight === 0 && !v.queued;
}

/**
 * The containers to remove now, in removal order. `used` is the runtime's containers (slots in
 * use: ready, busy, starting, being removed).
 */
export function selectRemovals<T, P>(views: readonly ContainerView<T, P>[], used: number, policy: RemovalPolicy, now: number): Removal<T, P>[] {
  const out: Removal<T, P>[] = [];
  const left = new Map<unknown, number>();
  for (const v of views) if (!left.has(v.pool)) left.set(v.pool, v.poolSize);
  const taken = new Set<ContainerView<T, P>>();
  const take = (v: ContainerView<T, P>, reason: RemovalReason) => {
    taken.add(v);
    left.set(v.pool, (left.get(v.pool) ?? 1) - 1);
    out.push({ view: v, reason });
  };

  // Idle timeouts, oldest first: surplus after idleTimeout, the last one after warmTimeout.
  const idle = views.filter(removable).sort((a, b) => a.lastUsed - b.lastUsed);
  for (const v of idle) {
    const idleFor = now - v.lastUsed;
    const n = left.get(v.pool) ?? 0;
    if (n > 1 ? idleFor >= policy.idleTimeout : policy.warmTimeout > 0 && idleFor >= policy.warmTimeout) take(v, 'idle');
  }

  // Watermarks.
  let count = used - out.length;
  if (!policy.preempt || !draining(count, policy.draining ?? false, anyIdle(views), policy.capacity, policy.highWatermark, policy.lowWatermark)) return out;
  const target = lowMark(policy.capacity, policy.lowWatermark);
  const candidates = idle.filter((v) => !taken.has(v) && now - v.lastUsed >= policy.minIdle);
  while (count > target && candidates.length > 0) {
    // Surplus before last containers, then least recently used (recomputed: taking a pool's
    // surplus container makes its remaining one the last).
    let best = 0;
    for (let i = 1; i < candidates.length; i++) if (better(candidates[i], candidates[best], left)) best = i;
    const [v] = candidates.splice(best, 1);
    take(v, 'preempted');
    count--;
  }
  return out;
}

function better(a: ContainerView, b: ContainerView, left: Map<unknown, number>): boolean {
  const lastA = (left.get(a.pool) ?? 0) <= 1 ? 1 : 0;
  const lastB = (left.get(b.pool) ?? 0) <= 1 ? 1 : 0;
  if (lastA !== lastB) return lastA < lastB;
  return a.lastUsed < b.lastUsed;
}

/**
 * A container to give up right now so `requester` can have its slot: idle, of another pool; a
 * pool's last container only when `allowLast` (the requester has no container at all and real
 * messages wait). Surplus first, then least recently used. undefined = none.
 */
export function pickVictim<T, P>(views: readonly ContainerView<T, P>[], requester: unknown, allowLast: boolean): ContainerView<T, P> | undefined {
  const left = new Map<unknown, number>();
  for (const v of views) if (!left.has(v.pool)) left.set(v.pool, v.poolSize);
  let best: ContainerView<T, P> | undefined;
  for (const v of views) {
    if (v.pool === requester || !removable(v)) continue;
    if (!allowLast && (left.get(v.pool) ?? 0) <= 1) continue;
    if (!best || better(v, best, left)) best = v;
  }
  return best;
}
