// writeFixedFloat must print exactly what String(v) prints (the shortest round-trip digits, the
// closest of them: Go's FormatFloat 'f' -1 for Prometheus' range), for every kind of value a query
// answers: random bit patterns, decimals of a few digits and their sums and quotients (averages,
// rates), integers, powers of ten and their neighbours, values next to rounding ties.
import { describe, expect, test } from 'vitest';
import { labelsFromRecord } from '../../src/model/labels.js';
import { writeFixedFloat, writeUint } from '../../src/query/float-digits.js';
import { formatFloat, formatQueryData, formatTimestamp, JsonBytes, writeQueryData } from '../../src/query/format.js';
import { mulberry32 as prng } from '../helpers/prng.js';

const out = new Uint8Array(64);
const decoder = new TextDecoder();

function printed(v: number): string {
  return decoder.decode(out.subarray(0, writeFixedFloat(out, 0, v)));
}

function inFixedRange(v: number): boolean {
  const a = Math.abs(v);
  return a >= 1e-6 && a < 1e21;
}

/** Checks every value, returns the mismatches (at most 10) as [String(v), printed]. */
function mismatches(values: Iterable<number>): [string, string][] {
  const bad: [string, string][] = [];
  let checked = 0;
  for (const v of values) {
    if (!inFixedRange(v)) continue;
    checked++;
    const want = String(v);
    const got = printed(v);
    if (got !== want && bad.length < 10) bad.push([want, got]);
  }
  expect(checked).toBeGreaterThan(0);
  return bad;
}

function* generate(n: number, f: (i: number) => number): Generator<number> {
  for (let i = 0; i < n; i++) yield f(i);
}

