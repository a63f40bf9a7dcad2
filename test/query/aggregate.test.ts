import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import type { Aggregate, Expr } from '../../src/query/ast.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../../src/query/engine.js';
import { evalAggregate, GoHeap, goFloatF, goFloatV, quantile, ratioSampleOffset, stringLabelsBytes, xxhash64 } from '../../src/query/eval-aggregate.js';
import { EvalContext, type EvalValue, type StepSeries } from '../../src/query/eval-selector.js';
import { MemoryQuerier, series, type MemorySeries, type PointValue } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const M = 60 * S;

/** Series `name{labels}` with one sample at T0 per entry: compact data for instant tables. */
function at0(spec: Record<string, number | 'stale'>): MemorySeries[] {
  return Object.entries(spec).map(([sel, v]) => {
    const m = /^(\w+)(?:\{(.*)\})?$/.exec(sel);
    if (m === null) throw new Error(`bad selector ${sel}`);
    const rec: Record<string, string> = { __name__: m[1]! };
    for (const pair of (m[2] ?? '').split(',').filter((p) => p !== '')) {
      const [k, val] = pair.split('=') as [string, string];
      rec[k] = val;
    }
    return series(rec, [[T0, v]]);
  });
}

/** Instant result as `{a="1",b="2"} => value` strings, in the engine's order. */
function render(r: QueryResult): string[] {
  if (r.resultType !== 'vector') throw new Error(`expected vector, got ${r.resultType}`);
  return r.result.map((s) => `{${s.labels.map((l) => `${l.name}="${l.value}"`).join(',')}} => ${fmt(s.v)}`);
}

