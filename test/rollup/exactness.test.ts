// The rollup pyramid's promise (DESIGN.md, "Rollup pyramid"): for evaluation times and ranges
// that are multiples of a level's G, range functions and plain selectors give the same answer
// from the level as PromQL gives from the raw samples. Property-based: fast-check draws series
// (integer and float counters with resets, gauges, irregular gaps, samples exactly on bucket
// boundaries, stale markers, NaN and +-Inf) and aligned query grids; the raw answer comes from
// the real engine (rangeQuery over an in-memory querier), the rollup answer from eval.ts over
// buckets built directly, coarsened from a finer level, and stitched from two partitions.
//
// Bit-identical: counts, min/max, first/last, resets/changes, irate/idelta, delta, present,
// timestamps, selectors. Relative 1e-9 ("up to summation order", see buckets.ts):
// sum/avg/stddev/stdvar_over_time, rate/increase.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isStaleAt, STALE_NAN } from '../../src/model/samples.js';
import { rangeQuery } from '../../src/query/engine.js';
import { BucketAccumulator, buildBuckets, coarsen, concat, sliceBuckets, type RollupBuckets } from '../../src/rollup/buckets.js';
import { EDGE_NEEDS_RAW, evalRollupEdgeWindow, evalRollupGrid, evalRollupWindow, PLAIN_SELECTOR, ROLLUP_FUNCTIONS, servable, servableWithEdge, windowResult } from '../../src/rollup/eval.js';
import { labelsFromRecord } from '../../src/model/labels.js';
import { MemoryQuerier } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const MIN = 60_000;
const DAY = 86_400_000;
/** A day boundary, so every level's buckets line up with it. */
const T0 = 19_676 * DAY;
const LOOKBACK_MS = 5 * MIN;

const BIT_EXACT = new Set([
  'count_over_time',
  'min_over_time',
  'max_over_time',
  'first_over_time',
  'ts_of_first_over_time',
  'last_over_time',
  'ts_of_last_over_time',
  'present_over_time',
  'resets',
  'changes',
  'irate',
  'idelta',
  'delta',
  PLAIN_SELECTOR,
]);
const SUMMATION_ORDER = new Set(['sum_over_time', 'avg_over_time', 'stddev_over_time', 'stdvar_over_time', 'rate', 'increase']);

interface SeriesSpec {
  kind: 'intCounter' | 'floatCounter' | 'gauge';
  gaugeBase: number;
  gaugeScale: number;
  /** Percent of samples that are NaN/+Inf/-Inf (runs of NaN make NaN == NaN matter for changes). */
  specialsPercent: number;
  ops: { gapKind: number; gapRand: number; valueRand: number; event: number }[];
}

/** Samples of one series from a spec: strictly ascending times, stale markers written bit-exactly. */
function samplesOf(spec: SeriesSpec, coarseMs: number): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(spec.ops.length);
  const vs = new Float64Array(spec.ops.length);
  let t = T0 - 3 * coarseMs;
  let v = spec.kind === 'gauge' ? spec.gaugeBase : 0;
  spec.ops.forEach((op, i) => {
    const fine = MIN;
    if (op.gapKind === 0) t = (Math.floor(t / fine) + 1) * fine; // exactly on a fine boundary
    else if (op.gapKind === 1) t = (Math.floor(t / coarseMs) + 1) * coarseMs; // on a coarse boundary
    else if (op.gapKind <= 6) t += 1 + Math.floor(op.gapRand * (fine / 2));
    else if (op.gapKind <= 8) t += 1 + Math.floor(op.gapRand * 2 * coarseMs);
    else t += 1 + Math.floor(op.gapRand * 6 * coarseMs);
    ts[i] = t;
    if (op.event < 3) {
      vs[i] = STALE_NAN; // through the Float64Array: the payload survives
      return;
    }
    if (op.event - 3 < spec.specialsPercent) {
      // Mostly NaN, so that NaN follows NaN.
      vs[i] = op.valueRand < 0.6 ? NaN : op.valueRand < 0.8 ? Infinity : -Infinity;
      return;
    }
    if (spec.kind === 'gauge') v = op.event > 96 ? spec.gaugeBase : v + (op.valueRand - 0.5) * spec.gaugeScale;
    else if (op.event > 94) v = spec.kind === 'intCounter' ? Math.floor(op.valueRand * 5) : op.valueRand; // reset
    else v += spec.kind === 'intCounter' ? Math.floor(op.valueRand * 100) : op.valueRand * 10;
    vs[i] = v;
  });
  return { ts, vs };
}

