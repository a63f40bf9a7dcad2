// Aggregation operators (sum min max avg group stddev stdvar count count_values topk bottomk
// quantile limitk limit_ratio) over the step grid, with Prometheus 3 semantics for floats
// (promql/engine.go: rangeEvalAgg, aggregation, aggregationK, aggregationCountValues).
//
// Input series are grouped once by the labelsKey of their reduced label set (`by`: only the
// listed labels; `without`: all but the listed labels and __name__). Each group then folds its
// members in input order, step by step, with the same arithmetic as Prometheus so results are
// bit-identical: Kahan–Neumaier compensation for sum/avg (avg switching to an incremental mean
// when the plain sum would overflow), Welford for stddev/stdvar, min/max preferring non-NaN,
// Go's container/heap replayed exactly for topk/bottomk so that ties and NaN pick the same
// series. The parameter of topk/bottomk/limitk/limit_ratio/quantile is a scalar evaluated per
// step (Prometheus 3's fParams). limit_ratio samples by Prometheus' label hash: xxhash64 of the
// stringlabels encoding of the series' labels (the default build of Prometheus 3).
//
// Annotations (annotations.ts): quantile φ outside [0, 1] or NaN, limit_ratio's ratio outside
// [-1, 1] (capped). Not carried: native histograms (this engine has floats only).
import { MochaError } from '../errors.js';
import { type Label, type Labels, labelsKey, METRIC_NAME_LABEL, setLabel } from '../model/labels.js';
import { invalidQuantileWarning, invalidRatioWarning } from './annotations.js';
import type { Aggregate, Expr } from './ast.js';
import type { EvalContext, EvalValue, StepSeries } from './eval-selector.js';

// A UTF-16 surrogate without its pair: such a string has no UTF-8 form, so it is no valid name.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type Evaluate = (node: Expr, ctx: EvalContext) => Promise<EvalValue>;

// Prometheus' convertibleToInt64 bounds: the largest float64 below 2^63, and -2^63.
const MAX_INT64_FLOAT = 9223372036854774784;
const MIN_INT64_FLOAT = -9223372036854775808;

/** Evaluates an aggregation over the context's whole grid; `evaluate` is the engine's evaluator. */
export async function evalAggregate(node: Aggregate, ctx: EvalContext, evaluate: Evaluate): Promise<EvalValue> {
  if (node.op === 'count_values') {
    const p = node.param === undefined ? undefined : await evaluate(node.param, ctx);
    if (p?.type !== 'string') throw new MochaError('INTERNAL', 'count_values parameter did not evaluate to a string');
    // Prometheus 3 validates names as UTF-8 (prometheus/common's default NameValidationScheme):
    // "a-b" is fine; the empty name and ill-formed UTF-16 (no UTF-8 encoding) are not.
    if (p.value === '' || LONE_SURROGATE.test(p.value)) throw new MochaError('QUERY_EXECUTION', `invalid label name ${JSON.stringify(p.value)}`);
    const input = await evalInput(node, ctx, evaluate);
    return { type: 'vector', series: countValues(ctx, input, node.grouping, node.without, p.value) };
  }
  let param: Float64Array | undefined;
  if (node.param !== undefined) {
    const p = await evaluate(node.param, ctx);
    if (p.type !== 'scalar') throw new MochaError('INTERNAL', `aggregation parameter evaluated to ${p.type}`);
    param = p.values;
    if (node.op === 'quantile') warnOnQuantileParam(ctx, param, node.param);
  }
  const input = await evalInput(node, ctx, evaluate);
  switch (node.op) {
    case 'topk':
    case 'bottomk':
    case 'limitk':
    case 'limit_ratio':
      return { type: 'vector', series: aggregateK(ctx, node, input, param!) };
    default:
      return { type: 'vector', series: aggregateGroups(ctx, node, input, param) };
  }
}

/**
 * Prometheus 3 (rangeEvalAgg) looks at φ over all steps, whatever the input: one warning if any
 * step is NaN, one for the largest φ above 1, one for the smallest below 0.
 */
