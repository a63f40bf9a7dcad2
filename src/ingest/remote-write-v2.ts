// Prometheus remote write 2.0 (PROTOCOLS.md §4): snappy block -> protobuf
// io.prometheus.write.v2.Request -> validated series (one columnar AppendBatch), exemplars, metadata, rejections.
//
// Wire schema (checked against prometheus/prometheus prompb/io/prometheus/write/v2/types.proto,
// "Version: v2.0-rc.4"):
//   Request    { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
//   TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3;
//                repeated Exemplar exemplars = 4; Metadata metadata = 5; reserved 6; }
//   Sample     { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3; }
//   Exemplar   { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
//   Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
// Field 6 of TimeSeries (the per-series created_timestamp of pre-release senders) is skipped.
//
// Like the 1.0 walker (remote-write.ts): one pass over the Buffer, samples copied as raw bytes
// into shared typed arrays (NaN payloads intact), no object per sample.
//
// What is structural, and fails the whole request with 400 (nothing stored): truncation, wrong
// wire types, fields 1-3 at the top level (a 1.0 WriteRequest sent with the 2.0 content type),
// symbols not starting with "", a symbol reference outside the table, an odd labels_refs length.
// A reference outside the table or half a label pair means the sender's encoder is broken, so no
// part of that request can be trusted. What is data, and rejects one series (the rest is kept):
// invalid labels, too many or too long labels, timestamps outside ±2^47 ms. Invalid exemplars are
// rejected one by one; native histograms are rejected as 'unsupported_type' until they are stored.
//
// Known series take no string work at all: each symbol a series uses gets an id that names its
// bytes across requests (label-cache.ts, SymbolIdTable; looked up once per request, verified
// byte for byte), and a bounded cache (LabelSetCache) maps the sequence of a series' symbol ids
// to its validated labels and key. Symbols are decoded to strings and validated only for series
// the cache does not know (at most once per request each: most are shared by many series).
import { REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX, SAMPLE_TIMESTAMP_ABS_MAX_MS } from '../constants.js';
import { labelsKey, METRIC_NAME_LABEL, type Label, type Labels } from '../model/labels.js';
import { type AppendBatch } from '../model/write.js';
import { LabelSetCache, SymbolIdTable, validatedLabels, type RawBytesHash, type ValidatedLabels } from './label-cache.js';
import { RejectionTally, type ExemplarInput, type MetricMetadataInput, type MetricTypeName, type RejectReason } from './pipeline.js';
import { ProtoCursor, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './protowire.js';
import {
  checkExemplar,
  decodedWrite,
  METRIC_TYPE_NAMES,
  resolveRemoteWriteLimits,
  SCRATCH_SAMPLES_MAX,
  sampleScratch,
  SERIES_TEXT_CHARS_MAX,
  uncompressRemoteWriteBody,
  type DecodedWrite,
  type FastBuffer,
  type RemoteWriteLimits,
} from './remote-write.js';
import {
  isValidLabelNameBytes,
  isValidMetricNameBytes,
  LABEL_NAME_PATTERN_TEXT,
  METRIC_NAME_PATTERN_TEXT,
  UTF8_ASCII,
  UTF8_INVALID,
  utf8Kind,
} from './validate-labels.js';

export type DecodedWriteV2 = DecodedWrite;

export interface RemoteWriteV2DecoderOptions {
  /** Per cache generation (at most twice this many entries); 0 disables the label cache. */
  labelCacheGenerationEntriesMax?: number;
  /** Symbol ids per generation (default: twice the label cache's entries). */
  symbolGenerationEntriesMax?: number;
  /** Tests only: replaces the hash of a symbol's bytes (e.g. a constant one, to force collisions). */
  symbolHash?: RawBytesHash;
  /** Tests only: replaces the hash of a series' symbol-id sequence. */
  seriesHash?: RawBytesHash;
  /** Tests only: the largest symbol id (a small one makes the ids run out and restart). */
  symbolIdMax?: number;
}

export class RemoteWriteV2Decoder {
  private readonly cache: LabelSetCache | undefined;
  private readonly symbols: SymbolIdTable | undefined;

  constructor(opts: RemoteWriteV2DecoderOptions = {}) {
    const n = opts.labelCacheGenerationEntriesMax ?? REMOTE_WRITE_LABEL_CACHE_GENERATION_ENTRIES_MAX;
    if (n > 0) {
      this.cache = new LabelSetCache(n, opts.seriesHash);
      this.symbols = new SymbolIdTable(opts.symbolGenerationEntriesMax ?? 2 * n, opts.symbolHash, opts.symbolIdMax);
    }
  }

  async decode(body: Uint8Array, limits?: Partial<RemoteWriteLimits>): Promise<DecodedWriteV2> {
    const lim = resolveRemoteWriteLimits(limits);
    return this.decodeRequest(await uncompressRemoteWriteBody(body, lim), lim);
  }

  /** Decompressed protobuf v2 Request -> validated write (synchronous). */
  decodeRequest(buf: Uint8Array, limits?: Partial<RemoteWriteLimits>): DecodedWriteV2 {
    const b = (Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)) as FastBuffer;
    return new RequestWalker(b, resolveRemoteWriteLimits(limits), this.cache, this.symbols).run();
  }

  cacheStats(): { entries: number; hits: number; misses: number; bypasses: number; symbols: number } {
    const c = this.cache;
    const symbols = this.symbols?.size ?? 0;
    return c === undefined ? { entries: 0, hits: 0, misses: 0, bypasses: 0, symbols } : { entries: c.size, hits: c.hits, misses: c.misses, bypasses: c.bypasses, symbols };
  }

  assertInvariants(): void {
    this.cache?.assertInvariants();
    this.symbols?.assertInvariants();
  }
}

