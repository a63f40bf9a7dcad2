import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import { isStaleAt } from '../../src/model/samples.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../../src/query/engine.js';
import { MemoryQuerier, series, type MemorySeries, type PointValue } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const M = 60 * S;

async function errorOf(p: Promise<unknown>): Promise<MochaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MochaError);
    return e as MochaError;
  }
  throw new Error('expected an error');
}

function vectorOf(r: QueryResult): { metric: Record<string, string>; t: number; v: number }[] {
  if (r.resultType !== 'vector') throw new Error(`expected vector, got ${r.resultType}`);
  return r.result.map((s) => ({ metric: Object.fromEntries(s.labels.map((l) => [l.name, l.value])), t: s.t, v: s.v }));
}

/** Single value of `x` at t, or undefined when the vector is empty. */
async function valueAt(q: MemoryQuerier, expr: string, tMs: number, opts?: QueryOptions): Promise<number | undefined> {
  const v = vectorOf(await instantQuery(q, expr, tMs, opts));
  expect(v.length).toBeLessThanOrEqual(1);
  return v[0]?.v;
}

describe('instant vector selector', () => {
  const q = new MemoryQuerier([series({ __name__: 'x', job: 'a' }, [[T0, 1]])]);

  test('lookback window is (t - 5m, t]: a sample exactly 5m old is excluded', async () => {
    expect(await valueAt(q, 'x', T0)).toBe(1);
    expect(await valueAt(q, 'x', T0 + 5 * M - 1)).toBe(1);
    expect(await valueAt(q, 'x', T0 + 5 * M)).toBeUndefined();
    expect(await valueAt(q, 'x', T0 - 1)).toBeUndefined();
  });

  test('the output carries the evaluation time and keeps __name__', async () => {
    expect(vectorOf(await instantQuery(q, 'x{job="a"}', T0 + 1234))).toEqual([{ metric: { __name__: 'x', job: 'a' }, t: T0 + 1234, v: 1 }]);
  });

  test('lookback delta is configurable', async () => {
    expect(await valueAt(q, 'x', T0 + 2 * M, { lookbackDeltaMs: 2 * M })).toBeUndefined();
    expect(await valueAt(q, 'x', T0 + 2 * M - 1, { lookbackDeltaMs: 2 * M })).toBe(1);
  });

  test('a stale marker hides the series until a newer sample', async () => {
    const qs = new MemoryQuerier([series({ __name__: 'x' }, [[T0, 1], [T0 + 10 * S, 'stale'], [T0 + 20 * S, 2]])]);
    expect(await valueAt(qs, 'x', T0 + 5 * S)).toBe(1);
    expect(await valueAt(qs, 'x', T0 + 10 * S)).toBeUndefined();
    expect(await valueAt(qs, 'x', T0 + 19 * S)).toBeUndefined();
    expect(await valueAt(qs, 'x', T0 + 20 * S)).toBe(2);
  });

  test('a NaN sample that is not the stale marker is a value', async () => {
    const qs = new MemoryQuerier([series({ __name__: 'x' }, [[T0, NaN]])]);
    expect(await valueAt(qs, 'x', T0)).toBeNaN();
  });

  test('matchers select series; results are sorted by labels', async () => {
    const qm = new MemoryQuerier([
      series({ __name__: 'x', job: 'b' }, [[T0, 2]]),
      series({ __name__: 'x', job: 'a' }, [[T0, 1]]),
      series({ __name__: 'y', job: 'a' }, [[T0, 3]]),
    ]);
    expect(vectorOf(await instantQuery(qm, 'x', T0)).map((s) => s.metric['job'])).toEqual(['a', 'b']);
    expect(vectorOf(await instantQuery(qm, '{job="a"}', T0)).map((s) => s.v)).toEqual([1, 3]);
    expect(vectorOf(await instantQuery(qm, '{__name__=~"x|y", job!="b"}', T0)).map((s) => s.v)).toEqual([1, 3]);
  });
});

