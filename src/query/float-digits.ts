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

/**
 * The four ASCII digits of 0..9999 as one little-endian word (the first digit in the low byte),
 * written with one DataView store: four digits per division.
 */
const QUAD_DIGITS = Uint32Array.from(
  { length: 10000 },
  (_, n) => (0x30 + Math.floor(n / 1000)) | ((0x30 + (Math.floor(n / 100) % 10)) << 8) | ((0x30 + (Math.floor(n / 10) % 10)) << 16) | ((0x30 + (n % 10)) << 24),
);
/** DECADE_START[k + DECADE_OFFSET] = 10^k (rounded for k < 0), k from -7 to 17. */
const DECADE_OFFSET = 7;
const DECADE_START = Float64Array.from({ length: 25 }, (_, i) => Number(`1e${i - DECADE_OFFSET}`));
/** HALF_ULP[b]: half an ulp of a normal double whose biased exponent is b, 2^(b - 1076). */
const HALF_ULP = Float64Array.from({ length: 2047 }, (_, b) => Math.pow(2, b - 1076));

/**
 * writeScaledDigits' answer for a value of at most 9 digits: shortAnswer[0] * 10^shortAnswer[1]
 * (a typed array, not variables: a double stored in a module variable is a heap number).
 */
const SHORT = -3;
const shortAnswer = new Float64Array(2);

/**
 * Writes the shortest round-trip digits of positive `a` (passed in f64[0]: a double argument to a
 * call that is not inlined, and this one is too big to be, is boxed in a fresh heap number, an
 * allocation per value) in [1e-6, 1e17) in fixed notation at
 * out[pos], returning the new position, or -1 when a decision was too close to call (nothing
 * meaningful written then).
 */
function writeScaledDigits(out: Uint8Array, pos: number): number {
  const a = f64[0]!;
  const highWord = u32[1]!;
  const lowWord = u32[0]!;
  const biasedExp = (highWord >>> 20) & 0x7ff;
  // floor(log10(a)) from the binary exponent (it may be one less), then one comparison; the loop
  // below corrects what a rounded power of ten could still get wrong (a retry per value was
  // ~40% of values before the comparison).
  let decade = Math.floor((biasedExp - 1023) * 0.3010299956639812);
  if (a >= DECADE_START[decade + 1 + DECADE_OFFSET]!) decade++;
  // At most 15 significant digits (a quarter of the values of a typical answer: averages of a
  // few hundred samples, gauges with a few decimals): 15-digit decimals are more than 4 ulps
  // apart, so at most one of them parses back to a, and it is then the shortest (a shorter one
  // would be a 15-digit one with trailing zeros) and the closest. n / 10^k, one IEEE division,
  // is exactly what parsing the decimal n * 10^-k gives, so the check is exact. When it fails
  // (not its range guard), no decimal of 15 digits or fewer parses back to a: 16 digits are the
  // shortest when one of them is inside, and the search for fewer below is skipped.
  let atLeast16 = false;
  if (decade <= 14) {
    const k = 14 - decade; // 0..20: a >= 1e-6
    const p15 = POW10[k]!;
    const n = Math.round(a * p15);
    if (n / p15 === a) {
      if (n >= 1e14 && n < 1e15) return writeDigits15(out, pos, n, decade);
    } else atLeast16 = true;
  }
  let s = 16 - decade;
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
  let q = Math.floor(hi * 1e-8); // may be one off (1e-8 is inexact): corrected with r below
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
  // The largest j (1..8) whose nearest multiple of 10^j is inside. Most answers (averages,
  // rates) need all 17 digits: j = 1 is tried first, and fails.
  const c1 = nearestInside(r, 1, halfUp, halfDown);
  if (c1 === UNDECIDED) return -1;
  if (c1 >= 0 && atLeast16) best = c1;
  else if (c1 >= 0) {
    // Fewer than 17 digits: how many fewer.
    best = shorterMultiple(r, c1, halfUp, halfDown);
    if (best === UNDECIDED) return -1;
    if (shorterAll8) {
      // At most 9 digits, all in q (best is 0 or 1e8). Written by the caller, which keeps this
      // function within the inlining budget of its digit writers (with writeShort inlined here,
      // --trace-turbo-inlining showed one of the two putDigits calls left a call).
      shortAnswer[0] = best === 0 ? q : q + 1;
      shortAnswer[1] = 8 - s;
      return SHORT;
    }
  }
  // (best < 1e8 here: an r that rounds up into q has j = 8 inside, see shorterMultiple. Checked
  // anyway, as every other assumption here is: String(v) answers what this cannot.)
  if (best >= 1e8) return -1;
  // Digits of C = q * 1e8 + best (17 digits), value = C * 10^-s, written straight into out (no
  // scratch copy), trailing zeros trimmed there.
  const intDigits = 17 - s;
  if (intDigits > 0) {
    // C one byte to the right, then its integer part moved one left and the point put after it.
    const from = pos + 1;
    putDigits17(out, from + 17, q, best);
    for (let i = 0; i < intDigits; i++) out[pos + i] = out[from + i]!;
    let end = from + 17;
    while (end > from + intDigits && out[end - 1] === 0x30) end--;
    if (end === from + intDigits) return pos + intDigits; // no fraction left
    out[pos + intDigits] = 0x2e; // .
    return end;
  }
  out[pos++] = 0x30; // 0
  out[pos++] = 0x2e; // .
  for (let i = intDigits; i < 0; i++) out[pos++] = 0x30;
  putDigits17(out, pos + 17, q, best);
  let end = pos + 17;
  while (out[end - 1] === 0x30) end--; // C >= 1e16: its first digit is not 0
  return end;
}

