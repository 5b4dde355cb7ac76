// The composition root of an openwhisk-runtime: from its config and what Node-RED gives it, the parts
// its action and trigger nodes use (where actions run and come from), its activation records and, only
// when it serves one, its OpenWhisk API (lib/gateway/serve.ts). nodes/openwhisk-runtime.ts calls it;
// nothing here knows Node-RED.
import { recording } from './activations/record';
import { feed } from './activations/feed';
import { NODE_ANNOTATION } from './activations/row';
import { ActivationStore } from './activations/store';
import { activationFile } from './activations/store-file';
import { cacheDirFor, CachedCatalog, serviceIdentity } from './catalog/cache';
import { ManifestCatalog } from './catalog/manifest';
import { OpenWhiskNodeError } from './errors';
import { apiNamespace, serveApi, type ApiHost, type ServedApi } from './gateway/serve';
import { InFlight } from './in-flight';
import { adminExposedError, exposedAdmin, type AdminSettings } from './local/admin-exposure';
import { LocalEngine } from './local/engine';
import { isEntityName } from './names';
import { BURST_MAX_MESSAGES, type BurstLimit, type RunnerTarget } from './runner';
import { parseImageOverrides, parsePlatform, resolveManifestPath } from './runtime-config';
import { gatewayId, withVia } from './tier';
import { type OpenWhiskService, usableService } from './service';
import type { Activation, Catalog, Provisioner } from './types';

/** An openwhisk-runtime's settings, as its editor saves them. */
export interface RuntimeConfig {
  name?: string;
  mode: 'cloud' | 'local';
  /** Where local actions come from: the service (default) or a wskdeploy manifest file. */
  source?: 'service' | 'manifest' | 'none';
  manifest?: string;
  docker?: string;
  images?: string;
  network?: string;
  /** Local mode: the platform the images are built for ('' = the Docker engine's own; another one runs under emulation). */
  platform?: string;
  capacity?: string | number;
  queue?: string | number;
  /** Local mode: invoke in the cloud through the service when the local queue is full or Docker is down. */
  burst?: boolean;
  /** Local mode: remove an action's last container after this many seconds idle (0 = keep it warm). */
  idle?: string | number;
  /** Local mode: started, uninitialised containers kept per image in use (default 1; 0 = none). */
  stemCells?: string | number;
  /** Largest parameters per message in local mode, in MB. */
  maxPayload?: string | number;
  /** Largest reply read from an action in local mode, in MB. */
  maxResult?: string | number;
  /** Remote Docker engine without a network: publish action ports on its host's network. */
  publishRemote?: boolean;
  /** Local mode: run actions although Node-RED's admin API is open to them (no adminAuth, not on loopback only). */
  allowOpenAdmin?: boolean;
  /** Local mode: activations kept (newest first, survive a restart; default 1000, 0 = none). */
  activations?: string | number;
  /** Local mode: MB the kept activations may take (default 8). */
  activationsMB?: string | number;
  /** Local mode: serve the OpenWhisk REST API for this runtime's actions at /openwhisk/<apiPath>/api/v1. */
  serveApi?: boolean;
  apiPath?: string;
  /** The namespace the API's key owns (default "guest"). */
  apiNamespace?: string;
  /** The API on a listener of its own as well, "[host:]port" (host 127.0.0.1 unless given; empty = none). */
  apiListen?: string;
  /** Host names and addresses clients reach the API by, besides localhost, loopback and the address a request arrives at. */
  apiHosts?: string;
}

