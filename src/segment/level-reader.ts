// Level segment reader: a BucketSource (model/querier.ts) and PostingsIndex over one level
// segment directory (docs/format/level.md).
//
// At open it validates meta.json, checks size and CRC-32 of every file (buckets.arrow streamed
// through the CRC, not kept), loads series.arrow and postings.arrow with the raw reader's code,
// and reads buckets.arrow's footer. selectBucketBatch() reads only the record batches holding
// the selected series' blocks (positional reads), keeps decompressed batches in the shared batch
// cache and decoded blocks in the shared chunk cache (segment/cache.ts), decodes only the blocks
// overlapping the time range, and copies the selected rows of all series into one RollupBuckets;
// selectBuckets() cuts that batch per series (one selection rule for both).
//
// Every decoded block is checked before use: bucket count, first/last end as in the row, ends
// ascending multiples of the width, every bucket overlapping the partition and holding only
// times inside it and inside the series' and segment's bounds, uint32 fields in range, and
// RollupBuckets.assertInvariants(); blocks of a series ascending. Anything else: SEGMENT_CORRUPT.
import fs from 'node:fs/promises';
import { MochaError } from '../errors.js';
import type { Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import { selectPostings } from '../model/postings.js';
import type { BucketBatch, BucketSource, SourceBuckets } from '../model/querier.js';
import { copyBucketRows, RollupBuckets, sliceBuckets } from '../rollup/buckets.js';
import { nextCacheOwner, segmentBatchCache, segmentChunkCache, type SegmentCache } from './cache.js';
import { BatchLoader } from './batch-loader.js';
import { registerArrowCodecs } from './codecs.js';
import { EncodingError } from './encoding/index.js';
import { BUCKETS_FILE, LEVEL_BLOCK_BUCKETS_LIMIT, LEVEL_COLUMN_ENCODED_BYTES_MAX, META_FILE, POSTINGS_FILE, SERIES_FILE } from './format.js';
import { decodeLevelBlock, LEVEL_FIELD_COLUMNS, LEVEL_FIELDS } from './level-encoding.js';
import { isLevelSegmentMeta, type LevelSegmentMeta } from './meta.js';
import {
  int32s,
  int64sAsNumbers,
  loadPostings,
  loadSeries,
  openDataFile,
  readBatchBuffers,
  readChecked,
  readSegmentMeta,
  uint32s,
  type BatchBlock,
} from './reader.js';
import { bucketsSchema } from './schema.js';
import { SeriesIndex, type PostingEntry } from './series-index.js';

export interface LevelSegmentOpenOptions {
  /** Stream buckets.arrow through its CRC-32 at open (default true). */
  verifyChecksum?: boolean;
  /** Where decompressed record batches are kept (default: the shared segmentBatchCache). */
  batchCache?: SegmentCache;
  /** Where decoded blocks are kept (default: the shared segmentChunkCache). */
  blockCache?: SegmentCache;
}

/** buckets.arrow columns in schema order and their IPC buffers: 4 fixed-width, then 18 Binary. */
const BUCKETS_COLUMN_BUFFERS = [2, 2, 2, 2, ...LEVEL_FIELDS.map(() => 3)];
const FIELD_COUNT = LEVEL_FIELDS.length;

function corrupt(msg: string, file: string, row?: number): MochaError {
  return new MochaError('SEGMENT_CORRUPT', msg, row === undefined ? { file } : { file, row });
}

/** One buckets.arrow record batch, decompressed and bounds-checked. */
interface DecodedBatch {
  refs: Uint32Array;
  minEnds: Float64Array;
  maxEnds: Float64Array;
  counts: Uint32Array;
  cellOffsets: Int32Array[];
  cellData: Uint8Array[];
  bytes: number;
}

const DECODED_BLOCK_OVERHEAD_BYTES = 1200;

export class LevelSegmentReader extends SeriesIndex implements BucketSource {
  readonly name: string;
  readonly level: string;
  readonly widthMs: number;
  readonly partitionStartMs: number;
  readonly partitionEndMs: number;
  readonly minTMs: number;
  readonly maxTMs: number;
  readonly sources: readonly string[];
  private readonly batchFirstRow: Uint32Array;
  private readonly batches: BatchLoader<DecodedBatch>;
  private readonly cacheOwner = nextCacheOwner();
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly meta: LevelSegmentMeta,
    labels: Labels[],
    private readonly seriesMin: Float64Array,
    private readonly seriesMax: Float64Array,
    private readonly seriesBuckets: Uint32Array,
    private readonly seriesFirstBlock: Uint32Array,
    private readonly seriesBlocks: Uint32Array,
    postingsByName: Map<string, Map<string, PostingEntry>>,
    private readonly handle: fs.FileHandle,
    private readonly blocks: readonly BatchBlock[],
    private readonly caches: { readonly batches: SegmentCache; readonly blocks: SegmentCache },
  ) {
    super(labels, postingsByName);
    this.name = meta.name;
    this.level = meta.level;
    this.widthMs = meta.widthMs;
    this.partitionStartMs = meta.partitionStartMs;
    this.partitionEndMs = meta.partitionEndMs;
    this.minTMs = meta.minTMs;
    this.maxTMs = meta.maxTMs;
    this.sources = meta.sources;
    this.batches = new BatchLoader(meta.bucketsBatchRows, caches.batches, this.cacheOwner, (b) => this.readBatch(b));
    this.batchFirstRow = this.batches.firstRow;
  }

  static async open(segmentDir: string, opts?: LevelSegmentOpenOptions): Promise<LevelSegmentReader> {
    registerArrowCodecs();
    const meta = await readSegmentMeta(segmentDir);
    if (!isLevelSegmentMeta(meta)) throw corrupt(`segment ${meta.name} is a raw segment, not a rollup level segment`, META_FILE);
    const seriesBytes = await readChecked(segmentDir, SERIES_FILE, meta);
    const postingsBytes = await readChecked(segmentDir, POSTINGS_FILE, meta);
    const series = loadSeries(seriesBytes, { ...meta, rowsTotal: meta.bucketCount, rowsPerUnitLimit: LEVEL_BLOCK_BUCKETS_LIMIT, rowsWhat: 'buckets' });
    const postings = loadPostings(postingsBytes, meta);
    const { handle, blocks } = await openDataFile(segmentDir, BUCKETS_FILE, meta, opts?.verifyChecksum ?? true, bucketsSchema, meta.bucketsBatchRows.length);
    try {
      const caches = { batches: opts?.batchCache ?? segmentBatchCache, blocks: opts?.blockCache ?? segmentChunkCache };
      const r = new LevelSegmentReader(segmentDir, meta, series.labels, series.mins, series.maxs, series.counts, series.firstChunk, series.chunkCounts, postings, handle, blocks, caches);
      r.assertInvariants();
      return r;
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Series refs 0..n-1 in label order own contiguous block rows in ref order, never split across record batches. */
  assertInvariants(): void {
    this.checkSeriesRows({
      firstRow: this.seriesFirstBlock,
      rowCount: this.seriesBlocks,
      batchFirstRow: this.batchFirstRow,
      batchCount: this.meta.bucketsBatchRows.length,
      seriesCount: this.meta.seriesCount,
      rowsTotal: this.meta.blockCount,
      rowWhat: 'block',
    });
  }

  labelsOf(ref: number): Labels {
    const l = this.labels[ref];
    if (l === undefined) throw new RangeError(`series ref ${ref} out of 0..${this.labels.length - 1}`);
    return l;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`level segment ${this.meta.name} used after close`);
  }

  /**
   * Labels of the series matching all matchers whose summarised times [min, max] overlap
   * [minTMs, maxTMs] (series granularity, as the raw reader's label queries), in label order.
   */
  series(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Labels[] {
    this.assertOpen();
    const out: Labels[] = [];
    if (maxTMs < this.minTMs || minTMs > this.maxTMs) return out;
    for (const ref of selectPostings(this, matchers).toUint32Array()) {
      if (this.seriesMax[ref]! < minTMs || this.seriesMin[ref]! > maxTMs) continue;
      out.push(this.labels[ref]!);
    }
    return out;
  }

  /**
   * Series matching all matchers, each with its buckets overlapping (minTMs, maxTMs] (endMs >
   * minTMs and endMs - widthMs < maxTMs), ascending endMs; series without one are left out; in
   * label order. The buckets are fresh arrays owned by the caller. Rows of selectBucketBatch
   * (one selection rule), each series copied to a struct of its own.
   */
  async selectBuckets(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<SourceBuckets[]> {
    const batch = await this.selectBucketBatch(matchers, minTMs, maxTMs);
    const out: SourceBuckets[] = [];
    for (let i = 0; i < batch.labels.length; i++) {
      out.push({ labels: batch.labels[i]!, key: batch.keys[i]!, buckets: sliceBuckets(batch.buckets, batch.offsets[i]!, batch.offsets[i + 1]!) });
    }
    return out;
  }

  /**
   * The buckets of selectBuckets for all selected series in ONE RollupBuckets: series i
   * (labels[i], keys[i]) has rows [offsets[i], offsets[i + 1]). Rows are copied from the decoded
   * (cached) blocks, so a series costs no typed-array allocation once its blocks are cached.
   */
  async selectBucketBatch(matchers: readonly Matcher[], minTMs: number, maxTMs: number): Promise<BucketBatch> {
    this.assertOpen();
    const g = this.widthMs;
    // Buckets overlapping (minTMs, maxTMs] end in (minTMs, maxTMs + G).
    const endLo = minTMs;
    const endHi = maxTMs + g;
    const wanted: number[] = [];
    const batchList: number[] = [];
    if (endHi > endLo) {
      let lastBatch = -1;
      for (const ref of selectPostings(this, matchers).toUint32Array()) {
        // Series bounds: its buckets end in [ceil(min/G)*G, ceil(max/G)*G].
        if (Math.ceil(this.seriesMax[ref]! / g) * g <= endLo || Math.ceil(this.seriesMin[ref]! / g) * g >= endHi) continue;
        wanted.push(ref);
        const b = this.batchOfRow(this.seriesFirstBlock[ref]!);
        if (b !== lastBatch) {
          batchList.push(b);
          lastBatch = b;
        }
      }
    }
    const labels: Labels[] = [];
    const keys: string[] = [];
    if (wanted.length === 0) return { labels, keys, offsets: new Uint32Array(1), buckets: new RollupBuckets(g, 0) };
    const loaded = await Promise.all(batchList.map((b) => this.loadBatch(b)));
    this.assertOpen();
    const byIndex = new Map<number, DecodedBatch>();
    for (let k = 0; k < batchList.length; k++) byIndex.set(batchList[k]!, loaded[k]!);
    const budget = { bytes: this.caches.blocks.stats().bytesMax / 2 };
    // Row runs (block, lo, hi) of every selected series in order; series k owns runs [runStart[k], runStart[k+1]).
    const runs: RunList = { blocks: [], lo: [], hi: [] };
    const seriesRows: number[] = [];
    let total = 0;
    for (const ref of wanted) {
      const b = this.batchOfRow(this.seriesFirstBlock[ref]!);
      const n = this.seriesRunsIn(ref, byIndex.get(b)!, b, endLo, endHi, budget, runs);
      if (n === 0) continue;
      labels.push(this.labels[ref]!);
      keys.push(this.keyOf(ref));
      seriesRows.push(n);
      total += n;
    }
    const out = new RollupBuckets(g, total);
    const offsets = new Uint32Array(labels.length + 1);
    for (let i = 0; i < seriesRows.length; i++) offsets[i + 1] = offsets[i]! + seriesRows[i]!;
    let at = 0;
    for (let r = 0; r < runs.blocks.length; r++) {
      const lo = runs.lo[r]!;
      const n = runs.hi[r]! - lo;
      copyBucketRows(out, at, runs.blocks[r]!, lo, n);
      at += n;
    }
    return { labels, keys, offsets, buckets: out };
  }

  private batchOfRow(row: number): number {
    return this.batches.batchOfRow(row);
  }

  /**
   * Appends to runs the row ranges of series ref's buckets with endLo < endMs < endHi, from its
   * blocks overlapping that range (checking all its block rows); returns how many buckets.
   */
  private seriesRunsIn(ref: number, batch: DecodedBatch, b: number, endLo: number, endHi: number, budget: { bytes: number }, runs: RunList): number {
    const local = this.seriesFirstBlock[ref]! - this.batchFirstRow[b]!;
    const nBlocks = this.seriesBlocks[ref]!;
    let total = 0;
    let bucketsSeen = 0;
    let prevEnd = -Infinity;
    for (let c = local; c < local + nBlocks; c++) {
      const row = this.batchFirstRow[b]! + c;
      if (batch.refs[c] !== ref) throw corrupt(`block row ${row} belongs to series ${batch.refs[c]}, expected ${ref}`, BUCKETS_FILE, row);
      if (!(batch.minEnds[c]! > prevEnd)) throw corrupt(`blocks of series ${ref} are not in ascending time order`, BUCKETS_FILE, row);
      prevEnd = batch.maxEnds[c]!;
      bucketsSeen += batch.counts[c]!;
      if (batch.maxEnds[c]! <= endLo || batch.minEnds[c]! >= endHi) continue;
      const block = this.block(batch, b, c, ref, budget);
      let lo = 0;
      while (lo < block.length && block.endMs[lo]! <= endLo) lo++;
      let hi = block.length;
      while (hi > lo && block.endMs[hi - 1]! >= endHi) hi--;
      if (hi > lo) {
        runs.blocks.push(block);
        runs.lo.push(lo);
        runs.hi.push(hi);
        total += hi - lo;
      }
    }
    if (bucketsSeen !== this.seriesBuckets[ref]) throw corrupt(`series ${ref}: blocks hold ${bucketsSeen} buckets; series.arrow says ${this.seriesBuckets[ref]}`, BUCKETS_FILE, this.seriesFirstBlock[ref]);
    return total;
  }

  /** Block c of batch b, decoded and checked: from the block cache, or decoded now. */
  private block(batch: DecodedBatch, b: number, c: number, ref: number, budget: { bytes: number }): RollupBuckets {
    const row = this.batchFirstRow[b]! + c;
    const cached = this.caches.blocks.get<RollupBuckets>(this.cacheOwner, row);
    if (cached !== undefined) return cached;
    const n = batch.counts[c]!;
    let block: RollupBuckets;
    try {
      const cells = [];
      for (let f = 0; f < FIELD_COUNT; f++) cells.push({ bytes: batch.cellData[f]!, start: batch.cellOffsets[f]![c]!, end: batch.cellOffsets[f]![c + 1]! });
      block = decodeLevelBlock(cells, n, this.widthMs);
    } catch (e) {
      if (e instanceof EncodingError) throw corrupt(`${BUCKETS_FILE} block of series ${ref}: ${e.message}`, BUCKETS_FILE, row);
      throw e;
    }
    this.checkBlock(block, batch, c, ref, row);
    const bytes = n * 132 + DECODED_BLOCK_OVERHEAD_BYTES;
    if (!this.closed && budget.bytes >= bytes) {
      budget.bytes -= bytes;
      this.caches.blocks.set(this.cacheOwner, row, block, bytes);
    }
    return block;
  }

  private checkBlock(block: RollupBuckets, batch: DecodedBatch, c: number, ref: number, row: number): void {
    const bad = (msg: string) => corrupt(`${BUCKETS_FILE} block of series ${ref}: ${msg}`, BUCKETS_FILE, row);
    const n = block.length;
    if (block.endMs[0] !== batch.minEnds[c] || block.endMs[n - 1] !== batch.maxEnds[c]) {
      throw bad(`decoded ends [${block.endMs[0]}, ${block.endMs[n - 1]}] differ from the row's [${batch.minEnds[c]}, ${batch.maxEnds[c]}]`);
    }
    try {
      block.assertInvariants();
    } catch (e) {
      throw bad((e as Error).message);
    }
    const g = this.widthMs;
    const lo = Math.max(this.seriesMin[ref]!, this.minTMs);
    const hi = Math.min(this.seriesMax[ref]!, this.maxTMs);
    for (let i = 0; i < n; i++) {
      const end = block.endMs[i]!;
      if (!(end >= this.partitionStartMs && end - g < this.partitionEndMs)) throw bad(`bucket ${i} ending at ${end} does not overlap the partition [${this.partitionStartMs}, ${this.partitionEndMs})`);
      if (block.firstKnownT(i) < lo || block.lastAnyT(i) > hi) throw bad(`bucket ${i} holds times outside the series' [${lo}, ${hi}]`);
    }
  }

  /** Record batch b of buckets.arrow, decompressed and validated: from the cache, a load in flight, or the file. */
  private loadBatch(b: number): Promise<DecodedBatch> | DecodedBatch {
    return this.batches.load(b);
  }

  private async readBatch(b: number): Promise<DecodedBatch> {
    const firstRow = this.batchFirstRow[b]!;
    const rows = this.meta.bucketsBatchRows[b]!;
    const bad = (msg: string) => corrupt(`${BUCKETS_FILE} record batch ${b}: ${msg}`, BUCKETS_FILE, firstRow);
    const buffers = await readBatchBuffers(this.handle, this.blocks[b]!, rows, BUCKETS_COLUMN_BUFFERS, bad);
    const cellOffsets: Int32Array[] = [];
    const cellData: Uint8Array[] = [];
    let bytes = rows * 24 + 512;
    for (let f = 0; f < FIELD_COUNT; f++) {
      const base = 8 + 3 * f;
      cellOffsets.push(int32s(buffers[base + 1]!, rows + 1, bad, `${LEVEL_FIELD_COLUMNS[LEVEL_FIELDS[f]!]} offsets`));
      cellData.push(buffers[base + 2]!);
      bytes += (rows + 1) * 4 + buffers[base + 2]!.byteLength;
    }
    const batch: DecodedBatch = {
      refs: uint32s(buffers[1]!, rows, bad, 'series_ref'),
      minEnds: int64sAsNumbers(buffers[3]!, rows, bad, 'min_end_ms'),
      maxEnds: int64sAsNumbers(buffers[5]!, rows, bad, 'max_end_ms'),
      counts: uint32s(buffers[7]!, rows, bad, 'bucket_count'),
      cellOffsets,
      cellData,
      bytes,
    };
    const g = this.widthMs;
    for (let c = 0; c < rows; c++) {
      const row = firstRow + c;
      const n = batch.counts[c]!;
      if (n < 1 || n > LEVEL_BLOCK_BUCKETS_LIMIT) throw corrupt(`bucket_count ${n} out of 1..${LEVEL_BLOCK_BUCKETS_LIMIT}`, BUCKETS_FILE, row);
      if (batch.refs[c]! >= this.labels.length) throw corrupt(`too big series_ref; got ${batch.refs[c]}; cannot exceed ${this.labels.length - 1}`, BUCKETS_FILE, row);
      const lo = batch.minEnds[c]!;
      const hi = batch.maxEnds[c]!;
      if (!(lo <= hi) || lo % g !== 0 || hi % g !== 0 || (hi - lo) / g < n - 1 || !(lo >= this.partitionStartMs) || !(hi - g < this.partitionEndMs)) {
        throw corrupt(`block ends [${lo}, ${hi}] do not fit ${n} buckets of ${g} ms overlapping the partition [${this.partitionStartMs}, ${this.partitionEndMs})`, BUCKETS_FILE, row);
      }
      for (let f = 0; f < FIELD_COUNT; f++) {
        const off = batch.cellOffsets[f]!;
        const a = off[c]!;
        const z = off[c + 1]!;
        const what = LEVEL_FIELD_COLUMNS[LEVEL_FIELDS[f]!];
        if (!(a >= 0 && z > a && z <= batch.cellData[f]!.length)) throw corrupt(`bad ${what} offsets [${a}, ${z}) for ${batch.cellData[f]!.length} data bytes`, BUCKETS_FILE, row);
        if (z - a > LEVEL_COLUMN_ENCODED_BYTES_MAX) throw corrupt(`too big ${what} cell; got ${z - a} bytes; cannot exceed ${LEVEL_COLUMN_ENCODED_BYTES_MAX}`, BUCKETS_FILE, row);
      }
    }
    return batch;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batches.close(this.handle);
    this.caches.blocks.dropOwner(this.cacheOwner);
  }
}

/** Row runs [lo, hi) of decoded blocks, flat (no object per run). */
interface RunList {
  blocks: RollupBuckets[];
  lo: number[];
  hi: number[];
}
