// The local Docker runtime: one LocalEngine per runtime config node. A facade over its parts:
// options.ts (settings, labels), setup.ts (connect, isolation network, sweeps), health.ts (ok /
// down / degraded, recovery; behaviour under faults), capacity.ts (the one owner of capacity:
// slots.ts, cells.ts for stem cells, eviction and idle timeouts with preempt.ts's policy),
// provision.ts (document → plan), pool.ts (one action's warm containers), container.ts (one
// container's Docker lifecycle and states), proxy-client.ts (the action protocol with it).
// No Node-RED imports.

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import type { ProvisionStatus } from '../status';
import type { ActionDoc, Catalog, ProvisionOptions, Provisioner } from '../types';
import type { LocalAction } from './action';
import { Capacity } from './capacity';
import { CELL_NODE } from './cells';
import { ActionContainer, closedError, type ContainerEnv, type ContainerPlan, type ContainerState, type DockerContext } from './container';
import { createDocker, createProbeDocker, hasImage, parseDockerTarget, translateDockerError, type DockerTarget, type EnginePlatform } from './docker';
import { PACKAGE_RUNTIMES, packageImage } from './images';
import { DockerHealth, Recovery, type LocalEngineHealth } from './health';
import { createAgent } from './http';
import { Containers } from './registry';
import { checkIds, checkRemote, settingsOf, type EngineSettings, type LocalEngineOptions } from './options';
import { PoolAction } from './pool';
import { ImageChooser, checkDoc, planFor, provisionSequence } from './provision';
import { identityOf, splitParams } from './protocol';
import { connect, ensureIsolationNetwork, learnReach, removeOwn, sweepLeftovers } from './setup';

export type { LocalAction } from './action';
export type { LocalEngineHealth } from './health';
export { CELL_DEFER_MS } from './cells';
export { ISOLATION_NETWORK, LABELS, checkNetwork, cpuShares, type LocalEngineOptions } from './options';

/** One container as an operator sees it (LocalEngine.snapshot). */
export interface ContainerView {
  name: string;
  /** The action's path ("ns/pkg/name"); undefined for a stem cell (no code yet). */
  action?: string;
  image: string;
  /** Its life-cycle state (container.ts ContainerState), 'busy' for a ready one with a run in flight. */
  state: ContainerState | 'busy';
  /** Runs in flight. */
  inflight: number;
  /** Milliseconds since it last finished a run or became able to take one. */
  idleMs: number;
}

/** The runtime's containers, pools, capacity and Docker health now: for /metrics and the editor. */
export interface EngineSnapshot {
  health: LocalEngineHealth;
  capacity: number;
  /** Capacity slots taken (containers running or starting, stem cells included). */
  used: number;
  /** Stem cells ready to be handed over, and being started. */
  cells: { ready: number; starting: number };
  /** Provisioned actions: their containers and their waiting messages. */
  pools: { action: string; kind: string; image: string; containers: number; queued: number }[];
  containers: ContainerView[];
}

/** Engines alive in this process: their containers are never swept. */
const liveEngines = new Set<string>();

/** How long a /run reply waits for its log sentinels when they are late (they usually trail by < 0.1 ms). */
const LOG_GRACE_MS = 100;
const ENGINE_CLOSE_BOUND_MS = 12000;

export class LocalEngine extends EventEmitter implements Provisioner {
  readonly target: DockerTarget;
  readonly engineId = randomUUID().replace(/-/g, '').slice(0, 12);
  readonly settings: EngineSettings;
  private readonly docker: Docker;
  private readonly agent: http.Agent;
  private readonly opts: LocalEngineOptions;
  /** Where containers run; publishIp, connectHost, isolationNetwork and liveRestore are learnt at start. */
  private readonly ctx: { -readonly [K in keyof DockerContext]: DockerContext[K] };
  private readonly healthOf: DockerHealth;
  private readonly capacity: Capacity;
  private readonly images: ImageChooser;
  private readonly env: ContainerEnv;
  private starting?: Promise<void>;
  private platform: EnginePlatform = { os: '', arch: '' };
  private isClosed = false;
  private closing?: Promise<void>;
  private readonly pools = new Set<PoolAction>();
  private readonly actions = new Set<LocalAction>();
  private readonly containers: Containers;
  private readonly recovery: Recovery;

