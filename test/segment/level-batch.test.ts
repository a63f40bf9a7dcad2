// LevelSegmentReader.selectBucketBatch: the buckets of selectBuckets for all selected series of a
// segment in one RollupBuckets (series i at rows [offsets[i], offsets[i + 1])), checked against
// the written buckets (bucketsOverlapping, an independent reference) and against selectBuckets.
import fc from 'fast-check';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareLabels, labelsKey } from '../../src/model/labels.js';
import { newMatcher, type Matcher } from '../../src/model/matchers.js';
import type { BucketBatch } from '../../src/model/querier.js';
import { RollupBuckets, sliceBuckets } from '../../src/rollup/buckets.js';
import { SegmentCache } from '../../src/segment/cache.js';
import { segmentName } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { LEVEL_FIELDS } from '../../src/segment/level-encoding.js';
import { writeLevelSegment, type LevelSeriesInput } from '../../src/segment/level-writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, bucketsOverlapping, genLevelSeries, LEVEL_SHAPES } from './level-helpers.js';

const H = 3_600_000;
const P0 = Math.floor(1_700_000_000_000 / (2 * H)) * 2 * H;
const P1 = P0 + 2 * H;
const L5M = { name: '5m', widthMs: 300_000 };
const L1H = { name: '1h', widthMs: H };

let root: string;
let seq = 1;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-level-batch-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function write(series: LevelSeriesInput[], level = L5M, blockBucketsMax?: number): Promise<string> {
  const name = segmentName(level.name, P0, seq++);
  const dir = path.join(root, 'segments');
  await writeLevelSegment(dir, name, { tenant: 't1', level, partitionStartMs: P0, partitionEndMs: P1, sources: ['raw-1-00000001'], series }, blockBucketsMax === undefined ? undefined : { blockBucketsMax });
  return path.join(dir, name);
}

/** The batch's own shape: offsets, one key per series, rows of a series ascending, never empty. */
function checkBatchShape(batch: BucketBatch, widthMs: number): void {
  const n = batch.labels.length;
  expect(batch.keys).toHaveLength(n);
  expect(batch.offsets).toHaveLength(n + 1);
  expect(batch.offsets[0]).toBe(0);
  expect(batch.offsets[n]).toBe(batch.buckets.length);
  expect(batch.buckets.widthMs).toBe(widthMs);
  for (let i = 0; i < n; i++) {
    expect(batch.keys[i]).toBe(labelsKey(batch.labels[i]!));
    expect(batch.offsets[i + 1]!).toBeGreaterThan(batch.offsets[i]!);
    if (i > 0) expect(compareLabels(batch.labels[i - 1]!, batch.labels[i]!)).toBeLessThan(0);
    sliceBuckets(batch.buckets, batch.offsets[i]!, batch.offsets[i + 1]!).assertInvariants();
  }
}

/** Batch rows == reference buckets (written, cut to the range) == selectBuckets, bit for bit. */
async function expectBatchRight(reader: LevelSegmentReader, series: LevelSeriesInput[], matchers: readonly Matcher[], pick: (s: LevelSeriesInput) => boolean, lo: number, hi: number): Promise<void> {
  const batch = await reader.selectBucketBatch(matchers, lo, hi);
  const single = await reader.selectBuckets(matchers, lo, hi);
  checkBatchShape(batch, reader.widthMs);
  const want = series
    .filter(pick)
    .sort((a, b) => compareLabels(a.labels, b.labels))
    .map((s) => ({ key: labelsKey(s.labels), b: bucketsOverlapping(s.buckets, lo, hi) }))
    .filter((x) => x.b.length > 0);
  expect([...batch.keys]).toEqual(want.map((x) => x.key));
  expect(single.map((s) => s.key)).toEqual(want.map((x) => x.key));
  for (let i = 0; i < want.length; i++) {
    const rows = sliceBuckets(batch.buckets, batch.offsets[i]!, batch.offsets[i + 1]!);
    expect(bucketsDiff(rows, want[i]!.b)).toBeUndefined();
    expect(bucketsDiff(single[i]!.buckets, rows)).toBeUndefined();
    expect(single[i]!.labels).toEqual(batch.labels[i]);
  }
}

