// The warm pool of one provisioned action: one container ready after provisioning, more on demand
// up to the engine's shared capacity, one /run in flight per container (or limits.concurrency when
// the image supports it), a bounded FIFO queue when all are busy, and replacement of containers
// that timed out, crashed or answered anything but 200. Idle containers are removed by the runtime's
// capacity (idle/warm timeouts, preemption, eviction for another action); a pool left without any container
// starts one at its next message (a cold start, visible in the activation's initTime). Every
// message settles: a wait for a slot with no container at all is bounded by startTimeout.
// Every new container (the first at provisioning, growth, a replacement) is a stem cell of the
// engine when one of the same shape is ready: it then costs one /init (cells.ts). Slots, cells and
// eviction are the runtime's owner of capacity (capacity.ts): the pool asks it through PoolCapacity
// and offers it a PoolMember (its idle containers, remove-idle, wants-more / accept-slot).

import { OpenWhiskNodeError, activationFailure } from '../errors';
import type { ProvisionStatus } from '../status';
import type { ActionRef, Activation, ActivationResponse, CloseOptions } from '../types';
import { ActionContainer, closedError, takesWork, type ContainerEnv, type ContainerPlan } from './container';
import type { IdleView, PoolCapacity, PoolMember } from './capacity';
import { Messages, buildActivation, applicationError, developerError, mapRunResponse, mergeParams, runBodyJson, runContext } from './protocol';
import type { LocalAction } from './action';

/** A pool's collaborators: the runtime's capacity (slots, stem cells, queue bytes), the engine's health, the container environment. */
export interface PoolDeps {
  readonly capacity: PoolCapacity;
  readonly health: { readonly downError: OpenWhiskNodeError | undefined };
  readonly containers: ContainerEnv;
  /** Largest /run parameters (JSON bytes) accepted; bound on a message's wait with no container (ms). */
  readonly maxPayload: number;
  readonly startTimeout: number;
  /** The pool closed: the engine forgets it. */
  forget(pool: PoolAction): void;
}

interface Job {
  valueJson: string;
  /** Counted against the runtime's queue bytes while the job waits. */
  bytes: number;
  enqueued: number;
  causedBySequence: boolean;
  resolve: (a: Activation) => void;
  reject: (e: unknown) => void;
}

const CLOSE_BOUND_MS = 10000;

export class PoolAction implements LocalAction {
  readonly name: string;
  readonly kind: string;
  readonly image: string;
  readonly memory: number;

  private readonly live: ActionContainer[] = [];
  private readonly starting = new Set<ActionContainer>();
  /** Containers whose log stream ended, while the engine finds out why: they hold their slot, take no work. */
  private readonly suspended = new Set<ActionContainer>();
  private readonly launches = new Set<Promise<void>>();
  private readonly queue: Job[] = [];
  private closed = false;
  private closing?: Promise<void>;
  /** Bounds the wait of messages for a slot while this pool has no container at all. */
  private slotTimer?: NodeJS.Timeout;
  /** The engine outage took its last container: start one again when the engine is back. */
  private lostToOutage = false;
  /** What this pool offers the runtime's capacity (capacity.ts); its identity there. */
  private readonly member: PoolMember;

  constructor(
    private readonly deps: PoolDeps,
    readonly plan: ContainerPlan,
    private readonly defaults: Record<string, unknown>,
    private readonly queueLimit: number,
  ) {
    this.name = plan.id.qualified;
    this.kind = plan.kind;
    this.image = plan.image;
    this.memory = plan.limits.memory;
    this.member = this.asMember();
    deps.capacity.joined(this.member);
  }

