// Segment writer: turns one tenant's samples of one partition into a segment directory of Arrow
// IPC files (series.arrow, samples.arrow, postings.arrow) plus meta.json.
//
// Crash safety: everything is written into `<name>.tmp/`, each file fsynced, the directory
// fsynced and renamed to `<name>`, and the parent fsynced. A crash leaves either no directory,
// a `.tmp` one, or a complete one that is not yet in the manifest: removeOrphanSegments() deletes
// the first two kinds at start-up, and the manifest decides whether the third is live.
//
// Every chunk is decoded again right after it is encoded and compared bit for bit with its
// input (a pair assertion): an encoder bug fails the flush instead of writing wrong data.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Binary, Int64, RecordBatch, Struct, Uint32, Utf8, makeData, vectorFromArray, type Data } from 'apache-arrow';
import { compareLabels, labelsAreSorted, labelsKey, METRIC_NAME_LABEL, type Labels } from '../model/labels.js';
import { isValidTenantId } from '../model/write.js';
import { RoaringBitmap32 } from '../model/postings.js';
import { arrowFileBytes, type SegmentCompression } from './codecs.js';
import { crc32 } from './crc32.js';
import { ByteSink, ByteSource, decodeTimestamps, decodeValues, encodeTimestamps, encodeValues, TIMESTAMP_ABS_MAX_MS } from './encoding/index.js';
import {
  CHUNK_SAMPLES_MAX,
  META_FILE,
  POSTINGS_FILE,
  SAMPLES_BATCH_BYTES_TARGET,
  SAMPLES_BATCH_CHUNKS_MAX,
  SAMPLES_FILE,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_SERIES_MAX,
  SERIES_FILE,
  SERIES_LABELS_MAX,
  TMP_SUFFIX,
} from './format.js';
import type { RawSegmentMeta } from './meta.js';
import { labelsType, metricNameType, postingsSchema, samplesSchema, seriesSchema } from './schema.js';

export type { SegmentMeta, RawSegmentMeta, LevelSegmentMeta } from './meta.js';

export interface SegmentSeriesInput {
  labels: Labels;
  /** Sorted ascending, unique, all inside [partitionStartMs, partitionEndMs). */
  timestampsMs: Float64Array;
  values: Float64Array;
}

export interface SegmentInput {
  tenant: string;
  level: 'raw';
  partitionStartMs: number;
  partitionEndMs: number;
  series: SegmentSeriesInput[];
}

export interface WriteSegmentOptions {
  compression?: SegmentCompression;
  /** Samples per chunk; default CHUNK_SAMPLES_MAX (benchmarks vary it). */
  chunkSamplesMax?: number;
}

/** Writes a segment directory `<segmentsDir>/<name>` atomically and returns its meta. */
export async function writeSegment(segmentsDir: string, name: string, input: SegmentInput, opts?: WriteSegmentOptions): Promise<RawSegmentMeta> {
  const compression = opts?.compression ?? 'zstd';
  const built = buildSegmentFiles(name, input, compression, opts?.chunkSamplesMax ?? CHUNK_SAMPLES_MAX);
  await writeSegmentDir(segmentsDir, name, built.files, built.meta);
  return built.meta;
}

/**
 * Writes the files and meta.json of a segment into `<segmentsDir>/<name>.tmp/`, fsyncs them and
 * the directory, renames it to `<name>` and fsyncs the parent (raw and level segments alike).
 */
export async function writeSegmentDir(segmentsDir: string, name: string, files: ReadonlyArray<[string, Uint8Array]>, meta: object): Promise<void> {
  const tmpDir = await makeSegmentTmpDir(segmentsDir, name);
  await publishSegmentDir(segmentsDir, name, tmpDir, files, meta);
}

/** Creates an empty `<segmentsDir>/<name>.tmp/` (removing a leftover one); returns its path. */
export async function makeSegmentTmpDir(segmentsDir: string, name: string): Promise<string> {
  const tmpDir = path.join(segmentsDir, name) + TMP_SUFFIX;
  await fs.mkdir(segmentsDir, { recursive: true });
  await fs.rm(tmpDir, { recursive: true, force: true });
  await fs.mkdir(tmpDir);
  return tmpDir;
}

/**
 * Writes files and meta.json into tmpDir (which may hold files written already), fsyncs them and
 * the directory, renames it to `<segmentsDir>/<name>` and fsyncs the parent.
 */
