// The compaction task on its own (run in this thread, not the pool): raw segments of one
// partition merged into one, last write wins on equal timestamps as in the querier, stale
// markers bit-exact, series streamed in batches (any batch size gives the same segment).
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCompactionTask, buildLevels } from '../../src/compaction/compact-task.js';
import { mergeLastWins } from '../../src/compaction/merge.js';
import { mergeRuns } from '../../src/engine.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { STALE_NAN, isStaleAt } from '../../src/model/samples.js';
import { buildBuckets, coarsen } from '../../src/rollup/buckets.js';
import { segmentName, tenantSegmentsDir } from '../../src/segment/format.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { newMatcher } from '../../src/model/matchers.js';
import { parseRollupLevels } from '../../src/rollup/levels.js';
import { writeSegment } from '../../src/segment/writer.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { mulberry32 } from '../helpers/prng.js';
import { sameBits } from '../segment/helpers.js';

registerArrowCodecs();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-compact-'));
  dirs.push(d);
  return d;
}

const TENANT = 'default';
const P0 = 1_700_006_400_000 - (1_700_006_400_000 % PARTITION_MS);
const P1 = P0 + PARTITION_MS;

interface S {
  labels: Labels;
  timestampsMs: Float64Array;
  values: Float64Array;
}

function lbl(name: string, id: string): Labels {
  return [
    { name: '__name__', value: name },
    { name: 'id', value: id },
  ];
}

/** Random series for one input segment: some shared with other inputs, overlapping in time. */
function genInput(rnd: () => number, input: number, seriesN: number): S[] {
  const out: S[] = [];
  for (let i = 0; i < seriesN; i++) {
    if (rnd() < 0.3) continue; // not every series in every input
    const ts = new Set<number>();
    const n = 1 + Math.floor(rnd() * 60);
    for (let k = 0; k < n; k++) ts.add(P0 + Math.floor(rnd() * 200) * 15_000 + (rnd() < 0.5 ? 0 : 7));
    const sorted = Float64Array.from([...ts].sort((a, b) => a - b));
    const vs = new Float64Array(sorted.length);
    for (let k = 0; k < vs.length; k++) {
      const r = rnd();
      vs[k] = r < 0.05 ? STALE_NAN : r < 0.08 ? NaN : input * 1000 + k + Math.round(rnd() * 100) / 10;
    }
    out.push({ labels: lbl(i % 3 === 0 ? 'a_total' : 'b', String(i)), timestampsMs: sorted, values: vs });
  }
  return out;
}

async function writeInputs(dataDir: string, inputs: S[][]): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const name = segmentName('raw', P0, i + 1);
    await writeSegment(tenantSegmentsDir(dataDir, TENANT), name, { tenant: TENANT, level: 'raw', partitionStartMs: P0, partitionEndMs: P1, series: inputs[i]! });
    names.push(name);
  }
  return names;
}

/** The expected merge: per series, a model map where a later input overwrites a timestamp. */
function expectedMerge(inputs: S[][]): Map<string, S> {
  const byKey = new Map<string, { labels: Labels; parts: S[] }>();
  for (const input of inputs) {
    for (const s of input) {
      const k = labelsKey(s.labels);
      let e = byKey.get(k);
      if (!e) byKey.set(k, (e = { labels: s.labels, parts: [] }));
      e.parts.push(s);
    }
  }
  const out = new Map<string, S>();
  for (const [k, e] of byKey) {
    const m = mergeRuns(e.parts.map((p) => ({ ...p, key: k })));
    out.set(k, { labels: e.labels, timestampsMs: m.timestampsMs, values: m.values });
  }
  return out;
}

async function readAll(dir: string): Promise<Map<string, S>> {
  const r = await SegmentReader.open(dir);
  const out = new Map<string, S>();
  try {
    for (let ref = 0; ref < r.seriesCount; ref++) {
      const s = await r.readSeries(ref);
      out.set(s.key, { labels: s.labels, timestampsMs: s.timestampsMs.slice(), values: s.values.slice() });
    }
  } finally {
    r.close();
  }
  return out;
}

