// From an action document to what runs it: the image (resolveImage's order, with the deployment's
// runtimes manifest fetched once per catalog), the container plan (limits, labels, environment,
// /init parameters, API key), and a sequence's components. No containers are started here.

import { OpenWhiskNodeError } from '../errors';
import type Docker from 'dockerode';
import type { ActionDoc, Catalog } from '../types';
import type { ContainerPlan } from './container';
import { ensureImage, hasImage, type DockerTarget, type EnginePlatform } from './docker';
import {
  NOT_BUILT,
  PACKAGE_RUNTIMES,
  STEM_CELL_SAFE_LABEL,
  familyOf,
  packageImage,
  platformTag,
  resolveImage,
  supportsConcurrency,
  type ResolvedImage,
} from './images';
import { LABELS, cpuShares } from './options';
import type { LocalAction } from './action';
import { apiKeyAllowed, effectiveLimits, identityOf, parseQualifiedName, splitParams } from './protocol';
import { SequenceAction } from './sequence';

/** Nested sequences deeper than this are refused (the platform limits sequence length similarly). */
const MAX_SEQUENCE_DEPTH = 10;

export interface PlanContext {
  instanceId: string;
  runtimeId: string;
  engineId: string;
  capacity: number;
  apiHost?: string;
  apiKey?: string;
}

/** A document worth provisioning: a name and an exec. */
export function checkDoc(doc: ActionDoc): void {
  if (!doc || typeof doc !== 'object' || !doc.exec || typeof doc.name !== 'string') {
    throw new OpenWhiskNodeError('config', 'The action document has no name or exec: cannot run it locally.', { short: 'bad action' });
  }
}

/** Everything fixed for the containers of one provisioned action. */
export function planFor(nodeId: string, doc: ActionDoc, resolved: ResolvedImage, ctx: PlanContext): ContainerPlan {
  const id = identityOf(doc);
  const limits = effectiveLimits(doc.limits);
  const maxInflight = limits.concurrency > 1 && supportsConcurrency(resolved) ? limits.concurrency : 1;
  const { init } = splitParams(doc.parameters);
  const env: string[] = [];
  if (ctx.apiHost) env.push(`__OW_API_HOST=${ctx.apiHost}`);
  if (maxInflight > 1) env.push('__OW_ALLOW_CONCURRENT=true');
  const apiKey = ctx.apiKey && apiKeyAllowed(doc.annotations) ? ctx.apiKey : undefined;
  return {
    nodeId,
    id,
    doc,
    kind: resolved.kind,
    image: resolved.image,
    limits,
    maxInflight,
    labels: {
      [LABELS.managed]: 'true',
      [LABELS.instance]: ctx.instanceId,
      [LABELS.runtime]: ctx.runtimeId,
      [LABELS.node]: nodeId,
      [LABELS.action]: id.qualified,
      [LABELS.version]: id.version,
      [LABELS.engine]: ctx.engineId,
    },
    env,
    initParams: init,
    apiKey,
    cpuShares: cpuShares(limits.memory, ctx.capacity),
    cellSafe: resolved.cellSafe === true,
  };
}

/** How long a kind's image is not pulled again after a failed pull: doubling from the first, up to the last. */
const PULL_RETRY_FIRST_MS = 30000;
const PULL_RETRY_MAX_MS = 600000;

export interface ImageEngine {
  docker: Docker;
  target: DockerTarget;
  platform: EnginePlatform;
  hasReady(image: string): boolean;
  noteFailure(err: unknown): void;
  /** Something the user should know about the image chosen (said once per image). */
  notice?(text: string): void;
}

/**
 * Image for an action: blackbox image or a user override first (no network needed), then this
 * package's own image for the kind when the engine has it, then the deployment's runtimes manifest
 * (catalog.runtimeImages(), i.e. GET / on the API host; an unreachable host counts as an empty
 * manifest), then the built-in table. A failed pull is not tried again for a while (30 s, doubling to
 * 10 min): every message of an action that cannot start gets the same error at once.
 */
/** The command that builds this package's runtime images for an engine of this architecture. */
function buildCommand(arch: string): string {
  const platform = { amd64: 'linux/amd64', arm64: 'linux/arm64', armv7: 'linux/arm/v7' }[platformTag(arch)];
  return platform ? `bash runtimes/build.sh --platform ${platform}` : 'bash runtimes/build.sh';
}

