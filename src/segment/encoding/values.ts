// Value chunk encodings (float64, bit-exact: NaN payloads incl. the stale marker, ±Inf, -0).
// Each chunk starts with a tag byte and n; the encoder tries the candidates and keeps the
// smallest:
//
//   V_RAW     (0): tag, n varint, n x 8 bytes (IEEE-754 bits, little-endian)
//   V_CONST   (1): tag, n varint, 8 bytes: every sample has these exact bits
//   V_DEC_DELTA (2) / V_DEC_DOD (3): "decimal" (after VictoriaMetrics): values that are exact
//        decimals m / 10^K share one exponent K and become integer mantissas m (|m| < 2^50).
//        tag, n varint, K u8 (0..18), patch count varint,
//        m0 zigzag varint, [V_DEC_DOD: m1-m0 zigzag varint, if n >= 2],
//        PFOR of the n-1 mantissa deltas (V_DEC_DELTA) or n-2 delta-of-deltas (V_DEC_DOD),
//        patches: (index delta varint, 8 bytes raw bits) for samples that are not exact
//        decimals (NaN, stale marker, ±Inf, -0, too many digits). A patched sample's mantissa
//        slot repeats the previous mantissa, so it costs nothing in the PFOR part.
//        Decoding: v = m / 10^K (one correctly rounded division, the same float the decimal
//        string parses to); the encoder keeps a sample as decimal only if this reproduces its
//        bits exactly, so the encoding never changes a value.
//   V_XOR     (4): tag, n varint, Gorilla XOR bitstream (gorilla.ts).
import { ByteSink, ByteSource, EncodingError } from './bytes.js';
import { decodeXorBits, encodeXorBits } from './gorilla.js';
import { decodePfor, encodePfor } from './pfor.js';

export const V_RAW = 0;
export const V_CONST = 1;
export const V_DEC_DELTA = 2;
export const V_DEC_DOD = 3;
export const V_XOR = 4;
export const VALUE_ENCODING_NAMES = ['raw', 'const', 'decimal-delta', 'decimal-dod', 'xor'] as const;

/** Mantissas stay below 2^50 so deltas-of-deltas (< 2^52) and their zigzag (< 2^53) are exact. */
export const DECIMAL_MANTISSA_ABS_MAX = 2 ** 50 - 1;
/** Largest decimal exponent; 10^18 is exact in float64 (up to 10^22 is). */
export const DECIMAL_EXPONENT_MAX = 18;
const P10 = Array.from({ length: DECIMAL_EXPONENT_MAX + 1 }, (_, k) => 10 ** k);

// Scratch reused across chunks.
let mantissas = new Float64Array(1024);
let patchIdx = new Int32Array(1024);
const scratchSink = new ByteSink(16 * 1024);

function ensureScratch(n: number): void {
  if (mantissas.length < n) mantissas = new Float64Array(Math.max(n, mantissas.length * 2));
  if (patchIdx.length < n) patchIdx = new Int32Array(Math.max(n, patchIdx.length * 2));
}

/** Options mainly for tests and benchmarks: force one encoding. */
export interface ValueEncodeOptions {
  only?: number;
}

/**
 * Appends the smallest encoding of values[start..start+count) (count >= 1) and returns its tag.
 * values.byteOffset must be a multiple of 8 (true for every Float64Array).
 */
export function encodeValues(sink: ByteSink, values: Float64Array, start: number, count: number, opts?: ValueEncodeOptions): number {
  if (count < 1) throw new Error('encodeValues: empty chunk');
  const words = new Uint32Array(values.buffer, values.byteOffset + start * 8, count * 2);
  const only = opts?.only;
  if (only === V_RAW) return encodeRaw(sink, words, count);
  if (only === V_XOR) return encodeXor(sink, words, count);
  if (only === undefined || only === V_CONST) {
    if (isConstant(words, count)) {
      sink.pushByte(V_CONST);
      sink.pushVarint(count);
      pushWords(sink, words, 0);
      return V_CONST;
    }
    if (only === V_CONST) throw new Error('values are not constant');
  }
  // Candidates are built in scratchSink; the smallest is copied to the caller's sink.
  let bestTag = V_RAW;
  let bestBytes = 2 + count * 8; // raw is the upper bound
  let best: Uint8Array | undefined;
  const patches = decimalMantissas(values, start, count, only !== undefined ? count : count >>> 3);
  if (patches >= 0) {
    for (const tag of [V_DEC_DELTA, V_DEC_DOD]) {
      if (only !== undefined && only !== tag) continue;
      if (tag === V_DEC_DOD && count < 3) continue;
      scratchSink.reset();
      encodeDecimal(scratchSink, words, count, tag, patches);
      if (scratchSink.length < bestBytes || only === tag) {
        bestBytes = scratchSink.length;
        bestTag = tag;
        best = scratchSink.view().slice();
      }
    }
  } else if (only === V_DEC_DELTA || only === V_DEC_DOD) {
    throw new Error('values are not exact decimals');
  }
  // XOR only when decimal did not already get below 2 bytes a sample: saves encode time on the
  // common gauge/counter case, where XOR is rarely smaller.
  if (only === undefined && bestBytes > count * 2) {
    scratchSink.reset();
    encodeXor(scratchSink, words, count);
    if (scratchSink.length < bestBytes) {
      bestBytes = scratchSink.length;
      bestTag = V_XOR;
      best = scratchSink.view().slice();
    }
  }
  if (best === undefined) return encodeRaw(sink, words, count);
  sink.pushBytes(best);
  return bestTag;
}

