// The segment cache: LRU order, the byte bound, per-owner invalidation (unit), and the reader
// over it: cached answers equal uncached ones bit for bit, a second read hits, closing a reader
// drops its entries (also when a load is still in flight), bounds hold under pressure, and one
// scan cannot fill the chunk cache.
import { defaultSegmentCacheBytesMax } from '../../src/constants.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SegmentCache, nextCacheOwner } from '../../src/segment/cache.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { writeSegment } from '../../src/segment/writer.js';
import { newMatcher, type Matcher } from '../../src/model/matchers.js';
import type { SourceSeries } from '../../src/model/querier.js';
import { PARTITION_MS } from '../../src/constants.js';
import { mulberry32 } from '../helpers/prng.js';
import { genSeries, sameBits } from './helpers.js';

describe('SegmentCache', () => {
  test('evicts the least recently used entry first; a hit refreshes an entry', () => {
    const c = new SegmentCache(40);
    const o = nextCacheOwner();
    for (const k of [1, 2, 3, 4]) c.set(o, k, `v${k}`, 10);
    expect(c.stats()).toMatchObject({ bytes: 40, entries: 4, evictions: 0 });
    expect(c.get(o, 1)).toBe('v1'); // 1 is now the newest
    c.set(o, 5, 'v5', 10);
    expect(c.get(o, 2)).toBeUndefined(); // 2 was the oldest
    expect(c.get(o, 1)).toBe('v1');
    expect(c.get(o, 5)).toBe('v5');
    expect(c.stats()).toMatchObject({ bytes: 40, entries: 4, evictions: 1, hits: 3, misses: 1 });
  });

  test('replacing a key keeps one entry; an entry above a quarter of the bound is not kept', () => {
    const c = new SegmentCache(100);
    const o = nextCacheOwner();
    c.set(o, 7, 'a', 20);
    c.set(o, 7, 'b', 25);
    expect(c.stats()).toMatchObject({ bytes: 25, entries: 1 });
    expect(c.get(o, 7)).toBe('b');
    c.set(o, 8, 'huge', 26);
    expect(c.get(o, 8)).toBeUndefined();
    c.set(o, 7, 'huge', 26); // replacing with something too big drops the old value too
    expect(c.get(o, 7)).toBeUndefined();
    expect(c.stats()).toMatchObject({ bytes: 0, entries: 0 });
  });

  test('dropOwner removes one owner only; owners never share keys', () => {
    const c = new SegmentCache(1000);
    const a = nextCacheOwner();
    const b = nextCacheOwner();
    c.set(a, 1, 'a1', 10);
    c.set(b, 1, 'b1', 10);
    c.set(a, 2, 'a2', 10);
    expect(c.get(a, 1)).toBe('a1');
    expect(c.get(b, 1)).toBe('b1');
    c.dropOwner(a);
    expect(c.get(a, 1)).toBeUndefined();
    expect(c.get(a, 2)).toBeUndefined();
    expect(c.get(b, 1)).toBe('b1');
    expect(c.stats()).toMatchObject({ bytes: 10, entries: 1 });
    c.dropOwner(a); // twice is harmless
    c.setBytesMax(5);
    expect(c.stats()).toMatchObject({ bytes: 0, entries: 0, bytesMax: 5 });
    expect(() => new SegmentCache(-1)).toThrow(/>= 0/);
  });

  test('random operations match a model and never exceed the bound', () => {
    const rnd = mulberry32(7);
    const bound = 500;
    const c = new SegmentCache(bound);
    const owners = [nextCacheOwner(), nextCacheOwner(), nextCacheOwner()];
    // Model: an array in recency order (oldest first).
    let model: { owner: number; key: number; value: number; bytes: number }[] = [];
    for (let step = 0; step < 5000; step++) {
      const owner = owners[Math.floor(rnd() * owners.length)]!;
      const key = Math.floor(rnd() * 40);
      const r = rnd();
      if (r < 0.5) {
        const got = c.get<number>(owner, key);
        const i = model.findIndex((e) => e.owner === owner && e.key === key);
        expect(got).toBe(i < 0 ? undefined : model[i]!.value);
        if (i >= 0) model.push(...model.splice(i, 1));
      } else if (r < 0.97) {
        const bytes = 1 + Math.floor(rnd() * 150);
        c.set(owner, key, step, bytes);
        model = model.filter((e) => !(e.owner === owner && e.key === key));
        if (bytes <= bound / 4) {
          model.push({ owner, key, value: step, bytes });
          let total = model.reduce((a, e) => a + e.bytes, 0);
          while (total > bound) total -= model.shift()!.bytes;
        }
      } else {
        c.dropOwner(owner);
        model = model.filter((e) => e.owner !== owner);
      }
      const s = c.stats();
      expect(s.bytes).toBeLessThanOrEqual(bound);
      expect(s.bytes).toBe(model.reduce((a, e) => a + e.bytes, 0));
      expect(s.entries).toBe(model.length);
    }
  });
});

