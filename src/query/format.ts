// Prometheus' JSON for query results (the `data` member of the API envelope), byte for byte as
// web/api/v1 and util/jsonutil write it:
//   - timestamps: Unix seconds with the milliseconds as exactly three decimals when non-zero
//     (jsonutil.MarshalTimestamp: 1700000000, 1700000000.1 -> "1700000000.100");
//   - values: strings, strconv.FormatFloat(v, 'f', -1, 64), or 'e' when |v| < 1e-6 or
//     |v| >= 1e21 (jsonutil.MarshalFloat), "NaN", "+Inf", "-Inf";
//   - label values escaped like Go's encoding/json (HTML-safe: <, >, & as \u003c...).
// Answers are written as bytes into one growing buffer (JsonBytes): a 30-day matrix is ~360k
// points, and a string per value, concatenated and then encoded to UTF-8 for the socket, cost more
// than the query itself (bench/micro/format-matrix.ts).
import type { Labels } from '../model/labels.js';
import type { QueryResult } from './engine.js';
import { writeFixedFloat, writeUint } from './float-digits.js';

/** Go's strconv.FormatFloat(v, 'f' or 'e' as MarshalFloat picks, -1, 64). */
export function formatFloat(v: number): string {
  if (v !== v) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const abs = Math.abs(v);
  if (abs >= 1e-6 && abs < 1e21) {
    // JavaScript prints shortest round-trip digits in fixed notation exactly in this range.
    return String(v);
  }
  // Shortest digits in exponent form; Go writes at least two exponent digits with a sign.
  const s = v.toExponential();
  const e = s.indexOf('e');
  const exp = s.slice(e + 2);
  return s.slice(0, e + 2) + (exp.length < 2 ? '0' + exp : exp);
}

/** jsonutil.MarshalTimestamp: ms as seconds, three decimals when there is a fraction. */
export function formatTimestamp(ms: number): string {
  let t = Math.round(ms); // timestamps are whole ms; never print a 4-digit fraction
  let sign = '';
  if (t < 0) {
    sign = '-';
    t = -t;
  }
  const secs = Math.floor(t / 1000);
  const frac = t - secs * 1000;
  if (frac === 0) return sign + secs;
  const f = Math.round(frac);
  return sign + secs + '.' + (f < 10 ? '00' : f < 100 ? '0' : '') + f;
}

// Characters Go's encoding/json (HTML-escaping, as jsoniter's standard-compatible config) escapes.
const NEEDS_ESCAPE_RE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

/** A JSON string literal as Go writes it. */
export function jsonString(s: string): string {
  if (!NEEDS_ESCAPE_RE.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += '\\u' + c.toString(16).padStart(4, '0');
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // lone surrogate: invalid UTF-8 in Go
    else out += s[i]!;
  }
  return out + '"';
}

/** `{"name":"value",...}` in label order. */
export function formatLabelsJson(labels: Labels): string {
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i > 0) out += ',';
    out += jsonString(l.name) + ':' + jsonString(l.value);
  }
  return out + '}';
}

/** Room a point needs at most: `[` timestamp (21) `,"` value (24) `"],`. */
export const POINT_BYTES_MAX = 56;
const INITIAL_BYTES = 64 * 1024;
/** A point with a 10-digit timestamp and a 17-digit value: `[1700000000,"21.833333333333332"],`. */
const MATRIX_POINT_BYTES_TYPICAL = 34;
/**
 * Bytes per step in a time grid: `[`, the timestamp (at most 21: formatTimestamp of +-9e15 ms),
 * `,"`; a multiple of 4, as slots are copied a 32-bit word at a time.
 */
const TIME_SLOT_BYTES = 28;
/** Beyond this many steps no grid is kept (queries are refused past 11,000 points per series). */
const TIME_GRID_STEPS_MAX = 1 << 20;

/**
 * Buffers of answers that have been sent, for the next answers (JsonBytes.pooled / release): a
 * 30-day matrix is ~11 MB, and a fresh buffer per query is external memory that V8 answers with
 * a full mark-compact of the main heap every few queries.
 */
