// Subqueries: EvalContext.subgrid (shared deadline, cancellation, usage counters; @ start()/end()
// of the outer query), top-level subqueries against a brute-force model, and the query limits
// counting a subquery's work.
import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord } from '../../src/model/labels.js';
import { isStaleAt } from '../../src/model/samples.js';
import { evaluate, instantQuery, rangeQuery, type QueryResult } from '../../src/query/engine.js';
import { EvalContext } from '../../src/query/eval-selector.js';
import { parseExpr } from '../../src/query/parser.js';
import { MemoryQuerier, series, type PointValue } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const LOOKBACK_MS = 5 * M;

function context(q: MemoryQuerier, startMs: number, endMs: number, stepMs: number, opts: { samplesMax?: number; timeoutMs?: number; signal?: AbortSignal } = {}): EvalContext {
  const stepCount = Math.floor((endMs - startMs) / stepMs) + 1;
  return new EvalContext(q, startMs, endMs, stepMs, stepCount, LOOKBACK_MS, opts.samplesMax ?? 1e9, 1e6, opts.timeoutMs ?? 60_000, opts.signal);
}

async function errorOf(p: Promise<unknown>): Promise<MochaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MochaError);
    return e as MochaError;
  }
  throw new Error('expected an error');
}

function matrixOf(r: QueryResult): { labels: string; ts: number[]; vs: number[] }[] {
  if (r.resultType !== 'matrix') throw new Error(`matrix expected, got ${r.resultType}`);
  return r.result.map((s) => ({ labels: JSON.stringify(s.labels), ts: Array.from(s.timestampsMs), vs: Array.from(s.values) }));
}

/** x every 15s over 2h, value = sample index. */
function steadyQuerier(): MemoryQuerier {
  const points: [number, number][] = [];
  for (let i = 0; i < 480; i++) points.push([i * 15 * S + 500, i]);
  return new MemoryQuerier([series({ __name__: 'x', job: 'a' }, points)]);
}

describe('EvalContext.subgrid', () => {
  const q = new MemoryQuerier([]);

  test('has its own grid; @ start()/end() keep meaning the outer query, at any depth', () => {
    const ctx = context(q, 10 * M, 20 * M, M);
    const child = ctx.subgrid(3 * M, 9 * M, 30 * S, 13);
    expect([child.startMs, child.endMs, child.stepMs, child.stepCount]).toEqual([3 * M, 9 * M, 30 * S, 13]);
    expect(child.stepTimeMs(2)).toBe(4 * M);
    expect(child.selectorTimeMs(undefined, 0, 2)).toBe(4 * M);
    expect(child.selectorTimeMs(undefined, 30 * S, 2)).toBe(3 * M + 30 * S);
    expect(child.selectorTimeMs('start', 0, 2)).toBe(10 * M);
    expect(child.selectorTimeMs('end', M, 2)).toBe(19 * M);
    expect(child.selectorTimeMs(123_000, 0, 7)).toBe(123_000);
    const grandchild = child.subgrid(0, M, S, 61);
    expect(grandchild.selectorTimeMs('start', 0, 5)).toBe(10 * M);
    expect(grandchild.selectorTimeMs('end', 0, 5)).toBe(20 * M);
    expect(grandchild.selectorTimeMs(undefined, 0, 5)).toBe(5 * S);
    expect(grandchild.lookbackDeltaMs).toBe(LOOKBACK_MS);
  });

  test('shares the deadline and the abort signal', async () => {
    const late = context(q, 0, 0, 1, { timeoutMs: -1 }).subgrid(0, M, S, 61);
    expect(() => late.checkCancel()).toThrow(expect.objectContaining({ code: 'QUERY_TIMEOUT' }) as unknown as Error);
    const ac = new AbortController();
    const child = context(q, 0, 0, 1, { signal: ac.signal }).subgrid(0, M, S, 61);
    expect(() => child.checkCancel()).not.toThrow();
    ac.abort();
    expect(() => child.checkCancel()).toThrow(expect.objectContaining({ code: 'QUERY_CANCELED' }) as unknown as Error);
  });

  test('charges output cells to the whole query', () => {
    const ctx = context(q, 0, 0, 1, { samplesMax: 100 });
    const child = ctx.subgrid(0, 59 * S, S, 60);
    child.allocStepSeries([]);
    // 60 cells used by the child: another 60-step column anywhere goes over 100.
    expect(() => ctx.subgrid(0, 59 * S, S, 60).allocStepSeries([])).toThrow(expect.objectContaining({ code: 'QUERY_TOO_MANY_SAMPLES' }) as unknown as Error);
    const ctx2 = context(q, 0, 0, 1, { samplesMax: 100 });
    ctx2.subgrid(0, 59 * S, S, 60).allocStepSeries([]);
    expect(() => ctx2.subgrid(0, 39 * S, S, 40).allocStepSeries([])).not.toThrow();
  });

  test('refuses an empty or malformed grid', () => {
    const ctx = context(q, 0, 0, 1);
    expect(() => ctx.subgrid(0, M, 0, 1)).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as unknown as Error);
    expect(() => ctx.subgrid(0, M, S, 0)).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as unknown as Error);
    expect(() => ctx.subgrid(0, M, S, 1.5)).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as unknown as Error);
  });
});

