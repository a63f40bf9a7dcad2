// OTLP metrics -> Prometheus series (PROTOCOLS.md §5; docs/API.md, "OTLP metrics"), fed by the
// protobuf and the JSON decoders through one streaming interface: beginResource, beginScope,
// beginMetric, then one call per data point. The result is an IngestRequest for the pipeline.
//
// Choices (Prometheus 3 defaults unless said otherwise):
// - gauge -> gauge; cumulative monotonic sum -> counter `<name>_total`; cumulative non-monotonic
//   sum -> gauge; histogram -> `_bucket{le}` (cumulative counts, `+Inf` = count), `_sum` (when
//   set), `_count`; summary -> `{quantile}`, `_sum`, `_count`.
// - DELTA (and UNSPECIFIED) temporality of sums and histograms is rejected with a count, reason
//   `delta_temporality`, as Prometheus 3 does unless its delta feature is on: converting needs
//   per-series state that a restart loses. Senders convert with the Collector's deltatocumulative.
// - exponential histograms are rejected (`unsupported_type`): native histograms are not stored yet.
// - Labels: data point attributes (sorted by key; keys that collide after sanitising join their
//   values with ";"), then otel_scope_name/_version/_schema_url and otel_scope_<attribute>
//   (the spec's SHOULD; Prometheus 3 only with promote_scope_metadata), then job =
//   "service.namespace/service.name" (or service.name) and instance = service.instance.id, then
//   __name__ and le/quantile. Later ones win. Empty values mean "no label".
// - target_info{job, instance, <other resource attributes>} = 1 once per resource, from its
//   earliest to its latest point every 2.5 min (half the lookback), when the resource has
//   attributes besides the three identifying ones and a job or instance.
// - NO_RECORDED_VALUE -> the stale marker on every series of the point.
// - start_time_unix_nano -> AppendSeries.startTimestampsMs for counters, histogram series and
//   summary _sum/_count (the pipeline writes a zero there); never for gauges or quantiles.
// - Exemplars: trace_id/span_id as lowercase hex, plus the filtered attributes when all labels
//   together stay within 128 characters (OpenMetrics); histogram exemplars go to the first bucket
//   whose bound is >= the exemplar value.
import { labelsKey, METRIC_NAME_LABEL, type Label, type Labels } from '../../model/labels.js';
import { STALE_NAN } from '../../model/samples.js';
import { type AppendBatch, type BatchSeries, type SeriesRefMemo } from '../../model/write.js';
import { RejectionTally, type ExemplarInput, type IngestRequest, type MetricMetadataInput, type MetricTypeName, type RejectReason } from '../pipeline.js';
import { REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX } from '../../constants.js';
import { LabelSetCache, type ValidatedLabels } from '../label-cache.js';
import { buildLabelName, buildMetricName, buildUnitName, formatFloatF, type NamingType } from './naming.js';

export const TEMPORALITY_UNSPECIFIED = 0;
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;
/** DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK. */
export const FLAG_NO_RECORDED_VALUE = 1;

export type OtlpMetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** Attributes as parallel arrays (reused by the decoders: no object per attribute). */
export interface AttrList {
  keys: string[];
  values: string[];
  count: number;
}

export function newAttrList(): AttrList {
  return { keys: [], values: [], count: 0 };
}

export function pushAttr(a: AttrList, key: string, value: string): void {
  a.keys[a.count] = key;
  a.values[a.count] = value;
  a.count++;
}

export interface OtlpExemplar {
  timeMs: number;
  value: number;
  /** Lowercase hex, '' when absent or all zero. */
  traceId: string;
  spanId: string;
  attrs: AttrList;
}

/** Half of the default lookback delta, as upstream spaces target_info samples. */
const TARGET_INFO_INTERVAL_MS = 150_000;
/** Bound on the target_info samples of one resource in one request (a day at 2.5 min is 576). */
const TARGET_INFO_SAMPLES_MAX = 600;
/** OpenMetrics' bound on the characters of all exemplar label names and values. */
const EXEMPLAR_LABEL_CHARS_MAX = 128;
const SERVICE_NAME = 'service.name';
const SERVICE_NAMESPACE = 'service.namespace';
const SERVICE_INSTANCE_ID = 'service.instance.id';