export class ImageChooser {
  private readonly manifests = new WeakMap<Catalog, Promise<Record<string, string>>>();
  private readonly failedPulls = new Map<string, { until: number; delay: number; err: unknown }>();
  private readonly noticed = new Set<string>();

  constructor(private readonly overrides: Record<string, string>) {}

  /**
   * Choose the image and make sure the engine has it (pulled only if absent; a ready stem cell of
   * the image proves it is there, and of the engine's platform: no Docker call). A failure to get
   * it is reported to `noteFailure` (the engine's health) and rejects naming the action.
   */
  async prepare(doc: ActionDoc, catalog: Catalog, engine: ImageEngine, onPull: (detail: string) => void): Promise<ResolvedImage> {
    const resolved = await this.choose(doc, catalog, engine);
    // Only a cell-safe image has cells.
    if (engine.hasReady(resolved.image)) return { ...resolved, cellSafe: true };
    const held = this.failedPulls.get(resolved.image);
    if (held && held.until > Date.now()) throw withContext(held.err, `Action '${identityOf(doc).qualified}'`);
    // OpenWhisk's image (ours was not on the engine): say how to build ours. An override's own image is the user's.
    const fallback = resolved.source === 'manifest' || resolved.source === 'builtin';
    const own = fallback ? packageImage(resolved.kind, engine.platform.arch) : undefined;
    const none = fallback ? NOT_BUILT[resolved.kind]?.[platformTag(engine.platform.arch)] : undefined;
    const hint = own
      ? `This package builds its own image for kind '${resolved.kind}', ${own}: run \`${buildCommand(engine.platform.arch)}\` in the package's folder ` +
        `(see docs/images-and-arm.md), or set an image override (${resolved.kind}=<image>) in the runtime config.`
      : none
        ? `This package has no image for kind '${resolved.kind}' on this platform: ${none}. Use another kind of the family ` +
          `(${resolved.family}:default is the newest this package has here), or set an image override (${resolved.kind}=<image>) in the runtime config.`
        : undefined;
    let info: Docker.ImageInspectInfo;
    try {
      info = await ensureImage(engine.docker, engine.target, resolved.image, resolved.kind, engine.platform, onPull, hint);
      this.failedPulls.delete(resolved.image);
    } catch (err) {
      engine.noteFailure(err);
      if (err instanceof OpenWhiskNodeError && err.short === 'image missing') {
        const delay = held ? Math.min(held.delay * 2, PULL_RETRY_MAX_MS) : PULL_RETRY_FIRST_MS;
        const again = new OpenWhiskNodeError(err.code, `${err.message} (Not pulled again for ${Math.round(delay / 1000)} s.)`, {
          short: err.short,
          cause: err,
        });
        this.failedPulls.set(resolved.image, { until: Date.now() + delay, delay, err: again });
        throw withContext(again, `Action '${identityOf(doc).qualified}'`);
      }
      throw withContext(err, `Action '${identityOf(doc).qualified}'`);
    }
    return { ...resolved, cellSafe: info.Config?.Labels?.[STEM_CELL_SAFE_LABEL] === 'true' };
  }

  async choose(doc: ActionDoc, catalog: Catalog, engine?: ImageEngine): Promise<ResolvedImage> {
    try {
      let first: ResolvedImage | undefined;
      try {
        first = resolveImage(doc.exec, this.overrides, {});
      } catch (err) {
        if (!(err instanceof OpenWhiskNodeError) || doc.exec.kind === 'blackbox') throw err;
      }
      if (first && (first.source === 'override' || first.source === 'blackbox')) return first;
      // This package's image for the kind, when the engine has it for its platform. A default kind
      // ("nodejs:default", "nodejs") is the newest of the family's that the engine has (linux/arm/v7 has no Node 22).
      const own = first && engine ? packageImage(first.kind, engine.platform.arch) : undefined;
      if (first && engine) {
        const kind = doc.exec.kind;
        const isDefault = kind === first.family || kind === `${first.family}:default`;
        const kinds = [first.kind, ...(isDefault ? Object.keys(PACKAGE_RUNTIMES).filter((k) => familyOf(k) === first.family && k !== first.kind) : [])];
        for (const k of kinds) {
          const image = packageImage(k, engine.platform.arch);
          if (image && (engine.hasReady(image) || (await hasImage(engine.docker, engine.target, image, engine.platform)))) {
            return { image, kind: k, family: first.family, source: 'package' };
          }
        }
      }
      // A document served from the offline cache means the API host is unreachable (or silent): do
      // not wait for its runtimes manifest too.
      const manifest = catalog.fromCache?.(doc) ? {} : await this.manifestOf(catalog);
      const chosen = resolveImage(doc.exec, this.overrides, manifest);
      if (own && engine?.notice && !this.noticed.has(chosen.image)) {
        this.noticed.add(chosen.image);
        engine.notice(
          `Kind '${chosen.kind}': this package's image ${own} is not on the Docker engine, so ${chosen.image} is used ` +
            `(${chosen.source === 'manifest' ? "the OpenWhisk service's runtimes list" : "OpenWhisk's image"}). ` +
            `Build ours with \`${buildCommand(engine.platform.arch)}\` in the package's folder, or set an image override for '${chosen.kind}'.`,
        );
      }
      return chosen;
    } catch (err) {
      throw withContext(err, `Action '${identityOf(doc).qualified}'`);
    }
  }

