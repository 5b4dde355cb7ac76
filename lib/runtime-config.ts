import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

/** Parses kind → image overrides: a JSON object, or "kind=image" items separated by newlines or commas. */
export function parseImageOverrides(text: string | undefined): Record<string, string> {
  const src = (text ?? '').trim();
  if (!src) return {};
  if (src.startsWith('{')) {
    const obj = JSON.parse(src) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k.trim(), String(v).trim()]));
  }
  const out: Record<string, string> = {};
  for (const item of src.split(/[\n,]/)) {
    if (!item.trim()) continue;
    const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(item);
    if (!m) throw new Error(`image override '${item.trim()}' is not of the form kind=image`);
    out[m[1]] = m[2];
  }
  return out;
}

/** Identifies this Node-RED instance (host + user directory) for container labels and the crash sweep. */
export function instanceId(userDir: string | undefined): string {
  return createHash('sha256').update(`${hostname()}\n${userDir ?? process.cwd()}`).digest('hex').slice(0, 16);
}

/**
 * Where a manifest path points: absolute as given; relative against the Node-RED user directory,
 * then against this package (so the examples' "examples/manifest.yaml" works wherever they are imported).
 */
export function resolveManifestPath(file: string, userDir: string | undefined): string {
  const p = (file ?? '').trim();
  if (!p || isAbsolute(p)) return p;
  const candidates = [userDir ? resolve(userDir, p) : undefined, resolve(__dirname, '..', '..', p)].filter((c): c is string => Boolean(c));
  return candidates.find((c) => existsSync(c)) ?? candidates[0];
}
