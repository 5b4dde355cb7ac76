import type { Activation } from '../types';

/** Where an activation ran: here in Docker, in the cloud, or on another gateway's API (tiers). */
export type Where = 'local' | 'cloud' | 'gateway';

/** One line of the editor's activation list: what ran, for which node, where, how long, how it ended. */
export interface ActivationRow {
  id: string;
  /** The openwhisk-runtime config node that keeps the record. */
  runtime: string;
  /** "/namespace/[package/]action" (the path annotation) or "namespace/name". */
  action: string;
  /** The openwhisk-action node that ran it (annotation `node`); none for the REST API's own calls. */
  node?: string;
  where: Where;
  /** Run in the cloud because the local runtime was full or Docker was down. */
  burst: boolean;
  /** A cold start (the record has an initTime annotation); undefined when the record does not say. */
  cold?: boolean;
  initTime?: number;
  start: number;
  duration: number;
  /** OpenWhisk's status: "success", "application error", "action developer error", "whisk internal error". */
  status: string;
  /** The activation id of the sequence this one was a component of. */
  cause?: string;
}

/** The key of the annotation naming the openwhisk-action node that ran an activation. */
export const NODE_ANNOTATION = 'node';

export function annotation(a: Pick<Activation, 'annotations'>, key: string): unknown {
  const list = Array.isArray(a.annotations) ? a.annotations : [];
  for (let i = list.length - 1; i >= 0; i--) if (list[i] && list[i].key === key) return list[i].value;
  return undefined;
}

/** The row of a record; `where` when the record carries no `where` annotation (a local runtime's own records). */
export function rowOf(a: Activation, runtime: string, where: Where = 'local'): ActivationRow {
  const path = annotation(a, 'path');
  const node = annotation(a, NODE_ANNOTATION);
  const w = annotation(a, 'where');
  const init = annotation(a, 'initTime');
  const kind = annotation(a, 'kind');
  const row: ActivationRow = {
    id: a.activationId,
    runtime,
    action: typeof path === 'string' ? `/${path}` : `${a.namespace ?? ''}/${a.name ?? ''}`,
    where: w === 'local' || w === 'cloud' || w === 'gateway' ? w : where,
    burst: annotation(a, 'burst') === true,
    start: Number(a.start) || 0,
    duration: Number(a.duration) || 0,
    status: typeof a.response?.status === 'string' ? a.response.status : 'whisk internal error',
  };
  if (typeof node === 'string') row.node = node;
  if (typeof init === 'number') {
    row.cold = true;
    row.initTime = init;
  } else if (kind !== undefined && kind !== 'sequence') {
    // A record that names its kind and has no initTime was served by a warm container.
    row.cold = false;
  }
  if (a.cause) row.cause = a.cause;
  return row;
}
