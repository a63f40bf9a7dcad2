// Prometheus remote write 1.0 (PROTOCOLS.md §4): snappy block -> protobuf WriteRequest ->
// validated AppendSeries with samples in typed arrays, plus exemplars, metadata and what was rejected.
//
// Wire schema (checked against prometheus/prometheus prompb/remote.proto and types.proto):
//   WriteRequest   { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
//   TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
//   Label          { string name = 1; string value = 2; }
//   Sample         { double value = 1; int64 timestamp = 2; }
//   Exemplar       { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
//   MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
//
// The walk is hand-written over the Buffer: no object per sample; sample values are copied as
// raw bytes into a Float64Array so NaN payloads (the stale marker) stay bit-exact. All series of
// a request share one timestamp array and one value array, handed on as one AppendBatch.
//
// Validation (docs/API.md, "Remote write"): structural problems (truncation, bad wire types,
// lengths past the end) fail at once with the byte offset, and nothing of the request is kept.
// Data problems are per series: a series with invalid labels (or an unrepresentable timestamp)
// goes into `rejected` with a message naming it, and the valid series of the request are kept
// (PROTOCOLS.md §4 allows it; the route then answers 400 so the sender logs why). Invalid
// exemplars are rejected one by one ('invalid_exemplar'); native histograms are counted as
// 'unsupported_type' until they are stored.
//
// Known series are cheap: the raw label bytes of a series are the same in every request, so a
// bounded cache (label-cache.ts) maps them to the validated labels and key.
import snappy from 'snappy';
import { MochaError } from '../errors.js';
import {
  EXEMPLAR_LABELS_RUNES_MAX,
  LABEL_NAME_BYTES_MAX,
  LABEL_VALUE_BYTES_MAX,
  LABELS_PER_SERIES_MAX,
  REMOTE_WRITE_BODY_BYTES_MAX,
  REMOTE_WRITE_DECODED_BYTES_MAX,
  REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX,
  REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX,
  SAMPLE_TIMESTAMP_ABS_MAX_MS,
} from '../constants.js';
import { labelsKey, METRIC_NAME_LABEL, type Label } from '../model/labels.js';
import { seriesOfBatch, type AppendBatch, type AppendSeries } from '../model/write.js';
import { AsciiInterner } from './intern.js';
import { LabelSetCache, validatedLabels, type RawBytesHash, type ValidatedLabels } from './label-cache.js';
import { ProtoCursor, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protowire.js';
import {
  isValidLabelNameBytes,
  isValidMetricNameBytes,
  LABEL_NAME_PATTERN_TEXT,
  METRIC_NAME_PATTERN_TEXT,
  UTF8_ASCII,
  UTF8_INVALID,
  utf8Kind,
} from './validate-labels.js';

export interface RemoteWriteLimits {
  /** Compressed body bytes. */
  bodyBytesMax: number;
  /** Decompressed bytes, as claimed by the snappy header (checked before decompressing). */
  decodedBytesMax: number;
  labelsPerSeriesMax: number;
  labelNameBytesMax: number;
  labelValueBytesMax: number;
}

export const DEFAULT_REMOTE_WRITE_LIMITS: Readonly<RemoteWriteLimits> = Object.freeze({
  bodyBytesMax: REMOTE_WRITE_BODY_BYTES_MAX,
  decodedBytesMax: REMOTE_WRITE_DECODED_BYTES_MAX,
  labelsPerSeriesMax: LABELS_PER_SERIES_MAX,
  labelNameBytesMax: LABEL_NAME_BYTES_MAX,
  labelValueBytesMax: LABEL_VALUE_BYTES_MAX,
});

import { RejectionTally, type ExemplarInput, type MetricMetadataInput, type MetricTypeName, type RejectReason } from './pipeline.js';
export type { MetricTypeName } from './pipeline.js';

/** Index = MetricMetadata.MetricType enum value on the wire. */
export const METRIC_TYPE_NAMES: readonly MetricTypeName[] = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'];

export type MetricMetadata = MetricMetadataInput;

export interface DecodedWrite {
  /**
   * Valid series with at least one sample, in request order (the same label set may appear twice),
   * as one columnar batch: what the route hands the ingest pipeline.
   */
  batch: AppendBatch;
  /** The batch's series as objects with views of its columns; built on first access (tests, tools). */
  readonly series: AppendSeries[];
  /** Samples in `series`. */
  sampleCount: number;
  metadata: MetricMetadata[];
  /** Valid exemplars of valid series. */
  exemplars: ExemplarInput[];
  /** Exemplars received (valid or not). */
  exemplarCount: number;
  /** Native histogram samples received (all rejected as 'unsupported_type'). */
  histogramCount: number;
  /** Series, samples, exemplars and histograms the decoder did not keep, by reason. */
  rejected: RejectionTally;
}

/** A DecodedWrite whose `series` is built from the batch on first access. */
export function decodedWrite(batch: AppendBatch, rest: Omit<DecodedWrite, 'batch' | 'series'>): DecodedWrite {
  let series: AppendSeries[] | undefined;
  return {
    batch,
    get series() {
      return (series ??= seriesOfBatch(batch));
    },
    ...rest,
  };
}

/** Node's Buffer has these fast slicers on its prototype; @types/node does not declare them. */
export type FastBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};

