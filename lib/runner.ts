import { CloudInvoker } from './cloud';
import { OpenWhiskNodeError } from './errors';
import { formatBytes, InFlight, jsonBytes } from './in-flight';
import { qualifiedName, type OpenWhiskService } from './service';
import { initialRing, reduceRing, type EngineHealth, type Failure, type RingEvent, type RingState, type Shown } from './status';
import { StatusThrottle } from './status-throttle';
import type { ActionRef, Activation, Catalog, InvokeOptions, Invocable, Provisioner } from './types';

export type { Phase } from './status';

export interface PhaseReport extends Shown {
  mode: 'cloud' | 'local';
  /** Where the action ran from, e.g. "cached" when the catalog was unreachable. */
  note?: string;
  /** The version of the action this node deployed to a service (an inline action), once deployed. */
  version?: string;
}

/** What an inline action's node adds to the runner. */
export interface RunnerOptions {
  /**
   * Deploys the node's action to a service before it runs (at start; after a failure, again at the
   * next message): resolves with the version deployed and the action's time limit (ms).
   */
  deploy?: () => Promise<{ version: string; timeoutMs?: number }>;
  /** The ring quotes the action's own words of a failure (an /init error), not only its short reason. */
  quoteAction?: boolean;
}

/** How much of an action's words a ring quotes. */
const RING_QUOTE_CHARS = 60;

/** Where an activation ran, as the runtime's metrics count it. */
export type Where = 'local' | 'cloud' | 'gateway' | 'burst';

/**
 * Told of every invocation's outcome (the runtime's metrics, lib/gateway/operators.ts): called once per
 * invocation, synchronously, and must not throw.
 */
export interface RunnerObserver {
  /** Done: its activation (successful or not) or, without one, the error it failed with. */
  done(ref: ActionRef, where: Where, activation: Activation | undefined, error?: unknown): void;
  /** A message the local runtime could not run goes to the burst target. */
  burst(ref: ActionRef): void;
}

export type RunnerTarget =
  | { mode: 'cloud'; service: OpenWhiskService; observe?: RunnerObserver }
  | {
      mode: 'local';
      observe?: RunnerObserver;
      catalog: Catalog;
      engine: Provisioner;
      /** Burst to the cloud through this service when the local queue is full or Docker is down. */
      burst?: OpenWhiskService;
      /** The runtime's bound on messages bursting at once, shared by its nodes and its API (default: one of this runner's own). */
      burstLimit?: BurstLimit;
    };

/** Messages of one runtime on their way to its burst target at once, in count and bytes of parameters. */
export interface BurstLimit {
  /** The runtime, as its error messages name it. */
  runtime: string;
  inFlight: InFlight;
}

/** Messages a runtime bursts at once, by default; its bytes are bounded by 8 × its max payload. */
export const BURST_MAX_MESSAGES = 64;

/** Local failures after which a message may run in the cloud instead (bursting); also no room at provisioning (reason 'capacity'). */
const BURSTABLE = new Set(['overload', 'unreachable', 'docker']);

/** A message the local runtime cannot take, and its burst target no more either (BurstLimit). */
function burstFull(limit: BurstLimit, bytes: number, local: OpenWhiskNodeError): OpenWhiskNodeError {
  const f = limit.inFlight;
  const why =
    f.count >= f.maxCount
      ? `${f.count} messages are already on their way there (at most ${f.maxCount} at once)`
      : `the messages already on their way there hold ${formatBytes(f.bytes)} of parameters, and this one's ${formatBytes(bytes)} would pass the ${formatBytes(f.maxBytes)} it sends at once`;
  return new OpenWhiskNodeError(
    'overload',
    `The local runtime '${limit.runtime}' cannot run this message (${local.short}) and cannot burst it to the cloud either: ${why}. ` +
      `The message was not sent. Send messages more slowly (e.g. a delay node in rate-limit mode) or smaller, or raise the capacity or the queue ` +
      `in the runtime config (it bursts at most ${BURST_MAX_MESSAGES} messages and 8 × its max payload at once).`,
    { short: 'burst full' },
  );
}

/** The first line of an action's words, cut for a ring. */
function firstLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l) ?? '';
  return line.length > RING_QUOTE_CHARS ? `${line.slice(0, RING_QUOTE_CHARS - 1)}…` : line;
}

/** Records where an activation ran in its annotations (msg.data), so flows can tell. */
function markWhere(activation: Activation, where: 'local' | 'cloud', burst: boolean): Activation {
  // An activation from another gateway's API carries its path ('hops'): it ran on a gateway.
  const tier = where === 'cloud' && (activation.annotations ?? []).some((a) => a.key === 'hops');
  activation.annotations = [...(activation.annotations ?? []), { key: 'where', value: tier ? 'gateway' : where }];
  if (burst) activation.annotations.push({ key: 'burst', value: true });
  return activation;
}

/**
 * Runs the action(s) of one openwhisk-action node: in cloud mode through the REST API,
 * in local mode in containers provisioned when the flow is deployed (or, for an action
 * named only by msg.action, at its first message).
 */