export async function publishSegmentDir(segmentsDir: string, name: string, tmpDir: string, files: ReadonlyArray<[string, Uint8Array]>, meta: object): Promise<void> {
  for (const [file, bytes] of files) await writeFileDurable(path.join(tmpDir, file), bytes);
  await writeFileDurable(path.join(tmpDir, META_FILE), Buffer.from(JSON.stringify(meta, null, 2) + '\n'));
  await fsyncDir(tmpDir);
  // Names come from the manifest's nextSegmentSeq, never reused by a live segment: a directory
  // already there is a leftover of a flush that failed before its manifest swap.
  const finalDir = path.join(segmentsDir, name);
  await fs.rm(finalDir, { recursive: true, force: true });
  await fs.rename(tmpDir, finalDir);
  await fsyncDir(segmentsDir);
}

export async function writeFileDurable(file: string, bytes: Uint8Array): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface BuiltSegment {
  meta: RawSegmentMeta;
  files: Array<[string, Uint8Array]>;
}

/** Writes the files of a built raw segment into `<segmentsDir>/<name>` atomically. */
export async function writeBuiltSegment(segmentsDir: string, name: string, built: BuiltSegment): Promise<void> {
  await writeSegmentDir(segmentsDir, name, built.files, built.meta);
}

/** Validates the input and encodes the three Arrow files in memory (no I/O). */
export function buildSegmentFiles(name: string, input: SegmentInput, compression: SegmentCompression, chunkSamplesMax: number): BuiltSegment {
  // Series with samples, sorted by labels: their index is the segment-local series_ref.
  const series = input.series.filter((s) => s.timestampsMs.length > 0);
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  const b = new SegmentFilesBuilder(name, input, compression, chunkSamplesMax);
  for (const s of series) b.add(s);
  return b.finish();
}

/**
 * Builds a raw segment's files from series added one at a time in strictly increasing label
 * order (compaction streams merged series through it): it keeps the labels and the encoded
 * chunks, never the decoded samples of series already added.
 */
export class SegmentFilesBuilder {
  private readonly series: Array<{ labels: Labels }> = [];
  private readonly seriesMin: number[] = [];
  private readonly seriesMax: number[] = [];
  private readonly seriesSamples: number[] = [];
  private readonly seriesFirstChunk: number[] = [];
  private readonly seriesChunks: number[] = [];
  private readonly batches: RecordBatch[] = [];
  private readonly batchRows: number[] = [];
  private readonly chunks = new ChunkBatchBuilder();
  private readonly check = new PairCheck();
  private chunkRow = 0;
  private sampleCount = 0;
  private minT = Infinity;
  private maxT = -Infinity;
  private finished = false;

  constructor(
    private readonly name: string,
    private readonly input: Omit<SegmentInput, 'series'>,
    private readonly compression: SegmentCompression,
    private readonly chunkSamplesMax: number = CHUNK_SAMPLES_MAX,
  ) {
    if (!isValidTenantId(input.tenant)) throw new Error(`invalid tenant id ${JSON.stringify(input.tenant)}`);
    if (input.level !== 'raw') throw new Error(`unsupported level ${String(input.level)}`);
    const { partitionStartMs: pStart, partitionEndMs: pEnd } = input;
    if (!Number.isInteger(pStart) || !Number.isInteger(pEnd) || !(pEnd > pStart) || Math.abs(pStart) > TIMESTAMP_ABS_MAX_MS || Math.abs(pEnd) > TIMESTAMP_ABS_MAX_MS + 1) {
      throw new Error(`bad partition bounds [${pStart}, ${pEnd})`);
    }
    if (!(chunkSamplesMax >= 1 && chunkSamplesMax <= 65_536)) throw new Error(`chunkSamplesMax ${chunkSamplesMax} out of 1..65536`);
  }

  get seriesCount(): number {
    return this.series.length;
  }

