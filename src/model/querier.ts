// The read seam: one Querier over memtable and segments alike (like Prometheus' storage.Querier).
// The PromQL evaluator only talks to this interface; where the data lives is not its concern.
// A later rollup planner adds a method that returns buckets of a level instead of raw samples.
import type { Labels } from './labels.js';
import type { Matcher } from './matchers.js';

/**
 * One series with its samples in the requested range, sorted by time, timestamps unique.
 * The arrays are read-only for the caller: segment readers hand out views of decoded chunks that
 * their cache shares with other queries (segment/cache.ts). Copy before changing them.
 */
export interface SeriesData {
  readonly labels: Labels;
  readonly timestampsMs: Float64Array;
  /** Stale markers are kept as the stale NaN (see samples.ts); readers decide what they mean. */
  readonly values: Float64Array;
}

export interface SelectHints {
  /** Upper bound on samples loaded; exceeding it throws QUERY_TOO_MANY_SAMPLES. */
  readonly samplesMax?: number;
  /** Upper bound on series selected; exceeding it throws QUERY_TOO_MANY_SERIES. */
  readonly seriesMax?: number;
}

export interface Querier {
  /** Series matching all matchers that have samples in [minTMs, maxTMs], with those samples. */
  selectSeries(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints?: SelectHints): Promise<SeriesData[]>;
  /** Label sets of series matching the matchers with samples in [minTMs, maxTMs] (no samples loaded). */
  series(matchers: readonly Matcher[], minTMs: number, maxTMs: number, limit?: number): Promise<Labels[]>;
  /** Sorted label names of the series selected (all series when matchers is empty). */
  labelNames(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]>;
  /** Sorted values of a label over the series selected. */
  labelValues(name: string, matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]>;
  /** Releases the segment set this querier holds. */
  close(): void;
}

/** A series as one source (memtable head or segment) holds it: samples sorted, unique timestamps. */
export interface SourceSeries extends SeriesData {
  /** labelsKey(labels): lets the merger group the same series across sources without re-keying. */
  readonly key: string;
}

/**
 * What the engine's Querier merges: the active head, frozen heads being flushed, and segments.
 * Implemented by memtable/head.ts and segment/reader.ts. Sources are merged oldest first; for
 * equal timestamps the newer source wins (last write wins).
 */
export interface SeriesSource {
  /** Inclusive bounds of the samples held; a source outside the query range is skipped. */
  readonly minTMs: number;
  readonly maxTMs: number;
  /**
   * Series matching all matchers with at least one sample in [minTMs, maxTMs]. With
   * withSamples=false, timestampsMs/values are empty arrays (only the labels are wanted).
   */
  select(matchers: readonly Matcher[], minTMs: number, maxTMs: number, withSamples: boolean): Promise<SourceSeries[]>;
}
