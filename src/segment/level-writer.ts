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
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Binary, Int64, RecordBatch, RecordBatchFileWriter, Struct, Uint32, makeData, type Data } from 'apache-arrow';
import { compareLabels, labelsAreSorted, labelsKey, type Labels } from '../model/labels.js';
import { isValidTenantId } from '../model/write.js';
import type { RollupBuckets } from '../rollup/buckets.js';
import { levelNameOf, type RollupLevel } from '../rollup/levels.js';
import { arrowFileBytes, compressionTypeOf, fixCompressedMessagePrefixes, registerArrowCodecs, type SegmentCompression } from './codecs.js';
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
import { makeSegmentTmpDir, publishSegmentDir, seriesAndPostingsFiles } from './writer.js';

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
  /** Encoded bytes at which a record batch of buckets.arrow is cut; default SAMPLES_BATCH_BYTES_TARGET (tests lower it). */
  batchBytesTarget?: number;
}

/** Writes a level segment directory `<segmentsDir>/<name>` atomically and returns its meta (all series at once: a wrapper over LevelSegmentStreamWriter). */
export async function writeLevelSegment(segmentsDir: string, name: string, input: LevelSegmentInput, opts?: WriteLevelSegmentOptions): Promise<LevelSegmentMeta> {
  const series = sortedSeries(input.series);
  const w = await LevelSegmentStreamWriter.create(segmentsDir, name, input, opts);
  try {
    for (const s of series) w.add(s.labels, s.buckets);
    return await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
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

function sortedSeries(list: readonly LevelSeriesInput[]): LevelSeriesInput[] {
  const series = list.filter((s) => s.buckets.length > 0);
  for (let i = 1; i < series.length; i++) {
    if (compareLabels(series[i - 1]!.labels, series[i]!.labels) > 0) {
      series.sort((a, b) => compareLabels(a.labels, b.labels));
      break;
    }
  }
  return series;
}

/** Validates the input and builds the three Arrow files and meta.json in memory (no I/O; benchmarks). */
export function buildLevelSegmentFiles(
  name: string,
  input: LevelSegmentInput,
  compression: SegmentCompression,
  blockBucketsMax: number,
  batchBytesTarget: number = SAMPLES_BATCH_BYTES_TARGET,
): { meta: LevelSegmentMeta; files: Array<[string, Uint8Array]> } {
  const batches: RecordBatch[] = [];
  const enc = new LevelSeriesEncoder(input, blockBucketsMax, (b) => batches.push(b), batchBytesTarget);
  for (const s of sortedSeries(input.series)) enc.add(s.labels, s.buckets);
  enc.cut();
  const bucketsBytes = arrowFileBytes(batches, compression);
  return enc.finishFiles(name, compression, bucketsBytes.length, crc32(bucketsBytes), (files) => files.splice(1, 0, [BUCKETS_FILE, bucketsBytes]));
}

/**
 * Validates series and encodes their buckets into record batches of buckets.arrow, cut at series
 * boundaries once a batch reaches SAMPLES_BATCH_BYTES_TARGET encoded bytes (or
 * SAMPLES_BATCH_CHUNKS_MAX blocks); each cut batch goes to onBatch and is not kept. What it keeps
 * per series: labels and six numbers (series.arrow and postings.arrow are built at the end).
 */
class LevelSeriesEncoder {
  private readonly series: Array<{ labels: Labels }> = [];
  private readonly seriesMin: number[] = [];
  private readonly seriesMax: number[] = [];
  private readonly seriesBuckets: number[] = [];
  private readonly seriesFirstBlock: number[] = [];
  private readonly seriesBlocks: number[] = [];
  private readonly batchRows: number[] = [];
  private readonly blocks = new BlockBatchBuilder();
  private readonly sources: string[];
  private blockRow = 0;
  private bucketCount = 0;
  private sampleCount = 0;
  private minT = Infinity;
  private maxT = -Infinity;
  /** Record batches cut so far. */
  batchesCut = 0;

  constructor(
    private readonly input: Omit<LevelSegmentInput, 'series'>,
    private readonly blockBucketsMax: number,
    private readonly onBatch: (b: RecordBatch) => void,
    private readonly batchBytesTarget: number = SAMPLES_BATCH_BYTES_TARGET,
  ) {
    if (!isValidTenantId(input.tenant)) throw new Error(`invalid tenant id ${JSON.stringify(input.tenant)}`);
    const { name: level, widthMs: g } = input.level;
    if (!isLevelName(level) || !Number.isInteger(g) || levelNameOf(g) !== level) throw new Error(`bad level ${JSON.stringify(input.level)}: name must be the canonical name of widthMs`);
    const { partitionStartMs: pStart, partitionEndMs: pEnd } = input;
    if (!Number.isInteger(pStart) || !Number.isInteger(pEnd) || !(pEnd > pStart) || Math.abs(pStart) > TIMESTAMP_ABS_MAX_MS || Math.abs(pEnd) > TIMESTAMP_ABS_MAX_MS + 1) {
      throw new Error(`bad partition bounds [${pStart}, ${pEnd})`);
    }
    if (input.sources.length > LEVEL_SOURCES_MAX) throw new Error(`too many sources: ${input.sources.length} > ${LEVEL_SOURCES_MAX}`);
    this.sources = checkLevelSources(input.sources, (m) => new Error(`level segment ${m}`));
    if (!(Number.isInteger(blockBucketsMax) && blockBucketsMax >= 1 && blockBucketsMax <= 65_536)) throw new Error(`blockBucketsMax ${blockBucketsMax} out of 1..65536`);
  }

  get seriesCount(): number {
    return this.series.length;
  }

  /** Adds the next series (labels after every series added so far); a series without buckets is skipped. */
  add(labels: Labels, b: RollupBuckets): void {
    if (b.length === 0) return;
    const { name: level, widthMs: g } = this.input.level;
    const { partitionStartMs: pStart, partitionEndMs: pEnd } = this.input;
    const key = () => labelsKey(labels);
    const ref = this.series.length;
    if (ref >= SEGMENT_SERIES_MAX) throw new Error(`too many series for one segment: more than ${SEGMENT_SERIES_MAX}`);
    if (labels.length === 0 || labels.length > SERIES_LABELS_MAX || !labelsAreSorted(labels)) throw new Error(`series ${key()}: labels must be 1..${SERIES_LABELS_MAX}, sorted, unique`);
    if (ref > 0) {
      const c = compareLabels(this.series[ref - 1]!.labels, labels);
      if (c === 0) throw new Error(`duplicate series ${key()}`);
      if (c > 0) throw new Error(`series ${key()} added out of label order`);
    }
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
    const len = b.length;
    const nBlocks = Math.ceil(len / this.blockBucketsMax);
    const per = Math.ceil(len / nBlocks); // equal-sized blocks: no tiny tail block
    const lo = seriesMinT(b, pStart);
    const hi = b.lastAnyT(len - 1);
    this.series.push({ labels });
    this.seriesFirstBlock.push(this.blockRow);
    this.seriesBlocks.push(nBlocks);
    this.seriesBuckets.push(len);
    this.seriesMin.push(lo);
    this.seriesMax.push(hi);
    if (lo < this.minT) this.minT = lo;
    if (hi > this.maxT) this.maxT = hi;
    for (let start = 0; start < len; start += per) {
      this.blocks.add(ref, b, start, Math.min(per, len - start));
      this.blockRow++;
    }
    this.bucketCount += len;
    for (let j = 0; j < len; j++) this.sampleCount += b.count[j]!;
    if (this.blocks.rows >= SAMPLES_BATCH_CHUNKS_MAX || this.blocks.encodedBytes >= this.batchBytesTarget) this.cut();
  }

  /** Encoded bytes of the batch being built (the writer's memory besides the per-series index). */
  get pendingBytes(): number {
    return this.blocks.encodedBytes;
  }

  cut(): void {
    if (this.blocks.rows === 0) return;
    this.batchRows.push(this.blocks.rows);
    this.batchesCut++;
    this.onBatch(this.blocks.build());
  }

  /** series.arrow, postings.arrow and meta, given buckets.arrow's size and crc (insert places it in the file list). */
  finishFiles(name: string, compression: SegmentCompression, bucketsBytes: number, bucketsCrc: number, insert: (files: Array<[string, Uint8Array]>) => void): { meta: LevelSegmentMeta; files: Array<[string, Uint8Array]> } {
    const n = this.series.length;
    if (n === 0) throw new Error('a level segment needs at least one bucket');
    const { seriesBytes, postingsBytes, labelPairCount } = seriesAndPostingsFiles(
      this.series,
      { mins: this.seriesMin, maxs: this.seriesMax, units: this.seriesBuckets, firstRow: this.seriesFirstBlock, rowCount: this.seriesBlocks },
      compression,
    );
    const fileMeta: LevelSegmentMeta['files'] = {
      [SERIES_FILE]: { bytes: seriesBytes.length, crc32: crc32(seriesBytes) },
      [BUCKETS_FILE]: { bytes: bucketsBytes, crc32: bucketsCrc },
      [POSTINGS_FILE]: { bytes: postingsBytes.length, crc32: crc32(postingsBytes) },
    };
    const meta: LevelSegmentMeta = {
      formatVersion: SEGMENT_FORMAT_VERSION,
      name,
      tenant: this.input.tenant,
      level: this.input.level.name,
      widthMs: this.input.level.widthMs,
      partitionStartMs: this.input.partitionStartMs,
      partitionEndMs: this.input.partitionEndMs,
      minTMs: this.minT,
      maxTMs: this.maxT,
      seriesCount: n,
      sampleCount: this.sampleCount,
      bucketCount: this.bucketCount,
      blockCount: this.blockRow,
      bytes: seriesBytes.length + bucketsBytes + postingsBytes.length,
      files: fileMeta,
      compression,
      bucketsBatchRows: this.batchRows,
      labelPairCount,
      sources: this.sources,
    };
    // Pair assertion: what we write must pass the reader's checks.
    parseSegmentMeta(JSON.stringify(meta), name);
    const files: Array<[string, Uint8Array]> = [
      [SERIES_FILE, seriesBytes],
      [POSTINGS_FILE, postingsBytes],
    ];
    insert(files);
    return { meta, files };
  }
}

/**
 * Writes a level segment series by series, in label order: each series' buckets are encoded and
 * appended to the record batch being built; a batch reaching SAMPLES_BATCH_BYTES_TARGET encoded
 * bytes is serialized (and compressed) into `<name>.tmp/buckets.arrow` at once. Memory bound: one
 * record batch of encoded buckets (~1 MiB, plus Arrow's compression copy of it) and, per series,
 * its labels and six numbers (series.arrow and postings.arrow are written at the end) -- never the
 * decoded buckets of more than the series being added. finish() writes the other files and
 * meta.json, fsyncs and renames the directory into place (crash safety as writeSegmentDir: a
 * `.tmp` directory left by a crash is removed at the next start); abort() removes it.
 */
export class LevelSegmentStreamWriter {
  private readonly enc: LevelSeriesEncoder;
  private readonly arrow: RecordBatchFileWriter;
  private bytesWritten = 0;
  private crc = 0;
  private done = false;
  /**
   * The most bytes of encoded buckets this writer held at once (counted, for the memory-bound
   * test): the batch being built, or a cut batch's serialized Arrow bytes before they go to the file.
   */
  heldBytesMax = 0;

  private constructor(
    private readonly segmentsDir: string,
    private readonly name: string,
    private readonly tmpDir: string,
    private readonly fd: number,
    input: Omit<LevelSegmentInput, 'series'>,
    private readonly compression: SegmentCompression,
    blockBucketsMax: number,
    batchBytesTarget: number,
  ) {
    this.enc = new LevelSeriesEncoder(input, blockBucketsMax, (b) => this.writeBatch(b), batchBytesTarget);
    registerArrowCodecs();
    const type = compressionTypeOf(compression);
    this.arrow = new RecordBatchFileWriter(type === null ? {} : { compressionType: type });
  }

  static async create(segmentsDir: string, name: string, input: Omit<LevelSegmentInput, 'series'>, opts?: WriteLevelSegmentOptions): Promise<LevelSegmentStreamWriter> {
    const tmpDir = await makeSegmentTmpDir(segmentsDir, name);
    const fd = fsSync.openSync(path.join(tmpDir, BUCKETS_FILE), 'w');
    try {
      return new LevelSegmentStreamWriter(segmentsDir, name, tmpDir, fd, input, opts?.compression ?? 'zstd', opts?.blockBucketsMax ?? LEVEL_BLOCK_BUCKETS_MAX, opts?.batchBytesTarget ?? SAMPLES_BATCH_BYTES_TARGET);
    } catch (e) {
      fsSync.closeSync(fd);
      await fs.rm(tmpDir, { recursive: true, force: true });
      throw e;
    }
  }

  get seriesCount(): number {
    return this.enc.seriesCount;
  }

  /** Record batches written to buckets.arrow so far. */
  get batchesWritten(): number {
    return this.enc.batchesCut;
  }

  /** Adds the next series (labels after every series added so far); a series without buckets is skipped. */
  add(labels: Labels, buckets: RollupBuckets): void {
    if (this.done) throw new Error('level writer used after finish');
    this.enc.add(labels, buckets);
    if (this.enc.pendingBytes > this.heldBytesMax) this.heldBytesMax = this.enc.pendingBytes;
  }

  private writeBatch(batch: RecordBatch): void {
    this.arrow.write(batch);
    this.drain();
  }

  /** Bytes of buckets.arrow written so far. */
  get bytesWrittenToFile(): number {
    return this.bytesWritten;
  }

  /** Moves what the Arrow writer has serialized to the file, fixing compressed length prefixes. */
  private drain(): void {
    // apache-arrow's file writer keeps its output in an in-memory queue until read; taking the
    // pieces as they come keeps one batch in memory. Its offsets (footer blocks) are positions it
    // counts itself, so reading the queue does not change the file.
    const queue = (this.arrow as unknown as { _sink: { _values: Uint8Array[] } })._sink._values;
    if (queue.length === 0) return;
    const pieces = queue.splice(0, queue.length);
    let n = 0;
    for (const p of pieces) n += p.byteLength;
    if (n > this.heldBytesMax) this.heldBytesMax = n;
    const bytes = new Uint8Array(n);
    let at = 0;
    for (const p of pieces) {
      bytes.set(p, at);
      at += p.byteLength;
    }
    const type = compressionTypeOf(this.compression);
    // The first piece starts with the file magic ("ARROW1" + 2 bytes).
    if (type !== null) fixCompressedMessagePrefixes(bytes, this.bytesWritten === 0 ? 8 : 0, type, true);
    let off = 0;
    while (off < bytes.length) off += fsSync.writeSync(this.fd, bytes, off, bytes.length - off);
    this.crc = crc32(bytes, this.crc);
    this.bytesWritten += bytes.length;
  }

  /** Writes the rest, makes the segment durable and visible under its name; returns its meta. */
  async finish(): Promise<LevelSegmentMeta> {
    if (this.done) throw new Error('level writer finished twice');
    this.done = true;
    this.enc.cut();
    if (this.enc.seriesCount === 0) throw new Error('a level segment needs at least one bucket');
    this.arrow.finish();
    this.drain();
    fsSync.fsyncSync(this.fd);
    fsSync.closeSync(this.fd);
    const { meta, files } = this.enc.finishFiles(this.name, this.compression, this.bytesWritten, this.crc, () => undefined);
    await publishSegmentDir(this.segmentsDir, this.name, this.tmpDir, files, meta);
    return meta;
  }

  /** Removes what was written (the segment never appears). */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      try {
        fsSync.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    await fs.rm(this.tmpDir, { recursive: true, force: true });
  }
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
