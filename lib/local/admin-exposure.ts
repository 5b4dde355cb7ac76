// Whether action containers could reach Node-RED's own admin API without a login. A container on
// the isolation network reaches the Docker host at the bridge's address, and a container on the
// user's network reaches Node-RED's container there: a Node-RED listening on more than loopback,
// without adminAuth, would let action code POST /flows and run anything on the gateway. Pure: the
// node passes Node-RED's settings and the address its server is bound to.

import { OpenWhiskNodeError } from '../errors';

export interface AdminSettings {
  /** Node-RED's adminAuth setting: any value means the admin API asks for a login. */
  adminAuth?: unknown;
  /** false = no admin API at all. */
  httpAdminRoot?: unknown;
  /** The address Node-RED listens on (red.js sets '0.0.0.0' when settings.js leaves it out). */
  uiHost?: unknown;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The address through which a container could reach an open admin API, or undefined when there is
 * none (adminAuth set, no admin API, or bound to loopback only). `bound`: the address Node-RED's
 * server listens on, when it listens already; else its uiHost setting. Unknown counts as exposed.
 */
export function exposedAdmin(settings: AdminSettings, bound: string | undefined): string | undefined {
  if ((settings.adminAuth && !anonymousMayWrite(settings.adminAuth)) || settings.httpAdminRoot === false) return undefined;
  const host = bound ?? (typeof settings.uiHost === 'string' && settings.uiHost ? settings.uiHost : undefined);
  if (host && LOOPBACK.test(host.replace(/^\[|\]$/g, ''))) return undefined;
  return host ?? 'an address Node-RED was not told (no uiHost)';
}

/**
 * adminAuth with a `default` user gives requests without a login that user's permissions: open
 * unless they only read (a function deciding per request counts as open).
 */
function anonymousMayWrite(adminAuth: unknown): boolean {
  const d = (adminAuth as { default?: unknown }).default;
  if (d === undefined || d === null) return false;
  if (typeof d !== 'object') return true;
  const p = (d as { permissions?: unknown }).permissions;
  const list = Array.isArray(p) ? p : [p];
  return list.some((x) => typeof x !== 'string' || !(x === 'read' || x.endsWith('.read')));
}

/** The refusal a local runtime's nodes report while the admin API is open to its containers. */
export function adminExposedError(host: string): OpenWhiskNodeError {
  const where = host === '0.0.0.0' || host === '::' ? `all interfaces (uiHost ${host})` : host;
  return new OpenWhiskNodeError(
    'config',
    `Local actions are off: Node-RED's admin API listens on ${where} without adminAuth, so action code in a container could reach it ` +
      `(at the Docker bridge's address, or on a shared Docker network) and deploy flows that run anything on this gateway. ` +
      `Set adminAuth in settings.js (https://nodered.org/docs/user-guide/runtime/securing-node-red), or uiHost: '127.0.0.1'; ` +
      `or, if you trust every action this runtime runs, tick "Actions may reach an open Node-RED" in the runtime config.`,
    { short: 'admin API open' },
  );
}
