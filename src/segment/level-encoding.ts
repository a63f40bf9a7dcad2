// Encoding of rollup buckets (rollup/buckets.ts) in a level segment's buckets.arrow: a block is a
// run of up to LEVEL_BLOCK_BUCKETS_MAX buckets of one series; each of its 18 fields becomes one
// cell (one Binary column per field), encoded with the chunk encoders of encoding/ plus a few
// "column modes" that make what is redundant between fields cost (almost) nothing:
//
//   - times are stored as offsets inside their bucket, which regular scrapes make constant;
//   - min/max/prevV/firstV are usually bit-identical to another value field (a counter's min is
//     its first sample, its max the last), and mean is usually sum/count exactly;
//   - all-zero (sumC, correction, m2 of constant series) and all-NaN columns cost one byte;
//   - (cell version 2) what is a computed value but for float rounding is stored as the exact
//     part plus ulps: mean as ulps off sum/count (M_ULP), sums of decimal samples as an integer
//     over 10^K plus ulps and m2 as (n sum(m^2) - M^2) / (n 10^2K) plus ulps (M_RATIO), and the
//     Kahan compensation sumC as small integers times one power of two (M_SCALED).
//
// Every mode reproduces the input bits exactly (NaN payloads, -0, Inf): the writer encodes each
// block, decodes it again and compares all bits (pair assertion), so an unexact choice can only
// fail the write, never store a different bucket. docs/format/level.md documents every byte.
import type { RollupBuckets } from '../rollup/buckets.js';
import { RollupBuckets as Buckets } from '../rollup/buckets.js';
import { ByteSink, ByteSource, DECIMAL_EXPONENT_MAX, DECIMAL_MANTISSA_ABS_MAX, EncodingError, decodePfor, decodeTimestamps, decodeValues, encodePfor, encodeTimestamps, encodeValues } from './encoding/index.js';

/** The fields of RollupBuckets in cell (column) order: a mode may refer only to earlier fields. */
export const LEVEL_FIELDS = [
  'endMs',
  'count',
  'lastV',
  'firstV',
  'prevV',
  'min',
  'max',
  'sum',
  'sumC',
  'mean',
  'm2',
  'correction',
  'resets',
  'changes',
  'firstT',
  'lastT',
  'prevT',
  'lastStaleT',
] as const;
export type LevelField = (typeof LEVEL_FIELDS)[number];
/** Arrow column name of each field (snake case). */
export const LEVEL_FIELD_COLUMNS: Record<LevelField, string> = {
  endMs: 'end_ms',
  count: 'count',
  lastV: 'last_v',
  firstV: 'first_v',
  prevV: 'prev_v',
  min: 'min',
  max: 'max',
  sum: 'sum',
  sumC: 'sum_c',
  mean: 'mean',
  m2: 'm2',
  correction: 'correction',
  resets: 'resets',
  changes: 'changes',
  firstT: 'first_t',
  lastT: 'last_t',
  prevT: 'prev_t',
  lastStaleT: 'last_stale_t',
};
const FIELD_INDEX = new Map<LevelField, number>(LEVEL_FIELDS.map((f, i) => [f, i]));
const UINT32_FIELDS = new Set<LevelField>(['count', 'resets', 'changes']);
const TIME_FIELDS = new Set<LevelField>(['firstT', 'lastT', 'prevT', 'lastStaleT']);

// Cell modes (first byte of every cell except end_ms, which is a timestamp chunk of bucket indices).
export const M_PLAIN = 0; // encodeValues of the n values (uint32 fields as float64)
export const M_ZERO = 1; // every value is +0
export const M_NAN = 2; // every value is the canonical NaN 0x7ff8000000000000
export const M_SAME = 3; // pred u8: bit-identical to predictor pred
export const M_MASKED = 4; // pred u8, bitmap ceil(n/8) (bit i set: value i = predictor i), encodeValues of the others
export const M_OFFSET = 5; // presence u8, [bitmap], int sequence of the offsets of the present values (time fields)
export const M_DIFF = 6; // pred u8, K u8, npatch varint, PFOR of mantissa differences, patches (see encodeDiff)
export const M_ULP = 7; // pred u8, npatch varint, PFOR of ulp differences from the predictor, patches (see encodeUlp)
export const M_SCALED = 9; // E zigzag varint, npatch varint, PFOR of integers k (value = k * 2^E), patches (see encodeScaled)
export const M_RATIO = 8; // pred u8, K u8, div u8, npatch varint, PFOR of integer differences, PFOR of ulp residuals, patches (see encodeRatio)

/** Predictors beyond the field indices 0..17. */
export const P_SUM_OVER_COUNT = 64; // sum / count (IEEE division)
export const P_PREV_LAST = 65; // lastV of the previous bucket of the block (bucket 0: its own lastV)
export const P_COUNT_MID = 66; // count * ((firstV + lastV) / 2): a linear counter's sum
export const P_KAHAN_OVER_COUNT = 67; // (sum + sumC) / count
export const P_ZERO = 68; // +0 (no prediction)
export const P_HALF_PAIRS_MEAN = 70; // (count - 1) * mean / 2: a gauge's correction (about half of its steps go down, each adding the value before it)
export const P_M2_RAMP = 69;
export const P_PAIRS = 71; // count - 1 (0 if count is 0): changes of a series that moves every scrape
export const P_HALF_PAIRS = 72; // (count - 1) / 2 (0 if count is 0): resets of a gauge (about half of its steps go down) // m2 of count values evenly spaced from firstV to lastV: (lastV - firstV)^2 * count * (count + 1) / (12 * (count - 1)), count >= 2 (else 0)

// Divisor kinds of M_RATIO: the scale of bucket i is 10^K times
export const DIV_ONE = 0; // 1
export const DIV_COUNT = 1; // count[i]
/**
 * count[i], and the integer N is c_i + count[i] * q_i with the residue c_i = -(M_i mod count)^2
 * mod count and M_i = ratioInt(sum[i] * 10^(K/2)): for m2 of decimals, N = n sum(m^2) - M^2 with M
 * the samples' mantissa sum, so only q = (N - c) / n is stored (log2(n) bits fewer). K even,
 * count[i] < 2^26 (so the square is exact).
 */
export const DIV_COUNT_RESIDUE = 2;

// Int sequences (M_OFFSET payload): a tag byte, then
export const INTS_VALUES = 0; // encodeValues (decimal deltas: good for drifting offsets)
export const INTS_PFOR = 1; // PFOR of the integers themselves (frame of reference: good for jitter)

// Presence kinds of M_OFFSET: which rows hold a time (the others are the canonical NaN).
export const PRESENT_ALL = 0;
export const PRESENT_MASK = 1; // a bitmap follows (bit i set: present)
export const PRESENT_COUNT_GE1 = 2; // rows with count >= 1
export const PRESENT_COUNT_GE2 = 3; // rows with count >= 2

/** Predictors tried for each value field with M_SAME / M_MASKED (bit-identical), earlier fields only. */
const PREDICTORS: Partial<Record<LevelField, number[]>> = {
  firstV: [FIELD_INDEX.get('lastV')!, P_PREV_LAST],
  prevV: [FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('firstV')!],
  min: [FIELD_INDEX.get('firstV')!, FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('prevV')!],
  max: [FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('firstV')!, FIELD_INDEX.get('prevV')!],
  sum: [FIELD_INDEX.get('firstV')!],
  mean: [P_SUM_OVER_COUNT, P_KAHAN_OVER_COUNT, FIELD_INDEX.get('firstV')!],
};