function warnOnQuantileParam(ctx: EvalContext, q: Float64Array, param: Expr): void {
  let anyNaN = false;
  let max = -Infinity;
  let min = Infinity;
  for (const v of q) {
    if (Number.isNaN(v)) anyNaN = true;
    else {
      if (v > max) max = v;
      if (v < min) min = v;
    }
  }
  if (anyNaN) ctx.annotations.add(invalidQuantileWarning(NaN, param.pos));
  if (max > 1) ctx.annotations.add(invalidQuantileWarning(max, param.pos));
  if (min < 0) ctx.annotations.add(invalidQuantileWarning(min, param.pos));
}

async function evalInput(node: Aggregate, ctx: EvalContext, evaluate: Evaluate): Promise<StepSeries[]> {
  const v = await evaluate(node.expr, ctx);
  if (v.type !== 'vector') throw new MochaError('INTERNAL', `aggregation input evaluated to ${v.type}`);
  return v.series;
}

/** The labels a group keeps: `by` keeps only the listed names, `without` drops them and __name__. */
export function groupingLabels(labels: Labels, grouping: readonly string[], without: boolean): Labels {
  const out: Label[] = [];
  for (const l of labels) {
    const listed = grouping.includes(l.name);
    if (without ? !listed && l.name !== METRIC_NAME_LABEL : listed) out.push(l);
  }
  return out;
}

interface Groups {
  /** Group index of each input series. */
  readonly ofSeries: Int32Array;
  /** Member series indices of each group, in input order. */
  readonly members: Int32Array[];
  readonly labels: Labels[];
}

function groupSeries(input: readonly StepSeries[], grouping: readonly string[], without: boolean): Groups {
  const byKey = new Map<string, number>();
  const ofSeries = new Int32Array(input.length);
  const memberLists: number[][] = [];
  const labels: Labels[] = [];
  for (let i = 0; i < input.length; i++) {
    const reduced = groupingLabels(input[i]!.labels, grouping, without);
    const key = labelsKey(reduced);
    let g = byKey.get(key);
    if (g === undefined) {
      g = labels.length;
      byKey.set(key, g);
      labels.push(reduced);
      memberLists.push([]);
    }
    ofSeries[i] = g;
    memberLists[g]!.push(i);
  }
  return { ofSeries, members: memberLists.map((m) => Int32Array.from(m)), labels };
}

/** Kahan–Neumaier step as Prometheus' kahanSumInc: returns the new sum, writes the new compensation to acc[1]. */
function kahanSumInc(inc: number, sum: number, c: number, acc: Float64Array): void {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) c = 0;
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc;
  else c += inc - t + sum;
  acc[0] = t;
  acc[1] = c;
}

/** sum avg count min max group stddev stdvar quantile: one output series per group. */
function aggregateGroups(ctx: EvalContext, node: Aggregate, input: readonly StepSeries[], param: Float64Array | undefined): StepSeries[] {
  const n = ctx.stepCount;
  const groups = groupSeries(input, node.grouping, node.without);
  const out: StepSeries[] = [];
  const acc = new Float64Array(2);
  // Scratch per group, reused: compensation/mean/count columns.
  const c = new Float64Array(n);
  const mean = new Float64Array(n);
  const count = new Float64Array(n);
  const incremental = new Uint8Array(n);
  for (let g = 0; g < groups.labels.length; g++) {
    ctx.checkCancel();
    const col = ctx.allocStepSeries(groups.labels[g]!);
    const val = col.values;
    const seen = col.present;
    const members = groups.members[g]!;
    if (node.op === 'quantile') {
      quantileGroup(input, members, param!, val, seen);
      if (hasAny(seen)) out.push(col);
      continue;
    }
    c.fill(0);
    mean.fill(0);
    count.fill(0);
    incremental.fill(0);
    for (const si of members) foldSeries(node.op, input[si]!, col, c, mean, count, incremental, acc);
    for (let k = 0; k < n; k++) {
      if (seen[k] === 0) continue;
      switch (node.op) {
        case 'sum':
          val[k]! += c[k]!;
          break;
        case 'avg':
          val[k] = incremental[k] === 1 ? mean[k]! + c[k]! : (val[k]! + c[k]!) / count[k]!;
          break;
        case 'count':
          val[k] = count[k]!;
          break;
        case 'stdvar':
          val[k] = val[k]! / count[k]!;
          break;
        case 'stddev':
          val[k] = Math.sqrt(val[k]! / count[k]!);
          break;
        default:
          break;
      }
    }
    if (hasAny(seen)) out.push(col);
  }
  return out;
}

