// The protocol-free half of every write path: remote write 1.0/2.0 and OTLP decoders turn their
// bodies into an IngestRequest; the pipeline applies the per-tenant limits, appends what passes
// to the engine (WAL + memtable), and hands exemplars and metadata to their stores.
//
// Rejections are never silent: every dropped sample is tallied by reason, counted in /metrics
// (mocha_ingest_rejected_samples_total{reason}) and described in the response, in the form the
// protocol prescribes (remote write 1.0: 400 text; 2.0: 400 + written headers; OTLP:
// partial_success). A request the engine cannot absorb (back-pressure) throws
// TOO_MANY_REQUESTS before anything is stored, so a retry cannot double anything.
import { MochaError } from '../errors.js';
import {
  INGEST_SAMPLE_FUTURE_MAX_MS,
  INGEST_SAMPLE_AGE_MAX_MS,
  INGEST_SERIES_ACTIVE_MAX,
  LABEL_NAME_BYTES_MAX,
  LABEL_VALUE_BYTES_MAX,
  LABELS_PER_SERIES_MAX,
} from '../constants.js';
import type { Labels } from '../model/labels.js';
import { batchOfSeries, batchSampleCount, seriesOfBatch, type AppendBatch, type AppendSeries, type BatchSeries } from '../model/write.js';
import type { MetricsRegistry, Counter } from '../metrics.js';

/** Why samples (or exemplars, or whole series) were not stored. Values are metric label values. */
export type RejectReason =
  | 'invalid_labels' // a label name/value the format forbids (syntax, UTF-8, duplicates, empty)
  | 'too_many_labels'
  | 'label_name_too_long'
  | 'label_value_too_long'
  | 'sample_too_old'
  | 'sample_too_new'
  | 'series_limit' // the tenant's active-series limit
  | 'invalid_timestamp'
  | 'unsupported_type' // e.g. native or exponential histograms, until they are stored
  | 'delta_temporality' // OTLP delta points that could not be converted to cumulative
  | 'invalid_exemplar';

/** Counts of rejected items by reason, with the first message of each reason as an example. */
export class RejectionTally {
  readonly byReason = new Map<RejectReason, { samples: number; series: number; example: string }>();

  /** `samples` data points (and `series` whole series) rejected for `reason`; `example` explains one. */
  add(reason: RejectReason, samples: number, series: number, example: string): void {
    const r = this.byReason.get(reason);
    if (r === undefined) this.byReason.set(reason, { samples, series, example });
    else {
      r.samples += samples;
      r.series += series;
    }
  }

  merge(other: RejectionTally): void {
    for (const [reason, r] of other.byReason) this.add(reason, r.samples, r.series, r.example);
  }

  /** Rejected data points (samples), not counting exemplars. */
  get samples(): number {
    let n = 0;
    for (const [reason, r] of this.byReason) if (reason !== 'invalid_exemplar') n += r.samples;
    return n;
  }

  /** Rejected exemplars (the `samples` count of reason invalid_exemplar). */
  get exemplars(): number {
    return this.byReason.get('invalid_exemplar')?.samples ?? 0;
  }

  get empty(): boolean {
    return this.byReason.size === 0;
  }

  /**
   * One readable line: "rejected 12 samples: sample_too_old: 10 samples (e.g. ...); series_limit: 2 samples
   * of 1 series (e.g. ...)"; exemplars are counted apart ("rejected 0 samples and 1 exemplars: ...").
   */
  message(): string {
    const parts: string[] = [];
    for (const [reason, r] of this.byReason) {
      const unit = reason === 'invalid_exemplar' ? 'exemplars' : 'samples';
      parts.push(`${reason}: ${r.samples} ${unit}${r.series > 0 ? ` of ${r.series} series` : ''} (e.g. ${r.example})`);
    }
    const ex = this.exemplars;
    return `rejected ${this.samples} samples${ex > 0 ? ` and ${ex} exemplars` : ''}: ${parts.join('; ')}`;
  }
}

