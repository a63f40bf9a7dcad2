// Level segments (docs/format/level.md): write with writeLevelSegment, read with
// LevelSegmentReader; every bucket field must come back bit for bit.
import fc from 'fast-check';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { compareLabels, labelsKey } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { buildBuckets, concat, RollupBuckets } from '../../src/rollup/buckets.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { segmentName } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment, type LevelSeriesInput } from '../../src/segment/level-writer.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, bucketsOverlapping, genLevelSeries, genSamples, LEVEL_SHAPES } from './level-helpers.js';

const H = 3_600_000;
const P0 = Math.floor(1_700_000_000_000 / (2 * H)) * 2 * H;
const P1 = P0 + 2 * H;
const L5M = { name: '5m', widthMs: 300_000 };
const L1H = { name: '1h', widthMs: H };
const L1D = { name: '1d', widthMs: 24 * H };

let root: string;
let seq = 1;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-level-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function writeAndOpen(series: LevelSeriesInput[], level = L5M, pStart = P0, pEnd = P1, opts?: Parameters<typeof writeLevelSegment>[3]) {
  const name = segmentName(level.name, pStart, seq++);
  const dir = path.join(root, 'segments');
  const meta = await writeLevelSegment(dir, name, { tenant: 't1', level, partitionStartMs: pStart, partitionEndMs: pEnd, sources: ['raw-1-00000001', 'raw-1-00000002'], series }, opts);
  const reader = await LevelSegmentReader.open(path.join(dir, name));
  return { meta, reader, dir: path.join(dir, name) };
}

function expectSame(got: RollupBuckets, want: RollupBuckets): void {
  const d = bucketsDiff(got, want);
  expect(d).toBeUndefined();
}