const seriesSpec: fc.Arbitrary<SeriesSpec> = fc.record({
  kind: fc.constantFrom('intCounter' as const, 'floatCounter' as const, 'gauge' as const),
  gaugeBase: fc.constantFrom(0, 100, 1e4, -50.5),
  gaugeScale: fc.constantFrom(1, 10, 1000),
  specialsPercent: fc.constantFrom(0, 3, 30),
  ops: fc.array(
    fc.record({
      gapKind: fc.integer({ min: 0, max: 9 }),
      // Realistic magnitudes: fast-check's doubles include 1e-300 and the like, where a stddev of
      // a nearly constant window is rounding noise in raw and rollup alike (buckets.ts).
      gapRand: fc.integer({ min: 0, max: 999_999 }).map((i) => i / 1e6),
      valueRand: fc.integer({ min: 0, max: 999_999 }).map((i) => i / 1e6 + 1e-7),
      event: fc.integer({ min: 0, max: 99 }),
    }),
    { minLength: 0, maxLength: 160 },
  ),
});

interface QuerySpec {
  fineMs: number;
  factor: number;
  rangeBuckets: number;
  stepBuckets: number;
  offsetBuckets: number;
  split: number;
}

const querySpec: fc.Arbitrary<QuerySpec> = fc.record({
  fineMs: fc.constantFrom(MIN, 5 * MIN, 10 * MIN),
  factor: fc.constantFrom(1, 2, 3, 6),
  rangeBuckets: fc.integer({ min: 1, max: 8 }),
  stepBuckets: fc.integer({ min: 1, max: 3 }),
  offsetBuckets: fc.integer({ min: -1, max: 2 }),
  split: fc.double({ min: 0, max: 1, noNaN: true }),
});

function sameValue(fn: string, raw: number, rollup: number, bitExact = false): boolean {
  if (Number.isNaN(raw) && Number.isNaN(rollup)) return true;
  if (bitExact || BIT_EXACT.has(fn)) return Object.is(raw, rollup);
  if (raw === rollup) return true;
  return Math.abs(raw - rollup) <= 1e-9 * Math.max(Math.abs(raw), Math.abs(rollup));
}

function rawQuery(fn: string, rangeMs: number, offsetMs: number): string {
  const off = offsetMs === 0 ? '' : ` offset ${offsetMs}ms`;
  return fn === PLAIN_SELECTOR ? `m${off}` : `${fn}(m[${rangeMs}ms]${off})`;
}

/** Compares one function over the grid; returns a description of the first difference. */
async function compare(
  querier: MemoryQuerier,
  levels: readonly [string, RollupBuckets][],
  fn: string,
  rangeMs: number,
  startMs: number,
  endMs: number,
  stepMs: number,
  offsetMs: number,
  bitExact = false,
): Promise<string | undefined> {
  const res = await rangeQuery(querier, rawQuery(fn, rangeMs, offsetMs), startMs, endMs, stepMs);
  if (res.resultType !== 'matrix') throw new Error('expected a matrix');
  if (res.result.length > 1) throw new Error('one series expected');
  const stepCount = Math.floor((endMs - startMs) / stepMs) + 1;
  const raw = new Map<number, number>();
  const r0 = res.result[0];
  if (r0 !== undefined) r0.timestampsMs.forEach((t, i) => raw.set(t, r0.values[i]!));
  for (const [name, level] of levels) {
    const grid = evalRollupGrid(level, fn, rangeMs, startMs, stepMs, stepCount, offsetMs);
    for (let k = 0; k < stepCount; k++) {
      const t = startMs + k * stepMs;
      const want = raw.get(t);
      const got = grid.present[k] === 1 ? grid.values[k]! : undefined;
      const ok = want === undefined || got === undefined ? want === got : sameValue(fn, want, got, bitExact);
      if (!ok) return `${rawQuery(fn, rangeMs, offsetMs)} at ${t - T0} ms (${name}, G=${level.widthMs}): raw ${want}, rollup ${got}`;
    }
  }
  return undefined;
}

