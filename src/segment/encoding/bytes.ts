// Byte-level building blocks of the time-series encodings: a growable output buffer that
// encoders append into (reused across chunks, so no allocation per sample), a bounds-checked
// input cursor for decoders, unsigned LEB128 varints and zigzag for integers up to 2^53.
//
// This folder knows nothing about storage: decoders throw EncodingError with the byte offset;
// the segment reader wraps it into a SEGMENT_CORRUPT error that names the file and row.

export class EncodingError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'EncodingError';
  }
}

/** Largest integer a varint may carry: every intermediate in the encodings stays exact in float64. */
export const VARINT_MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1
/** A varint of VARINT_MAX takes 8 bytes (7 bits each). */
const VARINT_BYTES_MAX = 8;

export class ByteSink {
  bytes: Uint8Array;
  length = 0;

  constructor(initialBytes = 4096) {
    this.bytes = new Uint8Array(initialBytes);
  }

  reset(): void {
    this.length = 0;
  }

  /** Makes room for n more bytes (amortized doubling). */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  pushByte(b: number): void {
    this.ensure(1);
    this.bytes[this.length++] = b;
  }

  /** Unsigned LEB128 of an integer in [0, 2^53). */
  pushVarint(v: number): void {
    this.ensure(VARINT_BYTES_MAX);
    const out = this.bytes;
    let n = this.length;
    while (v > 0x7fffffff) {
      out[n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v >= 0x80) {
      out[n++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[n++] = v;
    this.length = n;
  }

  pushZigzag(x: number): void {
    this.pushVarint(zigzag(x));
  }

  pushBytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.bytes.set(src, this.length);
    this.length += src.length;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Maps signed to unsigned so small magnitudes stay small: 0,-1,1,-2 -> 0,1,2,3. |x| <= 2^52. */
export function zigzag(x: number): number {
  return x >= 0 ? x * 2 : -x * 2 - 1;
}

export function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

/** Bytes a varint of v takes. */
export function varintBytes(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

export class ByteSource {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new EncodingError(`truncated ${what}: need ${n} bytes; only ${this.end - this.pos} left`, this.pos);
  }

  readByte(what: string): number {
    if (this.pos >= this.end) throw new EncodingError(`truncated ${what}`, this.pos);
    return this.bytes[this.pos++]!;
  }

  readVarint(what: string): number {
    const start = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (this.pos >= this.end) throw new EncodingError(`truncated varint in ${what}`, start);
      const b = this.bytes[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > VARINT_MAX) throw new EncodingError(`too big varint in ${what}; got ${v}; cannot exceed ${VARINT_MAX}`, start);
        return v;
      }
      mul *= 128;
    }
    throw new EncodingError(`varint in ${what} longer than ${VARINT_BYTES_MAX} bytes`, start);
  }

  readZigzag(what: string): number {
    return unzigzag(this.readVarint(what));
  }

  /** A bounded count: "too big X; got N; cannot exceed M". */
  readCount(what: string, max: number): number {
    const at = this.pos;
    const n = this.readVarint(what);
    if (n > max) throw new EncodingError(`too big ${what}; got ${n}; cannot exceed ${max}`, at);
    return n;
  }
}

/** Number of bits needed to hold u (an integer in [0, 2^53)). */
export function bitLength(u: number): number {
  if (u < 0x100000000) return 32 - Math.clz32(u);
  return 64 - Math.clz32(Math.floor(u / 0x100000000));
}
