'use strict';
// The OpenWhisk API stand-in (index.js): the stored entities (actions, packages, triggers, rules): their documents, names and JSON. Methods of OpenWhiskServer.

const {
  MAX_PARAMETERS,
  MAX_CODE,
  SEQUENCE_LIMIT,
  DEFAULT_LIMITS,
  LIMIT_RANGES,
  SEMVER_RE,
  MSG,
  OwError,
  isObject,
  isBinaryCode,
  upPatch,
  mergeParams,
  paramsToObject,
  getAnnotation,
  removeKey,
  paramsJson,
  readParams,
  checkEntityName,
} = require('./common');

/** @typedef {import("./index").Server} Server the server these methods become part of (their `this`) */

class EntityMethods {
  // --- entities ---------------------------------------------------------------------------

  _splitName(namespace, name) {
    if (typeof name !== 'string') throw new Error('name must be a string');
    const parts = name.split('/');
    if (parts.length > 2) throw new Error(`invalid action name '${name}'`);
    for (const p of parts) checkEntityName(p);
    return parts.length === 2 ? { nsPath: `${namespace}/${parts[0]}`, simple: parts[1] } : { nsPath: namespace, simple: name };
  }

  /** @this {Server} */
  _get(nsPath, name) {
    return this._entities.get(`${nsPath}/${name}`) || null;
  }

  /** @this {Server} */
  _kinds() {
    const out = [];
    for (const list of Object.values(this._runtimes)) for (const r of list) out.push(r.kind);
    return out;
  }

  /** @this {Server} */
  _resolveKind(kind) {
    const m = /^(.+):default$/.exec(kind);
    for (const [family, list] of Object.entries(this._runtimes)) {
      for (const r of list) {
        if (m ? family === m[1] && r.default : r.kind === kind) return r;
      }
    }
    return null;
  }

  _parseFqn(s, userNs) {
    if (typeof s !== 'string') throw new OwError(400, MSG.malformedContent('fully qualified entity name malformed'));
    const parts = s.replace(/^\//, '').split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
      throw new OwError(400, MSG.malformedContent('The fully qualified name of the entity must contain at least the namespace and the name of the entity.'));
    }
    if (parts[0] === '_') parts[0] = userNs;
    return '/' + parts.join('/');
  }

  /** @this {Server} */
  _parseExec(exec, userNs) {
    if (!isObject(exec) || typeof exec.kind !== 'string') throw new OwError(400, MSG.malformedContent("'kind' must be a string defined in 'exec'"));
    const kind = exec.kind.trim().toLowerCase();
    if (exec.main !== undefined && typeof exec.main !== 'string') {
      throw new OwError(400, MSG.malformedContent(`if defined, 'main' be a string in 'exec' for '${kind}' actions`));
    }
    if (kind === 'sequence') {
      if (!Array.isArray(exec.components)) {
        throw new OwError(
          400,
          MSG.malformedContent(exec.components === undefined ? "'components' must be defined for sequence kind" : "'components' must be an array"),
        );
      }
      return { kind, components: exec.components.map((c) => this._parseFqn(c, userNs)) };
    }
    if (kind === 'blackbox') {
      if (typeof exec.image !== 'string' || !exec.image.trim()) {
        throw new OwError(400, MSG.malformedContent("'image' must be a string defined in 'exec' for 'blackbox' actions"));
      }
      const out = { kind, image: exec.image.trim(), binary: false };
      if (typeof exec.code === 'string' && exec.code.trim()) {
        out.code = exec.code;
        out.binary = isBinaryCode(exec.code);
      }
      if (exec.main !== undefined) out.main = exec.main;
      return out;
    }
    const rt = this._resolveKind(kind);
    if (!rt) throw new OwError(400, MSG.malformedContent(MSG.invalidRuntime(kind, [...this._kinds(), 'sequence', 'blackbox'])));
    if (typeof exec.code !== 'string') {
      throw new OwError(400, MSG.malformedContent(`'code' must be a string defined in 'exec' for '${kind}' actions`));
    }
    if (rt.requireMain && exec.main === undefined) {
      throw new OwError(400, MSG.malformedContent(`'main' must be a string defined in 'exec' for '${kind}' actions`));
    }
    if (rt.deprecated) throw new OwError(400, MSG.runtimeDeprecated(rt.kind));
    const out = { kind: rt.kind, code: exec.code, binary: isBinaryCode(exec.code) };
    if (exec.main !== undefined) out.main = exec.main;
    return out;
  }

