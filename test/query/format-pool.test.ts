// Large matrix answers written by the main thread and format workers together
// (src/query/format-pool.ts) must be byte for byte the answer the main thread writes alone
// (writeQueryData), for any split, with or without a time grid, and when a worker fails.
// The workers run the build in dist/ (npm test builds first).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { labelsFromRecord } from '../../src/model/labels.js';
import type { QueryResult } from '../../src/query/engine.js';
import { AnswerFormatter, cutByPoints, partBytesMax, runFormatTask, type FormatTaskInput } from '../../src/query/format-pool.js';
import { JsonBytes, matrixPoints, writeMatrixSeries, writeQueryData, type MatrixSeries } from '../../src/query/format.js';
import { mulberry32 as prng } from '../helpers/prng.js';

const GRID = { startMs: 1_793_671_200_000, stepMs: 60_000, count: 500 };

/** A matrix of `seriesCount` series of random lengths (some empty), values of every kind, points on and off the grid. */
function randomMatrix(rnd: () => number, seriesCount: number, pointsMax: number): MatrixSeries[] {
  const series: MatrixSeries[] = [];
  for (let i = 0; i < seriesCount; i++) {
    const n = rnd() < 0.1 ? 0 : Math.floor(rnd() * pointsMax);
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    let step = Math.floor(rnd() * 10);
    for (let k = 0; k < n; k++) {
      // Mostly grid steps in order; now and then a time off the grid (a subquery's or a raw sample's).
      ts[k] = rnd() < 0.05 ? GRID.startMs + step * GRID.stepMs + 1 + Math.floor(rnd() * 999) : GRID.startMs + step * GRID.stepMs;
      step += 1 + (rnd() < 0.1 ? 1 : 0);
      const kind = rnd();
      vs[k] = kind < 0.02 ? NaN : kind < 0.03 ? -Infinity : kind < 0.05 ? 0 : kind < 0.3 ? Math.round(rnd() * 1e4) / 100 : kind < 0.35 ? rnd() * 1e-9 : (rnd() - 0.5) * 1e3 / 3;
    }
    series.push({ labels: labelsFromRecord({ __name__: 'm', i: String(i), text: i % 7 === 0 ? 'quote " <&> \u00e9\u{1F600}' : 'x' }), timestampsMs: ts, values: vs });
  }
  return series;
}

function expected(result: QueryResult, extraJson: string, grid: boolean): string {
  const w = new JsonBytes();
  if (grid) w.setTimeGrid(GRID.startMs, GRID.stepMs, GRID.count);
  writeQueryData(w, result, extraJson);
  return w.toString();
}

async function written(f: AnswerFormatter, result: QueryResult, extraJson: string, grid: boolean): Promise<string> {
  const w = new JsonBytes();
  if (grid) w.setTimeGrid(GRID.startMs, GRID.stepMs, GRID.count);
  await f.writeQueryData(w, result, extraJson);
  return w.toString();
}

const formatters: AnswerFormatter[] = [];
function formatter(threads: number, workerFilename?: string): AnswerFormatter {
  const f = new AnswerFormatter({ threads, pointsMin: 50, ...(workerFilename !== undefined ? { workerFilename } : {}) });
  formatters.push(f);
  return f;
}
const tmp = mkdtempSync(path.join(os.tmpdir(), 'format-pool-'));
afterAll(async () => {
  await Promise.all(formatters.map((f) => f.close()));
  rmSync(tmp, { recursive: true, force: true });
});

describe('cutByPoints', () => {
  test('parts of about equal points, in order, covering every series, the first never empty', () => {
    const rnd = prng(7);
    for (let round = 0; round < 200; round++) {
      const series = randomMatrix(rnd, 1 + Math.floor(rnd() * 40), 1 + Math.floor(rnd() * 300));
      const parts = 1 + Math.floor(rnd() * 4);
      const cuts = cutByPoints(series, parts);
      expect(cuts.length).toBe(parts + 1);
      expect(cuts[0]).toBe(0);
      expect(cuts[parts]).toBe(series.length);
      expect(cuts[1]).toBeGreaterThanOrEqual(1);
      for (let k = 1; k <= parts; k++) expect(cuts[k]).toBeGreaterThanOrEqual(cuts[k - 1]!);
      // Each cut is within one series of its share of the points.
      const total = matrixPoints(series);
      const largest = Math.max(...series.map((s) => s.timestampsMs.length));
      for (let k = 1; k < parts; k++) {
        const before = matrixPoints(series.slice(0, cuts[k]));
        if (cuts[k]! > 1) expect(Math.abs(before - (total * k) / parts)).toBeLessThanOrEqual(largest);
      }
    }
  });
});

