// One action container's Docker lifecycle: create + attach + start through dockerode, why it
// stopped (crash, OOM, engine gone), re-attach after an outage, removal; where it is in that life
// is one explicit state (ContainerState) that moves only along the transitions of a table. What is
// said to the container over HTTP (readiness probe, /init once, /run per activation, log framing)
// is container-io.ts. The pool (pool.ts) decides which container runs what and when a container
// must be replaced: it reads the state, and is told (watch) when the state changes on its own. A
// stem cell (cells.ts) is a container launched without /init under a runtime-level plan;
// handOver() gives it an action's plan and its one /init.

import type http from 'node:http';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import { bounded, dockerMessage, dockerStatus, translateDockerError, type DockerTarget } from './docker';
import { ContainerIO, closedError, type ContainerLimits, type LossCause, type ProtocolPlan, type RunOutcome } from './container-io';
import { ISOLATION_NETWORK } from './options';

export { closedError };
export type { ContainerLimits, LossCause, RunFailure, RunOutcome } from './container-io';

/** Where containers run: the Docker client and how containers are reached (engine.ts fills it in at start). */
export interface DockerContext {
  readonly api: Docker;
  readonly target: DockerTarget;
  readonly agent: http.Agent;
  /** '' → publish 8080 on `publishIp` with a random host port; else join this network and use the container IP. */
  readonly network: string;
  /**
   * With no network: the bridge network the containers join (one with inter-container traffic off,
   * so an action cannot reach another action's container), or '' for Docker's default bridge.
   */
  readonly isolationNetwork: string;
  /** The isolation network went away (removed by hand): find or create it again, and update isolationNetwork. */
  renewIsolation(): Promise<void>;
  readonly publishIp: string;
  /** Host to connect to for a published port. */
  readonly connectHost: string;
  /** The daemon keeps containers running while it is down (live-restore): a lost log stream is not a lost container. */
  readonly liveRestore: boolean;
}

/** What a container reports to, and asks of, the engine's health (health.ts). */
export interface ContainerHealth {
  /** Set while the engine cannot be reached: what work needing Docker fails with. */
  readonly downError: OpenWhiskNodeError | undefined;
  /** Ping the engine on a fresh connection; false (and the engine marked down) when it cannot be reached. */
  reachable(): Promise<boolean>;
  /** A Docker call failed: the engine may be down, or out of room. */
  noteFailure(err: unknown): void;
  /** A container started: the engine works. */
  noteSuccess(): void;
}

/** The engine's list of the containers it created (removed on close, swept after an outage). */
export interface ContainerRegistry {
  readonly closed: boolean;
  track(c: ActionContainer): void;
  untrack(c: ActionContainer): void;
  /**
   * A create call is on its way to Docker: the container may exist before the engine hears of it,
   * so closing waits for the answer and then sweeps (a Node-RED stopping must not leave it behind).
   */
  creation<T>(call: Promise<T>): Promise<T>;
  /** A number for the next container's name. */
  nextSeq(): number;
  /** Removing this container failed (engine down?): try again later. */
  removalFailed(c: ActionContainer): void;
}

/** Everything a container needs from its runtime, as four narrow parts. */
export interface ContainerEnv {
  readonly docker: DockerContext;
  readonly health: ContainerHealth;
  readonly registry: ContainerRegistry;
  readonly limits: ContainerLimits;
}

/** Everything fixed per provisioned action, computed once (what the protocol needs, plus Docker's part). */
export interface ContainerPlan extends ProtocolPlan {
  nodeId: string;
  kind: string;
  labels: Record<string, string>;
  env: string[];
  /** Docker CPU shares (proportional to memory, as the invoker gives them). */
  cpuShares: number;
  /**
   * Its image keeps our runtimes' contract (images.ts STEM_CELL_SAFE_LABEL): it may wait as a stem
   * cell (cells.ts keeps none otherwise), and runs with a read-only root and a bounded /tmp.
   */
  cellSafe?: boolean;
}