export function resolveRemoteWriteLimits(limits?: Partial<RemoteWriteLimits>): RemoteWriteLimits {
  if (limits === undefined) return DEFAULT_REMOTE_WRITE_LIMITS;
  const out: RemoteWriteLimits = { ...DEFAULT_REMOTE_WRITE_LIMITS };
  for (const k of Object.keys(DEFAULT_REMOTE_WRITE_LIMITS) as Array<keyof RemoteWriteLimits>) {
    const v = limits[k];
    if (v === undefined) continue;
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`remote write limit ${k} must be a positive integer, got ${v}`);
    out[k] = v;
  }
  return out;
}

/**
 * Reads the uncompressed length a snappy block declares in its header (a varint of at most 32
 * bits). Throws BAD_REMOTE_WRITE when the header is not a valid one.
 */
export function snappyUncompressedLength(body: Uint8Array): { length: number; headerBytes: number } {
  if (body.length === 0) throw new MochaError('BAD_REMOTE_WRITE', 'body is empty: expected a snappy block-compressed WriteRequest');
  let v = 0;
  let mult = 1;
  for (let i = 0; i < 5; i++) {
    if (i >= body.length) break;
    const b = body[i]!;
    if (i === 4 && b > 0x0f) break;
    v += (b & 0x7f) * mult;
    if (b < 0x80) return { length: v, headerBytes: i + 1 };
    mult *= 128;
  }
  throw new MochaError('BAD_REMOTE_WRITE', 'body is not snappy block-compressed: its length header is not a valid 32-bit varint (Content-Encoding: snappy means the block format, not the framed format)');
}

/**
 * The most a snappy block can expand: a 3-byte copy element emits at most 64 bytes. A header
 * claiming more is a lie; checking first keeps a tiny body from making the decompressor
 * allocate the claimed size.
 */
function snappyExpansionMax(compressedBytes: number): number {
  return Math.ceil((compressedBytes * 64) / 3);
}

/**
 * Checks the body and snappy header against the limits, then decompresses (large bodies in the libuv pool).
 * Shared by 1.0 and 2.0: both are snappy block-compressed. Throws BODY_TOO_LARGE or BAD_REMOTE_WRITE.
 */
export async function uncompressRemoteWriteBody(body: Uint8Array, lim: RemoteWriteLimits): Promise<Buffer> {
  if (body.length > lim.bodyBytesMax) {
    throw new MochaError('BODY_TOO_LARGE', `remote write body is ${body.length} bytes, above the limit of ${lim.bodyBytesMax}`);
  }
  const { length, headerBytes } = snappyUncompressedLength(body);
  if (length > lim.decodedBytesMax) {
    throw new MochaError('BODY_TOO_LARGE', `snappy header declares ${length} decompressed bytes, above the limit of ${lim.decodedBytesMax}`);
  }
  if (length > snappyExpansionMax(body.length - headerBytes)) {
    throw new MochaError('BAD_REMOTE_WRITE', `body is not valid snappy: its header declares ${length} bytes, more than ${body.length} compressed bytes can hold`);
  }
  let raw: Buffer;
  try {
    // Prometheus-sized bodies are decompressed on the JS thread: see REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX.
    raw = (length <= REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX ? snappy.uncompressSync(body, { asBuffer: true }) : await snappy.uncompress(body, { asBuffer: true })) as Buffer;
  } catch (e) {
    throw new MochaError('BAD_REMOTE_WRITE', `body is not valid snappy block-compressed data: ${(e as Error).message}`);
  }
  if (raw.length !== length) {
    throw new MochaError('BAD_REMOTE_WRITE', `body is not valid snappy: header declares ${length} bytes but it decompresses to ${raw.length}`);
  }
  return raw;
}

export interface RemoteWriteDecoderOptions {
  /** Per cache generation (at most twice this many entries); 0 disables the label cache. */
  labelCacheGenerationEntriesMax?: number;
  /** Tests only: replaces the cache's hash (e.g. a constant one, to force collisions). */
  labelCacheHash?: RawBytesHash;
}

/** A decoder with its own label cache. Most callers use decodeRemoteWriteV1 (a shared instance). */
export class RemoteWriteDecoder {
  private readonly cache: LabelSetCache | undefined;

  constructor(opts: RemoteWriteDecoderOptions = {}) {
    const n = opts.labelCacheGenerationEntriesMax ?? REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX;
    this.cache = n > 0 ? new LabelSetCache(n, opts.labelCacheHash) : undefined;
  }