/**
 * Translations are pure functions of their inputs and the same names come in request after
 * request, so they are cached process-wide; each cache is emptied when it reaches this size.
 */
const NAME_CACHE_ENTRIES_MAX = 50_000;
const labelNames = new Map<string, string | Error>();
const metricNames = new Map<string, string | Error>();
const boundTexts = new Map<number, string>();

/**
 * Number points: raw attribute bytes -> the series' labels and key, salted and checked by the
 * metric's `scope` (family name and context labels), which with the bytes decides the labels.
 * Senders repeat the same attribute bytes for a series request after request; a hit skips
 * building labels and the key, and hands the engine the same key string every time (V8 caches a
 * string's hash, so the registry lookup no longer hashes a fresh ~200-char string: it was 10% of
 * the server's CPU under OTLP load, bench/decode-bench.ts). Process-wide (requests come from many
 * connections), bounded like the remote write cache; only translations that succeeded are cached.
 */
interface CachedPointSeries extends ValidatedLabels {
  readonly scope: string;
}
const pointSeriesCache = new LabelSetCache(REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX);

/** FNV-1a of a string: the salt of a scope. */
function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Scratch columns start at this many samples and double; kept up to SCRATCH_SAMPLES_MAX. */
const SCRATCH_SAMPLES_INITIAL = 1024;
const SCRATCH_SAMPLES_MAX = 1 << 16;

/**
 * The translator's sample columns, shared by consecutive requests: translation is synchronous, so
 * one translator at a time fills them, and result() copies out exactly sized arrays. Series i of a
 * request owns samples [offsets[i], offsets[i + 1]).
 */
class TranslateScratch {
  timestamps = new Float64Array(SCRATCH_SAMPLES_INITIAL);
  values = new Float64Array(SCRATCH_SAMPLES_INITIAL);
  /** Per sample: its start timestamp in ms, 0 when it has none. */
  starts = new Float64Array(SCRATCH_SAMPLES_INITIAL);
  offsets = new Uint32Array(SCRATCH_SAMPLES_INITIAL + 1);

  growSamples(used: number): void {
    const cap = this.timestamps.length * 2;
    const ts = new Float64Array(cap);
    ts.set(this.timestamps.subarray(0, used));
    const vs = new Float64Array(cap);
    vs.set(this.values.subarray(0, used));
    const st = new Float64Array(cap);
    st.set(this.starts.subarray(0, used));
    this.timestamps = ts;
    this.values = vs;
    this.starts = st;
  }

  growOffsets(used: number): void {
    const grown = new Uint32Array(this.offsets.length * 2);
    grown.set(this.offsets.subarray(0, used));
    this.offsets = grown;
  }

  /** Gives up columns that grew past SCRATCH_SAMPLES_MAX (one huge request must not pin them). */
  trim(): void {
    if (this.timestamps.length > SCRATCH_SAMPLES_MAX) {
      this.timestamps = new Float64Array(SCRATCH_SAMPLES_INITIAL);
      this.values = new Float64Array(SCRATCH_SAMPLES_INITIAL);
      this.starts = new Float64Array(SCRATCH_SAMPLES_INITIAL);
    }
    if (this.offsets.length > SCRATCH_SAMPLES_MAX + 1) this.offsets = new Uint32Array(SCRATCH_SAMPLES_INITIAL + 1);
  }
}
const scratch = new TranslateScratch();

export class OtlpTranslator {
  /** The request's series, in the order their samples are in the scratch columns. */
  private readonly series: BatchSeries[] = [];
  /** Samples written to the scratch columns. */
  private samples = 0;
  private anyStart = false;
  /** result() was called: the scratch columns belong to the next translator. */
  private done = false;
  readonly exemplars: ExemplarInput[] = [];
  readonly rejected = new RejectionTally();
  /** Data points seen, accepted or not (for partial_success and metrics). */
  dataPoints = 0;
  private readonly metadataByFamily = new Map<string, MetricMetadataInput>();

