// The local Docker runtime: one LocalEngine per runtime config node. A facade over its parts:
// options.ts (settings, labels), setup.ts (connect, isolation network, sweeps), health.ts (ok /
// down / degraded, recovery), slots.ts (capacity), cells.ts (stem cells), provision.ts (document →
// plan), pool.ts (one action's warm containers), container.ts (one container). No Node-RED imports.
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

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, Catalog } from '../types';
import { StemCells } from './cells';
import { ActionContainer, closedError, type ContainerEnv, type ContainerPlan, type DockerContext } from './container';
import { createDocker, createProbeDocker, ensureImage, parseDockerTarget, translateDockerError, type DockerTarget, type EnginePlatform } from './docker';
import { DockerHealth, type LocalEngineHealth } from './health';
import { createAgent } from './http';
import { Maintenance } from './maintenance';
import { Containers } from './registry';
import { settingsOf, type EngineSettings, type LocalEngineOptions } from './options';
import { PoolAction, type LocalAction, type LocalStatus, type Runnable } from './pool';
import { ImageChooser, checkDoc, planFor, provisionSequence, withContext } from './provision';
import { identityOf, splitParams } from './protocol';
import { connect, ensureIsolationNetwork, listOwn, readLiveRestore, remoteAddress, sweepLeftovers } from './setup';
import { QueueBytes, Slots } from './slots';

export type { LocalAction, LocalPhase, LocalStatus } from './pool';
export type { LocalEngineHealth } from './health';
export { CELL_DEFER_MS } from './cells';
export { ISOLATION_NETWORK, LABELS, checkNetwork, cpuShares, type LocalEngineOptions } from './options';

/** Engines alive in this process: their containers are never swept. */
const liveEngines = new Set<string>();

/** How long a /run reply waits for its log sentinels when they are late (they usually trail by < 0.1 ms). */
const LOG_GRACE_MS = 100;
const ENGINE_CLOSE_BOUND_MS = 12000;