  /** Snappy block body -> validated write. Bodies above REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX decompressed are decompressed in the libuv pool, off the JS thread. */
  async decode(body: Uint8Array, limits?: Partial<RemoteWriteLimits>): Promise<DecodedWrite> {
    const lim = resolveRemoteWriteLimits(limits);
    return this.decodeWriteRequest(await uncompressRemoteWriteBody(body, lim), lim);
  }

  /** Decompressed protobuf WriteRequest -> validated write (synchronous). */
  decodeWriteRequest(buf: Uint8Array, limits?: Partial<RemoteWriteLimits>): DecodedWrite {
    const b = (Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)) as FastBuffer;
    return new WriteRequestWalker(b, resolveRemoteWriteLimits(limits), this.cache).run();
  }

  cacheStats(): { entries: number; hits: number; misses: number; bypasses: number } {
    const c = this.cache;
    return c === undefined ? { entries: 0, hits: 0, misses: 0, bypasses: 0 } : { entries: c.size, hits: c.hits, misses: c.misses, bypasses: c.bypasses };
  }

  clearCache(): void {
    this.cache?.clear();
  }

  assertInvariants(): void {
    this.cache?.assertInvariants();
  }
}

const sharedDecoder = new RemoteWriteDecoder();
/** Label names, shared by all decoders (strings are immutable): names repeat in every series. */
export const labelNameInterner = new AsciiInterner();

/** Decodes a remote write 1.0 body (snappy block of a WriteRequest). Uses a shared label cache. */
export function decodeRemoteWriteV1(body: Buffer, limits?: Partial<RemoteWriteLimits>): Promise<DecodedWrite> {
  return sharedDecoder.decode(body, limits);
}

/** Label-cache counters of the shared decoder, for /metrics. */
export function remoteWriteDecoderStats(): ReturnType<RemoteWriteDecoder['cacheStats']> {
  return sharedDecoder.cacheStats();
}

/** Decodes an uncompressed WriteRequest (tests, remote read). Uses the shared label cache. */
export function decodeWriteRequestV1(buf: Uint8Array, limits?: Partial<RemoteWriteLimits>): DecodedWrite {
  return sharedDecoder.decodeWriteRequest(buf, limits);
}

const CTX_WRITE_REQUEST = 0;
const CTX_TIMESERIES = 1;
const CTX_LABEL = 2;
const CTX_SAMPLE = 3;
const CTX_METADATA = 4;
const CTX_EXEMPLAR = 5;

const TIMESERIES_FIELD_NAMES = ['', 'labels', 'samples', 'exemplars', 'histograms'];
/** Longest rendering of a label set in an error message. */
export const SERIES_TEXT_CHARS_MAX = 512;
/** Sample arrays start at this capacity (or a guess from the body size) and double. */
export const SAMPLES_INITIAL_CAPACITY = 256;
/** A guess of decoded bytes per sample for Prometheus-shaped requests, to size the first arrays. */
export const GUESS_BYTES_PER_SAMPLE = 64;
/** Decode scratch columns up to this many samples are kept for the next request (2 x 8 B each). */
export const SCRATCH_SAMPLES_MAX = 1 << 16;

/**
 * Sample columns that consecutive decodes (1.0 and 2.0) reuse: decoding is synchronous, so one
 * walker at a time fills them, and finish() copies out exactly sized arrays. Allocating two
 * zero-filled off-heap arrays per request, sized by a guess from the body, cost ~3% of the ingest
 * CPU plus the GCs their external memory triggered.
 */
export class SampleScratch {
  timestamps = new Float64Array(SAMPLES_INITIAL_CAPACITY);
  values = new Float64Array(SAMPLES_INITIAL_CAPACITY);
  /** Byte view of `values`. */
  valueBytes = new Uint8Array(this.values.buffer);
  /** Per output series: its first sample (the batch's offsets before the copy). */
  offsets = new Uint32Array(64);

  /** Makes sure the sample columns hold `capacity` samples (when within SCRATCH_SAMPLES_MAX). */
  reserve(capacity: number): void {
    if (capacity <= this.timestamps.length) return;
    this.timestamps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.valueBytes = new Uint8Array(this.values.buffer);
  }

  /** Doubles the sample columns, keeping their first `used` samples. */
  grow(used: number): void {
    const cap = this.timestamps.length * 2;
    const ts = new Float64Array(cap);
    ts.set(this.timestamps.subarray(0, used));
    const vs = new Float64Array(cap);
    // Copy through the byte views: a Float64Array.set between two Float64Arrays is a memcpy in
    // V8, but bytes make the bit-exactness obvious.
    const vb = new Uint8Array(vs.buffer);
    vb.set(this.valueBytes.subarray(0, used * 8));
    this.timestamps = ts;
    this.values = vs;
    this.valueBytes = vb;
  }

