// Level segment writer: one tenant's rollup buckets of one level (width G) over one partition
// [partitionStartMs, partitionEndMs) as a segment directory: series.arrow and postings.arrow as in
// raw segments, buckets.arrow (blocks of buckets, level-encoding.ts) and meta.json. Format:
// docs/format/level.md.
//
// Buckets hold only samples of the partition, so the buckets at its edges are partial when G
// does not divide the partition; readers join partitions with concat() (rollup/buckets.ts).
//
// Crash safety as writeSegment (tmp directory, fsync, rename, fsync parent). Pair assertions:
// every block is decoded again and compared bit for bit with its input, and meta.json is parsed
// back with the reader's parser before anything is written.
import { Binary, Int64, RecordBatch, Struct, Uint32, makeData, type Data } from 'apache-arrow';
import { compareLabels, labelsAreSorted, labelsKey, type Labels } from '../model/labels.js';
import { isValidTenantId } from '../model/write.js';
import type { RollupBuckets } from '../rollup/buckets.js';
import { levelNameOf, type RollupLevel } from '../rollup/levels.js';
import { arrowFileBytes, type SegmentCompression } from './codecs.js';
import { crc32 } from './crc32.js';
import { ByteSink, TIMESTAMP_ABS_MAX_MS } from './encoding/index.js';
import {
  BUCKETS_FILE,
  LEVEL_BLOCK_BUCKETS_MAX,
  LEVEL_SOURCES_MAX,
  POSTINGS_FILE,
  SAMPLES_BATCH_BYTES_TARGET,
  SAMPLES_BATCH_CHUNKS_MAX,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_SERIES_MAX,
  SERIES_FILE,
  SERIES_LABELS_MAX,
} from './format.js';
import { decodeLevelBlock, encodeLevelBlock, LEVEL_FIELDS } from './level-encoding.js';
import { checkLevelSources, isLevelName, parseSegmentMeta, type LevelSegmentMeta } from './meta.js';
import { bucketsSchema } from './schema.js';
import { buildPostingsBatch, buildSeriesBatch, writeSegmentDir } from './writer.js';

export interface LevelSeriesInput {
  labels: Labels;
  buckets: RollupBuckets;
}

export interface LevelSegmentInput {
  tenant: string;
  level: RollupLevel;
  partitionStartMs: number;
  partitionEndMs: number;
  /** Names of the raw segments the buckets were built from. */
  sources: string[];
  /** Sorted by compareLabels, unique (a copy is sorted if not); series without buckets are left out. */
  series: LevelSeriesInput[];
}

export interface WriteLevelSegmentOptions {
  compression?: SegmentCompression;
  /** Buckets per block; default LEVEL_BLOCK_BUCKETS_MAX (benchmarks and tests vary it). */
  blockBucketsMax?: number;
}

/** Writes a level segment directory `<segmentsDir>/<name>` atomically and returns its meta. */
export async function writeLevelSegment(segmentsDir: string, name: string, input: LevelSegmentInput, opts?: WriteLevelSegmentOptions): Promise<LevelSegmentMeta> {
  const built = buildLevelSegmentFiles(name, input, opts?.compression ?? 'zstd', opts?.blockBucketsMax ?? LEVEL_BLOCK_BUCKETS_MAX);
  await writeSegmentDir(segmentsDir, name, built.files, built.meta);
  return built.meta;
}

/**
 * Lower bound of the times the buckets of one series summarise: the first sample when the
 * first bucket has no stale marker (then it is exact), else the start of that bucket (only the
 * last stale marker of a bucket is kept, an earlier one may precede the first sample).
 */
function seriesMinT(b: RollupBuckets, partitionStartMs: number): number {
  const t = Number.isNaN(b.lastStaleT[0]!) ? b.firstT[0]! : b.endMs[0]! - b.widthMs + 1;
  return Math.max(t, partitionStartMs);
}

