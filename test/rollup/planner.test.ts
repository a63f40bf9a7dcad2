// What the rollup planner chooses (the coarsest exact level with level segments, raw otherwise),
// read from the plan the query reports (QueryOptions.stats), and the validity rules of level
// segments in the engine's querier (MergingQuerier -> rollup/bucket-querier.ts): a level is
// used for a partition only if it was built from every raw segment there and no memtable holds
// samples there; answers stay those of raw data either way.
import { describe, expect, it } from 'vitest';
import { MergingQuerier } from '../../src/engine.js';
import { MochaError } from '../../src/errors.js';
import { getLabel, labelsKey } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import type { SeriesSource, SourceSeries } from '../../src/model/querier.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../../src/query/engine.js';
import type { RollupPlanEntry } from '../../src/query/rollup-planner.js';
import { parseRollupLevels } from '../../src/rollup/levels.js';
import { MemoryBucketSource, memoryLevelSources } from '../helpers/memory-levels.js';
import { MemoryQuerier, series, type MemorySeries } from '../helpers/memory-querier.js';
import { valuesEqual } from '../helpers/promql-cases.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const T0 = 19_700 * D;
const LEVELS = parseRollupLevels('5m,1h,1d');
const [L5M, L1H, L1D] = LEVELS as [(typeof LEVELS)[number], (typeof LEVELS)[number], (typeof LEVELS)[number]];
const PARTITION_MS = 2 * H;

/** Two days at 15 s (with a 3 s phase): a counter with resets and a gauge. */
function twoDays(): MemorySeries[] {
  const c: [number, number][] = [];
  const g: [number, number][] = [];
  let v = 0;
  for (let t = T0 + 3 * S, i = 0; t < T0 + 2 * D; t += 15 * S, i++) {
    v = i % 997 === 0 ? 1 : v + (i % 7);
    c.push([t, v]);
    g.push([t, Math.sin(i / 50) * 100]);
  }
  return [series({ __name__: 'c_total', job: 'a' }, c), series({ __name__: 'm', job: 'a' }, g)];
}

const DATA = twoDays();

function querier(levelSources = memoryLevelSources(DATA, LEVELS, PARTITION_MS)): MemoryQuerier {
  return new MemoryQuerier(DATA, { rollup: { levels: LEVELS, levelSources } });
}

async function plan(q: MemoryQuerier, query: string, at: { start: number; end?: number; step?: number }, opts: QueryOptions = {}): Promise<{ entries: readonly RollupPlanEntry[]; result: QueryResult }> {
  const o = { ...opts, stats: true };
  const result = at.end === undefined ? await instantQuery(q, query, at.start, o) : await rangeQuery(q, query, at.start, at.end, at.step!, o);
  return { entries: result.stats!.rollup, result };
}

async function levelOf(query: string, at: { start: number; end?: number; step?: number }, opts: QueryOptions = {}, q = querier()): Promise<string[]> {
  return (await plan(q, query, at, opts)).entries.map((e) => e.level);
}

const DAY2 = { start: T0 + D, end: T0 + 2 * D, step: H };

