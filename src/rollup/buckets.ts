// Rollup buckets of one series at one width G: the summaries that the rollup pyramid stores and
// from which PromQL range functions over aligned windows are answered exactly (eval.ts).
//
// A bucket k covers (k*G, (k+1)*G] (left-open, right-closed, like PromQL windows) and is kept
// only if it holds at least one sample or stale marker; `endMs` = (k+1)*G, ascending. Stale
// markers are not samples for range functions (Prometheus drops them from matrices), so every
// field below except `lastStaleT` is over the bucket's NON-stale samples, in time order
// (v_1..v_n at t_1 < ... < t_n; NaN/Inf values included as ordinary samples).
//
//   field              what                                          needed by
//   count              n                                             count/avg/stddev/stdvar, rate (>= 2)
//   sum, sumC          Kahan-Neumaier sum of v_i and its compensation sum/avg_over_time
//   mean, m2           Welford mean and sum of squared deviations    stddev/stdvar (avg on overflow)
//   min, max           Prometheus' min/max rule (NaN only if all NaN) min/max_over_time
//   firstT, firstV     first sample                                  rate/increase/delta, first_over_time
//   lastT, lastV       last sample                                   rate/increase/delta, last_over_time, irate/idelta, selectors
//   prevT, prevV       second-to-last sample (NaN time if n < 2)     irate/idelta
//   correction         sum of v_{i-1} over i with v_i < v_{i-1}      rate/increase (counter reset adjustment)
//   resets             number of i with v_i < v_{i-1}                resets
//   changes            number of i with v_i != v_{i-1} (NaN==NaN)    changes
//   lastStaleT         time of the last stale marker (NaN if none)   plain selectors (staleness)
// The reset-adjusted increase inside the bucket is lastV - firstV + correction; storing the
// correction instead keeps the rollup's arithmetic in the order the raw formula uses. Size: 15
// float64 + 3 uint32 = 132 bytes per bucket before encoding -- more than the ~20 compressed raw
// samples (15 s scrape) a 5 m bucket replaces, so the on-disk level must encode its columns
// (times as offsets in the bucket, counts small, prev/first often equal) to save space.
//
// Why it is exact (proof sketch). Let a window W = (t - r, t] with t and r multiples of G. Then W
// is exactly the union of the buckets with endMs in W, and the non-stale samples of W are the
// concatenation, in time order, of those buckets' samples. Every raw range function is a left
// fold over that sequence, and each field above is a summary S with an associative
// concatenation S(AB) = S(A) (+) S(B) (BucketAccumulator.addBucket):
//   - count, resets, changes, correction add up, plus one term for the single pair that crosses
//     the boundary (lastV of A, firstV of B), which both summaries carry;
//   - first comes from the first non-empty part, last from the last one, the second-to-last from
//     B when B has >= 2 samples, else it is A's last;
//   - min/max: the raw fold keeps a running best and replaces it on a strictly better value or
//     when the best is NaN; folding B from best(A) gives best(B) if best(B) beats best(A) (or
//     best(A) is NaN), else best(A) -- the same rule applied to the two summaries, so even the
//     sign of a zero tie matches;
//   - rate/increase/delta need only count, first, last and last - first + correction
//     (extrapolate() in eval-range-functions.ts is shared, so the extrapolation is identical);
//   - irate/idelta need the last two samples of W: lastV/prevV of the last non-empty bucket, or
//     its lastV and the previous non-empty bucket's lastV when it has one sample;
//   - plain selectors at an aligned t: the latest sample (stale or not) at or before t is the
//     latest of the last bucket ending at or before t, whose time is stored: the lookback cut
//     (t - lookback, t] is then exact for ANY lookback and ANY G, not only G >= lookback.
// count, min/max, first/last (and their times), present, irate/idelta, resets/changes, delta
// and the selectors are bit-identical to raw. The rest is exact only UP TO SUMMATION ORDER (tests in
// test/rollup/exactness.test.ts, tolerance relative 1e-9):
//   - sum/avg: raw Kahan-sums the samples one by one, the rollup Kahan-sums per bucket, then the
//     bucket sums, and adds all compensations. Both are within ~2e|S| + O(n e^2) sum|v_i| of the
//     true sum S (e = 2^-53): they differ by ~4e relative unless the values cancel to
//     |S| < ~1e-7 n e sum|v_i|. (In 1500 random runs the sums came out bit-identical.) If a
//     running sum overflows past 1.8e308 with finite values, raw switches to an incremental
//     mean that stays finite; the rollup then answers with its merged Welford mean, which is
//     close unless two values differ by more than 1.8e308 (then Welford overflows too).
//   - rate/increase: last - first + correction; the correction is a plain sum in both, in a
//     different order: ~n e (sum of pre-reset values); bit-identical for integer counters
//     (measured: <= 6e-14 relative for float counters).
//   - stddev/stdvar: raw runs Welford with Kahan over all samples, the rollup merges per-bucket
//     (mean, m2) with Chan's formula. Both are off the true variance by about e |mean|/stddev
//     relative, and so is their difference (measured <= 0.5x that; the test asserts 2x): 1e-9
//     holds while |mean|/stddev < ~4e6. A gauge barely moving around a large offset (1e9 +- 1e-3)
//     differs by ~1e-4 -- raw is no more right than the rollup there.
// A window of ONE bucket is bit-identical for sum/avg/stddev/stdvar too (same arithmetic).
//
// NOT exact from a level, so refused by servable() in eval.ts: windows whose start or end is not
// a multiple of G (except for the "tail" functions last_over_time, ts_of_last_over_time,
// present_over_time, irate and idelta, which need only the end aligned: they look at the last
// two samples, whose times are stored); quantile_over_time, mad_over_time (need every value);
// deriv, predict_linear, double_exponential_smoothing (need every (t, v) pair or the order of
// values; a regression could be made mergeable with sums of t, t^2, tv but would not match
// Prometheus' Kahan order -- not done); ts_of_min/max_over_time (would need the time of the
// min/max -- not stored). A subquery's inner selectors are servable only if its own grid is.
//
// The same merge builds levels from each other: coarsen(G -> G*f) merges the f buckets inside
// one wider bucket (so compaction never re-reads raw data for 1 h and 1 d); concat() of two runs
// stitches a bucket split across two partitions (raw partitions are [start, end) but a
// bucket is (end - G, end]: the sample at exactly `end` lives in the next partition).
import { isStaleAt } from '../model/samples.js';

