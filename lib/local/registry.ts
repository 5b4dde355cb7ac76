// The containers one engine created and has not removed yet: every one is removed on close, one
// whose removal failed (engine down) is removed again once the engine is back, and after an
// outage the daemon's list of this engine's containers is reconciled with this one.

import type Docker from 'dockerode';
import { retired, type ActionContainer, type ContainerRegistry } from './container';
import { bounded, type DockerTarget } from './docker';
import { listOwn } from './setup';

export class Containers implements ContainerRegistry {
  private readonly tracked = new Set<ActionContainer>();
  /** Containers whose removal failed (engine down): removed once it is back. */
  private readonly graveyard = new Set<ActionContainer>();
  /** Create calls on their way to Docker: close waits for them (engine.ts). */
  private readonly creating = new Set<Promise<unknown>>();
  private seq = 0;

  constructor(private readonly isClosed: () => boolean) {}

  get closed(): boolean {
    return this.isClosed();
  }

  get size(): number {
    return this.tracked.size;
  }

  /** Failed removals wait to be retried. */
  get buried(): number {
    return this.graveyard.size;
  }

  /** The containers tracked now (a copy). */
  list(): ActionContainer[] {
    return [...this.tracked];
  }

  track(c: ActionContainer): void {
    this.tracked.add(c);
  }

  untrack(c: ActionContainer): void {
    this.tracked.delete(c);
  }

  creation<T>(call: Promise<T>): Promise<T> {
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.creating.add(settled);
    void settled.then(() => this.creating.delete(settled));
    return call;
  }

  /** Every create call made so far has been answered (or failed). */
  async creationsSettled(): Promise<void> {
    await Promise.all([...this.creating]);
  }

  nextSeq(): number {
    return ++this.seq;
  }

  removalFailed(c: ActionContainer): void {
    if (!this.isClosed()) this.graveyard.add(c);
  }

  /** Containers an outage left without their log stream (live-restore). */
  detached(): ActionContainer[] {
    return [...this.tracked].filter((c) => c.state === 'detached');
  }

  /** Retry the removals that failed. */
  buryAgain(): void {
    for (const c of this.graveyard) {
      this.graveyard.delete(c);
      void c.remove().catch(() => undefined); // with its first reason; fails → removalFailed puts it back
    }
  }

  /**
   * Containers of this engine the daemon still lists but the engine does not use: stopped ones
   * and creations whose call timed out but completed later. Never a container in use, nor one
   * created in the last `boundMs` (its create call may still be on its way back).
   */
  async sweepOwn(docker: Docker, target: DockerTarget, engineId: string, boundMs: number): Promise<void> {
    const list = await bounded((abortSignal) => listOwn(docker, engineId, abortSignal), boundMs, target, 'listing containers');
    const inUse = new Map<string, ActionContainer>();
    for (const c of this.tracked) if (c.id) inUse.set(c.id, c);
    const young = Math.floor((Date.now() - boundMs) / 1000);
    await Promise.all(
      list.map((info) => {
        const c = inUse.get(info.Id);
        if (c) return retired(c.state) ? c.remove().catch(() => undefined) : undefined;
        if (info.Created > young) return undefined;
        return bounded(
          (abortSignal) => docker.getContainer(info.Id).remove({ force: true, v: true, abortSignal }),
          boundMs,
          target,
          'removing a container',
        ).catch(() => undefined);
      }),
    );
  }

  /** At close: remove every container still here. */
  removeAll(): Promise<unknown> {
    this.graveyard.clear();
    return Promise.all([...this.tracked].map((c) => c.remove('closed').catch(() => undefined)));
  }
}
