// Reading a YAML file with the position of every key, so that errors about its *content* (not only its
// syntax) can name the line. Values come from js-yaml's loader; positions from its event stream.
import * as yaml from 'js-yaml';

/** 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

export interface YamlSource {
  /**
   * The loaded document, YAML 1.2 core schema (js-yaml's default). Note: Go's yaml.v2 used by wskdeploy
   * reads untyped values as YAML 1.1 (`yes`/`on` are booleans there); keys and strings are the same.
   */
  value: unknown;
  /** The source text of the scalar at `path` (e.g. "1.0" where the value is the number 1). */
  textAt(path: readonly (string | number)[]): string | undefined;
  /** Where the key at `path` (or, for sequence items, the item) is written; undefined if unknown. */
  keyAt(path: readonly (string | number)[]): SourcePosition | undefined;
  /** Where the value at `path` starts. */
  valueAt(path: readonly (string | number)[]): SourcePosition | undefined;
  /** The position of the longest prefix of `path` that exists (the key itself when it exists). */
  nearest(path: readonly (string | number)[]): SourcePosition | undefined;
}

/** A YAML syntax error, with 1-based line and column. */
export class YamlSyntaxError extends Error {
  readonly line?: number;
  readonly column?: number;
  readonly reason: string;
  readonly snippet?: string;

  constructor(reason: string, pos?: SourcePosition, snippet?: string) {
    super(reason);
    this.name = 'YamlSyntaxError';
    this.reason = reason;
    this.line = pos?.line;
    this.column = pos?.column;
    this.snippet = snippet;
  }
}

const SEP = '\u0000';
const keyOf = (path: readonly (string | number)[]): string => path.map(String).join(SEP);

interface Frame {
  kind: 'mapping' | 'sequence';
  path: string[];
  /** mapping: true while the next node is a key. */
  expectKey: boolean;
  /** mapping: the key just read. */
  key?: string;
  /** sequence: index of the next item. */
  index: number;
}

// The event API of js-yaml 5 (offsets into the source). Typed loosely so that a js-yaml without it
// still loads values (positions are then unknown).
interface RawEvent {
  type: number;
  start?: number;
  valueStart?: number;
  valueEnd?: number;
  anchorStart?: number;
  anchorEnd?: number;
  tagStart?: number;
}
interface EventApi {
  parseEvents?: (src: string, opts: { filename?: string }) => RawEvent[];
  getScalarValue?: (src: string, event: RawEvent) => unknown;
  EVENT_ID?: Record<string, number>;
}

/** The event parser of the js-yaml build in use, where it has one (an untyped part of its API). */
function eventApi(mod: object): EventApi {
  const api: EventApi = {};
  if ('parseEvents' in mod && typeof mod.parseEvents === 'function') {
    const parse = mod.parseEvents;
    api.parseEvents = (src, opts) => {
      const r: unknown = parse(src, opts);
      return Array.isArray(r) ? r : [];
    };
  }
  if ('getScalarValue' in mod && typeof mod.getScalarValue === 'function') {
    const get = mod.getScalarValue;
    api.getScalarValue = (src, ev) => {
      const v: unknown = get(src, ev);
      return v;
    };
  }
  if ('EVENT_ID' in mod && typeof mod.EVENT_ID === 'object' && mod.EVENT_ID !== null) {
    const ids: Record<string, number> = {};
    for (const [k, v] of Object.entries(mod.EVENT_ID)) if (typeof v === 'number') ids[k] = v;
    api.EVENT_ID = ids;
  }
  return api;
}

function startOf(ev: RawEvent): number {
  const candidates = [ev.tagStart, ev.anchorStart, ev.start, ev.valueStart].filter(
    (n): n is number => typeof n === 'number' && n >= 0,
  );
  return candidates.length ? Math.min(...candidates) : 0;
}

interface Offsets {
  key: number;
  value: number;
  /** Decoded text of a scalar value. */
  text?: string;
}

