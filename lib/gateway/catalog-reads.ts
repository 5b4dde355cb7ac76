import type { ActionDoc, ActionRef } from '../types';
import type { GatewayApiOptions } from './api';
import { actionEntry, DEFAULT_VERSION, type ListedPackage, packageDoc, packageEntry, ruleDoc, triggerDoc, triggerEntry, underNamespace } from './entities';
import { failureOf, HttpError, NOT_FOUND, paging, type Reply } from './reply';

/**
 * GET of the catalog through the gateway API: actions (one, with or without its code, or the list) and packages,
 * triggers and rules (one by name or the list), read-only: the catalog is the service or the manifest, never written
 * through this API. entities.ts shapes each entity as the controller shows it; api.ts routes here once the key, the
 * names and the namespace are checked.
 */

/** What the reads need of the API's options: its namespace and the catalog. */
export type CatalogReads = Pick<GatewayApiOptions, 'namespace' | 'getAction' | 'listActions' | 'entities'>;

async function catalogList<T>(list: (() => Promise<T[]>) | undefined): Promise<T[]> {
  if (!list) return [];
  try {
    return await list();
  } catch (e) {
    throw failureOf(e);
  }
}

export async function listActions(o: CatalogReads, q: URLSearchParams): Promise<Reply> {
  const { skip, limit } = paging(q);
  const all = await catalogList(() => o.listActions());
  if (q.get('count') === 'true') return { status: 200, body: { actions: all.length } };
  return { status: 200, body: all.slice(skip, skip + limit).map((a) => actionEntry(o.namespace, a)) };
}

/** Packages, triggers and rules: a list (skip, limit, count) or one of them by name. */
export async function readEntities(o: CatalogReads, kind: 'packages' | 'triggers' | 'rules', name: string | undefined, q: URLSearchParams): Promise<Reply> {
  const ns = o.namespace;
  const e = o.entities ?? {};
  let list: { name: string }[];
  let entry: (x: never) => unknown;
  if (kind === 'packages') {
    const pkgs = await catalogList(e.listPackages?.bind(e));
    if (name !== undefined) {
      const listed = pkgs.find((x) => x.name === name);
      if (!listed) throw new HttpError(404, NOT_FOUND);
      let p: ListedPackage | undefined = listed;
      if (e.getPackage) {
        try {
          p = await e.getPackage(name);
        } catch (err) {
          throw failureOf(err);
        }
      }
      if (!p) throw new HttpError(404, NOT_FOUND);
      const actions = (await catalogList(() => o.listActions())).filter((a) => underNamespace(ns, a.namespace) === `${ns}/${name}`);
      return { status: 200, body: packageDoc(ns, p, actions) };
    }
    list = pkgs;
    entry = ((p: ListedPackage) => packageEntry(ns, p)) as (x: never) => unknown;
  } else if (kind === 'triggers') {
    const triggers = await catalogList(e.listTriggers?.bind(e));
    if (name !== undefined) {
      const t = triggers.find((x) => x.name === name);
      if (!t) throw new HttpError(404, NOT_FOUND);
      return { status: 200, body: triggerDoc(ns, t, await catalogList(e.listRules?.bind(e))) };
    }
    list = triggers;
    entry = ((t: Parameters<typeof triggerEntry>[1]) => triggerEntry(ns, t)) as (x: never) => unknown;
  } else {
    const rules = await catalogList(e.listRules?.bind(e));
    if (name !== undefined) {
      const r = rules.find((x) => x.name === name);
      if (!r) throw new HttpError(404, NOT_FOUND);
      return { status: 200, body: ruleDoc(ns, r) };
    }
    list = rules;
    entry = ((r: Parameters<typeof ruleDoc>[1]) => ruleDoc(ns, r)) as (x: never) => unknown;
  }
  const { skip, limit } = paging(q);
  if (q.get('count') === 'true') return { status: 200, body: { [kind]: list.length } };
  return { status: 200, body: list.slice(skip, skip + limit).map((x) => entry(x as never)) };
}

export async function getAction(o: CatalogReads, ref: ActionRef, q: URLSearchParams): Promise<Reply> {
  let doc: ActionDoc;
  try {
    doc = await o.getAction(ref);
  } catch (e) {
    throw failureOf(e);
  }
  if (q.get('code') === 'false' && doc.exec) {
    doc = { ...doc, exec: { ...doc.exec, code: undefined } };
  }
  // As the list shows it: under this API's namespace, the version and the exec annotation the controller keeps.
  const kind = doc.exec?.kind;
  const annotations = [...(doc.annotations ?? []).filter((a) => a && a.key !== 'exec'), ...(kind ? [{ key: 'exec', value: kind }] : [])];
  return { status: 200, body: { ...doc, namespace: underNamespace(o.namespace, doc.namespace), version: doc.version ?? DEFAULT_VERSION, annotations } };
}
