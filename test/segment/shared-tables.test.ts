// Segments listing the same series share one decoded label table and postings map
// (shared-tables.ts): the objects are the same, each segment still answers with its own data,
// and tables differing in any byte (same lengths, other characters; one series more) are not
// shared. A decode that throws remembers nothing.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Labels } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { segmentName } from '../../src/segment/format.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment } from '../../src/segment/level-writer.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { sharedTable, sharedTableStats } from '../../src/segment/shared-tables.js';
import { writeSegment, type SegmentSeriesInput } from '../../src/segment/writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { genLevelSeries } from './level-helpers.js';

const H = 3_600_000;
const P0 = Math.floor(1_700_000_000_000 / (2 * H)) * 2 * H;
const P1 = P0 + 2 * H;
const P2 = P1 + 2 * H;
const L5M = { name: '5m', widthMs: 300_000 };
const ALL = [newMatcher('=~', '__name__', '.+')];

let root: string;
let seq = 1;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-shared-tables-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function rawSeries(partitionStartMs: number, host: (i: number) => string, count: number, valueBase: number): SegmentSeriesInput[] {
  const out: SegmentSeriesInput[] = [];
  for (let i = 0; i < count; i++) {
    const ts = Float64Array.from({ length: 10 }, (_, k) => partitionStartMs + 15_000 * (k + 1));
    out.push({
      labels: [
        { name: '__name__', value: 'm' },
        { name: 'host', value: host(i) },
      ],
      timestampsMs: ts,
      values: Float64Array.from(ts, (_, k) => valueBase + i * 100 + k),
    });
  }
  return out;
}

async function rawSegment(partitionStartMs: number, series: SegmentSeriesInput[]): Promise<SegmentReader> {
  const name = segmentName('raw', partitionStartMs, seq++);
  const dir = path.join(root, 'raw');
  await writeSegment(dir, name, { tenant: 't', level: 'raw', partitionStartMs, partitionEndMs: partitionStartMs + 2 * H, series });
  return SegmentReader.open(path.join(dir, name));
}

async function labelsOf(r: SegmentReader): Promise<Labels[]> {
  return (await r.select(ALL, P0, P2 + 2 * H, false)).map((s) => s.labels);
}