/** Predictors tried with M_DIFF (close in decimal mantissas): a counter's prevV is lastV minus one step, etc. */
const DIFF_PREDICTORS: Partial<Record<LevelField, number[]>> = {
  firstV: [P_PREV_LAST, FIELD_INDEX.get('lastV')!],
  prevV: [FIELD_INDEX.get('lastV')!],
  min: [FIELD_INDEX.get('firstV')!, FIELD_INDEX.get('lastV')!],
  max: [FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('firstV')!],
  sum: [P_COUNT_MID],
  correction: [FIELD_INDEX.get('lastV')!],
  resets: [P_HALF_PAIRS],
  changes: [P_PAIRS],
};

/** Predictors tried with M_ULP (a few ulps off a computed value): Welford's mean is sum/count but for rounding. */
const ULP_PREDICTORS: Partial<Record<LevelField, number[]>> = {
  mean: [P_SUM_OVER_COUNT, P_KAHAN_OVER_COUNT],
};

/**
 * Predictors and divisor kinds tried with M_RATIO (value = integer / scale, plus a few ulps):
 * sums of decimals are decimals but for the rounding of each addition, and m2 of decimals with
 * K digits is (n * sum(m^2) - (sum m)^2) / (n * 10^2K), an integer over count * 10^2K.
 */
const RATIO_PREDICTORS: Partial<Record<LevelField, { preds: number[]; div: number; kScale: number }>> = {
  sum: { preds: [P_COUNT_MID, P_ZERO], div: DIV_ONE, kScale: 1 },
  correction: { preds: [P_ZERO, P_HALF_PAIRS_MEAN], div: DIV_ONE, kScale: 1 },
  m2: { preds: [P_M2_RAMP, P_ZERO], div: DIV_COUNT_RESIDUE, kScale: 2 },
};

const CANON_NAN_LO = 0;
const CANON_NAN_HI = 0x7ff80000;

function fieldArray(b: RollupBuckets, f: LevelField): Float64Array | Uint32Array {
  return b[f];
}

/** 64-bit words of a float column (a copy for uint32 fields, converted to float64). */
function asF64(a: Float64Array | Uint32Array, start: number, n: number): Float64Array {
  if (a instanceof Float64Array) return a.subarray(start, start + n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a[start + i]!;
  return out;
}

function words(a: Float64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
}

/** Time offset of value t inside bucket i (integer), by field. */
function timeOffset(f: LevelField, t: number, endMs: number, widthMs: number, lastT: number): number {
  switch (f) {
    case 'firstT':
      return t - (endMs - widthMs);
    case 'prevT':
      return lastT - t;
    default:
      return endMs - t; // lastT, lastStaleT
  }
}

function timeFromOffset(f: LevelField, off: number, endMs: number, widthMs: number, lastT: number): number {
  switch (f) {
    case 'firstT':
      return endMs - widthMs + off;
    case 'prevT':
      return lastT - off;
    default:
      return endMs - off;
  }
}

/** Encodes buckets [start, start+n) of b as 18 cells (one per LEVEL_FIELDS entry) into sinks. */
export function encodeLevelBlock(b: RollupBuckets, start: number, n: number, sinks: ByteSink[]): void {
  if (n < 1) throw new Error('encodeLevelBlock: empty block');
  const g = b.widthMs;
  // end_ms: bucket indices k = endMs / G as a timestamp chunk (regular runs: a few bytes).
  const ks = new Float64Array(n);
  for (let i = 0; i < n; i++) ks[i] = b.endMs[start + i]! / g;
  encodeTimestamps(sinks[0]!, ks, 0, n);
  const cols: Float64Array[] = [ks];
  const count = b.count.subarray(start, start + n);
  const endMs = b.endMs.subarray(start, start + n);
  const lastT = b.lastT.subarray(start, start + n);
  let k0: number | undefined; // the samples' decimal digits (M_RATIO), computed once when first needed
  for (let c = 1; c < LEVEL_FIELDS.length; c++) {
    const f = LEVEL_FIELDS[c]!;
    const col = asF64(fieldArray(b, f), start, n);
    cols.push(col);
    const sink = sinks[c]!;
    const w = words(col);
    let allZero = true;
    let allNaN = true;
    for (let i = 0; i < n; i++) {
      const lo = w[2 * i]!;
      const hi = w[2 * i + 1]!;
      if (lo !== 0 || hi !== 0) allZero = false;
      if (lo !== CANON_NAN_LO || hi !== CANON_NAN_HI) allNaN = false;
    }
    if (allZero) {
      sink.pushByte(M_ZERO);
      continue;
    }
    if (allNaN) {
      sink.pushByte(M_NAN);
      continue;
    }
    const at = sink.length;
    let best: Uint8Array | undefined;
    const consider = (): void => {
      const bytes = sink.bytes.slice(at, sink.length);
      if (best === undefined || bytes.length < best.length) best = bytes;
      sink.length = at;
    };
    // Predictors: whole-column equality (M_SAME) or a mask of equal rows (M_MASKED).
    for (const p of PREDICTORS[f] ?? []) {
      const pred = predictorColumn(p, cols, n);
      const pw = words(pred);
      let equal = 0;
      const mask = new Uint8Array((n + 7) >>> 3);
      for (let i = 0; i < n; i++) {
        if (w[2 * i] === pw[2 * i] && w[2 * i + 1] === pw[2 * i + 1]) {
          equal++;
          mask[i >>> 3]! |= 1 << (i & 7);
        }
      }
      if (equal === n) {
        sink.pushByte(M_SAME);
        sink.pushByte(p);
        consider();
        break;
      }
      if (equal === 0) continue;
      sink.pushByte(M_MASKED);
      sink.pushByte(p);
      sink.pushBytes(mask);
      const rest = new Float64Array(n - equal);
      const rw = words(rest);
      let k = 0;
      for (let i = 0; i < n; i++) {
        if ((mask[i >>> 3]! & (1 << (i & 7))) !== 0) continue;
        rw[2 * k] = w[2 * i]!;
        rw[2 * k + 1] = w[2 * i + 1]!;
        k++;
      }
      encodeValues(sink, rest, 0, rest.length);
      consider();
    }
    if (f === 'sumC' && encodeScaled(sink, col, w)) consider();
    for (const p of DIFF_PREDICTORS[f] ?? []) if (encodeDiff(sink, p, col, w, predictorColumn(p, cols, n))) consider();
    const ulpPreds = ULP_PREDICTORS[f];
    if (ulpPreds !== undefined && encodeUlp(sink, ulpPreds, col, w, cols)) consider();
    const ratio = RATIO_PREDICTORS[f];
    if (ratio !== undefined) {
      if (k0 === undefined) k0 = blockDecimalExponent(cols, n);
      const K = k0 * ratio.kScale;
      if (k0 >= 0 && K <= RATIO_EXPONENT_MAX) {
        const scales = ratioScales(ratio.div, K, cols[1]!, n);
        if (encodeRatio(sink, ratio.preds, K, ratio.div, col, w, cols, scales)) consider();
      }
    }
    if (TIME_FIELDS.has(f)) encodeOffsets(sink, f, col, w, count, endMs, lastT, g, () => consider());
    sink.pushByte(M_PLAIN);
    encodeValues(sink, col, 0, n);
    consider();
    sink.pushBytes(best!);
  }
}

/** Tries M_OFFSET for a time field: only when every absent row is the canonical NaN and every offset is exact. */
function encodeOffsets(
  sink: ByteSink,
  f: LevelField,
  col: Float64Array,
  w: Uint32Array,
  count: Uint32Array,
  endMs: Float64Array,
  lastT: Float64Array,
  g: number,
  consider: () => void,
): void {
  const n = col.length;
  const present = new Uint8Array(n);
  let nPresent = 0;
  for (let i = 0; i < n; i++) {
    const v = col[i]!;
    if (v === v) {
      present[i] = 1;
      nPresent++;
    } else if (w[2 * i] !== CANON_NAN_LO || w[2 * i + 1] !== CANON_NAN_HI) return; // a NaN payload: plain keeps it
  }
  if (nPresent === 0) return; // M_NAN covers it
  const offsets = new Float64Array(nPresent);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (present[i] === 0) continue;
    const t = col[i]!;
    const off = timeOffset(f, t, endMs[i]!, g, lastT[i]!);
    // Exact only for integers well inside float64's integer range, and never -0.
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(t) || Object.is(t, -0)) return;
    const back = timeFromOffset(f, off, endMs[i]!, g, lastT[i]!);
    if (back !== t || Object.is(back, -0)) return;
    offsets[k++] = off;
  }
  let kind = PRESENT_MASK;
  if (nPresent === n) kind = PRESENT_ALL;
  else if (matchesCount(present, count, 1)) kind = PRESENT_COUNT_GE1;
  else if (matchesCount(present, count, 2)) kind = PRESENT_COUNT_GE2;
  sink.pushByte(M_OFFSET);
  sink.pushByte(kind);
  if (kind === PRESENT_MASK) {
    const mask = new Uint8Array((n + 7) >>> 3);
    for (let i = 0; i < n; i++) if (present[i] === 1) mask[i >>> 3]! |= 1 << (i & 7);
    sink.pushBytes(mask);
  }
  encodeInts(sink, offsets);
  consider();
}

