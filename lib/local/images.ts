// Kind → container image resolution for the local Docker runtime.
// Order (as apache/openwhisk's invoker picks images, runtimes.json): blackbox → exec.image; otherwise a user override
// (exact kind, then "family:*") > this package's own image when the engine has it (PACKAGE_RUNTIMES, checked by
// provision.ts) > the deployment's runtimes manifest (GET / on the API host) > the built-in table below.

import { OpenWhiskNodeError } from '../errors';
import type { ActionExec } from '../types';

interface BuiltinKind {
  image: string;
  default?: boolean;
}

/**
 * Mirrors apache/openwhisk ansible/files/runtimes.json on master (1fae641, 2026-08): every image is
 * `openwhisk/<name>:nightly`. Runtime CI pushes no `latest` tag, so `:nightly` is the tag to use.
 * Beyond it: `nodejs:22` (apache/openwhisk-runtime-nodejs's action-nodejs-v22), the `nodejs` default, as
 * OpenWhisk deployments offer it now that Node.js 20 is past its end of life; `nodejs:20` stays for the
 * actions that name it (our runtimes: leon-edge/action-nodejs-v22 and -v20, runtimes/build.sh).
 */
export const BUILTIN_RUNTIMES: Readonly<Record<string, Readonly<Record<string, BuiltinKind>>>> = {
  nodejs: {
    'nodejs:18': { image: 'openwhisk/action-nodejs-v18:nightly' },
    'nodejs:20': { image: 'openwhisk/action-nodejs-v20:nightly' },
    'nodejs:22': { image: 'openwhisk/action-nodejs-v22:nightly', default: true },
  },
  python: {
    // Not in runtimes.json any more, but older deployments and manifests still name it (image of
    // apache/openwhisk-runtime-python core/python3Action).
    'python:3': { image: 'openwhisk/python3action:nightly' },
    'python:3.10': { image: 'openwhisk/action-python-v3.10:nightly', default: true },
    'python:3.11': { image: 'openwhisk/action-python-v3.11:nightly' },
  },
  swift: {
    'swift:5.3': { image: 'openwhisk/action-swift-v5.3:nightly', default: true },
    'swift:5.7': { image: 'openwhisk/action-swift-v5.7:nightly' },
  },
  java: {
    'java:8': { image: 'openwhisk/java8action:nightly', default: true },
  },
  php: {
    'php:8.1': { image: 'openwhisk/action-php-v8.1:nightly', default: true },
  },
  ruby: {
    'ruby:2.5': { image: 'openwhisk/action-ruby-v2.5:nightly', default: true },
  },
  go: {
    'go:1.20': { image: 'openwhisk/action-golang-v1.20:nightly', default: true },
  },
  dotnet: {
    'dotnet:3.1': { image: 'openwhisk/action-dotnet-v3.1:nightly', default: true },
    'dotnet:6.0': { image: 'openwhisk/action-dotnet-v6.0:nightly' },
  },
  rust: {
    'rust:1.34': { image: 'openwhisk/action-rust-v1.34:nightly', default: true },
  },
};

/**
 * Kinds this package builds a runtime image for (runtimes/build.sh): the repository, tagged per
 * platform (`:amd64`, `:arm64`, `:armv7`). A local runtime uses them, when they are on its Docker
 * engine, before OpenWhisk's images (after the user's overrides).
 */
export const PACKAGE_RUNTIMES: Readonly<Record<string, string>> = {
  // Newest first within a family: "<family>:default" takes the first one the engine has.
  'nodejs:22': 'leon-edge/action-nodejs-v22',
  'nodejs:20': 'leon-edge/action-nodejs-v20',
  'python:3.11': 'leon-edge/action-python-v3.11',
};

/** The tag runtimes/build.sh gives an image of this Docker architecture ("amd64", "arm64", "arm" → "armv7"). */
export function platformTag(arch: string): string {
  const a = arch.toLowerCase();
  if (a === 'x86_64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  if (a === 'arm' || a === 'armhf' || a === 'armv7' || a === 'armv7l') return 'armv7';
  return a;
}

/** Kinds this package builds no image of on a platform (by tag), with why: no maintained build of it exists there. */
export const NOT_BUILT: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'nodejs:22': { armv7: 'no maintained Node.js 22 build exists for linux/arm/v7 (npm publishes none after 20.11, Debian has 20 and 24)' },
};

/** This package's image for a (resolved) kind on an engine of this architecture, if it builds one. */
export function packageImage(kind: string, arch: string): string | undefined {
  const repo = PACKAGE_RUNTIMES[kind];
  if (!repo || !arch || NOT_BUILT[kind]?.[platformTag(arch)]) return undefined;
  return `${repo}:${platformTag(arch)}`;
}

