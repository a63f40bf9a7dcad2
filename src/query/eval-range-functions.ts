// Range-vector functions (rate, increase, *_over_time, ...) over the whole step grid, with the
// float semantics of Prometheus 3 (promql/functions.go, read at prometheus/prometheus main).
//
// How it runs: the matrix argument `m[r] offset o @ T` is read from storage ONCE for the whole
// grid ([first window start, last window end]), in batches of series (EvalContext.selectBatches:
// one batch of samples in memory at a time, not every series' whole range); stale markers are
// dropped once per series; then
// each series is walked with two forward-only indexes [lo, hi) that delimit the left-open window
// (t - r, t] of every step (t = the selector time: step time, or T, minus o). The kernel of the
// function reads the window in place: no matrix per step, no object per sample. Scratch buffers
// (quantile sorting) are allocated once per call and grown only when a window is larger.
//
// Prometheus rules followed here:
//   - a window with no sample gives no output at that step; functions that need two samples
//     (rate, increase, delta, irate, idelta, deriv, predict_linear, double_exponential_smoothing)
//     give none with fewer;
//   - the output drops __name__ except for last_over_time and first_over_time ("they act like
//     offset"); two input series that collide once the name is dropped are an error;
//   - absent_over_time gives one series, with labels from the selector's equality matchers, set
//     to 1 where no selected series has a sample in the window;
//   - predict_linear's intercept is at the step's evaluation time (enh.Ts), not the selector time;
//   - annotations (annotations.ts): rate/increase of a named series with output whose name lacks
//     _total/_sum/_count/_bucket (an info, per input series), quantile_over_time's φ outside
//     [0, 1] at steps whose window has samples (a warning).
import { MochaError } from '../errors.js';
import { dropMetricName, getLabel, type Label, type Labels, labelsKey, METRIC_NAME_LABEL } from '../model/labels.js';
import type { SeriesData } from '../model/querier.js';
import { isStaleAt } from '../model/samples.js';
import { invalidQuantileWarning, looksLikeCounterName, possibleNonCounterInfo } from './annotations.js';
import type { AtModifier, Call, Expr, MatrixSelector } from './ast.js';
import type { EvalContext, StepSeries } from './eval-selector.js';

/** Functions whose matrix argument is evaluated here, with the index of that argument. */
const MATRIX_ARG_INDEX: ReadonlyMap<string, number> = new Map([
  ['rate', 0],
  ['increase', 0],
  ['delta', 0],
  ['irate', 0],
  ['idelta', 0],
  ['changes', 0],
  ['resets', 0],
  ['deriv', 0],
  ['predict_linear', 0],
  ['double_exponential_smoothing', 0],
  ['absent_over_time', 0],
  ['present_over_time', 0],
  ['avg_over_time', 0],
  ['min_over_time', 0],
  ['max_over_time', 0],
  ['sum_over_time', 0],
  ['count_over_time', 0],
  ['quantile_over_time', 1],
  ['stddev_over_time', 0],
  ['stdvar_over_time', 0],
  ['last_over_time', 0],
  ['first_over_time', 0],
  ['mad_over_time', 0],
  ['ts_of_first_over_time', 0],
  ['ts_of_last_over_time', 0],
  ['ts_of_max_over_time', 0],
  ['ts_of_min_over_time', 0],
]);

/** Functions that keep __name__ (Prometheus: "act like offset"). */
const KEEPS_METRIC_NAME: ReadonlySet<string> = new Set(['last_over_time', 'first_over_time']);

/** Whether the function's output keeps the input's metric name. */
export function keepsMetricName(name: string): boolean {
  return KEEPS_METRIC_NAME.has(name);
}

export function isRangeFunction(name: string): boolean {
  return MATRIX_ARG_INDEX.has(name);
}

/** Index of the range-vector argument of a range function; undefined for other functions. */
export function rangeFunctionMatrixArgIndex(name: string): number | undefined {
  return MATRIX_ARG_INDEX.get(name);
}

/**
 * The range-vector argument of a function: the samples of every series covering all windows of
 * the grid, and how the windows sit (window at step k: (t - rangeMs, t], t = the selector time
 * of step k for `at` and `offsetMs`). From a matrix selector or a subquery.
 */