  _parseLimits(limits, base) {
    if (limits === undefined) return { ...base };
    if (!isObject(limits)) throw new OwError(400, MSG.malformedContent('limits malformed'));
    const out = { ...base };
    for (const k of ['timeout', 'memory', 'logs', 'concurrency']) {
      if (limits[k] === undefined) continue;
      const v = limits[k];
      if (!Number.isInteger(v)) throw new OwError(400, MSG.malformedContent(`${k} limit must be an integer`));
      const [min, max] = LIMIT_RANGES[k];
      if (v < min || v > max) {
        let msg;
        if (k === 'timeout') msg = `duration ${v} milliseconds ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max} milliseconds`;
        else if (k === 'concurrency') msg = `concurrency ${v} ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max}`;
        else msg = `${k === 'logs' ? 'log' : 'memory'} size ${v} MB ${v < min ? 'below' : 'exceeds'} allowed threshold of ${v < min ? min : max} MB`;
        throw new OwError(400, MSG.malformedContent(msg));
      }
      out[k] = v;
    }
    if (limits.instances !== undefined) out.instances = limits.instances;
    return out;
  }

  /**
   * WhiskActionPut applied to an existing action (update) or nothing (create).
   * @this {Server}
   */
  _buildAction(nsPath, name, content, existing, userNs) {
    if (!isObject(content)) throw new OwError(400, MSG.malformedContent('Object expected'));
    checkEntityName(name);
    const exec = content.exec !== undefined ? this._parseExec(content.exec, userNs) : undefined;
    if (!existing && !exec) throw new OwError(400, 'exec undefined');
    if (exec && exec.code && exec.code.length > MAX_CODE) {
      throw new OwError(413, MSG.entityTooBig('Code size', exec.code.length, MAX_CODE));
    }
    const parameters = readParams(content.parameters);
    const annotations = readParams(content.annotations, 'annotations');
    if (content.version !== undefined && (typeof content.version !== 'string' || !SEMVER_RE.test(content.version))) {
      throw new OwError(400, MSG.malformedContent('bad semantic version'));
    }
    if (content.publish !== undefined && typeof content.publish !== 'boolean') throw new OwError(400, MSG.malformedContent('publish must be a boolean'));
    if (parameters && JSON.stringify(paramsToObject(parameters)).length > MAX_PARAMETERS) {
      throw new OwError(413, MSG.entityTooBig('Parameters', JSON.stringify(paramsToObject(parameters)).length, MAX_PARAMETERS));
    }
    const finalExec = exec || existing.exec;
    let params;
    if (finalExec.kind === 'sequence' && exec) params = [{ key: '_actions', value: exec.components.slice() }];
    else if (exec) params = parameters || (existing && existing.exec.kind !== 'sequence' ? existing.parameters : []);
    else params = existing.exec.kind === 'sequence' ? existing.parameters : parameters || existing.parameters;

    let anns;
    if (existing) {
      let base = existing.annotations;
      if (Array.isArray(content.delAnnotations)) for (const k of content.delAnnotations) base = removeKey(base, k);
      anns = mergeParams(base, annotations || []);
    } else {
      anns = annotations || [];
      if (getAnnotation(anns, 'provide-api-key') === undefined) anns = mergeParams(anns, [{ key: 'provide-api-key', value: false }]);
    }
    anns = mergeParams(anns, [{ key: 'exec', value: finalExec.kind }]);

    return {
      namespace: nsPath,
      name,
      exec: finalExec,
      parameters: params,
      limits: this._parseLimits(content.limits, existing ? existing.limits : DEFAULT_LIMITS),
      version: content.version || (existing ? upPatch(existing.version) : '0.0.1'),
      publish: content.publish !== undefined ? content.publish : existing ? existing.publish : false,
      annotations: anns,
      updated: Date.now(),
    };
  }