describe('rollup exactness against raw PromQL', () => {
  test('aligned windows: every rollup function and plain selectors match raw', async () => {
    const functions = [...ROLLUP_FUNCTIONS, PLAIN_SELECTOR];
    // Every function a level serves is declared bit-exact or exact up to summation order.
    for (const fn of functions) expect(BIT_EXACT.has(fn) !== SUMMATION_ORDER.has(fn), fn).toBe(true);
    await fc.assert(
      fc.asyncProperty(seriesSpec, querySpec, async (spec, q) => {
        const G = q.fineMs * q.factor;
        const { ts, vs } = samplesOf(spec, G);
        const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
        // The level of width G three ways: built from raw; coarsened from the fine level; and
        // stitched from two "partitions" split at a random sample (a bucket may straddle it).
        const direct = buildBuckets(ts, vs, G);
        const fine = buildBuckets(ts, vs, q.fineMs);
        const cut = Math.floor(q.split * ts.length);
        const stitched = concat(buildBuckets(ts.subarray(0, cut), vs.subarray(0, cut), q.fineMs), buildBuckets(ts.subarray(cut), vs.subarray(cut), q.fineMs));
        for (const b of [direct, fine, stitched]) b.assertInvariants();
        const coarsened = coarsen(stitched, q.factor);
        coarsened.assertInvariants();
        expect(coarsened.endMs).toEqual(direct.endMs);
        expect(coarsened.count).toEqual(direct.count);
        const levels: [string, RollupBuckets][] = [
          ['built', direct],
          ['coarsened+stitched', coarsened],
        ];
        const rangeMs = q.rangeBuckets * G;
        const stepMs = q.stepBuckets * G;
        const offsetMs = q.offsetBuckets * G;
        const lastT = ts.length > 0 ? ts[ts.length - 1]! : T0;
        const startMs = T0 - 4 * G;
        const endMs = Math.ceil(lastT / G) * G + rangeMs + 2 * G;
        for (const fn of functions) {
          const r = fn === PLAIN_SELECTOR ? LOOKBACK_MS : rangeMs;
          expect(servable(fn, r, stepMs, startMs, offsetMs, G), fn).toBe(true);
          const diff = await compare(querier, levels, fn, r, startMs, endMs, stepMs, offsetMs);
          expect(diff, diff).toBeUndefined();
        }
        // Tail functions need only the window end aligned: an unaligned range works too.
        for (const fn of ['last_over_time', 'present_over_time', 'irate', 'idelta', 'ts_of_last_over_time']) {
          const unaligned = rangeMs + 12_345;
          expect(servable(fn, unaligned, stepMs, startMs, offsetMs, G)).toBe(true);
          const diff = await compare(querier, levels, fn, unaligned, startMs, endMs, stepMs, offsetMs);
          expect(diff, diff).toBeUndefined();
        }
      }),
      { numRuns: 400, seed: 0x5eed, endOnFailure: true },
    );
  });

  test('a window of one bucket is bit-identical even for sums and variances', async () => {
    await fc.assert(
      fc.asyncProperty(seriesSpec, async (spec) => {
        const G = 10 * MIN;
        const { ts, vs } = samplesOf(spec, G);
        const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
        const level: [string, RollupBuckets][] = [['built', buildBuckets(ts, vs, G)]];
        const end = ts.length > 0 ? Math.ceil(ts[ts.length - 1]! / G) * G : T0;
        for (const fn of ['sum_over_time', 'avg_over_time', 'stdvar_over_time', 'stddev_over_time']) {
          const diff = await compare(querier, level, fn, G, T0 - 4 * G, end, G, 0, true);
          expect(diff, diff).toBeUndefined();
        }
      }),
      { numRuns: 100, seed: 0xb0c },
    );
  });
});

