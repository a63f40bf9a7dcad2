// Shortest round-trip decimal digits of a float64, written as ASCII bytes, for the values of
// query answers: what String(v) prints (and Go's strconv.FormatFloat(v, 'f', -1, 64), which
// Prometheus uses: the same shortest digits, the closest to v of the shortest), without making a
// JS string per value. A 30-day range answer is ~360k values; String(v) costs a call into the
// runtime and a heap string each, and the strings are then concatenated and encoded again
// (bench/micro/format-matrix.ts measures both).
//
// How: v = M * 2^E. Scale it by an exact power of ten 10^s (s <= 22) so that V = v * 10^s lies in
// [1e16, 1e17): V is computed exactly as a double-double (Dekker's product; 10^s is a double for
// s <= 22), then split into Q * 1e8 + R (Q an integer of 9 digits, R known to ~1e-8). Every
// decimal within half an ulp of v (scaled: 2^(E-1) * 10^s, exact; the gap below a power of two
// is half that) parses back to v. V's nearest integer is always inside (the half-ulp is >= 1.1
// scaled units), so 17 digits always do; the shortest digits are the nearest multiple of 10^j to
// V for the largest j whose nearest multiple is still inside (if one multiple of 10^j is inside,
// the nearest is; the answer is the closest of the shortest, as the ECMAScript and Go rules ask).
// Any decision closer than 1e-7 scaled units to its boundary (a tie, an interval end, where the
// even-mantissa rule would matter) returns -1 and the caller uses String(v): exact in every case,
// fast in nearly all. Integers below 2^53 print their digits directly. Tested against String(v)
// on millions of values of many shapes (test/query/float-digits.test.ts).

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer); // u32[0] low word, u32[1] high word: little-endian hosts
/** Big-endian hosts (rare for Node) take String(v) for every value. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const POW10: number[] = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const VELTKAMP_SPLIT = 134217729; // 2^27 + 1
/** How close (scaled units) a decision may come to its boundary before we defer to String(v). */
const DECISION_MARGIN = 1e-7;
const TWO_POW_53 = 9007199254740992;
/** |v| below this prints in exponent form (Go's MarshalFloat and JS both switch at 1e-6 / 1e21). */
const FIXED_MIN = 1e-6;
/** Above this the scaled value would need s < 0; String(v) handles [1e17, 1e21). */
const FAST_MAX = 1e17;

/** ASCII tens and ones digit of 0..99: two digits per division. */
const PAIR_TENS = Uint8Array.from({ length: 100 }, (_, i) => 0x30 + Math.floor(i / 10));
const PAIR_ONES = Uint8Array.from({ length: 100 }, (_, i) => 0x30 + (i % 10));
/** HALF_ULP[b]: half an ulp of a normal double whose biased exponent is b, 2^(b - 1076). */
const HALF_ULP = Float64Array.from({ length: 2047 }, (_, b) => Math.pow(2, b - 1076));

/**
 * Writes the shortest round-trip digits of positive `a` in [1e-6, 1e17) in fixed notation at
 * out[pos], returning the new position, or -1 when a decision was too close to call (nothing
 * meaningful written then).
 */