describe('offset and @', () => {
  // One sample every 10 s with value = seconds since T0.
  const pts: [number, PointValue][] = [];
  for (let s = 0; s <= 3600; s += 10) pts.push([T0 + s * S, s]);
  const q = new MemoryQuerier([series({ __name__: 'x' }, pts)]);

  test('offset shifts the window back', async () => {
    expect(await valueAt(q, 'x offset 1m', T0 + 30 * M)).toBe(30 * 60 - 60);
    expect(await valueAt(q, 'x offset 1m', T0 + 30 * M + 5 * S)).toBe(30 * 60 - 60);
    expect(await valueAt(q, 'x offset -1m', T0 + 30 * M)).toBe(30 * 60 + 60);
  });

  test('@ pins the evaluation time; with offset both apply', async () => {
    const at = (T0 + 10 * M) / 1000;
    expect(await valueAt(q, `x @ ${at}`, T0 + 50 * M)).toBe(600);
    expect(await valueAt(q, `x @ ${at} offset 2m`, T0 + 50 * M)).toBe(480);
    expect(await valueAt(q, `x offset 2m @ ${at}`, T0 + 50 * M)).toBe(480);
    // The output still carries the evaluation time.
    expect(vectorOf(await instantQuery(q, `x @ ${at}`, T0 + 50 * M))[0]!.t).toBe(T0 + 50 * M);
  });

  test('@ start() and @ end() in a range query', async () => {
    const r = await rangeQuery(q, 'x @ end()', T0 + 10 * M, T0 + 20 * M, M);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r.result[0]!.values)).toEqual(new Array(11).fill(1200));
    const r2 = await rangeQuery(q, 'x @ start() offset 1m', T0 + 10 * M, T0 + 20 * M, M);
    if (r2.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r2.result[0]!.values)).toEqual(new Array(11).fill(540));
    expect(Array.from(r2.result[0]!.timestampsMs)).toEqual(Array.from({ length: 11 }, (_, k) => T0 + 10 * M + k * M));
  });
});

describe('range vector selector in an instant query', () => {
  const q = new MemoryQuerier([
    series({ __name__: 'x', job: 'a' }, [[T0, 0], [T0 + M, 1], [T0 + 2 * M, 2], [T0 + 3 * M, 'stale'], [T0 + 4 * M, 4]]),
    series({ __name__: 'x', job: 'b' }, [[T0 - 10 * M, 9]]),
  ]);

  test('window is left-open (t - r, t], stale markers dropped, raw timestamps kept', async () => {
    const r = await instantQuery(q, 'x[2m]', T0 + 2 * M);
    expect(r.resultType).toBe('matrix');
    if (r.resultType !== 'matrix') return;
    expect(r.result.length).toBe(1); // job="b" has no samples in the window: omitted
    expect(Array.from(r.result[0]!.timestampsMs)).toEqual([T0 + M, T0 + 2 * M]);
    expect(Array.from(r.result[0]!.values)).toEqual([1, 2]);

    const r2 = await instantQuery(q, 'x{job="a"}[2m]', T0 + 4 * M);
    if (r2.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r2.result[0]!.timestampsMs)).toEqual([T0 + 4 * M]);
    for (let i = 0; i < r2.result[0]!.values.length; i++) expect(isStaleAt(r2.result[0]!.values, i)).toBe(false);
  });

  test('offset and @ move the window; timestamps are not shifted', async () => {
    const r = await instantQuery(q, 'x{job="a"}[90s] offset 1m', T0 + 3 * M);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r.result[0]!.timestampsMs)).toEqual([T0 + M, T0 + 2 * M]);
    const r2 = await instantQuery(q, `x{job="a"}[1m] @ ${(T0 + M) / 1000}`, T0 + 100 * M);
    if (r2.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r2.result[0]!.timestampsMs)).toEqual([T0 + M]);
  });

  test('is refused in a range query with Prometheus message', async () => {
    const e = await errorOf(rangeQuery(q, 'x[5m]', T0, T0 + M, S));
    expect(e.code).toBe('BAD_QUERY');
    expect(e.message).toBe('invalid expression type "range vector" for range query, must be Scalar or instant Vector');
    expect((await errorOf(rangeQuery(q, '"s"', T0, T0 + M, S))).message).toContain('"string" for range query');
  });
});

describe('literals', () => {
  const q = new MemoryQuerier([]);
  test('instant scalar and string', async () => {
    expect(await instantQuery(q, '(-1.5)', T0)).toEqual({ resultType: 'scalar', result: { t: T0, v: -1.5 } });
    expect(await instantQuery(q, '"hello"', T0)).toEqual({ resultType: 'string', result: { t: T0, v: 'hello' } });
  });
  test('a scalar in a range query is one series without labels', async () => {
    const r = await rangeQuery(q, '42', T0, T0 + 2 * M, M);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r.result.length).toBe(1);
    expect(r.result[0]!.labels).toEqual([]);
    expect(Array.from(r.result[0]!.timestampsMs)).toEqual([T0, T0 + M, T0 + 2 * M]);
    expect(Array.from(r.result[0]!.values)).toEqual([42, 42, 42]);
  });
  test('a top-level subquery: a matrix of the inner steps in an instant query, a type error in a range query', async () => {
    // One sample a minute on the 1m grid (absolute time), value = minute index.
    const base = Math.ceil(T0 / M) * M;
    const points: [number, number][] = [];
    for (let i = 0; i < 10; i++) points.push([base + i * M, i]);
    const qx = new MemoryQuerier([series({ __name__: 'x', job: 'a' }, points)]);
    // Window (base+2m30s, base+5m30s]: inner steps base+3m, base+4m, base+5m.
    const r = await instantQuery(qx, 'x[3m:1m]', base + 5 * M + 30 * S);
    if (r.resultType !== 'matrix') throw new Error(`matrix expected, got ${r.resultType}`);
    expect(r.result.length).toBe(1);
    expect(r.result[0]!.labels).toEqual(labelsFromRecord({ __name__: 'x', job: 'a' }));
    expect(Array.from(r.result[0]!.timestampsMs)).toEqual([base + 3 * M, base + 4 * M, base + 5 * M]);
    expect(Array.from(r.result[0]!.values)).toEqual([3, 4, 5]);
    const e = await errorOf(rangeQuery(qx, 'x[3m:1m]', base, base + M, M));
    expect(e.code).toBe('BAD_QUERY');
    expect(e.message).toBe('invalid expression type "range vector" for range query, must be Scalar or instant Vector');
  });
});