/**
 * Folds one member series into its group's columns at every step where it is present; the
 * first sample at a step initialises the group there (Prometheus' `!group.seen` branch). One loop
 * per operator keeps the switch out of the per-sample path.
 */
function foldSeries(
  op: Aggregate['op'],
  s: StepSeries,
  col: StepSeries,
  c: Float64Array,
  mean: Float64Array,
  count: Float64Array,
  incremental: Uint8Array,
  acc: Float64Array,
): void {
  const sv = s.values;
  const sp = s.present;
  const val = col.values;
  const seen = col.present;
  const n = sv.length;
  switch (op) {
    case 'sum':
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        const f = sv[k]!;
        if (seen[k] === 0) {
          seen[k] = 1;
          val[k] = f;
          continue;
        }
        // kahanSumInc, inlined.
        const sum = val[k]!;
        const t = sum + f;
        if (t === Infinity || t === -Infinity) c[k] = 0;
        else if (Math.abs(sum) >= Math.abs(f)) c[k]! += sum - t + f;
        else c[k]! += f - t + sum;
        val[k] = t;
      }
      return;
    case 'avg':
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        const f = sv[k]!;
        if (seen[k] === 0) {
          seen[k] = 1;
          val[k] = f;
          mean[k] = f;
          count[k] = 1;
          continue;
        }
        avgStep(f, k, val, c, mean, count, incremental, acc);
      }
      return;
    case 'count':
    case 'group':
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        seen[k] = 1;
        count[k]!++;
        val[k] = 1;
      }
      return;
    case 'max':
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        const f = sv[k]!;
        if (seen[k] === 0) {
          seen[k] = 1;
          val[k] = f;
        } else if (val[k]! < f || Number.isNaN(val[k]!)) val[k] = f;
      }
      return;
    case 'min':
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        const f = sv[k]!;
        if (seen[k] === 0) {
          seen[k] = 1;
          val[k] = f;
        } else if (val[k]! > f || Number.isNaN(val[k]!)) val[k] = f;
      }
      return;
    case 'stddev':
    case 'stdvar':
      // Welford's online variance; val holds the sum of squared deviations.
      for (let k = 0; k < n; k++) {
        if (sp[k] === 0) continue;
        const f = sv[k]!;
        if (seen[k] === 0) {
          seen[k] = 1;
          count[k] = 1;
          mean[k] = f;
          val[k] = Number.isFinite(f) ? 0 : NaN;
          continue;
        }
        const cnt = ++count[k]!;
        const delta = f - mean[k]!;
        mean[k]! += delta / cnt;
        val[k]! += delta * (f - mean[k]!);
      }
      return;
    default:
      throw new MochaError('INTERNAL', `unexpected aggregation ${op}`);
  }
}

/**
 * One further sample of avg at step k (Prometheus 3): a Kahan sum while it stays finite; once it
 * would overflow, an incremental mean (each side divided by the count first to avoid overflow).
 */