  /** @this {Server} */
  _buildPackage(namespace, name, content, existing, user) {
    if (!isObject(content)) throw new OwError(400, MSG.malformedContent('Object expected'));
    if (name === 'default') throw new OwError(400, MSG.packageNameIsReserved(name));
    let binding;
    if (content.binding !== undefined && !(isObject(content.binding) && Object.keys(content.binding).length === 0)) {
      const b = content.binding;
      if (!isObject(b) || typeof b.namespace !== 'string' || typeof b.name !== 'string') {
        throw new OwError(400, MSG.malformedContent('binding malformed'));
      }
      binding = { namespace: b.namespace === '_' ? namespace : b.namespace, name: b.name };
      if (existing && !existing.binding) throw new OwError(409, MSG.packageCannotBecomeBinding);
      const target = this._get(binding.namespace, binding.name);
      if (!target) throw new OwError(400, MSG.bindingDoesNotExist);
      if (target.type !== 'package') throw new OwError(409, MSG.requestedBindingIsNotValid);
      if (target.doc.binding) throw new OwError(400, MSG.bindingCannotReferenceBinding);
      if (user && binding.namespace !== user.namespace && !target.doc.publish) throw new OwError(403, MSG.forbidden);
    }
    const parameters = readParams(content.parameters);
    const annotations = readParams(content.annotations, 'annotations');
    if (content.version !== undefined && (typeof content.version !== 'string' || !SEMVER_RE.test(content.version))) {
      throw new OwError(400, MSG.malformedContent('bad semantic version'));
    }
    const finalBinding = binding || (existing ? existing.binding : undefined);
    let anns = removeKey(annotations || (existing ? existing.annotations : []), 'binding');
    if (finalBinding) anns = mergeParams(anns, [{ key: 'binding', value: { ...finalBinding } }]);
    return {
      namespace,
      name,
      binding: finalBinding,
      parameters: parameters || (existing ? existing.parameters : []),
      version: content.version || (existing ? upPatch(existing.version) : '0.0.1'),
      publish: content.publish !== undefined ? Boolean(content.publish) : existing ? existing.publish : false,
      annotations: anns,
      updated: Date.now(),
    };
  }

  _execJson(exec, withCode) {
    if (exec.kind === 'sequence') return { kind: exec.kind, components: exec.components.slice() };
    const o = { kind: exec.kind };
    if (exec.kind === 'blackbox') o.image = exec.image;
    if (withCode && exec.code !== undefined) o.code = exec.code;
    o.binary = exec.binary;
    if (exec.main !== undefined) o.main = exec.main;
    return o;
  }

  /** @this {Server} */
  _actionJson(doc, withCode, extra = {}) {
    const o = {
      namespace: doc.namespace,
      name: doc.name,
      exec: this._execJson(doc.exec, withCode),
      parameters: paramsJson(extra.parameters || doc.parameters),
      limits: { ...doc.limits },
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
    };
    if (!withCode && extra.binding) o.binding = extra.binding;
    return o;
  }

  _actionSummary(doc) {
    return {
      namespace: doc.namespace,
      name: doc.name,
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
      limits: { ...doc.limits },
      exec: { binary: doc.exec.kind === 'sequence' ? false : Boolean(doc.exec.binary) },
    };
  }

  _packageJson(doc, parameters) {
    return {
      namespace: doc.namespace,
      name: doc.name,
      binding: doc.binding ? { ...doc.binding } : {},
      parameters: paramsJson(parameters || doc.parameters),
      version: doc.version,
      publish: doc.publish,
      annotations: paramsJson(doc.annotations),
      updated: doc.updated,
    };
  }

