// The local Docker runtime: one LocalEngine per runtime config node. It provisions actions (and
// sequences) into warm pools of action containers, shares a container capacity between them
// (idle timeouts and OpenWhisk-Light's watermark preemption, preempt.ts), watches the Docker engine
// (health: ok / down / degraded, recovering by itself after an outage), and removes what it
// created on close. No Node-RED imports: the nodes call this API.
//
// Behaviour under faults (test/integration/faults.test.js):
// - dockerd stops: it closes its socket first (new connections fail at once, kept-alive ones
//   answer a little longer, hence probes on fresh connections), then stops every container unless
//   live-restore is on. Runs in flight fail with code 'unreachable'; so do messages that need a new
//   container while it is down. Pools emptied by the outage start one container again once it is
//   back; containers that could not be removed meanwhile are removed then.
// - live-restore: containers keep running and keep serving (reached by IP on a Docker network; a
//   published port dies with dockerd's docker-proxy), without logs until they are re-attached.
// - a container killed or OOM-killed: its run fails as the platform says (developer_error); it is
//   replaced. No room on the host (disk, memory): code 'docker' with what to do; health degraded.

import dns from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, Catalog } from '../types';
import { ActionContainer, closedError, type ContainerPlan } from './container';
import {
  NO_ROOM_SHORTS,
  bounded,
  createDocker,
  createProbeDocker,
  dockerStatus,
  ensureImage,
  parseDockerTarget,
  translateDockerError,
  type DockerTarget,
  type EnginePlatform,
} from './docker';
import { createAgent } from './http';
import { resolveImage, supportsConcurrency, type ResolvedImage } from './images';
import { PoolAction, type LocalAction, type LocalStatus, type PoolHost, type Runnable } from './pool';
import { pickVictim, selectRemovals, type ContainerView } from './preempt';
import {
  apiKeyAllowed,
  effectiveLimits,
  identityOf,
  parseQualifiedName,
  splitParams,
} from './protocol';
import { SequenceAction } from './sequence';

export type { LocalAction, LocalPhase, LocalStatus } from './pool';

export interface LocalEngineOptions {
  /** '' = DOCKER_HOST or the default socket; 'unix:///path', '/path', 'tcp://host:2375', 'http://…', 'https://…', 'ssh://user@host'. */
  docker?: string;
  /** The Node-RED instance: labels every container; start() sweeps this instance's leftovers. */
  instanceId: string;
  /** The runtime config node id (label). */
  runtimeId: string;
  /** kind → image ('nodejs:20', or a family wildcard 'nodejs:*'). */
  imageOverrides?: Record<string, string>;
  /**
   * The platform images must be built for, e.g. 'linux/arm64' (default: the Docker engine's). Only for an
   * engine that runs another architecture's images under emulation (qemu binfmt), e.g. to try Pi images on a PC.
   */
  platform?: string;
  /** '' = publish 8080 on 127.0.0.1 with a random host port; else join this Docker network and use the container IP. */
  network?: string;
  /** Max containers for the whole runtime (default 4). */
  capacity?: number;
  /** Max messages waiting per action (default 100). */
  queueLimit?: number;
  /** Value of __OW_API_HOST in every container. */
  apiHost?: string;
  /** Given to actions (/init env __OW_API_KEY, /run api_key) only if their provide-api-key annotation allows. */
  apiKey?: string;
  /** Largest /run parameters in bytes (default 8 MB; OpenWhisk's proxies accept up to 48 MB). */
  maxPayload?: number;
  /**
   * Largest /init or /run reply read from a container, in bytes (default 1 MB, OpenWhisk's
   * whisk.activation.payload.max). A bigger reply fails its activation and is not read further.
   */
  maxResult?: number;
  /** Bytes of parameters all of the runtime's queues may hold together (default 8 × maxPayload). */
  queueBytes?: number;
  /**
   * With a remote Docker engine (tcp://, https://, ssh://) and no network: publish action ports on
   * the engine host's address, reachable from its LAN (default false: refused with what to do).
   * /init and /run then travel unencrypted between Node-RED and that host.
   */
  publishRemote?: boolean;
  /** Bound on "container created → proxy listening on 8080" in ms (default 30000). Not the action's /init timeout. */
  startTimeout?: number;
  /** Containers beyond an action's first are removed after this long idle, in ms (default 60000). */
  idleTimeout?: number;
  /**
   * An action's last container is removed after this long idle, in ms (default 600000, OpenWhisk-Light's
   * 600 s; 0 = keep it warm forever). The action's next message then meets a cold start (initTime annotation).
   */
  warmTimeout?: number;
  /** 0..1 (default 0.75): when the runtime's containers exceed highWatermark × capacity, idle ones are preempted. 1 = never. */
  highWatermark?: number;
  /** 0..1 (default 0.25): preemption removes idle containers until floor(lowWatermark × capacity) remain (or none is idle). */
  lowWatermark?: number;
  /** How often the watermarks are checked, in ms (default 10000); a container idle for less than this is not preempted. */
  preemptPeriod?: number;
  /**
   * Stem cells: started containers without code, kept per container shape in use (image, memory,
   * log limit, environment), so that a new container of an action (provisioning, growth, a
   * replacement) costs one /init instead of create + start + /init. Default 0 (none); 1 is the sensible value. They
   * count against the capacity, are the first to go when an action needs a slot, and do not count
   * towards the watermarks.
   */
  stemCells?: number;
}

/**
 * The Docker engine as the runtime sees it (LocalEngine.health, event 'health' on every change):
 * - ok: Docker answers and starts containers.
 * - down: the engine cannot be reached (daemon stopped, socket gone, no answer). Messages that need
 *   a new container fail with code 'unreachable'; warm containers keep serving (without logs) when
 *   the daemon keeps them running (live-restore). The engine is probed every second and the runtime
 *   recovers by itself: containers re-created (or logs re-attached), leftovers removed.
 * - degraded: Docker answers but refused a container for lack of room (disk, memory, processes).
 *   Messages that need a new container fail with code 'docker'; back to ok at the next container started.
 */
