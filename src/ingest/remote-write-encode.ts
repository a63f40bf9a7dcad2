// Encoder of remote write 1.0 (the wire format decoded by remote-write.ts): used by tests,
// benchmark drivers and remote read responses.
//
// It encodes exactly what it is given and validates nothing (tests use it to build bad
// requests too): Labels arrays are written in their order; Record labels are sorted by name, and
// empty values are kept. Output is canonical proto3 (empty strings and zero timestamps omitted)
// except that every sample carries its value, so -0 and NaN payloads travel bit-exactly; values
// given as a Float64Array are copied as raw bytes (stale markers intact).
import snappy from 'snappy';
import { compareStrings, type Labels } from '../model/labels.js';
import { METRIC_TYPE_NAMES, type MetricMetadata } from './remote-write.js';

export interface EncodeSeries {
  labels: Record<string, string> | Labels;
  timestampsMs: ArrayLike<number>;
  values: ArrayLike<number> | Float64Array;
  /** TimeSeries.exemplars (field 3); labels in the order given (Record: sorted by name). */
  exemplars?: ReadonlyArray<{ labels: Record<string, string> | Labels; value: number; timestampMs: number }>;
}

const TWO_POW_32 = 4294967296;
/**
 * Strings up to this many chars are measured and copied in JS; longer ones by Buffer's native
 * code (a JS charCodeAt loop over a long concatenated string costs more than the native call).
 */
const SHORT_STRING_CHARS = 16;
/** First allocation of the output; it doubles as needed. */
const INITIAL_BYTES = 64 * 1024;

