// What the gateway API checks before it looks at a request's key: that the request was meant for it
// (its Host), that the client has not used up its tries; and, at deploy, that its key is worth guessing
// at all.
import { isIP } from 'node:net';

/** The secrets of the default keys published with OpenWhisk (guest and whisk.system): anyone has them. */
const PUBLISHED_SECRETS = [
  '123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP',
  'abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP',
];
/** A secret sharing this many characters in a row with a published one is built on it. */
const PUBLISHED_RUN = 16;

/** The estimate a key's secret part must reach, in bits (~128: 32 random hex digits, 22 of base64). */
export const KEY_FLOOR_BITS = 120;

export const HOW_TO_MAKE_A_KEY =
  'press Generate in the runtime\'s dialog (a uuid and 64 random letters and digits, the form OpenWhisk generates), or use e.g. "$(uuidgen):$(openssl rand -hex 32)"';

/** A repeat of this many characters or more of what came before counts as one character. */
const REPEAT_MIN = 5;
/** Characters of a secret that are looked at (far more than the floor needs; bounds the work). */
const SECRET_CHARS = 256;

const log2Choose = (n: number, k: number): number => {
  let r = 0;
  for (let i = 0; i < k; i++) r += Math.log2(n - i) - Math.log2(i + 1);
  return r;
};

/**
 * A conservative estimate of the bits in a key's secret part, as a guesser who tries repetitive and
 * sequential strings first would see it. Its characters count, except that a repeat of 5 or more
 * characters that came before (overlapping allowed: "abab…", "password" × 4) counts as one, and a character
 * continuing a run of equal or consecutive ones ("aaa", "0123", "fedc") counts nothing; each counted one is
 * worth log2 of the alphabet its character classes span (16 for hex digits only), or, when it uses at most
 * half of that alphabet, log2 of the characters it does use (plus which ones they are).
 */
export function secretBits(secret: string): number {
  const c = [...secret].slice(0, SECRET_CHARS);
  let effective = 0;
  for (let i = 0; i < c.length;) {
    let longest = 0;
    for (let j = 0; j < i; j++) {
      let l = 0;
      while (i + l < c.length && c[j + l] === c[i + l]) l++;
      if (l > longest) longest = l;
    }
    if (longest >= REPEAT_MIN) {
      effective++;
      i += longest;
      continue;
    }
    if (i >= 2) {
      const a = c[i - 2].codePointAt(0)!;
      const b = c[i - 1].codePointAt(0)!;
      const d = c[i].codePointAt(0)!;
      if (d - b === b - a && Math.abs(d - b) <= 1) {
        i++;
        continue;
      }
    }
    effective++;
    i++;
  }
  const s = c.join('');
  let alphabet: number;
  if (/^[0-9a-f]+$/.test(s) || /^[0-9A-F]+$/.test(s)) alphabet = 16;
  else {
    alphabet = 0;
    if (/[a-z]/.test(s)) alphabet += 26;
    if (/[A-Z]/.test(s)) alphabet += 26;
    if (/[0-9]/.test(s)) alphabet += 10;
    if (/[^a-zA-Z0-9]/.test(s)) alphabet += 33;
  }
  const used = new Set(c).size;
  alphabet = Math.max(alphabet, used);
  if (alphabet <= 1) return 0;
  const bits = effective * Math.log2(alphabet);
  return used * 2 <= alphabet ? Math.min(bits, log2Choose(alphabet, used) + effective * Math.log2(Math.max(used, 1))) : bits;
}

/** Whether a secret is, or is built on, one of the secrets published with OpenWhisk. */
function published(secret: string): boolean {
  for (const p of PUBLISHED_SECRETS) {
    if (secret === p) return true;
    for (let i = 0; i + PUBLISHED_RUN <= p.length; i++) if (secret.includes(p.slice(i, i + PUBLISHED_RUN))) return true;
  }
  return false;
}

/** Throws a message saying what is wrong with `key` and how to make a good one; returns it trimmed. */
export function checkApiKey(key: string | undefined): string {
  const k = String(key ?? '').trim();
  const m = /^([^:\s]+):(\S+)$/.exec(k);
  if (!m) throw new Error(`the API needs a key of the form "uuid:key" (in the runtime config node): ${HOW_TO_MAKE_A_KEY}`);
  if (published(m[2]))
    throw new Error(`the API key's part after ":" is (or is built on) that of a default key published with OpenWhisk, which anyone has: ${HOW_TO_MAKE_A_KEY}`);
  const bits = secretBits(m[2]);
  if (bits < KEY_FLOOR_BITS) {
    throw new Error(
      `the API key is too weak to guess at: its part after ":" has about ${Math.floor(bits)} bits, at least ${KEY_FLOOR_BITS} are needed (about 128: 32 random hex digits, 22 of base64). To make one, ${HOW_TO_MAKE_A_KEY}`,
    );
  }
  return k;
}

