// Protobuf wire-format cursor: the low-level reads every hand-written decoder in ingest/ shares
// (varints, lengths, int64 as a safe JS number, skipping unknown fields of every wire type).
//
// Why hand-written: a generated decoder builds one object per message (per sample, per label);
// the remote-write decoder instead walks the Buffer once and writes samples into typed arrays.
// Every read is bounds-checked against the end of the enclosing message, and every failure is a
// MochaError that says what was wrong and at which byte offset of the decoded payload.
import { MochaError, type ErrorCode } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'invalid (6)', 'invalid (7)'];

export function wireTypeName(wireType: number): string {
  return WIRE_TYPE_NAMES[wireType & 7]!;
}

/**
 * Deprecated groups (wire types 3/4) can nest; no message we decode uses them, so a deep nest is
 * garbage meant to exhaust the stack. 32 is far above anything a real encoder emits.
 */
export const PROTO_GROUP_DEPTH_MAX = 32;

/** Largest length-delimited field we accept: lengths are compared against the buffer anyway. */
const LENGTH_MAX = 0x7fffffff;
const TWO_POW_32 = 4294967296;
/** |hi| bound for an int64 split as hi·2^32 + lo to stay within ±2^53 (exact in a double). */
const SAFE_HI_MAX = 0x200000;

export class ProtoCursor {
  pos = 0;
  /** Low and high 32 bits of the last int64 that did not fit a safe JS number (for messages). */
  unsafeLo = 0;
  unsafeHi = 0;

  constructor(
    readonly buf: Uint8Array,
    private readonly errorCode: ErrorCode,
    /** Names the payload in messages, e.g. "decompressed WriteRequest". */
    private readonly subject: string,
  ) {}

  /** Where in the message tree the cursor is, for error messages; subclasses say more. */
  protected context(): string {
    return '';
  }

  fail(what: string, offset: number): never {
    const ctx = this.context();
    throw new MochaError(this.errorCode, `${what} at byte offset ${offset} of the ${this.subject}${ctx === '' ? '' : ` (${ctx})`}`, { offset });
  }

  /** Reads a field tag; returns it as (fieldNumber << 3 | wireType). Rejects field 0 and wire types 6/7. */
  tag(end: number): number {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    if (p >= end) this.fail('truncated field tag', start);
    let b = buf[p++]!;
    let v = b & 0x7f;
    if (b >= 0x80) {
      let shift = 7;
      for (;;) {
        if (p >= end) this.fail('truncated field tag', start);
        b = buf[p++]!;
        if (shift === 28) {
          // Field numbers are at most 2^29 - 1, so the whole tag fits in 32 bits.
          if (b > 0x0f) this.fail('field tag overflows 32 bits', start);
          v += b * 0x10000000;
          break;
        }
        v |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
      }
    }
    this.pos = p;
    if (v >>> 3 === 0) this.fail('field number 0 is not allowed', start);
    const wt = v & 7;
    if (wt > 5) this.fail(`invalid wire type ${wt}`, start);
    return v;
  }

  /** Reads the length prefix of a length-delimited field and checks it fits before `end`. */
  length(end: number): number {
    const start = this.pos;
    const buf = this.buf;
    let p = start;
    if (p >= end) this.fail('truncated length', start);
    let b = buf[p++]!;
    let v = b & 0x7f;
    if (b >= 0x80) {
      let mult = 128;
      for (;;) {
        if (p >= end) this.fail('truncated length', start);
        b = buf[p++]!;
        v += (b & 0x7f) * mult;
        if (b < 0x80) break;
        mult *= 128;
        if (p - start >= 10) this.fail('length varint longer than 10 bytes', start);
      }
    }
    if (v > LENGTH_MAX || p + v > end) this.fail(`length ${v} runs past the end of the enclosing message (${end - p} bytes left)`, start);
    this.pos = p;
    return v;
  }

  /**
   * Reads an int64 varint (two's complement, 10 bytes when negative) as a JS number. Returns NaN
   * when the value is outside ±(2^53 - 1) and leaves its bits in unsafeLo/unsafeHi, so the caller
   * decides whether that is an error; a malformed varint is always an error.
   */
  int64(end: number): number {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    // Fast path: up to 7 bytes (49 bits) accumulate exactly in a double. Millisecond timestamps
    // until the year 19800 take this path.
    let v = 0;
    let mult = 1;
    for (let i = 0; i < 7; i++) {
      if (p >= end) this.fail('truncated varint', start);
      const b = buf[p++]!;
      v += (b & 0x7f) * mult;
      if (b < 0x80) {
        this.pos = p;
        return v;
      }
      mult *= 128;
    }
    return this.int64Slow(end, start);
  }