/**
 * A column for a computed predictor, reused: a cell reads one predictor, and is decoded before
 * the next cell asks for another (the encoder's callers keep theirs, see predictorColumn).
 */
let predScratch = new Float64Array(0);
function predictorScratch(n: number): Float64Array {
  if (predScratch.length !== n) predScratch = new Float64Array(n);
  else predScratch.fill(0);
  return predScratch;
}

/**
 * The predictor column p for a block: a field decoded earlier, or one computed from them. A
 * computed one is a fresh array, or with `reuse` the shared scratch (valid until the next call:
 * the decoder, which uses it for one cell at a time; a cold read decodes ~10 cells in each of
 * ~15,000 blocks, where an allocation each was a GC of its own).
 */
function predictorColumn(p: number, cols: Float64Array[], n: number, reuse = false): Float64Array {
  const col = (f: LevelField) => cols[FIELD_INDEX.get(f)!]!;
  const fresh = (): Float64Array => (reuse ? predictorScratch(n) : new Float64Array(n));
  switch (p) {
    case P_SUM_OVER_COUNT: {
      const sum = col('sum');
      const k = col('count');
      const out = fresh();
      for (let i = 0; i < n; i++) out[i] = sum[i]! / k[i]!;
      return out;
    }
    case P_KAHAN_OVER_COUNT: {
      const sum = col('sum');
      const c = col('sumC');
      const k = col('count');
      const out = fresh();
      for (let i = 0; i < n; i++) out[i] = (sum[i]! + c[i]!) / k[i]!;
      return out;
    }
    case P_PREV_LAST: {
      const last = col('lastV');
      const out = fresh();
      if (n > 0) out[0] = last[0]!;
      out.set(last.subarray(0, n - 1), 1);
      return out;
    }
    case P_ZERO:
      return fresh();
    case P_PAIRS:
    case P_HALF_PAIRS: {
      const c = col('count');
      const out = fresh();
      for (let i = 0; i < n; i++) out[i] = c[i]! >= 1 ? (p === P_PAIRS ? c[i]! - 1 : (c[i]! - 1) / 2) : 0;
      return out;
    }
    case P_HALF_PAIRS_MEAN: {
      const c = col('count');
      const m = col('mean');
      const out = fresh();
      for (let i = 0; i < n; i++) out[i] = ((c[i]! - 1) * m[i]!) / 2;
      return out;
    }
    case P_M2_RAMP: {
      const c = col('count');
      const a = col('firstV');
      const z = col('lastV');
      const out = fresh();
      for (let i = 0; i < n; i++) {
        const k = c[i]!;
        if (k < 2) continue;
        const d = z[i]! - a[i]!;
        out[i] = (d * d * k * (k + 1)) / (12 * (k - 1));
      }
      return out;
    }
    case P_COUNT_MID: {
      const c = col('count');
      const a = col('firstV');
      const z = col('lastV');
      const out = fresh();
      for (let i = 0; i < n; i++) out[i] = c[i]! * ((a[i]! + z[i]!) / 2);
      return out;
    }
    default:
      return cols[p]!;
  }
}

const P10 = Array.from({ length: DECIMAL_EXPONENT_MAX + 1 }, (_, k) => 10 ** k);

/** Smallest k with v === m / 10^k for an integer |m| <= DECIMAL_MANTISSA_ABS_MAX, or -1 (NaN, Inf, -0, too many digits). */
function decimalExponent(v: number): number {
  if (!Number.isFinite(v) || Object.is(v, -0)) return -1;
  for (let k = 0; k <= DECIMAL_EXPONENT_MAX; k++) {
    const scaled = v * P10[k]!;
    if (Math.abs(scaled) > DECIMAL_MANTISSA_ABS_MAX) return -1;
    const m = Math.round(scaled);
    if (m / P10[k]! === v) return k;
  }
  return -1;
}

/** The predictor's mantissa at exponent K: round(p * 10^K) when finite and in range, else 0. */
function predMantissa(p: number, K: number): number {
  const scaled = p * P10[K]!;
  if (!(Math.abs(scaled) <= DECIMAL_MANTISSA_ABS_MAX)) return 0;
  const m = Math.round(scaled);
  return m === 0 ? 0 : m; // no -0
}

/**
 * M_DIFF: values v_i = m_i / 10^K with m_i = predMantissa(pred_i, K) + d_i; the d_i are PFOR
 * packed. Values that are not such decimals (NaN, Inf, -0, too many digits) are patches with their
 * raw bits (a patched row's slot repeats the previous d). Returns false if more than n/4 rows
 * would be patches or nothing is decimal.
 */
function encodeDiff(sink: ByteSink, p: number, col: Float64Array, w: Uint32Array, pred: Float64Array): boolean {
  const n = col.length;
  let K = 0;
  let decimals = 0;
  for (let i = 0; i < n; i++) {
    const k = decimalExponent(col[i]!);
    if (k < 0) continue;
    decimals++;
    if (k > K) K = k;
  }
  if (decimals === 0 || n - decimals > n / 4) return false;
  const d = new Float64Array(n);
  const patches: number[] = [];
  const scale = P10[K]!;
  let prevD = 0;
  for (let i = 0; i < n; i++) {
    const v = col[i]!;
    const m = Math.round(v * scale);
    const ok = Number.isFinite(v) && !Object.is(v, -0) && Math.abs(m) <= DECIMAL_MANTISSA_ABS_MAX && m / scale === v;
    const mp = predMantissa(pred[i]!, K);
    if (!ok) {
      patches.push(i);
      d[i] = prevD;
      continue;
    }
    d[i] = prevD = m - mp;
  }
  if (patches.length > n / 4) return false;
  sink.pushByte(M_DIFF);
  sink.pushByte(p);
  sink.pushByte(K);
  sink.pushVarint(patches.length);
  encodePfor(sink, d, 0, n);
  pushPatches(sink, w, patches);
  return true;
}

