// The engine's merge of one series across sources (segments, frozen and active heads):
// sorted output, and on equal timestamps the later source wins.
import { describe, expect, it } from 'vitest';
import { mergeRuns, MergingQuerier } from '../../src/engine.js';
import { STALE_NAN, isStaleAt } from '../../src/model/samples.js';
import { newMatcher } from '../../src/model/matchers.js';
import type { SeriesSource, SourceSeries } from '../../src/model/querier.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { mulberry32 } from '../helpers/prng.js';

const labels: Labels = [{ name: '__name__', value: 'm' }];
const key = labelsKey(labels);
function run(points: Array<[number, number]>): SourceSeries {
  return { labels, key, timestampsMs: Float64Array.from(points, (p) => p[0]), values: Float64Array.from(points, (p) => p[1]) };
}

describe('mergeRuns', () => {
  it('interleaves and lets the later run win on equal timestamps', () => {
    const m = mergeRuns([run([[1, 1], [3, 3], [5, 5]]), run([[2, 20], [3, 30]]), run([[3, 300], [6, 6]])]);
    expect(Array.from(m.timestampsMs)).toEqual([1, 2, 3, 5, 6]);
    expect(Array.from(m.values)).toEqual([1, 20, 300, 5, 6]);
  });

  it('keeps stale marker bits', () => {
    const a = run([[1, 1]]);
    const b = { ...run([[2, 0]]) };
    b.values[0] = STALE_NAN;
    const m = mergeRuns([a, b]);
    expect(isStaleAt(m.values, 1)).toBe(true);
  });

  it('concatenates runs that follow each other (split by partitions), empty runs included', () => {
    const stale = run([[7, 0]]);
    stale.values[0] = STALE_NAN;
    const m = mergeRuns([run([[1, 1], [2, 2]]), run([]), run([[3, 3], [6, 6]]), stale, run([])]);
    expect(Array.from(m.timestampsMs)).toEqual([1, 2, 3, 6, 7]);
    expect(Array.from(m.values.subarray(0, 4))).toEqual([1, 2, 3, 6]);
    expect(isStaleAt(m.values, 4)).toBe(true);
    // Touching edges are not disjoint: the later run still wins the shared timestamp.
    const t = mergeRuns([run([[1, 1], [3, 3]]), run([[3, 30], [4, 4]])]);
    expect(Array.from(t.timestampsMs)).toEqual([1, 3, 4]);
    expect(Array.from(t.values)).toEqual([1, 30, 4]);
  });

  it('matches a naive model on random runs, overlapping or in sequence', () => {
    const rnd = mulberry32(3);
    for (let trial = 0; trial < 200; trial++) {
      const parts: SourceSeries[] = [];
      const model = new Map<number, number>();
      const nParts = 1 + Math.floor(rnd() * 4);
      for (let p = 0; p < nParts; p++) {
        // Half the trials place each part after the previous one (the concatenation path).
        const offset = trial % 2 === 0 ? p * 40 : 0;
        const ts = [...new Set(Array.from({ length: Math.floor(rnd() * 20) }, () => offset + Math.floor(rnd() * 40)))].sort((x, y) => x - y);
        const points = ts.map((t) => [t, p * 100 + t] as [number, number]);
        for (const [t, v] of points) model.set(t, v);
        parts.push(run(points));
      }
      const m = mergeRuns(parts);
      const expected = [...model.entries()].sort((x, y) => x[0] - y[0]);
      expect(Array.from(m.timestampsMs)).toEqual(expected.map((e) => e[0]));
      expect(Array.from(m.values)).toEqual(expected.map((e) => e[1]));
    }
  });
});

describe('MergingQuerier', () => {
  const source = (minTMs: number, maxTMs: number, series: SourceSeries[]): SeriesSource => ({
    minTMs,
    maxTMs,
    select: async (_m, lo, hi, withSamples) =>
      series.map((s) => {
        const keep = Array.from(s.timestampsMs.keys()).filter((i) => s.timestampsMs[i]! >= lo && s.timestampsMs[i]! <= hi);
        return withSamples
          ? { ...s, timestampsMs: Float64Array.from(keep, (i) => s.timestampsMs[i]!), values: Float64Array.from(keep, (i) => s.values[i]!) }
          : { ...s, timestampsMs: new Float64Array(0), values: new Float64Array(0) };
      }).filter((s) => !withSamples || s.timestampsMs.length > 0),
  });

  it('skips sources outside the range, merges the rest, enforces limits, releases on close', async () => {
    let released = 0;
    const q = new MergingQuerier(
      [source(0, 10, [run([[1, 1], [5, 5]])]), source(100, 200, [run([[150, 9]])]), source(4, 12, [run([[5, 50], [12, 12]])])],
      () => released++,
    );
    const all = [newMatcher('=', '__name__', 'm')];
    const got = await q.selectSeries(all, 0, 20);
    expect(Array.from(got[0]!.timestampsMs)).toEqual([1, 5, 12]);
    expect(Array.from(got[0]!.values)).toEqual([1, 50, 12]);
    await expect(q.selectSeries(all, 0, 200, { samplesMax: 3 })).rejects.toMatchObject({ code: 'QUERY_TOO_MANY_SAMPLES' });
    expect(await q.labelNames([], 0, 20)).toEqual(['__name__']);
    expect(await q.labelValues('__name__', [], 0, 20)).toEqual(['m']);
    q.close();
    q.close();
    expect(released).toBe(1);
    await expect(q.selectSeries(all, 0, 20)).rejects.toThrow(/after close/);
  });

  it('one answering source: its series come back sorted by labels, limits still apply', async () => {
    const ser = (name: string, points: Array<[number, number]>): SourceSeries => {
      const l: Labels = [{ name: '__name__', value: name }];
      return { labels: l, key: labelsKey(l), timestampsMs: Float64Array.from(points, (p) => p[0]), values: Float64Array.from(points, (p) => p[1]) };
    };
    const q = new MergingQuerier([source(0, 10, [ser('c', [[1, 1]]), ser('a', [[2, 2], [3, 3]]), ser('b', [[4, 4]])]), source(100, 200, [ser('a', [[150, 1]])])], () => {});
    const any = [newMatcher('=~', '__name__', '.+')];
    const got = await q.selectSeries(any, 0, 20);
    expect(got.map((s) => s.labels[0]!.value)).toEqual(['a', 'b', 'c']);
    expect(Array.from(got[0]!.timestampsMs)).toEqual([2, 3]);
    await expect(q.selectSeries(any, 0, 20, { seriesMax: 2 })).rejects.toMatchObject({ code: 'QUERY_TOO_MANY_SERIES' });
    await expect(q.selectSeries(any, 0, 20, { samplesMax: 3 })).rejects.toMatchObject({ code: 'QUERY_TOO_MANY_SAMPLES' });
    expect((await q.selectSeries(any, 0, 20, { samplesMax: 4, seriesMax: 3 })).length).toBe(3);
    // Both sources: the series in both is merged, the order is the same.
    const both = await q.selectSeries(any, 0, 200);
    expect(both.map((s) => s.labels[0]!.value)).toEqual(['a', 'b', 'c']);
    expect(Array.from(both[0]!.timestampsMs)).toEqual([2, 3, 150]);
    q.close();
  });
});
