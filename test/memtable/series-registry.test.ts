import { describe, expect, it } from 'vitest';
import { SeriesRegistry } from '../../src/memtable/series-registry.js';
import { MochaError } from '../../src/errors.js';
import { getLabel, labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import { newMatcher, type Matcher, type MatchType } from '../../src/model/matchers.js';
import { RoaringBitmap32, selectPostings } from '../../src/model/postings.js';
import { mulberry32 } from '../helpers/prng.js';

function L(record: Record<string, string>): Labels {
  return labelsFromRecord(record);
}

function add(reg: SeriesRegistry, record: Record<string, string>): number {
  const labels = L(record);
  return reg.create(labels, labelsKey(labels));
}

describe('SeriesRegistry', () => {
  it('creates refs from 1 upwards and looks them up both ways', () => {
    const reg = new SeriesRegistry();
    const a = add(reg, { __name__: 'up', job: 'a' });
    const b = add(reg, { __name__: 'up', job: 'b' });
    expect([a, b]).toEqual([1, 2]);
    expect(reg.getRef(labelsKey(L({ __name__: 'up', job: 'b' })))).toBe(2);
    expect(reg.getRef(labelsKey(L({ __name__: 'up', job: 'c' })))).toBeUndefined();
    expect(reg.labelsOf(1)).toEqual(L({ __name__: 'up', job: 'a' }));
    expect(reg.keyOf(2)).toBe(labelsKey(L({ __name__: 'up', job: 'b' })));
    expect(reg.hasRef(2)).toBe(true);
    expect(reg.hasRef(3)).toBe(false);
    expect(reg.size).toBe(2);
    expect(reg.labelNames()).toEqual(['__name__', 'job']);
    expect(reg.postings('job', 'a')!.toArray()).toEqual([1]);
    expect(reg.postings('__name__', 'up')!.toArray()).toEqual([1, 2]);
    expect(reg.allPostings().toArray()).toEqual([1, 2]);
    expect([...reg.labelValues('job')].sort()).toEqual(['a', 'b']);
    expect([...reg.labelValues('nope')]).toEqual([]);
    expect(() => reg.labelsOf(3)).toThrow(/not registered/);
    expect(() => add(reg, { __name__: 'up', job: 'a' })).toThrow(/already registered/);
    reg.assertInvariants();
  });

  it('allPostings returns a copy the caller may mutate', () => {
    const reg = new SeriesRegistry();
    add(reg, { a: '1' });
    reg.allPostings().add(99);
    expect(reg.allPostings().toArray()).toEqual([1]);
    reg.assertInvariants();
  });

  it('restore is idempotent, keeps the recorded ref and moves nextRef past it', () => {
    const reg = new SeriesRegistry();
    const x = L({ __name__: 'x' });
    reg.restore(10, x);
    reg.restore(10, x);
    reg.restore(3, L({ __name__: 'y' }));
    expect(reg.size).toBe(2);
    expect(reg.getRef(labelsKey(x))).toBe(10);
    expect(add(reg, { __name__: 'z' })).toBe(11);
    reg.assertInvariants();
  });

  it('restore of a ref with other labels is WAL corruption', () => {
    const reg = new SeriesRegistry();
    reg.restore(1, L({ __name__: 'x' }));
    let err: unknown;
    try {
      reg.restore(1, L({ __name__: 'y' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MochaError);
    expect((err as MochaError).code).toBe('WAL_CORRUPT');
    expect((err as MochaError).where).toEqual({ ref: 1 });
    for (const bad of [0, -1, 1.5, 2 ** 32, NaN]) expect(() => reg.restore(bad, L({ a: 'b' }))).toThrow(MochaError);
    expect(reg.labelsOf(1)).toEqual(L({ __name__: 'x' }));
    reg.assertInvariants();
  });

  it('accepts one label set under two refs (crash mid-flush) and answers the newest', () => {
    const reg = new SeriesRegistry();
    const a = L({ __name__: 'a' });
    reg.restore(5, a);
    reg.restore(9, a);
    reg.restore(7, a); // an older alias arriving late does not take the key
    expect(reg.hasAliases).toBe(true);
    expect(reg.getRef(labelsKey(a))).toBe(9);
    expect(reg.postings('__name__', 'a')!.toArray()).toEqual([5, 7, 9]);
    reg.assertInvariants();
    // Dropping the newest hands the key to the newest remaining alias.
    expect(reg.retainOnly(RoaringBitmap32.of(5, 7))).toBe(1);
    expect(reg.getRef(labelsKey(a))).toBe(7);
    reg.assertInvariants();
    expect(reg.retainOnly(RoaringBitmap32.of(7))).toBe(1);
    expect(reg.getRef(labelsKey(a))).toBe(7);
    expect(reg.hasAliases).toBe(false);
    reg.assertInvariants();
    expect(reg.retainOnly(new RoaringBitmap32())).toBe(1);
    expect(reg.getRef(labelsKey(a))).toBeUndefined();
    expect(reg.size).toBe(0);
    reg.assertInvariants();
  });

  it('retainOnly drops series, their postings and empty label names; refs are not reused', () => {
    const reg = new SeriesRegistry();
    for (let i = 0; i < 50; i++) add(reg, { __name__: `m${i % 5}`, i: String(i), ...(i % 10 === 0 ? { rare: 'yes' } : {}) });
    const before = reg.bytesEstimate();
    const keep = new RoaringBitmap32();
    for (let r = 2; r <= 50; r += 2) keep.add(r); // even refs: i odd; rare only on odd refs (i % 10 == 0)
    keep.add(1000); // refs not registered are ignored
    expect(reg.retainOnly(keep)).toBe(25);
    expect(reg.size).toBe(25);
    expect(reg.labelNames()).toEqual(['__name__', 'i']);
    expect(reg.postings('rare', 'yes')).toBeUndefined();
    expect(reg.postings('i', '0')).toBeUndefined();
    expect(reg.postings('i', '1')!.toArray()).toEqual([2]);
    expect(reg.hasRef(1)).toBe(false);
    expect(reg.getRef(labelsKey(L({ __name__: 'm0', i: '0', rare: 'yes' })))).toBeUndefined();
    expect(reg.bytesEstimate()).toBeLessThan(before);
    expect(reg.retainOnly(keep)).toBe(0);
    expect(add(reg, { __name__: 'new' })).toBe(51);
    reg.assertInvariants();
  });

  it('bytesEstimate grows with series and returns to zero when all are dropped', () => {
    const reg = new SeriesRegistry();
    expect(reg.bytesEstimate()).toBe(0);
    add(reg, { __name__: 'a', x: '1' });
    const one = reg.bytesEstimate();
    expect(one).toBeGreaterThan(0);
    add(reg, { __name__: 'a', x: '2' });
    expect(reg.bytesEstimate()).toBeGreaterThan(one);
    reg.retainOnly(new RoaringBitmap32());
    expect(reg.bytesEstimate()).toBe(0);
  });

  it('selectPostings over the registry equals a brute-force filter (random label sets and matchers)', () => {
    const rnd = mulberry32(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const names = ['__name__', 'job', 'instance', 'env', 'code'];
    const values = ['a', 'b', 'c', 'ab', 'abc', 'x-1', 'x-2', 'prod', 'dev'];
    const reg = new SeriesRegistry();
    const all: Array<{ ref: number; labels: Labels }> = [];
    for (let i = 0; i < 400; i++) {
      const rec: Record<string, string> = { __name__: pick(['up', 'req', 'lat']) };
      for (const n of names.slice(1)) if (rnd() < 0.6) rec[n] = pick(values);
      const labels = L(rec);
      const key = labelsKey(labels);
      if (reg.getRef(key) !== undefined) continue;
      all.push({ ref: reg.create(labels, key), labels });
    }
    // Drop a third so postings have gone through removal too.
    const keep = new RoaringBitmap32(all.filter((s) => s.ref % 3 !== 0).map((s) => s.ref));
    reg.retainOnly(keep);
    const live = all.filter((s) => s.ref % 3 !== 0);
    reg.assertInvariants();

    const types: MatchType[] = ['=', '!=', '=~', '!~'];
    const regexes = ['a.*', '.*', '.+', 'a|b', 'x-.', '', 'prod|', '(?i)PROD', '[ab]+c?', 'up'];
    let nonTrivial = 0;
    for (let q = 0; q < 300; q++) {
      const matchers: Matcher[] = [];
      const count = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < count; k++) {
        const type = pick(types);
        const value = type === '=' || type === '!=' ? pick([...values, '', 'up', 'req']) : pick(regexes);
        matchers.push(newMatcher(type, pick([...names, 'missing']), value));
      }
      const got = selectPostings(reg, matchers).toArray();
      const want = live
        .filter((s) => matchers.every((m) => m.matches(getLabel(s.labels, m.name))))
        .map((s) => s.ref)
        .sort((a, b) => a - b);
      expect(got, matchers.map((m) => `${m.name}${m.type}"${m.value}"`).join(',')).toEqual(want);
      if (want.length > 0 && want.length < live.length) nonTrivial++;
    }
    expect(nonTrivial).toBeGreaterThan(50); // the generator exercises real selections
    expect(selectPostings(reg, []).toArray()).toEqual(live.map((s) => s.ref));
  });
});
