// The one table of action limits: the defaults an action gets when its document sets none, and the
// ranges the platform accepts.
import type { ActionLimits } from './types';

export const DEFAULT_LIMITS: Readonly<Required<ActionLimits>> = {
  timeout: 60000,
  memory: 256,
  logs: 10,
  concurrency: 1,
};

/**
 * The ranges OpenWhisk accepts (apache/openwhisk: time-limit, memory, log-limit and
 * concurrency-limit). Limits from a catalog are untrusted: a timeout past 2^31−1 ms would wrap
 * Node's timers, a huge memory limit would give one action the whole host.
 */
export const LIMIT_RANGES = {
  timeout: { min: 100, max: 300000 },
  memory: { min: 128, max: 512 },
  logs: { min: 0, max: 10 },
  concurrency: { min: 1, max: 500 },
} as const;