function decodeDiff(src: ByteSource, col: Float64Array, w: Uint32Array, pred: Float64Array, at: number): void {
  const n = col.length;
  const kAt = src.pos;
  const K = src.readByte('decimal exponent');
  if (K > DECIMAL_EXPONENT_MAX) throw new EncodingError(`too big decimal exponent; got ${K}; cannot exceed ${DECIMAL_EXPONENT_MAX}`, kAt);
  const patches = src.readCount('patch count', n);
  intScratch = grow(intScratch, n);
  const d = intScratch;
  decodePfor(src, d, 0, n);
  const scale = P10[K]!;
  for (let i = 0; i < n; i++) {
    const m = predMantissa(pred[i]!, K) + d[i]!;
    if (!(Math.abs(m) <= DECIMAL_MANTISSA_ABS_MAX)) throw new EncodingError(`too big decimal mantissa at bucket ${i}; got ${m}; cannot exceed ${DECIMAL_MANTISSA_ABS_MAX}`, at);
    col[i] = m / scale;
  }
  readPatches(src, patches, n);
  applyPatches(w, patches);
}

/** Appends the smaller of INTS_VALUES and INTS_PFOR for integers xs (|x| < 2^50). */
function encodeInts(sink: ByteSink, xs: Float64Array): void {
  const at = sink.length;
  sink.pushByte(INTS_VALUES);
  encodeValues(sink, xs, 0, xs.length);
  const valuesBytes = sink.bytes.slice(at, sink.length);
  sink.length = at;
  let small = true;
  for (let i = 0; i < xs.length; i++) if (!(Math.abs(xs[i]!) <= DECIMAL_MANTISSA_ABS_MAX)) small = false;
  if (small) {
    sink.pushByte(INTS_PFOR);
    encodePfor(sink, xs, 0, xs.length);
    if (sink.length - at <= valuesBytes.length) return;
    sink.length = at;
  }
  sink.pushBytes(valuesBytes);
}

function decodeInts(src: ByteSource, out: Float64Array): void {
  const at = src.pos;
  const tag = src.readByte('int sequence tag');
  if (tag === INTS_VALUES) {
    const got = decodeValues(src, out, 0, out.length);
    if (got !== out.length) throw new EncodingError(`${got} integers; expected ${out.length}`, at);
  } else if (tag === INTS_PFOR) {
    decodePfor(src, out, 0, out.length);
  } else throw new EncodingError(`unknown int sequence tag ${tag}`, at);
}

function matchesCount(present: Uint8Array, count: Uint32Array, min: number): boolean {
  for (let i = 0; i < present.length; i++) if ((present[i] === 1) !== count[i]! >= min) return false;
  return true;
}

// Scratch reused across blocks (one thread decodes one block at a time): the uint32 fields as
// float64 (count is a predictor input), offsets and PFOR slots. Float fields decode straight
// into the RollupBuckets' own arrays.
const UINT_SCRATCH = new Map<LevelField, Float64Array<ArrayBufferLike>>([
  ['count', new Float64Array(512)],
  ['resets', new Float64Array(512)],
  ['changes', new Float64Array(512)],
]);
let endScratch: Float64Array = new Float64Array(512);
let intScratch: Float64Array = new Float64Array(512);

function grow(a: Float64Array, n: number): Float64Array {
  return a.length >= n ? a : new Float64Array(Math.max(n, a.length * 2));
}

/**
 * Decodes one block's 18 cells (cells[c] = [bytes, start, end)) of n buckets of width widthMs.
 * Throws EncodingError on malformed input; the caller checks the invariants of the result.
 */
export function decodeLevelBlock(cells: ReadonlyArray<{ bytes: Uint8Array; start: number; end: number }>, n: number, widthMs: number): RollupBuckets {
  const out = new Buckets(widthMs, n);
  decodeLevelBlockInto(cells, n, widthMs, out);
  return out;
}

type FloatField = Exclude<LevelField, 'endMs' | 'count' | 'resets' | 'changes'>;
const FIELD_COUNT = LEVEL_FIELDS.length;

/** Decodes one cell into col (n values); cols holds the fields decoded before (predictors). */
function decodeCell(f: LevelField, cell: { bytes: Uint8Array; start: number; end: number }, col: Float64Array, cols: Float64Array[], out: RollupBuckets, n: number, widthMs: number): void {
  const src = new ByteSource(cell.bytes, cell.start, cell.end);
  const at = src.pos;
  const w = words(col);
  const mode = src.readByte('cell mode');
  switch (mode) {
    case M_PLAIN: {
      const got = decodeValues(src, col, 0, n);
      if (got !== n) throw new EncodingError(`plain cell holds ${got} values; expected ${n}`, at);
      break;
    }
    case M_ZERO:
      col.fill(0);
      break;
    case M_NAN:
      for (let i = 0; i < n; i++) {
        w[2 * i] = CANON_NAN_LO;
        w[2 * i + 1] = CANON_NAN_HI;
      }
      break;
    case M_SAME:
    case M_MASKED: {
      const p = src.readByte('predictor');
      const allowed = PREDICTORS[f] ?? [];
      if (!allowed.includes(p)) throw new EncodingError(`predictor ${p} is not one of ${allowed.join(', ') || 'none'}`, at);
      const pw = words(predictorColumn(p, cols, n, true));
      if (mode === M_SAME) {
        w.set(pw);
        break;
      }
      const maskBytes = (n + 7) >>> 3;
      src.need(maskBytes, 'mask');
      const mask = cell.bytes.subarray(src.pos, src.pos + maskBytes);
      src.pos += maskBytes;
      let equal = 0;
      for (let i = 0; i < n; i++) if ((mask[i >>> 3]! & (1 << (i & 7))) !== 0) equal++;
      if (n % 8 !== 0 && mask[maskBytes - 1]! >>> n % 8 !== 0) throw new EncodingError(`mask bits set past the block's ${n} buckets`, at);
      if (equal === 0 || equal === n) throw new EncodingError(`masked cell with ${equal} of ${n} rows predicted`, at);
      const got = decodeValues(src, col, 0, n - equal); // the others, packed at the front ...
      if (got !== n - equal) throw new EncodingError(`masked cell holds ${got} values; expected ${n - equal}`, at);
      // ... then spread back to front so no packed value is overwritten before it is moved.
      let k = n - equal - 1;
      for (let i = n - 1; i >= 0; i--) {
        if ((mask[i >>> 3]! & (1 << (i & 7))) !== 0) {
          w[2 * i] = pw[2 * i]!;
          w[2 * i + 1] = pw[2 * i + 1]!;
        } else {
          w[2 * i] = w[2 * k]!;
          w[2 * i + 1] = w[2 * k + 1]!;
          k--;
        }
      }
      break;
    }
    case M_OFFSET: {
      if (!TIME_FIELDS.has(f)) throw new EncodingError('offset mode on a field that is not a time', at);
      const kind = src.readByte('presence');
      const count = cols[1]!;
      let mask: Uint8Array | undefined;
      if (kind === PRESENT_MASK) {
        const maskBytes = (n + 7) >>> 3;
        src.need(maskBytes, 'presence mask');
        mask = cell.bytes.subarray(src.pos, src.pos + maskBytes);
        src.pos += maskBytes;
      } else if (kind !== PRESENT_ALL && kind !== PRESENT_COUNT_GE1 && kind !== PRESENT_COUNT_GE2) throw new EncodingError(`unknown presence kind ${kind}`, at);
      const min = kind === PRESENT_COUNT_GE1 ? 1 : 2;
      const present = (i: number): boolean => (kind === PRESENT_ALL ? true : kind === PRESENT_MASK ? (mask![i >>> 3]! & (1 << (i & 7))) !== 0 : count[i]! >= min);
      let nPresent = 0;
      for (let i = 0; i < n; i++) if (present(i)) nPresent++;
      if (nPresent === 0) throw new EncodingError('offset cell with no value present', at);
      intScratch = grow(intScratch, nPresent);
      const offsets = intScratch.subarray(0, nPresent);
      decodeInts(src, offsets);
      // time = base + sign * offset (see timeOffset).
      const base = f === 'prevT' ? out.lastT : out.endMs;
      const sign = f === 'firstT' ? 1 : -1;
      const shift = f === 'firstT' ? -widthMs : 0;
      let k = 0;
      for (let i = 0; i < n; i++) {
        if (!present(i)) {
          w[2 * i] = CANON_NAN_LO;
          w[2 * i + 1] = CANON_NAN_HI;
          continue;
        }
        const off = offsets[k++]!;
        if (!(Math.floor(off) === off && Math.abs(off) <= Number.MAX_SAFE_INTEGER)) throw new EncodingError(`offset ${off} of bucket ${i} is not an integer`, at);
        col[i] = base[i]! + shift + sign * off;
      }
      break;
    }
    case M_DIFF: {
      const p = src.readByte('predictor');
      const allowed = DIFF_PREDICTORS[f] ?? [];
      if (!allowed.includes(p)) throw new EncodingError(`difference predictor ${p} is not one of ${allowed.join(', ') || 'none'}`, at);
      decodeDiff(src, col, w, predictorColumn(p, cols, n, true), at);
      break;
    }
    case M_SCALED:
      if (f !== 'sumC') throw new EncodingError('scaled mode on a field other than sum_c', at);
      decodeScaled(src, col, w, at);
      break;
    case M_ULP: {
      const p = src.readByte('predictor');
      const allowed = ULP_PREDICTORS[f] ?? [];
      if (!allowed.includes(p)) throw new EncodingError(`ulp predictor ${p} is not one of ${allowed.join(', ') || 'none'}`, at);
      decodeUlp(src, col, w, predictorColumn(p, cols, n, true), at);
      break;
    }
    case M_RATIO: {
      const p = src.readByte('predictor');
      const ratio = RATIO_PREDICTORS[f];
      if (ratio === undefined || !ratio.preds.includes(p)) throw new EncodingError(`ratio predictor ${p} is not one of ${ratio?.preds.join(', ') ?? 'none'}`, at);
      const div = cell.bytes[src.pos + 1]; // after K; checked again (and its absence reported) by decodeRatio
      const divs = ratio.div === DIV_COUNT_RESIDUE ? [DIV_COUNT, DIV_COUNT_RESIDUE] : [ratio.div];
      if (src.pos + 1 < cell.end && !divs.includes(div!)) throw new EncodingError(`divisor kind ${div} is not one of ${divs.join(', ')}`, at);
      decodeRatio(src, col, w, predictorColumn(p, cols, n, true), cols[1]!, cols[FIELD_INDEX.get('sum')!]!, at);
      break;
    }
    default:
      throw new EncodingError(`unknown cell mode ${mode}`, at);
  }
  if (src.pos !== cell.end) throw new EncodingError(`${cell.end - src.pos} bytes left over`, src.pos);
}