export interface RangeArgument {
  /** The series in label order, in batches; a batch is released when the next is asked for. */
  readonly batches: AsyncIterable<readonly SeriesData[]>;
  readonly rangeMs: number;
  readonly at: AtModifier;
  readonly offsetMs: number;
  /**
   * Where Prometheus reports annotations about this argument (the start of the matrix selector;
   * 0 for a subquery, whose evaluated stand-in selector has no position in Prometheus).
   */
  readonly posStart: number;
}

/** Reads a matrix selector once for all windows of the grid (lazily: batches load as they are walked). */
export async function loadMatrixSelector(ctx: EvalContext, ms: MatrixSelector): Promise<RangeArgument> {
  const vs = ms.vector;
  const firstMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, 0);
  const lastMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, ctx.stepCount - 1);
  const batches = ctx.selectBatches(vs, firstMs - ms.rangeMs, lastMs);
  return { batches, rangeMs: ms.rangeMs, at: vs.at, offsetMs: vs.offsetMs, posStart: ms.pos.start };
}

/**
 * Evaluates a range function over the grid. scalarArgs[i] holds the per-step values of the
 * scalar argument i (undefined at the matrix argument's index).
 */
export async function evalRangeFunction(
  ctx: EvalContext,
  call: Call,
  arg: RangeArgument,
  scalarArgs: readonly (Float64Array | undefined)[],
): Promise<StepSeries[]> {
  const name = call.func.name;
  const kernel = KERNELS.get(name);
  if (kernel === undefined && name !== 'absent_over_time') {
    throw new MochaError('QUERY_EXECUTION', `not supported yet: function ${name}()`);
  }
  const rangeMs = arg.rangeMs;
  const n = ctx.stepCount;

  if (name === 'absent_over_time') return absentOverTime(ctx, call, arg);

  const argA = scalarArgs[name === 'quantile_over_time' ? 0 : 1];
  const argB = scalarArgs[2];
  const w = new WindowState(rangeMs, rangeSeconds(rangeMs));
  const keepName = KEEPS_METRIC_NAME.has(name);
  // With @ every step reads the same window; only predict_linear also depends on the step time.
  const pinned = arg.at !== undefined && name !== 'predict_linear';
  const out: StepSeries[] = [];
  const seen = new Set<string>();
  const checksQuantile = name === 'quantile_over_time';
  const checksCounterName = name === 'rate' || name === 'increase';

  for await (const batch of arg.batches) {
    for (const raw of batch) {
      ctx.checkCancel();
      const s = withoutStaleMarkers(raw);
      const ts = s.timestampsMs;
      const len = ts.length;
      if (len === 0) continue;
      w.ts = ts;
      w.vs = s.values;
      let col: StepSeries | undefined;
      let lo = 0;
      let hi = 0;
      let prevPresent = false;
      for (let k = 0; k < n; k++) {
        const t = ctx.selectorTimeMs(arg.at, arg.offsetMs, k);
        // Step times never decrease (an @ pins them), so both indexes only move forward.
        while (hi < len && ts[hi]! <= t) hi++;
        while (lo < hi && ts[lo]! <= t - rangeMs) lo++;
        if (lo === hi) continue;
        w.lo = lo;
        w.hi = hi;
        w.endMs = t;
        w.evalMs = ctx.stepTimeMs(k);
        const a = argA === undefined ? NaN : argA[k]!;
        const b = argB === undefined ? NaN : argB[k]!;
        // Prometheus checks q per step and series, once the window has a float sample.
        if (checksQuantile && !(a >= 0 && a <= 1)) ctx.annotations.add(invalidQuantileWarning(a, call.args[0]!.pos));
        if (pinned && k > 0 && Object.is(a, w.a) && Object.is(b, w.b)) {
          // Same window, same arguments: the previous step's answer (an @ repeats it per step).
          if (prevPresent) {
            col!.values[k] = w.result;
            col!.present[k] = 1;
          }
          continue;
        }
        w.a = a;
        w.b = b;
        prevPresent = kernel!(w);
        if (!prevPresent) continue;
        if (col === undefined) {
          const labels = keepName ? s.labels : dropMetricName(s.labels);
          col = ctx.allocStepSeries(labels);
        }
        col.values[k] = w.result;
        col.present[k] = 1;
      }
      if (col !== undefined && checksCounterName) {
        // Prometheus (engine.go, range functions): rate/increase of a named series with float
        // output whose name does not look like a counter's.
        const metricName = getLabel(raw.labels, METRIC_NAME_LABEL);
        if (metricName !== '' && !looksLikeCounterName(metricName)) ctx.annotations.add(possibleNonCounterInfo(metricName, arg.posStart));
      }
      if (col !== undefined) {
        const key = labelsKey(col.labels);
        if (seen.has(key)) throw new MochaError('QUERY_EXECUTION', 'vector cannot contain metrics with the same labelset');
        seen.add(key);
        out.push(col);
      }
    }
  }
  return out;
}