const spareBuffers: Buffer[] = [];
/** At most this many spare buffers are kept, each at most SPARE_BUFFER_BYTES_MAX. */
const SPARE_BUFFERS_MAX = 2;
const SPARE_BUFFER_BYTES_MAX = 64 * 1024 * 1024;

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A JSON document written as UTF-8 bytes into a buffer that grows by doubling. */
export class JsonBytes {
  private buf: Buffer;
  private pos = 0;
  /** Formatted timestamps of a range query's steps (setTimeGrid), TIME_SLOT_BYTES per step. */
  private grid: { startMs: number; stepMs: number; count: number; bytes?: DataView; lengths?: Uint8Array } | undefined;
  /** A view of buf for word stores (points copies a step's formatted timestamp 4 bytes a time). */
  private view: DataView;

  constructor(initialBytes: number = INITIAL_BYTES, buf?: Buffer) {
    this.buf = buf ?? Buffer.allocUnsafe(Math.max(16, initialBytes));
    this.view = viewOf(this.buf);
  }

  /**
   * A document in a spare buffer when there is one (the largest), else a new one. Give it back
   * with release() once nothing reads its bytes any more (the socket has written them).
   */
  static pooled(): JsonBytes {
    let best = -1;
    for (let i = 0; i < spareBuffers.length; i++) if (best < 0 || spareBuffers[i]!.length > spareBuffers[best]!.length) best = i;
    if (best < 0) return new JsonBytes();
    const buf = spareBuffers[best]!;
    spareBuffers.splice(best, 1);
    return new JsonBytes(INITIAL_BYTES, buf);
  }

  /**
   * Hands the buffer to the next pooled() document: bytes() views taken before must not be read
   * after this. The document is empty afterwards (and writes into a buffer of its own).
   */
  release(): void {
    const buf = this.buf;
    this.buf = Buffer.allocUnsafe(16);
    this.view = viewOf(this.buf);
    this.pos = 0;
    if (buf.length < INITIAL_BYTES || buf.length > SPARE_BUFFER_BYTES_MAX || spareBuffers.includes(buf)) return;
    if (spareBuffers.length >= SPARE_BUFFERS_MAX) {
      // Keep the larger ones: the next large answer then needs no allocation.
      let smallest = 0;
      for (let i = 1; i < spareBuffers.length; i++) if (spareBuffers[i]!.length < spareBuffers[smallest]!.length) smallest = i;
      if (spareBuffers[smallest]!.length >= buf.length) return;
      spareBuffers.splice(smallest, 1);
    }
    spareBuffers.push(buf);
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = viewOf(next);
  }

  /** Bytes written elsewhere (a part of the answer formatted by another thread). */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Text of any characters (label values, messages), as UTF-8. */
  text(s: string): this {
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }

  /** Short ASCII-only text (punctuation, keys). */
  ascii(s: string): this {
    this.reserve(s.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
    return this;
  }

  /** A sample value as Prometheus writes it (formatFloat), without the quotes. */
  float(v: number): this {
    this.reserve(32);
    this.pos = writeFloatAt(this.buf, this.pos, v);
    return this;
  }

  /** A timestamp as jsonutil.MarshalTimestamp writes it (formatTimestamp). */
  timestamp(ms: number): this {
    this.reserve(24);
    this.pos = writeTimestampAt(this.buf, this.pos, ms);
    return this;
  }

  /**
   * The evaluation times of a range query: every series of its matrix has points at (some of)
   * the same steps, so each step's timestamp is formatted once (on the first points()) and
   * copied per point.
   */
  setTimeGrid(startMs: number, stepMs: number, count: number): this {
    if (!(stepMs > 0) || !(count > 0) || count > TIME_GRID_STEPS_MAX || !(Math.abs(startMs) < 9e15) || !(Math.abs(startMs + count * stepMs) < 9e15)) return this;
    this.grid = { startMs, stepMs, count };
    return this;
  }

  /** The time grid set (setTimeGrid), if any: for another thread formatting part of the answer. */
  get timeGrid(): { startMs: number; stepMs: number; count: number } | undefined {
    const grid = this.grid;
    return grid === undefined ? undefined : { startMs: grid.startMs, stepMs: grid.stepMs, count: grid.count };
  }

  /** Steps in the time grid (0 without one). */
  get timeGridSteps(): number {
    return this.grid?.count ?? 0;
  }

  /** No time grid: an answer with fewer points than steps formats each point itself. */
  clearTimeGrid(): this {
    this.grid = undefined;
    return this;
  }

  /** Each step's `[timestamp,"` at i * TIME_SLOT_BYTES, and its length. */
  private timeGridBytes(grid: NonNullable<JsonBytes['grid']>): { bytes: DataView; lengths: Uint8Array } {
    if (grid.bytes === undefined || grid.lengths === undefined) {
      const bytes = new Uint8Array(grid.count * TIME_SLOT_BYTES);
      const lengths = new Uint8Array(grid.count);
      for (let i = 0; i < grid.count; i++) {
        const at = i * TIME_SLOT_BYTES;
        bytes[at] = 0x5b; // [
        let end = writeTimestampAt(bytes, at + 1, grid.startMs + i * grid.stepMs);
        bytes[end++] = 0x2c; // ,
        bytes[end++] = 0x22; // "
        lengths[i] = end - at;
      }
      grid.bytes = new DataView(bytes.buffer);
      grid.lengths = lengths;
    }
    return { bytes: grid.bytes, lengths: grid.lengths };
  }

  /** `[t,"v"]` points of a matrix series, comma-separated. */
  points(timestampsMs: Float64Array, values: Float64Array): this {
    const n = timestampsMs.length;
    // Room for every point, plus the 3 bytes a word copy of a step's slot may write past its end
    // (overwritten by the value that follows).
    this.reserve(n * POINT_BYTES_MAX + 4);
    const buf = this.buf;
    const view = this.view;
    let pos = this.pos;
    const grid = this.grid;
    const slots = grid === undefined ? undefined : this.timeGridBytes(grid);
    let next = 0; // the grid step expected next: series' points follow the steps in order
    for (let i = 0; i < n; i++) {
      if (i > 0) buf[pos++] = 0x2c; // ,
      const t = timestampsMs[i]!;
      let step = -1;
      if (grid !== undefined) {
        if (next < grid.count && grid.startMs + next * grid.stepMs === t) step = next;
        else {
          const x = (t - grid.startMs) / grid.stepMs;
          if (x >= 0 && x < grid.count && Math.floor(x) === x) step = x;
        }
      }
      if (step >= 0) {
        next = step + 1;
        const from = step * TIME_SLOT_BYTES;
        const length = slots!.lengths[step]!;
        const bytes = slots!.bytes;
        for (let k = 0; k < length; k += 4) view.setUint32(pos + k, bytes.getUint32(from + k, true), true);
        pos += length;
      } else {
        buf[pos++] = 0x5b; // [
        pos = writeTimestampAt(buf, pos, t);
        buf[pos++] = 0x2c;
        buf[pos++] = 0x22; // "
      }
      pos = writeFloatAt(buf, pos, values[i]!);
      buf[pos++] = 0x22;
      buf[pos++] = 0x5d; // ]
    }
    this.pos = pos;
    return this;
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written (a view of the buffer: do not write after taking it). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  toString(): string {
    return this.buf.toString('utf8', 0, this.pos);
  }
}

function writeAsciiAt(buf: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
  return pos;
}

/** formatFloat's bytes; buf needs 32 free bytes at pos. */
function writeFloatAt(buf: Uint8Array, pos: number, v: number): number {
  const abs = v < 0 ? -v : v;
  if (abs >= 1e-6 && abs < 1e21) return writeFixedFloat(buf, pos, v);
  return writeAsciiAt(buf, pos, formatFloat(v)); // NaN, ±Inf, ±0, exponent form
}

/** formatTimestamp's bytes; buf needs 24 free bytes at pos. */
function writeTimestampAt(buf: Uint8Array, pos: number, ms: number): number {
  let t = Math.round(ms);
  if (!(Math.abs(t) < 9e15)) return writeAsciiAt(buf, pos, formatTimestamp(ms));
  if (t < 0) {
    buf[pos++] = 0x2d;
    t = -t;
  }
  const secs = Math.floor(t / 1000);
  const frac = t - secs * 1000;
  pos = writeUint(buf, pos, secs);
  if (frac !== 0) {
    buf[pos++] = 0x2e;
    buf[pos++] = 0x30 + Math.floor(frac / 100);
    buf[pos++] = 0x30 + (Math.floor(frac / 10) % 10);
    buf[pos++] = 0x30 + (frac % 10);
  }
  return pos;
}

/**
 * Writes the `data` object of a query answer, {"resultType":...,"result":...}, with `extraJson`
 * (`,"key":value` members, e.g. stats) before its closing brace.
 */
export function writeQueryData(w: JsonBytes, result: QueryResult, extraJson = ''): void {
  switch (result.resultType) {
    case 'scalar':
      w.ascii('{"resultType":"scalar","result":[').timestamp(result.result.t).ascii(',"').float(result.result.v).ascii('"]');
      break;
    case 'string':
      w.ascii('{"resultType":"string","result":[').timestamp(result.result.t).ascii(',').text(jsonString(result.result.v)).ascii(']');
      break;
    case 'vector': {
      w.ascii('{"resultType":"vector","result":[');
      let first = true;
      for (const s of result.result) {
        w.ascii(first ? '{"metric":' : ',{"metric":').text(formatLabelsJson(s.labels)).ascii(',"value":[').timestamp(s.t).ascii(',"').float(s.v).ascii('"]}');
        first = false;
      }
      w.ascii(']');
      break;
    }
    case 'matrix':
      beginMatrix(w, result.result);
      writeMatrixSeries(w, result.result, 0, result.result.length);
      w.ascii(']');
      break;
  }
  w.text(extraJson).ascii('}');
}

/** A series of a matrix answer. */
export type MatrixSeries = Extract<QueryResult, { resultType: 'matrix' }>['result'][number];

/** Points of a matrix answer. */
export function matrixPoints(series: readonly MatrixSeries[]): number {
  let points = 0;
  for (const s of series) points += s.timestampsMs.length;
  return points;
}

/** `{"resultType":"matrix","result":[`, with room made for the whole answer. */
export function beginMatrix(w: JsonBytes, series: readonly MatrixSeries[]): void {
  // One allocation for the usual answer (~30 bytes a point) instead of doubling through it.
  const points = matrixPoints(series);
  w.reserve(points * MATRIX_POINT_BYTES_TYPICAL + series.length * 256);
  if (points < w.timeGridSteps) w.clearTimeGrid();
  w.ascii('{"resultType":"matrix","result":[');
}

/**
 * Series [from, to) of a matrix answer as `{"metric":{...},"values":[...]}`, comma-separated,
 * with a comma before the first when `leadingComma` (it is not the answer's first series).
 */
export function writeMatrixSeries(w: JsonBytes, series: readonly MatrixSeries[], from: number, to: number, leadingComma = from > 0): void {
  for (let i = from; i < to; i++) {
    const s = series[i]!;
    w.ascii(i > from || leadingComma ? ',{"metric":' : '{"metric":').text(formatLabelsJson(s.labels)).ascii(',"values":[').points(s.timestampsMs, s.values).ascii(']}');
  }
}

/** The `data` object of a query answer as a string (writeQueryData). */
export function formatQueryData(result: QueryResult): string {
  const w = new JsonBytes();
  writeQueryData(w, result);
  return w.toString();
}