export interface LocalEngineHealth {
  state: 'ok' | 'down' | 'degraded';
  /** Short text for a status ring ('docker unreachable', 'docker: disk full', …); undefined when ok. */
  short?: string;
  /** What is wrong and what to do (the text of the errors messages fail with); undefined when ok. */
  message?: string;
  /** When this state began (ms since the epoch). */
  since: number;
}

export const LABELS = {
  managed: 'io.leon-edge.managed',
  instance: 'io.leon-edge.instance',
  runtime: 'io.leon-edge.runtime',
  node: 'io.leon-edge.node',
  action: 'io.leon-edge.action',
  version: 'io.leon-edge.version',
  /** The engine object that created the container: the sweep spares engines alive in this process. */
  engine: 'io.leon-edge.engine',
  /**
   * A stem cell (value: its image). Docker labels are immutable, so a cell carries no action's
   * labels (node, action, version), neither before nor after it is handed to an action: the
   * engine's pools know which action each container runs, and a cell is renamed after its action.
   */
  cell: 'io.leon-edge.stemcell',
} as const;

/**
 * The bridge network containers join when the runtime names none: inter-container traffic off
 * (Docker's com.docker.network.bridge.enable_icc), so action code cannot reach another action's
 * container (its /init before ours, its /run). Ports are still published on 127.0.0.1 only. One per
 * Docker engine, shared by every runtime, created on first use and left in place.
 */
export const ISOLATION_NETWORK = 'leon-openwhisk-isolated';

/** Engines alive in this process: their containers are never swept. */
const liveEngines = new Set<string>();

const DEFAULT_CAPACITY = 4;
const DEFAULT_QUEUE_LIMIT = 100;
const DEFAULT_START_TIMEOUT = 30000;
const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
const DEFAULT_MAX_RESULT = 1024 * 1024;
/** Upper bound of max payload and max result: what OpenWhisk's action proxies accept (48 MB). */
const MAX_BODY_BYTES = 48 * 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT = 60000;
const DEFAULT_WARM_TIMEOUT = 600000;
const DEFAULT_HIGH_WATERMARK = 0.75;
const DEFAULT_LOW_WATERMARK = 0.25;
const DEFAULT_PREEMPT_PERIOD = 10000;
/**
 * Off by default for now: one cell per container shape is what a runtime should keep (it covers the
 * cases that need one new container at a time, for one idle runtime process of ~10-30 MB per image),
 * but the fault suite and the soak have not run with cells yet.
 */
const DEFAULT_STEM_CELLS = 0;
/** A cell that died idle (crash, docker kill) is replaced after this long, so a broken image cannot spin. */
const CELL_RETRY_MS = 2000;
/** Replenishing (and renaming a handed-over cell) waits this long after the hand-over. */
export const CELL_DEFER_MS = 100;
/** How often an engine that is down is pinged. */
const PROBE_PERIOD_MS = 1000;
const PROBE_TIMEOUT_MS = 2000;
/** How long a /run reply waits for its log sentinels when they are late (they usually trail by < 0.1 ms). */
const LOG_GRACE_MS = 100;
const ENGINE_CLOSE_BOUND_MS = 12000;
const PING_TIMEOUT_MS = 10000;
/** Nested sequences deeper than this are refused (the platform limits sequence length similarly). */
const MAX_SEQUENCE_DEPTH = 10;

export class LocalEngine extends EventEmitter implements PoolHost {
  readonly docker: Docker;
  readonly target: DockerTarget;
  readonly agent: http.Agent;
  readonly network: string;
  readonly capacity: number;
  readonly queueLimit: number;
  readonly startTimeout: number;
  readonly maxPayload: number;
  readonly maxResult: number;
  readonly queueBytes: number;
  readonly idleTimeout: number;
  readonly warmTimeout: number;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  readonly preemptPeriod: number;
  readonly stemCells: number;
  readonly logGrace = LOG_GRACE_MS;
  readonly engineId = randomUUID().replace(/-/g, '').slice(0, 12);
  publishIp = '127.0.0.1';
  /** Set at start() when the runtime names no network: see ISOLATION_NETWORK. */
  isolationNetwork = '';
  connectHost = '127.0.0.1';
  /** The daemon runs with live-restore: containers survive its restarts (read at start and after each outage). */
  liveRestore = false;

  private readonly opts: LocalEngineOptions;
  private starting?: Promise<void>;
  private platform: EnginePlatform = { os: '', arch: '' };
  private isClosed = false;
  private closing?: Promise<void>;
  private seq = 0;
  private slotsUsed = 0;
  /** Bytes of parameters held by all pools' queues. */
  private queuedBytes = 0;
  /** Slots held by removals in progress (released when the container is gone). */
  private releasing = 0;
  private readonly slotWaiters: SlotWaiter[] = [];
  private readonly pools = new Set<PoolAction>();
  private readonly actions = new Set<Runnable>();
  private readonly tracked = new Set<ActionContainer>();
  private readonly manifests = new WeakMap<Catalog, Promise<Record<string, string>>>();
  private trimTimer?: NodeJS.Timeout;
  private lastPreempt = Date.now();
  private readonly probeDocker: Docker;
  private healthNow: LocalEngineHealth = { state: 'ok', since: Date.now() };
  private downErr?: OpenWhiskNodeError;
  private probing?: Promise<boolean>;
  private probeTimer?: NodeJS.Timeout;
  private recovering?: Promise<void>;
  /** Containers whose removal failed (engine down): removed once it is back. */
  private readonly graveyard = new Set<ActionContainer>();
  /** Stem cells per container shape (cellKey). */
  private readonly cells = new Map<string, CellSet>();
  private refillQueued = false;

