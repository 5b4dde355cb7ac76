// Which files a manifest catalog may read, and reading them within bounds. A manifest path comes from
// a flow or from the editor's lookup endpoint, which any web page can reach when Node-RED has no
// adminAuth; so only wskdeploy manifest files are read (a regular .yaml/.yml file, as `wskdeploy -m`
// accepts, of at most MANIFEST_MAX_BYTES), and only from the Node-RED user directory or this package's
// examples folder, checked after symlinks and '..' are resolved; its YAML is parsed within bounds on its
// size once its aliases are expanded (readManifestSource). A manifest's `function:` files become
// action code (served by the runtime's OpenWhisk API): only regular files of at most FUNCTION_MAX_BYTES in
// the manifest's own folder are read, never what Node-RED keeps in its user directory (see
// reservedPart), checked at load and again at each read, where the file opened is verified to be the
// one checked.
import * as fs from 'fs';
import * as path from 'path';
import { OpenWhiskNodeError } from '../errors';
import { type KeyPath, parseYamlSource, type SourcePosition, YamlBudgetError, type YamlSource, YamlSyntaxError } from './yaml-source';

/** The largest manifest read: wskdeploy manifests are a few KB; code lives in separate files. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;
/**
 * The largest manifest once its YAML aliases are expanded (an alias stands for its anchor's whole value,
 * so a few hundred bytes can stand for gigabytes): values (mappings, lists, scalars, keys) and
 * characters of text. A real manifest has a few hundred values; a 1 MB file written out in full stays
 * within the text bound.
 */
export const MANIFEST_MAX_NODES = 100_000;
export const MANIFEST_MAX_TEXT = 4 * MANIFEST_MAX_BYTES;
const EXTENSION = /\.ya?ml$/i;

/** Anything wrong with the manifest: the message names the file, the line when known, and the problem. */
export class ManifestError extends OpenWhiskNodeError {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Key path inside the manifest, e.g. ["packages", "facedemo", "actions", "hello", "function"]. */
  readonly keyPath?: string[];

  constructor(file: string, problem: string, pos?: SourcePosition, keyPath?: KeyPath, cause?: unknown) {
    const where = pos ? `${file}:${pos.line}:${pos.column}` : file;
    super('config', `Manifest ${where}: ${problem}`, { short: 'bad manifest', cause });
    this.name = 'ManifestError';
    this.file = file;
    this.line = pos?.line;
    this.column = pos?.column;
    this.keyPath = keyPath?.map(String);
  }

  /** A problem at `keyPath` of the manifest's `source`: the line of its key (with `preferValue`, of its value). */
  static at(
    file: string,
    source: YamlSource | undefined,
    problem: string,
    keyPath: KeyPath,
    opts: { preferValue?: boolean; cause?: unknown } = {},
  ): ManifestError {
    const pos = opts.preferValue ? (source?.valueAt(keyPath) ?? source?.nearest(keyPath)) : source?.nearest(keyPath);
    return new ManifestError(file, problem, pos, keyPath, opts.cause);
  }
}

/** This package's folder (dist/lib/catalog → the package root). */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The folders a manifest may live in: the Node-RED user directory and this package's examples. */
export function manifestRoots(userDir: string | undefined): string[] {
  return [userDir ? path.resolve(userDir) : undefined, path.join(PACKAGE_ROOT, 'examples')].filter((d): d is string => Boolean(d));
}

/** A problem with a manifest file before its content is read, and the status text for it. */
interface Refusal {
  problem: string;
  short: string;
}

const refuse = (file: string, { problem, short }: Refusal) => new OpenWhiskNodeError('config', `Manifest ${file}: ${problem}`, { short });

const notRegular: Refusal = { problem: 'not a regular file', short: 'bad manifest' };
const tooLarge: Refusal = { problem: `larger than ${MANIFEST_MAX_BYTES / 1048576} MB: not a manifest`, short: 'manifest too large' };

/**
 * Why `stat` is not a manifest file to read, or undefined: a folder, not a .yaml/.yml file (when its
 * real path is given), not a regular file (never a device or a FIFO), or larger than MANIFEST_MAX_BYTES.
 */
function manifestFileProblem(stat: fs.Stats, real?: string): Refusal | undefined {
  if (stat.isDirectory()) return { problem: 'is a folder; give the path of the manifest file (manifest.yaml)', short: 'bad manifest' };
  if (real !== undefined && !EXTENSION.test(real)) {
    return { problem: 'not a .yaml or .yml file; a wskdeploy manifest is one (e.g. manifest.yaml)', short: 'bad manifest' };
  }
  if (!stat.isFile()) return notRegular;
  if (stat.size > MANIFEST_MAX_BYTES) return tooLarge;
  return undefined;
}