/** Go's Duration.Seconds() of a whole number of ms: float64(sec) + float64(nsec)/1e9. */
export function rangeSeconds(rangeMs: number): number {
  const sec = Math.trunc(rangeMs / 1000);
  return sec + ((rangeMs - sec * 1000) * 1e6) / 1e9;
}

/** The series with stale markers removed; the same arrays when it has none. */
function withoutStaleMarkers(s: SeriesData): SeriesData {
  const len = s.timestampsMs.length;
  let stale = 0;
  for (let i = 0; i < len; i++) if (isStaleAt(s.values, i)) stale++;
  if (stale === 0) return s;
  const ts = new Float64Array(len - stale);
  const vals = new Float64Array(len - stale);
  let w = 0;
  for (let i = 0; i < len; i++) {
    if (isStaleAt(s.values, i)) continue;
    ts[w] = s.timestampsMs[i]!;
    vals[w] = s.values[i]!;
    w++;
  }
  return { labels: s.labels, timestampsMs: ts, values: vals };
}

/** Labels Prometheus gives absent()/absent_over_time(): equality matchers, name excluded. */
export function absentLabels(e: Expr): Labels {
  let x = e;
  while (x.kind === 'Paren') x = x.expr;
  const matchers = x.kind === 'VectorSelector' ? x.matchers : x.kind === 'MatrixSelector' ? x.vector.matchers : undefined;
  if (matchers === undefined) return [];
  // Mirrors Prometheus' labels.Builder: a second matcher on the same name (or any non-equality
  // matcher) deletes the label; setting an empty value deletes it too.
  const set = new Map<string, string>();
  const has = new Set<string>();
  for (const m of matchers) {
    if (m.name === METRIC_NAME_LABEL) continue;
    if (m.type === '=' && !has.has(m.name)) {
      if (m.value === '') set.delete(m.name);
      else set.set(m.name, m.value);
      has.add(m.name);
    } else set.delete(m.name);
  }
  const out: Label[] = [...set].map(([name, value]) => ({ name, value }));
  out.sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
  return out;
}

async function absentOverTime(ctx: EvalContext, call: Call, arg: RangeArgument): Promise<StepSeries[]> {
  const n = ctx.stepCount;
  const covered = new Uint8Array(n);
  let coveredCount = 0;
  for await (const batch of arg.batches) {
    for (const raw of batch) {
      ctx.checkCancel();
      const s = withoutStaleMarkers(raw);
      const ts = s.timestampsMs;
      const len = ts.length;
      let lo = 0;
      let hi = 0;
      for (let k = 0; k < n; k++) {
        const t = ctx.selectorTimeMs(arg.at, arg.offsetMs, k);
        while (hi < len && ts[hi]! <= t) hi++;
        while (lo < hi && ts[lo]! <= t - arg.rangeMs) lo++;
        if (lo < hi && covered[k] === 0) {
          covered[k] = 1;
          coveredCount++;
        }
      }
      if (coveredCount === n) return [];
    }
  }
  const col = ctx.allocStepSeries(absentLabels(call.args[0]!));
  for (let k = 0; k < n; k++) {
    if (covered[k] === 1) continue;
    col.values[k] = 1;
    col.present[k] = 1;
  }
  return [col];
}

/** One window of one series at one step, plus the step's scalar arguments; reused across steps. */
class WindowState {
  ts: Float64Array = new Float64Array(0);
  vs: Float64Array = new Float64Array(0);
  /** Window is [lo, hi) of ts/vs, never empty when a kernel runs. */
  lo = 0;
  hi = 0;
  /** Window end (selector time: step time or @, minus offset). */
  endMs = 0;
  /** The step's evaluation time (Prometheus' enh.Ts). */
  evalMs = 0;
  a = NaN;
  b = NaN;
  result = 0;
  /** Sort buffer for quantiles, grown to the largest window seen. */
  scratch: Float64Array = new Float64Array(64);

  constructor(
    readonly rangeMs: number,
    readonly rangeSeconds: number,
  ) {}