/** Maps each key path to the offsets of its key and of its value. */
function collectOffsets(src: string, api: EventApi, events: RawEvent[]): Map<string, Offsets> {
  const out = new Map<string, Offsets>();
  if (!api.EVENT_ID) return out;
  const ID = api.EVENT_ID;
  const stack: Frame[] = [];
  let pendingKeyOffset = 0;

  // Called for every node (scalar, alias, collection start); returns the node's path.
  const place = (ev: RawEvent, scalarText: string | undefined): string[] | undefined => {
    const top = stack[stack.length - 1];
    const at = startOf(ev);
    if (!top) {
      out.set('', { key: at, value: at });
      return [];
    }
    if (top.kind === 'sequence') {
      const path = [...top.path, String(top.index++)];
      out.set(keyOf(path), { key: at, value: at, text: scalarText });
      return path;
    }
    if (top.expectKey) {
      top.key = scalarText ?? '?';
      top.expectKey = false;
      pendingKeyOffset = at;
      return undefined; // a key, not a value
    }
    const path = [...top.path, top.key ?? '?'];
    out.set(keyOf(path), { key: pendingKeyOffset, value: at, text: scalarText });
    top.expectKey = true;
    return path;
  };

  for (const ev of events) {
    switch (ev.type) {
      case ID.SCALAR: {
        const text = api.getScalarValue ? String(api.getScalarValue(src, ev)) : undefined;
        place(ev, text);
        break;
      }
      case ID.ALIAS:
        place(ev, '*');
        break;
      case ID.MAPPING:
      case ID.SEQUENCE: {
        const top = stack[stack.length - 1];
        const isKey = top?.kind === 'mapping' && top.expectKey;
        const path = place(ev, undefined) ?? [...(top?.path ?? []), '?'];
        if (isKey) {
          // A complex key: its content is not addressable by a plain path.
          stack.push({ kind: ev.type === ID.MAPPING ? 'mapping' : 'sequence', path: ['?'], expectKey: true, index: 0 });
        } else {
          stack.push({ kind: ev.type === ID.MAPPING ? 'mapping' : 'sequence', path, expectKey: true, index: 0 });
        }
        break;
      }
      case ID.POP:
        if (stack.length) stack.pop();
        break;
      default:
        break; // document events
    }
  }
  return out;
}

function lineStarts(src: string): number[] {
  const starts = [0];
  for (let i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function toPosition(starts: number[], offset: number): SourcePosition {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo] + 1 };
}

/**
 * How big a document may be once its aliases are expanded. An alias (`*name`) is a reference to the
 * anchored value, so nine lines of nine aliases each stand for 9^9 values: js-yaml loads them as shared
 * references in microseconds, but anything that copies the tree (parameter interpolation, a message
 * clone, JSON) builds them all. The whole document is measured as if every alias were written out.
 */
export interface YamlBudget {
  /** Values (mappings, lists, scalars, keys included), aliases counted as what they stand for. */
  maxNodes: number;
  /** Characters of scalar source text, aliases counted likewise. */
  maxText: number;
}

/** A document over its YamlBudget, or a recursive alias; line and column of the alias or value that broke it. */
export class YamlBudgetError extends Error {
  readonly line?: number;
  readonly column?: number;
  readonly reason: string;
  /** 'nodes' or 'text': which bound was passed; 'recursive': an alias inside the value it names. */
  readonly bound: 'nodes' | 'text' | 'recursive';
  /** Whether any alias had been counted: without one the document is simply that large. */
  readonly aliases: boolean;

  constructor(bound: 'nodes' | 'text' | 'recursive', reason: string, pos?: SourcePosition, aliases = true) {
    super(reason);
    this.name = 'YamlBudgetError';
    this.bound = bound;
    this.aliases = aliases;
    this.reason = reason;
    this.line = pos?.line;
    this.column = pos?.column;
  }
}

interface Measured {
  nodes: number;
  text: number;
  /** False while the anchored collection is still open: an alias to it is a cycle. */
  closed: boolean;
}

/**
 * Measures the document from its events, before anything is built: each alias counts as the full size
 * of its anchor's value (anchors may be redefined; an alias names the latest). Throws YamlBudgetError at
 * the first event past a bound, or at an alias to a collection that contains it (js-yaml would build a
 * cycle, which every copy would follow forever). Linear in the number of events.
 */
