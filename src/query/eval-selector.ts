// Evaluation of selectors over a step grid, with Prometheus 3 semantics.
//
// The evaluator works on the whole grid of evaluation times at once (an instant query is a
// grid of one step): every node evaluates to one value per step. Instant vectors are kept as
// dense per-step columns (StepSeries: values + presence), which binary operators and
// aggregations of the next stage combine step by step without re-reading storage.
//
// Selector rules (Prometheus 3):
//   - an instant vector at time t takes, per series, the latest sample in (t - lookback, t];
//     if that sample is a stale marker the series has no value at t;
//   - a range vector m[r] at t takes the samples in (t - r, t] without stale markers;
//   - `offset o` shifts the window to end at t - o; `@ T` pins t to T (start()/end() being
//     the query's start and end); both apply together as (T - o).
// Each selector reads storage once for the whole grid and walks the steps with a moving index.
import { RAW_BATCH_SAMPLES_MAX } from '../constants.js';
import { MochaError } from '../errors.js';
import type { Labels } from '../model/labels.js';
import type { BucketSelection, Querier, SelectHints, SeriesData } from '../model/querier.js';
import type { RollupLevel } from '../rollup/levels.js';
import { joinedLength, type BucketField } from '../rollup/buckets.js';
import { isStaleAt } from '../model/samples.js';
import type { AtModifier, MatrixSelector, VectorSelector } from './ast.js';
import { QueryAnnotations } from './annotations.js';
import { RollupPlan } from './rollup-planner.js';

/** An instant vector series over the step grid: values[k] is meaningful where present[k] is 1. */
export interface StepSeries {
  readonly labels: Labels;
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

/**
 * The present steps of a step column as samples at startMs + k * stepMs; undefined when no step
 * is present (such series are left out of matrices).
 */
export function stepSeriesToSamples(s: StepSeries, startMs: number, stepMs: number, stepCount: number): SeriesData | undefined {
  let count = 0;
  for (let k = 0; k < stepCount; k++) count += s.present[k]!;
  if (count === 0) return undefined;
  const ts = new Float64Array(count);
  const vals = new Float64Array(count);
  let w = 0;
  for (let k = 0; k < stepCount; k++) {
    if (s.present[k] === 0) continue;
    ts[w] = startMs + k * stepMs;
    vals[w] = s.values[k]!;
    w++;
  }
  return { labels: s.labels, timestampsMs: ts, values: vals };
}

export type EvalValue =
  | { readonly type: 'scalar'; readonly values: Float64Array }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'vector'; readonly series: StepSeries[] }
  /** Range vectors are materialised only at a single evaluation time (instant queries). */
  | { readonly type: 'matrix'; readonly series: SeriesData[] };

/**
 * What one query has used of its limits. Shared by the query's context and every subquery
 * context made from it (EvalContext.subgrid), so work inside a subquery counts against the
 * same samplesMax as the rest of the query.
 */
interface QueryUsage {
  /** Output cells (series x steps) allocated so far (never released: a conservative bound). */
  cellsUsed: number;
  /** Samples (and rollup buckets) loaded from storage and still held; cellsUsed + samplesHeld <= samplesMax. */
  samplesHeld: number;
  /** Samples (and rollup buckets) loaded from storage so far, released or not (stats). */
  samplesLoaded: number;
}

/** Shared state of one query evaluation: the grid, the limits, and what has been used of them. */
export class EvalContext {
  // Not readonly: subgrid() replaces them on the child it builds, with the parent's.
  private usage: QueryUsage = { cellsUsed: 0, samplesHeld: 0, samplesLoaded: 0 };
  private deadlineMs: number;
  /** The query's own start and end, which `@ start()` / `@ end()` mean even inside subqueries. */
  private queryStartMs: number;
  private queryEndMs: number;
  /** Warnings and infos of the whole query; shared with subquery contexts like usage. */
  annotations = new QueryAnnotations();
  /** The resolution asked for and the levels chosen (rollup-planner.ts); shared with subquery contexts. */
  rollupPlan = new RollupPlan();
  /** Whether the result carries stats (QueryOptions.stats). */
  wantsStats = false;

