// Segment reader: a SeriesSource and PostingsIndex over one segment directory.
//
// At open it validates meta.json, checks the size and CRC-32 of every file (samples.arrow is
// streamed through the CRC, not kept), and loads series.arrow (labels, per-series time range and
// chunk rows) and postings.arrow (label pair -> serialized roaring bitmap, deserialized on first
// use). samples.arrow stays on disk: select() reads only the record batches that hold the
// selected series' chunks (positional reads at the offsets of the Arrow file footer, buffers
// decompressed with the async zstd / lz4 APIs), and decodes only the chunks overlapping the time
// range. Memory held per segment: labels and postings; decompressed batches and decoded chunks
// live in the shared byte-bounded caches of cache.ts, dropped when the reader is closed.
//
// Invariants (checked at open, see assertInvariants): series refs are 0..n-1 in label order;
// each series owns chunk rows [first_chunk_row, first_chunk_row+chunk_count), contiguous and in
// ref order, never split across samples.arrow record batches.
import fs from 'node:fs/promises';
import path from 'node:path';
import { CompressionType, Message, MessageHeader, RecordBatchReader, tableFromIPC, type AsyncRecordBatchFileReader, type Data, type Schema, type Table } from 'apache-arrow';
import lz4 from 'lz4-napi';
import { MochaError } from '../errors.js';
import type { Label, Labels } from '../model/labels.js';
import type { Matcher } from '../model/matchers.js';
import { selectPostings } from '../model/postings.js';
import type { CacheBudget, LazySelection, LoadedSamples, SeriesSource, SourceSeries } from '../model/querier.js';
import { BatchLoader } from './batch-loader.js';
import { dropPredecompressed, putPredecompressed, registerArrowCodecs } from './codecs.js';
import { nextCacheOwner, segmentBatchCache, segmentChunkCache, type SegmentCache } from './cache.js';
import { zstdDecompress } from './zstd-sync.js';
import { crc32 } from './crc32.js';
import { ByteSource, EncodingError, decodeTimestamps, decodeValues } from './encoding/index.js';
import { CHUNK_ENCODED_BYTES_MAX, CHUNK_SAMPLES_LIMIT, META_FILE, META_FILE_BYTES_MAX, POSTINGS_FILE, SAMPLES_FILE, SERIES_FILE, SERIES_LABELS_MAX } from './format.js';
import { isLevelSegmentMeta, parseSegmentMeta, type RawSegmentMeta, type SegmentMeta } from './meta.js';
import { postingsSchema, samplesSchema, schemaSignature, seriesSchema } from './schema.js';
import { SeriesIndex, type PostingEntry } from './series-index.js';
import { sharedTable } from './shared-tables.js';

export interface SegmentOpenOptions {
  /** Stream samples.arrow through its CRC-32 at open (default true). */
  verifySamplesChecksum?: boolean;
  /** Where decompressed record batches are kept across queries (default: the shared segmentBatchCache). */
  batchCache?: SegmentCache;
  /** Where decoded chunks are kept across queries (default: the shared segmentChunkCache). */
  chunkCache?: SegmentCache;
}

/** Where one samples.arrow record batch lies in the file (from the Arrow footer). */
export interface BatchBlock {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
}

/** The RecordBatch message header fields the reader uses (apache-arrow's metadata.RecordBatch). */
interface RecordBatchHeader {
  length: number;
  nodes: { length: number; nullCount: number }[];
  buffers: { offset: number; length: number }[];
  compression: { type: CompressionType } | null;
}

/** samples.arrow columns in schema order, and the IPC buffers each one has (validity first). */
const SAMPLES_COLUMN_BUFFERS = [2, 2, 2, 2, 3, 3] as const;
/** Bounds of the per-reader memo of regex selector results (refsOf): entries, and refs per entry. */
const REFS_MEMO_ENTRIES_MAX = 32;
const REFS_MEMO_REFS_MAX = 2048;
/** Arrow IPC: a compressed buffer starts with its int64 uncompressed length; -1 = stored as is. */
const COMPRESSED_LENGTH_PREFIX_BYTES = 8;

const EMPTY = new Float64Array(0);
const CRC_READ_BYTES = 1024 * 1024;

function corrupt(msg: string, file: string, row?: number): MochaError {
  return new MochaError('SEGMENT_CORRUPT', msg, row === undefined ? { file } : { file, row });
}

export type { PostingEntry } from './series-index.js';

/** One chunk's samples, decoded; what the chunk cache keeps. Never written after decoding. */
interface DecodedChunk {
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}
/** Per-entry cost beyond the samples: two typed arrays, their buffers, the entry and its key. */
const DECODED_CHUNK_OVERHEAD_BYTES = 400;

/** One samples.arrow record batch, decompressed and validated; what the shared cache keeps. */
interface DecodedBatch {
  refs: Uint32Array;
  /** Chunk time bounds as numbers (int64 in the file; converted once per batch, not per read). */
  mins: Float64Array;
  maxs: Float64Array;
  counts: Uint32Array;
  tsOffsets: Int32Array;
  tsData: Uint8Array;
  valOffsets: Int32Array;
  valData: Uint8Array;
  /** Memory held, for the cache bound. */
  bytes: number;
}

