// A naive, obviously-correct model of what Prometheus answers for a plain selector, used as the
// oracle in end-to-end tests: for each step t, the latest sample in (t - lookback, t], unless it
// is a stale marker. Written independently of src/query.
import { isStaleAt } from '../../src/model/samples.js';

export interface ModelSeries {
  labels: Record<string, string>;
  timestampsMs: Float64Array; // sorted, unique
  values: Float64Array;
}

export function expectedRange(s: ModelSeries, startMs: number, endMs: number, stepMs: number, lookbackMs = 300_000): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let j = -1; // index of the latest sample <= t
  for (let t = startMs; t <= endMs; t += stepMs) {
    while (j + 1 < s.timestampsMs.length && s.timestampsMs[j + 1]! <= t) j++;
    if (j < 0) continue;
    if (s.timestampsMs[j]! <= t - lookbackMs) continue;
    if (isStaleAt(s.values, j)) continue;
    out.push([t, s.values[j]!]);
  }
  return out;
}

/** Parses a Prometheus JSON sample value string back to a float64. */
export function parsePromValue(v: string): number {
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

export interface MatrixResult {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

/** Compares one series bit-exactly (NaN equals NaN; -0 differs from 0); returns a description of the first difference. */
export function diffSeries(expected: Array<[number, number]>, actual: Array<[number, string]>): string | undefined {
  if (expected.length !== actual.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const [et, ev] = expected[i]!;
    const [at, avs] = actual[i]!;
    if (Math.round(at * 1000) !== et) return `point ${i}: time ${at}, expected ${et / 1000}`;
    const av = parsePromValue(avs);
    if (!Object.is(av, ev)) return `point ${i} at ${et}: value ${avs}, expected ${ev}`;
  }
  return undefined;
}