// ---- M_ULP and M_RATIO: a value as a few ulps off a computed one --------------------------------

/** Largest |ulp difference| the writer stores (bigger ones are patches). */
const ULP_DIFF_ABS_MAX = 2 ** 31;
/** K of M_RATIO: 10^K for K up to 36 (m2 of values with up to 18 decimals). */
export const RATIO_EXPONENT_MAX = 2 * DECIMAL_EXPONENT_MAX;
/** The double nearest 10^k (parsed, so correctly rounded also past 10^22). */
const P10X = Array.from({ length: RATIO_EXPONENT_MAX + 1 }, (_, k) => Number(`1e${k}`));
const TWO32 = 4294967296;

/**
 * ulps from the double with words (bLo, bHi) to the one with (vLo, vHi): the difference of the
 * magnitude bits when both have the same sign, else NaN (so is a difference past ULP_DIFF_ABS_MAX).
 */
function ulpDiff(vLo: number, vHi: number, bLo: number, bHi: number): number {
  if ((vHi ^ bHi) >>> 31 !== 0) return NaN;
  const r = ((vHi & 0x7fffffff) - (bHi & 0x7fffffff)) * TWO32 + (vLo - bLo);
  return Math.abs(r) <= ULP_DIFF_ABS_MAX ? r : NaN;
}

/** Adds r ulps to the magnitude of the double in words w[2i], w[2i+1] (its sign kept); false if the magnitude leaves [0, 2^63). */
function addUlps(w: Uint32Array, i: number, r: number): boolean {
  if (r === 0) return true;
  const hi = w[2 * i + 1]!;
  let lo = w[2 * i]! + r;
  const carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  const mag = (hi & 0x7fffffff) + carry;
  if (mag < 0 || mag > 0x7fffffff) return false;
  w[2 * i] = lo;
  w[2 * i + 1] = (mag | (hi & 0x80000000)) >>> 0;
  return true;
}

function pushPatches(sink: ByteSink, w: Uint32Array, patches: number[]): void {
  let last = 0;
  for (const i of patches) {
    sink.pushVarint(i - last);
    last = i;
    sink.ensure(8);
    const b = sink.bytes;
    let at = sink.length;
    for (const word of [w[2 * i]!, w[2 * i + 1]!]) {
      b[at++] = word & 0xff;
      b[at++] = (word >>> 8) & 0xff;
      b[at++] = (word >>> 16) & 0xff;
      b[at++] = word >>> 24;
    }
    sink.length = at;
  }
}

let patchIndex = new Uint32Array(64);
let patchWords = new Uint32Array(128);
let patchMark = new Uint8Array(512);

/** Reads npatch patches (index deltas and raw bits) into patchIndex/patchWords and marks them in patchMark[0..n). */
function readPatches(src: ByteSource, npatch: number, n: number): void {
  if (patchIndex.length < npatch) {
    patchIndex = new Uint32Array(npatch);
    patchWords = new Uint32Array(2 * npatch);
  }
  if (patchMark.length < n) patchMark = new Uint8Array(n);
  patchMark.fill(0, 0, n);
  let idx = 0;
  for (let j = 0; j < npatch; j++) {
    const pAt = src.pos;
    const delta = src.readVarint('patch index');
    idx += delta;
    if (idx >= n || (j > 0 && delta === 0)) throw new EncodingError(`bad patch index ${idx}; count is ${n} and indices must increase`, pAt);
    src.need(8, 'patch value');
    const b = src.bytes;
    const q = src.pos;
    patchIndex[j] = idx;
    patchWords[2 * j] = (b[q]! | (b[q + 1]! << 8) | (b[q + 2]! << 16) | (b[q + 3]! << 24)) >>> 0;
    patchWords[2 * j + 1] = (b[q + 4]! | (b[q + 5]! << 8) | (b[q + 6]! << 16) | (b[q + 7]! << 24)) >>> 0;
    patchMark[idx] = 1;
    src.pos = q + 8;
  }
}

function applyPatches(w: Uint32Array, npatch: number): void {
  for (let j = 0; j < npatch; j++) {
    const i = patchIndex[j]!;
    w[2 * i] = patchWords[2 * j]!;
    w[2 * i + 1] = patchWords[2 * j + 1]!;
  }
}

