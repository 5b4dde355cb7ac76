// What an operator reads from a runtime that serves the API: GET /metrics (Prometheus text format
// 0.0.4, behind the API's key) with the runtime's activations, cold and warm starts, durations, bursts,
// queues, containers, stem cells and Docker health. Counted where the facts arise: the runner tells
// the observer of each invocation's outcome (lib/runner.ts RunnerObserver); gauges are read from the
// engine's own bookkeeping at the scrape (LocalEngine.snapshot, no Docker call). No Node-RED in here.

import { OpenWhiskNodeError } from '../errors';
import type { EngineSnapshot } from '../local/engine';
import { type Labels, MetricsRegistry, OVERFLOW } from '../metrics';
import type { RunnerObserver, Where } from '../runner';
import type { ActionRef, Activation } from '../types';

export const PREFIX = 'openwhisk_gateway_';
/** Distinct action labels a runtime's metrics hold; beyond, an action is counted as OVERFLOW ("_other"). */
export const MAX_ACTIONS = 200;
/** The action label of a failure of an action the runtime has never run nor provisioned (a name it does not know). */
export const UNKNOWN_ACTION = '_unknown';

/** Where an invocation came in: an action node's message, or a call of the API. */
export type Source = 'flow' | 'api';

const STATES = ['starting', 'started', 'initializing', 'ready', 'busy', 'suspended', 'detached', 'dead', 'removing'] as const;
/** Container states as the metric names them: a 'started' container has no code, it is a stem cell. */
const STATE_LABEL: Record<string, string> = { started: 'stem_cell', ready: 'idle' };
const HEALTH = ['ok', 'degraded', 'down'] as const;

/** An activation's response status as a label value. */
export function statusOf(a: Activation | undefined): string {
  if (!a) return 'rejected';
  switch (a.response?.status) {
    case 'success':
      return 'success';
    case 'application error':
      return 'application_error';
    case 'action developer error':
      return 'developer_error';
    default:
      return 'internal_error';
  }
}

function annotation(a: Activation | undefined, key: string): unknown {
  return (a?.annotations ?? []).find((k) => k && k.key === key)?.value;
}

const refKey = (ref: ActionRef) => `${ref.namespace && ref.namespace !== '_' ? ref.namespace : '_'}/${ref.name}`;

export class RuntimeMetrics {
  readonly registry = new MetricsRegistry();
  /** The action label of each reference invoked (learnt from its activations), at most MAX_ACTIONS of them. */
  private readonly labels = new Map<string, string>();
  private readonly known = new Set<string>();
  private readonly activations;
  private readonly rejections;
  private readonly starts;
  private readonly duration;
  private readonly bursts;

