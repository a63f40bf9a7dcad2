// Gorilla XOR float encoding (Pelkonen et al., VLDB 2015; as in Prometheus' chunkenc/xor.go),
// for values that are not exact decimals. Works on the raw 64-bit patterns (two uint32 words),
// so NaN payloads such as the stale marker survive bit-exactly.
//
// Bitstream, most significant bit first, after the chunk header (tag, n):
//   value 0: 64 bits
//   value i: xor = bits(i) ^ bits(i-1)
//     xor == 0                    -> '0'
//     fits the previous window    -> '10' + (64 - prevLeading - prevTrailing) meaningful bits
//     otherwise                   -> '11' + leading zeros (5 bits, capped at 31)
//                                    + meaningful bit count (6 bits, 64 written as 0) + the bits
// The last byte is zero-padded.
import { ByteSink, ByteSource, EncodingError } from './bytes.js';

/** MSB-first bit writer over a ByteSink. */
class BitWriter {
  private acc = 0;
  private accBits = 0;
  constructor(private readonly sink: ByteSink) {}

  /** Writes the low n bits (n <= 32) of the uint32 v. */
  write(v: number, n: number): void {
    while (n > 0) {
      const take = n > 24 ? 24 : n;
      const part = (v >>> (n - take)) & ((1 << take) - 1);
      this.acc = (this.acc << take) | part;
      this.accBits += take;
      while (this.accBits >= 8) {
        this.accBits -= 8;
        this.sink.pushByte((this.acc >>> this.accBits) & 0xff);
      }
      this.acc &= (1 << this.accBits) - 1;
      n -= take;
    }
  }

  flush(): void {
    if (this.accBits > 0) this.sink.pushByte((this.acc << (8 - this.accBits)) & 0xff);
    this.acc = 0;
    this.accBits = 0;
  }
}

class BitReader {
  private acc = 0;
  private accBits = 0;
  constructor(private readonly src: ByteSource) {}

  /** Reads n bits (n <= 32) as a uint32. */
  read(n: number): number {
    let v = 0;
    while (n > 0) {
      const take = n > 24 ? 24 : n;
      while (this.accBits < take) {
        if (this.src.pos >= this.src.end) throw new EncodingError('truncated xor bitstream', this.src.pos);
        this.acc = ((this.acc << 8) | this.src.bytes[this.src.pos++]!) >>> 0;
        this.accBits += 8;
      }
      this.accBits -= take;
      const part = (this.acc >>> this.accBits) & ((1 << take) - 1);
      this.acc &= (1 << this.accBits) - 1;
      v = v * (1 << take) + part;
      n -= take;
    }
    return v >>> 0;
  }
}

function ctz32(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

/** Appends the XOR bitstream of count values whose words are lo=words[2i], hi=words[2i+1]. */
export function encodeXorBits(sink: ByteSink, words: Uint32Array, wordStart: number, count: number): void {
  const w = new BitWriter(sink);
  let prevHi = words[wordStart + 1]!;
  let prevLo = words[wordStart]!;
  w.write(prevHi, 32);
  w.write(prevLo, 32);
  let prevLeading = -1;
  let prevTrailing = 0;
  for (let i = 1; i < count; i++) {
    const hi = words[wordStart + 2 * i + 1]!;
    const lo = words[wordStart + 2 * i]!;
    const xh = (hi ^ prevHi) >>> 0;
    const xl = (lo ^ prevLo) >>> 0;
    prevHi = hi;
    prevLo = lo;
    if (xh === 0 && xl === 0) {
      w.write(0, 1);
      continue;
    }
    let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
    if (leading > 31) leading = 31;
    if (prevLeading >= 0 && leading >= prevLeading && trailing >= prevTrailing) {
      w.write(2, 2); // '10'
      writeWindow(w, xh, xl, prevTrailing, 64 - prevLeading - prevTrailing);
    } else {
      const sig = 64 - leading - trailing;
      w.write(3, 2); // '11'
      w.write(leading, 5);
      w.write(sig & 63, 6);
      writeWindow(w, xh, xl, trailing, sig);
      prevLeading = leading;
      prevTrailing = trailing;
    }
  }
  w.flush();
}

/** Writes bits [trailing, trailing+sig) of the 64-bit (hi, lo), most significant first. */
function writeWindow(w: BitWriter, hi: number, lo: number, trailing: number, sig: number): void {
  let sh: number;
  let sl: number;
  if (trailing === 0) {
    sh = hi;
    sl = lo;
  } else if (trailing < 32) {
    sl = ((lo >>> trailing) | (hi << (32 - trailing))) >>> 0;
    sh = hi >>> trailing;
  } else {
    sl = hi >>> (trailing - 32);
    sh = 0;
  }
  if (sig > 32) {
    w.write(sh, sig - 32);
    w.write(sl, 32);
  } else {
    w.write(sl, sig);
  }
}

/** Decodes count values into words (lo, hi pairs) starting at wordStart. */
export function decodeXorBits(src: ByteSource, words: Uint32Array, wordStart: number, count: number): void {
  const r = new BitReader(src);
  let hi = r.read(32);
  let lo = r.read(32);
  words[wordStart] = lo;
  words[wordStart + 1] = hi;
  let leading = -1;
  let trailing = 0;
  for (let i = 1; i < count; i++) {
    if (r.read(1) === 1) {
      if (r.read(1) === 1) {
        leading = r.read(5);
        let sig = r.read(6);
        if (sig === 0) sig = 64;
        trailing = 64 - leading - sig;
        if (trailing < 0) throw new EncodingError(`bad xor window: ${leading} leading zeros and ${sig} meaningful bits`, src.pos);
      } else if (leading < 0) {
        throw new EncodingError('xor window reused before one was set', src.pos);
      }
      const sig = 64 - leading - trailing;
      let sh = 0;
      let sl: number;
      if (sig > 32) {
        sh = r.read(sig - 32);
        sl = r.read(32);
      } else {
        sl = r.read(sig);
      }
      // Shift (sh, sl) left by trailing.
      let xh: number;
      let xl: number;
      if (trailing === 0) {
        xh = sh;
        xl = sl;
      } else if (trailing < 32) {
        xh = ((sh << trailing) | (sl >>> (32 - trailing))) >>> 0;
        xl = (sl << trailing) >>> 0;
      } else {
        xh = (sl << (trailing - 32)) >>> 0;
        xl = 0;
      }
      hi = (hi ^ xh) >>> 0;
      lo = (lo ^ xl) >>> 0;
    }
    words[wordStart + 2 * i] = lo;
    words[wordStart + 2 * i + 1] = hi;
  }
}
