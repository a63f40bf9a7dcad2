// Data for the query benchmark: node-exporter-like counters and gauges, a classic histogram
// (`*_bucket{le}`, `_sum`, `_count`) and a counter carrying a high-cardinality `id` label (random
// hex, for regex matchers), per host, with hosts spread over a few jobs. Implements the shared
// Dataset shape so bench/lib/requests.ts encodes it like every other dataset.
//
// Timestamps are never on a whole second (each host's phase has 1..999 ms and there is no
// jitter), and the queries evaluate at whole seconds: no sample ever sits exactly on a range
// window's edge, where Prometheus 2.42 (left-closed windows) and Prometheus 3 semantics
// (left-open, which mocha follows) would legitimately differ.
import type { Dataset, QuerySelectors, SeriesLabels } from '../dataset.js';
import { instanceOf } from '../dataset.js';
import { mulberry32, subSeed, type Rng } from '../prng.js';

/** Upper bounds of the histogram buckets (+Inf added). */
export const BUCKET_LES = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;
/** Series of the high-cardinality counter per host. */
export const IDS_PER_HOST = 16;
export const JOBS = 5;
const CPUS = 2;
const CPU_MODES = ['idle', 'user', 'system', 'iowait'] as const;
const DEVICES = ['eth0', 'eth1'] as const;

const enum Kind {
  CpuCounter,
  ByteCounter,
  ReqCounter,
  Gauge,
  Bucket,
  HistSum,
  HistCount,
}

export interface QueryDataOptions {
  series: number;
  scrapeCount: number;
  intervalMs: number;
  seed: number;
  /** The last scrape lands at or before this time. */
  nowMs: number;
}

/** Series per host of this dataset. */
export function querySeriesPerHost(): number {
  return CPUS * CPU_MODES.length + DEVICES.length + 2 + BUCKET_LES.length + 1 + 2 + IDS_PER_HOST;
}

export class QueryBenchDataset implements Dataset {
  readonly kind = 'synthetic' as const;
  readonly description: string;
  readonly hosts: number;
  readonly seriesCount: number;
  readonly scrapeCount: number;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly hostOf: Uint32Array;
  readonly selectors: QuerySelectors;
  /** Every `id` label value, in series order, for building regex queries. */
  readonly ids: string[] = [];
  private readonly series: SeriesLabels[] = [];
  private readonly kindOf: Uint8Array;
  /** Bucket index (0..BUCKET_LES.length) for buckets, else 0. */
  private readonly bucketOf: Uint8Array;
  private readonly rate: Float64Array;
  private readonly value: Float64Array;
  private readonly phaseMs: Float64Array;
  private readonly gridStartMs: number;
  private readonly rng: Rng;
  private nextK = 0;

