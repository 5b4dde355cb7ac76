// Bounded copies of what an activation carries (result, parameters, logs) for the editor's sidebar:
// the size of each copy is bounded by its budget, whatever the size of the original, and so is the work,
// but for the key list of an object that JavaScript enumerates whole (an object of a million keys costs
// its enumeration once).

export interface Bounds {
  /** Characters the whole copy may take, roughly (keys and strings counted, 8 for any other value). */
  maxChars: number;
  /** Characters kept of any one string. */
  maxString: number;
  /** Nesting kept; deeper objects become "…". */
  maxDepth?: number;
}

export const CUT_MARK = '…';

/**
 * A JSON value no larger than `b`: long strings end in "… (N characters)", objects and arrays stop
 * where the budget ends with a last entry saying how many more there were. `cut` says whether anything
 * was left out. The original is never changed.
 */
export function boundedValue(v: unknown, b: Bounds): { value: unknown; cut: boolean } {
  let left = b.maxChars;
  let cut = false;
  const maxDepth = b.maxDepth ?? 8;
  const str = (s: string): string => {
    const keep = Math.max(0, Math.min(b.maxString, left));
    if (s.length <= keep) {
      left -= s.length;
      return s;
    }
    cut = true;
    left -= keep;
    return `${s.slice(0, keep)}${CUT_MARK} (${s.length} characters)`;
  };
  const walk = (x: unknown, depth: number): unknown => {
    if (typeof x === 'string') return str(x);
    if (x === null || typeof x === 'number' || typeof x === 'boolean') {
      left -= 8;
      return x;
    }
    if (typeof x !== 'object') {
      left -= 8;
      return x === undefined ? null : String(x);
    }
    if (depth >= maxDepth) {
      cut = true;
      left -= 1;
      return CUT_MARK;
    }
    if (Array.isArray(x)) {
      const out: unknown[] = [];
      for (let i = 0; i < x.length; i++) {
        if (left <= 0) {
          cut = true;
          out.push(`${CUT_MARK} ${x.length - i} more`);
          break;
        }
        out.push(walk(x[i], depth + 1));
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const k in x as Record<string, unknown>) {
      if (!Object.prototype.hasOwnProperty.call(x, k)) continue;
      if (left <= 0) {
        cut = true;
        out[CUT_MARK] = 'more entries left out';
        break;
      }
      left -= k.length + 2;
      out[k] = walk((x as Record<string, unknown>)[k], depth + 1);
    }
    return out;
  };
  let value: unknown;
  try {
    value = walk(v, 0);
  } catch {
    return { value: `${CUT_MARK} (not readable)`, cut: true };
  }
  return { value, cut };
}

/** The last `maxLines` log lines, each at most `maxLine` characters; `cut` when any was left out or shortened. */
export function boundedLogs(logs: unknown, maxLines: number, maxLine: number): { logs: string[]; cut: boolean } {
  if (!Array.isArray(logs)) return { logs: [], cut: false };
  let cut = logs.length > maxLines;
  const out = logs.slice(-maxLines).map((l) => {
    const s = typeof l === 'string' ? l : String(l);
    if (s.length <= maxLine) return s;
    cut = true;
    return `${s.slice(0, maxLine)}${CUT_MARK}`;
  });
  return { logs: out, cut };
}
