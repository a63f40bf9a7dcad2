// The process' own metrics, exposed at /metrics in the Prometheus text format (version 0.0.4).
//
// Deliberately small: counters and gauges with a fixed label set each, and gauges whose value
// is read from a callback at scrape time (sizes owned by other structures). No dependency: the
// set of metrics is ours and small.

type LabelValues = Record<string, string>;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  collect(): Array<[LabelValues, number]>;
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
}

export class Gauge implements Family {
  readonly type = 'gauge' as const;
  constructor(readonly name: string, readonly help: string, private readonly read: () => Array<[LabelValues, number]> | number) {}

  collect(): Array<[LabelValues, number]> {
    const v = this.read();
    return typeof v === 'number' ? [[{}, v]] : v;
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
    this.families.push({ name, help, type: 'counter', collect: () => g.collect() });
  }

  gauge(name: string, help: string, read: () => Array<[LabelValues, number]> | number): void {
    this.families.push(new Gauge(name, help, read));
  }

  render(): string {
    let out = '';
    for (const f of this.families) {
      out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
      for (const [labels, value] of f.collect()) {
        const names = Object.keys(labels);
        const ls = names.length === 0 ? '' : `{${names.map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`).join(',')}}`;
        out += `${f.name}${ls} ${formatNumber(value)}\n`;
      }
    }
    return out;
  }
}
