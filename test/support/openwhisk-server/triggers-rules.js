'use strict';
// The OpenWhisk API stand-in (index.js): /triggers and /rules, and firing a trigger. Methods of OpenWhiskServer.

const { MAX_PAYLOAD, MSG, OwError, clone, newActivationId, upPatch, parseBool, parseListArgs, checkEntityName } = require('./common');

/** @typedef {import("./index").Server} Server the server these methods become part of (their `this`) */

class TriggerRuleRoutes {
  // --- /triggers and /rules (apache/openwhisk Triggers.scala, Rules.scala) ----------------------

  /** @this {Server} */
  _triggerJson(doc) {
    const out = {
      namespace: doc.namespace,
      name: doc.name,
      version: doc.version,
      publish: false,
      parameters: clone(doc.parameters),
      annotations: clone(doc.annotations),
      limits: {},
      updated: doc.updated,
    };
    const rules = this._rulesOf(doc.namespace, doc.name);
    if (rules.length) {
      out.rules = {};
      for (const r of rules) out.rules[`${r.namespace}/${r.name}`] = { action: { name: r.action.name, path: r.action.path }, status: r.status };
    }
    return out;
  }

  _ruleJson(doc) {
    return {
      namespace: doc.namespace,
      name: doc.name,
      version: doc.version,
      publish: false,
      annotations: [],
      status: doc.status,
      trigger: clone(doc.trigger),
      action: clone(doc.action),
      updated: doc.updated,
    };
  }

  /** @this {Server} */
  _rulesOf(namespace, trigger) {
    return this._sorted((e) => e.type === 'rule' && e.doc.trigger.path === namespace && e.doc.trigger.name === trigger).map((e) => e.doc);
  }

  /** "/ns/[pkg/]name", "ns/name" or "name" → {path, name}, relative names in `namespace`. */
  _entityRef(s, namespace) {
    const parts = String(s).replace(/^\//, '').split('/').filter(Boolean);
    const abs = String(s).startsWith('/');
    if (parts.length === 0)
      throw new OwError(400, MSG.malformedContent('The fully qualified name of the entity must contain at least the namespace and the name of the entity.'));
    if (!abs) return { path: parts.length > 1 ? `${namespace}/${parts.slice(0, -1).join('/')}` : namespace, name: parts[parts.length - 1] };
    let ns = parts[0] === '_' ? namespace : parts[0];
    return { path: [ns, ...parts.slice(1, -1)].join('/'), name: parts[parts.length - 1] };
  }

  /** @this {Server} */
  _buildRule(namespace, name, rule, existing) {
    if (!rule || !rule.trigger || !rule.action) throw new OwError(400, MSG.malformedContent("'trigger' and 'action' are required"));
    const trigger = this._entityRef(rule.trigger, namespace);
    const action = this._entityRef(rule.action, namespace);
    const t = this._entities.get(`${trigger.path}/${trigger.name}`);
    if (!t || t.type !== 'trigger') throw new OwError(404, MSG.notFound);
    const status = rule.status === 'inactive' ? 'inactive' : 'active';
    return { namespace, name, trigger, action, status, version: existing ? upPatch(existing.doc.version) : '0.0.1', updated: Date.now() };
  }

  /** @this {Server} */
  async _triggers(ctx, tail) {
    const { method, ns, user, q } = ctx;
    this._entitled(ctx, null);
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      const { limit, skip, count } = parseListArgs(q, 'triggers');
      const list = this._sorted((e) => e.type === 'trigger' && e.doc.namespace === ns);
      if (count) return this._send(ctx.res, 200, { triggers: list.length });
      return this._send(
        ctx.res,
        200,
        list
          .slice(skip, skip + limit)
          .map((e) => ({ namespace: ns, name: e.doc.name, version: e.doc.version, publish: false, annotations: clone(e.doc.annotations) })),
      );
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'trigger') throw new OwError(409, MSG.conformance);
    switch (method) {
      case 'GET':
        if (!existing) throw new OwError(404, MSG.notFound);
        return this._send(ctx.res, 200, this._triggerJson(existing.doc));
      case 'PUT': {
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        if (existing && !parseBool('overwrite', q.get('overwrite'), false)) throw new OwError(409, MSG.conflict);
        return this._send(ctx.res, 200, this.putTrigger(ns, name, content));
      }
      case 'DELETE':
        if (!existing) throw new OwError(404, MSG.notFound);
        this._entities.delete(docid);
        return this._send(ctx.res, 200, this._triggerJson(existing.doc));
      case 'POST':
        return this._fire(ctx, name, existing, user);
      default:
        throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE', 'POST']));
    }
  }