describe('writeFixedFloat prints String(v)', () => {
  const rnd = prng(42);
  const f64 = new Float64Array(1);
  const u32 = new Uint32Array(f64.buffer);

  test('random bit patterns', () => {
    expect(
      mismatches(
        generate(300_000, () => {
          u32[0] = (rnd() * 2 ** 32) >>> 0;
          // exponents spread over the fixed range [1e-6, 1e21): biased 1003..1093
          u32[1] = ((1003 + Math.floor(rnd() * 91)) << 20) | ((rnd() * 2 ** 20) >>> 0) | (rnd() < 0.5 ? 0x80000000 : 0);
          return f64[0]!;
        }),
      ),
    ).toEqual([]);
  });

  test('log-uniform magnitudes, both signs', () => {
    expect(mismatches(generate(200_000, () => Math.pow(10, rnd() * 27 - 6) * (rnd() < 0.5 ? 1 : -1)))).toEqual([]);
  });

  test('short decimals, their sums, averages and rates', () => {
    expect(mismatches(generate(200_000, () => Math.round(rnd() * 1e6) / Math.pow(10, Math.floor(rnd() * 10))))).toEqual([]);
    const sums: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      let sum = 0;
      const count = 1 + Math.floor(rnd() * 300);
      for (let j = 0; j < 8; j++) sum += Math.round(rnd() * 1000) / 10;
      sums.push(sum, sum / count, (sum * 3600) / count, sum / 3600, sum / 300 / 1.5);
    }
    expect(mismatches(sums)).toEqual([]);
  });

  test('integers and integers scaled by powers of two', () => {
    expect(mismatches(generate(100_000, (i) => (i % 2 === 0 ? Math.floor(rnd() * 2 ** 53) : Math.floor(rnd() * 2 ** 53) / 1024)))).toEqual([]);
    expect(mismatches([1, 9, 10, 99, 100, 999999999, 1e9, 1e9 + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 1e17, 1e20, 123456789012345680000])).toEqual([]);
  });

  test('powers of ten, their multiples and neighbours; powers of two', () => {
    const values: number[] = [];
    for (let e = -6; e <= 20; e++) {
      const p = Number(`1e${e}`);
      values.push(p, p * (1 + 2 ** -52), p * (1 - 2 ** -53), -p);
      for (let k = 1; k < 200; k++) values.push(p * k, p * k + p / 3);
    }
    for (let e = -19; e <= 69; e++) values.push(2 ** e, 2 ** e * (1 - 2 ** -53), 2 ** e * (1 + 2 ** -52));
    expect(mismatches(values)).toEqual([]);
  });

  test('halfway-looking decimals (x.5 at the 17th digit and the like)', () => {
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const digits = 1 + Math.floor(rnd() * 17);
      const m = Math.floor(rnd() * 10 ** Math.min(digits, 15)) * 10 + 5;
      values.push(m / Math.pow(10, Math.floor(rnd() * 20)));
    }
    expect(mismatches(values)).toEqual([]);
  });

  test('decimals of up to 9 digits at every scale, and the ones that round up into the next digit', () => {
    // The short path: a value of <= 9 significant digits is written from the high digits alone.
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const digits = 1 + Math.floor(rnd() * 9);
      const k = Math.floor(rnd() * 10 ** digits);
      values.push(k / Math.pow(10, Math.floor(rnd() * 23)));
    }
    // 9.9999999, 99999999.5 and the like: the nearest short decimal carries into a new digit.
    for (let e = -6; e <= 16; e++) for (let n = 1; n <= 9; n++) values.push((10 ** n - 1) * 10 ** (e - n), 10 ** e * (1 - 2 ** -52), 10 ** e * (1 - 2 ** -50));
    expect(mismatches(values)).toEqual([]);
  });

  test('decimals of 10 to 16 digits at every scale, their neighbours, and 15-digit decimals with trailing zeros', () => {
    // The 15-digit path (n / 10^k === a): at most 15 digits are written from n; 16 digits go the
    // long way. Neighbours one ulp off a 15-digit decimal are not one.
    const values: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const digits = 10 + Math.floor(rnd() * 7);
      const k = Math.floor(rnd() * 10 ** digits);
      const v = k / Math.pow(10, Math.floor(rnd() * (digits + 7)));
      f64[0] = v;
      u32[0] = u32[0]! + (i % 3) - 1; // the value itself and both neighbours (the low word: no carry worth caring about)
      values.push(v, f64[0]!);
    }
    for (let decade = -6; decade <= 15; decade++) {
      for (let i = 0; i < 2_000; i++) values.push(Math.floor(1e14 + rnd() * 9e14) * 10 ** (decade - 14), (Math.floor(rnd() * 9e4) + 1e4) * 1e10 * 10 ** (decade - 14));
    }
    expect(mismatches(values)).toEqual([]);
  });

  test('short and long values next to powers of two (the interval is narrower below them)', () => {
    const values: number[] = [];
    for (let e = -19; e <= 56; e++) {
      const p = 2 ** e;
      for (let k = 1; k <= 64; k++) values.push(p * (1 + k * 2 ** -52), p * (1 - k * 2 ** -53), p + p / (k + 2), Math.round(p * 1000) / 1000);
    }
    expect(mismatches(values)).toEqual([]);
  });

  test('writeUint', () => {
    for (const n of [0, 7, 10, 999_999_999, 1_000_000_000, 1_000_000_007, 2 ** 53 - 1]) {
      expect(decoder.decode(out.subarray(0, writeUint(out, 0, n)))).toBe(String(n));
    }
  });
});