  constructor(
    readonly querier: Querier,
    readonly startMs: number,
    readonly endMs: number,
    /** > 0; for an instant query any positive value (the grid has one step). */
    readonly stepMs: number,
    readonly stepCount: number,
    readonly lookbackDeltaMs: number,
    readonly samplesMax: number,
    readonly seriesMax: number,
    timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.deadlineMs = Date.now() + timeoutMs;
    this.queryStartMs = startMs;
    this.queryEndMs = endMs;
  }

  /**
   * A context for a subquery's own grid (startMs + k * stepMs, k < stepCount): same querier,
   * lookback and limits, and the same deadline, abort signal and usage counters as this one, so
   * what the subquery loads and allocates is charged to the whole query. `@ start()` /
   * `@ end()` keep resolving to the outer query's start and end, as in Prometheus.
   */
  subgrid(startMs: number, endMs: number, stepMs: number, stepCount: number): EvalContext {
    if (!(stepMs > 0) || !(stepCount >= 1) || !Number.isInteger(stepCount)) {
      throw new MochaError('INTERNAL', `invalid subquery grid: step ${stepMs} ms, ${stepCount} steps`);
    }
    const child = new EvalContext(
      this.querier,
      startMs,
      endMs,
      stepMs,
      stepCount,
      this.lookbackDeltaMs,
      this.samplesMax,
      this.seriesMax,
      0,
      this.signal,
    );
    child.usage = this.usage;
    child.annotations = this.annotations;
    child.rollupPlan = this.rollupPlan;
    child.deadlineMs = this.deadlineMs;
    child.queryStartMs = this.queryStartMs;
    child.queryEndMs = this.queryEndMs;
    return child;
  }

  /** Samples loaded from storage so far by the whole query (subqueries included). */
  get samplesLoadedCount(): number {
    return this.usage.samplesLoaded;
  }

  stepTimeMs(k: number): number {
    return this.startMs + k * this.stepMs;
  }

  /** The time a selector with these modifiers reads at step k (before the lookback/range). */
  selectorTimeMs(at: AtModifier, offsetMs: number, k: number): number {
    const base = at === undefined ? this.stepTimeMs(k) : at === 'start' ? this.queryStartMs : at === 'end' ? this.queryEndMs : at;
    return base - offsetMs;
  }

  /** Throws QUERY_TIMEOUT / QUERY_CANCELED once the query has run out of time or was aborted. */
  checkCancel(): void {
    if (this.signal?.aborted) {
      const reason: unknown = this.signal.reason;
      if (reason instanceof Error && reason.name === 'TimeoutError') throw new MochaError('QUERY_TIMEOUT', 'query timed out in query execution');
      throw new MochaError('QUERY_CANCELED', 'query was canceled in query execution');
    }
    if (Date.now() > this.deadlineMs) throw new MochaError('QUERY_TIMEOUT', 'query timed out in query execution');
  }

  /** What is left of samplesMax: samples the query may still hold. */
  private samplesLeft(): number {
    return this.samplesMax - this.usage.cellsUsed - this.usage.samplesHeld;
  }

  /** Charges n samples (or buckets) loaded and held; throws once more are held than samplesMax allows. */
  private hold(n: number): void {
    const u = this.usage;
    u.samplesLoaded += n;
    u.samplesHeld += n;
    if (u.cellsUsed + u.samplesHeld > this.samplesMax) throw tooManySamples();
  }

  /**
   * Storage read with the query-wide limits, all series at once: their samples stay charged
   * until the query ends (a matrix result keeps them; other callers hold them while they walk).
   * Selectors that walk series one by one use selectBatches instead.
   */
  async select(vs: VectorSelector, minTMs: number, maxTMs: number): Promise<SeriesData[]> {
    const hints: SelectHints = { samplesMax: this.samplesLeft(), seriesMax: this.seriesMax };
    const series = await this.querier.selectSeries(vs.matchers, minTMs, maxTMs, hints);
    this.checkCancel();
    this.checkSeriesCount(series.length);
    let n = 0;
    for (const s of series) n += s.timestampsMs.length;
    this.hold(n);
    return series;
  }