/** Bytes of one bucket: 15 float64 + 3 uint32 fields. */
export const BUCKET_BYTES = 15 * 8 + 3 * 4;
/** A column of RollupBuckets, by name. */
export type BucketField =
  | 'endMs'
  | 'count'
  | 'sum'
  | 'sumC'
  | 'mean'
  | 'm2'
  | 'min'
  | 'max'
  | 'firstT'
  | 'firstV'
  | 'lastT'
  | 'lastV'
  | 'prevT'
  | 'prevV'
  | 'correction'
  | 'resets'
  | 'changes'
  | 'lastStaleT';
/**
 * The fields every reader of buckets needs, whatever it computes: the bucket's end, its sample
 * count, sample times and stale marker (what assertInvariants checks, and what window edges and
 * staleness are decided on).
 */
export const BUCKET_TIME_FIELDS: readonly BucketField[] = Object.freeze(['endMs', 'count', 'firstT', 'lastT', 'prevT', 'lastStaleT'] as const);
/** Every column of RollupBuckets. */
export const BUCKET_FIELDS: readonly BucketField[] = Object.freeze([
  ...BUCKET_TIME_FIELDS,
  ...(['sum', 'sumC', 'mean', 'm2', 'min', 'max', 'firstV', 'lastV', 'prevV', 'correction', 'resets', 'changes'] as const),
]);

/** Up to this many buckets, RollupBuckets' columns are separate arrays (V8 keeps arrays of <= 64 bytes in the heap). */
const IN_HEAP_LENGTH_MAX = 8;

/**
 * Where a RollupBuckets' columns live when not in a fresh buffer of their own: a region of a
 * shared buffer (laid out as a buffer of its own would be), or rows of another struct (views,
 * no copy: the two share their values).
 */
export type BucketsLayout =
  | { readonly buffer: ArrayBuffer; readonly byteOffset: number }
  | { readonly rowsOf: RollupBuckets; readonly lo: number }
  /** Every column a view of shared zeros (read only) until allocColumn gives it memory of its own. */
  | { readonly sparse: true };

/**
 * The zeros the columns of sparse structs view: one buffer, grown (replaced) when a longer
 * struct needs it; never written (allocColumn gives a column its own memory before any write).
 */
let sharedZeros = new ArrayBuffer(0);
const zeroBuffers = new WeakSet<ArrayBufferLike>([sharedZeros]);
function zerosOf(bytes: number): ArrayBuffer {
  if (sharedZeros.byteLength < bytes) {
    sharedZeros = new ArrayBuffer(Math.max(bytes, 2 * sharedZeros.byteLength));
    zeroBuffers.add(sharedZeros);
  }
  return sharedZeros;
}

/** Struct of arrays: bucket i of one series at width widthMs. Invariants: assertInvariants(). */
export class RollupBuckets {
  readonly endMs: Float64Array;
  readonly count: Uint32Array;
  readonly sum: Float64Array;
  readonly sumC: Float64Array;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly firstT: Float64Array;
  readonly firstV: Float64Array;
  readonly lastT: Float64Array;
  readonly lastV: Float64Array;
  readonly prevT: Float64Array;
  readonly prevV: Float64Array;
  readonly correction: Float64Array;
  readonly resets: Uint32Array;
  readonly changes: Uint32Array;
  readonly lastStaleT: Float64Array;

