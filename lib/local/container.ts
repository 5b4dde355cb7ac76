// One action container's Docker lifecycle: create + attach + start through dockerode, removal.
// Where it is in its life (one state of container-states.ts), its attached output stream, why it
// stopped (crash, OOM, engine gone) and re-attaching after an outage are its link to Docker's side
// (container-link.ts), which this class builds on. What is said to the container over HTTP
// (readiness probe, /init once, /run per activation, log framing) is the protocol client below it
// (proxy-client.ts): this class calls it and applies what it returns. What a container needs from
// its runtime and is made of on Docker's side is container-setup.ts.
// The pool (pool.ts) decides which container runs what and when one must be replaced: it reads the
// state, and is told (watch) when the state changes on its own. A stem cell (cells.ts) is a
// container launched without /init under a runtime-level plan; handOver() gives it an action's plan
// and its one /init.

import type Docker from 'dockerode';
import { OpenWhiskNodeError } from '../errors';
import { bounded, dockerStatus, translateDockerError } from './docker';
import { hasCode, retired } from './container-states';
import {
  addressOf,
  containerName,
  createContainer,
  exitState,
  isolationGone,
  launchFailure,
  missingNetwork,
  renameContainer,
  type ContainerPlan,
} from './container-setup';
import { ContainerLink, sleep } from './container-link';
import { closedError, type RunOutcome } from './proxy-client';

export { closedError, containerName };
export { ContainerStateError, retired, takesWork, type ContainerState } from './container-states';
export type { ContainerEnv, ContainerHealth, ContainerPlan, ContainerRegistry, DockerContext } from './container-setup';
export type { ContainerLimits, LossCause, RunFailure, RunOutcome } from './proxy-client';

/** Warm-up calls a stem cell gets once it listens (warmUp). */
const CELL_WARM_UPS = 20;

/** Told when a container changes state on its own: its stream ended (suspended), then the cause is known (detached or dead). */
export type ContainerWatcher = (c: ActionContainer) => void;