/** An exemplar attached to a sample of a stored series (remote write Exemplar, OTLP Exemplar). */
export interface ExemplarInput {
  /** The series it belongs to: validated labels and labelsKey(labels). */
  readonly seriesLabels: Labels;
  readonly seriesKey: string;
  /** Exemplar labels, e.g. trace_id and span_id; sorted by name. */
  readonly labels: Labels;
  readonly value: number;
  readonly timestampMs: number;
}

/** Metric metadata as Prometheus keeps it (remote write MetricMetadata, OTLP description/unit). */
export type MetricTypeName = 'unknown' | 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset';

export interface MetricMetadataInput {
  metricFamilyName: string;
  type: MetricTypeName;
  help: string;
  unit: string;
}

/** What a decoder produces: protocol-free, syntactically valid data, plus what it already rejected. */
export interface IngestRequest {
  /** Per-series objects; empty when `batch` carries the samples. */
  series: AppendSeries[];
  /** The remote-write decoders' fast path: the request's series and samples as one columnar batch (then `series` is empty). */
  batch?: AppendBatch;
  exemplars: ExemplarInput[];
  metadata: MetricMetadataInput[];
  /** Rejected by the decoder (invalid labels, unsupported types); merged into the result. */
  rejected: RejectionTally;
  /** Native histograms received and stored (0 until they are supported; reported to 2.0 senders). */
  histogramsWritten?: number;
}

/** An ingest whose samples the engine has taken (see IngestPipeline.begin). */
export interface PendingIngest {
  /** Resolves when the samples are durable; rejects (e.g. TOO_MANY_REQUESTS) when nothing was stored. */
  readonly durable: Promise<void>;
  /** After `durable` resolved: the result, and the samples counted in /metrics. */
  readonly finish: () => IngestResult;
}

export interface IngestResult {
  samplesWritten: number;
  exemplarsWritten: number;
  histogramsWritten: number;
  /** Decoder rejections plus limit rejections. */
  rejected: RejectionTally;
}

/** Per-tenant ingest policy. 0 means "no limit" for the *Max fields that say so. */
export interface TenantLimits {
  /** New series are rejected once the tenant holds this many in its memtable registry. */
  seriesActiveMax: number;
  labelsPerSeriesMax: number;
  labelNameBytesMax: number;
  labelValueBytesMax: number;
  /** Samples older than now minus this are rejected; 0 = no limit (backfill allowed). */
  sampleAgeMaxMs: number;
  /** Samples later than now plus this are rejected. */
  sampleFutureMaxMs: number;
}

export const DEFAULT_TENANT_LIMITS: Readonly<TenantLimits> = Object.freeze({
  seriesActiveMax: INGEST_SERIES_ACTIVE_MAX,
  labelsPerSeriesMax: LABELS_PER_SERIES_MAX,
  labelNameBytesMax: LABEL_NAME_BYTES_MAX,
  labelValueBytesMax: LABEL_VALUE_BYTES_MAX,
  sampleAgeMaxMs: INGEST_SAMPLE_AGE_MAX_MS,
  sampleFutureMaxMs: INGEST_SAMPLE_FUTURE_MAX_MS,
});

/**
 * Where exemplars go (src/exemplars/store.ts). Two steps, so that what is stored is exactly what
 * is logged: admit() decides (no side effects), the engine logs the admitted exemplars in the WAL
 * batch of the request's samples, and append() stores them in the same tick as that WAL encode,
 * so a flush's WAL cut never separates the two.
 */
export interface ExemplarSink {
  /**
   * Returns the exemplars to log and store. Refused ones (e.g. labels over 128 runes) are tallied
   * as invalid_exemplar; ones the store already holds (a retried request) are dropped silently.
   */
  admit(tenant: string, exemplars: readonly ExemplarInput[], rejected: RejectionTally): ExemplarInput[];
  /** Stores admitted exemplars; returns how many were stored. */
  append(tenant: string, exemplars: readonly ExemplarInput[]): number;
}