export class ActionRunner {
  private cloud?: CloudInvoker;
  private burst?: CloudInvoker;
  private burstLimit?: BurstLimit;
  /** "cached" while an action runs from the on-disk cache (the catalog was unreachable at deploy). */
  private note?: string;
  private readonly local = new Map<string, Promise<Invocable>>();
  private closed = false;
  /** What the status ring shows, and why (status.ts). */
  private ring: RingState = initialRing;
  /** Shows the ring: every change while they come slowly, the latest at most every 50 ms when they come fast. */
  private readonly shown: StatusThrottle<PhaseReport>;
  private readonly watch?: NodeJS.Timeout;
  /** The deploy under way or done (RunnerOptions.deploy); forgotten when it fails. */
  private deployed?: Promise<void>;
  private version?: string;
  private readonly onHealth = (h: EngineHealth) => {
    this.dispatch({ type: 'health', ...h, provisioned: this.local.size > 0, hasAction: !!this.defaultRef });
  };

  constructor(
    private readonly nodeId: string,
    private readonly target: RunnerTarget,
    private readonly defaultRef: ActionRef | undefined,
    report: (r: PhaseReport) => void,
    private readonly opts: RunnerOptions = {},
  ) {
    this.shown = new StatusThrottle(report);
    if (target.mode === 'cloud') this.cloud = new CloudInvoker(target.service);
    else {
      if (target.burst) {
        this.burst = new CloudInvoker(target.burst);
        this.burstLimit = target.burstLimit ?? { runtime: nodeId, inFlight: new InFlight(BURST_MAX_MESSAGES, 8 * 8 * 1048576) };
      }
      target.engine.on?.('health', this.onHealth);
      // Containers come and go while the node is idle (idle timeout, preemption): keep the count true.
      this.watch = setInterval(() => this.dispatch({ type: 'tick', provisioned: this.local.size > 0 }), 5000);
      this.watch.unref();
    }
  }

  get mode(): 'cloud' | 'local' {
    return this.target.mode;
  }

  /**
   * At deploy: check the action exists (cloud) or provision its containers (local). Never rejects:
   * resolves with the failure (already shown on the status ring) so the node can log its whole message.
   */
  async start(): Promise<OpenWhiskNodeError | Error | undefined> {
    if (!this.defaultRef) {
      this.dispatch({ type: 'idle' });
      return undefined;
    }
    if (this.target.mode === 'cloud' && this.opts.deploy) {
      try {
        await this.deploy();
        this.dispatch({ type: 'cloud-ready' });
      } catch (err) {
        // reported by deploy(); the next message tries again
        return err instanceof Error ? err : new Error(String(err));
      }
      return undefined;
    }
    if (this.target.mode === 'cloud') {
      this.dispatch({ type: 'phase', phase: 'fetching' });
      try {
        const doc = await this.target.service.getAction(this.defaultRef, false);
        this.cloud?.noteTimeout(this.defaultRef, doc?.limits?.timeout);
        this.dispatch({ type: 'cloud-ready' });
      } catch (err) {
        this.dispatch({ type: 'failed', failure: this.failureOf(err) });
        return err instanceof Error ? err : new Error(String(err));
      }
      return undefined;
    }
    try {
      await this.provisioned(this.defaultRef);
    } catch (err) {
      // reported by provisioned(); the next message tries again
      return err instanceof Error ? err : new Error(String(err));
    }
    return undefined;
  }

  /** Deploys the node's action (RunnerOptions.deploy) once; a failure shows on the ring and is tried again next time. */
  private deploy(): Promise<void> {
    const deploy = this.opts.deploy;
    if (!deploy) return Promise.resolve();
    if (!this.deployed) {
      const p = (async () => {
        this.dispatch({ type: 'phase', phase: 'deploying' });
        const d = await deploy();
        this.version = d.version || undefined;
        if (this.defaultRef) this.cloud?.noteTimeout(this.defaultRef, d.timeoutMs);
      })();
      this.deployed = p;
      p.catch((err) => {
        if (this.deployed === p) this.deployed = undefined;
        this.dispatch({ type: 'failed', failure: this.failureOf(err) });
      });
    }
    return this.deployed;
  }

  private provisioned(ref: ActionRef): Promise<Invocable> {
    if (this.target.mode !== 'local') throw new Error('not local');
    const key = qualifiedName(ref);
    let handle = this.local.get(key);
    if (!handle) {
      const { catalog, engine } = this.target;
      handle = (async () => {
        await this.deploy();
        this.dispatch({ type: 'phase', phase: 'fetching' });
        const doc = await catalog.getAction(ref);
        this.note = catalog.fromCache?.(doc) ? 'cached' : undefined;
        return engine.provision(this.nodeId, doc, catalog, (s) => this.dispatch({ type: 'phase', ...s }));
      })();
      this.local.set(key, handle);
      handle.then(
        (h) => {
          if (this.closed) {
            void h.close({ wait: 'stopped' });
            return;
          }
          this.dispatch({ type: 'provisioned' });
        },
        (err) => {
          // Forget the failure so the next message provisions again (the engine may be back).
          if (this.local.get(key) === handle) this.local.delete(key);
          this.dispatch({ type: 'failed', failure: this.failureOf(err) });
        },
      );
    }
    return handle;
  }

