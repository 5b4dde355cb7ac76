import { createHash } from 'node:crypto';
import type { OpenWhiskService } from '../service';
import type { Activation, InvokeOptions, KeyValue } from '../types';

/**
 * A runtime's id as a tier: its Node-RED instance's id (persisted, random) and the runtime node's id,
 * so that two runtimes of one Node-RED are two tiers, and a runtime met twice is a loop.
 */
export function gatewayId(instanceId: string, runtimeId: string): string {
  return `${instanceId.slice(0, 16)}${createHash('sha256').update(runtimeId).digest('hex').slice(0, 16)}`;
}

/** Request header listing the instance ids a request has passed through, comma-separated. */
export const VIA_HEADER = 'x-leon-openwhisk-via';
/** Most gateways one invocation may pass through. */
export const MAX_HOPS = 8;

/** Parses the via header: instance ids (hex), at most MAX_HOPS + 1 of them; undefined when malformed. */
export function parseVia(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text.length > 40 * (MAX_HOPS + 2)) return undefined;
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (ids.some((id) => !/^[0-9a-f]{8,64}$/.test(id))) return undefined;
  return ids;
}

/**
 * The service as a burst target that sends the via header: the gateways the invocation has passed
 * through (InvokeOptions.via, given by the gateway API it came in by; none for a node's message) plus this one. A gateway that finds itself in the list refuses (a loop A → B → A).
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

/** One gateway an activation passed through and where it ran there. */
export interface Hop {
  gateway: string;
  where: string;
}

/**
 * An activation as a gateway's API answers it: this gateway's own where/burst annotations become
 * a first hop, in front of the hops of the tiers it went on to. The caller's runner then marks it
 * 'where: gateway' (lib/runner.ts), and its msg.data shows the whole path.
 */
export function asHop(a: Activation, gatewayId: string): Activation {
  const anns = a.annotations ?? [];
  const where = String(anns.find((k) => k.key === 'where')?.value ?? 'local');
  const before = anns.find((k) => k.key === 'hops')?.value;
  const hops: Hop[] = [{ gateway: gatewayId, where }, ...(Array.isArray(before) ? (before as Hop[]) : [])];
  const rest: KeyValue[] = anns.filter((k) => k.key !== 'where' && k.key !== 'burst' && k.key !== 'hops');
  return { ...a, annotations: [...rest, { key: 'hops', value: hops }] };
}