  scratchOf(size: number): Float64Array {
    if (this.scratch.length < size) this.scratch = new Float64Array(Math.max(size, this.scratch.length * 2));
    return this.scratch.subarray(0, size);
  }
}

/** Computes the function on the window; false means no output at this step. */
type Kernel = (w: WindowState) => boolean;

// Kahan-Neumaier increment (Prometheus util/kahansum.Inc); results in kSum/kC to avoid tuples.
let kSum = 0;
let kC = 0;
function kahanInc(inc: number, sum: number, c: number): void {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) c = 0;
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc;
  else c += inc - t + sum;
  kSum = t;
  kC = c;
}

function extrapolatedRate(w: WindowState, isCounter: boolean, isRate: boolean): boolean {
  const { ts, vs, lo, hi } = w;
  const count = hi - lo;
  if (count < 2) return false;
  const first = vs[lo]!;
  let result = vs[hi - 1]! - first;
  if (isCounter) {
    for (let i = lo + 1; i < hi; i++) {
      const prev = vs[i - 1]!;
      if (vs[i]! < prev) result += prev;
    }
  }
  w.result = extrapolate(result, count, ts[lo]!, first, ts[hi - 1]!, w.endMs - w.rangeMs, w.endMs, w.rangeSeconds, isCounter, isRate);
  return true;
}

/**
 * Prometheus' extrapolatedRate after the window has been read: `result` is last - first (plus,
 * for counters, the value before every reset), over `count` >= 2 samples from (firstT, first) to
 * lastT in the window (rangeStartMs, rangeEndMs]. Exported for the rollup levels (src/rollup),
 * which must give the same answer from bucket summaries.
 */