  // Resource state
  private job = '';
  private instance = '';
  private hasJob = false;
  private hasInstance = false;
  private resourceAttrs: AttrList = newAttrList();
  private resourceMinMs = Infinity;
  private resourceMaxMs = -Infinity;
  /** Labels every point of the current scope gets (scope labels, job, instance), in override order. */
  private context: Label[] = [];
  /** labelsKey(context). */
  private contextKey = '';
  /** What, besides a number point's attribute bytes, decides its series (see pointSeriesCache). */
  private cacheScope = '';
  private cacheSalt = 0;

  // Metric state
  private family = '';
  private isCounter = false;
  private metricOk = false;
  private skipReason: RejectReason = 'unsupported_type';
  private skipMessage = '';

  private readonly keys = new PointSeries();

  beginResource(attrs: AttrList): void {
    this.resourceAttrs = { keys: attrs.keys.slice(0, attrs.count), values: attrs.values.slice(0, attrs.count), count: attrs.count };
    this.resourceMinMs = Infinity;
    this.resourceMaxMs = -Infinity;
    let name: string | undefined;
    let namespace: string | undefined;
    let instance: string | undefined;
    for (let i = 0; i < attrs.count; i++) {
      const k = attrs.keys[i]!;
      if (k === SERVICE_NAME) name = attrs.values[i]!;
      else if (k === SERVICE_NAMESPACE) namespace = attrs.values[i]!;
      else if (k === SERVICE_INSTANCE_ID) instance = attrs.values[i]!;
    }
    this.job = name === undefined ? '' : namespace !== undefined ? `${namespace}/${name}` : name;
    this.hasJob = name !== undefined;
    this.instance = instance ?? '';
    this.hasInstance = instance !== undefined;
    this.beginScope('', '', '', newAttrList());
  }

  /** Emits the resource's target_info series. */
  endResource(): void {
    if (!(this.resourceMinMs <= this.resourceMaxMs)) return;
    const a = this.resourceAttrs;
    let others = 0;
    for (let i = 0; i < a.count; i++) {
      const k = a.keys[i]!;
      if (k !== SERVICE_NAME && k !== SERVICE_NAMESPACE && k !== SERVICE_INSTANCE_ID) others++;
    }
    if (others === 0 || (this.job === '' && this.instance === '')) return;
    const filtered = newAttrList();
    for (let i = 0; i < a.count; i++) {
      const k = a.keys[i]!;
      if (k !== SERVICE_NAME && k !== SERVICE_NAMESPACE && k !== SERVICE_INSTANCE_ID) pushAttr(filtered, k, a.values[i]!);
    }
    const ids: string[] = [];
    const idValues: string[] = [];
    if (this.hasJob) ids.push('job'), idValues.push(this.job);
    if (this.hasInstance) ids.push('instance'), idValues.push(this.instance);
    const base = this.baseLabels(filtered, ids.map((name, i) => ({ name, value: idValues[i]! })).sort((a, b) => (a.name < b.name ? -1 : 1)));
    if (base instanceof Error) {
      this.rejected.add('invalid_labels', 1, 1, `target_info: ${base.message}`);
      return;
    }
    const labels = withLabels(base, METRIC_NAME_LABEL, 'target_info');
    const key = labelsKey(labels);
    // Points years apart (garbage, or a replay) must not make thousands of samples: the step
    // grows so that at most TARGET_INFO_SAMPLES_MAX are written.
    const step = Math.max(TARGET_INFO_INTERVAL_MS, Math.ceil((this.resourceMaxMs - this.resourceMinMs) / TARGET_INFO_SAMPLES_MAX));
    const series: BatchSeries = { labels, key };
    this.emit(series, this.resourceMinMs, 1, -1);
    for (let t = this.resourceMinMs + step; t < this.resourceMaxMs; t += step) this.sample(t, 1, -1);
    if (this.resourceMaxMs > this.resourceMinMs) this.sample(this.resourceMaxMs, 1, -1);
    if (!this.metadataByFamily.has('target_info')) {
      this.metadataByFamily.set('target_info', { metricFamilyName: 'target_info', type: 'gauge', help: 'Target metadata', unit: '' });
    }
  }