describe('JsonBytes', () => {
  test('points are formatTimestamp and formatFloat, joined', () => {
    const rnd = prng(7);
    const n = 5000;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-7, -2.5e-10, 1e21, 5e-324, 1.7976931348623157e308];
    for (let i = 0; i < n; i++) {
      ts[i] = i % 3 === 0 ? 1_700_000_000_000 + i * 15_000 : i % 3 === 1 ? Math.floor(rnd() * 4e12) - 1e12 : 1_700_000_000_000 + i;
      vs[i] = i < specials.length ? specials[i]! : i % 2 === 0 ? (rnd() - 0.5) * 1e4 : Math.round(rnd() * 1e5) / 100;
    }
    const w = new JsonBytes(16);
    w.points(ts, vs);
    const want = Array.from(ts, (t, i) => `[${formatTimestamp(t)},"${formatFloat(vs[i]!)}"]`).join(',');
    expect(w.toString()).toBe(want);
  });

  test('a time grid gives the same bytes, for points on it, off it, before and after it', () => {
    const startMs = 1_700_000_000_000;
    const stepMs = 15_500;
    const ts = new Float64Array([startMs - stepMs, startMs, startMs + 3 * stepMs, startMs + 3 * stepMs + 1, startMs + 9 * stepMs, startMs + 10 * stepMs, -1500]);
    const vs = new Float64Array(ts.length).map((_, i) => i / 3);
    const plain = new JsonBytes().points(ts, vs).toString();
    const gridded = new JsonBytes().setTimeGrid(startMs, stepMs, 10).points(ts, vs).ascii('|').points(ts, vs).toString();
    expect(gridded).toBe(plain + '|' + plain);
    expect(plain).toContain('[1700000046.500,"0.6666666666666666"]');
  });

  test('a matrix answer with a time grid is the answer without one, sparse or dense', () => {
    const startMs = 1_700_000_000_000;
    const stepMs = 60_000;
    const series = (n: number, from: number) => ({
      labels: labelsFromRecord({ a: String(n) }),
      timestampsMs: Float64Array.from({ length: n }, (_, i) => startMs + (from + i) * stepMs),
      values: Float64Array.from({ length: n }, (_, i) => i / 7),
    });
    for (const result of [[series(3, 5)], [series(100, 0), series(40, 60)]]) {
      const answer = { resultType: 'matrix' as const, result };
      const w = new JsonBytes().setTimeGrid(startMs, stepMs, 100);
      writeQueryData(w, answer);
      expect(w.toString()).toBe(formatQueryData(answer));
    }
  });

  test('pooled documents reuse a released buffer, never one still in use', () => {
    const answer = (n: number) => ({
      resultType: 'matrix' as const,
      result: [{ labels: labelsFromRecord({ n: String(n) }), timestampsMs: Float64Array.from({ length: 5000 }, (_, i) => 1_700_000_000_000 + i * 1000), values: Float64Array.from({ length: 5000 }, (_, i) => (i + n) / 3) }],
    });
    const a = JsonBytes.pooled();
    writeQueryData(a, answer(1));
    const aBytes = a.bytes();
    const aText = aBytes.toString();
    // Not released: a second document gets a buffer of its own, and a's bytes stay as written.
    const b = JsonBytes.pooled();
    writeQueryData(b, answer(2));
    expect(b.bytes().buffer).not.toBe(aBytes.buffer);
    expect(aBytes.toString()).toBe(aText);
    expect(b.toString()).toBe(formatQueryData(answer(2)));
    // Released: the next document writes into a's buffer, and its answer is its own.
    a.release();
    expect(a.length).toBe(0);
    const c = JsonBytes.pooled();
    writeQueryData(c, answer(3));
    expect(c.bytes().buffer).toBe(aBytes.buffer);
    expect(c.toString()).toBe(formatQueryData(answer(3)));
    // A document released twice gives its buffer back once.
    b.release();
    b.release();
    const d = JsonBytes.pooled();
    const e = JsonBytes.pooled();
    writeQueryData(d, answer(4));
    writeQueryData(e, answer(5));
    expect(d.bytes().buffer).not.toBe(e.bytes().buffer);
    expect(e.toString()).toBe(formatQueryData(answer(5)));
    expect(d.toString()).toBe(formatQueryData(answer(4)));
    c.release();
    d.release();
    e.release();
  });

  test('grows from a tiny buffer and keeps UTF-8 text', () => {
    const w = new JsonBytes(16);
    const labels = labelsFromRecord({ a: 'é😀', b: 'x'.repeat(100) });
    for (let i = 0; i < 100; i++) w.ascii('{').text(JSON.stringify(labels)).float(i / 7).timestamp(i).ascii('}');
    let want = '';
    for (let i = 0; i < 100; i++) want += '{' + JSON.stringify(labels) + formatFloat(i / 7) + formatTimestamp(i) + '}';
    expect(w.toString()).toBe(want);
    expect(w.bytes().length).toBe(Buffer.byteLength(want));
  });
});
