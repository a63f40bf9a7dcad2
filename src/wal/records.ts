// WAL record types and their binary encoding (format: docs/format/wal.md).
//
// A record is framed as  length u32 | crc32c u32 | type u8 | payload[length]  (little-endian),
// the checksum covering type and payload. Three record types:
// - series:  a batch of series definitions (ref -> label set) of one tenant;
// - samples: a batch of samples of one tenant, one (ref, timestamp, value) per entry, as columns;
// - exemplars (format version 2): exemplars of one tenant, each with its series' labels (not a
//   ref: the exemplar buffer outlives the memtable registry's refs, and exemplars are few).
//
// Values are moved only as bytes (typed-array memcpy), never through a JS number, so every NaN
// payload, in particular the stale marker 0x7ff0000000000002, and -0 survive bit-exactly.
// Encoders append into a caller-owned ByteArena (no allocation per record on the hot path);
// decoders copy into fresh typed arrays the caller may keep, and validate every count and length
// against the bytes that are actually there before trusting it.
import { MochaError } from '../errors.js';
import type { Label, Labels } from '../model/labels.js';
import { HOST_IS_LITTLE_ENDIAN } from '../model/samples.js';
import { crc32c } from './crc32c.js';

// Typed-array memcpy is only the little-endian encoding on little-endian hosts; the process
// refuses to start elsewhere (cli.ts), and so does this module.
if (!HOST_IS_LITTLE_ENDIAN) throw new Error('mocha-tsdb WAL encoding requires a little-endian host');

/** One exemplar as logged: self-contained (series labels, exemplar labels, timestamp, value). */
export interface WalExemplar {
  readonly seriesLabels: Labels;
  readonly labels: Labels;
  readonly timestampMs: number;
  readonly value: number;
}

export type WalRecord =
  | { type: 'series'; tenant: string; refs: Uint32Array; labels: Labels[] }
  | { type: 'samples'; tenant: string; refs: Uint32Array; timestampsMs: Float64Array; values: Float64Array }
  | { type: 'exemplars'; tenant: string; exemplars: readonly WalExemplar[] };

export const RECORD_TYPE_SERIES = 1;
export const RECORD_TYPE_SAMPLES = 2;
/** Exemplars: format version 2 on. */
export const RECORD_TYPE_EXEMPLARS = 3;

/** length u32 + crc32c u32 + type u8. */
export const FRAME_HEADER_BYTES = 9;
/** Tenant ids are at most 64 ASCII bytes (the API allows [A-Za-z0-9_.-]{1,64}). */
export const TENANT_BYTES_MAX = 64;

/** Samples payload timestamp encodings. */
export const TS_ENCODING_F64 = 0;
export const TS_ENCODING_BASE_DELTA_I32 = 1;

