import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { editorOrigins, editorRequestProblem } from '../lib/editor-request';
import { OpenWhiskNodeError } from '../lib/errors';
import { checkNamespace, parseActionName } from '../lib/params';
import type { ActionDoc } from '../lib/types';
import { readSetting, warnRenamedSettings, type NodeSettingsDef } from '../lib/node-settings';
import { normaliseApiHost, OpenWhiskService, type ServiceTimeouts } from '../lib/service';
import type { ServiceNode } from './shared';

interface ServiceDef extends NodeDef {
  api: string;
  insecure?: boolean;
}

/**
 * The settings.js entries of openwhisk-service: openwhiskServiceRequestTimeout (s, default 10) bounds
 * lookups; openwhiskServiceBlockingWindow (s, default 60, OpenWhisk's max-wait-for-blocking-activation)
 * bounds blocking invokes; openwhiskServiceEditorOrigins names the origins an editor served through a
 * proxy comes from (lib/editor-request.ts; the runtime's manifest lookup reads it too).
 */
const SERVICE_SETTINGS: NodeSettingsDef = {
  openwhiskServiceRequestTimeout: { value: 10, exportable: false },
  openwhiskServiceBlockingWindow: { value: 60, exportable: false },
  openwhiskServiceEditorOrigins: { value: [], exportable: false },
};
/** Their names before they were registered with the type. */
const EARLIER_NAMES: Record<string, string> = {
  openwhiskRequestTimeout: 'openwhiskServiceRequestTimeout',
  openwhiskBlockingWindow: 'openwhiskServiceBlockingWindow',
  openwhiskEditorOrigins: 'openwhiskServiceEditorOrigins',
};

/** Why an action's code cannot be edited here (undefined when it can): inline code is plain code of a kind it offers. */
function notEditable(doc: ActionDoc): string | undefined {
  const kind = String(doc.exec?.kind ?? '');
  if (kind === 'blackbox')
    return `'${doc.name}' is a blackbox action: its code is its Docker image (${String(doc.exec.image ?? '?')}), which cannot be edited here.`;
  if (kind === 'sequence') return `'${doc.name}' is a sequence: it has no code of its own, only its components.`;
  if (doc.exec?.binary) return `'${doc.name}' is a zip archive (binary code): unpack it and edit its files, or keep running it from the catalog.`;
  if (!/^(nodejs|python):/.test(kind)) return `'${doc.name}' is of kind ${kind}: code written here is Node.js or Python only.`;
  if (typeof doc.exec.code !== 'string') return `'${doc.name}' came without its code.`;
  return undefined;
}