const MAX_NAME_PART = 60;

export function containerName(nodeId: string, actionPath: string, seq: number): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `leon_${clean(nodeId).slice(0, MAX_NAME_PART)}_${clean(actionPath).slice(0, MAX_NAME_PART)}_${seq}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Bound on inspecting a container whose stream or connection was lost. */
const INSPECT_BOUND_MS = 5000;

/**
 * Where a container is in its life (after OpenWhisk's ContainerProxy states). How busy it is, is
 * not a state: `inflight` counts its /run calls (several at once with concurrency).
 */
export type ContainerState =
  /** Being created, attached and started; waiting for its proxy to listen. */
  | 'starting'
  /** Listening, without code: a stem cell, waiting to be handed over. */
  | 'started'
  /** Its one /init is in flight. */
  | 'initializing'
  /** Initialised: takes /run calls. */
  | 'ready'
  /** Its output stream ended and the cause is not known yet: no new work meanwhile. */
  | 'suspended'
  /**
   * The engine went away but keeps containers running (live-restore): it serves on without logs
   * until reattach() (after the outage) follows its output again, or finds it gone.
   */
  | 'detached'
  /** It died (crash, docker kill, OOM, engine stopped) or failed a run: never used again, to be removed. */
  | 'dead'
  /** remove() was called; it stays here while the engine cannot remove it (retried later). */
  | 'removing'
  /** Docker removed it (or it was never created). */
  | 'gone';

const LEGAL: Readonly<Record<ContainerState, readonly ContainerState[]>> = {
  starting: ['started', 'initializing', 'suspended', 'dead', 'removing'],
  started: ['initializing', 'suspended', 'dead', 'removing'],
  initializing: ['ready', 'suspended', 'dead', 'removing'],
  ready: ['suspended', 'dead', 'removing'],
  suspended: ['detached', 'dead', 'removing'],
  // reattach(): back to where its code is (none, /init in flight, loaded) once its output is followed again.
  detached: ['started', 'initializing', 'ready', 'dead', 'removing'],
  dead: ['removing'],
  removing: ['gone'],
  gone: [],
};

/** A container may go from `from` to `to`. */
export function canTransition(from: ContainerState, to: ContainerState): boolean {
  return LEGAL[from].includes(to);
}

/** States in which a container takes new /run calls. */
export function takesWork(state: ContainerState): boolean {
  return state === 'ready' || state === 'detached';
}

/** States after which a container is never used again (it is removed, or about to be). */
export function retired(state: ContainerState): boolean {
  return state === 'dead' || state === 'removing' || state === 'gone';
}

/** Told when a container changes state on its own: its stream ended (suspended), then the cause is known (detached or dead). */
export type ContainerWatcher = (c: ActionContainer) => void;

export class ActionContainer {
  id = '';
  name = '';
  inflight = 0;
  runs = 0;
  /** Duration of /init (ms); reported as initTime on the container's first activation. */
  initTime = 0;
  private current: ContainerState = 'starting';
  private used = Date.now();
  private watcher?: ContainerWatcher;
  /** Its code: none yet (a stem cell), /init sent (or attempted: a container never receives code twice), loaded. */
  private code: 'none' | 'sent' | 'loaded' = 'none';

  private readonly io: ContainerIO;
  /** Its attached output stream, until it ends (the container stopped, or the engine dropped the stream). */
  private stream?: NodeJS.ReadWriteStream;
  /** The removal under way (or failed) of the Docker container `id`, and its reason (a retry keeps it). */
  private removal?: { id: string; promise?: Promise<void>; reason: string };
  /** Why it stopped answering, asked once per loss. */
  private loss?: Promise<LossCause>;

  constructor(
    private readonly env: ContainerEnv,
    public plan: ContainerPlan,
  ) {
    this.io = new ContainerIO(this, env.docker.agent, env.limits, plan);
  }

  get state(): ContainerState {
    return this.current;
  }

  /** When it last finished a run, or became able to take one. */
  get lastUsed(): number {
    return this.used;
  }

  /** Who to tell when it changes state on its own (one watcher: its pool, or the stem cells; undefined: nobody). */
  watch(watcher: ContainerWatcher | undefined): void {
    this.watcher = watcher;
  }

  /** Move to `next`; false (and no change) when that is not a legal transition from the current state. */
  private to(next: ContainerState): boolean {
    const from = this.current;
    if (!canTransition(from, next)) return false;
    this.current = next;
    // Able to take work from now (a re-attached container's idle time runs on from its detaching).
    if (next === 'started' || next === 'detached' || (next === 'ready' && from !== 'detached')) this.used = Date.now();
    return true;
  }

  /** Its output stream ended (or was never attached): ContainerLink. */
  get exited(): boolean {
    return this.stream === undefined;
  }

  /** What the protocol side needs (ContainerLink): the engine's down error. */
  get downError(): OpenWhiskNodeError | undefined {
    return this.env.health.downError;
  }

  get label(): string {
    return `container ${this.name || '(unnamed)'} of ${this.plan.id.qualified}`;
  }

  /**
   * Create, start and initialise the container. Rejects with a clear OpenWhiskNodeError; whatever
   * was created is removed on failure. `phase` reports 'starting' / 'initializing'.
   */
  async launch(phase?: (p: 'starting' | 'initializing') => void, withInit = true): Promise<void> {
    try {
      phase?.('starting');
      await this.create();
      try {
        await this.start();
      } catch (err) {
        // The random host port Docker picked was taken meanwhile (rare race), or the isolation network
        // was removed (Docker checks it at start): one more try, on a network found or made again.
        const retry = err instanceof OpenWhiskNodeError && err.reason === 'port-in-use' ? 'port' : this.isolationGone(err) ? 'network' : undefined;
        if (!retry) throw err;
        await this.discardAttempt();
        if (retry === 'network') await this.env.docker.renewIsolation();
        await this.create();
        await this.start();
      }
      if (withInit) {
        phase?.('initializing');
        await this.init();
      } else await this.enter('started');
    } catch (err) {
      await this.remove().catch(() => undefined);
      if (!this.id) this.to('gone'); // its create failed, or was cancelled before it returned
      throw await this.launchFailure(err);
    }
    this.env.health.noteSuccess();
  }

  /** A stem cell that listens: warm its connection and the runtime's HTTP path (container-io.ts); never rejects. */
  warmUp(enough: () => boolean): Promise<void> {
    return this.io.warmUp(enough).catch(() => undefined);
  }

  /**
   * A started, uninitialised container (a stem cell) becomes one of `plan`'s: its /init with the
   * action's code. Refused for a container that was initialised (or tried) before, or is dead.
   * On failure the container is removed, as after a failed launch. Its Docker labels stay those
   * of a cell (they are immutable); it is renamed after the action, in the background.
   */
  async handOver(plan: ContainerPlan, phase?: (p: 'starting' | 'initializing') => void): Promise<void> {
    if (this.code !== 'none') throw new Error(`${this.label} was initialised already: a stem cell receives code at most once`);
    if (this.current !== 'started') throw closedError(`Handing over ${this.label}`);
    this.plan = plan;
    try {
      phase?.('initializing');
      await this.init();
    } catch (err) {
      await this.remove().catch(() => undefined);
      throw await this.launchFailure(err);
    }
    const name = containerName(plan.nodeId, plan.id.path, this.env.registry.nextSeq());
    // After its first run has had the CPU (a Docker call is not free on a small gateway).
    setTimeout(() => {
      if (retired(this.current)) return;
      void bounded((abortSignal) => this.env.docker.api.getContainer(this.id).rename({ name, abortSignal }), this.env.limits.startTimeout, this.env.docker.target, `renaming ${this.label}`).then(
        () => {
          this.name = name;
        },
        () => undefined, // a name in use or a slow engine: the pool knows which action it runs
      );
    }, 100).unref();
  }

  /** A container that died while starting because the engine went away fails as 'unreachable'. */
  private async launchFailure(err: unknown): Promise<unknown> {
    const e = err instanceof OpenWhiskNodeError ? err : undefined;
    if (e?.code === 'unreachable') {
      this.env.health.noteFailure(e);
      return this.env.health.downError ?? e;
    }
    if (e && e.reason !== 'closed' && e.code !== 'config' && !(await this.env.health.reachable())) return this.env.health.downError ?? e;
    this.env.health.noteFailure(err);
    return err;
  }

  /** The launch was cancelled, or the runtime closed: stop (ContainerLink). */
  check(): void {
    if (this.env.registry.closed || this.current === 'removing' || this.current === 'gone') throw closedError(`Starting ${this.label}`);
  }

  private async create(): Promise<void> {
    const { plan, env: h } = this;
    const mem = Math.round(plan.limits.memory) * 1024 * 1024;
    const hostConfig: Docker.HostConfig = {
      Memory: mem,
      MemorySwap: mem,
      CpuShares: plan.cpuShares,
      CapDrop: ['NET_RAW', 'NET_ADMIN'],
      PidsLimit: 1024,
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': `${Math.max(1, Math.ceil(plan.limits.logs))}m`, 'max-file': '1' } },
      // No setuid way back to privileges the container was started without.
      SecurityOpt: ['no-new-privileges'],
    };
    if (plan.cellSafe) {
      // Our runtimes write only under /tmp (images.ts STEM_CELL_SAFE_LABEL): a read-only root, and a
      // /tmp in memory the size of the action's memory limit (its pages count against that limit), so
      // action code cannot fill the Docker host's disk.
      hostConfig.ReadonlyRootfs = true;
      hostConfig.Tmpfs = { '/tmp': `rw,nosuid,nodev,size=${Math.round(plan.limits.memory)}m` };
    }
    if (h.docker.network) hostConfig.NetworkMode = h.docker.network;
    else {
      if (h.docker.isolationNetwork) hostConfig.NetworkMode = h.docker.isolationNetwork;
      hostConfig.PortBindings = { '8080/tcp': [{ HostIp: h.docker.publishIp, HostPort: '' }] };
    }
    let name = containerName(plan.nodeId, plan.id.path, h.registry.nextSeq());
    for (let attempt = 0; ; attempt++) {
      this.check();
      if (!h.docker.network && h.docker.isolationNetwork) hostConfig.NetworkMode = h.docker.isolationNetwork;
      try {
        const created = await bounded((abortSignal) => h.registry.creation(h.docker.api.createContainer({
          name,
          Image: plan.image,
          Env: plan.env,
          Labels: plan.labels,
          Tty: false,
          OpenStdin: false,
          AttachStdin: false,
          AttachStdout: true,
          AttachStderr: true,
          ExposedPorts: { '8080/tcp': {} },
          HostConfig: hostConfig,
          abortSignal,
        })), h.limits.startTimeout, h.docker.target, `creating a container for ${plan.id.qualified}`);
        this.id = created.id;
        this.name = name;
        h.registry.track(this);
        break;
      } catch (err) {
        if (dockerStatus(err) === 409 && attempt < 3) {
          // Name in use (a container of another Node-RED process with the same flow): pick another.
          name = `${containerName(plan.nodeId, plan.id.path, h.registry.nextSeq())}_${Math.random().toString(16).slice(2, 8)}`;
          continue;
        }
        if (this.isolationGone(err) && attempt < 3) {
          await h.docker.renewIsolation();
          continue;
        }
        const missing = this.missingNetwork(err);
        if (missing) throw missing;
        throw translateDockerError(err, h.docker.target, `creating a container for ${plan.id.qualified} from image '${plan.image}'`);
      }
    }
    this.check();
    // Attach before start so no output is missed; Tty is false, so the stream is multiplexed.
    await this.attach();
  }

  private async attach(): Promise<void> {
    const h = this.env;
    try {
      const stream = await bounded(
        (abortSignal) => h.docker.api.getContainer(this.id).attach({ stream: true, stdout: true, stderr: true, logs: false, abortSignal }),
        h.limits.startTimeout,
        h.docker.target,
        `attaching to ${this.label}`,
      );
      this.stream = stream;
      const sinks = this.io.sinks;
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

  /**
   * The port retry of a launch: remove this attempt's Docker container and forget it, so create()
   * makes a fresh one. The container stays 'starting'. If Docker cannot remove it, the launch fails
   * and its remove() tries again.
   */
  private async discardAttempt(): Promise<void> {
    const h = this.env;
    this.detachStream();
    this.io.abortAll('retry');
    try {
      await bounded((abortSignal) => h.docker.api.getContainer(this.id).remove({ force: true, v: true, abortSignal }), h.limits.startTimeout, h.docker.target, `removing ${this.label}`);
    } catch (err) {
      if (dockerStatus(err) !== 404) throw translateDockerError(err, h.docker.target, `removing ${this.label}`);
    }
    h.registry.untrack(this);
    this.id = '';
    this.name = '';
    this.loss = undefined;
    // The failed attempt's output stream may have ended already (Docker ends it when the start
    // fails): that was the old container's, the next attempt starts afresh.
    if (this.current === 'suspended' || this.current === 'dead') this.current = 'starting';
    this.io.restartLogs(this.plan);
  }

  /** Stop following its output (removal, or a discarded attempt): what is buffered is flushed. */
  private detachStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      stream.removeAllListeners('data');
      if ('destroy' in stream && typeof stream.destroy === 'function') stream.destroy();
      this.io.outputEnded();
    }
  }

  /**
   * The isolation network this container names is gone (someone removed it), or ambiguous: another
   * process created a duplicate a moment ago (engines before Docker 25 resolve a container's networks
   * by name at start) that its reconciliation has not removed yet. Found or made again, then one more try.
   */
  private isolationGone(err: unknown): boolean {
    const cause = err instanceof OpenWhiskNodeError ? err.cause : err;
    return Boolean(this.env.docker.isolationNetwork) && !this.env.docker.network && (networkGone(cause) || networkAmbiguous(cause));
  }

  /** Docker says "network X not found" (at create or at start, depending on the engine version). */
  private missingNetwork(err: unknown): OpenWhiskNodeError | undefined {
    const h = this.env;
    if (!h.docker.network || !networkGone(err)) return undefined;
    return new OpenWhiskNodeError(
      'config',
      `Docker network '${h.docker.network}' does not exist on ${h.docker.target.description}: create it (docker network create ${h.docker.network}), ` +
        `or clear the network in the runtime config to reach containers through a port published on ${h.docker.publishIp}.`,
      { short: 'no network', cause: err },
    );
  }

  private async start(): Promise<void> {
    const h = this.env;
    this.check();
    try {
      await bounded((abortSignal) => h.docker.api.getContainer(this.id).start({ abortSignal }), h.limits.startTimeout, h.docker.target, `starting ${this.label}`);
    } catch (err) {
      throw this.missingNetwork(err) ?? translateDockerError(err, h.docker.target, `starting ${this.label}`);
    }
    let info: Docker.ContainerInspectInfo;
    try {
      info = await bounded((abortSignal) => h.docker.api.getContainer(this.id).inspect({ abortSignal }), h.limits.startTimeout, h.docker.target, `inspecting ${this.label}`);
    } catch (err) {
      throw translateDockerError(err, h.docker.target, `inspecting ${this.label}`);
    }
    if (h.docker.network) {
      const net = info.NetworkSettings?.Networks?.[h.docker.network];
      this.io.host = net?.IPAddress ?? '';
      this.io.port = 8080;
      if (!this.io.host) {
        throw new OpenWhiskNodeError(
          'docker',
          `${this.label} has no IP address on Docker network '${h.docker.network}' (network mode ${info.HostConfig?.NetworkMode}). ` +
            `Use a user-defined bridge network, or clear the network in the runtime config.`,
          { short: 'no container IP' },
        );
      }
    } else {
      const binding = info.NetworkSettings?.Ports?.['8080/tcp']?.[0];
      this.io.host = h.docker.connectHost;
      this.io.port = Number(binding?.HostPort ?? 0);
      if (!this.io.port) {
        if (!info.State?.Running) throw await this.exitedError('did not start');
        throw new OpenWhiskNodeError('docker', `Docker published no host port for port 8080 of ${this.label}.`, {
          short: 'no port',
        });
      }
    }
    await this.io.waitReady(this.plan, Boolean(h.docker.network));
  }

  private async init(): Promise<void> {
    this.check();
    if (this.code !== 'none') throw new Error(`${this.label} was initialised already`);
    await this.enter('initializing');
    this.code = 'sent';
    this.initTime = await this.io.init(this.plan);
    this.code = 'loaded';
    // Its stream ended meanwhile: it stays suspended (or detached) until the cause is known, then
    // its watcher is told; once re-attached it is 'ready'.
    if (this.current === 'suspended' || this.current === 'detached') return;
    await this.enter('ready');
  }

  /** Move on in a launch or hand-over; when it stopped or was removed meanwhile, fail as that. */
  private async enter(next: ContainerState): Promise<void> {
    if (this.to(next)) return;
    this.check();
    throw await this.exitedError(`stopped before it was ${next === 'initializing' ? 'initialised' : 'ready'}`);
  }

  /**
   * POST /run with a prepared body (container-io.ts). Never rejects: the outcome says what
   * happened. A run that did not end in HTTP 200 leaves the container dead (never used again).
   */
  async run(body: string, timeoutMs: number): Promise<RunOutcome> {
    this.inflight++;
    this.runs++;
    const exchange = await this.io.run(body, timeoutMs);
    this.inflight--;
    this.used = Date.now();
    const fatal = !exchange.reply || exchange.reply.status !== 200;
    const outcome: RunOutcome = { ...exchange, fatal };
    if (fatal) this.to('dead');
    if (exchange.failure === 'dropped') {
      const cause = await this.lossCause();
      outcome.oom = cause === 'oom';
      outcome.engineLost = cause === 'engine';
    }
    return outcome;
  }

  private onStreamEnd(): void {
    this.stream = undefined;
    this.io.outputEnded();
    // No new work until we know why (unless it is being removed, or known broken, already). A
    // killed container is told apart within milliseconds (then its calls fail now: on a Docker
    // network a killed container's socket may never reset). When the engine went away but keeps
    // its containers (live-restore), this one goes on serving without logs, and gets them
    // re-attached once the engine is back.
    if (!this.to('suspended')) return;
    this.watcher?.(this);
    void this.lossCause().then((cause) => {
      if (this.current !== 'suspended') return;
      if (cause === 'engine' && this.env.docker.liveRestore) {
        this.to('detached');
        this.loss = undefined; // a later failure gets its own diagnosis
        this.watcher?.(this);
        return;
      }
      this.die();
    });
  }

  /** The container is gone on its own: fail its calls, tell its watcher. */
  private die(): void {
    this.io.abortAll('exited');
    if (this.to('dead')) this.watcher?.(this);
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
      const info = await bounded((abortSignal) => this.env.docker.api.getContainer(this.id).inspect({ abortSignal }), INSPECT_BOUND_MS, this.env.docker.target, `inspecting ${this.label}`);
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
    if (this.current !== 'detached') return;
    let running = false;
    try {
      const info = await bounded((abortSignal) => this.env.docker.api.getContainer(this.id).inspect({ abortSignal }), INSPECT_BOUND_MS, this.env.docker.target, `inspecting ${this.label}`);
      running = info.State?.Running === true;
    } catch (err) {
      const e = translateDockerError(err, this.env.docker.target, `inspecting ${this.label}`);
      if (e.code === 'unreachable') return; // down again: the next recovery tries again
    }
    if (running && this.current === 'detached') {
      this.io.restartLogs(this.plan);
      try {
        await this.attach();
        if (this.current !== 'detached') return;
        this.to(this.code === 'none' ? 'started' : this.code === 'sent' ? 'initializing' : 'ready');
        return;
      } catch {
        /* cannot follow its logs: replace it */
      }
    }
    if (this.current === 'detached') this.die();
  }

  /** An error saying the container exited while doing `what`, with its exit state and logs (ContainerLink). */
  async exitedError(what: string): Promise<OpenWhiskNodeError> {
    let state = '';
    try {
      const info = await bounded((abortSignal) => this.env.docker.api.getContainer(this.id).inspect({ abortSignal }), INSPECT_BOUND_MS, this.env.docker.target, `inspecting ${this.label}`);
      const s = info.State;
      state = s ? ` (exit code ${s.ExitCode}${s.OOMKilled ? ', killed: out of memory' : ''}${s.Error ? `, ${s.Error}` : ''})` : '';
    } catch {
      /* gone already */
    }
    return new OpenWhiskNodeError(
      'developer_error',
      `${this.label} (image '${this.plan.image}') ${what}${state}. ${this.io.logsSection()}`,
      { short: 'container exited' },
    );
  }

  /**
   * Force-remove the container (idempotent, ignores "already gone"), failing any call still open.
   * When the engine cannot do it (down), the container stays 'removing' and is handed to the
   * engine's registry to retry later (the same reason unless given another); the next call tries again.
   */
  remove(reason?: string): Promise<void> {
    const removal = this.removal;
    // Memoised per Docker container: a removal that ran before createContainer returned must run again for the new id.
    if (removal?.promise && removal.id === this.id) return removal.promise;
    this.to('removing');
    const why = reason ?? removal?.reason ?? 'closed';
    this.io.abortAll(why);
    this.detachStream();
    const id = this.id;
    const next: { id: string; promise?: Promise<void>; reason: string } = { id, reason: why };
    this.removal = next;
    next.promise = (async () => {
      if (id) {
        try {
          await bounded((abortSignal) => this.env.docker.api.getContainer(id).remove({ force: true, v: true, abortSignal }), this.env.limits.startTimeout, this.env.docker.target, `removing ${this.label}`);
        } catch (err) {
          const s = dockerStatus(err);
          // 404: gone already; 409: removal already in progress.
          if (s !== 404 && s !== 409) {
            const e = translateDockerError(err, this.env.docker.target, `removing ${this.label}`);
            next.promise = undefined; // the next call tries again
            this.env.health.noteFailure(e);
            this.env.registry.removalFailed(this);
            throw e;
          }
        }
      }
      this.env.registry.untrack(this);
      // With no id, a create may still be on its way back: launch() says when it is gone.
      if (id && this.removal === next && this.id === id) this.to('gone');
    })();
    return next.promise;
  }
}

/** Docker says a network the container names does not exist. */
function networkGone(err: unknown): boolean {
  return dockerStatus(err) === 404 && /network/i.test(dockerMessage(err));
}

/** "network leon-openwhisk-isolated is ambiguous (2 matches found on name)". */
function networkAmbiguous(err: unknown): boolean {
  return new RegExp(`network ${ISOLATION_NETWORK} is ambiguous`, 'i').test(dockerMessage(err));
}
