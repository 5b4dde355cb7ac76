import type { ActivationStore } from '../activations/store';
import { summaryOf } from '../activations/summary';
import { isEntityName } from '../names';
import { HttpError, NOT_FOUND, paging, type Reply } from './reply';

/**
 * GET /namespaces/{ns}/activations[/{id}[/logs|/result]]: the gateway API's activation queries, answered from the
 * activation store as OpenWhisk's controller answers them (Activations.scala). api.ts routes here once the key and the
 * namespace are checked and the method is GET.
 */

const ACTIVATION_ID = /^[0-9a-f]{32}$/;

/** One activation (`tail` is what follows "activations": its id, then "logs" or "result" or nothing). */
export function getActivation(store: ActivationStore, tail: string[]): Reply {
  const id = tail[0];
  if (!ACTIVATION_ID.test(id)) throw new HttpError(400, 'The activation id is not valid.');
  const a = store.get(id);
  if (!a || tail.length > 2) throw new HttpError(404, NOT_FOUND);
  if (tail.length === 1) return { status: 200, body: a };
  if (tail[1] === 'logs') return { status: 200, body: { logs: a.logs ?? [] } };
  if (tail[1] === 'result') return { status: 200, body: a.response };
  throw new HttpError(404, NOT_FOUND);
}

/** The list (skip, limit, name, since, upto; docs for whole records, count for their number). */
export function listActivations(store: ActivationStore, q: URLSearchParams): Reply {
  const { skip, limit } = paging(q);
  const num = (k: string) => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : undefined);
  const docs = q.get('docs') === 'true';
  if (docs && q.get('count') === 'true') throw new HttpError(400, "The parameters 'docs' and 'count' cannot be used together.");
  // "[pkg/]action" (the controller's restricted entity path): anything longer is refused.
  const raw = (q.get('name') ?? '').trim();
  const segs = raw.split('/').filter(Boolean);
  if (raw && (segs.length === 0 || segs.length > 2 || !segs.every((p) => isEntityName(p)))) {
    throw new HttpError(400, `Parameter may be a 'simple' name or 'package-name/simple' name: ${raw.slice(0, 300)}`);
  }
  const name = raw ? segs.join('/') : undefined;
  const query = { skip, limit, name, since: num('since'), upto: num('upto') };
  if (q.get('count') === 'true') {
    return { status: 200, body: { activations: store.count(query) } };
  }
  const found = store.list(query);
  return { status: 200, body: docs ? found : found.map(summaryOf) };
}
