// Checks for the editor's lookup endpoints on Node-RED's admin API. Without adminAuth (Node-RED's
// default) that API answers anyone, and web pages the user opens can send it requests: a form post needs
// no CORS preflight, and Node-RED 4.1 even answers every origin's preflight (its admin app uses
// cors({origin: '*'})), so JSON alone is not enough. A browser says where a request comes from
// (Sec-Fetch-Site; Origin in older ones): only the editor's own page, same origin, is served. Clients
// that are not browsers send neither header and are served as before.
//
// X-Forwarded-* headers are never read: anyone who reaches Node-RED can send them (a page in Node-RED
// 4.1, whose preflight allows any header, too). An editor reached through a proxy that changes the Host
// is named in settings.js instead (openwhiskServiceEditorOrigins), for browsers that send no Sec-Fetch-Site.

export interface RequestProblem {
  status: number;
  error: string;
  code: string;
}

type Headers = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();

/** An origin as browsers send it ("https://host[:port]"), or undefined when it is none. */
function originOf(text: string): string | undefined {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The settings.js entry `openwhiskServiceEditorOrigins`: origins ("https://nodered.example") the editor is
 * also served from, besides Node-RED's own Host. A string or a list; anything else counts as none.
 */
export function editorOrigins(setting: unknown): string[] {
  const list = Array.isArray(setting) ? setting : typeof setting === 'string' ? setting.split(/[\s,]+/) : [];
  return list.flatMap((o) => (typeof o === 'string' && originOf(o.trim()) ? [originOf(o.trim()) as string] : []));
}

/** Undefined when the request may be served; otherwise the answer to send. `origins`: see editorOrigins. */
export function editorRequestProblem(headers: Headers, isJson: boolean, origins: string[] = []): RequestProblem | undefined {
  const site = first(headers['sec-fetch-site']).toLowerCase();
  const origin = first(headers.origin);
  let crossSite = false;
  if (site) {
    crossSite = site !== 'same-origin';
  } else if (origin) {
    const from = origin === 'null' ? undefined : originOf(origin);
    crossSite = !from || (new URL(from).host !== first(headers.host) && !origins.includes(from));
  }
  if (crossSite) {
    return { status: 403, error: 'Only the Node-RED editor itself may use this lookup (the request came from another site).', code: 'cross-site' };
  }
  if (!isJson) {
    return { status: 415, error: 'Send the lookup as JSON (Content-Type: application/json).', code: 'unsupported-media-type' };
  }
  return undefined;
}
