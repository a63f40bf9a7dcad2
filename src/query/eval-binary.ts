// Binary and unary operators over the step grid, with Prometheus 3 semantics for floats
// (promql/engine.go: scalarBinop, VectorscalarBinop, VectorBinop, VectorAnd/Or/Unless,
// resultMetric, the UnaryExpr case, and rangeEval's per-step label-set check).
//
// Prometheus evaluates binary operators step by step: it computes each series' join signature
// once, then at every step matches the samples present at that step. We do the same work
// signature by signature instead (all steps of one match group, then the next), which walks
// each series' columns sequentially. Where Prometheus would fail, the earliest failing step is
// found first and then replayed exactly in Prometheus' order (replayStep), so the error reported
// is the one Prometheus reports.
//
// Ownership: a parent owns the values its children evaluated to, so operators reuse and modify
// input columns in place where the output series is an input series (filters, vector-scalar
// arithmetic, set operators, unary minus); new columns come from ctx.allocStepSeries.
//
// __name__ (Prometheus 3 with delayed name removal off): dropped by arithmetic, by `bool`
// comparisons and by unary minus; kept by filtering comparisons and set operators. Output series
// that end up with the same label set merge when they never overlap; two samples with the same
// label set at one step fail with "vector cannot contain metrics with the same labelset".
import { MochaError } from '../errors.js';
import { goQuote } from './go-quote.js';
import { dropMetricName, type Label, type Labels, labelsKey, METRIC_NAME_LABEL, setLabel } from '../model/labels.js';
import { COMPARISON_OPS, type Binary, type BinaryOp, type Expr, type Unary, type VectorMatching } from './ast.js';
import type { EvalContext, EvalValue, StepSeries } from './eval-selector.js';

export type Evaluate = (node: Expr, ctx: EvalContext) => Promise<EvalValue>;

const ARITHMETIC_OPS: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['+', '-', '*', '/', '%', '^', 'atan2']);

/** Go's changesMetricSchema: arithmetic transforms the metric, so its name no longer applies. */
export function changesMetricSchema(op: BinaryOp): boolean {
  return ARITHMETIC_OPS.has(op);
}

/** Go's math.Pow where it differs from JS: 1^y = 1 and (-1)^±Inf = 1 (JS gives NaN). */
export function goPow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

/** Arithmetic on two floats (Go's math.Mod has the sign of x, as JS % does). */
function arith(op: BinaryOp, l: number, r: number): number {
  switch (op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    case '/':
      return l / r;
    case '%':
      return l % r;
    case '^':
      return goPow(l, r);
    case 'atan2':
      return Math.atan2(l, r);
    default:
      throw new MochaError('INTERNAL', `operator ${JSON.stringify(op)} is not arithmetic`);
  }
}

/** Result of a comparison operator on two floats. */
function compare(op: BinaryOp, l: number, r: number): boolean {
  switch (op) {
    case '==':
      return l === r;
    case '!=':
      return l !== r;
    case '>':
      return l > r;
    case '<':
      return l < r;
    case '>=':
      return l >= r;
    case '<=':
      return l <= r;
    default:
      throw new MochaError('INTERNAL', `operator ${JSON.stringify(op)} is not a comparison`);
  }
}

/** Go's scalarBinop: comparisons between scalars always answer 0 or 1. */
export function scalarBinop(op: BinaryOp, l: number, r: number): number {
  return COMPARISON_OPS.has(op) ? (compare(op, l, r) ? 1 : 0) : arith(op, l, r);
}


/** Go's labels.Labels.String(): `{a="1", b="2"}`, names outside the legacy charset quoted. */
export function formatLabelsGo(labels: Labels): string {
  return '{' + labels.map((l) => (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l.name) ? l.name : goQuote(l.name)) + '=' + goQuote(l.value)).join(', ') + '}';
}

/** Go's Labels.MatchLabels: the labels `on` keeps, or all but __name__ and the ignored ones. */
export function matchLabels(labels: Labels, on: boolean, names: readonly string[]): Labels {
  return on ? labels.filter((l) => names.includes(l.name)) : labels.filter((l) => l.name !== METRIC_NAME_LABEL && !names.includes(l.name));
}

