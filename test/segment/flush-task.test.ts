import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packSeries, runFlushTask, sortDedupLastWins } from '../../src/compaction/flush-task.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { tenantSegmentsDir } from '../../src/segment/format.js';
import { PARTITION_MS } from '../../src/constants.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { newMatcher } from '../../src/model/matchers.js';
import { mulberry32 } from '../helpers/prng.js';
import { sameBits } from './helpers.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-flush-'));
});
afterAll(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('sortDedupLastWins', () => {
  test('stable sort, the last write of a timestamp wins, NaN payloads kept', () => {
    const ts = Float64Array.from([30, 10, 20, 10, 30, 5]);
    const vs = Float64Array.from([1, 2, 3, 4, 5, 6]);
    vs[3] = STALE_NAN;
    const r = sortDedupLastWins(ts, vs);
    expect(Array.from(r.timestampsMs)).toEqual([5, 10, 20, 30]);
    // (A JS array literal may canonicalize NaN: build the expectation in a typed array.)
    const want = Float64Array.from([6, 0, 3, 5]);
    want[1] = STALE_NAN;
    expect(sameBits(r.values, want)).toBe(true);
    const sorted = Float64Array.from([1, 2, 3]);
    expect(sortDedupLastWins(sorted, sorted).timestampsMs).toBe(sorted);
  });
});

describe('runFlushTask', () => {
  test('unsorted input with duplicates across a partition boundary: sorted, deduped, split per partition', async () => {
    const b = 10 * PARTITION_MS; // a partition boundary
    const rnd = mulberry32(5);
    // Series a: samples on both sides of the boundary, shuffled, with rewrites of the same timestamps.
    const aTs: number[] = [];
    const aVs: number[] = [];
    const truth = new Map<number, number>();
    for (let k = 0; k < 400; k++) {
      const t = b + Math.floor((rnd() - 0.5) * 200) * 15_000;
      const v = Math.floor(rnd() * 1000) / 4;
      aTs.push(t);
      aVs.push(v);
      truth.set(t, v); // the last one written wins
    }
    aTs.push(b - 1, b, b - 1);
    aVs.push(1, 2, 3);
    truth.set(b - 1, 3).set(b, 2);
    const series = [
      { labels: [{ name: '__name__', value: 'a' }], timestampsMs: Float64Array.from(aTs), values: Float64Array.from(aVs) },
      { labels: [{ name: '__name__', value: 'b' }], timestampsMs: Float64Array.from([b + 100, b + 50]), values: Float64Array.from([7, 8]) },
      { labels: [{ name: '__name__', value: 'empty' }], timestampsMs: new Float64Array(0), values: new Float64Array(0) },
    ];
    const packed = packSeries(series);
    const out = await runFlushTask({ dataDir, tenant: 'acme', firstSegmentSeq: 7, ...packed });
    expect(out.nextSegmentSeq).toBe(9);
    expect(out.segments.map((s) => s.name)).toEqual([`raw-${b - PARTITION_MS}-00000007`, `raw-${b}-00000008`]);
    const [left, right] = out.segments;
    expect(left!.partitionEndMs).toBe(b);
    expect(left!.maxTMs).toBe(b - 1);
    expect(left!.seriesCount).toBe(1);
    expect(right!.minTMs).toBe(b);
    expect(right!.seriesCount).toBe(2);

    const want = [...truth.entries()].sort((x, y) => x[0] - y[0]);
    const got: Array<[number, number]> = [];
    for (const m of out.segments) {
      const r = await SegmentReader.open(path.join(tenantSegmentsDir(dataDir, 'acme'), m.name));
      const [s] = await r.select([newMatcher('=', '__name__', 'a')], -Infinity, Infinity, true);
      for (let i = 0; i < s!.timestampsMs.length; i++) got.push([s!.timestampsMs[i]!, s!.values[i]!]);
      if (m === right) {
        const [bs] = await r.select([newMatcher('=', '__name__', 'b')], -Infinity, Infinity, true);
        expect(Array.from(bs!.timestampsMs)).toEqual([b + 50, b + 100]);
        expect(Array.from(bs!.values)).toEqual([8, 7]);
      }
      r.close();
    }
    expect(got).toEqual(want);
  });

  test('rejects inconsistent input', async () => {
    const packed = packSeries([{ labels: [{ name: '__name__', value: 'x' }], timestampsMs: Float64Array.from([1]), values: Float64Array.from([1]) }]);
    await expect(runFlushTask({ dataDir, tenant: 'acme', firstSegmentSeq: 1, ...packed, labelsJson: '[]' })).rejects.toThrow(/label sets/);
  });
});
