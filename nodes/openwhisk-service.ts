import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { OpenWhiskNodeError } from '../lib/errors';
import { OpenWhiskService, type ServiceTimeouts } from '../lib/service';
import type { ServiceNode } from './shared';

interface ServiceDef extends NodeDef {
  api: string;
  insecure?: boolean;
}

export = function (RED: NodeAPI) {
  // settings.js: openwhiskRequestTimeout (s, default 10) bounds lookups; openwhiskBlockingWindow
  // (s, default 60, OpenWhisk's max-wait-for-blocking-activation) bounds blocking invokes.
  const timeouts = (): ServiceTimeouts => {
    const s = RED.settings as unknown as Record<string, unknown>;
    const ms = (v: unknown) => (typeof v === 'number' && v > 0 ? v * 1000 : undefined);
    return { requestMs: ms(s.openwhiskRequestTimeout), blockingWindowMs: ms(s.openwhiskBlockingWindow) };
  };
  function OpenWhiskServiceNode(this: ServiceNode, config: ServiceDef) {
    RED.nodes.createNode(this, config);
    this.api = config.api;
    try {
      this.service = new OpenWhiskService({ api: config.api, key: this.credentials?.key ?? '', insecure: Boolean(config.insecure), timeouts: timeouts() });
    } catch (err) {
      this.configError = err as OpenWhiskNodeError;
    }
  }
  RED.nodes.registerType('openwhisk-service', OpenWhiskServiceNode as never, {
    credentials: { key: { type: 'password' } },
  });

  // Editor lookup: the actions and packages of a namespace. The key never travels in a query
  // string: a deployed service is found by id; an undeployed one sends its fields in the body.
  RED.httpAdmin.post(
    '/leon-openwhisk/entities',
    RED.auth.needsPermission('openwhisk-service.write'),
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as { service?: string; api?: string; key?: string; insecure?: boolean; namespace?: string };
      try {
        let service: OpenWhiskService | undefined;
        const deployed = body.service ? (RED.nodes.getNode(body.service) as ServiceNode | null) : null;
        if (body.key) {
          service = new OpenWhiskService({ api: body.api ?? deployed?.api ?? '', key: body.key, insecure: Boolean(body.insecure) });
        } else if (deployed) {
          if (deployed.configError) throw deployed.configError;
          service = body.api && body.api !== deployed.api
            ? new OpenWhiskService({ api: body.api, key: deployed.credentials?.key ?? '', insecure: Boolean(body.insecure) })
            : deployed.service;
        }
        if (!service) {
          res.status(409).json({ error: 'Deploy the openwhisk-service config node first, or re-enter its auth key.' });
          return;
        }
        res.json(await service.list(body.namespace || '_'));
      } catch (err) {
        const e = err as OpenWhiskNodeError;
        const status = e.code === 'config' ? 400 : e.statusCode === 401 || e.statusCode === 403 ? 403 : 502;
        res.status(status).json({ error: e.message, code: e.code });
      }
    },
  );
};
