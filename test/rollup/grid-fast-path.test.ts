// evalRollupGrid's fast path for aligned window functions (two forward pointers, one-bucket
// windows read from the columns) gives bit for bit what evalRollupWindow gives window by window
// (the binary-search path the exactness tests check against raw); and joinSeriesRuns (every
// series' runs joined at once, in shared buffers or as views) gives what concatAll gives.
import { describe, expect, test } from 'vitest';
import { buildBuckets, concatAll, joinSeriesRuns, releaseJoinBuffers, RollupBuckets, type BucketRange } from '../../src/rollup/buckets.js';
import { evalRollupEdgeGrid, evalRollupGrid, evalRollupGridRuns, evalRollupWindow, ROLLUP_FUNCTIONS, servable } from '../../src/rollup/eval.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, genSamples, LEVEL_SHAPES } from '../segment/level-helpers.js';

const H = 3_600_000;
const DAY = 24 * H;
const T0 = 19_676 * DAY;
const WINDOW_FUNCTIONS = [...ROLLUP_FUNCTIONS].filter((f) => servable(f, 2 * H, H, T0, 0, H) && !servable(f, 1.5 * H, H, T0, 0, H));

/** Every window function with each (range, step, offset) given in multiples of G. */
function* gridCases(G: number, multiples: readonly (readonly [number, number, number])[]) {
  for (const fn of WINDOW_FUNCTIONS) {
    for (const [rangeK, stepK, offsetK] of multiples) yield { fn, rangeK, stepK, offsetK, rangeMs: rangeK * G, stepMs: stepK * G, offsetMs: offsetK * G };
  }
}

/** The buckets of each partition of the samples cut at `cuts` (ascending), one per non-empty partition. */
function partitionBuckets(timestampsMs: Float64Array, values: Float64Array, cuts: readonly number[], G: number): RollupBuckets[] {
  const parts: RollupBuckets[] = [];
  let from = 0;
  for (const cut of [...cuts, Infinity]) {
    let to = from;
    while (to < timestampsMs.length && timestampsMs[to]! < cut) to++;
    if (to > from) parts.push(buildBuckets(timestampsMs.subarray(from, to), values.subarray(from, to), G));
    from = to;
  }
  return parts;
}