  beginScope(name: string, version: string, schemaUrl: string, attrs: AttrList): void {
    const names: string[] = [];
    const values: string[] = [];
    if (name !== '') {
      names.push('otel_scope_name', 'otel_scope_version', 'otel_scope_schema_url');
      values.push(name, version, schemaUrl);
      for (let i = 0; i < attrs.count; i++) {
        const n = this.labelName(`otel_scope_${attrs.keys[i]!}`);
        if (n instanceof Error) continue; // cannot happen: the prefix makes any key valid
        names.push(n);
        values.push(attrs.values[i]!);
      }
    }
    // Only when the resource says so: a point's own "job" attribute stays otherwise (as upstream).
    if (this.hasJob) {
      names.push('job');
      values.push(this.job);
    }
    if (this.hasInstance) {
      names.push('instance');
      values.push(this.instance);
    }
    const ctx: Label[] = [];
    for (let i = 0; i < names.length; i++) {
      const at = ctx.findIndex((l) => l.name === names[i]);
      if (at >= 0) ctx[at] = { name: names[i]!, value: values[i]! }; // later ones win
      else ctx.push({ name: names[i]!, value: values[i]! });
    }
    ctx.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.context = ctx;
    this.contextKey = labelsKey(ctx);
  }

  /**
   * Starts a metric. Returns false when its points are not translated (the decoder then reports
   * them with skipPoints).
   */
  beginMetric(name: string, description: string, unit: string, kind: OtlpMetricKind, temporality: number, monotonic: boolean): boolean {
    this.isCounter = false;
    this.metricOk = false;
    this.skipReason = 'unsupported_type';
    if (kind === 'exponential_histogram') {
      this.skipMessage = `metric ${JSON.stringify(name)} is an exponential histogram, which this server does not store (native histograms); send explicit-bucket histograms`;
      return false;
    }
    if ((kind === 'sum' || kind === 'histogram') && temporality !== TEMPORALITY_CUMULATIVE) {
      this.skipReason = 'delta_temporality';
      this.skipMessage =
        temporality === TEMPORALITY_DELTA
          ? `metric ${JSON.stringify(name)} has DELTA temporality; only CUMULATIVE sums and histograms are accepted (set the SDK's temporality preference to cumulative or use the Collector's deltatocumulative processor)`
          : `metric ${JSON.stringify(name)} has aggregation temporality ${temporality} (UNSPECIFIED or unknown); only CUMULATIVE (2) is accepted`;
      return false;
    }
    const namingType: NamingType =
      kind === 'sum' ? (monotonic ? 'monotonic_counter' : 'non_monotonic_counter') : kind === 'gauge' ? 'gauge' : kind === 'histogram' ? 'histogram' : 'summary';
    const cacheKey = `${namingType}\u0000${unit}\u0000${name}`;
    let family = metricNames.get(cacheKey);
    if (family === undefined) {
      family = buildMetricName(name, unit, namingType);
      if (metricNames.size >= NAME_CACHE_ENTRIES_MAX) metricNames.clear();
      metricNames.set(cacheKey, family);
    }
    if (family instanceof Error) {
      this.skipReason = 'invalid_labels';
      this.skipMessage = family.message;
      return false;
    }
    this.family = family;
    this.cacheScope = `${family}\u0002${this.contextKey}`;
    this.cacheSalt = stringHash(this.cacheScope);
    this.isCounter = kind === 'sum' && monotonic;
    this.metricOk = true;
    if (!this.metadataByFamily.has(family)) {
      const type: MetricTypeName = kind === 'sum' ? (monotonic ? 'counter' : 'gauge') : kind;
      this.metadataByFamily.set(family, { metricFamilyName: family, type, help: description, unit: buildUnitName(unit) });
    }
    return true;
  }

  /** Counts `points` data points of the metric beginMetric refused. */
  skipPoints(points: number): void {
    this.dataPoints += points;
    if (points > 0) this.rejected.add(this.skipReason, points, 0, this.skipMessage);
  }