  /** Sets offsets[i] = v, growing the offsets column. */
  setOffset(i: number, v: number): void {
    if (i >= this.offsets.length) {
      const grown = new Uint32Array(Math.max(this.offsets.length * 2, i + 1));
      grown.set(this.offsets);
      this.offsets = grown;
    }
    this.offsets[i] = v;
  }

  /** Gives up columns that grew past SCRATCH_SAMPLES_MAX (so one huge request does not pin them). */
  trim(): void {
    if (this.timestamps.length > SCRATCH_SAMPLES_MAX) {
      this.timestamps = new Float64Array(SAMPLES_INITIAL_CAPACITY);
      this.values = new Float64Array(SAMPLES_INITIAL_CAPACITY);
      this.valueBytes = new Uint8Array(this.values.buffer);
    }
    if (this.offsets.length > SCRATCH_SAMPLES_MAX) this.offsets = new Uint32Array(64);
  }
}

/** The scratch every decoder walker uses (see SampleScratch). */
export const sampleScratch = new SampleScratch();

/** One pass over one WriteRequest. Not reusable: create one per request. */
class WriteRequestWalker extends ProtoCursor {
  private ctx = CTX_WRITE_REQUEST;
  private seriesIndex = -1;
  private metadataIndex = -1;

  /** Sample columns (timestamps, values and their byte view: values are copied in as raw bytes, NaN payloads intact) and output offsets. */
  private readonly scratch = sampleScratch;
  private sampleCount = 0;

  private readonly dv: DataView;
  private readonly outLabels: ValidatedLabels[] = [];
  private readonly metadata: MetricMetadata[] = [];
  private readonly exemplars: ExemplarInput[] = [];
  private readonly rejected = new RejectionTally();
  private exemplarCount = 0;
  private histogramCount = 0;
  /** Byte ranges [start, end) of the exemplars of the series being decoded. */
  private readonly exemplarRanges: number[] = [];
  /** Why labels() last said a label set is invalid. */
  private labelsReason: RejectReason = 'invalid_labels';
  /** First sample index of the series being decoded. */
  private seriesSampleStart = 0;
  /** Index within the current series of its first sample with an unrepresentable timestamp. */
  private badTimestampSample = -1;
  private badTimestampText = '';

  constructor(
    override readonly buf: FastBuffer,
    private readonly limits: RemoteWriteLimits,
    private readonly cache: LabelSetCache | undefined,
  ) {
    super(buf, 'BAD_REMOTE_WRITE', 'decompressed WriteRequest');
    this.scratch.reserve(Math.min(SCRATCH_SAMPLES_MAX, Math.ceil(buf.length / GUESS_BYTES_PER_SAMPLE)));
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  protected override context(): string {
    switch (this.ctx) {
      case CTX_TIMESERIES:
        return `in timeseries[${this.seriesIndex}]`;
      case CTX_LABEL:
        return `in a label of timeseries[${this.seriesIndex}]`;
      case CTX_SAMPLE:
        return `in a sample of timeseries[${this.seriesIndex}]`;
      case CTX_METADATA:
        return `in metadata[${this.metadataIndex}]`;
      case CTX_EXEMPLAR:
        return `in an exemplar of timeseries[${this.seriesIndex}]`;
      default:
        return 'in WriteRequest';
    }
  }

  run(): DecodedWrite {
    const end = this.buf.length;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      if (tag === 0x0a) {
        const n = this.length(end);
        const s = this.pos;
        this.timeSeries(s, s + n);
        this.pos = s + n;
      } else if (tag === 0x1a) {
        const n = this.length(end);
        const s = this.pos;
        this.metricMetadata(s, s + n);
        this.pos = s + n;
      } else {
        const field = tag >>> 3;
        if (field === 1) this.expectWireType(tag, WIRE_LEN, 'timeseries', tagAt);
        if (field === 3) this.expectWireType(tag, WIRE_LEN, 'metadata', tagAt);
        this.skip(tag, end);
      }
    }
    return this.finish();
  }

  private finish(): DecodedWrite {
    const n = this.sampleCount;
    const count = this.outLabels.length;
    const scratch = this.scratch;
    scratch.setOffset(count, n);
    // Exactly sized copies out of the scratch (which the next request overwrites).
    const batch: AppendBatch = {
      series: this.outLabels,
      offsets: scratch.offsets.slice(0, count + 1),
      timestampsMs: scratch.timestamps.slice(0, n),
      values: scratch.values.slice(0, n),
    };
    scratch.trim();
    return decodedWrite(batch, {
      sampleCount: n,
      metadata: this.metadata,
      exemplars: this.exemplars,
      exemplarCount: this.exemplarCount,
      histogramCount: this.histogramCount,
      rejected: this.rejected,
    });
  }