describe('shared label tables and postings', () => {
  test('raw segments with the same series share labels and postings, and keep their own samples', async () => {
    const host = (i: number) => `h${String(i).padStart(3, '0')}`;
    const before = sharedTableStats();
    const a = await rawSegment(P0, rawSeries(P0, host, 40, 0));
    const b = await rawSegment(P1, rawSeries(P1, host, 40, 1e6));
    try {
      const la = await labelsOf(a);
      const lb = await labelsOf(b);
      expect(la).toHaveLength(40);
      for (let i = 0; i < 40; i++) expect(lb[i]).toBe(la[i]);
      expect(b.postings('host', 'h007')).toBe(a.postings('host', 'h007'));
      expect(sharedTableStats().hits - before.hits).toBeGreaterThanOrEqual(2);
      // Shared series table, separate data.
      const sa = await a.select([newMatcher('=', 'host', 'h003')], P0, P2, true);
      const sb = await b.select([newMatcher('=', 'host', 'h003')], P0, P2, true);
      expect(Array.from(sa[0]!.values)).toEqual(Array.from({ length: 10 }, (_, k) => 300 + k));
      expect(Array.from(sb[0]!.values)).toEqual(Array.from({ length: 10 }, (_, k) => 1e6 + 300 + k));
      expect(sa[0]!.timestampsMs[0]).toBe(P0 + 15_000);
      expect(sb[0]!.timestampsMs[0]).toBe(P1 + 15_000);
    } finally {
      a.close();
      b.close();
    }
  });

  test('same lengths, other characters: not shared, each segment has its own labels', async () => {
    const a = await rawSegment(P0, rawSeries(P0, (i) => `a${String(i).padStart(3, '0')}`, 20, 0));
    const b = await rawSegment(P1, rawSeries(P1, (i) => `b${String(i).padStart(3, '0')}`, 20, 0));
    try {
      const la = await labelsOf(a);
      const lb = await labelsOf(b);
      expect(la[5]).toEqual([
        { name: '__name__', value: 'm' },
        { name: 'host', value: 'a005' },
      ]);
      expect(lb[5]).toEqual([
        { name: '__name__', value: 'm' },
        { name: 'host', value: 'b005' },
      ]);
      expect(b.postings('host', 'a005')).toBeUndefined();
      expect(b.postings('host', 'b005')!.toArray()).toEqual([5]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('one series more: not shared (refs and counts differ)', async () => {
    const host = (i: number) => `x${String(i).padStart(3, '0')}`;
    const a = await rawSegment(P0, rawSeries(P0, host, 10, 0));
    const b = await rawSegment(P1, rawSeries(P1, host, 11, 0));
    try {
      const la = await labelsOf(a);
      const lb = await labelsOf(b);
      expect(lb).toHaveLength(11);
      expect(lb[3]).toEqual(la[3]);
      expect(lb[3]).not.toBe(la[3]);
      expect(b.postings('__name__', 'm')!.toArray()).toHaveLength(11);
      expect(a.postings('__name__', 'm')!.toArray()).toHaveLength(10);
    } finally {
      a.close();
      b.close();
    }
  });

  test('level segments of two partitions with the same series share labels, buckets stay their own', async () => {
    const mk = async (p: number, seed: number) => {
      const name = segmentName('5m', p, seq++);
      const dir = path.join(root, 'levels');
      const series = genLevelSeries(12, p, p + 2 * H, 15_000, L5M.widthMs, mulberry32(seed));
      await writeLevelSegment(dir, name, { tenant: 't', level: L5M, partitionStartMs: p, partitionEndMs: p + 2 * H, sources: ['raw-0-00000001'], series });
      return { reader: await LevelSegmentReader.open(path.join(dir, name)), series };
    };
    const a = await mk(P0, 1);
    const b = await mk(P1, 2);
    try {
      const ra = await a.reader.selectBucketRuns(ALL, P0, P2);
      const rb = await b.reader.selectBucketRuns(ALL, P0, P2);
      expect(rb.labels).toHaveLength(12);
      for (let i = 0; i < 12; i++) expect(rb.labels[i]).toBe(ra.labels[i]);
      expect(rb.keys).toEqual(ra.keys);
      // Each its own buckets: every series' first bucket is the one written to that segment.
      const firstSum = (runs: typeof ra, i: number) => runs.buckets[i]!.sum[runs.lo[i]!];
      const written = (series: typeof a.series, i: number) => series.find((s) => JSON.stringify(s.labels) === JSON.stringify(ra.labels[i]))!.buckets.sum[0];
      let differ = 0;
      for (let i = 0; i < 12; i++) {
        expect(firstSum(ra, i)).toBe(written(a.series, i));
        expect(firstSum(rb, i)).toBe(written(b.series, i));
        if (written(a.series, i) !== written(b.series, i)) differ++;
      }
      expect(differ).toBeGreaterThan(0);
    } finally {
      a.reader.close();
      b.reader.close();
    }
  });
});

describe('sharedTable', () => {
  test('equal bytes in equal parts share; a moved boundary or another kind does not; a throwing decode is not remembered', () => {
    const x = sharedTable('k', [Uint8Array.of(1, 2), Uint8Array.of(3)], () => ({ v: 1 }));
    expect(sharedTable('k', [Uint8Array.of(1, 2), Uint8Array.of(3)], () => ({ v: 2 }))).toBe(x);
    expect(sharedTable('k', [Uint8Array.of(1), Uint8Array.of(2, 3)], () => ({ v: 3 })).v).toBe(3);
    expect(sharedTable('k2', [Uint8Array.of(1, 2), Uint8Array.of(3)], () => ({ v: 4 })).v).toBe(4);
    // Views into a larger buffer: only their own bytes count.
    const big = Uint8Array.of(9, 1, 2, 3, 9);
    expect(sharedTable('k', [big.subarray(1, 3), big.subarray(3, 4)], () => ({ v: 5 }))).toBe(x);
    let calls = 0;
    const bad = () => {
      calls++;
      throw new Error('corrupt');
    };
    expect(() => sharedTable('k', [Uint8Array.of(7)], bad)).toThrow('corrupt');
    expect(() => sharedTable('k', [Uint8Array.of(7)], bad)).toThrow('corrupt');
    expect(calls).toBe(2);
  });
});