  get containers(): number {
    return this.live.length;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Provision: one container created, started and initialised before the first message. */
  async warm(onStatus?: (s: ProvisionStatus) => void, capacityWaitMs?: number): Promise<void> {
    const phase = (p: 'starting' | 'initializing') => onStatus?.({ phase: p, detail: p === 'starting' ? this.image : this.name, action: this.name });
    const cell = this.deps.capacity.cell(this.plan);
    if (!cell) await this.deps.capacity.reserve(this.member, capacityWaitMs);
    const c = cell ?? new ActionContainer(this.deps.containers, this.plan);
    this.starting.add(c);
    try {
      await (cell ? cell.handOver(this.plan, phase) : c.launch(phase));
    } catch (err) {
      this.starting.delete(c);
      this.deps.capacity.containerGone();
      throw err;
    } finally {
      this.deps.capacity.replenish(this.plan);
    }
    this.starting.delete(c);
    if (this.closed) {
      await c.remove().catch(() => undefined);
      this.deps.capacity.containerGone();
      throw closedError(`Provisioning '${this.name}'`);
    }
    this.adopt(c);
  }

  invoke(params: Record<string, unknown> | unknown[], _ref?: ActionRef): Promise<Activation> {
    // The runner provisions one LocalAction per action reference, so `ref` names this action.
    return this.run(params, false);
  }

  run(params: Record<string, unknown> | unknown[] | null | undefined, causedBySequence: boolean): Promise<Activation> {
    if (this.closed) return Promise.reject(closedError(`Action '${this.name}'`));
    let valueJson: string;
    try {
      valueJson = JSON.stringify(mergeParams(this.defaults, params));
    } catch (err) {
      return Promise.reject(
        new OpenWhiskNodeError('input', `The parameters for '${this.name}' cannot be sent as JSON: ${(err as Error).message}`, {
          short: 'bad params',
          cause: err,
        }),
      );
    }
    // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: count exactly only near the limit.
    const limit = this.deps.maxPayload;
    if (valueJson.length * 3 > limit && Buffer.byteLength(valueJson) > limit) {
      const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
      return Promise.reject(
        new OpenWhiskNodeError(
          'input',
          `The parameters for '${this.name}' are ${mb(Buffer.byteLength(valueJson))}, over the local runtime's payload limit of ${mb(limit)}. ` +
            `Send smaller data (resize the image, split the batch) or raise "max payload" in the runtime config.`,
          { short: 'payload too large' },
        ),
      );
    }
    const now = Date.now();
    const c = this.free();
    if (c) return this.execute(c, valueJson, now, causedBySequence);
    // A pool without a ready container (cold start after an idle removal) lets one message wait even with queue limit 0.
    if (this.queue.length >= this.queueLimit && (this.queue.length > 0 || this.live.length > 0)) {
      return Promise.reject(
        new OpenWhiskNodeError(
          'overload',
          `Action '${this.name}' is overloaded: ${this.queue.length} messages already wait for its ${this.live.length} busy container(s) ` +
            `(queue limit ${this.queueLimit}, runtime capacity ${this.deps.capacity.capacity} containers). ` +
            `Raise the queue limit or the capacity in the runtime config, or send messages more slowly.`,
          { short: 'queue full' },
        ),
      );
    }
    // Waiting messages hold their parameters in memory: bounded by bytes too, for the whole runtime.
    const bytes = valueJson.length;
    const full = this.deps.capacity.holdQueued(this.name, bytes);
    if (full) return Promise.reject(full);
    return new Promise<Activation>((resolve, reject) => {
      this.queue.push({ valueJson, bytes, enqueued: now, causedBySequence, resolve, reject });
      this.scale();
    });
  }

  private free(): ActionContainer | undefined {
    const max = this.plan.maxInflight;
    for (const c of this.live) if (takesWork(c.state) && c.inflight < max) return c;
    return undefined;
  }

  private async execute(c: ActionContainer, valueJson: string, enqueued: number, causedBySequence: boolean): Promise<Activation> {
    const { plan } = this;
    const timeout = plan.limits.timeout;
    const start = Date.now();
    const ctx = runContext(plan.id, timeout, plan.apiKey, start);
    const first = c.runs === 0;
    const out = await c.execute(runBodyJson(valueJson, ctx), timeout);
    const end = Date.now();
    if (out.fatal) this.retire(c);
    this.drain();
    if (this.queue.length === 0) this.deps.capacity.containerIdle();
    if (out.failure === 'closed') throw closedError(`Action '${this.name}'`);
    let timedOut = false;
    let lostText: string | undefined;
    let response: ActivationResponse;
    if (out.engineLost) {
      const down = this.deps.health.downError;
      lostText =
        `Action '${this.name}' was cut off: the Docker engine at ${this.deps.containers.docker.target.description} went away while it ran, and stopped its container. ` +
        (down ? down.message : 'Is dockerd running?');
      response = { status: 'whisk internal error', success: false, result: { error: lostText } };
    } else if (out.reply) {
      response = mapRunResponse(out.reply.status, out.reply.body);
    } else if (out.failure === 'timeout') {
      timedOut = true;
      response = developerError(Messages.timedOut(timeout, false));
    } else if (out.failure === 'too_large' && out.oversize) {
      const o = out.oversize;
      response = applicationError(Messages.truncatedResponse(o.length, o.limit, o.head), o.length);
    } else {
      response = developerError(out.oom ? Messages.memoryExhausted : Messages.abnormalRun);
    }
    const activation = buildActivation({
      id: plan.id,
      activationId: ctx.activation_id,
      kind: plan.kind,
      limits: plan.limits,
      start,
      end,
      response,
      logs: out.logs,
      timeout: timedOut,
      waitTime: start - enqueued,
      initTime: first ? c.initTime : undefined,
      causedBySequence,
    });
    if (lostText) throw new OpenWhiskNodeError('unreachable', lostText, { short: 'docker unreachable', activation });
    if (response.success) return activation;
    throw activationFailure(activation, this.name);
  }

  /** Hand queued messages to free containers. */
  private drain(): void {
    while (this.queue.length > 0) {
      const c = this.free();
      if (!c) break;
      const job = this.queue.shift() as Job;
      this.deps.capacity.releaseQueued(job.bytes);
      this.execute(c, job.valueJson, job.enqueued, job.causedBySequence).then(job.resolve, job.reject);
    }
    if (this.queue.length > 0) this.scale();
  }

  /** More containers while messages wait and the runtime has room. */
  private scale(): void {
    if (!this.wantsMore()) return;
    const room = this.deps.capacity.room(this.plan);
    if (room) {
      this.launch(room.cell);
      return;
    }
    const empty = this.empty;
    if (empty && this.deps.health.downError) {
      // No container and no engine to start one: fail now rather than wait for a slot.
      this.failQueue(this.deps.health.downError);
      return;
    }
    this.deps.capacity.waitFor(this.member);
    if (empty && !this.slotTimer && this.queue.length > 0) {
      this.slotTimer = setTimeout(() => {
        this.slotTimer = undefined;
        if (this.closed || !this.empty || this.queue.length === 0) return;
        this.failQueue(
          new OpenWhiskNodeError(
            'overload',
            `Action '${this.name}' got no container within ${this.deps.startTimeout} ms: all ${this.deps.capacity.capacity} containers of the runtime ` +
              `are busy with other actions. Raise the capacity in the runtime config, or send messages more slowly.`,
            { short: 'no container' },
          ),
        );
      }, this.deps.startTimeout);
      this.slotTimer.unref();
    }
  }

  private failQueue(err: unknown): void {
    for (const job of this.queue.splice(0)) {
      this.deps.capacity.releaseQueued(job.bytes);
      job.reject(err);
    }
  }

  /** No container ready, busy or starting. */
  private get empty(): boolean {
    return this.live.length + this.starting.size === 0;
  }

  /** Messages wait beyond what the containers already starting will take. */
  private wantsMore(): boolean {
    return !this.closed && this.queue.length > this.starting.size * this.plan.maxInflight;
  }

  /** Start one more container on a slot this pool already holds (a stem cell's, when given one). */
  private launch(cell?: ActionContainer): void {
    if (this.slotTimer) {
      clearTimeout(this.slotTimer);
      this.slotTimer = undefined;
    }
    this.lostToOutage = false;
    const c = cell ?? new ActionContainer(this.deps.containers, this.plan);
    this.starting.add(c);
    const started = cell ? cell.handOver(this.plan) : c.launch();
    if (cell) void started.finally(() => this.deps.capacity.replenish(this.plan)).catch(() => undefined);
    const p = started.then(
      () => {
        this.starting.delete(c);
        if (this.closed) {
          this.deps.capacity.containerGone(c.remove());
          return;
        }
        this.adopt(c);
        this.drain();
        if (this.queue.length === 0) this.deps.capacity.containerIdle();
      },
      (err: unknown) => {
        this.starting.delete(c);
        this.deps.capacity.containerGone();
        if (this.closed) return;
        // Without any container the waiting messages cannot run: fail them with the reason.
        if (this.empty) this.failQueue(err);
      },
    );
    this.launches.add(p);
    void p.finally(() => this.launches.delete(p));
  }

  private adopt(c: ActionContainer): void {
    c.watch((x) => this.changed(x));
    this.live.push(c);
  }

  /** One of its containers changed state on its own. */
  private changed(c: ActionContainer): void {
    if (c.state === 'suspended') this.suspend(c);
    else if (c.state === 'detached') this.resume(c);
    else if (c.state === 'dead') this.retire(c);
  }

  private suspend(c: ActionContainer): void {
    const i = this.live.indexOf(c);
    if (i < 0) return;
    this.live.splice(i, 1);
    this.suspended.add(c);
    if (this.empty && this.deps.health.downError) this.failQueue(this.deps.health.downError);
  }

  private resume(c: ActionContainer): void {
    if (!this.suspended.delete(c)) return;
    if (this.closed) {
      this.deps.capacity.containerGone(c.remove('closed'));
      return;
    }
    this.live.push(c);
    this.drain();
  }

  /**
   * Remove a container that must not run anything again (timed out, crashed, non-200 reply, exited)
   * and start a replacement on its slot when messages wait, or when it was this action's only one
   * (it stays warm: a crash is no reason for a cold start). While the engine is down nothing is
   * started: the pool is re-warmed when the engine is back.
   */
  private retire(c: ActionContainer): void {
    const i = this.live.indexOf(c);
    if (i >= 0) this.live.splice(i, 1);
    else if (!this.suspended.delete(c)) return;
    const removal = c.remove('retired');
    const down = this.deps.health.downError;
    const alone = this.empty;
    if (!this.closed && (this.wantsMore() || (alone && !down))) {
      const cell = down ? undefined : this.deps.capacity.cell(this.plan);
      if (cell) {
        this.deps.capacity.containerGone(removal);
        this.launch(cell);
        return;
      }
      void removal.catch(() => undefined);
      this.launch(); // reuses the slot of the removed container
      return;
    }
    if (alone && down) {
      this.lostToOutage = true;
      this.failQueue(down);
    }
    this.deps.capacity.containerGone(removal);
  }

  /**
   * What the runtime's capacity sees of this pool (capacity.ts PoolMember): its ready containers as
   * the removal policy sees them (preempt.ts), removal of an idle one (false if it is busy or gone
   * meanwhile), a freed slot offered (taken only if still needed), the engine's ups and downs.
   */
  private asMember(): PoolMember {
    const isEmpty = () => this.empty;
    return {
      name: this.name,
      plan: this.plan,
      get empty() {
        return isEmpty();
      },
      wantsMore: () => this.wantsMore(),
      acceptSlot: () => {
        if (!this.wantsMore()) return false;
        this.launch();
        return true;
      },
      collectViews: (out: IdleView[]) => {
        if (this.closed) return;
        const poolSize = this.live.length + this.starting.size;
        const queued = this.queue.length > 0;
        for (const c of this.live) {
          if (takesWork(c.state)) out.push({ ref: c, pool: this.member, poolSize, inflight: c.inflight, queued, lastUsed: c.lastUsed });
        }
      },
      removeIdle: (c: ActionContainer, reason: string) => {
        if (this.closed || this.queue.length > 0 || !takesWork(c.state) || c.inflight > 0) return false;
        const i = this.live.indexOf(c);
        if (i < 0) return false;
        this.live.splice(i, 1);
        this.deps.capacity.containerGone(c.remove(reason));
        return true;
      },
      engineChanged: (down) => {
        // Down: messages of a pool without any container fail now instead of waiting. Back, after an
        // outage that took its last container: one warm container again, if there is room.
        if (down) {
          if (this.empty) this.failQueue(down);
        } else if (!this.closed && this.lostToOutage && this.empty) {
          const room = this.deps.capacity.room(this.plan);
          if (room) this.launch(room.cell);
        }
      },
    };
  }

  close(opts?: CloseOptions): Promise<void> {
    if (!this.closing) this.closing = this.shutDown();
    return opts?.wait === 'stopped' ? Promise.resolve() : this.closing;
  }

  private shutDown(): Promise<void> {
    this.closed = true;
    if (this.slotTimer) clearTimeout(this.slotTimer);
    this.deps.forget(this);
    this.deps.capacity.left(this.member);
    this.failQueue(closedError(`Action '${this.name}'`));
    // Live containers give their slot back here; starting ones when their launch notices the close.
    const held = [...this.live.splice(0), ...this.suspended];
    this.suspended.clear();
    const removals = [
      ...held.map((c) => {
        const r = c.remove('closed');
        this.deps.capacity.containerGone(r);
        return r.catch(() => undefined);
      }),
      ...[...this.starting].map((c) => c.remove('closed').catch(() => undefined)),
    ];
    const work = Promise.all([...removals, ...this.launches]).then(() => undefined);
    return Promise.race([work, new Promise<void>((r) => setTimeout(r, CLOSE_BOUND_MS).unref())]);
  }
}
