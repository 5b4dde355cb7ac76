'use strict';
// The OpenWhisk API stand-in (index.js): /activations. Methods of OpenWhiskServer.

const { HEX32_RE, MSG, OwError, clone, getAnnotation, parseBool, parseListArgs } = require('./common');

/** @typedef {import("./index").Server} Server the server these methods become part of (their `this`) */

class ActivationRoutes {
  // --- /activations -----------------------------------------------------------------------

  /** @this {Server} */
  async _activationsRoute(ctx, tail) {
    const { method, q, ns, res } = ctx;
    if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      this._entitled(ctx);
      const { limit, skip, count } = parseListArgs(q, 'activations');
      const docs = parseBool('docs', q.get('docs'), false);
      const name = q.get('name');
      if (name !== null && name !== '' && !/^[^/]+(\/[^/]+)?$/.test(name)) throw new OwError(400, MSG.malformedQuery('name', MSG.badNameFilter(name)));
      const epoch = (p) => {
        const v = q.get(p);
        if (v === null) return undefined;
        if (!/^\d+$/.test(v)) throw new OwError(400, MSG.malformedQuery(p, MSG.badEpoch(v)));
        return Number(v);
      };
      const since = epoch('since');
      const upto = epoch('upto');
      if (count && docs) throw new OwError(400, MSG.docsNotAllowedWithCount);
      let list = [...this.activations.values()].filter((a) => a.namespace === ns);
      if (name) {
        list = list.filter((a) => {
          const path = String(getAnnotation(a.annotations, 'path') || '');
          return path.split('/').slice(1).join('/') === name;
        });
      }
      if (since !== undefined) list = list.filter((a) => a.start >= since);
      if (upto !== undefined) list = list.filter((a) => a.start <= upto);
      list.sort((a, b) => b.start - a.start);
      if (count) return this._send(res, 200, { activations: list.length });
      list = list.slice(skip, skip + limit);
      return this._send(res, 200, docs ? list.map(clone) : list.map((a) => this._activationSummary(a)));
    }
    if (tail.length > 2) throw new OwError(404, MSG.routeNotFound);
    const id = tail[0];
    if (id.length !== 32) throw new OwError(400, `Activation id length is ${id.length} but must be 32.`);
    if (!HEX32_RE.test(id)) throw new OwError(400, MSG.activationIdIllegal);
    this._entitled(ctx);
    const sub = tail[1];
    if (sub !== undefined && sub !== '' && sub !== 'result' && sub !== 'logs') throw new OwError(404, MSG.routeNotFound);
    const a = this.activations.get(id.toLowerCase());
    if (!a || a.namespace !== ns) throw new OwError(404, MSG.notFound);
    if (sub === 'result') return this._send(res, 200, clone(a.response));
    if (sub === 'logs') return this._send(res, 200, { logs: a.logs.slice() });
    return this._send(res, 200, clone(a));
  }

  /** @this {Server} */
  _activationSummary(a) {
    const o = {
      namespace: a.namespace,
      name: a.name,
      version: a.version,
      publish: a.publish,
      annotations: clone(a.annotations),
      activationId: a.activationId,
      start: a.start,
    };
    if (a.cause) o.cause = a.cause;
    o.end = a.end;
    o.duration = a.duration;
    o.statusCode = this._activationMeta.get(a.activationId).statusCode;
    return o;
  }
}

module.exports = ActivationRoutes;
