'use strict';
// One container's state machine (lib/local/container-states.ts), per state: which events it takes,
// where each leads, which it ignores (too late to matter) and which it refuses with an internal
// error. Where a container's code is (none, /init in flight, loaded) is part of the state, so a
// suspended or detached container returns to where it was.

const assert = require('node:assert/strict');
const { step, eventsOf, hasCode, takesWork, retired, ContainerStateError } = require('../../../dist/lib/local/container-states');

/** @typedef {import('../../../dist/lib/local/container-states').Step} Step */

/** @type {import('../../../dist/lib/local/container-states').ContainerState[]} */
const STATES = ['starting', 'started', 'initializing', 'ready', 'suspended', 'detached', 'dead', 'removing', 'gone'];
/** @type {import('../../../dist/lib/local/container-states').ContainerEvent[]} */
const EVENTS = ['listening', 'initSent', 'initDone', 'streamEnded', 'outageKept', 'died', 'runFailed', 'reattached', 'attemptDiscarded', 'remove', 'removed'];

/** The machine in `state` (suspended and detached say where their code is: `resume`). */
const m = (state, resume) => (resume ? { state, resume } : { state });

/** What step() answers for an event that moves the machine (not 'ignore'). */
const moved = (machine, event) => /** @type {Exclude<Step, 'ignore'>} */ (step(machine, event));

/** Where `event` takes the machine: its full state, 'ignore', or 'refused'. */
function where(machine, event) {
  try {
    const r = step(machine, event);
    return r === 'ignore' ? 'ignore' : r.to;
  } catch (e) {
    assert.ok(e instanceof ContainerStateError, `${machine.state} + ${event}: ${e}`);
    return 'refused';
  }
}

/** Every event in `machine`: a map event → where it leads (refused ones left out). */
function row(machine) {
  const out = {};
  for (const e of EVENTS) {
    const w = where(machine, e);
    if (w !== 'refused') out[e] = w;
  }
  return out;
}

const IGNORED_LATE = ['listening', 'initSent', 'initDone', 'streamEnded', 'died', 'runFailed', 'reattached'];