/**
 * Writes n * 10^(decade - 14) (n of 15 digits, the value not an integer) in fixed notation,
 * trailing zeros dropped.
 */
function writeDigits15(out: Uint8Array, pos: number, n: number, decade: number): number {
  if (decade >= 0) {
    // The 15 digits one byte to the right, the integer part moved back, the point after it.
    const from = pos + 1;
    putDigits15(out, from + 15, n);
    const intDigits = decade + 1;
    for (let i = 0; i < intDigits; i++) out[pos + i] = out[from + i]!;
    out[pos + intDigits] = 0x2e; // .
    let end = from + 15;
    while (out[end - 1] === 0x30) end--; // stops in the fraction: the value is not an integer
    return end;
  }
  out[pos++] = 0x30; // 0
  out[pos++] = 0x2e; // .
  for (let i = decade + 1; i < 0; i++) out[pos++] = 0x30;
  putDigits15(out, pos + 15, n);
  let end = pos + 15;
  while (out[end - 1] === 0x30) end--; // n's first digit is not 0
  return end;
}

/** Set by shorterMultiple: the multiple of 10^8 was inside (the value has at most 9 digits). */
let shorterAll8 = false;

/**
 * The nearest multiple of 10^j to r for the largest j (1..8) whose nearest multiple is inside,
 * given c1, that of j = 1 (inside); UNDECIDED when a decision is too close to call. Being inside
 * is monotone in j (a multiple of 10^j is one of 10^(j-1), and the nearest of those is at least
 * as close), so after j = 2 (16 digits are nearly as common as 17) the search tries j = 8 (values
 * of a few digits) and bisects. (Monotone when the interval is symmetric; it is not only at the
 * exact powers of two, 89 values in this range, and test/query/float-digits.test.ts checks
 * every one of them.) A best of 1e8 (r rounding up into q) is only possible with j = 8 inside:
 * the multiple of 10^8 nearest to such an r is 1e8 too, at the same distance.
 */