const ulpScratch = new Float64Array(1);
const ulpScratchWords = new Uint32Array(ulpScratch.buffer);

/** Rough PFOR cost of integers xs (bits of their zigzag): picks the predictor to encode, so only one PFOR block is built. */
function intsCost(xs: Float64Array): number {
  let bits = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    bits += x === 0 ? 0 : 1 + Math.log2(Math.abs(x));
  }
  return bits;
}

/**
 * M_ULP: value i = predictor i plus r_i ulps (same sign; r_i PFOR packed). Rows where that does
 * not hold (a NaN/Inf predictor, a sign change, -0 vs +0, more than 2^31 ulps) are patches with
 * their raw bits, their slot repeating the previous r. Of the predictors ps, the one with the
 * smallest differences is used. False when more than n/4 rows are patches.
 */
function encodeUlp(sink: ByteSink, ps: number[], col: Float64Array, w: Uint32Array, cols: Float64Array[]): boolean {
  const n = col.length;
  let best: { p: number; r: Float64Array; patches: number[]; cost: number } | undefined;
  for (const p of ps) {
    const pred = predictorColumn(p, cols, n);
    const r = new Float64Array(n);
    const pw = words(pred);
    const patches: number[] = [];
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const d = Number.isFinite(pred[i]!) && Number.isFinite(col[i]!) ? ulpDiff(w[2 * i]!, w[2 * i + 1]!, pw[2 * i]!, pw[2 * i + 1]!) : NaN;
      if (d !== d) {
        patches.push(i);
        r[i] = prev;
      } else r[i] = prev = d;
    }
    if (patches.length > n / 4) continue;
    const cost = intsCost(r) + 64 * patches.length;
    if (best === undefined || cost < best.cost) best = { p, r, patches, cost };
  }
  if (best === undefined) return false;
  sink.pushByte(M_ULP);
  sink.pushByte(best.p);
  sink.pushVarint(best.patches.length);
  encodePfor(sink, best.r, 0, n);
  pushPatches(sink, w, best.patches);
  return true;
}

function decodeUlp(src: ByteSource, col: Float64Array, w: Uint32Array, pred: Float64Array, at: number): void {
  const n = col.length;
  const npatch = src.readCount('patch count', n);
  intScratch = grow(intScratch, n);
  const r = intScratch;
  decodePfor(src, r, 0, n);
  readPatches(src, npatch, n);
  col.set(pred.subarray(0, n));
  for (let i = 0; i < n; i++) {
    if (patchMark[i] === 1) continue;
    if (!addUlps(w, i, r[i]!)) throw new EncodingError(`bucket ${i}: ${r[i]} ulps off the predictor leave the float64 range`, at);
  }
  applyPatches(w, npatch);
}

/** Largest decimal exponent among the finite first_v and last_v of the block (the samples' digits), or -1 if none is a decimal. */
function blockDecimalExponent(cols: Float64Array[], n: number): number {
  let K = -1;
  for (const c of [cols[FIELD_INDEX.get('firstV')!]!, cols[FIELD_INDEX.get('lastV')!]!]) {
    for (let i = 0; i < n; i++) {
      const v = c[i]!;
      if (v === 0 || !Number.isFinite(v)) continue;
      const k = decimalExponent(v);
      if (k < 0) return -1; // not decimals: M_RATIO would patch everything
      if (k > K) K = k;
    }
  }
  return K < 0 ? 0 : K;
}

/** Scale of each bucket for M_RATIO: 10^K times 1 or count (uint32 counts, so exact below 2^53 / 10^K ... and deterministic anyway: one IEEE product). */
function ratioScales(div: number, K: number, count: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const p = P10X[K]!;
  for (let i = 0; i < n; i++) out[i] = div === DIV_ONE ? p : count[i]! * p;
  return out;
}

/** round(x) when |x| <= 2^50 - 1, else 0 (never -0). */
function ratioInt(x: number): number {
  if (!(Math.abs(x) <= DECIMAL_MANTISSA_ABS_MAX)) return 0;
  const m = Math.round(x);
  return m === 0 ? 0 : m;
}

/**
 * M_RATIO: value i = (N_i / s_i) plus r_i ulps, with s_i the bucket's scale (10^K, or count *
 * 10^K), N_i = ratioInt(pred_i * s_i) + d_i an integer with |N_i| <= 2^50 - 1; d is PFOR packed,
 * r too unless all are 0 (then a flag byte says so). Sums of decimals are decimals within a few
 * ulps (each addition rounds), m2 of decimals an integer over count * 10^2K within a few ulps.
 * Patches as in M_ULP; of the predictors ps, the one with the smallest d is used.
 */
function encodeRatio(sink: ByteSink, ps: number[], K: number, div: number, col: Float64Array, w: Uint32Array, cols: Float64Array[], scales: Float64Array): boolean {
  const n = col.length;
  const ints = new Float64Array(n);
  const r = new Float64Array(n);
  const patches: number[] = [];
  let prevR = 0;
  let rAllZero = true;
  for (let i = 0; i < n; i++) {
    const v = col[i]!;
    const s = scales[i]!;
    let ok = Number.isFinite(v) && s > 0 && !Object.is(v, -0);
    let N = 0;
    let ulps = NaN;
    if (ok) {
      N = Math.round(v * s);
      if (N === 0) N = 0; // -0 (a tiny negative value) would not survive PFOR: the base is +0 and the value a patch
      ok = Math.abs(N) <= DECIMAL_MANTISSA_ABS_MAX;
    }
    if (ok) {
      ulpScratch[0] = N / s;
      ulps = ulpDiff(w[2 * i]!, w[2 * i + 1]!, ulpScratchWords[0]!, ulpScratchWords[1]!);
      ok = ulps === ulps;
    }
    if (!ok) {
      patches.push(i);
      if (patches.length > n / 4) return false;
      ints[i] = NaN; // a patch: its d slot repeats the previous d
      r[i] = prevR;
      continue;
    }
    ints[i] = N;
    r[i] = prevR = ulps === 0 ? 0 : ulps;
    if (prevR !== 0) rAllZero = false;
  }
  if (div === DIV_COUNT_RESIDUE) {
    // N = c + count * q: keep q, or (some bucket's N not of that form) fall back to div 1, whose scales are the same.
    const count = cols[1]!;
    const sum = cols[FIELD_INDEX.get('sum')!]!;
    const qs = new Float64Array(n);
    let fits = K % 2 === 0;
    for (let i = 0; i < n && fits; i++) {
      const N = ints[i]!;
      if (N !== N) {
        qs[i] = NaN;
        continue;
      }
      const c = countResidue(sum[i]!, count[i]!, K);
      const q = (N - c) / count[i]!;
      if (c < 0 || !Number.isInteger(q)) fits = false;
      qs[i] = q;
    }
    if (fits) ints.set(qs);
    else div = DIV_COUNT;
  }
  const p10 = P10X[K]!;
  let best: { p: number; d: Float64Array; cost: number } | undefined;
  for (const p of ps) {
    const pred = predictorColumn(p, cols, n);
    const d = new Float64Array(n);
    let prevD = 0;
    for (let i = 0; i < n; i++) {
      const N = ints[i]!;
      d[i] = N === N ? (prevD = N - ratioInt(pred[i]! * (div === DIV_COUNT_RESIDUE ? p10 : scales[i]!))) : prevD;
    }
    const cost = intsCost(d);
    if (best === undefined || cost < best.cost) best = { p, d, cost };
  }
  sink.pushByte(M_RATIO);
  sink.pushByte(best!.p);
  sink.pushByte(K);
  sink.pushByte(div);
  sink.pushVarint(patches.length);
  encodePfor(sink, best!.d, 0, n);
  if (rAllZero) sink.pushByte(ULPS_ZERO);
  else {
    sink.pushByte(ULPS_PFOR);
    encodePfor(sink, r, 0, n);
  }
  pushPatches(sink, w, patches);
  return true;
}