function avgStep(
  f: number,
  k: number,
  sum: Float64Array,
  c: Float64Array,
  mean: Float64Array,
  count: Float64Array,
  incremental: Uint8Array,
  acc: Float64Array,
): void {
  const cnt = ++count[k]!;
  if (incremental[k] === 0) {
    kahanSumInc(f, sum[k]!, c[k]!, acc);
    if (acc[0] !== Infinity && acc[0] !== -Infinity) {
      sum[k] = acc[0]!;
      c[k] = acc[1]!;
      return;
    }
    incremental[k] = 1;
    mean[k] = sum[k]! / (cnt - 1);
    c[k] = c[k]! / (cnt - 1);
  }
  const m = mean[k]!;
  if (m === Infinity || m === -Infinity) {
    // Inf of the same sign: the mean is already right. A finite value cannot move an infinite
    // mean, and the update below would compute Inf - Inf = NaN.
    if ((f === Infinity || f === -Infinity) && m > 0 === f > 0) return;
    if (Number.isFinite(f)) return;
  }
  const current = m + c[k]!;
  kahanSumInc(f / cnt - current / cnt, m, c[k]!, acc);
  mean[k] = acc[0]!;
  c[k] = acc[1]!;
}

function hasAny(present: Uint8Array): boolean {
  for (let k = 0; k < present.length; k++) if (present[k] === 1) return true;
  return false;
}

function quantileGroup(input: readonly StepSeries[], members: Int32Array, q: Float64Array, val: Float64Array, seen: Uint8Array): void {
  const scratch = new Float64Array(members.length);
  for (let k = 0; k < val.length; k++) {
    let len = 0;
    let nans = 0;
    for (const si of members) {
      const s = input[si]!;
      if (s.present[k] === 0) continue;
      const f = s.values[k]!;
      if (Number.isNaN(f)) nans++;
      else scratch[len++] = f;
    }
    if (len + nans === 0) continue;
    seen[k] = 1;
    val[k] = quantile(q[k]!, scratch.subarray(0, len), nans);
  }
}

/**
 * Prometheus' quantile(): φ-quantile with linear interpolation between closest ranks; NaN inputs
 * sort first (its Less puts NaN below everything). `sorted` holds the non-NaN values (sorted here).
 */
export function quantile(q: number, values: Float64Array, nanCount: number): number {
  const n = values.length + nanCount;
  if (n === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  values.sort();
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  const at = (i: number): number => (i < nanCount ? NaN : values[i - nanCount]!);
  return at(lower) * (1 - weight) + at(upper) * weight;
}

/** Go's %v for a float64 (strconv 'g' shortest: exponent when it is < -4 or >= 6), for error messages. */
export function goFloatV(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mant, expText] = v.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return goFloatF(v);
}

/** Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent. */
export function goFloatF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const neg = v < 0;
  const [mant, expText] = Math.abs(v).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expText); // value = d.ddd x 10^exp
  let s: string;
  if (exp >= digits.length - 1) s = digits + '0'.repeat(exp - digits.length + 1);
  else if (exp >= 0) s = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  else s = `0.${'0'.repeat(-exp - 1)}${digits}`;
  return neg ? `-${s}` : s;
}

// --- topk / bottomk / limitk / limit_ratio ------------------------------------------------

/**
 * Heap of (series index, value) pairs replaying Go's container/heap (Push, Fix) with Prometheus'
 * comparators, so that with ties and NaN the same series stay as in Prometheus.
 * vectorByValueHeap (topk): less(a, b) = isNaN(a) || a < b — the smallest (or a NaN) on top.
 * vectorByReverseValueHeap (bottomk): less(a, b) = isNaN(a) || a > b — the largest (or a NaN) on top.
 * Invariant: no element is less than its parent; len <= capacity (the largest group's size).
 */
export class GoHeap {
  readonly items: Int32Array;
  readonly vals: Float64Array;
  len = 0;
  constructor(
    capacity: number,
    private readonly reverse: boolean,
  ) {
    this.items = new Int32Array(capacity);
    this.vals = new Float64Array(capacity);
  }

  assertInvariants(): void {
    if (this.len > this.items.length) throw new MochaError('INTERNAL', `heap length ${this.len} exceeds capacity ${this.items.length}`);
    for (let i = 1; i < this.len; i++) {
      const parent = (i - 1) >> 1;
      if (this.less(i, parent)) throw new MochaError('INTERNAL', `heap order broken at ${i}`);
    }
  }

