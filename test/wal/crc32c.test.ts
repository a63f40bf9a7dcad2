import { describe, expect, it } from 'vitest';
import { crc32c, crc32cReference } from '../../src/wal/crc32c.js';
import { mulberry32 } from '../helpers/prng.js';

describe('crc32c', () => {
  // Check value from the CRC catalogue and the iSCSI vectors of RFC 3720 appendix B.4.
  const vectors: Array<[string, Uint8Array, number]> = [
    ['"123456789"', Buffer.from('123456789', 'ascii'), 0xe3069283],
    ['empty', new Uint8Array(0), 0x00000000],
    ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
    ['32 0xff bytes', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 ascending bytes', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['32 descending bytes', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ];
  for (const [name, input, want] of vectors) {
    it(`known vector: ${name}`, () => {
      expect(crc32c(input)).toBe(want);
      expect(crc32cReference(input)).toBe(want);
    });
  }

  it('slice-by-8 agrees with the bitwise reference on every length and alignment', () => {
    const rnd = mulberry32(7);
    const buf = Uint8Array.from({ length: 300 }, () => Math.floor(rnd() * 256));
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= buf.length; end += 7) {
        expect(crc32c(buf, 0, start, end)).toBe(crc32cReference(buf.subarray(start, end)));
      }
    }
  });

  it('continues a running checksum', () => {
    const rnd = mulberry32(11);
    const buf = Uint8Array.from({ length: 1000 }, () => Math.floor(rnd() * 256));
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      expect(crc32c(buf, crc32c(buf, 0, 0, cut), cut)).toBe(crc32c(buf));
    }
  });

  it('rejects a range outside the buffer', () => {
    expect(() => crc32c(new Uint8Array(4), 0, 0, 5)).toThrow(RangeError);
  });
});
