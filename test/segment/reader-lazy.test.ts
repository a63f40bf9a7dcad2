// SegmentReader.selectLazily: the series of a selection listed from postings and series.arrow
// alone (no samples.arrow read), and their samples loaded for any subset of them, in any order,
// equal to what select() answers for the same range.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSegment } from '../../src/segment/writer.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { SegmentCache } from '../../src/segment/cache.js';
import { newMatcher, type Matcher } from '../../src/model/matchers.js';
import { getLabel, labelsKey } from '../../src/model/labels.js';
import { PARTITION_MS } from '../../src/constants.js';
import { genSeries, sameBits, type GenSeries } from './helpers.js';
import { mulberry32 } from '../helpers/prng.js';

const P0 = Math.floor(1_700_000_000_000 / PARTITION_MS) * PARTITION_MS;
const P1 = P0 + PARTITION_MS;

let root: string;
let series: GenSeries[];
let reader: SegmentReader;
let caches: { batchCache: SegmentCache; chunkCache: SegmentCache };

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-seg-lazy-'));
  series = genSeries(300, 42, P0, P1);
  // Chunks of at most 2 samples: many chunks per series, and more than one record batch.
  await writeSegment(path.join(root, 'segments'), 'raw-lazy-00000001', { tenant: 't1', level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series }, { chunkSamplesMax: 2 });
  caches = { batchCache: new SegmentCache(64 * 1024 * 1024), chunkCache: new SegmentCache(64 * 1024 * 1024) };
  reader = await SegmentReader.open(path.join(root, 'segments', 'raw-lazy-00000001'), caches);
  expect(reader.meta.samplesBatchRows.length).toBeGreaterThan(1);
});

afterAll(async () => {
  reader?.close();
  await fs.rm(root, { recursive: true, force: true });
});

function inRange(s: GenSeries, minT: number, maxT: number): { ts: Float64Array; vs: Float64Array } | undefined {
  const keep: number[] = [];
  for (let i = 0; i < s.timestampsMs.length; i++) if (s.timestampsMs[i]! >= minT && s.timestampsMs[i]! <= maxT) keep.push(i);
  if (keep.length === 0) return undefined;
  return { ts: Float64Array.from(keep, (i) => s.timestampsMs[i]!), vs: Float64Array.from(keep, (i) => s.values[i]!) };
}

describe('SegmentReader.selectLazily', () => {
  const cases: Array<[string, Matcher[], number, number]> = [
    ['all, whole segment', [], -Infinity, Infinity],
    ['one job, a middle slice', [newMatcher('=', 'job', 'app')], P0 + 20 * 60_000, P0 + 50 * 60_000],
    ['regex, the last minutes', [newMatcher('=~', 'instance', 'host-[12]')], P1 - 5 * 60_000, P1],
  ];

  test.each(cases)('%s: lists without reading samples, loads any subset like select()', async (_name, matchers, minT, maxT) => {
    const before = caches.batchCache.stats();
    const sel = reader.selectLazily(matchers, minT, maxT);
    const after = caches.batchCache.stats();
    expect(after.hits + after.misses).toBe(before.hits + before.misses);
    const byKey = new Map(series.map((s) => [labelsKey(s.labels), s]));
    // Listed: every matching series whose [min, max] overlaps the range (label order), with an upper bound.
    const listed = series.filter((s) => matchers.every((m) => m.matches(getLabel(s.labels, m.name))) && s.timestampsMs[0]! <= maxT && s.timestampsMs[s.timestampsMs.length - 1]! >= minT);
    expect([...sel.keys].sort()).toEqual(listed.map((s) => labelsKey(s.labels)).sort());
    for (let i = 0; i < sel.keys.length; i++) {
      const s = byKey.get(sel.keys[i]!)!;
      expect(sel.labels[i]).toEqual(s.labels);
      expect(sel.samplesBound[i]).toBeGreaterThanOrEqual(inRange(s, minT, maxT)?.ts.length ?? 0);
    }
    // A random subset in random order, twice (the second from the caches).
    const rnd = mulberry32(5);
    const subset = Array.from({ length: sel.keys.length }, (_, i) => i).filter(() => rnd() < 0.4);
    for (let i = subset.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [subset[i], subset[j]] = [subset[j]!, subset[i]!];
    }
    // Pass 0 fills the chunk cache, pass 1 reads it, pass 2 decodes with the budget spent.
    for (let pass = 0; pass < 3; pass++) {
      const sel2 = pass === 2 ? reader.selectLazily(matchers, minT, maxT) : sel;
      if (pass === 2) caches.chunkCache.clear();
      const got = await sel2.load(subset);
      // copyInto writes at any offset, at most samplesBound samples; series() answers the same.
      const bound = subset.reduce((a, i) => a + sel2.samplesBound[i]!, 0);
      const ts = new Float64Array(bound + 3);
      const vs = new Float64Array(bound + 3);
      let at = 3;
      for (let k = 0; k < subset.length; k++) {
        const want = inRange(byKey.get(sel2.keys[subset[k]!]!)!, minT, maxT);
        const g = got.series(k);
        const n = got.copyInto(k, ts, vs, at);
        if (want === undefined) {
          expect(g).toBeUndefined();
          expect(n).toBe(0);
          continue;
        }
        expect(g!.key).toBe(sel2.keys[subset[k]!]);
        expect(Array.from(g!.timestampsMs)).toEqual(Array.from(want.ts));
        expect(sameBits(g!.values, want.vs)).toBe(true);
        expect(Array.from(ts.subarray(at, at + n))).toEqual(Array.from(want.ts));
        expect(sameBits(vs.subarray(at, at + n), want.vs)).toBe(true);
        at += n;
      }
    }
    // select() is the lazy selection loaded whole.
    const all = await reader.select(matchers, minT, maxT, true);
    const loadedAll = await sel.load(sel.keys.map((_, i) => i));
    const whole = sel.keys.map((_, i) => loadedAll.series(i)).filter((s) => s !== undefined);
    expect(all.map((s) => s.key)).toEqual(whole.map((s) => s!.key));
    for (let k = 0; k < all.length; k++) expect(Array.from(all[k]!.timestampsMs)).toEqual(Array.from(whole[k]!.timestampsMs));
  });

  test('a selection outside the segment is empty; a closed reader refuses', async () => {
    expect(reader.selectLazily([], P1 + 1, P1 + 10).keys.length).toBe(0);
    const other = await SegmentReader.open(path.join(root, 'segments', 'raw-lazy-00000001'), caches);
    const sel = other.selectLazily([], -Infinity, Infinity);
    other.close();
    await expect(sel.load([0])).rejects.toThrow(/used after close/);
    expect(() => other.selectLazily([], -Infinity, Infinity)).toThrow(/used after close/);
  });
});