/**
 * A guess of decoded bytes per sample for 2.0 requests, to size the first sample arrays. 2.0
 * series are small (label refs of a byte or two, strings in the symbol table): node-exporter-like
 * requests take ~45-55 bytes per sample, so the 1.0 guess (64) made nearly every request grow
 * (copy) its arrays once (4% of the server's CPU, bench/decode-bench.ts profile).
 */
export const GUESS_BYTES_PER_SAMPLE_V2 = 32;

const sharedDecoder = new RemoteWriteV2Decoder();

/** Decodes a remote write 2.0 body (snappy block of a v2 Request). Uses a shared label cache. */
export function decodeRemoteWriteV2(body: Buffer, limits?: Partial<RemoteWriteLimits>): Promise<DecodedWriteV2> {
  return sharedDecoder.decode(body, limits);
}

/** Decodes an uncompressed v2 Request (tests). Uses the shared label cache. */
export function decodeRequestV2(buf: Uint8Array, limits?: Partial<RemoteWriteLimits>): DecodedWriteV2 {
  return sharedDecoder.decodeRequest(buf, limits);
}

export function remoteWriteV2DecoderStats(): ReturnType<RemoteWriteV2Decoder['cacheStats']> {
  return sharedDecoder.cacheStats();
}

/**
 * Whether a series' start timestamps may become zero samples (model/write.ts): only cumulative
 * series. With a declared type: counters, and the _bucket/_sum/_count series of histograms and
 * summaries; without one (METRIC_TYPE_UNSPECIFIED), by the name's suffix.
 */
export function isCumulativeSeries(metricName: string, type: MetricTypeName): boolean {
  switch (type) {
    case 'counter':
      return true;
    case 'histogram':
      return metricName.endsWith('_bucket') || metricName.endsWith('_sum') || metricName.endsWith('_count');
    case 'summary':
      return metricName.endsWith('_sum') || metricName.endsWith('_count');
    case 'unknown':
      return metricName.endsWith('_total') || metricName.endsWith('_sum') || metricName.endsWith('_count') || metricName.endsWith('_bucket');
    default:
      return false;
  }
}

/** The metric family a series' metadata describes: histogram and summary series share their base name. */
export function metricFamilyName(metricName: string, type: MetricTypeName): string {
  const strip = (suffixes: string[]): string => {
    for (const s of suffixes) if (metricName.length > s.length && metricName.endsWith(s)) return metricName.slice(0, -s.length);
    return metricName;
  };
  if (type === 'histogram') return strip(['_bucket', '_sum', '_count']);
  if (type === 'gaugehistogram') return strip(['_bucket', '_gsum', '_gcount']);
  if (type === 'summary') return strip(['_sum', '_count']);
  return metricName;
}

// Per-symbol facts, computed on first use (symFlags).
const SYM_CHECKED = 1;
const SYM_LABEL_NAME = 2; // valid label name (hence ASCII)
const SYM_METRIC_NAME = 4; // valid metric name
const SYM_UTF8 = 8; // valid UTF-8
const SYM_ASCII = 16;

const CTX_REQUEST = 0;
const CTX_TIMESERIES = 1;
const CTX_SAMPLE = 2;
const CTX_EXEMPLAR = 3;
const CTX_METADATA = 4;

const REQUEST_FIELD_NAMES = ['', 'reserved', 'reserved', 'reserved', 'symbols', 'timeseries'];
const TIMESERIES_FIELD_NAMES = ['', 'labels_refs', 'samples', 'histograms', 'exemplars', 'metadata'];

/** Symbol scratch up to this many symbols is kept for the next request. */
const SYMBOL_SCRATCH_MAX = 1 << 16;

/**
 * Per-symbol columns that consecutive requests reuse (a walker runs synchronously from start to
 * finish, so one at a time fills them): growing five arrays from scratch per request was a
 * steady stream of garbage. run() clears the parts a request reads before it writes them.
 */