  constructor(
    readonly widthMs: number,
    readonly length: number,
    /**
     * Optional: lay the columns out in bytes [byteOffset, byteOffset + length * BUCKET_BYTES) of
     * this buffer instead of a fresh one (byteOffset a multiple of 8): many series' structs in
     * one allocation (joinSeriesRuns), each as if it had a buffer of its own.
     */
    into?: BucketsLayout,
  ) {
    if (!(Number.isInteger(widthMs) && widthMs > 0)) throw new Error(`rollup width must be a positive whole number of ms, got ${widthMs}`);
    if (into !== undefined && 'rowsOf' in into) {
      // Views of rows [lo, lo + length) of another struct's columns: no copy.
      const src = into.rowsOf;
      const lo = into.lo;
      if (!(Number.isInteger(lo) && lo >= 0 && lo + length <= src.length)) throw new Error(`rollup buckets: rows [${lo}, ${lo + length}) outside 0..${src.length}`);
      if (src.widthMs !== widthMs) throw new Error(`rollup buckets: a view of width ${widthMs} of buckets of width ${src.widthMs}`);
      const f = (a: Float64Array) => new Float64Array(a.buffer, a.byteOffset + lo * 8, length);
      const u = (a: Uint32Array) => new Uint32Array(a.buffer, a.byteOffset + lo * 4, length);
      this.endMs = f(src.endMs);
      this.sum = f(src.sum);
      this.sumC = f(src.sumC);
      this.mean = f(src.mean);
      this.m2 = f(src.m2);
      this.min = f(src.min);
      this.max = f(src.max);
      this.firstT = f(src.firstT);
      this.firstV = f(src.firstV);
      this.lastT = f(src.lastT);
      this.lastV = f(src.lastV);
      this.prevT = f(src.prevT);
      this.prevV = f(src.prevV);
      this.correction = f(src.correction);
      this.lastStaleT = f(src.lastStaleT);
      this.count = u(src.count);
      this.resets = u(src.resets);
      this.changes = u(src.changes);
      return;
    }
    if (into !== undefined && 'buffer' in into) {
      if (!(into.byteOffset % 8 === 0 && into.byteOffset >= 0 && into.byteOffset + length * BUCKET_BYTES <= into.buffer.byteLength)) {
        throw new Error(`rollup buckets: ${length} buckets do not fit the buffer at byte ${into.byteOffset}`);
      }
    }
    // The 18 columns are views of ONE buffer (15 float64 columns first, so every view is
    // aligned, then 3 uint32): V8 allocates each typed array's backing store separately and
    // slowly, and a level read makes a struct per series and segment (bench/micro/level-select.ts:
    // 24 buckets ~5x faster). Only up to IN_HEAP_LENGTH_MAX buckets are the columns arrays of
    // their own: V8 keeps such small arrays (<= 64 bytes) inside the heap, cheaper than any buffer.
    // Sparse: every column views the same shared zeros (allocColumn replaces one before a write).
    const zeros = into !== undefined && 'sparse' in into ? zerosOf(length * 8) : undefined;
    const buffer = into !== undefined && 'buffer' in into ? into.buffer : zeros === undefined && length > IN_HEAP_LENGTH_MAX ? new ArrayBuffer(length * BUCKET_BYTES) : undefined;
    const base = into !== undefined && 'buffer' in into ? into.byteOffset : 0;
    const f64 = (k: number) =>
      zeros !== undefined ? new Float64Array(zeros, 0, length) : buffer === undefined ? new Float64Array(length) : new Float64Array(buffer, base + k * length * 8, length);
    const u32 = (k: number) =>
      zeros !== undefined ? new Uint32Array(zeros, 0, length) : buffer === undefined ? new Uint32Array(length) : new Uint32Array(buffer, base + length * (15 * 8 + k * 4), length);
    this.endMs = f64(0);
    this.sum = f64(1);
    this.sumC = f64(2);
    this.mean = f64(3);
    this.m2 = f64(4);
    this.min = f64(5);
    this.max = f64(6);
    this.firstT = f64(7);
    this.firstV = f64(8);
    this.lastT = f64(9);
    this.lastV = f64(10);
    this.prevT = f64(11);
    this.prevV = f64(12);
    this.correction = f64(13);
    this.lastStaleT = f64(14);
    this.count = u32(0);
    this.resets = u32(1);
    this.changes = u32(2);
  }

  /**
   * Gives column `field` of a sparse struct ({ sparse: true }) memory of its own, zeros; returns
   * the bytes allocated (0 if it had its own already). A level reader's cached struct holds the
   * columns some query decoded, not all 18 (avg_over_time reads 10).
   */
  allocColumn(field: BucketField): number {
    const col = this[field];
    if (!zeroBuffers.has(col.buffer)) return 0;
    const own = col instanceof Uint32Array ? new Uint32Array(this.length) : new Float64Array(this.length);
    (this as unknown as Record<BucketField, Float64Array | Uint32Array>)[field] = own;
    return own.byteLength;
  }

  /** Time of the bucket's last sample, stale marker or not. */
  lastAnyT(i: number): number {
    const s = this.lastStaleT[i]!;
    const t = this.lastT[i]!;
    if (this.count[i] === 0) return s;
    return s > t ? s : t;
  }

  /**
   * Earliest time known to hold a sample or stale marker (only the last stale marker's time is
   * kept, so an earlier stale marker may exist).
   */
  firstKnownT(i: number): number {
    const s = this.lastStaleT[i]!;
    const t = this.firstT[i]!;
    if (this.count[i] === 0) return s;
    return s < t ? s : t;
  }

  /** Whether the bucket's last sample is a stale marker. */
  endsStale(i: number): boolean {
    return this.count[i] === 0 || this.lastStaleT[i]! > this.lastT[i]!;
  }

