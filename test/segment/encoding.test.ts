import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../helpers/prng.js';
import {
  ByteSink,
  ByteSource,
  EncodingError,
  decodePfor,
  decodeTimestamps,
  decodeValues,
  encodePfor,
  encodeTimestamps,
  encodeValues,
  V_CONST,
  V_DEC_DELTA,
  V_DEC_DOD,
  V_RAW,
  V_XOR,
  TS_DELTA,
  TS_DOD,
} from '../../src/segment/encoding/index.js';
import { crc32, crc32Js } from '../../src/segment/crc32.js';
import { zstdFrameContentSize } from '../../src/segment/codecs.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { SHAPES, genValues, sameBits } from './helpers.js';

function roundTripValues(v: Float64Array, only?: number): { tag: number; bytes: number } {
  const sink = new ByteSink(16);
  const tag = encodeValues(sink, v, 0, v.length, only === undefined ? undefined : { only });
  const out = new Float64Array(v.length);
  const src = new ByteSource(sink.bytes, 0, sink.length);
  expect(decodeValues(src, out, 0, v.length)).toBe(v.length);
  expect(src.pos).toBe(sink.length);
  expect(sameBits(out, v)).toBe(true);
  return { tag, bytes: sink.length };
}

describe('varint and pfor', () => {
  test('pfor round-trips widths 0..32, exceptions, negative outliers and 2^52 magnitudes', () => {
    const rnd = mulberry32(7);
    const cases: number[][] = [
      [5],
      [0, 0, 0, 0],
      [15000, 15001, 14999, 30000, 15000, -15000, 15002],
      Array.from({ length: 300 }, () => Math.floor(rnd() * 2 ** 32)),
      Array.from({ length: 300 }, () => Math.floor((rnd() - 0.5) * 2 ** 52)),
      Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? -1e12 : i % 3)),
    ];
    for (const c of cases) {
      const xs = Float64Array.from(c);
      const sink = new ByteSink(4);
      encodePfor(sink, xs, 0, xs.length);
      const out = new Float64Array(xs.length);
      const src = new ByteSource(sink.bytes, 0, sink.length);
      decodePfor(src, out, 0, xs.length);
      expect(Array.from(out)).toEqual(c);
      expect(src.pos).toBe(sink.length);
    }
  });

  test('an outlier costs an exception, not a wider frame', () => {
    const xs = new Float64Array(480).fill(15000);
    for (let i = 0; i < xs.length; i++) xs[i] = 15000 + (i % 5) - 2;
    xs[100] = 30000;
    const sink = new ByteSink();
    encodePfor(sink, xs, 0, xs.length);
    expect(sink.length).toBeLessThan(480 * 3 / 8 + 16);
  });

  test('truncated and bad pfor input throws EncodingError', () => {
    const xs = Float64Array.from([1, 2, 3, 1000, 5]);
    const sink = new ByteSink();
    encodePfor(sink, xs, 0, xs.length);
    const out = new Float64Array(5);
    expect(() => decodePfor(new ByteSource(sink.bytes, 0, sink.length - 1), out, 0, 5)).toThrow(EncodingError);
    const bad = sink.view().slice();
    bad[0] = 40; // width > 32
    expect(() => decodePfor(new ByteSource(bad), out, 0, 5)).toThrow(/too big pfor width; got 40/);
  });
});

describe('timestamps', () => {
  test('regular, jittered, gapped, irregular, negative and single timestamps round-trip', () => {
    const rnd = mulberry32(3);
    const cases: Float64Array[] = [
      Float64Array.from([1_700_000_000_000]),
      Float64Array.from([-5, 0, 7]),
      Float64Array.from({ length: 480 }, (_, i) => 1_700_000_000_000 + i * 15_000),
      Float64Array.from({ length: 480 }, (_, i) => 1_700_000_000_000 + i * 15_000 + Math.floor(rnd() * 7) - 3 + (i > 200 ? 15_000 : 0)),
      (() => {
        const t = new Float64Array(300);
        let x = -(2 ** 46);
        for (let i = 0; i < t.length; i++) t[i] = x += 1 + Math.floor(rnd() * 1e9);
        return t;
      })(),
    ];
    const tags = new Set<number>();
    for (const t of cases) {
      const sink = new ByteSink(8);
      encodeTimestamps(sink, t, 0, t.length);
      tags.add(sink.bytes[0]!);
      const out = new Float64Array(t.length);
      const src = new ByteSource(sink.bytes, 0, sink.length);
      expect(decodeTimestamps(src, out, 0, t.length)).toBe(t.length);
      expect(Array.from(out)).toEqual(Array.from(t));
    }
    expect(tags.has(TS_DELTA)).toBe(true);
    // Regular 15 s: width 0 frame, a handful of bytes for 480 samples.
    const sink = new ByteSink();
    encodeTimestamps(sink, cases[2]!, 0, 480);
    expect(sink.length).toBeLessThan(16);
    expect([TS_DELTA, TS_DOD]).toContain(sink.bytes[0]);
  });

  test('rejects unsorted input and corrupt chunks', () => {
    const sink = new ByteSink();
    expect(() => encodeTimestamps(sink, Float64Array.from([2, 1]), 0, 2)).toThrow(/strictly increasing/);
    expect(() => encodeTimestamps(sink, Float64Array.from([1.5]), 0, 1)).toThrow(/integer/);
    sink.reset();
    encodeTimestamps(sink, Float64Array.from([10, 20, 30]), 0, 3);
    const bytes = sink.view().slice();
    const out = new Float64Array(10);
    expect(() => decodeTimestamps(new ByteSource(bytes), out, 0, 2)).toThrow(/too big timestamp sample count; got 3; cannot exceed 2/);
    bytes[0] = 9;
    expect(() => decodeTimestamps(new ByteSource(bytes), out, 0, 3)).toThrow(/unknown timestamp encoding tag 9/);
  });
});