function shorterMultiple(r: number, c1: number, halfUp: number, halfDown: number): number {
  let best = c1;
  let inJ = 1; // largest j known inside
  let outJ = 9; // smallest j known outside (9: none yet)
  for (let j = 2; outJ - inJ > 1; j = inJ === 2 && outJ === 9 ? 8 : (inJ + outJ) >> 1) {
    const c = nearestInside(r, j, halfUp, halfDown);
    if (c === UNDECIDED) return UNDECIDED;
    if (c >= 0) {
      inJ = j;
      best = c;
    } else outJ = j;
  }
  shorterAll8 = inJ === 8;
  return best;
}

/** nearestInside's answer when the decision is within DECISION_MARGIN of its boundary. */
const UNDECIDED = -2;
/** nearestInside's answer when the nearest multiple is outside the interval. */
const OUTSIDE = -1;
/** 1 / 10^j, for the nearest multiple (r * (1/10^j) is within 2.3e-8 of r / 10^j, far inside the margin). */
const INV_POW10: number[] = Array.from({ length: 9 }, (_, j) => 1 / Number(`1e${j}`));

/**
 * The multiple of 10^j nearest to r (0 <= r < 1e8, scaled units) when it lies within
 * (r - halfDown, r + halfUp), OUTSIDE when not, UNDECIDED when either question is too close to call.
 */
function nearestInside(r: number, j: number, halfUp: number, halfDown: number): number {
  const pj = POW10[j]!;
  const x = r * INV_POW10[j]!;
  const xFloor = Math.floor(x);
  const xFrac = x - xFloor;
  if (Math.abs(xFrac - 0.5) < DECISION_MARGIN) return UNDECIDED;
  const c = (xFrac > 0.5 ? xFloor + 1 : xFloor) * pj;
  const d = c - r;
  if (d >= 0) {
    if (Math.abs(d - halfUp) < DECISION_MARGIN) return UNDECIDED;
    return d < halfUp ? c : OUTSIDE;
  }
  if (Math.abs(-d - halfDown) < DECISION_MARGIN) return UNDECIDED;
  return -d < halfDown ? c : OUTSIDE;
}

/**
 * Writes digits * 10^exp (digits an integer in [1e8, 1e9]: a value of at most 9 significant
 * digits, found by writeScaledDigits) in fixed notation, trailing zeros dropped.
 */
function writeShort(out: Uint8Array, pos: number, digits: number, exp: number): number {
  let d = digits;
  let e = exp;
  for (let next = (d / 10) | 0; next * 10 === d; next = (d / 10) | 0) {
    d = next;
    e++;
  }
  if (e >= 0) {
    // An integer of 2^53 or more (smaller ones never get here): its digits, then e zeros.
    pos = writeUint(out, pos, d);
    for (let i = 0; i < e; i++) out[pos++] = 0x30;
    return pos;
  }
  const n = digitCount(d);
  const intDigits = n + e;
  if (intDigits > 0) {
    // The digits one byte to the right, the integer part moved back, the point after it.
    putDigits(out, pos + 1 + n, d, n);
    for (let i = 0; i < intDigits; i++) out[pos + i] = out[pos + 1 + i]!;
    out[pos + intDigits] = 0x2e; // .
    return pos + 1 + n;
  }
  out[pos++] = 0x30; // 0
  out[pos++] = 0x2e; // .
  for (let i = intDigits; i < 0; i++) out[pos++] = 0x30;
  putDigits(out, pos + n, d, n);
  return pos + n;
}

/** The DataView over the last buffer putDigits wrote to (answers are written into one buffer). */
let viewOf: Uint8Array | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Decimal digits of an integer 1 <= x < 1e9. */
function digitCount(x: number): number {
  return x < 1e5 ? (x < 10 ? 1 : x < 100 ? 2 : x < 1000 ? 3 : x < 1e4 ? 4 : 5) : x < 1e7 ? (x < 1e6 ? 6 : 7) : x < 1e8 ? 8 : 9;
}

