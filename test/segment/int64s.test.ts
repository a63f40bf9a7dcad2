// int64sAsNumbers (the int64 columns of samples.arrow and buckets.arrow: chunk and block time
// bounds) reads two 32-bit halves instead of BigInts: the same numbers as Number(BigInt), for
// negatives, above 2^53 (rounded once, to nearest even) and at unaligned offsets.
import { describe, expect, it } from 'vitest';
import { int64sAsNumbers } from '../../src/segment/reader.js';
import { MochaError } from '../../src/errors.js';

const bad = (msg: string) => new MochaError('SEGMENT_CORRUPT', msg, { file: 'test' });

describe('int64sAsNumbers', () => {
  it('gives Number(BigInt) of every value, at any byte offset', () => {
    const values: bigint[] = [0n, 1n, -1n, 1796259600000n, -1796259600000n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 53n + 3n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 4294967295n, 4294967296n, -4294967296n, -4294967297n];
    let seed = 12345;
    const rand32 = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return BigInt(seed);
    };
    for (let i = 0; i < 2000; i++) values.push(BigInt.asIntN(64, (rand32() << 32n) | rand32()));
    for (const shift of [0, 1, 3, 4, 7]) {
      const bytes = new Uint8Array(shift + values.length * 8);
      const view = new DataView(bytes.buffer, shift);
      values.forEach((v, i) => view.setBigInt64(8 * i, v, true));
      const got = int64sAsNumbers(bytes.subarray(shift), values.length, bad, 'x');
      expect(Array.from(got)).toEqual(values.map((v) => Number(v)));
    }
  });

  it('refuses a column shorter than n values', () => {
    expect(() => int64sAsNumbers(new Uint8Array(15), 2, bad, 'min_time_ms')).toThrow(/column min_time_ms has 15 bytes for 2 values/);
  });
});