  /** With checkCounts false, resets and changes are not looked at (a reader that did not decode them). */
  assertInvariants(checkCounts = true): void {
    const fail = (m: string): never => {
      throw new Error(`rollup buckets invariant broken: ${m}`);
    };
    const g = this.widthMs;
    for (let i = 0; i < this.length; i++) {
      const end = this.endMs[i]!;
      const n = this.count[i]!;
      if (end % g !== 0) fail(`bucket ${i} ends at ${end}, not a multiple of ${g}`);
      if (i > 0 && !(end > this.endMs[i - 1]!)) fail(`bucket ${i} not after bucket ${i - 1}`);
      // Inside the bucket: (end - g, end]. (Compared inline: a closure per bucket is an
      // allocation per bucket before the optimiser sees this loop, as on a cold level read.)
      const start = end - g;
      const stale = this.lastStaleT[i]!;
      if (n === 0 && Number.isNaN(stale)) fail(`bucket ${i} is empty`);
      if (!Number.isNaN(stale) && !(stale > start && stale <= end)) fail(`bucket ${i}: stale marker outside`);
      if (n === 0) continue;
      const first = this.firstT[i]!;
      const last = this.lastT[i]!;
      if (!(first > start && first <= end) || !(last > start && last <= end) || first > last) fail(`bucket ${i}: first/last outside or reversed`);
      if (n === 1 && (this.firstT[i] !== this.lastT[i] || !Number.isNaN(this.prevT[i]!))) fail(`bucket ${i}: one sample but first != last or a second-to-last`);
      if (n >= 2 && !(this.prevT[i]! >= this.firstT[i]! && this.prevT[i]! < this.lastT[i]!)) fail(`bucket ${i}: second-to-last sample out of place`);
      if (checkCounts && (this.resets[i]! > n - 1 || this.changes[i]! > n - 1)) fail(`bucket ${i}: more resets/changes than sample pairs`);
      if (this.lastT[i]! - this.firstT[i]! < n - 1) fail(`bucket ${i}: ${n} samples cannot fit between first and last`);
    }
  }
}

/**
 * Summary of a run of samples, built by adding samples (addSample/addStale) or whole buckets
 * that follow what it holds (addBucket). The per-sample path repeats the raw kernels' arithmetic
 * (Kahan-Neumaier sum, Kahan'd Welford) so that a one-bucket window is bit-identical to raw.
 */