/**
 * Puts the `count` low decimal digits of the integer x (0 <= x < 2^31), as ASCII, at
 * digits[end - count, end). Four digits per step, from a table through a DataView store, in
 * int32 arithmetic (a division by a constant compiles to a multiplication): a digit per float
 * division was a third of the time of a whole value; 17 digits written four per step took 28 ns
 * where two per step took 52 (a throwaway timing of the digit writers alone, 3 Dec 2026).
 */
function putDigits(digits: Uint8Array, end: number, x: number, count: number): void {
  if (digits !== viewOf) {
    view = new DataView(digits.buffer, digits.byteOffset, digits.byteLength);
    viewOf = digits;
  }
  let v = x | 0;
  let i = end;
  const stop = end - count;
  while (i - 4 >= stop) {
    const q = (v / 10000) | 0;
    i -= 4;
    view.setUint32(i, QUAD_DIGITS[v - q * 10000]!, true);
    v = q;
  }
  while (i > stop) {
    const q = (v / 10) | 0;
    digits[--i] = 0x30 + (v - q * 10);
    v = q;
  }
}

/**
 * Puts the 17 digits of q * 1e8 + low (q of 9 digits, low of 8) at digits[end - 17, end): four
 * table words and a digit, no loop (20 ns where putDigits' loop took 28, in the same timing).
 */
function putDigits17(digits: Uint8Array, end: number, q: number, low: number): void {
  if (digits !== viewOf) {
    view = new DataView(digits.buffer, digits.byteOffset, digits.byteLength);
    viewOf = digits;
  }
  const lo = low | 0;
  const loHigh = (lo / 10000) | 0;
  view.setUint32(end - 4, QUAD_DIGITS[lo - loHigh * 10000]!, true);
  view.setUint32(end - 8, QUAD_DIGITS[loHigh]!, true);
  const hi = q | 0;
  const top = (hi / 100000000) | 0;
  const rest = hi - top * 100000000;
  const restHigh = (rest / 10000) | 0;
  view.setUint32(end - 12, QUAD_DIGITS[rest - restHigh * 10000]!, true);
  view.setUint32(end - 16, QUAD_DIGITS[restHigh]!, true);
  digits[end - 17] = 0x30 + top;
}

/** Puts the 15 digits of n (1e14 <= n < 1e15) at digits[end - 15, end). */
function putDigits15(digits: Uint8Array, end: number, n: number): void {
  if (digits !== viewOf) {
    view = new DataView(digits.buffer, digits.byteOffset, digits.byteLength);
    viewOf = digits;
  }
  const high = Math.floor(n / 1e8); // 7 digits
  const low = (n - high * 1e8) | 0;
  const lowHigh = (low / 10000) | 0;
  view.setUint32(end - 4, QUAD_DIGITS[low - lowHigh * 10000]!, true);
  view.setUint32(end - 8, QUAD_DIGITS[lowHigh]!, true);
  const hi = high | 0;
  const top = (hi / 10000) | 0; // 3 digits
  view.setUint32(end - 12, QUAD_DIGITS[hi - top * 10000]!, true);
  const topHigh = (top / 10) | 0;
  digits[end - 13] = 0x30 + (top - topHigh * 10);
  const topTop = (topHigh / 10) | 0;
  digits[end - 14] = 0x30 + (topHigh - topTop * 10);
  digits[end - 15] = 0x30 + topTop;
}

/** Digits of a non-negative integer below 2^53. */
export function writeUint(out: Uint8Array, pos: number, a: number): number {
  if (a < 10) {
    out[pos] = 0x30 + a;
    return pos + 1;
  }
  if (a < 1e9) {
    const n = digitCount(a);
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
    f64[0] = a;
    const end = writeScaledDigits(out, p);
    if (end >= 0) return end;
    if (end === SHORT) return writeShort(out, p, shortAnswer[0]!, shortAnswer[1]!);
  }
  const str = String(v);
  for (let i = 0; i < str.length; i++) out[pos++] = str.charCodeAt(i);
  return pos;
}
