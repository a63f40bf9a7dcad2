import { describe, expect, it } from 'vitest';
import { Head, type PackedHead } from '../../src/memtable/head.js';
import { CHUNK_SAMPLES } from '../../src/memtable/chunks.js';
import { SeriesRegistry } from '../../src/memtable/series-registry.js';
import { labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import { newMatcher } from '../../src/model/matchers.js';
import { STALE_NAN, isStaleAt } from '../../src/model/samples.js';
import { mulberry32 } from '../helpers/prng.js';

function setup(n = 3): { reg: SeriesRegistry; head: Head; refs: number[] } {
  const reg = new SeriesRegistry();
  const refs: number[] = [];
  for (let i = 0; i < n; i++) {
    const labels = labelsFromRecord({ __name__: i % 2 === 0 ? 'up' : 'down', i: String(i) });
    refs.push(reg.create(labels, labelsKey(labels)));
  }
  return { reg, head: new Head(reg), refs };
}

function run(head: Head, ref: number, minT = -Infinity, maxT = Infinity): Array<[number, number]> {
  const r = head.samplesOf(ref, minT, maxT);
  if (r === undefined) return [];
  return Array.from(r.timestampsMs, (t, i) => [t, r.values[i]!]);
}

function bitsOf(values: Float64Array, i: number): string {
  const w = new Uint32Array(values.buffer, values.byteOffset + i * 8, 2);
  return w[1]!.toString(16).padStart(8, '0') + w[0]!.toString(16).padStart(8, '0');
}

function unpack(p: PackedHead): Map<string, Array<[number, number]>> {
  const labels = JSON.parse(p.labelsJson) as Labels[];
  expect(labels.length).toBe(p.refs.length);
  expect(p.offsets.length).toBe(p.refs.length + 1);
  const out = new Map<string, Array<[number, number]>>();
  for (let i = 0; i < labels.length; i++) {
    const rows: Array<[number, number]> = [];
    for (let j = p.offsets[i]!; j < p.offsets[i + 1]!; j++) rows.push([p.timestampsMs[j]!, p.values[j]!]);
    out.set(labelsKey(labels[i]!), rows);
  }
  return out;
}

describe('Head', () => {
  it('is empty at first', () => {
    const { head } = setup();
    expect(head.minTMs).toBe(Infinity);
    expect(head.maxTMs).toBe(-Infinity);
    expect(head.sampleCount).toBe(0);
    expect(head.seriesCount).toBe(0);
    expect(head.refs().isEmpty).toBe(true);
    expect(head.pack().offsets).toEqual(new Uint32Array([0]));
    head.assertInvariants();
  });

  it('keeps in-order samples across chunk boundaries', () => {
    const { head, refs } = setup();
    const n = CHUNK_SAMPLES * 3 + 5;
    for (let i = 0; i < n; i++) head.append(refs[0]!, 1000 + i * 10, i * 1.5);
    expect(run(head, refs[0]!)).toEqual(Array.from({ length: n }, (_, i) => [1000 + i * 10, i * 1.5]));
    expect(head.sampleCount).toBe(n);
    expect(head.seriesCount).toBe(1);
    expect(head.minTMs).toBe(1000);
    expect(head.maxTMs).toBe(1000 + (n - 1) * 10);
    expect(head.refs().toArray()).toEqual([refs[0]]);
    expect(head.samplesOf(refs[1]!, -Infinity, Infinity)).toBeUndefined();
    head.assertInvariants();
  });

  it('sorts out-of-order samples and keeps the last write of a duplicate timestamp', () => {
    const { head, refs } = setup();
    const r = refs[0]!;
    head.append(r, 10, 1);
    head.append(r, 30, 3);
    head.append(r, 20, 2); // out of order
    head.append(r, 30, 33); // duplicate of the max
    head.append(r, 5, 0.5); // older than everything
    head.append(r, 20, 22); // duplicate of an older out-of-order timestamp
    head.append(r, 5, 0.55);
    head.assertInvariants();
    expect(run(head, r)).toEqual([
      [5, 0.55],
      [10, 1],
      [20, 22],
      [30, 33],
    ]);
    expect(head.sampleCount).toBe(4); // the read de-duplicated
    head.assertInvariants();
    // Appends after a sort keep working, in and out of order.
    head.append(r, 40, 4);
    head.append(r, 10, 11);
    expect(run(head, r)).toEqual([
      [5, 0.55],
      [10, 11],
      [20, 22],
      [30, 33],
      [40, 4],
    ]);
    expect(head.minTMs).toBe(5);
    expect(head.maxTMs).toBe(40);
    head.assertInvariants();
  });

  it('a sorted read is a snapshot: later appends and sorts do not change it', () => {
    const { head, refs } = setup();
    const r = refs[0]!;
    for (let i = 0; i < 20; i++) head.append(r, i * 10, i);
    const before = head.samplesOf(r, -Infinity, Infinity)!;
    head.append(r, 5, 100);
    head.append(r, 50, 200);
    expect(run(head, r).length).toBe(21);
    expect(Array.from(before.values)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('preserves the stale marker bits, other NaNs and infinities, through append, appendMany, sort and pack', () => {
    const { head, refs } = setup();
    const r = refs[0]!;
    const weird = new Float64Array(4);
    weird[0] = STALE_NAN;
    new Uint32Array(weird.buffer, 8, 2).set([0x1234, 0x7ff80000]); // a quiet NaN with a payload
    weird[2] = Infinity;
    weird[3] = -Infinity;
    const wantBits = [0, 1, 2, 3].map((i) => bitsOf(weird, i));
    // Warm the paths so optimized code is exercised too.
    for (let rep = 0; rep < 2000; rep++) {
      head.append(r, 1_000_000 + rep, weird[rep % 4]!);
    }
    head.appendMany(refs[1]!, new Float64Array([40, 30, 20, 10]), weird); // reversed: sorted on read
    head.append(r, 500, weird[0]!); // out of order: the series is sorted on read
    const a = head.samplesOf(r, -Infinity, Infinity)!;
    expect(isStaleAt(a.values, 0)).toBe(true);
    for (let i = 1; i < a.values.length; i++) expect(bitsOf(a.values, i)).toBe(wantBits[(i - 1) % 4]);
    const b = head.samplesOf(refs[1]!, -Infinity, Infinity)!;
    expect(Array.from(b.timestampsMs)).toEqual([10, 20, 30, 40]);
    expect([0, 1, 2, 3].map((i) => bitsOf(b.values, i))).toEqual([...wantBits].reverse());
    const p = head.pack();
    expect(isStaleAt(p.values, 0)).toBe(true);
    const off = p.offsets[1]!;
    expect([0, 1, 2, 3].map((i) => bitsOf(p.values, off + i))).toEqual([...wantBits].reverse());
    head.assertInvariants();
  });

  it('trims to [minT, maxT] inclusive', () => {
    const { head, refs } = setup();
    const r = refs[0]!;
    for (let i = 0; i < 50; i++) head.append(r, i * 10, i);
    expect(run(head, r, 100, 200).map((x) => x[0])).toEqual([100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200]);
    expect(run(head, r, 101, 109)).toEqual([]);
    expect(head.samplesOf(r, 101, 109)).toBeUndefined();
    expect(run(head, r, 155, 175).map((x) => x[0])).toEqual([160, 170]);
    expect(run(head, r, -5, 0)).toEqual([[0, 0]]);
    expect(run(head, r, 490, 1e9)).toEqual([[490, 49]]);
    expect(head.samplesOf(r, 491, 1e9)).toBeUndefined();
    expect(head.samplesOf(r, 200, 100)).toBeUndefined();
  });

  it('select applies matchers, the time range and withSamples', async () => {
    const { head, refs, reg } = setup(6);
    for (let k = 0; k < 6; k++) for (let i = 0; i < 10; i++) head.append(refs[k]!, 1000 * k + i * 100, k * 100 + i);
    const up = [newMatcher('=', '__name__', 'up')];
    const all = await head.select(up, -Infinity, Infinity, true);
    expect(all.map((s) => s.key)).toEqual([0, 2, 4].map((k) => reg.keyOf(refs[k]!)));
    expect(all[1]!.labels).toEqual(reg.labelsOf(refs[2]!));
    expect(Array.from(all[1]!.timestampsMs)).toEqual(Array.from({ length: 10 }, (_, i) => 2000 + i * 100));
    // Range cuts series 0 (ends at 900) and 4 (starts at 4000); a gap inside series 2 also counts as absent.
    const mid = await head.select(up, 1000, 3999, true);
    expect(mid.map((s) => s.key)).toEqual([reg.keyOf(refs[2]!)]);
    expect((await head.select(up, 2950, 2990, true)).length).toBe(0);
    expect((await head.select(up, 2950, 2990, false)).length).toBe(0);
    const noSamples = await head.select(up, 2000, 2000, false);
    expect(noSamples.length).toBe(1);
    expect(noSamples[0]!.timestampsMs.length).toBe(0);
    expect(noSamples[0]!.values.length).toBe(0);
    const re = await head.select([newMatcher('=~', 'i', '1|2|3'), newMatcher('!=', '__name__', 'down')], -Infinity, Infinity, false);
    expect(re.map((s) => s.key)).toEqual([reg.keyOf(refs[2]!)]);
    // A matcher matching "" selects series lacking the label.
    expect((await head.select([newMatcher('=', 'missing', '')], -Infinity, Infinity, false)).length).toBe(6);
    expect((await head.select([newMatcher('=', 'i', '9')], -Infinity, Infinity, true)).length).toBe(0);
    // Registered series without samples in this head are not returned.
    const labels = labelsFromRecord({ __name__: 'up', i: 'empty' });
    reg.create(labels, labelsKey(labels));
    expect((await head.select(up, -Infinity, Infinity, false)).length).toBe(3);
    expect(await head.select(up, 10_000, 20_000, true)).toEqual([]);
  });

  it('bytesEstimate grows with samples and series', () => {
    const { head, refs } = setup(3);
    const empty = head.bytesEstimate();
    head.append(refs[0]!, 1, 1);
    const one = head.bytesEstimate();
    expect(one).toBeGreaterThan(empty);
    let last = one;
    let grew = 0;
    for (let i = 2; i < 100_000; i++) {
      head.append(refs[i % 3]!, i, i);
      if (i % 97 !== 0) continue;
      const b = head.bytesEstimate();
      expect(b).toBeGreaterThanOrEqual(last);
      if (b > last) grew++;
      last = b;
    }
    expect(grew).toBeGreaterThan(5);
    // Within 2x of the raw 16 bytes/sample for this many samples.
    expect(last).toBeLessThan(100_000 * 16 * 2);
    expect(last).toBeGreaterThan(100_000 * 16);
  });

  it('pack() round-trips every series sorted and de-duplicated', () => {
    const { head, refs, reg } = setup(4);
    head.append(refs[2]!, 30, 3);
    head.append(refs[2]!, 10, 1);
    head.append(refs[2]!, 30, 33);
    head.appendMany(refs[0]!, new Float64Array([1, 2, 3]), new Float64Array([10, 20, 30]));
    const p = head.pack();
    expect(Array.from(p.refs)).toEqual([refs[0], refs[2]]);
    expect(Array.from(p.offsets)).toEqual([0, 3, 5]);
    const m = unpack(p);
    expect(m.get(reg.keyOf(refs[0]!))).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
    ]);
    expect(m.get(reg.keyOf(refs[2]!))).toEqual([
      [10, 1],
      [30, 33],
    ]);
    // Fresh buffers of exact size (they are transferred to a worker).
    expect(p.timestampsMs.byteOffset).toBe(0);
    expect(p.timestampsMs.buffer.byteLength).toBe(5 * 8);
    expect(p.values.buffer.byteLength).toBe(5 * 8);
    head.assertInvariants();
  });

  it('freeze prevents appends but not reads', async () => {
    const { head, refs } = setup();
    head.append(refs[0]!, 1, 1);
    head.freeze();
    expect(head.isFrozen).toBe(true);
    expect(() => head.append(refs[0]!, 2, 2)).toThrow(/frozen/);
    expect(() => head.appendMany(refs[0]!, new Float64Array([3]), new Float64Array([3]))).toThrow(/frozen/);
    expect(run(head, refs[0]!)).toEqual([[1, 1]]);
    expect((await head.select([], -Infinity, Infinity, true)).length).toBe(1);
  });

  it('rejects unregistered refs, non-integer timestamps and mismatched arrays', () => {
    const { head, refs } = setup();
    expect(() => head.append(999, 1, 1)).toThrow(/not registered/);
    expect(() => head.append(refs[0]!, 1.5, 1)).toThrow(/integer/);
    expect(() => head.append(refs[0]!, NaN, 1)).toThrow(/integer/);
    expect(() => head.appendMany(refs[0]!, new Float64Array([1, Infinity]), new Float64Array(2))).toThrow(/integer/);
    expect(() => head.appendMany(refs[0]!, new Float64Array(2), new Float64Array(3))).toThrow(/values/);
    head.appendMany(refs[0]!, new Float64Array(0), new Float64Array(0));
    expect(head.sampleCount).toBe(0);
    head.assertInvariants();
  });

  it('merges series that the registry holds under two refs (aliases after a crash mid-flush)', async () => {
    const reg = new SeriesRegistry();
    const a = labelsFromRecord({ __name__: 'a' });
    const b = labelsFromRecord({ __name__: 'b' });
    reg.restore(5, a);
    reg.restore(6, b);
    reg.restore(9, a);
    const head = new Head(reg);
    head.append(5, 10, 1);
    head.append(5, 20, 2);
    head.append(6, 10, 7);
    head.append(9, 20, 22); // newer ref wins on equal timestamps
    head.append(9, 30, 3);
    const sel = await head.select([], -Infinity, Infinity, true);
    expect(sel.map((s) => s.key)).toEqual([labelsKey(a), labelsKey(b)]);
    expect(Array.from(sel[0]!.values)).toEqual([1, 22, 3]);
    const p = head.pack();
    expect(Array.from(p.refs)).toEqual([9, 6]);
    expect(unpack(p).get(labelsKey(a))).toEqual([
      [10, 1],
      [20, 22],
      [30, 3],
    ]);
    expect(Array.from(p.offsets)).toEqual([0, 3, 4]);
    head.assertInvariants();
  });

  it('matches a naive Map<ts, value> model under random appends and reads (seeded)', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const rnd = mulberry32(seed);
      const { reg, head, refs } = setup(12);
      const model = new Map<number, Map<number, number>>();
      const put = (ref: number, t: number, v: number): void => {
        let m = model.get(ref);
        if (!m) model.set(ref, (m = new Map()));
        m.set(t, v);
      };
      const expected = (ref: number, lo: number, hi: number): Array<[number, number]> =>
        [...(model.get(ref) ?? new Map<number, number>()).entries()].filter(([t]) => t >= lo && t <= hi).sort((x, y) => x[0] - y[0]);
      const clock = new Map<number, number>();
      for (let step = 0; step < 3000; step++) {
        const ref = refs[Math.floor(rnd() * refs.length)]!;
        const now = clock.get(ref) ?? 1_000;
        const op = rnd();
        const nextT = (): number => {
          const u = rnd();
          // Mostly in order; sometimes a duplicate or an older timestamp.
          if (u < 0.75) return now + 1 + Math.floor(rnd() * 20);
          if (u < 0.88) return now;
          return Math.max(0, now - Math.floor(rnd() * 200));
        };
        if (op < 0.6) {
          const t = nextT();
          const v = rnd() < 0.05 ? STALE_NAN : Math.round(rnd() * 1000);
          head.append(ref, t, v);
          put(ref, t, v);
          clock.set(ref, Math.max(now, t));
        } else if (op < 0.8) {
          const k = 1 + Math.floor(rnd() * 40);
          const ts = new Float64Array(k);
          const vs = new Float64Array(k);
          let c = now;
          for (let i = 0; i < k; i++) {
            const u = rnd();
            ts[i] = u < 0.8 ? (c += 1 + Math.floor(rnd() * 5)) : u < 0.9 ? c : Math.max(0, c - Math.floor(rnd() * 100));
            vs[i] = Math.round(rnd() * 1000);
          }
          head.appendMany(ref, ts, vs);
          for (let i = 0; i < k; i++) put(ref, ts[i]!, vs[i]!);
          clock.set(ref, Math.max(now, c));
        } else if (op < 0.95) {
          const lo = Math.floor(rnd() * (now + 50));
          const hi = lo + Math.floor(rnd() * 300);
          const got = head.samplesOf(ref, lo, hi);
          const want = expected(ref, lo, hi);
          if (want.length === 0) expect(got).toBeUndefined();
          else {
            expect(Array.from(got!.timestampsMs)).toEqual(want.map((x) => x[0]));
            for (let i = 0; i < want.length; i++) {
              const w = want[i]![1];
              if (Number.isNaN(w)) expect(isStaleAt(got!.values, i)).toBe(true);
              else expect(got!.values[i]).toBe(w);
            }
          }
        } else {
          head.assertInvariants();
        }
      }
      head.assertInvariants();
      // Whole-head views agree with the model too.
      const sel = await head.select([], -Infinity, Infinity, true);
      expect(sel.length).toBe(model.size);
      for (const s of sel) {
        const ref = reg.getRef(s.key)!;
        expect(Array.from(s.timestampsMs)).toEqual(expected(ref, -Infinity, Infinity).map((x) => x[0]));
      }
      let total = 0;
      for (const m of model.values()) total += m.size;
      const p = head.pack();
      expect(p.timestampsMs.length).toBe(total);
      expect(head.sampleCount).toBe(total);
      const unpacked = unpack(p);
      for (const [ref] of model) {
        const want = expected(ref, -Infinity, Infinity);
        const got = unpacked.get(reg.keyOf(ref))!;
        expect(got.map((x) => x[0])).toEqual(want.map((x) => x[0]));
        expect(got.map((x) => (Number.isNaN(x[1]) ? 'NaN' : x[1]))).toEqual(want.map((x) => (Number.isNaN(x[1]) ? 'NaN' : x[1])));
      }
      let lo = Infinity;
      let hi = -Infinity;
      for (const m of model.values()) for (const t of m.keys()) ((lo = Math.min(lo, t)), (hi = Math.max(hi, t)));
      expect(head.minTMs).toBe(lo);
      expect(head.maxTMs).toBe(hi);
      head.assertInvariants();
    }
  });
});
