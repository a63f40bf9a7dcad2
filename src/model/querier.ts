// The read seam: one Querier over memtable and segments alike (like Prometheus' storage.Querier).
// The PromQL evaluator only talks to this interface; where the data lives is not its concern.
// A later rollup planner adds a method that returns buckets of a level instead of raw samples.
import type { Labels } from './labels.js';
import type { Matcher } from './matchers.js';
import type { BucketField, BucketRange, RollupBuckets } from '../rollup/buckets.js';
import type { RollupLevel } from '../rollup/levels.js';

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
  /**
   * selectBuckets only: the bucket fields the caller reads (default: all). Level segments may
   * leave the others undecoded: they then hold anything.
   */
  readonly bucketFields?: readonly BucketField[];
}

/** What selectSeriesBatches needs besides SelectHints: how big a batch may be. */
export interface BatchHints {
  /** Upper bound on series selected (all batches together); exceeding it throws QUERY_TOO_MANY_SERIES. */
  readonly seriesMax?: number;
  /**
   * Samples one batch should hold at most, asked before each batch (the evaluator's budget
   * shrinks as its output grows). Sized from upper bounds of the series' sample counts, so a
   * batch holds at most this many; a batch always holds at least one series, however big.
   */
  batchSamplesMax(): number;
  /**
   * What each series of a batch costs besides its samples, in samples, counted against
   * batchSamplesMax too: the evaluator's output cells for it (default 0).
   */
  readonly seriesCost?: number;
}

export interface Querier {
  /** Series matching all matchers that have samples in [minTMs, maxTMs], with those samples. */
  selectSeries(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints?: SelectHints): Promise<SeriesData[]>;
  /**
   * The same series and samples as selectSeries, in the same (label) order, cut into batches
   * that are loaded one at a time: the matching series are listed first (postings only), then
   * each batch's samples are read when the consumer asks for it. The consumer is done with a
   * batch's arrays when it asks for the next one, so a query holds one batch of samples at a
   * time instead of all of them (a 30-day range over hundreds of series is gigabytes).
   * Optional: the evaluator calls selectSeries and takes its answer as one batch without it.
   */
  selectSeriesBatches?(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints: BatchHints): AsyncIterable<SeriesData[]>;
  /** Label sets of series matching the matchers with samples in [minTMs, maxTMs] (no samples loaded). */
  series(matchers: readonly Matcher[], minTMs: number, maxTMs: number, limit?: number): Promise<Labels[]>;
  /** Sorted label names of the series selected (all series when matchers is empty). */
  labelNames(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]>;
  /** Sorted values of a label over the series selected. */
  labelValues(name: string, matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]>;
  /** Releases the segment set this querier holds. */
  close(): void;
  /** Rollup levels the planner may choose from, finest first (absent or empty: raw only). */
  readonly rollupLevels?: readonly RollupLevel[];
  /**
   * Buckets of the level's width for series matching all matchers, covering exactly the samples
   * (stale markers included) with minTMs < t <= maxTMs; both bounds are multiples of the width.
   * Served from level segments where they are valid for the time they cover (built from every raw
   * segment there, no newer raw data overlapping), computed from raw samples elsewhere, and joined
   * in time order (concat()). Series without a bucket in the range are left out.
   */
  selectBuckets?(matchers: readonly Matcher[], level: RollupLevel, minTMs: number, maxTMs: number, hints?: SelectHints): Promise<BucketSelection>;
  /**
   * How many level segments of the level, valid for their partition (as selectBuckets uses
   * them), hold part of (minTMs, maxTMs]: metadata only, no data read. The planner reads a level
   * in `auto` mode only when this is > 0 (computing buckets from raw samples costs more than
   * evaluating the raw samples directly).
   */
  levelSegmentsOverlapping?(level: RollupLevel, minTMs: number, maxTMs: number): number;
}

/** One series' buckets at one width, ascending endMs, as the planner evaluates them (rollup/eval.ts). */
export interface SeriesBuckets {
  readonly labels: Labels;
  readonly buckets: RollupBuckets;
  /**
   * Optional: the runs `buckets` is the join of, in time order (one per level segment read), for
   * evaluators that can walk them without the join (evalRollupGridRuns); `buckets` may then be
   * joined only when first read.
   */
  readonly runs?: readonly BucketRange[];
}

export interface BucketSelection {
  readonly series: SeriesBuckets[];
  /** Level segments read, and time pieces computed from raw samples instead (for stats/explain). */
  readonly levelSegmentsRead: number;
  readonly rawPiecesRead: number;
  /**
   * Optional: gives the memory the series' buckets were joined into back for reuse by later
   * selections. Call it once (more calls do nothing) when nothing reads the buckets any more;
   * without the call they are simply garbage collected.
   */
  readonly release?: () => void;
}