/** The error for an empty manifest path. */
export const noManifestGiven = () => new OpenWhiskNodeError('config', 'No manifest file given', { short: 'no manifest' });

/**
 * Where a manifest path points, before any check: absolute as given; relative against the user
 * directory, then against this package (so the examples' "examples/manifest.yaml" works wherever they
 * are imported).
 */
export function manifestCandidates(file: string, userDir: string | undefined): string[] {
  const p = (file ?? '').trim();
  if (!p) return [];
  if (path.isAbsolute(p)) return [path.normalize(p)];
  return [userDir ? path.resolve(userDir, p) : undefined, path.resolve(PACKAGE_ROOT, p)].filter((c): c is string => Boolean(c));
}

export function within(real: string, roots: string[]): boolean {
  return roots.some((r) => real === r || real.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
}

function checkReal(given: string, real: string, roots: string[], stat: fs.Stats): string {
  if (!within(real, roots)) {
    throw refuse(given, {
      problem: `not inside the Node-RED user directory or this package's examples folder (${roots.join(', ')}); only manifests there are read`,
      short: 'manifest not allowed',
    });
  }
  const problem = manifestFileProblem(stat, real);
  if (problem) throw refuse(given, problem);
  return real;
}

function notFound(file: string, candidates: string[]): OpenWhiskNodeError {
  const where = candidates.length > 1 ? ` (looked for ${candidates.join(' and ')})` : '';
  return refuse(file, { problem: `not found${where}`, short: 'no manifest' });
}

/**
 * The real path of an allowed manifest file, or an OpenWhiskNodeError (code 'config') that names
 * the path and the rule broken — never the file's content.
 */
export async function locateManifest(file: string, userDir: string | undefined): Promise<string> {
  const candidates = manifestCandidates(file, userDir);
  if (candidates.length === 0) throw noManifestGiven();
  const roots = await Promise.all(manifestRoots(userDir).map((r) => fs.promises.realpath(r).catch(() => r)));
  for (const c of candidates) {
    let real: string;
    try {
      real = await fs.promises.realpath(c);
    } catch {
      continue;
    }
    return checkReal(file.trim(), real, roots, await fs.promises.stat(real));
  }
  throw notFound(file.trim(), candidates);
}

/** locateManifest for the runtime node's deploy (a few stat calls; the read itself is capped). */
export function locateManifestSync(file: string, userDir: string | undefined): string {
  const candidates = manifestCandidates(file, userDir);
  if (candidates.length === 0) throw noManifestGiven();
  const roots = manifestRoots(userDir).map((r) => {
    try {
      return fs.realpathSync(r);
    } catch {
      return r;
    }
  });
  for (const c of candidates) {
    let real: string;
    try {
      real = fs.realpathSync(c);
    } catch {
      continue;
    }
    return checkReal(file.trim(), real, roots, fs.statSync(real));
  }
  throw notFound(file.trim(), candidates);
}

/**
 * Where the manifest stands: its stamp (it changed when the stamp did) and its modification time.
 * Throws ManifestError when it cannot be read or is no manifest file (see manifestFileProblem).
 */
export function manifestStamp(file: string): { stamp: string; mtime: number } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new ManifestError(file, `cannot read the manifest: ${(err as Error).message}`, undefined, [], err);
  }
  const problem = manifestFileProblem(stat);
  if (problem) throw new ManifestError(file, problem.problem);
  return { stamp: `${stat.mtimeMs}:${stat.size}:${stat.ino}`, mtime: stat.mtimeMs };
}