  /**
   * The cached series of a number point of the current metric whose attributes are exactly the
   * bytes dv[start, end) (every attribute field of the point, in one run), if any. The decoder
   * then skips the attributes and calls numberPoint with `cached`.
   */
  cachedPointSeries(dv: DataView, start: number, end: number): ValidatedLabels | undefined {
    const hit = pointSeriesCache.get(dv, start, end, this.cacheSalt) as CachedPointSeries | undefined;
    return hit !== undefined && hit.scope === this.cacheScope ? hit : undefined;
  }

  /**
   * One number point. `cached`: its series from cachedPointSeries (attrs is then unused).
   * `raw`: where its attribute bytes lie (all of them, in one run), to cache the series under.
   */
  numberPoint(
    attrs: AttrList,
    startMs: number,
    timeMs: number,
    value: number,
    flags: number,
    exemplars: OtlpExemplar[] | undefined,
    cached?: ValidatedLabels,
    raw?: { dv: DataView; start: number; end: number },
  ): void {
    this.dataPoints++;
    if (!this.acceptTime(timeMs, 1)) return;
    let series: BatchSeries;
    if (cached !== undefined) {
      // The cache entry is the batch's series as it is: no object per point on a hit.
      series = cached;
    } else {
      const base = this.baseLabels(attrs, this.context);
      if (base instanceof Error) return this.rejectPoint(base, 1);
      const k = this.keys.reset(base, undefined);
      const labels = k.labels(this.family);
      const key = k.key;
      if (raw !== undefined) {
        // Its own SeriesRefMemo (as label-cache.ts validatedLabels): the engine and the pipeline
        // then read the memo from the object the batch already holds.
        const v: CachedPointSeries & SeriesRefMemo & { refMemo: SeriesRefMemo | undefined } = {
          labels,
          key,
          nameBytesMax: 0,
          valueBytesMax: 0,
          registry: undefined,
          epoch: -1,
          ref: 0,
          labelLimitsPassed: undefined,
          refMemo: undefined,
          scope: this.cacheScope,
        };
        v.refMemo = v;
        pointSeriesCache.set(raw.dv, raw.start, raw.end, v, this.cacheSalt);
        series = v;
      } else series = { labels, key };
    }
    const stale = (flags & FLAG_NO_RECORDED_VALUE) !== 0;
    this.emit(series, timeMs, stale ? STALE_NAN : value, this.isCounter && !stale ? startMs : -1);
    if (exemplars !== undefined) for (const e of exemplars) this.addExemplar(series, e);
  }

  histogramPoint(
    attrs: AttrList,
    startMs: number,
    timeMs: number,
    count: number,
    sum: number | undefined,
    bounds: ArrayLike<number>,
    boundsCount: number,
    bucketCounts: ArrayLike<number>,
    bucketCountsCount: number,
    flags: number,
    exemplars: OtlpExemplar[] | undefined,
  ): void {
    this.dataPoints++;
    const n = Math.min(boundsCount, bucketCountsCount);
    if (!this.acceptTime(timeMs, n + 2 + (sum === undefined ? 0 : 1))) return;
    const base = this.baseLabels(attrs, this.context);
    if (base instanceof Error) return this.rejectPoint(base, n + 2 + (sum === undefined ? 0 : 1));
    const stale = (flags & FLAG_NO_RECORDED_VALUE) !== 0;
    const start = stale ? -1 : startMs;
    const f = this.family;
    const k = this.keys.reset(base, 'le');
    if (sum !== undefined) this.emitNew(k.labels(`${f}_sum`), k.key, timeMs, stale ? STALE_NAN : sum, start);
    this.emitNew(k.labels(`${f}_count`), k.key, timeMs, stale ? STALE_NAN : count, start);
    const bucketName = `${f}_bucket`;
    let cumulative = 0;
    const buckets: Array<{ bound: number; series: BatchSeries }> | undefined = exemplars !== undefined && exemplars.length > 0 ? [] : undefined;
    for (let i = 0; i < n; i++) {
      cumulative += bucketCounts[i]!;
      const bound = bounds[i]!;
      const s = this.emitNew(k.labels(bucketName, this.boundText(bound)), k.key, timeMs, stale ? STALE_NAN : cumulative, start);
      buckets?.push({ bound, series: s });
    }
    const inf = this.emitNew(k.labels(bucketName, '+Inf'), k.key, timeMs, stale ? STALE_NAN : count, start);
    if (buckets !== undefined) {
      buckets.push({ bound: Infinity, series: inf });
      buckets.sort((a, b) => a.bound - b.bound);
      for (const e of exemplars!) {
        const target = buckets.find((b) => b.bound >= e.value);
        if (target !== undefined) this.addExemplar(target.series, e);
      }
    }
  }