/** Bytes of the varint encoding of a non-negative integer below 2^53. */
function varintBytes(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** Bytes of an int64 varint: negative numbers take 10 (two's complement, sign-extended). */
function int64Bytes(v: number): number {
  return v < 0 ? 10 : varintBytes(v);
}

class Writer {
  buf: Buffer;
  pos = 0;
  private readonly scratch = new Float64Array(1);
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);

  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(INITIAL_BYTES, sizeHint));
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Non-negative integer below 2^53. */
  varint(v: number): void {
    const buf = this.buf;
    let p = this.pos;
    while (v >= 0x80) {
      buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[p++] = v;
    this.pos = p;
  }

  /** Safe integer as int64 (negative: 10-byte two's complement). */
  int64(v: number): void {
    if (v >= 0) return this.varint(v);
    const buf = this.buf;
    let p = this.pos;
    let hi = Math.floor(v / TWO_POW_32);
    let lo = (v - hi * TWO_POW_32) >>> 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 0x7f) {
      buf[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[p++] = lo;
    this.pos = p;
  }

  /** A string field; `bytes` is its UTF-8 length (equal to s.length exactly when s is ASCII). */
  string(fieldTag: number, s: string, bytes: number): void {
    if (bytes === 0) return;
    this.buf[this.pos++] = fieldTag;
    this.varint(bytes);
    if (bytes === s.length && bytes <= SHORT_STRING_CHARS) {
      // Short ASCII: a JS loop beats a native call.
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < bytes; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }

  /** 8 raw bytes from src at byte offset o. */
  raw8(src: Uint8Array, o: number): void {
    const buf = this.buf;
    const p = this.pos;
    buf[p] = src[o]!;
    buf[p + 1] = src[o + 1]!;
    buf[p + 2] = src[o + 2]!;
    buf[p + 3] = src[o + 3]!;
    buf[p + 4] = src[o + 4]!;
    buf[p + 5] = src[o + 5]!;
    buf[p + 6] = src[o + 6]!;
    buf[p + 7] = src[o + 7]!;
    this.pos = p + 8;
  }

  double(v: number): void {
    this.scratch[0] = v;
    this.raw8(this.scratchBytes, 0);
  }
}

/** Label sets up to this size are sorted inline: cheaper than Array#sort with a comparator. */
const INSERTION_SORT_MAX = 32;

function insertionSort(a: string[]): void {
  for (let i = 1; i < a.length; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && a[j]! > x) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
}

/** UTF-8 byte length; short ASCII strings (most label names and values) skip the native call. */
function utf8Bytes(str: string): number {
  if (str.length > SHORT_STRING_CHARS) return Buffer.byteLength(str, 'utf8');
  for (let i = 0; i < str.length; i++) if (str.charCodeAt(i) >= 0x80) return Buffer.byteLength(str, 'utf8');
  return str.length;
}

function writeSeries(w: Writer, s: EncodeSeries): void {
  let names: string[];
  let values: string[];
  if (Array.isArray(s.labels)) {
    const ls = s.labels as Labels;
    names = ls.map((l) => l.name);
    values = ls.map((l) => l.value);
  } else {
    const rec = s.labels as Record<string, string>;
    names = Object.keys(rec);
    if (names.length <= INSERTION_SORT_MAX) insertionSort(names);
    else names.sort(compareStrings);
    values = names.map((k) => rec[k]!);
  }
  const n = s.timestampsMs.length;
  if (s.values.length !== n) throw new Error(`series has ${n} timestamps but ${s.values.length} values`);

  // Sizes first: protobuf length prefixes come before the bytes they count.
  const count = names.length;
  const nameBytes = new Array<number>(count);
  const valueBytes = new Array<number>(count);
  const labelBytes = new Array<number>(count);
  let size = 0;
  for (let i = 0; i < count; i++) {
    const nb = utf8Bytes(names[i]!);
    const vb = utf8Bytes(values[i]!);
    const lb = (nb > 0 ? 1 + varintBytes(nb) + nb : 0) + (vb > 0 ? 1 + varintBytes(vb) + vb : 0);
    nameBytes[i] = nb;
    valueBytes[i] = vb;
    labelBytes[i] = lb;
    size += 1 + varintBytes(lb) + lb;
  }
  const ts = s.timestampsMs;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    if (!Number.isSafeInteger(t)) throw new Error(`timestamp ${t} is not a safe integer of milliseconds`);
    // Sample: value tag + 8 bytes, timestamp tag + varint (omitted when 0); its length fits 1 byte.
    size += 2 + 9 + (t === 0 ? 0 : 1 + int64Bytes(t));
  }

  // Exemplars are rare and small: encoded apart, then copied in.
  const exemplarMessages = (s.exemplars ?? []).map(encodeExemplar);
  for (const e of exemplarMessages) size += 1 + varintBytes(e.length) + e.length;

  w.ensure(1 + 10 + size);
  w.buf[w.pos++] = 0x0a; // WriteRequest.timeseries
  w.varint(size);
  for (let i = 0; i < count; i++) {
    w.buf[w.pos++] = 0x0a; // TimeSeries.labels
    w.varint(labelBytes[i]!);
    w.string(0x0a, names[i]!, nameBytes[i]!);
    w.string(0x12, values[i]!, valueBytes[i]!);
  }
  const vs = s.values;
  const vBytes = vs instanceof Float64Array ? new Uint8Array(vs.buffer, vs.byteOffset, vs.byteLength) : undefined;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    const buf = w.buf;
    buf[w.pos++] = 0x12; // TimeSeries.samples
    buf[w.pos++] = 9 + (t === 0 ? 0 : 1 + int64Bytes(t));
    buf[w.pos++] = 0x09; // Sample.value
    if (vBytes !== undefined) w.raw8(vBytes, i * 8);
    else w.double(vs[i]!);
    if (t !== 0) {
      w.buf[w.pos++] = 0x10; // Sample.timestamp
      w.int64(t);
    }
  }
  for (const e of exemplarMessages) {
    w.buf[w.pos++] = 0x1a; // TimeSeries.exemplars
    w.varint(e.length);
    e.copy(w.buf, w.pos);
    w.pos += e.length;
  }
}

/** prompb.Exemplar: labels (1, Label), value (2, double), timestamp (3, int64; omitted when 0). */
function encodeExemplar(e: { labels: Record<string, string> | Labels; value: number; timestampMs: number }): Buffer {
  const pairs: Array<[string, string]> = Array.isArray(e.labels)
    ? (e.labels as Labels).map((l) => [l.name, l.value])
    : Object.keys(e.labels)
        .sort(compareStrings)
        .map((k) => [k, (e.labels as Record<string, string>)[k]!]);
  if (!Number.isSafeInteger(e.timestampMs)) throw new Error(`exemplar timestamp ${e.timestampMs} is not a safe integer of milliseconds`);
  const w = new Writer(256);
  for (const [name, value] of pairs) {
    const nb = utf8Bytes(name);
    const vb = utf8Bytes(value);
    const lb = (nb > 0 ? 1 + varintBytes(nb) + nb : 0) + (vb > 0 ? 1 + varintBytes(vb) + vb : 0);
    w.ensure(1 + 10 + lb);
    w.buf[w.pos++] = 0x0a; // Exemplar.labels
    w.varint(lb);
    w.string(0x0a, name, nb);
    w.string(0x12, value, vb);
  }
  w.ensure(1 + 8 + 1 + 10);
  w.buf[w.pos++] = 0x11; // Exemplar.value
  w.double(e.value);
  if (e.timestampMs !== 0) {
    w.buf[w.pos++] = 0x18; // Exemplar.timestamp
    w.int64(e.timestampMs);
  }
  return Buffer.from(w.buf.subarray(0, w.pos));
}

function writeMetadata(w: Writer, m: MetricMetadata): void {
  const type = Math.max(0, METRIC_TYPE_NAMES.indexOf(m.type));
  const nb = Buffer.byteLength(m.metricFamilyName, 'utf8');
  const hb = Buffer.byteLength(m.help, 'utf8');
  const ub = Buffer.byteLength(m.unit, 'utf8');
  const field = (b: number): number => (b > 0 ? 1 + varintBytes(b) + b : 0);
  const size = (type > 0 ? 2 : 0) + field(nb) + field(hb) + field(ub);
  w.ensure(1 + 10 + size);
  w.buf[w.pos++] = 0x1a; // WriteRequest.metadata
  w.varint(size);
  if (type > 0) {
    w.buf[w.pos++] = 0x08; // MetricMetadata.type
    w.buf[w.pos++] = type;
  }
  w.string(0x12, m.metricFamilyName, nb);
  w.string(0x22, m.help, hb);
  w.string(0x2a, m.unit, ub);
}

/** Protobuf WriteRequest (uncompressed). */
export function encodeWriteRequestV1(series: EncodeSeries[], metadata: MetricMetadata[] = []): Buffer {
  let hint = 0;
  for (const s of series) hint += 64 + s.timestampsMs.length * 20;
  const w = new Writer(hint);
  for (const s of series) writeSeries(w, s);
  for (const m of metadata) writeMetadata(w, m);
  return w.buf.subarray(0, w.pos);
}

/** Snappy block-compressed WriteRequest: a remote write 1.0 request body. */
export function encodeRemoteWriteV1(series: EncodeSeries[], metadata: MetricMetadata[] = []): Buffer {
  return snappy.compressSync(encodeWriteRequestV1(series, metadata));
}