/** Go's resultMetric (plus the bool name drop): many is the "many" side, one the "one" side. */
function resultMetric(many: Labels, one: Labels, op: BinaryOp, matching: VectorMatching, bool: boolean): Labels {
  let out = changesMetricSchema(op) ? dropMetricName(many) : many;
  if (matching.card === 'one-to-one') {
    out = matching.on ? out.filter((l) => matching.labels.includes(l.name)) : out.filter((l) => !matching.labels.includes(l.name));
  }
  for (const name of matching.include) {
    let v = '';
    for (const l of one) if (l.name === name) v = l.value;
    out = setLabel(out, name, v);
  }
  // Prometheus drops the name of a bool comparison after resultMetric, include labels and all.
  return bool ? dropMetricName(out) : out;
}

function sameLabelsetError(): MochaError {
  return new MochaError('QUERY_EXECUTION', 'vector cannot contain metrics with the same labelset');
}

/**
 * Output series by label set. Input columns can be adopted whole (no copy); samples arriving
 * for a label set that already has a sample at that step fail as Prometheus does.
 */
export class SeriesCollector {
  private readonly idByKey = new Map<string, number>();
  private readonly labelsById: Labels[] = [];
  private readonly cols: (StepSeries | undefined)[] = [];

  constructor(private readonly ctx: EvalContext) {}

  /** Id of the output series with these labels (its column is allocated on first write). */
  idFor(labels: Labels): number {
    const key = labelsKey(labels);
    let id = this.idByKey.get(key);
    if (id === undefined) {
      id = this.labelsById.length;
      this.idByKey.set(key, id);
      this.labelsById.push(labels);
      this.cols.push(undefined);
    }
    return id;
  }

  get size(): number {
    return this.labelsById.length;
  }

  /** True when the output series already holds a sample at step k. */
  has(id: number, k: number): boolean {
    return this.cols[id]?.present[k] === 1;
  }

  /** Writes one sample; returns false (writing nothing) when the step is already taken. */
  put(id: number, k: number, v: number): boolean {
    let col = this.cols[id];
    if (col === undefined) {
      col = this.ctx.allocStepSeries(this.labelsById[id]!);
      this.cols[id] = col;
    }
    if (col.present[k] === 1) return false;
    col.values[k] = v;
    col.present[k] = 1;
    return true;
  }

  /** Adds a whole series under the given labels, reusing its columns when the label set is new. */
  adopt(s: StepSeries, labels: Labels): void {
    const id = this.idFor(labels);
    const col = this.cols[id];
    if (col === undefined) {
      this.cols[id] = labels === s.labels ? s : { labels, values: s.values, present: s.present };
      return;
    }
    const n = s.present.length;
    for (let k = 0; k < n; k++) {
      if (s.present[k] === 0) continue;
      if (col.present[k] === 1) throw sameLabelsetError();
      col.values[k] = s.values[k]!;
      col.present[k] = 1;
    }
  }

  /** The collected series that have at least one sample. */
  result(): StepSeries[] {
    const out: StepSeries[] = [];
    for (const col of this.cols) if (col !== undefined && col.present.includes(1)) out.push(col);
    return out;
  }
}

/** Join signatures: series with equal signatures match. Ordinals are dense from 0. */
class Signatures {
  private readonly ordByKey = new Map<string, number>();
  constructor(private readonly matching: VectorMatching) {}

  ordinal(labels: Labels): number {
    const key = labelsKey(matchLabels(labels, this.matching.on, this.matching.labels));
    let ord = this.ordByKey.get(key);
    if (ord === undefined) {
      ord = this.ordByKey.size;
      this.ordByKey.set(key, ord);
    }
    return ord;
  }

  get size(): number {
    return this.ordByKey.size;
  }
}

/** Per sig ordinal, the indexes of the series that carry it. */
function groupBySig(sigs: Int32Array, numSigs: number): number[][] {
  const groups: number[][] = Array.from({ length: numSigs }, () => []);
  for (let i = 0; i < sigs.length; i++) groups[sigs[i]!]!.push(i);
  return groups;
}

function countPresent(series: readonly StepSeries[], n: number): Uint32Array {
  const counts = new Uint32Array(n);
  for (const s of series) for (let k = 0; k < n; k++) counts[k]! += s.present[k]!;
  return counts;
}