export class BucketAccumulator {
  count = 0;
  sum = 0;
  sumC = 0;
  mean = 0;
  meanC = 0;
  m2 = 0;
  m2C = 0;
  min = NaN;
  max = NaN;
  firstT = NaN;
  firstV = NaN;
  lastT = NaN;
  lastV = NaN;
  prevT = NaN;
  prevV = NaN;
  correction = 0;
  resets = 0;
  changes = 0;
  lastStaleT = NaN;

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.sumC = 0;
    this.mean = 0;
    this.meanC = 0;
    this.m2 = 0;
    this.m2C = 0;
    this.min = NaN;
    this.max = NaN;
    this.firstT = NaN;
    this.firstV = NaN;
    this.lastT = NaN;
    this.lastV = NaN;
    this.prevT = NaN;
    this.prevV = NaN;
    this.correction = 0;
    this.resets = 0;
    this.changes = 0;
    this.lastStaleT = NaN;
  }

  /** Whether it holds a sample or a stale marker. */
  get isEmpty(): boolean {
    return this.count === 0 && Number.isNaN(this.lastStaleT);
  }

  addStale(tMs: number): void {
    this.lastStaleT = tMs;
  }

  addSample(tMs: number, v: number): void {
    if (this.count === 0) {
      this.firstT = tMs;
      this.firstV = v;
      this.min = v;
      this.max = v;
    } else {
      const prev = this.lastV;
      // Same comparisons as the raw kernels: NaN compares false (no reset), NaN == NaN (no change).
      if (v < prev) {
        this.resets++;
        this.correction += prev;
      }
      if (v !== prev && !(Number.isNaN(v) && Number.isNaN(prev))) this.changes++;
      if (v < this.min || Number.isNaN(this.min)) this.min = v;
      if (v > this.max || Number.isNaN(this.max)) this.max = v;
      this.prevT = this.lastT;
      this.prevV = prev;
    }
    this.lastT = tMs;
    this.lastV = v;
    this.count++;
    neumaier(v, this.sum, this.sumC);
    this.sum = neumaierOut[0]!;
    this.sumC = neumaierOut[1]!;
    // varianceOverTime's Welford step, compensations kept apart.
    const delta = v - (this.mean + this.meanC);
    neumaier(delta / this.count, this.mean, this.meanC);
    this.mean = neumaierOut[0]!;
    this.meanC = neumaierOut[1]!;
    neumaier(delta * (v - (this.mean + this.meanC)), this.m2, this.m2C);
    this.m2 = neumaierOut[0]!;
    this.m2C = neumaierOut[1]!;
  }

  /** Appends bucket i of b, whose samples all come after the ones held. */
  addBucket(b: RollupBuckets, i: number): void {
    const staleT = b.lastStaleT[i]!;
    if (!Number.isNaN(staleT)) this.lastStaleT = staleT;
    const n = b.count[i]!;
    if (n === 0) return;
    if (this.count === 0) {
      this.count = n;
      this.sum = b.sum[i]!;
      this.sumC = b.sumC[i]!;
      this.mean = b.mean[i]!;
      this.meanC = 0;
      this.m2 = b.m2[i]!;
      this.m2C = 0;
      this.min = b.min[i]!;
      this.max = b.max[i]!;
      this.firstT = b.firstT[i]!;
      this.firstV = b.firstV[i]!;
      this.lastT = b.lastT[i]!;
      this.lastV = b.lastV[i]!;
      this.prevT = b.prevT[i]!;
      this.prevV = b.prevV[i]!;
      this.correction = b.correction[i]!;
      this.resets = b.resets[i]!;
      this.changes = b.changes[i]!;
      return;
    }
    // The one sample pair that crosses the boundary.
    const prev = this.lastV;
    const first = b.firstV[i]!;
    if (first < prev) {
      this.resets++;
      this.correction += prev;
    }
    if (first !== prev && !(Number.isNaN(first) && Number.isNaN(prev))) this.changes++;
    this.resets += b.resets[i]!;
    this.changes += b.changes[i]!;
    this.correction += b.correction[i]!;
    const bMin = b.min[i]!;
    const bMax = b.max[i]!;
    if (bMin < this.min || Number.isNaN(this.min)) this.min = bMin;
    if (bMax > this.max || Number.isNaN(this.max)) this.max = bMax;
    if (n >= 2) {
      this.prevT = b.prevT[i]!;
      this.prevV = b.prevV[i]!;
    } else {
      this.prevT = this.lastT;
      this.prevV = prev;
    }
    this.lastT = b.lastT[i]!;
    this.lastV = b.lastV[i]!;
    neumaier(b.sum[i]!, this.sum, this.sumC + b.sumC[i]!);
    this.sum = neumaierOut[0]!;
    this.sumC = neumaierOut[1]!;
    // Chan et al.'s pairwise update of (n, mean, M2).
    const nA = this.count;
    const total = nA + n;
    const meanA = this.mean + this.meanC;
    const delta = b.mean[i]! - meanA;
    this.mean = meanA + delta * (n / total);
    this.meanC = 0;
    this.m2 = this.m2 + this.m2C + b.m2[i]! + delta * delta * ((nA * n) / total);
    this.m2C = 0;
    this.count = total;
  }

  /** Writes the summary as bucket i of b (endMs set by the caller). */
  writeTo(b: RollupBuckets, i: number): void {
    b.count[i] = this.count;
    b.sum[i] = this.sum;
    b.sumC[i] = this.sumC;
    b.mean[i] = this.mean + this.meanC;
    b.m2[i] = this.m2 + this.m2C;
    b.min[i] = this.min;
    b.max[i] = this.max;
    b.firstT[i] = this.firstT;
    b.firstV[i] = this.firstV;
    b.lastT[i] = this.lastT;
    b.lastV[i] = this.lastV;
    b.prevT[i] = this.prevT;
    b.prevV[i] = this.prevV;
    b.correction[i] = this.correction;
    b.resets[i] = this.resets;
    b.changes[i] = this.changes;
    b.lastStaleT[i] = this.lastStaleT;
  }
}

// Kahan-Neumaier increment, as Prometheus' kahansum.Inc (and eval-range-functions.ts' kahanInc):
// the compensation is dropped once the sum is infinite. Results in neumaierOut (sum, then
// compensation) to avoid tuples; a typed array, as a double stored in a module variable is a
// fresh heap number per store (two allocations per step, when this was nSum/nC).
export const neumaierOut = new Float64Array(2);
export function neumaier(inc: number, sum: number, c: number): void {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) c = 0;
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc;
  else c += inc - t + sum;
  neumaierOut[0] = t;
  neumaierOut[1] = c;
}

/** Index k of the bucket (k*G, (k+1)*G] holding time tMs. */
export function bucketIndexOf(tMs: number, widthMs: number): number {
  return Math.ceil(tMs / widthMs) - 1;
}

/**
 * Buckets of width widthMs from one series' samples: timestamps strictly ascending (ms),
 * values with stale markers (bit-exact, see model/samples.ts) where the series ended.
 */
export function buildBuckets(timestampsMs: Float64Array, values: Float64Array, widthMs: number): RollupBuckets {
  const len = timestampsMs.length;
  if (values.length !== len) throw new Error(`rollup build: ${len} timestamps, ${values.length} values`);
  let buckets = 0;
  let lastK = NaN;
  for (let i = 0; i < len; i++) {
    const t = timestampsMs[i]!;
    if (i > 0 && !(t > timestampsMs[i - 1]!)) throw new Error(`rollup build: timestamps not strictly ascending at index ${i}`);
    const k = bucketIndexOf(t, widthMs);
    if (k !== lastK) buckets++;
    lastK = k;
  }
  const out = new RollupBuckets(widthMs, buckets);
  const acc = new BucketAccumulator();
  let w = -1;
  lastK = NaN;
  for (let i = 0; i < len; i++) {
    const t = timestampsMs[i]!;
    const k = bucketIndexOf(t, widthMs);
    if (k !== lastK) {
      if (w >= 0) acc.writeTo(out, w);
      acc.reset();
      w++;
      out.endMs[w] = (k + 1) * widthMs;
      lastK = k;
    }
    if (isStaleAt(values, i)) acc.addStale(t);
    else acc.addSample(t, values[i]!);
  }
  if (w >= 0) acc.writeTo(out, w);
  return out;
}

