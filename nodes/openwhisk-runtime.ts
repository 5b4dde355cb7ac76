import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { ManifestCatalog } from '../lib/catalog/manifest';
import { locateManifest } from '../lib/catalog/manifest-file';
import { editorOrigins, editorRequestProblem } from '../lib/editor-request';
import { OpenWhiskNodeError } from '../lib/errors';
import { readSetting, warnRenamedSettings } from '../lib/node-settings';
import type { AdminSettings } from '../lib/local/admin-exposure';
import type { LocalEngine } from '../lib/local/engine';
import { createRuntime, type RuntimeConfig } from '../lib/runtime';
import { instanceId } from '../lib/runtime-config';
import type { RuntimeNode, ServiceNode } from './shared';
import { registerRuntimeStatus } from './runtime-status';

/** The editor's fields: the runtime's settings and its openwhisk-service node. */
type RuntimeDef = NodeDef & RuntimeConfig & { service: string };

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
  // The runtime's parts are built by lib/runtime.ts (its composition root); this node gives it Node-RED's.
  function OpenWhiskRuntimeNode(this: RuntimeNode & { engine?: LocalEngine; credentials?: { apiKey?: string } }, config: RuntimeDef) {
    RED.nodes.createNode(this, config);
    const userDir = RED.settings.userDir as string | undefined;
    const runtime = createRuntime(config, {
      id: this.id,
      serviceNode: config.service ? (RED.nodes.getNode(config.service) as ServiceNode | null) : null,
      apiKey: this.credentials?.apiKey,
      userDir,
      instanceId: instanceId(userDir),
      // settings.js: openwhiskRuntimeCacheMB bounds the whole cache folder (default 256).
      cacheMB: Number(readSetting(RED.settings, 'openwhiskRuntimeCacheMB', 'openwhiskCacheMB')),
      admin: { settings: RED.settings as AdminSettings, boundAddress: boundAddress(RED) },
      http: { app: RED.httpNode as never, url: nodeRedUrl(RED) },
      log: (text) => this.log(text),
      warn: (text) => this.warn(text),
      error: (text) => this.error(text),
      status: (s) => this.status(s),
    });
    this.mode = runtime.mode;
    this.engine = runtime.engine;
    this.target = (own) => runtime.target(own);
    this.cloudService = () => runtime.cloudService();
    this.keepCloudActivation = (a, nodeId, params) => runtime.keepCloudActivation(a, nodeId, params);
    this.on('close', (_removed: boolean, done: () => void) => {
      this.engine = undefined;
      void runtime.close().then(
        () => done(),
        (e: unknown) => {
          this.warn(`Closing the runtime: ${(e as Error)?.message ?? e}`);
          done();
        },
      );
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
  RED.httpAdmin.post('/leon-openwhisk/manifest/entities', RED.auth.needsPermission('openwhisk-runtime.write'), async (req: Request, res: Response) => {
    const problem = editorRequestProblem(
      req.headers,
      Boolean(req.is('application/json')),
      editorOrigins(readSetting(RED.settings, 'openwhiskServiceEditorOrigins', 'openwhiskEditorOrigins')),
    );
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
  });
};