describe('unaligned windows: raw samples for the ragged edges, the level for the middle', () => {
  // Not what servable() answers (it says whether the level ALONE suffices); this shows that a
  // planner can still use a level for e.g. rate(x[$__rate_interval]) by reading raw samples for
  // at most one partial bucket at each end of the window.
  test('every rollup function matches raw', async () => {
    await fc.assert(
      fc.asyncProperty(
        seriesSpec,
        fc.constantFrom(MIN, 5 * MIN),
        fc.integer({ min: 1, max: 20 * MIN }),
        fc.integer({ min: 0, max: 3 * MIN }),
        async (spec, G, rangeMs, stepMs) => {
          const { ts, vs } = samplesOf(spec, G);
          const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
          const level = buildBuckets(ts, vs, G);
          const acc = new BucketAccumulator();
          const startMs = (ts.length > 0 ? ts[0]! : T0) - 2 * G + 7_777;
          const endMs = (ts.length > 0 ? ts[ts.length - 1]! : T0) + rangeMs + 3 * MIN;
          const step = Math.max(stepMs + 1, Math.ceil((endMs - startMs) / 400));
          for (const fn of ROLLUP_FUNCTIONS) {
            const res = await rangeQuery(querier, rawQuery(fn, rangeMs, 0), startMs, endMs, step);
            if (res.resultType !== 'matrix') throw new Error('expected a matrix');
            const raw = new Map<number, number>();
            const r0 = res.result[0];
            if (r0 !== undefined) r0.timestampsMs.forEach((t, i) => raw.set(t, r0.values[i]!));
            for (let t = startMs; t <= endMs; t += step) {
              mixedFold(acc, ts, vs, level, t - rangeMs, t);
              const got = windowResult(acc, fn, t, rangeMs);
              const want = raw.get(t);
              const ok = want === undefined || got === undefined ? want === got : sameValue(fn, want, got);
              expect(ok, `${fn}[${rangeMs}ms] at ${t - T0}: raw ${want}, mixed ${got}`).toBe(true);
            }
          }
        },
      ),
      { numRuns: 60, seed: 0xed9e, endOnFailure: true },
    );
  });
});