/** The level of width G*factor from a level of width G: each wide bucket merges its f narrow ones. */
export function coarsen(b: RollupBuckets, factor: number): RollupBuckets {
  if (!(Number.isInteger(factor) && factor >= 1)) throw new Error(`rollup coarsen: factor must be a whole number >= 1, got ${factor}`);
  const wide = b.widthMs * factor;
  // Bucket ends are multiples of G, so a narrow bucket's end e lies in wide bucket (ceil(e/W)-1).
  return regroup([b], wide);
}

/**
 * One run from two runs of the same series and width, a's samples all before b's (e.g. the
 * rollups of two consecutive partitions); a bucket present in both is merged.
 */
export function concat(a: RollupBuckets, b: RollupBuckets): RollupBuckets {
  if (a.widthMs !== b.widthMs) throw new Error(`rollup concat: widths ${a.widthMs} and ${b.widthMs}`);
  if (a.length > 0 && b.length > 0 && a.endMs[a.length - 1]! > b.endMs[0]!) throw new Error('rollup concat: runs overlap');
  if (a.length > 0 && b.length > 0 && a.endMs[a.length - 1] === b.endMs[0] && !(a.lastAnyT(a.length - 1) < b.firstKnownT(0))) {
    throw new Error('rollup concat: samples of the shared bucket overlap');
  }
  return regroup([a, b], a.widthMs);
}

/** Rows [lo, hi) of a RollupBuckets: a run of one series inside a batch of many (no copy). */
export interface BucketRange {
  readonly buckets: RollupBuckets;
  readonly lo: number;
  readonly hi: number;
}

/**
 * concat() of many runs at once, in time order (each run's samples after the previous ones'):
 * linear in the total, where folding concat() over n pieces would copy O(n) times. Runs may be
 * row ranges of larger batches; the result is always a fresh RollupBuckets of its own.
 */
export function concatAll(runs: readonly (RollupBuckets | BucketRange)[]): RollupBuckets {
  if (runs.length === 0) throw new Error('rollup concatAll: no runs');
  const ranges = runs.map((r): BucketRange => (r instanceof RollupBuckets ? { buckets: r, lo: 0, hi: r.length } : r));
  const widthMs = ranges[0]!.buckets.widthMs;
  if (ranges.length === 1 && runs[0] instanceof RollupBuckets) return runs[0];
  checkRuns(ranges, widthMs);
  return joinRanges(ranges, widthMs);
}

/** concatAll's checks: one width, rows inside their structs, each run after the previous one. */
function checkRuns(ranges: readonly BucketRange[], widthMs: number): void {
  let prev: BucketRange | undefined;
  for (const r of ranges) {
    const b = r.buckets;
    if (b.widthMs !== widthMs) throw new Error(`rollup concat: widths ${widthMs} and ${b.widthMs}`);
    if (!(r.lo >= 0 && r.hi <= b.length && r.lo <= r.hi)) throw new Error(`rollup concat: rows [${r.lo}, ${r.hi}) outside 0..${b.length}`);
    if (r.hi === r.lo) continue;
    if (prev !== undefined) {
      const p = prev.buckets;
      const lastEnd = p.endMs[prev.hi - 1]!;
      if (lastEnd > b.endMs[r.lo]!) throw new Error('rollup concat: runs overlap');
      if (lastEnd === b.endMs[r.lo] && !(p.lastAnyT(prev.hi - 1) < b.firstKnownT(r.lo))) throw new Error('rollup concat: samples of the shared bucket overlap');
    }
    prev = r;
  }
}

/**
 * concatAll() of every series' runs at once (series[i] -> result[i]), the results sharing ONE
 * buffer: a long query joins ~30 partitions' runs for each of thousands of series, and a
 * buffer per series (an allocation V8 makes slowly, and external memory that drives GC) cost
 * more than the copy. A series with a single run gets a view of its rows (no copy): the
 * result then shares its values with the run's struct, so callers must not write to it.
 * Every series needs at least one run.
 */
export function joinSeriesRuns(series: readonly (readonly BucketRange[])[], widthMs: number, pooled?: ArrayBuffer[]): RollupBuckets[] {
  const joiner = new SeriesRunsJoiner(series, widthMs, pooled);
  const out: RollupBuckets[] = new Array<RollupBuckets>(series.length);
  for (let i = 0; i < series.length; i++) out[i] = joiner.join(i);
  return out;
}

/**
 * joinSeriesRuns() one series at a time, when asked (join(i)): a grid that can be evaluated
 * over the runs themselves (evalRollupGridRuns) never needs its series joined, and the join, a
 * copy of every bucket's 18 fields, was half of a warm 30-day pyramid query. Joins of the series
 * that are asked for fill shared pooled buffers in the order asked, as joinSeriesRuns does.
 * The runs are checked when the joiner is made.
 */
export class SeriesRunsJoiner {
  private readonly joined: (RollupBuckets | undefined)[];
  private buffer: ArrayBuffer | undefined;
  private at = 0;

