// Patched frame-of-reference (PFOR) packing of an integer sequence: every value is stored as
// (x - base) in `width` bits, except outliers ("exceptions"), which get a 0 slot and are listed
// after the packed bits with their full value. Used for timestamp deltas and for the deltas of
// decimal mantissas: a regular 15 s scrape with a few ms of jitter packs into 4 bits a sample, a
// missed scrape or a counter reset costs a few bytes instead of widening every slot.
//
// Layout (count is known from the enclosing chunk):
//   width        u8            0..32 bits per slot
//   base         zigzag varint
//   exceptions   varint        number of exception entries, <= count
//   packed       ceil(count*width/8) bytes, slots LSB-first (slot i starts at bit i*width)
//   exception[]  (index delta varint, zigzag varint of x - base); index delta is from the
//                previous exception's index (the first is from 0); indices strictly increase.
import { ByteSink, ByteSource, EncodingError, bitLength, varintBytes, zigzag } from './bytes.js';

export const PFOR_WIDTH_MAX = 32;
const POW2 = Array.from({ length: 54 }, (_, i) => 2 ** i);

// Scratch reused across calls (one thread encodes one chunk at a time): no allocation per sample.
let sorted = new Float64Array(1024);
const histogram = new Float64Array(64);

/** Appends count integers xs[start..start+count) (each |x| <= 2^52, and |x - y| <= 2^52). */
export function encodePfor(sink: ByteSink, xs: Float64Array, start: number, count: number): void {
  if (count === 0) {
    sink.pushByte(0);
    sink.pushZigzag(0);
    sink.pushVarint(0);
    return;
  }
  const { base, width } = chooseBaseWidth(xs, start, count);
  const limit = POW2[width]!; // slots hold values in [0, limit)
  let exceptions = 0;
  for (let i = 0; i < count; i++) {
    const u = xs[start + i]! - base;
    if (u < 0 || u >= limit) exceptions++;
  }
  sink.pushByte(width);
  sink.pushZigzag(base);
  sink.pushVarint(exceptions);
  // Packed slots.
  const packedBytes = Math.ceil((count * width) / 8);
  sink.ensure(packedBytes);
  const out = sink.bytes;
  let p = sink.length;
  if (width > 0) {
    let acc = 0;
    let accBits = 0;
    for (let i = 0; i < count; i++) {
      let v = xs[start + i]! - base;
      if (v < 0 || v >= limit) v = 0;
      let rem = width;
      while (rem > 0) {
        const take = rem > 24 ? 24 : rem;
        const part = v & ((1 << take) - 1);
        v = (v - part) / POW2[take]!;
        acc |= part << accBits;
        accBits += take;
        while (accBits >= 8) {
          out[p++] = acc & 0xff;
          acc >>>= 8;
          accBits -= 8;
        }
        rem -= take;
      }
    }
    if (accBits > 0) out[p++] = acc & 0xff;
  }
  sink.length = p;
  // Exceptions.
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const u = xs[start + i]! - base;
    if (u < 0 || u >= limit) {
      sink.pushVarint(i - prev);
      sink.pushVarint(zigzag(u));
      prev = i;
    }
  }
}

/**
 * Picks base and width minimizing the encoded size. Bases tried: the minimum and a few low
 * order statistics (so one negative outlier, e.g. a counter reset, does not shift the frame).
 */
function chooseBaseWidth(xs: Float64Array, start: number, count: number): { base: number; width: number } {
  if (sorted.length < count) sorted = new Float64Array(Math.max(count, sorted.length * 2));
  const s = sorted.subarray(0, count);
  s.set(xs.subarray(start, start + count));
  s.sort();
  let bestBase = s[0]!;
  let bestWidth = 0;
  let bestCost = Infinity;
  const candidates = [0, 1, 2, count >>> 6, count >>> 4];
  let lastTried = -1;
  for (const ci of candidates) {
    if (ci >= count || ci === lastTried) continue;
    lastTried = ci;
    const base = s[ci]!;
    if (ci > 0 && base === s[ci - 1]) continue; // same base as a smaller index
    histogram.fill(0);
    let belowCost = 0;
    for (let i = 0; i < count; i++) {
      const u = s[i]! - base;
      if (u < 0) belowCost += 1 + varintBytes(zigzag(u));
      else histogram[bitLength(u)]!++;
    }
    // cost(w) = packed bytes + exceptions above 2^w (index ~1 byte, value ~ (L+1)/7 bytes).
    let above = 0; // exception bytes for L > w, accumulated from the top
    const costs: number[] = new Array(PFOR_WIDTH_MAX + 1);
    for (let L = 53; L > PFOR_WIDTH_MAX; L--) above += histogram[L]! * (1 + Math.ceil((L + 1) / 7));
    for (let w = PFOR_WIDTH_MAX; w >= 0; w--) {
      costs[w] = Math.ceil((count * w) / 8) + above + belowCost;
      above += histogram[w]! * (1 + Math.ceil((w + 1) / 7));
    }
    for (let w = 0; w <= PFOR_WIDTH_MAX; w++) {
      if (costs[w]! < bestCost) {
        bestCost = costs[w]!;
        bestBase = base;
        bestWidth = w;
      }
    }
  }
  return { base: bestBase, width: bestWidth };
}

/** Reads count integers into out[outStart..outStart+count). */
export function decodePfor(src: ByteSource, out: Float64Array, outStart: number, count: number): void {
  const at = src.pos;
  const width = src.readByte('pfor width');
  if (width > PFOR_WIDTH_MAX) throw new EncodingError(`too big pfor width; got ${width}; cannot exceed ${PFOR_WIDTH_MAX}`, at);
  const base = src.readZigzag('pfor base');
  const exceptions = src.readCount('pfor exception count', count);
  const packedBytes = Math.ceil((count * width) / 8);
  src.need(packedBytes, 'pfor packed slots');
  const bytes = src.bytes;
  if (width === 0) {
    out.fill(base, outStart, outStart + count);
  } else {
    let p = src.pos;
    let acc = 0;
    let accBits = 0;
    for (let i = 0; i < count; i++) {
      let v = 0;
      let mul = 1;
      let rem = width;
      while (rem > 0) {
        const take = rem > 24 ? 24 : rem;
        while (accBits < take) {
          acc |= bytes[p++]! << accBits;
          accBits += 8;
        }
        const part = acc & ((1 << take) - 1);
        acc >>>= take;
        accBits -= take;
        v += part * mul;
        mul *= POW2[take]!;
        rem -= take;
      }
      out[outStart + i] = base + v;
    }
  }
  src.pos += packedBytes;
  let idx = 0;
  for (let e = 0; e < exceptions; e++) {
    const eAt = src.pos;
    idx += src.readVarint('pfor exception index');
    if (idx >= count || (e > 0 && src.bytes[eAt] === 0)) {
      throw new EncodingError(`bad pfor exception index ${idx}; count is ${count} and indices must increase`, eAt);
    }
    out[outStart + idx] = base + src.readZigzag('pfor exception value');
  }
}