  constructor(opts: LocalEngineOptions) {
    checkIds(opts);
    super();
    // One health listener per action node using this runtime: no "possible leak" warning past ten.
    this.setMaxListeners(0);
    this.opts = { ...opts, imageOverrides: { ...(opts.imageOverrides ?? {}) } };
    this.target = parseDockerTarget(opts.docker);
    this.docker = createDocker(this.target);
    this.agent = createAgent();
    this.settings = settingsOf(opts);
    const s = this.settings;
    checkRemote(opts, this.target, s);
    const ctx = {
      api: this.docker,
      target: this.target,
      agent: this.agent,
      network: s.network,
      isolationNetwork: '',
      renewIsolation: async () => {
        ctx.isolationNetwork = await ensureIsolationNetwork(this.docker, this.target);
      },
      publishIp: '127.0.0.1',
      connectHost: '127.0.0.1',
      liveRestore: false,
    };
    this.ctx = ctx;
    const health = (this.healthOf = new DockerHealth(this.target, createProbeDocker(this.target, this.docker)));
    this.containers = new Containers(() => this.isClosed);
    this.env = {
      docker: ctx,
      health,
      registry: this.containers,
      limits: { startTimeout: s.startTimeout, logGrace: LOG_GRACE_MS, maxResult: s.maxResult },
    };
    this.capacity = new Capacity(s, this.env, {
      instanceId: opts.instanceId,
      runtimeId: opts.runtimeId,
      engineId: this.engineId,
      health,
      // Every maintenance tick: removals that failed are tried again.
      tick: () => {
        if (!this.isClosed && this.containers.buried > 0 && health.current.state !== 'down') this.containers.buryAgain();
      },
    });
    this.images = new ImageChooser(this.opts.imageOverrides ?? {});
    this.recovery = new Recovery({
      docker: this.docker,
      target: this.target,
      agent: this.agent,
      engineId: this.engineId,
      boundMs: s.startTimeout,
      containers: this.containers,
      capacity: this.capacity,
      liveRestoreIs: (v) => (ctx.liveRestore = v ?? ctx.liveRestore),
      stopped: () => health.current.state === 'down' || this.isClosed,
    });
    // Everything is built: the engine's ups and downs reach the listeners, the pools and the recovery.
    health.on('change', (h) => {
      try {
        this.emit('health', h);
      } catch {
        /* a listener must not break the engine */
      }
    });
    health.on('down', (err) => this.capacity.engineDown(err));
    health.on('back', () => void this.recovery.recover());
    liveEngines.add(this.engineId);
  }

  /** The Docker engine's state; an event 'health' (with this value) is emitted on every change. */
  get health(): LocalEngineHealth {
    return this.healthOf.current;
  }

  /** While the engine is down: the error messages needing a new container fail with. */
  get downError(): OpenWhiskNodeError | undefined {
    return this.healthOf.downError;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Stem cells ready to be handed over (all shapes). */
  get readyCells(): number {
    return this.capacity.cellCounts.ready;
  }

  /** The daemon runs with live-restore: containers survive its restarts (read at start and after each outage). */
  get liveRestore(): boolean {
    return this.ctx.liveRestore;
  }

  /** Take a ready stem cell of `plan`'s shape with its slot (see cells.ts); give the slot back with releaseSlot(). */
  takeCell(plan: ContainerPlan): ActionContainer | undefined {
    return this.capacity.cell(plan);
  }

  releaseSlot(): void {
    this.capacity.containerGone();
  }

  /** What runs now, cheaply: no Docker call (the engine's own bookkeeping). */
  snapshot(): EngineSnapshot {
    const now = Date.now();
    const containers: ContainerView[] = this.containers.list().map((c) => {
      const cell = c.plan.nodeId === CELL_NODE;
      return {
        name: c.name,
        action: cell ? undefined : c.plan.id.path,
        image: c.plan.image,
        state: c.state === 'ready' && c.inflight > 0 ? 'busy' : c.state,
        inflight: c.inflight,
        idleMs: Math.max(0, now - c.lastUsed),
      };
    });
    return {
      health: this.health,
      capacity: this.settings.capacity,
      used: this.capacity.used,
      cells: this.capacity.cellCounts,
      pools: [...this.pools].map((p) => ({ action: p.plan.id.path, kind: p.kind, image: p.image, containers: p.containers, queued: p.queued })),
      containers,
    };
  }

  /** Containers this engine has created and not yet removed. */
  get containerCount(): number {
    return this.containers.size;
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
      this.platform = await connect(this.docker, this.target, this.opts.platform);
    } catch (err) {
      const e = translateDockerError(err, this.target, 'connecting');
      this.healthOf.noteFailure(e);
      throw e;
    }
    await learnReach(this.docker, this.target, this.ctx);
    await this.sweep();
  }

  /** Remove this instance's containers that no live engine of this process owns. Returns how many. */
  sweep(): Promise<number> {
    return sweepLeftovers(this.docker, this.target, this.opts.instanceId, (id) => liveEngines.has(id), this.settings.startTimeout);
  }

