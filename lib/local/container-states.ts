// One container's state machine, written per state as OpenWhisk's ContainerProxy is: in state X,
// event Y → state Z. Whether the container has its code is part of the state: `started` is a stem
// cell without code, `initializing` has its one /init in flight, `ready` has its code loaded; a
// container whose output stream ended (`suspended`) or was cut by an outage (`detached`) keeps in its
// state which of those three it returns to (`resume`). container.ts and container-link.ts fire the
// events and do what each one means (tell its watcher, fail its open calls); this module only says
// where it goes.

/**
 * Where a container is in its life. How busy it is, is not a state: `inflight` counts its /run
 * calls (several at once with concurrency).
 */
export type ContainerState =
  /** Being created, attached and started; waiting for its proxy to listen. No code. */
  | 'starting'
  /** Listening, without code: a stem cell, waiting to be handed over. */
  | 'started'
  /** Its one /init is in flight. */
  | 'initializing'
  /** Its code is loaded: takes /run calls. */
  | 'ready'
  /** Its output stream ended and the cause is not known yet: no new work meanwhile. */
  | 'suspended'
  /**
   * The engine went away but keeps containers running (live-restore): it serves on without logs
   * until it is re-attached (after the outage), or found gone.
   */
  | 'detached'
  /** It died (crash, docker kill, OOM, engine stopped) or failed a run: never used again, to be removed. */
  | 'dead'
  /** Its removal was asked for; it stays here while the engine cannot remove it (retried later). */
  | 'removing'
  /** Docker removed it (or it was never created). */
  | 'gone';

/** Where its code is: what a suspended or detached container returns to once it is followed again. */
export type CodeState = 'started' | 'initializing' | 'ready';

/** The full state: a suspended or detached container also says where its code is. */
export type Machine =
  { readonly state: Exclude<ContainerState, 'suspended' | 'detached'> } | { readonly state: 'suspended' | 'detached'; readonly resume: CodeState };

/** What happens to a container. */
export type ContainerEvent =
  /** Its proxy listens, and it was launched without code (a stem cell). */
  | 'listening'
  /** Its one /init is sent (a launch with code, or a stem cell's hand-over). */
  | 'initSent'
  /** Its /init succeeded. */
  | 'initDone'
  /** Its attached output stream ended (it stopped, or the engine dropped the stream). */
  | 'streamEnded'
  /** After its stream ended: the engine went away but keeps it running (live-restore). */
  | 'outageKept'
  /** It is gone on its own (its stream ended and it stopped, or it was not running after an outage). */
  | 'died'
  /** A /run did not end in HTTP 200. */
  | 'runFailed'
  /** After an outage it still runs and its output is followed again. */
  | 'reattached'
  /** A launch's attempt was discarded (host port taken, isolation network gone): a fresh one starts. */
  | 'attemptDiscarded'
  /** Its removal is asked for. */
  | 'remove'
  /** Docker removed it. */
  | 'removed';

/**
 * What an event does in a state: go to a state (`touch`: it can take work from now, so its idle time
 * starts again), stay where it is (`ignore`: the event came too late to matter, e.g. a stream
 * ending after the removal; the caller sees that nothing moved), or nothing listed: the event cannot
 * happen in that state, and is refused with a ContainerStateError.
 */
export type Step = { readonly to: Machine; readonly touch?: boolean } | 'ignore';

/** Marks a refusal inside a row's function. */
const refuse = 'refuse' as const;

type Row = Partial<Record<ContainerEvent, (m: Machine) => Step | typeof refuse>>;

const go =
  (state: Exclude<ContainerState, 'suspended' | 'detached'>, touch = false) =>
  (): Step => ({ to: { state }, touch });
const hold = (state: 'suspended' | 'detached', resume: CodeState, touch = false): Step => ({ to: { state, resume }, touch });
const ignore = (): Step => 'ignore';
const resumeOf = (m: Machine): CodeState => ('resume' in m ? m.resume : 'started');

