import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { isIP } from 'node:net';
import { cacheDirFor, CachedCatalog, serviceIdentity } from '../lib/catalog/cache';
import { ManifestCatalog } from '../lib/catalog/manifest';
import { locateManifest } from '../lib/catalog/manifest-file';
import { editorOrigins, editorRequestProblem } from '../lib/editor-request';
import { OpenWhiskNodeError } from '../lib/errors';
import { readSetting, warnRenamedSettings } from '../lib/node-settings';
import { adminExposedError, exposedAdmin, type AdminSettings } from '../lib/local/admin-exposure';
import { LocalEngine } from '../lib/local/engine';
import type { RunnerTarget } from '../lib/runner';
import { instanceId, parseImageOverrides, parsePlatform, resolveManifestPath } from '../lib/runtime-config';
import type { Catalog } from '../lib/types';
import type { OwnCatalog, RuntimeNode, ServiceNode } from './shared';
import { activationFile, ActivationStore } from '../lib/activations/store';
import { recording } from '../lib/activations/record';
import { feed } from '../lib/activations/feed';
import { NODE_ANNOTATION } from '../lib/activations/row';
import { GatewayApi } from '../lib/gateway/api';
import { gatewayId, withVia } from '../lib/gateway/context';
import { type GatewayListener, listenGateway, parseListen } from '../lib/gateway/listen';
import { checkApiKey, parseHostNames } from '../lib/gateway/guard';
import { checkApiPath, MOUNT, mountGateway } from '../lib/gateway/mount';
import { RuntimeMetrics } from '../lib/gateway/operators';
import { registerRuntimeStatus } from './runtime-status';
import type { ListedAction } from '../lib/gateway/entities';
import { ENTITY_NAME_RULE, isEntityName } from '../lib/names';
import { SharedPools } from '../lib/gateway/shared-pools';
import { InFlight } from '../lib/in-flight';
import { ActionRunner, BURST_MAX_MESSAGES, type BurstLimit } from '../lib/runner';

interface RuntimeDef extends NodeDef {
  mode: 'cloud' | 'local';
  service: string;
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
  /** Host names and addresses clients reach the API by, besides localhost, loopback and the address a request arrives at ("gateway, 192.168.1.10"). */
  apiHosts?: string;
}

interface RuntimeCredentials {
  /** The API's key, "uuid:key", as OpenWhisk's; never sent back to the editor. */
  apiKey?: string;
}

/** The address Node-RED's server listens on, once it does (red.js starts the flows first). */
function boundAddress(RED: NodeAPI): string | undefined {
  const server = (RED as unknown as { server?: { address?: () => unknown } }).server;
  const a = server?.address?.();
  return a && typeof a === 'object' && typeof (a as { address?: unknown }).address === 'string' ? (a as { address: string }).address : undefined;
}

/** Node-RED's own URL up to httpNodeRoot, as its settings say (for the log). */
function nodeRedUrl(RED: NodeAPI): string {
  const st = RED.settings as unknown as Record<string, unknown>;
  const host = typeof st.uiHost === 'string' && st.uiHost && st.uiHost !== '0.0.0.0' && st.uiHost !== '::' ? st.uiHost : 'localhost';
  const port = Number(st.uiPort) || 1880;
  let root = typeof st.httpNodeRoot === 'string' ? st.httpNodeRoot : '/';
  if (!root.startsWith('/')) root = `/${root}`;
  if (!root.endsWith('/')) root = `${root}/`;
  return `${st.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${root}`;
}