  /**
   * Storage read in batches of series (Querier.selectSeriesBatches), in label order: a batch's
   * samples are charged while the caller holds it and released when it asks for the next, so
   * the samples limit bounds what is in memory at once (Prometheus' --query.max-samples), not
   * what the query reads in total. A batch is at most RAW_BATCH_SAMPLES_MAX samples and at most
   * what is left of the limit with room for each series' output column, but always one whole
   * series: one series' samples over the range must fit in what is left. Queriers without
   * batches answer in one batch.
   */
  async *selectBatches(vs: VectorSelector, minTMs: number, maxTMs: number): AsyncGenerator<readonly SeriesData[]> {
    const q = this.querier;
    const u = this.usage;
    let batches: AsyncIterable<SeriesData[]>;
    if (q.selectSeriesBatches !== undefined) {
      const batchSamplesMax = () => Math.max(1, Math.min(RAW_BATCH_SAMPLES_MAX, this.samplesLeft()));
      // Each series of a batch may add a column of output cells while the batch is held.
      batches = q.selectSeriesBatches(vs.matchers, minTMs, maxTMs, { seriesMax: this.seriesMax, batchSamplesMax, seriesCost: this.stepCount });
    } else {
      const all = await q.selectSeries(vs.matchers, minTMs, maxTMs, { samplesMax: this.samplesLeft(), seriesMax: this.seriesMax });
      this.checkSeriesCount(all.length);
      batches = oneBatch(all);
    }
    for await (const batch of batches) {
      this.checkCancel();
      let n = 0;
      for (const s of batch) n += s.timestampsMs.length;
      try {
        this.hold(n);
        yield batch;
      } finally {
        u.samplesHeld -= n;
      }
    }
  }

  private checkSeriesCount(count: number): void {
    if (count > this.seriesMax) throw new MochaError('QUERY_TOO_MANY_SERIES', `query selects ${count} series; the limit is ${this.seriesMax}`);
  }

  /**
   * Buckets of a level (Querier.selectBuckets) with the query-wide limits: a bucket counts as a
   * sample, held until the query ends (the rollup planner walks them all at once). `fields`:
   * the bucket fields the caller reads (SelectHints.bucketFields; default all).
   */
  async selectBuckets(vs: VectorSelector, level: RollupLevel, minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketSelection> {
    const q = this.querier;
    if (q.selectBuckets === undefined) throw new MochaError('INTERNAL', 'the querier has no rollup levels');
    const hints: SelectHints = { samplesMax: this.samplesLeft(), seriesMax: this.seriesMax, ...(fields !== undefined ? { bucketFields: fields } : {}) };
    const sel = await q.selectBuckets(vs.matchers, level, minTMs, maxTMs, hints);
    this.checkCancel();
    let n = 0;
    // From the runs when the selection has them: reading `buckets` would join them (SeriesRunsJoiner).
    for (const s of sel.series) n += s.runs !== undefined ? joinedLength(s.runs) : s.buckets.length;
    this.hold(n);
    this.checkSeriesCount(sel.series.length);
    return sel;
  }

  /**
   * Reserves one output column of the grid (dense series x steps is what costs memory). Columns
   * are zeroed views of slabs of several columns: a typed array of its own above 64 bytes is an
   * off-heap allocation V8 makes slowly (a 30-day query's 500 columns took 16% of it).
   */
  allocStepSeries(labels: Labels): StepSeries {
    const u = this.usage;
    const n = this.stepCount;
    u.cellsUsed += n;
    if (u.cellsUsed + u.samplesHeld > this.samplesMax) throw tooManySamples();
    let slab = this.columnSlab;
    if (slab === undefined || slab.used === slab.columns) {
      // The first slab holds a few columns, each next one twice as many (up to the cap): a
      // context that needs one column (an instant query, a subquery) wastes little.
      const columns = Math.max(1, Math.min(slab === undefined ? COLUMN_SLAB_COLUMNS_FIRST : 2 * slab.columns, Math.floor(COLUMN_SLAB_CELLS / Math.max(1, n))));
      slab = this.columnSlab = { values: new Float64Array(columns * n), present: new Uint8Array(columns * n), columns, used: 0 };
    }
    const at = slab.used++ * n;
    return { labels, values: slab.values.subarray(at, at + n), present: slab.present.subarray(at, at + n) };
  }
  /** Where allocStepSeries cuts its next column from (columns are handed out once, never reused). */
  private columnSlab: { values: Float64Array; present: Uint8Array; columns: number; used: number } | undefined;
}

/** Cells per slab of step columns at most: 256 KiB of values (e.g. 45 columns of a 30-day query at 1 h steps). */
const COLUMN_SLAB_CELLS = 32 * 1024;
const COLUMN_SLAB_COLUMNS_FIRST = 4;

async function* oneBatch(series: SeriesData[]): AsyncGenerator<SeriesData[]> {
  yield series;
}

function tooManySamples(): MochaError {
  return new MochaError('QUERY_TOO_MANY_SAMPLES', 'query processing would load too many samples into memory in query execution');
}

/** Instant vector selector over the whole grid: one storage read in batches of series, one forward walk per series. */
export async function evalVectorSelector(ctx: EvalContext, vs: VectorSelector): Promise<StepSeries[]> {
  const n = ctx.stepCount;
  const firstMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, 0);
  const lastMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, n - 1);
  const out: StepSeries[] = [];
  for await (const batch of ctx.selectBatches(vs, firstMs - ctx.lookbackDeltaMs, lastMs)) {
    for (const s of batch) {
      ctx.checkCancel();
      const col = vectorColumn(ctx, vs, s);
      if (col !== undefined) out.push(col);
    }
  }
  return out;
}

