// What an action node's status ring shows, as a pure reducer: the runner (runner.ts) feeds it what
// happens (provisioning phases, invocations, Docker health changes, container counts) and shows what
// it returns. No timers, no I/O: every rule of the ring is here and unit-tested on its own.

/** What the node's status ring shows: a step of provisioning, or what the node does now. */
export type Phase = ProvisionStatus['phase'] | 'idle' | 'invoking' | 'error';

/**
 * What provisioning reports, from lib/local (the engine's onStatus) through the runner (its own
 * 'deploying' and 'fetching') to this reducer (a RingEvent of type 'phase').
 */
export interface ProvisionStatus {
  /** 'deploying' and the first 'fetching' are the runner's own (an inline action deployed, the action looked up). */
  phase: 'deploying' | 'fetching' | 'pulling' | 'starting' | 'initializing' | 'ready';
  /**
   * Progress text ('pulling'), the image ('starting'), the action ('initializing'), the container
   * count ('ready'); the action fetched ('fetching' of a sequence's component).
   */
  detail?: string | number;
  /** The action this is about ("/ns/pkg/name"); for a sequence, the component being provisioned. */
  action?: string;
}

/** The Docker engine's health as a 'health' event carries it (lib/local/health.ts LocalEngineHealth adds more). */
export interface EngineHealth {
  state: 'ok' | 'down' | 'degraded';
  /** Short text for a status ring ('docker unreachable', 'docker: disk full', …); undefined when ok. */
  short?: string;
}

export interface Shown {
  phase: Phase;
  /** Detail: container count for 'ready', in-flight count for 'invoking', short reason for 'error'. */
  detail?: string | number;
}

export interface RingState {
  readonly inflight: number;
  readonly closed: boolean;
  /** Short text of the last failure (cleared by a success); while set, the ring keeps showing it. */
  readonly error?: string;
  /** The last failure came from the Docker engine (gone, out of room), not from the action. */
  readonly errorFromEngine: boolean;
  /** The engine's problem while its health is not ok. */
  readonly engineProblem?: string;
  /** The container count last shown with 'ready', and whether 'ready' is what shows now. */
  readonly lastCount: number;
  readonly showingReady: boolean;
}

export const initialRing: RingState = { inflight: 0, closed: false, errorFromEngine: false, lastCount: -1, showingReady: false };

export interface Failure {
  short: string;
  fromEngine: boolean;
}

export type RingEvent =
  /** The node has no action of its own. */
  | { type: 'idle' }
  /** A provisioning step (or the cloud check) is under way; 'ready': the engine reports a provisioning as ready (before its handle is returned). */
  | ({ type: 'phase' } & ProvisionStatus)
  /** Cloud mode: the action exists. */
  | { type: 'cloud-ready' }
  /** A provisioning handle resolved. */
  | { type: 'provisioned' }
  /** A provisioning (or the cloud check) failed. */
  | { type: 'failed'; failure: Failure }
  | { type: 'invoke-start' }
  /** An invocation settled: failure undefined on success. */
  | { type: 'invoke-end'; failure?: Failure }
  /**
   * The Docker engine's health changed. `provisioned`: the node holds (or is getting) containers;
   * `hasAction`: the node names an action of its own.
   */
  | ({ type: 'health'; provisioned: boolean; hasAction: boolean } & EngineHealth)
  /** Periodic check while idle (containers come and go: idle timeout, preemption). */
  | { type: 'tick'; provisioned: boolean }
  /** The node's containers, counted (the answer to a 'count' effect). */
  | { type: 'count'; n: number }
  | { type: 'close' };

export interface Reduced {
  state: RingState;
  /** Show this now. */
  show?: Shown;
  /** Count the node's containers and feed back a 'count' event (to show 'ready (n)'). */
  count?: boolean;
  /** Provision the node's own action again (the engine is back after a failure it caused). */
  reprovision?: boolean;
}

function shown(state: RingState, show: Shown): Reduced {
  return { state: { ...state, showingReady: show.phase === 'ready' }, show };
}

/** Ready (with the container count) unless messages are in flight or a failure shows. */
function readyOrError(state: RingState): Reduced {
  if (state.inflight > 0) return shown(state, { phase: 'invoking', detail: state.inflight });
  if (state.error) return shown(state, { phase: 'error', detail: state.error });
  return { state, count: true };
}

export function reduceRing(state: RingState, ev: RingEvent): Reduced {
  if (state.closed) return { state };
  switch (ev.type) {
    case 'idle':
      return shown(state, { phase: 'idle' });
    case 'phase':
      if (ev.phase === 'ready') return state.inflight > 0 ? shown(state, { phase: 'invoking', detail: state.inflight }) : { state, count: true };
      return shown(state, { phase: ev.phase, detail: ev.detail });
    case 'cloud-ready':
      return shown(state, { phase: 'ready' });
    case 'provisioned': {
      // Provisioned after all: a failure the engine caused (it was down) is over.
      const next = state.errorFromEngine ? { ...state, error: undefined } : state;
      return next.inflight === 0 ? { state: next, count: true } : { state: next };
    }
    case 'failed':
      return shown({ ...state, error: ev.failure.short, errorFromEngine: ev.failure.fromEngine }, { phase: 'error', detail: ev.failure.short });
    case 'invoke-start': {
      const next = { ...state, inflight: state.inflight + 1 };
      return shown(next, { phase: 'invoking', detail: next.inflight });
    }
    case 'invoke-end': {
      const next: RingState = {
        ...state,
        inflight: Math.max(0, state.inflight - 1),
        error: ev.failure?.short,
        errorFromEngine: ev.failure ? ev.failure.fromEngine : state.errorFromEngine,
      };
      return readyOrError(next);
    }
    case 'health': {
      const problem = ev.state === 'ok' ? undefined : (ev.short ?? `docker ${ev.state}`);
      const next = { ...state, engineProblem: problem };
      if (next.inflight > 0) return { state: next };
      if (problem) return shown(next, { phase: 'error', detail: problem });
      if (ev.provisioned) return readyOrError({ ...next, error: undefined });
      // Nothing provisioned: the node has no action of its own, or provisioning it failed. An engine
      // back from an outage is no news for the first; for the second, only an engine-caused failure
      // is worth another try, any other (a failed /init, a missing action) keeps showing.
      if (!ev.hasAction) return shown(next, { phase: 'idle' });
      if (next.error && next.errorFromEngine) return { state: next, reprovision: true };
      return shown(next, next.error ? { phase: 'error', detail: next.error } : { phase: 'idle' });
    }
    case 'tick':
      return ev.provisioned && state.inflight === 0 && !state.error && !state.engineProblem ? { state, count: true } : { state };
    case 'count':
      if (state.inflight > 0 || state.error || (ev.n === state.lastCount && state.showingReady)) return { state };
      return shown({ ...state, lastCount: ev.n }, { phase: 'ready', detail: ev.n });
    case 'close':
      return { state: { ...state, closed: true } };
  }
}
