// PromQL range functions and plain selectors answered from one series' rollup buckets
// (buckets.ts), with the answer Prometheus 3 gives from the raw samples
// (query/eval-range-functions.ts, query/eval-selector.ts), and servable(): whether a level of
// width G gives that exact answer for a query's shape.
//
// A window (t - r, t] is answered by folding the buckets with endMs in it (BucketAccumulator)
// and applying the function to the folded summary; that needs t and r to be multiples of G. The
// "tail" functions (last_over_time, ts_of_last_over_time, present_over_time, irate, idelta)
// only look at the last one or two samples at or before t, whose times the buckets keep, so they
// need t aligned but not r; so do plain selectors, for any lookback.
//
// windowResult() answers from any accumulator holding exactly the window's samples in order, so
// a window whose END is aligned but whose range is not (Grafana's `$__rate_interval` = step +
// scrape interval) is served by "edge extension" (servableWithEdge, evalRollupEdgeWindow): the
// whole buckets of the window plus the part of the first bucket after the window start, taken
// from the bucket's stored last samples when they are all that part holds, else from the raw
// samples of that one bucket (the planner reads them for the series and steps that need them).
//
// "Exact" means bit-identical except where buckets.ts says "up to summation order" (sum_over_time,
// avg_over_time, stddev/stdvar_over_time, and rate/increase of counters with resets when values
// are not integers); the bounds are in buckets.ts' header.
import { extrapolate, rangeSeconds } from '../query/eval-range-functions.js';
import { isStaleAt } from '../model/samples.js';
import { BUCKET_FIELDS, BUCKET_TIME_FIELDS, BucketAccumulator, bucketPieces, neumaier, neumaierOut, type BucketField, type BucketPieces, type BucketRange, type RollupBuckets } from './buckets.js';

/** Plain instant-vector selector (`m`, with the lookback as the "range") in servable() and evalRollupGrid(). */
export const PLAIN_SELECTOR = 'selector';

/**
 * What each function's answers read of a bucket besides BUCKET_TIME_FIELDS (all of which are
 * read too), merges of buckets included: a level read may leave every other field undecoded
 * (a 30-day avg_over_time decodes 10 of the 18 cells of a block). The planner's exactness tests
 * serve levels whose other fields hold garbage (test/helpers/memory-levels.ts), so a field
 * missing here is a wrong answer there.
 */
const VALUE_FIELDS_READ: ReadonlyMap<string, readonly BucketField[]> = new Map<string, readonly BucketField[]>([
  ['count_over_time', []],
  ['present_over_time', []],
  ['ts_of_first_over_time', []],
  ['ts_of_last_over_time', []],
  // lastV in every function of values: an edge bucket of which only the last sample is in the
  // window (evalRollupEdgeWindow) adds that sample.
  ['sum_over_time', ['sum', 'sumC', 'lastV']],
  // mean: the answer when the sum overflows.
  ['avg_over_time', ['sum', 'sumC', 'mean', 'lastV']],
  ['min_over_time', ['min', 'lastV']],
  ['max_over_time', ['max', 'lastV']],
  ['stdvar_over_time', ['mean', 'm2', 'lastV']],
  ['stddev_over_time', ['mean', 'm2', 'lastV']],
  ['first_over_time', ['firstV', 'lastV']],
  ['last_over_time', ['lastV']],
  [PLAIN_SELECTOR, ['lastV']],
  ['irate', ['prevV', 'lastV']],
  ['idelta', ['prevV', 'lastV']],
  // The sample pair across two buckets: the later one's first value against the earlier's last.
  ['resets', ['firstV', 'lastV', 'resets']],
  ['changes', ['firstV', 'lastV', 'changes']],
  ['rate', ['firstV', 'lastV', 'correction']],
  ['increase', ['firstV', 'lastV', 'correction']],
  ['delta', ['firstV', 'lastV', 'correction']],
]);
const FIELDS_READ = new Map<string, readonly BucketField[]>([...VALUE_FIELDS_READ].map(([fn, fs]) => [fn, Object.freeze([...BUCKET_TIME_FIELDS, ...fs])]));

/** The bucket fields evaluating fn (a ROLLUP_FUNCTIONS member or PLAIN_SELECTOR) reads; every field for any other name. */
export function bucketFieldsRead(fn: string): readonly BucketField[] {
  return FIELDS_READ.get(fn) ?? BUCKET_FIELDS;
}

/** Functions answered exactly from buckets covering the whole window. */
const WINDOW_FUNCTIONS: ReadonlySet<string> = new Set([
  'count_over_time',
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'first_over_time',
  'ts_of_first_over_time',
  'rate',
  'increase',
  'delta',
  'resets',
  'changes',
]);

/** Functions that read only the last one or two samples at or before the window's end. */
const TAIL_FUNCTIONS: ReadonlySet<string> = new Set(['last_over_time', 'ts_of_last_over_time', 'present_over_time', 'irate', 'idelta']);

/** Every range function a level can answer (with the alignment servable() checks). */
export const ROLLUP_FUNCTIONS: ReadonlySet<string> = new Set([...WINDOW_FUNCTIONS, ...TAIL_FUNCTIONS]);

function isMultiple(x: number, g: number): boolean {
  return Number.isFinite(x) && x % g === 0; // -0 and negative multiples included
}