/** Presence union per signature ordinal: union[sig][k] is 1 when any series of sig is present at k. */
function presenceBySig(series: readonly StepSeries[], sigs: Int32Array, numSigs: number, n: number): (Uint8Array | undefined)[] {
  const union: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(numSigs).fill(undefined);
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const u = (union[sigs[i]!] ??= new Uint8Array(n));
    for (let k = 0; k < n; k++) u[k]! |= s.present[k]!;
  }
  return union;
}

/** and / or / unless: the lhs keeps its labels (and __name__); many-to-many by signature. */
function vectorSetOp(ctx: EvalContext, op: 'and' | 'or' | 'unless', matching: VectorMatching, lhs: StepSeries[], rhs: StepSeries[]): StepSeries[] {
  const n = ctx.stepCount;
  const sigs = new Signatures(matching);
  const lhsSig = Int32Array.from(lhs, (s) => sigs.ordinal(s.labels));
  const rhsSig = Int32Array.from(rhs, (s) => sigs.ordinal(s.labels));
  const out = new SeriesCollector(ctx);
  ctx.checkCancel();
  if (op === 'or') {
    const leftUnion = presenceBySig(lhs, lhsSig, sigs.size, n);
    for (const s of lhs) out.adopt(s, s.labels);
    for (let j = 0; j < rhs.length; j++) {
      const s = rhs[j]!;
      const u = leftUnion[rhsSig[j]!];
      if (u !== undefined) for (let k = 0; k < n; k++) s.present[k]! &= 1 - u[k]!;
      out.adopt(s, s.labels);
    }
    return out.result();
  }
  const rightUnion = presenceBySig(rhs, rhsSig, sigs.size, n);
  for (let i = 0; i < lhs.length; i++) {
    const s = lhs[i]!;
    const u = rightUnion[lhsSig[i]!];
    if (op === 'and') {
      if (u === undefined) continue;
      for (let k = 0; k < n; k++) s.present[k]! &= u[k]!;
    } else if (u !== undefined) {
      for (let k = 0; k < n; k++) s.present[k]! &= 1 - u[k]!;
    }
    out.adopt(s, s.labels);
  }
  return out.result();
}

/**
 * Arithmetic and comparisons between two vectors: one-to-one, many-to-one (group_left) or
 * one-to-many (group_right, handled by swapping sides as Prometheus does).
 */
