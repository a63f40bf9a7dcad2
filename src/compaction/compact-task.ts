// Compaction task: for one tenant and one raw partition [start, end), merges all its raw segments
// (flush splits, out-of-order and backfilled data) into one raw segment, and builds the rollup
// levels of the partition from the merged samples. A pure function of its input plus the files
// it writes (new directories only: the engine swaps them into the manifest and deletes the
// inputs); runs in a piscina worker (compact-worker.ts).
//
// Merge rule: series by labels (k-way over the inputs, each in label order already), samples by
// time; on equal timestamps the later input wins (inputs come oldest first, in manifest order =
// segment sequence order) -- the querier's rule, so a query answers the same before and after.
// Stale markers are kept bit for bit.
//
// Memory bound: series are read and merged in batches of at most seriesBatchMax series (default
// COMPACTION_SERIES_BATCH_MAX) across all inputs, so decoded samples held at once are those of one
// batch (inputs x batch series x samples per series). What is kept for the whole partition: the
// labels of every series, the merged raw segment's ENCODED chunks (the Arrow files are assembled
// at the end), and the rollup buckets of every series at every level (the level writer takes the
// whole partition): for a 2 h partition at 5 m/1 h/1 d that is ~26 buckets (~3.4 KiB) per series
// before encoding, against ~7.7 KiB of decoded raw samples per series at a 15 s interval.
import { performance } from 'node:perf_hooks';
import { compareLabels, type Labels } from '../model/labels.js';
import { buildBuckets, coarsen, type RollupBuckets } from '../rollup/buckets.js';
import { SegmentCache } from '../segment/cache.js';
import type { SegmentCompression } from '../segment/codecs.js';
import { segmentDir, tenantSegmentsDir } from '../segment/format.js';
import { SegmentReader } from '../segment/reader.js';
import { SegmentFilesBuilder, writeBuiltSegment, type SegmentMeta } from '../segment/writer.js';
import { COMPACTION_SERIES_BATCH_MAX } from '../constants.js';
import { mergeLastWins } from './merge.js';
import { writeLevels, type LevelOutputMeta, type LevelSeriesBuckets } from './level-output.js';

export interface CompactionLevelSpec {
  /** Level name ("5m"). */
  level: string;
  widthMs: number;
  /** Directory name of the level segment to write. */
  name: string;
}

export interface CompactionTaskInput {
  dataDir: string;
  tenant: string;
  partitionStartMs: number;
  partitionEndMs: number;
  /** Raw segments of the partition, oldest first: on equal timestamps a later one wins. */
  inputs: string[];
  /** Name of the merged raw segment to write; absent: the inputs stay as they are (levels only, built from all of them). */
  rawOutputName?: string;
  /** Levels to build, finest first, each width a multiple of the previous one; may be empty. */
  levels: CompactionLevelSpec[];
  compression?: SegmentCompression;
  seriesBatchMax?: number;
}

export interface CompactionTaskOutput {
  /** The merged raw segment, when rawOutputName was given. */
  raw?: SegmentMeta;
  levels: LevelOutputMeta[];
  seriesCount: number;
  /** Samples read from the inputs (duplicates included) and samples after the merge. */
  samplesIn: number;
  samplesOut: number;
  /** The largest number of decoded samples held by one batch (the memory bound in practice). */
  batchSamplesMax: number;
  durationMs: number;
}

/** Decompressed batches of the inputs: a merge reads each once, in order; a few per input suffice. */
const TASK_BATCH_CACHE_BYTES = 32 * 1024 * 1024;