export class LocalEngine extends EventEmitter {
  readonly target: DockerTarget;
  readonly engineId = randomUUID().replace(/-/g, '').slice(0, 12);
  readonly settings: EngineSettings;
  private readonly docker: Docker;
  private readonly agent: http.Agent;
  private readonly opts: LocalEngineOptions;
  /** Where containers run; publishIp, connectHost, isolationNetwork and liveRestore are learnt at start. */
  private readonly ctx: { -readonly [K in keyof DockerContext]: DockerContext[K] };
  private readonly healthOf: DockerHealth;
  private readonly slots: Slots;
  private readonly queue: QueueBytes;
  private readonly cells: StemCells;
  private readonly images: ImageChooser;
  private readonly env: ContainerEnv;
  private starting?: Promise<void>;
  private platform: EnginePlatform = { os: '', arch: '' };
  private isClosed = false;
  private closing?: Promise<void>;
  private readonly pools = new Set<PoolAction>();
  private readonly actions = new Set<Runnable>();
  private readonly containers: Containers;
  private readonly maintenance: Maintenance;
  private recovering?: Promise<void>;

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
    this.settings = settingsOf(opts);
    const s = this.settings;
    if (this.target.remoteHost && !s.network && !opts.publishRemote) {
      throw new OpenWhiskNodeError(
        'config',
        `The Docker engine at ${this.target.description} is on another host: its action containers would serve /init and /run ` +
          `(action code and every message, unencrypted) on that host's network. Run Node-RED in a container on that engine and set ` +
          `the runtime's Docker network, or, on a network you trust, tick "Publish action ports on the Docker host's network" in the runtime config.`,
        { short: 'remote docker' },
      );
    }
    const ctx = { api: this.docker, target: this.target, agent: this.agent, network: s.network, isolationNetwork: '', publishIp: '127.0.0.1', connectHost: '127.0.0.1', liveRestore: false };
    this.ctx = ctx;
    const health = (this.healthOf = new DockerHealth(this.target, createProbeDocker(this.target, this.docker), {
      changed: (h) => {
        try {
          this.emit('health', h);
        } catch {
          /* a listener must not break the engine */
        }
      },
      down: (err) => {
        for (const p of this.pools) p.engineDown(err);
      },
      back: () => void this.recover(),
    }));
    const isClosed = () => this.isClosed;
    this.containers = new Containers(isClosed);
    this.env = {
      docker: ctx,
      health,
      registry: this.containers,
      limits: { startTimeout: s.startTimeout, logGrace: LOG_GRACE_MS, maxResult: s.maxResult },
    };
    this.slots = new Slots(s.capacity, s.startTimeout, {
      evict: (requester, allowLast) => this.maintenance.evictFor(requester, allowLast),
      freed: () => this.cells.refillSoon(),
    });
    this.queue = new QueueBytes(s.queueBytes);
    this.cells = new StemCells(s.stemCells, this.slots, this.env, {
      instanceId: opts.instanceId,
      runtimeId: opts.runtimeId,
      engineId: this.engineId,
      get closed() {
        return isClosed();
      },
      get downError() {
        return health.downError;
      },
    });
    this.images = new ImageChooser(this.opts.imageOverrides ?? {});
    this.maintenance = new Maintenance(this.pools, this.cells, () => this.slots, s, () => {
      if (!this.isClosed && this.containers.buried > 0 && this.healthOf.current.state !== 'down') this.containers.buryAgain();
    });
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
    return this.cells.ready;
  }

  /** The daemon runs with live-restore: containers survive its restarts (read at start and after each outage). */
  get liveRestore(): boolean {
    return this.ctx.liveRestore;
  }

  /** Take a ready stem cell of `plan`'s shape with its slot (see cells.ts); give the slot back with releaseSlot(). */
  takeCell(plan: ContainerPlan): ActionContainer | undefined {
    return this.cells.take(plan);
  }

  releaseSlot(): void {
    this.slots.release();
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
    this.ctx.liveRestore = (await readLiveRestore(this.docker, this.target)) ?? this.ctx.liveRestore;
    if (this.target.remoteHost && !this.ctx.network) this.ctx.publishIp = this.ctx.connectHost = await remoteAddress(this.target.remoteHost);
    if (!this.ctx.network) this.ctx.isolationNetwork = await ensureIsolationNetwork(this.docker, this.target);
    await this.sweep();
  }

  /** Remove this instance's containers that no live engine of this process owns. Returns how many. */
  sweep(): Promise<number> {
    return sweepLeftovers(this.docker, this.target, this.opts.instanceId, (id) => liveEngines.has(id), this.settings.startTimeout);
  }

  /**
   * Provision an action for one flow node: resolve its image (pull only if absent), create and
   * start one warm container, wait for the port, /init once. A sequence provisions each component
   * (fetched from `catalog`). Resolves once the action can run without a cold start.
   */
  async provision(nodeId: string, action: ActionDoc, catalog: Catalog, onStatus?: (s: LocalStatus) => void): Promise<LocalAction> {
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

  private async provisionDoc(nodeId: string, doc: ActionDoc, catalog: Catalog, status: (s: LocalStatus) => void, chain: string[]): Promise<Runnable> {
    checkDoc(doc);
    if (doc.exec.kind === 'sequence') {
      const seq = await provisionSequence(
        doc,
        catalog,
        chain,
        (fqn) => status({ phase: 'fetching', detail: fqn, action: fqn }),
        (d, c) => this.provisionDoc(nodeId, d, catalog, status, c),
        async (r) => {
          this.actions.delete(r);
          await r.close().catch(() => undefined);
        },
      );
      this.actions.add(seq);
      return seq;
    }
    const id = identityOf(doc);
    const resolved = await this.images.choose(doc, catalog);
    // A ready stem cell of the image proves it is there (and of the engine's platform): no Docker call.
    if (!this.cells.hasReady(resolved.image)) {
      try {
        await ensureImage(this.docker, this.target, resolved.image, resolved.kind, this.platform, (detail) =>
          status({ phase: 'pulling', detail, action: id.qualified }),
        );
      } catch (err) {
        this.healthOf.noteFailure(err);
        throw withContext(err, `Action '${id.qualified}'`);
      }
    }
    if (this.isClosed) throw closedError(`Provisioning '${id.qualified}'`);
    const s = this.settings;
    const plan = planFor(nodeId, doc, resolved, { ...this.opts, engineId: this.engineId, capacity: s.capacity });
    const pool = new PoolAction(
      {
        slots: this.slots,
        queue: this.queue,
        cells: this.cells,
        health: this.healthOf,
        containers: this.env,
        maxPayload: s.maxPayload,
        startTimeout: s.startTimeout,
        forget: (p) => {
          this.pools.delete(p);
          this.actions.delete(p);
          this.slots.forget(p);
        },
      },
      plan,
      splitParams(doc.parameters).run,
      s.queueLimit,
    );
    this.pools.add(pool);
    this.maintenance.start();
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

  // ---- recovery after an outage -----------------------------------------------------------------

  /**
   * The engine is back: re-check containers an outage suspended (live-restore), remove what the
   * outage left (stopped containers, creations that completed after their call timed out), and
   * start one container again for each action the outage left without any.
   */
  private recover(): Promise<void> {
    this.recovering ??= this.doRecover().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async doRecover(): Promise<void> {
    // Kept-alive sockets to containers of before the outage are dead (a new container may get the same port).
    for (const list of Object.values(this.agent.freeSockets)) for (const sock of [...(list ?? [])]) sock.destroy();
    this.ctx.liveRestore = (await readLiveRestore(this.docker, this.target)) ?? this.ctx.liveRestore;
    await Promise.all(this.containers.detached().map((c) => c.reattach().catch(() => undefined)));
    if (this.healthOf.current.state === 'down' || this.isClosed) return;
    this.containers.buryAgain();
    await this.containers.sweepOwn(this.docker, this.target, this.engineId, this.settings.startTimeout).catch(() => undefined);
    for (const p of this.pools) p.rewarm();
    this.cells.fillAll();
  }

  /** Close every action and remove every container this engine created; bounded well under 15 s. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.maintenance.stop();
    this.healthOf.close();
    this.slots.close();
    const work = (async () => {
      await Promise.all([...this.actions].map((a) => a.close().catch(() => undefined)));
      await Promise.all([...this.pools].map((p) => p.close().catch(() => undefined)));
      await this.containers.removeAll();
      // Last sweep by this engine's own label: catches a container whose create call timed out here
      // but completed in the daemon later.
      if (this.starting) {
        const left = await listOwn(this.docker, this.engineId).catch((): Docker.ContainerInfo[] => []);
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