describe('the planner chooses the coarsest exact level', () => {
  it('by step, range, evaluation time, offset and @', async () => {
    expect(await levelOf('rate(c_total[1h])', DAY2)).toEqual(['1h']);
    expect(await levelOf('rate(c_total[1d])', { start: T0 + D, end: T0 + 2 * D, step: D })).toEqual(['1d']);
    expect(await levelOf('rate(c_total[1h])', { ...DAY2, step: 5 * M })).toEqual(['5m']);
    expect(await levelOf('sum_over_time(m[1d])', { start: T0 + 2 * D })).toEqual(['1d']);
    expect(await levelOf('sum_over_time(m[1d])', { start: T0 + 2 * D - H })).toEqual(['1h']);
    expect(await levelOf('sum_over_time(m[25m])', { start: T0 + 2 * D })).toEqual(['5m']);
    // Plain selectors need only aligned evaluation times; tail functions only aligned window ends.
    expect(await levelOf('m', DAY2)).toEqual(['1h']);
    expect(await levelOf('m', { start: T0 + D })).toEqual(['1d']);
    expect(await levelOf('last_over_time(m[17m])', { start: T0 + D })).toEqual(['1d']);
    expect(await levelOf('irate(c_total[90s])', { ...DAY2, step: 5 * M })).toEqual(['5m']);
    // Offset moves the windows: a 30 m offset on an hourly grid leaves only 5 m buckets aligned.
    expect(await levelOf('rate(c_total[1h] offset 30m)', DAY2)).toEqual(['5m']);
    expect(await levelOf('rate(c_total[1h] offset 1d)', DAY2)).toEqual(['1h']);
    // With @ every step reads one window: its end decides, not the grid (here unaligned).
    expect(await levelOf(`rate(c_total[1h] @ ${(T0 + D) / 1000})`, { start: T0 + D + 7 * S, end: T0 + D + 10 * M, step: 13 * S })).toEqual(['1h']);
    expect(await levelOf(`m @ ${(T0 + D) / 1000}`, { start: T0 + 7 * S, end: T0 + 10 * M, step: 13 * S })).toEqual(['1d']);
    expect(await levelOf('rate(c_total[1h] @ end())', { start: T0 + 7 * S, end: T0 + D, step: 13 * S })).toEqual(['1h']);
    // Every selector of the query is planned on its own.
    expect(await levelOf('sum(rate(c_total[1h])) / sum(m) + quantile_over_time(0.9, m[1h])', DAY2)).toEqual(['1h', '1h', 'raw']);
  });

  it('subqueries plan their inner selectors on the inner grid', async () => {
    expect(await levelOf('max_over_time(rate(c_total[1h])[1d:1h])', { start: T0 + 2 * D })).toEqual(['1h']);
    expect(await levelOf('max_over_time(rate(c_total[5m])[1d:5m])', { start: T0 + 2 * D + 7 * S })).toEqual(['5m']);
    // Inner step 90 s: no level aligns.
    expect(await levelOf('max_over_time(rate(c_total[3m])[1h:90s])', { start: T0 + 2 * D })).toEqual(['raw']);
  });

  it('falls back to raw for unaligned grids and functions without an exact rollup', async () => {
    const { entries } = await plan(querier(), 'rate(c_total[1h])', { start: T0 + D + 30 * S, end: T0 + 2 * D, step: H });
    expect(entries).toEqual([{ expr: 'rate(c_total[1h])', level: 'raw', reason: 'not aligned to any level', levelSegmentsRead: 0, rawPiecesRead: 1 }]);
    expect(await levelOf('rate(c_total[1h])', { ...DAY2, step: 90 * S })).toEqual(['raw']);
    for (const q of [
      'quantile_over_time(0.5, m[1h])',
      'mad_over_time(m[1h])',
      'deriv(m[1h])',
      'predict_linear(m[1h], 3600)',
      'double_exponential_smoothing(m[1h], 0.5, 0.5)',
      'ts_of_min_over_time(m[1h])',
      'ts_of_max_over_time(m[1h])',
      'absent_over_time(m[1h])',
    ]) {
      const { entries: e } = await plan(querier(), q, DAY2);
      expect(e.map((x) => x.level), q).toEqual(['raw']);
      expect(e[0]!.reason, q).toMatch(/has no exact rollup/);
    }
    // Readers of sample times and range-vector results read raw samples.
    expect(await levelOf('timestamp(m)', DAY2)).toEqual(['raw']);
    expect(await levelOf('m[1h]', { start: T0 + D })).toEqual(['raw']);
  });

  it('serves ranges that are not a multiple of the width by edge extension, with raw samples only where the edge bucket needs them', async () => {
    // Samples every 15 s at 3 s past: a window (t - 1h15s, t] takes from the bucket ending at
    // t - 1h only its last sample (at t - 1h - 12 s), which the bucket stores.
    const cases: [string, { start: number; end?: number; step?: number }, string, number][] = [
      ['rate(c_total[1h15s])', DAY2, '1h', 0],
      ['sum by (job) (increase(c_total[30m15s]))', { ...DAY2, step: 30 * M }, '5m', 0],
      ['avg_over_time(m[1h15s] offset 1h)', DAY2, '1h', 0],
      [`stddev_over_time(m[1h15s] @ ${(T0 + D + 5 * H) / 1000})`, DAY2, '1h', 0],
      // The edge of 61m holds four samples: every window's edge is read raw (25 reads, one per step).
      ['rate(c_total[61m])', DAY2, '1h', 25],
      // 288 steps need raw edges: one raw read of the whole range instead of one per step.
      ['sum_over_time(m[5m40s])', { ...DAY2, step: 5 * M }, '5m', 289],
    ];
    for (const [query, at, level, windowsFromRaw] of cases) {
      const { entries, result } = await plan(querier(), query, at);
      expect(entries.map((e) => e.level), query).toEqual([level]);
      expect(entries[0]!.edge?.windowsFromRaw, query).toBe(windowsFromRaw);
      expect(entries[0]!.edge?.rawReads, query).toBe(windowsFromRaw === 0 ? 0 : windowsFromRaw <= 64 ? windowsFromRaw : 1);
      const raw = await rangeQuery(querier(), query, at.start, at.end!, at.step!, { resolution: 'raw' });
      expect(result.resultType === 'matrix' && result.result.length > 0, query).toBe(true);
      expect(sameAnswer(raw, result), query).toBeUndefined();
    }
    // Whole buckets of a finer level beat an edge on a coarser one.
    expect(await levelOf('rate(c_total[65m])', DAY2)).toEqual(['5m']);
  });

  it('serves one long window ending off a boundary (an instant query at "now") from a level plus a raw tail', async () => {
    // 1d at 17 s before the end of day 2: 1h has 23 whole buckets (< 48), 5m has 287.
    const t = T0 + 2 * D - 17 * S;
    const cases: [string, string][] = [
      ['increase(c_total[1d])', '5m'],
      ['sum by (job) (rate(c_total[50h]))', '1h'],
      ['avg_over_time(m[1d]) - min_over_time(m[1d])', '5m'],
      [`count_over_time(m[1d] @ ${t / 1000})`, '5m'],
    ];
    for (const [query, level] of cases) {
      const { entries, result } = await plan(querier(), query, { start: t });
      for (const e of entries) {
        expect(e.level, query).toBe(level);
        expect(e.edge?.rawTail, query).toBe(true);
      }
      const raw = await instantQuery(querier(), query, t, { resolution: 'raw' });
      if (raw.resultType !== 'vector' || result.resultType !== 'vector') throw new Error(`${query}: expected vectors`);
      expect(result.result.length, query).toBeGreaterThan(0);
      expect(result.result.map((x) => labelsKey(x.labels)), query).toEqual(raw.result.map((x) => labelsKey(x.labels)));
      raw.result.forEach((x, i) => expect(valuesEqual(result.result[i]!.v, x.v), `${query}: ${x.v} vs ${result.result[i]!.v}`).toBe(true));
    }
    // Short windows stay raw: 2 h has 23 whole 5m buckets.
    expect(await levelOf('increase(c_total[2h])', { start: t })).toEqual(['raw']);
    // A series whose only samples are in the raw tail is answered too.
    const late = [...DATA, series({ __name__: 'c_total', job: 'late' }, [[t - 10 * S, 1], [t - 5 * S, 4]])];
    const q = new MemoryQuerier(late, { rollup: { levels: LEVELS, levelSources: memoryLevelSources(DATA, LEVELS, PARTITION_MS) } });
    const r = await instantQuery(q, 'increase(c_total[1d])', t, { stats: true });
    expect(r.stats!.rollup[0]!.edge?.rawTail).toBe(true);
    expect(r.resultType === 'vector' ? r.result.map((x) => getLabel(x.labels, 'job')) : []).toEqual(['a', 'late']);
    const rRaw = await instantQuery(q, 'increase(c_total[1d])', t, { resolution: 'raw' });
    if (r.resultType !== 'vector' || rRaw.resultType !== 'vector') throw new Error('expected vectors');
    expect(r.result.map((x) => x.v)).toEqual(rRaw.result.map((x) => x.v));
  });

  it('resolution=raw, a forced level, and an unknown resolution', async () => {
    expect(await levelOf('rate(c_total[1h])', DAY2, { resolution: 'raw' })).toEqual(['raw']);
    expect(await levelOf('rate(c_total[1h])', DAY2, { resolution: '5m' })).toEqual(['5m']);
    const forced = await plan(querier(), 'rate(c_total[1h])', DAY2, { resolution: '1d' });
    expect(forced.entries).toEqual([{ expr: 'rate(c_total[1h])', level: 'raw', reason: 'not aligned to 1d buckets', levelSegmentsRead: 0, rawPiecesRead: 1 }]);
    await expect(instantQuery(querier(), 'm', T0, { resolution: '2h' })).rejects.toThrow('invalid parameter "resolution": unknown resolution "2h"; use one of auto, raw, 5m, 1h, 1d');
    await expect(instantQuery(querier(), 'm', T0, { resolution: 'fine' })).rejects.toBeInstanceOf(MochaError);
    // A querier without levels knows only auto and raw.
    await expect(instantQuery(new MemoryQuerier(DATA), 'm', T0, { resolution: '5m' })).rejects.toThrow(/use one of auto, raw$/);
    expect(await levelOf('m', { start: T0 + D }, {}, new MemoryQuerier(DATA))).toEqual(['raw']);
  });

  it('auto reads a level only where level segments exist; a forced level computes buckets from raw samples', async () => {
    const none = querier([]);
    const auto = await plan(none, 'rate(c_total[1h])', DAY2);
    expect(auto.entries).toEqual([{ expr: 'rate(c_total[1h])', level: 'raw', reason: 'no level segments in range', levelSegmentsRead: 0, rawPiecesRead: 1 }]);
    const forced = await plan(none, 'rate(c_total[1h])', DAY2, { resolution: '1h' });
    expect(forced.entries).toEqual([{ expr: 'rate(c_total[1h])', level: '1h', levelSegmentsRead: 0, rawPiecesRead: 1 }]);
    expect(sameAnswer(auto.result, forced.result)).toBeUndefined();
    // The 1d level missing: the coarsest level WITH segments is taken.
    const no1d = querier(memoryLevelSources(DATA, LEVELS, PARTITION_MS, { skip: (l) => l === L1D }));
    expect(await levelOf('sum_over_time(m[1d])', { start: T0 + 2 * D }, {}, no1d)).toEqual(['1h']);
  });

  it('mixed plans: level segments for the first day, raw samples for the second', async () => {
    const q = querier(memoryLevelSources(DATA, LEVELS, PARTITION_MS, { skip: (_l, p) => p >= T0 + D }));
    const { entries, result } = await plan(q, 'rate(c_total[1h])', { start: T0 + H, end: T0 + 2 * D, step: H });
    // Windows from T0 to T0 + 2d: 12 level segments of 2 h, then one raw piece.
    expect(entries).toEqual([{ expr: 'rate(c_total[1h])', level: '1h', levelSegmentsRead: 12, rawPiecesRead: 1 }]);
    const raw = await rangeQuery(q, 'rate(c_total[1h])', T0 + H, T0 + 2 * D, H, { resolution: 'raw' });
    expect(sameAnswer(raw, result)).toBeUndefined();
    expect(result.resultType === 'matrix' && result.result[0]!.timestampsMs.length).toBe(48);
    // Only the level segments the range needs are read.
    const late = await plan(q, 'rate(c_total[1h])', { start: T0 + 10 * H, end: T0 + 13 * H, step: H });
    // Windows (9h, 13h]: the partitions [8h, 10h), [10h, 12h) and [12h, 14h).
    expect(late.entries[0]).toMatchObject({ level: '1h', levelSegmentsRead: 3, rawPiecesRead: 0 });
  });

  it('level reads name the fields they need; the others hold garbage (memory-levels.ts) and answers stay those of raw data', async () => {
    const sources = memoryLevelSources(DATA, LEVELS, PARTITION_MS);
    const q = querier(sources);
    for (const query of ['rate(c_total[1h])', 'avg_over_time(m[1h])', 'stddev_over_time(m[1h])', 'm']) {
      const { result } = await plan(q, query, DAY2);
      expect(sameAnswer(await rangeQuery(q, query, DAY2.start, DAY2.end, DAY2.step, { resolution: 'raw' }), result), query).toBeUndefined();
    }
    const partial = sources.reduce((n, s) => n + s.partialReads, 0);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBe(sources.reduce((n, s) => n + s.reads, 0));
  });

  it('an average whose sum overflows comes from the level mean, which avg_over_time reads', async () => {
    // Values near the largest double: the sum of two is +Inf, their mean is finite.
    const big: [number, number][] = [];
    for (let t = T0 + 3 * S, i = 0; t < T0 + D; t += 15 * S, i++) big.push([t, 1.6e308 + (i % 5) * 1e306]);
    const data = [series({ __name__: 'huge', job: 'a' }, big)];
    const q = new MemoryQuerier(data, { rollup: { levels: LEVELS, levelSources: memoryLevelSources(data, LEVELS, PARTITION_MS) } });
    const at = { start: T0 + 2 * H, end: T0 + D, step: H };
    for (const query of ['avg_over_time(huge[1h])', 'avg_over_time(huge[1h15s])']) {
      const { entries, result } = await plan(q, query, at);
      expect(entries[0]!.level, query).toBe('1h');
      const raw = await rangeQuery(q, query, at.start, at.end, at.step, { resolution: 'raw' });
      expect(raw.resultType === 'matrix' && raw.result[0]!.values.every((v) => Number.isFinite(v) && v > 1e308), query).toBe(true);
      expect(sameAnswer(raw, result), query).toBeUndefined();
    }
  });

  it('every selection is reported to onSelection (the /metrics counter)', async () => {
    const seen: string[] = [];
    await rangeQuery(querier(), 'rate(c_total[1h]) + deriv(m[1h]) * on() group_left m', DAY2.start, DAY2.end, DAY2.step, { onSelection: (level) => seen.push(level) });
    expect(seen).toEqual(['1h', 'raw', '1h']);
  });

  it('limits count buckets as samples', async () => {
    // A day of 1 h buckets for two series is 2 x 24 buckets (+ the first window's).
    await expect(rangeQuery(querier(), 'last_over_time({job="a"}[1h])', DAY2.start, DAY2.end, H, { samplesMax: 40 })).rejects.toThrow(/too many samples/);
    await expect(rangeQuery(querier(), 'last_over_time({job="a"}[1h])', DAY2.start, DAY2.end, H, { seriesMax: 1 })).rejects.toThrow(/2 series; the limit is 1/);
    const ok = await plan(querier(), 'last_over_time({job="a"}[1h])', DAY2, { samplesMax: 10_000 });
    expect(ok.result.stats!.samplesLoaded).toBe(2 * 25);
  });
});

