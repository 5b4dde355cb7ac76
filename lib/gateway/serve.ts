import { isIP } from 'node:net';
import type { ActivationStore } from '../activations/store';
import { ManifestCatalog } from '../catalog/manifest';
import type { LocalEngine } from '../local/engine';
import { ENTITY_NAME_RULE, isEntityName } from '../names';
import { ActionRunner, type RunnerObserver, type RunnerTarget } from '../runner';
import type { OpenWhiskService } from '../service';
import type { Catalog, Provisioner } from '../types';
import { GatewayApi } from './api';
import type { GatewayEntities, ListedAction } from './entities';
import { checkApiKey, parseHostNames } from './guard';
import { type GatewayListener, listenGateway, parseListen } from './listen';
import { checkApiPath, MOUNT, mountGateway } from './mount';
import { RuntimeMetrics } from './operators';
import { SharedPools } from './shared-pools';

/** A runtime's API settings as its config gives them (the editor's text fields). */
export interface ApiConfig {
  /** The API's key, "uuid:key". */
  key: string | undefined;
  /** The path under /openwhisk on Node-RED's server. */
  path: string;
  /** The namespace the key owns (checked: an OpenWhisk name). */
  namespace: string;
  /** Its own listener, "[host:]port" (empty = none). */
  listen: string | undefined;
  /** Host names clients reach it by, comma-separated. */
  hosts: string | undefined;
}

/** What the API runs and reads: the runtime's parts, built by its composition root (lib/runtime.ts). */
export interface ApiParts {
  /** The runtime's id: the API's runner is named after it. */
  runtimeId: string;
  /** This runtime as a tier (gatewayId): loop detection between gateways. */
  tierId: string;
  /** The engine as the action nodes would get it (recording into `store`): the API shares its pools with them. */
  engine: Provisioner;
  localEngine: LocalEngine | undefined;
  store: ActivationStore;
  /** What the action nodes' target holds besides the engine (catalog, burst target and limit). */
  target: Extract<RunnerTarget, { mode: 'local' }>;
  catalog: () => Catalog;
  service: () => OpenWhiskService;
  imageOverrides: Record<string, string>;
  maxBody: number;
}

/** Where the API is mounted and logs. */
export interface ApiHost {
  /** Node-RED's httpNode (an Express app): the API is mounted at /openwhisk/<path>. */
  app: Parameters<typeof mountGateway>[0];
  /** Node-RED's URL up to httpNodeRoot, for the log. */
  url: string;
  log(text: string): void;
  /** The own listener could not listen (the API is still served on Node-RED's server). */
  listenerOff(err: Error): void;
}

/** A runtime's served API: the pools its action nodes share with it, its metrics, and close. */
export interface ServedApi {
  readonly api: GatewayApi;
  /** The action nodes' engine: one pool per action, shared with the API (shared-pools.ts). */
  readonly nodes: Provisioner;
  /** The nodes' invocations counted in the API's metrics. */
  readonly observeFlow: RunnerObserver;
  /** Unmounts, stops its listener and its runner. */
  close(): Promise<void>;
}

/** The namespace the API's key owns (default "guest"). */
export function apiNamespace(text: string | undefined): string {
  return (text ?? '').trim() || 'guest';
}