function fmt(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
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

const BIG = 9.988465674311579e307;

function avgCases(): [MemorySeries[], string, string[]][] {
  const group = (vals: number[]): MemorySeries[] => at0(Object.fromEntries(vals.map((v, i) => [`x{i=${i}}`, v])));
  return [
    [group([8, 10, 12]), 'avg(x)', ['{} => 10']],
    [group([0, Infinity, Infinity, 0]), 'avg(x)', ['{} => Infinity']],
    [group([Infinity, 0, Infinity]), 'avg(x)', ['{} => Infinity']],
    [group([-Infinity, -Infinity, 0]), 'avg(x)', ['{} => -Infinity']],
    [group([-Infinity, 0, -Infinity]), 'avg(x)', ['{} => -Infinity']],
    [group([-Infinity, 0, Infinity]), 'avg(x)', ['{} => NaN']],
    [group([BIG, BIG, BIG, BIG]), 'avg(x)', [`{} => ${BIG}`]],
    [group([-BIG, -BIG, -BIG, -BIG]), 'avg(x)', [`{} => ${-BIG}`]],
    [group([-BIG, -BIG, BIG, BIG]), 'avg(x)', ['{} => 0']],
    [group([2, 8, 1e100, -1e100]), 'sum(x)', ['{} => 10']],
  ];
}

const basic = at0({
  'x{job=a,i=1}': 1,
  'x{job=a,i=2}': 2,
  'x{job=b,i=3}': 4,
  'x{job=b,i=4}': 8,
  'y{job=a,i=1}': 100,
});

// [data, query, expected rendered result]
const instantTable: [MemorySeries[], string, string[]][] = [
  // Grouping: by keeps only the listed labels, without drops the listed ones and __name__.
  [basic, 'sum(x)', ['{} => 15']],
  [basic, 'sum by (job) (x)', ['{job="a"} => 3', '{job="b"} => 12']],
  [basic, 'sum(x) by (job)', ['{job="a"} => 3', '{job="b"} => 12']],
  [basic, 'sum without (i) (x)', ['{job="a"} => 3', '{job="b"} => 12']],
  [basic, 'sum without () ({job="a"})', ['{i="1",job="a"} => 101', '{i="2",job="a"} => 2']],
  [basic, 'sum by (__name__) ({job="a"})', ['{__name__="x"} => 3', '{__name__="y"} => 100']],
  [basic, 'sum by (nope) (x)', ['{} => 15']],
  [basic, 'count by (job) (x)', ['{job="a"} => 2', '{job="b"} => 2']],
  [basic, 'group by (job) (x)', ['{job="a"} => 1', '{job="b"} => 1']],
  [basic, 'avg by (job) (x)', ['{job="a"} => 1.5', '{job="b"} => 6']],
  [basic, 'min by (job) (x)', ['{job="a"} => 1', '{job="b"} => 4']],
  [basic, 'max by (job) (x)', ['{job="a"} => 2', '{job="b"} => 8']],
  [basic, 'stdvar(x)', ['{} => 7.1875']],
  [basic, 'quantile(0.5, x)', ['{} => 3']],
  [basic, 'quantile by (job) (0.25, x)', ['{job="a"} => 1.25', '{job="b"} => 5']],
  [basic, 'sum(nothing)', []],
  [basic, 'topk(0, x)', []],
  // Empty grouping value is "no label": series without the label group with those having it empty.
  [at0({ 'x{a=1}': 1, x: 2 }), 'sum by (a) (x)', ['{} => 2', '{a="1"} => 1']],

  // NaN and infinities.
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'max(x)', ['{} => 1']],
  [at0({ 'x{i=1}': 1, 'x{i=2}': NaN }), 'max(x)', ['{} => 1']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'min(x)', ['{} => 1']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': NaN }), 'min(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'sum(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': Infinity, 'x{i=2}': 1 }), 'sum(x)', ['{} => Infinity']],
  [at0({ 'x{i=1}': Infinity, 'x{i=2}': -Infinity }), 'sum(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': Infinity, 'x{i=2}': 1 }), 'avg(x)', ['{} => Infinity']],
  [at0({ 'x{i=1}': 1, 'x{i=2}': -Infinity }), 'avg(x)', ['{} => -Infinity']],
  [at0({ 'x{i=1}': Infinity, 'x{i=2}': Infinity, 'x{i=3}': 5 }), 'avg(x)', ['{} => Infinity']],
  [at0({ 'x{i=1}': Infinity, 'x{i=2}': -Infinity }), 'avg(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': 1, 'x{i=2}': Infinity }), 'stddev(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': Infinity }), 'stddev(x)', ['{} => NaN']],
  [at0({ 'x{i=1}': 5 }), 'stddev(x)', ['{} => 0']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'count(x)', ['{} => 2']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'group(x)', ['{} => 1']],
  // Kahan-Neumaier: the 1 survives next to 1e100 (a plain float sum gives 0).
  [at0({ 'x{i=1}': 1e100, 'x{i=2}': 1, 'x{i=3}': -1e100 }), 'sum(x)', ['{} => 1']],
  [at0({ 'x{i=1}': 1e100, 'x{i=2}': 1, 'x{i=3}': -1e100 }), 'avg(x)', [`{} => ${1 / 3}`]],
  // Cases of Prometheus' promqltest aggregators.test: overflow switches avg to an incremental mean.
  ...avgCases(),
  // Welford: the textbook example has mean 5, variance 4.
  [at0({ 'x{i=1}': 2, 'x{i=2}': 4, 'x{i=3}': 4, 'x{i=4}': 4, 'x{i=5}': 5, 'x{i=6}': 5, 'x{i=7}': 7, 'x{i=8}': 9 }), 'stddev(x)', ['{} => 2']],

  // quantile: φ outside [0, 1] gives ±Inf, NaN φ gives NaN, NaN inputs sort first.
  [basic, 'quantile(-0.5, x)', ['{} => -Infinity']],
  [basic, 'quantile(1.5, x)', ['{} => Infinity']],
  [basic, 'quantile(NaN, x)', ['{} => NaN']],
  [basic, 'quantile(0, x)', ['{} => 1']],
  [basic, 'quantile(1, x)', ['{} => 8']],
  [at0({ 'x{i=1}': 2, 'x{i=2}': NaN, 'x{i=3}': 1 }), 'quantile(0, x)', ['{} => NaN']],
  [at0({ 'x{i=1}': 2, 'x{i=2}': NaN, 'x{i=3}': 1 }), 'quantile(0.5, x)', ['{} => 1']],
  [at0({ 'x{i=1}': 2, 'x{i=2}': NaN, 'x{i=3}': 1 }), 'quantile(1, x)', ['{} => 2']],

  // topk/bottomk keep the input labels (with __name__); k is truncated; k < 1 selects nothing.
  [basic, 'topk(2, x)', ['{__name__="x",i="3",job="b"} => 4', '{__name__="x",i="4",job="b"} => 8']],
  [basic, 'topk(1.9, x)', ['{__name__="x",i="4",job="b"} => 8']],
  [basic, 'topk(-1, x)', []],
  [basic, 'topk(100, x)', render0(basic.slice(0, 4))],
  [basic, 'bottomk(1, x)', ['{__name__="x",i="1",job="a"} => 1']],
  [basic, 'topk by (job) (1, x)', ['{__name__="x",i="2",job="a"} => 2', '{__name__="x",i="4",job="b"} => 8']],
  // without drops __name__ from the grouping too: x and y share one group.
  [basic, 'bottomk without (i) (1, {job="a"})', ['{__name__="x",i="1",job="a"} => 1']],
  [basic, 'topk by (__name__) (1, {job="a"})', ['{__name__="x",i="2",job="a"} => 2', '{__name__="y",i="1",job="a"} => 100']],
  // Ties: the first series in input (label) order stays.
  [at0({ 'x{i=1}': 5, 'x{i=2}': 5, 'x{i=3}': 5 }), 'topk(1, x)', ['{__name__="x",i="1"} => 5']],
  [at0({ 'x{i=1}': 5, 'x{i=2}': 5, 'x{i=3}': 5 }), 'bottomk(2, x)', ['{__name__="x",i="1"} => 5', '{__name__="x",i="2"} => 5']],
  // NaN loses to any number in topk and bottomk alike, but is kept when there is room.
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1, 'x{i=3}': 2 }), 'topk(1, x)', ['{__name__="x",i="3"} => 2']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1, 'x{i=3}': 2 }), 'bottomk(1, x)', ['{__name__="x",i="2"} => 1']],
  [at0({ 'x{i=1}': 2, 'x{i=2}': 1, 'x{i=3}': NaN }), 'bottomk(1, x)', ['{__name__="x",i="2"} => 1']],
  [at0({ 'x{i=1}': NaN, 'x{i=2}': 1 }), 'topk(2, x)', ['{__name__="x",i="1"} => NaN', '{__name__="x",i="2"} => 1']],
  [at0({ 'x{i=1}': NaN }), 'bottomk(1, x)', ['{__name__="x",i="1"} => NaN']],

  // limitk: the first k series per group in input order; limit_ratio(±1) keeps all.
  [basic, 'limitk(1, x)', ['{__name__="x",i="1",job="a"} => 1']],
  [basic, 'limitk by (job) (1, x)', ['{__name__="x",i="1",job="a"} => 1', '{__name__="x",i="3",job="b"} => 4']],
  [basic, 'limitk(0, x)', []],
  [basic, 'limit_ratio(1, x)', render0(basic.slice(0, 4))],
  [basic, 'limit_ratio(-1, x)', render0(basic.slice(0, 4))],
  [basic, 'limit_ratio(5, x)', render0(basic.slice(0, 4))],
  [basic, 'limit_ratio(0, x)', []],

  // count_values: Go's shortest 'f' formatting, by/without, the value label overwrites.
  [at0({ 'x{i=1}': 1, 'x{i=2}': 1, 'x{i=3}': 2.5 }), 'count_values("v", x)', ['{v="1"} => 2', '{v="2.5"} => 1']],
  [
    at0({ 'x{i=1}': 1e21, 'x{i=2}': 1e-7, 'x{i=3}': -0, 'x{i=4}': NaN, 'x{i=5}': Infinity, 'x{i=6}': -Infinity }),
    'count_values("v", x)',
    ['{v="+Inf"} => 1', '{v="-0"} => 1', '{v="-Inf"} => 1', '{v="0.0000001"} => 1', '{v="1000000000000000000000"} => 1', '{v="NaN"} => 1'],
  ],
  [basic, 'count_values by (job) ("v", x)', ['{job="a",v="1"} => 1', '{job="a",v="2"} => 1', '{job="b",v="4"} => 1', '{job="b",v="8"} => 1']],
  [at0({ 'x{job=a,i=1}': 7, 'x{job=a,i=2}': 7 }), 'count_values without (i) ("v", x)', ['{job="a",v="7"} => 2']],
  [at0({ 'x{job=a,i=1}': 7, 'x{job=a,i=2}': 3 }), 'count_values without (v) ("v", x)', ['{i="1",job="a"} => 1', '{i="2",job="a"} => 1']],
  [at0({ 'x{job=a,i=1}': 7, 'x{job=a,i=2}': 3 }), 'count_values("job", x)', ['{job="3"} => 1', '{job="7"} => 1']],
  [at0({ 'x{job=a,i=1}': 7, 'x{job=b,i=2}': 7 }), 'count_values without (i) ("job", x)', ['{job="7"} => 2']],
  // Prometheus 3 validates label names as UTF-8: a dash is fine.
  [at0({ 'x{i=1}': 7 }), 'count_values("a-b", x)', ['{a-b="7"} => 1']],
  [at0({ 'x{i=1}': 7, 'y{i=1}': 3 }), 'count_values without () ("__name__", {i="1"})', ['{i="1"} => 2']],
  [at0({ 'x{i=1}': 7, 'y{i=1}': 3 }), 'count_values by (__name__) ("__name__", {i="1"})', ['{__name__="3"} => 1', '{__name__="7"} => 1']],
];

