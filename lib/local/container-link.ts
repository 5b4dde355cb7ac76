// One action container's link to its Docker container, and where it is in its life: its state
// (container-states.ts, moved only by that table's events), its attached output stream, what the
// stream's end means (why it stopped: crash, OOM, engine gone), and re-attaching after an outage
// the engine kept it running through (live-restore). The container itself (container.ts) builds
// on this: launch, hand-over, runs, removal.

import { bounded, translateDockerError } from './docker';
import { step, type ContainerEvent, type ContainerState, type Machine } from './container-states';
import { INSPECT_BOUND_MS, type ContainerEnv, type ContainerPlan } from './container-setup';
import { ProxyClient, type LossCause } from './proxy-client';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export abstract class ContainerLink {
  id = '';
  name = '';
  protected machine: Machine = { state: 'starting' };
  protected used = Date.now();
  private watcher?: (c: this) => void;

  protected readonly client: ProxyClient;
  /** Its attached output stream, until it ends (the container stopped, or the engine dropped the stream). */
  private stream?: NodeJS.ReadWriteStream;
  /** Why it stopped answering, asked once per loss. */
  protected loss?: Promise<LossCause>;

  constructor(
    protected readonly env: ContainerEnv,
    public plan: ContainerPlan,
  ) {
    this.client = new ProxyClient(env.docker.agent, env.limits, plan);
  }

  get state(): ContainerState {
    return this.machine.state;
  }

  /** When it last finished a run, or became able to take one. */
  get lastUsed(): number {
    return this.used;
  }

  /** Who to tell when it changes state on its own (one watcher: its pool, or the stem cells; undefined: nobody). */
  watch(watcher: ((c: this) => void) | undefined): void {
    this.watcher = watcher;
  }

  /**
   * `event` happened: move where the state table says. False (and no change) when the event comes
   * too late to matter in this state; throws ContainerStateError when this state cannot take it.
   */
  protected fire(event: ContainerEvent): boolean {
    const next = step(this.machine, event, this.label);
    if (next === 'ignore') return false;
    this.machine = next.to;
    // Able to take work from now (a re-attached container's idle time runs on from its detaching).
    if (next.touch) this.used = Date.now();
    return true;
  }

  /** Its output stream ended (or was never attached). */
  get exited(): boolean {
    return this.stream === undefined;
  }

  get label(): string {
    return `container ${this.name || '(unnamed)'} of ${this.plan.id.qualified}`;
  }

  protected async attach(): Promise<void> {
    const h = this.env;
    try {
      const stream = await bounded(
        (abortSignal) => h.docker.api.getContainer(this.id).attach({ stream: true, stdout: true, stderr: true, logs: false, abortSignal }),
        h.limits.startTimeout,
        h.docker.target,
        `attaching to ${this.label}`,
      );
      this.stream = stream;
      const sinks = this.client.sinks;
      h.docker.api.modem.demuxStream(stream, sinks.stdout as NodeJS.WritableStream, sinks.stderr as NodeJS.WritableStream);
      const ended = () => {
        if (this.stream === stream) this.onStreamEnd();
      };
      stream.on('end', ended);
      stream.on('close', ended);
      stream.on('error', ended);
    } catch (err) {
      throw translateDockerError(err, h.docker.target, `attaching to ${this.label}`);
    }
  }

  /** Stop following its output (removal, or a discarded attempt): what is buffered is flushed. */
  protected detachStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.removeAllListeners('data');
      if ('destroy' in stream && typeof stream.destroy === 'function') stream.destroy();
      this.client.outputEnded();
    }
  }

  private onStreamEnd(): void {
    this.stream = undefined;
    this.client.outputEnded();
    // No new work until we know why (unless it is being removed, or known broken, already). A
    // killed container is told apart within milliseconds (then its calls fail now: on a Docker
    // network a killed container's socket may never reset). When the engine went away but keeps
    // its containers (live-restore), this one goes on serving without logs, and gets them
    // re-attached once the engine is back.
    if (!this.fire('streamEnded')) return;
    this.watcher?.(this);
    void this.lossCause().then((cause) => {
      if (this.state !== 'suspended') return;
      if (cause === 'engine' && this.env.docker.liveRestore) {
        this.fire('outageKept');
        this.loss = undefined; // a later failure gets its own diagnosis
        this.watcher?.(this);
        return;
      }
      this.die();
    });
  }

  /** The container is gone on its own: fail its calls, tell its watcher. */
  private die(): void {
    this.client.abortAll('exited');
    if (this.fire('died')) this.watcher?.(this);
  }

  /** Why it stopped answering (asked once per loss; the run and the stream both ask). */
  lossCause(): Promise<LossCause> {
    if (!this.loss) this.loss = this.findLossCause();
    return this.loss;
  }

  private async findLossCause(): Promise<LossCause> {
    if (!this.id) return 'exited';
    // Give the attach stream a moment to report the exit (it usually trails the dropped connection).
    for (let i = 0; i < 10 && !this.exited; i++) await sleep(20);
    if (!(await this.env.health.reachable())) return 'engine';
    try {
      const info = await bounded(
        (abortSignal) => this.env.docker.api.getContainer(this.id).inspect({ abortSignal }),
        INSPECT_BOUND_MS,
        this.env.docker.target,
        `inspecting ${this.label}`,
      );
      return info.State?.OOMKilled === true ? 'oom' : 'exited';
    } catch (err) {
      const e = translateDockerError(err, this.env.docker.target, `inspecting ${this.label}`);
      if (e.code === 'unreachable') {
        this.env.health.noteFailure(e);
        return 'engine';
      }
      return 'exited';
    }
  }

  /**
   * The engine is back after an outage that cut this container's log stream (live-restore): still
   * running → logs re-attached, and back to where its code was; anything else → dead (its watcher is told).
   */
  async reattach(): Promise<void> {
    if (this.state !== 'detached') return;
    let running = false;
    try {
      const info = await bounded(
        (abortSignal) => this.env.docker.api.getContainer(this.id).inspect({ abortSignal }),
        INSPECT_BOUND_MS,
        this.env.docker.target,
        `inspecting ${this.label}`,
      );
      running = info.State?.Running === true;
    } catch (err) {
      const e = translateDockerError(err, this.env.docker.target, `inspecting ${this.label}`);
      if (e.code === 'unreachable') return; // down again: the next recovery tries again
    }
    if (running && this.state === 'detached') {
      this.client.restartLogs(this.plan);
      try {
        await this.attach();
        if (this.state !== 'detached') return;
        this.fire('reattached');
        return;
      } catch {
        /* cannot follow its logs: replace it */
      }
    }
    if (this.state === 'detached') this.die();
  }
}