  /** `opts`: what the caller gives this invocation (the gateway API: the id it answered with, a wait for capacity, the via list). */
  async invoke(params: Record<string, unknown>, ref: ActionRef | undefined, opts?: InvokeOptions): Promise<Activation> {
    if (this.closed) throw new OpenWhiskNodeError('config', 'The node is closing.', { reason: 'closed' });
    if (!ref)
      throw new OpenWhiskNodeError('config', 'No action to invoke: set the action in the node, or send msg.action when the node leaves it empty.', {
        short: 'no action',
      });
    this.dispatch({ type: 'invoke-start' });
    let failure: Failure | undefined;
    /** Where it went: the observer's 'where' (a burst is one once it was sent to the burst target). */
    const went = { where: (this.cloud ? 'cloud' : 'local') as Where };
    try {
      if (this.cloud && this.opts.deploy) await this.deploy();
      const a = this.cloud ? markWhere(await this.cloud.invoke(params, ref, opts), 'cloud', false) : await this.invokeLocal(params, ref, went, opts);
      this.observed(ref, went.where, a);
      return a;
    } catch (err) {
      failure = this.failureOf(err);
      this.observed(ref, went.where, err instanceof OpenWhiskNodeError ? err.activation : undefined, err);
      throw err;
    } finally {
      this.dispatch({ type: 'invoke-end', failure });
    }
  }

  private observed(ref: ActionRef, where: Where, a: Activation | undefined, err?: unknown): void {
    const o = this.target.observe;
    if (!o) return;
    // A cloud activation from another gateway's API carries its path ('hops'): it ran on a gateway.
    const w = where === 'cloud' && (a?.annotations ?? []).some((k) => k.key === 'hops') ? 'gateway' : where;
    try {
      o.done(ref, w, a, err);
    } catch {
      /* metrics must never fail a message */
    }
  }

  private async invokeLocal(params: Record<string, unknown>, ref: ActionRef, went: { where: Where }, opts?: InvokeOptions): Promise<Activation> {
    try {
      return markWhere(await (await this.provisioned(ref)).invoke(params, ref, opts), 'local', false);
    } catch (err) {
      if (!this.burst || !(err instanceof OpenWhiskNodeError) || !(BURSTABLE.has(err.code) || err.reason === 'capacity')) throw err;
      // Local capacity exhausted or the engine down: the same action, in the cloud, within the runtime's burst limit.
      const limit = this.burstLimit!;
      const bytes = jsonBytes(params);
      if (!limit.inFlight.take(bytes)) throw burstFull(limit, bytes, err);
      went.where = 'burst';
      try {
        this.target.observe?.burst(ref);
      } catch {
        /* metrics must never fail a message */
      }
      try {
        return markWhere(await this.burst.invoke(params, ref, opts), 'cloud', true);
      } finally {
        limit.inFlight.release(bytes);
      }
    }
  }

  /** Feed the status reducer; show what it says, and do what it asks (count containers, provision again). */
  private dispatch(ev: RingEvent): void {
    if (this.closed) return;
    const r = reduceRing(this.ring, ev);
    this.ring = r.state;
    if (r.show) this.shown.push({ ...r.show, mode: this.target.mode, note: this.note, ...(this.version ? { version: this.version } : {}) });
    if (r.count) {
      if (this.target.mode === 'cloud') this.dispatch({ type: 'cloud-ready' });
      else void this.containerCount().then((n) => this.dispatch({ type: 'count', n }));
    }
    if (r.reprovision && this.defaultRef) void this.provisioned(this.defaultRef).catch(() => undefined);
  }

  private async containerCount(): Promise<number> {
    let n = 0;
    for (const p of this.local.values()) {
      try {
        n += (await p).containers ?? 0;
      } catch {
        // a failed provisioning counts no container
      }
    }
    return n;
  }

  private failureOf(err: unknown): Failure {
    const e = err instanceof OpenWhiskNodeError ? err : undefined;
    const quote = e && this.opts.quoteAction && e.detail ? firstLine(e.detail) : '';
    return {
      short: e ? (quote ? `${e.short}: ${quote}` : e.short) : 'failed',
      fromEngine: !!e && this.target.mode === 'local' && (e.code === 'unreachable' || e.code === 'docker'),
    };
  }

  /** Releases everything this node holds: its containers in local mode. */
  async close(): Promise<void> {
    this.dispatch({ type: 'close' });
    this.closed = true;
    this.shown.close();
    if (this.watch) clearInterval(this.watch);
    if (this.target.mode === 'local') this.target.engine.off?.('health', this.onHealth);
    await this.cloud?.close();
    await this.burst?.close();
    const handles = [...this.local.values()];
    this.local.clear();
    // A redeployed node's successor need not wait for Docker to remove the old containers: they keep
    // their capacity slots until gone, and the runtime's close (and its crash sweep) still removes them.
    await Promise.all(
      handles.map((p) =>
        p.then(
          (h) => h.close({ wait: 'stopped' }),
          () => undefined,
        ),
      ),
    );
  }
}