  /** Adds the next series (labels after every series added so far); a series without samples is skipped. */
  add(s: SegmentSeriesInput): void {
    if (this.finished) throw new Error('segment builder used after finish');
    const len = s.timestampsMs.length;
    if (len === 0) return;
    const ref = this.series.length;
    if (ref >= SEGMENT_SERIES_MAX) throw new Error(`too many series for one segment: more than ${SEGMENT_SERIES_MAX}`);
    if (s.labels.length === 0 || s.labels.length > SERIES_LABELS_MAX || !labelsAreSorted(s.labels)) throw new Error(`series ${labelsKey(s.labels)}: labels must be 1..${SERIES_LABELS_MAX}, sorted, unique`);
    if (len !== s.values.length) throw new Error(`series ${labelsKey(s.labels)}: ${len} timestamps but ${s.values.length} values`);
    if (ref > 0) {
      const c = compareLabels(this.series[ref - 1]!.labels, s.labels);
      if (c === 0) throw new Error(`duplicate series ${labelsKey(s.labels)}`);
      if (c > 0) throw new Error(`series ${labelsKey(s.labels)} added out of label order`);
    }
    const t0 = s.timestampsMs[0]!;
    const tn = s.timestampsMs[len - 1]!;
    const { partitionStartMs: pStart, partitionEndMs: pEnd } = this.input;
    if (t0 < pStart || tn >= pEnd) throw new Error(`series ${labelsKey(s.labels)}: samples [${t0}, ${tn}] outside the partition [${pStart}, ${pEnd})`);
    const nChunks = Math.ceil(len / this.chunkSamplesMax);
    const per = Math.ceil(len / nChunks); // equal-sized chunks: no tiny tail chunk
    this.series.push({ labels: s.labels });
    this.seriesFirstChunk.push(this.chunkRow);
    this.seriesChunks.push(nChunks);
    this.seriesSamples.push(len);
    this.seriesMin.push(t0);
    this.seriesMax.push(tn);
    if (t0 < this.minT) this.minT = t0;
    if (tn > this.maxT) this.maxT = tn;
    for (let start = 0; start < len; start += per) {
      const count = Math.min(per, len - start);
      this.chunks.add(ref, s.timestampsMs, s.values, start, count, this.check);
      this.chunkRow++;
    }
    this.sampleCount += len;
    if (this.chunks.rows >= SAMPLES_BATCH_CHUNKS_MAX || this.chunks.encodedBytes >= SAMPLES_BATCH_BYTES_TARGET) this.cutBatch();
  }

  private cutBatch(): void {
    if (this.chunks.rows === 0) return;
    this.batchRows.push(this.chunks.rows);
    this.batches.push(this.chunks.build());
  }

  /** The segment's files and meta; the builder cannot be used afterwards. */
  finish(): BuiltSegment {
    if (this.finished) throw new Error('segment builder finished twice');
    const n = this.series.length;
    if (n === 0) throw new Error('a segment needs at least one sample');
    this.cutBatch();
    this.finished = true;
    const compression = this.compression;
    const samplesBytes = arrowFileBytes(this.batches, compression);
    this.batches.length = 0;

    const { seriesBytes, postingsBytes, labelPairCount } = seriesAndPostingsFiles(
      this.series,
      { mins: this.seriesMin, maxs: this.seriesMax, units: this.seriesSamples, firstRow: this.seriesFirstChunk, rowCount: this.seriesChunks },
      compression,
    );

    const files: Array<[string, Uint8Array]> = [
      [SERIES_FILE, seriesBytes],
      [SAMPLES_FILE, samplesBytes],
      [POSTINGS_FILE, postingsBytes],
    ];
    const fileMeta: RawSegmentMeta['files'] = {};
    let bytes = 0;
    for (const [f, b] of files) {
      fileMeta[f] = { bytes: b.length, crc32: crc32(b) };
      bytes += b.length;
    }
    const meta: RawSegmentMeta = {
      formatVersion: SEGMENT_FORMAT_VERSION,
      name: this.name,
      tenant: this.input.tenant,
      level: 'raw',
      partitionStartMs: this.input.partitionStartMs,
      partitionEndMs: this.input.partitionEndMs,
      minTMs: this.minT,
      maxTMs: this.maxT,
      seriesCount: n,
      sampleCount: this.sampleCount,
      chunkCount: this.chunkRow,
      bytes,
      files: fileMeta,
      compression,
      samplesBatchRows: this.batchRows,
      labelPairCount,
    };
    return { meta, files };
  }
}

/** Growable per-chunk columns of the record batch being built. */
class ChunkBatchBuilder {
  private refs: number[] = [];
  private mins: number[] = [];
  private maxs: number[] = [];
  private counts: number[] = [];
  private tsOffsets: number[] = [0];
  private valOffsets: number[] = [0];
  private readonly ts = new ByteSink(64 * 1024);
  private readonly vals = new ByteSink(64 * 1024);

  get rows(): number {
    return this.refs.length;
  }

  get encodedBytes(): number {
    return this.ts.length + this.vals.length;
  }

  add(ref: number, timestampsMs: Float64Array, values: Float64Array, start: number, count: number, check: PairCheck): void {
    const tsAt = this.ts.length;
    const valAt = this.vals.length;
    encodeTimestamps(this.ts, timestampsMs, start, count);
    encodeValues(this.vals, values, start, count);
    check.verify(this.ts.bytes, tsAt, this.ts.length, this.vals.bytes, valAt, this.vals.length, timestampsMs, values, start, count);
    this.refs.push(ref);
    this.mins.push(timestampsMs[start]!);
    this.maxs.push(timestampsMs[start + count - 1]!);
    this.counts.push(count);
    this.tsOffsets.push(this.ts.length);
    this.valOffsets.push(this.vals.length);
  }

