// What the gateway API checks before it looks at a request's key: that the request was meant for it
// (its Host), that the client has not used up its tries; and, at deploy, that its key is worth guessing
// at all.
import { isIP } from 'node:net';

/** The default keys published with OpenWhisk (guest and whisk.system): anyone has them. */
const PUBLISHED_KEYS = new Set([
  '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP',
  '789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP',
]);

/** The estimate a key's secret part must reach, in bits (~128: 32 random hex digits, 22 of base64). */
export const KEY_FLOOR_BITS = 120;

export const HOW_TO_MAKE_A_KEY =
  'press Generate in the runtime\'s dialog (a uuid and 64 random letters and digits, the form OpenWhisk generates), or use e.g. "$(uuidgen):$(openssl rand -hex 32)"';

/**
 * A conservative estimate of the bits in a key's secret part: its characters, less those that continue
 * a run of three or more equal or consecutive ones ("aaa", "0123", "fedc"), times log2 of the alphabet
 * its character classes span (16 for hex digits only).
 */
export function secretBits(secret: string): number {
  const chars = [...secret];
  let effective = 0;
  for (let i = 0; i < chars.length; i++) {
    if (i >= 2) {
      const a = chars[i - 2].codePointAt(0)!;
      const b = chars[i - 1].codePointAt(0)!;
      const c = chars[i].codePointAt(0)!;
      if (c - b === b - a && Math.abs(c - b) <= 1) continue;
    }
    effective++;
  }
  let alphabet: number;
  if (/^[0-9a-f]+$/.test(secret) || /^[0-9A-F]+$/.test(secret)) alphabet = 16;
  else {
    alphabet = 0;
    if (/[a-z]/.test(secret)) alphabet += 26;
    if (/[A-Z]/.test(secret)) alphabet += 26;
    if (/[0-9]/.test(secret)) alphabet += 10;
    if (/[^a-zA-Z0-9]/.test(secret)) alphabet += 33;
  }
  return alphabet > 1 ? effective * Math.log2(alphabet) : 0;
}

/** Throws a message saying what is wrong with `key` and how to make a good one; returns it trimmed. */
export function checkApiKey(key: string | undefined): string {
  const k = String(key ?? '').trim();
  const m = /^([^:\s]+):(\S+)$/.exec(k);
  if (!m) throw new Error(`the API needs a key of the form "uuid:key" (in the runtime config node): ${HOW_TO_MAKE_A_KEY}`);
  if (PUBLISHED_KEYS.has(k)) throw new Error(`the API key is a default key published with OpenWhisk, which anyone has: ${HOW_TO_MAKE_A_KEY}`);
  const bits = secretBits(m[2]);
  if (bits < KEY_FLOOR_BITS) {
    throw new Error(
      `the API key is too weak to guess at: its part after ":" has about ${Math.floor(bits)} bits, at least ${KEY_FLOOR_BITS} are needed (about 128: 32 random hex digits, 22 of base64). To make one, ${HOW_TO_MAKE_A_KEY}`,
    );
  }
  return k;
}

/** A Host header's name: lowercase, without port, brackets or a final dot; undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  const h = String(header ?? '').trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return undefined;
  return m[1].replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

/** An address as the socket reports it, IPv4-mapped IPv6 as IPv4. */
export function plainAddress(a: string | undefined): string {
  const s = String(a ?? '').toLowerCase();
  return s.startsWith('::ffff:') && isIP(s.slice(7)) === 4 ? s.slice(7) : s;
}

function loopback(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const ip = plainAddress(name);
  if (isIP(ip) === 4) return ip.startsWith('127.');
  return ip === '::1';
}

/**
 * Whether the API answers a request with this Host: a loopback name or address, the address the
 * request reached (an address in Host cannot be rebound, unlike a name), or a name the runtime lists.
 */
export function knownHost(header: string | undefined, localAddress: string | undefined, names: ReadonlySet<string>): boolean {
  const name = hostName(header);
  if (!name) return false;
  if (loopback(name)) return true;
  if (isIP(plainAddress(name))) return plainAddress(name) === plainAddress(localAddress);
  return names.has(name);
}

/** A runtime's list of host names ("gateway, gateway.local"): each a DNS name or an address; throws on anything else. */
export function parseHostNames(text: string | undefined): string[] {
  const out: string[] = [];
  for (const part of String(text ?? '').split(/[\s,]+/)) {
    if (!part) continue;
    const name = hostName(part);
    if (!name || (name.includes(':') && !isIP(name))) throw new Error(`'${part}' in the API's host names is not a host name or address`);
    out.push(name);
  }
  return out;
}

export interface AuthFailureBounds {
  /** Wrong keys a client may send in a window before it is refused (default 10). */
  tries?: number;
  /** The window, in ms (default 60000). */
  windowMs?: number;
  /** Clients remembered at once; beyond, the one seen longest ago is forgotten (default 4096). */
  clients?: number;
  now?: () => number;
}

/**
 * Wrong keys per client address (an IPv6 client by its /64, which one host usually holds whole): past
 * `tries` in a window, every request of that client is refused until the window ends (a right key too:
 * else the refusals would tell a guess that hit). A bounded table, the client seen longest ago first out.
 */
export class AuthFailures {
  private readonly table = new Map<string, { since: number; count: number }>();
  private readonly tries: number;
  private readonly windowMs: number;
  private readonly clients: number;
  private readonly now: () => number;

  constructor(b: AuthFailureBounds = {}) {
    this.tries = b.tries ?? 10;
    this.windowMs = b.windowMs ?? 60000;
    this.clients = b.clients ?? 4096;
    this.now = b.now ?? Date.now;
  }

  get size(): number {
    return this.table.size;
  }

  /** The client a socket address stands for. */
  static clientOf(address: string | undefined): string {
    const a = plainAddress(address);
    if (isIP(a) !== 6) return a;
    // The first four groups of the expanded address.
    const [head, tail = ''] = a.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
  }

  /** Ms until `client` may try again; 0 when it may now. */
  retryAfter(client: string): number {
    const e = this.table.get(client);
    if (!e) return 0;
    const left = e.since + this.windowMs - this.now();
    if (left <= 0) {
      this.table.delete(client);
      return 0;
    }
    return e.count >= this.tries ? left : 0;
  }

  failed(client: string): void {
    const now = this.now();
    let e = this.table.get(client);
    if (!e || now - e.since >= this.windowMs) e = { since: now, count: 0 };
    e.count++;
    this.table.delete(client);
    this.table.set(client, e);
    while (this.table.size > this.clients) this.table.delete(this.table.keys().next().value as string);
  }

  succeeded(client: string): void {
    this.table.delete(client);
  }
}