  private less(i: number, j: number): boolean {
    const a = this.vals[i]!;
    return Number.isNaN(a) || (this.reverse ? a > this.vals[j]! : a < this.vals[j]!);
  }

  private swap(i: number, j: number): void {
    const t = this.items[i]!;
    this.items[i] = this.items[j]!;
    this.items[j] = t;
    const v = this.vals[i]!;
    this.vals[i] = this.vals[j]!;
    this.vals[j] = v;
  }

  push(si: number, v: number): void {
    this.items[this.len] = si;
    this.vals[this.len] = v;
    this.len++;
    this.up(this.len - 1);
  }

  /** Overwrites the top (heap[0] = s) and restores the heap as heap.Fix(h, 0). */
  replaceTop(si: number, v: number): void {
    this.items[0] = si;
    this.vals[0] = v;
    if (!this.down(0, this.len)) this.up(0);
  }

  private up(j: number): void {
    for (;;) {
      const i = Math.trunc((j - 1) / 2); // Go's integer division truncates: parent of 0 is 0.
      if (i === j || !this.less(j, i)) break;
      this.swap(i, j);
      j = i;
    }
  }

  private down(i0: number, n: number): boolean {
    let i = i0;
    for (;;) {
      const j1 = 2 * i + 1;
      if (j1 >= n) break;
      let j = j1;
      const j2 = j1 + 1;
      if (j2 < n && this.less(j2, j1)) j = j2;
      if (!this.less(j, i)) break;
      this.swap(i, j);
      i = j;
    }
    return i > i0;
  }

  /**
   * Orders the heap as Prometheus' sort.Sort(sort.Reverse(heap)) for an instant query: Go's sort
   * is an insertion sort up to 12 elements, replayed here exactly (including the order of NaNs,
   * for which Less is not a strict order); beyond 12 Go's pdqsort may order ties differently.
   */
  sortForOutput(): void {
    for (let i = 1; i < this.len; i++) {
      // Reverse(heap).Less(j, j-1) = heap.Less(j-1, j).
      for (let j = i; j > 0 && this.less(j - 1, j); j--) this.swap(j, j - 1);
    }
  }
}

