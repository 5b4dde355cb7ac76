// Editor lookup for the runtime dialog: for each kind in use, the image it resolves to with the dialog's
// image overrides and whether the Docker engine has it for the runtime's platform (lib/local/image-report.ts),
// with the command that builds it; for a deployed runtime, its containers, capacity and Docker health
// (LocalEngine.snapshot). Same-origin JSON requests only (lib/editor-request.ts), with the runtime's
// write permission, as the other lookups.
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { ManifestCatalog } from '../lib/catalog/manifest';
import { locateManifest } from '../lib/catalog/manifest-file';
import { editorOrigins, editorRequestProblem } from '../lib/editor-request';
import { createDocker, parseDockerTarget } from '../lib/local/docker';
import type { LocalEngine } from '../lib/local/engine';
import { MAX_KINDS, reportImages } from '../lib/local/image-report';
import { familyOf, resolveDefaultKind } from '../lib/local/images';
import { parseImageOverrides, parsePlatform } from '../lib/runtime-config';
import type { RuntimeNode } from './shared';

const LOOKUP_MS = 3000;
const MAX_ACTIONS = 20;

const within = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => (setTimeout(r, ms) as unknown as NodeJS.Timeout).unref())]);

export function registerRuntimeStatus(RED: NodeAPI): void {
  RED.httpAdmin.post('/leon-openwhisk/runtime/status', RED.auth.needsPermission('openwhisk-runtime.write'), async (req: Request, res: Response) => {
    const problem = editorRequestProblem(
      req.headers,
      Boolean(req.is('application/json')),
      editorOrigins((RED.settings as unknown as Record<string, unknown>).openwhiskEditorOrigins),
    );
    if (problem) {
      res.status(problem.status).json({ error: problem.error, code: problem.code });
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const str = (v: unknown, max = 4096) => (typeof v === 'string' ? v.slice(0, max) : '');
    const list = (v: unknown, n: number) =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 256).slice(0, n) : [];
    let overrides: Record<string, string>;
    let platform: string | undefined;
    try {
      overrides = parseImageOverrides(str(body.images));
      platform = parsePlatform(str(body.platform, 40));
    } catch (err) {
      res.status(400).json({ error: `The runtime's settings are not valid: ${(err as Error).message}`, code: 'config' });
      return;
    }
    const node = str(body.id, 64) ? (RED.nodes.getNode(str(body.id, 64)) as (RuntimeNode & { engine?: LocalEngine }) | null) : null;
    const deployed = node && node.type === 'openwhisk-runtime' ? node : undefined;
    const engine = deployed?.engine;
    const snapshot = engine && !engine.closed ? engine.snapshot() : undefined;

    // The kinds in use: the dialog's (its action nodes'), the deployed runtime's actions, the catalog's, the overrides'.
    const kinds = new Set<string>(list(body.kinds, MAX_KINDS));
    for (const p of snapshot?.pools ?? []) kinds.add(p.kind);
    const actions = list(body.actions, MAX_ACTIONS);
    try {
      if (str(body.source) === 'manifest' && str(body.manifest)) {
        const manifest = new ManifestCatalog(await locateManifest(str(body.manifest), RED.settings.userDir as string | undefined));
        for (const e of await manifest.list()) if (actions.length === 0 || actions.includes(e.name)) kinds.add(e.kind);
      } else if (deployed && actions.length) {
        const target = deployed.target();
        if (target.mode === 'local') {
          const docs = await Promise.all(actions.map((name) => within(target.catalog.getAction({ namespace: '_', name }), LOOKUP_MS)));
          for (const d of docs) if (d?.exec?.kind) kinds.add(d.exec.kind);
        }
      }
    } catch {
      /* the catalog is not readable now: the other kinds are still worth showing */
    }
    for (const k of Object.keys(overrides)) kinds.add(k.endsWith(':*') ? familyOf(k) : k);
    if (kinds.size === 0) kinds.add('nodejs:default');
    const resolved = [...new Set([...kinds].filter((k) => k !== 'blackbox' && k !== 'sequence').map((k) => resolveDefaultKind(k)))];

    let docker;
    let target;
    try {
      target = parseDockerTarget(str(body.docker, 512).trim());
      docker = createDocker(target);
    } catch (err) {
      res.status(400).json({ error: `The Docker engine setting is not valid: ${(err as Error).message}`, code: 'config' });
      return;
    }
    const images = await reportImages(docker, target, resolved, overrides, platform);
    res.json({
      images,
      runtime: snapshot
        ? {
            health: { state: snapshot.health.state, message: snapshot.health.message },
            capacity: snapshot.capacity,
            used: snapshot.used,
            cells: snapshot.cells,
            containers: snapshot.containers.map((c) => ({ name: c.name, action: c.action, state: c.state, idleMs: c.idleMs })),
          }
        : undefined,
      deployed: !!deployed,
    });
  });
}