  build(): RecordBatch {
    const n = this.refs.length;
    const children: Data[] = [
      makeData({ type: new Uint32(), length: n, nullCount: 0, data: Uint32Array.from(this.refs) }),
      makeData({ type: new Int64(), length: n, nullCount: 0, data: BigInt64Array.from(this.mins, BigInt) }),
      makeData({ type: new Int64(), length: n, nullCount: 0, data: BigInt64Array.from(this.maxs, BigInt) }),
      makeData({ type: new Uint32(), length: n, nullCount: 0, data: Uint32Array.from(this.counts) }),
      makeData({ type: new Binary(), length: n, nullCount: 0, valueOffsets: Int32Array.from(this.tsOffsets), data: this.ts.view().slice() }),
      makeData({ type: new Binary(), length: n, nullCount: 0, valueOffsets: Int32Array.from(this.valOffsets), data: this.vals.view().slice() }),
    ];
    this.refs = [];
    this.mins = [];
    this.maxs = [];
    this.counts = [];
    this.tsOffsets = [0];
    this.valOffsets = [0];
    this.ts.reset();
    this.vals.reset();
    return new RecordBatch(samplesSchema, makeData({ type: new Struct(samplesSchema.fields), length: n, nullCount: 0, children }));
  }
}

/** Decodes a just-encoded chunk and compares it bit for bit with the input. */
class PairCheck {
  private ts = new Float64Array(1024);
  private vals = new Float64Array(1024);

  verify(tsBytes: Uint8Array, tsAt: number, tsEnd: number, valBytes: Uint8Array, valAt: number, valEnd: number, timestampsMs: Float64Array, values: Float64Array, start: number, count: number): void {
    if (this.ts.length < count) {
      this.ts = new Float64Array(count);
      this.vals = new Float64Array(count);
    }
    const tsSrc = new ByteSource(tsBytes, tsAt, tsEnd);
    const valSrc = new ByteSource(valBytes, valAt, valEnd);
    const nt = decodeTimestamps(tsSrc, this.ts, 0, count);
    const nv = decodeValues(valSrc, this.vals, 0, count);
    if (nt !== count || nv !== count || tsSrc.pos !== tsEnd || valSrc.pos !== valEnd) throw new Error(`chunk encoding check failed: decoded ${nt}/${nv} of ${count} samples`);
    const want = new Uint32Array(values.buffer, values.byteOffset + start * 8, count * 2);
    const got = new Uint32Array(this.vals.buffer, 0, count * 2);
    for (let i = 0; i < count; i++) {
      if (this.ts[i] !== timestampsMs[start + i]) throw new Error(`chunk encoding check failed: timestamp ${i} is ${this.ts[i]}, want ${timestampsMs[start + i]}`);
      if (got[2 * i] !== want[2 * i] || got[2 * i + 1] !== want[2 * i + 1]) throw new Error(`chunk encoding check failed: value ${i} bits differ`);
    }
  }
}

/**
 * series.arrow's record batch. Level segments reuse it: min/max times of what the series holds,
 * "samples" = its buckets, "chunks" = its blocks of buckets.arrow.
 */
/** Per-series numbers of series.arrow, in series order (ref order). */
export interface SeriesColumns {
  mins: readonly number[];
  maxs: readonly number[];
  /** Samples (raw) or buckets (level) of each series. */
  units: readonly number[];
  /** First data row (chunk or block) and data rows of each series. */
  firstRow: readonly number[];
  rowCount: readonly number[];
}

/** series.arrow and postings.arrow of series in label order, encoded (raw and level segments alike). */
export function seriesAndPostingsFiles(
  series: ReadonlyArray<{ labels: Labels }>,
  cols: SeriesColumns,
  compression: SegmentCompression,
): { seriesBytes: Uint8Array; postingsBytes: Uint8Array; labelPairCount: number } {
  const seriesBytes = arrowFileBytes(
    [
      buildSeriesBatch(
        series,
        BigInt64Array.from(cols.mins, BigInt),
        BigInt64Array.from(cols.maxs, BigInt),
        Uint32Array.from(cols.units),
        Uint32Array.from(cols.firstRow),
        Uint32Array.from(cols.rowCount),
      ),
    ],
    compression,
  );
  const postings = buildPostingsBatch(series);
  const postingsBytes = arrowFileBytes([postings.batch], compression);
  return { seriesBytes, postingsBytes, labelPairCount: postings.rows };
}