export class ActionContainer extends ContainerLink {
  inflight = 0;
  runs = 0;
  /** Duration of /init (ms); reported as initTime on the container's first activation. */
  initTime = 0;
  /** The removal under way (or failed) of the Docker container `id`, and its reason (a retry keeps it). */
  private removal?: { id: string; promise?: Promise<void>; reason: string };

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
        const retry = err instanceof OpenWhiskNodeError && err.reason === 'port-in-use' ? 'port' : isolationGone(this.env.docker, err) ? 'network' : undefined;
        if (!retry) throw err;
        await this.discardAttempt();
        if (retry === 'network') await this.env.docker.renewIsolation();
        await this.create();
        await this.start();
      }
      if (withInit) {
        phase?.('initializing');
        await this.init();
      } else await this.enter('listening');
    } catch (err) {
      await this.remove().catch(() => undefined);
      if (!this.id) this.fire('removed'); // its create failed, or was cancelled before it returned
      throw await launchFailure(this.env.health, err);
    }
    this.env.health.noteSuccess();
  }

  /**
   * A stem cell that listens: `POST /warm-up`s on the kept-alive agent (proxy-client.ts warmUpCall;
   * twenty: bench/README.md, stem cells). The /init that hands it over then finds a connection open (a
   * new one through Docker's port proxy costs about 1 ms here) and the runtime's request path past its
   * first, slowest requests. Stops at the first that fails, or once `enough()` (an action waits for
   * the cell's slot, the runtime closed). Never rejects.
   */
  async warmUp(enough: () => boolean): Promise<void> {
    try {
      for (let i = 0; i < CELL_WARM_UPS && !enough(); i++) {
        this.check();
        if (!(await this.client.warmUpCall())) return;
      }
    } catch {
      /* closed meanwhile */
    }
  }

  /**
   * A started, uninitialised container (a stem cell) becomes one of `plan`'s: its /init with the
   * action's code. Refused for a container that was initialised (or tried) before, or is dead.
   * On failure the container is removed, as after a failed launch. Its Docker labels stay those
   * of a cell (they are immutable); it is renamed after the action, in the background.
   */
  async handOver(plan: ContainerPlan, phase?: (p: 'starting' | 'initializing') => void): Promise<void> {
    if (hasCode(this.machine)) throw new Error(`${this.label} was initialised already: a stem cell receives code at most once`);
    if (this.state !== 'started') throw closedError(`Handing over ${this.label}`);
    this.plan = plan;
    try {
      phase?.('initializing');
      await this.init();
    } catch (err) {
      await this.remove().catch(() => undefined);
      throw await launchFailure(this.env.health, err);
    }
    // After its first run has had the CPU (a Docker call is not free on a small gateway).
    const name = containerName(plan.nodeId, plan.id.path, this.env.registry.nextSeq());
    setTimeout(() => {
      if (!retired(this.state))
        void renameContainer(this.env, this.id, name, this.label).then((ok) => {
          if (ok) this.name = name;
        });
    }, 100).unref();
  }

  /** The launch was cancelled, or the runtime closed: stop. */
  private check(): void {
    if (this.env.registry.closed || this.state === 'removing' || this.state === 'gone') throw closedError(`Starting ${this.label}`);
  }

  private async create(): Promise<void> {
    const created = await createContainer(this.env, this.plan, () => this.check());
    this.id = created.id;
    this.name = created.name;
    this.env.registry.track(this);
    this.check();
    // Attach before start so no output is missed; Tty is false, so the stream is multiplexed.
    await this.attach();
  }

  /**
   * The port retry of a launch: remove this attempt's Docker container and forget it, so create()
   * makes a fresh one. The container stays 'starting'. If Docker cannot remove it, the launch fails
   * and its remove() tries again.
   */
  private async discardAttempt(): Promise<void> {
    const h = this.env;
    this.detachStream();
    this.client.abortAll('retry');
    try {
      await bounded(
        (abortSignal) => h.docker.api.getContainer(this.id).remove({ force: true, v: true, abortSignal }),
        h.limits.startTimeout,
        h.docker.target,
        `removing ${this.label}`,
      );
    } catch (err) {
      if (dockerStatus(err) !== 404) throw translateDockerError(err, h.docker.target, `removing ${this.label}`);
    }
    h.registry.untrack(this);
    this.id = '';
    this.name = '';
    this.loss = undefined;
    // The failed attempt's output stream may have ended already (Docker ends it when the start
    // fails): that was the old container's, the next attempt starts afresh.
    this.fire('attemptDiscarded');
    this.client.restartLogs(this.plan);
  }

  private async start(): Promise<void> {
    const h = this.env;
    this.check();
    try {
      await bounded(
        (abortSignal) => h.docker.api.getContainer(this.id).start({ abortSignal }),
        h.limits.startTimeout,
        h.docker.target,
        `starting ${this.label}`,
      );
    } catch (err) {
      throw missingNetwork(h.docker, err) ?? translateDockerError(err, h.docker.target, `starting ${this.label}`);
    }
    let info: Docker.ContainerInspectInfo;
    try {
      info = await bounded(
        (abortSignal) => h.docker.api.getContainer(this.id).inspect({ abortSignal }),
        h.limits.startTimeout,
        h.docker.target,
        `inspecting ${this.label}`,
      );
    } catch (err) {
      throw translateDockerError(err, h.docker.target, `inspecting ${this.label}`);
    }
    const { host, port } = addressOf(info, h.docker, this.label);
    this.client.host = host;
    this.client.port = port;
    if (!port) {
      if (!info.State?.Running) throw await this.exitedError('did not start');
      throw new OpenWhiskNodeError('docker', `Docker published no host port for port 8080 of ${this.label}.`, {
        short: 'no port',
      });
    }
    await this.awaitListening();
  }

  /**
   * Probe until its proxy answers HTTP, at most the start timeout; stop when it exits, the launch is
   * cancelled or the runtime closes.
   */
  private async awaitListening(): Promise<void> {
    const startTimeout = this.env.limits.startTimeout;
    const deadline = Date.now() + startTimeout;
    let delay = 10;
    for (;;) {
      this.check();
      if (this.exited) throw await this.exitedError('exited before it listened on port 8080');
      if (await this.client.probeReady(deadline)) return;
      if (this.exited) throw await this.exitedError('exited before it listened on port 8080');
      if (Date.now() >= deadline) throw this.client.notListening(this.label, this.plan, startTimeout, Boolean(this.env.docker.network));
      await sleep(delay);
      delay = Math.min(100, delay * 2);
    }
  }

  /** Its one /init (proxy-client.ts postInit); a dropped connection fails with why the container stopped. */
  private async init(): Promise<void> {
    this.check();
    await this.enter('initSent');
    const reply = await this.client.postInit(this.plan, this.label);
    if ('dropped' in reply) {
      const cause = await this.lossCause();
      if (cause === 'engine' && this.env.health.downError) throw this.env.health.downError;
      throw await this.client.initDropped(this.plan, cause === 'oom');
    }
    this.initTime = reply.ms;
    // Its stream ended meanwhile: it stays suspended (or detached) until the cause is known, then
    // its watcher is told; once re-attached it is 'ready'.
    await this.enter('initDone');
  }

  /** Move on in a launch or hand-over; when it stopped or was removed meanwhile, fail as that. */
  private async enter(event: 'listening' | 'initSent' | 'initDone'): Promise<void> {
    if (this.fire(event)) return;
    this.check();
    throw await this.exitedError(`stopped before it was ${event === 'initSent' ? 'initialised' : 'ready'}`);
  }

  /**
   * A pool's job: one activation, POST /run with a prepared body (proxy-client.ts postRun). Never
   * rejects: the outcome says what happened. A run that did not end in HTTP 200 leaves the
   * container dead (never used again).
   */
  async execute(body: string, timeoutMs: number): Promise<RunOutcome> {
    this.inflight++;
    this.runs++;
    const exchange = await this.client.postRun(body, timeoutMs);
    this.inflight--;
    this.used = Date.now();
    const fatal = !exchange.reply || exchange.reply.status !== 200;
    const outcome: RunOutcome = { ...exchange, fatal };
    if (fatal) this.fire('runFailed');
    if (exchange.failure === 'dropped') {
      const cause = await this.lossCause();
      outcome.oom = cause === 'oom';
      outcome.engineLost = cause === 'engine';
    }
    return outcome;
  }

  /** An error saying the container exited while doing `what`, with its exit state and logs. */
  async exitedError(what: string): Promise<OpenWhiskNodeError> {
    const state = await exitState(this.env, this.id, this.label);
    return new OpenWhiskNodeError('developer_error', `${this.label} (image '${this.plan.image}') ${what}${state}. ${this.client.logsSection()}`, {
      short: 'container exited',
    });
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
    this.fire('remove');
    const why = reason ?? removal?.reason ?? 'closed';
    this.client.abortAll(why);
    this.detachStream();
    const id = this.id;
    const next: { id: string; promise?: Promise<void>; reason: string } = { id, reason: why };
    this.removal = next;
    next.promise = (async () => {
      if (id) {
        try {
          await bounded(
            (abortSignal) => this.env.docker.api.getContainer(id).remove({ force: true, v: true, abortSignal }),
            this.env.limits.startTimeout,
            this.env.docker.target,
            `removing ${this.label}`,
          );
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
      if (id && this.removal === next && this.id === id) this.fire('removed');
    })();
    return next.promise;
  }
}