  private timeSeries(start: number, end: number): void {
    this.ctx = CTX_TIMESERIES;
    this.seriesIndex++;
    this.badTimestampSample = -1;
    const sampleStart = this.sampleCount;
    this.seriesSampleStart = sampleStart;
    let labelsStart = -1;
    let labelsEnd = -1;
    let contiguous = true;
    let labelCount = 0;
    let histograms = 0;
    const exemplarRanges = this.exemplarRanges;
    exemplarRanges.length = 0;
    this.pos = start;
    const buf = this.buf;
    while (this.pos < end) {
      const tagAt = this.pos;
      // Fast path for the common shape: a run of labels with one-byte tags and lengths.
      // (A label running past the end goes to the slow path, which reports it.)
      if (tagAt + 1 < end && buf[tagAt] === 0x0a && buf[tagAt + 1]! < 0x80 && tagAt + 2 + buf[tagAt + 1]! <= end) {
        if (labelsStart < 0) labelsStart = tagAt;
        else if (labelsEnd !== tagAt) contiguous = false;
        let p = tagAt;
        while (p + 1 < end && buf[p] === 0x0a && buf[p + 1]! < 0x80) {
          const next = p + 2 + buf[p + 1]!;
          if (next > end) break;
          p = next;
          labelCount++;
        }
        this.pos = p;
        labelsEnd = p;
        continue;
      }
      const tag = this.tag(end);
      if (tag === 0x0a) {
        const n = this.length(end);
        if (labelsStart < 0) labelsStart = tagAt;
        else if (labelsEnd !== tagAt) contiguous = false;
        this.pos += n;
        labelsEnd = this.pos;
        labelCount++;
      } else if (tag === 0x12) {
        const n = this.length(end);
        const s = this.pos;
        this.sample(s, s + n);
        this.pos = s + n;
      } else if (tag === 0x1a) {
        const n = this.length(end); // (not `this.pos += this.length()`: that reads pos before the call)
        exemplarRanges.push(this.pos, this.pos + n);
        this.pos += n;
        this.exemplarCount++;
      } else if (tag === 0x22) {
        const n = this.length(end);
        this.pos += n;
        histograms++;
      } else {
        const field = tag >>> 3;
        if (field <= 4) this.expectWireType(tag, WIRE_LEN, TIMESERIES_FIELD_NAMES[field]!, tagAt);
        this.skip(tag, end);
      }
    }

    let reason = '';
    let reasonCode: RejectReason = 'invalid_labels';
    let entry: ValidatedLabels | undefined;
    const lim = this.limits;
    if (labelCount > lim.labelsPerSeriesMax) {
      reason = `has ${labelCount} labels, above the limit of ${lim.labelsPerSeriesMax}`;
      reasonCode = 'too_many_labels';
    } else if (labelCount === 0) {
      reason = `has no labels (the ${METRIC_NAME_LABEL} label is required)`;
    } else {
      const cache = contiguous ? this.cache : undefined;
      if (cache !== undefined) {
        entry = cache.get(this.dv, labelsStart, labelsEnd);
        // Entries were validated under some limits; re-check the ones that can differ per call.
        if (entry !== undefined && (entry.nameBytesMax > lim.labelNameBytesMax || entry.valueBytesMax > lim.labelValueBytesMax)) entry = undefined;
      }
      if (entry === undefined) {
        const r = contiguous ? this.labels(labelsStart, labelsEnd, labelCount) : this.labels(start, end, labelCount);
        if (typeof r === 'string') {
          reason = r;
          reasonCode = this.labelsReason;
        } else {
          entry = r;
          if (cache !== undefined) cache.set(this.dv, labelsStart, labelsEnd, r);
        }
      }
    }
    if (reason === '' && this.badTimestampSample >= 0) {
      reason = `sample ${this.badTimestampSample} has timestamp ${this.badTimestampText} ms, outside ±2^47 ms (the supported range, about ±4460 years around 1970)`;
      reasonCode = 'invalid_timestamp';
    }
    const samples = this.sampleCount - sampleStart;
    if (reason !== '') {
      // The whole series is dropped: its samples leave the shared arrays, its exemplars go with it.
      this.sampleCount = sampleStart;
      const text = `invalid series timeseries[${this.seriesIndex}] ${this.describeLabels(start, end)}: ${reason}`;
      this.rejected.add(reasonCode, samples, 1, text);
      if (exemplarRanges.length > 0) this.rejected.add('invalid_exemplar', exemplarRanges.length / 2, 0, `exemplar of a rejected series: ${text}`);
      if (histograms > 0) this.rejected.add('unsupported_type', histograms, 0, `native histogram of a rejected series: ${text}`);
    } else {
      if (samples > 0) {
        this.scratch.setOffset(this.outLabels.length, sampleStart);
        this.outLabels.push(entry!);
      }
      for (let i = 0; i < exemplarRanges.length; i += 2) this.exemplar(entry!, exemplarRanges[i]!, exemplarRanges[i + 1]!);
      if (histograms > 0) {
        this.rejected.add('unsupported_type', histograms, samples === 0 ? 1 : 0, `native histogram samples of ${this.describeLabels(start, end)}: native histograms are not supported yet (send classic _bucket/_sum/_count series)`);
      }
    }
    this.histogramCount += histograms;
    this.ctx = CTX_WRITE_REQUEST;
  }

