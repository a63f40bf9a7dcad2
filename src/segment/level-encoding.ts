// Encoding of rollup buckets (rollup/buckets.ts) in a level segment's buckets.arrow: a block is a
// run of up to LEVEL_BLOCK_BUCKETS_MAX buckets of one series; each of its 18 fields becomes one
// cell (one Binary column per field), encoded with the chunk encoders of encoding/ plus a few
// "column modes" that make what is redundant between fields cost (almost) nothing:
//
//   - times are stored as offsets inside their bucket, which regular scrapes make constant;
//   - min/max/prevV/firstV are usually bit-identical to another value field (a counter's min is
//     its first sample, its max the last), and mean is usually sum/count exactly;
//   - all-zero (sumC, correction, m2 of constant series) and all-NaN columns cost one byte.
//
// Every mode reproduces the input bits exactly (NaN payloads, -0, Inf): the writer encodes each
// block, decodes it again and compares all bits (pair assertion), so an unexact choice can only
// fail the write, never store a different bucket. docs/format/level.md documents every byte.
import type { RollupBuckets } from '../rollup/buckets.js';
import { RollupBuckets as Buckets } from '../rollup/buckets.js';
import { ByteSink, ByteSource, EncodingError, decodeTimestamps, decodeValues, encodeTimestamps, encodeValues } from './encoding/index.js';

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
export const M_OFFSET = 5; // presence u8, [bitmap], encodeValues of the offsets of the present values (time fields)

/** Predictors beyond the field indices 0..17. */
export const P_SUM_OVER_COUNT = 64; // sum / count (IEEE division)

// Presence kinds of M_OFFSET: which rows hold a time (the others are the canonical NaN).
export const PRESENT_ALL = 0;
export const PRESENT_MASK = 1; // a bitmap follows (bit i set: present)
export const PRESENT_COUNT_GE1 = 2; // rows with count >= 1
export const PRESENT_COUNT_GE2 = 3; // rows with count >= 2

/** Predictors tried for each value field, in preference order (earlier fields only). */
const PREDICTORS: Partial<Record<LevelField, number[]>> = {
  firstV: [FIELD_INDEX.get('lastV')!],
  prevV: [FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('firstV')!],
  min: [FIELD_INDEX.get('firstV')!, FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('prevV')!],
  max: [FIELD_INDEX.get('lastV')!, FIELD_INDEX.get('firstV')!, FIELD_INDEX.get('prevV')!],
  sum: [FIELD_INDEX.get('firstV')!],
  mean: [P_SUM_OVER_COUNT, FIELD_INDEX.get('firstV')!],
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
  const countF = asF64(b.count, start, n);
  const endMs = b.endMs.subarray(start, start + n);
  const lastT = b.lastT.subarray(start, start + n);
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
      const pred = p === P_SUM_OVER_COUNT ? sumOverCount(cols[FIELD_INDEX.get('sum')!]!, countF) : cols[p]!;
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
  encodeValues(sink, offsets, 0, nPresent);
  consider();
}

function matchesCount(present: Uint8Array, count: Uint32Array, min: number): boolean {
  for (let i = 0; i < present.length; i++) if ((present[i] === 1) !== count[i]! >= min) return false;
  return true;
}

function sumOverCount(sum: Float64Array, count: Float64Array): Float64Array {
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i]! / count[i]!;
  return out;
}

/**
 * Decodes one block's 18 cells (cells[c] = [bytes, start, end)) of n buckets of width widthMs.
 * Throws EncodingError on malformed input; the caller checks the invariants of the result.
 */