const P0 = Math.floor(1_700_000_000_000 / PARTITION_MS) * PARTITION_MS;
const P1 = P0 + PARTITION_MS;

describe('SegmentReader over the cache', () => {
  let root: string;
  let dir: string;
  let multiBatchDir: string;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-segcache-'));
    const series = genSeries(300, 11, P0, P1);
    // Small chunks: series span several chunks, so windows cut chunks and cross chunk edges.
    await writeSegment(path.join(root, 'segments'), 'raw-test-00000001', { tenant: 't1', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series }, { chunkSamplesMax: 50 });
    dir = path.join(root, 'segments', 'raw-test-00000001');
    // Tiny chunks: more than SAMPLES_BATCH_CHUNKS_MAX chunks, so several record batches.
    await writeSegment(path.join(root, 'segments'), 'raw-test-00000002', { tenant: 't1', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series }, { chunkSamplesMax: 2 });
    multiBatchDir = path.join(root, 'segments', 'raw-test-00000002');
  });

  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const noCache = () => ({ batchCache: new SegmentCache(0), chunkCache: new SegmentCache(0) });

  function expectSame(got: SourceSeries[], want: SourceSeries[]): void {
    expect(got.map((s) => s.key)).toEqual(want.map((s) => s.key));
    for (let i = 0; i < got.length; i++) {
      expect(Array.from(got[i]!.timestampsMs)).toEqual(Array.from(want[i]!.timestampsMs));
      expect(sameBits(got[i]!.values, want[i]!.values)).toBe(true);
    }
  }

  const windows: Array<[string, Matcher[], number, number]> = [
    ['everything', [], -Infinity, Infinity],
    ['a 5 minute window', [newMatcher('=~', '__name__', '.+')], P0 + 3_000_000, P0 + 3_300_000],
    ['a window on chunk edges, fractional bounds', [newMatcher('=', 'job', 'node')], P0 + 1_000_000.5, P0 + 4_000_000.25],
    ['one series', [newMatcher('=', 'zz_id', '17')], P0, P1],
    ['nothing', [newMatcher('=', 'zz_id', 'none')], P0, P1],
  ];

  for (const [name, matchers, minT, maxT] of windows) {
    test(`cached reads equal uncached reads: ${name}`, async () => {
      for (const d of [dir, multiBatchDir]) {
        const batchCache = new SegmentCache(64 * 1024 * 1024);
        const chunkCache = new SegmentCache(64 * 1024 * 1024);
        const plain = await SegmentReader.open(d, noCache());
        const cached = await SegmentReader.open(d, { batchCache, chunkCache });
        try {
          const want = await plain.select(matchers, minT, maxT, true);
          const first = await cached.select(matchers, minT, maxT, true);
          expectSame(first, want);
          const before = { b: batchCache.stats(), c: chunkCache.stats() };
          const second = await cached.select(matchers, minT, maxT, true);
          expectSame(second, want);
          const after = { b: batchCache.stats(), c: chunkCache.stats() };
          // The second read decompresses and decodes nothing.
          expect(after.b.misses).toBe(before.b.misses);
          expect(after.c.misses).toBe(before.c.misses);
          if (want.length > 0) expect(after.c.hits).toBeGreaterThan(before.c.hits);
          // A narrower read afterwards is served from the same chunks.
          const mid = (Math.max(minT, P0) + Math.min(maxT, P1)) / 2;
          expectSame(await cached.select(matchers, mid, mid + 600_000, true), await plain.select(matchers, mid, mid + 600_000, true));
        } finally {
          plain.close();
          cached.close();
        }
      }
    });
  }

  test('the multi-batch segment really has several record batches', async () => {
    const r = await SegmentReader.open(multiBatchDir, noCache());
    expect(r.meta.samplesBatchRows.length).toBeGreaterThan(1);
    r.close();
  });

  test('close() drops the reader entries; other readers of the same segment keep theirs', async () => {
    const batchCache = new SegmentCache(64 * 1024 * 1024);
    const chunkCache = new SegmentCache(64 * 1024 * 1024);
    const a = await SegmentReader.open(multiBatchDir, { batchCache, chunkCache });
    const b = await SegmentReader.open(multiBatchDir, { batchCache, chunkCache });
    await a.select([], -Infinity, Infinity, true);
    const afterA = { b: batchCache.stats(), c: chunkCache.stats() };
    expect(afterA.b.entries).toBe(a.meta.samplesBatchRows.length);
    expect(afterA.c.entries).toBe(a.meta.chunkCount);
    // b has its own entries (a reopened segment never sees a closed reader's data).
    await b.select([], -Infinity, Infinity, true);
    expect(batchCache.stats().entries).toBe(2 * afterA.b.entries);
    a.close();
    expect(batchCache.stats()).toMatchObject({ entries: afterA.b.entries, bytes: afterA.b.bytes });
    expect(chunkCache.stats()).toMatchObject({ entries: afterA.c.entries, bytes: afterA.c.bytes });
    await expect(a.select([], -Infinity, Infinity, true)).rejects.toThrow(/used after close/);
    b.close();
    expect(batchCache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect(chunkCache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  test('a batch load in flight at close() is not inserted afterwards', async () => {
    const batchCache = new SegmentCache(64 * 1024 * 1024);
    const chunkCache = new SegmentCache(64 * 1024 * 1024);
    const r = await SegmentReader.open(multiBatchDir, { batchCache, chunkCache });
    const pending = r.select([], -Infinity, Infinity, true);
    r.close();
    await expect(pending).rejects.toThrow(/used after close/);
    // Let the reads and decompressions still running finish.
    await new Promise((res) => setTimeout(res, 50));
    expect(batchCache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect(chunkCache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  test('small bounds hold under pressure and answers stay right', async () => {
    const plain = await SegmentReader.open(multiBatchDir, noCache());
    const probe = await SegmentReader.open(multiBatchDir, { batchCache: new SegmentCache(1e9), chunkCache: new SegmentCache(1e9) });
    await probe.select([], -Infinity, Infinity, true);
    probe.close();
    // Room for about two record batches, and for a few hundred chunks.
    const batchCache = new SegmentCache(8 * 1024 * 1024);
    const chunkCache = new SegmentCache(64 * 1024);
    const r = await SegmentReader.open(multiBatchDir, { batchCache, chunkCache });
    try {
      for (let i = 0; i < 6; i++) {
        const lo = P0 + i * 1_000_000;
        const m = [newMatcher('=~', 'zz_id', i % 2 === 0 ? '.*[02468]' : '.*')];
        expectSame(await r.select(m, lo, lo + 2_500_000, true), await plain.select(m, lo, lo + 2_500_000, true));
        expect(batchCache.stats().bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
        expect(chunkCache.stats().bytes).toBeLessThanOrEqual(64 * 1024);
      }
      expect(chunkCache.stats().evictions).toBeGreaterThan(0);
    } finally {
      r.close();
      plain.close();
    }
  });

  test('one select inserts at most half of the chunk cache (scan resistance)', async () => {
    const chunkCache = new SegmentCache(256 * 1024);
    const r = await SegmentReader.open(dir, { batchCache: new SegmentCache(64 * 1024 * 1024), chunkCache });
    try {
      await r.select([], -Infinity, Infinity, true);
      const s = chunkCache.stats();
      expect(s.bytes).toBeGreaterThan(0);
      expect(s.bytes).toBeLessThanOrEqual(128 * 1024);
      expect(s.evictions).toBe(0);
    } finally {
      r.close();
    }
  });

  test('regex selectors answer the same when repeated, over many distinct regexes (memoized refs)', async () => {
    const plain = await SegmentReader.open(dir, noCache());
    const r = await SegmentReader.open(dir);
    try {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 50; i++) {
          const m = [newMatcher('=~', 'zz_id', `${i % 10}.*`), newMatcher(i % 2 === 0 ? '=~' : '!~', 'instance', `host-[0-${i % 7}]`)];
          expectSame(await r.select(m, P0, P1, true), await plain.select(m, P0, P1, true));
          const labelsOnly = await r.select(m, P0, P1, false);
          expect(labelsOnly.map((s) => s.key)).toEqual((await plain.select(m, P0, P1, false)).map((s) => s.key));
        }
      }
    } finally {
      r.close();
      plain.close();
    }
  });

  test('returned series are views the cache keeps: equal data on every read', async () => {
    const chunkCache = new SegmentCache(64 * 1024 * 1024);
    const r = await SegmentReader.open(dir, { batchCache: new SegmentCache(64 * 1024 * 1024), chunkCache });
    try {
      const m = [newMatcher('=', 'zz_id', '42')];
      const a = await r.select(m, P0, P1, true);
      const b = await r.select(m, P0, P1, true);
      expect(a.length).toBe(1);
      // A single-chunk-or-more series read twice yields equal samples (shared or copied).
      expectSame(b, a);
    } finally {
      r.close();
    }
  });
});

describe('default cache bound', () => {
  test('is 1/16 of the machine memory within 64-512 MiB', () => {
    const MiB = 1024 * 1024;
    expect(defaultSegmentCacheBytesMax(512 * MiB)).toBe(64 * MiB);
    expect(defaultSegmentCacheBytesMax(4096 * MiB)).toBe(256 * MiB);
    expect(defaultSegmentCacheBytesMax(24 * 1024 * MiB)).toBe(512 * MiB);
  });
});