describe('runFormatTask (a worker part)', () => {
  /** Series [from, to) as a task, its room `outBytes` (default partBytesMax). */
  function task(series: MatrixSeries[], grid: boolean, outBytes?: number): FormatTaskInput {
    const pointOffsets = new Uint32Array(series.length + 1);
    series.forEach((s, i) => (pointOffsets[i + 1] = pointOffsets[i]! + s.timestampsMs.length));
    const timestampsMs = new Float64Array(pointOffsets[series.length]!);
    const values = new Float64Array(timestampsMs.length);
    series.forEach((s, i) => {
      timestampsMs.set(s.timestampsMs, pointOffsets[i]!);
      values.set(s.values, pointOffsets[i]!);
    });
    const out = new Uint8Array(new SharedArrayBuffer(outBytes ?? partBytesMax(series, 0, series.length)));
    return { grid: grid ? GRID : undefined, labels: series.map((s) => s.labels), pointOffsets, timestampsMs, values, out };
  }

  function want(series: MatrixSeries[], grid: boolean): string {
    const w = new JsonBytes();
    if (grid) w.setTimeGrid(GRID.startMs, GRID.stepMs, GRID.count);
    writeMatrixSeries(w, series, 0, series.length, true);
    return w.toString();
  }

  test('writes into the shared room (partBytesMax is enough for any labels and values), or copies out when it is too small', () => {
    const rnd = prng(21);
    const decoder = new TextDecoder();
    for (let round = 0; round < 60; round++) {
      const series = randomMatrix(rnd, 1 + Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 200));
      // Labels that escape to the most bytes: control characters (\u00XX), quotes, <>&, astral characters.
      if (round % 4 === 0) series[0] = { ...series[0]!, labels: labelsFromRecord({ __name__: 'm', odd: '\u0001<>&"\\\u2028'.repeat(20) + '\u{1F600}'.repeat(10) }) };
      const grid = round % 2 === 0;
      const t = task(series, grid);
      const r = runFormatTask(t);
      expect(r.bytes).toBeUndefined();
      expect(decoder.decode(t.out.subarray(0, r.length))).toBe(want(series, grid));
      const small = runFormatTask(task(series, grid, 16));
      expect(small.bytes).toBeDefined();
      expect(decoder.decode(small.bytes!)).toBe(want(series, grid));
    }
  });
});

describe('AnswerFormatter writes what writeQueryData writes', () => {
  test('one and two workers, many splits, with and without a time grid', async () => {
    const rnd = prng(11);
    for (const threads of [1, 2]) {
      const f = formatter(threads);
      for (let round = 0; round < 40; round++) {
        const result: QueryResult = { resultType: 'matrix', result: randomMatrix(rnd, 2 + Math.floor(rnd() * 30), 1 + Math.floor(rnd() * 400)) };
        const extra = round % 3 === 0 ? ',"stats":{"samples":{"totalQueryableSamples":12}}' : '';
        for (const grid of [true, false]) expect(await written(f, result, extra, grid)).toBe(expected(result, extra, grid));
      }
      // The workers did write parts (the comparison above is not of the main thread with itself).
      expect(f.partsByWorkers).toBeGreaterThan(40);
      expect(f.partsFailed).toBe(0);
    }
  });

  test('answers written at the same time: parts go to idle workers, the rest is written by the main thread', async () => {
    const rnd = prng(12);
    const f = formatter(1);
    const results: QueryResult[] = Array.from({ length: 12 }, () => ({ resultType: 'matrix', result: randomMatrix(rnd, 20, 400) }));
    const got = await Promise.all(results.map((r) => written(f, r, '', true)));
    for (let i = 0; i < results.length; i++) expect(got[i]).toBe(expected(results[i]!, '', true));
    expect(f.partsByWorkers).toBeGreaterThan(0);
  });

  test('small answers, vectors and scalars are written by the main thread', async () => {
    const f = formatter(1);
    const rnd = prng(13);
    const small: QueryResult = { resultType: 'matrix', result: randomMatrix(rnd, 3, 10).map((s) => ({ ...s, timestampsMs: s.timestampsMs.subarray(0, 5), values: s.values.subarray(0, 5) })) };
    const vector: QueryResult = { resultType: 'vector', result: [{ labels: labelsFromRecord({ a: 'b' }), t: GRID.startMs, v: 1.5 }] };
    const scalar: QueryResult = { resultType: 'scalar', result: { t: GRID.startMs, v: NaN } };
    const one: QueryResult = { resultType: 'matrix', result: randomMatrix(rnd, 1, 1000) };
    for (const r of [small, vector, scalar, one]) expect(await written(f, r, '', true)).toBe(expected(r, '', true));
    expect(f.partsByWorkers).toBe(0);
  });

  test('a worker that fails: its part is written by the main thread, the answer is the same', async () => {
    const failing = path.join(tmp, 'failing-worker.mjs');
    writeFileSync(failing, "export default function () { throw new Error('format worker failed on purpose'); }\n");
    const f = formatter(2, failing);
    const rnd = prng(14);
    for (let round = 0; round < 5; round++) {
      const result: QueryResult = { resultType: 'matrix', result: randomMatrix(rnd, 10, 300) };
      expect(await written(f, result, '', true)).toBe(expected(result, '', true));
    }
    expect(f.partsFailed).toBeGreaterThan(0);
    expect(f.partsByWorkers).toBe(0);
  });

  test('no threads: every answer on the main thread', async () => {
    const f = formatter(0);
    const result: QueryResult = { resultType: 'matrix', result: randomMatrix(prng(15), 10, 300) };
    expect(await written(f, result, '', false)).toBe(expected(result, '', false));
    expect(f.partsByWorkers).toBe(0);
  });
});