describe('mergeLastWins', () => {
  it('agrees with the querier merge (engine.ts mergeRuns) bit for bit on random runs', () => {
    const rnd = mulberry32(11);
    for (let trial = 0; trial < 300; trial++) {
      const runs = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, p) => {
        const ts = [...new Set(Array.from({ length: Math.floor(rnd() * 30) }, () => Math.floor(rnd() * 50)))].sort((a, b) => a - b);
        const values = Float64Array.from(ts, (t) => p * 100 + t);
        for (let i = 0; i < values.length; i++) if (rnd() < 0.1) values[i] = STALE_NAN;
        return { labels: [], key: '', timestampsMs: Float64Array.from(ts), values };
      });
      const a = mergeLastWins(runs);
      const b = mergeRuns(runs);
      expect(Array.from(a.timestampsMs)).toEqual(Array.from(b.timestampsMs));
      expect(sameBits(a.values, b.values)).toBe(true);
    }
  });
});

describe('runCompactionTask', () => {
  it('merges overlapping inputs: later input wins on equal timestamps, stale markers kept, same result for any batch size and read concurrency', async () => {
    const rnd = mulberry32(5);
    const inputs = [0, 1, 2, 3].map((i) => genInput(rnd, i, 150));
    const expected = expectedMerge(inputs);
    let first: Map<string, S> | undefined;
    // Reads one at a time (the default), a few, or all of a batch at once: the same segment.
    for (const [seriesBatchMax, readsInFlightMax] of [[1, undefined], [7, 3], [1024, 10_000]] as const) {
      const dataDir = tmp();
      const names = await writeInputs(dataDir, inputs);
      const out = await runCompactionTask({
        dataDir,
        tenant: TENANT,
        partitionStartMs: P0,
        partitionEndMs: P1,
        inputs: names,
        rawOutputName: segmentName('raw', P0, 99),
        levels: [],
        seriesBatchMax,
        ...(readsInFlightMax !== undefined ? { readsInFlightMax } : {}),
      });
      expect(out.raw?.seriesCount).toBe(expected.size);
      expect(out.seriesCount).toBe(expected.size);
      expect(out.samplesIn).toBe(inputs.flat().reduce((a, s) => a + s.timestampsMs.length, 0));
      const got = await readAll(path.join(tenantSegmentsDir(dataDir, TENANT), segmentName('raw', P0, 99)));
      expect(out.samplesOut).toBe([...got.values()].reduce((a, s) => a + s.timestampsMs.length, 0));
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [k, want] of expected) {
        const g = got.get(k)!;
        expect(Array.from(g.timestampsMs)).toEqual(Array.from(want.timestampsMs));
        expect(sameBits(g.values, want.values)).toBe(true);
      }
      if (first === undefined) first = got;
      // Inputs are left alone: the engine deletes them after the manifest swap.
      for (const n of names) expect(fs.existsSync(path.join(tenantSegmentsDir(dataDir, TENANT), n))).toBe(true);
    }
  });

  it('keeps a stale marker that overwrites a sample and a sample that overwrites a stale marker', async () => {
    const dataDir = tmp();
    const l = lbl('m', '1');
    const t = [P0 + 1000, P0 + 2000, P0 + 3000];
    const older: S = { labels: l, timestampsMs: Float64Array.from(t), values: Float64Array.from([1, 2, 3]) };
    const newerValues = new Float64Array(2);
    newerValues[0] = STALE_NAN;
    newerValues[1] = 30;
    const newer: S = { labels: l, timestampsMs: Float64Array.from([t[1]!, t[2]!]), values: newerValues };
    const olderStale = new Float64Array([5]);
    olderStale[0] = STALE_NAN;
    const names = await writeInputs(dataDir, [[older], [newer], [{ labels: l, timestampsMs: Float64Array.from([t[0]!]), values: olderStale }]]);
    await runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: P0, partitionEndMs: P1, inputs: names, rawOutputName: 'raw-x-1', levels: [] });
    const got = [...(await readAll(path.join(tenantSegmentsDir(dataDir, TENANT), 'raw-x-1'))).values()][0]!;
    expect(Array.from(got.timestampsMs)).toEqual(t);
    expect(isStaleAt(got.values, 0)).toBe(true); // the third input's stale marker won
    expect(isStaleAt(got.values, 1)).toBe(true); // the second input's stale marker won
    expect(got.values[2]).toBe(30);
  });

  it('refuses an input of another partition and writes nothing', async () => {
    const dataDir = tmp();
    const names = await writeInputs(dataDir, [[{ labels: lbl('m', '1'), timestampsMs: Float64Array.from([P0 + 5]), values: Float64Array.from([1]) }]]);
    await expect(
      runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: P1, partitionEndMs: P1 + PARTITION_MS, inputs: names, rawOutputName: 'raw-y-1', levels: [] }),
    ).rejects.toThrow(/not the partition compacted/);
    expect(fs.existsSync(path.join(tenantSegmentsDir(dataDir, TENANT), 'raw-y-1'))).toBe(false);
  });
});