/** M_RATIO's ulp residuals: */
export const ULPS_ZERO = 0; // all 0 (nothing follows)
export const ULPS_PFOR = 1; // a PFOR block of n integers follows

/** c = -(M mod n)^2 mod n with M = ratioInt(sum * 10^(K/2)), in [0, n); -1 when n is not in [1, 2^26) or sum * 10^(K/2) is past 2^50. */
function countResidue(sum: number, n: number, K: number): number {
  if (!(n >= 1 && n < 2 ** 26)) return -1;
  const x = sum * P10X[K / 2]!;
  if (!(Math.abs(x) <= DECIMAL_MANTISSA_ABS_MAX)) return -1;
  const m = ((Math.round(x) % n) + n) % n;
  return (n - ((m * m) % n)) % n;
}

let ratioScratch: Float64Array = new Float64Array(512);

function decodeRatio(src: ByteSource, col: Float64Array, w: Uint32Array, pred: Float64Array, count: Float64Array, sum: Float64Array, at: number): void {
  const n = col.length;
  const kAt = src.pos;
  const K = src.readByte('exponent');
  if (K > RATIO_EXPONENT_MAX) throw new EncodingError(`too big exponent; got ${K}; cannot exceed ${RATIO_EXPONENT_MAX}`, kAt);
  const div = src.readByte('divisor kind');
  if (div !== DIV_ONE && div !== DIV_COUNT && div !== DIV_COUNT_RESIDUE) throw new EncodingError(`unknown divisor kind ${div}`, kAt + 1);
  if (div === DIV_COUNT_RESIDUE && K % 2 !== 0) throw new EncodingError(`residue divisor with odd exponent ${K}`, kAt);
  const npatch = src.readCount('patch count', n);
  intScratch = grow(intScratch, n);
  ratioScratch = grow(ratioScratch, n);
  const d = intScratch;
  const r = ratioScratch;
  decodePfor(src, d, 0, n);
  const rAt = src.pos;
  const rTag = src.readByte('ulp residual tag');
  if (rTag === ULPS_PFOR) decodePfor(src, r, 0, n);
  else if (rTag === ULPS_ZERO) r.fill(0, 0, n);
  else throw new EncodingError(`unknown ulp residual tag ${rTag}`, rAt);
  readPatches(src, npatch, n);
  const p10 = P10X[K]!;
  for (let i = 0; i < n; i++) {
    if (patchMark[i] === 1) continue;
    const s = div === DIV_ONE ? p10 : count[i]! * p10;
    let N: number;
    if (div === DIV_COUNT_RESIDUE) {
      const c = countResidue(sum[i]!, count[i]!, K);
      if (c < 0) throw new EncodingError(`bucket ${i}: no residue (count ${count[i]} not in 1..2^26 or sum not a decimal)`, at);
      N = c + count[i]! * (ratioInt(pred[i]! * p10) + d[i]!);
    } else N = ratioInt(pred[i]! * s) + d[i]!;
    if (!(Math.abs(N) <= DECIMAL_MANTISSA_ABS_MAX)) throw new EncodingError(`too big integer at bucket ${i}; got ${N}; cannot exceed ${DECIMAL_MANTISSA_ABS_MAX}`, at);
    if (!(s > 0)) throw new EncodingError(`bucket ${i} has scale ${s}; a ratio needs a positive one (count 0?)`, at);
    col[i] = N / s;
    if (!addUlps(w, i, r[i]!)) throw new EncodingError(`bucket ${i}: ${r[i]} ulps off leave the float64 range`, at);
  }
  applyPatches(w, npatch);
}

// ---- M_SCALED: integers times one power of two --------------------------------------------------

/** Exponents E of M_SCALED: 2^E is a normal double, so k * 2^E is exact whenever the value is. */
const SCALED_EXPONENT_MIN = -1000;
const SCALED_EXPONENT_MAX = 1000;

/** Exponent of the lowest set bit of finite nonzero x's significand (x = odd integer * 2^result). */
function lowestBitExponent(lo: number, hi: number): number {
  const ex = (hi >>> 20) & 0x7ff;
  const base = ex === 0 ? -1074 : ex - 1075;
  if (lo !== 0) return base + (31 - Math.clz32(lo & -lo));
  const mhi = (hi & 0xfffff) | (ex === 0 ? 0 : 0x100000);
  return base + 32 + (31 - Math.clz32(mhi & -mhi));
}

/**
 * M_SCALED: value i = k_i * 2^E (k integers, |k| <= 2^50 - 1, PFOR packed). A Kahan compensation
 * is a sum of the exact rounding errors of the additions, multiples of the smallest ulp of the
 * samples: a few significant bits in a float64. NaN, Inf and -0 are patches (at most n/4).
 */
function encodeScaled(sink: ByteSink, col: Float64Array, w: Uint32Array): boolean {
  const n = col.length;
  let E = Infinity;
  let top = -Infinity;
  let patchCount = 0;
  for (let i = 0; i < n; i++) {
    const v = col[i]!;
    if (!Number.isFinite(v) || Object.is(v, -0)) {
      patchCount++;
      continue;
    }
    if (v === 0) continue;
    const e = lowestBitExponent(w[2 * i]!, w[2 * i + 1]!);
    if (e < E) E = e;
    const t = Math.floor(Math.log2(Math.abs(v)));
    if (t > top) top = t;
  }
  if (patchCount > n / 4) return false;
  if (E === Infinity) E = 0;
  if (E < SCALED_EXPONENT_MIN || E > SCALED_EXPONENT_MAX || top - E > 49) return false;
  const inv = 2 ** -E;
  const k = new Float64Array(n);
  const patches: number[] = [];
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const v = col[i]!;
    if (!Number.isFinite(v) || Object.is(v, -0)) {
      patches.push(i);
      k[i] = prev;
      continue;
    }
    const x = v * inv;
    if (!(Number.isInteger(x) && Math.abs(x) <= DECIMAL_MANTISSA_ABS_MAX)) return false;
    k[i] = prev = x === 0 ? 0 : x;
  }
  sink.pushByte(M_SCALED);
  sink.pushZigzag(E);
  sink.pushVarint(patches.length);
  encodePfor(sink, k, 0, n);
  pushPatches(sink, w, patches);
  return true;
}

function decodeScaled(src: ByteSource, col: Float64Array, w: Uint32Array, at: number): void {
  const n = col.length;
  const eAt = src.pos;
  const E = src.readZigzag('exponent');
  if (!(E >= SCALED_EXPONENT_MIN && E <= SCALED_EXPONENT_MAX)) throw new EncodingError(`exponent ${E} outside ${SCALED_EXPONENT_MIN}..${SCALED_EXPONENT_MAX}`, eAt);
  const npatch = src.readCount('patch count', n);
  decodePfor(src, col, 0, n);
  readPatches(src, npatch, n);
  const scale = 2 ** E;
  for (let i = 0; i < n; i++) {
    const k = col[i]!;
    if (!(Math.abs(k) <= DECIMAL_MANTISSA_ABS_MAX)) throw new EncodingError(`too big integer at bucket ${i}; got ${k}; cannot exceed ${DECIMAL_MANTISSA_ABS_MAX}`, at);
    col[i] = k * scale;
  }
  applyPatches(w, npatch);
}