describe('edge extension: window end aligned, range not a multiple of G', () => {
  // evalRollupEdgeWindow: the level's whole buckets plus the part of the first bucket after the
  // window start, from the bucket's stored last samples when they suffice, else from raw edge
  // samples (or EDGE_NEEDS_RAW without them).
  test('every window function matches raw, from the level alone or with raw edge samples', async () => {
    let fromLevel = 0;
    let needRaw = 0;
    await fc.assert(
      fc.asyncProperty(seriesSpec, fc.constantFrom(MIN, 5 * MIN), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 5 * MIN - 1 }), async (spec, G, wholeBuckets, edgeMs) => {
        const rangeMs = wholeBuckets * G + (edgeMs % G === 0 ? 1 : edgeMs % G);
        expect(servableWithEdge('rate', rangeMs, G, T0, 0, G)).toBe(true);
        expect(servable('rate', rangeMs, G, T0, 0, G)).toBe(false);
        const { ts, vs } = samplesOf(spec, G);
        const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
        const level = buildBuckets(ts, vs, G);
        const acc = new BucketAccumulator();
        const startMs = Math.floor((ts.length > 0 ? ts[0]! : T0) / G) * G - 2 * G;
        const endMs = Math.ceil((ts.length > 0 ? ts[ts.length - 1]! : T0) / G) * G + rangeMs + 2 * G;
        for (const fn of ROLLUP_FUNCTIONS) {
          if (!servableWithEdge(fn, rangeMs, G, startMs, 0, G)) continue; // tail functions: servable() already
          const raw = await rawByTime(querier, fn, rangeMs, startMs, endMs, G);
          for (let t = startMs; t <= endMs; t += G) {
            const want = raw.get(t);
            const alone = evalRollupEdgeWindow(level, fn, t, rangeMs, acc);
            const withRaw = evalRollupEdgeWindow(level, fn, t, rangeMs, acc, { timestampsMs: ts, values: vs });
            expect(withRaw === EDGE_NEEDS_RAW, 'raw edge samples always suffice').toBe(false);
            for (const got of alone === EDGE_NEEDS_RAW ? [withRaw] : [alone, withRaw]) {
              const g = got as number | undefined;
              const ok = want === undefined || g === undefined ? want === g : sameValue(fn, want, g);
              expect(ok, `${fn}[${rangeMs}ms] at ${t - T0} (G ${G}): raw ${want}, edge ${g}`).toBe(true);
            }
            if (alone === EDGE_NEEDS_RAW) needRaw++;
            else if (want !== undefined) fromLevel++;
          }
        }
      }),
      { numRuns: 150, seed: 0xed6e, endOnFailure: true },
    );
    expect(fromLevel).toBeGreaterThan(100);
    expect(needRaw).toBeGreaterThan(100);
  });

  test('a window ending off a boundary: the level plus the raw tail after the last boundary matches raw', async () => {
    await fc.assert(
      fc.asyncProperty(seriesSpec, fc.constantFrom(MIN, 5 * MIN), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 5 * MIN - 1 }), fc.integer({ min: 1, max: MIN - 1 }), async (spec, G, wholeBuckets, edgeMs, offGridMs) => {
        const rangeMs = wholeBuckets * G + edgeMs + 1;
        const { ts, vs } = samplesOf(spec, G);
        const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
        const level = buildBuckets(ts, vs, G);
        const acc = new BucketAccumulator();
        const all = { timestampsMs: ts, values: vs };
        const startMs = Math.floor((ts.length > 0 ? ts[0]! : T0) / G) * G - 2 * G + offGridMs;
        const endMs = Math.ceil((ts.length > 0 ? ts[ts.length - 1]! : T0) / G) * G + rangeMs + 2 * G;
        for (const fn of ROLLUP_FUNCTIONS) {
          // Window functions only (the tail functions need only the last two samples).
          if (['last_over_time', 'ts_of_last_over_time', 'present_over_time', 'irate', 'idelta'].includes(fn)) continue;
          const raw = await rawByTime(querier, fn, rangeMs, startMs, endMs, G);
          for (let t = startMs; t <= endMs; t += G) {
            const want = raw.get(t);
            // The bucket holding t is not in the level a planner reads: drop it.
            const cut = level.length > 0 ? sliceBucketsThrough(level, Math.floor(t / G) * G) : level;
            const got = evalRollupEdgeWindow(cut, fn, t, rangeMs, acc, all, all) as number | undefined;
            const ok = want === undefined || got === undefined ? want === got : sameValue(fn, want, got);
            expect(ok, `${fn}[${rangeMs}ms] at ${t - T0} (G ${G}): raw ${want}, level + raw tail ${got}`).toBe(true);
          }
        }
      }),
      { numRuns: 100, seed: 0x7a11, endOnFailure: true },
    );
  });
});

/** The samples of (fromMs, toMs]: raw ones outside whole buckets, the level's buckets inside. */
function mixedFold(acc: BucketAccumulator, ts: Float64Array, vs: Float64Array, level: RollupBuckets, fromMs: number, toMs: number): void {
  const G = level.widthMs;
  const innerFrom = Math.ceil(fromMs / G) * G;
  const innerTo = Math.floor(toMs / G) * G;
  acc.reset();
  const addRaw = (lo: number, hi: number): void => {
    for (let i = 0; i < ts.length; i++) {
      if (!(ts[i]! > lo && ts[i]! <= hi)) continue;
      if (isStaleAt(vs, i)) acc.addStale(ts[i]!);
      else acc.addSample(ts[i]!, vs[i]!);
    }
  };
  if (innerFrom >= innerTo) {
    addRaw(fromMs, toMs); // the window lies inside one bucket
    return;
  }
  addRaw(fromMs, innerFrom);
  for (let i = 0; i < level.length; i++) if (level.endMs[i]! > innerFrom && level.endMs[i]! <= innerTo) acc.addBucket(level, i);
  addRaw(innerTo, toMs);
}