  /** @this {Server} */
  _sorted(filter) {
    return [...this._entities.values()].filter(filter).sort((a, b) => b.doc.updated - a.doc.updated || b.seq - a.seq);
  }

  /**
   * WhiskPackage.resolveBinding(mergeParameters = true): the real package behind a package
   * or binding, with binding parameters overriding package parameters.
   * @this {Server}
   */
  _resolvePackage(namespace, name, user) {
    const e = this._get(namespace, name);
    if (!e) throw new OwError(404, MSG.notFound);
    if (e.type !== 'package') throw new OwError(409, MSG.conformance);
    if (user && namespace !== user.namespace && !e.doc.publish) throw new OwError(403, MSG.forbidden);
    if (!e.doc.binding) return { pkg: e.doc, parameters: e.doc.parameters };
    const b = e.doc.binding;
    if (b.namespace === namespace && b.name === name) throw new OwError(404, MSG.notFound);
    const inner = this._resolvePackage(b.namespace, b.name, user && b.namespace !== user.namespace ? user : null);
    return { pkg: inner.pkg, parameters: mergeParams(inner.parameters, e.doc.parameters) };
  }

  /**
   * WhiskActionMetaData.resolveActionAndMergeParameters: the action (in the real package)
   * with package (and binding) parameters merged under its own.
   * @this {Server}
   */
  _resolveAction(namespace, pkgName, name, user) {
    if (!pkgName) {
      const e = this._get(namespace, name);
      if (!e) throw new OwError(404, MSG.notFound);
      if (e.type !== 'action') throw new OwError(409, MSG.conformance);
      return { doc: e.doc, parameters: e.doc.parameters, binding: undefined };
    }
    const { pkg, parameters } = this._resolvePackage(namespace, pkgName, user);
    const fullPath = `${pkg.namespace}/${pkg.name}`;
    const e = this._get(fullPath, name);
    if (!e) throw new OwError(404, MSG.notFound);
    if (e.type !== 'action') throw new OwError(409, MSG.conformance);
    const requested = `${namespace}/${pkgName}`;
    return { doc: e.doc, parameters: mergeParams(parameters, e.doc.parameters), binding: requested === fullPath ? undefined : requested };
  }

  /** @this {Server} */
  _resolveFqn(fqn) {
    const parts = fqn.replace(/^\//, '').split('/');
    return parts.length === 3 ? this._resolveAction(parts[0], parts[1], parts[2], null) : this._resolveAction(parts[0], null, parts[1], null);
  }

  /**
   * checkSequenceActionLimits: length, existence, cycles.
   * @this {Server}
   */
  _checkSequence(selfFqn, components) {
    if (components.length > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
    if (components.length === 0) throw new OwError(400, MSG.sequenceNoComponent);
    const resolveName = (fqn) => {
      const parts = fqn.replace(/^\//, '').split('/');
      if (parts.length === 2) return `/${parts[0]}/${parts[1]}`;
      const { pkg } = this._resolvePackage(parts[0], parts[1], null);
      return `/${pkg.namespace}/${pkg.name}/${parts[2]}`;
    };
    const count = (comps, depth) => {
      let n = 0;
      for (const c of comps) {
        let resolved;
        let doc;
        try {
          resolved = resolveName(c);
          doc = this._resolveFqn(c).doc;
        } catch {
          throw new OwError(400, MSG.sequenceComponentNotFound);
        }
        if (resolved === selfFqn) throw new OwError(400, MSG.sequenceIsCyclic);
        if (doc.exec.kind === 'sequence') {
          if (depth > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
          n += count(doc.exec.components, depth + 1);
        } else n += 1;
        if (n > SEQUENCE_LIMIT) throw new OwError(400, MSG.sequenceIsTooLong);
      }
      return n;
    };
    count(components, 0);
  }
}

module.exports = EntityMethods;