describe('runCompactionTask with levels', () => {
  it('writes each level from the merged samples: buckets equal buildBuckets of the merged raw data, sources name the merged segment', async () => {
    const rnd = mulberry32(77);
    const inputs = [0, 1, 2].map((i) => genInput(rnd, i, 60));
    const expected = expectedMerge(inputs);
    const levels = parseRollupLevels('5m,1h,1d');
    const dataDir = tmp();
    const names = await writeInputs(dataDir, inputs);
    const specs = levels.map((l, i) => ({ level: l.name, widthMs: l.widthMs, name: segmentName(l.name, P0, 200 + i) }));
    const out = await runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: P0, partitionEndMs: P1, inputs: names, rawOutputName: 'raw-m-1', levels: specs, seriesBatchMax: 13 });
    expect(out.levels.map((l) => l.name)).toEqual(specs.map((s) => s.name));
    for (let i = 0; i < levels.length; i++) {
      const r = await LevelSegmentReader.open(path.join(tenantSegmentsDir(dataDir, TENANT), specs[i]!.name));
      try {
        expect(r.sources).toEqual(['raw-m-1']);
        expect(r.level).toBe(levels[i]!.name);
        expect(out.levels[i]!.manifestEntry).toMatchObject({ level: levels[i]!.name, sources: ['raw-m-1'], partitionStartMs: P0 });
        const got = await r.selectBuckets([newMatcher('=~', '__name__', '.+')], P0 - 86_400_000, P1 + 86_400_000);
        expect(got.map((g) => g.key).sort()).toEqual([...expected.keys()].sort());
        for (const g of got) {
          const m = expected.get(g.key)!;
          let want = buildBuckets(m.timestampsMs, m.values, levels[0]!.widthMs);
          if (i > 0) want = coarsen(buildLevels(m.timestampsMs, m.values, levels.slice(0, i))[i - 1]!, levels[i]!.widthMs / levels[i - 1]!.widthMs);
          expect(g.buckets.length).toBe(want.length);
          for (const f of ['endMs', 'sum', 'sumC', 'mean', 'm2', 'min', 'max', 'firstT', 'firstV', 'lastT', 'lastV', 'prevT', 'prevV', 'correction', 'lastStaleT'] as const) {
            expect(sameBits(g.buckets[f], want[f]), `${g.key} ${levels[i]!.name} ${f}`).toBe(true);
          }
          expect(Array.from(g.buckets.count)).toEqual(Array.from(want.count));
          expect(Array.from(g.buckets.resets)).toEqual(Array.from(want.resets));
          expect(Array.from(g.buckets.changes)).toEqual(Array.from(want.changes));
        }
      } finally {
        r.close();
      }
    }
  });

  it('keeps a sample at exactly the partition start in a level bucket ending there (aligned scrapes)', async () => {
    const dataDir = tmp();
    const ts = Float64Array.from({ length: 24 }, (_, i) => P0 + i * 300_000); // 0, 5m, 10m, ...
    const names = await writeInputs(dataDir, [[{ labels: lbl('m', 'aligned'), timestampsMs: ts, values: Float64Array.from(ts, (_, i) => i) }]]);
    await runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: P0, partitionEndMs: P1, inputs: names, levels: [{ level: '5m', widthMs: 300_000, name: '5m-b-1' }] });
    const r = await LevelSegmentReader.open(path.join(tenantSegmentsDir(dataDir, TENANT), '5m-b-1'));
    try {
      const [got] = await r.selectBuckets([newMatcher('=', 'id', 'aligned')], P0 - 300_000, P1);
      expect(got!.buckets.endMs[0]).toBe(P0);
      expect(got!.buckets.count[0]).toBe(1);
      expect(Array.from(got!.buckets.count).reduce((a, b) => a + b, 0)).toBe(24);
    } finally {
      r.close();
    }
  });

  it('builds levels of a single raw segment without rewriting it; sources name that segment', async () => {
    const dataDir = tmp();
    const names = await writeInputs(dataDir, [genInput(mulberry32(3), 0, 20)]);
    const out = await runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: P0, partitionEndMs: P1, inputs: names, levels: [{ level: '5m', widthMs: 300_000, name: '5m-x-1' }] });
    expect(out.raw).toBeUndefined();
    expect(out.levels[0]!.manifestEntry).toMatchObject({ sources: names });
    expect(fs.readdirSync(tenantSegmentsDir(dataDir, TENANT)).sort()).toEqual([...names, '5m-x-1'].sort());
  });
});