  /**
   * This package's runtime images the engine has for its platform, by kind (none before the engine is
   * reached). Asked by anyone who reads the API's GET /: one look at the engine per 10 s at most.
   */
  ownImages(): Promise<Record<string, string>> {
    const now = Date.now();
    if (this.ownImagesSeen && now - this.ownImagesSeen.at < 10000) return this.ownImagesSeen.images;
    const images = (async () => {
      const out: Record<string, string> = {};
      if (!this.platform.arch) return out;
      for (const kind of Object.keys(PACKAGE_RUNTIMES)) {
        const image = packageImage(kind, this.platform.arch);
        if (image && (this.capacity.hasReadyCell(image) || (await hasImage(this.docker, this.target, image, this.platform)))) out[kind] = image;
      }
      return out;
    })();
    this.ownImagesSeen = { at: now, images };
    return images;
  }

  private ownImagesSeen?: { at: number; images: Promise<Record<string, string>> };

  /**
   * Provision an action for one flow node: resolve its image (pull only if absent), create and
   * start one warm container, wait for the port, /init once. A sequence provisions each component
   * (fetched from `catalog`). Resolves once the action can run without a cold start.
   */
  async provision(
    nodeId: string,
    action: ActionDoc,
    catalog: Catalog,
    onStatus?: (s: ProvisionStatus) => void,
    opts: ProvisionOptions = {},
  ): Promise<LocalAction> {
    await this.start();
    if (this.isClosed) throw closedError(`Provisioning '${identityOf(action).qualified}'`);
    const status = (s: ProvisionStatus) => {
      try {
        onStatus?.(s);
      } catch {
        /* a status callback must not break provisioning */
      }
    };
    const a = await this.provisionDoc(String(nodeId), action, catalog, status, [], opts);
    status({ phase: 'ready', detail: a.containers, action: a.name });
    return a;
  }

  private async provisionDoc(
    nodeId: string,
    doc: ActionDoc,
    catalog: Catalog,
    status: (s: ProvisionStatus) => void,
    chain: string[],
    opts: ProvisionOptions,
  ): Promise<LocalAction> {
    checkDoc(doc);
    if (doc.exec.kind === 'sequence') {
      const seq = await provisionSequence(
        doc,
        catalog,
        chain,
        (fqn) => status({ phase: 'fetching', detail: fqn, action: fqn }),
        (d, c) => this.provisionDoc(nodeId, d, catalog, status, c, opts),
        async (r) => {
          this.actions.delete(r);
          await r.close().catch(() => undefined);
        },
      );
      this.actions.add(seq);
      return seq;
    }
    const id = identityOf(doc);
    const resolved = await this.images.prepare(
      doc,
      catalog,
      {
        docker: this.docker,
        target: this.target,
        platform: this.platform,
        hasReady: (image) => this.capacity.hasReadyCell(image),
        noteFailure: (err) => this.healthOf.noteFailure(err),
        notice: (text) => this.emit('notice', text),
      },
      (detail) => status({ phase: 'pulling', detail, action: id.qualified }),
    );
    if (this.isClosed) throw closedError(`Provisioning '${id.qualified}'`);
    const s = this.settings;
    const plan = planFor(nodeId, doc, resolved, { ...this.opts, engineId: this.engineId, capacity: s.capacity });
    const pool = new PoolAction(
      {
        capacity: this.capacity,
        health: this.healthOf,
        containers: this.env,
        maxPayload: s.maxPayload,
        startTimeout: s.startTimeout,
        forget: (p) => {
          this.pools.delete(p);
          this.actions.delete(p);
        },
      },
      plan,
      splitParams(doc.parameters).run,
      s.queueLimit,
    );
    this.pools.add(pool);
    try {
      await pool.warm(status, opts.capacityWaitMs);
    } catch (err) {
      await pool.close();
      this.pools.delete(pool);
      throw err;
    }
    this.actions.add(pool);
    return pool;
  }

  /** Close every action and remove every container this engine created; bounded well under 15 s. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.capacity.close();
    this.healthOf.close();
    const work = (async () => {
      await Promise.all([...this.actions].map((a) => a.close().catch(() => undefined)));
      await Promise.all([...this.pools].map((p) => p.close().catch(() => undefined)));
      // A container being created (a stem cell being replenished, a pool growing) exists in Docker
      // before its create call answers: wait for the answers, then remove what is tracked.
      await this.containers.creationsSettled();
      await this.containers.removeAll();
      // Last sweep by this engine's own label: catches a container created meanwhile whose launch
      // had not tracked it yet, and one whose create call timed out here but completed in the daemon.
      if (this.starting) await removeOwn(this.docker, this.engineId);
    })();
    this.closing = Promise.race([work, new Promise<void>((r) => setTimeout(r, ENGINE_CLOSE_BOUND_MS).unref())]).then(() => {
      this.agent.destroy();
      liveEngines.delete(this.engineId);
    });
    return this.closing;
  }
}