function vectorBinop(ctx: EvalContext, op: BinaryOp, bool: boolean, matching: VectorMatching, lhs: StepSeries[], rhs: StepSeries[]): StepSeries[] {
  const n = ctx.stepCount;
  const swap = matching.card === 'one-to-many';
  const oneToOne = matching.card === 'one-to-one';
  const isComparison = COMPARISON_OPS.has(op);
  const many = swap ? rhs : lhs;
  const one = swap ? lhs : rhs;
  if (many.length === 0 || one.length === 0) return [];
  const sigs = new Signatures(matching);
  const manySig = Int32Array.from(many, (s) => sigs.ordinal(s.labels));
  const oneSig = Int32Array.from(one, (s) => sigs.ordinal(s.labels));
  const numSigs = sigs.size;
  const manyBySig = groupBySig(manySig, numSigs);
  const oneBySig = groupBySig(oneSig, numSigs);
  // Prometheus does nothing at a step where either side has no sample (not even its checks).
  const manyCount = countPresent(many, n);
  const oneCount = countPresent(one, n);
  const out = new SeriesCollector(ctx);

  // Output series of each (many, one) pair, computed once.
  const pairOut = new Map<number, number>();
  const outFor = (i: number, j: number): number => {
    const key = i * one.length + j;
    let id = pairOut.get(key);
    if (id === undefined) {
      id = out.idFor(resultMetric(many[i]!.labels, one[j]!.labels, op, matching, bool));
      pairOut.set(key, id);
    }
    return id;
  };

  // Match group by match group; errStep is the first step where Prometheus fails.
  let errStep = n;
  let stamp = 0;
  let insertStamp = new Int32Array(64);
  for (let s = 0; s < numSigs; s++) {
    const manyIdx = manyBySig[s]!;
    const oneIdx = oneBySig[s]!;
    if (oneIdx.length === 0 || (manyIdx.length === 0 && oneIdx.length < 2)) continue;
    ctx.checkCancel();
    for (let k = 0; k < errStep; k++) {
      if (manyCount[k] === 0 || oneCount[k] === 0) continue;
      let j = -1;
      let dup = false;
      for (const jj of oneIdx) {
        if (one[jj]!.present[k] === 0) continue;
        if (j >= 0) dup = true;
        j = jj;
      }
      if (dup) {
        errStep = k;
        break;
      }
      if (j < 0) continue;
      stamp++;
      let matched = 0;
      let failed = false;
      const r = one[j]!.values[k]!;
      for (const i of manyIdx) {
        const ms = many[i]!;
        if (ms.present[k] === 0) continue;
        if (oneToOne && ++matched > 1) {
          failed = true;
          break;
        }
        // Values in the operator's order (the "one" side is the left operand when swapped).
        const a = swap ? r : ms.values[k]!;
        const b = swap ? ms.values[k]! : r;
        let v = a;
        let keep = true;
        if (isComparison) keep = compare(op, a, b);
        else v = arith(op, a, b);
        const id = outFor(i, j);
        if (!oneToOne) {
          if (id >= insertStamp.length) {
            const grown = new Int32Array(Math.max(id + 1, insertStamp.length * 2));
            grown.set(insertStamp);
            insertStamp = grown;
          }
          if (insertStamp[id] === stamp) {
            failed = true;
            break;
          }
          insertStamp[id] = stamp;
        }
        if (!keep && !bool) continue;
        if (!out.put(id, k, bool ? (keep ? 1 : 0) : v)) {
          failed = true;
          break;
        }
      }
      if (failed) {
        errStep = k;
        break;
      }
    }
  }
  if (errStep < n) replayStep(errStep, op, bool, matching, many, one, manySig, oneSig, numSigs, isComparison, outFor);
  return out.result();
}

/**
 * Runs one step exactly in Prometheus' order (VectorBinop, then rangeEval's label-set check) to
 * throw the error Prometheus throws there; the caller knows this step fails.
 */
