import { CloudInvoker } from './cloud';
import { OpenWhiskNodeError } from './errors';
import { qualifiedName, type OpenWhiskService } from './service';
import type { ActionDoc, ActionInvoker, ActionRef, Activation, Catalog } from './types';

/** What the node's status ring shows. */
export type Phase =
  | 'idle'
  | 'fetching'
  | 'pulling'
  | 'starting'
  | 'initializing'
  | 'ready'
  | 'invoking'
  | 'error';

export interface PhaseReport {
  phase: Phase;
  /** Detail: container count for 'ready', in-flight count for 'invoking', short reason for 'error'. */
  detail?: string | number;
  mode: 'cloud' | 'local';
  /** Where the action ran from, e.g. "cached" when the catalog was unreachable. */
  note?: string;
}

export interface LocalStatusEvent {
  phase: 'fetching' | 'pulling' | 'starting' | 'initializing' | 'ready';
  detail?: string | number;
}

/** A provisioned local action: containers running its code. */
export interface LocalActionHandle extends ActionInvoker {
  readonly containers: number;
}

/** The part of the local Docker engine the runner needs. */
export interface LocalProvisioner {
  provision(nodeId: string, action: ActionDoc, catalog: Catalog, onStatus?: (s: LocalStatusEvent) => void): Promise<LocalActionHandle>;
  /** 'health' events: the Docker engine went down, lacks room, or is ok again. */
  on?(event: 'health', listener: (h: { state: 'ok' | 'down' | 'degraded'; short?: string }) => void): unknown;
  off?(event: 'health', listener: (h: { state: 'ok' | 'down' | 'degraded'; short?: string }) => void): unknown;
}

export type RunnerTarget =
  | { mode: 'cloud'; service: OpenWhiskService }
  | {
      mode: 'local';
      catalog: Catalog;
      engine: LocalProvisioner;
      /** Burst to the cloud through this service when the local queue is full or Docker is down. */
      burst?: OpenWhiskService;
    };

/** Local failures after which a message may run in the cloud instead (bursting). */
const BURSTABLE = new Set(['overload', 'unreachable', 'docker']);