  constructor(
    private readonly series: readonly (readonly BucketRange[])[],
    private readonly widthMs: number,
    private readonly pooled?: ArrayBuffer[],
  ) {
    for (const runs of series) {
      if (runs.length === 0) throw new Error('rollup join: a series without runs');
      checkRuns(runs, widthMs);
    }
    this.joined = new Array<RollupBuckets | undefined>(series.length);
  }

  /** Series i's runs joined (the same struct on every call). */
  join(i: number): RollupBuckets {
    const done = this.joined[i];
    if (done !== undefined) return done;
    const runs = this.series[i]!;
    const widthMs = this.widthMs;
    let out: RollupBuckets;
    if (runs.length === 1) {
      const r = runs[0]!;
      out = r.lo === 0 && r.hi === r.buckets.length ? r.buckets : new RollupBuckets(widthMs, r.hi - r.lo, { rowsOf: r.buckets, lo: r.lo });
    } else {
      // Buffers of JOIN_BUFFER_BYTES, each shared by consecutive joins (a series bigger than
      // that gets one of its own): few allocations, reused through the pool when the caller
      // passes `pooled` and gives them back (releaseJoinBuffers). Every byte a struct covers is
      // written by the join, so a reused buffer shows nothing of its earlier contents.
      const n = joinedLength(runs);
      const bytes = regionBytes(n);
      let buffer = this.buffer;
      if (buffer === undefined || this.at + bytes > buffer.byteLength) {
        if (bytes <= JOIN_BUFFER_BYTES) {
          // A pool-sized buffer: from the pool when a finished query gave one back.
          buffer = joinPool.pop() ?? new ArrayBuffer(JOIN_BUFFER_BYTES);
          this.pooled?.push(buffer);
          this.buffer = buffer;
        } else buffer = new ArrayBuffer(bytes);
        this.at = 0;
      }
      out = new RollupBuckets(widthMs, n, { buffer, byteOffset: this.at });
      if (buffer === this.buffer) this.at += bytes;
      joinRangesInto(runs, out);
    }
    this.joined[i] = out;
    return out;
  }
}

/**
 * The buckets of runs (checked as by joinSeriesRuns) as a list of pieces none of which shares a
 * bucket with the next: a bucket split between two runs (the bucket ending at a partition's
 * start holds that instant's sample in the later partition) is merged through the accumulator
 * into a row of `merged`. What joinRangesInto() copies and evalRollupGridRuns() walks instead of
 * a joined copy, so both see the same merged bits. Reuses module scratch: valid until the next call.
 */
export function bucketPieces(runs: readonly BucketRange[], widthMs: number): BucketPieces {
  const p = piecesScratch;
  let n = 0;
  if (p.lo.length < 2 * runs.length) {
    p.lo = new Int32Array(4 * runs.length);
    p.hi = new Int32Array(4 * runs.length);
  }
  let merged = p.merged;
  let m = 0;
  const acc = joinAcc;
  for (const r of runs) {
    let lo = r.lo;
    if (lo === r.hi) continue;
    const b = r.buckets;
    if (n > 0) {
      const pb = p.buckets[n - 1]!;
      const ph = p.hi[n - 1]!;
      if (pb.endMs[ph - 1] === b.endMs[lo]) {
        // Room for every merge of this call (at most one per run), made only when one is needed.
        if (m === 0 && (merged.length < runs.length || merged.widthMs !== widthMs)) merged = p.merged = new RollupBuckets(widthMs, Math.max(runs.length, 32));
        acc.reset();
        acc.addBucket(pb, ph - 1);
        acc.addBucket(b, lo);
        acc.writeTo(merged, m);
        merged.endMs[m] = b.endMs[lo]!; // (writeTo leaves a row's end to its caller)
        if (ph - 1 === p.lo[n - 1]) n--;
        else p.hi[n - 1] = ph - 1;
        p.buckets[n] = merged;
        p.lo[n] = m;
        p.hi[n] = m + 1;
        n++;
        m++;
        lo++;
      }
    }
    if (lo === r.hi) continue;
    p.buckets[n] = b;
    p.lo[n] = lo;
    p.hi[n] = r.hi;
    n++;
  }
  p.count = n;
  return p;
}

/** Pieces of one series' buckets (bucketPieces): rows [lo[i], hi[i]) of buckets[i], i < count, ascending endMs. */
export interface BucketPieces {
  count: number;
  readonly buckets: RollupBuckets[];
  lo: Int32Array;
  hi: Int32Array;
  merged: RollupBuckets;
}
const piecesScratch: BucketPieces = { count: 0, buckets: [], lo: new Int32Array(64), hi: new Int32Array(64), merged: new RollupBuckets(60_000, 32) };
const JOIN_BUFFER_BYTES = 1 << 20;

/**
 * Join buffers given back by finished selections (releaseJoinBuffers), reused by the next
 * joins: a 30-day query joins ~50 MB, and fresh buffers every time cost page faults and, as
 * external memory, full garbage collections. At most JOIN_POOL_BUFFERS_MAX are kept.
 */
const joinPool: ArrayBuffer[] = [];
const JOIN_POOL_BUFFERS_MAX = 64;

/**
 * Gives join buffers (the `pooled` list of joinSeriesRuns) back for reuse. Only once nothing
 * reads the joined buckets any more: the next join overwrites them.
 */
