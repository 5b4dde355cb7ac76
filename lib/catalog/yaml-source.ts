// Reading a YAML file with the position of every key, so that errors about its *content* (not only its
// syntax) can name the line. js-yaml parses the text once into its event stream: the alias budget is
// measured on it, the key positions read from it, and the values constructed from it.
import { constructFromEvents, EVENT_ID, getScalarValue, parseEvents, type Event } from 'js-yaml';

/** A key path in a document: mapping keys and list indexes, e.g. ["packages", "demo", "actions", "hello"]. */
export type KeyPath = (string | number)[];

/** A YAML mapping as loaded (js-yaml loads timestamps as Dates, which are values, not mappings). */
export const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

/** A loaded value for an error message: what it is, and a scalar's value. */
export const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : isMap(v) ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;

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

/** Where a node's text begins: its tag or anchor when it has one, else its value. */
function startOf(ev: Event): number {
  let candidates: number[];
  switch (ev.type) {
    case EVENT_ID.SCALAR:
      candidates = [ev.tagStart, ev.anchorStart, ev.valueStart];
      break;
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      candidates = [ev.tagStart, ev.anchorStart, ev.start];
      break;
    case EVENT_ID.ALIAS:
      candidates = [ev.anchorStart];
      break;
    default:
      candidates = [];
  }
  const known = candidates.filter((n) => n >= 0); // -1: absent
  return known.length ? Math.min(...known) : 0;
}

interface Offsets {
  key: number;
  value: number;
  /** Decoded text of a scalar value. */
  text?: string;
}

/** Maps each key path to the offsets of its key and of its value. */
function collectOffsets(src: string, events: readonly Event[]): Map<string, Offsets> {
  const out = new Map<string, Offsets>();
  const ID = EVENT_ID;
  const stack: Frame[] = [];
  let pendingKeyOffset = 0;

  // Called for every node (scalar, alias, collection start); returns the node's path.
  const place = (ev: Event, scalarText: string | undefined): string[] | undefined => {
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
        place(ev, getScalarValue(src, ev));
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
function checkBudget(src: string, events: readonly Event[], budget: YamlBudget): void {
  const ID = EVENT_ID;
  const anchors = new Map<string, Measured>();
  const open: { size: Measured }[] = [];
  let nodes = 0;
  let text = 0;
  let aliases = false;
  let starts: number[] | undefined;
  const at = (offset: number | undefined) => (typeof offset === 'number' && offset >= 0 ? toPosition((starts ??= lineStarts(src)), offset) : undefined);
  const anchorOf = (ev: { anchorStart: number; anchorEnd: number }) => (ev.anchorStart >= 0 ? src.slice(ev.anchorStart, ev.anchorEnd) : undefined);
  // Each open collection sums its own children; a closed one adds its total (itself included) to its parent.
  const add = (n: number, t: number, ev: Event, child = true) => {
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
        const length = Math.max(0, ev.valueEnd - ev.valueStart);
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
 * document is built). The text is parsed once: the budget, the positions and the value all come from
 * the same events. Like js-yaml's load(), exactly one document is accepted.
 */
export function parseYamlSource(src: string, filename: string, budget?: YamlBudget): YamlSource {
  let value: unknown;
  let events: Event[];
  try {
    // Parser bounds: js-yaml's defaults (collections nested at most 100 deep).
    events = parseEvents(src, { filename });
    if (budget) checkBudget(src, events, budget);
    const documents = constructFromEvents(events, { source: src, filename });
    if (documents.length === 0) throw new YamlSyntaxError('expected a document, but the input is empty');
    if (documents.length > 1) throw new YamlSyntaxError('expected a single document in the stream, but found more');
    value = documents[0];
  } catch (err) {
    if (err instanceof YamlBudgetError || err instanceof YamlSyntaxError) throw err;
    const e = err as { reason?: string; message?: string; mark?: { line?: number; column?: number; snippet?: string | null } };
    const mark = e.mark && typeof e.mark.line === 'number' ? { line: e.mark.line + 1, column: (e.mark.column ?? 0) + 1 } : undefined;
    throw new YamlSyntaxError(e.reason || e.message || String(err), mark, e.mark?.snippet ?? undefined);
  }
  let offsets = new Map<string, Offsets>();
  try {
    offsets = collectOffsets(src, events);
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