  constructor(opts: LocalEngineOptions) {
    if (!opts || typeof opts.instanceId !== 'string' || opts.instanceId.trim() === '') {
      throw new OpenWhiskNodeError('config', 'LocalEngine needs an instanceId (the Node-RED instance).', { short: 'no instance' });
    }
    if (typeof opts.runtimeId !== 'string' || opts.runtimeId.trim() === '') {
      throw new OpenWhiskNodeError('config', 'LocalEngine needs a runtimeId (the runtime config node).', { short: 'no runtime' });
    }
    super();
    // One health listener per action node using this runtime: no "possible leak" warning past ten.
    this.setMaxListeners(0);
    this.opts = { ...opts, imageOverrides: { ...(opts.imageOverrides ?? {}) } };
    this.target = parseDockerTarget(opts.docker);
    this.docker = createDocker(this.target);
    this.agent = createAgent();
    this.network = checkNetwork(opts.network);
    if (this.target.remoteHost && !this.network && !opts.publishRemote) {
      throw new OpenWhiskNodeError(
        'config',
        `The Docker engine at ${this.target.description} is on another host: its action containers would serve /init and /run ` +
          `(action code and every message, unencrypted) on that host's network. Run Node-RED in a container on that engine and set ` +
          `the runtime's Docker network, or, on a network you trust, tick "Publish action ports on the Docker host's network" in the runtime config.`,
        { short: 'remote docker' },
      );
    }
    this.capacity = positiveInt(opts.capacity, DEFAULT_CAPACITY);
    this.queueLimit = positiveInt(opts.queueLimit, DEFAULT_QUEUE_LIMIT, true);
    this.startTimeout = positiveInt(opts.startTimeout, DEFAULT_START_TIMEOUT);
    this.maxPayload = Math.min(MAX_BODY_BYTES, positiveInt(opts.maxPayload, DEFAULT_MAX_PAYLOAD));
    this.maxResult = Math.min(MAX_BODY_BYTES, positiveInt(opts.maxResult, DEFAULT_MAX_RESULT));
    this.queueBytes = positiveInt(opts.queueBytes, 8 * this.maxPayload);
    this.idleTimeout = positiveInt(opts.idleTimeout, DEFAULT_IDLE_TIMEOUT);
    this.warmTimeout = positiveInt(opts.warmTimeout, DEFAULT_WARM_TIMEOUT, true);
    this.highWatermark = fraction(opts.highWatermark, DEFAULT_HIGH_WATERMARK);
    this.lowWatermark = Math.min(this.highWatermark, fraction(opts.lowWatermark, DEFAULT_LOW_WATERMARK, true));
    this.preemptPeriod = positiveInt(opts.preemptPeriod, DEFAULT_PREEMPT_PERIOD);
    this.stemCells = Math.min(this.capacity, positiveInt(opts.stemCells, DEFAULT_STEM_CELLS, true));
    this.probeDocker = createProbeDocker(this.target, this.docker);
    liveEngines.add(this.engineId);
  }

  /** The Docker engine's state; an event 'health' (with this value) is emitted on every change. */
  get health(): LocalEngineHealth {
    return this.healthNow;
  }