describe('range query', () => {
  test('parameter checks: step, end before start, 11,000 points', async () => {
    const q = new MemoryQuerier([]);
    expect((await errorOf(rangeQuery(q, '1', T0, T0 + M, 0))).message).toContain('zero or negative query resolution step');
    expect((await errorOf(rangeQuery(q, '1', T0, T0 + M, -S))).code).toBe('BAD_QUERY');
    expect((await errorOf(rangeQuery(q, '1', T0 + M, T0, S))).message).toBe('end timestamp must not be before start time');
    // 11,000 steps (11,001 points) are allowed, one more is not: Prometheus' (end-start)/step > 11000.
    const ok = await rangeQuery(q, '1', T0, T0 + 11_000 * S, S);
    if (ok.resultType !== 'matrix') throw new Error('matrix expected');
    expect(ok.result[0]!.timestampsMs.length).toBe(11_001);
    const e = await errorOf(rangeQuery(q, '1', T0, T0 + 11_001 * S, S));
    expect(e.code).toBe('BAD_QUERY');
    expect(e.message).toBe('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
  });

  test('each selector reads storage once, for [start - lookback - offset, end - offset]', async () => {
    const q = new MemoryQuerier([series({ __name__: 'x' }, [[T0, 1]])]);
    await rangeQuery(q, 'x offset 1m', T0, T0 + 60 * M, 15 * S);
    expect(q.selectCalls.length).toBe(1);
    expect(q.selectCalls[0]!.minTMs).toBe(T0 - 5 * M - M);
    expect(q.selectCalls[0]!.maxTMs).toBe(T0 + 60 * M - M);
    expect(q.selectCalls[0]!.hints?.seriesMax).toBeGreaterThan(0);
  });

  test('series with no point in the range are omitted', async () => {
    const q = new MemoryQuerier([series({ __name__: 'x', job: 'a' }, [[T0, 1], [T0 + 10 * S, 'stale']]), series({ __name__: 'x', job: 'b' }, [[T0, 2]])]);
    const r = await rangeQuery(q, 'x', T0 + 20 * S, T0 + 60 * S, 10 * S);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r.result.map((s) => s.labels.find((l) => l.name === 'job')!.value)).toEqual(['b']);
  });

  // The moving-index walk must agree with evaluating each step on its own.
  test('step walking equals a naive per-step evaluation on random data', async () => {
    const rnd = mulberry32(20240611);
    let pointsCompared = 0;
    for (let round = 0; round < 30; round++) {
      const data: MemorySeries[] = [];
      const nSeries = 1 + Math.floor(rnd() * 6);
      for (let i = 0; i < nSeries; i++) {
        const pts: [number, PointValue][] = [];
        let t = T0 + Math.floor(rnd() * 20 * M);
        const n = Math.floor(rnd() * 200);
        for (let j = 0; j < n; j++) {
          t += 1 + Math.floor(rnd() * (rnd() < 0.1 ? 12 * M : 40 * S));
          pts.push([t, rnd() < 0.08 ? 'stale' : Math.round(rnd() * 1000) / 10]);
        }
        data.push(series({ __name__: 'm', i: String(i) }, pts));
      }
      const q = new MemoryQuerier(data);
      const start = T0 + Math.floor(rnd() * 30 * M);
      const step = 1 + Math.floor(rnd() * 2 * M);
      const end = start + Math.floor(rnd() * 300) * step + Math.floor(rnd() * step);
      const mods = ['', ' offset 3m', ' offset -90s', ` @ ${(start + 7 * M) / 1000}`, ' @ end() offset 1m', ' @ start()'];
      const expr = 'm' + mods[round % mods.length]!;
      const lookbackDeltaMs = rnd() < 0.5 ? 5 * M : 1 + Math.floor(rnd() * 3 * M);

      const r = await rangeQuery(q, expr, start, end, step, { lookbackDeltaMs });
      if (r.resultType !== 'matrix') throw new Error('matrix expected');
      const got = new Map<string, [number, number][]>();
      for (const s of r.result) got.set(labelsKey(s.labels), Array.from(s.timestampsMs, (t, i) => [t, s.values[i]!]));

      const want = naiveRange(data, expr, start, end, step, lookbackDeltaMs);
      expect(got, `round ${round} ${expr}`).toEqual(want);
      for (const pts of want.values()) pointsCompared += pts.length;
      // And the instant query agrees with the range query at each step (start()/end() differ:
      // an instant query's start and end are its own time).
      for (let t = start; t <= end && !/start|end/.test(expr); t += step * 37) {
        const inst = vectorOf(await instantQuery(q, expr, t, { lookbackDeltaMs }));
        const fromRange: number[] = [];
        for (const pts of want.values()) for (const [pt, v] of pts) if (pt === t) fromRange.push(v);
        expect(inst.map((s) => s.v).sort()).toEqual(fromRange.sort());
      }
    }
    // The data must actually exercise the walk (present and absent steps alike).
    expect(pointsCompared).toBeGreaterThan(2000);
  });
});