  private manifestOf(catalog: Catalog): Promise<Record<string, string>> {
    let p = this.manifests.get(catalog);
    if (!p) {
      p = Promise.resolve()
        .then(() => catalog.runtimeImages())
        .then((m) => (m && typeof m === 'object' ? m : {}))
        .catch(() => {
          this.manifests.delete(catalog); // offline now: try again next time
          return {};
        });
      this.manifests.set(catalog, p);
    }
    return p;
  }
}

/**
 * A sequence: each distinct component provisioned once, all in parallel (`component` provisions
 * one document, nested sequences included); on any failure the others are closed again.
 */
export async function provisionSequence(
  doc: ActionDoc,
  catalog: Catalog,
  chain: string[],
  fetching: (fqn: string) => void,
  component: (doc: ActionDoc, chain: string[]) => Promise<LocalAction>,
  discard: (r: LocalAction) => Promise<void>,
): Promise<SequenceAction> {
  const id = identityOf(doc);
  const components = Array.isArray(doc.exec.components) ? doc.exec.components : [];
  if (components.length === 0) {
    throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}' has no components.`, { short: 'empty sequence' });
  }
  if (chain.includes(id.qualified) || chain.length >= MAX_SEQUENCE_DEPTH) {
    throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}' contains itself or nests too deeply (${[...chain, id.qualified].join(' → ')}).`, {
      short: 'bad sequence',
    });
  }
  const distinct = [...new Set(components)];
  const settled = await Promise.allSettled(
    distinct.map(async (fqn) => {
      let ref;
      try {
        ref = parseQualifiedName(fqn);
      } catch (err) {
        throw new OpenWhiskNodeError('config', `Sequence '${id.qualified}': ${(err as Error).message}.`, { short: 'bad sequence' });
      }
      fetching(fqn);
      let cdoc: ActionDoc;
      try {
        cdoc = await catalog.getAction(ref);
      } catch (err) {
        throw withContext(err, `Sequence '${id.qualified}', component '${fqn}'`);
      }
      try {
        return await component(cdoc, [...chain, id.qualified]);
      } catch (err) {
        throw withContext(err, `Sequence '${id.qualified}'`);
      }
    }),
  );
  const byName = new Map<string, LocalAction>();
  let failure: unknown;
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') byName.set(distinct[i], r.value);
    else if (failure === undefined) failure = r.reason;
  });
  if (failure !== undefined) {
    await Promise.all([...byName.values()].map(discard));
    throw failure;
  }
  const limits = effectiveLimits(doc.limits);
  const parts: LocalAction[] = [];
  for (const c of components) {
    const r = byName.get(c);
    if (r) parts.push(r);
  }
  return new SequenceAction(id, limits.timeout, limits.logs, parts);
}

/** Prefix an error's message with where it happened, keeping its code, reason and short text. */
export function withContext(err: unknown, where: string): unknown {
  if (!(err instanceof OpenWhiskNodeError)) return err;
  if (err.message.startsWith(where)) return err;
  return new OpenWhiskNodeError(err.code, `${where}: ${err.message}`, {
    short: err.short,
    reason: err.reason,
    activation: err.activation,
    statusCode: err.statusCode,
    cause: err,
  });
}