  summaryPoint(attrs: AttrList, startMs: number, timeMs: number, count: number, sum: number, quantiles: ArrayLike<number>, quantileValues: ArrayLike<number>, quantileCount: number, flags: number): void {
    this.dataPoints++;
    if (!this.acceptTime(timeMs, quantileCount + 2)) return;
    const base = this.baseLabels(attrs, this.context);
    if (base instanceof Error) return this.rejectPoint(base, quantileCount + 2);
    const stale = (flags & FLAG_NO_RECORDED_VALUE) !== 0;
    const start = stale ? -1 : startMs;
    const f = this.family;
    const k = this.keys.reset(base, 'quantile');
    this.emitNew(k.labels(`${f}_sum`), k.key, timeMs, stale ? STALE_NAN : sum, start);
    this.emitNew(k.labels(`${f}_count`), k.key, timeMs, stale ? STALE_NAN : count, start);
    for (let i = 0; i < quantileCount; i++) {
      this.emitNew(k.labels(f, this.boundText(quantiles[i]!)), k.key, timeMs, stale ? STALE_NAN : quantileValues[i]!, -1);
    }
  }

  /** The request for the pipeline: one columnar batch, copied out of the shared scratch columns. Call once. */
  result(): IngestRequest {
    if (this.done) throw new Error('OtlpTranslator: result() called twice');
    this.done = true;
    const n = this.samples;
    const count = this.series.length;
    if (count + 1 > scratch.offsets.length) scratch.growOffsets(count);
    scratch.offsets[count] = n;
    const batch: AppendBatch = {
      series: this.series,
      offsets: scratch.offsets.slice(0, count + 1),
      timestampsMs: scratch.timestamps.slice(0, n),
      values: scratch.values.slice(0, n),
      ...(this.anyStart ? { startTimestampsMs: scratch.starts.slice(0, n) } : {}),
    };
    scratch.trim();
    return { series: [], batch, exemplars: this.exemplars, metadata: [...this.metadataByFamily.values()], rejected: this.rejected };
  }

  /** OTLP says points with time 0 SHOULD be rejected; they would land in 1970 otherwise. */
  private acceptTime(timeMs: number, samples: number): boolean {
    if (!this.metricOk) throw new Error('OtlpTranslator: data point outside an accepted metric');
    if (timeMs > 0) {
      if (timeMs < this.resourceMinMs) this.resourceMinMs = timeMs;
      if (timeMs > this.resourceMaxMs) this.resourceMaxMs = timeMs;
      return true;
    }
    this.rejected.add('invalid_timestamp', samples, 0, `a data point of ${this.family} has time_unix_nano 0 (unset)`);
    return false;
  }

  private rejectPoint(err: Error, samples: number): void {
    this.rejected.add('invalid_labels', samples, 0, `${this.family}: ${err.message}`);
  }

  /** le/quantile text of a bound: bounds repeat point after point, so they are cached. */
  private boundText(x: number): string {
    if (x === 0) return formatFloatF(x); // Map keys do not tell -0 from 0
    let t = boundTexts.get(x);
    if (t === undefined) {
      t = formatFloatF(x);
      if (boundTexts.size >= NAME_CACHE_ENTRIES_MAX) boundTexts.clear();
      boundTexts.set(x, t);
    }
    return t;
  }

  private labelName(key: string): string | Error {
    let n = labelNames.get(key);
    if (n === undefined) {
      n = buildLabelName(key);
      if (labelNames.size >= NAME_CACHE_ENTRIES_MAX) labelNames.clear();
      labelNames.set(key, n);
    }
    return n;
  }