/** topk/bottomk/limitk/limit_ratio: the chosen input series, with their own labels, per step. */
function aggregateK(ctx: EvalContext, node: Aggregate, input: readonly StepSeries[], param: Float64Array): StepSeries[] {
  const n = ctx.stepCount;
  const op = node.op;
  const groups = groupSeries(input, node.grouping, node.without);
  // Output columns by the input series' label key (series with identical labels share one).
  const outByKey = new Map<string, StepSeries>();
  const outOf: (StepSeries | undefined)[] = new Array<StepSeries | undefined>(input.length);
  const output = (si: number): StepSeries => {
    let col = outOf[si];
    if (col === undefined) {
      const key = labelsKey(input[si]!.labels);
      col = outByKey.get(key);
      if (col === undefined) {
        col = ctx.allocStepSeries(input[si]!.labels);
        outByKey.set(key, col);
      }
      outOf[si] = col;
    }
    return col;
  };
  const offsets = op === 'limit_ratio' ? Float64Array.from(input, (s) => ratioSampleOffset(s.labels)) : undefined;
  const maxMembers = groups.members.reduce((m, g) => Math.max(m, g.length), 0);
  const heap = new GoHeap(Math.max(1, maxMembers), op === 'bottomk');
  // An instant query keeps Prometheus' order (groups as first seen, topk descending, bottomk
  // ascending, NaN last) for an engine that does not re-sort topk/bottomk results.
  const ordered: StepSeries[] = [];

  for (let step = 0; step < n; step++) {
    ctx.checkCancel();
    const p = param[step]!;
    let k = 0;
    let ratio = 0;
    if (op === 'limit_ratio') {
      if (Number.isNaN(p)) throw new MochaError('QUERY_EXECUTION', `Ratio value ${goFloatV(p)} is NaN`);
      if (p === 0) continue;
      if (p > 1) ctx.annotations.add(invalidRatioWarning(p, 1, node.param!.pos));
      else if (p < -1) ctx.annotations.add(invalidRatioWarning(p, -1, node.param!.pos));
      ratio = Math.max(-1, Math.min(1, p));
    } else {
      if (!(p <= MAX_INT64_FLOAT && p >= MIN_INT64_FLOAT)) throw new MochaError('QUERY_EXECUTION', `Scalar value ${goFloatV(p)} overflows int64`);
      k = Math.min(Math.trunc(p), input.length);
      if (k < 1) continue;
    }
    for (const members of groups.members) {
      heap.len = 0;
      for (const si of members) {
        const s = input[si]!;
        if (s.present[step] === 0) continue;
        const f = s.values[step]!;
        switch (op) {
          case 'limit_ratio': {
            const off = offsets![si]!;
            if ((ratio >= 0 && off < ratio) || (ratio < 0 && off >= 1 + ratio)) heap.items[heap.len++] = si;
            break;
          }
          case 'limitk':
            if (heap.len < k) heap.items[heap.len++] = si;
            break;
          case 'topk': {
            if (heap.len < k) heap.push(si, f);
            else {
              const top = heap.vals[0]!;
              if (top < f || (Number.isNaN(top) && !Number.isNaN(f))) heap.replaceTop(si, f);
            }
            break;
          }
          case 'bottomk': {
            if (heap.len < k) heap.push(si, f);
            else {
              const top = heap.vals[0]!;
              if (top > f || (Number.isNaN(top) && !Number.isNaN(f))) heap.replaceTop(si, f);
            }
            break;
          }
          default:
            throw new MochaError('INTERNAL', `unexpected aggregation ${op}`);
        }
      }
      if (n === 1 && (op === 'topk' || op === 'bottomk')) heap.sortForOutput();
      for (let i = 0; i < heap.len; i++) {
        const si = heap.items[i]!;
        const col = output(si);
        col.values[step] = input[si]!.values[step]!;
        col.present[step] = 1;
        if (n === 1) ordered.push(col);
      }
    }
  }
  return n === 1 ? ordered : [...outByKey.values()];
}

// --- limit_ratio hashing --------------------------------------------------------------------

const U64 = (1n << 64n) - 1n;
const P1 = 11400714785074694791n;
const P2 = 14029467366897019727n;
const P3 = 1609587929392839161n;
const P4 = 9650029242287828579n;
const P5 = 2870177450012600261n;

function rotl64(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & U64;
}

function xxRound(acc: bigint, lane: bigint): bigint {
  acc = (acc + lane * P2) & U64;
  acc = rotl64(acc, 31n);
  return (acc * P1) & U64;
}

function xxMerge(acc: bigint, v: bigint): bigint {
  acc ^= xxRound(0n, v);
  return (acc * P1 + P4) & U64;
}

/** XXH64 with seed 0 (what github.com/cespare/xxhash Sum64 computes). BigInt: used once per series. */
export function xxhash64(b: Uint8Array): bigint {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = b.length;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (P1 + P2) & U64;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (U64 + 1n - P1) & U64;
    for (; p + 32 <= len; p += 32) {
      v1 = xxRound(v1, dv.getBigUint64(p, true));
      v2 = xxRound(v2, dv.getBigUint64(p + 8, true));
      v3 = xxRound(v3, dv.getBigUint64(p + 16, true));
      v4 = xxRound(v4, dv.getBigUint64(p + 24, true));
    }
    h = (rotl64(v1, 1n) + rotl64(v2, 7n) + rotl64(v3, 12n) + rotl64(v4, 18n)) & U64;
    h = xxMerge(h, v1);
    h = xxMerge(h, v2);
    h = xxMerge(h, v3);
    h = xxMerge(h, v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(len)) & U64;
  for (; p + 8 <= len; p += 8) {
    h ^= xxRound(0n, dv.getBigUint64(p, true));
    h = (rotl64(h, 27n) * P1 + P4) & U64;
  }
  if (p + 4 <= len) {
    h ^= (BigInt(dv.getUint32(p, true)) * P1) & U64;
    h = (rotl64(h, 23n) * P2 + P3) & U64;
    p += 4;
  }
  for (; p < len; p++) {
    h ^= (BigInt(b[p]!) * P5) & U64;
    h = (rotl64(h, 11n) * P1) & U64;
  }
  h ^= h >> 33n;
  h = (h * P2) & U64;
  h ^= h >> 29n;
  h = (h * P3) & U64;
  h ^= h >> 32n;
  return h;
}