/** Validates the input and builds the three Arrow files and meta.json in memory (no I/O). */
export function buildLevelSegmentFiles(
  name: string,
  input: LevelSegmentInput,
  compression: SegmentCompression,
  blockBucketsMax: number,
): { meta: LevelSegmentMeta; files: Array<[string, Uint8Array]> } {
  if (!isValidTenantId(input.tenant)) throw new Error(`invalid tenant id ${JSON.stringify(input.tenant)}`);
  const { name: level, widthMs: g } = input.level;
  if (!isLevelName(level) || !Number.isInteger(g) || levelNameOf(g) !== level) throw new Error(`bad level ${JSON.stringify(input.level)}: name must be the canonical name of widthMs`);
  const { partitionStartMs: pStart, partitionEndMs: pEnd } = input;
  if (!Number.isInteger(pStart) || !Number.isInteger(pEnd) || !(pEnd > pStart) || Math.abs(pStart) > TIMESTAMP_ABS_MAX_MS || Math.abs(pEnd) > TIMESTAMP_ABS_MAX_MS + 1) {
    throw new Error(`bad partition bounds [${pStart}, ${pEnd})`);
  }
  if (input.sources.length > LEVEL_SOURCES_MAX) throw new Error(`too many sources: ${input.sources.length} > ${LEVEL_SOURCES_MAX}`);
  const sources = checkLevelSources(input.sources, (m) => new Error(`level segment ${m}`));
  if (!(Number.isInteger(blockBucketsMax) && blockBucketsMax >= 1 && blockBucketsMax <= 65_536)) throw new Error(`blockBucketsMax ${blockBucketsMax} out of 1..65536`);
  const series = input.series.filter((s) => s.buckets.length > 0);
  if (series.length === 0) throw new Error('a level segment needs at least one bucket');
  if (series.length > SEGMENT_SERIES_MAX) throw new Error(`too many series for one segment: ${series.length} > ${SEGMENT_SERIES_MAX}`);
  for (let i = 1; i < series.length; i++) {
    if (compareLabels(series[i - 1]!.labels, series[i]!.labels) > 0) {
      series.sort((a, b) => compareLabels(a.labels, b.labels));
      break;
    }
  }
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const key = () => labelsKey(s.labels);
    if (s.labels.length === 0 || s.labels.length > SERIES_LABELS_MAX || !labelsAreSorted(s.labels)) throw new Error(`series ${key()}: labels must be 1..${SERIES_LABELS_MAX}, sorted, unique`);
    if (i > 0 && compareLabels(series[i - 1]!.labels, s.labels) === 0) throw new Error(`duplicate series ${key()}`);
    const b = s.buckets;
    if (b.widthMs !== g) throw new Error(`series ${key()}: buckets of width ${b.widthMs}; level ${level} is ${g}`);
    try {
      b.assertInvariants();
    } catch (e) {
      throw new Error(`series ${key()}: ${(e as Error).message}`);
    }
    for (let j = 0; j < b.length; j++) {
      // Every bucket overlaps the partition, and every time it holds is inside it. A bucket ending
      // exactly at pStart holds only a sample at exactly pStart (a scrape aligned to the boundary).
      const end = b.endMs[j]!;
      if (!(end >= pStart && end - g < pEnd) || b.firstKnownT(j) < pStart || b.lastAnyT(j) >= pEnd) {
        throw new Error(`series ${key()}: bucket ${j} ending at ${end} holds times outside the partition [${pStart}, ${pEnd})`);
      }
    }
  }

  // buckets.arrow: blocks cut into record batches at series boundaries.
  const n = series.length;
  const seriesMin = new BigInt64Array(n);
  const seriesMax = new BigInt64Array(n);
  const seriesBuckets = new Uint32Array(n);
  const seriesFirstBlock = new Uint32Array(n);
  const seriesBlocks = new Uint32Array(n);
  const batches: RecordBatch[] = [];
  const batchRows: number[] = [];
  const blocks = new BlockBatchBuilder();
  let blockRow = 0;
  let bucketCount = 0;
  let sampleCount = 0;
  let minT = Infinity;
  let maxT = -Infinity;
  for (let ref = 0; ref < n; ref++) {
    const b = series[ref]!.buckets;
    const len = b.length;
    const nBlocks = Math.ceil(len / blockBucketsMax);
    const per = Math.ceil(len / nBlocks); // equal-sized blocks: no tiny tail block
    const lo = seriesMinT(b, pStart);
    const hi = b.lastAnyT(len - 1);
    seriesFirstBlock[ref] = blockRow;
    seriesBlocks[ref] = nBlocks;
    seriesBuckets[ref] = len;
    seriesMin[ref] = BigInt(lo);
    seriesMax[ref] = BigInt(hi);
    minT = Math.min(minT, lo);
    maxT = Math.max(maxT, hi);
    for (let start = 0; start < len; start += per) {
      blocks.add(ref, b, start, Math.min(per, len - start));
      blockRow++;
    }
    bucketCount += len;
    for (let j = 0; j < len; j++) sampleCount += b.count[j]!;
    if (blocks.rows >= SAMPLES_BATCH_CHUNKS_MAX || blocks.encodedBytes >= SAMPLES_BATCH_BYTES_TARGET || ref === n - 1) {
      batchRows.push(blocks.rows);
      batches.push(blocks.build());
    }
  }
  const bucketsBytes = arrowFileBytes(batches, compression);
  const seriesBytes = arrowFileBytes([buildSeriesBatch(series, seriesMin, seriesMax, seriesBuckets, seriesFirstBlock, seriesBlocks)], compression);
  const postings = buildPostingsBatch(series);
  const postingsBytes = arrowFileBytes([postings.batch], compression);
  const files: Array<[string, Uint8Array]> = [
    [SERIES_FILE, seriesBytes],
    [BUCKETS_FILE, bucketsBytes],
    [POSTINGS_FILE, postingsBytes],
  ];
  const fileMeta: LevelSegmentMeta['files'] = {};
  let bytes = 0;
  for (const [f, data] of files) {
    fileMeta[f] = { bytes: data.length, crc32: crc32(data) };
    bytes += data.length;
  }
  const meta: LevelSegmentMeta = {
    formatVersion: SEGMENT_FORMAT_VERSION,
    name,
    tenant: input.tenant,
    level,
    widthMs: g,
    partitionStartMs: pStart,
    partitionEndMs: pEnd,
    minTMs: minT,
    maxTMs: maxT,
    seriesCount: n,
    sampleCount,
    bucketCount,
    blockCount: blockRow,
    bytes,
    files: fileMeta,
    compression,
    bucketsBatchRows: batchRows,
    labelPairCount: postings.rows,
    sources,
  };
  // Pair assertion: what we write must pass the reader's checks.
  parseSegmentMeta(JSON.stringify(meta), name);
  return { meta, files };
}