describe('buildLevels', () => {
  it('builds the finest level from samples and each coarser one by coarsening, equal to building it from samples', () => {
    const rnd = mulberry32(9);
    const ts = Float64Array.from({ length: 500 }, (_, i) => P0 + i * 15_000 + 3);
    const vs = Float64Array.from(ts, () => Math.floor(rnd() * 100));
    vs[100] = STALE_NAN;
    const [l5, l1h, l1d] = buildLevels(ts, vs, [{ widthMs: 300_000 }, { widthMs: 3_600_000 }, { widthMs: 86_400_000 }]);
    expect(l5).toEqual(buildBuckets(ts, vs, 300_000));
    expect(l1h).toEqual(coarsen(buildBuckets(ts, vs, 300_000), 12));
    const direct = buildBuckets(ts, vs, 3_600_000);
    // Integer values: sums and counts are exact whichever way they were added.
    expect(Array.from(l1h!.count)).toEqual(Array.from(direct.count));
    expect(Array.from(l1h!.sum)).toEqual(Array.from(direct.sum));
    expect(Array.from(l1h!.lastStaleT)).toEqual(Array.from(direct.lastStaleT));
    expect(l1d!.length).toBe(1);
  });
});

describe('runCompactionTask: a day of levels', () => {
  const DAY = P0 - (P0 % LEVEL_PARTITION_MS);

  /** Series of raw partition k of the day: random gaps, a counter with resets, stale markers; not every series in every partition. */
  function genPartition(rnd: () => number, k: number, seriesN: number): S[] {
    const p = DAY + k * PARTITION_MS;
    const out: S[] = [];
    for (let i = 0; i < seriesN; i++) {
      if (rnd() < 0.25) continue;
      const ts: number[] = [];
      for (let t = p + Math.floor(rnd() * 15_000); t < p + PARTITION_MS; t += 15_000) if (rnd() < 0.9) ts.push(t);
      if (rnd() < 0.1) ts.unshift(p); // a sample exactly at the partition start
      const uniq = [...new Set(ts)].sort((a, b) => a - b);
      let v = rnd() * 100;
      const values = uniq.map(() => {
        v = rnd() < 0.02 ? 0 : v + rnd() * 10;
        return rnd() < 0.01 ? STALE_NAN : v;
      });
      out.push({ labels: lbl(i % 2 ? 'c' : 'g', String(i).padStart(3, '0')), timestampsMs: Float64Array.from(uniq), values: Float64Array.from(values) });
    }
    return out;
  }

  it('builds one level segment per level for the whole day from every raw partition: buckets bit-exact buildBuckets of the day, sources = the inputs, one record batch in memory', async () => {
    const rnd = mulberry32(2026);
    const dataDir = tmp();
    const names: string[] = [];
    const day = new Map<string, { labels: Labels; ts: number[]; vs: number[] }>();
    const parts = [0, 1, 2, 5, 6, 11]; // a day with holes
    for (const k of parts) {
      const series = genPartition(rnd, k, 40);
      const name = segmentName('raw', DAY + k * PARTITION_MS, 10 + k);
      await writeSegment(tenantSegmentsDir(dataDir, TENANT), name, { tenant: TENANT, level: 'raw', partitionStartMs: DAY + k * PARTITION_MS, partitionEndMs: DAY + (k + 1) * PARTITION_MS, series });
      names.push(name);
      for (const s of series) {
        const key = labelsKey(s.labels);
        const e = day.get(key) ?? { labels: s.labels, ts: [], vs: [] };
        day.set(key, e);
        e.ts.push(...s.timestampsMs);
        e.vs.push(...s.values);
      }
    }
    const levels = parseRollupLevels('5m,1h,1d');
    const specs = levels.map((l, i) => ({ level: l.name, widthMs: l.widthMs, name: segmentName(l.name, DAY, 300 + i) }));
    // A tiny batch target: the 5m level is written as many record batches.
    const out = await runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: DAY, partitionEndMs: DAY + LEVEL_PARTITION_MS, inputs: names, levels: specs, seriesBatchMax: 7, levelBatchBytesTarget: 2048 });
    expect(out.raw).toBeUndefined();
    // Memory bound, counted: the writers never held more than about one batch each (the target
    // plus one series' blocks, plus Arrow's framing), while they wrote many times that.
    expect(out.levelHeldBytesMax).toBeLessThan(3 * (2048 + 8192));
    expect(out.levelBucketsBytes, `held ${out.levelHeldBytesMax}`).toBeGreaterThan(5 * out.levelHeldBytesMax);
    expect(out.seriesCount).toBe(day.size);
    expect(out.levels.map((l) => l.name)).toEqual(specs.map((s) => s.name));
    const dir = tenantSegmentsDir(dataDir, TENANT);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    for (let i = 0; i < levels.length; i++) {
      expect(out.levels[i]!.manifestEntry).toMatchObject({ level: levels[i]!.name, partitionStartMs: DAY, partitionEndMs: DAY + LEVEL_PARTITION_MS, sources: names });
      const r = await LevelSegmentReader.open(path.join(dir, specs[i]!.name));
      try {
        if (i === 0) expect(r.meta.bucketsBatchRows.length).toBeGreaterThan(3);
        const got = await r.selectBuckets([newMatcher('=~', '__name__', '.+')], DAY - 86_400_000, DAY + 2 * 86_400_000);
        expect(got.length).toBe(day.size);
        for (const g of got) {
          const m = day.get(g.key)!;
          const want = buildLevels(Float64Array.from(m.ts), Float64Array.from(m.vs), levels)[i]!;
          if (i === 0) expect(sameBits(buildBuckets(Float64Array.from(m.ts), Float64Array.from(m.vs), levels[0]!.widthMs).sum, want.sum)).toBe(true);
          expect(g.buckets.length).toBe(want.length);
          for (const f of ['endMs', 'sum', 'sumC', 'mean', 'm2', 'min', 'max', 'firstT', 'firstV', 'lastT', 'lastV', 'prevT', 'prevV', 'correction', 'lastStaleT'] as const) {
            expect(sameBits(g.buckets[f], want[f]), `${g.key} ${levels[i]!.name} ${f}`).toBe(true);
          }
          expect(Array.from(g.buckets.count)).toEqual(Array.from(want.count));
          expect(Array.from(g.buckets.resets)).toEqual(Array.from(want.resets));
          expect(Array.from(g.buckets.changes)).toEqual(Array.from(want.changes));
        }
      } finally {
        r.close();
      }
    }
    // The 1d level of a day is one bucket per series (coarsened from the 5m ones).
    const r1d = await LevelSegmentReader.open(path.join(dir, specs[2]!.name));
    expect(r1d.meta.bucketCount).toBeLessThanOrEqual(2 * day.size);
    r1d.close();
  });

  it('refuses a level input outside the day and leaves no level directory behind', async () => {
    const dataDir = tmp();
    const p = DAY + LEVEL_PARTITION_MS; // the next day
    const name = segmentName('raw', p, 1);
    const ts = Float64Array.from([p, p + 15_000]);
    await writeSegment(tenantSegmentsDir(dataDir, TENANT), name, { tenant: TENANT, level: 'raw', partitionStartMs: p, partitionEndMs: p + PARTITION_MS, series: [{ labels: lbl('m', 'x'), timestampsMs: ts, values: ts }] });
    await expect(runCompactionTask({ dataDir, tenant: TENANT, partitionStartMs: DAY, partitionEndMs: DAY + LEVEL_PARTITION_MS, inputs: [name], levels: [{ level: '5m', widthMs: 300_000, name: '5m-x-1' }] })).rejects.toThrow(/nor inside it/);
    expect(fs.readdirSync(tenantSegmentsDir(dataDir, TENANT))).toEqual([name]);
  });
});