  /** While the engine is down: the error messages needing a new container fail with. */
  get downError(): OpenWhiskNodeError | undefined {
    return this.healthNow.state === 'down' ? this.downErr : undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Stem cells ready to be handed over (all shapes). */
  get readyCells(): number {
    let n = 0;
    for (const set of this.cells.values()) n += set.ready.length;
    return n;
  }

  private hasReadyCell(image: string): boolean {
    for (const set of this.cells.values()) if (set.plan.image === image && set.ready.length > 0) return true;
    return false;
  }

  /** Slots held by stem cells, ready or starting. */
  private get cellSlots(): number {
    let n = 0;
    for (const set of this.cells.values()) n += set.ready.length + set.starting;
    return n;
  }

  /** Containers this engine has created and not yet removed. */
  get containerCount(): number {
    return this.tracked.size;
  }

  /**
   * Ping Docker, learn its platform, and remove containers left by an earlier run of this same
   * Node-RED instance (label instance=<instanceId>, created by an engine that is not alive in this
   * process), never anyone else's. Idempotent: the work runs once; after a failure the next call retries.
   */
  start(): Promise<void> {
    if (this.isClosed) return Promise.reject(closedError('Starting the local runtime'));
    if (!this.starting) {
      this.starting = this.doStart().catch((err: unknown) => {
        this.starting = undefined;
        throw err;
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    try {
      await bounded(this.docker.ping(), PING_TIMEOUT_MS, this.target, 'connecting');
      const v = await bounded(this.docker.version(), PING_TIMEOUT_MS, this.target, 'connecting');
      const [os, arch] = (this.opts.platform ?? '').split('/');
      this.platform = this.opts.platform ? { os, arch: arch ?? '' } : { os: String(v.Os ?? 'linux'), arch: String(v.Arch ?? '') };
    } catch (err) {
      const e = translateDockerError(err, this.target, 'connecting');
      this.noteFailure(e);
      throw e;
    }
    await this.readLiveRestore();
    if (this.target.remoteHost && !this.network) {
      // A remote engine: publish on (and connect to) the address we reach it at, not its loopback.
      const host = this.target.remoteHost;
      const ip = net.isIP(host) ? host : (await dns.lookup(host, { family: 4 }).catch(() => ({ address: '' }))).address;
      if (!ip) {
        throw new OpenWhiskNodeError('unreachable', `Cannot resolve the Docker host '${host}' to an IPv4 address.`, {
          short: 'docker unreachable',
        });
      }
      this.publishIp = ip;
      this.connectHost = ip;
    }
    if (!this.network) this.isolationNetwork = await this.ensureIsolationNetwork();
    await this.sweep();
  }

  private async ensureIsolationNetwork(): Promise<string> {
    const where = `creating Docker network '${ISOLATION_NETWORK}'`;
    try {
      const existing = await bounded(this.docker.listNetworks({ filters: { name: [ISOLATION_NETWORK] } }), PING_TIMEOUT_MS, this.target, where);
      const net = existing.find((n) => n.Name === ISOLATION_NETWORK);
      if (net) {
        if (net.Options?.['com.docker.network.bridge.enable_icc'] !== 'false') {
          throw new OpenWhiskNodeError(
            'docker',
            `Docker network '${ISOLATION_NETWORK}' on ${this.target.description} lets containers reach each other; it was not made by this package. ` +
              `Remove it (docker network rm ${ISOLATION_NETWORK}) so the runtime can create it with inter-container traffic off.`,
            { short: 'docker: network' },
          );
        }
        return ISOLATION_NETWORK;
      }
      await bounded(
        this.docker.createNetwork({
          Name: ISOLATION_NETWORK,
          Driver: 'bridge',
          CheckDuplicate: true,
          Options: { 'com.docker.network.bridge.enable_icc': 'false' },
          Labels: { [LABELS.managed]: 'true' },
        }),
        PING_TIMEOUT_MS,
        this.target,
        where,
      );
      return ISOLATION_NETWORK;
    } catch (err) {
      if (err instanceof OpenWhiskNodeError) throw err;
      if (dockerStatus(err) === 409) return ISOLATION_NETWORK; // another runtime created it meanwhile
      throw translateDockerError(err, this.target, where);
    }
  }

  private async readLiveRestore(): Promise<void> {
    try {
      const info = (await bounded(this.docker.info(), PING_TIMEOUT_MS, this.target, 'reading the engine info')) as { LiveRestoreEnabled?: boolean };
      this.liveRestore = info.LiveRestoreEnabled === true;
    } catch {
      /* keep what we knew */
    }
  }

  /** Remove this instance's containers that no live engine of this process owns. Returns how many. */
  async sweep(): Promise<number> {
    let list: Docker.ContainerInfo[];
    try {
      list = await bounded(
        this.docker.listContainers({
          all: true,
          filters: { label: [`${LABELS.managed}=true`, `${LABELS.instance}=${this.opts.instanceId}`] },
        }),
        this.startTimeout,
        this.target,
        'listing leftover containers',
      );
    } catch (err) {
      throw translateDockerError(err, this.target, 'listing leftover containers');
    }
    const stale = list.filter(
      (c) => c.Labels?.[LABELS.instance] === this.opts.instanceId && !liveEngines.has(c.Labels?.[LABELS.engine] ?? ''),
    );
    await Promise.all(
      stale.map((c) =>
        bounded(this.docker.getContainer(c.Id).remove({ force: true, v: true }), this.startTimeout, this.target, 'removing a leftover container')
          .catch((err: unknown) => {
            const s = dockerStatus(err);
            if (s !== 404 && s !== 409) throw translateDockerError(err, this.target, `removing leftover container ${c.Names?.[0] ?? c.Id}`);
          }),
      ),
    );
    return stale.length;
  }

  /**
   * Provision an action for one flow node: resolve its image (pull only if absent), create and
   * start one warm container, wait for the port, /init once. A sequence provisions each component
   * (fetched from `catalog`). Resolves once the action can run without a cold start.
   */
  async provision(
    nodeId: string,
    action: ActionDoc,
    catalog: Catalog,
    onStatus?: (s: LocalStatus) => void,
  ): Promise<LocalAction> {
    await this.start();
    if (this.isClosed) throw closedError(`Provisioning '${identityOf(action).qualified}'`);
    const status = (s: LocalStatus) => {
      try {
        onStatus?.(s);
      } catch {
        /* a status callback must not break provisioning */
      }
    };
    const a = await this.provisionDoc(String(nodeId), action, catalog, status, []);
    status({ phase: 'ready', detail: a.containers, action: a.name });
    return a;
  }

  private async provisionDoc(
    nodeId: string,
    doc: ActionDoc,
    catalog: Catalog,
    status: (s: LocalStatus) => void,
    chain: string[],
  ): Promise<Runnable> {
    if (!doc || typeof doc !== 'object' || !doc.exec || typeof doc.name !== 'string') {
      throw new OpenWhiskNodeError('config', 'The action document has no name or exec: cannot run it locally.', { short: 'bad action' });
    }
    const id = identityOf(doc);
    if (doc.exec.kind === 'sequence') return this.provisionSequence(nodeId, doc, catalog, status, chain);
    const resolved = await this.resolve(doc, catalog);
    // A ready stem cell of the image proves it is there (and of the engine's platform): no Docker call.
    if (!this.hasReadyCell(resolved.image)) try {
      await ensureImage(this.docker, this.target, resolved.image, resolved.kind, this.platform, (detail) =>
        status({ phase: 'pulling', detail, action: id.qualified }),
      );
    } catch (err) {
      this.noteFailure(err);
      throw withContext(err, `Action '${id.qualified}'`);
    }
    if (this.isClosed) throw closedError(`Provisioning '${id.qualified}'`);
    const limits = effectiveLimits(doc.limits);
    const maxInflight = limits.concurrency > 1 && supportsConcurrency(resolved) ? limits.concurrency : 1;
    const { run, init } = splitParams(doc.parameters);
    const env: string[] = [];
    if (this.opts.apiHost) env.push(`__OW_API_HOST=${this.opts.apiHost}`);
    if (maxInflight > 1) env.push('__OW_ALLOW_CONCURRENT=true');
    const apiKey = this.opts.apiKey && apiKeyAllowed(doc.annotations) ? this.opts.apiKey : undefined;
    const plan: ContainerPlan = {
      nodeId,
      id,
      doc,
      kind: resolved.kind,
      image: resolved.image,
      limits,
      maxInflight,
      labels: {
        [LABELS.managed]: 'true',
        [LABELS.instance]: this.opts.instanceId,
        [LABELS.runtime]: this.opts.runtimeId,
        [LABELS.node]: nodeId,
        [LABELS.action]: id.qualified,
        [LABELS.version]: id.version,
        [LABELS.engine]: this.engineId,
      },
      env,
      initParams: init,
      apiKey,
      cpuShares: cpuShares(limits.memory, this.capacity),
    };
    const pool = new PoolAction(this, plan, run, this.queueLimit);
    this.pools.add(pool);
    if (!this.trimTimer) {
      const halves = [this.preemptPeriod, this.idleTimeout / 2, this.warmTimeout > 0 ? this.warmTimeout / 2 : Infinity];
      const every = Math.max(50, Math.min(10000, Math.floor(Math.min(...halves))));
      this.trimTimer = setInterval(() => this.maintain(), every);
      this.trimTimer.unref();
    }
    try {
      await pool.warm(status);
    } catch (err) {
      await pool.close();
      this.pools.delete(pool);
      throw err;
    }
    this.actions.add(pool);
    return pool;
  }

  private async provisionSequence(
    nodeId: string,
    doc: ActionDoc,
    catalog: Catalog,
    status: (s: LocalStatus) => void,
    chain: string[],
  ): Promise<Runnable> {
    const id = identityOf(doc);
    const components = Array.isArray(doc.exec.components) ? doc.exec.components : [];
    if (components.length === 0) {
      throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}' has no components.`, { short: 'empty sequence' });
    }
    if (chain.includes(id.qualified) || chain.length >= MAX_SEQUENCE_DEPTH) {
      throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}' contains itself or nests too deeply (${[...chain, id.qualified].join(' → ')}).`, {
        short: 'bad sequence',
      });
    }
    // Each distinct component once (a component may appear twice); all in parallel.
    const distinct = [...new Set(components)];
    const settled = await Promise.allSettled(
      distinct.map(async (fqn) => {
        let ref;
        try {
          ref = parseQualifiedName(fqn);
        } catch (err) {
          throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}': ${(err as Error).message}.`, { short: 'bad sequence' });
        }
        status({ phase: 'fetching', detail: fqn, action: fqn });
        let cdoc: ActionDoc;
        try {
          cdoc = await catalog.getAction(ref);
        } catch (err) {
          throw withContext(err, `Sequence '${id.qualified}', component '${fqn}'`);
        }
        try {
          return await this.provisionDoc(nodeId, cdoc, catalog, status, [...chain, id.qualified]);
        } catch (err) {
          throw withContext(err, `Sequence '${id.qualified}'`);
        }
      }),
    );
    const byName = new Map<string, Runnable>();
    let failure: unknown;
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') byName.set(distinct[i], r.value);
      else if (failure === undefined) failure = r.reason;
    });
    if (failure !== undefined) {
      await Promise.all([...byName.values()].map((r) => this.closeRunnable(r)));
      throw failure;
    }
    const limits = effectiveLimits(doc.limits);
    const seq = new SequenceAction(
      id,
      limits.timeout,
      limits.logs,
      components.map((c) => byName.get(c) as Runnable),
    );
    this.actions.add(seq);
    return seq;
  }

  private async closeRunnable(r: Runnable): Promise<void> {
    this.actions.delete(r);
    await r.close().catch(() => undefined);
  }

  /**
   * Image for an action: blackbox image or a user override first (no network needed), then the
   * deployment's runtimes manifest (catalog.runtimeImages(), i.e. GET / on the API host; an
   * unreachable host counts as an empty manifest), then the built-in table.
   */
  private async resolve(doc: ActionDoc, catalog: Catalog): Promise<ResolvedImage> {
    const overrides = this.opts.imageOverrides ?? {};
    try {
      let first: ResolvedImage | undefined;
      try {
        first = resolveImage(doc.exec, overrides, {});
      } catch (err) {
        if (!(err instanceof OpenWhiskNodeError) || doc.exec.kind === 'blackbox') throw err;
      }
      if (first && (first.source === 'override' || first.source === 'blackbox')) return first;
      // A document served from the offline cache means the API host is unreachable (or silent): do
      // not wait for its runtimes manifest too.
      const manifest = catalog.fromCache?.(doc) ? {} : await this.manifestOf(catalog);
      return resolveImage(doc.exec, overrides, manifest);
    } catch (err) {
      throw withContext(err, `Action '${identityOf(doc).qualified}'`);
    }
  }

  private manifestOf(catalog: Catalog): Promise<Record<string, string>> {
    let p = this.manifests.get(catalog);
    if (!p) {
      p = Promise.resolve()
        .then(() => catalog.runtimeImages())
        .then((m) => (m && typeof m === 'object' ? m : {}))
        .catch(() => {
          this.manifests.delete(catalog); // offline now: try again next time
          return {};
        });
      this.manifests.set(catalog, p);
    }
    return p;
  }

  // ---- PoolHost ---------------------------------------------------------------------------------

  nextSeq(): number {
    return ++this.seq;
  }

  track(c: ActionContainer): void {
    this.tracked.add(c);
  }

  untrack(c: ActionContainer): void {
    this.tracked.delete(c);
  }

  holdQueued(bytes: number): boolean {
    if (this.queuedBytes + bytes > this.queueBytes) return false;
    this.queuedBytes += bytes;
    return true;
  }

  releaseQueued(bytes: number): void {
    this.queuedBytes = Math.max(0, this.queuedBytes - bytes);
  }

  takeSlot(): boolean {
    if (this.isClosed || this.slotsUsed >= this.capacity) return false;
    this.slotsUsed++;
    return true;
  }

  releaseSlot(): void {
    while (this.slotWaiters.length > 0) {
      const w = this.slotWaiters.shift() as SlotWaiter;
      if (!this.isClosed && w.accept()) return; // the slot moves to the waiter
    }
    if (this.slotsUsed > 0) this.slotsUsed--;
    this.refillSoon();
  }

  /** A slot came free and no action wanted it: stem cells may take it (after this turn's work). */
  private refillSoon(): void {
    if (this.refillQueued || this.stemCells === 0 || this.cells.size === 0 || this.isClosed) return;
    this.refillQueued = true;
    setImmediate(() => {
      this.refillQueued = false;
      for (const set of this.cells.values()) this.fillCells(set);
    });
  }

  releaseAfter(removal: Promise<unknown>): void {
    this.releasing++;
    const done = () => {
      this.releasing--;
      this.releaseSlot();
    };
    removal.then(done, done);
  }

  waitForSlot(pool: PoolAction): void {
    if (this.slotWaiters.some((w) => w.owner === pool)) return; // one eviction per wait; rebalance() does more
    this.slotWaiters.push({ owner: pool, accept: () => pool.acceptSlot() });
    this.evictFor(pool, pool.empty);
  }

  get slotWanted(): boolean {
    return this.slotWaiters.length > 0;
  }

  rebalance(): void {
    while (this.slotWaiters.length > 0) {
      const w = this.slotWaiters[0];
      if (w.owner && !w.owner.wantsMore()) {
        this.slotWaiters.shift(); // satisfied meanwhile
        continue;
      }
      if (w.owner) this.evictFor(w.owner, w.owner.empty);
      return;
    }
  }

  reserveSlot(pool: PoolAction): Promise<void> {
    if (this.takeSlot()) return Promise.resolve();
    if (this.isClosed) return Promise.reject(closedError(`Provisioning '${pool.name}'`));
    const full = () =>
      new OpenWhiskNodeError(
        'config',
        `The local runtime's capacity of ${this.capacity} containers is used up by other actions: '${pool.name}' cannot get its container. ` +
          `Raise the capacity in the runtime config (every local action node needs at least one container; a sequence one per component).`,
        { short: 'capacity full' },
      );
    // Wait when an eviction frees a slot, or a removal in progress is about to.
    if (!this.evictFor(pool, false) && this.releasing === 0) return Promise.reject(full());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.slotWaiters.indexOf(waiter);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        reject(full());
      }, this.startTimeout);
      timer.unref();
      const waiter: SlotWaiter = {
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
      this.slotWaiters.unshift(waiter); // a first container goes before growth of others
    });
  }

  /**
   * Ask another action to give up one idle container (surplus first, least recently used; its last
   * one only when `allowLast`: the requester has no container and messages wait). Its slot comes
   * back through releaseSlot() (to the first waiter) once the container is gone.
   */
  private evictFor(requester: PoolAction, allowLast: boolean): boolean {
    if (this.evictCell()) return true;
    const views: ContainerView<ActionContainer>[] = [];
    for (const p of this.pools) if (p !== requester) p.collectViews(views);
    for (;;) {
      const v = pickVictim(views, requester, allowLast);
      if (!v) return false;
      if ((v.pool as PoolAction).removeIdle(v.ref, 'evicted')) return true;
      views.splice(views.indexOf(v), 1);
    }
  }

  /** Timer: idle timeouts every tick, watermark preemption every preemptPeriod; failed removals retried. */
  private maintain(): void {
    if (this.isClosed) return;
    const now = Date.now();
    const preempt = now - this.lastPreempt >= this.preemptPeriod - 5;
    if (preempt) this.lastPreempt = now;
    const views: ContainerView<ActionContainer>[] = [];
    for (const p of this.pools) p.collectViews(views);
    const removals = selectRemovals(
      views,
      this.slotsUsed - this.cellSlots, // cells are evicted on demand, never a reason to preempt
      {
        capacity: this.capacity,
        highWatermark: this.highWatermark,
        lowWatermark: this.lowWatermark,
        idleTimeout: this.idleTimeout,
        warmTimeout: this.warmTimeout,
        minIdle: this.preemptPeriod,
        preempt,
      },
      now,
    );
    for (const r of removals) (r.view.pool as PoolAction).removeIdle(r.view.ref, r.reason);
    if (this.graveyard.size > 0 && this.healthNow.state !== 'down') this.buryAgain();
  }

  // ---- health --------------------------------------------------------------------------------

  private setHealth(state: LocalEngineHealth['state'], err?: OpenWhiskNodeError): void {
    const prev = this.healthNow;
    if (prev.state === state && prev.message === err?.message) return;
    this.healthNow = { state, short: err?.short, message: err?.message, since: prev.state === state ? prev.since : Date.now() };
    if (this.isClosed) return;
    try {
      this.emit('health', this.healthNow);
    } catch {
      /* a listener must not break the engine */
    }
  }

  /** A Docker call failed: unreachable → down (probed until back); no room → degraded. */
  noteFailure(err: unknown): void {
    if (this.isClosed || !(err instanceof OpenWhiskNodeError)) return;
    if (err.code === 'unreachable') this.markDown(err);
    else if (err.code === 'docker' && NO_ROOM_SHORTS.has(err.short) && this.healthNow.state !== 'down') this.setHealth('degraded', err);
  }

  noteSuccess(): void {
    if (this.isClosed || this.healthNow.state === 'ok') return;
    if (this.healthNow.state === 'degraded') {
      this.setHealth('ok');
      return;
    }
    // Down: a call on a kept-alive connection can still succeed while dockerd is stopping; only a
    // fresh connection says it is back.
    void this.engineReachable().then((ok) => {
      if (ok) this.backUp();
    });
  }

  private backUp(): void {
    if (this.isClosed || this.healthNow.state !== 'down') return;
    this.setHealth('ok');
    void this.recover();
  }

  private markDown(cause: OpenWhiskNodeError): void {
    if (this.healthNow.state === 'down') return; // the first cause stands until it is back
    const detail = /^(Cannot reach|The Docker engine)/.test(cause.message)
      ? cause.message
      : `Cannot reach the Docker engine at ${this.target.description}: ${cause.message} Is dockerd running?`;
    this.downErr = new OpenWhiskNodeError(
      'unreachable',
      `${detail} Messages that need a new container fail until it is back; the runtime reconnects by itself (no restart of Node-RED needed).`,
      { short: 'docker unreachable', cause },
    );
    this.setHealth('down', this.downErr);
    for (const p of this.pools) p.engineDown(this.downErr);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.isClosed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.isClosed || this.healthNow.state !== 'down') return;
      void this.engineReachable().then((ok) => {
        if (ok) this.backUp();
        else this.scheduleProbe();
      });
    }, PROBE_PERIOD_MS);
    this.probeTimer.unref();
  }

  /** Ping on a fresh connection (bounded); marks the engine down when it cannot be reached. Concurrent callers share one ping. */
  engineReachable(): Promise<boolean> {
    if (!this.probing) {
      this.probing = bounded(this.probeDocker.ping(), PROBE_TIMEOUT_MS, this.target, 'pinging')
        .then(
          () => true,
          (err: unknown) => {
            const e = translateDockerError(err, this.target, 'pinging');
            if (e.code !== 'unreachable') return true; // it answered, with an error
            this.noteFailure(e);
            return false;
          },
        )
        .finally(() => {
          this.probing = undefined;
        });
    }
    return this.probing;
  }

  /**
   * The engine is back: re-check containers an outage suspended (live-restore), remove what the
   * outage left (stopped containers, creations that completed after their call timed out), and
   * start one container again for each action the outage left without any.
   */
  private recover(): Promise<void> {
    if (!this.recovering) {
      this.recovering = this.doRecover().finally(() => {
        this.recovering = undefined;
      });
    }
    return this.recovering;
  }

  private async doRecover(): Promise<void> {
    // Kept-alive sockets to containers of before the outage are dead (a new container may get the same port).
    const free = (this.agent as unknown as { freeSockets?: Record<string, Array<{ destroy(): void }>> }).freeSockets ?? {};
    for (const list of Object.values(free)) for (const sock of [...list]) sock.destroy();
    await this.readLiveRestore();
    await Promise.all([...this.tracked].filter((c) => c.detached).map((c) => c.reattach().catch(() => undefined)));
    if (this.healthNow.state === 'down' || this.isClosed) return;
    this.buryAgain();
    await this.sweepOwn().catch(() => undefined);
    for (const p of this.pools) p.rewarm();
    for (const set of this.cells.values()) this.fillCells(set);
  }

  private buryAgain(): void {
    for (const c of this.graveyard) {
      this.graveyard.delete(c);
      void c.remove(c.removeReason).catch(() => undefined); // fails → removalFailed puts it back
    }
  }

  /**
   * Containers of this engine the daemon still lists but the engine does not use: stopped ones
   * and creations whose call timed out but completed later. Never a container in use, nor one
   * created in the last startTimeout (its create call may still be on its way back).
   */
  private async sweepOwn(): Promise<void> {
    const list = await bounded(
      this.docker.listContainers({ all: true, filters: { label: [`${LABELS.engine}=${this.engineId}`] } }),
      this.startTimeout,
      this.target,
      'listing containers',
    );
    const inUse = new Map<string, ActionContainer>();
    for (const c of this.tracked) if (c.id) inUse.set(c.id, c);
    const young = Math.floor((Date.now() - this.startTimeout) / 1000);
    await Promise.all(
      list.map((info) => {
        const c = inUse.get(info.Id);
        if (c) return c.dead ? c.remove(c.removeReason).catch(() => undefined) : undefined;
        if (info.Created > young) return undefined;
        return bounded(this.docker.getContainer(info.Id).remove({ force: true, v: true }), this.startTimeout, this.target, 'removing a container').catch(
          () => undefined,
        );
      }),
    );
  }

  removalFailed(c: ActionContainer): void {
    if (!this.isClosed) this.graveyard.add(c);
  }

  takeCell(plan: ContainerPlan): ActionContainer | undefined {
    if (this.stemCells === 0 || this.isClosed) return undefined;
    const set = this.cells.get(cellKey(plan));
    if (!set) return undefined;
    while (set.ready.length > 0) {
      const c = set.ready.shift() as ActionContainer;
      c.onExit = c.onSuspend = undefined;
      if (!c.dead && !c.exited && !c.suspended && !c.initialized) return c;
      this.releaseAfter(c.remove('retired'));
    }
    return undefined;
  }

  replenishCells(plan: ContainerPlan): void {
    if (this.stemCells === 0 || this.isClosed) return;
    const key = cellKey(plan);
    let set = this.cells.get(key);
    if (!set) {
      set = { plan: cellPlan(plan, this.opts.instanceId, this.opts.runtimeId, this.engineId), ready: [], starting: 0, pausedUntil: 0 };
      this.cells.set(key, set);
    }
    // A moment later: the Docker work of a new cell does not compete with the first run of the
    // container just handed over.
    const target = set;
    setTimeout(() => this.fillCells(target), CELL_DEFER_MS).unref();
  }

  /** Start cells on free slots; never while an action waits for a slot or the engine is down. */
  private fillCells(set: CellSet): void {
    while (
      !this.isClosed &&
      !this.downError &&
      !this.slotWanted &&
      Date.now() >= set.pausedUntil &&
      set.ready.length + set.starting < this.stemCells &&
      this.takeSlot()
    ) {
      set.starting++;
      const c = new ActionContainer(this, set.plan);
      c.launch(undefined, false).then(
        () => {
          set.starting--;
          if (this.isClosed || c.dead) {
            this.releaseAfter(c.remove('closed'));
            return;
          }
          c.lastUsed = Date.now();
          c.onExit = c.onSuspend = (x) => this.dropCell(set, x);
          set.ready.push(c);
        },
        () => {
          // Failed (no room, a broken image, closed): pause this shape so it cannot spin.
          set.starting--;
          set.pausedUntil = Date.now() + CELL_RETRY_MS;
          setTimeout(() => this.fillCells(set), CELL_RETRY_MS + 10).unref();
          this.releaseSlot();
        },
      );
    }
  }

  /** A ready cell stopped (crash, kill, engine gone): remove it; a new one follows after a pause. */
  private dropCell(set: CellSet, c: ActionContainer): void {
    const i = set.ready.indexOf(c);
    if (i < 0) return;
    set.ready.splice(i, 1);
    c.onExit = c.onSuspend = undefined;
    set.pausedUntil = Date.now() + CELL_RETRY_MS;
    this.releaseAfter(c.remove('retired'));
    setTimeout(() => this.fillCells(set), CELL_RETRY_MS + 10).unref();
  }

  /** Give up one ready stem cell for an action that needs a slot (they go before any action's container). */
  private evictCell(): boolean {
    for (const set of this.cells.values()) {
      const c = set.ready.shift();
      if (!c) continue;
      c.onExit = c.onSuspend = undefined;
      this.releaseAfter(c.remove('evicted'));
      return true;
    }
    return false;
  }

  forget(pool: PoolAction): void {
    this.pools.delete(pool);
    this.actions.delete(pool);
    for (let i = this.slotWaiters.length - 1; i >= 0; i--) if (this.slotWaiters[i].owner === pool) this.slotWaiters.splice(i, 1);
  }

  /** Close every action and remove every container this engine created; bounded well under 15 s. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    if (this.trimTimer) clearInterval(this.trimTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.graveyard.clear();
    for (const w of this.slotWaiters.splice(0)) w.cancel?.();
    const work = (async () => {
      await Promise.all([...this.actions].map((a) => a.close().catch(() => undefined)));
      await Promise.all([...this.pools].map((p) => p.close().catch(() => undefined)));
      await Promise.all([...this.tracked].map((c) => c.remove('closed').catch(() => undefined)));
      // Last sweep by this engine's own label: catches a container whose create call timed out here
      // but completed in the daemon later.
      if (this.starting) {
        const left = await this.docker
          .listContainers({ all: true, filters: { label: [`${LABELS.engine}=${this.engineId}`] } })
          .catch(() => [] as Docker.ContainerInfo[]);
        await Promise.all(left.map((c) => this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
      }
    })();
    this.closing = Promise.race([work, new Promise<void>((r) => setTimeout(r, ENGINE_CLOSE_BOUND_MS).unref())]).then(() => {
      this.agent.destroy();
      liveEngines.delete(this.engineId);
    });
    return this.closing;
  }
}

interface CellSet {
  /** The runtime-level plan cells of this shape are created with (no action, no code). */
  plan: ContainerPlan;
  ready: ActionContainer[];
  starting: number;
  /** After a failed start: no new cell of this shape before then. */
  pausedUntil: number;
}