function render0(data: MemorySeries[]): string[] {
  return data.map((s) => `{${s.labels.map((l) => `${l.name}="${l.value}"`).join(',')}} => ${fmt(s.values[0]!)}`);
}

describe('aggregation at one instant', () => {
  test.each(instantTable.map(([data, q, want], i) => ({ i, data, q, want })))('$q (#$i)', async ({ data, q, want }) => {
    const got = render(await instantQuery(new MemoryQuerier(data), q, T0));
    // Compared as sorted strings: the engine's own order (by labels) is tested elsewhere.
    expect([...got].sort()).toEqual([...want].sort());
  });

  test('stale markers and lookback decide which series take part at each step', async () => {
    const q = new MemoryQuerier([
      series({ __name__: 'x', i: '1' }, [[T0, 1], [T0 + M, 'stale']]),
      series({ __name__: 'x', i: '2' }, [[T0, 10]]),
      series({ __name__: 'x', i: '3' }, [[T0 + 2 * M, 100]]),
    ]);
    const r = await rangeQuery(q, 'sum(x)', T0, T0 + 6 * M, M);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r.result.length).toBe(1);
    expect(r.result[0]!.labels).toEqual([]);
    // i=2 leaves the lookback window after 5m; i=1 is stale from T0+1m.
    expect(Array.from(r.result[0]!.timestampsMs)).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => T0 + k * M));
    expect(Array.from(r.result[0]!.values)).toEqual([11, 10, 110, 110, 110, 100, 100]);
    const r2 = await rangeQuery(q, 'count by (i) (x)', T0, T0 + 6 * M, M);
    if (r2.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r2.result.map((s) => [s.labels[0]!.value, Array.from(s.timestampsMs, (t) => (t - T0) / M)])).toEqual([
      ['1', [0]],
      ['2', [0, 1, 2, 3, 4]],
      ['3', [2, 3, 4, 5, 6]],
    ]);
  });

  test('topk over a range picks per step; a series appears only at the steps it was picked', async () => {
    const q = new MemoryQuerier([
      series({ __name__: 'x', i: '1' }, [[T0, 1], [T0 + M, 5], [T0 + 2 * M, 1]]),
      series({ __name__: 'x', i: '2' }, [[T0, 2], [T0 + M, 3], [T0 + 2 * M, 'stale']]),
      series({ __name__: 'x', i: '3' }, [[T0, 3], [T0 + M, 4], [T0 + 2 * M, 0]]),
    ]);
    const r = await rangeQuery(q, 'topk(2, x)', T0, T0 + 2 * M, M);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    const byI = Object.fromEntries(r.result.map((s) => [s.labels.find((l) => l.name === 'i')!.value, Array.from(s.values)]));
    expect(byI).toEqual({ '1': [5, 1], '2': [2], '3': [3, 4, 0] });
    expect(r.result[0]!.labels.find((l) => l.name === '__name__')?.value).toBe('x');
  });
});

