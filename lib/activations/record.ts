import { OpenWhiskNodeError } from '../errors';
import { componentActivations } from '../local/sequence';
import type { ActionRef, Activation, Invocable, InvokeOptions, Provisioner } from '../types';
import { NODE_ANNOTATION } from './row';
import type { ActivationStore } from './store';

/**
 * The engine as the runtime hands it out (to action nodes and to the gateway API): every handle it
 * provisions records each activation in `store`, successful or not. An invocation given an
 * activation id (InvokeOptions: the gateway API's, the id its client was given) keeps it, and the API stores it. A sequence's
 * components are stored too, each with `cause` = the sequence's id. An invocation of an action node
 * is stored with the annotation `node` (the node's id) and its parameters (in memory only, bounded:
 * store.ts). The activation the caller gets is otherwise the engine's own object, unchanged.
 */
export function recording(engine: Provisioner, store: ActivationStore): Provisioner {
  return {
    provision: async (nodeId, action, catalog, onStatus, opts) =>
      recordingHandle(await engine.provision(nodeId, action, catalog, onStatus, opts), store, nodeId),
    on: engine.on ? (event, listener) => engine.on!(event, listener) : undefined,
    off: engine.off ? (event, listener) => engine.off!(event, listener) : undefined,
  };
}

/** A copy of `a` that names the node that ran it (the caller's object is left as it is). */
function ofNode(a: Activation, nodeId: string): Activation {
  return { ...a, annotations: [...(a.annotations ?? []), { key: NODE_ANNOTATION, value: nodeId }] };
}

function recordingHandle(h: Invocable, store: ActivationStore, nodeId: string): Invocable {
  const keep = (a: Activation | undefined, params: unknown, id: string | undefined) => {
    if (!a) return;
    // Through the gateway API: it answers with (and stores) this id, along with the path taken.
    if (id) a.activationId = id;
    try {
      // A sequence's components, each with its cause: the ids in the sequence's logs can be looked up.
      for (const c of componentActivations(a)) store.add(id ? c : ofNode(c, nodeId));
      // The API's calls are stored by the API (with their parameters' path); a node's here.
      if (!id) store.add(ofNode(a, nodeId), { params });
    } catch {
      /* the store must never fail an activation */
    }
  };
  return {
    get containers() {
      return h.containers;
    },
    invoke: async (params: Record<string, unknown> | unknown[], ref?: ActionRef, opts?: InvokeOptions) => {
      try {
        const a = await h.invoke(params, ref, opts);
        keep(a, params, opts?.activationId);
        return a;
      } catch (e) {
        if (e instanceof OpenWhiskNodeError) keep(e.activation, params, opts?.activationId);
        throw e;
      }
    },
    close: (opts) => h.close(opts),
  };
}