/** Records where an activation ran in its annotations (msg.data), so flows can tell. */
function markWhere(activation: Activation, where: 'local' | 'cloud', burst: boolean): Activation {
  // issue 13: an activation from another gateway's API carries its path ('hops'): it ran on a gateway.
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
  /** "cached" while an action runs from the on-disk cache (the catalog was unreachable at deploy). */
  private note?: string;
  private readonly local = new Map<string, Promise<LocalActionHandle>>();
  private inflight = 0;
  private closed = false;
  private lastError?: string;
  private engineProblem?: string;
  private lastCount = -1;
  private readonly watch?: NodeJS.Timeout;
  /** Whether the last failure came from the Docker engine (gone, or out of room) rather than the action. */
  private lastErrorFromEngine = false;
  private readonly onHealth = (h: { state: 'ok' | 'down' | 'degraded'; short?: string }) => {
    this.engineProblem = h.state === 'ok' ? undefined : h.short ?? `docker ${h.state}`;
    if (this.inflight > 0 || this.closed) return;
    if (this.engineProblem) {
      this.emit({ phase: 'error', detail: this.engineProblem });
      return;
    }
    if (this.local.size > 0) {
      this.lastError = undefined;
      this.emitReady();
      return;
    }
    // Nothing provisioned: the node has no action of its own, or provisioning it failed. An engine
    // back from an outage is no news for the first; for the second, only an engine-caused failure
    // is worth another try, any other (a failed /init, a missing action) keeps showing.
    if (!this.defaultRef) this.emit({ phase: 'idle' });
    else if (this.lastError && this.lastErrorFromEngine) void this.provisioned(this.defaultRef).catch(() => undefined);
    else this.emit(this.lastError ? { phase: 'error', detail: this.lastError } : { phase: 'idle' });
  };

  constructor(
    private readonly nodeId: string,
    private readonly target: RunnerTarget,
    private readonly defaultRef: ActionRef | undefined,
    private readonly report: (r: PhaseReport) => void,
  ) {
    if (target.mode === 'cloud') this.cloud = new CloudInvoker(target.service);
    else {
      if (target.burst) this.burst = new CloudInvoker(target.burst);
      target.engine.on?.('health', this.onHealth);
      // Containers come and go while the node is idle (idle timeout, preemption): keep the count true.
      this.watch = setInterval(() => {
        if (this.local.size > 0 && this.inflight === 0 && !this.lastError && !this.engineProblem) this.emitReady();
      }, 5000);
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
      this.emit({ phase: 'idle' });
      return undefined;
    }
    if (this.target.mode === 'cloud') {
      this.emit({ phase: 'fetching' });
      try {
        const doc = await this.target.service.getAction(this.defaultRef, false);
        this.cloud?.noteTimeout(this.defaultRef, doc?.limits?.timeout);
        this.emit({ phase: 'ready' });
      } catch (err) {
        this.fail(err);
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

  private provisioned(ref: ActionRef): Promise<LocalActionHandle> {
    if (this.target.mode !== 'local') throw new Error('not local');
    const key = qualifiedName(ref);
    let handle = this.local.get(key);
    if (!handle) {
      const { catalog, engine } = this.target;
      handle = (async () => {
        this.emit({ phase: 'fetching' });
        const doc = await catalog.getAction(ref);
        this.note = catalog.fromCache?.(doc) ? 'cached' : undefined;
        return engine.provision(this.nodeId, doc, catalog, (s) => {
          if (s.phase !== 'ready') this.emit({ phase: s.phase, detail: s.detail });
          // Ready, unless messages are already waiting for it: then they are being invoked.
          else if (this.inflight > 0) this.emit({ phase: 'invoking', detail: this.inflight });
          else this.emitReady();
        });
      })();
      this.local.set(key, handle);
      handle.then(
        (h) => {
          if (this.closed) {
            void h.close();
            return;
          }
          if (this.lastErrorFromEngine) this.lastError = undefined; // provisioned after all: the engine is back
          if (this.inflight === 0) this.emitReady();
        },
        (err) => {
          // Forget the failure so the next message provisions again (the engine may be back).
          if (this.local.get(key) === handle) this.local.delete(key);
          this.fail(err);
        },
      );
    }
    return handle;
  }

  async invoke(params: Record<string, unknown>, ref: ActionRef | undefined): Promise<Activation> {
    if (this.closed) throw new OpenWhiskNodeError('config', 'The node is closing.', { short: 'closed' });
    if (!ref) throw new OpenWhiskNodeError('config', 'No action to invoke: set the action in the node, or send msg.action when the node leaves it empty.', { short: 'no action' });
    this.inflight++;
    this.emit({ phase: 'invoking', detail: this.inflight });
    try {
      const activation = this.cloud
        ? markWhere(await this.cloud.invoke(params, ref), 'cloud', false)
        : await this.invokeLocal(params, ref);
      this.lastError = undefined;
      return activation;
    } catch (err) {
      this.noteError(err);
      throw err;
    } finally {
      this.inflight--;
      if (!this.closed) {
        if (this.inflight > 0) this.emit({ phase: 'invoking', detail: this.inflight });
        else if (this.lastError) this.emit({ phase: 'error', detail: this.lastError });
        else this.emitReady();
      }
    }
  }

  private async invokeLocal(params: Record<string, unknown>, ref: ActionRef): Promise<Activation> {
    try {
      return markWhere(await (await this.provisioned(ref)).invoke(params, ref), 'local', false);
    } catch (err) {
      if (!this.burst || !(err instanceof OpenWhiskNodeError) || !BURSTABLE.has(err.code)) throw err;
      // Local capacity exhausted or the engine down: the same action, in the cloud.
      return markWhere(await this.burst.invoke(params, ref), 'cloud', true);
    }
  }

  private emitReady(): void {
    if (this.target.mode === 'cloud') {
      this.emit({ phase: 'ready' });
      return;
    }
    void this.containerCount().then((n) => {
      if (this.closed || this.inflight > 0 || this.lastError || (n === this.lastCount && this.reportedReady)) return;
      this.lastCount = n;
      this.reportedReady = true;
      this.emit({ phase: 'ready', detail: n });
    });
  }

  private async containerCount(): Promise<number> {
    let n = 0;
    for (const p of this.local.values()) {
      try {
        n += (await p).containers;
      } catch {
        // a failed provisioning counts no container
      }
    }
    return n;
  }

  private noteError(err: unknown): void {
    this.lastError = err instanceof OpenWhiskNodeError ? err.short : 'failed';
    this.lastErrorFromEngine = err instanceof OpenWhiskNodeError && this.target.mode === 'local' && (err.code === 'unreachable' || err.code === 'docker');
  }

  private fail(err: unknown): void {
    this.noteError(err);
    this.emit({ phase: 'error', detail: this.lastError });
  }

  private reportedReady = false;

  private emit(r: Omit<PhaseReport, 'mode'>): void {
    if (r.phase !== 'ready') this.reportedReady = false;
    if (!this.closed) this.report({ ...r, mode: this.target.mode, note: this.note });
  }

  /** Releases everything this node holds: its containers in local mode. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.watch) clearInterval(this.watch);
    if (this.target.mode === 'local') this.target.engine.off?.('health', this.onHealth);
    await this.cloud?.close();
    await this.burst?.close();
    const handles = [...this.local.values()];
    this.local.clear();
    await Promise.all(handles.map((p) => p.then((h) => h.close(), () => undefined)));
  }
}