describe('values', () => {
  test('every shape round-trips bit-exactly with the automatic choice', () => {
    const rnd = mulberry32(11);
    for (const shape of SHAPES) {
      for (const n of [1, 2, 3, 120, 480]) roundTripValues(genValues(shape, n, rnd));
    }
  });

  test('each forced encoding round-trips the cases it accepts', () => {
    const rnd = mulberry32(12);
    const special = genValues('special', 200, rnd);
    for (const only of [V_RAW, V_XOR]) roundTripValues(special, only);
    for (const only of [V_DEC_DELTA, V_DEC_DOD]) {
      roundTripValues(genValues('decimal', 200, rnd), only);
      roundTripValues(genValues('counter', 200, rnd), only);
      roundTripValues(genValues('stale-end', 200, rnd), only);
    }
    roundTripValues(new Float64Array(50).fill(STALE_NAN), V_CONST);
  });

  test('choices: constant, decimal for counters and 0.1 steps, xor for random walks', () => {
    const rnd = mulberry32(13);
    expect(roundTripValues(new Float64Array(480).fill(3.25)).tag).toBe(V_CONST);
    const c = roundTripValues(genValues('counter', 480, rnd));
    expect([V_DEC_DELTA, V_DEC_DOD]).toContain(c.tag);
    expect(c.bytes).toBeLessThan(480); // < 1 byte a sample
    expect([V_DEC_DELTA, V_DEC_DOD]).toContain(roundTripValues(genValues('decimal', 480, rnd)).tag);
    expect(roundTripValues(genValues('walk', 480, rnd)).tag).toBe(V_XOR);
    // A linear counter: delta-of-delta all zero.
    const lin = Float64Array.from({ length: 480 }, (_, i) => 1000 + 37 * i);
    expect(roundTripValues(lin).bytes).toBeLessThan(20);
  });

  test('-0, NaN payloads, stale marker and ±Inf keep their bits inside decimal chunks', () => {
    const v = Float64Array.from({ length: 100 }, (_, i) => i * 0.5);
    const w = new Uint32Array(v.buffer);
    v[10] = -0;
    v[20] = Infinity;
    v[30] = -Infinity;
    w[80] = 0x00000002; // v[40] = stale marker
    w[81] = 0x7ff00000;
    w[100] = 0x12345678; // v[50] = NaN with payload
    w[101] = 0xfff80000;
    const r = roundTripValues(v);
    expect([V_DEC_DELTA, V_DEC_DOD]).toContain(r.tag);
  });

  test('values that are not exact decimals never take a decimal encoding silently', () => {
    // 0.1 + 0.2 is not the double nearest 0.3: decimal must not turn it into 0.3.
    const v = Float64Array.from({ length: 50 }, (_, i) => (i % 2 ? 0.1 + 0.2 : 0.3));
    roundTripValues(v);
    const big = Float64Array.from({ length: 20 }, (_, i) => 2 ** 60 + i * 2 ** 10);
    roundTripValues(big);
  });

  test('corrupt value chunks throw EncodingError', () => {
    const sink = new ByteSink();
    encodeValues(sink, genValues('walk', 100, mulberry32(1)), 0, 100);
    const out = new Float64Array(100);
    expect(() => decodeValues(new ByteSource(sink.bytes, 0, sink.length - 5), out, 0, 100)).toThrow(EncodingError);
    const bad = sink.view().slice();
    bad[0] = 77;
    expect(() => decodeValues(new ByteSource(bad), out, 0, 100)).toThrow(/unknown value encoding tag 77/);
  });
});

describe('checksums and frames', () => {
  test.each([
    ['crc32', crc32],
    ['crc32Js', crc32Js],
  ])('%s matches the standard check value, continues, and agrees with the other', (_name, crc) => {
    expect(crc(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const data = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff);
    expect(crc(data.subarray(500), crc(data.subarray(0, 500)))).toBe(crc(data));
    expect(crc(new Uint8Array(0))).toBe(0);
    // Every length mod 8 and unaligned starts (the JS loop's 8-byte body and its tail).
    const bytes = new Uint8Array(4099).map((_, i) => (i * 2654435761) >>> 24);
    for (const [start, end] of [[0, 4099], [1, 4096], [3, 3], [7, 20], [5, 4098]] as const) {
      expect(crc(bytes.subarray(start, end), 0x1234_5678)).toBe(crc32Js(bytes.subarray(start, end), 0x1234_5678));
      expect(crc(bytes.subarray(start, end), 0x1234_5678)).toBe(crc32(bytes.subarray(start, end), 0x1234_5678));
    }
  });

  test('zstd frame content size is read from the frame header when present', async () => {
    const magic = [0x28, 0xb5, 0x2f, 0xfd];
    expect(zstdFrameContentSize(Uint8Array.from([...magic, 0x20, 200, 0, 0]))).toBe(200); // 1-byte FCS
    expect(zstdFrameContentSize(Uint8Array.from([...magic, 0x60, 0x10, 0x01, 0]))).toBe(0x110 + 256); // 2-byte FCS
    expect(zstdFrameContentSize(Uint8Array.from([...magic, 0xa0, 1, 2, 3, 4, 0]))).toBe(0x04030201); // 4-byte FCS
    // @mongodb-js/zstd streams its frames without a content size: the caller falls back to decompressing.
    const { compress } = await import('@mongodb-js/zstd');
    const f = await compress(Buffer.alloc(300, 7), 3);
    expect([undefined, 300]).toContain(zstdFrameContentSize(new Uint8Array(f)));
  });
});