  private int64Slow(end: number, start: number): number {
    const buf = this.buf;
    let p = start;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let done = false;
    for (let i = 0; i < 4 && !done; i++) {
      if (p >= end) this.fail('truncated varint', start);
      b = buf[p++]!;
      lo |= (b & 0x7f) << (7 * i);
      done = b < 0x80;
    }
    if (!done) {
      if (p >= end) this.fail('truncated varint', start);
      b = buf[p++]!;
      lo |= (b & 0x0f) << 28;
      hi = (b & 0x7f) >> 4;
      done = b < 0x80;
    }
    for (let i = 0; i < 5 && !done; i++) {
      if (p >= end) this.fail('truncated varint', start);
      b = buf[p++]!;
      if (i === 4 && b > 1) this.fail('varint overflows 64 bits', start);
      hi |= (b & 0x7f) << (7 * i + 3);
      done = b < 0x80;
    }
    if (!done) this.fail('varint longer than 10 bytes', start);
    this.pos = p;
    lo >>>= 0;
    hi |= 0;
    if (hi >= SAFE_HI_MAX || hi < -SAFE_HI_MAX) {
      this.unsafeLo = lo;
      this.unsafeHi = hi;
      return NaN;
    }
    const v = hi * TWO_POW_32 + lo;
    if (!Number.isSafeInteger(v)) {
      this.unsafeLo = lo;
      this.unsafeHi = hi;
      return NaN;
    }
    return v;
  }

  /** The int64 whose bits int64() left in unsafeLo/unsafeHi, as a decimal string. */
  unsafeInt64String(): string {
    return BigInt.asIntN(64, (BigInt(this.unsafeHi >>> 0) << 32n) | BigInt(this.unsafeLo >>> 0)).toString();
  }

  /** Skips the value of a field whose tag was just read. Groups are skipped to their matching end. */
  skip(tag: number, end: number, depth = 0): void {
    const start = this.pos;
    switch (tag & 7) {
      case WIRE_VARINT: {
        const buf = this.buf;
        let p = start;
        for (;;) {
          if (p >= end) this.fail('truncated varint', start);
          if (p - start >= 10) this.fail('varint longer than 10 bytes', start);
          if (buf[p++]! < 0x80) break;
        }
        this.pos = p;
        return;
      }
      case WIRE_FIXED64:
        if (start + 8 > end) this.fail('truncated fixed64 field', start);
        this.pos = start + 8;
        return;
      case WIRE_FIXED32:
        if (start + 4 > end) this.fail('truncated fixed32 field', start);
        this.pos = start + 4;
        return;
      case WIRE_LEN: {
        const n = this.length(end);
        this.pos += n;
        return;
      }
      case WIRE_START_GROUP: {
        if (depth >= PROTO_GROUP_DEPTH_MAX) this.fail(`groups nested deeper than ${PROTO_GROUP_DEPTH_MAX}`, start);
        const field = tag >>> 3;
        for (;;) {
          if (this.pos >= end) this.fail(`group of field ${field} has no end-group tag`, start);
          const t = this.tag(end);
          if ((t & 7) === WIRE_END_GROUP) {
            if (t >>> 3 !== field) this.fail(`end-group tag of field ${t >>> 3} closes a group of field ${field}`, this.pos);
            return;
          }
          this.skip(t, end, depth + 1);
        }
      }
      case WIRE_END_GROUP:
        return this.fail('end-group tag without a matching start-group', start);
      default:
        return this.fail(`invalid wire type ${tag & 7}`, start);
    }
  }

  /** Fails unless the field just read has the wire type its schema requires. */
  expectWireType(tag: number, wireType: number, fieldName: string, tagOffset: number): void {
    if ((tag & 7) !== wireType) {
      this.fail(`field ${fieldName} (${tag >>> 3}) has wire type ${wireTypeName(tag & 7)}, expected ${wireTypeName(wireType)}`, tagOffset);
    }
  }
}