/** Undefined when two results have the same series and values (relative 1e-9, NaN == NaN). */
function sameAnswer(a: QueryResult, b: QueryResult): string | undefined {
  if (a.resultType !== 'matrix' || b.resultType !== 'matrix') return 'not matrices';
  if (a.result.length !== b.result.length) return `${a.result.length} series vs ${b.result.length}`;
  for (let i = 0; i < a.result.length; i++) {
    const x = a.result[i]!;
    const y = b.result[i]!;
    if (labelsKey(x.labels) !== labelsKey(y.labels)) return `labels ${labelsKey(x.labels)} vs ${labelsKey(y.labels)}`;
    if (x.timestampsMs.length !== y.timestampsMs.length) return `${labelsKey(x.labels)}: ${x.timestampsMs.length} points vs ${y.timestampsMs.length}`;
    for (let k = 0; k < x.timestampsMs.length; k++) {
      if (x.timestampsMs[k] !== y.timestampsMs[k] || !valuesEqual(y.values[k]!, x.values[k]!)) return `${labelsKey(x.labels)} at ${x.timestampsMs[k]}: ${x.values[k]} vs ${y.values[k]}`;
    }
  }
  return undefined;
}

// ---- validity of level segments in the engine's querier ----

/** A raw source (segment or head) over some series, as the engine's MergingQuerier merges them. */
function source(data: readonly MemorySeries[]): SeriesSource {
  let minT = Infinity;
  let maxT = -Infinity;
  for (const s of data) {
    if (s.timestampsMs.length === 0) continue;
    minT = Math.min(minT, s.timestampsMs[0]!);
    maxT = Math.max(maxT, s.timestampsMs[s.timestampsMs.length - 1]!);
  }
  return {
    minTMs: minT,
    maxTMs: maxT,
    async select(matchers, lo, hi, withSamples): Promise<SourceSeries[]> {
      const out: SourceSeries[] = [];
      for (const s of data) {
        if (!matchers.every((m) => m.matches(getLabel(s.labels, m.name)))) continue;
        const idx: number[] = [];
        s.timestampsMs.forEach((t, i) => {
          if (t >= lo && t <= hi) idx.push(i);
        });
        if (idx.length === 0) continue;
        const ts = withSamples ? Float64Array.from(idx, (i) => s.timestampsMs[i]!) : new Float64Array(0);
        const vs = new Float64Array(withSamples ? idx.length : 0);
        if (withSamples) idx.forEach((i, j) => (vs[j] = s.values[i]!));
        out.push({ labels: s.labels, key: labelsKey(s.labels), timestampsMs: ts, values: vs });
      }
      return out;
    },
  };
}