function checkBudget(src: string, events: RawEvent[], ID: Record<string, number>, budget: YamlBudget): void {
  const anchors = new Map<string, Measured>();
  const open: { size: Measured }[] = [];
  let nodes = 0;
  let text = 0;
  let aliases = false;
  let starts: number[] | undefined;
  const at = (offset: number | undefined) =>
    typeof offset === 'number' && offset >= 0 ? toPosition((starts ??= lineStarts(src)), offset) : undefined;
  const anchorOf = (ev: RawEvent) =>
    typeof ev.anchorStart === 'number' && ev.anchorStart >= 0 && typeof ev.anchorEnd === 'number'
      ? src.slice(ev.anchorStart, ev.anchorEnd)
      : undefined;
  // Each open collection sums its own children; a closed one adds its total (itself included) to its parent.
  const add = (n: number, t: number, ev: RawEvent, child = true) => {
    nodes += n;
    text += t;
    const top = open[open.length - 1];
    if (top && child) {
      top.size.nodes += n;
      top.size.text += t;
    }
    if (nodes > budget.maxNodes) {
      throw new YamlBudgetError('nodes', `more than ${budget.maxNodes} values`, at(startOf(ev)), aliases);
    }
    if (text > budget.maxText) {
      throw new YamlBudgetError('text', `more than ${budget.maxText} characters of text`, at(startOf(ev)), aliases);
    }
  };
  for (const ev of events) {
    switch (ev.type) {
      case ID.DOCUMENT:
        anchors.clear();
        break;
      case ID.SCALAR: {
        const length = Math.max(0, (ev.valueEnd ?? 0) - (ev.valueStart ?? 0));
        add(1, length, ev);
        const anchor = anchorOf(ev);
        if (anchor !== undefined) anchors.set(anchor, { nodes: 1, text: length, closed: true });
        break;
      }
      case ID.ALIAS: {
        const target = anchors.get(anchorOf(ev) ?? '');
        if (!target) {
          add(1, 0, ev); // an unknown alias: the loader reports it
          break;
        }
        if (!target.closed) {
          throw new YamlBudgetError('recursive', 'an alias inside the value it refers to (a recursive structure)', at(ev.anchorStart));
        }
        aliases = true;
        add(target.nodes, target.text, ev);
        break;
      }
      case ID.MAPPING:
      case ID.SEQUENCE: {
        add(1, 0, ev, false); // counted in its parent when it closes
        const size: Measured = { nodes: 0, text: 0, closed: false };
        const anchor = anchorOf(ev);
        if (anchor !== undefined) anchors.set(anchor, size);
        open.push({ size });
        break;
      }
      case ID.POP: {
        const frame = open.pop();
        if (!frame) break;
        frame.size.nodes += 1; // the collection itself
        frame.size.closed = true;
        const parent = open[open.length - 1];
        if (parent) {
          parent.size.nodes += frame.size.nodes;
          parent.size.text += frame.size.text;
        }
        break;
      }
      default:
        break;
    }
  }
}

/**
 * Parses YAML text; throws YamlSyntaxError (with line and column) on a syntax error, and, with a budget,
 * YamlBudgetError for a document larger than it once its aliases are expanded (checked before the
 * document is built).
 */
export function parseYamlSource(src: string, filename: string, budget?: YamlBudget): YamlSource {
  const api = eventApi(yaml);
  let value: unknown;
  let events: RawEvent[] | undefined;
  try {
    if (typeof api.parseEvents === 'function' && api.EVENT_ID) {
      events = api.parseEvents(src, { filename });
      if (budget) checkBudget(src, events, api.EVENT_ID, budget);
    }
    // Without the event parser nothing was measured: then no alias is accepted at all.
    value = yaml.load(src, budget && !events ? { filename, maxAliases: 0 } as yaml.LoadOptions : { filename });
  } catch (err) {
    if (err instanceof YamlBudgetError) throw err;
    const e = err as { reason?: string; message?: string; mark?: { line?: number; column?: number; snippet?: string } };
    const mark = e.mark && typeof e.mark.line === 'number'
      ? { line: e.mark.line + 1, column: (e.mark.column ?? 0) + 1 }
      : undefined;
    throw new YamlSyntaxError(e.reason || e.message || String(err), mark, e.mark?.snippet);
  }
  let offsets = new Map<string, Offsets>();
  try {
    if (events) offsets = collectOffsets(src, api, events);
  } catch {
    // Positions are a convenience: without them errors just name no line.
  }
  const starts = lineStarts(src);
  const keyAt = (path: readonly (string | number)[]) => {
    const o = offsets.get(keyOf(path));
    return o ? toPosition(starts, o.key) : undefined;
  };
  const valueAt = (path: readonly (string | number)[]) => {
    const o = offsets.get(keyOf(path));
    return o ? toPosition(starts, o.value) : undefined;
  };
  const nearest = (path: readonly (string | number)[]) => {
    for (let n = path.length; n > 0; n--) {
      const pos = keyAt(path.slice(0, n));
      if (pos) return pos;
    }
    return undefined;
  };
  const textAt = (path: readonly (string | number)[]) => offsets.get(keyOf(path))?.text;
  return { value, textAt, keyAt, valueAt, nearest };
}
