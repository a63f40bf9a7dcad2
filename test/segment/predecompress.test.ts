// parseWithPredecompressed (segment open): a ZSTD-compressed IPC file parses to the same table as
// the synchronous codec gives, the codec finds every buffer ready (none goes through the blocking
// helper thread), pooled small reads are not confused with each other, and garbage is refused by
// the parse as before.
import { compressionRegistry, CompressionType, makeTable, tableFromIPC, tableToIPC, type Codec } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { arrowFileBytes, registerArrowCodecs } from '../../src/segment/codecs.js';
import { parseWithPredecompressed } from '../../src/segment/reader.js';

function sampleFile(seed: number, rows: number): Uint8Array {
  const a = Int32Array.from({ length: rows }, (_, i) => (i * 7919 + seed) % 1000);
  const b = Float64Array.from({ length: rows }, (_, i) => Math.sin(i + seed));
  const table = makeTable({ a, b });
  return arrowFileBytes(table.batches, 'zstd');
}

/** Counts the ZSTD codec's decode calls that did not find their buffer ready. */
function countingSyncFallbacks(): { restore: () => void; count: () => number } {
  registerArrowCodecs();
  const codec = compressionRegistry.get(CompressionType.ZSTD)!;
  let fallbacks = 0;
  const counting: Codec = {
    encode: codec.encode!,
    decode: (data) => {
      const out = codec.decode!(data);
      // A ready buffer is returned as stored (the same object each call); a fallback is new.
      if (codec.decode!(data) !== out) fallbacks++;
      return out;
    },
  };
  compressionRegistry.set(CompressionType.ZSTD, counting);
  return { restore: () => compressionRegistry.set(CompressionType.ZSTD, codec), count: () => fallbacks };
}

describe('parseWithPredecompressed', () => {
  test('same table as the synchronous codec, every buffer taken ready', async () => {
    const file = sampleFile(1, 5000);
    const want = tableFromIPC(file);
    const probe = countingSyncFallbacks();
    try {
      const got = await parseWithPredecompressed(file, (bytes) => tableFromIPC(bytes));
      expect(got.numRows).toBe(5000);
      expect([...got.getChild('a')!.toArray()]).toEqual([...want.getChild('a')!.toArray()]);
      expect([...got.getChild('b')!.toArray()]).toEqual([...want.getChild('b')!.toArray()]);
      expect(probe.count()).toBe(0);
    } finally {
      probe.restore();
    }
  });

  test('two files in one shared buffer (as small reads from the pool) each parse to their own data', async () => {
    const f1 = sampleFile(2, 300);
    const f2 = sampleFile(3, 300);
    const shared = new Uint8Array(f1.length + f2.length + 16);
    shared.set(f1, 8);
    shared.set(f2, 8 + f1.length);
    const v1 = shared.subarray(8, 8 + f1.length);
    const v2 = shared.subarray(8 + f1.length, 8 + f1.length + f2.length);
    const [t1, t2] = await Promise.all([parseWithPredecompressed(v1, (b) => tableFromIPC(b)), parseWithPredecompressed(v2, (b) => tableFromIPC(b))]);
    expect([...t1.getChild('b')!.toArray()]).toEqual([...tableFromIPC(f1).getChild('b')!.toArray()]);
    expect([...t2.getChild('b')!.toArray()]).toEqual([...tableFromIPC(f2).getChild('b')!.toArray()]);
  });

  test('uncompressed files and garbage: the parse decides, as without it', async () => {
    const plain = tableToIPC(makeTable({ a: Int32Array.of(1, 2, 3) }), 'file');
    expect((await parseWithPredecompressed(plain, (b) => tableFromIPC(b))).numRows).toBe(3);
    const file = sampleFile(4, 100);
    for (const bad of [new Uint8Array(0), Uint8Array.of(1, 2, 3), file.subarray(0, file.length - 20), file.map((x, i) => (i > 40 && i % 13 === 0 ? x ^ 0xff : x))]) {
      let syncError: unknown;
      let asyncError: unknown;
      try {
        tableFromIPC(bad).numRows;
      } catch (e) {
        syncError = e;
      }
      try {
        await parseWithPredecompressed(bad, (b) => tableFromIPC(b).numRows);
      } catch (e) {
        asyncError = e;
      }
      expect(asyncError === undefined).toBe(syncError === undefined);
    }
  });
});