  /**
   * Sorted labels of a point: its attributes (names sanitised; names that collide join their
   * values with ";" in attribute-key order, as upstream), overridden by `context` (sorted; an
   * empty value there removes the label); empty values dropped.
   */
  private baseLabels(attrs: AttrList, context: readonly Label[]): Label[] | Error {
    const n = attrs.count;
    let list: Label[] = [];
    if (n > 0) {
      let order: number[] | undefined;
      // Attributes usually arrive sorted by key; sort an index only when they do not.
      for (let i = 1; i < n; i++) {
        if (attrs.keys[i - 1]! > attrs.keys[i]!) {
          order = Array.from({ length: n }, (_, j) => j).sort((x, y) => (attrs.keys[x]! < attrs.keys[y]! ? -1 : attrs.keys[x]! > attrs.keys[y]! ? 1 : x - y));
          break;
        }
      }
      let sorted = true;
      let dup = false;
      for (let j = 0; j < n; j++) {
        const i = order === undefined ? j : order[j]!;
        const name = this.labelName(attrs.keys[i]!);
        if (name instanceof Error) return name;
        if (j > 0) {
          const prev = list[j - 1]!.name;
          if (name < prev) sorted = false;
          else if (name === prev) dup = true;
        }
        list.push({ name, value: attrs.values[i]! });
      }
      // Stable: equal names keep their key order.
      if (!sorted) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (!sorted || dup) {
        const merged: Label[] = [];
        for (const l of list) {
          const last = merged[merged.length - 1];
          if (last !== undefined && last.name === l.name) merged[merged.length - 1] = { name: l.name, value: `${last.value};${l.value}` };
          else merged.push(l);
        }
        list = merged;
      }
    }
    const out: Label[] = [];
    let i = 0;
    let j = 0;
    while (i < list.length || j < context.length) {
      const a = list[i];
      const c = context[j];
      let l: Label;
      if (c === undefined || (a !== undefined && a.name < c.name)) {
        l = a!;
        i++;
      } else {
        if (a !== undefined && a.name === c.name) i++;
        l = c;
        j++;
      }
      if (l.value !== '') out.push(l);
    }
    return out;
  }

  /** Starts a series (labels built for this point) with one sample; see emit. */
  private emitNew(labels: Labels, key: string, timeMs: number, value: number, startMs: number): BatchSeries {
    const s: BatchSeries = { labels, key };
    this.emit(s, timeMs, value, startMs);
    return s;
  }

  /** Starts `series` in the batch with one sample; startMs < 0 means "no start timestamp". */
  private emit(series: BatchSeries, timeMs: number, value: number, startMs: number): void {
    if (this.done) throw new Error('OtlpTranslator: point after result()');
    const i = this.series.length;
    if (i >= scratch.offsets.length - 1) scratch.growOffsets(i);
    scratch.offsets[i] = this.samples;
    this.series.push(series);
    this.sample(timeMs, value, startMs);
  }

  /** Appends a sample to the last series. */
  private sample(timeMs: number, value: number, startMs: number): void {
    const j = this.samples++;
    if (j === scratch.timestamps.length) scratch.growSamples(j);
    scratch.timestamps[j] = timeMs;
    scratch.values[j] = value;
    if (startMs > 0) {
      scratch.starts[j] = startMs;
      this.anyStart = true;
    } else scratch.starts[j] = 0;
  }

  private addExemplar(s: BatchSeries, e: OtlpExemplar): void {
    const labels: Label[] = [];
    let chars = 0;
    if (e.spanId !== '') {
      labels.push({ name: 'span_id', value: e.spanId });
      chars += 7 + e.spanId.length;
    }
    if (e.traceId !== '') {
      labels.push({ name: 'trace_id', value: e.traceId });
      chars += 8 + e.traceId.length;
    }
    const extra: Label[] = [];
    for (let i = 0; i < e.attrs.count; i++) {
      const name = this.labelName(e.attrs.keys[i]!);
      const value = e.attrs.values[i]!;
      if (name instanceof Error || value === '') continue;
      chars += [...e.attrs.keys[i]!].length + [...value].length;
      extra.push({ name, value });
    }
    if (chars <= EXEMPLAR_LABEL_CHARS_MAX) {
      for (const l of extra) if (!labels.some((x) => x.name === l.name)) labels.push(l);
    }
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.exemplars.push({ seriesLabels: s.labels, seriesKey: s.key, labels, value: e.value, timestampMs: e.timeMs });
  }
}