/** The catalog's actions, packages, triggers and rules as the API lists them: a manifest's, else the service's. */
function listings(
  catalog: () => Catalog,
  service: () => OpenWhiskService,
  namespace: string,
): { listActions: () => Promise<ListedAction[]>; entities: GatewayEntities } {
  const manifest = () => {
    const c = catalog();
    return c instanceof ManifestCatalog ? c : undefined;
  };
  return {
    listActions: async (): Promise<ListedAction[]> => {
      const m = manifest();
      if (m) {
        // Each as its GET gives it (same version, limits, annotations), without reading the code.
        return Promise.all(
          (await m.list()).map(async (e) => {
            const pkgNs = e.package ? `${namespace}/${e.package}` : namespace;
            try {
              const d = await m.getAction({ namespace: '_', name: e.name }, { code: false });
              return {
                namespace: pkgNs,
                name: d.name,
                kind: d.exec.kind,
                version: d.version,
                binary: d.exec.binary,
                limits: d.limits,
                annotations: d.annotations,
                publish: d.publish,
                updated: d.updated,
              };
            } catch {
              return { namespace: pkgNs, name: e.action, kind: e.kind };
            }
          }),
        );
      }
      const list = await service().list();
      return list.actions.map(({ name, ...a }) => {
        const i = name.lastIndexOf('/');
        return { ...a, name: name.slice(i + 1), namespace: i < 0 ? namespace : `${namespace}/${name.slice(0, i)}` };
      });
    },
    entities: {
      listPackages: async () => {
        const m = manifest();
        if (m) return m.listPackages();
        return (await service().list()).packages.map((p) => ({
          name: p.name,
          version: p.version,
          publish: p.publish,
          annotations: p.annotations,
          updated: p.updated,
          binding: p.bound,
        }));
      },
      getPackage: async (name) => {
        const m = manifest();
        if (m) return (await m.listPackages()).find((p) => p.name === name);
        const p = await service().getPackage(name);
        return {
          name: p.name,
          version: p.version,
          publish: p.publish,
          annotations: p.annotations,
          updated: p.updated,
          binding: p.bound,
          parameters: p.parameters,
        };
      },
      // Triggers and rules are a manifest's: a service's live in the cloud, not on this gateway.
      listTriggers: async () =>
        ((await manifest()?.listTriggers()) ?? []).map((t) => ({
          name: t.name,
          parameters: t.parameters,
          annotations: t.feed ? [{ key: 'feed', value: t.feed }] : [],
        })),
      listRules: async () =>
        ((await manifest()?.listTriggers()) ?? []).flatMap((t) => t.rules.map((r) => ({ name: r.name, trigger: t.name, action: r.action, status: r.status }))),
    },
  };
}

/**
 * Serves a local runtime's OpenWhisk REST API on Node-RED's server (and on a listener of its own when
 * configured), running its actions in the pools the runtime's action nodes share with it. Throws a
 * readable error when the settings are wrong (nothing is served then).
 */
export function serveApi(config: ApiConfig, parts: ApiParts, host: ApiHost): ServedApi {
  const key = checkApiKey(config.key);
  const path = checkApiPath(config.path);
  const own = parseListen(config.listen);
  const hosts = parseHostNames(config.hosts);
  // The own listener's name, when it is bound to one.
  if (own && !isIP(own.host)) hosts.push(own.host);
  const namespace = config.namespace;
  if (!isEntityName(namespace)) throw new Error(`the API namespace '${String(namespace).slice(0, 80)}' is not an OpenWhisk name (${ENTITY_NAME_RULE})`);

  // The runtime's metrics, served at /metrics (operators.ts).
  const metrics = new RuntimeMetrics(() => parts.localEngine?.snapshot());
  // The action nodes' and the API's pools: the API runs an action in a node's pool of it, if any.
  const pools = new SharedPools(parts.engine);
  const runner = new ActionRunner(
    `${parts.runtimeId}-api`,
    { ...parts.target, engine: pools.api, observe: metrics.observer('api') },
    undefined,
    () => undefined,
  );
  const api = new GatewayApi({
    namespace,
    keys: [key],
    instanceId: parts.tierId,
    store: parts.store,
    invoke: (ref, params, opts) => runner.invoke(params, ref, opts),
    getAction: (ref) => parts.catalog().getAction(ref),
    ...listings(parts.catalog, parts.service, namespace),
    imageOverrides: parts.imageOverrides,
    ownImages: () => parts.localEngine?.ownImages() ?? Promise.resolve({}),
    maxBody: parts.maxBody,
    hosts,
    metrics: () => metrics.expose(),
  });
  let unmount: (() => void) | undefined;
  try {
    unmount = mountGateway(host.app, path, api);
  } catch (err) {
    void runner.close();
    throw err;
  }
  host.log(`OpenWhisk API on ${host.url}${MOUNT.slice(1)}/${path}/api/v1 (namespace ${namespace})`);
  let listening: Promise<GatewayListener | undefined> | undefined;
  if (own) {
    listening = listenGateway(api, own).then(
      (l) => {
        host.log(`OpenWhisk API on http://${l.address.host.includes(':') ? `[${l.address.host}]` : l.address.host}:${l.address.port}/api/v1`);
        return l;
      },
      (err: Error) => {
        host.listenerOff(err);
        return undefined;
      },
    );
  }
  return {
    api,
    nodes: pools.nodes,
    observeFlow: metrics.observer('flow'),
    close: async () => {
      unmount?.();
      // The port is free again before a redeploy's new runtime node listens on it.
      await Promise.all([listening?.then((l) => l?.close()).catch(() => undefined), runner.close().catch(() => undefined)]);
    },
  };
}