function encodeRaw(sink: ByteSink, words: Uint32Array, count: number): number {
  sink.pushByte(V_RAW);
  sink.pushVarint(count);
  for (let i = 0; i < count; i++) pushWords(sink, words, 2 * i);
  return V_RAW;
}

function encodeXor(sink: ByteSink, words: Uint32Array, count: number): number {
  sink.pushByte(V_XOR);
  sink.pushVarint(count);
  encodeXorBits(sink, words, 0, count);
  return V_XOR;
}

function isConstant(words: Uint32Array, count: number): boolean {
  const lo = words[0]!;
  const hi = words[1]!;
  for (let i = 1; i < count; i++) if (words[2 * i] !== lo || words[2 * i + 1] !== hi) return false;
  return true;
}

function pushWords(sink: ByteSink, words: Uint32Array, w: number): void {
  sink.ensure(8);
  const b = sink.bytes;
  let p = sink.length;
  const lo = words[w]!;
  const hi = words[w + 1]!;
  b[p++] = lo & 0xff;
  b[p++] = (lo >>> 8) & 0xff;
  b[p++] = (lo >>> 16) & 0xff;
  b[p++] = lo >>> 24;
  b[p++] = hi & 0xff;
  b[p++] = (hi >>> 8) & 0xff;
  b[p++] = (hi >>> 16) & 0xff;
  b[p++] = hi >>> 24;
  sink.length = p;
}

let chosenExponent = 0;

/** Smallest k with v === m / 10^k for an integer |m| <= max, or -1. */
function decimalExponent(v: number): number {
  if (!Number.isFinite(v) || (v === 0 && 1 / v < 0)) return -1;
  for (let k = 0; k <= DECIMAL_EXPONENT_MAX; k++) {
    const scaled = v * P10[k]!;
    if (Math.abs(scaled) > DECIMAL_MANTISSA_ABS_MAX) return -1;
    const m = Math.round(scaled);
    if (m / P10[k]! === v) return k;
  }
  return -1;
}

/**
 * Fills mantissas[0..count) and patchIdx with the samples that are not exact decimals under the
 * common exponent (left in chosenExponent). Returns the patch count, or -1 when more than
 * patchesMax samples would need a patch (decimal is then not worth it).
 */
function decimalMantissas(values: Float64Array, start: number, count: number, patchesMax: number): number {
  ensureScratch(count);
  let K = 0;
  let bad = 0;
  for (let i = 0; i < count; i++) {
    const k = decimalExponent(values[start + i]!);
    if (k < 0) {
      if (++bad > patchesMax) return -1;
    } else if (k > K) K = k;
  }
  const p = P10[K]!;
  let patches = 0;
  let prev = NaN;
  for (let i = 0; i < count; i++) {
    const v = values[start + i]!;
    const m = Math.round(v * p);
    const ok = Number.isFinite(v) && !(v === 0 && 1 / v < 0) && Math.abs(m) <= DECIMAL_MANTISSA_ABS_MAX && m / p === v;
    if (ok) {
      mantissas[i] = m;
      if (prev !== prev) for (let j = 0; j < i; j++) mantissas[j] = m; // leading patches copy the first mantissa
      prev = m;
    } else {
      if (patches >= patchesMax) return -1;
      patchIdx[patches++] = i;
      mantissas[i] = prev === prev ? prev : 0;
    }
  }
  if (prev !== prev) return -1; // no decimal sample at all
  chosenExponent = K;
  return patches;
}