const NAME_PREFIX = `${METRIC_NAME_LABEL}\u0001`;

/**
 * The series of one data point: its base labels plus __name__ and, for histograms and summaries,
 * `le` or `quantile`. Splits the base labels once at the positions of those names so each
 * series' labels and labelsKey() are assembled from a few pieces instead of label by label.
 */
class PointSeries {
  private p1: Label[] = [];
  private p2: Label[] = [];
  private p3: Label[] = [];
  private k1 = '';
  private k2 = '';
  private k3 = '';
  private extraName: string | undefined;
  /** A base label named like the extra one: kept on the series that do not set it (as upstream). */
  private baseExtra: Label | undefined;
  /** labelsKey() of the labels the last labels() call returned. */
  key = '';

  /**
   * Label objects for __name__, le and quantile, shared by every series of a request that has
   * them (they repeat point after point; labels are never mutated).
   */
  private readonly sharedLabels = new Map<string, Label>();
  private shared(name: string, value: string): Label {
    const k = name === METRIC_NAME_LABEL ? value : `${name}\u0000${value}`;
    let l = this.sharedLabels.get(k);
    if (l === undefined) {
      l = { name, value };
      this.sharedLabels.set(k, l);
    }
    return l;
  }

  /** `base` sorted by name; labels named __name__ or `extraName` in it are replaced. */
  reset(base: readonly Label[], extraName: string | undefined): this {
    this.extraName = extraName;
    this.baseExtra = extraName === undefined ? undefined : base.find((l) => l.name === extraName);
    const p1: Label[] = [];
    const p2: Label[] = [];
    const p3: Label[] = [];
    for (const l of base) {
      if (l.name === METRIC_NAME_LABEL || l.name === extraName) continue;
      if (l.name < METRIC_NAME_LABEL) p1.push(l);
      else if (extraName === undefined || l.name < extraName) p2.push(l);
      else p3.push(l);
    }
    this.p1 = p1;
    this.p2 = p2;
    this.p3 = p3;
    this.k1 = labelsKey(p1);
    this.k2 = labelsKey(p2);
    this.k3 = labelsKey(p3);
    return this;
  }

  /** The labels with __name__ = name (and the extra label = extraValue); sets `key`. */
  labels(name: string, extraValue?: string): Label[] {
    const out = this.p1.slice();
    out.push(this.shared(METRIC_NAME_LABEL, name));
    let key = this.k1 === '' ? NAME_PREFIX + name : `${this.k1}\u0000${NAME_PREFIX}${name}`;
    for (const l of this.p2) out.push(l);
    if (this.k2 !== '') key += `\u0000${this.k2}`;
    const extra = extraValue !== undefined ? this.shared(this.extraName!, extraValue) : this.baseExtra;
    if (extra !== undefined) {
      out.push(extra);
      key += `\u0000${extra.name}\u0001${extra.value}`;
    }
    for (const l of this.p3) out.push(l);
    if (this.k3 !== '') key += `\u0000${this.k3}`;
    this.key = key;
    return out;
  }
}

/** `base` (sorted) with name=value set: a same-named label is replaced; the result stays sorted. */
export function withLabels(base: readonly Label[], name: string, value: string): Label[] {
  const out: Label[] = [];
  let placed = false;
  for (const l of base) {
    if (!placed && name <= l.name) {
      out.push({ name, value });
      placed = true;
    }
    if (l.name !== name) out.push(l);
  }
  if (!placed) out.push({ name, value });
  return out;
}

/** Nanoseconds given as (hi, lo) 32-bit words -> whole milliseconds, exactly (floor). */
export function nanosWordsToMs(hi: number, lo: number): number {
  // hi·2^32 + lo = hi·4294·10^6 + (hi·967296 + lo); the second term stays below 2^53.
  return hi * 4294 + Math.floor((hi * 967296 + lo) / 1e6);
}