  /** `engine`: the local engine's snapshot now (undefined without one: its gauges are left out). */
  constructor(
    private readonly engine: () => EngineSnapshot | undefined,
    private readonly maxActions = MAX_ACTIONS,
  ) {
    const r = this.registry;
    const series = maxActions * 40;
    this.activations = r.counter({
      name: `${PREFIX}activations_total`,
      help: 'Invocations done, by action, outcome (success, application_error, developer_error, internal_error, rejected: failed without running), where it ran (local, cloud, gateway, burst) and where it came from (flow, api).',
      labelNames: ['action', 'status', 'where', 'source'],
      maxSeries: series,
    });
    this.rejections = r.counter({
      name: `${PREFIX}rejections_total`,
      help: 'Invocations that failed without running (status rejected), by action and error code (overload, unreachable, docker, config, input, http, timeout).',
      labelNames: ['action', 'code'],
      maxSeries: series,
    });
    this.starts = r.counter({
      name: `${PREFIX}starts_total`,
      help: "Local activations by action and start: cold (its container's first run: the activation has an initTime) or warm.",
      labelNames: ['action', 'start'],
      maxSeries: series,
    });
    this.duration = r.histogram({
      name: `${PREFIX}activation_duration_seconds`,
      help: "Duration of the activations that ran (the activation record's duration), by action.",
      labelNames: ['action'],
      maxSeries: maxActions + 1,
    });
    this.bursts = r.counter({
      name: `${PREFIX}bursts_total`,
      help: 'Messages the local runtime could not run (queue full, no room, Docker down) sent to its burst target, by action.',
      labelNames: ['action'],
      maxSeries: maxActions + 1,
    });
    const snap = () => this.engine();
    r.gauge({ name: `${PREFIX}queue_depth`, help: 'Messages waiting for a container, by action.', labelNames: ['action'], maxSeries: maxActions + 1 }, () =>
      (snap()?.pools ?? []).map((p): [Labels, number] => [{ action: this.admit(p.action) }, p.queued]),
    );
    r.gauge(
      {
        name: `${PREFIX}containers`,
        help: 'Containers of the runtime by state (stem_cell: started without code; idle and busy: initialised).',
        labelNames: ['state'],
      },
      () => {
        const s = snap();
        if (!s) return [];
        const n = new Map<string, number>(STATES.map((x) => [STATE_LABEL[x] ?? x, 0]));
        for (const c of s.containers) {
          const k = STATE_LABEL[c.state] ?? c.state;
          if (n.has(k)) n.set(k, (n.get(k) ?? 0) + 1);
        }
        return [...n].map(([state, v]): [Labels, number] => [{ state }, v]);
      },
    );
    r.gauge({ name: `${PREFIX}stem_cells`, help: 'Stem cells: ready to be handed over, or being started.', labelNames: ['state'] }, () => {
      const s = snap();
      return s
        ? [
            [{ state: 'ready' }, s.cells.ready],
            [{ state: 'starting' }, s.cells.starting],
          ]
        : [];
    });
    r.gauge({ name: `${PREFIX}capacity`, help: 'Containers the runtime may run at once.' }, () => {
      const s = snap();
      return s ? [[{}, s.capacity]] : [];
    });
    r.gauge({ name: `${PREFIX}capacity_used`, help: 'Capacity slots taken now (containers running or starting, stem cells included).' }, () => {
      const s = snap();
      return s ? [[{}, s.used]] : [];
    });
    r.gauge(
      {
        name: `${PREFIX}docker_health`,
        help: 'The Docker engine as the runtime sees it: 1 for the current state (ok, degraded: no room for a container, down: unreachable), 0 for the others.',
        labelNames: ['state'],
      },
      () => {
        const s = snap();
        return s ? HEALTH.map((h): [Labels, number] => [{ state: h }, s.health.state === h ? 1 : 0]) : [];
      },
    );
  }

  /** The runner's observer for invocations coming from `source`. */
  observer(source: Source): RunnerObserver {
    return {
      done: (ref, where, a, err) => this.done(ref, where, a, err, source),
      burst: (ref) => this.bursts.inc({ action: this.labelOf(ref, undefined) }),
    };
  }

  /** The registry in the text format. */
  expose(): string {
    return this.registry.expose();
  }

  private done(ref: ActionRef, where: Where, a: Activation | undefined, err: unknown, source: Source): void {
    const action = this.labelOf(ref, a);
    const status = statusOf(a);
    this.activations.inc({ action, status, where, source });
    if (!a) {
      this.rejections.inc({ action, code: err instanceof OpenWhiskNodeError ? err.code : 'other' });
      return;
    }
    if (typeof a.duration === 'number') this.duration.observe({ action }, a.duration / 1000);
    if (where === 'local' && annotation(a, 'kind') !== 'sequence') {
      this.starts.inc({ action, start: annotation(a, 'initTime') !== undefined ? 'cold' : 'warm' });
    }
  }

  /**
   * The action label: the action's path as its catalog names it ("guest/edge/hello"), learnt from its
   * activations; for a failure without one, the label learnt earlier, or a pool's of the same name;
   * a name the runtime never ran nor provisioned is UNKNOWN_ACTION (a client's typo must not make a series).
   */
  private labelOf(ref: ActionRef, a: Activation | undefined): string {
    const key = refKey(ref);
    const learnt = this.labels.get(key);
    if (learnt) return learnt;
    const path = annotation(a, 'path');
    if (typeof path === 'string' && path) {
      const label = this.admit(path);
      if (this.labels.size < this.maxActions * 4) this.labels.set(key, label);
      return label;
    }
    const tail = `/${ref.name}`;
    const pool = (this.engine()?.pools ?? []).find((p) => p.action.endsWith(tail) && (key.startsWith('_/') || p.action === key));
    return pool ? this.admit(pool.action) : UNKNOWN_ACTION;
  }

  /** A label value for this action: itself while fewer than maxActions are known, else OVERFLOW. */
  private admit(path: string): string {
    if (this.known.has(path)) return path;
    if (this.known.size >= this.maxActions) return OVERFLOW;
    this.known.add(path);
    return path;
  }
}