describe('limits count a subquery’s work', () => {
  const q = steadyQuerier();
  const t = 2 * H - 30 * S;
  const one = 'max_over_time(x[1h:1m])';
  const two = `${one} + max_over_time(x[1h:1m] offset 1s)`;

  test('samples loaded inside subqueries add up on the query', async () => {
    const ctx1 = context(q, t, t, 1);
    await evaluate(parseExpr(one), ctx1);
    const n = ctx1.samplesLoadedCount;
    // (t - 1h - 5m lookback, t] at one sample per 15s: about 260.
    expect(n).toBeGreaterThan(250);
    expect(n).toBeLessThan(270);
    const ctx2 = context(q, t, t, 1);
    await evaluate(parseExpr(two), ctx2);
    expect(ctx2.samplesLoadedCount).toBe(2 * n);
  });

  test('samplesMax bounds what is held at once: a subquery\'s samples are released once it is evaluated', async () => {
    const ctx1 = context(q, t, t, 1);
    await evaluate(parseExpr(one), ctx1);
    const loaded = ctx1.samplesLoadedCount;
    // The inner selector's samples plus the subquery grid's 60 cells, held together.
    const peak = loaded + 60;
    expect((await instantQuery(q, one, t, { samplesMax: peak })).resultType).toBe('vector');
    expect((await errorOf(instantQuery(q, one, t, { samplesMax: peak - 1 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    // Two subqueries one after the other: the second holds its samples, its 60 cells and what the
    // first left (its 60 cells and 1 output cell) -- not the first one's samples (as Prometheus).
    const two1 = await instantQuery(q, two, t, { samplesMax: peak + 61, stats: true });
    expect(two1.resultType).toBe('vector');
    expect(two1.stats!.samplesLoaded).toBe(2 * loaded);
    expect((await errorOf(instantQuery(q, two, t, { samplesMax: peak + 60 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    // A top-level subquery and a range query over one count the same way.
    expect((await errorOf(instantQuery(q, 'x[1h:1m]', t, { samplesMax: 100 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    expect((await errorOf(rangeQuery(q, one, t - 10 * M, t, M, { samplesMax: 200 }))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    expect((await rangeQuery(q, one, t - 10 * M, t, M, { samplesMax: 2000 })).resultType).toBe('matrix');
  });

  test('a timeout stops a query inside its subquery', async () => {
    const slow = new MemoryQuerier([series({ __name__: 'x' }, [[0, 1]])], { delayMs: 30 });
    const e = await errorOf(instantQuery(slow, 'max_over_time(x[1h:1m])[10m:1m]', 2 * H, { timeoutMs: 10 }));
    expect(e.code).toBe('QUERY_TIMEOUT');
  });
});

describe('top-level subquery against a brute-force model', () => {
  /** Latest sample <= s within the lookback, unless it is a stale marker. */
  function valueAt(ts: number[], vs: PointValue[], s: number): number | undefined {
    let i = -1;
    for (let j = 0; j < ts.length; j++) if (ts[j]! <= s) i = j;
    if (i < 0 || ts[i]! <= s - LOOKBACK_MS || vs[i] === 'stale') return undefined;
    return vs[i] as number;
  }

  test('random data, ranges, steps, offsets and @', async () => {
    const rng = mulberry32(0x5eb9);
    for (let round = 0; round < 40; round++) {
      const ts: number[] = [];
      const vs: PointValue[] = [];
      let at = Math.floor(rng() * 30 * S);
      while (at < 40 * M) {
        ts.push(at);
        vs.push(rng() < 0.05 ? 'stale' : Math.round(rng() * 1000) / 10);
        // Mostly 15s apart with jitter, sometimes a gap longer than the lookback.
        at += rng() < 0.03 ? 7 * M : 10 * S + Math.floor(rng() * 10 * S);
      }
      const q = new MemoryQuerier([series({ __name__: 'y', inst: String(round) }, ts.map((x, i) => [x, vs[i]!] as const))]);
      const stepMs = [10 * S, 15 * S, 30 * S, M, 7 * S][Math.floor(rng() * 5)]!;
      const rangeMs = (1 + Math.floor(rng() * 10)) * 30 * S + (rng() < 0.3 ? 5 * S : 0);
      const offsetMs = rng() < 0.3 ? Math.floor(rng() * 5) * M : 0;
      const pinMs = rng() < 0.3 ? Math.floor(rng() * 40 * M) : undefined;
      const t = Math.floor(rng() * 45 * M);
      let expr = `y[${rangeMs / 1000}s:${stepMs / 1000}s]`;
      if (offsetMs > 0) expr += ` offset ${offsetMs / 1000}s`;
      if (pinMs !== undefined) expr += ` @ ${pinMs / 1000}`;
      const endMs = (pinMs ?? t) - offsetMs;
      const exp: { ts: number[]; vs: number[] } = { ts: [], vs: [] };
      // Inner steps are multiples of the step in (end - range, end].
      for (let s = Math.ceil((endMs - rangeMs + 1) / stepMs) * stepMs; s <= endMs; s += stepMs) {
        const v = valueAt(ts, vs, s);
        if (v === undefined) continue;
        exp.ts.push(s);
        exp.vs.push(v);
      }
      const got = matrixOf(await instantQuery(q, expr, t));
      const want = exp.ts.length === 0 ? [] : [{ labels: JSON.stringify(labelsFromRecord({ __name__: 'y', inst: String(round) })), ...exp }];
      expect(got, `${expr} at ${t}`).toEqual(want);
      const r = await instantQuery(q, expr, t);
      if (r.resultType === 'matrix') for (const s of r.result) for (let i = 0; i < s.values.length; i++) expect(isStaleAt(s.values, i)).toBe(false);
      // The same points feed sum_over_time.
      const sum = await instantQuery(q, `sum_over_time(${expr})`, t);
      if (sum.resultType !== 'vector') throw new Error('vector expected');
      if (exp.vs.length === 0) expect(sum.result).toEqual([]);
      else expect(sum.result[0]!.v).toBeCloseTo(exp.vs.reduce((a, b) => a + b, 0), 9);
    }
  });
});
