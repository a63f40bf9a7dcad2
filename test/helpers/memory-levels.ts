// Level segments in memory, for planner and bucket-querier tests: a BucketSource per partition
// and level, built with buildBuckets from the raw samples of that partition (what a level
// segment file holds, without the file). With `batch` it also answers selectBucketBatch (all
// series in one struct of arrays), which the bucket querier then prefers. A read that names the
// fields it needs (SelectHints.bucketFields) gets garbage in every other field -- NaN, infinities,
// huge, negative and random values -- as a level segment leaves them undecoded: every test that
// reads levels through here checks that the planner asks for all it reads (eval.ts' bucketFieldsRead).
import { compareLabels, getLabel, labelsKey } from '../../src/model/labels.js';
import type { Matcher } from '../../src/model/matchers.js';
import type { BucketBatch, BucketSource, SourceBuckets } from '../../src/model/querier.js';
import { BUCKET_FIELDS, buildBuckets, RollupBuckets, sliceBuckets, type BucketField } from '../../src/rollup/buckets.js';
import type { RollupLevel } from '../../src/rollup/levels.js';
import type { MemorySeries } from './memory-querier.js';

export class MemoryBucketSource implements BucketSource {
  readonly level: string;
  readonly widthMs: number;
  readonly minTMs: number;
  readonly maxTMs: number;
  /** selectBuckets / selectBucketBatch calls, for tests that check what was read. */
  reads = 0;
  private readonly series: SourceBuckets[] = [];
  readonly selectBucketBatch?: (matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]) => Promise<BucketBatch>;
  /** Reads that named their fields (the others were poisoned). */
  partialReads = 0;
  private poisonSeed = 1;

  constructor(
    level: RollupLevel,
    readonly partitionStartMs: number,
    readonly partitionEndMs: number,
    data: readonly MemorySeries[],
    readonly sources: readonly string[],
    opts: { batch?: boolean } = {},
  ) {
    if (opts.batch === true) this.selectBucketBatch = (m, lo, hi, fields) => this.batchOf(m, lo, hi, fields);
    this.level = level.name;
    this.widthMs = level.widthMs;
    let minT = Infinity;
    let maxT = -Infinity;
    for (const s of data) {
      const ts = s.timestampsMs;
      let from = 0;
      while (from < ts.length && ts[from]! < partitionStartMs) from++;
      let to = from;
      while (to < ts.length && ts[to]! < partitionEndMs) to++;
      if (to === from) continue;
      minT = Math.min(minT, ts[from]!);
      maxT = Math.max(maxT, ts[to - 1]!);
      this.series.push({ labels: s.labels, key: labelsKey(s.labels), buckets: buildBuckets(ts.subarray(from, to), s.values.subarray(from, to), level.widthMs) });
    }
    this.series.sort((a, b) => compareLabels(a.labels, b.labels));
    this.minTMs = minT;
    this.maxTMs = maxT;
  }

  async selectBuckets(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<SourceBuckets[]> {
    this.reads++;
    return this.select(matchers, minTMs, maxTMs, fields);
  }

  private async batchOf(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketBatch> {
    this.reads++;
    // A source may hand out more than asked: one bucket more at the start, which the bucket
    // querier must trim.
    const selected = this.select(matchers, minTMs - this.widthMs, maxTMs, fields);
    const offsets = new Uint32Array(selected.length + 1);
    selected.forEach((s, i) => (offsets[i + 1] = offsets[i]! + s.buckets.length));
    return {
      labels: selected.map((s) => s.labels),
      keys: selected.map((s) => s.key),
      offsets,
      buckets: selected.length === 0 ? new RollupBuckets(this.widthMs, 0) : concatAllRows(selected.map((s) => s.buckets)),
    };
  }

  private select(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): SourceBuckets[] {
    if (fields !== undefined) this.partialReads++;
    const out: SourceBuckets[] = [];
    const G = this.widthMs;
    for (const s of this.series) {
      if (!matchers.every((m) => m.matches(getLabel(s.labels, m.name)))) continue;
      const b = s.buckets;
      let lo = 0;
      while (lo < b.length && !(b.endMs[lo]! > minTMs)) lo++;
      let hi = lo;
      while (hi < b.length && b.endMs[hi]! - G < maxTMs) hi++;
      if (hi > lo) {
        const slice = sliceBuckets(b, lo, hi);
        if (fields !== undefined) this.poison(slice, fields);
        out.push({ ...s, buckets: slice });
      }
    }
    return out;
  }

  /** Overwrites every field not in `fields` with garbage (a fresh pattern per call). */
  private poison(b: RollupBuckets, fields: readonly BucketField[]): void {
    let x = (this.poisonSeed = (this.poisonSeed * 1103515245 + 12345) >>> 0);
    const next = (): number => (x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0);
    const garbage = [NaN, Infinity, -Infinity, 1.7e308, -1.7e308, -0, 5e-324, -123.25, 1e15];
    for (const f of FIELDS) {
      if (fields.includes(f)) continue;
      const col = b[f];
      for (let i = 0; i < col.length; i++) {
        const r = next();
        if (col instanceof Uint32Array) col[i] = r % 3 === 0 ? 0xffffffff : r;
        else col[i] = r % 2 === 0 ? garbage[r % garbage.length]! : (r - 2 ** 31) * 997.13;
      }
    }
  }
}

/** Runs of different series one after another in one RollupBuckets (rows copied as they are). */
function concatAllRows(runs: readonly RollupBuckets[]): RollupBuckets {
  let n = 0;
  for (const r of runs) n += r.length;
  const out = new RollupBuckets(runs[0]!.widthMs, n);
  let at = 0;
  for (const r of runs) {
    for (const f of FIELDS) (out[f] as Float64Array | Uint32Array).set(r[f] as Float64Array | Uint32Array, at);
    at += r.length;
  }
  return out;
}

const FIELDS = BUCKET_FIELDS;

/**
 * Level sources for every level and every partition [p, p + partitionMs) that holds a sample,
 * except those `skip` rejects; each names `sourceName` as the raw segment it was built from.
 */
export function memoryLevelSources(
  data: readonly MemorySeries[],
  levels: readonly RollupLevel[],
  partitionMs: number,
  opts: { sourceName?: string; skip?: (level: RollupLevel, partitionStartMs: number) => boolean; batch?: (partitionStartMs: number) => boolean } = {},
): MemoryBucketSource[] {
  const starts = new Set<number>();
  for (const s of data) for (const t of s.timestampsMs) starts.add(Math.floor(t / partitionMs) * partitionMs);
  const out: MemoryBucketSource[] = [];
  for (const level of levels) {
    for (const p of [...starts].sort((a, b) => a - b)) {
      if (opts.skip?.(level, p) === true) continue;
      // By default every other partition answers in batches: both read paths in every test.
      const batch = opts.batch?.(p) ?? Math.floor(p / partitionMs) % 2 === 0;
      out.push(new MemoryBucketSource(level, p, p + partitionMs, data, [opts.sourceName ?? 'memory'], { batch }));
    }
  }
  return out;
}
