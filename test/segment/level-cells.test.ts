// Level cell encoders (segment/level-encoding.ts) on their own: every block round-trips bit for
// bit whatever the field bits are (NaN payloads, -0, ±Inf, stale markers), the modes for
// redundant fields (M_ULP, M_RATIO, M_SCALED) are chosen where they should be, and malformed
// cells of these modes are EncodingErrors (SEGMENT_CORRUPT once the reader wraps them; one
// end-to-end case below), never a crash or a wrong value.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STALE_NAN } from '../../src/model/samples.js';
import { isMochaError } from '../../src/errors.js';
import { buildBuckets, RollupBuckets } from '../../src/rollup/buckets.js';
import { ByteSink, EncodingError } from '../../src/segment/encoding/index.js';
import { segmentName } from '../../src/segment/format.js';
import {
  DIV_COUNT,
  DIV_COUNT_RESIDUE,
  DIV_ONE,
  LEVEL_FIELDS,
  M_RATIO,
  M_SCALED,
  M_ULP,
  P_COUNT_MID,
  P_M2_RAMP,
  P_SUM_OVER_COUNT,
  P_ZERO,
  decodeLevelBlock,
  decodeLevelBlockFieldsInto,
  encodeLevelBlock,
  LEVEL_FIELDS_ALL,
} from '../../src/segment/level-encoding.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment } from '../../src/segment/level-writer.js';
import { mulberry32 } from '../helpers/prng.js';
import { bucketsDiff, genLevelSeries, LEVEL_SHAPES } from './level-helpers.js';

const W = 300_000;
const T0 = 1_700_006_400_000;
const fieldIndex = (f: (typeof LEVEL_FIELDS)[number]) => LEVEL_FIELDS.indexOf(f);

function encode(b: RollupBuckets): Uint8Array[] {
  const sinks = LEVEL_FIELDS.map(() => new ByteSink(64));
  encodeLevelBlock(b, 0, b.length, sinks);
  return sinks.map((s) => s.view().slice());
}

function decode(cells: Uint8Array[], n: number, widthMs = W): RollupBuckets {
  return decodeLevelBlock(
    cells.map((bytes) => ({ bytes, start: 0, end: bytes.length })),
    n,
    widthMs,
  );
}

function roundTrip(b: RollupBuckets): Uint8Array[] {
  const cells = encode(b);
  expect(bucketsDiff(decode(cells, b.length, b.widthMs), b)).toBeUndefined();
  // Field by field, as the reader decodes what a query reads: each field alone (with the fields
  // its cell is predicted from, which the answer names and which must be right too), then the
  // others on top of those.
  const refs = cells.map((bytes) => ({ bytes, start: 0, end: bytes.length }));
  for (let f = 1; f < LEVEL_FIELDS.length; f++) {
    const out = new RollupBuckets(b.widthMs, b.length);
    const have = decodeLevelBlockFieldsInto(refs, b.length, b.widthMs, out, 1 << f, 0);
    expect((have >>> f) & 1).toBe(1);
    expect(bucketsDiff(out, b, LEVEL_FIELDS.filter((_, i) => ((have >>> i) & 1) === 1)), `${LEVEL_FIELDS[f]} alone`).toBeUndefined();
    expect(decodeLevelBlockFieldsInto(refs, b.length, b.widthMs, out, LEVEL_FIELDS_ALL, have)).toBe(LEVEL_FIELDS_ALL);
    expect(bucketsDiff(out, b), `the rest after ${LEVEL_FIELDS[f]}`).toBeUndefined();
  }
  return cells;
}

/** Counters with integer increments and gauges walking in tenths, as the rollup benchmark's data. */
function benchLike(kind: 'counter' | 'gauge', seed: number, scrapes = 2000): RollupBuckets {
  const rnd = mulberry32(seed);
  const ts = new Float64Array(scrapes);
  const vs = new Float64Array(scrapes);
  let x = kind === 'counter' ? Math.floor(rnd() * 1e6) : Math.floor(rnd() * 1000);
  const rate = 1 + Math.floor(rnd() * 50);
  for (let k = 0; k < scrapes; k++) {
    ts[k] = T0 + k * 15_000 + 123;
    x += kind === 'counter' ? Math.floor(rnd() * (2 * rate + 1)) : Math.floor(rnd() * 11) - 5;
    vs[k] = kind === 'counter' ? x : x / 10;
  }
  return buildBuckets(ts, vs, W);
}