  /**
   * One Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; } of a valid
   * series, in [start, end). Structural errors throw; invalid content is rejected on its own.
   */
  private exemplar(series: ValidatedLabels, start: number, end: number): void {
    const buf = this.buf;
    this.ctx = CTX_EXEMPLAR;
    const labels: Label[] = [];
    let value = 0;
    let ts = 0;
    let bad = '';
    this.pos = start;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      if (tag === 0x0a) {
        const n = this.length(end);
        const le = this.pos + n;
        let ns = 0;
        let ne = 0;
        let vs = 0;
        let ve = 0;
        while (this.pos < le) {
          const at = this.pos;
          const t = this.tag(le);
          if (t === 0x0a || t === 0x12) {
            const m = this.length(le);
            if (t === 0x0a) (ns = this.pos), (ne = this.pos + m);
            else (vs = this.pos), (ve = this.pos + m);
            this.pos += m;
          } else {
            const f = t >>> 3;
            if (f === 1) this.expectWireType(t, WIRE_LEN, 'name', at);
            if (f === 2) this.expectWireType(t, WIRE_LEN, 'value', at);
            this.skip(t, le);
          }
        }
        if (bad !== '') continue;
        if (ne === ns) bad = 'a label has an empty name';
        else if (!isValidLabelNameBytes(buf, ns, ne)) bad = `label name ${this.quoteLenient(ns, ne)} is not valid: it must match ${LABEL_NAME_PATTERN_TEXT}`;
        else if (ve > vs) {
          const kind = utf8Kind(buf, vs, ve);
          if (kind === UTF8_INVALID) bad = `label ${this.quoteLenient(ns, ne)} has a value that is not valid UTF-8`;
          else labels.push({ name: labelNameInterner.get(buf, ns, ne), value: kind === UTF8_ASCII ? buf.latin1Slice(vs, ve) : buf.utf8Slice(vs, ve) });
        }
        // An empty value is an absent label (as for series labels in Prometheus): dropped.
      } else if (tag === 0x11) {
        if (this.pos + 8 > end) this.fail('truncated exemplar value', this.pos);
        value = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
      } else if (tag === 0x18) {
        ts = this.int64(end);
      } else {
        const f = tag >>> 3;
        if (f === 1) this.expectWireType(tag, WIRE_LEN, 'labels', tagAt);
        if (f === 2) this.expectWireType(tag, WIRE_FIXED64, 'value', tagAt);
        if (f === 3) this.expectWireType(tag, WIRE_VARINT, 'timestamp', tagAt);
        this.skip(tag, end);
      }
    }
    this.ctx = CTX_TIMESERIES;
    if (bad === '') bad = checkExemplar(labels, ts) ?? '';
    if (bad !== '') {
      this.rejected.add('invalid_exemplar', 1, 0, `exemplar of ${this.describeSeries(series)}: ${bad}`);
      return;
    }
    this.exemplars.push({ seriesLabels: series.labels, seriesKey: series.key, labels, value, timestampMs: ts });
  }

  private describeSeries(series: ValidatedLabels): string {
    const text = `{${series.labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(', ')}}`;
    return text.length > SERIES_TEXT_CHARS_MAX ? `${text.slice(0, SERIES_TEXT_CHARS_MAX)}…` : text;
  }

  /**
   * Parses and validates the Label fields in [start, end) (other fields there are skipped).
   * Returns the validated set, or why it is invalid. Structural errors throw.
   */
  private labels(start: number, end: number, count: number): ValidatedLabels | string {
    const buf = this.buf;
    const lim = this.limits;
    const labels: Label[] = new Array(count);
    let i = 0;
    let prevName = '';
    let nameBytesMax = 0;
    let valueBytesMax = 0;
    let hasMetricName = false;
    this.pos = start;
    while (this.pos < end) {
      const tag = this.tag(end);
      if (tag !== 0x0a) {
        this.skip(tag, end);
        continue;
      }
      const n = this.length(end);
      const ls = this.pos;
      const le = ls + n;
      // Label { string name = 1; string value = 2; }: an absent field is the empty string.
      this.ctx = CTX_LABEL;
      let ns = 0;
      let ne = 0;
      let vs = 0;
      let ve = 0;
      while (this.pos < le) {
        const tagAt = this.pos;
        const t = this.tag(le);
        if (t === 0x0a) {
          const m = this.length(le);
          ns = this.pos;
          ne = ns + m;
          this.pos = ne;
        } else if (t === 0x12) {
          const m = this.length(le);
          vs = this.pos;
          ve = vs + m;
          this.pos = ve;
        } else {
          const f = t >>> 3;
          if (f === 1) this.expectWireType(t, WIRE_LEN, 'name', tagAt);
          if (f === 2) this.expectWireType(t, WIRE_LEN, 'value', tagAt);
          this.skip(t, le);
        }
      }
      this.ctx = CTX_TIMESERIES;

      const nameBytes = ne - ns;
      const valueBytes = ve - vs;
      if (nameBytes === 0) return `label ${i} has an empty name`;
      this.labelsReason = 'invalid_labels';
      if (nameBytes > lim.labelNameBytesMax) {
        this.labelsReason = 'label_name_too_long';
        return `label name ${this.quoteLenient(ns, ne)} is ${nameBytes} bytes, above the limit of ${lim.labelNameBytesMax}`;
      }
      if (!isValidLabelNameBytes(buf, ns, ne)) return `label name ${this.quoteLenient(ns, ne)} is not valid: it must match ${LABEL_NAME_PATTERN_TEXT}`;
      const name = labelNameInterner.get(buf, ns, ne);
      if (i > 0 && !(prevName < name)) {
        return prevName === name ? `duplicate label name ${JSON.stringify(name)}` : `label names are not sorted: ${JSON.stringify(prevName)} comes before ${JSON.stringify(name)}`;
      }
      if (valueBytes === 0) return `label ${JSON.stringify(name)} has an empty value`;
      if (valueBytes > lim.labelValueBytesMax) {
        this.labelsReason = 'label_value_too_long';
        return `label ${JSON.stringify(name)} has a value of ${valueBytes} bytes, above the limit of ${lim.labelValueBytesMax}`;
      }
      const kind = utf8Kind(buf, vs, ve);
      if (kind === UTF8_INVALID) return `label ${JSON.stringify(name)} has a value that is not valid UTF-8`;
      if (name === METRIC_NAME_LABEL) {
        if (!isValidMetricNameBytes(buf, vs, ve)) return `metric name ${this.quoteLenient(vs, ve)} is not valid: it must match ${METRIC_NAME_PATTERN_TEXT}`;
        hasMetricName = true;
      }
      // Values are not interned: half of them are unique per series (instance, pod), and
      // interning them measured slower overall (bench/micro/remote-write-decode.ts).
      labels[i++] = { name, value: kind === UTF8_ASCII ? buf.latin1Slice(vs, ve) : buf.utf8Slice(vs, ve) };
      prevName = name;
      if (nameBytes > nameBytesMax) nameBytesMax = nameBytes;
      if (valueBytes > valueBytesMax) valueBytesMax = valueBytes;
    }
    this.labelsReason = 'invalid_labels';
    if (!hasMetricName) return `missing the ${METRIC_NAME_LABEL} label`;
    return validatedLabels(labels, labelsKey(labels), nameBytesMax, valueBytesMax);
  }

  /** One Sample { double value = 1; int64 timestamp = 2; } in [start, end), appended to the arrays. */
  private sample(start: number, end: number): void {
    const buf = this.buf;
    const idx = this.sampleCount;
    const scratch = this.scratch;
    if (idx === scratch.timestamps.length) scratch.grow(idx);
    const vb = scratch.valueBytes;
    scratch.values[idx] = 0; // an absent value field is 0 (the scratch holds an older request's)
    let ts = 0;
    let p = start;
    this.ctx = CTX_SAMPLE;
    while (p < end) {
      const t = buf[p]!;
      if (t === 0x09) {
        if (p + 9 > end) this.fail('truncated sample value', p + 1);
        const o = idx * 8;
        vb[o] = buf[p + 1]!;
        vb[o + 1] = buf[p + 2]!;
        vb[o + 2] = buf[p + 3]!;
        vb[o + 3] = buf[p + 4]!;
        vb[o + 4] = buf[p + 5]!;
        vb[o + 5] = buf[p + 6]!;
        vb[o + 6] = buf[p + 7]!;
        vb[o + 7] = buf[p + 8]!;
        p += 9;
      } else if (t === 0x10) {
        this.pos = p + 1;
        ts = this.sampleTimestamp(end, idx);
        p = this.pos;
      } else {
        // Not the canonical one-byte tags: decode the tag in full (it may still be field 1 or 2).
        this.pos = p;
        const tag = this.tag(end);
        if (tag === 0x09) {
          const q = this.pos;
          if (q + 8 > end) this.fail('truncated sample value', q);
          for (let k = 0; k < 8; k++) vb[idx * 8 + k] = buf[q + k]!;
          this.pos = q + 8;
        } else if (tag === 0x10) {
          ts = this.sampleTimestamp(end, idx);
        } else {
          const f = tag >>> 3;
          if (f === 1) this.expectWireType(tag, WIRE_FIXED64, 'value', p);
          if (f === 2) this.expectWireType(tag, WIRE_VARINT, 'timestamp', p);
          this.skip(tag, end);
        }
        p = this.pos;
      }
    }
    scratch.timestamps[idx] = ts;
    this.sampleCount = idx + 1;
    this.ctx = CTX_TIMESERIES;
  }

  private sampleTimestamp(end: number, idx: number): number {
    const ts = this.int64(end);
    if (ts === ts && ts <= SAMPLE_TIMESTAMP_ABS_MAX_MS && ts >= -SAMPLE_TIMESTAMP_ABS_MAX_MS) return ts;
    // Beyond +-2^47 ms the segment encodings cannot keep the time exact (see constants.ts), and
    // beyond 2^53 not even a Float64Array can: reject the series rather than store a wrong time.
    if (this.badTimestampSample < 0) {
      this.badTimestampSample = idx - this.seriesSampleStart;
      this.badTimestampText = ts === ts ? String(ts) : this.unsafeInt64String();
    }
    return 0;
  }

  private metricMetadata(start: number, end: number): void {
    this.ctx = CTX_METADATA;
    this.metadataIndex++;
    const buf = this.buf;
    let type = 0;
    let name = '';
    let help = '';
    let unit = '';
    this.pos = start;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      switch (tag) {
        case 0x08:
          type = this.int64(end);
          break;
        case 0x12:
        case 0x22:
        case 0x2a: {
          const n = this.length(end);
          // Metadata is advisory: invalid UTF-8 is replaced rather than rejecting the write.
          const s = buf.toString('utf8', this.pos, this.pos + n);
          this.pos += n;
          if (tag === 0x12) name = s;
          else if (tag === 0x22) help = s;
          else unit = s;
          break;
        }
        default: {
          const f = tag >>> 3;
          if (f === 1) this.expectWireType(tag, WIRE_VARINT, 'type', tagAt);
          if (f === 2) this.expectWireType(tag, WIRE_LEN, 'metric_family_name', tagAt);
          if (f === 4) this.expectWireType(tag, WIRE_LEN, 'help', tagAt);
          if (f === 5) this.expectWireType(tag, WIRE_LEN, 'unit', tagAt);
          this.skip(tag, end);
        }
      }
    }
    this.metadata.push({ metricFamilyName: name, type: METRIC_TYPE_NAMES[type] ?? 'unknown', help, unit });
    this.ctx = CTX_WRITE_REQUEST;
  }

  /** A label value or name for a message: lenient UTF-8, JSON-quoted, truncated. */
  private quoteLenient(start: number, end: number): string {
    const cut = Math.min(end, start + 128);
    return JSON.stringify(this.buf.toString('utf8', start, cut)) + (cut < end ? '…' : '');
  }

  /**
   * Renders the labels of the series in [start, end) as {a="b", ...} for an error message. It
   * must not throw: it may run on a series whose later labels were never checked.
   */
  private describeLabels(start: number, end: number): string {
    const buf = this.buf;
    const savedPos = this.pos;
    const savedCtx = this.ctx;
    const parts: string[] = [];
    let chars = 0;
    try {
      this.pos = start;
      while (this.pos < end && chars < SERIES_TEXT_CHARS_MAX) {
        const tag = this.tag(end);
        if (tag !== 0x0a) {
          this.skip(tag, end);
          continue;
        }
        const n = this.length(end);
        const le = this.pos + n;
        let name = '';
        let value = '';
        while (this.pos < le) {
          const t = this.tag(le);
          if (t === 0x0a || t === 0x12) {
            const m = this.length(le);
            const cut = Math.min(this.pos + m, this.pos + 128);
            const s = buf.toString('utf8', this.pos, cut) + (cut < this.pos + m ? '…' : '');
            if (t === 0x0a) name = s;
            else value = s;
            this.pos += m;
          } else this.skip(t, le);
        }
        const part = `${name}=${JSON.stringify(value)}`;
        parts.push(part);
        chars += part.length + 2;
      }
      if (this.pos < end) parts.push('…');
    } catch {
      parts.push('…');
    }
    this.pos = savedPos;
    this.ctx = savedCtx;
    return `{${parts.join(', ')}}`;
  }
}

/**
 * Checks an exemplar's decoded labels (names already valid, values valid UTF-8) and timestamp;
 * sorts the labels by name. Returns why it is invalid, or undefined. Shared by 1.0 and 2.0.
 */
export function checkExemplar(labels: Label[], timestampMs: number): string | undefined {
  if (!(timestampMs === timestampMs && Math.abs(timestampMs) <= SAMPLE_TIMESTAMP_ABS_MAX_MS)) return 'its timestamp is outside ±2^47 ms';
  if (labels.length > 1) labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let runes = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i > 0 && labels[i - 1]!.name === l.name) return `duplicate label name ${JSON.stringify(l.name)}`;
    runes += runeCount(l.name) + runeCount(l.value);
  }
  if (runes > EXEMPLAR_LABELS_RUNES_MAX) return `its labels have ${runes} characters, above the limit of ${EXEMPLAR_LABELS_RUNES_MAX}`;
  return undefined;
}

/** Unicode code points of a string (surrogate pairs count once), as Go's utf8.RuneCountInString. */
function runeCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}