function sameBits(a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

describe('evalRollupGrid fast path', () => {
  test('window functions are among the rollup functions', () => {
    expect(WINDOW_FUNCTIONS).toContain('rate');
    expect(WINDOW_FUNCTIONS).toContain('avg_over_time');
    expect(WINDOW_FUNCTIONS).not.toContain('irate');
  });

  test('every window function, range, step and offset: the same bits as window by window', () => {
    const rnd = mulberry32(77);
    let compared = 0;
    for (const shape of LEVEL_SHAPES) {
      for (let rep = 0; rep < 3; rep++) {
        const { timestampsMs, values } = genSamples(shape, T0, T0 + 2 * DAY, 15_000 + Math.floor(rnd() * 60_000), rnd);
        const G = [300_000, H][rep % 2]!;
        const b = buildBuckets(timestampsMs, values, G);
        const cases = gridCases(G, [
          [1, 1, 0],
          [1, 3, 0],
          [3, 1, 0],
          [2, 2, 1],
          [12, 5, -2],
        ]);
        for (const { fn, rangeK, stepK, offsetK, rangeMs, stepMs, offsetMs } of cases) {
          const startMs = T0 + 7 * G;
          const steps = Math.floor((2 * DAY) / stepMs);
          const grid = evalRollupGrid(b, fn, rangeMs, startMs, stepMs, steps, offsetMs);
          for (let k = 0; k < steps; k++) {
            const want = evalRollupWindow(b, fn, startMs + k * stepMs - offsetMs, rangeMs);
            const got = grid.present[k] === 1 ? grid.values[k] : undefined;
            if (!sameBits(got, want)) throw new Error(`${shape} ${fn} G=${G} range ${rangeK}G step ${stepK}G offset ${offsetK}G at step ${k}: ${got} != ${want}`);
            if (want !== undefined) compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  test('writes into the arrays given, clearing what an earlier series left', () => {
    const rnd = mulberry32(3);
    const a = genSamples('counter', T0, T0 + DAY, 15_000, rnd);
    const b = buildBuckets(a.timestampsMs, a.values, H);
    const scratch = { values: new Float64Array(48), present: new Uint8Array(48).fill(1) };
    const got = evalRollupGrid(b, 'rate', H, T0 + H, H, 48, 0, scratch);
    expect(got.values).toBe(scratch.values);
    const fresh = evalRollupGrid(b, 'rate', H, T0 + H, H, 48, 0);
    expect([...got.present]).toEqual([...fresh.present]);
    expect(fresh.present.slice(24).every((p) => p === 0)).toBe(true);
  });
});

describe('evalRollupGridRuns (the grid over the runs, without joining them)', () => {
  test('the same bits as window by window over concatAll, with buckets split between two and three runs', () => {
    const rnd = mulberry32(21);
    let compared = 0;
    let splits = 0;
    for (let s = 0; s < 24; s++) {
      const G = [300_000, H][s % 2]!;
      const { timestampsMs, values } = genSamples(LEVEL_SHAPES[s % LEVEL_SHAPES.length]!, T0, T0 + DAY, 10_000 + Math.floor(rnd() * 50_000), rnd);
      if (timestampsMs.length === 0) continue;
      // Cuts at random instants (a bucket split between two runs), some twice inside one bucket
      // (split between three), some on bucket ends (no split).
      const cuts: number[] = [];
      for (let c = 0; c < 2 + (s % 5); c++) {
        const t = T0 + Math.floor(rnd() * DAY);
        cuts.push(c % 3 === 2 ? Math.floor(t / G) * G : t);
        if (c % 4 === 1) cuts.push(t + 1 + Math.floor(rnd() * 5_000));
      }
      cuts.sort((x, y) => x - y);
      const runs: BucketRange[] = [];
      for (const part of partitionBuckets(timestampsMs, values, cuts, G)) {
        const prev = runs[runs.length - 1];
        if (prev !== undefined && prev.buckets.endMs[prev.hi - 1] === part.endMs[0]) splits++;
        runs.push({ buckets: part, lo: 0, hi: part.length });
      }
      const joined = concatAll(runs);
      const into = { values: new Float64Array(400), present: new Uint8Array(400).fill(1) };
      // One-bucket windows (range G: read row by row, no window cursors) at several steps and
      // offsets, and windows of several buckets (the cursors).
      const cases = gridCases(G, [
        [1, 1, 0],
        [1, 2, 1],
        [1, 3, -2],
        [2, 1, 0],
        [3, 2, 1],
        [7, 3, -2],
      ]);
      for (const { fn, rangeK, stepK, offsetK, rangeMs, stepMs, offsetMs } of cases) {
        const startMs = T0 - 2 * G;
        const steps = Math.min(400, Math.floor((DAY + 4 * G) / stepMs));
        const got = evalRollupGridRuns(runs, G, fn, rangeMs, startMs, stepMs, steps, offsetMs, into);
        if (got === undefined) throw new Error(`${fn}: not evaluated over the runs`);
        for (let k = 0; k < steps; k++) {
          // The reference: the binary-search path, window by window (evalRollupGrid over the
          // joined struct would take evalRollupGridRuns itself).
          const w = evalRollupWindow(joined, fn, startMs + k * stepMs - offsetMs, rangeMs);
          const g = got.present[k] === 1 ? got.values[k] : undefined;
          if (!sameBits(g, w)) throw new Error(`series ${s} ${fn} G=${G} range ${rangeK}G step ${stepK}G offset ${offsetK}G at step ${k}: ${g} != ${w}`);
          if (w !== undefined) compared++;
        }
      }
    }
    expect(splits).toBeGreaterThan(10);
    expect(compared).toBeGreaterThan(10_000);
  });

  test('edge-extended windows (range not a multiple of G): the same bits and the same steps left for raw as evalRollupEdgeGrid over concatAll', () => {
    const rnd = mulberry32(5);
    let compared = 0;
    let edgesFromLevel = 0;
    let leftForRaw = 0;
    for (let s = 0; s < 24; s++) {
      const G = [300_000, H][s % 2]!;
      const { timestampsMs, values } = genSamples(LEVEL_SHAPES[s % LEVEL_SHAPES.length]!, T0, T0 + DAY, 10_000 + Math.floor(rnd() * 50_000), rnd);
      if (timestampsMs.length === 0) continue;
      const cuts: number[] = [];
      for (let c = 0; c < 2 + (s % 4); c++) cuts.push(T0 + Math.floor(rnd() * DAY));
      cuts.sort((x, y) => x - y);
      const runs: BucketRange[] = partitionBuckets(timestampsMs, values, cuts, G).map((b) => ({ buckets: b, lo: 0, hi: b.length }));
      const joined = concatAll(runs);
      // $__rate_interval-like ranges: one scrape more than the step, a few minutes more, a bit less than 2G.
      for (const fn of WINDOW_FUNCTIONS) {
        for (const [rangeMs, stepK, offsetK] of [
          [G + 15_000, 1, 0],
          [2 * G + 120_000, 1, 0],
          [2 * G - 60_000, 3, 1],
          [G / 2, 1, -2],
        ] as const) {
          const stepMs = stepK * G;
          const offsetMs = offsetK * G;
          const startMs = T0 - 2 * G;
          const steps = Math.min(300, Math.floor((DAY + 4 * G) / stepMs));
          const want = evalRollupEdgeGrid(joined, fn, rangeMs, startMs, stepMs, steps, offsetMs);
          const needsRaw: number[] = [];
          const into = { values: new Float64Array(steps), present: new Uint8Array(steps).fill(1) };
          const got = evalRollupGridRuns(runs, G, fn, rangeMs, startMs, stepMs, steps, offsetMs, into, needsRaw);
          if (got === undefined) throw new Error(`${fn}: not evaluated over the runs`);
          expect(needsRaw).toEqual(want.needsRaw);
          leftForRaw += needsRaw.length;
          for (let k = 0; k < steps; k++) {
            const w = want.present[k] === 1 ? want.values[k] : undefined;
            const g = got.present[k] === 1 ? got.values[k] : undefined;
            if (!sameBits(g, w)) throw new Error(`series ${s} ${fn} G=${G} range ${rangeMs} step ${stepK}G offset ${offsetK}G at step ${k}: ${g} != ${w}`);
            if (w !== undefined) {
              compared++;
              if (rangeMs % G !== 0) edgesFromLevel++;
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
    expect(edgesFromLevel).toBeGreaterThan(5_000);
    expect(leftForRaw).toBeGreaterThan(100);
  });

  test('sums that overflow to infinity while the mean stays finite: the same bits as the accumulator, aligned and edge-extended', () => {
    // Values near the largest double: a window's sum overflows, its (Welford) mean does not, and
    // avg_over_time answers the mean there, as raw does once its running sum overflows.
    const rnd = mulberry32(9);
    const G = H;
    const n = 2000;
    const timestampsMs = Float64Array.from({ length: n }, (_, i) => T0 + i * 60_000 + 7);
    const values = Float64Array.from({ length: n }, (_, i) => (i % 50 === 0 ? 1.7e308 : 1e308 * (0.5 + rnd())));
    const runs: BucketRange[] = partitionBuckets(timestampsMs, values, [T0 + 7 * H, T0 + 19 * H], G).map((b) => ({ buckets: b, lo: 0, hi: b.length }));
    const joined = concatAll(runs);
    let finiteMeans = 0;
    for (const fn of ['avg_over_time', 'sum_over_time', 'count_over_time']) {
      for (const [rangeMs, edges] of [
        [3 * H, false],
        [H, false],
        [2 * H + 60_000, true],
      ] as const) {
        const steps = 30;
        // The references add bucket by bucket to the accumulator (evalRollupGrid would take
        // evalRollupGridRuns itself).
        const edgeWant = edges ? evalRollupEdgeGrid(joined, fn, rangeMs, T0, H, steps, 0) : undefined;
        const into = { values: new Float64Array(steps), present: new Uint8Array(steps) };
        const got = evalRollupGridRuns(runs, G, fn, rangeMs, T0, H, steps, 0, into, edges ? [] : undefined)!;
        for (let k = 0; k < steps; k++) {
          const w = edgeWant !== undefined ? (edgeWant.present[k] === 1 ? edgeWant.values[k] : undefined) : evalRollupWindow(joined, fn, T0 + k * H, rangeMs);
          const g = got.present[k] === 1 ? got.values[k] : undefined;
          if (!sameBits(g, w)) throw new Error(`${fn} range ${rangeMs} at step ${k}: ${g} != ${w}`);
          if (fn === 'avg_over_time' && w !== undefined && Number.isFinite(w) && Math.abs(w) > 1e307) finiteMeans++;
        }
      }
    }
    expect(finiteMeans).toBeGreaterThan(20);
  });

  test('declines what is not an aligned window grid (the caller joins)', () => {
    const b = buildBuckets(Float64Array.of(T0 + 1000), Float64Array.of(1), H);
    const runs = [{ buckets: b, lo: 0, hi: 1 }];
    const into = { values: new Float64Array(4), present: new Uint8Array(4) };
    expect(evalRollupGridRuns(runs, H, 'irate', H, T0 + H, H, 4, 0, into)).toBeUndefined();
    expect(evalRollupGridRuns(runs, H, 'rate', H, T0 + H, H / 2, 4, 0, into)).toBeUndefined();
    expect(evalRollupGridRuns(runs, H, 'rate', H, T0 + H, H, 4, 0, into)).toBe(into);
  });
});

describe('joinSeriesRuns', () => {
  test('equals concatAll per series: runs cut at random rows of shared structs, single runs as views', () => {
    const rnd = mulberry32(11);
    const G = 300_000;
    const series: BucketRange[][] = [];
    for (let s = 0; s < 40; s++) {
      const { timestampsMs, values } = genSamples(LEVEL_SHAPES[s % LEVEL_SHAPES.length]!, T0, T0 + DAY, 20_000, rnd);
      if (timestampsMs.length === 0) continue;
      // Cut the samples into 1-4 partitions at random times; each partition's buckets are a run.
      const cuts = Array.from({ length: s % 4 }, () => T0 + Math.floor(rnd() * DAY)).sort((x, y) => x - y);
      const runs: BucketRange[] = [];
      for (const part of partitionBuckets(timestampsMs, values, cuts, G)) {
        // Embed the run in a bigger struct (as a decoded record batch holds it).
        const pad = Math.floor(rnd() * 5);
        const big = new RollupBuckets(G, part.length + 2 * pad);
        const whole = concatAll([{ buckets: part, lo: 0, hi: part.length }]);
        for (const f of ['endMs', 'count', 'sum', 'sumC', 'mean', 'm2', 'min', 'max', 'firstT', 'firstV', 'lastT', 'lastV', 'prevT', 'prevV', 'correction', 'resets', 'changes', 'lastStaleT'] as const) {
          (big[f] as Float64Array).set(whole[f] as Float64Array, pad);
        }
        runs.push({ buckets: big, lo: pad, hi: pad + part.length });
      }
      if (runs.length > 0) series.push(runs);
    }
    const joined = joinSeriesRuns(series, G);
    expect(joined.length).toBe(series.length);
    series.forEach((runs, i) => {
      const want = concatAll(runs);
      expect(bucketsDiff(joined[i]!, want), `series ${i}`).toBeUndefined();
      joined[i]!.assertInvariants();
    });
    expect(series.some((r) => r.length === 1) && series.some((r) => r.length > 1)).toBe(true);
  });

  test('buffers given back are reused, and a reused buffer shows nothing of the earlier join', () => {
    const rnd = mulberry32(5);
    const G = 300_000;
    const make = (shift: number): BucketRange[][] =>
      Array.from({ length: 30 }, (_, s) => {
        const { timestampsMs, values } = genSamples(LEVEL_SHAPES[(s + shift) % LEVEL_SHAPES.length]!, T0, T0 + DAY, 15_000, rnd);
        const cut = T0 + Math.floor(rnd() * DAY);
        let k = 0;
        while (k < timestampsMs.length && timestampsMs[k]! < cut) k++;
        const a = buildBuckets(timestampsMs.subarray(0, k), values.subarray(0, k), G);
        const b = buildBuckets(timestampsMs.subarray(k), values.subarray(k), G);
        return [{ buckets: a, lo: 0, hi: a.length }, { buckets: b, lo: 0, hi: b.length }].filter((r) => r.hi > 0);
      }).filter((runs) => runs.length > 1);
    const first = make(0);
    const pooled1: ArrayBuffer[] = [];
    joinSeriesRuns(first, G, pooled1);
    expect(pooled1.length).toBeGreaterThan(0);
    const given = [...pooled1];
    releaseJoinBuffers(pooled1);
    expect(pooled1).toEqual([]);
    const second = make(3);
    const pooled2: ArrayBuffer[] = [];
    const joined = joinSeriesRuns(second, G, pooled2);
    expect(pooled2.some((b) => given.includes(b))).toBe(true);
    second.forEach((runs, i) => expect(bucketsDiff(joined[i]!, concatAll(runs)), `series ${i}`).toBeUndefined());
    releaseJoinBuffers(pooled2);
  });

  test('refuses overlapping runs, as concatAll does', () => {
    const a = buildBuckets(Float64Array.of(T0 + 1, T0 + 400_000), Float64Array.of(1, 2), 300_000);
    expect(() => joinSeriesRuns([[{ buckets: a, lo: 0, hi: 2 }, { buckets: a, lo: 0, hi: 2 }]], 300_000)).toThrow(/overlap/);
  });
});
