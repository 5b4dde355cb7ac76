// Checks for the editor's lookup endpoints on Node-RED's admin API. Without adminAuth (Node-RED's
// default) that API answers anyone, and web pages the user opens can send it requests: a form post needs
// no CORS preflight, and Node-RED 4.1 even answers every origin's preflight (its admin app uses
// cors({origin: '*'})), so JSON alone is not enough. A browser says where a request comes from
// (Sec-Fetch-Site; Origin in older ones): only the editor's own page, same origin, is served. Clients
// that are not browsers send neither header and are served as before.

export interface RequestProblem {
  status: number;
  error: string;
  code: string;
}

type Headers = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string => (Array.isArray(v) ? v[0] ?? '' : v ?? '').trim();

/** Undefined when the request may be served; otherwise the answer to send. */
export function editorRequestProblem(headers: Headers, isJson: boolean): RequestProblem | undefined {
  const site = first(headers['sec-fetch-site']).toLowerCase();
  const origin = first(headers.origin);
  let crossSite = false;
  if (site) {
    crossSite = site !== 'same-origin';
  } else if (origin) {
    let host: string | undefined;
    try {
      host = origin === 'null' ? undefined : new URL(origin).host;
    } catch {
      host = undefined;
    }
    const hosts = [first(headers.host), ...first(headers['x-forwarded-host']).split(',').map((h) => h.trim())].filter(Boolean);
    crossSite = !host || !hosts.includes(host);
  }
  if (crossSite) {
    return { status: 403, error: 'Only the Node-RED editor itself may use this lookup (the request came from another site).', code: 'cross-site' };
  }
  if (!isJson) {
    return { status: 415, error: 'Send the lookup as JSON (Content-Type: application/json).', code: 'unsupported-media-type' };
  }
  return undefined;
}