class SymbolScratch {
  start: Int32Array = new Int32Array(1024);
  end: Int32Array = new Int32Array(1024);
  flags = new Uint8Array(1024);
  /** Per symbol: its SymbolIdTable id, 0 (not looked up yet) or -1 (has none). */
  ids = new Int32Array(1024);
  strings: Array<string | undefined> = [];
  /** labels_refs of the series or exemplar being decoded (first `refCount` entries). */
  refs = new Int32Array(256);
  /** The symbol ids of the series being decoded: its label cache key, read through keyView. */
  key = new Int32Array(256);
  keyView = new DataView(this.key.buffer);

  /** Room for `n` symbols' flags and ids (start/end grow as symbols are added). */
  reserve(n: number): void {
    if (this.flags.length < n) {
      const cap = Math.max(n, this.flags.length * 2);
      this.flags = new Uint8Array(cap);
      this.ids = new Int32Array(cap);
    }
  }

  /** [start, end) of each TimeSeries of the request, pairs of ints. */
  tsRanges: Int32Array = new Int32Array(1024);

  growTsRanges(): Int32Array {
    const next = new Int32Array(this.tsRanges.length * 2);
    next.set(this.tsRanges);
    return (this.tsRanges = next);
  }

  /** Room for `n` label refs in `refs` (kept). */
  growRefs(n: number): void {
    if (this.refs.length < n) {
      const next = new Int32Array(Math.max(n, this.refs.length * 2));
      next.set(this.refs);
      this.refs = next;
    }
  }

  /** Room for a key of `n` symbol ids. */
  reserveKey(n: number): void {
    if (this.key.length < n) {
      this.key = new Int32Array(Math.max(n, this.key.length * 2));
      this.keyView = new DataView(this.key.buffer);
    }
  }

  /** Gives up columns that grew past SYMBOL_SCRATCH_MAX (one huge request must not pin them). */
  trim(): void {
    if (this.start.length > SYMBOL_SCRATCH_MAX) {
      this.start = new Int32Array(1024);
      this.end = new Int32Array(1024);
    }
    if (this.flags.length > SYMBOL_SCRATCH_MAX) {
      this.flags = new Uint8Array(1024);
      this.ids = new Int32Array(1024);
    }
    if (this.strings.length > SYMBOL_SCRATCH_MAX) this.strings = [];
    if (this.tsRanges.length > SYMBOL_SCRATCH_MAX) this.tsRanges = new Int32Array(1024);
    if (this.refs.length > SYMBOL_SCRATCH_MAX) {
      this.refs = new Int32Array(256);
      this.key = new Int32Array(256);
      this.keyView = new DataView(this.key.buffer);
    }
  }
}
const symbolScratch = new SymbolScratch();

class RequestWalker extends ProtoCursor {
  private ctx = CTX_REQUEST;
  private seriesIndex = -1;
  private readonly dv: DataView;

  /** Symbol i is buf[symStart[i], symEnd[i]). */
  private symStart: Int32Array = symbolScratch.start;
  private symEnd: Int32Array = symbolScratch.end;
  private symCount = 0;
  private symFlags!: Uint8Array;
  private symStrings!: Array<string | undefined>;
  /** Per-symbol SymbolIdTable id (0: not looked up yet; -1: none). */
  private symIds!: Int32Array;

  /** Sample columns and output offsets, shared with the 1.0 decoder (see SampleScratch). */
  private readonly scratch = sampleScratch;
  /** Allocated at the first non-zero start_timestamp; parallel to `timestamps`. */
  private starts: Float64Array | undefined;
  private sampleCount = 0;
  private seriesSampleStart = 0;
  private badTimestampSample = -1;
  private badTimestampText = '';

  private readonly outLabels: ValidatedLabels[] = [];
  /** Whether an output series keeps its start timestamps. */
  private startsKept = false;
  private readonly metadata: MetricMetadataInput[] = [];
  private readonly metadataSeen = new Set<string>();
  private readonly exemplars: ExemplarInput[] = [];
  private readonly rejected = new RejectionTally();
  private exemplarCount = 0;
  private histogramCount = 0;

  /** labels_refs of the series or exemplar being decoded: symbolScratch.refs[0, refCount). */
  private refCount = 0;
  private readonly exemplarRanges: number[] = [];