/** The manifest's blackbox base image (used only to document; blackbox actions name their own image). */
export const BLACKBOX_BASE_IMAGE = 'openwhisk/dockerskeleton:nightly';

export type ImageSource = 'blackbox' | 'override' | 'package' | 'manifest' | 'builtin';

export interface ResolvedImage {
  image: string;
  /** The kind after resolving "<family>:default" (e.g. "nodejs:22"); "blackbox" for blackbox actions. */
  kind: string;
  family: string;
  source: ImageSource;
  /** The image may wait as a stem cell: it carries STEM_CELL_SAFE_LABEL (set once the image is known). */
  cellSafe?: boolean;
}

/**
 * An image label (value "true"): the image's runtime refuses requests a web browser made and any
 * body but application/json, takes `POST /warm-up` without side effects, and writes only under
 * /tmp (our runtimes/ do). Only such an image gets stem cells: a cell waits for its code for minutes
 * on a loopback port any page in the user's browser can post to, and upstream's proxies /init from
 * any content type. Its containers run with a read-only root and a /tmp bounded in memory (container.ts).
 */
export const STEM_CELL_SAFE_LABEL = 'leon-edge.stemcell-safe';

export function familyOf(kind: string): string {
  const i = kind.indexOf(':');
  return i < 0 ? kind : kind.slice(0, i);
}

/** "<family>:default" (or a bare family name) → the concrete default kind, if one is known. */
export function resolveDefaultKind(kind: string, manifest: Record<string, string> = {}): string {
  const family = familyOf(kind);
  const isDefault = kind === family || kind === `${family}:default`;
  if (!isDefault) return kind;
  const builtin = BUILTIN_RUNTIMES[family];
  if (builtin) {
    const def = Object.keys(builtin).find((k) => builtin[k].default);
    if (def) return def;
  }
  // A family only the deployment knows: take its first listed kind.
  const fromManifest = Object.keys(manifest).find((k) => familyOf(k) === family && !k.endsWith(':default'));
  return fromManifest ?? kind;
}

function pick(map: Record<string, string> | undefined, key: string): string | undefined {
  if (!map || !Object.prototype.hasOwnProperty.call(map, key)) return undefined;
  const v = map[key];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * Resolve the image for an action's exec. Throws OpenWhiskNodeError('config') for an unknown kind
 * or a blackbox action without an image.
 */
export function resolveImage(exec: ActionExec, overrides: Record<string, string> = {}, manifest: Record<string, string> = {}): ResolvedImage {
  const kind = exec.kind;
  if (!kind || typeof kind !== 'string') {
    throw new OpenWhiskNodeError('config', 'The action has no exec.kind: cannot choose a runtime image.', {
      short: 'no kind',
    });
  }
  if (kind === 'sequence') {
    throw new OpenWhiskNodeError('config', 'A sequence has no image of its own: provision its components.', {
      short: 'sequence',
    });
  }
  if (kind === 'blackbox') {
    const image = typeof exec.image === 'string' ? exec.image.trim() : '';
    if (!image) {
      throw new OpenWhiskNodeError('config', "The blackbox action has no exec.image: set the action's Docker image.", {
        short: 'no image',
      });
    }
    return { image, kind, family: 'blackbox', source: 'blackbox' };
  }
  const family = familyOf(kind);
  const resolved = resolveDefaultKind(kind, manifest);
  const override = pick(overrides, kind) ?? pick(overrides, resolved) ?? pick(overrides, `${family}:*`);
  if (override) return { image: override, kind: resolved, family, source: 'override' };
  const fromManifest = pick(manifest, kind) ?? pick(manifest, resolved);
  if (fromManifest) return { image: fromManifest, kind: resolved, family, source: 'manifest' };
  const builtin = BUILTIN_RUNTIMES[family]?.[resolved];
  if (builtin) return { image: builtin.image, kind: resolved, family, source: 'builtin' };
  const known = [...new Set([...Object.values(BUILTIN_RUNTIMES).flatMap((f) => Object.keys(f)), ...Object.keys(manifest)])].sort();
  throw new OpenWhiskNodeError(
    'config',
    `Unsupported action kind '${kind}': no runtime image is known for it. Known kinds: ${known.join(', ')}. ` +
      `Set an image override for kind '${kind}' (or '${family}:*') in the runtime config if you have an image for it.`,
    { short: 'unsupported kind' },
  );
}

/**
 * Whether a container of this image honours __OW_ALLOW_CONCURRENT=true (only the Node.js action proxy
 * does, apache/openwhisk-runtime-nodejs).
 */
export function supportsConcurrency(resolved: ResolvedImage): boolean {
  if (resolved.family === 'nodejs') return true;
  return /(^|\/)action-nodejs-v\d+(:|@|$)/.test(resolved.image);
}
