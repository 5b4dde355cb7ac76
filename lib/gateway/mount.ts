import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayApi } from './api';

/** Where gateway APIs live on Node-RED's HTTP server (under httpNodeRoot): `/openwhisk/<path>/api/v1/…`. */
export const MOUNT = '/openwhisk';

type Use = (path: string, fn: (req: IncomingMessage, res: ServerResponse, next: () => void) => void) => unknown;
const registries = new WeakMap<object, Map<string, GatewayApi>>();

/** A runtime's API path: letters, digits, '-', '_' and '.', 1 to 64 of them. */
export function checkApiPath(p: string): string {
  const s = (p ?? '').trim().replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(s)) {
    throw new Error(`the API path '${p}' must be 1 to 64 letters, digits, '-', '_' or '.'`);
  }
  return s;
}

/**
 * Serves `api` at MOUNT/<path> on an Express app (RED.httpNode). One middleware per app dispatches to
 * the runtimes that enabled their API; returns the function that takes this one off again. Two
 * runtimes cannot share a path.
 */
export function mountGateway(app: { use: Use }, path: string, api: GatewayApi): () => void {
  let reg = registries.get(app);
  if (!reg) {
    const r = new Map<string, GatewayApi>();
    registries.set(app, r);
    reg = r;
    app.use(MOUNT, (req, res, next) => {
      const url = req.url ?? '/';
      const m = /^\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(url);
      const target = m ? r.get(m[1]) : undefined;
      if (!target) return next();
      void target.handle(req, res, `${m![2] ?? '/'}${m![3] ?? ''}`);
    });
  }
  if (reg.has(path)) throw new Error(`another openwhisk-runtime already serves its API at ${MOUNT}/${path}`);
  reg.set(path, api);
  const r = reg;
  return () => {
    if (r.get(path) === api) r.delete(path);
  };
}