  /**
   * POST /triggers/{name}: 404 for an unknown trigger; 204 (and no record) without an active rule;
   * else 202 {activationId} at once, each active rule's action invoked non-blocking with the trigger's
   * parameters and the payload over them, and a trigger activation whose logs hold one JSON line per rule.
   * @this {Server}
   */
  async _fire(ctx, name, existing, user) {
    const record = { namespace: ctx.ns, name, params: undefined, status: null, activationId: null };
    this.firings.push(record);
    const reply = (status, body, headers) => {
      record.status = status;
      return this._send(ctx.res, status, body, headers);
    };
    if (ctx.body.length > MAX_PAYLOAD) return reply(413, { error: MSG.entityTooBig('Request', ctx.body.length, MAX_PAYLOAD), code: ctx.tid });
    const payload = this._jsonEntity(ctx.req, ctx.body);
    record.params = clone(payload) || {};
    if (!existing) return reply(404, { error: MSG.notFound, code: ctx.tid });
    if (this._throttled()) return reply(429, { error: MSG.tooManyRequests(61, 60), code: ctx.tid });
    const rules = this._rulesOf(existing.doc.namespace, name).filter((r) => r.status === 'active');
    if (rules.length === 0) {
      // akka-http's complete(NoContent): no body, no Content-Type
      record.status = 204;
      ctx.res.writeHead(204, { 'Access-Control-Allow-Origin': '*' });
      return ctx.res.end();
    }
    const args = {};
    for (const p of existing.doc.parameters || []) args[p.key] = p.value;
    Object.assign(args, payload || {});
    const activationId = newActivationId();
    record.activationId = activationId;
    const start = Date.now();
    const logs = [];
    for (const r of rules) {
      const ids = { rule: `${r.namespace}/${r.name}`, action: `${r.action.path}/${r.action.name}` };
      try {
        const [nsOfAction, ...pkg] = r.action.path.split('/');
        const action = this._resolveAction(nsOfAction, pkg.length ? pkg.join('/') : null, r.action.name, nsOfAction === user.namespace ? null : user);
        const { activationId: id } =
          action.doc.exec.kind === 'sequence'
            ? this._invokeSequence(user, action, clone(args), { topmost: true, transStart: start })
            : this._invokePrimitive(user, action, clone(args), { transStart: start });
        this.invocations.push({
          namespace: nsOfAction,
          name: pkg.length ? `${pkg.join('/')}/${r.action.name}` : r.action.name,
          params: clone(args),
          blocking: false,
          result: false,
          activationId: id,
          status: 202,
          rule: ids.rule,
        });
        logs.push(JSON.stringify({ statusCode: 0, success: true, activationId: id, ...ids }));
      } catch (e) {
        const status = e instanceof OwError ? e.status : 500;
        logs.push(JSON.stringify({ statusCode: status >= 500 ? 3 : 1, success: false, error: e.message, ...ids }));
      }
    }
    this._store(
      {
        activationId,
        namespace: user.namespace,
        name,
        subject: user.subject,
        version: existing.doc.version,
        publish: false,
        start,
        end: 0,
        duration: 0,
        response: { status: 'success', statusCode: 0, success: true, result: clone(payload) || {} },
        logs,
        annotations: [],
      },
      0,
    );
    return reply(202, { activationId }, { 'x-openwhisk-activation-id': activationId });
  }

  /** @this {Server} */
  async _rules(ctx, tail) {
    const { method, ns, q } = ctx;
    this._entitled(ctx, null);
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) {
      if (method !== 'GET') throw new OwError(405, MSG.methodNotAllowed(['GET']));
      const list = this._sorted((e) => e.type === 'rule' && e.doc.namespace === ns);
      return this._send(
        ctx.res,
        200,
        list.map((e) => this._ruleJson(e.doc)),
      );
    }
    if (tail.length > 1) throw new OwError(404, MSG.routeNotFound);
    const name = tail[0];
    checkEntityName(name);
    const docid = `${ns}/${name}`;
    const existing = this._entities.get(docid);
    if (existing && existing.type !== 'rule') throw new OwError(409, MSG.conformance);
    switch (method) {
      case 'GET':
        if (!existing) throw new OwError(404, MSG.notFound);
        return this._send(ctx.res, 200, this._ruleJson(existing.doc));
      case 'PUT': {
        if (existing && !parseBool('overwrite', q.get('overwrite'), false)) throw new OwError(409, MSG.conflict);
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        return this._send(ctx.res, 200, this.putRule(ns, name, content));
      }
      case 'POST': {
        // enable / disable: {status: "active" | "inactive"}
        if (!existing) throw new OwError(404, MSG.notFound);
        const content = this._jsonEntity(ctx.req, ctx.body) || {};
        if (content.status !== 'active' && content.status !== 'inactive') throw new OwError(400, MSG.malformedContent("status must be 'active' or 'inactive'"));
        if (existing.doc.status === content.status) return this._send(ctx.res, 200, undefined, { 'Content-Length': 0 });
        existing.doc.status = content.status;
        return this._send(ctx.res, 200, undefined, { 'Content-Length': 0 });
      }
      case 'DELETE':
        if (!existing) throw new OwError(404, MSG.notFound);
        this._entities.delete(docid);
        return this._send(ctx.res, 200, this._ruleJson(existing.doc));
      default:
        throw new OwError(405, MSG.methodNotAllowed(['GET', 'PUT', 'DELETE', 'POST']));
    }
  }
}

module.exports = TriggerRuleRoutes;