export function releaseJoinBuffers(buffers: ArrayBuffer[]): void {
  for (const b of buffers) if (b.byteLength === JOIN_BUFFER_BYTES && joinPool.length < JOIN_POOL_BUFFERS_MAX && !joinPool.includes(b)) joinPool.push(b);
  buffers.length = 0;
}

/** Buckets [lo, hi) of b as a run of its own (a copy). */
export function sliceBuckets(b: RollupBuckets, lo: number, hi: number): RollupBuckets {
  if (!(lo >= 0 && hi <= b.length && lo <= hi)) throw new Error(`rollup slice: rows [${lo}, ${hi}) outside 0..${b.length}`);
  const out = new RollupBuckets(b.widthMs, hi - lo);
  copyBucketRows(out, 0, b, lo, hi - lo);
  return out;
}

/**
 * Rows [from, from + n) of b to rows [to, to + n) of out, field by field in one loop: short runs
 * (a few buckets per partition) are the common case, where subarray().set() would allocate 18
 * typed-array views per run (slow in V8) and a loop over field names would look each up by key.
 */
export function copyBucketRows(out: RollupBuckets, to: number, b: RollupBuckets, from: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const d = to + i;
    const s = from + i;
    out.endMs[d] = b.endMs[s]!;
    out.count[d] = b.count[s]!;
    out.sum[d] = b.sum[s]!;
    out.sumC[d] = b.sumC[s]!;
    out.mean[d] = b.mean[s]!;
    out.m2[d] = b.m2[s]!;
    out.min[d] = b.min[s]!;
    out.max[d] = b.max[s]!;
    out.firstT[d] = b.firstT[s]!;
    out.firstV[d] = b.firstV[s]!;
    out.lastT[d] = b.lastT[s]!;
    out.lastV[d] = b.lastV[s]!;
    out.prevT[d] = b.prevT[s]!;
    out.prevV[d] = b.prevV[s]!;
    out.correction[d] = b.correction[s]!;
    out.resets[d] = b.resets[s]!;
    out.changes[d] = b.changes[s]!;
    out.lastStaleT[d] = b.lastStaleT[s]!;
  }
}

/**
 * concatAll's join: rows are copied in bulk (a bucket copied through a fresh accumulator is
 * written back unchanged), and only a run's first bucket, when it is the previous run's last
 * bucket continued, is merged through the accumulator -- the same arithmetic as regroup().
 */
function joinRanges(runs: readonly BucketRange[], widthMs: number): RollupBuckets {
  const out = new RollupBuckets(widthMs, joinedLength(runs));
  joinRangesInto(runs, out);
  return out;
}

/** Bytes of n buckets' columns in a shared buffer, rounded up so the next region's float64 columns stay aligned. */
function regionBytes(n: number): number {
  return Math.ceil((n * BUCKET_BYTES) / 8) * 8;
}

/** Buckets of the join of runs (checked by checkRuns): a bucket split between two runs counts once. */
export function joinedLength(runs: readonly BucketRange[]): number {
  let total = 0;
  let lastEnd = NaN;
  for (const r of runs) {
    if (r.hi === r.lo) continue;
    total += r.hi - r.lo;
    if (r.buckets.endMs[r.lo] === lastEnd) total--;
    lastEnd = r.buckets.endMs[r.hi - 1]!;
  }
  return total;
}

/**
 * joinRanges into out, of joinedLength(runs) buckets: the pieces of bucketPieces() copied in
 * order (rows copied in bulk; a bucket split between two runs is the row bucketPieces merged).
 */
function joinRangesInto(runs: readonly BucketRange[], out: RollupBuckets): void {
  const p = bucketPieces(runs, out.widthMs);
  let w = 0;
  for (let i = 0; i < p.count; i++) {
    const n = p.hi[i]! - p.lo[i]!;
    copyBucketRows(out, w, p.buckets[i]!, p.lo[i]!, n);
    w += n;
  }
}
const joinAcc = new BucketAccumulator();

function regroup(runs: readonly RollupBuckets[], widthMs: number): RollupBuckets {
  return regroupRanges(
    runs.map((b) => ({ buckets: b, lo: 0, hi: b.length })),
    widthMs,
  );
}

function regroupRanges(runs: readonly BucketRange[], widthMs: number): RollupBuckets {
  let buckets = 0;
  let lastK = NaN;
  for (const r of runs) {
    const b = r.buckets;
    for (let i = r.lo; i < r.hi; i++) {
      const k = bucketIndexOf(b.endMs[i]!, widthMs);
      if (k !== lastK) buckets++;
      lastK = k;
    }
  }
  const out = new RollupBuckets(widthMs, buckets);
  const acc = new BucketAccumulator();
  let w = -1;
  lastK = NaN;
  for (const r of runs) {
    const b = r.buckets;
    for (let i = r.lo; i < r.hi; i++) {
      const k = bucketIndexOf(b.endMs[i]!, widthMs);
      if (k !== lastK) {
        if (w >= 0) acc.writeTo(out, w);
        acc.reset();
        w++;
        out.endMs[w] = (k + 1) * widthMs;
        lastK = k;
      }
      acc.addBucket(b, i);
    }
  }
  if (w >= 0) acc.writeTo(out, w);
  return out;
}