/** Where metadata goes (src/api/metadata-store.ts). */
export interface MetadataSink {
  add(tenant: string, metadata: readonly MetricMetadataInput[]): void;
}

/** What the pipeline needs of the engine. */
export interface IngestTarget {
  /**
   * Logs the series' samples and the exemplars in one WAL batch and resolves when it is durable.
   * Calls onLogged synchronously once the records are encoded (not when rejected). Throws
   * TOO_MANY_REQUESTS under back-pressure, before anything is logged.
   */
  append(tenant: string, series: readonly AppendSeries[], exemplars?: readonly ExemplarInput[], onLogged?: () => void): Promise<void>;
  /** The same for a columnar batch; when absent, the pipeline calls append() with the batch's series. */
  appendBatch?(tenant: string, batch: AppendBatch, exemplars?: readonly ExemplarInput[], onLogged?: () => void): Promise<void>;
  /** Series the tenant's memtable registry holds. */
  seriesCount(tenant: string): number;
  hasSeries(tenant: string, key: string): boolean;
}

export interface IngestPipelineOptions {
  target: IngestTarget;
  metrics: MetricsRegistry;
  limitsFor?: (tenant: string) => TenantLimits;
  exemplars?: ExemplarSink;
  metadata?: MetadataSink;
  /** Clock for the sample-age limits (tests). */
  nowMs?: () => number;
}

export class IngestPipeline {
  private readonly rejectedSamples: Counter;
  private readonly samplesWritten: Counter;
  private readonly exemplarsWritten: Counter;
  private readonly rejectedExemplars: Counter;
  private readonly exemplarsIgnored: Counter;
  private readonly limitsFor: (tenant: string) => TenantLimits;
  private readonly nowMs: () => number;
  /** "tenant\0seriesKey" -> the last start timestamp turned into a zero sample. */
  private readonly startInjected = new Map<string, number>();

  constructor(private readonly opts: IngestPipelineOptions) {
    this.limitsFor = opts.limitsFor ?? (() => DEFAULT_TENANT_LIMITS);
    this.nowMs = opts.nowMs ?? Date.now;
    this.rejectedSamples = opts.metrics.counter('mocha_ingest_rejected_samples_total', 'Samples not stored, by protocol and reason.');
    this.samplesWritten = opts.metrics.counter('mocha_ingest_samples_written_total', 'Samples stored, by protocol.');
    this.exemplarsWritten = opts.metrics.counter('mocha_ingest_exemplars_written_total', 'Exemplars stored, by protocol.');
    this.rejectedExemplars = opts.metrics.counter('mocha_ingest_rejected_exemplars_total', 'Exemplars not stored, by protocol and reason.');
    this.exemplarsIgnored = opts.metrics.counter('mocha_ingest_exemplars_ignored_total', 'Exemplars received while no exemplar store is configured.');
  }