export function buildSeriesBatch(
  series: ReadonlyArray<{ labels: Labels }>,
  mins: BigInt64Array,
  maxs: BigInt64Array,
  samples: Uint32Array,
  firstChunk: Uint32Array,
  chunkCounts: Uint32Array,
): RecordBatch {
  const n = series.length;
  let pairs = 0;
  for (const s of series) pairs += s.labels.length;
  const keys: string[] = new Array(pairs);
  const vals: string[] = new Array(pairs);
  const offsets = new Int32Array(n + 1);
  let p = 0;
  for (let i = 0; i < n; i++) {
    for (const l of series[i]!.labels) {
      keys[p] = l.name;
      vals[p] = l.value;
      p++;
    }
    offsets[i + 1] = p;
  }
  const entries = makeData({
    type: labelsType.children[0]!.type,
    length: pairs,
    nullCount: 0,
    children: [vectorFromArray(keys, new Utf8()).data[0]!, vectorFromArray(vals, new Utf8()).data[0]!],
  });
  const labels = makeData({ type: labelsType, length: n, nullCount: 0, valueOffsets: offsets, child: entries });
  // metric_name: dictionary of distinct __name__ values (sorted), null where a series has none.
  const names = series.map((s) => s.labels.find((l) => l.name === METRIC_NAME_LABEL)?.value);
  const distinct = [...new Set(names.filter((x): x is string => x !== undefined))].sort();
  const index = new Map(distinct.map((v, i) => [v, i]));
  const indices = new Int32Array(n);
  let nulls = 0;
  const validity = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) {
    const nm = names[i];
    if (nm === undefined) nulls++;
    else {
      indices[i] = index.get(nm)!;
      validity[i >>> 3]! |= 1 << (i & 7);
    }
  }
  const metricName = makeData({
    type: metricNameType,
    length: n,
    nullCount: nulls,
    data: indices,
    dictionary: vectorFromArray(distinct, new Utf8()),
    ...(nulls > 0 ? { nullBitmap: validity } : {}),
  });
  const refs = new Uint32Array(n);
  for (let i = 0; i < n; i++) refs[i] = i;
  const children: Data[] = [
    makeData({ type: new Uint32(), length: n, nullCount: 0, data: refs }),
    labels,
    metricName,
    makeData({ type: new Int64(), length: n, nullCount: 0, data: mins }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: maxs }),
    makeData({ type: new Uint32(), length: n, nullCount: 0, data: samples }),
    makeData({ type: new Uint32(), length: n, nullCount: 0, data: firstChunk }),
    makeData({ type: new Uint32(), length: n, nullCount: 0, data: chunkCounts }),
  ];
  return new RecordBatch(seriesSchema, makeData({ type: new Struct(seriesSchema.fields), length: n, nullCount: 0, children }));
}

/** postings.arrow's record batch: label pair -> roaring bitmap of series refs (= indices in `series`). */
export function buildPostingsBatch(series: ReadonlyArray<{ labels: Labels }>): { batch: RecordBatch; rows: number } {
  const byName = new Map<string, Map<string, number[]>>();
  for (let ref = 0; ref < series.length; ref++) {
    for (const l of series[ref]!.labels) {
      let values = byName.get(l.name);
      if (!values) byName.set(l.name, (values = new Map()));
      let refs = values.get(l.value);
      if (!refs) values.set(l.value, (refs = []));
      refs.push(ref);
    }
  }
  const names: string[] = [];
  const values: string[] = [];
  const counts: number[] = [];
  const blobs: Uint8Array[] = [];
  for (const name of [...byName.keys()].sort()) {
    const vs = byName.get(name)!;
    for (const value of [...vs.keys()].sort()) {
      const refs = vs.get(value)!;
      names.push(name);
      values.push(value);
      counts.push(refs.length);
      const bm = new RoaringBitmap32(refs);
      bm.runOptimize();
      blobs.push(bm.serialize(true));
    }
  }
  const rows = names.length;
  const offsets = new Int32Array(rows + 1);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    total += blobs[i]!.length;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < rows; i++) data.set(blobs[i]!, offsets[i]!);
  const children: Data[] = [
    vectorFromArray(names, new Utf8()).data[0]!,
    vectorFromArray(values, new Utf8()).data[0]!,
    makeData({ type: new Uint32(), length: rows, nullCount: 0, data: Uint32Array.from(counts) }),
    makeData({ type: new Binary(), length: rows, nullCount: 0, valueOffsets: offsets, data }),
  ];
  return { batch: new RecordBatch(postingsSchema, makeData({ type: new Struct(postingsSchema.fields), length: rows, nullCount: 0, children })), rows };
}
