// The process' own metrics, exposed at /metrics in the Prometheus text format (version 0.0.4).
//
// Deliberately small: counters, gauges and histograms with a fixed label set each, and gauges
// whose value is read from a callback at scrape time (sizes owned by other structures). No
// dependency: the set of metrics is ours and small.

type LabelValues = Record<string, string>;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** The samples: [name suffix ('' for the family's own name), labels, value]. */
  samples(): Array<[string, LabelValues, number]>;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Counter implements Family {
  readonly type = 'counter' as const;
  private readonly values = new Map<string, [LabelValues, number]>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: LabelValues = {}, by = 1): void {
    const key = JSON.stringify(labels);
    const cur = this.values.get(key);
    if (cur) cur[1] += by;
    else this.values.set(key, [labels, by]);
  }

  get(labels: LabelValues = {}): number {
    return this.values.get(JSON.stringify(labels))?.[1] ?? 0;
  }

  collect(): Array<[LabelValues, number]> {
    return [...this.values.values()];
  }

  samples(): Array<[string, LabelValues, number]> {
    return this.collect().map(([l, v]) => ['', l, v]);
  }
}

export class Gauge implements Family {
  readonly type = 'gauge' as const;
  constructor(readonly name: string, readonly help: string, private readonly read: () => Array<[LabelValues, number]> | number) {}

  collect(): Array<[LabelValues, number]> {
    const v = this.read();
    return typeof v === 'number' ? [[{}, v]] : v;
  }

  samples(): Array<[string, LabelValues, number]> {
    return this.collect().map(([l, v]) => ['', l, v]);
  }
}

/**
 * A Prometheus histogram: per label set, counts of observations at or below each upper bound
 * (`le`, cumulative in the output, then +Inf), their sum and count.
 */
export class Histogram implements Family {
  readonly type = 'histogram' as const;
  private readonly series = new Map<string, { labels: LabelValues; counts: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending and finite (+Inf is implied). */
    readonly bounds: readonly number[],
  ) {
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]!) || (i > 0 && !(bounds[i]! > bounds[i - 1]!))) throw new Error(`histogram ${name}: bounds must be finite and ascending`);
    }
  }

  observe(labels: LabelValues, v: number): void {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }));
    let i = 0;
    while (i < this.bounds.length && !(v <= this.bounds[i]!)) i++;
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  samples(): Array<[string, LabelValues, number]> {
    const out: Array<[string, LabelValues, number]> = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        out.push(['_bucket', { ...s.labels, le: i < this.bounds.length ? formatNumber(this.bounds[i]!) : '+Inf' }, cumulative]);
      }
      out.push(['_sum', s.labels, s.sum], ['_count', s.labels, s.count]);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.families.push(c);
    return c;
  }

  /** A counter whose value lives elsewhere (e.g. WAL stats), read at scrape time. */
  counterFunc(name: string, help: string, read: () => Array<[LabelValues, number]> | number): void {
    const g = new Gauge(name, help, read);
    this.families.push({ name, help, type: 'counter', samples: () => g.samples() });
  }

  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(name, help, bounds);
    this.families.push(h);
    return h;
  }

  gauge(name: string, help: string, read: () => Array<[LabelValues, number]> | number): void {
    this.families.push(new Gauge(name, help, read));
  }

  render(): string {
    let out = '';
    for (const f of this.families) {
      out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
      for (const [suffix, labels, value] of f.samples()) {
        const names = Object.keys(labels);
        const ls = names.length === 0 ? '' : `{${names.map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`).join(',')}}`;
        out += `${f.name}${suffix}${ls} ${formatNumber(value)}\n`;
      }
    }
    return out;
  }
}