function encodeDecimal(sink: ByteSink, words: Uint32Array, count: number, tag: number, patches: number): void {
  sink.pushByte(tag);
  sink.pushVarint(count);
  sink.pushByte(chosenExponent);
  sink.pushVarint(patches);
  const m0 = mantissas[0]!;
  sink.pushZigzag(m0);
  if (tag === V_DEC_DELTA) {
    if (count > 1) {
      const d = deltaScratch(count);
      for (let i = 1; i < count; i++) d[i - 1] = mantissas[i]! - mantissas[i - 1]!;
      encodePfor(sink, d, 0, count - 1);
    }
  } else {
    const d = deltaScratch(count);
    for (let i = 1; i < count; i++) d[i - 1] = mantissas[i]! - mantissas[i - 1]!;
    sink.pushZigzag(d[0]!);
    for (let i = count - 2; i >= 1; i--) d[i] = d[i]! - d[i - 1]!;
    encodePfor(sink, d, 1, count - 2);
  }
  let prev = 0;
  for (let j = 0; j < patches; j++) {
    const i = patchIdx[j]!;
    sink.pushVarint(i - prev);
    prev = i;
    pushWords(sink, words, 2 * i);
  }
}

let deltas = new Float64Array(1024);
function deltaScratch(n: number): Float64Array {
  if (deltas.length < n) deltas = new Float64Array(Math.max(n, deltas.length * 2));
  return deltas;
}

/**
 * Decodes one value chunk into out[outStart..]; returns its sample count (<= countMax).
 * Writes through a Uint32Array view so NaN payloads are copied, never recomputed.
 */
export function decodeValues(src: ByteSource, out: Float64Array, outStart: number, countMax: number): number {
  const at = src.pos;
  const tag = src.readByte('value encoding tag');
  const n = src.readCount('value sample count', countMax);
  if (n < 1) throw new EncodingError('value chunk with 0 samples', at);
  if (outStart + n > out.length) throw new EncodingError(`value chunk of ${n} samples does not fit the output of ${out.length - outStart}`, at);
  const words = new Uint32Array(out.buffer, out.byteOffset + outStart * 8, n * 2);
  switch (tag) {
    case V_RAW: {
      src.need(n * 8, 'raw values');
      for (let i = 0; i < n; i++) readWords(src, words, 2 * i);
      return n;
    }
    case V_CONST: {
      src.need(8, 'constant value');
      readWords(src, words, 0);
      const lo = words[0]!;
      const hi = words[1]!;
      for (let i = 1; i < n; i++) {
        words[2 * i] = lo;
        words[2 * i + 1] = hi;
      }
      return n;
    }
    case V_DEC_DELTA:
    case V_DEC_DOD: {
      const kAt = src.pos;
      const K = src.readByte('decimal exponent');
      if (K > DECIMAL_EXPONENT_MAX) throw new EncodingError(`too big decimal exponent; got ${K}; cannot exceed ${DECIMAL_EXPONENT_MAX}`, kAt);
      const patches = src.readCount('decimal patch count', n);
      const m = out.subarray(outStart, outStart + n); // mantissas first, divided in place below
      m[0] = src.readZigzag('first mantissa');
      if (tag === V_DEC_DELTA) {
        if (n > 1) decodePfor(src, m, 1, n - 1);
        for (let i = 1; i < n; i++) m[i] = m[i - 1]! + m[i]!;
      } else if (n > 1) {
        m[1] = src.readZigzag('first mantissa delta');
        if (n > 2) decodePfor(src, m, 2, n - 2);
        let d = m[1]!;
        m[1] = m[0]! + d;
        for (let i = 2; i < n; i++) {
          d += m[i]!;
          m[i] = m[i - 1]! + d;
        }
      }
      const p = P10[K]!;
      for (let i = 0; i < n; i++) {
        const mi = m[i]!;
        if (!(Math.abs(mi) <= DECIMAL_MANTISSA_ABS_MAX)) throw new EncodingError(`too big decimal mantissa at sample ${i}; got ${mi}; cannot exceed ${DECIMAL_MANTISSA_ABS_MAX}`, at);
        m[i] = mi / p;
      }
      let idx = 0;
      for (let j = 0; j < patches; j++) {
        const pAt = src.pos;
        const delta = src.readVarint('patch index');
        idx += delta;
        if (idx >= n || (j > 0 && delta === 0)) throw new EncodingError(`bad patch index ${idx}; count is ${n} and indices must increase`, pAt);
        src.need(8, 'patch value');
        readWords(src, words, 2 * idx);
      }
      return n;
    }
    case V_XOR:
      decodeXorBits(src, words, 0, n);
      return n;
    default:
      throw new EncodingError(`unknown value encoding tag ${tag}`, at);
  }
}

function readWords(src: ByteSource, words: Uint32Array, w: number): void {
  const b = src.bytes;
  const p = src.pos;
  words[w] = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  words[w + 1] = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
  src.pos = p + 8;
}