/** Growable per-block columns of the record batch being built. */
class BlockBatchBuilder {
  private refs: number[] = [];
  private mins: number[] = [];
  private maxs: number[] = [];
  private counts: number[] = [];
  private readonly offsets: number[][] = LEVEL_FIELDS.map(() => [0]);
  private readonly sinks: ByteSink[] = LEVEL_FIELDS.map(() => new ByteSink(16 * 1024));

  get rows(): number {
    return this.refs.length;
  }

  get encodedBytes(): number {
    let total = 0;
    for (const s of this.sinks) total += s.length;
    return total;
  }

  add(ref: number, b: RollupBuckets, start: number, count: number): void {
    const before = this.sinks.map((s) => s.length);
    encodeLevelBlock(b, start, count, this.sinks);
    verifyBlock(this.sinks, before, b, start, count);
    this.refs.push(ref);
    this.mins.push(b.endMs[start]!);
    this.maxs.push(b.endMs[start + count - 1]!);
    this.counts.push(count);
    for (let c = 0; c < this.sinks.length; c++) this.offsets[c]!.push(this.sinks[c]!.length);
  }

  build(): RecordBatch {
    const n = this.refs.length;
    const children: Data[] = [
      makeData({ type: new Uint32(), length: n, nullCount: 0, data: Uint32Array.from(this.refs) }),
      makeData({ type: new Int64(), length: n, nullCount: 0, data: BigInt64Array.from(this.mins, BigInt) }),
      makeData({ type: new Int64(), length: n, nullCount: 0, data: BigInt64Array.from(this.maxs, BigInt) }),
      makeData({ type: new Uint32(), length: n, nullCount: 0, data: Uint32Array.from(this.counts) }),
    ];
    for (let c = 0; c < this.sinks.length; c++) {
      children.push(makeData({ type: new Binary(), length: n, nullCount: 0, valueOffsets: Int32Array.from(this.offsets[c]!), data: this.sinks[c]!.view().slice() }));
      this.offsets[c] = [0];
      this.sinks[c]!.reset();
    }
    this.refs = [];
    this.mins = [];
    this.maxs = [];
    this.counts = [];
    return new RecordBatch(bucketsSchema, makeData({ type: new Struct(bucketsSchema.fields), length: n, nullCount: 0, children }));
  }
}

/** Decodes a just-encoded block and compares every field bit for bit with the input. */
function verifyBlock(sinks: ByteSink[], before: number[], b: RollupBuckets, start: number, count: number): void {
  const cells = sinks.map((s, c) => ({ bytes: s.bytes, start: before[c]!, end: s.length }));
  const got = decodeLevelBlock(cells, count, b.widthMs);
  for (const f of LEVEL_FIELDS) {
    const want = b[f];
    const have = got[f];
    const wb = new Uint8Array(want.buffer, want.byteOffset + start * want.BYTES_PER_ELEMENT, count * want.BYTES_PER_ELEMENT);
    const hb = new Uint8Array(have.buffer, have.byteOffset, count * have.BYTES_PER_ELEMENT);
    for (let i = 0; i < wb.length; i++) {
      if (wb[i] !== hb[i]) throw new Error(`level block encoding check failed: field ${f} of bucket ${start + Math.floor(i / want.BYTES_PER_ELEMENT)} differs`);
    }
  }
}
