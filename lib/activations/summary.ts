import type { Activation } from '../types';

/** A record as `wsk activation list` shows it (WhiskActivation summaryAsJson in apache/openwhisk). */
export interface ActivationSummary {
  activationId: string;
  namespace: string;
  name: string;
  version?: string;
  publish?: boolean;
  subject?: string;
  start: number;
  end: number;
  duration: number;
  statusCode: number;
  annotations: Activation['annotations'];
  cause?: string;
}

const STATUS_CODES: Record<string, number> = { success: 0, 'application error': 1, 'action developer error': 2, 'whisk internal error': 3 };

/** The summary form of a record (`statusCode` 0..3 as in OpenWhisk's list answers). */
export function summaryOf(a: Activation): ActivationSummary {
  const s: ActivationSummary = {
    activationId: a.activationId,
    namespace: a.namespace,
    name: a.name,
    version: a.version,
    publish: a.publish ?? false,
    subject: a.subject,
    start: a.start,
    end: a.end,
    duration: a.duration,
    statusCode: STATUS_CODES[a.response?.status] ?? 3,
    annotations: a.annotations ?? [],
  };
  if (a.cause) s.cause = a.cause;
  return s;
}