describe('errors', () => {
  const q = new MemoryQuerier(basic);
  test.each([
    ['topk(NaN, x)', 'Scalar value NaN overflows int64'],
    ['bottomk(Inf, x)', 'Scalar value +Inf overflows int64'],
    ['limitk(1e19, x)', 'Scalar value 1e+19 overflows int64'],
    ['limit_ratio(NaN, x)', 'Ratio value NaN is NaN'],
    ['count_values("", x)', 'invalid label name ""'],
  ])('%s', async (expr, message) => {
    const e = await errorOf(instantQuery(q, expr, T0));
    expect(e.code).toBe('QUERY_EXECUTION');
    expect(e.message).toBe(message);
  });

  test('output cells count against samplesMax', async () => {
    const many: MemorySeries[] = [];
    for (let i = 0; i < 10; i++) many.push(series({ __name__: 'x', i: String(i) }, [[T0, i]]));
    // The selector's columns take 10 series x 2 steps = 20 cells; grouping by i adds 20 more.
    const opts: QueryOptions = { samplesMax: 35 };
    expect((await errorOf(rangeQuery(new MemoryQuerier(many), 'sum by (i) (x)', T0, T0 + M, M, opts))).code).toBe('QUERY_TOO_MANY_SAMPLES');
    expect((await rangeQuery(new MemoryQuerier(many), 'sum(x)', T0, T0 + M, M, opts)).resultType).toBe('matrix');
  });
});

