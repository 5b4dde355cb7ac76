import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomicSync } from './atomic-file';
import { locateManifestSync } from './catalog/manifest-file';

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

/** The platforms the local runtime can be told its images are built for (runtimes/build.sh --platform). */
export const LOCAL_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'] as const;

/**
 * The runtime node's platform field: '' (the Docker engine's own platform) → undefined, else one of
 * LOCAL_PLATFORMS. Anything else throws, naming the allowed values.
 */
export function parsePlatform(text: string | undefined): string | undefined {
  const s = (text ?? '').trim();
  if (!s) return undefined;
  if ((LOCAL_PLATFORMS as readonly string[]).includes(s)) return s;
  throw new Error(`platform '${s.slice(0, 40)}' is not one of ${LOCAL_PLATFORMS.join(', ')} (empty for the Docker engine's own)`);
}

/** Where a Node-RED instance keeps its id: `<userDir>/.leon-openwhisk/instance-id`. */
export function instanceIdFile(userDir: string): string {
  return join(userDir, '.leon-openwhisk', 'instance-id');
}

const ID_FORMAT = /^[0-9a-f]{32}$/;
const ids = new Map<string, string>();
let processId: string | undefined;

/**
 * Identifies this Node-RED instance for container labels and the crash sweep: a random id kept in the
 * user directory, so it survives a restart (or a Node-RED container re-created on the same /data
 * volume) and two instances never share it, even with the same hostname and user-directory path.
 * Created atomically (lib/atomic-file.ts: written and fsynced under a unique name, then hard-linked into
 * place: of two processes starting at once, one wins and both use its id), readable by the owner only.
 * Without a user directory (a test harness), a random id for this process.
 */
export function instanceId(userDir: string | undefined): string {
  if (!userDir) return (processId ??= randomBytes(16).toString('hex'));
  const file = instanceIdFile(resolve(userDir));
  const known = ids.get(file);
  if (known) return known;
  let id: string;
  try {
    id = readId(file) ?? createId(file);
  } catch (err) {
    throw new Error(`cannot keep this Node-RED instance's id in ${file} (${(err as Error).message}); the user directory must be writable by Node-RED`, {
      cause: err,
    });
  }
  ids.set(file, id);
  return id;
}

function readId(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return ID_FORMAT.test(text) ? text : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function createId(file: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const id = randomBytes(16).toString('hex');
  try {
    writeFileAtomicSync(file, `${id}\n`, { exclusive: true }); // fails if another process created it first
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const theirs = readId(file);
  if (theirs) return theirs;
  writeFileAtomicSync(file, `${id}\n`); // unreadable garbage in place of an id: replace it
  return id;
}

/**
 * The real path of the manifest a runtime reads: absolute, or relative to the Node-RED user directory,
 * then to this package (so the examples' "examples/manifest.yaml" works wherever they are imported).
 * Only a .yaml/.yml regular file of at most 1 MB inside the user directory or this package's examples
 * folder is accepted (see lib/catalog/manifest-file.ts); anything else throws a config error.
 */
export function resolveManifestPath(file: string, userDir: string | undefined): string {
  return locateManifestSync(file, userDir);
}
