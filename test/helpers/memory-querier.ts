// An in-memory Querier over a fixed list of series, for query tests: plain filtering by
// matchers, samples sliced to the requested range, limits as the engine's querier applies them.
// With `rollup` options it also answers selectBuckets through the engine's own BucketQuerier
// (src/rollup/bucket-querier.ts): the series are one raw segment named "memory" (or
// rollup.rawName), the level sources are given (test/helpers/memory-levels.ts).
import { MochaError } from '../../src/errors.js';
import { compareLabels, getLabel, labelsFromRecord, type Labels } from '../../src/model/labels.js';
import type { Matcher } from '../../src/model/matchers.js';
import type { BucketSelection, BucketSource, Querier, SelectHints, SeriesData } from '../../src/model/querier.js';
import { BucketQuerier, type RawSourceExtent } from '../../src/rollup/bucket-querier.js';
import type { RollupLevel } from '../../src/rollup/levels.js';
import { STALE_NAN_BITS_HI, STALE_NAN_BITS_LO } from '../../src/model/samples.js';

export interface MemorySeries {
  readonly labels: Labels;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

/** A point value: a number, or 'stale' for the stale marker (written bit-exactly). */
export type PointValue = number | 'stale';

/** Builds a series from a label record and [tMs, v] pairs (values go through a Float64Array). */
export function series(labels: Record<string, string>, points: ReadonlyArray<readonly [number, PointValue]>): MemorySeries {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const ts = new Float64Array(sorted.length);
  const vs = new Float64Array(sorted.length);
  const view = new DataView(vs.buffer);
  sorted.forEach(([t, v], i) => {
    ts[i] = t;
    if (v === 'stale') {
      view.setUint32(i * 8, STALE_NAN_BITS_LO, true);
      view.setUint32(i * 8 + 4, STALE_NAN_BITS_HI, true);
    } else vs[i] = v;
  });
  return { labels: labelsFromRecord(labels), timestampsMs: ts, values: vs };
}

export interface MemoryRollupOptions {
  readonly levels: readonly RollupLevel[];
  readonly levelSources: readonly BucketSource[];
  /** The raw segment name the data stands for (default "memory"). */
  readonly rawName?: string;
  /** More raw sources, seen only by the validity check (e.g. a head holding a late sample). */
  readonly extraRaw?: readonly RawSourceExtent[];
}

export class MemoryQuerier implements Querier {
  /** Every selectSeries call, for tests that check how storage is read. */
  readonly selectCalls: { matchers: readonly Matcher[]; minTMs: number; maxTMs: number; hints: SelectHints | undefined }[] = [];
  /** Every selectBuckets call. */
  readonly bucketCalls: { level: string; minTMs: number; maxTMs: number }[] = [];
  readonly rollupLevels?: readonly RollupLevel[];
  private readonly data: MemorySeries[];
  private readonly buckets: BucketQuerier | undefined;

  /** delayMs: each selectSeries waits this long first (for timeout tests). */
  constructor(
    data: readonly MemorySeries[],
    private readonly opts: { delayMs?: number; rollup?: MemoryRollupOptions } = {},
  ) {
    this.data = [...data].sort((a, b) => compareLabels(a.labels, b.labels));
    const rollup = opts.rollup;
    if (rollup !== undefined) {
      this.rollupLevels = rollup.levels;
      let minT = Infinity;
      let maxT = -Infinity;
      for (const s of this.data) {
        if (s.timestampsMs.length === 0) continue;
        minT = Math.min(minT, s.timestampsMs[0]!);
        maxT = Math.max(maxT, s.timestampsMs[s.timestampsMs.length - 1]!);
      }
      const extents: RawSourceExtent[] = [{ name: rollup.rawName ?? 'memory', minTMs: minT, maxTMs: maxT }, ...(rollup.extraRaw ?? [])];
      this.buckets = new BucketQuerier(() => extents, rollup.levelSources, (m, lo, hi, hints) => this.selectSeries(m, lo, hi, hints));
    }
  }

  async selectBuckets(matchers: readonly Matcher[], level: RollupLevel, minTMs: number, maxTMs: number, hints?: SelectHints): Promise<BucketSelection> {
    if (this.buckets === undefined) throw new Error('MemoryQuerier without rollup options');
    this.bucketCalls.push({ level: level.name, minTMs, maxTMs });
    return this.buckets.selectBuckets(matchers, level, minTMs, maxTMs, hints);
  }

  levelSegmentsOverlapping(level: RollupLevel, minTMs: number, maxTMs: number): number {
    return this.buckets?.levelSegmentsOverlapping(level, minTMs, maxTMs) ?? 0;
  }

  private matching(matchers: readonly Matcher[]): MemorySeries[] {
    return this.data.filter((s) => matchers.every((m) => m.matches(getLabel(s.labels, m.name))));
  }

  private slice(s: MemorySeries, minTMs: number, maxTMs: number): SeriesData {
    let from = 0;
    while (from < s.timestampsMs.length && s.timestampsMs[from]! < minTMs) from++;
    let to = from;
    while (to < s.timestampsMs.length && s.timestampsMs[to]! <= maxTMs) to++;
    return { labels: s.labels, timestampsMs: s.timestampsMs.subarray(from, to), values: s.values.subarray(from, to) };
  }

  async selectSeries(matchers: readonly Matcher[], minTMs: number, maxTMs: number, hints?: SelectHints): Promise<SeriesData[]> {
    this.selectCalls.push({ matchers, minTMs, maxTMs, hints });
    if (this.opts.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, this.opts.delayMs));
    const out = this.matching(matchers)
      .map((s) => this.slice(s, minTMs, maxTMs))
      .filter((s) => s.timestampsMs.length > 0);
    if (hints?.seriesMax !== undefined && out.length > hints.seriesMax) {
      throw new MochaError('QUERY_TOO_MANY_SERIES', `query selects ${out.length} series; the limit is ${hints.seriesMax}`);
    }
    const samples = out.reduce((n, s) => n + s.timestampsMs.length, 0);
    if (hints?.samplesMax !== undefined && samples > hints.samplesMax) {
      throw new MochaError('QUERY_TOO_MANY_SAMPLES', `query processing would load too many samples into memory (limit ${hints.samplesMax})`);
    }
    return out;
  }

  async series(matchers: readonly Matcher[], minTMs: number, maxTMs: number, limit?: number): Promise<Labels[]> {
    const out = this.matching(matchers)
      .filter((s) => this.slice(s, minTMs, maxTMs).timestampsMs.length > 0)
      .map((s) => s.labels);
    return limit !== undefined && limit > 0 ? out.slice(0, limit) : out;
  }

  async labelNames(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]> {
    const names = new Set<string>();
    for (const l of await this.series(matchers, minTMs, maxTMs)) for (const p of l) names.add(p.name);
    return [...names].sort();
  }

  async labelValues(name: string, matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<string[]> {
    const values = new Set<string>();
    for (const l of await this.series(matchers, minTMs, maxTMs)) {
      const v = getLabel(l, name);
      if (v !== '') values.add(v);
    }
    return [...values].sort();
  }

  close(): void {}
}