/** A series' buckets as one level segment holds them (keyed like SourceSeries). */
export interface SourceBuckets extends SeriesBuckets {
  readonly key: string;
}

/**
 * A level segment as the bucket querier reads it (implemented by segment/level-reader.ts): the
 * buckets of width widthMs of the samples with partitionStartMs <= t < partitionEndMs of the raw
 * segments named in `sources` (edge buckets are partial; concat() joins them across partitions).
 */
export interface BucketSource {
  readonly level: string;
  readonly widthMs: number;
  readonly partitionStartMs: number;
  readonly partitionEndMs: number;
  /** Inclusive bounds of the sample times summarised (stale markers included). */
  readonly minTMs: number;
  readonly maxTMs: number;
  /** Names of the raw segments this level was built from. */
  readonly sources: readonly string[];
  /**
   * Series matching all matchers, each with its buckets that overlap (minTMs, maxTMs], i.e.
   * endMs > minTMs and endMs - widthMs < maxTMs, ascending endMs; series without one are left out.
   * `fields` (all three methods): the fields the caller reads (default: all); the others may
   * hold anything (a level segment decodes a cell only when it is read, SelectHints.bucketFields).
   */
  selectBuckets(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<SourceBuckets[]>;
  /**
   * Optional, preferred by the bucket querier when present: the same buckets as selectBuckets
   * for all selected series in ONE struct of arrays. A RollupBuckets holds 18 typed arrays, and
   * V8 allocates typed arrays slowly (~0.5-4 us each, measured): one per series and segment
   * costs seconds over 1k series x 360 partitions, where one per segment costs nothing.
   */
  selectBucketBatch?(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketBatch>;
  /**
   * Optional, preferred over selectBucketBatch: the same rows without a copy, as row ranges of
   * structs the source keeps (its decoded-block cache): READ ONLY.
   */
  selectBucketRuns?(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketRuns>;
}

/**
 * The buckets of selectBuckets as row ranges: series i (labels[i], keys[i]) has rows
 * [lo[i], hi[i]) (non-empty) of buckets[i], a struct shared with the source and other queries
 * (never written to); in label order.
 */
export interface BucketRuns {
  readonly labels: readonly Labels[];
  readonly keys: readonly string[];
  readonly buckets: readonly RollupBuckets[];
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
}

/**
 * Buckets of many series of one level segment: series i (labels[i], keys[i] = labelsKey) has
 * rows [offsets[i], offsets[i + 1]) of `buckets`, ascending endMs; series without a bucket are
 * left out; in label order.
 */
export interface BucketBatch {
  readonly labels: readonly Labels[];
  readonly keys: readonly string[];
  /** labels.length + 1 entries, ascending, offsets[0] = 0, last = buckets.length. */
  readonly offsets: Uint32Array;
  readonly buckets: RollupBuckets;
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
  /**
   * Optional two-step select for selectSeriesBatches: the series of select(..., true) listed
   * now without samples, their samples loaded on demand. Sources without it (memtable heads,
   * in memory and a few hours long) are read with select() once per selection.
   */
  selectLazily?(matchers: readonly Matcher[], minTMs: number, maxTMs: number, cacheBudget?: CacheBudget): LazySelection;
}

/**
 * Bytes of decoded chunks one selection may still add to the shared chunk cache, shared by all
 * of its sources: a scan over hundreds of segments caches what one segment's share of the
 * bound allows in total, not that share per segment (which flushed the cache and allocated an
 * array per chunk of the scan). Undefined until the first source sets it from its cache.
 */
export interface CacheBudget {
  bytes?: number;
  /** The chunk cache's bound (set with bytes). */
  cacheBytesMax?: number;
}

/**
 * A source's series matching a selector with samples possibly in [minTMs, maxTMs], listed
 * without their samples; index i is one series (labels[i], keys[i]), in the source's order.
 */
export interface LazySelection {
  readonly labels: readonly Labels[];
  readonly keys: readonly string[];
  /** An upper bound on the samples series i has in the range (batch sizing; no data read). */
  readonly samplesBound: ArrayLike<number>;
  /** Reads what series indices[k] need (record batches) and answers for them. */
  load(indices: readonly number[]): Promise<LoadedSamples>;
}

/** The samples of the series a LazySelection.load was asked for; k indexes its `indices`. */
export interface LoadedSamples {
  /** Series indices[k] in the range (views of cached arrays where possible); undefined: no sample there. */
  series(k: number): SourceSeries | undefined;
  /**
   * Writes the samples in the range of series indices[k] into ts/vs from index `at` and returns
   * how many (at most its samplesBound): one series' runs of many sources concatenated into one
   * array without an array per run.
   */
  copyInto(k: number, ts: Float64Array, vs: Float64Array, at: number): number;
}
