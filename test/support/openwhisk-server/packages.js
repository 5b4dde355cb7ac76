'use strict';
// The OpenWhisk API stand-in (index.js): /packages. Methods of OpenWhiskServer.

const { MSG, OwError, mergeParams, getAnnotation, paramsJson, parseBool, parseListArgs, checkEntityName } = require('./common');

/** @typedef {import("./index").Server} Server the server these methods become part of (their `this`) */

class PackageRoutes {
  // --- /packages --------------------------------------------------------------------------

  /** @this {Server} */
  async _packages(ctx, tail) {
    const { method, q, ns, user, res } = ctx;
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      this._entitled(ctx, () => parseBool('public', q.get('public'), false));
      const { limit, skip, count } = parseListArgs(q, 'packages');
      const own = ns === user.namespace;
      const list = this._sorted((e) => e.type === 'package' && e.doc.namespace === ns && (own || e.doc.publish));
      if (count) return this._send(res, 200, { packages: list.length });
      return this._send(
        res,
        200,
        list.slice(skip, skip + limit).map((e) => ({
          namespace: e.doc.namespace,
          name: e.doc.name,
          version: e.doc.version,
          publish: e.doc.publish,
          annotations: paramsJson(e.doc.annotations),
          updated: e.doc.updated,
          binding: e.doc.binding ? { ...e.doc.binding } : false,
        })),
      );
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    if (!['GET', 'PUT', 'DELETE'].includes(method)) throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE']));
    this._entitled(ctx, () => {
      const e = this._get(ns, name);
      return method === 'GET' && Boolean(e && e.type === 'package' && e.doc.publish);
    });
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'package') throw new OwError(409, MSG.conformance);

    if (method === 'GET') {
      if (!existing) throw new OwError(404, MSG.notFound);
      const doc = existing.doc;
      let out;
      let actionsPath;
      if (doc.binding) {
        const target = this._get(doc.binding.namespace, doc.binding.name);
        if (!target || target.type !== 'package') throw new OwError(404, MSG.notFound);
        out = this._packageJson(doc, mergeParams(target.doc.parameters, doc.parameters));
        actionsPath = `${target.doc.namespace}/${target.doc.name}`;
      } else {
        out = this._packageJson(doc);
        actionsPath = docid;
      }
      const acts = this._sorted((e) => e.type === 'action' && e.doc.namespace === actionsPath).map((e) => ({
        name: e.doc.name,
        version: e.doc.version,
        annotations: paramsJson(e.doc.annotations),
      }));
      out.actions = acts.filter((a) => getAnnotation(a.annotations, 'feed') === undefined);
      out.feeds = acts.filter((a) => getAnnotation(a.annotations, 'feed') !== undefined);
      return this._send(res, 200, out);
    }

    if (method === 'DELETE') {
      if (!existing) throw new OwError(404, MSG.notFound);
      if (!existing.doc.binding) {
        const contents = [...this._entities.entries()].filter(([, e]) => e.type === 'action' && e.doc.namespace === docid);
        if (contents.length) {
          if (!parseBool('force', q.get('force'), false)) {
            throw new OwError(
              409,
              `Package not empty (contains ${contents.length} ${contents.length === 1 ? 'entity' : 'entities'}). Set force param or delete package contents.`,
            );
          }
          for (const [k] of contents) this._entities.delete(k);
        }
      }
      this._entities.delete(docid);
      return this._send(res, 200, this._packageJson(existing.doc));
    }

    // PUT
    const overwrite = parseBool('overwrite', q.get('overwrite'), false);
    const content = this._jsonEntity(ctx.req, ctx.body);
    if (content === undefined) throw new OwError(400, MSG.malformedContent('Object expected'));
    if (name === 'default') throw new OwError(400, MSG.packageNameIsReserved(name));
    if (existing && !overwrite) throw new OwError(409, MSG.conflict);
    const doc = this._buildPackage(ns, name, content, existing ? existing.doc : null, user);
    this._entities.set(docid, { type: 'package', doc, seq: ++this._seq });
    return this._send(res, 200, this._packageJson(doc));
  }
}

module.exports = PackageRoutes;
