// A local runtime as a tier: a burst target may be another gateway's OpenWhisk API (lib/gateway), which
// learns from the via header which gateways an invocation passed (loops are refused there).
import { createHash } from 'node:crypto';
import type { OpenWhiskService } from './service';
import type { InvokeOptions } from './types';

/**
 * A runtime's id as a tier: its Node-RED instance's id (persisted, random) and the runtime node's id,
 * so that two runtimes of one Node-RED are two tiers, and a runtime met twice is a loop.
 */
export function gatewayId(instanceId: string, runtimeId: string): string {
  return `${instanceId.slice(0, 16)}${createHash('sha256').update(runtimeId).digest('hex').slice(0, 16)}`;
}

/** Request header listing the instance ids a request has passed through, comma-separated. */
export const VIA_HEADER = 'x-leon-openwhisk-via';

/**
 * The service as a burst target that sends the via header: the gateways the invocation has passed
 * through (InvokeOptions.via, given by the gateway API it came in by; none for a node's message) plus
 * this one. A gateway that finds itself in the list refuses (a loop A → B → A).
 * The service's other calls (catalog, polling) are unchanged.
 */
export function withVia(service: OpenWhiskService, selfId: string): OpenWhiskService {
  const burst: OpenWhiskService = Object.create(service, {
    invokeHeaders: {
      value: (opts?: InvokeOptions): Record<string, string> => {
        const seen = opts?.via ?? [];
        const via = seen.includes(selfId) ? seen : [...seen, selfId];
        return { [VIA_HEADER]: via.join(',') };
      },
    },
  });
  return burst;
}