describe('where exactness is only up to rounding: the documented bounds', () => {
  const G = MIN;

  async function rawAndRollup(ts: Float64Array, vs: Float64Array, fn: string, endMs: number, rangeMs: number): Promise<[number, number]> {
    const querier = new MemoryQuerier([{ labels: labelsFromRecord({ __name__: 'm' }), timestampsMs: ts, values: vs }]);
    const res = await rangeQuery(querier, rawQuery(fn, rangeMs, 0), endMs, endMs, 1000);
    if (res.resultType !== 'matrix' || res.result.length !== 1) throw new Error('one series expected');
    return [res.result[0]!.values[0]!, evalRollupWindow(buildBuckets(ts, vs, G), fn, endMs, rangeMs)!];
  }

  test('stdvar of a gauge that barely moves around a large offset: |raw - rollup| / var <= 2 e |mean| / stddev', async () => {
    // Both are off from the true variance by about that much; neither is "the" right answer.
    for (const [offset, spread] of [
      [1e4, 1],
      [1e9, 1],
      [1e9, 1e-3],
      [1e6, 1e-6],
    ] as const) {
      for (let seed = 1; seed <= 8; seed++) {
        const rand = mulberry32(seed);
        const n = 600;
        const ts = new Float64Array(n);
        const vs = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          ts[i] = T0 + i * 10_000 + 1 + Math.floor(rand() * 9000);
          vs[i] = offset + (rand() - 0.5) * spread;
        }
        const [raw, rollup] = await rawAndRollup(ts, vs, 'stdvar_over_time', T0 + 100 * G, 100 * G);
        const bound = 2 * 2 ** -53 * (offset / Math.sqrt(raw));
        expect(Math.abs(raw - rollup) / raw, `offset ${offset}, spread ${spread}, seed ${seed}`).toBeLessThanOrEqual(bound);
        if (offset / spread <= 1e4) expect(Math.abs(raw - rollup) / raw).toBeLessThanOrEqual(1e-9);
      }
    }
  });

  test('avg_over_time when a running sum overflows: raw switches to an incremental mean, the rollup uses its merged mean', async () => {
    const ts = new Float64Array([T0 + 1000, T0 + 2000, T0 + G + 1000, T0 + G + 2000, T0 + 2 * G + 1000]);
    // Differences between values stay finite (Welford's mean overflows otherwise: buckets.ts).
    const vs = new Float64Array([0.9e308, 0.95e308, 0.8e308, 0.7e308, 0.85e308]);
    const [raw, rollup] = await rawAndRollup(ts, vs, 'avg_over_time', T0 + 3 * G, 3 * G);
    expect(Number.isFinite(raw)).toBe(true);
    expect(Math.abs(raw - rollup) / Math.abs(raw)).toBeLessThanOrEqual(1e-15);
    // With an infinite sample the mean is infinite both ways.
    vs[2] = Infinity;
    const [rawInf, rollupInf] = await rawAndRollup(ts, vs, 'avg_over_time', T0 + 3 * G, 3 * G);
    expect([rawInf, rollupInf]).toEqual([Infinity, Infinity]);
  });
});