// ---------------------------------------------------------------------------------------------
// Read-side additions (level reader, pyramid-read): decoding into a struct the caller owns.
// These only call decodeCell; the cell format is the one above.

/** Bit f of a field mask: LEVEL_FIELDS[f]. Every field: */
export const LEVEL_FIELDS_ALL = (1 << LEVEL_FIELDS.length) - 1;

/** The mask of the named fields. */
export function levelFieldMask(fields: readonly LevelField[]): number {
  let m = 0;
  for (const f of fields) m |= 1 << FIELD_INDEX.get(f)!;
  return m;
}

const BIT = Object.fromEntries(LEVEL_FIELDS.map((f, i) => [f, 1 << i])) as Record<LevelField, number>;

/** The fields predictor p is computed from (predictorColumn); 0 for one no field allows (decodeCell rejects it). */
function predictorInputs(p: number): number {
  switch (p) {
    case P_SUM_OVER_COUNT:
      return BIT.sum | BIT.count;
    case P_KAHAN_OVER_COUNT:
      return BIT.sum | BIT.sumC | BIT.count;
    case P_PREV_LAST:
      return BIT.lastV;
    case P_ZERO:
      return 0;
    case P_PAIRS:
    case P_HALF_PAIRS:
      return BIT.count;
    case P_HALF_PAIRS_MEAN:
      return BIT.count | BIT.mean;
    case P_M2_RAMP:
    case P_COUNT_MID:
      return BIT.count | BIT.firstV | BIT.lastV;
    default:
      return p >= 1 && p < FIELD_COUNT ? 1 << p : 0;
  }
}

/**
 * The other fields a cell is decoded from, read off its mode and predictor bytes: always earlier
 * fields (the format allows no other), so one pass from the last field down closes a set. A
 * malformed cell reports none here and fails in decodeCell.
 */
function cellInputs(f: number, cell: { bytes: Uint8Array; start: number; end: number }): number {
  if (cell.end - cell.start < 2) return 0;
  const mode = cell.bytes[cell.start]!;
  const p = cell.bytes[cell.start + 1]!;
  switch (mode) {
    case M_SAME:
    case M_MASKED:
    case M_DIFF:
    case M_ULP:
      return predictorInputs(p);
    case M_RATIO:
      return predictorInputs(p) | BIT.count | BIT.sum;
    case M_OFFSET:
      return BIT.endMs | BIT.count | (LEVEL_FIELDS[f] === 'prevT' ? BIT.lastT : 0);
    default:
      return 0;
  }
}

/**
 * decodeLevelBlock into `out`, a struct of exactly n buckets of width widthMs that the caller
 * reuses (no allocation per block). Same checks and errors as decodeLevelBlock; on an error
 * `out` holds garbage.
 */
export function decodeLevelBlockInto(cells: ReadonlyArray<{ bytes: Uint8Array; start: number; end: number }>, n: number, widthMs: number, out: RollupBuckets): void {
  decodeLevelBlockFieldsInto(cells, n, widthMs, out, LEVEL_FIELDS_ALL, 0);
}

/**
 * Decodes the fields of `want` (a field mask) that are not in `have` into out, with the fields
 * their cells are predicted from: what a query reads of a block, instead of all 18 cells
 * (avg_over_time reads 10 of them on the benchmark data; a cell costs 10-70 ns per bucket).
 * out must hold the fields of `have` already (decoded by an earlier call); its other columns
 * are left as they are. Returns the fields out holds now (have | want | their inputs). Throws
 * EncodingError on malformed input (out then holds garbage); the caller checks the invariants
 * of the result.
 */
export function decodeLevelBlockFieldsInto(
  cells: ReadonlyArray<{ bytes: Uint8Array; start: number; end: number }>,
  n: number,
  widthMs: number,
  out: RollupBuckets,
  want: number,
  have: number,
): number {
  if (out.length !== n || out.widthMs !== widthMs) throw new Error(`decodeLevelBlockInto: a struct of ${out.length} buckets of ${out.widthMs} ms for ${n} of ${widthMs} ms`);
  let need = (want | BIT.endMs) & ~have;
  if (need === 0) return have;
  for (let f = FIELD_COUNT - 1; f >= 1; f--) if (((need >>> f) & 1) === 1) need |= cellInputs(f, cells[f]!) & ~have;
  // Predictor inputs by field index: the fields held already, then each one decoded here.
  const cols = colsScratch;
  cols.fill(undefined);
  for (let f = 1; f < FIELD_COUNT; f++) {
    if (((have >>> f) & 1) === 0) continue;
    const name = LEVEL_FIELDS[f]!;
    if (UINT32_FIELDS.has(name)) {
      const col = uintScratch(name, n);
      col.set(out[name as 'count' | 'resets' | 'changes'].subarray(0, n));
      cols[f] = col;
    } else cols[f] = out[name as FloatField];
  }
  if ((need & BIT.endMs) !== 0) {
    const cell = cells[0]!;
    const src = new ByteSource(cell.bytes, cell.start, cell.end);
    endScratch = grow(endScratch, n);
    const ks = endScratch.subarray(0, n);
    const got = decodeTimestamps(src, ks, 0, n);
    if (got !== n) throw new EncodingError(`end_ms holds ${got} buckets; the block has ${n}`, cell.start);
    if (src.pos !== cell.end) throw new EncodingError(`end_ms: ${cell.end - src.pos} bytes left over`, src.pos);
    const ends = out.endMs;
    for (let i = 0; i < n; i++) {
      const e = ks[i]! * widthMs;
      if (!(Math.abs(e) <= Number.MAX_SAFE_INTEGER)) throw new EncodingError(`end_ms: bucket ${i} ends past 2^53 ms`, cell.start);
      ends[i] = e;
    }
    cols[0] = ks;
  }
  for (let c = 1; c < FIELD_COUNT; c++) {
    if (((need >>> c) & 1) === 0) continue;
    const f = LEVEL_FIELDS[c]!;
    const cell = cells[c]!;
    const isUint = UINT32_FIELDS.has(f);
    const col = isUint ? uintScratch(f, n) : out[f as FloatField];
    try {
      // Fields neither held nor decoded are undefined: decodeCell reads only a cell's inputs.
      decodeCell(f, cell, col, cols as Float64Array[], out, n, widthMs);
    } catch (e) {
      if (e instanceof EncodingError) throw new EncodingError(`${LEVEL_FIELD_COLUMNS[f]}: ${e.message}`, e.offset);
      throw e;
    }
    cols[c] = col;
    if (isUint) {
      const dst = out[f as 'count' | 'resets' | 'changes'];
      for (let i = 0; i < n; i++) {
        const v = col[i]!;
        if (v >>> 0 !== v) throw new EncodingError(`${LEVEL_FIELD_COLUMNS[f]}: bucket ${i} holds ${v}, not a uint32`, cell.start);
        dst[i] = v;
      }
    }
  }
  return have | need;
}

/** decodeLevelBlockFieldsInto's predictor inputs by field index (one block at a time: synchronous). */
const colsScratch: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(FIELD_COUNT);

/** The float64 scratch column a uint32 field decodes into (a predictor input as float64). */
function uintScratch(f: LevelField, n: number): Float64Array {
  let scratch = UINT_SCRATCH.get(f)!;
  if (scratch.length < n) UINT_SCRATCH.set(f, (scratch = grow(scratch, n)));
  return scratch.subarray(0, n);
}