describe('selectBucketBatch', () => {
  test('property: random data, matchers, ranges and block sizes: the written buckets, as selectBuckets gives them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 14 }),
        fc.constantFrom(L5M, L1H, { name: '7m', widthMs: 420_000 }),
        fc.constantFrom(15_000, 60_000, 250_000),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        async (seed, count, level, stepMs, blockBucketsMax, matcherKind, tinyCache) => {
          const rnd = mulberry32(seed);
          const shapes = LEVEL_SHAPES.filter(() => rnd() < 0.6);
          const series = genLevelSeries(count, P0, P1, stepMs, level.widthMs, rnd, shapes.length > 0 ? shapes : ['sparse']);
          if (series.every((s) => s.buckets.length === 0)) return;
          const dir = await write(series, level, blockBucketsMax);
          const reader = await LevelSegmentReader.open(dir, tinyCache ? { blockCache: new SegmentCache(0), batchCache: new SegmentCache(0) } : {});
          try {
            const cases: Array<{ m: Matcher[]; pick: (s: LevelSeriesInput) => boolean }> = [
              { m: [], pick: () => true },
              { m: [newMatcher('=', 'job', 'odd')], pick: (s) => s.labels[2]!.value === 'odd' },
              { m: [newMatcher('=~', '__name__', 'm_(counter|sparse|special)')], pick: (s) => ['m_counter', 'm_sparse', 'm_special'].includes(s.labels[0]!.value) },
              { m: [newMatcher('!~', 'i', '000[0-3]')], pick: (s) => !/^000[0-3]$/.test(s.labels[1]!.value) },
            ];
            const c = cases[matcherKind]!;
            // Ranges: all, a random window (possibly empty or reversed), and one at the edges.
            const a = P0 - level.widthMs + Math.floor(rnd() * (2 * H + 2 * level.widthMs));
            const z = a + Math.floor((rnd() - 0.1) * 2 * H);
            // Aligned to the width: a bucket ends exactly at lo (left out) and at hi + G (left out).
            const G = level.widthMs;
            const k = Math.floor((rnd() * 2 * H) / G);
            const al = P0 + k * G;
            const ah = al + Math.floor(rnd() * 6) * G;
            for (const [lo, hi] of [[P0 - G, P1 + G], [a, z], [al, ah], [al, al + G], [P1 - 1, P1 + H], [P0 - H, P0]] as const) {
              await expectBatchRight(reader, series, c.m, c.pick, lo, hi);
            }
            // Twice: the second read comes from the caches.
            await expectBatchRight(reader, series, c.m, c.pick, a, z);
          } finally {
            reader.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('empty selections: no series, outside the segment, empty or reversed range', async () => {
    const series = genLevelSeries(6, P0, P1, 15_000, L5M.widthMs, mulberry32(3));
    const reader = await LevelSegmentReader.open(await write(series));
    try {
      for (const [m, lo, hi] of [
        [[newMatcher('=', 'nope', 'x')], P0 - H, P1 + H],
        [[], P1 + H, P1 + 2 * H],
        [[], P0 - 2 * H, P0 - H],
        [[], P0 + H, P0 + H - L5M.widthMs],
        [[], P0 + H, P0 - H],
      ] as const) {
        const batch = await reader.selectBucketBatch(m, lo, hi);
        expect(batch.labels).toEqual([]);
        expect(batch.keys).toEqual([]);
        expect([...batch.offsets]).toEqual([0]);
        expect(batch.buckets.length).toBe(0);
        expect(batch.buckets.widthMs).toBe(L5M.widthMs);
        expect(await reader.selectBuckets(m, lo, hi)).toEqual([]);
      }
    } finally {
      reader.close();
    }
  });

  test('the batch is the caller own: writing to it changes no later read (cached blocks are copied)', async () => {
    const series = genLevelSeries(8, P0, P1, 15_000, L5M.widthMs, mulberry32(5));
    const reader = await LevelSegmentReader.open(await write(series, L5M, 7), { blockCache: new SegmentCache(64 << 20) });
    try {
      const first = await reader.selectBucketBatch([], P0, P1);
      const copy = sliceBuckets(first.buckets, 0, first.buckets.length);
      for (const f of LEVEL_FIELDS) first.buckets[f].fill(7);
      const again = await reader.selectBucketBatch([], P0, P1);
      expect(bucketsDiff(again.buckets, copy)).toBeUndefined();
      const single = await reader.selectBuckets([], P0, P1);
      single[0]!.buckets.sum.fill(1);
      expect(bucketsDiff((await reader.selectBucketBatch([], P0, P1)).buckets, copy)).toBeUndefined();
    } finally {
      reader.close();
    }
  });

  test('use after close throws', async () => {
    const reader = await LevelSegmentReader.open(await write(genLevelSeries(2, P0, P1, 15_000, L5M.widthMs, mulberry32(1))));
    reader.close();
    await expect(reader.selectBucketBatch([], P0, P1)).rejects.toThrow(/after close/);
  });
});

describe('RollupBuckets columns in one buffer', () => {
  test('more than 8 buckets: 18 disjoint views of one ArrayBuffer; all sizes: the right length and type, independent columns', () => {
    for (const n of [0, 1, 3, 8, 9, 24, 1001]) {
      const b = new RollupBuckets(L5M.widthMs, n);
      const buf = b.endMs.buffer;
      const spans: Array<[number, number]> = [];
      for (const f of LEVEL_FIELDS) {
        if (n > 8) expect(b[f].buffer).toBe(buf);
        expect(b[f].length).toBe(n);
        expect(b[f]).toBeInstanceOf(f === 'count' || f === 'resets' || f === 'changes' ? Uint32Array : Float64Array);
        expect(b[f].every((x) => x === 0)).toBe(true);
        spans.push([b[f].byteOffset, b[f].byteOffset + b[f].byteLength]);
      }
      if (n > 8) {
        spans.sort((x, y) => x[0] - y[0]);
        for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
        expect(buf.byteLength).toBe(n * (15 * 8 + 3 * 4));
      }
      // A write to one column shows in no other.
      if (n > 0) {
        for (const f of LEVEL_FIELDS) b[f].fill(f === 'count' || f === 'resets' || f === 'changes' ? 0xffffffff : -1);
        b.sum.fill(0);
        expect(b.sum.every((x) => x === 0)).toBe(true);
        expect(b.endMs.every((x) => x === -1)).toBe(true);
        expect(b.sumC.every((x) => x === -1)).toBe(true);
        expect(b.count.every((x) => x === 0xffffffff)).toBe(true);
      }
    }
  });
});
