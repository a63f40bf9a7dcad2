// What ingest/ hands to the engine: protocol-free, validated series with their samples.
import type { Labels } from './labels.js';

/**
 * The series ref a cached label set got in one tenant's registry, remembered on the decoders'
 * label-cache entry and so shared by every request that carries that label set: the engine then
 * skips the registry lookup by key (SeriesRegistry.getRef). Valid only while `registry` is the
 * tenant's registry and its epoch is unchanged (refs are dropped or re-pointed only when the epoch
 * moves); anything else is a miss that the engine refills. Mutable on purpose.
 */
export interface SeriesRefMemo {
  registry: object | undefined;
  epoch: number;
  ref: number;
  /**
   * The last tenant limits object (TenantLimits, compared by identity) these labels passed the
   * pipeline's label checks under: the same labels under the same limits pass again, so the
   * pipeline skips the check. Limits objects are never changed in place.
   */
  labelLimitsPassed: object | undefined;
}

export function newSeriesRefMemo(): SeriesRefMemo {
  return { registry: undefined, epoch: -1, ref: 0, labelLimitsPassed: undefined };
}

export interface AppendSeries {
  /** Sorted, unique names, non-empty values; validated by ingest/. */
  readonly labels: Labels;
  /** labelsKey(labels). */
  readonly key: string;
  /** Milliseconds; any order, duplicates allowed (the last one wins). */
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  /**
   * Optional, cumulative series only (counters, histogram _bucket/_sum/_count, summary _sum/_count):
   * the start ("created") timestamp of each sample in ms, 0 when unknown. The ingest pipeline turns
   * it into a zero sample at that time (ingest/pipeline.ts); the engine ignores it.
   */
  readonly startTimestampsMs?: Float64Array;
  /** See SeriesRefMemo; absent when the labels did not come from a cache. */
  readonly refMemo?: SeriesRefMemo;
}

/** One series of an AppendBatch. A decoder's cached label set (ValidatedLabels) is used as it is. */
export interface BatchSeries {
  /** Sorted, unique names, non-empty values; validated by ingest/. */
  readonly labels: Labels;
  /** labelsKey(labels). */
  readonly key: string;
  /** See SeriesRefMemo; absent when the labels did not come from a cache. */
  readonly refMemo?: SeriesRefMemo;
}

/**
 * One request's series and samples in columns: what the ingest pipeline hands the engine. All
 * samples share two arrays, and series i owns [offsets[i], offsets[i + 1]) of them, so a request
 * of 2000 series costs a handful of objects instead of an AppendSeries and two typed-array views
 * per series (their garbage, alive across the WAL fsync wait, was a fifth of the ingest CPU).
 * The same label set may appear more than once; a series may own no samples (it is still created).
 */
export interface AppendBatch {
  readonly series: readonly BatchSeries[];
  /** Length series.length + 1; offsets[0] = 0, non-decreasing, the last is the sample count. */
  readonly offsets: Uint32Array;
  /** Milliseconds; any order within a series, duplicates allowed (the last one wins). At least offsets[series.length] long. */
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  /** As AppendSeries.startTimestampsMs, per sample (0: unknown); absent when no sample has one. */
  readonly startTimestampsMs?: Float64Array;
}

export function batchSampleCount(b: AppendBatch): number {
  return b.offsets[b.series.length]!;
}

/** Packs per-series objects into one batch (copies the samples). */
export function batchOfSeries(series: readonly AppendSeries[]): AppendBatch {
  const n = series.length;
  const offsets = new Uint32Array(n + 1);
  let total = 0;
  let anyStarts = false;
  for (let i = 0; i < n; i++) {
    const s = series[i]!;
    total += s.timestampsMs.length;
    offsets[i + 1] = total;
    if (s.startTimestampsMs !== undefined) anyStarts = true;
  }
  const timestampsMs = new Float64Array(total);
  const values = new Float64Array(total);
  const startTimestampsMs = anyStarts ? new Float64Array(total) : undefined;
  for (let i = 0; i < n; i++) {
    const s = series[i]!;
    const at = offsets[i]!;
    timestampsMs.set(s.timestampsMs, at);
    values.set(s.values, at);
    if (s.startTimestampsMs !== undefined) startTimestampsMs!.set(s.startTimestampsMs, at);
  }
  return { series, offsets, timestampsMs, values, ...(startTimestampsMs !== undefined ? { startTimestampsMs } : {}) };
}

function hasStart(starts: Float64Array, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (starts[j]! > 0) return true;
  return false;
}

/**
 * The batch as per-series objects whose arrays are views of the batch's columns (tests, adapters);
 * startTimestampsMs only on series with a start timestamp.
 */
export function seriesOfBatch(b: AppendBatch): AppendSeries[] {
  const out: AppendSeries[] = new Array(b.series.length);
  const starts = b.startTimestampsMs;
  for (let i = 0; i < b.series.length; i++) {
    const s = b.series[i]!;
    const from = b.offsets[i]!;
    const to = b.offsets[i + 1]!;
    out[i] = {
      labels: s.labels,
      key: s.key,
      timestampsMs: b.timestampsMs.subarray(from, to),
      values: b.values.subarray(from, to),
      ...(starts !== undefined && hasStart(starts, from, to) ? { startTimestampsMs: starts.subarray(from, to) } : {}),
      ...(s.refMemo !== undefined ? { refMemo: s.refMemo } : {}),
    };
  }
  return out;
}

/** Tenant ids are path components on disk: a strict charset, documented in docs/API.md. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEFAULT_TENANT = 'default';

export function isValidTenantId(id: string): boolean {
  return TENANT_ID_PATTERN.test(id) && id !== '.' && id !== '..';
}