/** A copy of rows [0, n) of b. */
function head(b: RollupBuckets, n: number): RollupBuckets {
  const out = new RollupBuckets(b.widthMs, n);
  for (const f of LEVEL_FIELDS) (out[f] as Float64Array).set((b[f] as Float64Array).subarray(0, n));
  return out;
}

const SPECIALS = [NaN, STALE_NAN, Infinity, -Infinity, -0, 0, Number.MIN_VALUE, -Number.MAX_VALUE, 2 ** 60, 1e-300];
/** A NaN with payload p (quiet bit set, sign s). */
function nanWithPayload(p: number, s: number): number {
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  u[0] = p >>> 0;
  u[1] = (0x7ff80000 | (s << 31) | ((p >>> 3) & 0x7ffff)) >>> 0;
  return f[0]!;
}

describe('level cells round trip', () => {
  it('counters and decimal gauges pick ulp / ratio / scaled modes, and shrink', () => {
    for (const kind of ['counter', 'gauge'] as const) {
      const b = benchLike(kind, kind === 'counter' ? 1 : 2);
      const cells = roundTrip(b);
      expect(cells[fieldIndex('mean')]![0]).toBe(M_ULP);
      expect(cells[fieldIndex('m2')]![0]).toBe(M_RATIO);
      expect(cells[fieldIndex('m2')]![3]).toBe(DIV_COUNT_RESIDUE);
      if (kind === 'gauge') {
        expect(cells[fieldIndex('sum')]![0]).toBe(M_RATIO);
        expect(cells[fieldIndex('sumC')]![0]).toBe(M_SCALED);
        expect(cells[fieldIndex('correction')]![0]).toBe(M_RATIO);
      }
      // m2 costs about 2 bytes a bucket, not 8.
      expect(cells[fieldIndex('m2')]!.length).toBeLessThan(4 * b.length);
    }
  });

  it('property: bench-like blocks with arbitrary bits written over some fields', () => {
    const fields = LEVEL_FIELDS.filter((f) => f !== 'endMs' && f !== 'count' && f !== 'resets' && f !== 'changes');
    fc.assert(
      fc.property(
        fc.constantFrom('counter' as const, 'gauge' as const),
        fc.integer({ min: 1, max: 1 << 30 }),
        fc.integer({ min: 1, max: 288 }),
        fc.array(
          fc.record({
            field: fc.constantFrom(...fields),
            row: fc.nat(),
            value: fc.oneof(fc.constantFrom(...SPECIALS), fc.double(), fc.tuple(fc.nat(), fc.integer({ min: 0, max: 1 })).map(([p, s]) => nanWithPayload(p, s))),
          }),
          { maxLength: 12 },
        ),
        (kind, seed, n, edits) => {
          const b = head(benchLike(kind, seed, n * 20 + 20), n);
          for (const e of edits) (b[e.field] as Float64Array)[e.row % n] = e.value;
          roundTrip(b); // invariants may break: the encoder does not care, it must keep the bits
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: one bucket field with arbitrary bits in every row (ulp / ratio / scaled patches)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('mean' as const, 'm2' as const, 'sum' as const, 'sumC' as const, 'correction' as const),
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.oneof(fc.constantFrom(...SPECIALS), fc.double(), fc.integer().map((k) => k * 2 ** -47), fc.integer({ min: -1e6, max: 1e6 }).map((k) => k / 10)), { minLength: 64, maxLength: 64 }),
        (field, n, values) => {
          const b = head(benchLike('gauge', n, n * 20 + 20), n);
          for (let i = 0; i < n; i++) (b[field] as Float64Array)[i] = values[i]!;
          roundTrip(b);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('every generated shape round-trips', () => {
    for (const s of genLevelSeries(LEVEL_SHAPES.length * 2, T0, T0 + 6 * 3_600_000, 15_000, W, mulberry32(3))) roundTrip(s.buckets);
  });

  it('tiny negative sums (rounding to -0 at the ratio scale) keep their sign', () => {
    const b = head(benchLike('gauge', 7, 400), 8);
    b.sum[1] = -5e-324;
    b.sum[2] = -1e-310;
    b.correction[3] = -5e-324;
    roundTrip(b);
  });

  it('ulps across a power of two and sumC in subnormal or huge ranges', () => {
    const b = head(benchLike('gauge', 5, 400), 16);
    b.mean[0] = 2; // sum/count may sit just below 2: the difference crosses an exponent
    b.sum[0] = 2 * b.count[0]! - 2 ** -40;
    b.sumC.fill(5e-324); // subnormal: M_SCALED's exponent would be below its minimum
    roundTrip(b);
    b.sumC.fill(0);
    b.sumC[3] = 2 ** 900;
    b.sumC[4] = 3 * 2 ** -900;
    roundTrip(b);
  });
});

/** A block of 4 gauge buckets and its cells, to break one cell of. */
function sample(): { b: RollupBuckets; cells: Uint8Array[] } {
  const b = head(benchLike('gauge', 11, 200), 4);
  return { b, cells: encode(b) };
}

function expectBad(cells: Uint8Array[], n: number, message: RegExp): void {
  let err: unknown;
  try {
    decode(cells, n);
  } catch (e) {
    err = e;
  }
  expect(err, 'decode must fail').toBeInstanceOf(EncodingError);
  expect((err as Error).message).toMatch(message);
}

function withCell(cells: Uint8Array[], field: (typeof LEVEL_FIELDS)[number], bytes: number[] | Uint8Array): Uint8Array[] {
  const out = cells.slice();
  out[fieldIndex(field)] = Uint8Array.from(bytes);
  return out;
}

// PFOR block of 4 zeros: width 0, base 0, no exceptions.
const PFOR0 = [0, 0, 0];

describe('corrupt ulp / ratio / scaled cells', () => {
  const { cells } = sample();
  it('ulp: predictor not allowed, truncated, patch index out of range, left-over bytes', () => {
    expectBad(withCell(cells, 'mean', [M_ULP, P_COUNT_MID, 0, ...PFOR0]), 4, /mean: ulp predictor 66/);
    expectBad(withCell(cells, 'mean', [M_ULP, P_SUM_OVER_COUNT, 0]), 4, /mean: /);
    expectBad(withCell(cells, 'mean', [M_ULP, P_SUM_OVER_COUNT, 1, ...PFOR0, 9, 0, 0, 0, 0, 0, 0, 0, 0]), 4, /bad patch index 9/);
    expectBad(withCell(cells, 'mean', [M_ULP, P_SUM_OVER_COUNT, 0, ...PFOR0, 7]), 4, /1 bytes left over/);
    expectBad(withCell(cells, 'sum', [M_ULP, P_SUM_OVER_COUNT, 0, ...PFOR0]), 4, /sum: ulp predictor/);
  });
  it('ulp: a difference that leaves the float64 range', () => {
    // r = -2^31 in every slot (width 0, base zigzag(-2^31) = 2^32 - 1, no exceptions) below a predictor of +0.
    const big = [0, ...varintOf(2 ** 32 - 1), 0];
    const b = head(benchLike('gauge', 11, 200), 4);
    b.sum.fill(0);
    b.count.fill(1);
    const c = encode(b);
    expectBad(withCell(c, 'mean', [M_ULP, P_SUM_OVER_COUNT, 0, ...big]), 4, /leave the float64 range/);
  });
  it('ratio: exponent, divisor kind, odd residue exponent, ulp tag, predictor', () => {
    expectBad(withCell(cells, 'sum', [M_RATIO, P_ZERO, 37, DIV_ONE, 0, ...PFOR0, 0]), 4, /too big exponent; got 37/);
    expectBad(withCell(cells, 'sum', [M_RATIO, P_ZERO, 1, 7, 0, ...PFOR0, 0]), 4, /divisor kind 7/);
    expectBad(withCell(cells, 'sum', [M_RATIO, P_ZERO, 1, DIV_COUNT, 0, ...PFOR0, 0]), 4, /divisor kind 1 is not one of 0/);
    expectBad(withCell(cells, 'm2', [M_RATIO, P_M2_RAMP, 1, DIV_COUNT_RESIDUE, 0, ...PFOR0, 0]), 4, /odd exponent 1/);
    expectBad(withCell(cells, 'm2', [M_RATIO, P_M2_RAMP, 2, DIV_COUNT, 0, ...PFOR0, 5]), 4, /unknown ulp residual tag 5/);
    expectBad(withCell(cells, 'm2', [M_RATIO, P_COUNT_MID, 2, DIV_COUNT, 0, ...PFOR0, 0]), 4, /ratio predictor 66/);
    expectBad(withCell(cells, 'mean', [M_RATIO, P_ZERO, 0, DIV_ONE, 0, ...PFOR0, 0]), 4, /mean: ratio predictor/);
    expectBad(withCell(cells, 'sum', [M_RATIO, P_ZERO, 1, DIV_ONE, 0, ...PFOR0]), 4, /sum: /); // truncated before the ulp tag
  });
  it('ratio: an integer past 2^50, a bucket with count 0', () => {
    // d = 2^50 in every slot: width 0, base zigzag(2^50) = 2^51.
    expectBad(withCell(cells, 'sum', [M_RATIO, P_ZERO, 0, DIV_ONE, 0, 0, ...varintOf(2 ** 51), 0, 0]), 4, /too big integer/);
    const b = head(benchLike('gauge', 11, 200), 4);
    const c = encode(b);
    // count 0 in bucket 0 (a plain count cell), then m2 over count: scale 0.
    const sink = new ByteSink(16);
    const b0 = new RollupBuckets(W, 4);
    b0.count.set([0, 1, 2, 3]);
    b0.endMs.set(b.endMs);
    encodeLevelBlock(b0, 0, 4, LEVEL_FIELDS.map((f) => (f === 'count' ? sink : new ByteSink(16))));
    const c2 = c.slice();
    c2[fieldIndex('count')] = sink.view().slice();
    expectBad(withCell(c2, 'm2', [M_RATIO, P_ZERO, 2, DIV_COUNT, 0, ...PFOR0, 0]), 4, /scale 0/);
  });
  it('scaled: only for sum_c, exponent range, truncated', () => {
    expectBad(withCell(cells, 'm2', [M_SCALED, 0, 0, ...PFOR0]), 4, /scaled mode on a field other than sum_c/);
    expectBad(withCell(cells, 'sumC', [M_SCALED, ...varintOf(2 * 1001), 0, ...PFOR0]), 4, /exponent 1001 outside/);
    expectBad(withCell(cells, 'sumC', [M_SCALED, ...varintOf(2 * 1001 - 1), 0, ...PFOR0]), 4, /exponent -1001 outside/);
    expectBad(withCell(cells, 'sumC', [M_SCALED, 0]), 4, /sum_c: /);
    expectBad(withCell(cells, 'sumC', [M_SCALED, 0, 0, 0, ...varintOf(2 ** 51), 0]), 4, /too big integer/);
  });
  it('a well-formed hand-made cell decodes to what it says', () => {
    // sum_c = k * 2^-3 with k = 1, 1, 1, 1 (PFOR width 0, base 1 -> zigzag 2).
    const got = decode(withCell(cells, 'sumC', [M_SCALED, ...varintOf(5), 0, 0, 2, 0]), 4);
    expect(Array.from(got.sumC)).toEqual([0.125, 0.125, 0.125, 0.125]);
  });
});

function varintOf(v: number): number[] {
  const out: number[] = [];
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

describe('a corrupt new-mode cell in a segment', () => {
  it('is SEGMENT_CORRUPT naming buckets.arrow', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-level-cells-'));
    try {
      const b = benchLike('gauge', 21, 1000);
      const name = segmentName('5m', T0, 1);
      const P1 = T0 + 24 * 3_600_000;
      await writeLevelSegment(root, name, { tenant: 't', level: { name: '5m', widthMs: W }, partitionStartMs: T0, partitionEndMs: P1, sources: ['raw-0-00000001'], series: [{ labels: [{ name: '__name__', value: 'g' }], buckets: b }] }, { compression: 'none' });
      const file = path.join(root, name, 'buckets.arrow');
      const bytes = new Uint8Array(await fs.readFile(file));
      // The m2 cell starts with M_RATIO, P_M2_RAMP, K=2, DIV_COUNT_RESIDUE: make the divisor kind unknown.
      const needle = [M_RATIO, P_M2_RAMP, 2, DIV_COUNT_RESIDUE];
      let at = -1;
      for (let i = 0; i + 4 <= bytes.length && at < 0; i++) if (needle.every((x, j) => bytes[i + j] === x)) at = i;
      expect(at).toBeGreaterThan(0);
      bytes[at + 3] = 9;
      await fs.writeFile(file, bytes);
      const meta = JSON.parse(await fs.readFile(path.join(root, name, 'meta.json'), 'utf8'));
      const { crc32 } = await import('../../src/segment/crc32.js');
      meta.files['buckets.arrow'].crc32 = crc32(bytes);
      await fs.writeFile(path.join(root, name, 'meta.json'), JSON.stringify(meta));
      const r = await LevelSegmentReader.open(path.join(root, name));
      try {
        const err = await r.selectBuckets([], T0 - 1, P1).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isMochaError(err) && err.code).toBe('SEGMENT_CORRUPT');
        expect((err as Error).message).toMatch(/buckets\.arrow.*m2: divisor kind 9/);
      } finally {
        r.close();
      }
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