export = function (RED: NodeAPI) {
  const timeouts = (): ServiceTimeouts => {
    const ms = (v: unknown) => (typeof v === 'number' && v > 0 ? v * 1000 : undefined);
    return {
      requestMs: ms(readSetting(RED.settings, 'openwhiskServiceRequestTimeout', 'openwhiskRequestTimeout')),
      blockingWindowMs: ms(readSetting(RED.settings, 'openwhiskServiceBlockingWindow', 'openwhiskBlockingWindow')),
    };
  };
  function OpenWhiskServiceNode(this: ServiceNode, config: ServiceDef) {
    RED.nodes.createNode(this, config);
    this.api = config.api;
    this.insecure = Boolean(config.insecure);
    try {
      this.service = new OpenWhiskService({ api: config.api, key: this.credentials?.key ?? '', insecure: Boolean(config.insecure), timeouts: timeouts() });
    } catch (err) {
      this.configError = err as OpenWhiskNodeError;
    }
  }
  RED.nodes.registerType('openwhisk-service', OpenWhiskServiceNode as never, {
    credentials: { key: { type: 'password' } },
    settings: SERVICE_SETTINGS,
  });
  warnRenamedSettings(RED.settings, RED.log, EARLIER_NAMES);

  // Editor lookup: the actions and packages of a namespace. The key never travels in a query string:
  // a deployed service is found by id; an undeployed one sends its fields in the body. Same-origin
  // JSON requests only (lib/editor-request.ts: other web pages can reach the admin API), and a stored
  // key only ever goes to its own service's API host with its own TLS setting: a dialog whose host or
  // TLS setting differs from the deployed node's must send the key it typed.
  /**
   * The service an editor lookup asks: the deployed node's (by id, with its own host, key and TLS
   * setting), or the dialog's fields with the key typed there. Answers the request itself (and returns
   * undefined) when it cannot be used.
   */
  function serviceFor(req: Request, res: Response): { service: OpenWhiskService; body: Record<string, unknown> } | undefined {
    const problem = editorRequestProblem(
      req.headers,
      Boolean(req.is('application/json')),
      editorOrigins(readSetting(RED.settings, 'openwhiskServiceEditorOrigins', 'openwhiskEditorOrigins')),
    );
    if (problem) {
      res.status(problem.status).json({ error: problem.error, code: problem.code });
      return undefined;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    let deployed: ServiceNode | null = null;
    if (str(body.service)) {
      const node = RED.nodes.getNode(str(body.service)) as ServiceNode | null;
      if (node && node.type !== 'openwhisk-service') {
        res.status(400).json({ error: 'The id is not an openwhisk-service config node.', code: 'config' });
        return undefined;
      }
      deployed = node;
    }
    if (str(body.key)) {
      // A key typed in the dialog goes with the dialog's host.
      return {
        service: new OpenWhiskService({
          api: str(body.api) || deployed?.api || '',
          key: str(body.key),
          insecure: body.insecure === true,
          timeouts: timeouts(),
        }),
        body,
      };
    }
    if (deployed) {
      if (deployed.configError) throw deployed.configError;
      const insecure = body.insecure === undefined ? deployed.insecure : body.insecure === true;
      if (!sameHost(str(body.api) || deployed.api, deployed.api) || insecure !== deployed.insecure) {
        res.status(409).json({
          error:
            'The API host or the TLS setting differs from the deployed service: type the auth key again in the openwhisk-service dialog (a stored key is only sent to its own host).',
          code: 'key-needed',
        });
        return undefined;
      }
      if (deployed.service) return { service: deployed.service, body };
    }
    res.status(409).json({ error: 'Deploy the openwhisk-service config node first, or re-enter its auth key.', code: 'key-needed' });
    return undefined;
  }

  function lookupFailed(res: Response, err: unknown): void {
    const e = err as OpenWhiskNodeError;
    const status = e.code === 'config' ? 400 : e.statusCode === 404 ? 404 : e.statusCode === 401 || e.statusCode === 403 ? 403 : 502;
    res.status(status).json({ error: e.message, code: e.code });
  }

  /** An editor lookup: its route and permission, the service it asks (serviceFor) and its failures, in one place. */
  function lookup(route: string, answer: (found: { service: OpenWhiskService; body: Record<string, unknown> }, res: Response) => Promise<void>): void {
    RED.httpAdmin.post(route, RED.auth.needsPermission('openwhisk-service.write'), async (req: Request, res: Response) => {
      try {
        const found = serviceFor(req, res);
        if (found) await answer(found, res);
      } catch (err) {
        lookupFailed(res, err);
      }
    });
  }

  lookup('/leon-openwhisk/entities', async ({ service, body }, res) => {
    res.json(await service.list(checkNamespace(str(body.namespace))));
  });

  // Editor lookup: an action's code, to edit it as inline code (code kinds only; the same guards).
  lookup('/leon-openwhisk/action-code', async ({ service, body }, res) => {
    const name = str(body.name).trim();
    if (!name) {
      res.status(400).json({ error: 'Type the name of the action to fetch ([package/]action).', code: 'input' });
      return;
    }
    const doc = await service.getAction(parseActionName(name, str(body.namespace)));
    const why = notEditable(doc);
    if (why) {
      res.status(422).json({ error: why, code: 'not-code' });
      return;
    }
    res.json({ name: doc.name, kind: doc.exec.kind, main: doc.exec.main, code: doc.exec.code, limits: doc.limits ?? {}, version: doc.version });
  });
};

/** A request field that must be a string ("" otherwise). */
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Two API hosts as the service uses them ("host:3233" and "https://host:3233/api/v1" are the same). */
function sameHost(a: string, b: string): boolean {
  try {
    return normaliseApiHost(a) === normaliseApiHost(b);
  } catch {
    return false;
  }
}