export class SegmentReader extends SeriesIndex implements SeriesSource {
  readonly minTMs: number;
  readonly maxTMs: number;
  private readonly batchFirstRow: Uint32Array;
  private readonly batches: BatchLoader<DecodedBatch>;
  private readonly cacheOwner = nextCacheOwner();
  /** Matchers (with a regex) -> selected refs, oldest first; see refsOf. */
  private readonly refsMemo = new Map<string, Uint32Array>();
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly meta: RawSegmentMeta,
    labels: readonly Labels[],
    private readonly seriesMin: Float64Array,
    private readonly seriesMax: Float64Array,
    private readonly seriesFirstChunk: Uint32Array,
    private readonly seriesChunks: Uint32Array,
    /** sample_count of each series (all of its samples in the segment). */
    private readonly seriesSamples: Uint32Array,
    postingsByName: Map<string, Map<string, PostingEntry>>,
    private readonly samplesHandle: fs.FileHandle,
    private readonly blocks: readonly BatchBlock[],
    private readonly caches: { readonly batches: SegmentCache; readonly chunks: SegmentCache },
  ) {
    super(labels, postingsByName);
    this.minTMs = meta.minTMs;
    this.maxTMs = meta.maxTMs;
    this.batches = new BatchLoader(meta.samplesBatchRows, caches.batches, this.cacheOwner, (b) => this.readBatch(b));
    this.batchFirstRow = this.batches.firstRow;
  }

  static async open(segmentDir: string, opts?: SegmentOpenOptions): Promise<SegmentReader> {
    registerArrowCodecs();
    const meta = await readSegmentMeta(segmentDir);
    if (isLevelSegmentMeta(meta)) throw corrupt(`segment ${meta.name} is a rollup level segment (level ${meta.level}), not a raw one`, META_FILE);

    const seriesBytes = await readChecked(segmentDir, SERIES_FILE, meta);
    const postingsBytes = await readChecked(segmentDir, POSTINGS_FILE, meta);
    // Parsed with their buffers decompressed off the event loop first (parseWithPredecompressed).
    const series = await parseWithPredecompressed(seriesBytes, (b) => loadSeries(b, { ...meta, rowsTotal: meta.sampleCount, rowsPerUnitLimit: CHUNK_SAMPLES_LIMIT, rowsWhat: 'samples' }));
    const postings = await parseWithPredecompressed(postingsBytes, (b) => loadPostings(b, meta));

    const { handle, blocks } = await openDataFile(segmentDir, SAMPLES_FILE, meta, opts?.verifySamplesChecksum ?? true, samplesSchema, meta.samplesBatchRows.length);
    try {
      const caches = { batches: opts?.batchCache ?? segmentBatchCache, chunks: opts?.chunkCache ?? segmentChunkCache };
      const r = new SegmentReader(segmentDir, meta, series.labels, series.mins, series.maxs, series.firstChunk, series.chunkCounts, series.counts, postings, handle, blocks, caches);
      r.assertInvariants();
      return r;
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Checks the structural invariants listed at the top; throws SEGMENT_CORRUPT. */
  assertInvariants(): void {
    this.checkSeriesRows({
      firstRow: this.seriesFirstChunk,
      rowCount: this.seriesChunks,
      batchFirstRow: this.batchFirstRow,
      batchCount: this.meta.samplesBatchRows.length,
      seriesCount: this.meta.seriesCount,
      rowsTotal: this.meta.chunkCount,
      rowWhat: 'chunk',
    });
  }

  labelsOf(ref: number): Labels {
    return this.labels[ref]!;
  }

  async select(matchers: readonly Matcher[], minTMs: number, maxTMs: number, withSamples: boolean): Promise<SourceSeries[]> {
    if (this.closed) throw new Error(`segment ${this.meta.name} used after close`);
    if (maxTMs < this.minTMs || minTMs > this.maxTMs) return [];
    if (!withSamples) {
      // Series granularity: a series whose [min, max] overlaps the range but has no sample
      // inside it is still listed (as Prometheus' label APIs over blocks do).
      const out: SourceSeries[] = [];
      for (const ref of this.refsOf(matchers)) {
        if (this.seriesMax[ref]! < minTMs || this.seriesMin[ref]! > maxTMs) continue;
        out.push({ labels: this.labels[ref]!, key: this.keyOf(ref), timestampsMs: EMPTY, values: EMPTY });
      }
      return out;
    }
    const sel = this.selectLazily(matchers, minTMs, maxTMs);
    const all: number[] = new Array<number>(sel.keys.length);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const loaded = await sel.load(all);
    const out: SourceSeries[] = [];
    for (let k = 0; k < all.length; k++) {
      const s = loaded.series(k);
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  /**
   * The series of select(..., true) without their samples (postings and series.arrow only),
   * and a loader of the samples of any of them: only the record batches holding those series
   * are read, only their chunks overlapping the range decoded. All loads of one selection share
   * one chunk-cache budget (half the cache; cacheBudget when the caller shares one across
   * sources), so a long scan in many loads cannot flush it.
   */
  selectLazily(matchers: readonly Matcher[], minTMs: number, maxTMs: number, cacheBudget: CacheBudget = {}): LazySelection {
    if (this.closed) throw new Error(`segment ${this.meta.name} used after close`);
    const refs: number[] = [];
    if (!(maxTMs < this.minTMs || minTMs > this.maxTMs)) {
      for (const ref of this.refsOf(matchers)) {
        if (this.seriesMax[ref]! < minTMs || this.seriesMin[ref]! > maxTMs) continue;
        refs.push(ref);
      }
    }
    const labels: Labels[] = new Array<Labels>(refs.length);
    const keys: string[] = new Array<string>(refs.length);
    const samplesBound = new Uint32Array(refs.length);
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      labels[i] = this.labels[ref]!;
      keys[i] = this.keyOf(ref);
      samplesBound[i] = this.seriesSamples[ref]!;
    }
    // Scan resistance: one selection (over all its sources) inserts at most half of the chunk cache's bound.
    if (cacheBudget.bytes === undefined) {
      cacheBudget.cacheBytesMax = this.caches.chunks.stats().bytesMax;
      cacheBudget.bytes = cacheBudget.cacheBytesMax / 2;
    }
    const budget = cacheBudget as { bytes: number };
    return { labels, keys, samplesBound, load: (indices) => this.loadRefs(indices.map((i) => refs[i]!), minTMs, maxTMs, budget) };
  }

  /** Loads the record batches holding the series of refs; answers for refs[k] in [minTMs, maxTMs]. */
  private async loadRefs(refs: readonly number[], minTMs: number, maxTMs: number, budget: { bytes: number }): Promise<LoadedSamples> {
    if (this.closed) throw new Error(`segment ${this.meta.name} used after close`);
    // The record batch of each series (a series never spans two); refs usually ascend, so the
    // previous series' batch is tried before a search.
    const batchOf = new Int32Array(refs.length);
    const batchSet = new Set<number>();
    let b = -1;
    for (let k = 0; k < refs.length; k++) {
      const first = this.seriesFirstChunk[refs[k]!]!;
      if (b < 0 || first < this.batchFirstRow[b]! || first >= this.batchFirstRow[b + 1]!) {
        b = this.batchOfRow(first);
        batchSet.add(b);
      }
      batchOf[k] = b;
    }
    const batchList = [...batchSet];
    // Load the batches concurrently: misses decompress on libuv's thread pool in parallel.
    const loaded = await Promise.all(batchList.map((x) => this.loadBatch(x)));
    if (this.closed) throw new Error(`segment ${this.meta.name} used after close`);
    const byIndex = new Map<number, DecodedBatch>();
    for (let k = 0; k < batchList.length; k++) byIndex.set(batchList[k]!, loaded[k]!);
    return {
      series: (k) => {
        const r = refs[k]!;
        const bb = batchOf[k]!;
        return this.decodeSeries(r, byIndex.get(bb)!, bb, this.seriesFirstChunk[r]! - this.batchFirstRow[bb]!, this.seriesChunks[r]!, minTMs, maxTMs, budget);
      },
      copyInto: (k, ts, vs, at) => {
        const r = refs[k]!;
        const bb = batchOf[k]!;
        return this.copySeries(r, byIndex.get(bb)!, bb, this.seriesFirstChunk[r]! - this.batchFirstRow[bb]!, this.seriesChunks[r]!, minTMs, maxTMs, budget, ts, vs, at);
      },
    };
  }

  /**
   * Writes the samples of series ref in [minTMs, maxTMs] into ts/vs from index at; returns how
   * many. Chunks come from the chunk cache (copied), are decoded and cached while the budget
   * lasts (as decodeSeries), or are decoded straight into ts/vs: no array per chunk once the
   * budget is spent, which is what a scan over many segments would otherwise allocate.
   */
  private copySeries(
    ref: number,
    batch: DecodedBatch,
    b: number,
    localFirst: number,
    chunkCount: number,
    minTMs: number,
    maxTMs: number,
    budget: { bytes: number },
    ts: Float64Array,
    vs: Float64Array,
    at: number,
  ): number {
    let n = at;
    for (let c = localFirst; c < localFirst + chunkCount; c++) {
      const row = this.batchFirstRow[b]! + c;
      if (batch.refs[c] !== ref) throw corrupt(`chunk row ${c} belongs to series ${batch.refs[c]}, expected ${ref}`, SAMPLES_FILE, row);
      const cMin = batch.mins[c]!;
      const cMax = batch.maxs[c]!;
      if (c > localFirst && !(cMin > batch.maxs[c - 1]!)) throw corrupt(`samples.arrow chunk of series ${ref}: chunks of the series overlap in time`, SAMPLES_FILE, row);
      if (cMax < minTMs || cMin > maxTMs) continue;
      const count = batch.counts[c]!;
      if (n + count > ts.length) throw corrupt(`series ${ref} holds more samples than its sample_count`, SAMPLES_FILE, row);
      let chT: Float64Array;
      let chV: Float64Array;
      let from: number;
      const ch = budget.bytes >= count * 16 + DECODED_CHUNK_OVERHEAD_BYTES ? this.chunk(batch, b, c, budget) : this.caches.chunks.get<DecodedChunk>(this.cacheOwner, row);
      if (ch !== undefined) {
        chT = ch.timestampsMs;
        chV = ch.values;
        from = 0;
      } else {
        this.decodeChunkInto(batch, c, row, ts, vs, n);
        chT = ts;
        chV = vs;
        from = n;
      }
      // Only the first and last chunks in range can reach outside it.
      const lo = cMin >= minTMs ? from : firstAtOrAfter(chT.subarray(from, from + count), minTMs) + from;
      const hi = cMax <= maxTMs ? from + count : firstAfter(chT.subarray(from, from + count), maxTMs) + from;
      if (hi <= lo) continue;
      if (chT === ts) {
        if (lo !== n) {
          ts.copyWithin(n, lo, hi);
          vs.copyWithin(n, lo, hi); // a typed-array copy keeps NaN payloads (stale markers)
        }
      } else {
        ts.set(chT.subarray(lo, hi), n);
        vs.set(chV.subarray(lo, hi), n);
      }
      n += hi - lo;
    }
    return n - at;
  }

  /**
   * All samples of series ref (compaction reads every series in ref order). Decoded chunks are
   * not put into the chunk cache: a full scan would only evict what queries use.
   */
  async readSeries(ref: number): Promise<SourceSeries> {
    if (this.closed) throw new Error(`segment ${this.meta.name} used after close`);
    if (!(Number.isInteger(ref) && ref >= 0 && ref < this.labels.length)) throw new Error(`segment ${this.meta.name}: no series ref ${ref}`);
    const first = this.seriesFirstChunk[ref]!;
    const b = this.batchOfRow(first);
    const batch = await this.loadBatch(b);
    const s = this.decodeSeries(ref, batch, b, first - this.batchFirstRow[b]!, this.seriesChunks[ref]!, -Infinity, Infinity, { bytes: 0 });
    if (s === undefined) throw corrupt(`series ${ref} has no samples`, SAMPLES_FILE);
    return s;
  }

  /**
   * Series refs matching the matchers. Results of selectors with a regex are memoized per
   * reader (a segment never changes): testing a regex against every value of a label (ids, pod
   * names) is most of a selective query's cost once samples come from the caches. Small answers
   * only, few of them, so the memo stays a few hundred KiB per segment at most.
   */
  private refsOf(matchers: readonly Matcher[]): Uint32Array {
    const memoize = matchers.some((m) => m.type === '=~' || m.type === '!~');
    const key = memoize ? matchers.map((m) => `${m.name}\u0000${m.type}\u0000${m.value}`).join('\u0001') : '';
    if (memoize) {
      const hit = this.refsMemo.get(key);
      if (hit !== undefined) return hit;
    }
    const refs = selectPostings(this, matchers).toUint32Array();
    if (memoize && refs.length <= REFS_MEMO_REFS_MAX) {
      if (this.refsMemo.size >= REFS_MEMO_ENTRIES_MAX) this.refsMemo.delete(this.refsMemo.keys().next().value!);
      this.refsMemo.set(key, refs);
    }
    return refs;
  }

  private batchOfRow(row: number): number {
    return this.batches.batchOfRow(row);
  }

  /**
   * The samples of series ref in [minTMs, maxTMs] from its chunks overlapping that range. With
   * one such chunk (the usual case) the result is a view of the cached decoded chunk, no copy:
   * SeriesData arrays are read-only for every consumer (see model/querier.ts).
   */
  private decodeSeries(
    ref: number,
    batch: DecodedBatch,
    b: number,
    localFirst: number,
    chunkCount: number,
    minTMs: number,
    maxTMs: number,
    budget: { bytes: number },
  ): SourceSeries | undefined {
    let firstC = -1;
    let lastC = -1;
    for (let c = localFirst; c < localFirst + chunkCount; c++) {
      if (batch.refs[c] !== ref) throw corrupt(`chunk row ${c} belongs to series ${batch.refs[c]}, expected ${ref}`, SAMPLES_FILE, this.batchFirstRow[b]! + c);
      if (batch.maxs[c]! < minTMs || batch.mins[c]! > maxTMs) continue;
      if (firstC < 0) firstC = c;
      lastC = c;
    }
    if (firstC < 0) return undefined;
    let ts: Float64Array;
    let vs: Float64Array;
    if (firstC === lastC) {
      const ch = this.chunk(batch, b, firstC, budget);
      ts = ch.timestampsMs;
      vs = ch.values;
    } else {
      const chunks: DecodedChunk[] = [];
      let total = 0;
      for (let c = firstC; c <= lastC; c++) {
        if (batch.maxs[c]! < minTMs || batch.mins[c]! > maxTMs) continue;
        const ch = this.chunk(batch, b, c, budget);
        if (chunks.length > 0 && !(ch.timestampsMs[0]! > batch.maxs[c - 1]!)) {
          throw corrupt(`samples.arrow chunk of series ${ref}: chunks of the series overlap in time`, SAMPLES_FILE, this.batchFirstRow[b]! + c);
        }
        chunks.push(ch);
        total += ch.timestampsMs.length;
      }
      ts = new Float64Array(total);
      vs = new Float64Array(total);
      let at = 0;
      for (const ch of chunks) {
        ts.set(ch.timestampsMs, at);
        vs.set(ch.values, at); // a typed-array copy keeps NaN payloads (stale markers)
        at += ch.timestampsMs.length;
      }
    }
    // Trim to [minTMs, maxTMs]: only the first and last chunks can reach outside.
    const lo = ts[0]! >= minTMs ? 0 : firstAtOrAfter(ts, minTMs);
    const hi = ts[ts.length - 1]! <= maxTMs ? ts.length : firstAfter(ts, maxTMs);
    if (hi <= lo) return undefined;
    const whole = lo === 0 && hi === ts.length;
    return {
      labels: this.labels[ref]!,
      key: this.keyOf(ref),
      timestampsMs: whole ? ts : ts.subarray(lo, hi),
      values: whole ? vs : vs.subarray(lo, hi),
    };
  }

  /** Chunk c of batch b, decoded and checked: from the chunk cache, or decoded now and inserted while budget lasts. */
  private chunk(batch: DecodedBatch, b: number, c: number, budget: { bytes: number }): DecodedChunk {
    const row = this.batchFirstRow[b]! + c;
    const cached = this.caches.chunks.get<DecodedChunk>(this.cacheOwner, row);
    if (cached !== undefined) return cached;
    const count = batch.counts[c]!;
    // One buffer for both columns: V8 allocates typed arrays slowly, and a scan makes many.
    const both = new Float64Array(2 * count);
    const ts = both.subarray(0, count);
    const vs = both.subarray(count);
    this.decodeChunkInto(batch, c, row, ts, vs, 0);
    const ch: DecodedChunk = { timestampsMs: ts, values: vs };
    const bytes = count * 16 + DECODED_CHUNK_OVERHEAD_BYTES;
    if (!this.closed && budget.bytes >= bytes) {
      budget.bytes -= bytes;
      this.caches.chunks.set(this.cacheOwner, row, ch, bytes);
    }
    return ch;
  }

  /** Decodes chunk c of batch (file row `row`) into ts/vs from index at, checked against its count and time range. */
  private decodeChunkInto(batch: DecodedBatch, c: number, row: number, ts: Float64Array, vs: Float64Array, at: number): void {
    const count = batch.counts[c]!;
    const cMin = batch.mins[c]!;
    const cMax = batch.maxs[c]!;
    try {
      const tsSrc = new ByteSource(batch.tsData, batch.tsOffsets[c]!, batch.tsOffsets[c + 1]!);
      const valSrc = new ByteSource(batch.valData, batch.valOffsets[c]!, batch.valOffsets[c + 1]!);
      const nt = decodeTimestamps(tsSrc, ts, at, count);
      const nv = decodeValues(valSrc, vs, at, count);
      if (nt !== count || nv !== count) throw new EncodingError(`chunk holds ${nt} timestamps and ${nv} values; sample_count is ${count}`, 0);
      if (ts[at] !== cMin || ts[at + count - 1] !== cMax) throw new EncodingError(`decoded time range [${ts[at]}, ${ts[at + count - 1]}] differs from the chunk's [${cMin}, ${cMax}]`, 0);
    } catch (e) {
      if (e instanceof EncodingError) throw corrupt(`samples.arrow chunk of series ${batch.refs[c]}: ${e.message}`, SAMPLES_FILE, row);
      throw e;
    }
  }

  /** Record batch b of samples.arrow, decompressed and validated: from the cache, a load in flight, or the file. */
  private loadBatch(b: number): Promise<DecodedBatch> | DecodedBatch {
    return this.batches.load(b);
  }

  /**
   * Reads record batch b straight from the file (positional read, so loads run concurrently) and
   * decompresses its buffers with the async zstd / lz4 APIs: apache-arrow's own loader calls the
   * codec synchronously per buffer, which for zstd meant a blocking helper-thread round trip.
   */
  private async readBatch(b: number): Promise<DecodedBatch> {
    const firstRow = this.batchFirstRow[b]!;
    const rows = this.meta.samplesBatchRows[b]!;
    const bad = (msg: string) => corrupt(`samples.arrow record batch ${b}: ${msg}`, SAMPLES_FILE, firstRow);
    const buffers = await readBatchBuffers(this.samplesHandle, this.blocks[b]!, rows, SAMPLES_COLUMN_BUFFERS, bad);
    // Buffers per column: [validity, data] x 4, [validity, offsets, data] x 2 (see the schema).
    const tsOffsets = int32s(buffers[9]!, rows + 1, bad, 'timestamps offsets');
    const valOffsets = int32s(buffers[12]!, rows + 1, bad, 'values offsets');
    const batch: DecodedBatch = {
      refs: uint32s(buffers[1]!, rows, bad, 'series_ref'),
      mins: int64sAsNumbers(buffers[3]!, rows, bad, 'min_time_ms'),
      maxs: int64sAsNumbers(buffers[5]!, rows, bad, 'max_time_ms'),
      counts: uint32s(buffers[7]!, rows, bad, 'sample_count'),
      tsOffsets,
      tsData: buffers[10]!,
      valOffsets,
      valData: buffers[13]!,
      bytes: 0,
    };
    batch.bytes = rows * (4 + 8 + 8 + 4 + 4 + 4) + batch.tsData.byteLength + batch.valData.byteLength + 512;
    const { refs, mins, maxs, counts } = batch;
    for (let c = 0; c < rows; c++) {
      const row = firstRow + c;
      const n = counts[c]!;
      if (n < 1 || n > CHUNK_SAMPLES_LIMIT) throw corrupt(`too big sample_count; got ${n}; cannot exceed ${CHUNK_SAMPLES_LIMIT}`, SAMPLES_FILE, row);
      if (refs[c]! >= this.labels.length) throw corrupt(`too big series_ref; got ${refs[c]}; cannot exceed ${this.labels.length - 1}`, SAMPLES_FILE, row);
      if (!(mins[c]! <= maxs[c]!) || mins[c]! < this.meta.minTMs || maxs[c]! > this.meta.maxTMs) {
        throw corrupt(`chunk time range [${mins[c]}, ${maxs[c]}] outside the segment's [${this.meta.minTMs}, ${this.meta.maxTMs}]`, SAMPLES_FILE, row);
      }
      checkOffsets(batch.tsOffsets, batch.tsData.length, c, 'timestamps', row);
      checkOffsets(batch.valOffsets, batch.valData.length, c, 'values', row);
    }
    return batch;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batches.close(this.samplesHandle);
    this.caches.chunks.dropOwner(this.cacheOwner);
    this.refsMemo.clear();
  }
}

/** One IPC body buffer, decompressed when the batch is compressed and the buffer is not stored as is. */
async function bodyBuffer(body: Uint8Array, offset: number, length: number, type: CompressionType | null): Promise<Uint8Array> {
  if (!(offset >= 0 && length >= 0 && offset + length <= body.length)) throw new Error(`buffer [${offset}, ${offset + length}) outside the body of ${body.length} bytes`);
  if (length === 0) return new Uint8Array(0);
  const raw = body.subarray(offset, offset + length);
  if (type === null) return raw;
  if (length < COMPRESSED_LENGTH_PREFIX_BYTES) throw new Error(`compressed buffer of ${length} bytes has no length prefix`);
  const declared = new DataView(raw.buffer, raw.byteOffset, COMPRESSED_LENGTH_PREFIX_BYTES).getBigInt64(0, true);
  const payload = raw.subarray(COMPRESSED_LENGTH_PREFIX_BYTES);
  if (declared === -1n) return payload;
  const input = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = type === CompressionType.ZSTD ? await zstdDecompress(input) : await lz4.decompressFrame(input);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export type BadBatch = (msg: string) => MochaError;

/**
 * Decompresses every ZSTD body buffer of a whole Arrow IPC file (series.arrow, postings.arrow)
 * with the async API, all at once on libuv's pool, and parses it with `parse` (synchronous:
 * apache-arrow's loader), which then finds the buffers ready (codecs.ts) instead of blocking the
 * event loop on a helper-thread round trip per buffer. A file that is not a readable IPC file is
 * left to `parse` to refuse.
 */
export async function parseWithPredecompressed<T>(file: Uint8Array, parse: (bytes: Uint8Array) => T): Promise<T> {
  // Its own ArrayBuffer, so the entries kept for it cannot meet another file's (small reads may
  // share Node's pool).
  const bytes = file.byteOffset === 0 && file.byteLength === file.buffer.byteLength ? file : file.slice();
  try {
    await predecompress(bytes);
  } catch {
    // Unreadable here: parse() says why (or decompresses what it can synchronously).
  }
  try {
    return parse(bytes);
  } finally {
    dropPredecompressed(bytes);
  }
}

async function predecompress(bytes: Uint8Array): Promise<void> {
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  if (!reader.isFile()) return;
  const footer = (reader as unknown as { footer?: { getRecordBatch(i: number): { offset: number; metaDataLength: number; bodyLength: number } | null } }).footer;
  const loads: Promise<void>[] = [];
  for (let b = 0; b < reader.numRecordBatches; b++) {
    const blk = footer?.getRecordBatch(b);
    if (blk === null || blk === undefined) return;
    const { offset, metaDataLength, bodyLength } = blk;
    if (!(offset >= 0 && metaDataLength >= 8 && offset + metaDataLength + bodyLength <= bytes.length)) return;
    // (Anything odd throws: the caller then leaves the whole file to parse().)
    const header = recordBatchHeaderOf(bytes.subarray(offset, offset + metaDataLength), bodyLength);
    if (header.compression?.type !== CompressionType.ZSTD) continue;
    const body = bytes.subarray(offset + metaDataLength, offset + metaDataLength + bodyLength);
    for (const { offset: at, length } of header.buffers) {
      const o = Number(at);
      const n = Number(length);
      if (n <= COMPRESSED_LENGTH_PREFIX_BYTES || o < 0 || o + n > body.length) continue;
      const payload = body.subarray(o + COMPRESSED_LENGTH_PREFIX_BYTES, o + n);
      loads.push(bodyBuffer(body, o, n, CompressionType.ZSTD).then((data) => putPredecompressed(payload, data)));
    }
  }
  await Promise.all(loads);
}

/** A typed view needs an aligned offset; a decompressed buffer may not have one, so copy then. */
function aligned(buf: Uint8Array, align: number): Uint8Array {
  return buf.byteOffset % align === 0 ? buf : buf.slice();
}

export function uint32s(buf: Uint8Array, n: number, bad: BadBatch, what: string): Uint32Array {
  if (buf.byteLength < n * 4) throw bad(`column ${what} has ${buf.byteLength} bytes for ${n} values`);
  const a = aligned(buf, 4);
  return new Uint32Array(a.buffer, a.byteOffset, n);
}

export function int32s(buf: Uint8Array, n: number, bad: BadBatch, what: string): Int32Array {
  if (buf.byteLength < n * 4) throw bad(`column ${what} has ${buf.byteLength} bytes for ${n} values`);
  const a = aligned(buf, 4);
  return new Int32Array(a.buffer, a.byteOffset, n);
}

/**
 * Little-endian int64s as numbers, from their two 32-bit halves: hi * 2^32 is exact and adding
 * lo rounds once, to the same number as Number(BigInt) (exact below 2^53). Not through a
 * BigInt64Array: a BigInt per value took ~55 ns against ~8 (bench/micro/int64s.ts), ~15 ms of
 * self time in a profile of a cold 30-day level read.
 */
export function int64sAsNumbers(buf: Uint8Array, n: number, bad: BadBatch, what: string): Float64Array {
  if (buf.byteLength < n * 8) throw bad(`column ${what} has ${buf.byteLength} bytes for ${n} values`);
  const view = new DataView(buf.buffer, buf.byteOffset, n * 8);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt32(8 * i + 4, true) * 4294967296 + view.getUint32(8 * i, true);
  return out;
}

/** First index i with ts[i] >= x (ts sorted ascending). */
function firstAtOrAfter(ts: Float64Array, x: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with ts[i] > x (ts sorted ascending). */
function firstAfter(ts: Float64Array, x: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkOffsets(offsets: Int32Array, dataBytes: number, c: number, what: string, row: number): void {
  const a = offsets[c]!;
  const z = offsets[c + 1]!;
  if (!(a >= 0 && z >= a && z <= dataBytes)) throw corrupt(`bad ${what} offsets [${a}, ${z}) for ${dataBytes} data bytes`, SAMPLES_FILE, row);
  if (z - a > CHUNK_ENCODED_BYTES_MAX) throw corrupt(`too big ${what} chunk; got ${z - a} bytes; cannot exceed ${CHUNK_ENCODED_BYTES_MAX}`, SAMPLES_FILE, row);
}

/** Reads and validates `<segmentDir>/meta.json` (either kind of segment); SEGMENT_CORRUPT if bad. */
export async function readSegmentMeta(segmentDir: string): Promise<SegmentMeta> {
  const metaPath = path.join(segmentDir, META_FILE);
  let metaText: string;
  try {
    const st = await fs.stat(metaPath);
    if (st.size > META_FILE_BYTES_MAX) throw corrupt(`too big meta.json; got ${st.size} bytes; cannot exceed ${META_FILE_BYTES_MAX}`, META_FILE);
    metaText = await fs.readFile(metaPath, 'utf8');
  } catch (e) {
    if (e instanceof MochaError) throw e;
    throw corrupt(`cannot read ${metaPath}: ${(e as Error).message}`, META_FILE);
  }
  return parseSegmentMeta(metaText, path.basename(segmentDir));
}

/**
 * Opens an Arrow IPC file for positional batch reads: checks the format, the schema and the
 * number of record batches, and returns where each batch lies (from the footer).
 */
export async function readFileBlocks(handle: fs.FileHandle, file: string, size: number, schema: Schema, expectedBatches: number): Promise<BatchBlock[]> {
  let reader: AsyncRecordBatchFileReader;
  try {
    reader = (await RecordBatchReader.from(handle)) as unknown as AsyncRecordBatchFileReader;
    await reader.open();
  } catch (e) {
    throw corrupt(`${file} is not a readable Arrow IPC file: ${(e as Error).message}`, file);
  }
  if (!reader.isFile()) throw corrupt(`${file} is not in Arrow IPC file format`, file);
  if (schemaSignature(reader.schema) !== schemaSignature(schema)) throw corrupt(`${file} has an unexpected schema`, file);
  if (reader.numRecordBatches !== expectedBatches) {
    throw corrupt(`${file} holds ${reader.numRecordBatches} record batches; meta.json says ${expectedBatches}`, file);
  }
  const blocks: BatchBlock[] = [];
  for (let b = 0; b < reader.numRecordBatches; b++) {
    const blk = reader.footer?.getRecordBatch(b);
    if (blk === null || blk === undefined) throw corrupt(`${file} footer has no block for record batch ${b}`, file);
    const { offset, metaDataLength, bodyLength } = blk;
    if (!(offset >= 0 && metaDataLength >= 8 && bodyLength >= 0 && offset + metaDataLength + bodyLength <= size)) {
      throw corrupt(`${file} record batch ${b} lies outside the file: offset ${offset}, ${metaDataLength} + ${bodyLength} bytes of ${size}`, file);
    }
    blocks.push({ offset, metaDataLength, bodyLength });
  }
  return blocks;
}

/**
 * Reads one record batch straight from the file (positional read, so loads run concurrently)
 * and decompresses its buffers with the async zstd / lz4 APIs: apache-arrow's own loader calls
 * the codec synchronously per buffer, which for zstd meant a blocking helper-thread round trip.
 * Checks the message, its row count and that every column has `rows` rows and no nulls; returns
 * the body buffers in IPC order. columnBuffers[i]: buffers of column i (validity first).
 */
export async function readBatchBuffers(handle: fs.FileHandle, blk: BatchBlock, rows: number, columnBuffers: readonly number[], bad: BadBatch): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(blk.metaDataLength + blk.bodyLength);
  try {
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, blk.offset);
    if (bytesRead !== bytes.length) throw bad(`read ${bytesRead} of ${bytes.length} bytes`);
  } catch (e) {
    if (e instanceof MochaError) throw e;
    throw bad(`cannot be read: ${(e as Error).message}`);
  }
  let header: RecordBatchHeader;
  try {
    header = recordBatchHeaderOf(bytes.subarray(0, blk.metaDataLength), blk.bodyLength);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const bufferCount = columnBuffers.reduce((a, b) => a + b, 0);
  if (header.length !== rows) throw bad(`holds ${header.length} rows; meta.json says ${rows}`);
  if (header.nodes.length !== columnBuffers.length || header.buffers.length !== bufferCount) {
    throw bad(`has ${header.nodes.length} columns and ${header.buffers.length} buffers; expected ${columnBuffers.length} and ${bufferCount}`);
  }
  for (const n of header.nodes) if (n.length !== rows || n.nullCount !== 0) throw bad(`a column has ${n.length} rows and ${n.nullCount} nulls; expected ${rows} and none`);
  const body = bytes.subarray(blk.metaDataLength);
  const type = header.compression?.type ?? null;
  if (type !== null && type !== CompressionType.ZSTD && type !== CompressionType.LZ4_FRAME) throw bad(`unknown compression type ${type}`);
  try {
    return await Promise.all(header.buffers.map(({ offset, length }) => bodyBuffer(body, offset, length, type)));
  } catch (e) {
    throw bad(`cannot decompress: ${(e as Error).message}`);
  }
}

/**
 * The record batch header of one IPC block's encapsulated message (0xFFFFFFFF continuation, int32
 * flatbuffer length, flatbuffer, padding); `meta` is the block's metadata bytes. Throws an Error
 * saying what is wrong ("bad message length N", "bad message: ...").
 */
function recordBatchHeaderOf(meta: Uint8Array, bodyLength: number): RecordBatchHeader {
  const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const prefix = view.getInt32(0, true) === -1 ? 8 : 4;
  const metaLen = view.getInt32(prefix - 4, true);
  if (!(metaLen > 0 && prefix + metaLen <= meta.byteLength)) throw new Error(`bad message length ${metaLen}`);
  try {
    const message = Message.decode(meta.subarray(prefix, prefix + metaLen));
    if (message.headerType !== MessageHeader.RecordBatch) throw new Error(`message type ${message.headerType} is not a record batch`);
    if (Number(message.bodyLength) !== bodyLength) throw new Error(`body of ${message.bodyLength} bytes; the footer says ${bodyLength}`);
    return message.header() as unknown as RecordBatchHeader;
  } catch (e) {
    throw new Error(`bad message: ${(e as Error).message}`);
  }
}

/**
 * Opens the segment's data file (samples.arrow or buckets.arrow) for positional reads: checks its
 * size and (with verifyChecksum) its CRC-32 against meta.json, streamed, and reads the Arrow
 * footer's batch blocks. The handle is closed again when a check fails.
 */
export async function openDataFile(
  segmentDir: string,
  file: string,
  meta: Pick<SegmentMeta, 'files'>,
  verifyChecksum: boolean,
  schema: Schema,
  expectedBatches: number,
): Promise<{ handle: fs.FileHandle; blocks: BatchBlock[] }> {
  const filePath = path.join(segmentDir, file);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(filePath, 'r');
  } catch (e) {
    throw corrupt(`cannot open ${filePath}: ${(e as Error).message}`, file);
  }
  try {
    const expected = meta.files[file]!;
    const st = await handle.stat();
    if (st.size !== expected.bytes) throw corrupt(`${file} is ${st.size} bytes; meta.json says ${expected.bytes}`, file);
    if (verifyChecksum) {
      const got = await crcOfHandle(handle, st.size);
      if (got !== expected.crc32) throw corrupt(`${file} checksum mismatch: crc32 ${got} != ${expected.crc32} in meta.json`, file);
    }
    return { handle, blocks: await readFileBlocks(handle, file, st.size, schema, expectedBatches) };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads a whole file of the segment and checks its size and CRC-32 against meta.json. */
export async function readChecked(dir: string, file: string, meta: Pick<SegmentMeta, 'files'>): Promise<Uint8Array> {
  const expected = meta.files[file];
  if (expected === undefined) throw corrupt(`meta.json lists no ${file}`, file);
  let bytes: Uint8Array;
  try {
    const st = await fs.stat(path.join(dir, file));
    if (st.size !== expected.bytes) throw corrupt(`${file} is ${st.size} bytes; meta.json says ${expected.bytes}`, file);
    bytes = await fs.readFile(path.join(dir, file));
  } catch (e) {
    if (e instanceof MochaError) throw e;
    throw corrupt(`cannot read ${file}: ${(e as Error).message}`, file);
  }
  const got = crc32(bytes);
  if (got !== expected.crc32) throw corrupt(`${file} checksum mismatch: crc32 ${got} != ${expected.crc32} in meta.json`, file);
  return bytes;
}

export async function crcOfHandle(handle: fs.FileHandle, size: number): Promise<number> {
  const buf = new Uint8Array(Math.min(CRC_READ_BYTES, Math.max(size, 1)));
  let crc = 0;
  let pos = 0;
  while (pos < size) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    crc = crc32(buf.subarray(0, bytesRead), crc);
    pos += bytesRead;
  }
  return crc;
}

function parseTable(bytes: Uint8Array, file: string, expectedSignature: string): Table {
  let t: Table;
  try {
    t = tableFromIPC(bytes);
  } catch (e) {
    throw corrupt(`${file} is not a readable Arrow IPC file: ${(e as Error).message}`, file);
  }
  if (schemaSignature(t.schema) !== expectedSignature) throw corrupt(`${file} has an unexpected schema`, file);
  return t;
}

function single(t: Table, name: string, file: string): Data {
  const v = t.getChild(name);
  if (v === null) throw corrupt(`${file}: column ${name} is missing`, file);
  if (v.data.length !== 1) throw corrupt(`${file}: column ${name} must be one record batch; got ${v.data.length}`, file);
  return v.data[0]!;
}

/**
 * What series.arrow is checked against. Raw segments: rows are chunks of samples. Level
 * segments reuse the file with rows = blocks of buckets (first_chunk_row / chunk_count name the
 * blocks, sample_count counts buckets; docs/format/level.md).
 */
export interface SeriesFileBounds {
  seriesCount: number;
  minTMs: number;
  maxTMs: number;
  /** Sum of sample_count over all series. */
  rowsTotal: number;
  /** Largest sample_count per chunk_count unit. */
  rowsPerUnitLimit: number;
  /** "samples" or "buckets", for messages. */
  rowsWhat: string;
}

export interface LoadedSeries {
  /** Shared with other segments listing the same series (shared-tables.ts): read only. */
  labels: readonly Labels[];
  mins: Float64Array;
  maxs: Float64Array;
  counts: Uint32Array;
  firstChunk: Uint32Array;
  chunkCounts: Uint32Array;
}

/** Parses and checks series.arrow (schema, refs, label sets, time ranges, counts); SEGMENT_CORRUPT if bad. */
export function loadSeries(bytes: Uint8Array, meta: SeriesFileBounds): LoadedSeries {
  const t = parseTable(bytes, SERIES_FILE, schemaSignature(seriesSchema));
  const n = t.numRows;
  if (n !== meta.seriesCount) throw corrupt(`series.arrow holds ${n} rows; meta.json says ${meta.seriesCount}`, SERIES_FILE);
  const refs = single(t, 'series_ref', SERIES_FILE).values as Uint32Array;
  const minsBig = single(t, 'min_time_ms', SERIES_FILE).values as BigInt64Array;
  const maxsBig = single(t, 'max_time_ms', SERIES_FILE).values as BigInt64Array;
  const sampleCounts = (single(t, 'sample_count', SERIES_FILE).values as Uint32Array).slice(0, n);
  const firstChunk = (single(t, 'first_chunk_row', SERIES_FILE).values as Uint32Array).slice(0, n);
  const chunkCounts = (single(t, 'chunk_count', SERIES_FILE).values as Uint32Array).slice(0, n);
  const mins = new Float64Array(n);
  const maxs = new Float64Array(n);
  let samples = 0;
  for (let i = 0; i < n; i++) {
    if (refs[i] !== i) throw corrupt(`series_ref ${refs[i]} at row ${i}; refs must be 0..n-1 in order`, SERIES_FILE, i);
    mins[i] = Number(minsBig[i]);
    maxs[i] = Number(maxsBig[i]);
    if (!(mins[i]! <= maxs[i]!) || mins[i]! < meta.minTMs || maxs[i]! > meta.maxTMs) {
      throw corrupt(`series time range [${mins[i]}, ${maxs[i]}] outside the segment's [${meta.minTMs}, ${meta.maxTMs}]`, SERIES_FILE, i);
    }
    const sc = sampleCounts[i]!;
    const cc = chunkCounts[i]!;
    if (cc < 1 || cc > sc) throw corrupt(`bad chunk_count ${cc} for sample_count ${sc}`, SERIES_FILE, i);
    if (sc > cc * meta.rowsPerUnitLimit) throw corrupt(`too big sample_count; got ${sc}; cannot exceed ${cc * meta.rowsPerUnitLimit}`, SERIES_FILE, i);
    samples += sc;
  }
  const labelsData = single(t, 'labels', SERIES_FILE);
  const entryOffsets = labelsData.valueOffsets as Int32Array;
  const entries = labelsData.children[0]!;
  const keyData = entries.children[0]!;
  const valData = entries.children[1]!;
  // Every segment of a partition, and most partitions of a tenant, list the same series: their
  // label sets are decoded (and checked) once (shared-tables.ts).
  const labelParts = [entryOffsets, keyData.valueOffsets, keyData.values, valData.valueOffsets, valData.values] as ArrayBufferView[];
  const labels = sharedTable(`series.arrow labels n=${n} entries=${entries.length}`, labelParts, () => decodeLabels(n, entryOffsets, entries.length, keyData, valData));
  if (samples !== meta.rowsTotal) throw corrupt(`series.arrow counts ${samples} ${meta.rowsWhat}; meta.json says ${meta.rowsTotal}`, SERIES_FILE);
  return { labels, mins, maxs, counts: sampleCounts, firstChunk, chunkCounts };
}

/** The label sets of series.arrow's labels column, checked (count, names sorted and unique, no empty value). */
function decodeLabels(n: number, entryOffsets: Int32Array, entryCount: number, keyData: Data, valData: Data): Labels[] {
  const labels: Labels[] = new Array(n);
  const names = new Map<string, string>(); // interned label names
  for (let i = 0; i < n; i++) {
    const a = entryOffsets[i]!;
    const z = entryOffsets[i + 1]!;
    if (!(z > a && z - a <= SERIES_LABELS_MAX && z <= entryCount)) throw corrupt(`bad label count ${z - a}; must be 1..${SERIES_LABELS_MAX}`, SERIES_FILE, i);
    const ls: Label[] = new Array(z - a);
    for (let j = a; j < z; j++) {
      const rawName = utf8At(keyData, j, i);
      let name = names.get(rawName);
      if (name === undefined) names.set(rawName, (name = rawName));
      const value = utf8At(valData, j, i);
      if (j > a && !(ls[j - a - 1]!.name < name)) throw corrupt('label names not sorted and unique', SERIES_FILE, i);
      if (value === '') throw corrupt(`label ${name} has an empty value`, SERIES_FILE, i);
      ls[j - a] = { name, value };
    }
    labels[i] = ls;
  }
  return labels;
}

function utf8At(d: Data, j: number, row: number, file = SERIES_FILE): string {
  const off = d.valueOffsets as Int32Array;
  const a = off[j]!;
  const z = off[j + 1]!;
  const bytes = d.values as Uint8Array;
  if (!(a >= 0 && z >= a && z <= bytes.length)) throw corrupt(`bad string offsets [${a}, ${z})`, file, row);
  return Buffer.from(bytes.buffer, bytes.byteOffset + a, z - a).toString('utf8');
}

/**
 * Parses and checks postings.arrow (bitmaps are checked on first use by the reader). Segments
 * with equal postings bytes and series counts share the map (shared-tables.ts), and so the
 * bitmaps deserialized from it.
 */
export function loadPostings(bytes: Uint8Array, meta: Pick<SegmentMeta, 'labelPairCount' | 'seriesCount'>): Map<string, Map<string, PostingEntry>> {
  const t = parseTable(bytes, POSTINGS_FILE, schemaSignature(postingsSchema));
  if (t.numRows !== meta.labelPairCount) throw corrupt(`postings.arrow holds ${t.numRows} rows; meta.json says ${meta.labelPairCount}`, POSTINGS_FILE);
  if (t.numRows === 0) return new Map();
  const names = single(t, 'name', POSTINGS_FILE);
  const values = single(t, 'value', POSTINGS_FILE);
  const blobs = single(t, 'bitmap', POSTINGS_FILE);
  const parts = [names.valueOffsets, names.values, values.valueOffsets, values.values, blobs.valueOffsets, blobs.values] as ArrayBufferView[];
  // The series count is part of the key: the reader checks each bitmap against it once.
  return sharedTable(`postings.arrow rows=${t.numRows} series=${meta.seriesCount}`, parts, () => decodePostings(t.numRows, names, values, blobs));
}

function decodePostings(rows: number, names: Data, values: Data, blobs: Data): Map<string, Map<string, PostingEntry>> {
  const out = new Map<string, Map<string, PostingEntry>>();
  const blobOffsets = blobs.valueOffsets as Int32Array;
  const blobData = blobs.values as Uint8Array;
  for (let i = 0; i < rows; i++) {
    const name = utf8At(names, i, i, POSTINGS_FILE);
    const value = utf8At(values, i, i, POSTINGS_FILE);
    const a = blobOffsets[i]!;
    const z = blobOffsets[i + 1]!;
    if (!(a >= 0 && z > a && z <= blobData.length)) throw corrupt(`bad bitmap offsets [${a}, ${z})`, POSTINGS_FILE, i);
    let m = out.get(name);
    if (!m) out.set(name, (m = new Map()));
    if (m.has(value)) throw corrupt(`duplicate label pair ${name}=${JSON.stringify(value)}`, POSTINGS_FILE, i);
    m.set(value, { bytes: blobData.subarray(a, z) });
  }
  return out;
}
