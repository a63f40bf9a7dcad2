// The level reader's decoded-batch cache: selectBucketRuns hands out row ranges of one struct
// per record batch, decoded block by block as ranges need them, kept in the level cache
// (segmentLevelCache by default), which the raw caches' traffic cannot evict; a warm read
// decodes nothing and reads no record batch.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareLabels, getLabel } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { sliceBuckets } from '../../src/rollup/buckets.js';
import { bucketFieldsRead } from '../../src/rollup/eval.js';
import { SegmentCache, segmentChunkCache, segmentLevelCache } from '../../src/segment/cache.js';
import { segmentName } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment, type LevelSeriesInput } from '../../src/segment/level-writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, bucketsOverlapping, genLevelSeries } from './level-helpers.js';

const H = 3_600_000;
const P0 = Math.floor(1_700_000_000_000 / (24 * H)) * 24 * H;
const P1 = P0 + 24 * H;
const L5M = { name: '5m', widthMs: 300_000 };

let root: string;
let dir: string;
let series: LevelSeriesInput[];
/** The series in label order, as readers return them. */
let sorted: LevelSeriesInput[];
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-level-cache-'));
  series = genLevelSeries(24, P0, P1, 30_000, L5M.widthMs, mulberry32(21));
  const name = segmentName('5m', P0, 1);
  // Small blocks and record batches: several batches, several blocks per series.
  await writeLevelSegment(path.join(root, 's'), name, { tenant: 't', level: L5M, partitionStartMs: P0, partitionEndMs: P1, sources: ['raw-1-00000001'], series }, { blockBucketsMax: 20, batchBytesTarget: 20_000 });
  dir = path.join(root, 's', name);
  sorted = [...series].sort((a, b) => compareLabels(a.labels, b.labels));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('level reader cache', () => {
  test('runs are the written buckets cut to the range, for partial and full ranges, cold and warm', async () => {
    const blockCache = new SegmentCache(256 << 20);
    const batchCache = new SegmentCache(256 << 20);
    const r = await LevelSegmentReader.open(dir, { blockCache, batchCache });
    try {
      expect(r.meta.bucketsBatchRows.length).toBeGreaterThan(1);
      const ranges: [number, number][] = [
        [P0 + 3 * H, P0 + 5 * H],
        [P0 - H, P1 + H],
        [P0 + 7 * H + 60_000, P0 + 7 * H + 120_000],
        [P0 - H, P1 + H],
      ];
      for (const [lo, hi] of ranges) {
        const m = [newMatcher('=', 'job', 'even')];
        const runs = await r.selectBucketRuns(m, lo, hi);
        const want = sorted.filter((s) => getLabel(s.labels, 'job') === 'even').map((s) => bucketsOverlapping(s.buckets, lo, hi)).filter((b) => b.length > 0);
        expect(runs.labels.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) {
          expect(runs.hi[i]!).toBeGreaterThan(runs.lo[i]!);
          expect(bucketsDiff(sliceBuckets(runs.buckets[i]!, runs.lo[i]!, runs.hi[i]!), want[i]!), `range ${lo - P0}..${hi - P0} series ${i}`).toBeUndefined();
        }
      }
      // Everything decoded once: another full read hits the block cache only, and reads no record batch.
      await r.selectBucketRuns([], P0 - H, P1 + H);
      const before = { blocks: blockCache.stats(), batches: batchCache.stats() };
      await r.selectBucketRuns([], P0 - H, P1 + H);
      const after = { blocks: blockCache.stats(), batches: batchCache.stats() };
      expect(after.blocks.misses).toBe(before.blocks.misses);
      expect(after.blocks.hits).toBeGreaterThan(before.blocks.hits);
      expect(after.batches.hits + after.batches.misses).toBe(before.batches.hits + before.batches.misses);
    } finally {
      r.close();
    }
    expect(blockCache.stats().entries).toBe(0);
  });

  test('a selection decodes the fields it names (and the ones their cells are predicted from); later selections add the others', async () => {
    const blockCache = new SegmentCache(256 << 20);
    const batchCache = new SegmentCache(256 << 20);
    const r = await LevelSegmentReader.open(dir, { blockCache, batchCache });
    try {
      const [lo, hi] = [P0 + 2 * H, P0 + 9 * H];
      const want = sorted.map((s) => bucketsOverlapping(s.buckets, lo, hi)).filter((b) => b.length > 0);
      const check = async (fields: ReturnType<typeof bucketFieldsRead> | undefined, what: string) => {
        const runs = await r.selectBucketRuns([], lo, hi, fields);
        expect(runs.labels.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) expect(bucketsDiff(sliceBuckets(runs.buckets[i]!, runs.lo[i]!, runs.hi[i]!), want[i]!, fields), `${what}, series ${i}`).toBeUndefined();
        return runs;
      };
      const avg = bucketFieldsRead('avg_over_time');
      const first = await check(avg, 'avg_over_time');
      // Not decoded: no cell avg_over_time reads is predicted from min, m2 or resets, which the
      // data has (so the struct's zeros are not the data's).
      for (const f of ['min', 'm2', 'resets'] as const) {
        expect(want.some((b) => b[f].some((v) => v !== 0)), f).toBe(true);
        expect(first.buckets.every((b, i) => b[f].subarray(first.lo[i]!, first.hi[i]!).every((v) => v === 0)), f).toBe(true);
      }
      // The cache counts the columns with memory of their own: the time fields and what
      // avg_over_time decoded, not all 18.
      const avgBytes = blockCache.stats().bytes;
      await check(bucketFieldsRead('rate'), 'rate after avg_over_time');
      await check(avg, 'avg_over_time after rate');
      await check(bucketFieldsRead('stddev_over_time'), 'stddev_over_time');
      await check(bucketFieldsRead('changes'), 'changes');
      await check(undefined, 'every field');
      const allBytes = blockCache.stats().bytes;
      expect(avgBytes).toBeGreaterThan(0);
      expect(avgBytes / allBytes).toBeLessThan(0.75);
      // Everything decoded now: a partial read decodes nothing and reads no record batch.
      const before = batchCache.stats();
      await check(bucketFieldsRead('min_over_time'), 'min_over_time, warm');
      const after = batchCache.stats();
      expect(after.hits + after.misses).toBe(before.hits + before.misses);
    } finally {
      r.close();
    }
  });

  test('the shared level cache is apart from the raw chunk cache: filling that evicts no level block', async () => {
    const r = await LevelSegmentReader.open(dir);
    const chunkBound = segmentChunkCache.stats().bytesMax;
    try {
      await r.selectBucketRuns([], P0 - H, P1 + H);
      const held = segmentLevelCache.stats();
      expect(held.entries).toBeGreaterThan(0);
      // What a long raw query does to the chunk cache: more decoded chunks than it holds.
      segmentChunkCache.setBytesMax(1 << 20);
      for (let k = 0; k < 64; k++) segmentChunkCache.set(-1, k, new Float64Array(1), 100_000);
      expect(segmentChunkCache.stats().evictions).toBeGreaterThan(0);
      const before = segmentLevelCache.stats();
      expect(before.entries).toBe(held.entries);
      await r.selectBucketRuns([], P0 - H, P1 + H);
      expect(segmentLevelCache.stats().misses).toBe(before.misses);
    } finally {
      segmentChunkCache.dropOwner(-1);
      segmentChunkCache.setBytesMax(chunkBound);
      r.close();
    }
  });

  test('a cache too small for a decoded batch still answers right (decoded for the one read)', async () => {
    const r = await LevelSegmentReader.open(dir, { blockCache: new SegmentCache(0), batchCache: new SegmentCache(0) });
    try {
      const runs = await r.selectBucketRuns([], P0 - H, P1 + H);
      const want = sorted.filter((s) => s.buckets.length > 0);
      expect(runs.labels.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(bucketsDiff(sliceBuckets(runs.buckets[i]!, runs.lo[i]!, runs.hi[i]!), want[i]!.buckets)).toBeUndefined();
    } finally {
      r.close();
    }
  });
});