/** What the runtime needs from its host (Node-RED). */
export interface RuntimeHost {
  /** The runtime node's id: its containers, records and tier are named by it. */
  id: string;
  /** The runtime's openwhisk-service node, null when none is chosen. */
  serviceNode: { service?: OpenWhiskService; configError?: OpenWhiskNodeError } | null;
  /** The API's key ("uuid:key", a credential). */
  apiKey?: string;
  /** Node-RED's user directory: the action cache, the activations kept, a manifest's relative path. */
  userDir?: string;
  /** This Node-RED instance's id (persisted, random). */
  instanceId: string;
  /** settings.js openwhiskRuntimeCacheMB: the MB the offline action cache may take. */
  cacheMB: number;
  /** Node-RED's admin settings and the address its server listens on: action code must not reach an open admin API. */
  admin: { settings: AdminSettings; boundAddress?: string };
  /** Where the API is mounted (Node-RED's httpNode) and Node-RED's URL up to httpNodeRoot (for the log). */
  http: Pick<ApiHost, 'app' | 'url'>;
  log(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  /** The runtime's status ring (the API's troubles). */
  status(s: { fill: 'red' | 'yellow'; shape: 'ring'; text: string }): void;
}

/** A node's own catalog (its inline action), given the runtime's catalog when it has one (for its images). */
export type OwnCatalog = (runtimeCatalog: Catalog | undefined) => Catalog;

/** What a runtime hands out to its nodes, and its one close. */
export interface Runtime {
  readonly mode: 'cloud' | 'local';
  /** The local Docker engine (local mode, unless its config is wrong): the editor's status lookups. */
  readonly engine?: LocalEngine;
  /**
   * Where actions run and come from; throws a clear error when the config is incomplete. With `own`,
   * a local runtime's nodes run from that catalog (the runtime needs none of its own).
   */
  target(own?: OwnCatalog): RunnerTarget;
  /** The runtime's openwhisk-service; throws when missing or incomplete. */
  cloudService(): OpenWhiskService;
  /** Keeps a record of an activation one of its nodes ran in the cloud (for the editor's sidebar). */
  keepCloudActivation(a: Activation, nodeId: string, params: unknown): void;
  /** The OpenWhisk API, when it is served. */
  readonly api?: ServedApi;
  /** Stops the API, writes the records kept, removes the containers. Never rejects. */
  close(): Promise<void>;
}

const mb = (v: unknown): number | undefined => (Number(v) > 0 ? Math.round(Number(v) * 1048576) : undefined);
const count = (v: unknown): number | undefined => (`${v ?? ''}`.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);

/** Builds an openwhisk-runtime's parts from its config (see Runtime). */
export function createRuntime(config: RuntimeConfig, host: RuntimeHost): Runtime {
  const mode = config.mode === 'local' ? 'local' : 'cloud';
  const local = mode === 'local';
  const label = config.name || host.id;
  const { serviceNode, userDir } = host;
  const service = (): OpenWhiskService => {
    if (!serviceNode) {
      throw new OpenWhiskNodeError(
        'config',
        'The openwhisk-runtime has no openwhisk-service: choose one in its config (it is the catalog of actions, and in cloud mode where they run).',
        { short: 'no service' },
      );
    }
    return usableService(serviceNode);
  };

  let configError: OpenWhiskNodeError | undefined;
  // Actions fetched from the service are cached on disk (per service: API host and key subject), so
  // deploys and restarts work offline.
  let cached: CachedCatalog | undefined;
  let catalog: () => Catalog = () => {
    const svc = service();
    return (cached ??= new CachedCatalog(svc, cacheDirFor(userDir), serviceIdentity(svc.host, svc.apiKey), { maxBytes: mb(host.cacheMB) }));
  };
  if (local && config.source === 'none') {
    catalog = () => {
      throw new OpenWhiskNodeError(
        'config',
        `The local runtime '${label}' has no catalog (Catalog: none): it runs only code written in the action nodes. ` +
          'Set the node\'s Code to "written here", or choose a service or a manifest as the runtime\'s catalog.',
        { short: 'no catalog' },
      );
    };
  }
  if (local && config.source === 'manifest') {
    try {
      const manifest = new ManifestCatalog(resolveManifestPath(config.manifest ?? '', userDir));
      for (const w of manifest.warnings()) host.warn(w);
      catalog = () => manifest;
    } catch (err) {
      configError = err as OpenWhiskNodeError;
    }
  }

  // Action code must not reach an admin API without a login (admin-exposure.ts): no engine then.
  const openAdmin = local && !config.allowOpenAdmin ? exposedAdmin(host.admin.settings, host.admin.boundAddress) : undefined;
  if (openAdmin) configError ??= adminExposedError(openAdmin);
  let engine: LocalEngine | undefined;
  if (local && !openAdmin) {
    try {
      const svc = serviceNode?.service;
      engine = new LocalEngine({
        docker: (config.docker ?? '').trim(),
        instanceId: host.instanceId,
        runtimeId: host.id,
        imageOverrides: parseImageOverrides(config.images),
        platform: parsePlatform(config.platform),
        network: (config.network ?? '').trim(),
        capacity: Number(config.capacity) || undefined,
        queueLimit: count(config.queue),
        warmTimeout: Math.max(0, Number(config.idle) || 0) * 1000,
        stemCells: count(config.stemCells),
        maxPayload: mb(config.maxPayload),
        maxResult: mb(config.maxResult),
        publishRemote: config.publishRemote === true,
        apiHost: svc?.host,
        apiKey: svc?.apiKey,
      });
      // Ping Docker and sweep a crashed run's leftovers while the flow starts (provision waits for it).
      // Which image a kind falls back to, when this package's own is not on the engine: said once per image.
      engine.on('notice', (text: string) => host.warn(text));
      void engine.start().catch(() => undefined);
    } catch (err) {
      configError ??=
        err instanceof OpenWhiskNodeError
          ? err
          : new OpenWhiskNodeError('config', `Invalid local runtime settings: ${(err as Error).message}`, { short: 'bad config' });
    }
  }

  // Records kept: while the API is served, as many as its setting says (default 1000, on disk); else
  // at most 200, in memory, for the editor's sidebar (nodes/openwhisk-activations.ts). 0 = none.
  const setting = `${config.activations ?? ''}`.trim() === '' ? 1000 : Math.floor(Number(config.activations) || 0);
  const keep = config.serveApi ? setting : Math.min(setting, 200);
  // The namespace the API's key owns: its records are kept apart from those of any other namespace.
  const namespace = apiNamespace(config.apiNamespace);
  const persisted = !!(config.serveApi && userDir && isEntityName(namespace));
  const store =
    local && keep > 0
      ? new ActivationStore({
          file: persisted ? activationFile(userDir!, host.id, namespace) : undefined,
          maxCount: keep,
          maxBytes: mb(config.activationsMB),
          onError: (err) => host.warn(err.message),
          runtime: host.id,
          // No API reads them: a bounded preview of each is enough for the sidebar.
          preview: !config.serveApi,
        })
      : undefined;
  // What the runtime's nodes ran in the cloud (cloud mode, bursts): the last 200, in memory, for the sidebar only.
  const cloudStore =
    !local || keep > 0
      ? new ActivationStore({ maxCount: Math.min(keep || 200, 200), maxBytes: 2 * 1048576, runtime: host.id, where: 'cloud', preview: true })
      : undefined;
  const unlist = feed.register({ id: host.id, name: config.name || '', mode, stores: [store, cloudStore].filter((x) => x !== undefined), persisted });

  // The engine as the nodes get it: recording each activation in the store (the sidebar's, the API's).
  const recorded: Provisioner | undefined = engine && store ? recording(engine, store) : engine;
  // Messages bursting at once, for all of the runtime's nodes and its API: in count, and 8 × max payload of parameters.
  const burstLimit: BurstLimit = { runtime: label, inFlight: new InFlight(BURST_MAX_MESSAGES, 8 * (engine?.settings.maxPayload ?? 8 * 1048576)) };
  // This runtime as a tier: a burst target that is another gateway's API learns which gateways the invocation passed (loops).
  const tierId = local ? gatewayId(host.instanceId, host.id) : '';
  const localTarget = (c: Catalog): Extract<RunnerTarget, { mode: 'local' }> => ({
    mode: 'local',
    catalog: c,
    engine: recorded!,
    burst: config.burst ? withVia(service(), tierId) : undefined,
    burstLimit,
  });

  let api: ServedApi | undefined;
  /** A runtime that cannot serve its API says why: in the log and on its status. */
  const apiOff = (why: string) => {
    host.error(`The OpenWhisk API of this runtime is off: ${why}`);
    host.status({ fill: 'red', shape: 'ring', text: `API off: ${why.length > 60 ? `${why.slice(0, 59)}…` : why}` });
  };
  if (local && config.serveApi && configError) apiOff(configError.message);
  else if (local && config.serveApi) {
    try {
      api = serveApi(
        { key: host.apiKey, path: config.apiPath ?? '', namespace, listen: config.apiListen, hosts: config.apiHosts },
        {
          runtimeId: host.id,
          tierId,
          engine: recorded!,
          localEngine: engine,
          store: store ?? new ActivationStore({ maxCount: 100 }),
          target: localTarget(catalog()),
          catalog: () => catalog(),
          service,
          imageOverrides: parseImageOverrides(config.images),
          maxBody: mb(config.maxPayload) ?? 8 * 1048576,
        },
        {
          ...host.http,
          log: (text) => host.log(text),
          listenerOff: (err) => {
            host.error(`The OpenWhisk API's own listener is off (${err.message}); the API is still served on Node-RED's server`);
            host.status({ fill: 'yellow', shape: 'ring', text: 'API own port off' });
          },
        },
      );
    } catch (err) {
      apiOff((err as Error).message);
    }
  }

  return {
    mode,
    engine,
    api,
    cloudService: service,
    target: (own?: OwnCatalog): RunnerTarget => {
      // A node with its own action (inline code) needs no catalog: the runtime's, when it has one, only lends its images.
      if (configError && (!own || !recorded)) throw configError;
      if (!local) return { mode: 'cloud', service: service() };
      let c: Catalog;
      if (own) {
        let lender: Catalog | undefined;
        try {
          lender = configError ? undefined : catalog();
        } catch {
          lender = undefined;
        }
        c = own(lender);
      } else c = catalog();
      // Served, the API shares its pools with the nodes and counts their invocations; else the nodes get the engine itself.
      return api ? { ...localTarget(c), engine: api.nodes, observe: api.observeFlow } : localTarget(c);
    },
    keepCloudActivation: (a, nodeId, params) => {
      try {
        cloudStore?.add({ ...a, annotations: [...(a.annotations ?? []), { key: NODE_ANNOTATION, value: nodeId }] }, { params });
      } catch {
        /* the store must never fail an activation */
      }
    },
    close: async () => {
      unlist();
      // The port is free again before a redeploy's new runtime node listens on it; the activations kept
      // are in their file before a redeploy's new runtime node reads it (a failed write was told to onError).
      await Promise.all([api?.close(), store?.close().catch(() => undefined)]);
      try {
        await engine?.close();
      } catch (err) {
        host.warn(`Removing containers failed: ${(err as Error).message}`);
      }
    },
  };
}