  constructor(o: QueryDataOptions) {
    const perHost = querySeriesPerHost();
    this.hosts = Math.max(1, Math.round(o.series / perHost));
    this.scrapeCount = o.scrapeCount;
    this.intervalMs = o.intervalMs;
    if (o.intervalMs < 2000) throw new Error('query bench interval must be >= 2s');
    // Whole seconds; every host's phase is < interval, so the last scrape is <= nowMs.
    this.gridStartMs = Math.floor(o.nowMs / 1000) * 1000 - o.scrapeCount * o.intervalMs;
    this.startMs = this.gridStartMs;
    this.endMs = this.gridStartMs + o.scrapeCount * o.intervalMs;
    this.phaseMs = new Float64Array(this.hosts);
    const kinds: number[] = [];
    const buckets: number[] = [];
    const hostOf: number[] = [];
    const wholeSeconds = Math.floor(o.intervalMs / 1000) - 1;
    for (let h = 0; h < this.hosts; h++) {
      const r = mulberry32(subSeed(o.seed, h));
      this.phaseMs[h] = Math.floor(r() * wholeSeconds) * 1000 + 1 + Math.floor(r() * 998);
      const base = { instance: instanceOf(h), job: `job-${h % JOBS}` };
      const push = (labels: SeriesLabels, kind: Kind, bucket = 0) => {
        this.series.push({ ...labels, ...base });
        kinds.push(kind);
        buckets.push(bucket);
        hostOf.push(h);
      };
      for (let c = 0; c < CPUS; c++) for (const mode of CPU_MODES) push({ __name__: 'node_cpu_seconds_total', cpu: String(c), mode }, Kind.CpuCounter);
      for (const device of DEVICES) push({ __name__: 'node_network_receive_bytes_total', device }, Kind.ByteCounter);
      push({ __name__: 'node_load1' }, Kind.Gauge);
      push({ __name__: 'node_memory_MemAvailable_bytes' }, Kind.Gauge);
      for (let b = 0; b <= BUCKET_LES.length; b++) push({ __name__: 'http_request_duration_seconds_bucket', le: b < BUCKET_LES.length ? String(BUCKET_LES[b]) : '+Inf' }, Kind.Bucket, b);
      push({ __name__: 'http_request_duration_seconds_sum' }, Kind.HistSum);
      push({ __name__: 'http_request_duration_seconds_count' }, Kind.HistCount);
      for (let i = 0; i < IDS_PER_HOST; i++) {
        const id = Math.floor(r() * 0x100000000).toString(16).padStart(8, '0');
        this.ids.push(id);
        push({ __name__: 'app_requests_total', id }, Kind.ReqCounter);
      }
    }
    const n = this.series.length;
    this.seriesCount = n;
    this.hostOf = Uint32Array.from(hostOf);
    this.kindOf = Uint8Array.from(kinds);
    this.bucketOf = Uint8Array.from(buckets);
    this.rate = new Float64Array(n);
    this.value = new Float64Array(n);
    this.rng = mulberry32(subSeed(o.seed, 0x7fffffff));
    const r = mulberry32(subSeed(o.seed, 0x1234));
    for (let i = 0; i < n; i++) {
      // Requests per second of the histogram is per host: the buckets share the host's rate.
      this.rate[i] = 1 + r() * 50;
      this.value[i] = Math.floor(r() * 1e6);
    }
    this.selectors = {
      oneSeries: `node_load1{instance="${instanceOf(0)}"}`,
      manySeries: 'node_load1',
      manySeriesExpected: this.hosts,
    };
    this.description = `query-bench data (seed ${o.seed}): ${perHost} series per host (cpu/network counters, gauges, an 11-bucket histogram, ${IDS_PER_HOST} app_requests_total{id} with random hex ids), ${JOBS} jobs`;
  }

  labels(i: number): SeriesLabels {
    return this.series[i]!;
  }

  timestampMs(h: number, k: number): number {
    return this.gridStartMs + this.phaseMs[h]! + k * this.intervalMs;
  }

  fillValues(k: number, out: Float64Array): void {
    if (k !== this.nextK) throw new Error(`fillValues must be called in order: expected scrape ${this.nextK}, got ${k}`);
    this.nextK++;
    const rng = this.rng;
    const dtS = this.intervalMs / 1000;
    const n = this.seriesCount;
    // Observations this scrape of the current host's histogram, shared by its buckets.
    let hostObs = 0;
    let cumulative = 0;
    for (let i = 0; i < n; i++) {
      const kind = this.kindOf[i]!;
      let v = this.value[i]!;
      if (k > 0) {
        switch (kind) {
          case Kind.CpuCounter:
            v = Math.round((v + this.rate[i]! * 0.02 * dtS * (0.5 + rng())) * 100) / 100;
            break;
          case Kind.ByteCounter:
            v += Math.round(this.rate[i]! * 1000 * dtS * (0.5 + rng()));
            break;
          case Kind.ReqCounter:
            // A reset now and then, as restarts do.
            v = rng() < 0.002 ? Math.round(this.rate[i]! * rng()) : v + Math.round(this.rate[i]! * dtS * (0.5 + rng()));
            break;
          case Kind.Gauge:
            v = Math.max(0, Math.round((v + (rng() - 0.5) * 1000) * 100) / 100);
            break;
          case Kind.Bucket: {
            const b = this.bucketOf[i]!;
            if (b === 0) {
              hostObs = Math.round(this.rate[i]! * dtS * (0.5 + rng()));
              cumulative = 0;
            }
            // Bucket b's own (non-cumulative) share of this scrape's observations.
            const share = b === BUCKET_LES.length ? hostObs - cumulative : Math.round((hostObs - cumulative) * (0.15 + 0.3 * rng()));
            cumulative += share;
            // The cumulative bucket grows by every observation up to its bound.
            v += cumulative;
            break;
          }
          case Kind.HistSum:
            v = Math.round((v + hostObs * 0.3 * (0.5 + rng())) * 1000) / 1000;
            break;
          case Kind.HistCount:
            v += hostObs;
            break;
        }
      } else if (kind === Kind.Bucket) {
        // Start cumulative: bucket b >= bucket b-1.
        v = this.bucketOf[i]! === 0 ? v : this.value[i - 1]! + v;
      }
      this.value[i] = v;
      out[i] = v;
    }
  }
}
