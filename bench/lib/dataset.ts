// The shape every benchmark dataset has: N hosts scraped at a fixed interval, values produced
// scrape by scrape into a caller's Float64Array (never one object per sample), and the query
// selectors that make sense for the data. Generators live in generator.ts (synthetic) and
// node-exporter.ts (a replayed real capture).
import { subSeed } from './prng.js';

export type SeriesLabels = Record<string, string>;

export interface QuerySelectors {
  /** Selects exactly one series. */
  oneSeries: string;
  /** Selects about 1000 series (fewer when the dataset is smaller). */
  manySeries: string;
  manySeriesExpected: number;
}

export interface Dataset {
  readonly kind: 'synthetic' | 'node-exporter';
  /** One line for the report: where the data comes from. */
  readonly description: string;
  readonly hosts: number;
  readonly seriesCount: number;
  readonly scrapeCount: number;
  readonly intervalMs: number;
  /** First and last possible sample timestamps (ms), for queries over the whole run. */
  readonly startMs: number;
  readonly endMs: number;
  /** Labels of series i, `__name__` included. */
  labels(i: number): SeriesLabels;
  /** Host index of every series. */
  readonly hostOf: Uint32Array;
  /** Timestamp of host h's k-th scrape. */
  timestampMs(h: number, k: number): number;
  /**
   * Writes the value of every series at scrape k into out[0..seriesCount). Stateful: call with
   * k = 0, 1, 2, ... in order (random walks and counters continue from the previous scrape).
   */
  fillValues(k: number, out: Float64Array): void;
  readonly selectors: QuerySelectors;
}

export interface TimingOptions {
  hosts: number;
  scrapeCount: number;
  intervalMs: number;
  /** Scrape timestamps wander by up to this many ms either way, as real scrapes do. */
  jitterMs: number;
  seed: number;
  /** The last scrape lands at or just before this time. */
  nowMs: number;
}

/**
 * Scrape timestamps like Prometheus': each host has its own phase within the interval (targets
 * are spread over it), and each scrape lands a few ms off the grid.
 */
export class ScrapeClock {
  readonly startMs: number;
  readonly endMs: number;
  private readonly phaseMs: Float64Array;
  private readonly jitterMs: number;
  private readonly intervalMs: number;
  private readonly seed: number;

  constructor(o: TimingOptions) {
    this.intervalMs = o.intervalMs;
    this.jitterMs = Math.max(0, Math.floor(o.jitterMs));
    this.seed = o.seed;
    this.phaseMs = new Float64Array(o.hosts);
    for (let h = 0; h < o.hosts; h++) this.phaseMs[h] = subSeed(o.seed, h) % Math.max(1, o.intervalMs);
    // Everything, phase and jitter included, lies in [startMs, endMs] and ends at or before now:
    // the latest possible scrape is startMs + jitter + (interval - 1) + (scrapes - 1) x interval + jitter.
    this.startMs = Math.floor(o.nowMs) - o.scrapeCount * o.intervalMs - 2 * this.jitterMs + 1;
    this.endMs = Math.floor(o.nowMs);
  }

  timestampMs(h: number, k: number): number {
    const jitter = this.jitterMs === 0 ? 0 : (subSeed(this.seed ^ 0x5bd1e995, h * 1_000_003 + k) % (2 * this.jitterMs + 1)) - this.jitterMs;
    return this.startMs + this.jitterMs + this.phaseMs[h]! + k * this.intervalMs + jitter;
  }
}

export function instanceOf(h: number): string {
  return `host-${String(h).padStart(4, '0')}:9100`;
}

/** Escapes a label value for a PromQL string literal. */
function promQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * Picks the query selectors from the series list: one series of a per-host singleton metric
 * (node_load1 when present), and the metric with the most series per host, over as many hosts as
 * it takes to reach ~1000 series (an instance alternation, as a Grafana multi-value variable
 * produces).
 */
export function chooseSelectors(series: readonly SeriesLabels[], hostOf: Uint32Array, hosts: number, manyTarget = 1000): QuerySelectors {
  const perHost0 = new Map<string, number>();
  for (let i = 0; i < series.length && hostOf[i] === 0; i++) {
    const n = series[i]!['__name__']!;
    perHost0.set(n, (perHost0.get(n) ?? 0) + 1);
  }
  let single = perHost0.get('node_load1') === 1 ? 'node_load1' : undefined;
  if (single === undefined) for (const [n, c] of perHost0) if (c === 1) { single = n; break; }
  if (single === undefined) single = [...perHost0.keys()][0]!;
  let many = '';
  let manyPerHost = 0;
  for (const [n, c] of perHost0) if (c > manyPerHost) { many = n; manyPerHost = c; }
  const hostsNeeded = Math.max(1, Math.min(hosts, Math.ceil(manyTarget / manyPerHost)));
  const instances: string[] = [];
  for (let h = 0; h < hostsNeeded; h++) instances.push(instanceOf(h));
  const instanceMatcher = hostsNeeded === 1 ? `instance=${promQuote(instances[0]!)}` : `instance=~${promQuote(instances.join('|'))}`;
  return {
    oneSeries: `${single}{instance=${promQuote(instanceOf(0))}}`,
    manySeries: `${many}{${instanceMatcher}}`,
    manySeriesExpected: hostsNeeded * manyPerHost,
  };
}

/** Digits after the decimal point in the shortest form of v; -1 when it needs an exponent. */
export function decimalsOf(v: number): number {
  if (!Number.isFinite(v)) return 0;
  const s = String(v);
  if (s.includes('e')) return -1;
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}