  constructor(
    override readonly buf: FastBuffer,
    private readonly limits: RemoteWriteLimits,
    private readonly cache: LabelSetCache | undefined,
    private readonly symbols: SymbolIdTable | undefined,
  ) {
    super(buf, 'BAD_REMOTE_WRITE', 'decompressed remote write 2.0 Request');
    this.scratch.reserve(Math.min(SCRATCH_SAMPLES_MAX, Math.ceil(buf.length / GUESS_BYTES_PER_SAMPLE_V2)));
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  protected override context(): string {
    switch (this.ctx) {
      case CTX_TIMESERIES:
        return `in timeseries[${this.seriesIndex}]`;
      case CTX_SAMPLE:
        return `in a sample of timeseries[${this.seriesIndex}]`;
      case CTX_EXEMPLAR:
        return `in an exemplar of timeseries[${this.seriesIndex}]`;
      case CTX_METADATA:
        return `in the metadata of timeseries[${this.seriesIndex}]`;
      default:
        return 'in Request';
    }
  }

  run(): DecodedWriteV2 {
    const end = this.buf.length;
    // Pass 1: the symbol table (senders write it first, but the wire allows any order) and the
    // byte ranges of the time series.
    let tsRanges = symbolScratch.tsRanges;
    let tsRangeInts = 0;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      const field = tag >>> 3;
      if (tag === 0x22) {
        const n = this.length(end);
        this.addSymbol(this.pos, this.pos + n);
        this.pos += n;
      } else if (tag === 0x2a) {
        const n = this.length(end);
        if (tsRangeInts === tsRanges.length) tsRanges = symbolScratch.growTsRanges();
        tsRanges[tsRangeInts++] = this.pos;
        tsRanges[tsRangeInts++] = this.pos + n;
        this.pos += n;
      } else if (field >= 1 && field <= 3) {
        this.fail(
          `field ${field} is reserved in io.prometheus.write.v2.Request: this looks like a remote write 1.0 WriteRequest; send it with Content-Type application/x-protobuf (1.0), or encode a v2 Request`,
          tagAt,
        );
      } else {
        if (field === 4 || field === 5) this.expectWireType(tag, WIRE_LEN, REQUEST_FIELD_NAMES[field]!, tagAt);
        this.skip(tag, end);
      }
    }
    if (this.symCount > 0 && this.symEnd[0]! !== this.symStart[0]!) {
      this.fail(`symbols[0] must be the empty string, got ${this.quote(0)}`, this.symStart[0]! - 1);
    }
    if (this.symCount === 0 && tsRangeInts > 0) this.fail('symbols is empty: it must start with the empty string', 0);
    const sc = symbolScratch;
    sc.start = this.symStart;
    sc.end = this.symEnd;
    sc.reserve(this.symCount);
    this.symFlags = sc.flags;
    this.symFlags.fill(0, 0, this.symCount);
    // Strings of an earlier request must not answer for this one's symbols.
    if (sc.strings.length < this.symCount) sc.strings.length = this.symCount;
    sc.strings.fill(undefined, 0, this.symCount);
    this.symStrings = sc.strings;
    this.symIds = sc.ids;
    this.symIds.fill(0, 0, this.symCount);
    const table = this.symbols;
    if (table !== undefined && table.idsLeft < this.symCount) {
      // Ids are never reused while a cache keyed by them may hold them: restart both.
      table.clear();
      this.cache?.clear();
    }
    try {
      for (let i = 0; i < tsRangeInts; i += 2) this.timeSeries(tsRanges[i]!, tsRanges[i + 1]!);
      return this.finish();
    } finally {
      sc.trim();
    }
  }

  private addSymbol(start: number, end: number): void {
    if (this.symCount === this.symStart.length) {
      const s = new Int32Array(this.symCount * 2);
      s.set(this.symStart);
      this.symStart = symbolScratch.start = s;
      const e = new Int32Array(this.symCount * 2);
      e.set(this.symEnd);
      this.symEnd = symbolScratch.end = e;
    }
    this.symStart[this.symCount] = start;
    this.symEnd[this.symCount++] = end;
  }

  private flags(i: number): number {
    let f = this.symFlags[i]!;
    if ((f & SYM_CHECKED) !== 0) return f;
    const s = this.symStart[i]!;
    const e = this.symEnd[i]!;
    f |= SYM_CHECKED;
    const kind = utf8Kind(this.buf, s, e);
    if (kind !== UTF8_INVALID) f |= SYM_UTF8;
    if (kind === UTF8_ASCII) f |= SYM_ASCII;
    if (isValidLabelNameBytes(this.buf, s, e)) f |= SYM_LABEL_NAME;
    if (isValidMetricNameBytes(this.buf, s, e)) f |= SYM_METRIC_NAME;
    this.symFlags[i] = f;
    return f;
  }

  /** The string of a symbol that is valid UTF-8 (check flags() first). Decoded once per request. */
  private str(i: number): string {
    let s = this.symStrings[i];
    if (s === undefined) {
      const a = this.symStart[i]!;
      const b = this.symEnd[i]!;
      s = (this.flags(i) & SYM_ASCII) !== 0 ? this.buf.latin1Slice(a, b) : this.buf.utf8Slice(a, b);
      this.symStrings[i] = s;
    }
    return s;
  }

  /** A symbol for a message: lenient UTF-8, JSON-quoted, truncated. */
  private quote(i: number): string {
    const a = this.symStart[i]!;
    const b = this.symEnd[i]!;
    const cut = Math.min(b, a + 128);
    return JSON.stringify(this.buf.toString('utf8', a, cut)) + (cut < b ? '…' : '');
  }