/** Reference semantics, written straight from the definition, one step at a time. */
function naiveRange(data: MemorySeries[], expr: string, start: number, end: number, step: number, lookback: number): Map<string, [number, number][]> {
  const offMatch = /offset (-?)(\d+)(m|s)/.exec(expr);
  const offsetMs = offMatch === null ? 0 : (offMatch[1] === '-' ? -1 : 1) * Number(offMatch[2]) * (offMatch[3] === 'm' ? M : S);
  const atMatch = /@ ([0-9.]+|start\(\)|end\(\))/.exec(expr);
  const out = new Map<string, [number, number][]>();
  for (const s of data) {
    const pts: [number, number][] = [];
    for (let t = start; t <= end; t += step) {
      let base = t;
      if (atMatch !== null) base = atMatch[1] === 'start()' ? start : atMatch[1] === 'end()' ? end : Math.round(Number(atMatch[1]) * 1000);
      const tt = base - offsetMs;
      let last = -1;
      for (let i = 0; i < s.timestampsMs.length; i++) if (s.timestampsMs[i]! > tt - lookback && s.timestampsMs[i]! <= tt) last = i;
      if (last >= 0 && !isStaleAt(s.values, last)) pts.push([t, s.values[last]!]);
    }
    if (pts.length > 0) out.set(labelsKey(s.labels), pts);
  }
  return out;
}

describe('limits and cancellation', () => {
  const many: MemorySeries[] = [];
  for (let i = 0; i < 20; i++) many.push(series({ __name__: 'x', i: String(i).padStart(2, '0') }, [[T0, i], [T0 + M, i]]));

  test('seriesMax and samplesMax are enforced', async () => {
    const q = new MemoryQuerier(many);
    expect((await errorOf(instantQuery(q, 'x', T0, { seriesMax: 10 }))).code).toBe('QUERY_TOO_MANY_SERIES');
    expect((await errorOf(instantQuery(q, 'x', T0 + M, { samplesMax: 30 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    // Output cells count too: 20 series x 61 steps > 1000.
    expect((await errorOf(rangeQuery(q, 'x', T0, T0 + M, S, { samplesMax: 1000 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    expect((await instantQuery(q, 'x', T0, { seriesMax: 20, samplesMax: 40 })).resultType).toBe('vector');
  });

  test('an aborted signal cancels; a timeout times out', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await errorOf(instantQuery(new MemoryQuerier(many), 'x', T0, { signal: ac.signal }))).code).toBe('QUERY_CANCELED');
    const slow = new MemoryQuerier(many, { delayMs: 30 });
    expect((await errorOf(instantQuery(slow, 'x', T0, { timeoutMs: 5 }))).code).toBe('QUERY_TIMEOUT');
    expect((await errorOf(instantQuery(slow, 'x', T0, { signal: AbortSignal.timeout(5) }))).code).toBe('QUERY_TIMEOUT');
  });
});

describe('labels helper sanity', () => {
  test('result labels are the stored label sets', async () => {
    const labels: Labels = labelsFromRecord({ __name__: 'x', a: '1', b: '2' });
    const q = new MemoryQuerier([{ labels, timestampsMs: new Float64Array([T0]), values: new Float64Array([5]) }]);
    const r = await instantQuery(q, 'x', T0);
    if (r.resultType !== 'vector') throw new Error('vector expected');
    expect(r.result[0]!.labels).toEqual(labels);
  });
});
