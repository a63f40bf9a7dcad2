// Compaction task, for one tenant, one of two kinds (the planner says which, planner.ts):
// - merge: all raw segments of one raw partition [start, end) (flush splits, out-of-order and
//   backfilled data) into one raw segment (rawOutputName);
// - levels: the rollup level segments of one level partition (a UTC day) from all raw segments
//   of the day's raw partitions (sources = their names).
// A pure function of its input plus the files it writes (new directories only: the engine swaps
// them into the manifest and deletes the inputs); runs in a piscina worker (compact-worker.ts).
//
// Merge rule: series by labels (k-way over the inputs, each in label order already), samples by
// time; on equal timestamps the later input wins (inputs come oldest first, in manifest order =
// segment sequence order) -- the querier's rule, so a query answers the same before and after.
// Stale markers are kept bit for bit. Inputs of different raw partitions hold disjoint times.
//
// Memory bound: series are read and merged in batches of at most seriesBatchMax series (default
// COMPACTION_SERIES_BATCH_MAX) divided by the number of raw partitions read, so decoded samples
// held at once are about one batch of 2 h partitions' worth (1024 series x 480 samples at 15 s).
// A series' buckets are built from all its samples of the day at the finest level, coarsened for
// the others, and appended to one streaming level writer per level (LevelSegmentStreamWriter),
// which holds one record batch of ENCODED buckets (~1 MiB) and writes it out when full: the
// day's decoded buckets are never held (100k series x 288 5m buckets x 132 B would be 3.8 GB).
// What is kept for the whole partition: the labels of every series and, for a merge, the merged
// raw segment's encoded chunks (the Arrow files are assembled at the end).
import { performance } from 'node:perf_hooks';
import { compareLabels, type Labels } from '../model/labels.js';
import { buildBuckets, coarsen, type RollupBuckets } from '../rollup/buckets.js';
import { SegmentCache } from '../segment/cache.js';
import type { SegmentCompression } from '../segment/codecs.js';
import { segmentDir, tenantSegmentsDir } from '../segment/format.js';
import { SegmentReader } from '../segment/reader.js';
import { SegmentFilesBuilder, writeBuiltSegment, type SegmentMeta } from '../segment/writer.js';
import { COMPACTION_SERIES_BATCH_MAX } from '../constants.js';
import { mergeLastWins, type SampleRun } from './merge.js';
import { LevelOutputs, type LevelOutputMeta } from './level-output.js';
import type { ThreadPriorityResult } from './thread-priority.js';

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
  /** The raw partition merged, or the level partition (day) whose levels are built. */
  partitionStartMs: number;
  partitionEndMs: number;
  /** Raw segments read, oldest first: on equal timestamps a later one wins. Each lies inside the partition (a merge: is of the partition). */
  inputs: string[];
  /** Name of the merged raw segment to write; absent: the inputs stay as they are (levels only, built from all of them). */
  rawOutputName?: string;
  /** Levels to build, finest first, each width a multiple of the previous one; may be empty. */
  levels: CompactionLevelSpec[];
  compression?: SegmentCompression;
  seriesBatchMax?: number;
  /** Encoded bytes at which level writers cut a record batch (tests lower it). */
  levelBatchBytesTarget?: number;
  /** Series reads in flight at once (default COMPACTION_READS_IN_FLIGHT_MAX); any value gives the same output. */
  readsInFlightMax?: number;
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
  /** Bytes of encoded buckets the level writers held at once, at most (about one record batch each: streaming). */
  levelHeldBytesMax: number;
  /** Bytes of buckets.arrow the level writers wrote. */
  levelBucketsBytes: number;
  durationMs: number;
  /** The worker thread's OS priority (set by compact-worker.ts; absent when the task runs in the caller's thread). */
  threadPriority?: ThreadPriorityResult;
}

/**
 * Series reads of a task in flight at once. A read that needs a record batch not yet loaded
 * decompresses it on zstd's own thread pool (segment/reader.ts; two threads here, shared with
 * the main thread's queries, at normal priority), so unbounded reads (a batch of series across a
 * day's 12 inputs) kept every zstd thread busy next to this worker: compaction took more than
 * one core of a two-core machine from ingestion. One read at a time: at most one thread works
 * for the task at any moment (this one, or one zstd thread while this one waits).
 */
export const COMPACTION_READS_IN_FLIGHT_MAX = 1;

/** Decompressed batches of the inputs: a merge reads each once, in order; a few per input suffice. */
const TASK_BATCH_CACHE_BYTES = 32 * 1024 * 1024;

