import { OpenWhiskNodeError } from '../errors';
import { invocationContext } from '../gateway/context';
import { componentActivations } from '../local/sequence';
import type { LocalActionHandle, LocalProvisioner } from '../runner';
import type { ActionRef, Activation } from '../types';
import type { ActivationStore } from './store';

/**
 * The engine as the runtime hands it out (to action nodes and to the gateway API): every handle it
 * provisions records each activation in `store`, successful or not. An invocation that came in
 * through the gateway API keeps the id its client was given, and the API stores it. A sequence's
 * components are stored too, each with `cause` = the sequence's id. The activation the caller gets is
 * otherwise the engine's own object, unchanged.
 */
export function recording(engine: LocalProvisioner, store: ActivationStore): LocalProvisioner {
  return {
    provision: async (nodeId, action, catalog, onStatus) => recordingHandle(await engine.provision(nodeId, action, catalog, onStatus), store),
    on: engine.on ? (event, listener) => engine.on!(event, listener) : undefined,
    off: engine.off ? (event, listener) => engine.off!(event, listener) : undefined,
  };
}

function recordingHandle(h: LocalActionHandle, store: ActivationStore): LocalActionHandle {
  const keep = (a: Activation | undefined) => {
    if (!a) return;
    const id = invocationContext.getStore()?.activationId;
    // Through the gateway API: it answers with (and stores) this id, along with the path taken.
    if (id) a.activationId = id;
    try {
      // A sequence's components, each with its cause: the ids in the sequence's logs can be looked up.
      for (const c of componentActivations(a)) store.add(c);
      if (!id) store.add(a);
    } catch {
      /* the store must never fail an activation */
    }
  };
  return {
    get containers() {
      return h.containers;
    },
    invoke: async (params: Record<string, unknown> | unknown[], ref?: ActionRef) => {
      try {
        const a = await h.invoke(params, ref);
        keep(a);
        return a;
      } catch (e) {
        if (e instanceof OpenWhiskNodeError) keep(e.activation);
        throw e;
      }
    },
    close: () => h.close(),
  };
}
