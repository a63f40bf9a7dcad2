// Binary and unary operators (src/query/eval-binary.ts): table-driven cases in the case format of
// test/helpers/promql-cases.ts, plus a seeded differential test of vector matching against a
// naive step-by-step model written from Prometheus' VectorBinop/VectorAnd/Or/Unless.
import { describe, expect, it } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { compareLabels, labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import { instantQuery, rangeQuery } from '../../src/query/engine.js';
import { formatLabelsGo, goPow, scalarBinop } from '../../src/query/eval-binary.js';
import { caseTitle, parseCaseFile, runCase } from '../helpers/promql-cases.js';
import { MemoryQuerier, series, type MemorySeries, type PointValue } from '../helpers/memory-querier.js';
import { mulberry32 } from '../helpers/prng.js';

const CASES = String.raw`
# ---- scalar / scalar ------------------------------------------------------------------------
eval instant at 0 1+1
  scalar 2
eval instant at 0 2 + 3 * 4
  scalar 14
eval instant at 0 2 ^ 3 ^ 2
  scalar 512
eval instant at 0 (1 + 2) * -3
  scalar -9
eval instant at 0 -5 % 3
  scalar -2
eval instant at 0 5 % -3
  scalar 2
eval instant at 0 5 % 0
  scalar NaN
eval instant at 0 Inf % 2
  scalar NaN
eval instant at 0 5 % Inf
  scalar 5
eval instant at 0 1 / 0
  scalar +Inf
eval instant at 0 -1 / 0
  scalar -Inf
eval instant at 0 0 / 0
  scalar NaN
eval instant at 0 1 ^ NaN
  scalar 1
eval instant at 0 (-1) ^ Inf
  scalar 1
eval instant at 0 NaN ^ 0
  scalar 1
eval instant at 0 1 atan2 -1
  scalar 2.356194490192345
eval instant at 0 1 == bool 1
  scalar 1
eval instant at 0 2 > bool 3
  scalar 0
eval instant at 0 NaN == bool NaN
  scalar 0
eval instant at 0 NaN != bool NaN
  scalar 1
eval instant at 0 Inf >= bool Inf
  scalar 1
eval instant at 0 - - 2
  scalar 2
eval instant at 0 +-3
  scalar -3
eval range from 0 to 2m step 1m 3 - 1
  {} 2 2 2

# ---- vector / scalar ------------------------------------------------------------------------
load 1m
  http_requests{method="get"} 600
  http_requests{method="del"} 34
  http_requests{method="post"} 120
  http_errors{method="get", code="500"} 24
  http_errors{method="get", code="404"} 30
  http_errors{method="put", code="501"} 3
  http_errors{method="post", code="500"} 6
  http_errors{method="post", code="404"} 21
  special{v="nan"} NaN
  special{v="inf"} Inf
  special{v="-inf"} -Inf

eval instant at 0 http_requests * 2
  {method="get"} 1200
  {method="del"} 68
  {method="post"} 240
eval instant at 0 1000 - http_requests
  {method="get"} 400
  {method="del"} 966
  {method="post"} 880
eval instant at 0 http_requests > 100
  http_requests{method="get"} 600
  http_requests{method="post"} 120
eval instant at 0 100 < http_requests
  http_requests{method="get"} 600
  http_requests{method="post"} 120
eval instant at 0 http_requests > bool 100
  {method="get"} 1
  {method="del"} 0
  {method="post"} 1
eval instant at 0 100 >= bool http_requests
  {method="get"} 0
  {method="del"} 1
  {method="post"} 0
eval instant at 0 http_requests == NaN
eval instant at 0 special != bool special
  {v="nan"} 1
  {v="inf"} 0
  {v="-inf"} 0
eval instant at 0 special * 0
  {v="nan"} NaN
  {v="inf"} NaN
  {v="-inf"} NaN
eval instant at 0 special > -Inf
  special{v="inf"} Inf
eval instant at 0 special ^ 0
  {v="nan"} 1
  {v="inf"} 1
  {v="-inf"} 1
eval instant at 0 nonexistent + 1
eval instant at 0 http_requests{method="get"} atan2 0
  {method="get"} 1.5707963267948966
eval instant at 0 http_requests{method="get"} % 7
  {method="get"} 5

# ---- unary ----------------------------------------------------------------------------------
eval instant at 0 -http_requests
  {method="get"} -600
  {method="del"} -34
  {method="post"} -120
eval instant at 0 +http_requests{method="del"}
  http_requests{method="del"} 34
eval instant at 0 -(-http_requests{method="del"})
  {method="del"} 34

# ---- vector / vector: one-to-one, many-to-one, one-to-many ------------------------------------
eval instant at 0 http_errors{code="500"} / ignoring(code) http_requests
  {method="get"} 0.04
  {method="post"} 0.05
eval instant at 0 http_errors{code="500"} / on(method) http_requests
  {method="get"} 0.04
  {method="post"} 0.05
eval instant at 0 http_errors / ignoring(code) group_left http_requests
  {method="get", code="500"} 0.04
  {method="get", code="404"} 0.05
  {method="post", code="500"} 0.05
  {method="post", code="404"} 0.175
eval instant at 0 http_errors / on(method) group_left http_requests
  {method="get", code="500"} 0.04
  {method="get", code="404"} 0.05
  {method="post", code="500"} 0.05
  {method="post", code="404"} 0.175
eval instant at 0 http_requests / ignoring(code) group_right http_errors
  {method="get", code="500"} 25
  {method="get", code="404"} 20
  {method="post", code="500"} 20
  {method="post", code="404"} 5.714285714285714
eval instant at 0 http_errors > ignoring(code) group_left http_requests / 25
  http_errors{method="get", code="404"} 30
  http_errors{method="post", code="500"} 6
  http_errors{method="post", code="404"} 21
eval instant at 0 http_errors > bool ignoring(code) group_left http_requests / 25
  {method="get", code="500"} 0
  {method="get", code="404"} 1
  {method="post", code="500"} 1
  {method="post", code="404"} 1
eval instant at 0 http_requests - http_requests
  {method="get"} 0
  {method="del"} 0
  {method="post"} 0
eval instant at 0 http_requests >= http_requests
  http_requests{method="get"} 600
  http_requests{method="del"} 34
  http_requests{method="post"} 120
# group_right comparison: the value is the left operand's, the labels (and name) the many side's.
eval instant at 0 http_requests > on(method) group_right http_errors
  http_errors{method="get", code="500"} 600
  http_errors{method="get", code="404"} 600
  http_errors{method="post", code="500"} 120
  http_errors{method="post", code="404"} 120
eval instant at 0 http_requests < on(method) group_right http_errors
eval instant at 0 special == special
  special{v="inf"} Inf
  special{v="-inf"} -Inf
eval instant at 0 nonexistent + on() http_requests
eval instant at 0 http_requests + on() nonexistent

eval_fail instant at 0 http_errors / ignoring(code) http_requests
  error multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)
  code QUERY_EXECUTION
eval_fail instant at 0 http_errors + on() group_left http_requests
  error found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="http_requests", method="get"}, {__name__="http_requests", method="del"}];many-to-many matching not allowed: matching labels must be unique on one side
  code QUERY_EXECUTION
eval_fail instant at 0 http_errors - on(method) group_right http_requests
  error found duplicate series for the match group {method="get"} on the left hand-side of the operation: [{__name__="http_errors", code="500", method="get"}, {__name__="http_errors", code="404", method="get"}];many-to-many matching not allowed: matching labels must be unique on one side

# ---- set operators --------------------------------------------------------------------------
eval instant at 0 http_errors and http_requests
eval instant at 0 http_errors and on(method) http_requests
  http_errors{method="get", code="500"} 24
  http_errors{method="get", code="404"} 30
  http_errors{method="post", code="500"} 6
  http_errors{method="post", code="404"} 21
eval instant at 0 http_errors unless on(method) http_requests
  http_errors{method="put", code="501"} 3
eval instant at 0 http_requests or on(method) http_errors
  http_requests{method="get"} 600
  http_requests{method="del"} 34
  http_requests{method="post"} 120
  http_errors{method="put", code="501"} 3
eval instant at 0 http_requests and on() http_requests{method="del"}
  http_requests{method="get"} 600
  http_requests{method="del"} 34
  http_requests{method="post"} 120
eval instant at 0 http_requests unless ignoring(code) http_errors
  http_requests{method="del"} 34
eval instant at 0 nonexistent or http_requests{method="del"}
  http_requests{method="del"} 34
eval instant at 0 http_requests{method="del"} unless nonexistent
  http_requests{method="del"} 34
eval instant at 0 http_requests{method="del"} and nonexistent
eval instant at 0 http_requests > 100 and on(method) http_errors > 20
  http_requests{method="get"} 600
  http_requests{method="post"} 120
eval instant at 0 http_requests{method="get"} or http_requests{method="del"} or http_requests{method="post"} * 2
  http_requests{method="get"} 600
  http_requests{method="del"} 34
  {method="post"} 240

# ---- label sets that collide ------------------------------------------------------------------
clear
load 1m
  e1{m="a"} 1 1 _ _
  e2{m="a"} _ _ 2 2
  e3{m="a"} 3 _ _ 3
  r{m="a", extra="x"} 10 10 10 10
  r2{m="a"} 100 _ 100 _

eval instant at 0 {__name__=~"e1|e3"} > 0
  e1{m="a"} 1
  e3{m="a"} 3
eval_fail instant at 0 {__name__=~"e1|e3"} * 2
  error vector cannot contain metrics with the same labelset
eval_fail instant at 0 -{__name__=~"e1|e3"}
  error vector cannot contain metrics with the same labelset
eval_fail instant at 0 {__name__=~"e1|e3"} + on(m) r
  error multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)
eval_fail instant at 0 {__name__=~"e1|e3"} + on(m) group_left r
  error multiple matches for labels: grouping labels must ensure unique matches
eval instant at 0 {__name__=~"e1|e3"} > on(m) group_left(extra) r - 10
  e1{m="a", extra="x"} 1
  e3{m="a", extra="x"} 3
# bool drops the name, so e1 and e3 produce one label set in one match group.
eval_fail instant at 0 {__name__=~"e1|e3"} > bool on(m) group_left(extra) r
  error multiple matches for labels: grouping labels must ensure unique matches
eval instant at 0 e1 * on(m) group_left(extra, nothere) r
  {m="a", extra="x"} 10

# Series with the same labels after __name__ is dropped merge when they never overlap.
lookback 1m
eval range from 0 to 3m step 1m {__name__=~"e1|e2"} * 10
  {m="a"} 10 10 20 20
eval range from 0 to 3m step 1m -{__name__=~"e1|e2"}
  {m="a"} -1 -1 -2 -2
eval_fail range from 0 to 3m step 1m -{__name__=~"e1|e3"}
  error vector cannot contain metrics with the same labelset
# Matching per step: e1 and e2 never meet, so one-to-one on(m) works at every step.
eval range from 0 to 3m step 1m {__name__=~"e1|e2"} + on(m) r
  {m="a"} 11 11 12 12
# The duplicate on the "one" side only matters at steps where both sides have samples.
eval range from 0 to 2m step 1m r + on(m) group_left {__name__=~"e2|e3"}
  {m="a", extra="x"} 13 _ 12
eval_fail range from 0 to 3m step 1m r + on(m) group_left {__name__=~"e2|e3"}
  error found duplicate series for the match group {m="a"} on the right hand-side
eval range from 0 to 3m step 1m r2 + on(m) group_left {__name__=~"e2|e3"}
  {m="a"} 103 _ 102 _
eval_fail range from 0 to 3m step 1m (r2 or r) + on(m) group_left {__name__=~"e2|e3"}
  error found duplicate series
# or per step: the rhs fills the steps where the lhs has no sample of the match group.
eval range from 0 to 3m step 1m e1 or ignoring(extra) r
  e1{m="a"} 1 1 _ _
  r{m="a", extra="x"} _ _ 10 10
eval range from 0 to 3m step 1m r unless ignoring(extra) e2
  r{m="a", extra="x"} 10 10 _ _
eval range from 0 to 3m step 1m r and ignoring(extra) e3
  r{m="a", extra="x"} 10 _ _ 10
eval range from 0 to 3m step 1m e3 > bool 1
  {m="a"} 1 _ _ 1

# Stale markers end a series' presence, so a match stops at the marker.
clear
load 1m
  s{m="a"} 1 2 stale 4
  t{m="a"} 10 10 10 10
eval range from 0 to 3m step 1m s + t
  {m="a"} 11 12 _ 14
eval range from 0 to 3m step 1m t unless s
  t{m="a"} _ _ 10 _
`;

describe('binary and unary operator cases', () => {
  for (const c of parseCaseFile('binary.test.ts', CASES)) {
    it(caseTitle(c), () => runCase(c));
  }
});

describe('helpers', () => {
  it('goPow follows Go math.Pow where JS differs', () => {
    expect(goPow(1, NaN)).toBe(1);
    expect(goPow(-1, Infinity)).toBe(1);
    expect(goPow(-1, -Infinity)).toBe(1);
    expect(goPow(2, 10)).toBe(1024);
    expect(goPow(NaN, 1)).toBeNaN();
    expect(scalarBinop('<=', 1, 1)).toBe(1);
    expect(scalarBinop('%', -7, 2)).toBe(-1);
  });

  it('formats label sets as Go does in error messages', () => {
    expect(formatLabelsGo([])).toBe('{}');
    expect(formatLabelsGo(labelsFromRecord({ __name__: 'x', b: 'q"\n\\', a: 'é' }))).toBe('{__name__="x", a="é", b="q\\"\\n\\\\"}');
    expect(formatLabelsGo([{ name: 'a.b', value: '1' }])).toBe('{"a.b"="1"}');
  });
});

describe('through instantQuery / rangeQuery', () => {
  const T0 = 1_700_000_000_000;

  it('Grafana Save & test: 1+1 is the scalar 2 at the evaluation time', async () => {
    const q = new MemoryQuerier([]);
    expect(await instantQuery(q, '1+1', T0)).toEqual({ resultType: 'scalar', result: { t: T0, v: 2 } });
  });

  it('a scalar range query is one series without labels', async () => {
    const r = await rangeQuery(new MemoryQuerier([]), '2 * 3', T0, T0 + 120_000, 60_000);
    if (r.resultType !== 'matrix') throw new Error('matrix expected');
    expect(r.result).toHaveLength(1);
    expect(r.result[0]!.labels).toEqual([]);
    expect(Array.from(r.result[0]!.values)).toEqual([6, 6, 6]);
  });

  it('output columns count against the samples limit', async () => {
    const data = Array.from({ length: 20 }, (_, i) => series({ __name__: 'x', i: String(i) }, [[T0, i]]));
    const q = new MemoryQuerier(data);
    // 20 loaded samples + 20 cells per side + 20 output cells: well above 50.
    const err = await instantQuery(q, 'x + x', T0, { samplesMax: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MochaError);
    expect((err as MochaError).code).toBe('QUERY_TOO_MANY_SAMPLES');
    const ok = await instantQuery(q, 'x + x', T0, { samplesMax: 200 });
    expect(ok.resultType === 'vector' && ok.result.length).toBe(20);
  });

  it('an aborted query stops with QUERY_CANCELED', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await instantQuery(new MemoryQuerier([]), '1 + 1', T0, { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as MochaError).code).toBe('QUERY_CANCELED');
  });
});

// ---- differential test: vector matching against a naive per-step model ---------------------------

type Sample = { labels: Labels; v: number };
type MatchingSpec = { on: boolean; labels: string[]; card: 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many'; include: string[] };

function matchKey(l: Labels, m: MatchingSpec): string {
  return labelsKey(m.on ? l.filter((x) => m.labels.includes(x.name)) : l.filter((x) => x.name !== '__name__' && !m.labels.includes(x.name)));
}

function fmt(l: Labels): string {
  return formatLabelsGo(l);
}

/** Prometheus' per-step algorithm, written plainly: the model the engine must agree with. */
function modelStep(op: string, bool: boolean, m: MatchingSpec, lhs: Sample[], rhs: Sample[]): Sample[] {
  const out: Sample[] = [];
  if (op === 'and' || op === 'or' || op === 'unless') {
    const rk = new Set(rhs.map((s) => matchKey(s.labels, m)));
    if (op === 'and') return lhs.filter((s) => rk.has(matchKey(s.labels, m)));
    if (op === 'unless') return lhs.filter((s) => !rk.has(matchKey(s.labels, m)));
    const lk = new Set(lhs.map((s) => matchKey(s.labels, m)));
    return [...lhs, ...rhs.filter((s) => !lk.has(matchKey(s.labels, m)))];
  }
  if (lhs.length === 0 || rhs.length === 0) return [];
  const swap = m.card === 'one-to-many';
  const [many, one] = swap ? [rhs, lhs] : [lhs, rhs];
  const right = new Map<string, Sample>();
  for (const s of one) {
    const k = matchKey(s.labels, m);
    const d = right.get(k);
    if (d !== undefined) {
      const ml = m.on ? s.labels.filter((x) => m.labels.includes(x.name)) : s.labels.filter((x) => x.name !== '__name__' && !m.labels.includes(x.name));
      throw new Error(`found duplicate series for the match group ${fmt(ml)} on the ${swap ? 'left' : 'right'} hand-side of the operation: [${fmt(s.labels)}, ${fmt(d.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`);
    }
    right.set(k, s);
  }
  const matched = new Map<string, Set<string>>();
  for (const ls of many) {
    const k = matchKey(ls.labels, m);
    const rs = right.get(k);
    if (rs === undefined) continue;
    const [a, b] = swap ? [rs.v, ls.v] : [ls.v, rs.v];
    const isCmp = ['==', '!=', '>', '<', '>=', '<='].includes(op);
    let v = a;
    let keep = true;
    if (isCmp) keep = scalarBinop(op as '==', a, b) === 1;
    else v = scalarBinop(op as '+', a, b);
    if (bool) v = keep ? 1 : 0;
    let rec: Record<string, string> = Object.fromEntries(ls.labels.map((x) => [x.name, x.value]));
    if (!isCmp) delete rec['__name__'];
    if (m.card === 'one-to-one') rec = Object.fromEntries(Object.entries(rec).filter(([n]) => (m.on ? m.labels.includes(n) : !m.labels.includes(n))));
    for (const n of m.include) {
      const val = rs.labels.find((x) => x.name === n)?.value ?? '';
      if (val === '') delete rec[n];
      else rec[n] = val;
    }
    if (bool) delete rec['__name__'];
    const labels = labelsFromRecord(rec);
    const seen = matched.get(k);
    if (m.card === 'one-to-one') {
      if (seen !== undefined) throw new Error('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
      matched.set(k, new Set());
    } else {
      const set = seen ?? new Set<string>();
      if (set.has(labelsKey(labels))) throw new Error('multiple matches for labels: grouping labels must ensure unique matches');
      set.add(labelsKey(labels));
      matched.set(k, set);
    }
    if (!keep && !bool) continue;
    out.push({ labels, v });
  }
  return out;
}

describe('vector matching agrees with a naive per-step model (seeded)', () => {
  const STEP = 60_000;
  const STEPS = 6;
  const names = ['a', 'b'];
  const ops = ['+', '-', '*', '/', '>', '<=', '==', 'and', 'or', 'unless'];

  /** Sorted by labels: storage order, which is the order Prometheus matches (and reports) in. */
  function randomData(rnd: () => number): MemorySeries[] {
    const out: MemorySeries[] = [];
    const seen = new Set<string>();
    const count = 2 + Math.floor(rnd() * 7);
    for (let i = 0; i < count; i++) {
      const rec: Record<string, string> = { __name__: names[Math.floor(rnd() * 2)]! };
      if (rnd() < 0.8) rec['x'] = String(Math.floor(rnd() * 2));
      if (rnd() < 0.6) rec['y'] = String(Math.floor(rnd() * 3));
      const key = JSON.stringify(rec);
      if (seen.has(key)) continue;
      seen.add(key);
      const pts: [number, PointValue][] = [];
      for (let k = 0; k < STEPS; k++) if (rnd() < 0.6) pts.push([k * STEP, Math.floor(rnd() * 4)]);
      out.push(series(rec, pts));
    }
    return out.sort((p, q) => compareLabels(p.labels, q.labels));
  }

  function randomQuery(rnd: () => number): { query: string; op: string; bool: boolean; m: MatchingSpec } {
    const op = ops[Math.floor(rnd() * ops.length)]!;
    const isSet = ['and', 'or', 'unless'].includes(op);
    const bool = !isSet && ['>', '<=', '=='].includes(op) && rnd() < 0.4;
    const on = rnd() < 0.5;
    const labels = ['x', 'y'].filter(() => rnd() < 0.5);
    let card: MatchingSpec['card'] = isSet ? 'many-to-many' : 'one-to-one';
    let include: string[] = [];
    let mod = `${on ? 'on' : 'ignoring'}(${labels.join(', ')})`;
    if (!isSet && rnd() < 0.5) {
      card = rnd() < 0.5 ? 'many-to-one' : 'one-to-many';
      include = ['x', 'y'].filter((l) => rnd() < 0.3 && !(on && labels.includes(l)));
      mod += ` ${card === 'many-to-one' ? 'group_left' : 'group_right'}(${include.join(', ')})`;
    }
    const query = `a ${op}${bool ? ' bool' : ''} ${mod} b`;
    return { query, op, bool, m: { on, labels, card, include } };
  }

  it('300 random cases: same series, values and errors', async () => {
    const rnd = mulberry32(20261122);
    let errors = 0;
    for (let c = 0; c < 300; c++) {
      const data = randomData(rnd);
      const { query, op, bool, m } = randomQuery(rnd);
      const q = new MemoryQuerier(data);
      // Model: gather each side per step (lookback 1 ms: only samples exactly at the step).
      const side = (name: string, k: number): Sample[] =>
        data
          .filter((s) => s.labels.some((l) => l.name === '__name__' && l.value === name))
          .flatMap((s) => {
            const i = Array.from(s.timestampsMs).indexOf(k * STEP);
            return i >= 0 ? [{ labels: s.labels, v: s.values[i]! }] : [];
          });
      let want: Map<string, (number | undefined)[]> | Error = new Map();
      try {
        for (let k = 0; k < STEPS; k++) {
          const res = modelStep(op, bool, m, side('a', k), side('b', k));
          const keys = new Set<string>();
          for (const s of res) {
            const key = labelsKey(s.labels);
            if (keys.has(key)) throw new Error('vector cannot contain metrics with the same labelset');
            keys.add(key);
            const row = want.get(key) ?? new Array<number | undefined>(STEPS).fill(undefined);
            row[k] = s.v;
            want.set(key, row);
          }
        }
      } catch (e) {
        want = e as Error;
      }
      let got: Map<string, (number | undefined)[]> | Error = new Map();
      try {
        const r = await rangeQuery(q, query, 0, (STEPS - 1) * STEP, STEP, { lookbackDeltaMs: 1 });
        if (r.resultType !== 'matrix') throw new Error('matrix expected');
        for (const s of r.result) {
          const row = new Array<number | undefined>(STEPS).fill(undefined);
          s.timestampsMs.forEach((t, i) => (row[t / STEP] = s.values[i]));
          got.set(labelsKey(s.labels), row);
        }
      } catch (e) {
        if (!(e instanceof MochaError) || e.code !== 'QUERY_EXECUTION') throw e;
        got = e;
      }
      const ctx = `${query}\n${data.map((s) => `${fmt(s.labels)} ${Array.from(s.timestampsMs).map((t, i) => `${s.values[i]}@${t / STEP}`).join(' ')}`).join('\n')}`;
      if (want instanceof Error) {
        errors++;
        expect(got instanceof Error ? got.message : 'no error', ctx).toBe(want.message);
      } else {
        expect(got instanceof Error ? got.message : Object.fromEntries(got), ctx).toEqual(Object.fromEntries(want));
      }
    }
    // The generator must exercise the error paths too, not only the happy ones.
    expect(errors).toBeGreaterThan(20);
  });
});