export = function (RED: NodeAPI) {
  function OpenWhiskRuntimeNode(this: RuntimeNode & { engine?: LocalEngine; credentials?: RuntimeCredentials }, config: RuntimeDef) {
    RED.nodes.createNode(this, config);
    this.mode = config.mode === 'local' ? 'local' : 'cloud';
    const serviceNode = config.service ? (RED.nodes.getNode(config.service) as ServiceNode | null) : null;

    const service = () => {
      if (!serviceNode) {
        throw new OpenWhiskNodeError('config', 'The openwhisk-runtime has no openwhisk-service: choose one in its config (it is the catalog of actions, and in cloud mode where they run).', { short: 'no service' });
      }
      if (serviceNode.configError || !serviceNode.service) {
        throw serviceNode.configError ?? new OpenWhiskNodeError('config', 'The openwhisk-service config node is incomplete.', { short: 'bad service' });
      }
      return serviceNode.service;
    };

    const userDir = RED.settings.userDir as string | undefined;
    let configError: OpenWhiskNodeError | undefined;
    // Actions fetched from the service are cached on disk (per service: API host and key subject), so
    // deploys and restarts work offline.
    let cached: CachedCatalog | undefined;
    let catalog: () => Catalog = () => {
      const svc = service();
      // settings.js: openwhiskRuntimeCacheMB bounds the whole cache folder (default 256).
      const mb = Number(readSetting(RED.settings, 'openwhiskRuntimeCacheMB', 'openwhiskCacheMB'));
      return (cached ??= new CachedCatalog(svc, cacheDirFor(userDir), serviceIdentity(svc.host, svc.apiKey), { maxBytes: mb > 0 ? Math.round(mb * 1048576) : undefined }));
    };
    if (this.mode === 'local' && config.source === 'none') {
      catalog = () => {
        throw new OpenWhiskNodeError(
          'config',
          `The local runtime '${config.name || this.id}' has no catalog (Catalog: none): it runs only code written in the action nodes. ` +
            'Set the node\'s Code to "written here", or choose a service or a manifest as the runtime\'s catalog.',
          { short: 'no catalog' },
        );
      };
    }
    if (this.mode === 'local' && config.source === 'manifest') {
      try {
        const manifest = new ManifestCatalog(resolveManifestPath(config.manifest ?? '', userDir));
        for (const w of manifest.warnings()) this.warn(w);
        catalog = () => manifest;
      } catch (err) {
        configError = err as OpenWhiskNodeError;
      }
    }
    // Action code must not reach an admin API without a login (admin-exposure.ts): no engine then.
    const openAdmin = this.mode === 'local' && !config.allowOpenAdmin ? exposedAdmin(RED.settings as AdminSettings, boundAddress(RED)) : undefined;
    if (openAdmin) configError ??= adminExposedError(openAdmin);
    if (this.mode === 'local' && !openAdmin) {
      try {
        const svc = serviceNode?.service;
        this.engine = new LocalEngine({
          docker: (config.docker ?? '').trim(),
          instanceId: instanceId(userDir),
          runtimeId: this.id,
          imageOverrides: parseImageOverrides(config.images),
          platform: parsePlatform(config.platform),
          network: (config.network ?? '').trim(),
          capacity: Number(config.capacity) || undefined,
          queueLimit: `${config.queue ?? ''}`.trim() !== '' && Number.isFinite(Number(config.queue)) ? Number(config.queue) : undefined,
          warmTimeout: Math.max(0, Number(config.idle) || 0) * 1000,
          stemCells: `${config.stemCells ?? ''}`.trim() !== '' && Number.isFinite(Number(config.stemCells)) ? Number(config.stemCells) : undefined,
          maxPayload: Number(config.maxPayload) > 0 ? Math.round(Number(config.maxPayload) * 1048576) : undefined,
          maxResult: Number(config.maxResult) > 0 ? Math.round(Number(config.maxResult) * 1048576) : undefined,
          publishRemote: config.publishRemote === true,
          apiHost: svc?.host,
          apiKey: svc?.apiKey,
        });
        // Ping Docker and sweep a crashed run's leftovers while the flow starts (provision waits for it).
        // Which image a kind falls back to, when this package's own is not on the engine: said once per image.
        this.engine.on('notice', (text: string) => this.warn(text));
        void this.engine.start().catch(() => undefined);
      } catch (err) {
        configError ??= err instanceof OpenWhiskNodeError ? err : new OpenWhiskNodeError('config', `Invalid local runtime settings: ${(err as Error).message}`, { short: 'bad config' });
      }
    }

    // The activation store, the gateway API and tiers (lib/activations, lib/gateway).
    const self = gatewayId(instanceId(userDir), this.id);
    // Records kept: while the API is served, as many as its setting says (default 1000, on disk); else
    // at most 200, in memory, for the editor's sidebar (nodes/openwhisk-activations.ts). 0 = none.
    const setting = `${config.activations ?? ''}`.trim() === '' ? 1000 : Math.floor(Number(config.activations) || 0);
    const keep = config.serveApi ? setting : Math.min(setting, 200);
    // The namespace the API's key owns: its records are kept apart from those of any other namespace.
    const apiNamespace = (config.apiNamespace ?? '').trim() || 'guest';
    const persisted = !!(config.serveApi && userDir && isEntityName(apiNamespace));
    const store = this.mode === 'local' && keep > 0
      ? new ActivationStore({
          file: persisted ? activationFile(userDir!, this.id, apiNamespace) : undefined,
          maxCount: keep,
          maxBytes: Number(config.activationsMB) > 0 ? Math.round(Number(config.activationsMB) * 1048576) : undefined,
          onError: (err) => this.warn(err.message),
          runtime: this.id,
          // No API reads them: a bounded preview of each is enough for the sidebar.
          preview: !config.serveApi,
        })
      : undefined;
    // What the runtime's nodes ran in the cloud (cloud mode, bursts): the last 200, in memory, for the sidebar only.
    const cloudStore = this.mode === 'cloud' || keep > 0
      ? new ActivationStore({ maxCount: Math.min(keep || 200, 200), maxBytes: 2 * 1048576, runtime: this.id, where: 'cloud', preview: true })
      : undefined;
    this.keepCloudActivation = (a, nodeId, params) => {
      try {
        cloudStore?.add({ ...a, annotations: [...(a.annotations ?? []), { key: NODE_ANNOTATION, value: nodeId }] }, { params });
      } catch {
        /* the store must never fail an activation */
      }
    };
    const unlist = feed.register({ id: this.id, name: config.name || '', mode: this.mode, stores: [store, cloudStore].filter((x) => x !== undefined), persisted });
    // The action nodes' and the API's pools: the API runs an action in a node's pool of it, if any.
    let pools: SharedPools | undefined;
    // The runtime's metrics, served by its API at /metrics (lib/gateway/operators.ts).
    const metrics = this.mode === 'local' && config.serveApi ? new RuntimeMetrics(() => this.engine?.snapshot()) : undefined;

    // Messages bursting at once, for all of the runtime's nodes and its API: in count, and 8 × max payload of parameters.
    const maxPayload = this.engine?.settings.maxPayload ?? 8 * 1048576;
    const burstLimit: BurstLimit = { runtime: config.name || this.id, inFlight: new InFlight(BURST_MAX_MESSAGES, 8 * maxPayload) };

    this.target = (own?: OwnCatalog): RunnerTarget => {
      // A node with its own action (inline code) needs no catalog: the runtime's, when it has one, only lends its images.
      if (configError && !own) throw configError;
      if (this.mode === 'cloud') return { mode: 'cloud', service: service() };
      // A burst target that is another gateway's API learns which gateways the invocation passed (loops).
      const burst = config.burst ? withVia(service(), self) : undefined;
      pools ??= new SharedPools(store ? recording(this.engine!, store) : this.engine!);
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
      return { mode: 'local', catalog: c, engine: pools.nodes, burst, burstLimit, observe: metrics?.observer('flow') };
    };

    this.cloudService = service;

    // The OpenWhisk REST API for this runtime's actions.
    let unmount: (() => void) | undefined;
    let listening: Promise<GatewayListener | undefined> | undefined;
    let apiRunner: ActionRunner | undefined;
    /** A runtime that cannot serve its API says why: in the log and on its status. */
    const apiOff = (why: string) => {
      this.error(`The OpenWhisk API of this runtime is off: ${why}`);
      this.status({ fill: 'red', shape: 'ring', text: `API off: ${why.length > 60 ? `${why.slice(0, 59)}…` : why}` });
    };
    if (this.mode === 'local' && config.serveApi && configError) apiOff(configError.message);
    else if (this.mode === 'local' && config.serveApi) {
      try {
        const key = checkApiKey(this.credentials?.apiKey);
        const path = checkApiPath(config.apiPath ?? '');
        const own = parseListen(config.apiListen);
        const hosts = parseHostNames(config.apiHosts);
        // The own listener's name, when it is bound to one.
        if (own && !isIP(own.host)) hosts.push(own.host);
        const namespace = apiNamespace;
        if (!isEntityName(namespace)) throw new Error(`the API namespace '${String(namespace).slice(0, 80)}' is not an OpenWhisk name (${ENTITY_NAME_RULE})`);
        const nodesTarget = this.target();
        const apiTarget = nodesTarget.mode === 'local' && pools ? { ...nodesTarget, engine: pools.api, observe: metrics?.observer('api') } : nodesTarget;
        const runner = new ActionRunner(`${this.id}-api`, apiTarget, undefined, () => undefined);
        apiRunner = runner;
        const manifest = () => {
          const c = catalog();
          return c instanceof ManifestCatalog ? c : undefined;
        };
        const api = new GatewayApi({
          namespace,
          keys: [key],
          instanceId: self,
          store: store ?? new ActivationStore({ maxCount: 100 }),
          invoke: (ref, params, opts) => runner.invoke(params, ref, opts),
          getAction: (ref) => catalog().getAction(ref),
          listActions: async (): Promise<ListedAction[]> => {
            const m = manifest();
            if (m) {
              // Each as its GET gives it (same version, limits, annotations), without reading the code.
              return Promise.all((await m.list()).map(async (e) => {
                const pkgNs = e.package ? `${namespace}/${e.package}` : namespace;
                try {
                  const d = await m.getAction({ namespace: '_', name: e.name }, { code: false });
                  return { namespace: pkgNs, name: d.name, kind: d.exec.kind, version: d.version, binary: d.exec.binary, limits: d.limits, annotations: d.annotations, publish: d.publish, updated: d.updated };
                } catch {
                  return { namespace: pkgNs, name: e.action, kind: e.kind };
                }
              }));
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
              return (await service().list()).packages.map((p) => ({ name: p.name, version: p.version, publish: p.publish, annotations: p.annotations, updated: p.updated, binding: p.bound }));
            },
            getPackage: async (name) => {
              const m = manifest();
              if (m) return (await m.listPackages()).find((p) => p.name === name);
              const p = await service().getPackage(name);
              return { name: p.name, version: p.version, publish: p.publish, annotations: p.annotations, updated: p.updated, binding: p.bound, parameters: p.parameters };
            },
            // Triggers and rules are a manifest's: a service's live in the cloud, not on this gateway.
            listTriggers: async () => (await manifest()?.listTriggers() ?? []).map((t) => ({ name: t.name, parameters: t.parameters, annotations: t.feed ? [{ key: 'feed', value: t.feed }] : [] })),
            listRules: async () => (await manifest()?.listTriggers() ?? []).flatMap((t) => t.rules.map((r) => ({ name: r.name, trigger: t.name, action: r.action, status: r.status }))),
          },
          imageOverrides: parseImageOverrides(config.images),
          ownImages: () => this.engine?.ownImages() ?? Promise.resolve({}),
          maxBody: Number(config.maxPayload) > 0 ? Math.round(Number(config.maxPayload) * 1048576) : 8 * 1048576,
          hosts,
          metrics: metrics ? () => metrics.expose() : undefined,
        });
        unmount = mountGateway(RED.httpNode as never, path, api);
        this.log(`OpenWhisk API on ${nodeRedUrl(RED)}${MOUNT.slice(1)}/${path}/api/v1 (namespace ${namespace})`);
        if (own) {
          listening = listenGateway(api, own).then(
            (l) => {
              this.log(`OpenWhisk API on http://${l.address.host.includes(':') ? `[${l.address.host}]` : l.address.host}:${l.address.port}/api/v1`);
              return l;
            },
            (err: Error) => {
              this.error(`The OpenWhisk API's own listener is off (${err.message}); the API is still served on Node-RED's server`);
              this.status({ fill: 'yellow', shape: 'ring', text: 'API own port off' });
              return undefined;
            },
          );
        }
      } catch (err) {
        apiOff((err as Error).message);
      }
    }

    this.on('close', (removed: boolean, done: () => void) => {
      unmount?.();
      unlist();
      // The port is free again before a redeploy's new runtime node listens on it; the activations kept
      // are in their file before a redeploy's new runtime node reads it (a failed write was told to onError).
      const closing = Promise.all([
        listening?.then((l) => l?.close()).catch(() => undefined),
        apiRunner?.close().catch(() => undefined),
        store?.close().catch(() => undefined),
      ]);
      const engine = this.engine;
      this.engine = undefined;
      if (!engine) {
        void closing.then(() => done());
        return;
      }
      void closing.then(() => engine.close()).then(() => done(), (err: Error) => {
        this.warn(`Removing containers failed: ${err.message}`);
        done();
      });
    });
  }
  RED.nodes.registerType('openwhisk-runtime', OpenWhiskRuntimeNode as never, {
    credentials: { apiKey: { type: 'password' } },
    // settings.js: the MB the offline action cache may take, all services together (default 256).
    settings: { openwhiskRuntimeCacheMB: { value: 256, exportable: false } },
  });
  warnRenamedSettings(RED.settings, RED.log, { openwhiskCacheMB: 'openwhiskRuntimeCacheMB' });
  // Editor lookup: the images the runtime would run and its containers (runtime-status.ts).
  registerRuntimeStatus(RED);

  // Editor lookup: the actions of a manifest catalog (the file is read on the Node-RED host). Same-origin
  // JSON requests only (lib/editor-request.ts: other web pages can reach the admin API).
  // Only a manifest file in the user directory or this package's examples is read (size-capped,
  // asynchronously); errors name the path and the rule, never the content of a file that is not one.
  RED.httpAdmin.post(
    '/leon-openwhisk/manifest/entities',
    RED.auth.needsPermission('openwhisk-runtime.write'),
    async (req: Request, res: Response) => {
      const problem = editorRequestProblem(req.headers, Boolean(req.is('application/json')), editorOrigins(readSetting(RED.settings, 'openwhiskServiceEditorOrigins', 'openwhiskEditorOrigins')));
      if (problem) {
        res.status(problem.status).json({ error: problem.error, code: problem.code });
        return;
      }
      const body = (req.body ?? {}) as { manifest?: unknown };
      try {
        const userDir = RED.settings.userDir as string | undefined;
        const file = await locateManifest(typeof body.manifest === 'string' ? body.manifest : '', userDir);
        const manifest = new ManifestCatalog(file);
        const entities = await manifest.list();
        res.json({
          namespace: manifest.namespace,
          actions: entities.map((e) => ({ name: e.name, kind: e.kind })),
          packages: [...new Set(entities.map((e) => e.package).filter(Boolean))].map((name) => ({ name, binding: false })),
          // The trigger node's picker.
          triggers: (await manifest.listTriggers()).map((t) => ({ name: t.name })),
        });
      } catch (err) {
        const known = err instanceof OpenWhiskNodeError;
        res.status(400).json({ error: known ? err.message : 'Cannot read the manifest.', code: known ? err.code : 'config' });
      }
    },
  );
};