/** What a container fixes at creation: a cell can become any action's container with the same. */
function cellKey(plan: ContainerPlan): string {
  return JSON.stringify([plan.image, plan.limits.memory, plan.limits.logs, plan.cpuShares, plan.maxInflight > 1, plan.env]);
}

/** A plan for stem cells of `plan`'s shape: the runtime's labels only, no code, no parameters, no key. */
function cellPlan(plan: ContainerPlan, instanceId: string, runtimeId: string, engineId: string): ContainerPlan {
  const id = { namespace: '_', name: 'stemcell', qualified: `stem cell (${plan.image})`, path: plan.kind, version: '0.0.0' };
  return {
    nodeId: 'stemcell',
    id,
    doc: { namespace: '_', name: 'stemcell', exec: { kind: plan.kind } } as ActionDoc,
    kind: plan.kind,
    image: plan.image,
    limits: plan.limits,
    maxInflight: plan.maxInflight,
    labels: {
      [LABELS.managed]: 'true',
      [LABELS.instance]: instanceId,
      [LABELS.runtime]: runtimeId,
      [LABELS.engine]: engineId,
      [LABELS.cell]: plan.image,
    },
    env: plan.env,
    initParams: {},
    cpuShares: plan.cpuShares,
  };
}

interface SlotWaiter {
  /** Take a freed slot; false = not needed any more. */
  accept(): boolean;
  cancel?(): void;
  owner?: PoolAction;
}