  /**
   * Applies the tenant's limits and stores what passes. Throws TOO_MANY_REQUESTS (nothing stored)
   * under back-pressure. `protocol` labels the metrics: "remote_write_v1", "remote_write_v2", "otlp".
   *
   * Not an async function on purpose: an async function keeps its parameters and locals alive
   * across its awaits, so the request (its sample columns, often off-heap buffers) would live
   * until the WAL's fsync, long enough to be promoted to the old generation under load; each one
   * then waited for a full mark-compact (the GC helper threads were a fifth of the ingest CPU).
   * begin() does the synchronous work and keeps only counts for after the fsync.
   */
  ingest(tenant: string, protocol: string, req: IngestRequest): Promise<IngestResult> {
    let pending: PendingIngest;
    try {
      pending = this.begin(tenant, protocol, req);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return pending.durable.then(pending.finish);
  }

  /**
   * The synchronous part of ingest(): limits applied, the kept samples handed to the engine
   * (logged and in the memtable when this returns, unless refused). Await `durable`, then call
   * `finish` for the result (it also counts the samples in /metrics). Holds no reference to the
   * request's columns.
   */
  begin(tenant: string, protocol: string, req: IngestRequest): PendingIngest {
    const limits = this.limitsFor(tenant);
    const rejected = new RejectionTally();
    rejected.merge(req.rejected);
    if (req.batch !== undefined && req.series.length > 0) throw new Error('IngestRequest: series and batch are exclusive');
    const input = req.batch ?? batchOfSeries(req.series);
    const withZeros = this.withStartZeros(tenant, input);
    const droppedSeries = req.exemplars.length > 0 ? new Set<string>() : undefined;
    const kept = this.applyLimits(tenant, limits, withZeros.batch, rejected, droppedSeries);
    const exemplars = this.admitExemplars(tenant, req.exemplars, droppedSeries, rejected);
    let exemplarsWritten = 0;
    const sink = this.opts.exemplars;
    const onLogged = exemplars.length > 0 && sink !== undefined ? () => (exemplarsWritten = sink.append(tenant, exemplars)) : undefined;
    const target = this.opts.target;
    const durable = target.appendBatch !== undefined ? target.appendBatch(tenant, kept, exemplars, onLogged) : target.append(tenant, seriesOfBatch(kept), exemplars, onLogged);
    // Injected start zeros are stored but are not samples the sender sent.
    let samplesWritten = batchSampleCount(kept) - withZeros.zeros;
    if (samplesWritten < 0) samplesWritten = 0; // zeros of series then dropped by a limit
    const memo = withZeros.memo;
    const metadata = req.metadata;
    const histogramsWritten = req.histogramsWritten ?? 0;
    const finish = (): IngestResult => {
      for (let i = 0; i < memo.length; i += 2) {
        if (this.startInjected.size >= START_TIMESTAMP_MEMO_ENTRIES_MAX) this.startInjected.clear();
        this.startInjected.set(memo[i] as string, memo[i + 1] as number);
      }
      if (metadata.length > 0) this.opts.metadata?.add(tenant, metadata);
      this.samplesWritten.inc({ protocol }, samplesWritten);
      if (exemplarsWritten > 0) this.exemplarsWritten.inc({ protocol }, exemplarsWritten);
      for (const [reason, r] of rejected.byReason) {
        if (reason === 'invalid_exemplar') this.rejectedExemplars.inc({ protocol, reason }, r.samples);
        else this.rejectedSamples.inc({ protocol, reason }, r.samples);
      }
      return { samplesWritten, exemplarsWritten, histogramsWritten, rejected };
    };
    return { durable, finish };
  }

  /** Exemplars of series a limit dropped are dropped too (tallied); the store admits the rest. */
  private admitExemplars(tenant: string, all: readonly ExemplarInput[], droppedSeries: Set<string> | undefined, rejected: RejectionTally): ExemplarInput[] {
    if (all.length === 0) return [];
    let candidates: readonly ExemplarInput[] = all;
    if (droppedSeries !== undefined && droppedSeries.size > 0) {
      const kept: ExemplarInput[] = [];
      for (const e of all) {
        if (!droppedSeries.has(e.seriesKey)) kept.push(e);
        else rejected.add('invalid_exemplar', 1, 0, `exemplar of ${seriesText(e.seriesLabels)} not stored: the series was rejected`);
      }
      candidates = kept;
    }
    const sink = this.opts.exemplars;
    if (sink === undefined) {
      // No store configured (library use without one): ignored, but never silently.
      this.exemplarsIgnored.inc({}, candidates.length);
      return [];
    }
    return sink.admit(tenant, candidates, rejected);
  }

  /**
   * Start timestamps become a sample of value 0 at the start time, as Prometheus does with
   * created-timestamp zero ingestion: a counter was 0 when it started, so the zero is a true
   * point, and it lets rate()/increase() count the first increments after a reset or a new series.
   * A bounded map remembers the last start injected per series so a steady counter costs one zero
   * per start, not one per request; after a restart (or eviction) the same zero may be written
   * again, which is a duplicate point with the same value (the last write wins). A series' zeros
   * go before its samples. Returns the batch itself when no zero is injected.
   */
  private withStartZeros(tenant: string, batch: AppendBatch): { batch: AppendBatch; zeros: number; memo: Array<string | number> } {
    const starts = batch.startTimestampsMs;
    // (key, start) pairs remembered only once the append succeeded: a refused request (429) must
    // inject its zeros again when it is retried.
    const memo: Array<string | number> = [];
    if (starts === undefined) return { batch, zeros: 0, memo };
    const { series, offsets, timestampsMs: ts } = batch;
    /** Per series index with zeros: its zero timestamps (ascending series order). */
    let zerosOf: Map<number, number[]> | undefined;
    let zerosTotal = 0;
    for (let i = 0; i < series.length; i++) {
      const from = offsets[i]!;
      const to = offsets[i + 1]!;
      let j = from;
      // Most series have no start timestamps: find the first sample that has one.
      while (j < to && !(starts[j]! > 0)) j++;
      if (j === to) continue;
      const s = series[i]!;
      const memoKey = `${tenant}\u0000${s.key}`;
      let last = this.startInjected.get(memoKey) ?? -Infinity;
      let zeros: number[] | undefined;
      for (; j < to; j++) {
        const st = starts[j]!;
        // Only a start strictly before its sample makes sense; equal or later is ignored (as upstream).
        if (!(st > 0) || !(st < ts[j]!) || st === last) continue;
        (zeros ??= []).push(st);
        last = st;
      }
      if (zeros === undefined) continue;
      memo.push(memoKey, last);
      (zerosOf ??= new Map()).set(i, zeros);
      zerosTotal += zeros.length;
    }
    if (zerosOf === undefined) return { batch: { series, offsets, timestampsMs: ts, values: batch.values }, zeros: 0, memo };
    const n = batchSampleCount(batch) + zerosTotal;
    const outTs = new Float64Array(n);
    const outValues = new Float64Array(n); // zeros are already 0
    const outOffsets = new Uint32Array(series.length + 1);
    let at = 0;
    for (let i = 0; i < series.length; i++) {
      const zeros = zerosOf.get(i);
      if (zeros !== undefined) {
        outTs.set(zeros, at);
        at += zeros.length;
      }
      const from = offsets[i]!;
      const to = offsets[i + 1]!;
      outTs.set(ts.subarray(from, to), at);
      outValues.set(batch.values.subarray(from, to), at);
      at += to - from;
      outOffsets[i + 1] = at;
    }
    return { batch: { series, offsets: outOffsets, timestampsMs: outTs, values: outValues }, zeros: zerosTotal, memo };
  }

  /**
   * Drops series and samples that break a limit; returns the batch to store (the input itself
   * when nothing is dropped, else a compacted copy).
   */
  private applyLimits(tenant: string, lim: TenantLimits, batch: AppendBatch, rejected: RejectionTally, droppedSeries?: Set<string>): AppendBatch {
    const now = this.nowMs();
    const tMin = lim.sampleAgeMaxMs > 0 ? now - lim.sampleAgeMaxMs : -Infinity;
    const tMax = now + lim.sampleFutureMaxMs;
    const target = this.opts.target;
    const { series, offsets, timestampsMs: ts } = batch;
    const count = series.length;
    // One pass over all timestamps: nearly always every sample is inside the window.
    const total = batchSampleCount(batch);
    let allInWindow = true;
    for (let j = 0; j < total; j++) {
      const t = ts[j]!;
      if (!(t >= tMin && t <= tMax)) {
        allInWindow = false;
        break;
      }
    }
    // The per-series registry lookup is only needed near the series limit.
    let seriesRoom = lim.seriesActiveMax > 0 ? lim.seriesActiveMax - target.seriesCount(tenant) : Infinity;
    const checkEachSeries = seriesRoom < count;
    const newKeys = checkEachSeries ? new Set<string>() : undefined;
    /** Per series: KEEP_ALL, DROP, or KEEP_IN_WINDOW; allocated at the first series not kept whole. */
    let decisions: Uint8Array | undefined;
    for (let i = 0; i < count; i++) {
      const s = series[i]!;
      const from = offsets[i]!;
      const to = offsets[i + 1]!;
      let decision = KEEP_ALL;
      // Cached label sets remember that they passed under these limits (SeriesRefMemo).
      const memo = s.refMemo;
      let labelReject: ReturnType<typeof labelLimitViolation>;
      if (memo === undefined || memo.labelLimitsPassed !== lim) {
        labelReject = labelLimitViolation(s.labels, lim);
        if (labelReject === undefined && memo !== undefined) memo.labelLimitsPassed = lim;
      }
      if (labelReject !== undefined) {
        rejected.add(labelReject.reason, to - from, 1, labelReject.message);
        droppedSeries?.add(s.key);
        decision = DROP;
      } else {
        if (!allInWindow) decision = this.tallyOutOfWindow(s, ts, from, to, tMin, tMax, now, rejected);
        if (decision !== DROP && checkEachSeries && !target.hasSeries(tenant, s.key) && !newKeys!.has(s.key)) {
          if (seriesRoom <= 0) {
            const kept = decision === KEEP_ALL ? to - from : countInWindow(ts, from, to, tMin, tMax);
            rejected.add('series_limit', kept, 1, `tenant ${JSON.stringify(tenant)} has reached its limit of ${lim.seriesActiveMax} active series; new series ${seriesText(s.labels)} rejected`);
            droppedSeries?.add(s.key);
            decision = DROP;
          } else {
            seriesRoom--;
            newKeys!.add(s.key);
          }
        }
      }
      if (decision !== KEEP_ALL) (decisions ??= new Uint8Array(count))[i] = decision;
    }
    if (decisions === undefined) return batch;
    return compactBatch(batch, decisions, tMin, tMax);
  }

  /**
   * Tallies the samples of one series outside [tMin, tMax]; returns KEEP_ALL when there are none,
   * DROP when there is nothing else, else KEEP_IN_WINDOW.
   */
  private tallyOutOfWindow(s: BatchSeries, ts: Float64Array, from: number, to: number, tMin: number, tMax: number, now: number, rejected: RejectionTally): number {
    let old = 0;
    let bad = 0;
    let oldExample = -1;
    let newExample = -1;
    for (let j = from; j < to; j++) {
      const t = ts[j]!;
      if (t >= tMin && t <= tMax) continue;
      bad++;
      if (t < tMin) {
        old++;
        oldExample = t;
      } else newExample = t;
    }
    if (bad === 0) return KEEP_ALL;
    const name = seriesText(s.labels);
    if (old > 0) rejected.add('sample_too_old', old, 0, `sample of ${name} at ${new Date(oldExample).toISOString()} is older than the limit of ${new Date(tMin).toISOString()}`);
    if (bad - old > 0) rejected.add('sample_too_new', bad - old, 0, `sample of ${name} at ${new Date(newExample).toISOString()} is more than ${Math.round((tMax - now) / 1000)}s in the future`);
    return bad === to - from ? DROP : KEEP_IN_WINDOW;
  }
}

const KEEP_ALL = 0;
const DROP = 1;
const KEEP_IN_WINDOW = 2;

function countInWindow(ts: Float64Array, from: number, to: number, tMin: number, tMax: number): number {
  let n = 0;
  for (let j = from; j < to; j++) if (ts[j]! >= tMin && ts[j]! <= tMax) n++;
  return n;
}

/** A copy of the batch without the DROPped series and, for KEEP_IN_WINDOW ones, without their samples outside [tMin, tMax]. */
function compactBatch(batch: AppendBatch, decisions: Uint8Array, tMin: number, tMax: number): AppendBatch {
  const { series, offsets, timestampsMs: ts, values } = batch;
  const outSeries: BatchSeries[] = [];
  let total = 0;
  for (let i = 0; i < series.length; i++) {
    const d = decisions[i]!;
    if (d === DROP) continue;
    total += d === KEEP_ALL ? offsets[i + 1]! - offsets[i]! : countInWindow(ts, offsets[i]!, offsets[i + 1]!, tMin, tMax);
  }
  const outTs = new Float64Array(total);
  const outValues = new Float64Array(total);
  const outOffsets: number[] = [0];
  let k = 0;
  for (let i = 0; i < series.length; i++) {
    const d = decisions[i]!;
    if (d === DROP) continue;
    for (let j = offsets[i]!; j < offsets[i + 1]!; j++) {
      const t = ts[j]!;
      if (d === KEEP_IN_WINDOW && !(t >= tMin && t <= tMax)) continue;
      outTs[k] = t;
      outValues[k++] = values[j]!; // Float64Array to Float64Array: NaN payloads survive
    }
    outSeries.push(series[i]!);
    outOffsets.push(k);
  }
  return { series: outSeries, offsets: Uint32Array.from(outOffsets), timestampsMs: outTs, values: outValues };
}

function labelLimitViolation(labels: Labels, lim: TenantLimits): { reason: RejectReason; message: string } | undefined {
  if (labels.length > lim.labelsPerSeriesMax) {
    return { reason: 'too_many_labels', message: `series ${seriesText(labels)} has ${labels.length} labels, above the limit of ${lim.labelsPerSeriesMax}` };
  }
  for (const l of labels) {
    // String length in UTF-16 units is a lower bound of the UTF-8 bytes; only long ones need the exact count.
    if (l.name.length * 3 > lim.labelNameBytesMax && Buffer.byteLength(l.name) > lim.labelNameBytesMax) {
      return { reason: 'label_name_too_long', message: `label name ${JSON.stringify(l.name.slice(0, 64))}... of series ${seriesText(labels)} is longer than ${lim.labelNameBytesMax} bytes` };
    }
    if (l.value.length * 3 > lim.labelValueBytesMax && Buffer.byteLength(l.value) > lim.labelValueBytesMax) {
      return { reason: 'label_value_too_long', message: `value of label ${l.name} of series ${seriesText(labels)} is longer than ${lim.labelValueBytesMax} bytes` };
    }
  }
  return undefined;
}

const SERIES_TEXT_CHARS_MAX = 256;
/** Bound of the start-timestamp memo (withStartZeros); cleared when full. */
const START_TIMESTAMP_MEMO_ENTRIES_MAX = 1_000_000;

/** `name{a="b",...}` for messages, cut at SERIES_TEXT_CHARS_MAX. */
export function seriesText(labels: Labels): string {
  let name = '';
  const rest: string[] = [];
  for (const l of labels) {
    if (l.name === '__name__') name = l.value;
    else rest.push(`${l.name}=${JSON.stringify(l.value)}`);
  }
  const text = `${name}{${rest.join(', ')}}`;
  return text.length > SERIES_TEXT_CHARS_MAX ? `${text.slice(0, SERIES_TEXT_CHARS_MAX)}...` : text;
}

/** Thrown by decoders for a body that is not valid at all (nothing of it is stored). */
export function badIngestBody(code: 'BAD_REMOTE_WRITE' | 'BAD_OTLP', message: string): MochaError {
  return new MochaError(code, message);
}