const P0 = T0 + D; // a partition [P0, P0 + 2h)
const P1 = P0 + PARTITION_MS;
const counter = (from: number, to: number, every: number, base: number): MemorySeries =>
  series(
    { __name__: 'c_total', job: 'a' },
    Array.from({ length: Math.floor((to - from) / every) }, (_, i) => [from + i * every + 1, base + i] as [number, number]),
  );

describe('level segments are used only where valid', () => {
  // Partitions P0 and P1 as raw segments "seg-0" and "seg-1", each with its own 1 h level.
  const seg0 = [counter(P0, P1, 15 * S, 0)];
  const seg1 = [counter(P1, P1 + PARTITION_MS, 15 * S, 480)];
  const level0 = new MemoryBucketSource(L1H, P0, P1, seg0, ['seg-0']);
  const level1 = new MemoryBucketSource(L1H, P1, P1 + PARTITION_MS, seg1, ['seg-1']);
  const QUERY = 'increase(c_total[1h])';
  const GRID = { start: P0 + H, end: P1 + PARTITION_MS, step: H };

  async function check(sources: SeriesSource[], names: (string | undefined)[], levelSources: MemoryBucketSource[], expected: { levelSegmentsRead: number; rawPiecesRead: number; level?: string }): Promise<QueryResult> {
    const q = new MergingQuerier(sources, () => {}, { rollupLevels: LEVELS, levelSources, sourceNames: names });
    const raw = await rangeQuery(q, QUERY, GRID.start, GRID.end, GRID.step, { resolution: 'raw' });
    const forced = await rangeQuery(q, QUERY, GRID.start, GRID.end, GRID.step, { resolution: '1h', stats: true });
    expect(forced.stats!.rollup[0]).toMatchObject({ level: '1h', levelSegmentsRead: expected.levelSegmentsRead, rawPiecesRead: expected.rawPiecesRead });
    expect(sameAnswer(raw, forced)).toBeUndefined();
    const auto = await rangeQuery(q, QUERY, GRID.start, GRID.end, GRID.step, { stats: true });
    expect(auto.stats!.rollup[0]!.level).toBe(expected.level ?? (expected.levelSegmentsRead > 0 ? '1h' : 'raw'));
    expect(sameAnswer(raw, auto)).toBeUndefined();
    return forced;
  }

  it('levels built from every raw segment of their partition are used', async () => {
    await check([source(seg0), source(seg1)], ['seg-0', 'seg-1'], [level0, level1], { levelSegmentsRead: 2, rawPiecesRead: 0 });
  });

  it('a newer raw segment the level was not built from (backfill) sends that partition to raw', async () => {
    // Late samples for P0 landed in seg-2 after the level was built.
    const late = [series({ __name__: 'c_total', job: 'a' }, [[P0 + 20 * M + 500, 1000]])];
    const r = await check([source(seg0), source(seg1), source(late)], ['seg-0', 'seg-1', 'seg-2'], [level0, level1], { levelSegmentsRead: 1, rawPiecesRead: 1 });
    // The late sample is a counter reset in raw data, which the stale level would not show.
    expect(r.resultType === 'matrix' && r.result[0]!.values[0]).toBeGreaterThan(1000);
  });

  it('a memtable head holding samples in the partition sends it to raw from its first sample on; a head elsewhere does not', async () => {
    const headInP1 = [series({ __name__: 'c_total', job: 'a' }, [[P1 + 30 * M + 7, 2]])];
    await check([source(seg0), source(seg1), source(headInP1)], ['seg-0', 'seg-1', undefined], [level0, level1], { levelSegmentsRead: 1, rawPiecesRead: 1 });
    // A head whose first sample is past the partition's first hour: the level answers that hour
    // (buckets ending at or before the last boundary before the head's first sample), raw the rest.
    const headLateInP1 = [series({ __name__: 'c_total', job: 'a' }, [[P1 + H + 30 * M + 7, 2]])];
    await check([source(seg0), source(seg1), source(headLateInP1)], ['seg-0', 'seg-1', undefined], [level0, level1], { levelSegmentsRead: 2, rawPiecesRead: 1 });
    const headLater = [series({ __name__: 'c_total', job: 'a' }, [[P1 + 3 * H, 5000]])];
    await check([source(seg0), source(seg1), source(headLater)], ['seg-0', 'seg-1', undefined], [level0, level1], { levelSegmentsRead: 2, rawPiecesRead: 0 });
  });

  it('a level whose raw segment expired still answers, alone', async () => {
    // seg-0 is gone (retention): P0 only exists as its level; the answer is the one raw data gave.
    const full = new MergingQuerier([source(seg0), source(seg1)], () => {}, {});
    const before = await rangeQuery(full, QUERY, GRID.start, GRID.end, GRID.step);
    const q = new MergingQuerier([source(seg1)], () => {}, { rollupLevels: LEVELS, levelSources: [level0, level1], sourceNames: ['seg-1'] });
    const after = await rangeQuery(q, QUERY, GRID.start, GRID.end, GRID.step, { stats: true });
    expect(after.stats!.rollup[0]).toMatchObject({ level: '1h', levelSegmentsRead: 2, rawPiecesRead: 0 });
    expect(sameAnswer(before, after)).toBeUndefined();
    // Raw reads of the expired range find nothing there.
    const rawAfter = await rangeQuery(q, QUERY, GRID.start, GRID.end, GRID.step, { resolution: 'raw' });
    expect(rawAfter.resultType === 'matrix' && rawAfter.result[0]!.timestampsMs[0]).toBe(P1 + H);
  });

  it('overlapping level segments of one width: only one is read', async () => {
    // A 4 h level over both partitions (e.g. after a merge) next to the two 2 h ones: the wider is taken.
    const wide = new MemoryBucketSource(L1H, P0, P1 + PARTITION_MS, [mergeSeries(seg0[0]!, seg1[0]!)], ['seg-0', 'seg-1']);
    const narrow0 = new MemoryBucketSource(L1H, P0, P1, seg0, ['seg-0']);
    const narrow1 = new MemoryBucketSource(L1H, P1, P1 + PARTITION_MS, seg1, ['seg-1']);
    await check([source(seg0), source(seg1)], ['seg-0', 'seg-1'], [narrow0, wide, narrow1], { levelSegmentsRead: 1, rawPiecesRead: 0 });
    expect(wide.reads).toBeGreaterThan(0);
    expect(narrow0.reads + narrow1.reads).toBe(0);
  });

  it('a level of another width is never read for this one', async () => {
    const level5m = new MemoryBucketSource(L5M, P0, P1, seg0, ['seg-0']);
    await check([source(seg0), source(seg1)], ['seg-0', 'seg-1'], [level5m, level1], { levelSegmentsRead: 1, rawPiecesRead: 1 });
    expect(level5m.reads).toBe(0);
  });

  it('selectBuckets through the engine querier: matchers, and series only in one piece', async () => {
    const other = [series({ __name__: 'c_total', job: 'b' }, [[P1 + 10 * M, 1], [P1 + 20 * M, 3]])];
    const q = new MergingQuerier([source(seg0), source([...seg1, ...other])], () => {}, {
      rollupLevels: LEVELS,
      levelSources: [level0],
      sourceNames: ['seg-0', 'seg-1'],
    });
    const sel = await q.selectBuckets([newMatcher('=', '__name__', 'c_total')], L1H, P0, P1 + PARTITION_MS);
    expect(sel.levelSegmentsRead).toBe(1);
    expect(sel.rawPiecesRead).toBe(1);
    expect(sel.series.map((s) => getLabel(s.labels, 'job'))).toEqual(['a', 'b']);
    expect(Array.from(sel.series[0]!.buckets.endMs)).toEqual([P0 + H, P0 + 2 * H, P0 + 3 * H, P0 + 4 * H]);
    expect(Array.from(sel.series[1]!.buckets.endMs)).toEqual([P1 + H]);
    await expect(q.selectBuckets([], L1H, P0 + 1, P1)).rejects.toThrow(/not aligned/);
  });
});

function mergeSeries(a: MemorySeries, b: MemorySeries): MemorySeries {
  const ts = new Float64Array(a.timestampsMs.length + b.timestampsMs.length);
  ts.set(a.timestampsMs);
  ts.set(b.timestampsMs, a.timestampsMs.length);
  const vs = new Float64Array(ts.length);
  vs.set(a.values);
  vs.set(b.values, a.values.length);
  return { labels: a.labels, timestampsMs: ts, values: vs };
}
