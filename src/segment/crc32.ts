// CRC-32 (IEEE 802.3, the polynomial of zlib/gzip/PNG) of segment files, checked at every open.
// zlib.crc32 (Node >= 20.15) where the runtime has it: ~1.75 GB/s here against ~0.4 GB/s for the
// slicing-by-8 loop below (bench/micro/crc32.ts), which serves older Node 20 releases. Opening
// the 30-day bench data dir checksums ~225 MB, ~0.45 s of main-thread CPU with the loop.
import zlib from 'node:zlib';

const TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

type Crc32 = (bytes: Uint8Array, crc?: number) => number;

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Continues a CRC-32 over bytes; start with crc = 0. Returns an unsigned 32-bit value. */
export const crc32: Crc32 = typeof nativeCrc32 === 'function' ? nativeCrc32 : crc32Js;

/** The same CRC-32 in JavaScript: what crc32 is where zlib has none, and its reference in tests. */
export function crc32Js(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