/** One series' instant vector over the grid: the latest sample in (t - lookback, t] per step. */
function vectorColumn(ctx: EvalContext, vs: VectorSelector, s: SeriesData): StepSeries | undefined {
  const n = ctx.stepCount;
  const lookback = ctx.lookbackDeltaMs;
  const ts = s.timestampsMs;
  const len = ts.length;
  let col: StepSeries | undefined;
  // j: first sample after the current step's time. Step times never decrease, so j only moves forward.
  let j = 0;
  for (let k = 0; k < n; k++) {
    const t = ctx.selectorTimeMs(vs.at, vs.offsetMs, k);
    while (j < len && ts[j]! <= t) j++;
    const i = j - 1;
    if (i < 0 || ts[i]! <= t - lookback || isStaleAt(s.values, i)) continue;
    col ??= ctx.allocStepSeries(s.labels);
    col.values[k] = s.values[i]!;
    col.present[k] = 1;
  }
  return col;
}

/**
 * Range vector selector at one evaluation time (step k of the grid): the samples in
 * (t - range, t], stale markers dropped, original timestamps kept; empty series omitted.
 */
export async function evalMatrixSelectorAt(ctx: EvalContext, ms: MatrixSelector, k: number): Promise<SeriesData[]> {
  const vs = ms.vector;
  const t = ctx.selectorTimeMs(vs.at, vs.offsetMs, k);
  const loaded = await ctx.select(vs, t - ms.rangeMs, t);
  const out: SeriesData[] = [];
  for (const s of loaded) {
    ctx.checkCancel();
    const w = windowSamples(s, t - ms.rangeMs, t);
    if (w.timestampsMs.length > 0) out.push(w);
  }
  return out;
}

/** Samples of s with lowMs < t <= highMs, stale markers removed; subarrays when nothing is dropped. */
export function windowSamples(s: SeriesData, lowMs: number, highMs: number): SeriesData {
  const ts = s.timestampsMs;
  let from = lowerBoundAfter(ts, lowMs);
  let to = lowerBoundAfter(ts, highMs);
  let stale = 0;
  for (let i = from; i < to; i++) if (isStaleAt(s.values, i)) stale++;
  if (stale === 0) return { labels: s.labels, timestampsMs: ts.subarray(from, to), values: s.values.subarray(from, to) };
  const outT = new Float64Array(to - from - stale);
  const outV = new Float64Array(to - from - stale);
  let w = 0;
  for (; from < to; from++) {
    if (isStaleAt(s.values, from)) continue;
    outT[w] = ts[from]!;
    // Only the stale marker's NaN payload carries meaning, and stale markers are dropped here.
    outV[w] = s.values[from]!;
    w++;
  }
  return { labels: s.labels, timestampsMs: outT, values: outV };
}

/** First index i with ts[i] > x (ts sorted ascending). */
export function lowerBoundAfter(ts: Float64Array, x: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
