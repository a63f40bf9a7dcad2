// Samples: timestamps are int64 milliseconds carried in Float64Array (exact below 2^53, which
// covers every millisecond timestamp until the year 287396), values are float64.
//
// Stale markers: Prometheus marks the end of a series with a NaN whose bits are
// 0x7ff0000000000002. It must survive every layer bit-exactly, so values are only ever moved
// through Float64Array/DataView (V8 may canonicalise NaN payloads in other places), and tests
// check the bits.

export const STALE_NAN_BITS_HI = 0x7ff00000;
export const STALE_NAN_BITS_LO = 0x00000002;

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
// Little-endian hosts only (x86_64, arm64): asserted at start-up in cli.ts.
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The stale marker as a number. Store it through a Float64Array to keep its payload. */
export const STALE_NAN: number = (() => {
  scratchWords[0] = STALE_NAN_BITS_LO;
  scratchWords[1] = STALE_NAN_BITS_HI;
  return scratch[0]!;
})();

export function isStaleNaN(v: number): boolean {
  if (v === v) return false; // fast path: not NaN
  scratch[0] = v;
  return scratchWords[0] === STALE_NAN_BITS_LO && scratchWords[1] === STALE_NAN_BITS_HI;
}

/** Reads the value at index i of a Float64Array and reports whether it is the stale marker, bit-exactly. */
export function isStaleAt(values: Float64Array, i: number): boolean {
  const v = values[i]!;
  if (v === v) return false;
  const words = new Uint32Array(values.buffer, values.byteOffset + i * 8, 2);
  return words[0] === STALE_NAN_BITS_LO && words[1] === STALE_NAN_BITS_HI;
}

/** Samples of one series, sorted by time ascending, timestamps unique. */
export interface SampleRun {
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}