/**
 * Prometheus' stringlabels encoding of a label set (its Labels.data): per name and value, the
 * UTF-8 length as one byte (0-254) or 255 followed by 3 bytes little-endian, then the bytes.
 */
export function stringLabelsBytes(labels: Labels): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const l of labels) {
    for (const s of [l.name, l.value]) {
      const bytes = enc.encode(s);
      const size = bytes.length < 255 ? Uint8Array.of(bytes.length) : Uint8Array.of(255, bytes.length & 0xff, (bytes.length >> 8) & 0xff, (bytes.length >> 16) & 0xff);
      parts.push(size, bytes);
      total += size.length + bytes.length;
    }
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const part of parts) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** HashRatioSampler.sampleOffset: float64(labels.Hash()) / float64(MaxUint64), in [0, 1]. */
export function ratioSampleOffset(labels: Labels): number {
  // Number(bigint) rounds to nearest like Go's uint64 -> float64 conversion; MaxUint64 rounds to 2^64.
  return Number(xxhash64(stringLabelsBytes(labels))) / 2 ** 64;
}

// --- count_values ---------------------------------------------------------------------------

/**
 * count_values: per step, one output series per (group, value) with the value formatted as Go's
 * FormatFloat(f, 'f', -1) in `valueLabel` (overwriting a series label of that name). With `by`
 * the value label is always part of the grouping; with `without` it is unless listed.
 */
function countValues(ctx: EvalContext, input: readonly StepSeries[], grouping: readonly string[], without: boolean, valueLabel: string): StepSeries[] {
  const n = ctx.stepCount;
  // `without` always drops __name__, so count_values("__name__", ...) without (...) merges values.
  const valueCounts = !without || (!grouping.includes(valueLabel) && valueLabel !== METRIC_NAME_LABEL);
  // Groups before the value: the reduced labels without the value label, interned once.
  const baseOf = new Int32Array(input.length);
  const bases: Labels[] = [];
  const baseIds = new Map<string, number>();
  for (let si = 0; si < input.length; si++) {
    const r = groupingLabels(
      input[si]!.labels.filter((l) => l.name !== valueLabel),
      grouping,
      without,
    );
    const key = labelsKey(r);
    let id = baseIds.get(key);
    if (id === undefined) {
      id = bases.length;
      baseIds.set(key, id);
      bases.push(r);
    }
    baseOf[si] = id;
  }
  // Per base group, output series by value. Distinct float64 values format to distinct strings
  // (shortest round-trip digits), so the number itself is the key — except that Map treats
  // -0 and 0 as one key while Go formats them as "-0" and "0": -0 gets its own map.
  const byValue: Map<number, StepSeries>[] = bases.map(() => new Map());
  const byNegZero: Map<number, StepSeries>[] = bases.map(() => new Map());
  const out: StepSeries[] = [];
  for (let k = 0; k < n; k++) {
    ctx.checkCancel();
    for (let si = 0; si < input.length; si++) {
      const s = input[si]!;
      if (s.present[k] === 0) continue;
      const f = valueCounts ? s.values[k]! : 0;
      const b = baseOf[si]!;
      const m = Object.is(f, -0) ? byNegZero[b]! : byValue[b]!;
      let col = m.get(f);
      if (col === undefined) {
        col = ctx.allocStepSeries(valueCounts ? setLabel(bases[b]!, valueLabel, goFloatF(f)) : bases[b]!);
        m.set(f, col);
        out.push(col);
      }
      if (col.present[k] === 0) {
        col.present[k] = 1;
        col.values[k] = 1;
      } else col.values[k]!++;
    }
  }
  return out;
}