function writeScaledDigits(out: Uint8Array, pos: number, a: number): number {
  f64[0] = a;
  const highWord = u32[1]!;
  const lowWord = u32[0]!;
  const biasedExp = (highWord >>> 20) & 0x7ff;
  // Decimal exponent estimate from the binary one; may be one off, corrected below.
  let s = 16 - Math.floor((biasedExp - 1023) * 0.3010299956639812);
  let hi = 0;
  let lo = 0;
  for (let tries = 0; ; tries++) {
    if (tries > 3 || s < 0 || s > 22) return -1;
    const p = POW10[s]!;
    hi = a * p;
    let t = VELTKAMP_SPLIT * a;
    const ah = t - (t - a);
    const al = a - ah;
    t = VELTKAMP_SPLIT * p;
    const ph = t - (t - p);
    const pl = p - ph;
    lo = ah * ph - hi + ah * pl + al * ph + al * pl;
    if (hi < 1e16 || (hi === 1e16 && lo < 0)) s++;
    else if (hi > 1e17 || (hi === 1e17 && lo >= 0)) s--;
    else break;
  }
  // V = hi + lo = q * 1e8 + r. hi - q * 1e8 is exact (both are multiples of hi's ulp, the
  // difference is below 1e8); adding lo (|lo| <= 8) rounds by at most 2^-27.
  let q = Math.floor(hi / 1e8);
  let r = hi - q * 1e8 + lo;
  if (r < 0) {
    q--;
    r += 1e8;
  } else if (r >= 1e8) {
    q++;
    r -= 1e8;
  }
  // Half an ulp of a, scaled: 2^(E-1) * 10^s with E = biasedExp - 1075 (exact: a power of two
  // times a double).
  const halfUp = HALF_ULP[biasedExp]! * POW10[s]!;
  const halfDown = (highWord & 0xfffff) === 0 && lowWord === 0 && biasedExp > 1 ? halfUp / 2 : halfUp;

  const rFloor = Math.floor(r);
  const rFrac = r - rFloor;
  if (Math.abs(rFrac - 0.5) < DECISION_MARGIN) return -1;
  let best = rFrac > 0.5 ? rFloor + 1 : rFloor;
  for (let j = 1; j <= 8; j++) {
    const pj = POW10[j]!;
    const x = r / pj;
    const xFloor = Math.floor(x);
    const xFrac = x - xFloor;
    if (Math.abs(xFrac - 0.5) < DECISION_MARGIN) return -1;
    const c = (xFrac > 0.5 ? xFloor + 1 : xFloor) * pj;
    const d = c - r;
    let inside: boolean;
    if (d >= 0) {
      if (Math.abs(d - halfUp) < DECISION_MARGIN) return -1;
      inside = d < halfUp;
    } else {
      if (Math.abs(-d - halfDown) < DECISION_MARGIN) return -1;
      inside = -d < halfDown;
    }
    if (!inside) break;
    best = c;
  }
  // (When the multiple of 1e8 is inside, further zeros come from q; trailing zeros are trimmed
  // below, which gives the same digits.)
  if (best >= 1e8) {
    q++;
    best -= 1e8;
  }
  // Digits of C = q * 1e8 + best (17 digits, or 18 when q reached 1e9), value = C * 10^-s,
  // written straight into out (no scratch copy), trailing zeros trimmed there.
  const nd = q >= 1e9 ? 18 : 17;
  const intDigits = nd - s;
  if (intDigits > 0) {
    // C one byte to the right, then its integer part moved one left and the point put after it.
    const from = pos + 1;
    putDigits(out, from + nd, best, 8);
    putDigits(out, from + nd - 8, q, nd - 8);
    for (let i = 0; i < intDigits; i++) out[pos + i] = out[from + i]!;
    let end = from + nd;
    while (end > from + intDigits && out[end - 1] === 0x30) end--;
    if (end === from + intDigits) return pos + intDigits; // no fraction left
    out[pos + intDigits] = 0x2e; // .
    return end;
  }
  out[pos++] = 0x30; // 0
  out[pos++] = 0x2e; // .
  for (let i = intDigits; i < 0; i++) out[pos++] = 0x30;
  putDigits(out, pos + nd, best, 8);
  putDigits(out, pos + nd - 8, q, nd - 8);
  let end = pos + nd;
  while (out[end - 1] === 0x30) end--; // C >= 1e16: its first digit is not 0
  return end;
}

/**
 * Puts the `count` low decimal digits of the integer x (0 <= x < 2^31), as ASCII, at
 * digits[end - count, end). Two digits per step through a table, in int32 arithmetic (a division
 * by a constant compiles to a multiplication): a digit per float division was a third of the
 * time of a whole value.
 */
function putDigits(digits: Uint8Array, end: number, x: number, count: number): void {
  let v = x | 0;
  let i = end;
  const stop = end - count;
  while (i - 2 >= stop) {
    const q = (v / 100) | 0;
    const pair = v - q * 100;
    digits[--i] = PAIR_ONES[pair]!;
    digits[--i] = PAIR_TENS[pair]!;
    v = q;
  }
  if (i > stop) digits[--i] = 0x30 + (v - ((v / 10) | 0) * 10);
}

/** Digits of a non-negative integer below 2^53. */
export function writeUint(out: Uint8Array, pos: number, a: number): number {
  if (a < 10) {
    out[pos] = 0x30 + a;
    return pos + 1;
  }
  if (a < 1e9) {
    const n = a < 1e5 ? (a < 100 ? 2 : a < 1000 ? 3 : a < 1e4 ? 4 : 5) : a < 1e7 ? (a < 1e6 ? 6 : 7) : a < 1e8 ? 8 : 9;
    putDigits(out, pos + n, a, n);
    return pos + n;
  }
  const high = Math.floor(a / 1e9);
  const highDigits = high < 10 ? 1 : String(high).length;
  putDigits(out, pos + highDigits + 9, a - high * 1e9, 9);
  putDigits(out, pos + highDigits, high, highDigits);
  return pos + highDigits + 9;
}

/**
 * Writes String(v) for a finite non-zero v with 1e-6 <= |v| < 1e21 (fixed notation: the range
 * where Prometheus' MarshalFloat and JS print the same) at out[pos]; out needs 24 free bytes.
 * Returns the new position. Values the fast path cannot decide are printed by String(v).
 */
export function writeFixedFloat(out: Uint8Array, pos: number, v: number): number {
  let a = v;
  let p = pos;
  if (a < 0) {
    out[p++] = 0x2d; // -
    a = -a;
  }
  if (a >= FIXED_MIN && a < FAST_MAX && LITTLE_ENDIAN) {
    if (a < TWO_POW_53 && Math.floor(a) === a) return writeUint(out, p, a);
    const end = writeScaledDigits(out, p, a);
    if (end >= 0) return end;
  }
  const str = String(v);
  for (let i = 0; i < str.length; i++) out[pos++] = str.charCodeAt(i);
  return pos;
}