/** A context over a grid of n steps with no storage behind it, for direct evaluator tests. */
function gridContext(n: number): EvalContext {
  return new EvalContext(new MemoryQuerier([]), T0, T0 + (n - 1) * M, M, n, 5 * M, 1e9, 1e6, 60_000, undefined);
}

function stepSeries(labels: Record<string, string>, values: (number | undefined)[]): StepSeries {
  return {
    labels: labelsFromRecord(labels),
    values: Float64Array.from(values, (v) => v ?? 0),
    present: Uint8Array.from(values, (v) => (v === undefined ? 0 : 1)),
  };
}

/** Evaluates `op(param, input)` with a per-step scalar parameter, bypassing the parser. */
async function aggDirect(op: Aggregate['op'], param: number[] | string | undefined, input: StepSeries[], grouping: string[] = [], without = false): Promise<Map<string, (number | undefined)[]>> {
  const pos = { start: 0, end: 0 };
  const paramNode: Expr | undefined = param === undefined ? undefined : typeof param === 'string' ? { kind: 'StringLiteral', value: param, pos } : { kind: 'NumberLiteral', value: 0, pos };
  const inputNode: Expr = { kind: 'NumberLiteral', value: 1, pos };
  const node: Aggregate = { kind: 'Aggregate', op, param: paramNode, expr: inputNode, grouping, without, pos };
  const ctx = gridContext(input[0]?.values.length ?? 1);
  const evaluate = async (e: Expr): Promise<EvalValue> => {
    if (e === inputNode) return { type: 'vector', series: input };
    if (e.kind === 'StringLiteral') return { type: 'string', value: e.value };
    return { type: 'scalar', values: Float64Array.from(param as number[]) };
  };
  const v = await evalAggregate(node, ctx, evaluate);
  if (v.type !== 'vector') throw new Error('vector expected');
  const out = new Map<string, (number | undefined)[]>();
  for (const s of v.series) out.set(labelsKey(s.labels), Array.from(s.values, (x, k) => (s.present[k] === 1 ? x : undefined)));
  return out;
}