export async function runCompactionTask(input: CompactionTaskInput): Promise<CompactionTaskOutput> {
  const started = performance.now();
  if (input.inputs.length === 0) throw new Error('compaction input: no segments');
  const caches = { batchCache: new SegmentCache(TASK_BATCH_CACHE_BYTES), chunkCache: new SegmentCache(0) };
  const readers: SegmentReader[] = [];
  let levelOut: LevelOutputs | undefined;
  try {
    const partitions = new Set<number>();
    for (const name of input.inputs) {
      const r = await SegmentReader.open(segmentDir(input.dataDir, input.tenant, name), caches);
      readers.push(r);
      const m = r.meta;
      const inside =
        input.rawOutputName !== undefined
          ? m.partitionStartMs === input.partitionStartMs && m.partitionEndMs === input.partitionEndMs
          : m.partitionStartMs >= input.partitionStartMs && m.partitionEndMs <= input.partitionEndMs;
      if (m.tenant !== input.tenant || !inside) {
        throw new Error(`compaction input ${name}: tenant ${m.tenant} [${m.partitionStartMs}, ${m.partitionEndMs}) is not the partition compacted (a merge) nor inside it (levels)`);
      }
      partitions.add(m.partitionStartMs);
    }
    // A day's series hold up to 12 raw partitions' samples: fewer series per batch.
    const batchMax = Math.max(1, Math.ceil((input.seriesBatchMax ?? COMPACTION_SERIES_BATCH_MAX) / partitions.size));
    const dir = tenantSegmentsDir(input.dataDir, input.tenant);
    const builder =
      input.rawOutputName !== undefined
        ? new SegmentFilesBuilder(input.rawOutputName, { tenant: input.tenant, level: 'raw', partitionStartMs: input.partitionStartMs, partitionEndMs: input.partitionEndMs }, input.compression ?? 'zstd')
        : undefined;
    const sources = input.rawOutputName !== undefined ? [input.rawOutputName] : input.inputs;
    if (input.levels.length > 0) {
      levelOut = await LevelOutputs.open(dir, input, sources, input.levelBatchBytesTarget !== undefined ? { batchBytesTarget: input.levelBatchBytesTarget } : undefined);
    }
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
      const read = await readGroups(readers, groups, input.readsInFlightMax ?? COMPACTION_READS_IN_FLIGHT_MAX);
      let batchSamples = 0;
      for (let g = 0; g < groups.length; g++) {
        const runs = read[g]!;
        for (const r of runs) batchSamples += r.timestampsMs.length;
        const merged = mergeLastWins(runs);
        samplesOut += merged.timestampsMs.length;
        seriesCount++;
        builder?.add({ labels: groups[g]!.labels, timestampsMs: merged.timestampsMs, values: merged.values });
        if (levelOut !== undefined && merged.timestampsMs.length > 0) levelOut.add(groups[g]!.labels, buildLevels(merged.timestampsMs, merged.values, input.levels));
      }
      samplesIn += batchSamples;
      if (batchSamples > batchSamplesMax) batchSamplesMax = batchSamples;
    }
    let raw: SegmentMeta | undefined;
    if (builder !== undefined) {
      const built = builder.finish();
      await writeBuiltSegment(dir, input.rawOutputName!, built);
      raw = built.meta;
    }
    const levels = levelOut !== undefined ? await levelOut.finish() : [];
    const levelHeldBytesMax = levelOut?.heldBytesMax ?? 0;
    const levelBucketsBytes = levelOut?.bytesWritten ?? 0;
    levelOut = undefined;
    return { ...(raw !== undefined ? { raw } : {}), levels, seriesCount, samplesIn, samplesOut, batchSamplesMax, levelHeldBytesMax, levelBucketsBytes, durationMs: performance.now() - started };
  } catch (e) {
    await levelOut?.abort();
    throw e;
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

/** Reads every part of every group (results in the same shape), at most `inFlightMax` reads at once. */
async function readGroups(
  readers: readonly SegmentReader[],
  groups: ReadonlyArray<{ parts: ReadonlyArray<{ reader: number; ref: number }> }>,
  inFlightMax: number,
): Promise<SampleRun[][]> {
  const jobs: Array<{ g: number; k: number; reader: number; ref: number }> = [];
  const out: SampleRun[][] = groups.map((g, gi) => {
    g.parts.forEach((p, k) => jobs.push({ g: gi, k, reader: p.reader, ref: p.ref }));
    return new Array<SampleRun>(g.parts.length);
  });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      out[j.g]![j.k] = await readers[j.reader]!.readSeries(j.ref);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(inFlightMax, jobs.length)) }, lane));
  return out;
}
