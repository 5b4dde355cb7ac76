// What a provisioned local action is to the engine, the runner and a sequence: a plain action's
// pool (pool.ts) or a sequence (sequence.ts).

import type { Activation, Invocable } from '../types';

/**
 * A provisioned local action (a plain action or a sequence): what the engine hands out, and what a
 * sequence needs of its components.
 */
export interface LocalAction extends Invocable {
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
  /** Memory limit (MB) of its containers, for a sequence's limits annotation. */
  readonly memory: number;
  /** Runs it as a sequence's component (`causedBySequence`) or on its own. */
  run(params: Record<string, unknown> | unknown[] | null | undefined, causedBySequence: boolean): Promise<Activation>;
}
