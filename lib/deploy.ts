// Deploys an openwhisk-action node's inline action to an OpenWhisk service at Node-RED deploy:
// created when missing (its package too), updated only when its code, kind, entry point or limits
// differ from the service's (so its version moves only on a real change), else left alone.

import { OpenWhiskNodeError } from './errors';
import { differences, inlineDoc, type InlineSpec } from './inline';
import { apiFailure, qualifiedName, type OpenWhiskService } from './service';
import type { ActionDoc, ActionRef } from './types';

export interface Deployed {
  /** The action as the service holds it now. */
  doc: ActionDoc;
  version: string;
  /** 'created', 'updated' (with what changed) or 'unchanged'. */
  outcome: 'created' | 'updated' | 'unchanged';
  changed: string[];
}

const notFound = (err: unknown) => err instanceof OpenWhiskNodeError && err.statusCode === 404;

/** The service's failure, naming the action, the host and what to do. */
function deployFailure(err: unknown, ref: ActionRef, service: OpenWhiskService, step: string): OpenWhiskNodeError {
  const fqn = qualifiedName(ref);
  const e = err instanceof OpenWhiskNodeError ? err : apiFailure(err, `action '${fqn}'`, service.host);
  const hint = e.statusCode === 400 ? ' Check the kind, entry point and limits in the openwhisk-action node against what the service allows.' : '';
  return new OpenWhiskNodeError(e.code, `Cannot deploy the inline action '${fqn}' to OpenWhisk at ${service.host} (${step}): ${e.message}${hint}`, {
    short: e.short === 'not found' ? 'deploy failed' : e.short,
    statusCode: e.statusCode,
    cause: err,
  });
}

export async function deployInline(service: OpenWhiskService, ref: ActionRef, spec: InlineSpec): Promise<Deployed> {
  let current: ActionDoc | undefined;
  try {
    current = await service.getAction(ref, true);
  } catch (err) {
    if (!notFound(err)) throw deployFailure(err, ref, service, 'reading the action');
  }
  const changed = current ? differences(current, spec) : [];
  if (current && changed.length === 0) return { doc: current, version: current.version ?? '', outcome: 'unchanged', changed };

  const ns = ref.namespace || '_';
  const pkg = ref.name.includes('/') ? ref.name.split('/')[0] : undefined;
  if (!current && pkg) {
    try {
      await service.bounded(service.requestMs, (b) => service.rest.putPackage(ns, pkg, b));
    } catch (err) {
      // 409: the package exists (the action did not): go on.
      if ((err as { statusCode?: number }).statusCode !== 409)
        throw deployFailure(apiFailure(err, `package '${pkg}'`, service.host), ref, service, `creating its package '${pkg}'`);
    }
  }
  const doc = inlineDoc(spec, ref);
  let stored: ActionDoc;
  try {
    stored = await service.bounded(service.requestMs, (b) =>
      service.rest.putAction(
        ns,
        ref.name,
        { exec: { kind: spec.kind, code: spec.code, main: spec.main }, limits: doc.limits, ...(spec.parameters ? { parameters: spec.parameters } : {}) },
        b,
      ),
    );
  } catch (err) {
    throw deployFailure(err, ref, service, current ? `updating its ${changed.join(', ')}` : 'creating it');
  }
  return { doc: stored, version: stored.version ?? '', outcome: current ? 'updated' : 'created', changed };
}