export function extrapolate(
  result: number,
  count: number,
  firstT: number,
  first: number,
  lastT: number,
  rangeStartMs: number,
  rangeEndMs: number,
  rangeSecs: number,
  isCounter: boolean,
  isRate: boolean,
): number {
  let durationToStart = (firstT - rangeStartMs) / 1000;
  let durationToEnd = (rangeEndMs - lastT) / 1000;
  const sampledInterval = (lastT - firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (count - 1);
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  if (durationToStart >= extrapolationThreshold) durationToStart = averageDurationBetweenSamples / 2;
  if (isCounter) {
    // A counter cannot go below zero: do not extrapolate further back than its zero point.
    let durationToZero = durationToStart;
    if (result > 0 && first >= 0) durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= extrapolationThreshold) durationToEnd = averageDurationBetweenSamples / 2;
  let factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval;
  if (isRate) factor /= rangeSecs;
  return result * factor;
}

function instantValue(w: WindowState, isRate: boolean): boolean {
  const { ts, vs, hi } = w;
  if (hi - w.lo < 2) return false;
  const t0 = ts[hi - 2]!;
  const t1 = ts[hi - 1]!;
  const v0 = vs[hi - 2]!;
  const v1 = vs[hi - 1]!;
  const sampledInterval = t1 - t0;
  if (sampledInterval === 0) return false;
  // A counter reset (irate) leaves the last value as the increase; NaN compares false: no reset.
  let r = v1;
  if (!isRate || !(v1 < v0)) r = v1 - v0;
  if (isRate) r /= sampledInterval / 1000;
  w.result = r;
  return true;
}

// linearRegression results.
let regSlope = 0;
let regIntercept = 0;
function linearRegression(w: WindowState, interceptTimeMs: number): void {
  const { ts, vs, lo, hi } = w;
  let n = 0;
  let sumX = 0;
  let cX = 0;
  let sumY = 0;
  let cY = 0;
  let sumXY = 0;
  let cXY = 0;
  let sumX2 = 0;
  let cX2 = 0;
  const initY = vs[lo]!;
  let constY = true;
  for (let i = lo; i < hi; i++) {
    const y = vs[i]!;
    if (constY && i > lo && y !== initY) constY = false;
    n += 1;
    const x = (ts[i]! - interceptTimeMs) / 1e3;
    kahanInc(x, sumX, cX);
    sumX = kSum;
    cX = kC;
    kahanInc(y, sumY, cY);
    sumY = kSum;
    cY = kC;
    kahanInc(x * y, sumXY, cXY);
    sumXY = kSum;
    cXY = kC;
    kahanInc(x * x, sumX2, cX2);
    sumX2 = kSum;
    cX2 = kC;
  }
  if (constY) {
    if (initY === Infinity || initY === -Infinity) {
      regSlope = NaN;
      regIntercept = NaN;
    } else {
      regSlope = 0;
      regIntercept = initY;
    }
    return;
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  regSlope = covXY / varX;
  regIntercept = sumY / n - (regSlope * sumX) / n;
}

/** Go's %f: six decimals, NaN and ±Inf spelled as Go does. */
function goFormatF(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return x.toFixed(6);
}

function doubleExponentialSmoothing(w: WindowState): boolean {
  const sf = w.a;
  const tf = w.b;
  // Prometheus checks the factors on every call, before looking at the sample count.
  if (sf <= 0 || sf >= 1) throw new MochaError('QUERY_EXECUTION', `invalid smoothing factor. Expected: 0 < sf < 1, got: ${goFormatF(sf)}`);
  if (tf <= 0 || tf >= 1) throw new MochaError('QUERY_EXECUTION', `invalid trend factor. Expected: 0 < tf < 1, got: ${goFormatF(tf)}`);
  const { vs, lo, hi } = w;
  const l = hi - lo;
  if (l < 2) return false;
  let s0 = 0;
  let s1 = vs[lo]!;
  let b = vs[lo + 1]! - vs[lo]!;
  for (let i = 1; i < l; i++) {
    const x = sf * vs[lo + i]!;
    // calcTrendValue(i-1, tf, s0, s1, b): the first trend is the raw difference.
    if (i - 1 !== 0) b = tf * (s1 - s0) + (1 - tf) * b;
    const y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  w.result = s1;
  return true;
}

/**
 * Prometheus' quantile() over values[0, size): NaN sorts first (vectorByValueHeap.Less), then
 * ascending; linear interpolation between the two closest ranks.
 */
function quantileOf(q: number, values: Float64Array): number {
  const size = values.length;
  if (size === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  sortNaNFirst(values);
  const n = size;
  const rank = q * (n - 1);
  const lowerIndex = Math.max(0, Math.floor(rank));
  const upperIndex = Math.min(n - 1, lowerIndex + 1);
  const weight = rank - Math.floor(rank);
  return values[lowerIndex]! * (1 - weight) + values[upperIndex]! * weight;
}

/** Ascending with NaNs moved to the front (typed-array sort puts them last). */
function sortNaNFirst(values: Float64Array): void {
  values.sort();
  const size = values.length;
  let nan = 0;
  while (nan < size && Number.isNaN(values[size - 1 - nan]!)) nan++;
  if (nan === 0) return;
  values.copyWithin(nan, 0, size - nan);
  values.fill(NaN, 0, nan);
}

function windowCopy(w: WindowState): Float64Array {
  const buf = w.scratchOf(w.hi - w.lo);
  buf.set(w.vs.subarray(w.lo, w.hi));
  return buf;
}

function varianceOverTime(w: WindowState): number {
  const { vs, lo, hi } = w;
  let count = 0;
  let mean = 0;
  let cMean = 0;
  let aux = 0;
  let cAux = 0;
  for (let i = lo; i < hi; i++) {
    const f = vs[i]!;
    count++;
    const delta = f - (mean + cMean);
    kahanInc(delta / count, mean, cMean);
    mean = kSum;
    cMean = kC;
    kahanInc(delta * (f - (mean + cMean)), aux, cAux);
    aux = kSum;
    cAux = kC;
  }
  return (aux + cAux) / count;
}

function compareOverTime(w: WindowState, better: (cur: number, best: number) => boolean, returnTimestamp: boolean): boolean {
  const { ts, vs, lo, hi } = w;
  let best = vs[lo]!;
  let bestT = ts[lo]!;
  for (let i = lo; i < hi; i++) {
    const f = vs[i]!;
    if (better(f, best)) {
      best = f;
      bestT = ts[i]!;
    }
  }
  w.result = returnTimestamp ? bestT / 1000 : best;
  return true;
}

const KERNELS: ReadonlyMap<string, Kernel> = new Map<string, Kernel>([
  ['rate', (w) => extrapolatedRate(w, true, true)],
  ['increase', (w) => extrapolatedRate(w, true, false)],
  ['delta', (w) => extrapolatedRate(w, false, false)],
  ['irate', (w) => instantValue(w, true)],
  ['idelta', (w) => instantValue(w, false)],
  [
    'changes',
    (w) => {
      let changes = 0;
      for (let i = w.lo + 1; i < w.hi; i++) {
        const cur = w.vs[i]!;
        const prev = w.vs[i - 1]!;
        if (cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) changes++;
      }
      w.result = changes;
      return true;
    },
  ],
  [
    'resets',
    (w) => {
      let resets = 0;
      for (let i = w.lo + 1; i < w.hi; i++) if (w.vs[i]! < w.vs[i - 1]!) resets++;
      w.result = resets;
      return true;
    },
  ],
  [
    'deriv',
    (w) => {
      if (w.hi - w.lo < 2) return false;
      // Intercept at the first sample keeps x small (Prometheus issue 2674).
      linearRegression(w, w.ts[w.lo]!);
      w.result = regSlope;
      return true;
    },
  ],
  [
    'predict_linear',
    (w) => {
      if (w.hi - w.lo < 2) return false;
      linearRegression(w, w.evalMs);
      w.result = regSlope * w.a + regIntercept;
      return true;
    },
  ],
  ['double_exponential_smoothing', doubleExponentialSmoothing],
  [
    'present_over_time',
    (w) => {
      w.result = 1;
      return true;
    },
  ],
  [
    'count_over_time',
    (w) => {
      w.result = w.hi - w.lo;
      return true;
    },
  ],
  [
    'sum_over_time',
    (w) => {
      let sum = 0;
      let c = 0;
      for (let i = w.lo; i < w.hi; i++) {
        kahanInc(w.vs[i]!, sum, c);
        sum = kSum;
        c = kC;
      }
      w.result = sum === Infinity || sum === -Infinity ? sum : sum + c;
      return true;
    },
  ],
  [
    'avg_over_time',
    (w) => {
      // Direct mean with Kahan summation while the sum stays finite, then incremental mean.
      const { vs, lo, hi } = w;
      let sum = vs[lo]!;
      let count = 1;
      let mean = 0;
      let kahanC = 0;
      let incrementalMean = false;
      for (let i = lo + 1; i < hi; i++) {
        const f = vs[i]!;
        count = i - lo + 1;
        if (!incrementalMean) {
          kahanInc(f, sum, kahanC);
          if (kSum !== Infinity && kSum !== -Infinity) {
            sum = kSum;
            kahanC = kC;
            continue;
          }
          incrementalMean = true;
          mean = sum / (count - 1);
          kahanC /= count - 1;
        }
        const q = (count - 1) / count;
        kahanInc(f / count, q * mean, q * kahanC);
        mean = kSum;
        kahanC = kC;
      }
      w.result = incrementalMean ? mean + kahanC : sum / count + kahanC / count;
      return true;
    },
  ],
  ['min_over_time', (w) => compareOverTime(w, (cur, best) => cur < best || Number.isNaN(best), false)],
  ['max_over_time', (w) => compareOverTime(w, (cur, best) => cur > best || Number.isNaN(best), false)],
  ['ts_of_min_over_time', (w) => compareOverTime(w, (cur, best) => cur <= best || Number.isNaN(best), true)],
  ['ts_of_max_over_time', (w) => compareOverTime(w, (cur, best) => cur >= best || Number.isNaN(best), true)],
  [
    'last_over_time',
    (w) => {
      w.result = w.vs[w.hi - 1]!;
      return true;
    },
  ],
  [
    'first_over_time',
    (w) => {
      w.result = w.vs[w.lo]!;
      return true;
    },
  ],
  [
    'ts_of_last_over_time',
    (w) => {
      w.result = w.ts[w.hi - 1]! / 1000;
      return true;
    },
  ],
  [
    'ts_of_first_over_time',
    (w) => {
      w.result = w.ts[w.lo]! / 1000;
      return true;
    },
  ],
  [
    'quantile_over_time',
    (w) => {
      w.result = quantileOf(w.a, windowCopy(w));
      return true;
    },
  ],
  [
    'mad_over_time',
    (w) => {
      const values = windowCopy(w);
      const median = quantileOf(0.5, values);
      // values is sorted now; the deviations are recomputed from the window itself.
      for (let i = 0; i < values.length; i++) values[i] = Math.abs(w.vs[w.lo + i]! - median);
      w.result = quantileOf(0.5, values);
      return true;
    },
  ],
  [
    'stdvar_over_time',
    (w) => {
      w.result = varianceOverTime(w);
      return true;
    },
  ],
  [
    'stddev_over_time',
    (w) => {
      w.result = Math.sqrt(varianceOverTime(w));
      return true;
    },
  ],
]);