const SAMPLE_ENTRY_BYTES_MAX = 4 + 8 + 8; // ref + raw timestamp + value
const TENANT_FIELD_BYTES_MAX = 1 + TENANT_BYTES_MAX;
/** Fixed part of a samples payload: tenant, count u32, encoding u8, base f64. */
const SAMPLES_FIXED_BYTES_MAX = TENANT_FIELD_BYTES_MAX + 4 + 1 + 8;
/** Fixed part of a series payload: tenant, count u32. */
const SERIES_FIXED_BYTES_MAX = TENANT_FIELD_BYTES_MAX + 4;
/** Fixed part of an exemplars payload: tenant, count u32 (the same as series). */
const EXEMPLARS_FIXED_BYTES_MAX = TENANT_FIELD_BYTES_MAX + 4;
const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/** A growable byte buffer that encoders append to; `length` is the used part. */
export class ByteArena {
  buf: Buffer;
  length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Makes room for `extra` more bytes after `length`. */
  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

function corrupt(message: string): MochaError {
  return new MochaError('WAL_CORRUPT', message);
}

/** Tenant ids: 1..64 printable ASCII bytes (0x21..0x7e). */
export function isValidWalTenant(tenant: string): boolean {
  if (tenant.length === 0 || tenant.length > TENANT_BYTES_MAX) return false;
  for (let i = 0; i < tenant.length; i++) {
    const c = tenant.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function varintBytes(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Exact encoded size of a label set: label count, then (name, value) strings. */
function labelSetBytes(labels: Labels): number {
  let n = varintBytes(labels.length);
  for (const l of labels) {
    const nb = Buffer.byteLength(l.name, 'utf8');
    const vb = Buffer.byteLength(l.value, 'utf8');
    n += varintBytes(nb) + nb + varintBytes(vb) + vb;
  }
  return n;
}

/** Exact encoded size of one series entry: ref u32, then the label set. */
function seriesEntryBytes(labels: Labels): number {
  return 4 + labelSetBytes(labels);
}

/** Exact encoded size of one exemplar entry: timestamp f64, value f64, series labels, exemplar labels. */
function exemplarEntryBytes(e: WalExemplar): number {
  return 16 + labelSetBytes(e.seriesLabels) + labelSetBytes(e.labels);
}

/**
 * Checks what the encoder relies on; throws a plain Error (a programmer error upstream, the
 * ingest layer validates tenants and label sizes) before anything is encoded.
 */
export function validateRecord(rec: WalRecord, payloadBytesMax: number): void {
  if (!isValidWalTenant(rec.tenant)) throw new Error(`WAL record tenant ${JSON.stringify(rec.tenant.slice(0, 80))} is not 1..64 printable ASCII bytes`);
  if (rec.type === 'samples') {
    const n = rec.refs.length;
    if (rec.timestampsMs.length !== n || rec.values.length !== n) {
      throw new Error(`WAL samples record columns differ in length: refs ${n}, timestamps ${rec.timestampsMs.length}, values ${rec.values.length}`);
    }
  } else if (rec.type === 'series') {
    if (rec.labels.length !== rec.refs.length) throw new Error(`WAL series record has ${rec.refs.length} refs but ${rec.labels.length} label sets`);
    for (const labels of rec.labels) {
      const b = seriesEntryBytes(labels);
      if (b + SERIES_FIXED_BYTES_MAX > payloadBytesMax) throw new Error(`a series definition of ${b} bytes exceeds the WAL record limit of ${payloadBytesMax}`);
    }
  } else if (rec.type === 'exemplars') {
    for (const e of rec.exemplars) {
      const b = exemplarEntryBytes(e);
      if (b + EXEMPLARS_FIXED_BYTES_MAX > payloadBytesMax) throw new Error(`an exemplar of ${b} bytes exceeds the WAL record limit of ${payloadBytesMax}`);
    }
  } else {
    throw new Error(`unknown WAL record type ${JSON.stringify((rec as { type: unknown }).type)}`);
  }
}

/**
 * Splits a record into records whose payload is at most payloadBytesMax (columns are shared
 * with the input through subarray, not copied). Call validateRecord first.
 */
export function splitRecord(rec: WalRecord, payloadBytesMax: number): WalRecord[] {
  if (rec.type === 'samples') {
    const perRecord = Math.floor((payloadBytesMax - SAMPLES_FIXED_BYTES_MAX) / SAMPLE_ENTRY_BYTES_MAX);
    if (perRecord < 1) throw new Error(`WAL record limit ${payloadBytesMax} cannot hold one sample`);
    const n = rec.refs.length;
    if (n <= perRecord) return [rec];
    const out: WalRecord[] = [];
    for (let at = 0; at < n; at += perRecord) {
      const end = Math.min(n, at + perRecord);
      out.push({
        type: 'samples',
        tenant: rec.tenant,
        refs: rec.refs.subarray(at, end),
        timestampsMs: rec.timestampsMs.subarray(at, end),
        values: rec.values.subarray(at, end),
      });
    }
    return out;
  }
  if (rec.type === 'exemplars') {
    const out: WalRecord[] = [];
    let from = 0;
    let bytes = EXEMPLARS_FIXED_BYTES_MAX;
    for (let i = 0; i < rec.exemplars.length; i++) {
      const b = exemplarEntryBytes(rec.exemplars[i]!);
      if (bytes + b > payloadBytesMax && i > from) {
        out.push({ type: 'exemplars', tenant: rec.tenant, exemplars: rec.exemplars.slice(from, i) });
        from = i;
        bytes = EXEMPLARS_FIXED_BYTES_MAX;
      }
      bytes += b;
    }
    if (from === 0) return [rec];
    out.push({ type: 'exemplars', tenant: rec.tenant, exemplars: rec.exemplars.slice(from) });
    return out;
  }
  const out: WalRecord[] = [];
  let from = 0;
  let bytes = SERIES_FIXED_BYTES_MAX;
  for (let i = 0; i < rec.refs.length; i++) {
    const b = seriesEntryBytes(rec.labels[i]!);
    if (bytes + b > payloadBytesMax && i > from) {
      out.push({ type: 'series', tenant: rec.tenant, refs: rec.refs.subarray(from, i), labels: rec.labels.slice(from, i) });
      from = i;
      bytes = SERIES_FIXED_BYTES_MAX;
    }
    bytes += b;
  }
  if (from === 0) return [rec];
  out.push({ type: 'series', tenant: rec.tenant, refs: rec.refs.subarray(from), labels: rec.labels.slice(from) });
  return out;
}

// Scratch for timestamp deltas; grows to the largest record seen (bounded by the record limit).
let deltaScratch = new Int32Array(1024);

function bytesOf(a: Uint32Array | Float64Array | Int32Array, n: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
}

/**
 * Whether timestamps can be stored as base + i32 deltas and read back bit-exactly: every
 * timestamp an integer (not -0) within 2^31 of the first, as millisecond timestamps of one
 * request nearly always are. Fills deltaScratch on success.
 */
function fillDeltas(ts: Float64Array): boolean {
  const n = ts.length;
  if (n === 0) return false;
  const base = ts[0]!;
  if (!Number.isSafeInteger(base)) return false;
  if (deltaScratch.length < n) deltaScratch = new Int32Array(Math.max(n, deltaScratch.length * 2));
  const d = deltaScratch;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    const delta = t - base;
    // NaN and non-integers fail the first test; |delta| < 2^31 keeps base + delta exact.
    if ((delta | 0) !== delta || delta < I32_MIN || delta > I32_MAX) return false;
    if (t === 0 && 1 / t < 0) return false; // -0 would come back as +0
    d[i] = delta;
  }
  return true;
}

function writeTenant(buf: Buffer, at: number, tenant: string): number {
  buf[at] = tenant.length;
  buf.write(tenant, at + 1, 'latin1'); // validated ASCII: one byte per char
  return at + 1 + tenant.length;
}

function writeVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function writeLabelSet(buf: Buffer, at: number, labels: Labels): number {
  at = writeVarint(buf, at, labels.length);
  for (const l of labels) {
    at = writeVarint(buf, at, Buffer.byteLength(l.name, 'utf8'));
    at += buf.write(l.name, at, 'utf8');
    at = writeVarint(buf, at, Buffer.byteLength(l.value, 'utf8'));
    at += buf.write(l.value, at, 'utf8');
  }
  return at;
}

/**
 * Appends one framed record to the arena. The record must have passed validateRecord and fit
 * the payload limit (splitRecord). Returns the frame's byte length.
 */
export function encodeFrameInto(rec: WalRecord, arena: ByteArena): number {
  const start = arena.length;
  let at: number;
  let buf: Buffer;
  if (rec.type === 'samples') {
    const n = rec.refs.length;
    const useDeltas = fillDeltas(rec.timestampsMs);
    const payloadBytes = 1 + rec.tenant.length + 4 + 1 + 4 * n + (useDeltas ? 8 + 4 * n : 8 * n) + 8 * n;
    arena.ensure(FRAME_HEADER_BYTES + payloadBytes);
    buf = arena.buf;
    buf[start + 8] = RECORD_TYPE_SAMPLES;
    at = writeTenant(buf, start + FRAME_HEADER_BYTES, rec.tenant);
    buf.writeUInt32LE(n, at);
    at += 4;
    buf[at++] = useDeltas ? TS_ENCODING_BASE_DELTA_I32 : TS_ENCODING_F64;
    buf.set(bytesOf(rec.refs, n), at);
    at += 4 * n;
    if (useDeltas) {
      buf.set(bytesOf(rec.timestampsMs, 1), at); // base = first timestamp, bit-exact
      at += 8;
      buf.set(bytesOf(deltaScratch, n), at);
      at += 4 * n;
    } else {
      buf.set(bytesOf(rec.timestampsMs, n), at);
      at += 8 * n;
    }
    buf.set(bytesOf(rec.values, n), at);
    at += 8 * n;
  } else if (rec.type === 'exemplars') {
    const n = rec.exemplars.length;
    let bound = 1 + rec.tenant.length + 4;
    for (const e of rec.exemplars) bound += exemplarEntryBytes(e);
    arena.ensure(FRAME_HEADER_BYTES + bound);
    buf = arena.buf;
    buf[start + 8] = RECORD_TYPE_EXEMPLARS;
    at = writeTenant(buf, start + FRAME_HEADER_BYTES, rec.tenant);
    buf.writeUInt32LE(n, at);
    at += 4;
    for (const e of rec.exemplars) {
      at = buf.writeDoubleLE(e.timestampMs, at);
      at = buf.writeDoubleLE(e.value, at);
      at = writeLabelSet(buf, at, e.seriesLabels);
      at = writeLabelSet(buf, at, e.labels);
    }
  } else {
    const n = rec.refs.length;
    let bound = 1 + rec.tenant.length + 4;
    for (const labels of rec.labels) bound += seriesEntryBytes(labels);
    arena.ensure(FRAME_HEADER_BYTES + bound);
    buf = arena.buf;
    buf[start + 8] = RECORD_TYPE_SERIES;
    at = writeTenant(buf, start + FRAME_HEADER_BYTES, rec.tenant);
    buf.writeUInt32LE(n, at);
    at += 4;
    for (let i = 0; i < n; i++) {
      buf.writeUInt32LE(rec.refs[i]!, at);
      at += 4;
      at = writeLabelSet(buf, at, rec.labels[i]!);
    }
  }
  const payloadBytes = at - start - FRAME_HEADER_BYTES;
  buf.writeUInt32LE(payloadBytes, start);
  buf.writeUInt32LE(crc32c(buf, 0, start + 8, at), start + 4);
  arena.length = at;
  return at - start;
}

/** One framed record as a fresh byte array (convenience for tests and tools; the WAL uses encodeFrameInto). */
export function encodeRecord(rec: WalRecord): Uint8Array {
  const arena = new ByteArena(256);
  encodeFrameInto(rec, arena);
  return arena.buf.subarray(0, arena.length);
}

/** Sequential little-endian reader over a payload that throws WAL_CORRUPT on any overrun. */
class PayloadReader {
  at: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.at = start;
  }

  get remaining(): number {
    return this.end - this.at;
  }

  need(n: number, what: string): void {
    if (n > this.end - this.at) throw corrupt(`record payload too short for ${what}: need ${n} bytes, have ${this.end - this.at}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const i = this.at;
    this.at += 4;
    return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  }

  varint(what: string): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8(what);
      v += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (v > 0xffffffff) throw corrupt(`varint ${what} overflows uint32`);
        return v;
      }
    }
    throw corrupt(`varint ${what} longer than 5 bytes`);
  }

  utf8(n: number, what: string): string {
    this.need(n, what);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.at, n).toString('utf8');
    this.at += n;
    return s;
  }

  /** Copies n elements of `bytesPerElement` into `dst` (a fresh, aligned typed array). */
  copyInto(dst: Uint32Array | Float64Array | Int32Array, n: number, what: string): void {
    const bytes = n * dst.BYTES_PER_ELEMENT;
    this.need(bytes, what);
    new Uint8Array(dst.buffer, dst.byteOffset, bytes).set(this.buf.subarray(this.at, this.at + bytes));
    this.at += bytes;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  labelSet(what: string): Label[] {
    const count = this.varint(`${what} label count`);
    if (count * 2 > this.remaining) throw corrupt(`${what} claims ${count} labels in ${this.remaining} bytes`);
    const set: Label[] = new Array<Label>(count);
    for (let j = 0; j < count; j++) {
      const name = this.utf8(this.varint('label name length'), 'label name');
      const value = this.utf8(this.varint('label value length'), 'label value');
      set[j] = { name, value };
    }
    return set;
  }

  tenant(): string {
    const n = this.u8('tenant length');
    if (n === 0 || n > TENANT_BYTES_MAX) throw corrupt(`tenant length ${n} outside 1..${TENANT_BYTES_MAX}`);
    this.need(n, 'tenant');
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = this.buf[this.at + i]!;
      if (c < 0x21 || c > 0x7e) throw corrupt(`tenant byte 0x${c.toString(16)} is not printable ASCII`);
      s += String.fromCharCode(c);
    }
    this.at += n;
    return s;
  }
}

/**
 * Decodes a record payload (the bytes after the type byte). Throws MochaError('WAL_CORRUPT')
 * when the payload does not match its type's layout; the caller adds where it was.
 */
export function decodeRecord(type: number, buf: Uint8Array, start = 0, end = buf.length): WalRecord {
  const r = new PayloadReader(buf, start, end);
  let rec: WalRecord;
  if (type === RECORD_TYPE_SAMPLES) {
    const tenant = r.tenant();
    const n = r.u32('sample count');
    const enc = r.u8('timestamp encoding');
    if (enc !== TS_ENCODING_F64 && enc !== TS_ENCODING_BASE_DELTA_I32) throw corrupt(`unknown timestamp encoding ${enc}`);
    const expected = 4 * n + (enc === TS_ENCODING_F64 ? 8 * n : 8 + 4 * n) + 8 * n;
    if (expected !== r.remaining) throw corrupt(`samples record of ${n} samples needs ${expected} bytes of columns, has ${r.remaining}`);
    const refs = new Uint32Array(n);
    const timestampsMs = new Float64Array(n);
    const values = new Float64Array(n);
    r.copyInto(refs, n, 'refs');
    if (enc === TS_ENCODING_F64) {
      r.copyInto(timestampsMs, n, 'timestamps');
    } else {
      const base = new Float64Array(1);
      r.copyInto(base, 1, 'timestamp base');
      const b = base[0]!;
      if (!Number.isSafeInteger(b)) throw corrupt(`timestamp base ${b} is not an integer`);
      const deltas = new Int32Array(n);
      r.copyInto(deltas, n, 'timestamp deltas');
      for (let i = 0; i < n; i++) timestampsMs[i] = b + deltas[i]!;
    }
    r.copyInto(values, n, 'values');
    rec = { type: 'samples', tenant, refs, timestampsMs, values };
  } else if (type === RECORD_TYPE_SERIES) {
    const tenant = r.tenant();
    const n = r.u32('series count');
    // Each entry takes at least 5 bytes (ref + label count): bound n before allocating for it.
    if (n * 5 > r.remaining) throw corrupt(`series record claims ${n} series in ${r.remaining} bytes`);
    const refs = new Uint32Array(n);
    const labels: Labels[] = new Array<Labels>(n);
    for (let i = 0; i < n; i++) {
      refs[i] = r.u32('series ref');
      labels[i] = r.labelSet(`series ${i}`);
    }
    if (r.remaining !== 0) throw corrupt(`series record has ${r.remaining} trailing bytes`);
    rec = { type: 'series', tenant, refs, labels };
  } else if (type === RECORD_TYPE_EXEMPLARS) {
    const tenant = r.tenant();
    const n = r.u32('exemplar count');
    // Each entry takes at least 18 bytes (two f64, two label counts): bound n before allocating.
    if (n * 18 > r.remaining) throw corrupt(`exemplars record claims ${n} exemplars in ${r.remaining} bytes`);
    const exemplars: WalExemplar[] = new Array<WalExemplar>(n);
    for (let i = 0; i < n; i++) {
      const timestampMs = r.f64('exemplar timestamp');
      const value = r.f64('exemplar value');
      const seriesLabels = r.labelSet(`exemplar ${i} series`);
      const labels = r.labelSet(`exemplar ${i}`);
      exemplars[i] = { seriesLabels, labels, timestampMs, value };
    }
    if (r.remaining !== 0) throw corrupt(`exemplars record has ${r.remaining} trailing bytes`);
    rec = { type: 'exemplars', tenant, exemplars };
  } else {
    throw corrupt(`unknown record type ${type}`);
  }
  return rec;
}

/**
 * Decodes one whole frame at buf[offset..]: checks length and checksum, then the payload.
 * Throws WAL_CORRUPT with `offset`. Returns the record and the offset after the frame.
 */
export function decodeFrame(buf: Uint8Array, offset = 0, payloadBytesMax = Number.MAX_SAFE_INTEGER): { record: WalRecord; next: number } {
  const check = checkFrame(buf, offset, buf.length, payloadBytesMax);
  if (!check.ok) throw new MochaError('WAL_CORRUPT', check.reason, { offset });
  try {
    return { record: decodeRecord(check.type, buf, offset + FRAME_HEADER_BYTES, check.next), next: check.next };
  } catch (e) {
    if (e instanceof MochaError) throw new MochaError('WAL_CORRUPT', e.message, { offset });
    throw e;
  }
}

export type FrameCheck = { ok: true; type: number; next: number } | { ok: false; reason: string };

/**
 * Checks the frame at buf[offset, end): enough bytes for the header and the payload, a sane
 * length, and a matching checksum. `end` is the end of the file's bytes in buf (the caller
 * reads the whole frame in before asking). Does not decode the payload.
 */
export function checkFrame(buf: Uint8Array, offset: number, end: number, payloadBytesMax: number): FrameCheck {
  const avail = end - offset;
  if (avail < FRAME_HEADER_BYTES) return { ok: false, reason: `torn record header: ${avail} bytes left, a header needs ${FRAME_HEADER_BYTES}` };
  const len = (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
  if (len === 0) return { ok: false, reason: 'bad record length 0' };
  if (len > payloadBytesMax) return { ok: false, reason: `bad record length ${len}: exceeds the limit of ${payloadBytesMax}` };
  if (len > avail - FRAME_HEADER_BYTES) return { ok: false, reason: `torn record: length ${len} but only ${avail - FRAME_HEADER_BYTES} payload bytes left` };
  const stored = (buf[offset + 4]! | (buf[offset + 5]! << 8) | (buf[offset + 6]! << 16) | (buf[offset + 7]! << 24)) >>> 0;
  const next = offset + FRAME_HEADER_BYTES + len;
  const actual = crc32c(buf, 0, offset + 8, next);
  if (stored !== actual) return { ok: false, reason: `checksum mismatch: stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')}` };
  return { ok: true, type: buf[offset + 8]!, next };
}
