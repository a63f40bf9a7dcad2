// The exemplar store alone: the circular bound, dedup, time order at query, tenant isolation,
// selection by matchers, and what it hands the engine to re-log (retained) and takes back (replay).
import { describe, expect, it } from 'vitest';
import { ExemplarStore, exemplarLabelRunes } from '../../src/exemplars/store.js';
import { RejectionTally, type ExemplarInput } from '../../src/ingest/pipeline.js';
import { labelsFromRecord, labelsKey } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { mulberry32 } from '../helpers/prng.js';

function ex(series: Record<string, string>, traceId: string, timestampMs: number, value = 1): ExemplarInput {
  const sl = labelsFromRecord(series);
  return { seriesLabels: sl, seriesKey: labelsKey(sl), labels: labelsFromRecord({ trace_id: traceId }), timestampMs, value };
}

function add(store: ExemplarStore, tenant: string, list: ExemplarInput[]): number {
  const rejected = new RejectionTally();
  const admitted = store.admit(tenant, list, rejected);
  return store.append(tenant, admitted);
}

const all = [[newMatcher('=~', '__name__', '.+')]];

describe('ExemplarStore', () => {
  it('keeps at most the capacity per tenant, dropping the oldest of the whole buffer first', () => {
    const store = new ExemplarStore({ capacityFor: () => 5 });
    for (let i = 0; i < 12; i++) add(store, 't', [ex({ __name__: i % 2 === 0 ? 'even' : 'odd' }, `tr${i}`, 1000 + i)]);
    expect(store.size()).toBe(5);
    const got = store.select('t', all, -Infinity, Infinity);
    expect(got.map((s) => [s.seriesLabels[0]!.value, s.exemplars.map((e) => e.timestampMs)])).toEqual([
      ['even', [1008, 1010]],
      ['odd', [1007, 1009, 1011]],
    ]);
    store.assertInvariants();
  });

  it('a series whose exemplars were all overwritten disappears from the index', () => {
    const store = new ExemplarStore({ capacityFor: () => 3 });
    add(store, 't', [ex({ __name__: 'gone' }, 'a', 1)]);
    for (let i = 0; i < 3; i++) add(store, 't', [ex({ __name__: 'stays' }, `b${i}`, 10 + i)]);
    expect(store.select('t', all, -Infinity, Infinity).map((s) => s.seriesLabels[0]!.value)).toEqual(['stays']);
    store.assertInvariants();
  });

  it('drops exact duplicates however old, in the buffer or within one batch; near-duplicates are kept', () => {
    const store = new ExemplarStore({ capacityFor: () => 100 });
    const a = ex({ __name__: 'm' }, 'x', 1000, 1);
    expect(add(store, 't', [a, a])).toBe(1);
    add(store, 't', [ex({ __name__: 'm' }, 'y', 2000, 2)]);
    expect(add(store, 't', [a])).toBe(0); // not the newest any more: still a duplicate
    expect(add(store, 't', [ex({ __name__: 'm' }, 'x', 1000, 1.5)])).toBe(1); // other value
    expect(add(store, 't', [ex({ __name__: 'm' }, 'z', 1000, 1)])).toBe(1); // other labels
    expect(add(store, 't', [ex({ __name__: 'm2' }, 'x', 1000, 1)])).toBe(1); // other series
    expect(store.size()).toBe(5);
  });

  it('answers exemplars in time order even when they arrived out of order, within [start, end]', () => {
    const store = new ExemplarStore({ capacityFor: () => 100 });
    add(store, 't', [ex({ __name__: 'm' }, 'c', 3000), ex({ __name__: 'm' }, 'a', 1000), ex({ __name__: 'm' }, 'b', 2000), ex({ __name__: 'm' }, 'd', 4000)]);
    const got = store.select('t', all, 2000, 3000);
    expect(got).toHaveLength(1);
    expect(got[0]!.exemplars.map((e) => e.labels[0]!.value)).toEqual(['b', 'c']);
    expect(store.select('t', all, 5000, 6000)).toEqual([]);
  });

  it('keeps tenants apart, each with its own capacity', () => {
    const store = new ExemplarStore({ capacityFor: (t) => (t === 'small' ? 1 : 10) });
    add(store, 'small', [ex({ __name__: 'm' }, 'a', 1), ex({ __name__: 'm' }, 'b', 2)]);
    add(store, 'big', [ex({ __name__: 'm' }, 'a', 1), ex({ __name__: 'm' }, 'b', 2)]);
    expect(store.select('small', all, -Infinity, Infinity)[0]!.exemplars.map((e) => e.labels[0]!.value)).toEqual(['b']);
    expect(store.select('big', all, -Infinity, Infinity)[0]!.exemplars).toHaveLength(2);
    expect(store.select('nobody', all, -Infinity, Infinity)).toEqual([]);
    // Dedup is per tenant too.
    expect(add(store, 'other', [ex({ __name__: 'm' }, 'b', 2)])).toBe(1);
  });

  it('selects series matching any one matcher set (one per selector), all matchers of the set', () => {
    const store = new ExemplarStore({ capacityFor: () => 100 });
    add(store, 't', [ex({ __name__: 'a', job: 'x' }, '1', 1), ex({ __name__: 'a', job: 'y' }, '2', 1), ex({ __name__: 'b', job: 'x' }, '3', 1)]);
    const names = (sets: Parameters<ExemplarStore['select']>[1]) => store.select('t', sets, -Infinity, Infinity).map((s) => s.exemplars[0]!.labels[0]!.value);
    expect(names([[newMatcher('=', '__name__', 'a'), newMatcher('=', 'job', 'x')]])).toEqual(['1']);
    expect(names([[newMatcher('=', '__name__', 'a'), newMatcher('!=', 'job', 'x')], [newMatcher('=', '__name__', 'b')]])).toEqual(['2', '3']);
    expect(names([[newMatcher('=', 'missing', '')]])).toEqual(['1', '2', '3']); // absent label matches ""
    expect(names([])).toEqual([]);
  });

  it('refuses labels over 128 runes (names and values, code points not UTF-16 units)', () => {
    const store = new ExemplarStore({ capacityFor: () => 100 });
    expect(exemplarLabelRunes(labelsFromRecord({ trace_id: '😀'.repeat(3) }))).toBe(11);
    const rejected = new RejectionTally();
    const ok = ex({ __name__: 'm' }, 'x'.repeat(120), 1);
    const tooLong = ex({ __name__: 'm' }, 'x'.repeat(121), 2);
    expect(store.admit('t', [ok, tooLong], rejected)).toEqual([ok]);
    expect(rejected.exemplars).toBe(1);
  });

  it('retained() is everything held, oldest first, and replay() of it rebuilds the same answers', () => {
    const rnd = mulberry32(7);
    const store = new ExemplarStore({ capacityFor: () => 50 });
    for (let i = 0; i < 200; i++) add(store, i % 3 === 0 ? 'a' : 'b', [ex({ __name__: 'm', s: String(Math.floor(rnd() * 10)) }, `t${i}`, 1000 + Math.floor(rnd() * 500), i)]);
    const copy = new ExemplarStore({ capacityFor: () => 50 });
    for (const { tenant, exemplars } of store.retained()) copy.replay(tenant, exemplars);
    for (const t of ['a', 'b']) expect(copy.select(t, all, -Infinity, Infinity)).toEqual(store.select(t, all, -Infinity, Infinity));
    // Replaying the same records twice (a crash between a flush's re-log and its WAL truncation) changes nothing.
    for (const { tenant, exemplars } of store.retained()) copy.replay(tenant, exemplars);
    expect(copy.size()).toBe(store.size());
    copy.assertInvariants();
  });
});
