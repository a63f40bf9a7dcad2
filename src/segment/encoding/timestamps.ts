// Timestamp chunk encodings (int64 milliseconds, strictly increasing). Each chunk starts with a
// tag byte so it can pick whichever encoding is smaller:
//
//   TS_DELTA (1): tag u8, n varint, t0 zigzag varint, PFOR(n-1 deltas t[i]-t[i-1])
//   TS_DOD   (2): tag u8, n varint, t0 zigzag varint, d0 zigzag varint (t1-t0, only if n >= 2),
//                 PFOR(n-2 delta-of-deltas (t[i]-t[i-1]) - (t[i-1]-t[i-2]))
//
// For n = 1 both are tag, n, t0. Regular scrapes with jitter of a few ms: deltas are
// step±jitter and pack into a few bits with TS_DELTA; a missed scrape is one exception.
// Timestamps are bounded by TIMESTAMP_ABS_MAX_MS so every delta and delta-of-delta stays exact.
import { ByteSink, ByteSource, EncodingError } from './bytes.js';
import { decodePfor, encodePfor } from './pfor.js';
import { SAMPLE_TIMESTAMP_ABS_MAX_MS } from '../../constants.js';

export const TS_DELTA = 1;
export const TS_DOD = 2;

/** |t| <= 2^47 ms (about ±4,400 years): deltas-of-deltas and their zigzag stay below 2^53. */
export const TIMESTAMP_ABS_MAX_MS = SAMPLE_TIMESTAMP_ABS_MAX_MS;

let diffs = new Float64Array(1024);

/** Appends the smaller encoding of ts[start..start+count) (count >= 1, strictly increasing ints). */
export function encodeTimestamps(sink: ByteSink, ts: Float64Array, start: number, count: number): void {
  if (count < 1) throw new Error('encodeTimestamps: empty chunk');
  if (diffs.length < count) diffs = new Float64Array(Math.max(count, diffs.length * 2));
  for (let i = 0; i < count; i++) {
    const t = ts[start + i]!;
    if (!Number.isInteger(t) || Math.abs(t) > TIMESTAMP_ABS_MAX_MS) throw new Error(`timestamp ${t} is not an integer within ±2^47 ms`);
    if (i > 0 && !(t > ts[start + i - 1]!)) throw new Error(`timestamps not strictly increasing at ${i}: ${ts[start + i - 1]} then ${t}`);
  }
  const t0 = ts[start]!;
  const p0 = sink.length;
  sink.pushByte(TS_DELTA);
  sink.pushVarint(count);
  sink.pushZigzag(t0);
  if (count === 1) return;
  for (let i = 1; i < count; i++) diffs[i - 1] = ts[start + i]! - ts[start + i - 1]!;
  encodePfor(sink, diffs, 0, count - 1);
  const deltaBytes = sink.length - p0;
  if (count < 3) return;
  const p1 = sink.length;
  sink.pushByte(TS_DOD);
  sink.pushVarint(count);
  sink.pushZigzag(t0);
  sink.pushZigzag(diffs[0]!);
  for (let i = count - 2; i >= 1; i--) diffs[i] = diffs[i]! - diffs[i - 1]!; // in place, back to front
  encodePfor(sink, diffs, 1, count - 2);
  const dodBytes = sink.length - p1;
  if (dodBytes < deltaBytes) {
    sink.bytes.copyWithin(p0, p1, p1 + dodBytes);
    sink.length = p0 + dodBytes;
  } else {
    sink.length = p1;
  }
}

/**
 * Decodes one timestamp chunk into out[outStart..]; returns the sample count, which must not
 * exceed countMax (the caller's bound, e.g. the chunk's sample_count).
 */
export function decodeTimestamps(src: ByteSource, out: Float64Array, outStart: number, countMax: number): number {
  const at = src.pos;
  const tag = src.readByte('timestamp encoding tag');
  if (tag !== TS_DELTA && tag !== TS_DOD) throw new EncodingError(`unknown timestamp encoding tag ${tag}`, at);
  const n = src.readCount('timestamp sample count', countMax);
  if (n < 1) throw new EncodingError('timestamp chunk with 0 samples', at);
  if (outStart + n > out.length) throw new EncodingError(`timestamp chunk of ${n} samples does not fit the output of ${out.length - outStart}`, at);
  const t0 = src.readZigzag('first timestamp');
  out[outStart] = t0;
  if (n === 1) return n;
  if (tag === TS_DELTA) {
    decodePfor(src, out, outStart + 1, n - 1);
    for (let i = 1; i < n; i++) out[outStart + i] = out[outStart + i - 1]! + out[outStart + i]!;
  } else {
    const d0 = src.readZigzag('first delta');
    out[outStart + 1] = d0;
    if (n > 2) decodePfor(src, out, outStart + 2, n - 2);
    // out[1..] holds d0, dod2, dod3...: turn into deltas, then into timestamps.
    let d = d0;
    let t = t0 + d0;
    out[outStart + 1] = t;
    for (let i = 2; i < n; i++) {
      d += out[outStart + i]!;
      t += d;
      out[outStart + i] = t;
    }
  }
  for (let i = 1; i < n; i++) {
    const t = out[outStart + i]!;
    if (!(t > out[outStart + i - 1]!) || Math.abs(t) > TIMESTAMP_ABS_MAX_MS) {
      throw new EncodingError(`decoded timestamps not strictly increasing within ±2^47 at sample ${i}`, at);
    }
  }
  return n;
}
