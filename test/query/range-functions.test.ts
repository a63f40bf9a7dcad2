// Range-vector functions: table-driven cases in a compact text notation, checked by hand against
// Prometheus 3's promql/functions.go, plus a step-walk vs per-step differential on random data.
//
// Notation. Series: `name{l="v",...} v0 v1 v2 ...` with one value every 10 s starting at T0;
// `_` = no sample, `stale` = stale marker, NaN / Inf / -Inf as numbers. A case: query, evaluation
// time in seconds after T0, expected result lines `{labels} value` (labels as Prometheus prints
// them, `{}` for none); an empty list means an empty vector.
import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../../src/query/engine.js';
import { MemoryQuerier, series, type MemorySeries, type PointValue } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const STEP_MS = 10 * S;

function parseSeries(text: string): MemorySeries[] {
  const out: MemorySeries[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?(\{[^}]*\})?\s+(.*)$/.exec(line);
    if (m === null) throw new Error(`bad series line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[1] !== undefined) labels['__name__'] = m[1];
    if (m[2] !== undefined) for (const p of m[2].slice(1, -1).matchAll(/([a-zA-Z_]\w*)="([^"]*)"/g)) labels[p[1]!] = p[2]!;
    const points: [number, PointValue][] = [];
    m[3]!.split(/\s+/).forEach((tok, i) => {
      if (tok === '_') return;
      points.push([T0 + i * STEP_MS, tok === 'stale' ? 'stale' : Number(tok.replace(/^Inf$/, 'Infinity').replace(/^-Inf$/, '-Infinity'))]);
    });
    out.push(series(labels, points));
  }
  return out;
}

function formatLabels(labels: readonly { name: string; value: string }[]): string {
  return `{${labels.map((l) => `${l.name}="${l.value}"`).join(',')}}`;
}

function vectorLines(r: QueryResult): [string, number][] {
  if (r.resultType !== 'vector') throw new Error(`expected vector, got ${r.resultType}`);
  return r.result.map((s) => [formatLabels(s.labels), s.v]);
}

function expectValue(actual: number, expected: number, what: string): void {
  if (Number.isNaN(expected)) expect(actual, what).toBeNaN();
  else if (!Number.isFinite(expected)) expect(actual, what).toBe(expected);
  else expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
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

interface Case {
  readonly q: string;
  /** Seconds after T0. */
  readonly at: number;
  readonly want: readonly (readonly [string, number])[];
}

function runCases(data: string, cases: readonly Case[]): void {
  const q = new MemoryQuerier(parseSeries(data));
  for (const c of cases) {
    test(`${c.q} @ ${c.at}s`, async () => {
      const got = vectorLines(await instantQuery(q, c.q, T0 + c.at * S));
      expect(got.map((g) => g[0])).toEqual(c.want.map((w) => w[0]));
      got.forEach((g, i) => expectValue(g[1], c.want[i]![1], `${c.q} ${g[0]}`));
    });
  }
}

describe('rate, increase, delta: extrapolation as Prometheus', () => {
  runCases(
    `
    reg{job="a"}    0 10 20 30 40 50 60
    reset{job="a"}  1 5 9 2 6
    late{job="a"}   _ _ _ 3 4 5
    zero{job="a"}   _ 0.5 2.5 4.5
    one{job="a"}    _ _ 7
    neg{job="a"}    -4 -2 0
    `,
    [
      // 6 samples in (0s, 60s]: the first is one interval from the window start, so the
      // increase is extrapolated over the whole window: 50 * 60/50.
      { q: 'increase(reg[1m])', at: 60, want: [['{job="a"}', 60]] },
      { q: 'rate(reg[1m])', at: 60, want: [['{job="a"}', 1]] },
      // Counter reset 9 -> 2 adds 9; the start is limited to the zero point (40 * 1/14 s).
      { q: 'increase(reset[50s])', at: 40, want: [['{job="a"}', 15]] },
      { q: 'resets(reset[50s])', at: 40, want: [['{job="a"}', 1]] },
      // delta does not treat the drop as a reset and extrapolates 10 s back: 5 * 50/40.
      { q: 'delta(reset[50s])', at: 40, want: [['{job="a"}', 6.25]] },
      // Series starts 30 s into the window: extrapolate only half an interval there (5 s),
      // the full 10 s at the end: 2 * (20 + 5 + 10) / 20 = 3.5 over 60 s.
      { q: 'increase(late[1m])', at: 60, want: [['{job="a"}', 3.5]] },
      { q: 'rate(late[1m])', at: 60, want: [['{job="a"}', 3.5 / 60]] },
      // The threshold is 1.1 average intervals: 11.5 s from the window start (or end) is too far.
      { q: 'delta(late[31500ms])', at: 50, want: [['{job="a"}', 2 * (20 + 5) / 20]] },
      { q: 'delta(late[41500ms])', at: 61.5, want: [['{job="a"}', 2 * (20 + 10 + 5) / 20]] },
      { q: 'delta(late[30500ms])', at: 50, want: [['{job="a"}', 2 * (20 + 10.5) / 20]] },
      // Zero point: 0.5 at 10 s rising 2/10 s reaches 0 at 7.5 s: 4 * 22.5/20.
      { q: 'increase(zero[30s])', at: 30, want: [['{job="a"}', 4.5]] },
      // A negative first value disables the zero-point limit.
      { q: 'increase(neg[30s])', at: 20, want: [['{job="a"}', 4 * (20 + 10) / 20]] },
      // Fewer than two samples: no output.
      { q: 'rate(one[1m])', at: 30, want: [] },
      { q: 'delta(one[1m])', at: 30, want: [] },
      // Window (t - r, t] is left-open: at 20 s a 20 s window holds 10 s and 20 s only.
      { q: 'count_over_time(reg[20s])', at: 20, want: [['{job="a"}', 2]] },
      { q: 'rate(nothing[1m])', at: 60, want: [] },
    ],
  );
});

describe('irate, idelta, changes, resets', () => {
  runCases(
    `
    c{job="a"}  1 5 3
    g{job="a"}  1 1 2 NaN NaN 2
    r{job="a"}  3 2 5 1
    `,
    [
      // Last two samples 5 -> 3: a counter reset, so the increase is the last value.
      { q: 'irate(c[1m])', at: 20, want: [['{job="a"}', 0.3]] },
      { q: 'idelta(c[1m])', at: 20, want: [['{job="a"}', -2]] },
      { q: 'irate(c[1m])', at: 10, want: [['{job="a"}', 0.4]] },
      { q: 'irate(c[5s])', at: 20, want: [] },
      // NaN -> NaN is not a change; value -> NaN and NaN -> value are.
      { q: 'changes(g[1m])', at: 50, want: [['{job="a"}', 3]] },
      { q: 'changes(g[5s])', at: 50, want: [['{job="a"}', 0]] },
      { q: 'resets(r[1m])', at: 30, want: [['{job="a"}', 2]] },
    ],
  );
});

describe('deriv, predict_linear, double_exponential_smoothing', () => {
  runCases(
    `
    lin{job="a"}    1 21 41 61
    flat{job="a"}   5 5 5
    infy{job="a"}   Inf Inf
    des{job="a"}    1 2 3
    `,
    [
      { q: 'deriv(lin[1m])', at: 30, want: [['{job="a"}', 2]] },
      // The intercept is at the evaluation time: 61 at 30 s, + 2/s * 10 s.
      { q: 'predict_linear(lin[1m], 10)', at: 30, want: [['{job="a"}', 81]] },
      // With offset the window moves back but the prediction is still for the evaluation time.
      { q: 'predict_linear(lin[25s] offset 10s, 0)', at: 40, want: [['{job="a"}', 81]] },
      { q: 'deriv(flat[1m])', at: 20, want: [['{job="a"}', 0]] },
      { q: 'predict_linear(flat[1m], 100)', at: 20, want: [['{job="a"}', 5]] },
      { q: 'deriv(infy[1m])', at: 10, want: [['{job="a"}', NaN]] },
      { q: 'deriv(lin[5s])', at: 30, want: [] },
      { q: 'double_exponential_smoothing(des[1m], 0.5, 0.5)', at: 20, want: [['{job="a"}', 3]] },
      { q: 'double_exponential_smoothing(des[5s], 0.5, 0.5)', at: 20, want: [] },
    ],
  );

  test('double_exponential_smoothing rejects factors outside (0, 1) with Prometheus message', async () => {
    const q = new MemoryQuerier(parseSeries('des 1 2 3'));
    let e = await errorOf(instantQuery(q, 'double_exponential_smoothing(des[1m], 1.5, 0.5)', T0 + 20 * S));
    expect(e.code).toBe('QUERY_EXECUTION');
    expect(e.message).toBe('invalid smoothing factor. Expected: 0 < sf < 1, got: 1.500000');
    e = await errorOf(instantQuery(q, 'double_exponential_smoothing(des[1m], 0.5, 0)', T0 + 20 * S));
    expect(e.message).toBe('invalid trend factor. Expected: 0 < tf < 1, got: 0.000000');
    // Checked only when there is a sample: an empty selection is no error.
    expect(vectorLines(await instantQuery(q, 'double_exponential_smoothing(nothing[1m], 2, 2)', T0))).toEqual([]);
  });
});

describe('*_over_time', () => {
  runCases(
    `
    k{job="a"}     1 1e100 1 -1e100
    big{job="a"}   1.7e308 1.7e308
    m1{job="a"}    NaN 3 1
    m2{job="a"}    3 NaN 1
    q{job="a"}     4 1 3 2
    qn{job="a"}    NaN 1 2
    sd{job="a"}    2 4 4 4 5 5 7 9
    mad{job="a"}   1 1 2 2 4 6 9
    st{job="a"}    1 stale 3 _ 5
    `,
    [
      // Kahan-Neumaier summation keeps the 1s that naive summation loses.
      { q: 'sum_over_time(k[1m])', at: 30, want: [['{job="a"}', 2]] },
      { q: 'avg_over_time(k[1m])', at: 30, want: [['{job="a"}', 0.5]] },
      // The direct sum overflows: the mean switches to the incremental form and stays finite.
      { q: 'avg_over_time(big[1m])', at: 10, want: [['{job="a"}', 1.7e308]] },
      { q: 'sum_over_time(big[1m])', at: 10, want: [['{job="a"}', Infinity]] },
      // A NaN is replaced by the next value, a later NaN is skipped (Prometheus compareOverTime).
      { q: 'min_over_time(m1[1m])', at: 20, want: [['{job="a"}', 1]] },
      { q: 'max_over_time(m1[1m])', at: 20, want: [['{job="a"}', 3]] },
      { q: 'min_over_time(m2[1m])', at: 20, want: [['{job="a"}', 1]] },
      { q: 'max_over_time(m1[5s])', at: 0, want: [['{job="a"}', NaN]] },
      { q: 'quantile_over_time(0.5, q[1m])', at: 30, want: [['{job="a"}', 2.5]] },
      { q: 'quantile_over_time(0.75, q[1m])', at: 30, want: [['{job="a"}', 3.25]] },
      { q: 'quantile_over_time(-1, q[1m])', at: 30, want: [['{job="a"}', -Infinity]] },
      { q: 'quantile_over_time(2, q[1m])', at: 30, want: [['{job="a"}', Infinity]] },
      // NaN sorts first.
      { q: 'quantile_over_time(0, qn[1m])', at: 20, want: [['{job="a"}', NaN]] },
      { q: 'quantile_over_time(1, qn[1m])', at: 20, want: [['{job="a"}', 2]] },
      { q: 'stddev_over_time(sd[2m])', at: 70, want: [['{job="a"}', 2]] },
      { q: 'stdvar_over_time(sd[2m])', at: 70, want: [['{job="a"}', 4]] },
      { q: 'mad_over_time(mad[2m])', at: 60, want: [['{job="a"}', 1]] },
      // Stale markers are not samples.
      { q: 'count_over_time(st[1m])', at: 40, want: [['{job="a"}', 3]] },
      { q: 'sum_over_time(st[1m])', at: 40, want: [['{job="a"}', 9]] },
      { q: 'count_over_time(st[5s])', at: 10, want: [] },
      { q: 'present_over_time(st[1m])', at: 40, want: [['{job="a"}', 1]] },
      { q: 'first_over_time(st[25s])', at: 40, want: [['{__name__="st",job="a"}', 3]] },
      { q: 'ts_of_last_over_time(st[1m])', at: 45, want: [['{job="a"}', (T0 + 40 * S) / 1000]] },
      { q: 'ts_of_max_over_time(q[1m])', at: 30, want: [['{job="a"}', T0 / 1000]] },
    ],
  );
});

describe('metric name, label collisions, absent_over_time', () => {
  const data = `
    x{job="a"}   1 2 3
    y{job="a"}   4 5 6
    x{job="b"}   7 8 9
    z{job="c"}   1 _ 3
    w{job="c"}   1 2 3
  `;
  runCases(data, [
    { q: 'last_over_time(x[1m])', at: 20, want: [['{__name__="x",job="a"}', 3], ['{__name__="x",job="b"}', 9]] },
    { q: 'max_over_time(x[1m])', at: 20, want: [['{job="a"}', 3], ['{job="b"}', 9]] },
    { q: 'last_over_time({job="a"}[1m])', at: 20, want: [['{__name__="x",job="a"}', 3], ['{__name__="y",job="a"}', 6]] },
    { q: 'absent_over_time(x[1m])', at: 20, want: [] },
    { q: 'absent_over_time(nope{job="a", env=~"p.*", zone="z", zone="w"}[1m])', at: 20, want: [['{job="a"}', 1]] },
    { q: 'absent_over_time(nope{job=~"a"}[1m])', at: 20, want: [['{}', 1]] },
    { q: 'absent_over_time(x{job="a"}[10s])', at: 100, want: [['{job="a"}', 1]] },
    { q: 'absent_over_time((x{job="a"}[10s]))', at: 100, want: [['{job="a"}', 1]] },
  ]);

  test('two series equal once __name__ is dropped are an error', async () => {
    const q = new MemoryQuerier(parseSeries(data));
    const e = await errorOf(instantQuery(q, 'rate({job="a"}[1m])', T0 + 20 * S));
    expect(e.code).toBe('QUERY_EXECUTION');
    expect(e.message).toBe('vector cannot contain metrics with the same labelset');
    // Only series with an output count: one of them without a value is no collision.
    expect(vectorLines(await instantQuery(q, 'rate({job="c"}[15s])', T0 + 20 * S))).toEqual([['{job="c"}', 0.1]]);
  });

  test('absent_over_time in a range query: 1 exactly where no sample is in the window', async () => {
    const q = new MemoryQuerier(parseSeries('x{job="a"} 1 _ _ _ _ _ _ 2'));
    const r = await rangeQuery(q, 'absent_over_time(x{job="a"}[20s])', T0, T0 + 80 * S, STEP_MS);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r.result.length).toBe(1);
    expect(r.result[0]!.labels).toEqual([{ name: 'job', value: 'a' }]);
    expect(Array.from(r.result[0]!.timestampsMs).map((t) => (t - T0) / S)).toEqual([20, 30, 40, 50, 60]);
  });
});

describe('offset, @ and the step grid', () => {
  const pts: [number, PointValue][] = [];
  for (let s = 0; s <= 600; s += 10) pts.push([T0 + s * S, s]);
  const q = new MemoryQuerier([series({ __name__: 'c', job: 'a' }, pts)]);

  test('@ pins the window; offset moves it; both together', async () => {
    const at = (T0 + 300 * S) / 1000;
    expect(vectorLines(await instantQuery(q, `last_over_time(c[1m] @ ${at})`, T0 + 600 * S))[0]![1]).toBe(300);
    expect(vectorLines(await instantQuery(q, `last_over_time(c[1m] @ ${at} offset 1m)`, T0 + 600 * S))[0]![1]).toBe(240);
    expect(vectorLines(await instantQuery(q, 'last_over_time(c[1m] offset 2m)', T0 + 600 * S))[0]![1]).toBe(480);
    const r = await rangeQuery(q, `rate(c[1m] @ ${at})`, T0 + 100 * S, T0 + 500 * S, 100 * S);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r.result[0]!.values)).toEqual([1, 1, 1, 1, 1]);
  });

  test('under @ each step repeats the window but not the step-dependent parts', async () => {
    const at = (T0 + 300 * S) / 1000;
    // predict_linear's intercept is at each step's time: c grows 1/s, so it predicts the step time.
    let r = await rangeQuery(q, `predict_linear(c[1m] @ ${at}, 0)`, T0 + 100 * S, T0 + 500 * S, 100 * S);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    Array.from(r.result[0]!.values).forEach((v, i) => expectValue(v, 100 * (i + 1), `step ${i}`));
    // A per-step scalar argument: q = 0, 0.25, ..., 1 over the samples 250..300 of the window.
    const q0 = (T0 + 100 * S) / 1000;
    r = await rangeQuery(q, `quantile_over_time((time() - ${q0}) / 400, c[1m] @ ${at})`, T0 + 100 * S, T0 + 500 * S, 100 * S);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(Array.from(r.result[0]!.values)).toEqual([250, 262.5, 275, 287.5, 300]);
  });

  test('the matrix is read once for the whole grid', async () => {
    const qq = new MemoryQuerier([series({ __name__: 'c', job: 'a' }, pts)]);
    await rangeQuery(qq, 'rate(c[1m] offset 30s)', T0 + 100 * S, T0 + 500 * S, 50 * S);
    expect(qq.selectCalls.length).toBe(1);
    expect(qq.selectCalls[0]!.minTMs).toBe(T0 + 100 * S - 30 * S - 60 * S);
    expect(qq.selectCalls[0]!.maxTMs).toBe(T0 + 500 * S - 30 * S);
  });

  test('the samples limit applies to the matrix read', async () => {
    const e = await errorOf(instantQuery(q, 'sum_over_time(c[10m])', T0 + 600 * S, { samplesMax: 10 } satisfies QueryOptions));
    expect(e.code).toBe('QUERY_TOO_MANY_SAMPLES');
  });

  test('subquery argument: steps aligned to absolute multiples of the step', async () => {
    // T0 is 20 s past a minute: the 1m sub-steps in (300 s, 600 s] are 340, 400, ..., 580 s.
    expect(T0 % 60_000).toBe(20_000);
    const at = T0 + 600 * S;
    expect(vectorLines(await instantQuery(q, 'count_over_time(c[5m:1m])', at))).toEqual([['{job="a"}', 5]]);
    expect(vectorLines(await instantQuery(q, 'min_over_time(c[5m:1m])', at))).toEqual([['{job="a"}', 340]]);
    expect(vectorLines(await instantQuery(q, 'last_over_time(c[5m:])', at))).toEqual([['{__name__="c",job="a"}', 580]]);
    expect(vectorLines(await instantQuery(q, 'min_over_time(c[5m:1m] offset 1m)', at))).toEqual([['{job="a"}', 280]]);
    expect(vectorLines(await instantQuery(q, `max_over_time(c[1m:10s] @ ${(T0 + 200 * S) / 1000})`, at))).toEqual([['{job="a"}', 200]]);
    expect(vectorLines(await instantQuery(q, 'max_over_time((c[1m:10s] @ start()))', at))).toEqual([['{job="a"}', 600]]);
    expect(vectorLines(await instantQuery(q, 'absent_over_time(c[1m:10s])', at))).toEqual([]);
    expect(vectorLines(await instantQuery(q, 'absent_over_time(nope{job="a"}[1m:10s])', at))).toEqual([['{}', 1]]);
    // Nested: the rate of a 1 per second counter, sampled every 30 s.
    expect(vectorLines(await instantQuery(q, 'max_over_time(rate(c[1m])[3m:30s])', at))).toEqual([['{job="a"}', 1]]);
  });
});

describe('range query equals per-step instant queries on random data', () => {
  // Counters with resets, gauges with NaN and ±Inf, gaps and stale markers, irregular spacing.
  const rnd = mulberry32(20261122);
  const data: MemorySeries[] = [];
  for (let sIdx = 0; sIdx < 6; sIdx++) {
    const points: [number, PointValue][] = [];
    let t = T0 - 10 * 60 * S;
    let v = 0;
    while (t < T0 + 40 * 60 * S) {
      t += Math.floor(5 * S + rnd() * 40 * S);
      const r = rnd();
      if (r < 0.03) points.push([t, 'stale']);
      else if (r < 0.05) points.push([t, NaN]);
      else if (r < 0.06 && sIdx >= 3) points.push([t, rnd() < 0.5 ? Infinity : -Infinity]);
      else if (r < 0.1) v = 0; // counter reset, value written next round
      else {
        v = sIdx < 3 ? v + Math.floor(rnd() * 100) : (rnd() - 0.5) * 1000;
        points.push([t, v]);
      }
      if (rnd() < 0.02) t += 8 * 60 * S; // gap longer than the windows
    }
    data.push(series({ __name__: 'm', idx: String(sIdx) }, points));
  }
  const q = new MemoryQuerier(data);
  const exprs = [
    'rate(m[2m])',
    'increase(m[5m])',
    'delta(m[3m])',
    'irate(m[1m])',
    'idelta(m[90s])',
    'changes(m[4m])',
    'resets(m[4m])',
    'deriv(m[3m])',
    'predict_linear(m[3m], 60)',
    'double_exponential_smoothing(m[3m], 0.3, 0.6)',
    'avg_over_time(m[2m])',
    'min_over_time(m[2m])',
    'max_over_time(m[2m])',
    'sum_over_time(m[2m])',
    'count_over_time(m[1m])',
    'quantile_over_time(0.3, m[3m])',
    'stddev_over_time(m[3m])',
    'stdvar_over_time(m[3m])',
    'last_over_time(m[1m] offset 1m)',
    'mad_over_time(m[3m])',
    'present_over_time(m[30s])',
    'absent_over_time(m[30s])',
    'max_over_time(rate(m[2m])[5m:1m])',
    'avg_over_time(m[3m:20s] offset 30s)',
    'increase(last_over_time(m[1m])[4m:15s])',
    'absent_over_time(last_over_time(m{idx="1"}[10s])[30s:5s])',
  ];
  for (const expr of exprs) {
    test(expr, async () => {
      const start = T0;
      const end = T0 + 30 * 60 * S;
      const step = 37 * S;
      const r = await rangeQuery(q, expr, start, end, step);
      if (r.resultType !== 'matrix') throw new Error('matrix expected');
      const byKey = new Map<string, Map<number, number>>();
      for (const s of r.result) {
        const m = new Map<number, number>();
        s.timestampsMs.forEach((t, i) => m.set(t, s.values[i]!));
        byKey.set(formatLabels(s.labels), m);
      }
      let points = 0;
      for (let t = start; t <= end; t += step) {
        const inst = vectorLines(await instantQuery(q, expr, t));
        for (const [key, v] of inst) {
          const got = byKey.get(key)?.get(t);
          expect(got, `${expr} ${key} at ${t}`).toBeDefined();
          expectValue(got!, v, `${expr} ${key} at ${t}`);
          byKey.get(key)!.delete(t);
          points++;
        }
      }
      for (const [key, m] of byKey) expect(m.size, `${expr} ${key}: extra points in the range query`).toBe(0);
      expect(points).toBeGreaterThan(0);
    });
  }
});