describe('level segment round trip', () => {
  test('every shape, 5m/1h/1d, zstd/lz4/none: all buckets bit-exact, in label order', async () => {
    const rnd = mulberry32(7);
    for (const level of [L5M, L1H, L1D]) {
      for (const compression of ['zstd', 'lz4', 'none'] as const) {
        const series = genLevelSeries(40, P0, P1, 15_000, level.widthMs, rnd);
        const { meta, reader } = await writeAndOpen(series, level, P0, P1, { compression });
        expect(meta.level).toBe(level.name);
        expect(meta.widthMs).toBe(level.widthMs);
        expect(meta.sources).toEqual(['raw-1-00000001', 'raw-1-00000002']);
        const kept = series.filter((s) => s.buckets.length > 0).sort((a, b) => compareLabels(a.labels, b.labels));
        expect(meta.seriesCount).toBe(kept.length);
        expect(meta.bucketCount).toBe(kept.reduce((a, s) => a + s.buckets.length, 0));
        expect(meta.sampleCount).toBe(kept.reduce((a, s) => a + s.buckets.count.reduce((x, y) => x + y, 0), 0));
        const got = await reader.selectBuckets([], P0 - level.widthMs, P1 + level.widthMs);
        expect(got.map((s) => s.key)).toEqual(kept.map((s) => labelsKey(s.labels)));
        for (let i = 0; i < got.length; i++) expectSame(got[i]!.buckets, kept[i]!.buckets);
        reader.close();
      }
    }
  });

  test('special values survive bit-exactly: stale NaN, NaN payloads, -0, +-Inf in every value field', async () => {
    const n = 10;
    const b = new RollupBuckets(L5M.widthMs, n);
    const specials = [STALE_NAN, NaN, -0, Infinity, -Infinity, 5e-324, -1.7976931348623157e308, 0, 1, 0.1];
    const words = new Uint32Array(2);
    const f = new Float64Array(words.buffer);
    for (let i = 0; i < n; i++) {
      const end = P0 + (i + 1) * L5M.widthMs;
      b.endMs[i] = end;
      b.count[i] = 3;
      b.firstT[i] = end - 200_000;
      b.prevT[i] = end - 100_000;
      b.lastT[i] = end - 1;
      b.lastStaleT[i] = i % 3 === 0 ? end : NaN;
      b.resets[i] = i % 3;
      b.changes[i] = 2;
      for (const [k, field] of (['sum', 'sumC', 'mean', 'm2', 'min', 'max', 'firstV', 'lastV', 'prevV', 'correction'] as const).entries()) {
        // A NaN with an unusual payload, through a typed array.
        words[0] = 0xdead + k;
        words[1] = 0x7ff80000;
        b[field][i] = specials[(i + k) % specials.length]!;
        if ((i + k) % 7 === 0) b[field].set(f, i);
      }
    }
    b.assertInvariants();
    const { reader } = await writeAndOpen([{ labels: [{ name: '__name__', value: 'x' }], buckets: b }]);
    const got = await reader.selectBuckets([], P0, P1);
    expect(got).toHaveLength(1);
    expectSame(got[0]!.buckets, b);
    reader.close();
  });

  test('property: random series (counters with resets, gauges, NaN, stale markers, gaps) round-trip bit-exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(L5M, L1H, { name: '2m', widthMs: 120_000 }, { name: '7m', widthMs: 420_000 }),
        fc.constantFrom(1000, 15_000, 60_000, 250_000),
        fc.integer({ min: 1, max: 300 }),
        async (seed, count, level, stepMs, blockBucketsMax) => {
          const rnd = mulberry32(seed);
          const shapes = LEVEL_SHAPES.filter(() => rnd() < 0.6);
          const series = genLevelSeries(count, P0, P1, stepMs, level.widthMs, rnd, shapes.length > 0 ? shapes : ['special']);
          if (series.every((s) => s.buckets.length === 0)) return;
          const { reader } = await writeAndOpen(series, level, P0, P1, { blockBucketsMax });
          const kept = series.filter((s) => s.buckets.length > 0).sort((a, b) => compareLabels(a.labels, b.labels));
          // A random window too.
          const a = P0 + Math.floor(rnd() * 2 * H) - level.widthMs;
          const z = a + Math.floor(rnd() * 2 * H);
          const all = await reader.selectBuckets([], P0 - level.widthMs, P1);
          const part = await reader.selectBuckets([], a, z);
          reader.close();
          expect(all).toHaveLength(kept.length);
          for (let i = 0; i < kept.length; i++) expect(bucketsDiff(all[i]!.buckets, kept[i]!.buckets)).toBeUndefined();
          const wantPart = kept.map((s) => ({ key: labelsKey(s.labels), b: bucketsOverlapping(s.buckets, a, z) })).filter((x) => x.b.length > 0);
          expect(part.map((s) => s.key)).toEqual(wantPart.map((x) => x.key));
          for (let i = 0; i < part.length; i++) expect(bucketsDiff(part[i]!.buckets, wantPart[i]!.b)).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  test('partial edge buckets: a width that does not divide the partition; concat() of two partitions equals buckets of the whole', async () => {
    const rnd = mulberry32(11);
    const level = { name: '7m', widthMs: 420_000 };
    const s = genSamples('counter', P0, P0 + 4 * H, 15_000, rnd);
    const cut = (lo: number, hi: number) => {
      const idx: number[] = [];
      for (let i = 0; i < s.timestampsMs.length; i++) if (s.timestampsMs[i]! >= lo && s.timestampsMs[i]! < hi) idx.push(i);
      return buildBuckets(Float64Array.from(idx, (i) => s.timestampsMs[i]!), Float64Array.from(idx, (i) => s.values[i]!), level.widthMs);
    };
    const labels = [{ name: '__name__', value: 'c' }];
    const wantA = cut(P0, P1);
    const wantB = cut(P1, P1 + 2 * H);
    const first = await writeAndOpen([{ labels, buckets: wantA }], level, P0, P1);
    const second = await writeAndOpen([{ labels, buckets: wantB }], level, P1, P1 + 2 * H);
    const a = (await first.reader.selectBuckets([], P0, P1 + H))[0]!.buckets;
    const b = (await second.reader.selectBuckets([], P0, P1 + 4 * H))[0]!.buckets;
    // P1 is not a multiple of 7m: the bucket across it is in both, partial in each.
    expect(P1 % level.widthMs).not.toBe(0);
    expect(a.endMs[a.length - 1]).toBe(b.endMs[0]);
    expect(a.endMs[a.length - 1]! - level.widthMs).toBeLessThan(P1);
    expect(bucketsDiff(a, wantA)).toBeUndefined();
    expect(bucketsDiff(b, wantB)).toBeUndefined();
    // Joined, the two partitions give the buckets of the whole (merged edge bucket: same count,
    // first, last, ... ; sums and m2 only up to summation order, see rollup/buckets.ts).
    const joined = concat(a, b);
    const whole = buildBuckets(s.timestampsMs, s.values, level.widthMs);
    expect(Array.from(joined.endMs)).toEqual(Array.from(whole.endMs));
    expect(Array.from(joined.count)).toEqual(Array.from(whole.count));
    expect(Array.from(joined.firstT)).toEqual(Array.from(whole.firstT));
    expect(Array.from(joined.lastV)).toEqual(Array.from(whole.lastV));
    // The edge bucket is selected from both partitions by a range touching only its start.
    expect((await second.reader.selectBuckets([], P1 - 60_000, P1 - 30_000))[0]!.buckets.length).toBe(1);
    first.reader.close();
    second.reader.close();
  });

  test('single series, single bucket', async () => {
    const b = buildBuckets(Float64Array.of(P0 + 5), Float64Array.of(42), L1D.widthMs);
    const { reader, meta } = await writeAndOpen([{ labels: [{ name: '__name__', value: 'one' }], buckets: b }], L1D);
    expect(meta.bucketCount).toBe(1);
    expect(meta.minTMs).toBe(P0 + 5);
    expect(meta.maxTMs).toBe(P0 + 5);
    const got = await reader.selectBuckets([], P0, P0 + 5);
    expectSame(got[0]!.buckets, b);
    expect(await reader.selectBuckets([], P0 + 24 * H, P0 + 48 * H)).toEqual([]);
    reader.close();
  });

  test('no bucket at all is refused; series without buckets are left out', async () => {
    const empty = new RollupBuckets(L5M.widthMs, 0);
    await expect(writeAndOpen([{ labels: [{ name: '__name__', value: 'e' }], buckets: empty }])).rejects.toThrow(/at least one bucket/);
    const b = buildBuckets(Float64Array.of(P0 + 5, P0 + 20_000), Float64Array.of(1, 2), L5M.widthMs);
    const { reader, meta } = await writeAndOpen([
      { labels: [{ name: '__name__', value: 'e' }], buckets: empty },
      { labels: [{ name: '__name__', value: 'f' }], buckets: b },
    ]);
    expect(meta.seriesCount).toBe(1);
    expect((await reader.selectBuckets([], P0, P1)).map((s) => s.key)).toEqual([labelsKey([{ name: '__name__', value: 'f' }])]);
    reader.close();
  });

  test('writer refuses bad input: unsorted duplicates, wrong width, times outside the partition, bad sources, bad level', async () => {
    const b = buildBuckets(Float64Array.of(P0 + 5), Float64Array.of(1), L5M.widthMs);
    const l = [{ name: '__name__', value: 'x' }];
    const w = (over: Record<string, unknown>) =>
      writeLevelSegment(path.join(root, 'segments'), segmentName('5m', P0, seq++), { tenant: 't1', level: L5M, partitionStartMs: P0, partitionEndMs: P1, sources: ['raw-0-00000001'], series: [{ labels: l, buckets: b }], ...over } as never);
    await expect(w({ series: [{ labels: l, buckets: b }, { labels: l, buckets: b }] })).rejects.toThrow(/duplicate series/);
    await expect(w({ series: [{ labels: l, buckets: buildBuckets(Float64Array.of(P0 + 5), Float64Array.of(1), H) }] })).rejects.toThrow(/width/);
    await expect(w({ partitionStartMs: P0 + 10 })).rejects.toThrow(/outside the partition/);
    await expect(w({ partitionEndMs: P0 + 5 })).rejects.toThrow(/outside the partition/);
    await expect(w({ sources: [] })).rejects.toThrow(/sources/);
    await expect(w({ sources: ['a', 'a'] })).rejects.toThrow(/repeats/);
    await expect(w({ sources: ['../x'] })).rejects.toThrow(/segment name/);
    await expect(w({ level: { name: '60m', widthMs: H } })).rejects.toThrow(/bad level/);
    await expect(w({ level: { name: '5m', widthMs: H } })).rejects.toThrow(/bad level/);
    await expect(w({ tenant: '../x' })).rejects.toThrow(/tenant/);
    const broken = buildBuckets(Float64Array.of(P0 + 5, P0 + 10), Float64Array.of(1, 2), L5M.widthMs);
    broken.count[0] = 7; // 7 samples cannot fit between first and last
    await expect(w({ series: [{ labels: l, buckets: broken }] })).rejects.toThrow(/invariant/);
  });
});

describe('selection', () => {
  let reader: LevelSegmentReader;
  let series: LevelSeriesInput[];
  beforeAll(async () => {
    series = genLevelSeries(30, P0, P1, 15_000, L5M.widthMs, mulberry32(3));
    ({ reader } = await writeAndOpen(series, L5M, P0, P1, { blockBucketsMax: 5 }));
  });
  afterAll(() => reader.close());

  const ref = (pred: (s: LevelSeriesInput) => boolean, lo: number, hi: number) =>
    series
      .filter(pred)
      .sort((a, b) => compareLabels(a.labels, b.labels))
      .map((s) => ({ key: labelsKey(s.labels), b: bucketsOverlapping(s.buckets, lo, hi) }))
      .filter((x) => x.b.length > 0);

  test('matchers: =, !=, =~, !~ select the same series as a scan', async () => {
    const cases = [
      { m: [newMatcher('=', 'job', 'even')], pred: (s: LevelSeriesInput) => s.labels.some((l) => l.name === 'job' && l.value === 'even') },
      { m: [newMatcher('=~', '__name__', 'm_(counter|gauge)')], pred: (s: LevelSeriesInput) => ['m_counter', 'm_gauge'].includes(s.labels[0]!.value) },
      { m: [newMatcher('!=', 'job', 'even'), newMatcher('!~', 'i', '00[0-1].')], pred: (s: LevelSeriesInput) => s.labels[2]!.value !== 'even' && !/^00[0-1].$/.test(s.labels[1]!.value) },
      { m: [newMatcher('=', 'nope', 'x')], pred: () => false },
    ];
    for (const { m, pred } of cases) {
      const got = await reader.selectBuckets(m, P0, P1);
      const want = ref(pred, P0, P1);
      expect(got.map((s) => s.key)).toEqual(want.map((x) => x.key));
      for (let i = 0; i < got.length; i++) expect(bucketsDiff(got[i]!.buckets, want[i]!.b)).toBeUndefined();
      expect(reader.series(m, P0, P1).map((l) => labelsKey(l))).toEqual(want.map((x) => x.key));
    }
  });

  test('time ranges: (min, max] overlap on and off bucket edges, across block edges, outside the segment', async () => {
    const G = L5M.widthMs;
    const ranges: Array<[number, number]> = [
      [P0, P1],
      [P0 + 3 * G, P0 + 7 * G],
      [P0 + 3 * G + 1, P0 + 7 * G - 1],
      [P0 + 5 * G - 1, P0 + 5 * G],
      [P0 + 5 * G, P0 + 5 * G + 1],
      [P0 + 10 * G - 20, P0 + 10 * G + 20],
      [P1 - 1, P1 + 10 * G],
      [P1 + G, P1 + 2 * G],
      [P0 - 10 * G, P0 - G],
      [P0 + 3 * G, P0 + 3 * G],
    ];
    for (const [lo, hi] of ranges) {
      const got = await reader.selectBuckets([], lo, hi);
      const want = ref(() => true, lo, hi);
      expect(got.map((s) => s.key), `(${lo - P0}, ${hi - P0}]`).toEqual(want.map((x) => x.key));
      for (let i = 0; i < got.length; i++) expect(bucketsDiff(got[i]!.buckets, want[i]!.b)).toBeUndefined();
    }
  });

  test('returned buckets are the caller\'s: changing them does not change the next answer', async () => {
    const a = await reader.selectBuckets([], P0, P1);
    a[0]!.buckets.sum.fill(123);
    const b = await reader.selectBuckets([], P0, P1);
    expect(bucketsDiff(b[0]!.buckets, bucketsOverlapping(series.slice().sort((x, y) => compareLabels(x.labels, y.labels))[0]!.buckets, P0, P1))).toBeUndefined();
  });

  test('labelsOf, series counts and BucketSource fields', () => {
    expect(reader.level).toBe('5m');
    expect(reader.widthMs).toBe(L5M.widthMs);
    expect(reader.partitionStartMs).toBe(P0);
    expect(reader.partitionEndMs).toBe(P1);
    expect(reader.sources).toEqual(['raw-1-00000001', 'raw-1-00000002']);
    expect(reader.minTMs).toBeGreaterThanOrEqual(P0);
    expect(reader.maxTMs).toBeLessThan(P1);
    expect(reader.labelsOf(0)).toEqual([...series].sort((a, b) => compareLabels(a.labels, b.labels))[0]!.labels);
  });

  test('the raw reader refuses a level segment and the level reader a raw one', async () => {
    await expect(SegmentReader.open(reader.dir)).rejects.toMatchObject({ code: 'SEGMENT_CORRUPT' });
  });
});

describe('caches and lifetime', () => {
  test('tiny, zero and default caches give the same answers; concurrent selects share loads; use after close throws', async () => {
    const { SegmentCache } = await import('../../src/segment/cache.js');
    const series = genLevelSeries(25, P0, P1, 15_000, L5M.widthMs, mulberry32(21));
    const { dir, reader } = await writeAndOpen(series, L5M, P0, P1, { blockBucketsMax: 4 });
    const tiny = await LevelSegmentReader.open(dir, { batchCache: new SegmentCache(20_000), blockCache: new SegmentCache(20_000) });
    const none = await LevelSegmentReader.open(dir, { batchCache: new SegmentCache(0), blockCache: new SegmentCache(0), verifyChecksum: false });
    const ranges: Array<[number, number]> = [
      [P0, P1],
      [P0 + H, P0 + H + 600_000],
      [P0 - H, P0 + 1],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [lo, hi] of ranges) {
        const [a, b, c] = await Promise.all([reader.selectBuckets([], lo, hi), tiny.selectBuckets([], lo, hi), none.selectBuckets([], lo, hi)]);
        expect(b.map((x) => x.key)).toEqual(a.map((x) => x.key));
        expect(c.map((x) => x.key)).toEqual(a.map((x) => x.key));
        for (let i = 0; i < a.length; i++) {
          expect(bucketsDiff(b[i]!.buckets, a[i]!.buckets)).toBeUndefined();
          expect(bucketsDiff(c[i]!.buckets, a[i]!.buckets)).toBeUndefined();
        }
      }
    }
    for (const r of [reader, tiny, none]) {
      r.close();
      await expect(r.selectBuckets([], P0, P1)).rejects.toThrow(/after close/);
      expect(() => r.series([], P0, P1)).toThrow(/after close/);
    }
  });
});

describe('open format', () => {
  test('buckets.arrow, series.arrow and postings.arrow read with plain apache-arrow', async () => {
    registerArrowCodecs();
    const series = genLevelSeries(12, P0, P1, 15_000, L5M.widthMs, mulberry32(5));
    const { dir, meta, reader } = await writeAndOpen(series, L5M, P0, P1, { blockBucketsMax: 7 });
    reader.close();
    const bt = tableFromIPC(await fs.readFile(path.join(dir, 'buckets.arrow')));
    expect(bt.numRows).toBe(meta.blockCount);
    expect(bt.schema.fields.map((f) => f.name)).toEqual(expect.arrayContaining(['series_ref', 'min_end_ms', 'max_end_ms', 'bucket_count', 'end_ms', 'count', 'sum', 'last_stale_t']));
    let buckets = 0;
    for (let i = 0; i < bt.numRows; i++) buckets += bt.get(i)!.bucket_count as number;
    expect(buckets).toBe(meta.bucketCount);
    const st = tableFromIPC(await fs.readFile(path.join(dir, 'series.arrow')));
    expect(st.numRows).toBe(meta.seriesCount);
  });
});