/**
 * An IP address in one spelling: IPv6 as the URL standard writes it ("0:0::1" is "::1"), IPv4-mapped IPv6
 * as IPv4, IPv4 in browsers' reading ("127.1" is "127.0.0.1"), without a zone id ("fe80::1%eth0" is
 * "fe80::1": the zone names an interface of the side that wrote it, not another address); undefined when
 * `a` is not an address.
 */
export function canonicalAddress(a: string | undefined): string | undefined {
  let s = String(a ?? '')
    .trim()
    .toLowerCase();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes(':')) {
    s = s.replace(/%.*$/, '');
    if (isIP(s) !== 6) return undefined;
    const v6 = new URL(`http://[${s}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
    if (!mapped) return v6;
    const hi = parseInt(mapped[1], 16);
    const lo = parseInt(mapped[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  // A name whose last label is a number is an IPv4 address to a browser (or no host at all).
  if (!/(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/.test(s)) return undefined;
  try {
    const v4 = new URL(`http://${s}/`).hostname;
    return isIP(v4) === 4 ? v4 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Host header's name, to compare: an address in one spelling (see canonicalAddress), else a DNS name in
 * lowercase without a final dot; without port or brackets; undefined when malformed.
 */
export function hostName(header: string | undefined): string | undefined {
  const h = String(header ?? '')
    .trim()
    .toLowerCase();
  const m = /^(\[[0-9a-f:.]+(?:%(?:25)?[a-z0-9._~-]+)?\]|[a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return undefined;
  const ip = canonicalAddress(m[1].replace(/%25/, '%'));
  if (ip) return ip;
  if (m[1].startsWith('[') || /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/.test(m[1])) return undefined;
  return m[1].replace(/\.$/, '') || undefined;
}

/** An address as the socket reports it, in one spelling (see canonicalAddress); as given when not one. */
export function plainAddress(a: string | undefined): string {
  return canonicalAddress(a) ?? String(a ?? '').toLowerCase();
}

function loopback(name: string): boolean {
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1';
}

/**
 * Whether the API answers a request with this Host: `localhost` or a loopback address, the address the
 * request reached, or a name or address the runtime lists. An address in Host cannot be rebound, unlike a
 * name, so a listed one is as good as the one the socket reports: behind NAT, port forwarding or a
 * container's published port clients reach the gateway at an address its socket never sees.
 */
export function knownHost(header: string | undefined, localAddress: string | undefined, names: ReadonlySet<string>): boolean {
  const name = hostName(header);
  if (!name) return false;
  if (loopback(name)) return true;
  if (isIP(name) && name === canonicalAddress(localAddress)) return true;
  return names.has(name);
}

/** One entry of a host-name list in the form knownHost compares: a name, or an address with or without brackets and port. */
export function listedHost(part: string): string | undefined {
  // An IPv6 address without brackets has two colons or more; "name:port" has one.
  return !part.startsWith('[') && part.split(':').length > 2 ? canonicalAddress(part) : hostName(part);
}

/** A runtime's list of host names ("gateway, gateway.local, 192.168.1.10"): each a DNS name or an address; throws on anything else. */
export function parseHostNames(text: string | undefined): string[] {
  const out: string[] = [];
  for (const part of String(text ?? '').split(/[\s,]+/)) {
    if (!part) continue;
    const name = listedHost(part);
    if (!name) throw new Error(`'${part}' in the API's host names is not a host name or address`);
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

/** The first four groups of an IPv6 address in canonical form, as numbers. */
function prefix64(v6: string): number[] {
  const [head, tail] = v6.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.slice(0, 4).map((g) => parseInt(g, 16));
}

/**
 * Wrong keys per client: past `tries` in a window, every request of that client is refused until the window
 * ends (a right key too: else the refusals would tell a guess that hit). A right key does not wipe the
 * count: the wrong ones expire with their window, so wrong keys between right ones add up. A bounded table,
 * the client seen longest ago first out.
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

  /**
   * The client a connection stands for: its address; an IPv6 one by its /64 only when it is a global
   * unicast address (2000::/3) outside the /64 of the gateway's address (`local`), i.e. another site, which
   * usually holds a whole /64 and could pick any address in it. On the gateway's own network each device
   * counts alone (a /64 there is the whole LAN: one device would lock all out), as do link-local and
   * unique-local addresses.
   */
  static clientOf(address: string | undefined, local?: string): string {
    const a = plainAddress(address);
    if (isIP(a) !== 6) return a;
    const p = prefix64(a);
    if ((p[0] & 0xe000) !== 0x2000) return a;
    const l = canonicalAddress(local);
    if (l && isIP(l) === 6 && prefix64(l).every((g, i) => g === p[i])) return a;
    return `${p.map((g) => g.toString(16)).join(':')}::/64`;
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
}