function replayStep(
  k: number,
  op: BinaryOp,
  bool: boolean,
  matching: VectorMatching,
  many: StepSeries[],
  one: StepSeries[],
  manySig: Int32Array,
  oneSig: Int32Array,
  numSigs: number,
  isComparison: boolean,
  outFor: (i: number, j: number) => number,
): never {
  const swap = matching.card === 'one-to-many';
  const rightIdx = new Int32Array(numSigs).fill(-1);
  for (let j = 0; j < one.length; j++) {
    if (one[j]!.present[k] === 0) continue;
    const s = oneSig[j]!;
    const prev = rightIdx[s]!;
    if (prev >= 0) {
      const rs = one[j]!.labels;
      throw new MochaError(
        'QUERY_EXECUTION',
        `found duplicate series for the match group ${formatLabelsGo(matchLabels(rs, matching.on, matching.labels))} on the ${swap ? 'left' : 'right'} hand-side of the operation: ` +
          `[${formatLabelsGo(rs)}, ${formatLabelsGo(one[prev]!.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    rightIdx[s] = j;
  }
  const matchedSigs = new Uint8Array(numSigs);
  const inserted = new Set<string>();
  const kept = new Set<number>();
  let collision = false;
  for (let i = 0; i < many.length; i++) {
    if (many[i]!.present[k] === 0) continue;
    const s = manySig[i]!;
    const j = rightIdx[s]!;
    if (j < 0) continue;
    const l = many[i]!.values[k]!;
    const r = one[j]!.values[k]!;
    const keep = !isComparison || (swap ? compare(op, r, l) : compare(op, l, r));
    const id = outFor(i, j);
    if (matching.card === 'one-to-one') {
      if (matchedSigs[s] === 1) throw new MochaError('QUERY_EXECUTION', 'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
      matchedSigs[s] = 1;
    } else {
      const key = `${s}:${id}`;
      if (inserted.has(key)) throw new MochaError('QUERY_EXECUTION', 'multiple matches for labels: grouping labels must ensure unique matches');
      inserted.add(key);
    }
    if (!keep && !bool) continue;
    if (kept.has(id)) collision = true;
    kept.add(id);
  }
  if (collision) throw sameLabelsetError();
  throw new MochaError('INTERNAL', `binary operator ${JSON.stringify(op)}: step ${k} was expected to fail but did not`);
}

/** Go's VectorscalarBinop; scalarLeft is Prometheus' swap (the scalar is the left operand). */
function vectorScalarBinop(ctx: EvalContext, op: BinaryOp, bool: boolean, vec: StepSeries[], scalar: Float64Array, scalarLeft: boolean): StepSeries[] {
  const n = ctx.stepCount;
  const isComparison = COMPARISON_OPS.has(op);
  const dropName = changesMetricSchema(op) || bool;
  const out = new SeriesCollector(ctx);
  for (const s of vec) {
    ctx.checkCancel();
    const values = s.values;
    const present = s.present;
    for (let k = 0; k < n; k++) {
      if (present[k] === 0) continue;
      const v = values[k]!;
      const c = scalar[k]!;
      if (isComparison) {
        // The output value is the vector's, whichever side it is on.
        const keep = scalarLeft ? compare(op, c, v) : compare(op, v, c);
        if (bool) values[k] = keep ? 1 : 0;
        else if (!keep) present[k] = 0;
      } else {
        values[k] = scalarLeft ? arith(op, c, v) : arith(op, v, c);
      }
    }
    out.adopt(s, dropName ? dropMetricName(s.labels) : s.labels);
  }
  return out.result();
}

function expectOperand(v: EvalValue, what: string): asserts v is Extract<EvalValue, { type: 'scalar' | 'vector' }> {
  if (v.type !== 'scalar' && v.type !== 'vector') throw new MochaError('INTERNAL', `${what} evaluated to ${v.type}`);
}

/** Evaluates a Binary node over the whole grid: both operands first, left then right. */
export async function evalBinary(node: Binary, ctx: EvalContext, evaluate: Evaluate): Promise<EvalValue> {
  const lhs = await evaluate(node.lhs, ctx);
  expectOperand(lhs, 'left operand');
  const rhs = await evaluate(node.rhs, ctx);
  expectOperand(rhs, 'right operand');
  ctx.checkCancel();
  const op = node.op;
  if (lhs.type === 'scalar' && rhs.type === 'scalar') {
    const l = lhs.values;
    const r = rhs.values;
    for (let k = 0; k < l.length; k++) l[k] = scalarBinop(op, l[k]!, r[k]!);
    return lhs;
  }
  if (lhs.type === 'vector' && rhs.type === 'vector') {
    if (op === 'and' || op === 'or' || op === 'unless') return { type: 'vector', series: vectorSetOp(ctx, op, node.matching, lhs.series, rhs.series) };
    return { type: 'vector', series: vectorBinop(ctx, op, node.bool, node.matching, lhs.series, rhs.series) };
  }
  if (lhs.type === 'vector' && rhs.type === 'scalar') return { type: 'vector', series: vectorScalarBinop(ctx, op, node.bool, lhs.series, rhs.values, false) };
  if (lhs.type === 'scalar' && rhs.type === 'vector') return { type: 'vector', series: vectorScalarBinop(ctx, op, node.bool, rhs.series, lhs.values, true) };
  throw new MochaError('INTERNAL', `binary operator ${JSON.stringify(op)} on ${lhs.type} and ${rhs.type}`);
}

/** Unary minus negates (and drops __name__ of a vector); unary plus changes nothing. */
export async function evalUnary(node: Unary, ctx: EvalContext, evaluate: Evaluate): Promise<EvalValue> {
  const v = await evaluate(node.expr, ctx);
  expectOperand(v, 'operand of unary operator');
  if (node.op === '+') return v;
  if (v.type === 'scalar') {
    for (let k = 0; k < v.values.length; k++) v.values[k] = -v.values[k]!;
    return v;
  }
  const out = new SeriesCollector(ctx);
  const n = ctx.stepCount;
  for (const s of v.series) {
    ctx.checkCancel();
    for (let k = 0; k < n; k++) if (s.present[k] === 1) s.values[k] = -s.values[k]!;
    out.adopt(s, dropMetricName(s.labels));
  }
  return { type: 'vector', series: out.result() };
}
