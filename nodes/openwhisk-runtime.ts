import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { cacheDirFor, CachedCatalog, serviceIdentity } from '../lib/catalog/cache';
import { ManifestCatalog } from '../lib/catalog/manifest';
import { locateManifest } from '../lib/catalog/manifest-file';
import { editorRequestProblem } from '../lib/editor-request';
import { OpenWhiskNodeError } from '../lib/errors';
import { LocalEngine } from '../lib/local/engine';
import type { RunnerTarget } from '../lib/runner';
import { instanceId, parseImageOverrides, parsePlatform, resolveManifestPath } from '../lib/runtime-config';
import type { Catalog } from '../lib/types';
import type { RuntimeNode, ServiceNode } from './shared';

interface RuntimeDef extends NodeDef {
  mode: 'cloud' | 'local';
  service: string;
  /** Where local actions come from: the service (default) or a wskdeploy manifest file. */
  source?: 'service' | 'manifest';
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
}

export = function (RED: NodeAPI) {
  function OpenWhiskRuntimeNode(this: RuntimeNode & { engine?: LocalEngine }, config: RuntimeDef) {
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
      return (cached ??= new CachedCatalog(svc, cacheDirFor(userDir), serviceIdentity(svc.host, svc.apiKey)));
    };
    if (this.mode === 'local' && config.source === 'manifest') {
      try {
        const manifest = new ManifestCatalog(resolveManifestPath(config.manifest ?? '', userDir));
        for (const w of manifest.warnings()) this.warn(w);
        catalog = () => manifest;
      } catch (err) {
        configError = err as OpenWhiskNodeError;
      }
    }
    if (this.mode === 'local') {
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
        void this.engine.start().catch(() => undefined);
      } catch (err) {
        configError ??= err instanceof OpenWhiskNodeError ? err : new OpenWhiskNodeError('config', `Invalid local runtime settings: ${(err as Error).message}`, { short: 'bad config' });
      }
    }

    this.target = (): RunnerTarget => {
      if (configError) throw configError;
      if (this.mode === 'cloud') return { mode: 'cloud', service: service() };
      const burst = config.burst ? service() : undefined;
      return { mode: 'local', catalog: catalog(), engine: this.engine!, burst };
    };

    this.cloudService = service;

    this.on('close', (removed: boolean, done: () => void) => {
      const engine = this.engine;
      this.engine = undefined;
      if (!engine) return done();
      engine.close().then(() => done(), (err: Error) => {
        this.warn(`Removing containers failed: ${err.message}`);
        done();
      });
    });
  }
  RED.nodes.registerType('openwhisk-runtime', OpenWhiskRuntimeNode as never);

  // Editor lookup: the actions of a manifest catalog (the file is read on the Node-RED host). Same-origin
  // JSON requests only (lib/editor-request.ts: other web pages can reach the admin API).
  // Only a manifest file in the user directory or this package's examples is read (size-capped,
  // asynchronously); errors name the path and the rule, never the content of a file that is not one.
  RED.httpAdmin.post(
    '/leon-openwhisk/manifest/entities',
    RED.auth.needsPermission('openwhisk-runtime.write'),
    async (req: Request, res: Response) => {
      const problem = editorRequestProblem(req.headers, Boolean(req.is('application/json')));
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
        });
      } catch (err) {
        const known = err instanceof OpenWhiskNodeError;
        res.status(400).json({ error: known ? err.message : 'Cannot read the manifest.', code: known ? err.code : 'config' });
      }
    },
  );
};