/**
 * Whether a level of width G answers `fn(m[rangeMs] offset offsetMs)` (or, for PLAIN_SELECTOR,
 * `m offset offsetMs` with lookback rangeMs) exactly, on the grid startMs + k*stepMs.
 * stepMs 0 means a single evaluation time (instant query). With `@ T`, pass startMs = T and
 * stepMs = 0 (every step reads the same window). The caller still has to check that the level
 * holds every bucket of the windows (retention, partitions not yet rolled up).
 */
export function servable(fn: string, rangeMs: number, stepMs: number, startMs: number, offsetMs: number, G: number): boolean {
  if (!(Number.isInteger(G) && G > 0)) return false;
  const isSelector = fn === PLAIN_SELECTOR;
  if (!isSelector && !ROLLUP_FUNCTIONS.has(fn)) return false;
  if (!(rangeMs > 0) || !Number.isFinite(rangeMs)) return false;
  // Every window end t = start - offset + k*step must be a bucket boundary.
  if (!isMultiple(startMs - offsetMs, G)) return false;
  if (!(stepMs === 0 || (stepMs > 0 && isMultiple(stepMs, G)))) return false;
  // Window functions also need the window start on a boundary.
  if (WINDOW_FUNCTIONS.has(fn) && !isMultiple(rangeMs, G)) return false;
  return true;
}

/**
 * Whether a level of width G answers a WINDOW function whose windows end on bucket boundaries
 * but whose range is NOT a multiple of G, by "edge extension" (evalRollupEdgeWindow): the window
 * (t - r, t] is the whole buckets ending in (e, t] plus the part after t - r of the bucket ending
 * at e = ceil((t - r) / G) * G. That part is known exactly from the bucket when it is empty, the
 * whole bucket, or only the bucket's last sample (the bucket keeps its last two samples' times
 * and values) -- which is the case for Grafana's `$__rate_interval` (= step + one scrape
 * interval) over regular scrapes: the edge is one scrape interval long and holds one sample.
 * Where the edge holds more than the last sample after t - r, the answer needs the raw samples
 * of that edge (evalRollupEdgeWindow returns EDGE_NEEDS_RAW; the planner reads them).
 */
export function servableWithEdge(fn: string, rangeMs: number, stepMs: number, startMs: number, offsetMs: number, G: number): boolean {
  if (!(Number.isInteger(G) && G > 0)) return false;
  if (!WINDOW_FUNCTIONS.has(fn)) return false;
  if (!(rangeMs > 0) || !Number.isFinite(rangeMs)) return false;
  if (!isMultiple(startMs - offsetMs, G)) return false;
  if (!(stepMs === 0 || (stepMs > 0 && isMultiple(stepMs, G)))) return false;
  return !isMultiple(rangeMs, G); // aligned ranges are servable() without raw edges
}

/**
 * Whole buckets a single window must span before a level is read for it with a raw tail
 * (servableWithRawTail): the coarsest level with at least this many, so that the two raw edges
 * (up to a bucket each) stay small next to the buckets (30 d -> 1h, 1 d -> 5m; 2 h: raw).
 */
export const RAW_TAIL_WHOLE_BUCKETS_MIN = 48;

/**
 * Whether ONE window (an instant query or `@`: stepMs 0) whose END is not a bucket boundary --
 * `increase(x[30d])` at "now" in a Grafana stat panel -- is served from a level of width G with
 * the raw samples after the last boundary before the end (the "raw tail", usually still in the
 * memtable): the whole buckets in between from the level, the first partial bucket as in edge
 * extension. Window functions only, when the window spans RAW_TAIL_WHOLE_BUCKETS_MIN whole buckets.
 */
export function servableWithRawTail(fn: string, rangeMs: number, stepMs: number, startMs: number, offsetMs: number, G: number): boolean {
  if (!(Number.isInteger(G) && G > 0)) return false;
  if (!WINDOW_FUNCTIONS.has(fn) || stepMs !== 0) return false;
  if (!(rangeMs > 0) || !Number.isFinite(rangeMs)) return false;
  const endMs = startMs - offsetMs;
  if (!Number.isFinite(endMs) || isMultiple(endMs, G)) return false; // servable() / servableWithEdge()
  return Math.floor(endMs / G) - Math.ceil((endMs - rangeMs) / G) >= RAW_TAIL_WHOLE_BUCKETS_MIN;
}

/** Last bucket boundary at or before tMs: a window's raw tail is (rawTailStartMs, tMs]. */
export function rawTailStartMs(widthMs: number, tMs: number): number {
  return Math.floor(tMs / widthMs) * widthMs;
}

/** evalRollupEdgeWindow's answer when the edge bucket cannot tell which samples follow t - r. */
export const EDGE_NEEDS_RAW: unique symbol = Symbol('rollup edge needs raw samples');

/**
 * What bucket i (which starts before startMs and ends after it) holds after startMs: 'none',
 * 'whole' (every sample is after startMs), 'last' (only the last sample), or 'unknown' (the last
 * two samples are both after startMs and there are more: which of the others are is not stored).
 */