export function decodeLevelBlock(cells: ReadonlyArray<{ bytes: Uint8Array; start: number; end: number }>, n: number, widthMs: number): RollupBuckets {
  const out = new Buckets(widthMs, n);
  const cols: Float64Array[] = [];
  // end_ms
  {
    const cell = cells[0]!;
    const src = new ByteSource(cell.bytes, cell.start, cell.end);
    const ks = new Float64Array(n);
    const got = decodeTimestamps(src, ks, 0, n);
    if (got !== n) throw new EncodingError(`end_ms holds ${got} buckets; the block has ${n}`, cell.start);
    if (src.pos !== cell.end) throw new EncodingError(`end_ms: ${cell.end - src.pos} bytes left over`, src.pos);
    for (let i = 0; i < n; i++) {
      const e = ks[i]! * widthMs;
      if (!Number.isSafeInteger(e)) throw new EncodingError(`end_ms: bucket ${i} ends past 2^53 ms`, cell.start);
      out.endMs[i] = e;
    }
    cols.push(ks);
  }
  let countCol: Float64Array | undefined;
  for (let c = 1; c < LEVEL_FIELDS.length; c++) {
    const f = LEVEL_FIELDS[c]!;
    const cell = cells[c]!;
    const name = LEVEL_FIELD_COLUMNS[f];
    const src = new ByteSource(cell.bytes, cell.start, cell.end);
    const col = new Float64Array(n);
    const w = words(col);
    const at = src.pos;
    const mode = src.readByte(`${name} mode`);
    const values = (dst: Float64Array, what: string): void => {
      const got = decodeValues(src, dst, 0, dst.length);
      if (got !== dst.length) throw new EncodingError(`${name}: ${what} holds ${got} values; expected ${dst.length}`, at);
    };
    switch (mode) {
      case M_PLAIN:
        values(col, 'plain cell');
        break;
      case M_ZERO:
        break;
      case M_NAN:
        for (let i = 0; i < n; i++) {
          w[2 * i] = CANON_NAN_LO;
          w[2 * i + 1] = CANON_NAN_HI;
        }
        break;
      case M_SAME:
      case M_MASKED: {
        const p = src.readByte(`${name} predictor`);
        const allowed = PREDICTORS[f] ?? [];
        if (!allowed.includes(p)) throw new EncodingError(`${name}: predictor ${p} is not one of ${allowed.join(', ') || 'none'}`, at);
        const pred = p === P_SUM_OVER_COUNT ? sumOverCount(cols[FIELD_INDEX.get('sum')!]!, countCol!) : cols[p]!;
        const pw = words(pred);
        if (mode === M_SAME) {
          w.set(pw);
          break;
        }
        const maskBytes = (n + 7) >>> 3;
        src.need(maskBytes, `${name} mask`);
        const mask = cell.bytes.subarray(src.pos, src.pos + maskBytes);
        src.pos += maskBytes;
        let equal = 0;
        for (let i = 0; i < n; i++) if ((mask[i >>> 3]! & (1 << (i & 7))) !== 0) equal++;
        if (n % 8 !== 0 && mask[maskBytes - 1]! >>> n % 8 !== 0) throw new EncodingError(`${name}: mask bits set past the block's ${n} buckets`, at);
        if (equal === 0 || equal === n) throw new EncodingError(`${name}: masked cell with ${equal} of ${n} rows predicted`, at);
        const rest = new Float64Array(n - equal);
        values(rest, 'masked cell');
        const rw = words(rest);
        let k = 0;
        for (let i = 0; i < n; i++) {
          if ((mask[i >>> 3]! & (1 << (i & 7))) !== 0) {
            w[2 * i] = pw[2 * i]!;
            w[2 * i + 1] = pw[2 * i + 1]!;
          } else {
            w[2 * i] = rw[2 * k]!;
            w[2 * i + 1] = rw[2 * k + 1]!;
            k++;
          }
        }
        break;
      }
      case M_OFFSET: {
        if (!TIME_FIELDS.has(f)) throw new EncodingError(`${name}: offset mode on a field that is not a time`, at);
        const kind = src.readByte(`${name} presence`);
        const present = new Uint8Array(n);
        if (kind === PRESENT_ALL) present.fill(1);
        else if (kind === PRESENT_MASK) {
          const maskBytes = (n + 7) >>> 3;
          src.need(maskBytes, `${name} presence mask`);
          for (let i = 0; i < n; i++) if ((cell.bytes[src.pos + (i >>> 3)]! & (1 << (i & 7))) !== 0) present[i] = 1;
          src.pos += maskBytes;
        } else if (kind === PRESENT_COUNT_GE1 || kind === PRESENT_COUNT_GE2) {
          const min = kind === PRESENT_COUNT_GE1 ? 1 : 2;
          for (let i = 0; i < n; i++) if (countCol![i]! >= min) present[i] = 1;
        } else throw new EncodingError(`${name}: unknown presence kind ${kind}`, at);
        let nPresent = 0;
        for (let i = 0; i < n; i++) nPresent += present[i]!;
        if (nPresent === 0) throw new EncodingError(`${name}: offset cell with no value present`, at);
        const offsets = new Float64Array(nPresent);
        values(offsets, 'offsets');
        let k = 0;
        for (let i = 0; i < n; i++) {
          if (present[i] === 0) {
            w[2 * i] = CANON_NAN_LO;
            w[2 * i + 1] = CANON_NAN_HI;
            continue;
          }
          const off = offsets[k++]!;
          if (!Number.isSafeInteger(off)) throw new EncodingError(`${name}: offset ${off} of bucket ${i} is not an integer`, at);
          col[i] = timeFromOffset(f, off, out.endMs[i]!, widthMs, out.lastT[i]!);
        }
        break;
      }
      default:
        throw new EncodingError(`${name}: unknown cell mode ${mode}`, at);
    }
    if (src.pos !== cell.end) throw new EncodingError(`${name}: ${cell.end - src.pos} bytes left over`, src.pos);
    cols.push(col);
    if (UINT32_FIELDS.has(f)) {
      const dst = out[f as 'count' | 'resets' | 'changes'];
      for (let i = 0; i < n; i++) {
        const v = col[i]!;
        if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff) || Object.is(v, -0)) throw new EncodingError(`${name}: bucket ${i} holds ${v}, not a uint32`, at);
        dst[i] = v;
      }
      if (f === 'count') countCol = col;
    } else {
      (out[f as Exclude<LevelField, 'endMs' | 'count' | 'resets' | 'changes'>] as Float64Array).set(col);
    }
  }
  return out;
}