function key(rec: Record<string, string>): string {
  return labelsKey(labelsFromRecord(rec));
}

describe('per-step parameters', () => {
  const input = [stepSeries({ i: '1' }, [1, 1, 1, 1]), stepSeries({ i: '2' }, [2, 2, 2, undefined]), stepSeries({ i: '3' }, [3, 3, 3, 3])];

  test('topk k varies by step; k below 1 at a step selects nothing there', async () => {
    const got = await aggDirect('topk', [1, 2, 0, 3], input);
    expect(got).toEqual(
      new Map([
        [key({ i: '1' }), [undefined, undefined, undefined, 1]],
        [key({ i: '2' }), [undefined, 2, undefined, undefined]],
        [key({ i: '3' }), [3, 3, undefined, 3]],
      ]),
    );
  });

  test('quantile φ varies by step', async () => {
    const got = await aggDirect('quantile', [0, 0.5, 2, -1], input);
    expect(got.get(key({}))).toEqual([1, 2, Infinity, -Infinity]);
  });

  test('a NaN k at any step fails the query', async () => {
    await expect(aggDirect('bottomk', [1, NaN, 1, 1], input)).rejects.toThrow('Scalar value NaN overflows int64');
  });

  test('at one step, topk/bottomk come out in Prometheus order: by value, NaN last', async () => {
    const one = [stepSeries({ i: '1' }, [1]), stepSeries({ i: '2' }, [NaN]), stepSeries({ i: '3' }, [3]), stepSeries({ i: '4' }, [2])];
    const order = async (op: Aggregate['op'], k: number): Promise<(number | undefined)[]> => [...(await aggDirect(op, [k], one)).values()].map((v) => v[0]);
    expect(await order('topk', 4)).toEqual([3, 2, 1, NaN]);
    expect(await order('bottomk', 4)).toEqual([1, 2, 3, NaN]);
    // The NaN is the heap's smallest and is the one replaced.
    expect(await order('topk', 3)).toEqual([3, 2, 1]);
    expect(await order('bottomk', 2)).toEqual([1, 2]);
  });

  test('count_values counts per step', async () => {
    const got = await aggDirect('count_values', 'v', [stepSeries({ i: '1' }, [1, 2]), stepSeries({ i: '2' }, [1, 1])]);
    expect(got).toEqual(
      new Map([
        [key({ v: '1' }), [2, 1]],
        [key({ v: '2' }), [undefined, 1]],
      ]),
    );
  });
});