describe('servable: what a level must refuse', () => {
  const G = 5 * MIN;
  const start = T0 + 12 * G;

  test('aligned queries of rollup functions are servable', () => {
    for (const fn of ROLLUP_FUNCTIONS) {
      expect(servable(fn, 3 * G, G, start, 0, G), fn).toBe(true);
      expect(servable(fn, 12 * G, 4 * G, start, 2 * G, G), fn).toBe(true);
      expect(servable(fn, G, 0, start, -G, G), `${fn} instant`).toBe(true);
    }
    expect(servable(PLAIN_SELECTOR, LOOKBACK_MS, G, start, 0, G)).toBe(true);
    // Plain selectors are exact for any G once t is aligned, even G < lookback or G > lookback.
    expect(servable(PLAIN_SELECTOR, LOOKBACK_MS, MIN, T0, 0, MIN)).toBe(true);
    expect(servable(PLAIN_SELECTOR, LOOKBACK_MS, DAY, T0, 0, DAY)).toBe(true);
  });

  test('functions without an exact rollup are refused', () => {
    for (const fn of [
      'quantile_over_time',
      'mad_over_time',
      'deriv',
      'predict_linear',
      'double_exponential_smoothing',
      'ts_of_min_over_time',
      'ts_of_max_over_time',
      'absent_over_time',
      'holt_winters',
      'abs',
      '',
    ]) {
      expect(servable(fn, 3 * G, G, start, 0, G), fn).toBe(false);
      expect(() => evalRollupWindow(buildBuckets(new Float64Array([start]), new Float64Array([1]), G), fn, start, 3 * G)).toThrow();
    }
  });

  test('unaligned evaluation times, steps, offsets and ranges are refused', () => {
    for (const fn of [...ROLLUP_FUNCTIONS, PLAIN_SELECTOR]) {
      expect(servable(fn, 3 * G, G, start + 1, 0, G), `${fn} start`).toBe(false);
      expect(servable(fn, 3 * G, G + 1000, start, 0, G), `${fn} step`).toBe(false);
      expect(servable(fn, 3 * G, G / 2, start, 0, G), `${fn} half step`).toBe(false);
      expect(servable(fn, 3 * G, G, start, 30_000, G), `${fn} offset`).toBe(false);
      expect(servable(fn, 3 * G, G, start, 0, G + 0.5), `${fn} fractional G`).toBe(false);
      expect(servable(fn, 0, G, start, 0, G), `${fn} empty range`).toBe(false);
      expect(servable(fn, 3 * G, -G, start, 0, G), `${fn} negative step`).toBe(false);
    }
    // Start aligned only after the offset is applied: the windows end on boundaries.
    expect(servable('rate', 3 * G, G, start + 30_000, 30_000, G)).toBe(true);
    // Window functions need the range aligned too; tail functions do not.
    for (const fn of ['rate', 'increase', 'delta', 'sum_over_time', 'avg_over_time', 'count_over_time', 'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time', 'resets', 'changes', 'first_over_time']) {
      expect(servable(fn, 3 * G + 1, G, start, 0, G), fn).toBe(false);
      expect(() => evalRollupWindow(buildBuckets(new Float64Array([start]), new Float64Array([1]), G), fn, start, 3 * G + 1)).toThrow(/not aligned/);
    }
    for (const fn of ['last_over_time', 'present_over_time', 'irate', 'idelta', 'ts_of_last_over_time']) expect(servable(fn, 3 * G + 1, G, start, 0, G), fn).toBe(true);
    expect(() => evalRollupWindow(buildBuckets(new Float64Array([start]), new Float64Array([1]), G), 'last_over_time', start + 1, G)).toThrow(/not aligned/);
  });

  test('an unaligned window really differs: the level would count samples outside it', () => {
    // Samples at 1 min and 4 min into a 5 min bucket; the window (2 min, 5 min] holds one of them.
    const ts = new Float64Array([T0 + MIN, T0 + 4 * MIN]);
    const b = buildBuckets(ts, new Float64Array([1, 2]), G);
    expect(b.count[0]).toBe(2);
    expect(servable('count_over_time', 3 * MIN, 0, T0 + G, 0, G)).toBe(false);
  });
});

/** The buckets of b ending at or before throughMs. */
function sliceBucketsThrough(b: RollupBuckets, throughMs: number): RollupBuckets {
  let n = 0;
  while (n < b.length && b.endMs[n]! <= throughMs) n++;
  return sliceBuckets(b, 0, n);
}

/** fn(m[rangeMs]) from raw samples over the grid, by evaluation time (absent where Prometheus gives no output). */
async function rawByTime(querier: MemoryQuerier, fn: string, rangeMs: number, startMs: number, endMs: number, stepMs: number): Promise<Map<number, number>> {
  const res = await rangeQuery(querier, rawQuery(fn, rangeMs, 0), startMs, endMs, stepMs);
  if (res.resultType !== 'matrix') throw new Error('expected a matrix');
  const raw = new Map<number, number>();
  const r0 = res.result[0];
  if (r0 !== undefined) r0.timestampsMs.forEach((t, i) => raw.set(t, r0.values[i]!));
  return raw;
}