  /** The series' labels (symbolScratch.refs[0, n)) for a message: lenient UTF-8, truncated. */
  private describeRefs(n: number): string {
    const refs = symbolScratch.refs;
    const parts: string[] = [];
    let chars = 0;
    for (let i = 0; i + 1 < n && chars < SERIES_TEXT_CHARS_MAX; i += 2) {
      const a = this.symStart[refs[i]!]!;
      const part = `${this.buf.toString('utf8', a, Math.min(this.symEnd[refs[i]!]!, a + 128))}=${this.quote(refs[i + 1]!)}`;
      parts.push(part);
      chars += part.length + 2;
    }
    if (chars >= SERIES_TEXT_CHARS_MAX) parts.push('…');
    return `{${parts.join(', ')}}`;
  }

  /** Reads one uint32 symbol reference and checks it is inside the table. */
  private ref(end: number, what: string): number {
    const at = this.pos;
    const v = this.int64(end);
    if (!(v >= 0 && v < this.symCount)) this.fail(`${what} reference ${Number.isNaN(v) ? this.unsafeInt64String() : v} is outside the symbol table (${this.symCount} symbols)`, at);
    return v;
  }

  /** labels_refs, packed (wire type 2) or not (wire type 0, one per field): appended to symbolScratch.refs. */
  private readRefs(tag: number, end: number, what: string, tagAt: number): void {
    const sc = symbolScratch;
    if ((tag & 7) === WIRE_LEN) {
      const n = this.length(end);
      const pe = this.pos + n;
      let refs = sc.refs;
      const buf = this.buf;
      const symCount = this.symCount;
      let k = this.refCount;
      let p = this.pos;
      while (p < pe) {
        if (k === refs.length) {
          sc.growRefs(k + 1);
          refs = sc.refs;
        }
        const b = buf[p]!;
        if (b < 0x80 && b < symCount) {
          // One-byte ref inside the table (the common case: tables of up to 128 symbols, and
          // the first 128 symbols of larger ones).
          refs[k++] = b;
          p++;
        } else {
          this.pos = p;
          refs[k++] = this.ref(pe, what);
          p = this.pos;
        }
      }
      this.pos = p;
      this.refCount = k;
    } else if ((tag & 7) === WIRE_VARINT) {
      if (this.refCount === sc.refs.length) sc.growRefs(this.refCount + 1);
      sc.refs[this.refCount++] = this.ref(end, what);
    } else this.expectWireType(tag, WIRE_LEN, what, tagAt);
  }

  private timeSeries(start: number, end: number): void {
    this.ctx = CTX_TIMESERIES;
    this.seriesIndex++;
    this.badTimestampSample = -1;
    const sampleStart = this.sampleCount;
    this.seriesSampleStart = sampleStart;
    this.refCount = 0;
    const exemplarRanges = this.exemplarRanges;
    if (exemplarRanges.length > 0) exemplarRanges.length = 0;
    let histograms = 0;
    let anyStart = false;
    let type = 0;
    let helpRef = 0;
    let unitRef = 0;
    this.pos = start;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      if (tag === 0x12) {
        const n = this.length(end);
        const s = this.pos;
        if (this.sample(s, s + n)) anyStart = true;
        this.pos = s + n;
      } else if (tag === 0x0a || tag === 0x08) {
        this.readRefs(tag, end, 'labels_refs', tagAt);
      } else if (tag === 0x22) {
        const n = this.length(end);
        exemplarRanges.push(this.pos, this.pos + n);
        this.pos += n;
        this.exemplarCount++;
      } else if (tag === 0x1a) {
        const n = this.length(end);
        this.pos += n;
        histograms++;
      } else if (tag === 0x2a) {
        // Metadata { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; } (last one wins, as for any message field)
        const n = this.length(end);
        const me = this.pos + n;
        this.ctx = CTX_METADATA;
        while (this.pos < me) {
          const at = this.pos;
          const t = this.tag(me);
          if (t === 0x08) type = this.int64(me);
          else if (t === 0x18) helpRef = this.ref(me, 'help_ref');
          else if (t === 0x20) unitRef = this.ref(me, 'unit_ref');
          else {
            const f = t >>> 3;
            if (f === 1) this.expectWireType(t, WIRE_VARINT, 'type', at);
            if (f === 3) this.expectWireType(t, WIRE_VARINT, 'help_ref', at);
            if (f === 4) this.expectWireType(t, WIRE_VARINT, 'unit_ref', at);
            this.skip(t, me);
          }
        }
        this.ctx = CTX_TIMESERIES;
      } else {
        const field = tag >>> 3;
        if (field >= 1 && field <= 5) this.expectWireType(tag, WIRE_LEN, TIMESERIES_FIELD_NAMES[field]!, tagAt);
        this.skip(tag, end);
      }
    }
    const refCount = this.refCount;
    if (refCount % 2 !== 0) this.fail(`labels_refs has ${refCount} entries: it must hold name/value pairs (an even number)`, start);