/** Every state's row: the events it takes, and where each leads. */
const TABLE: Readonly<Record<ContainerState, Row>> = {
  starting: {
    listening: go('started', true),
    initSent: go('initializing'),
    // No code yet: once followed again it would be a stem cell (the launch fails on the ended stream first).
    streamEnded: () => hold('suspended', 'started'),
    runFailed: go('dead'),
    attemptDiscarded: go('starting'),
    remove: go('removing'),
  },
  started: {
    initSent: go('initializing'),
    streamEnded: () => hold('suspended', 'started'),
    runFailed: go('dead'),
    remove: go('removing'),
  },
  initializing: {
    initDone: go('ready', true),
    streamEnded: () => hold('suspended', 'initializing'),
    runFailed: go('dead'),
    remove: go('removing'),
  },
  ready: {
    streamEnded: () => hold('suspended', 'ready'),
    runFailed: go('dead'),
    remove: go('removing'),
  },
  suspended: {
    // Too late: its launch or hand-over fails on the ended stream.
    listening: ignore,
    initSent: (m) => (resumeOf(m) === 'started' ? 'ignore' : refuse),
    // Its /init answered while its stream was gone: it is ready once followed again.
    initDone: (m) => (resumeOf(m) === 'initializing' ? hold('suspended', 'ready') : refuse),
    streamEnded: ignore,
    outageKept: (m) => hold('detached', resumeOf(m), true),
    died: go('dead'),
    runFailed: go('dead'),
    // The failed attempt's stream ended (Docker ends it when the start fails): the next attempt starts afresh.
    attemptDiscarded: go('starting'),
    remove: go('removing'),
  },
  detached: {
    listening: ignore,
    initSent: (m) => (resumeOf(m) === 'started' ? 'ignore' : refuse),
    initDone: (m) => (resumeOf(m) === 'initializing' ? hold('detached', 'ready') : refuse),
    // A stream attached again that ended at once: it is still detached, the re-attach decides.
    streamEnded: ignore,
    died: go('dead'),
    runFailed: go('dead'),
    // Back to where its code is; a stem cell's idle time starts again (a re-attached container's runs on).
    reattached: (m) => ({ to: { state: resumeOf(m) }, touch: resumeOf(m) === 'started' }),
    attemptDiscarded: ignore,
    remove: go('removing'),
  },
  dead: {
    listening: ignore,
    initSent: ignore,
    initDone: ignore,
    streamEnded: ignore,
    died: ignore,
    runFailed: ignore,
    reattached: ignore,
    attemptDiscarded: go('starting'),
    remove: go('removing'),
  },
  removing: {
    listening: ignore,
    initSent: ignore,
    initDone: ignore,
    streamEnded: ignore,
    outageKept: ignore,
    died: ignore,
    runFailed: ignore,
    reattached: ignore,
    attemptDiscarded: ignore,
    remove: ignore,
    removed: go('gone'),
  },
  gone: {
    listening: ignore,
    initSent: ignore,
    initDone: ignore,
    streamEnded: ignore,
    outageKept: ignore,
    died: ignore,
    runFailed: ignore,
    reattached: ignore,
    attemptDiscarded: ignore,
    remove: ignore,
    removed: ignore,
  },
};

/** An event that cannot happen in the container's state: a fault in this package, not in the action. */
export class ContainerStateError extends Error {
  constructor(
    readonly state: ContainerState,
    readonly event: ContainerEvent,
    what: string,
  ) {
    super(`Internal error: ${what} is in state '${state}', which does not take event '${event}' (container-states.ts).`);
    this.name = 'ContainerStateError';
  }
}

/** Where `event` takes a container in `m`; throws ContainerStateError when its state does not take it. */
export function step(m: Machine, event: ContainerEvent, what = 'a container'): Step {
  const row = TABLE[m.state][event];
  const result = row ? row(m) : refuse;
  if (result === refuse) throw new ContainerStateError(m.state, event, what);
  return result;
}

/** The events each state takes (for tests and docs). */
export function eventsOf(state: ContainerState): ContainerEvent[] {
  return Object.keys(TABLE[state]) as ContainerEvent[];
}

/** Its code was sent (or is loaded): a stem cell receives code at most once. */
export function hasCode(m: Machine): boolean {
  return m.state === 'initializing' || m.state === 'ready' || ('resume' in m && m.resume !== 'started');
}

/** States in which a container takes new /run calls. */
export function takesWork(state: ContainerState): boolean {
  return state === 'ready' || state === 'detached';
}

/** States after which a container is never used again (it is removed, or about to be). */
export function retired(state: ContainerState): boolean {
  return state === 'dead' || state === 'removing' || state === 'gone';
}
