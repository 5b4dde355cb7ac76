import type { Activation, KeyValue } from '../types';

// A runtime as a tier, its id and the via header its bursts send, are lib/tier.ts's (the action nodes' bursts
// send it also when no API is served); here the API's side: reading the header, and the hops it answers with.
export { gatewayId, VIA_HEADER, withVia } from '../tier';

/** Most gateways one invocation may pass through. */
export const MAX_HOPS = 8;

/** Parses the via header: instance ids (hex), at most MAX_HOPS + 1 of them; undefined when malformed. */
export function parseVia(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text.length > 40 * (MAX_HOPS + 2)) return undefined;
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.some((id) => !/^[0-9a-f]{8,64}$/.test(id))) return undefined;
  return ids;
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