describe('limit_ratio hashing', () => {
  test('xxhash64 matches the reference vectors', () => {
    const enc = new TextEncoder();
    expect(xxhash64(enc.encode(''))).toBe(0xef46db3751d8e999n);
    expect(xxhash64(enc.encode('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxhash64(enc.encode('abc'))).toBe(0x44bc2cf5ad770999n);
    // Long inputs take the 32-byte stripe path.
    expect(xxhash64(enc.encode('Nobody inspects the spammish repetition'))).toBe(0xfbcea83c8a378bf1n);
  });

  test('stringlabels encoding: one length byte, or 255 and 3 bytes little-endian', () => {
    expect(Array.from(stringLabelsBytes(labelsFromRecord({ a: 'bc' })))).toEqual([1, 97, 2, 98, 99]);
    const long = 'x'.repeat(300);
    expect(Array.from(stringLabelsBytes(labelsFromRecord({ a: long })).subarray(0, 6))).toEqual([1, 97, 255, 44, 1, 0]);
  });

  test('limit_ratio r and -(1-r) partition the series; the choice is stable over steps', async () => {
    const rnd = mulberry32(77);
    const input: StepSeries[] = [];
    for (let i = 0; i < 400; i++) input.push(stepSeries({ __name__: 'm', id: String(Math.floor(rnd() * 1e9)) }, [1, 2]));
    const pos = await aggDirect('limit_ratio', [0.3, 0.3], input);
    const neg = await aggDirect('limit_ratio', [-0.7, -0.7], input);
    expect(pos.size + neg.size).toBe(400);
    for (const k of pos.keys()) expect(neg.has(k)).toBe(false);
    for (const vals of pos.values()) expect(vals).toEqual([1, 2]);
    // Roughly the ratio (the hash is uniform).
    expect(pos.size).toBeGreaterThan(80);
    expect(pos.size).toBeLessThan(160);
    for (const s of input) expect(pos.has(labelsKey(s.labels))).toBe(ratioSampleOffset(s.labels) < 0.3);
  });
});

describe('GoHeap', () => {
  test('keeps the heap order and the k largest (topk) or smallest (bottomk) values', () => {
    const rnd = mulberry32(5);
    for (let round = 0; round < 200; round++) {
      const reverse = round % 2 === 1;
      const n = 1 + Math.floor(rnd() * 40);
      const k = 1 + Math.floor(rnd() * n);
      // Few distinct values: ties are the norm.
      const vals = Array.from({ length: n }, () => Math.floor(rnd() * 6));
      const h = new GoHeap(n, reverse);
      vals.forEach((v, i) => {
        if (h.len < k) h.push(i, v);
        else if (reverse ? h.vals[0]! > v : h.vals[0]! < v) h.replaceTop(i, v);
        h.assertInvariants();
      });
      const kept = Array.from(h.vals.subarray(0, h.len)).sort((a, b) => a - b);
      const want = [...vals].sort((a, b) => (reverse ? a - b : b - a)).slice(0, k).sort((a, b) => a - b);
      expect(kept).toEqual(want);
    }
  });
});

describe('formatting helpers', () => {
  test.each([
    [1, '1'],
    [0.1, '0.1'],
    [-2.5, '-2.5'],
    [1e21, '1000000000000000000000'],
    [1.5e-7, '0.00000015'],
    [123456.789, '123456.789'],
    [-0, '-0'],
    [NaN, 'NaN'],
    [-Infinity, '-Inf'],
  ])('goFloatF(%s) = %s', (v, want) => expect(goFloatF(v)).toBe(want));

  test.each([
    [1e19, '1e+19'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [123, '123'],
    [123456, '123456'],
    [1234567, '1.234567e+06'],
    [-2.5e-9, '-2.5e-09'],
    [Infinity, '+Inf'],
  ])('goFloatV(%s) = %s', (v, want) => expect(goFloatV(v)).toBe(want));

  test('quantile interpolates between closest ranks', () => {
    expect(quantile(0.5, Float64Array.of(4, 1, 3, 2), 0)).toBe(2.5);
    expect(quantile(0.9, Float64Array.of(10, 0), 0)).toBe(9);
    expect(quantile(0.5, new Float64Array(0), 0)).toBeNaN();
  });
});

/** Reference aggregation written from the definition, one step at a time (exact on small integers). */
function naive(op: string, vals: number[]): number {
  switch (op) {
    case 'sum':
      return vals.reduce((a, b) => a + b, 0);
    case 'count':
      return vals.length;
    case 'min':
      return Math.min(...vals);
    case 'max':
      return Math.max(...vals);
    case 'avg':
      return vals.reduce((a, b) => a + b, 0) / vals.length;
    case 'group':
      return 1;
    default:
      throw new Error(op);
  }
}

describe('random data against a per-step reference', () => {
  test('sum/count/min/max/avg/group by a label, and topk membership, over range queries', async () => {
    const rnd = mulberry32(31337);
    let compared = 0;
    for (let round = 0; round < 12; round++) {
      const data: MemorySeries[] = [];
      const nSeries = 2 + Math.floor(rnd() * 12);
      for (let i = 0; i < nSeries; i++) {
        const pts: [number, PointValue][] = [];
        let t = T0 + Math.floor(rnd() * 5 * M);
        for (let j = 0; j < 60; j++) {
          t += S + Math.floor(rnd() * (rnd() < 0.05 ? 8 * M : 40 * S));
          // Distinct values across series (i in the fraction) so topk has no ties.
          pts.push([t, rnd() < 0.05 ? 'stale' : Math.floor(rnd() * 100) + i / 64]);
        }
        data.push(series({ __name__: 'm', g: String(Math.floor(rnd() * 3)), i: String(i) }, pts));
      }
      const q = new MemoryQuerier(data);
      const start = T0 + 10 * M;
      const step = 30 * S + Math.floor(rnd() * M);
      const end = start + 40 * step;
      // The selector's own per-step values are the reference input.
      const raw = await rangeQuery(q, 'm', start, end, step);
      if (raw.resultType !== 'matrix') throw new Error('matrix expected');
      const perStep = new Map<number, { labels: Labels; v: number }[]>();
      for (const s of raw.result) {
        s.timestampsMs.forEach((t, j) => {
          if (!perStep.has(t)) perStep.set(t, []);
          perStep.get(t)!.push({ labels: s.labels, v: s.values[j]! });
        });
      }
      const gOf = (l: Labels): string => l.find((x) => x.name === 'g')!.value;
      for (const op of ['sum', 'count', 'min', 'max', 'avg', 'group']) {
        const r = await rangeQuery(q, `${op} by (g) (m)`, start, end, step);
        if (r.resultType !== 'matrix') throw new Error('matrix expected');
        const got = new Map<string, number>();
        for (const s of r.result) s.timestampsMs.forEach((t, j) => got.set(`${s.labels[0]!.value}@${t}`, s.values[j]!));
        const want = new Map<string, number>();
        for (const [t, vec] of perStep) {
          for (const g of new Set(vec.map((x) => gOf(x.labels)))) {
            want.set(`${g}@${t}`, naive(op, vec.filter((x) => gOf(x.labels) === g).map((x) => x.v)));
          }
        }
        expect(got.size, `${op} round ${round}`).toBe(want.size);
        for (const [k, v] of want) expect(got.get(k), `${op} ${k}`).toBeCloseTo(v, 9);
        compared += want.size;
      }
      const k = 1 + Math.floor(rnd() * 3);
      const r = await rangeQuery(q, `topk by (g) (${k}, m)`, start, end, step);
      if (r.resultType !== 'matrix') throw new Error('matrix expected');
      const got = new Set<string>();
      for (const s of r.result) s.timestampsMs.forEach((t) => got.add(`${labelsKey(s.labels)}@${t}`));
      const want = new Set<string>();
      for (const [t, vec] of perStep) {
        for (const g of new Set(vec.map((x) => gOf(x.labels)))) {
          const members = vec.filter((x) => gOf(x.labels) === g).sort((a, b) => b.v - a.v);
          for (const x of members.slice(0, k)) want.add(`${labelsKey(x.labels)}@${t}`);
        }
      }
      expect(got).toEqual(want);
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