    let reason = '';
    let reasonCode: RejectReason = 'invalid_labels';
    let entry: ValidatedLabels | undefined;
    const lim = this.limits;
    const count = refCount / 2;
    if (count > lim.labelsPerSeriesMax) {
      reason = `has ${count} labels, above the limit of ${lim.labelsPerSeriesMax}`;
      reasonCode = 'too_many_labels';
    } else if (count === 0) {
      reason = `has no labels (the ${METRIC_NAME_LABEL} label is required)`;
    } else {
      const cache = this.cache;
      let keyBytes = -1;
      if (cache !== undefined && !cache.bypassLookup()) {
        keyBytes = this.seriesKey(refCount);
        if (keyBytes >= 0) {
          entry = cache.get(symbolScratch.keyView, 0, keyBytes);
          if (entry !== undefined && (entry.nameBytesMax > lim.labelNameBytesMax || entry.valueBytesMax > lim.labelValueBytesMax)) entry = undefined;
        }
      }
      if (entry === undefined) {
        const r = this.labels(refCount);
        if (typeof r === 'string') {
          reason = r;
          reasonCode = this.labelsReason;
        } else {
          entry = r;
          if (keyBytes >= 0) cache!.set(symbolScratch.keyView, 0, keyBytes, r);
        }
      }
    }
    if (reason === '' && this.badTimestampSample >= 0) {
      reason = `sample ${this.badTimestampSample} has timestamp ${this.badTimestampText} ms, outside ±2^47 ms (the supported range, about ±4460 years around 1970)`;
      reasonCode = 'invalid_timestamp';
    }
    const samples = this.sampleCount - sampleStart;
    this.histogramCount += histograms;
    if (reason !== '') {
      this.sampleCount = sampleStart;
      const text = `invalid series timeseries[${this.seriesIndex}] ${this.describeRefs(refCount)}: ${reason}`;
      this.rejected.add(reasonCode, samples, 1, text);
      if (exemplarRanges.length > 0) this.rejected.add('invalid_exemplar', exemplarRanges.length / 2, 0, `exemplar of a rejected series: ${text}`);
      if (histograms > 0) this.rejected.add('unsupported_type', histograms, 0, `native histogram of a rejected series: ${text}`);
      this.ctx = CTX_REQUEST;
      return;
    }
    const series = entry!;
    const typeName = METRIC_TYPE_NAMES[type] ?? 'unknown';
    if (samples > 0) {
      const i = this.outLabels.length;
      this.outLabels.push(series);
      this.scratch.setOffset(i, sampleStart);
      // Start timestamps are kept for cumulative series only (isCumulativeSeries). The labels are
      // read only here and for metadata: for a known series, nothing else touches them.
      if (anyStart) {
        if (isCumulativeSeries(metricNameOf(series.labels), typeName)) this.startsKept = true;
        else this.starts!.fill(0, sampleStart, this.sampleCount);
      }
    }
    if (type !== 0 || helpRef !== 0 || unitRef !== 0) this.addMetadata(metricNameOf(series.labels), typeName, helpRef, unitRef);
    // Described before the exemplars, which reuse symbolScratch.refs.
    const histogramText = histograms > 0 ? `native histogram samples of ${this.describeRefs(refCount)}: native histograms are not supported yet (send classic _bucket/_sum/_count series)` : '';
    for (let i = 0; i < exemplarRanges.length; i += 2) this.exemplar(series, exemplarRanges[i]!, exemplarRanges[i + 1]!);
    if (histograms > 0) this.rejected.add('unsupported_type', histograms, samples === 0 ? 1 : 0, histogramText);
    this.ctx = CTX_REQUEST;
  }

  /**
   * Writes the symbol ids of the series' refs (symbolScratch.refs[0, n)) to symbolScratch.key;
   * returns the key's length in bytes, or -1 when a symbol has no id (too long to cache). Each
   * symbol is looked up in the SymbolIdTable at most once per request.
   */
  private seriesKey(n: number): number {
    const sc = symbolScratch;
    sc.reserveKey(n);
    const refs = sc.refs;
    const key = sc.key;
    const ids = this.symIds;
    for (let i = 0; i < n; i++) {
      const r = refs[i]!;
      let id = ids[r]!;
      if (id <= 0) {
        if (id < 0) return -1;
        id = this.symbols!.idOf(this.dv, this.symStart[r]!, this.symEnd[r]!);
        if (id === 0) {
          ids[r] = -1;
          return -1;
        }
        ids[r] = id;
      }
      key[i] = id;
    }
    return 4 * n;
  }

  private labelsReason: RejectReason = 'invalid_labels';

  /** Validates the label pairs of symbolScratch.refs[0, n); returns the validated set or why it is invalid. */
  private labels(n: number): ValidatedLabels | string {
    const refs = symbolScratch.refs;
    const lim = this.limits;
    const count = n / 2;
    const labels: Label[] = new Array(count);
    let prevName = '';
    let nameBytesMax = 0;
    let valueBytesMax = 0;
    let hasMetricName = false;
    this.labelsReason = 'invalid_labels';
    for (let i = 0; i < count; i++) {
      const nr = refs[2 * i]!;
      const vr = refs[2 * i + 1]!;
      const nameBytes = this.symEnd[nr]! - this.symStart[nr]!;
      const valueBytes = this.symEnd[vr]! - this.symStart[vr]!;
      if (nameBytes === 0) return `label ${i} has an empty name`;
      if (nameBytes > lim.labelNameBytesMax) {
        this.labelsReason = 'label_name_too_long';
        return `label name ${this.quote(nr)} is ${nameBytes} bytes, above the limit of ${lim.labelNameBytesMax}`;
      }
      if ((this.flags(nr) & SYM_LABEL_NAME) === 0) return `label name ${this.quote(nr)} is not valid: it must match ${LABEL_NAME_PATTERN_TEXT}`;
      const name = this.str(nr);
      if (i > 0 && !(prevName < name)) {
        return prevName === name ? `duplicate label name ${JSON.stringify(name)}` : `label names are not sorted: ${JSON.stringify(prevName)} comes before ${JSON.stringify(name)}`;
      }
      if (valueBytes === 0) return `label ${JSON.stringify(name)} has an empty value`;
      if (valueBytes > lim.labelValueBytesMax) {
        this.labelsReason = 'label_value_too_long';
        return `label ${JSON.stringify(name)} has a value of ${valueBytes} bytes, above the limit of ${lim.labelValueBytesMax}`;
      }
      const vf = this.flags(vr);
      if ((vf & SYM_UTF8) === 0) return `label ${JSON.stringify(name)} has a value that is not valid UTF-8`;
      if (name === METRIC_NAME_LABEL) {
        if ((vf & SYM_METRIC_NAME) === 0) return `metric name ${this.quote(vr)} is not valid: it must match ${METRIC_NAME_PATTERN_TEXT}`;
        hasMetricName = true;
      }
      labels[i] = { name, value: this.str(vr) };
      prevName = name;
      if (nameBytes > nameBytesMax) nameBytesMax = nameBytes;
      if (valueBytes > valueBytesMax) valueBytesMax = valueBytes;
    }
    if (!hasMetricName) return `missing the ${METRIC_NAME_LABEL} label`;
    return validatedLabels(labels, labelsKey(labels), nameBytesMax, valueBytesMax);
  }

  /** One Sample in [start, end), appended to the arrays. Returns whether it had a start timestamp. */
  private sample(start: number, end: number): boolean {
    const buf = this.buf;
    const idx = this.sampleCount;
    const scratch = this.scratch;
    if (idx === scratch.timestamps.length) this.grow();
    const vb = scratch.valueBytes;
    scratch.values[idx] = 0; // an absent value field is 0 (the scratch holds an older request's)
    let ts = 0;
    let st = 0;
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
        ts = this.timestamp(end, idx);
        p = this.pos;
      } else if (t === 0x18) {
        this.pos = p + 1;
        st = this.int64(end);
        p = this.pos;
      } else {
        this.pos = p;
        const tag = this.tag(end);
        if (tag === 0x09) {
          const q = this.pos;
          if (q + 8 > end) this.fail('truncated sample value', q);
          for (let k = 0; k < 8; k++) vb[idx * 8 + k] = buf[q + k]!;
          this.pos = q + 8;
        } else if (tag === 0x10) ts = this.timestamp(end, idx);
        else if (tag === 0x18) st = this.int64(end);
        else {
          const f = tag >>> 3;
          if (f === 1) this.expectWireType(tag, WIRE_FIXED64, 'value', p);
          if (f === 2) this.expectWireType(tag, WIRE_VARINT, 'timestamp', p);
          if (f === 3) this.expectWireType(tag, WIRE_VARINT, 'start_timestamp', p);
          this.skip(tag, end);
        }
        p = this.pos;
      }
    }
    scratch.timestamps[idx] = ts;
    // A start outside the representable range is ignored (it is optional), not an error.
    const hasStart = st !== 0 && st === st && Math.abs(st) <= SAMPLE_TIMESTAMP_ABS_MAX_MS;
    if (hasStart) (this.starts ??= new Float64Array(scratch.timestamps.length))[idx] = st;
    else if (this.starts !== undefined) this.starts[idx] = 0;
    this.sampleCount = idx + 1;
    this.ctx = CTX_TIMESERIES;
    return hasStart;
  }

  private timestamp(end: number, idx: number): number {
    const ts = this.int64(end);
    if (ts === ts && ts <= SAMPLE_TIMESTAMP_ABS_MAX_MS && ts >= -SAMPLE_TIMESTAMP_ABS_MAX_MS) return ts;
    if (this.badTimestampSample < 0) {
      this.badTimestampSample = idx - this.seriesSampleStart;
      this.badTimestampText = ts === ts ? String(ts) : this.unsafeInt64String();
    }
    return 0;
  }

  private grow(): void {
    this.scratch.grow(this.sampleCount);
    if (this.starts !== undefined) {
      const st = new Float64Array(this.scratch.timestamps.length);
      st.set(this.starts);
      this.starts = st;
    }
  }

  private addMetadata(metricName: string, type: MetricTypeName, helpRef: number, unitRef: number): void {
    // Metadata is advisory: invalid UTF-8 is replaced rather than rejecting the write.
    const text = (i: number): string => ((this.flags(i) & SYM_UTF8) !== 0 ? this.str(i) : this.buf.toString('utf8', this.symStart[i]!, this.symEnd[i]!));
    const m: MetricMetadataInput = { metricFamilyName: metricFamilyName(metricName, type), type, help: text(helpRef), unit: text(unitRef) };
    const key = `${m.metricFamilyName}\u0000${m.type}\u0000${m.help}\u0000${m.unit}`;
    if (this.metadataSeen.has(key)) return;
    this.metadataSeen.add(key);
    this.metadata.push(m);
  }

  /** One Exemplar { labels_refs = 1; double value = 2; int64 timestamp = 3; } of a valid series. */
  private exemplar(series: ValidatedLabels, start: number, end: number): void {
    this.ctx = CTX_EXEMPLAR;
    this.refCount = 0;
    let value = 0;
    let ts = 0;
    this.pos = start;
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.tag(end);
      if (tag === 0x0a || tag === 0x08) this.readRefs(tag, end, 'labels_refs', tagAt);
      else if (tag === 0x11) {
        if (this.pos + 8 > end) this.fail('truncated exemplar value', this.pos);
        value = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
      } else if (tag === 0x18) ts = this.int64(end);
      else {
        const f = tag >>> 3;
        if (f === 1) this.expectWireType(tag, WIRE_LEN, 'labels_refs', tagAt);
        if (f === 2) this.expectWireType(tag, WIRE_FIXED64, 'value', tagAt);
        if (f === 3) this.expectWireType(tag, WIRE_VARINT, 'timestamp', tagAt);
        this.skip(tag, end);
      }
    }
    const refs = symbolScratch.refs;
    const refCount = this.refCount;
    if (refCount % 2 !== 0) this.fail(`exemplar labels_refs has ${refCount} entries: it must hold name/value pairs (an even number)`, start);
    this.ctx = CTX_TIMESERIES;
    const labels: Label[] = [];
    let bad = '';
    for (let i = 0; i < refCount && bad === ''; i += 2) {
      const nr = refs[i]!;
      const vr = refs[i + 1]!;
      if (this.symEnd[nr] === this.symStart[nr]) bad = 'a label has an empty name';
      else if ((this.flags(nr) & SYM_LABEL_NAME) === 0) bad = `label name ${this.quote(nr)} is not valid: it must match ${LABEL_NAME_PATTERN_TEXT}`;
      else if ((this.flags(vr) & SYM_UTF8) === 0) bad = `label ${this.quote(nr)} has a value that is not valid UTF-8`;
      else if (this.symEnd[vr] !== this.symStart[vr]) labels.push({ name: this.str(nr), value: this.str(vr) });
    }
    if (bad === '') bad = checkExemplar(labels, ts) ?? '';
    if (bad !== '') {
      this.rejected.add('invalid_exemplar', 1, 0, `exemplar of ${describeLabels(series.labels)}: ${bad}`);
      return;
    }
    this.exemplars.push({ seriesLabels: series.labels, seriesKey: series.key, labels, value, timestampMs: ts });
  }

  private finish(): DecodedWriteV2 {
    const n = this.sampleCount;
    const count = this.outLabels.length;
    const scratch = this.scratch;
    scratch.setOffset(count, n);
    const offsets = scratch.offsets.slice(0, count + 1);
    let st = this.starts;
    // Series whose starts are not kept have zeros there (timeSeries).
    if (st !== undefined) st = this.startsKept ? (st.length === n ? st : st.slice(0, n)) : undefined;
    // Exactly sized copies out of the scratch (which the next request overwrites).
    const batch: AppendBatch = {
      series: this.outLabels,
      offsets,
      timestampsMs: scratch.timestamps.slice(0, n),
      values: scratch.values.slice(0, n),
      ...(st !== undefined ? { startTimestampsMs: st } : {}),
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
}

function metricNameOf(labels: Labels): string {
  for (const l of labels) if (l.name === METRIC_NAME_LABEL) return l.value;
  return '';
}

function describeLabels(labels: Labels): string {
  const text = `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(', ')}}`;
  return text.length > SERIES_TEXT_CHARS_MAX ? `${text.slice(0, SERIES_TEXT_CHARS_MAX)}…` : text;
}

