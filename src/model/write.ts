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

/** Tenant ids are path components on disk: a strict charset, documented in docs/API.md. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEFAULT_TENANT = 'default';

export function isValidTenantId(id: string): boolean {
  return TENANT_ID_PATTERN.test(id) && id !== '.' && id !== '..';
}