/** Reads at most MANIFEST_MAX_BYTES + 1 bytes: a file that grew past the cap since its stat is refused. */
function readManifestText(file: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    if (!fs.fstatSync(fd).isFile()) throw refuse(file, notRegular);
    const buf = Buffer.alloc(MANIFEST_MAX_BYTES + 1);
    let n = 0;
    for (;;) {
      const bytesRead = fs.readSync(fd, buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MANIFEST_MAX_BYTES) throw refuse(file, tooLarge);
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The manifest's YAML, read (at most MANIFEST_MAX_BYTES) and parsed within MANIFEST_MAX_NODES values and
 * MANIFEST_MAX_TEXT characters of text with its aliases expanded. Throws ManifestError for a syntax error
 * or a document over the bounds, naming the line but none of the text (the file may be no manifest).
 */
export function readManifestSource(file: string): YamlSource {
  const text = readManifestText(file);
  try {
    return parseYamlSource(text, file, { maxNodes: MANIFEST_MAX_NODES, maxText: MANIFEST_MAX_TEXT });
  } catch (err) {
    if (err instanceof YamlBudgetError) {
      const pos = err.line ? { line: err.line, column: err.column ?? 1 } : undefined;
      const problem =
        err.bound === 'recursive'
          ? 'a YAML alias (*name) inside the value its anchor (&name) names: a recursive structure, which no manifest ' +
            'needs; write the value out instead of the alias'
          : err.aliases
            ? `too large with its YAML aliases expanded: ${err.reason} (an alias *name counts as the whole value of its ` +
              `anchor &name; a manifest may hold at most ${MANIFEST_MAX_NODES} values and ${MANIFEST_MAX_TEXT / 1048576} MB ` +
              'of text counted so). Write shared values out, or put large data in a file the action reads'
            : `too large: ${err.reason} (a manifest may hold at most ${MANIFEST_MAX_NODES} values and ` +
              `${MANIFEST_MAX_TEXT / 1048576} MB of text). Put large data in a file the action reads`;
      throw new ManifestError(file, problem, pos, undefined, err);
    }
    if (err instanceof YamlSyntaxError) {
      const pos = err.line ? { line: err.line, column: err.column ?? 1 } : undefined;
      // The file may not be a manifest at all: keep js-yaml's reason but not the names it quotes from the text.
      const reason = err.reason.replace(/"[^"\n]*"/g, '"…"').replace(/: .*$/s, '');
      throw new ManifestError(file, `YAML syntax error: ${reason}`, pos, undefined, err);
    }
    throw err;
  }
}

/**
 * The largest `function:` file of a manifest: OpenWhisk's own limit on an action's code (48 MB); a
 * larger action would not deploy with wskdeploy either.
 */
export const FUNCTION_MAX_BYTES = 48 * 1024 * 1024;

/** A function file broke one of the rules below; the catalog adds the manifest, its line and the action. */
export class FunctionFileError extends Error {
  readonly problem: string;
  constructor(problem: string) {
    super(problem);
    this.name = 'FunctionFileError';
    this.problem = problem;
  }
}

const functionTooLarge = (given: string) =>
  new FunctionFileError(`function file '${given}' is larger than ${FUNCTION_MAX_BYTES / 1048576} MB, OpenWhisk's limit on an action's code`);

/**
 * Why a path below a manifest's folder (`rel`, relative to it) is never action code, or undefined. A
 * manifest may sit in the Node-RED user directory itself, whose files are Node-RED's: its settings
 * (settings.js), flows and their credentials (flows.json, flows_cred.json, projects' flow_cred.json, the
 * context store's .json files), the key that decrypts those credentials (.config.runtime.json), its
 * sessions (.sessions.json), backups (.flows.json.backup), installed nodes (node_modules, package.json)
 * and this package's own records (.leon-openwhisk/). So a function file is refused when a part of its path
 * begins with '.' or is node_modules, when it is a .json file, or when it is named settings.js: action
 * code is none of these.
 */
export function reservedPart(rel: string): string | undefined {
  const parts = rel.split(path.sep).filter((p) => p !== '' && p !== '.');
  for (const part of parts) {
    if (part.startsWith('.')) return `'${part}' begins with '.'`;
    if (part.toLowerCase() === 'node_modules') return 'it is in node_modules';
  }
  const name = (parts[parts.length - 1] ?? '').toLowerCase();
  if (name.endsWith('.json')) return 'it is a .json file';
  if (name === 'settings.js') return 'it is named settings.js';
  return undefined;
}

const reserved = (given: string, why: string, real?: string) =>
  new FunctionFileError(
    `function file '${given}' is refused: ${why}` +
      (real ? ` (it resolves to ${real})` : '') +
      ". Names beginning with '.', node_modules, .json files and settings.js are never read as action code (in the " +
      'Node-RED user directory they are its settings, flows, credentials and their key): keep each manifest and its ' +
      'code in a folder of their own, <userDir>/manifests/<name>/',
  );

const realOrSelf = (p: string): string => {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
};

/**
 * Where a manifest's `function:` file (`given`, as written) really is, checked: after symlinks and '..'
 * are resolved it lies in the manifest's folder or below, is none of Node-RED's own files (reservedPart,
 * both as written and where it leads), is a regular file (not a device, a FIFO, a socket) and holds at
 * most FUNCTION_MAX_BYTES. Its content becomes action code that the gateway API serves, so a manifest
 * must not pull in /etc/shadow, the key to Node-RED's credentials, or read /dev/zero forever. Returns
 * the real path and the manifest folder's real path. Throws FunctionFileError.
 */
export function checkFunctionFile(given: string, folder: string): { real: string; root: string; size: number } {
  const root = realOrSelf(folder);
  // As written (before symlinks are resolved, so a missing file is refused for what it names) ...
  const lexical = path.relative(folder, path.resolve(folder, given));
  const leaves = lexical === '..' || lexical.startsWith(`..${path.sep}`) || path.isAbsolute(lexical);
  const lexicalWhy = leaves ? undefined : reservedPart(lexical);
  if (lexicalWhy) throw reserved(given, lexicalWhy);
  let real: string;
  try {
    real = fs.realpathSync(path.resolve(folder, given));
  } catch {
    throw new FunctionFileError(`function file '${given}' not found (looked for ${path.resolve(folder, given)})`);
  }
  if (!within(real, [root])) {
    throw new FunctionFileError(
      `function file '${given}' is outside the manifest's folder ${root}` +
        (real !== given ? ` (it resolves to ${real})` : '') +
        '; only files in that folder or below are read: put the code next to the manifest',
    );
  }
  // ... and where it really is (a symlink in the folder may lead to .config.runtime.json).
  const realWhy = reservedPart(path.relative(root, real));
  if (realWhy) throw reserved(given, realWhy, path.relative(root, real) !== lexical ? real : undefined);
  const stat = fs.statSync(real);
  if (stat.isDirectory()) {
    throw new FunctionFileError(`function '${given}' is a folder; zip it (wskdeploy zips folders, this catalog does not)`);
  }
  if (!stat.isFile()) throw new FunctionFileError(`function file '${given}' is not a regular file`);
  if (stat.size > FUNCTION_MAX_BYTES) throw functionTooLarge(given);
  return { real, root, size: stat.size };
}

/** Where an open file really is, by /proc/self/fd (Linux), or undefined without procfs. */
async function openedPath(fd: number): Promise<string | undefined> {
  let where: string;
  try {
    where = await fs.promises.readlink(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
  // A file removed (or replaced by a rename) since it was opened; its path is still the one it had.
  return where.endsWith(' (deleted)') ? where.slice(0, -' (deleted)'.length) : where;
}

/**
 * Verifies that the file opened (`fd`, fstat `opened`) for `real` is one checkFunctionFile allows.
 * O_NOFOLLOW guards only the last part of the path: a folder on the way may have been swapped for a
 * symlink since the check. Where procfs tells where the open file really is, that path must be in `root`
 * and not reserved; elsewhere `real` must still resolve to itself and be the very file opened.
 */
async function checkOpened(given: string, root: string, real: string, fd: number, opened: fs.Stats): Promise<void> {
  const changed = () =>
    new FunctionFileError(`function file '${given}' changed while it was being opened (a folder on its way ` + 'was replaced); it is not read');
  const where = await openedPath(fd);
  if (where === undefined) {
    let now: fs.Stats;
    try {
      if (fs.realpathSync(real) !== real) throw changed();
      now = fs.statSync(real);
    } catch (err) {
      if (err instanceof FunctionFileError) throw err;
      throw changed();
    }
    if (now.dev !== opened.dev || now.ino !== opened.ino) throw changed();
    return;
  }
  if (!within(where, [root])) {
    throw new FunctionFileError(
      `function file '${given}' is outside the manifest's folder ${root} (it resolves to ${where}` +
        ' when opened: a folder on its way was replaced by a symlink); only files in that folder or below are read',
    );
  }
  const why = reservedPart(path.relative(root, where));
  if (why) throw reserved(given, why, where);
}

/**
 * Reads a function file with the rules of checkFunctionFile applied again at the time of reading (the
 * file may have changed since the manifest was loaded): the final path component is opened without
 * following a symlink, without blocking; the file opened is verified to be one the rules allow (see
 * checkOpened) before anything is read, and at most FUNCTION_MAX_BYTES + 1 bytes are read.
 */
export async function readFunctionFile(given: string, folder: string): Promise<{ data: Buffer; mtime: number }> {
  const { real, root } = checkFunctionFile(given, folder);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  } catch (err) {
    throw new FunctionFileError(`cannot read function file '${given}': ${(err as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    await checkOpened(given, root, real, handle.fd, stat);
    if (!stat.isFile()) throw new FunctionFileError(`function file '${given}' is not a regular file`);
    if (stat.size > FUNCTION_MAX_BYTES) throw functionTooLarge(given);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(stat.size - total + 1, 65536), FUNCTION_MAX_BYTES + 1 - total));
      const { bytesRead } = await handle.read(buf, 0, buf.length, total);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > FUNCTION_MAX_BYTES) throw functionTooLarge(given);
    }
    return { data: Buffer.concat(chunks, total), mtime: stat.mtimeMs };
  } finally {
    await handle.close();
  }
}
