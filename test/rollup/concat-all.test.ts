// concatAll(): the bucket runs of consecutive pieces (partitions, raw gaps) joined into one, as
// if the buckets had been built from all the samples at once.
import { describe, expect, it } from 'vitest';
import { buildBuckets, concatAll, RollupBuckets, sliceBuckets } from '../../src/rollup/buckets.js';
import { STALE_NAN } from '../../src/model/samples.js';
import { mulberry32 } from '../helpers/prng.js';

const FIELDS = ['endMs', 'count', 'sum', 'sumC', 'min', 'max', 'firstT', 'firstV', 'lastT', 'lastV', 'prevT', 'prevV', 'correction', 'resets', 'changes', 'lastStaleT'] as const;

function expectSame(a: RollupBuckets, b: RollupBuckets): void {
  expect(a.length).toBe(b.length);
  for (const f of FIELDS) expect(Array.from(a[f]), f).toEqual(Array.from(b[f]));
}

describe('concatAll', () => {
  it('joins runs cut at arbitrary sample times into what buildBuckets gives for all samples', () => {
    const rnd = mulberry32(11);
    for (let trial = 0; trial < 200; trial++) {
      const n = Math.floor(rnd() * 200);
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      let t = 1_000_000;
      let v = 0;
      for (let i = 0; i < n; i++) {
        t += 1 + Math.floor(rnd() * 40_000);
        ts[i] = t;
        if (rnd() < 0.03) vs[i] = STALE_NAN;
        else vs[i] = v = rnd() < 0.05 ? 0 : v + Math.floor(rnd() * 10); // integer counter: sums are exact
      }
      const G = [60_000, 300_000][trial % 2]!;
      const cuts = [0, ...Array.from({ length: Math.floor(rnd() * 5) }, () => Math.floor(rnd() * (n + 1)))].sort((a, b) => a - b);
      cuts.push(n);
      const runs: RollupBuckets[] = [];
      for (let k = 0; k + 1 < cuts.length; k++) runs.push(buildBuckets(ts.subarray(cuts[k]!, cuts[k + 1]!), vs.subarray(cuts[k]!, cuts[k + 1]!), G));
      const joined = concatAll(runs);
      joined.assertInvariants();
      const whole = buildBuckets(ts, vs, G);
      expect(Array.from(joined.endMs)).toEqual(Array.from(whole.endMs));
      for (const f of ['count', 'min', 'max', 'firstT', 'firstV', 'lastT', 'lastV', 'prevT', 'prevV', 'resets', 'changes', 'lastStaleT', 'correction'] as const) {
        expect(Array.from(joined[f]), f).toEqual(Array.from(whole[f]));
      }
    }
  });

  it('refuses runs out of order or sharing samples, and slices keep every field', () => {
    const a = buildBuckets(Float64Array.from([10, 70_000]), Float64Array.from([1, 2]), 60_000);
    const b = buildBuckets(Float64Array.from([130_000]), Float64Array.from([3]), 60_000);
    expect(() => concatAll([b, a])).toThrow(/overlap/);
    // One bucket split across two runs must have the first run's samples first.
    const early = buildBuckets(Float64Array.from([20_000]), Float64Array.from([9]), 60_000);
    const late = buildBuckets(Float64Array.from([40_000]), Float64Array.from([9]), 60_000);
    expect(concatAll([early, late]).count[0]).toBe(2);
    expect(() => concatAll([late, early])).toThrow(/samples of the shared bucket overlap/);
    expect(() => concatAll([])).toThrow();
    expectSame(concatAll([a]), a);
    const whole = concatAll([a, b]);
    expectSame(concatAll([sliceBuckets(whole, 0, 1), sliceBuckets(whole, 1, 3)]), whole);
  });
});

describe('sparse structs (a level reader cache entry)', () => {
  it('read zeros until a column gets memory of its own, which no other struct shares', () => {
    const a = new RollupBuckets(60_000, 100, { sparse: true });
    const b = new RollupBuckets(60_000, 300, { sparse: true });
    for (const s of [a, b]) for (const f of FIELDS) expect(s[f].every((v) => v === 0), f).toBe(true);
    expect(a.allocColumn('sum')).toBe(800);
    expect(a.allocColumn('sum')).toBe(0);
    expect(a.allocColumn('count')).toBe(400);
    a.sum.fill(7);
    a.count.fill(3);
    expect(a.sum.length).toBe(100);
    // The other columns of a, and every column of b, still read zeros.
    for (const f of FIELDS) if (f !== 'sum' && f !== 'count') expect(a[f].every((v) => v === 0), f).toBe(true);
    for (const f of FIELDS) expect(b[f].every((v) => v === 0), f).toBe(true);
    expect(new RollupBuckets(60_000, 50, { sparse: true }).sum.every((v) => v === 0)).toBe(true);
  });
});
