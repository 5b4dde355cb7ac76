import { createHash } from 'node:crypto';
import { OpenWhiskNodeError } from '../errors';
import type { ActionDoc, ActionRef, Activation, Catalog, Invocable, InvokeOptions, Provisioner } from '../types';

/** Same action, same code, parameters and limits: the same pool can serve it. */
function poolKey(doc: ActionDoc): string {
  const { namespace, name, version, exec, parameters, limits } = doc;
  return createHash('sha256').update(JSON.stringify({ namespace, name, version, exec, parameters, limits })).digest('hex');
}

/**
 * One pool per action for a runtime's action nodes and its gateway API: the API runs an action in
 * the warm containers of an action node that runs the same action, when there is one (so the two
 * share them instead of competing for capacity), and provisions a pool of its own only otherwise.
 */
export class SharedPools {
  private readonly live = new Map<string, Set<Invocable>>();
  /**
   * Node pools still being provisioned (a deploy waits for the engine's start sweep and the first
   * container): an API call in that window waits for the node's pool rather than taking capacity for a
   * pool of its own, which would leave the node without its container (capacity 1: "used up by other
   * actions").
   */
  private readonly coming = new Map<string, Set<Promise<Invocable>>>();

  /** What the action nodes get: the engine, with each handle they hold known by its action. */
  readonly nodes: Provisioner;
  /** What the API gets: a node's pool of the same action at each call, else a pool of its own (made at first need). */
  readonly api: Provisioner;

  constructor(private readonly engine: Provisioner) {
    this.nodes = this.nodesProvisioner();
    this.api = this.apiProvisioner();
  }

  private nodesProvisioner(): Provisioner {
    return {
      provision: async (nodeId, action, catalog, onStatus) => {
        const key = poolKey(action);
        const provisioning = this.engine.provision(nodeId, action, catalog, onStatus);
        const pending = this.coming.get(key) ?? new Set<Promise<Invocable>>();
        this.coming.set(key, pending);
        pending.add(provisioning);
        let h: Invocable;
        try {
          h = await provisioning;
        } finally {
          pending.delete(provisioning);
          if (pending.size === 0) this.coming.delete(key);
        }
        const set = this.live.get(key) ?? new Set<Invocable>();
        this.live.set(key, set);
        set.add(h);
        return {
          get containers() {
            return h.containers;
          },
          invoke: (params, ref, opts) => h.invoke(params, ref, opts),
          close: (opts) => {
            set.delete(h);
            if (set.size === 0) this.live.delete(key);
            return h.close(opts);
          },
        };
      },
      on: this.engine.on ? (event, listener) => this.engine.on!(event, listener) : undefined,
      off: this.engine.off ? (event, listener) => this.engine.off!(event, listener) : undefined,
    };
  }

  private apiProvisioner(): Provisioner {
    return {
      provision: async (nodeId: string, action: ActionDoc, catalog: Catalog) => {
        const key = poolKey(action);
        let own: Promise<Invocable> | undefined;
        /** The provisioning in `own` may wait for capacity (it was started by an activation answered 202). */
        let ownPatient = false;
        let ownHandle: Invocable | undefined;
        /** Calls running in the API's own pool; a retired pool closes when they are done. */
        let ownCalls = 0;
        let retired: Invocable | undefined;
        let closed = false;
        const closeRetired = () => {
          if (!retired || ownCalls > 0) return;
          const h = retired;
          retired = undefined;
          void h.close().catch(() => undefined);
        };
        const nodePool = (): Invocable | undefined => {
          for (const h of this.live.get(key) ?? []) return h;
          return undefined;
        };
        const ownPool = (capacityWaitMs: number | undefined): Promise<Invocable> => {
          if (own) return own;
          // An activation already answered 202 waits in line for a container; a blocking one fails at once (429).
          ownPatient = capacityWaitMs !== undefined;
          return (own = this.engine.provision(nodeId, action, catalog, undefined, { capacityWaitMs }).then(
            (h) => (ownHandle = h),
            (err: unknown) => {
              own = undefined; // asked again at the next call
              throw err;
            },
          ));
        };
        const target = (capacityWaitMs: number | undefined): Invocable | Promise<Invocable> => {
          const shared = nodePool();
          if (shared) {
            if (ownHandle) {
              // A node runs it (again): its pool serves the API too, and the API's own one gives its capacity
              // back once the calls running in it are done.
              retired = ownHandle;
              ownHandle = undefined;
              own = undefined;
              closeRetired();
            }
            return shared;
          }
          const nodeComing = own ? undefined : this.coming.get(key)?.values().next().value;
          // A node's pool on its way: look again once it is provisioned or failed (another node's may be on its way,
          // or the node closed meanwhile); a pool of the API's own only when no node's pool is there or coming.
          const again = () => target(capacityWaitMs);
          if (nodeComing) return nodeComing.then(again, again);
          return ownPool(capacityWaitMs);
        };
        return {
          get containers() {
            return (nodePool() ?? ownHandle)?.containers ?? 0;
          },
          invoke: async (params: Record<string, unknown> | unknown[], ref?: ActionRef, opts?: InvokeOptions): Promise<Activation> => {
            const wait = opts?.capacityWaitMs;
            const t = target(wait);
            if (!(t instanceof Promise)) return t.invoke(params, ref, opts);
            // Joined a provisioning a blocking call started: when that one fails for capacity at once, this
            // call (answered 202) still gets its wait in line.
            const joinedImpatient = wait !== undefined && own !== undefined && !ownPatient;
            ownCalls++;
            try {
              let pool: Invocable;
              try {
                pool = await t;
              } catch (err) {
                if (!joinedImpatient || !(err instanceof OpenWhiskNodeError) || err.reason !== 'capacity') throw err;
                pool = await target(wait);
              }
              return await pool.invoke(params, ref, opts);
            } finally {
              ownCalls--;
              closeRetired();
            }
          },
          close: async () => {
            if (closed) return;
            closed = true;
            const h = await own?.catch(() => undefined);
            await Promise.all([h?.close(), retired?.close()]);
          },
        };
      },
      on: this.nodes.on,
      off: this.nodes.off,
    };
  }
}
