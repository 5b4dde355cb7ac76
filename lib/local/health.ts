// The Docker engine's health as the runtime sees it: ok / down / degraded, from the outcome of
// every Docker call the runtime makes, with a probe (a ping on a fresh connection, every second)
// while it is down, and the recovery once it is back. It emits 'change', 'down' and 'back'; the
// engine (engine.ts) turns the changes into its 'health' events and forwards down and back to the
// capacity (capacity.ts) and the recovery.
//
// Behaviour under faults (test/docker/engine-faults.test.js):
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
import type http from 'node:http';
import type Docker from 'dockerode';
import { NO_ROOM, OpenWhiskNodeError } from '../errors';
import type { EngineHealth } from '../status';
import { bounded, engineQueries, translateDockerError, type DockerTarget } from './docker';
import type { Containers } from './registry';
import { readLiveRestore } from './setup';

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
export interface LocalEngineHealth extends EngineHealth {
  /** What is wrong and what to do (the text of the errors messages fail with); undefined when ok. */
  message?: string;
  /** When this state began (ms since the epoch). */
  since: number;
}

export interface HealthEvents {
  /** Every change of state (or of the reason within one). */
  change: [h: LocalEngineHealth];
  /** The engine just went down: `err` is what work needing Docker fails with meanwhile. */
  down: [err: OpenWhiskNodeError];
  /** It is back (a fresh connection answered). */
  back: [];
}

/** How often an engine that is down is pinged. */
const PROBE_PERIOD_MS = 1000;
const PROBE_TIMEOUT_MS = 2000;

export class DockerHealth extends EventEmitter<HealthEvents> {
  private now: LocalEngineHealth = { state: 'ok', since: Date.now() };
  private downErr?: OpenWhiskNodeError;
  private probing?: Promise<boolean>;
  private probeTimer?: NodeJS.Timeout;
  private closed = false;

  /** `probeDocker`: a client that opens a fresh connection for every call (a kept-alive one can outlive dockerd). */
  constructor(
    private readonly target: DockerTarget,
    private readonly probeDocker: Docker,
  ) {
    super();
  }

  get current(): LocalEngineHealth {
    return this.now;
  }

  /** While the engine is down: the error messages needing a new container fail with. */
  get downError(): OpenWhiskNodeError | undefined {
    return this.now.state === 'down' ? this.downErr : undefined;
  }

  /** A Docker call failed: unreachable → down (probed until back); no room → degraded. */
  noteFailure(err: unknown): void {
    if (this.closed || !(err instanceof OpenWhiskNodeError)) return;
    if (err.code === 'unreachable') this.markDown(err);
    else if (err.code === 'docker' && err.reason !== undefined && NO_ROOM.has(err.reason) && this.now.state !== 'down') this.set('degraded', err);
  }

  /** A container started: the engine works. */
  noteSuccess(): void {
    if (this.closed || this.now.state === 'ok') return;
    if (this.now.state === 'degraded') {
      this.set('ok');
      return;
    }
    // Down: a call on a kept-alive connection can still succeed while dockerd is stopping; only a
    // fresh connection says it is back.
    void this.reachable().then((ok) => {
      if (ok) this.backUp();
    });
  }

  /** Ping on a fresh connection (bounded); marks the engine down when it cannot be reached. Concurrent callers share one ping. */
  reachable(): Promise<boolean> {
    if (!this.probing) {
      this.probing = bounded((abortSignal) => engineQueries(this.probeDocker).ping({ abortSignal }), PROBE_TIMEOUT_MS, this.target, 'pinging')
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

  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
  }

  private set(state: LocalEngineHealth['state'], err?: OpenWhiskNodeError): void {
    const prev = this.now;
    if (prev.state === state && prev.message === err?.message) return;
    this.now = { state, short: err?.short, message: err?.message, since: prev.state === state ? prev.since : Date.now() };
    if (!this.closed) this.emit('change', this.now);
  }

  private backUp(): void {
    if (this.closed || this.now.state !== 'down') return;
    this.set('ok');
    this.emit('back');
  }

  private markDown(cause: OpenWhiskNodeError): void {
    if (this.now.state === 'down') return; // the first cause stands until it is back
    // Docker's own unreachable / timeout errors name the engine already.
    const detail =
      cause.reason === 'docker-unreachable' || cause.reason === 'docker-timeout'
        ? cause.message
        : `Cannot reach the Docker engine at ${this.target.description}: ${cause.message} Is dockerd running?`;
    this.downErr = new OpenWhiskNodeError(
      'unreachable',
      `${detail} Messages that need a new container fail until it is back; the runtime reconnects by itself (no restart of Node-RED needed).`,
      { reason: 'docker-unreachable', cause },
    );
    this.set('down', this.downErr);
    this.emit('down', this.downErr);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.closed || this.now.state !== 'down') return;
      void this.reachable().then((ok) => {
        if (ok) this.backUp();
        else this.scheduleProbe();
      });
    }, PROBE_PERIOD_MS);
    this.probeTimer.unref();
  }
}

/** What recovery after an outage works on (engine.ts gives it). */
export interface RecoveryParts {
  readonly docker: Docker;
  readonly target: DockerTarget;
  /** The keep-alive agent to the containers. */
  readonly agent: http.Agent;
  readonly engineId: string;
  /** Bound on Docker calls (the start timeout). */
  readonly boundMs: number;
  readonly containers: Containers;
  /** The runtime's capacity: pools the outage emptied and the stem cells start again. */
  readonly capacity: { engineBack(): void };
  /** The daemon's live-restore setting, read again (it may have been restarted with another); undefined: unknown. */
  liveRestoreIs(value: boolean | undefined): void;
  /** Down again, or closed: stop after the re-attaching. */
  stopped(): boolean;
}

/**
 * The engine is back: re-check containers an outage detached (live-restore), remove what the
 * outage left (stopped containers, creations that completed after their call timed out), and
 * start one container again for each action the outage left without any. Concurrent calls share one recovery.
 */
export class Recovery {
  private running?: Promise<void>;

  constructor(private readonly parts: RecoveryParts) {}

  recover(): Promise<void> {
    this.running ??= this.afterOutage().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async afterOutage(): Promise<void> {
    const p = this.parts;
    // Kept-alive sockets to containers of before the outage are dead (a new container may get the same port).
    for (const list of Object.values(p.agent.freeSockets)) for (const sock of [...(list ?? [])]) sock.destroy();
    p.liveRestoreIs(await readLiveRestore(p.docker, p.target));
    await Promise.all(p.containers.detached().map((c) => c.reattach().catch(() => undefined)));
    if (p.stopped()) return;
    p.containers.buryAgain();
    await p.containers.sweepOwn(p.docker, p.target, p.engineId, p.boundMs).catch(() => undefined);
    p.capacity.engineBack();
  }
}
