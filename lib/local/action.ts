// What a provisioned local action is to the engine, the runner and a sequence (a plain action's
// pool, pool.ts, or a sequence, sequence.ts), and the provisioning progress it reports.

import type { ActionRef, Activation } from '../types';

export type LocalPhase = 'fetching' | 'pulling' | 'starting' | 'initializing' | 'ready';

export interface LocalStatus {
  phase: LocalPhase;
  /** Progress text ('pulling'), the image ('starting'), the action ('initializing'), the container count ('ready'). */
  detail?: string | number;
  /** The action this is about ("/ns/pkg/name"); for a sequence, the component being provisioned. */
  action?: string;
}

export interface CloseOptions {
  /** 'removed' (default): resolve when the containers are gone; 'stopped': when no more work is taken. */
  wait?: 'removed' | 'stopped';
}

/** A provisioned local action (a plain action or a sequence). */
export interface LocalAction {
  /** "/ns/pkg/name". */
  readonly name: string;
  /** The kind after resolving ":default" ("nodejs:22", "blackbox", "sequence"). */
  readonly kind: string;
  /** The image its containers run (undefined for a sequence). */
  readonly image?: string;
  /** Containers ready to run it now (for a sequence: of all its components). */
  readonly containers: number;
  /** Messages waiting for a free container. */
  readonly queued: number;
  /** Resolves with the activation on success; rejects with an OpenWhiskNodeError (with .activation when one exists). */
  invoke(params: Record<string, unknown> | unknown[], ref?: ActionRef): Promise<Activation>;
  /**
   * Rejects queued and in-flight messages and removes every container of this action. Resolves
   * once they are gone; with `{ wait: 'stopped' }` as soon as the action takes no more work, its
   * containers being removed in the background (they keep their capacity slots until gone, and
   * the runtime's close and its crash sweep still remove them).
   */
  close(opts?: CloseOptions): Promise<void>;
}

/** Internal: what a sequence needs of its components. */
export interface Runnable extends LocalAction {
  run(params: Record<string, unknown> | unknown[] | null | undefined, causedBySequence: boolean): Promise<Activation>;
  /** Memory limit (MB) of its containers, for a sequence's limits annotation. */
  readonly memory: number;
}