describe('container state machine, per state (container-states.ts)', () => {
  it('starting (no code): listens as a stem cell, or gets its /init; a discarded attempt starts afresh', () => {
    assert.deepEqual(row(m('starting')), {
      listening: m('started'),
      initSent: m('initializing'),
      streamEnded: m('suspended', 'started'),
      runFailed: m('dead'),
      attemptDiscarded: m('starting'),
      remove: m('removing'),
    });
    assert.equal(moved(m('starting'), 'listening').touch, true, 'a stem cell takes work (is idle) from now');
  });

  it('started (a stem cell, no code): its hand-over sends /init; it never gets code from anything else', () => {
    assert.deepEqual(row(m('started')), {
      initSent: m('initializing'),
      streamEnded: m('suspended', 'started'),
      runFailed: m('dead'),
      remove: m('removing'),
    });
    assert.equal(where(m('started'), 'initDone'), 'refused', 'no /init was sent');
  });

  it('initializing (/init in flight): ready once it answers; a stream end remembers the /init in flight', () => {
    assert.deepEqual(row(m('initializing')), {
      initDone: m('ready'),
      streamEnded: m('suspended', 'initializing'),
      runFailed: m('dead'),
      remove: m('removing'),
    });
    assert.equal(moved(m('initializing'), 'initDone').touch, true);
  });

  it('ready (code loaded): a second /init is refused; a stream end remembers the code', () => {
    assert.deepEqual(row(m('ready')), {
      streamEnded: m('suspended', 'ready'),
      runFailed: m('dead'),
      remove: m('removing'),
    });
    assert.throws(
      () => step(m('ready'), 'initSent', 'container c1 of guest/echo'),
      (e) =>
        e instanceof ContainerStateError &&
        e.state === 'ready' &&
        e.event === 'initSent' &&
        /Internal error: container c1 of guest\/echo is in state 'ready', which does not take event 'initSent'/.test(e.message),
    );
  });

  it('suspended: the cause decides (kept by the engine → detached, else dead); an /init answering meanwhile makes it ready later', () => {
    for (const resume of ['started', 'initializing', 'ready']) {
      const r = row(m('suspended', resume));
      assert.deepEqual(r.outageKept, m('detached', resume), `suspended(${resume}) → detached keeps where its code is`);
      assert.deepEqual(r.died, m('dead'));
      assert.deepEqual(r.runFailed, m('dead'));
      assert.deepEqual(r.attemptDiscarded, m('starting'));
      assert.deepEqual(r.remove, m('removing'));
      assert.equal(r.streamEnded, 'ignore');
      assert.equal(r.listening, 'ignore', 'too late: the launch fails on the ended stream');
      assert.equal(r.reattached, undefined, 'refused: not detached');
    }
    assert.deepEqual(where(m('suspended', 'initializing'), 'initDone'), m('suspended', 'ready'));
    assert.equal(where(m('suspended', 'ready'), 'initDone'), 'refused');
    assert.equal(where(m('suspended', 'started'), 'initSent'), 'ignore', 'a hand-over of a cell whose stream ended fails as exited');
    assert.equal(where(m('suspended', 'ready'), 'initSent'), 'refused', 'code is sent once');
  });

  it('detached (live-restore outage): serves on; re-attached it returns to where its code is', () => {
    assert.deepEqual(where(m('detached', 'started'), 'reattached'), m('started'));
    assert.deepEqual(where(m('detached', 'initializing'), 'reattached'), m('initializing'));
    assert.deepEqual(where(m('detached', 'ready'), 'reattached'), m('ready'));
    assert.equal(moved(m('detached', 'started'), 'reattached').touch, true, "a stem cell's idle time starts again");
    assert.equal(moved(m('detached', 'ready'), 'reattached').touch, false, "a re-attached container's idle time runs on");
    assert.deepEqual(where(m('detached', 'initializing'), 'initDone'), m('detached', 'ready'));
    const r = row(m('detached', 'ready'));
    assert.deepEqual(r.died, m('dead'));
    assert.deepEqual(r.runFailed, m('dead'));
    assert.deepEqual(r.remove, m('removing'));
    assert.equal(r.streamEnded, 'ignore');
    assert.equal(r.outageKept, undefined, 'refused: detached already');
  });

  it('dead: never back to work; only removal (or a launch retry of a failed attempt) moves it', () => {
    const r = row(m('dead'));
    for (const e of IGNORED_LATE) assert.equal(r[e], 'ignore', e);
    assert.deepEqual(r.remove, m('removing'));
    assert.deepEqual(r.attemptDiscarded, m('starting'));
    assert.equal(r.removed, undefined, 'refused: its removal was not asked for');
  });

  it('removing → gone once Docker removed it; gone takes nothing further', () => {
    const removing = row(m('removing'));
    for (const e of [...IGNORED_LATE, 'outageKept', 'attemptDiscarded', 'remove']) assert.equal(removing[e], 'ignore', e);
    assert.deepEqual(removing.removed, m('gone'));
    for (const e of EVENTS) assert.equal(where(m('gone'), e), 'ignore', `gone + ${e}`);
  });

  it('every state can be removed; only retired states are never used again; only ready and detached take work', () => {
    for (const s of STATES) {
      const machine = s === 'suspended' || s === 'detached' ? m(s, 'ready') : m(s);
      assert.ok(eventsOf(s).includes('remove'), `${s} takes remove`);
      const w = where(machine, 'remove');
      assert.ok(w === 'ignore' ? s === 'removing' || s === 'gone' : w !== 'refused' && w.state === 'removing', s);
    }
    assert.deepEqual(STATES.filter(takesWork), ['ready', 'detached']);
    assert.deepEqual(STATES.filter(retired), ['dead', 'removing', 'gone']);
    assert.equal(hasCode(m('started')), false);
    assert.equal(hasCode(m('detached', 'started')), false);
    assert.equal(hasCode(m('suspended', 'initializing')), true);
    assert.equal(hasCode(m('ready')), true);
  });
});