function edgePart(b: RollupBuckets, i: number, startMs: number): 'none' | 'whole' | 'last' | 'unknown' {
  const n = b.count[i]!;
  if (n === 0) return 'none'; // only stale markers: nothing for a range function
  if (b.firstT[i]! > startMs) return 'whole';
  if (!(b.lastT[i]! > startMs)) return 'none';
  // first <= startMs < last: with two samples that is the last one alone; with more, the
  // second-to-last tells whether anything between first and last is after startMs.
  if (n === 2 || !(b.prevT[i]! > startMs)) return 'last';
  return 'unknown';
}

/** Raw samples of one series (stale markers included; they are skipped). */
export interface RawSamples {
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

/** Adds the non-stale samples of raw with afterMs < t <= throughMs to acc, in order. */
function addRawRange(acc: BucketAccumulator, raw: RawSamples, afterMs: number, throughMs: number): void {
  const ts = raw.timestampsMs;
  const vs = raw.values;
  let j = 0;
  while (j < ts.length && ts[j]! <= afterMs) j++;
  for (; j < ts.length && ts[j]! <= throughMs; j++) {
    if (isStaleAt(vs, j)) continue;
    acc.addSample(ts[j]!, vs[j]!);
  }
}

/**
 * fn (a window function) over (endMs - rangeMs, endMs] (servableWithEdge / servableWithRawTail):
 * the partial first bucket from the bucket's stored samples when they suffice, else from rawEdge
 * -- the series' raw samples covering at least (endMs - rangeMs, edge bucket end] -- or
 * EDGE_NEEDS_RAW without it; the whole buckets up to the last boundary at or before endMs; and,
 * when endMs is not a boundary, rawTail's samples after that boundary (required then; a series
 * without samples there passes an empty one).
 */
export function evalRollupEdgeWindow(
  b: RollupBuckets,
  fn: string,
  endMs: number,
  rangeMs: number,
  acc: BucketAccumulator = new BucketAccumulator(),
  rawEdge?: RawSamples,
  rawTail?: RawSamples,
): number | undefined | typeof EDGE_NEEDS_RAW {
  if (!WINDOW_FUNCTIONS.has(fn)) throw new Error(`rollup: ${fn}() is not a window function`);
  const g = b.widthMs;
  const tailStartMs = rawTailStartMs(g, endMs);
  if (tailStartMs !== endMs && rawTail === undefined) assertAligned(b.widthMs, endMs, rangeMs, false);
  const startMs = endMs - rangeMs;
  const edgeEndMs = Math.ceil(startMs / g) * g;
  acc.reset();
  let lo = firstEndAfter(b, startMs);
  // (A window inside one bucket's raw tail takes nothing from the bucket: edgeEndMs > tailStartMs.)
  if (lo < b.length && b.endMs[lo] === edgeEndMs && edgeEndMs > startMs && edgeEndMs <= tailStartMs) {
    const part = edgePart(b, lo, startMs);
    if (part === 'whole') acc.addBucket(b, lo);
    else if (part === 'last') acc.addSample(b.lastT[lo]!, b.lastV[lo]!);
    else if (part === 'unknown') {
      if (rawEdge === undefined) return EDGE_NEEDS_RAW;
      addRawRange(acc, rawEdge, startMs, Math.min(edgeEndMs, endMs));
    }
    lo++;
  }
  const hi = firstEndAfter(b, tailStartMs);
  for (let i = lo; i < hi; i++) acc.addBucket(b, i);
  if (rawTail !== undefined && tailStartMs < endMs) addRawRange(acc, rawTail, Math.max(tailStartMs, startMs), endMs);
  return windowResult(acc, fn, endMs, rangeMs);
}

/** First index i with endMs[i] > x. */
function firstEndAfter(b: RollupBuckets, x: number): number {
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b.endMs[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function assertAligned(g: number, endMs: number, rangeMs: number, needRange: boolean): void {
  if (!isMultiple(endMs, g) || (needRange && !isMultiple(rangeMs, g))) {
    throw new Error(`rollup window (${endMs - rangeMs}, ${endMs}] is not aligned to ${g} ms buckets`);
  }
}

/**
 * fn over the window (endMs - rangeMs, endMs] of the series, as Prometheus computes it from the
 * raw samples; undefined where Prometheus gives no output. The window must pass servable().
 */
export function evalRollupWindow(b: RollupBuckets, fn: string, endMs: number, rangeMs: number, acc: BucketAccumulator = new BucketAccumulator()): number | undefined {
  if (TAIL_FUNCTIONS.has(fn)) {
    assertAligned(b.widthMs, endMs, rangeMs, false);
    return evalTail(b, fn, endMs, rangeMs);
  }
  if (!WINDOW_FUNCTIONS.has(fn)) throw new Error(`rollup: no exact rollup for ${fn}()`);
  assertAligned(b.widthMs, endMs, rangeMs, true);
  const lo = firstEndAfter(b, endMs - rangeMs);
  const hi = firstEndAfter(b, endMs);
  acc.reset();
  for (let i = lo; i < hi; i++) acc.addBucket(b, i);
  return windowResult(acc, fn, endMs, rangeMs);
}

/**
 * fn over the window (endMs - rangeMs, endMs] from the summary of exactly its samples, in time
 * order. The summary may mix raw samples (addSample) and buckets (addBucket): e.g. raw samples
 * for the ragged edges of an unaligned window and a level's buckets for the aligned middle.
 */
export function windowResult(acc: BucketAccumulator, fn: string, endMs: number, rangeMs: number): number | undefined {
  const code = FN_CODES.get(fn);
  if (code === undefined) throw new Error(`rollup: unhandled function ${fn}()`);
  return windowResultInto(acc, code, endMs, rangeMs, resultScratch, 0) ? resultScratch[0] : undefined;
}

/** windowResult's one answer (windowResultInto writes its answers). */
const resultScratch = new Float64Array(1);

// Functions as small integers for the per-window switch (a switch on strings compares them one by one).
const F_COUNT = 0;
const F_SUM = 1;
const F_AVG = 2;
const F_MIN = 3;
const F_MAX = 4;
const F_STDVAR = 5;
const F_STDDEV = 6;
const F_FIRST = 7;
const F_LAST = 8;
const F_TS_LAST = 9;
const F_PRESENT = 10;
const F_IRATE = 11;
const F_IDELTA = 12;
const F_TS_FIRST = 13;
const F_RESETS = 14;
const F_CHANGES = 15;
const F_RATE = 16;
const F_INCREASE = 17;
const F_DELTA = 18;
const FN_CODES: ReadonlyMap<string, number> = new Map([
  ['count_over_time', F_COUNT],
  ['sum_over_time', F_SUM],
  ['avg_over_time', F_AVG],
  ['min_over_time', F_MIN],
  ['max_over_time', F_MAX],
  ['stdvar_over_time', F_STDVAR],
  ['stddev_over_time', F_STDDEV],
  ['first_over_time', F_FIRST],
  ['last_over_time', F_LAST],
  ['ts_of_last_over_time', F_TS_LAST],
  ['present_over_time', F_PRESENT],
  ['irate', F_IRATE],
  ['idelta', F_IDELTA],
  ['ts_of_first_over_time', F_TS_FIRST],
  ['resets', F_RESETS],
  ['changes', F_CHANGES],
  ['rate', F_RATE],
  ['increase', F_INCREASE],
  ['delta', F_DELTA],
]);

/**
 * Writes the answer of fn (code) over the window (endMs - rangeMs, endMs] held by acc to out[k];
 * false (nothing written) where Prometheus gives no output. Written, not returned: a double
 * returned from a call that is not inlined is a fresh heap number, one per window.
 */
function windowResultInto(acc: BucketAccumulator, code: number, endMs: number, rangeMs: number, out: Float64Array, k: number): boolean {
  const n = acc.count;
  if (n === 0) return false;
  switch (code) {
    case F_COUNT:
      out[k] = n;
      return true;
    case F_SUM:
      out[k] = acc.sum === Infinity || acc.sum === -Infinity ? acc.sum : acc.sum + acc.sumC;
      return true;
    case F_AVG: {
      if (acc.sum === Infinity || acc.sum === -Infinity) {
        // Raw switches to an incremental mean once a running sum overflows: with finite values
        // it stays finite, which the merged Welford mean is too (up to rounding). An infinite
        // value makes both means non-finite; then the answer is the infinite sum's sign.
        const mean = acc.mean + acc.meanC;
        out[k] = Number.isFinite(mean) ? mean : acc.sum;
        return true;
      }
      out[k] = acc.sum / n + acc.sumC / n;
      return true;
    }
    case F_MIN:
      out[k] = acc.min;
      return true;
    case F_MAX:
      out[k] = acc.max;
      return true;
    case F_STDVAR:
      out[k] = (acc.m2 + acc.m2C) / n;
      return true;
    case F_STDDEV:
      out[k] = Math.sqrt((acc.m2 + acc.m2C) / n);
      return true;
    case F_FIRST:
      out[k] = acc.firstV;
      return true;
    case F_LAST:
      out[k] = acc.lastV;
      return true;
    case F_TS_LAST:
      out[k] = acc.lastT / 1000;
      return true;
    case F_PRESENT:
      out[k] = 1;
      return true;
    case F_IRATE:
    case F_IDELTA:
      if (n < 2) return false;
      {
        const v = instantValue(acc.prevT, acc.prevV, acc.lastT, acc.lastV, code === F_IRATE);
        if (v === undefined) return false;
        out[k] = v;
        return true;
      }
    case F_TS_FIRST:
      out[k] = acc.firstT / 1000;
      return true;
    case F_RESETS:
      out[k] = acc.resets;
      return true;
    case F_CHANGES:
      out[k] = acc.changes;
      return true;
    case F_RATE:
    case F_INCREASE:
    case F_DELTA: {
      if (n < 2) return false;
      const isCounter = code !== F_DELTA;
      let result = acc.lastV - acc.firstV;
      if (isCounter) result += acc.correction;
      out[k] = extrapolate(result, n, acc.firstT, acc.firstV, acc.lastT, endMs - rangeMs, endMs, rangeSeconds(rangeMs), isCounter, code === F_RATE);
      return true;
    }
  }
  throw new Error(`rollup: unhandled function code ${code}`);
}

/**
 * windowResultInto() of an accumulator holding just bucket i of b (a window of one bucket, e.g.
 * max_over_time(m[1h]) from the 1 h level), read from the columns it needs: addBucket() into an
 * empty accumulator copies the fields and sets m2's compensation to 0, hence the "+ 0" below,
 * which keeps even a -0 as windowResultInto() gives it. Not for rate, increase, delta, sum, avg
 * and count: evalRollupGridRuns merges their few fields itself, one bucket or many.
 */
function bucketResultInto(b: RollupBuckets, i: number, code: number, out: Float64Array, k: number): boolean {
  const n = b.count[i]!;
  if (n === 0) return false;
  switch (code) {
    case F_MIN:
      out[k] = b.min[i];
      return true;
    case F_MAX:
      out[k] = b.max[i];
      return true;
    case F_STDVAR:
      out[k] = (b.m2[i]! + 0) / n;
      return true;
    case F_STDDEV:
      out[k] = Math.sqrt((b.m2[i]! + 0) / n);
      return true;
    case F_FIRST:
      out[k] = b.firstV[i];
      return true;
    case F_LAST:
      out[k] = b.lastV[i];
      return true;
    case F_TS_LAST:
      out[k] = b.lastT[i]! / 1000;
      return true;
    case F_PRESENT:
      out[k] = 1;
      return true;
    case F_IRATE:
    case F_IDELTA:
      if (n < 2) return false;
      {
        const v = instantValue(b.prevT[i]!, b.prevV[i]!, b.lastT[i]!, b.lastV[i]!, code === F_IRATE);
        if (v === undefined) return false;
        out[k] = v;
        return true;
      }
    case F_TS_FIRST:
      out[k] = b.firstT[i]! / 1000;
      return true;
    case F_RESETS:
      out[k] = b.resets[i];
      return true;
    case F_CHANGES:
      out[k] = b.changes[i];
      return true;
  }
  throw new Error(`rollup: unhandled function code ${code}`);
}

/** Index of the last bucket ending at or before tMs that holds a non-stale sample; -1 if none. */
function lastWithSample(b: RollupBuckets, before: number): number {
  let j = before - 1;
  while (j >= 0 && b.count[j] === 0) j--;
  return j;
}

function evalTail(b: RollupBuckets, fn: string, endMs: number, rangeMs: number): number | undefined {
  const startMs = endMs - rangeMs;
  const j = lastWithSample(b, firstEndAfter(b, endMs));
  if (j < 0) return undefined;
  const t1 = b.lastT[j]!;
  if (!(t1 > startMs)) return undefined;
  const v1 = b.lastV[j]!;
  switch (fn) {
    case 'last_over_time':
      return v1;
    case 'ts_of_last_over_time':
      return t1 / 1000;
    case 'present_over_time':
      return 1;
  }
  // irate / idelta: the sample before the last one, in this bucket or the previous non-empty one.
  let t0: number;
  let v0: number;
  if (b.count[j]! >= 2) {
    t0 = b.prevT[j]!;
    v0 = b.prevV[j]!;
  } else {
    const p = lastWithSample(b, j);
    if (p < 0) return undefined;
    t0 = b.lastT[p]!;
    v0 = b.lastV[p]!;
  }
  if (!(t0 > startMs)) return undefined;
  return instantValue(t0, v0, t1, v1, fn === 'irate');
}

/** As instantValue() in eval-range-functions.ts, from the last two samples. */
function instantValue(t0: number, v0: number, t1: number, v1: number, isRate: boolean): number | undefined {
  const sampledInterval = t1 - t0;
  if (sampledInterval === 0) return undefined;
  // A counter reset (irate) leaves the last value as the increase; NaN compares false: no reset.
  let r = v1;
  if (!isRate || !(v1 < v0)) r = v1 - v0;
  if (isRate) r /= sampledInterval / 1000;
  return r;
}

/**
 * A plain selector at time tMs (a multiple of G): the latest sample in (tMs - lookbackMs, tMs]
 * unless it is a stale marker; undefined where the series has no value.
 */
export function evalRollupSelector(b: RollupBuckets, tMs: number, lookbackMs: number): number | undefined {
  assertAligned(b.widthMs, tMs, lookbackMs, false);
  // Buckets are kept only when they hold something, so the last one ending at or before t holds
  // the latest sample at or before t.
  const j = firstEndAfter(b, tMs) - 1;
  if (j < 0) return undefined;
  if (!(b.lastAnyT(j) > tMs - lookbackMs) || b.endsStale(j)) return undefined;
  return b.lastV[j];
}

/** Values of one series over a step grid: values[k] is meaningful where present[k] is 1. */
export interface RollupGrid {
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

/**
 * fn (a ROLLUP_FUNCTIONS member, or PLAIN_SELECTOR with rangeMs = lookback) at the selector
 * times startMs + k*stepMs - offsetMs, k < stepCount; the grid must pass servable(). `into`:
 * arrays of at least stepCount to write to instead of fresh ones (present is cleared first).
 */
export function evalRollupGrid(b: RollupBuckets, fn: string, rangeMs: number, startMs: number, stepMs: number, stepCount: number, offsetMs: number, into?: RollupGrid): RollupGrid {
  let values: Float64Array;
  let present: Uint8Array;
  if (into !== undefined) {
    if (!(into.values.length >= stepCount && into.present.length >= stepCount)) throw new Error(`rollup grid: ${into.values.length} slots for ${stepCount} steps`);
    values = into.values;
    present = into.present;
    present.fill(0, 0, stepCount);
  } else {
    values = new Float64Array(stepCount);
    present = new Uint8Array(stepCount);
  }
  // Ascending aligned windows: the walk over runs, with this struct as the one run.
  const overRuns = evalRollupGridRuns([{ buckets: b, lo: 0, hi: b.length }], b.widthMs, fn, rangeMs, startMs, stepMs, stepCount, offsetMs, { values, present });
  if (overRuns !== undefined) return overRuns;
  const acc = gridAcc;
  for (let k = 0; k < stepCount; k++) {
    const t = startMs + k * stepMs - offsetMs;
    const v = fn === PLAIN_SELECTOR ? evalRollupSelector(b, t, rangeMs) : evalRollupWindow(b, fn, t, rangeMs, acc);
    if (v === undefined) continue;
    values[k] = v;
    present[k] = 1;
  }
  return { values, present };
}

/**
 * evalRollupGrid() for the common aligned-window case, over a series' runs as they were read
 * (one per level segment) instead of their joined copy: the same windows, the same arithmetic
 * (a bucket split between two runs is merged as the join merges it, see bucketPieces()), so the
 * same bits. Returns undefined when the grid is not that case; the caller then joins.
 *
 * With `needsRaw`, the windows' starts need not be aligned (evalRollupEdgeGrid's case, e.g.
 * Grafana's $__rate_interval = range + one scrape): each window's partial first bucket is taken
 * as evalRollupEdgeWindow takes it, and the steps whose edge bucket cannot be split without raw
 * samples are appended to needsRaw (left absent, for the caller to fill from raw).
 */
export function evalRollupGridRuns(
  runs: readonly BucketRange[],
  widthMs: number,
  fn: string,
  rangeMs: number,
  startMs: number,
  stepMs: number,
  stepCount: number,
  offsetMs: number,
  into: RollupGrid,
  needsRaw?: number[],
): RollupGrid | undefined {
  const code = FN_CODES.get(fn);
  if (!(WINDOW_FUNCTIONS.has(fn) && code !== undefined && stepMs > 0 && stepCount > 0 && isMultiple(stepMs, widthMs))) return undefined;
  if (!(into.values.length >= stepCount && into.present.length >= stepCount)) throw new Error(`rollup grid: ${into.values.length} slots for ${stepCount} steps`);
  const edges = needsRaw !== undefined;
  if (edges && !(rangeMs > 0 && isMultiple(startMs - offsetMs, widthMs))) return undefined;
  assertAligned(widthMs, startMs - offsetMs, rangeMs, !edges);
  const p = bucketPieces(runs, widthMs);
  const values = into.values;
  const present = into.present;
  present.fill(0, 0, stepCount);
  const pieces = p.count;
  const bs = p.buckets;
  const plo = p.lo;
  const phi = p.hi;
  const acc = gridAcc;
  const kind = code === F_RATE || code === F_INCREASE || code === F_DELTA ? KIND_COUNTER : code === F_SUM || code === F_AVG || code === F_COUNT ? KIND_SUMS : KIND_OTHER;
  const rangeSecs = rangeSeconds(rangeMs);
  if (rangeMs === widthMs) {
    oneBucketWindows(p, code, kind, widthMs, startMs - offsetMs, stepMs, stepCount, rangeSecs, values, present);
    return into;
  }
  // Window k covers the rows from cursor lo (piece loP, row loR) up to cursor hi (exclusive):
  // both only move forward, as in evalRollupGrid; loPos/hiPos count rows to compare them.
  // Each cursor keeps its piece's endMs and end row in locals, reloaded when it moves to the
  // next piece, instead of loading them through bs[] at every step (1.05-1.15x per window,
  // bench/micro/rollup-grid.ts --against).
  // A cursor past the last piece reads NO_ENDS, whose one row ends at +Infinity (never <= t).
  let loP = 0;
  let loR = pieces > 0 ? plo[0]! : 0;
  let loEnds = pieces > 0 ? bs[0]!.endMs : NO_ENDS;
  let loHi = pieces > 0 ? phi[0]! : 1;
  let loPos = 0;
  let hiP = 0;
  let hiR = loR;
  let hiEnds = loEnds;
  let hiHi = loHi;
  let hiPos = 0;
  for (let k = 0; k < stepCount; k++) {
    const t = startMs + k * stepMs - offsetMs;
    const from = t - rangeMs;
    while (loEnds[loR]! <= from) {
      loPos++;
      if (++loR === loHi) {
        if (++loP < pieces) {
          loR = plo[loP]!;
          loEnds = bs[loP]!.endMs;
          loHi = phi[loP]!;
        } else {
          loR = 0;
          loEnds = NO_ENDS;
          loHi = 1;
        }
      }
    }
    if (hiPos < loPos) {
      hiP = loP;
      hiR = loR;
      hiEnds = loEnds;
      hiHi = loHi;
      hiPos = loPos;
    }
    while (hiEnds[hiR]! <= t) {
      hiPos++;
      if (++hiR === hiHi) {
        if (++hiP < pieces) {
          hiR = plo[hiP]!;
          hiEnds = bs[hiP]!.endMs;
          hiHi = phi[hiP]!;
        } else {
          hiR = 0;
          hiEnds = NO_ENDS;
          hiHi = 1;
        }
      }
    }
    if (hiPos === loPos) continue;
    // The window's first bucket is partial when the window starts inside it.
    const edgeEnd = edges ? Math.ceil(from / widthMs) * widthMs : from;
    const edge = edgeEnd > from && loEnds[loR] === edgeEnd;
    if (hiPos === loPos + 1 && !edge && kind === KIND_OTHER) {
      if (bucketResultInto(bs[loP]!, loR, code, values, k)) present[k] = 1;
    } else {
      let q = loP;
      let r = loR;
      let n = hiPos - loPos;
      // As evalRollupEdgeWindow: what of the edge bucket follows `from` (the bucket whole, its
      // last sample, or nothing), then the rest whole.
      let edgeSample: RollupBuckets | undefined;
      let edgeRow = 0;
      if (edge) {
        const part = edgePart(bs[q]!, r, from);
        if (part === 'unknown') {
          needsRaw!.push(k);
          continue;
        }
        if (part !== 'whole') {
          if (part === 'last') {
            edgeSample = bs[q]!;
            edgeRow = r;
          }
          if (++r === phi[q]) {
            q++;
            if (q < pieces) r = plo[q]!;
          }
          n--;
        }
      }
      if (kind === KIND_COUNTER) {
        // rate/increase/delta read count, first, last and the reset correction only: the fields
        // addBucket() merges for them, merged here in the same order (same bits), without the
        // accumulator's other fields (2-3x faster per window, bench/micro/rollup-grid.ts).
        let count = 0;
        let firstT = NaN;
        let firstV = NaN;
        let lastT = NaN;
        let lastV = NaN;
        let correction = 0;
        if (edgeSample !== undefined) {
          count = 1;
          firstT = lastT = edgeSample.lastT[edgeRow]!;
          firstV = lastV = edgeSample.lastV[edgeRow]!;
        }
        for (; n > 0; n--) {
          const b = bs[q]!;
          const c = b.count[r]!;
          if (c !== 0) {
            if (count === 0) {
              firstT = b.firstT[r]!;
              firstV = b.firstV[r]!;
              correction = b.correction[r]!;
            } else {
              // The one sample pair that crosses the boundary (NaN compares false: no reset).
              if (b.firstV[r]! < lastV) correction += lastV;
              correction += b.correction[r]!;
            }
            count += c;
            lastT = b.lastT[r]!;
            lastV = b.lastV[r]!;
          }
          if (++r === phi[q]) {
            q++;
            if (q < pieces) r = plo[q]!;
          }
        }
        if (count < 2) continue;
        values[k] = counterWindowValue(code, count, firstT, firstV, lastT, lastV, correction, from, t, rangeSecs);
        present[k] = 1;
        continue;
      }
      if (kind === KIND_SUMS) {
        // sum/avg/count_over_time read count, sum and its compensation: merged as addSample()
        // and addBucket() merge them (same Neumaier steps, same order, same bits). An avg whose
        // sum overflowed needs the merged mean: that window takes the accumulator below.
        const q0 = q;
        const r0 = r;
        const n0 = n;
        let count = 0;
        let sum = 0;
        let sumC = 0;
        if (edgeSample !== undefined) {
          neumaier(edgeSample.lastV[edgeRow]!, 0, 0);
          sum = neumaierOut[0]!;
          sumC = neumaierOut[1]!;
          count = 1;
        }
        for (; n > 0; n--) {
          const b = bs[q]!;
          const c = b.count[r]!;
          if (c !== 0) {
            if (count === 0) {
              sum = b.sum[r]!;
              sumC = b.sumC[r]!;
            } else {
              neumaier(b.sum[r]!, sum, sumC + b.sumC[r]!);
              sum = neumaierOut[0]!;
              sumC = neumaierOut[1]!;
            }
            count += c;
          }
          if (++r === phi[q]) {
            q++;
            if (q < pieces) r = plo[q]!;
          }
        }
        if (count === 0) continue;
        if (sumsWindowInto(code, count, sum, sumC, values, k)) {
          present[k] = 1;
          continue;
        }
        q = q0;
        r = r0;
        n = n0;
      }
      acc.reset();
      if (edgeSample !== undefined) acc.addSample(edgeSample.lastT[edgeRow]!, edgeSample.lastV[edgeRow]!);
      for (; n > 0; n--) {
        acc.addBucket(bs[q]!, r);
        if (++r === phi[q]) {
          q++;
          if (q < pieces) r = plo[q]!;
        }
      }
      // (endMs and rangeMs are read by the counter functions only, which took the path above;
      // zeros are small integers, where a double argument would be boxed per window.)
      if (windowResultInto(acc, code, 0, 0, values, k)) present[k] = 1;
    }
  }
  return into;
}

/**
 * evalRollupGridRuns when every window is one whole bucket (rangeMs = the width; the grid is
 * aligned): window k is the bucket ending at baseMs + k * stepMs, if the series has it. One pass
 * over the rows, each piece's columns read directly: no window cursors (rate(m[1h]) at a 1 h
 * step from 1 h buckets 1.3x faster in bench/micro/rollup-grid.ts --against; the 30-day
 * sum by (x) (rate(m[1h])) of bench:rollup 55 -> 43 ms a query in the server). The same per-window
 * code as the cursor loop (counterWindowValue, sumsWindowInto, bucketResultInto): same bits.
 */
function oneBucketWindows(p: BucketPieces, code: number, kind: number, widthMs: number, baseMs: number, stepMs: number, stepCount: number, rangeSecs: number, values: Float64Array, present: Uint8Array): void {
  // The next window k ends at endK; rows ascend (piece after piece), so k only moves forward.
  // Times are whole ms below 2^53: endK and the quotient below are exact (no % of doubles,
  // which V8 computes with a call to fmod).
  let k = 0;
  let endK = baseMs;
  for (let j = 0; j < p.count; j++) {
    const b = p.buckets[j]!;
    const ends = b.endMs;
    const counts = b.count;
    const hi = p.hi[j]!;
    for (let r = p.lo[j]!; r < hi; r++) {
      const t = ends[r]!;
      if (t < endK) continue;
      if (t > endK) {
        k = Math.ceil((t - baseMs) / stepMs);
        endK = baseMs + k * stepMs;
        if (t !== endK) continue;
      }
      if (k >= stepCount) return;
      const c = counts[r]!;
      const win = k;
      k++;
      endK += stepMs;
      if (c === 0) continue;
      if (kind === KIND_COUNTER) {
        if (c < 2) continue;
        values[win] = counterWindowValue(code, c, b.firstT[r]!, b.firstV[r]!, b.lastT[r]!, b.lastV[r]!, b.correction[r]!, t - widthMs, t, rangeSecs);
        present[win] = 1;
      } else if (kind === KIND_SUMS) {
        if (sumsWindowInto(code, c, b.sum[r]!, b.sumC[r]!, values, win)) {
          present[win] = 1;
        } else {
          gridAcc.reset();
          gridAcc.addBucket(b, r);
          if (windowResultInto(gridAcc, code, 0, 0, values, win)) present[win] = 1;
        }
      } else if (bucketResultInto(b, r, code, values, win)) {
        present[win] = 1;
      }
    }
  }
}

/**
 * rate, increase or delta (code) of a window from its merged count (>= 2), first and last
 * samples and reset correction, extrapolated as Prometheus does.
 */
function counterWindowValue(code: number, count: number, firstT: number, firstV: number, lastT: number, lastV: number, correction: number, fromMs: number, toMs: number, rangeSecs: number): number {
  const isCounter = code !== F_DELTA;
  let result = lastV - firstV;
  if (isCounter) result += correction;
  return extrapolate(result, count, firstT, firstV, lastT, fromMs, toMs, rangeSecs, isCounter, code === F_RATE);
}

/**
 * sum, avg or count_over_time (code) of a window from its merged count (> 0), Neumaier sum and
 * compensation, into out[k]; false (nothing written) for an avg whose sum overflowed, which
 * needs the merged mean (the accumulator).
 */
function sumsWindowInto(code: number, count: number, sum: number, sumC: number, out: Float64Array, k: number): boolean {
  const infinite = sum === Infinity || sum === -Infinity;
  if (infinite && code === F_AVG) return false;
  out[k] = code === F_COUNT ? count : infinite ? sum : code === F_SUM ? sum + sumC : sum / count + sumC / count;
  return true;
}

/** The endMs of a cursor past the last piece: one row that no window end reaches. */
const NO_ENDS = new Float64Array([Infinity]);

/**
 * evalRollupGridRuns' per-window paths: rate/increase/delta merge four fields, sum/avg/count
 * three; the rest use the accumulator (or bucketResultInto for a window of one bucket).
 */
const KIND_COUNTER = 1;
const KIND_SUMS = 2;
const KIND_OTHER = 0;

/** An edge-extended grid (servableWithEdge): values where the level sufficed, and the steps that need raw edges. */
export interface RollupEdgeGrid extends RollupGrid {
  /** Step indices k whose edge bucket needs the raw samples of (t_k - rangeMs, edge end]. */
  readonly needsRaw: number[];
}

/** As evalRollupGrid for a window function on a servableWithEdge() grid, or servableWithRawTail() with the series' raw tail. */
export function evalRollupEdgeGrid(b: RollupBuckets, fn: string, rangeMs: number, startMs: number, stepMs: number, stepCount: number, offsetMs: number, rawTail?: RawSamples): RollupEdgeGrid {
  const values = new Float64Array(stepCount);
  const present = new Uint8Array(stepCount);
  const needsRaw: number[] = [];
  const acc = new BucketAccumulator();
  for (let k = 0; k < stepCount; k++) {
    const v = evalRollupEdgeWindow(b, fn, startMs + k * stepMs - offsetMs, rangeMs, acc, undefined, rawTail);
    if (v === EDGE_NEEDS_RAW) needsRaw.push(k);
    else if (v !== undefined) {
      values[k] = v;
      present[k] = 1;
    }
  }
  return { values, present, needsRaw };
}

/** The raw time range (exclusive start, inclusive end) whose samples the edge of the window ending at endMs needs. */
export function edgeRawRange(widthMs: number, endMs: number, rangeMs: number): { afterMs: number; throughMs: number } {
  const afterMs = endMs - rangeMs;
  return { afterMs, throughMs: Math.ceil(afterMs / widthMs) * widthMs };
}

const gridAcc = new BucketAccumulator();
