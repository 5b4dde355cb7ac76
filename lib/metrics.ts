// A small metrics registry in the Prometheus text exposition format (version 0.0.4): counters, gauges
// and histograms with labels, updated where the facts arise (a map lookup and an addition) and
// written out at a scrape. Gauges of things that already exist elsewhere (containers, queues) are
// read at the scrape from a collect function instead of being kept up to date.
//
// Every family holds at most `maxSeries` label sets: beyond that, new label sets are counted in one
// series whose label values are all OVERFLOW ("_other"), so a flood of names cannot grow the memory
// or the scrape. No Node-RED in here.

export type Labels = Readonly<Record<string, string>>;

/** The label value that collects what is beyond a family's series cap. */
export const OVERFLOW = '_other';
/** Label sets per family by default. */
export const DEFAULT_MAX_SERIES = 1000;
/** Seconds: from a fast warm run to an action's longest default timeout (60 s). */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The Content-Type of the text format. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface FamilyOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  maxSeries?: number;
}

abstract class Family<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  protected readonly series = new Map<string, { labels: string[]; value: S }>();
  private readonly maxSeries: number;

  constructor(o: FamilyOptions) {
    if (!NAME.test(o.name)) throw new Error(`metric name '${o.name}' is not a Prometheus name`);
    for (const l of o.labelNames ?? [])
      if (!LABEL.test(l) || l.startsWith('__') || l === 'le') throw new Error(`label name '${l}' of metric '${o.name}' is not allowed`);
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    this.maxSeries = o.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract fresh(): S;

  /** The series of these labels; beyond the cap, the overflow series. */
  protected at(labels: Labels): S {
    const values = this.labelNames.map((l) => String(labels[l] ?? ''));
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) {
        const over = this.labelNames.map(() => OVERFLOW);
        const overKey = over.join('\u0000');
        s = this.series.get(overKey);
        if (!s) {
          s = { labels: over, value: this.fresh() };
          this.series.set(overKey, s);
        }
        return s.value;
      }
      s = { labels: values, value: this.fresh() };
      this.series.set(key, s);
    }
    return s.value;
  }

  /** Label sets held now. */
  get size(): number {
    return this.series.size;
  }

  protected head(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
  }

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabel(values[i])}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return pairs.length ? `{${pairs.join(',')}}` : '';
  }

  abstract expose(): string;
}

export class Counter extends Family<{ v: number }> {
  readonly type = 'counter' as const;
  protected fresh() {
    return { v: 0 };
  }

  inc(labels: Labels = {}, n = 1): void {
    if (!(n >= 0)) return; // a counter never goes down
    this.at(labels).v += n;
  }

  /** The value of one label set (0 when never counted). */
  get(labels: Labels = {}): number {
    return this.series.get(this.labelNames.map((l) => String(labels[l] ?? '')).join('\u0000'))?.value.v ?? 0;
  }

  expose(): string {
    let out = this.head();
    for (const s of this.series.values()) out += `${this.name}${this.labelText(s.labels)} ${num(s.value.v)}\n`;
    return out;
  }
}

/** A gauge read at the scrape: `collect` gives the label sets and their values now. */
export class Gauge extends Family<{ v: number }> {
  readonly type = 'gauge' as const;
  constructor(
    o: FamilyOptions,
    private readonly collect: () => Iterable<[Labels, number]>,
  ) {
    super(o);
  }

  protected fresh() {
    return { v: 0 };
  }

  expose(): string {
    this.series.clear();
    for (const [labels, v] of this.collect()) this.at(labels).v += v;
    let out = this.head();
    for (const s of this.series.values()) out += `${this.name}${this.labelText(s.labels)} ${num(s.value.v)}\n`;
    return out;
  }
}

export class Histogram extends Family<{ counts: number[]; sum: number; count: number }> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(o: FamilyOptions & { buckets?: readonly number[] }) {
    super(o);
    const b = [...(o.buckets ?? DURATION_BUCKETS)].sort((x, y) => x - y);
    if (b.some((x, i) => !Number.isFinite(x) || (i > 0 && x === b[i - 1]))) throw new Error(`the buckets of '${o.name}' must be distinct finite numbers`);
    this.buckets = b;
  }

  protected fresh() {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(labels: Labels, v: number): void {
    if (!Number.isFinite(v)) return;
    const s = this.at(labels);
    s.sum += v;
    s.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
  }

  expose(): string {
    let out = this.head();
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket${this.labelText(s.labels, ['le', num(b)])} ${s.value.counts[i]}\n`;
      });
      out += `${this.name}_bucket${this.labelText(s.labels, ['le', '+Inf'])} ${s.value.count}\n`;
      out += `${this.name}_sum${this.labelText(s.labels)} ${num(s.value.sum)}\n`;
      out += `${this.name}_count${this.labelText(s.labels)} ${s.value.count}\n`;
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly families = new Map<string, { expose(): string }>();

  private add<F extends { name: string; expose(): string }>(f: F): F {
    if (this.families.has(f.name)) throw new Error(`metric '${f.name}' is registered twice`);
    this.families.set(f.name, f);
    return f;
  }

  counter(o: FamilyOptions): Counter {
    return this.add(new Counter(o));
  }

  gauge(o: FamilyOptions, collect: () => Iterable<[Labels, number]>): Gauge {
    return this.add(new Gauge(o, collect));
  }

  histogram(o: FamilyOptions & { buckets?: readonly number[] }): Histogram {
    return this.add(new Histogram(o));
  }

  /** Every family in the text format, in the order registered. A failing collect leaves its family out. */
  expose(): string {
    let out = '';
    for (const f of this.families.values()) {
      try {
        out += f.expose();
      } catch {
        /* a gauge whose source failed: the others are still worth a scrape */
      }
    }
    return out;
  }
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