/**
 * CPU shares as OpenWhisk's invoker gives them: proportional to the container's memory, out of
 * Docker's 1024 for the whole pool (ContainerPoolConfig.cpuShare). The pool here is the runtime's
 * capacity in containers of the default 256 MB, so a full runtime of default-sized actions weighs
 * as much as one ordinary process: Node-RED keeps its share of the CPU when actions spin.
 */
export function cpuShares(memoryMb: number, capacity: number): number {
  return Math.min(1024, Math.max(2, Math.floor((1024 * memoryMb) / (Math.max(1, capacity) * 256))));
}

/** A Docker network name for action containers; the modes that share another namespace are refused. */
export function checkNetwork(value: string | undefined): string {
  const n = (value ?? '').trim();
  if (!n) return '';
  if (n === 'host' || n === 'none' || /^(container|service|ns):/i.test(n) || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(n)) {
    throw new OpenWhiskNodeError(
      'config',
      `Docker network '${n}' cannot be used for action containers: 'host' would give untrusted action code the gateway's own network ` +
        `(its loopback services included), 'container:…' another container's, and 'none' no way to reach them. ` +
        `Use a user-defined bridge network (docker network create <name>), or leave the network empty.`,
      { short: 'bad network' },
    );
  }
  return n;
}

/** A number in 0..1 (exclusive of 0 unless allowZero); anything else → the default. */
function fraction(v: unknown, dflt: number, allowZero = false): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n > 1 || n < 0 || (n === 0 && !allowZero)) return dflt;
  return n;
}

function positiveInt(v: unknown, dflt: number, allowZero = false): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return dflt;
  const i = Math.floor(n);
  return i > 0 || (allowZero && i === 0) ? i : dflt;
}

/** Prefix an error's message with where it happened, keeping its code and short text. */
function withContext(err: unknown, where: string): unknown {
  if (!(err instanceof OpenWhiskNodeError)) return err;
  if (err.message.startsWith(where)) return err;
  const e = new OpenWhiskNodeError(err.code, `${where}: ${err.message}`, {
    short: err.short,
    activation: err.activation,
    statusCode: err.statusCode,
    cause: err,
  });
  return e;
}