export async function runCompactionTask(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
  const started = performance.now();
  if (input.inputs.length === 0) throw new Error('compaction input: no segments');
  const batchMax = input.seriesBatchMax ?? COMPACTION_SERIES_BATCH_MAX;
  const caches = { batchCache: new SegmentCache(TASK_BATCH_CACHE_BYTES), chunkCache: new SegmentCache(0) };
  const readers: SegmentReader[] = [];
  try {
    for (const name of input.inputs) {
      const r = await SegmentReader.open(segmentDir(input.dataDir, input.tenant, name), caches);
      const m = r.meta;
      if (m.tenant !== input.tenant || m.partitionStartMs !== input.partitionStartMs || m.partitionEndMs !== input.partitionEndMs) {
        r.close();
        throw new Error(`compaction input ${name}: tenant ${m.tenant} [${m.partitionStartMs}, ${m.partitionEndMs}) is not the partition compacted`);
      }
      readers.push(r);
    }
    const builder =
      input.rawOutputName !== undefined
        ? new SegmentFilesBuilder(input.rawOutputName, { tenant: input.tenant, level: 'raw', partitionStartMs: input.partitionStartMs, partitionEndMs: input.partitionEndMs }, input.compression ?? 'zstd')
        : undefined;
    const levelSeries: LevelSeriesBuckets[][] = input.levels.map(() => []);
    const pos = new Uint32Array(readers.length);
    let samplesIn = 0;
    let samplesOut = 0;
    let seriesCount = 0;
    let batchSamplesMax = 0;
    for (;;) {
      // The next batch of series: groups of (input, ref) with equal labels, in label order.
      const groups: Array<{ labels: Labels; parts: Array<{ reader: number; ref: number }> }> = [];
      while (groups.length < batchMax) {
        let best: Labels | undefined;
        for (let j = 0; j < readers.length; j++) {
          if (pos[j]! >= readers[j]!.seriesCount) continue;
          const l = readers[j]!.labelsOf(pos[j]!);
          if (best === undefined || compareLabels(l, best) < 0) best = l;
        }
        if (best === undefined) break;
        const parts: Array<{ reader: number; ref: number }> = [];
        for (let j = 0; j < readers.length; j++) {
          if (pos[j]! >= readers[j]!.seriesCount) continue;
          if (compareLabels(readers[j]!.labelsOf(pos[j]!), best) === 0) parts.push({ reader: j, ref: pos[j]!++ });
        }
        groups.push({ labels: best, parts });
      }
      if (groups.length === 0) break;
      const read = await Promise.all(groups.map((g) => Promise.all(g.parts.map((p) => readers[p.reader]!.readSeries(p.ref)))));
      let batchSamples = 0;
      for (let g = 0; g < groups.length; g++) {
        const runs = read[g]!;
        for (const r of runs) batchSamples += r.timestampsMs.length;
        const merged = mergeLastWins(runs);
        samplesOut += merged.timestampsMs.length;
        seriesCount++;
        builder?.add({ labels: groups[g]!.labels, timestampsMs: merged.timestampsMs, values: merged.values });
        if (input.levels.length > 0) {
          const perLevel = buildLevels(merged.timestampsMs, merged.values, input.levels);
          for (let i = 0; i < perLevel.length; i++) levelSeries[i]!.push({ labels: groups[g]!.labels, buckets: perLevel[i]! });
        }
      }
      samplesIn += batchSamples;
      if (batchSamples > batchSamplesMax) batchSamplesMax = batchSamples;
    }
    const dir = tenantSegmentsDir(input.dataDir, input.tenant);
    let raw: SegmentMeta | undefined;
    if (builder !== undefined) {
      const built = builder.finish();
      await writeBuiltSegment(dir, input.rawOutputName!, built);
      raw = built.meta;
    }
    const sources = input.rawOutputName !== undefined ? [input.rawOutputName] : input.inputs;
    const levels = await writeLevels(dir, input, sources, levelSeries);
    return { ...(raw !== undefined ? { raw } : {}), levels, seriesCount, samplesIn, samplesOut, batchSamplesMax, durationMs: performance.now() - started };
  } finally {
    for (const r of readers) r.close();
  }
}

/** Buckets of one series at every level: the finest from the samples, each coarser one from the previous. */
export function buildLevels(timestampsMs: Float64Array, values: Float64Array, levels: readonly { widthMs: number }[]): RollupBuckets[] {
  const out: RollupBuckets[] = [];
  for (let i = 0; i < levels.length; i++) {
    const w = levels[i]!.widthMs;
    if (i === 0) out.push(buildBuckets(timestampsMs, values, w));
    else {
      const prev = out[i - 1]!;
      if (w % prev.widthMs !== 0) throw new Error(`level width ${w} is not a multiple of ${prev.widthMs}`);
      out.push(coarsen(prev, w / prev.widthMs));
    }
  }
  return out;
}
