// Level segment reader: a BucketSource (model/querier.ts) and PostingsIndex over one level
// segment directory (docs/format/level.md).
//
// At open it validates meta.json, checks size and CRC-32 of every file (buckets.arrow streamed
// through the CRC, not kept), loads series.arrow and postings.arrow with the raw reader's code,
// and reads buckets.arrow's footer. selectBucketBatch() reads only the record batches holding
// the selected series' blocks (positional reads), keeps decompressed batches in the shared batch
// cache and decoded blocks in the shared chunk cache (segment/cache.ts), decodes only the blocks
// overlapping the time range and of those only the fields the query reads (and the ones they are
// predicted from), and copies the selected rows of all series into one RollupBuckets;
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
import type { BucketBatch, BucketRuns, BucketSource, SourceBuckets } from '../model/querier.js';
import { BUCKET_TIME_FIELDS, copyBucketRows, RollupBuckets, sliceBuckets, type BucketField } from '../rollup/buckets.js';
import { nextCacheOwner, segmentBatchCache, segmentLevelCache, type SegmentCache } from './cache.js';
import { BatchLoader } from './batch-loader.js';
import { registerArrowCodecs } from './codecs.js';
import { EncodingError } from './encoding/index.js';
import { BUCKETS_FILE, LEVEL_BLOCK_BUCKETS_LIMIT, LEVEL_COLUMN_ENCODED_BYTES_MAX, META_FILE, POSTINGS_FILE, SERIES_FILE } from './format.js';
import { decodeLevelBlockFieldsInto, LEVEL_FIELD_COLUMNS, LEVEL_FIELDS, LEVEL_FIELDS_ALL, levelFieldMask } from './level-encoding.js';
import { isLevelSegmentMeta, type LevelSegmentMeta } from './meta.js';
import {
  int32s,
  int64sAsNumbers,
  loadPostings,
  loadSeries,
  openDataFile,
  parseWithPredecompressed,
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
  /** Where decoded record batches are kept (default: the shared segmentLevelCache, which raw reads do not use). */
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

/** What every read decodes: the fields checkBlock looks at (resets and changes only when decoded). */
const TIME_FIELD_MASK = levelFieldMask(BUCKET_TIME_FIELDS);
const COUNTS_MASK = levelFieldMask(['resets', 'changes']);

/** The field mask a selection decodes: the fields asked for and the time fields; every field by default. */
function wantedMask(fields: readonly BucketField[] | undefined): number {
  return fields === undefined ? LEVEL_FIELDS_ALL : levelFieldMask(fields) | TIME_FIELD_MASK;
}

/** Heap bytes of a decoded batch beyond its buckets: the struct's 18 views and the object. */
const BATCH_BUCKETS_OVERHEAD_BYTES = 4096;

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
    labels: readonly Labels[],
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
    // Parsed with their buffers decompressed off the event loop first (parseWithPredecompressed).
    const series = await parseWithPredecompressed(seriesBytes, (b) => loadSeries(b, { ...meta, rowsTotal: meta.bucketCount, rowsPerUnitLimit: LEVEL_BLOCK_BUCKETS_LIMIT, rowsWhat: 'buckets' }));
    const postings = await parseWithPredecompressed(postingsBytes, (b) => loadPostings(b, meta));
    const { handle, blocks } = await openDataFile(segmentDir, BUCKETS_FILE, meta, opts?.verifyChecksum ?? true, bucketsSchema, meta.bucketsBatchRows.length);
    try {
      const caches = { batches: opts?.batchCache ?? segmentBatchCache, blocks: opts?.blockCache ?? segmentLevelCache };
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
   * label order. The buckets are fresh arrays owned by the caller. Rows of selectBucketRuns
   * (one selection rule), each series copied to a struct of its own.
   */
  async selectBuckets(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<SourceBuckets[]> {
    const runs = await this.selectBucketRuns(matchers, minTMs, maxTMs, fields);
    const out: SourceBuckets[] = [];
    for (let i = 0; i < runs.labels.length; i++) {
      out.push({ labels: runs.labels[i]!, key: runs.keys[i]!, buckets: sliceBuckets(runs.buckets[i]!, runs.lo[i]!, runs.hi[i]!) });
    }
    return out;
  }

  /**
   * The buckets of selectBuckets for all selected series in ONE RollupBuckets: series i
   * (labels[i], keys[i]) has rows [offsets[i], offsets[i + 1]). A copy the caller owns, of the
   * rows selectBucketRuns hands out.
   */
  async selectBucketBatch(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketBatch> {
    const runs = await this.selectBucketRuns(matchers, minTMs, maxTMs, fields);
    const n = runs.labels.length;
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + runs.hi[i]! - runs.lo[i]!;
    const out = new RollupBuckets(this.widthMs, offsets[n]!);
    for (let i = 0; i < n; i++) copyBucketRows(out, offsets[i]!, runs.buckets[i]!, runs.lo[i]!, runs.hi[i]! - runs.lo[i]!);
    return { labels: runs.labels, keys: runs.keys, offsets, buckets: out };
  }

  /**
   * The buckets of selectBuckets without a copy: series i has rows [lo[i], hi[i]) of
   * buckets[i], the decoded record batch its blocks are in (shared with the cache and other
   * queries: read only). A record batch's blocks are decoded into one struct, block by block and
   * field by field as selections need them, and that struct is cached whole in the level cache
   * (segmentLevelCache unless opened with another): a warm read allocates nothing per series or
   * bucket, and a cold one one struct per record batch. `fields` (default all): the fields the
   * caller reads; the time fields are always decoded (checkBlock), other fields only where some
   * selection asked for them (or a decoded cell is predicted from them): they hold anything else.
   */
  async selectBucketRuns(matchers: readonly Matcher[], minTMs: number, maxTMs: number, fields?: readonly BucketField[]): Promise<BucketRuns> {
    this.assertOpen();
    const want = wantedMask(fields);
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
    if (wanted.length === 0) return { labels, keys, buckets: [], lo: new Uint32Array(0), hi: new Uint32Array(0) };
    // Decoded batches from the cache; the record batches only where a needed block is not decoded yet.
    const decoded = new Map<number, LevelBatchBuckets>();
    // Batches whose struct is in the cache (found there or put there now): their entry's size
    // is updated when decoding gives more columns memory.
    const cached = new Set<number>();
    for (const b of batchList) {
      const d = this.caches.blocks.get<LevelBatchBuckets>(this.cacheOwner, b);
      if (d !== undefined) {
        decoded.set(b, d);
        cached.add(b);
      }
    }
    const toLoad = batchList.filter((b) => {
      const d = decoded.get(b);
      return d === undefined || this.missingBlocks(d, b, wanted, endLo, endHi, want);
    });
    const loaded = await Promise.all(toLoad.map((b) => this.loadBatch(b)));
    this.assertOpen();
    const budget = { bytes: this.caches.blocks.stats().bytesMax / 2 };
    for (let k = 0; k < toLoad.length; k++) {
      const b = toLoad[k]!;
      // (A query that started decoding the same batch meanwhile may have cached it too: the
      // later set replaces the earlier, both right.)
      let d = decoded.get(b);
      if (d === undefined) {
        d = this.newBatchBuckets(b, loaded[k]!);
        if (!this.closed && budget.bytes >= d.bytes) {
          budget.bytes -= d.bytes;
          this.caches.blocks.set(this.cacheOwner, b, d, d.bytes);
          cached.add(b);
        }
      }
      decoded.set(b, d);
      const bytesBefore = d.bytes;
      this.decodeWanted(d, b, loaded[k]!, wanted, endLo, endHi, want);
      if (d.bytes !== bytesBefore && cached.has(b) && !this.closed) {
        budget.bytes -= d.bytes - bytesBefore;
        this.caches.blocks.set(this.cacheOwner, b, d, d.bytes);
      }
    }
    const structs: RollupBuckets[] = [];
    const los: number[] = [];
    const his: number[] = [];
    for (const ref of wanted) {
      const b = this.batchOfRow(this.seriesFirstBlock[ref]!);
      const d = decoded.get(b)!;
      const local = this.seriesFirstBlock[ref]! - this.batchFirstRow[b]!;
      const [c0, c1] = overlappingBlocks(d, local, this.seriesBlocks[ref]!, endLo, endHi);
      if (c0 > c1) continue;
      const ends = d.buckets.endMs;
      let lo = d.blockStart[c0]!;
      let hi = d.blockStart[c1 + 1]!;
      while (lo < hi && ends[lo]! <= endLo) lo++;
      while (hi > lo && ends[hi - 1]! >= endHi) hi--;
      if (hi === lo) continue;
      labels.push(this.labels[ref]!);
      keys.push(this.keyOf(ref));
      structs.push(d.buckets);
      los.push(lo);
      his.push(hi);
    }
    return { labels, keys, buckets: structs, lo: Uint32Array.from(los), hi: Uint32Array.from(his) };
  }

  private batchOfRow(row: number): number {
    return this.batches.batchOfRow(row);
  }

  /** Whether a block of a wanted series in batch b overlapping the ends (endLo, endHi) lacks a field of `want`. */
  private missingBlocks(d: LevelBatchBuckets, b: number, wanted: readonly number[], endLo: number, endHi: number, want: number): boolean {
    const first = this.batchFirstRow[b]!;
    for (const ref of wanted) {
      const row = this.seriesFirstBlock[ref]!;
      if (row < first || row >= first + d.decoded.length) continue;
      const [c0, c1] = overlappingBlocks(d, row - first, this.seriesBlocks[ref]!, endLo, endHi);
      for (let c = c0; c <= c1; c++) if ((d.decoded[c]! & want) !== want) return true;
    }
    return false;
  }

  /** Decodes the fields of `want` of the blocks of the wanted series in batch b overlapping (endLo, endHi) that are not decoded yet. */
  private decodeWanted(d: LevelBatchBuckets, b: number, batch: DecodedBatch, wanted: readonly number[], endLo: number, endHi: number, want: number): void {
    const first = this.batchFirstRow[b]!;
    for (const ref of wanted) {
      const row = this.seriesFirstBlock[ref]!;
      if (row < first || row >= first + d.decoded.length) continue;
      const [c0, c1] = overlappingBlocks(d, row - first, this.seriesBlocks[ref]!, endLo, endHi);
      for (let c = c0; c <= c1; c++) if ((d.decoded[c]! & want) !== want) this.decodeBlockInto(d, batch, b, c, ref, want);
    }
  }

  /**
   * The (empty) decoded struct of record batch b, after checking its rows against series.arrow:
   * each row belongs to the series whose block rows hold it, a series' blocks ascend in time,
   * and they hold the bucket count series.arrow gives.
   */
  private newBatchBuckets(b: number, batch: DecodedBatch): LevelBatchBuckets {
    const firstRow = this.batchFirstRow[b]!;
    const rows = batch.counts.length;
    const blockStart = new Uint32Array(rows + 1);
    for (let c = 0; c < rows; c++) {
      const row = firstRow + c;
      const ref = batch.refs[c]!;
      const refFirst = this.seriesFirstBlock[ref]!;
      if (!(row >= refFirst && row < refFirst + this.seriesBlocks[ref]!)) {
        throw corrupt(`block row ${row} belongs to series ${ref}, whose blocks are rows [${refFirst}, ${refFirst + this.seriesBlocks[ref]!})`, BUCKETS_FILE, row);
      }
      if (row > refFirst && !(batch.minEnds[c]! > batch.maxEnds[c - 1]!)) throw corrupt(`blocks of series ${ref} are not in ascending time order`, BUCKETS_FILE, row);
      blockStart[c + 1] = blockStart[c]! + batch.counts[c]!;
      if (row === refFirst + this.seriesBlocks[ref]! - 1) {
        const seen = blockStart[c + 1]! - blockStart[c + 1 - this.seriesBlocks[ref]!]!;
        if (seen !== this.seriesBuckets[ref]) throw corrupt(`series ${ref}: blocks hold ${seen} buckets; series.arrow says ${this.seriesBuckets[ref]}`, BUCKETS_FILE, refFirst);
      }
    }
    const total = blockStart[rows]!;
    // Columns get memory as queries decode them (allocColumn); the time fields every read decodes.
    const buckets = new RollupBuckets(this.widthMs, total, { sparse: true });
    let bytes = rows * 24 + BATCH_BUCKETS_OVERHEAD_BYTES;
    for (const f of BUCKET_TIME_FIELDS) bytes += buckets.allocColumn(f);
    return { blockStart, minEnds: batch.minEnds, maxEnds: batch.maxEnds, decoded: new Uint32Array(rows), buckets, bytes };
  }

  /**
   * Decodes the fields of `want` that block c of batch b lacks (and the fields their cells are
   * predicted from) into its rows of d, through a scratch struct: nothing of a bad block lands
   * in d. The fields d holds already are copied into the scratch first (predictor inputs).
   */
  private decodeBlockInto(d: LevelBatchBuckets, batch: DecodedBatch, b: number, c: number, ref: number, want: number): void {
    const row = this.batchFirstRow[b]! + c;
    const n = batch.counts[c]!;
    const at = d.blockStart[c]!;
    const have = d.decoded[c]!;
    const block = scratchBuckets(this.widthMs, n);
    copyFieldRows(block, 0, d.buckets, at, n, have);
    let now: number;
    try {
      const cells = CELLS;
      for (let f = 0; f < FIELD_COUNT; f++) {
        const cell = cells[f]!;
        cell.bytes = batch.cellData[f]!;
        cell.start = batch.cellOffsets[f]![c]!;
        cell.end = batch.cellOffsets[f]![c + 1]!;
      }
      now = decodeLevelBlockFieldsInto(cells, n, this.widthMs, block, want, have);
    } catch (e) {
      if (e instanceof EncodingError) throw corrupt(`${BUCKETS_FILE} block of series ${ref}: ${e.message}`, BUCKETS_FILE, row);
      throw e;
    } finally {
      // Not holding on to the record batch's bytes past its decode.
      for (const cell of CELLS) cell.bytes = NO_BYTES;
    }
    this.checkBlock(block, batch, c, ref, row, (now & COUNTS_MASK) === COUNTS_MASK);
    const added = now & ~have;
    for (let f = 0; f < FIELD_COUNT; f++) if (((added >>> f) & 1) === 1) d.bytes += d.buckets.allocColumn(LEVEL_FIELDS[f]!);
    copyFieldRows(d.buckets, at, block, 0, n, added);
    d.decoded[c] = now;
  }

  /** The checks of the file comment; resets and changes only with checkCounts (both decoded). */
  private checkBlock(block: RollupBuckets, batch: DecodedBatch, c: number, ref: number, row: number, checkCounts: boolean): void {
    const bad = (msg: string) => corrupt(`${BUCKETS_FILE} block of series ${ref}: ${msg}`, BUCKETS_FILE, row);
    const n = block.length;
    if (block.endMs[0] !== batch.minEnds[c] || block.endMs[n - 1] !== batch.maxEnds[c]) {
      throw bad(`decoded ends [${block.endMs[0]}, ${block.endMs[n - 1]}] differ from the row's [${batch.minEnds[c]}, ${batch.maxEnds[c]}]`);
    }
    try {
      block.assertInvariants(checkCounts);
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
        if (!(a >= 0 && z > a && z <= batch.cellData[f]!.length)) throw corrupt(`bad ${LEVEL_FIELD_COLUMNS[LEVEL_FIELDS[f]!]} offsets [${a}, ${z}) for ${batch.cellData[f]!.length} data bytes`, BUCKETS_FILE, row);
        if (z - a > LEVEL_COLUMN_ENCODED_BYTES_MAX) throw corrupt(`too big ${LEVEL_FIELD_COLUMNS[LEVEL_FIELDS[f]!]} cell; got ${z - a} bytes; cannot exceed ${LEVEL_COLUMN_ENCODED_BYTES_MAX}`, BUCKETS_FILE, row);
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

/**
 * A record batch's blocks decoded into one struct (rows of block c: [blockStart[c],
 * blockStart[c + 1])), filled block by block and field by field as selections need them;
 * decoded[c] is the field mask (bit f: LEVEL_FIELDS[f]) of block c's rows that are decoded and
 * checked (0: none yet). minEnds/maxEnds: the rows' bucket end bounds (already checked).
 */
interface LevelBatchBuckets {
  readonly blockStart: Uint32Array;
  readonly minEnds: Float64Array;
  readonly maxEnds: Float64Array;
  readonly decoded: Uint32Array;
  readonly buckets: RollupBuckets;
  /** What the cache counts: the columns with memory of their own (they grow as fields are decoded), the row arrays. */
  bytes: number;
}

/** Local blocks [c0, c1] of the series with blocks [local, local + nBlocks) whose ends overlap (endLo, endHi); c0 > c1 if none. */
function overlappingBlocks(d: LevelBatchBuckets, local: number, nBlocks: number, endLo: number, endHi: number): [number, number] {
  let c0 = local;
  let c1 = local + nBlocks - 1;
  while (c0 <= c1 && d.maxEnds[c0]! <= endLo) c0++;
  while (c1 >= c0 && d.minEnds[c1]! >= endHi) c1--;
  return [c0, c1];
}

/** The cells of the block being decoded, reused (decoding is synchronous; one block at a time). */
const NO_BYTES = new Uint8Array(0);
const CELLS: { bytes: Uint8Array; start: number; end: number }[] = LEVEL_FIELDS.map(() => ({ bytes: NO_BYTES, start: 0, end: 0 }));

/** One struct per block size, reused (decoding is synchronous; one block at a time). */
const SCRATCH = new Map<string, RollupBuckets>();
let lastScratch: RollupBuckets | undefined;
function scratchBuckets(widthMs: number, n: number): RollupBuckets {
  // Blocks of one segment are mostly of one size: the last struct, without building the key.
  if (lastScratch !== undefined && lastScratch.length === n && lastScratch.widthMs === widthMs) return lastScratch;
  const key = `${widthMs}/${n}`;
  let s = SCRATCH.get(key);
  if (s === undefined) {
    if (SCRATCH.size > 1024) SCRATCH.clear();
    SCRATCH.set(key, (s = new RollupBuckets(widthMs, n)));
  }
  lastScratch = s;
  return s;
}

/** Copies the fields of `mask` (bit f: LEVEL_FIELDS[f]) of rows [from, from + n) of src to rows [to, to + n) of dst. */
function copyFieldRows(dst: RollupBuckets, to: number, src: RollupBuckets, from: number, n: number, mask: number): void {
  if (mask === LEVEL_FIELDS_ALL) {
    copyBucketRows(dst, to, src, from, n);
    return;
  }
  for (let f = 0; f < FIELD_COUNT; f++) {
    if (((mask >>> f) & 1) === 0) continue;
    const name = LEVEL_FIELDS[f]!;
    // An element loop: blocks are short (24 buckets in a day of 1 h), and subarray().set()
    // would make a typed-array view per field and block.
    const d = dst[name];
    const s = src[name];
    for (let i = 0; i < n; i++) d[to + i] = s[from + i]!;
  }
}
