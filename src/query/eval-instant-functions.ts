// Instant-vector and scalar functions of PromQL over the step grid, with Prometheus 3 float
// semantics (promql/functions.go and promql/quantile.go, read at prometheus/prometheus main).
//
// The Call dispatcher (eval-call.ts) evaluates the arguments and calls evalInstantFunction; every
// function here works column by column on StepSeries (values + presence), never one object per
// sample. Rules followed:
//   - __name__ is dropped by the math functions, clamp*, round, timestamp, the date functions
//     (with an argument), histogram_quantile and histogram_fraction; it is kept by sort*,
//     label_replace and label_join. Output series that then share a label set are merged as
//     Prometheus' rangeEval does: an error ("vector cannot contain metrics with the same
//     labelset") only when two of them have a sample at the same step.
//   - sort, sort_desc, sort_by_label(_desc) order the series of an instant query (one step);
//     over a range they change nothing (Prometheus sorts range results by labels). The engine
//     must not re-sort such a result: see instantResultIsOrdered.
//   - timestamp(<vector selector>) needs the samples' own timestamps, which a StepSeries does not
//     hold: the dispatcher routes it to evalTimestampOverSelector (async: it reads storage).
//     timestamp(<any other expression>) is the step time, as in Prometheus.
//   - histogram_quantile / histogram_fraction group classic `le` buckets by all other labels
//     (including __name__, dropped afterwards), skip buckets whose `le` does not parse as Go's
//     strconv.ParseFloat would, and use Prometheus' BucketQuantile (sort, coalesce equal bounds,
//     ignore deltas below 1e-12 relative, force monotonicity, +Inf bucket required) and
//     BucketFraction. Native histograms do not exist in this engine.
//   - date functions read a value as Go's int64(v) seconds; NaN and ±Inf saturate as on arm64
//     (NaN -> 0, i.e. 1970); on amd64 Go gives other (wrapped) dates for those inputs.
//
// Annotations (annotations.ts) as Prometheus raises them here: histogram_quantile's φ outside
// [0, 1] (every step), a bucket whose `le` is missing or malformed (histogram_quantile and
// histogram_fraction), buckets forced monotonic (histogram_quantile), sort*() evaluated over
// more than one time.
// Hexadecimal `le` values (Go's ParseFloat accepts 0x1p-3) are skipped as malformed, with the
// bad-bucket warning, where Prometheus would read them.
// Trigonometric/hyperbolic functions use V8's fdlibm ports; Go's pure-Go versions may differ in
// the last ulp (log2/log10 follow Go's formulas, whose results differ visibly, e.g. log10(3)).
import { MochaError } from '../errors.js';
import { compareLabels, dropMetricName, getLabel, type Label, type Labels, labelsKey, METRIC_NAME_LABEL, setLabel } from '../model/labels.js';
import { REGEX_SOURCE_CHARS_MAX } from '../model/matchers.js';
import { isStaleAt } from '../model/samples.js';
import { RE2JS } from 're2js';
import { badBucketLabelWarning, histogramQuantileForcedMonotonicityInfo, invalidQuantileWarning, sortInRangeQueryWarning } from './annotations.js';
import type { Call, Expr, PosRange, VectorSelector } from './ast.js';
import type { EvalContext, EvalValue, StepSeries } from './eval-selector.js';

const BUCKET_LABEL = 'le';

/** Series handled between two cancellation checks (a check costs a Date.now()). */
const SERIES_PER_CANCEL_CHECK = 256;

// ---------------------------------------------------------------------------------------------
// Element-wise float functions (simpleFloatFunc in Prometheus).

// Go computes these constants in arbitrary precision and rounds once; the literals below are the
// same correctly rounded doubles (Math.LN2 / Math.LN10 can be one ulp away).
const INV_LN2 = 1.442695040888963407359924681001892137426645954152985934135;
const LN2_OVER_LN10 = 0.30102999566398119521373889472449302676818988146210854131;

const frexpView = new DataView(new ArrayBuffer(8));
/** Exponent of the last frexpFraction call (a module scratch: no tuple per sample). */
let frexpExponent = 0;

/** Go's math.Frexp: x = frac * 2^exp with |frac| in [0.5, 1); ±0, ±Inf, NaN give (x, 0). */
function frexpFraction(x: number): number {
  frexpExponent = 0;
  if (x === 0 || !Number.isFinite(x)) return x;
  let v = x;
  // Subnormals: scale into the normal range first (Go's normalize).
  if (Math.abs(v) < 2.2250738585072014e-308) {
    v *= 4503599627370496; // 2^52
    frexpExponent = -52;
  }
  frexpView.setFloat64(0, v);
  const hi = frexpView.getUint32(0);
  frexpExponent += ((hi >>> 20) & 0x7ff) - 1022;
  // Replace the biased exponent by 1022 (i.e. 2^-1): frac in [0.5, 1).
  frexpView.setUint32(0, (hi & 0x800fffff) | (1022 << 20));
  return frexpView.getFloat64(0);
}

/** Go's math.Log2 (pure Go: exact for powers of two, Log(frac)/Ln2 + exp otherwise). */
export function goLog2(x: number): number {
  const frac = frexpFraction(x);
  if (frac === 0.5) return frexpExponent - 1;
  return Math.log(frac) * INV_LN2 + frexpExponent;
}

/** Go's math.Log10: log2(x) * (Ln2/Ln10), which is what Prometheus returns (e.g. for 1000). */
export function goLog10(x: number): number {
  return goLog2(x) * LN2_OVER_LN10;
}

const ELEMENTWISE: ReadonlyMap<string, (v: number) => number> = new Map<string, (v: number) => number>([
  ['abs', Math.abs],
  ['ceil', Math.ceil],
  ['floor', Math.floor],
  ['exp', Math.exp],
  ['sqrt', Math.sqrt],
  ['ln', Math.log],
  ['log2', goLog2],
  ['log10', goLog10],
  ['sin', Math.sin],
  ['cos', Math.cos],
  ['tan', Math.tan],
  ['asin', Math.asin],
  ['acos', Math.acos],
  ['atan', Math.atan],
  ['sinh', Math.sinh],
  ['cosh', Math.cosh],
  ['tanh', Math.tanh],
  ['asinh', Math.asinh],
  ['acosh', Math.acosh],
  ['atanh', Math.atanh],
  // Same operation order as Go: (v * Pi) / 180 and (v * 180) / Pi.
  ['rad', (v) => (v * Math.PI) / 180],
  ['deg', (v) => (v * 180) / Math.PI],
  // Keeps NaN and the sign of zero, as Prometheus' sgn does.
  ['sgn', (v) => (v < 0 ? -1 : v > 0 ? 1 : v)],
]);

const DATE_FUNCTIONS: ReadonlySet<string> = new Set(['day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'hour', 'minute', 'month', 'year']);
const SORT_FUNCTIONS: ReadonlySet<string> = new Set(['sort', 'sort_desc', 'sort_by_label', 'sort_by_label_desc']);
const OTHER_FUNCTIONS: ReadonlySet<string> = new Set([
  'round',
  'clamp',
  'clamp_min',
  'clamp_max',
  'pi',
  'time',
  'vector',
  'scalar',
  'timestamp',
  'label_replace',
  'label_join',
  'histogram_quantile',
  'histogram_fraction',
  'absent',
]);

export function hasInstantFunction(name: string): boolean {
  return ELEMENTWISE.has(name) || DATE_FUNCTIONS.has(name) || SORT_FUNCTIONS.has(name) || OTHER_FUNCTIONS.has(name);
}

/** Evaluates a function whose arguments are already evaluated over the grid (strings as values). */
export function evalInstantFunction(call: Call, args: EvalValue[], ctx: EvalContext): EvalValue {
  const name = call.func.name;
  const elementwise = ELEMENTWISE.get(name);
  if (elementwise !== undefined) return vector(mapSeries(ctx, vectorArg(call, args, 0), true, elementwise));
  if (DATE_FUNCTIONS.has(name)) return vector(evalDateFunction(ctx, name, call, args));
  if (SORT_FUNCTIONS.has(name)) {
    // Prometheus warns when the evaluation has more than one time (a range query, or inside a
    // subquery): results are then ordered by labels whatever sort*() did.
    if (ctx.startMs !== ctx.endMs) ctx.annotations.add(sortInRangeQueryWarning(call.pos));
    return vector(evalSort(ctx, name, call, args));
  }
  switch (name) {
    case 'round': {
      const input = vectorArg(call, args, 0);
      const toNearest = args.length > 1 ? scalarArg(call, args, 1) : undefined;
      return vector(
        mapSeries(ctx, input, true, (v, k) => {
          // Prometheus multiplies by the inverse: fewer floating point surprises (e.g. 0.1).
          const inverse = 1 / (toNearest === undefined ? 1 : toNearest[k]!);
          return Math.floor(v * inverse + 0.5) / inverse;
        }),
      );
    }
    case 'clamp':
      return vector(clamp(ctx, vectorArg(call, args, 0), scalarArg(call, args, 1), scalarArg(call, args, 2)));
    case 'clamp_min':
      return vector(clamp(ctx, vectorArg(call, args, 0), scalarArg(call, args, 1), undefined));
    case 'clamp_max':
      return vector(clamp(ctx, vectorArg(call, args, 0), undefined, scalarArg(call, args, 1)));
    case 'pi':
      return { type: 'scalar', values: new Float64Array(ctx.stepCount).fill(Math.PI) };
    case 'time': {
      const values = new Float64Array(ctx.stepCount);
      for (let k = 0; k < ctx.stepCount; k++) values[k] = ctx.stepTimeMs(k) / 1000;
      return { type: 'scalar', values };
    }
    case 'vector': {
      const s = scalarArg(call, args, 0);
      const col = ctx.allocStepSeries([]);
      col.values.set(s);
      col.present.fill(1);
      return vector([col]);
    }
    case 'scalar':
      return { type: 'scalar', values: scalarOf(ctx, vectorArg(call, args, 0)) };
    case 'timestamp': {
      if (timestampSelectorArg(call) !== undefined) {
        // A wrong answer (the step time) would be worse than none: the dispatcher must route it.
        throw new MochaError('QUERY_EXECUTION', 'not supported yet: timestamp() of a vector selector outside evalTimestampOverSelector');
      }
      // Samples computed by an expression carry the step time (Prometheus' rangeEval sets T = ts).
      return vector(mapSeries(ctx, vectorArg(call, args, 0), true, (_v, k) => ctx.stepTimeMs(k) / 1000));
    }
    case 'label_replace':
      return vector(labelReplace(ctx, vectorArg(call, args, 0), stringArg(call, args, 1), stringArg(call, args, 2), stringArg(call, args, 3), stringArg(call, args, 4)));
    case 'label_join': {
      const sources: string[] = [];
      for (let i = 3; i < args.length; i++) sources.push(stringArg(call, args, i));
      return vector(labelJoin(ctx, vectorArg(call, args, 0), stringArg(call, args, 1), stringArg(call, args, 2), sources));
    }
    case 'histogram_quantile': {
      const q = scalarArg(call, args, 0);
      // Prometheus checks φ at every step, whatever the input vector holds.
      for (let k = 0; k < ctx.stepCount; k++) if (!(q[k]! >= 0 && q[k]! <= 1)) ctx.annotations.add(invalidQuantileWarning(q[k]!, call.args[0]!.pos));
      const bucketsPos = call.args[1]!.pos;
      return vector(
        classicHistogramFunction(ctx, vectorArg(call, args, 1), bucketsPos, (k, bounds, counts, n) => {
          const v = bucketQuantile(q[k]!, bounds, counts, n);
          // The metric name is gone by now (Prometheus groups without it): the info names none.
          if (bucketQuantileForcedMonotonicity) ctx.annotations.add(histogramQuantileForcedMonotonicityInfo('', bucketsPos));
          return v;
        }),
      );
    }
    case 'histogram_fraction': {
      const lower = scalarArg(call, args, 0);
      const upper = scalarArg(call, args, 1);
      return vector(classicHistogramFunction(ctx, vectorArg(call, args, 2), call.args[2]!.pos, (k, bounds, counts, n) => bucketFraction(lower[k]!, upper[k]!, bounds, counts, n)));
    }
    case 'absent':
      return vector(absent(ctx, vectorArg(call, args, 0), call.args[0]));
    default:
      throw new MochaError('QUERY_EXECUTION', `not supported yet: function ${name}()`);
  }
}

function vector(series: StepSeries[]): EvalValue {
  return { type: 'vector', series };
}

function vectorArg(call: Call, args: EvalValue[], i: number): StepSeries[] {
  const a = args[i];
  if (a?.type !== 'vector') throw badArg(call, i, 'vector', a);
  return a.series;
}

function scalarArg(call: Call, args: EvalValue[], i: number): Float64Array {
  const a = args[i];
  if (a?.type !== 'scalar') throw badArg(call, i, 'scalar', a);
  return a.values;
}

function stringArg(call: Call, args: EvalValue[], i: number): string {
  const a = args[i];
  if (a?.type !== 'string') throw badArg(call, i, 'string', a);
  return a.value;
}

function badArg(call: Call, i: number, want: string, got: EvalValue | undefined): MochaError {
  return new MochaError('INTERNAL', `argument ${i + 1} of ${call.func.name}() evaluated to ${got?.type ?? 'nothing'}, expected ${want}`);
}

// ---------------------------------------------------------------------------------------------
// Label helpers.

function withoutLabel(labels: Labels, name: string): Labels {
  return labels.some((l) => l.name === name) ? labels.filter((l) => l.name !== name) : labels;
}

/** Prometheus 3 validates label names as UTF-8 (model.UTF8Validation): non-empty, well formed. */
function isValidLabelName(name: string): boolean {
  return name.length > 0 && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(name);
}

function sameLabelsetError(): MochaError {
  return new MochaError('QUERY_EXECUTION', 'vector cannot contain metrics with the same labelset');
}

/**
 * Merges output series that share a label set, as Prometheus' rangeEval and
 * mergeSeriesWithSameLabelset do: fine when they never have a sample at the same step, an error
 * otherwise. Order: each label set stays where it first appeared. Inputs are not modified.
 */
export function mergeSameLabelset(ctx: EvalContext, series: StepSeries[]): StepSeries[] {
  if (series.length < 2) return series;
  const indexByKey = new Map<string, number>();
  const out: StepSeries[] = [];
  const merged = new Set<number>();
  for (const s of series) {
    const key = labelsKey(s.labels);
    const at = indexByKey.get(key);
    if (at === undefined) {
      indexByKey.set(key, out.length);
      out.push(s);
      continue;
    }
    let target = out[at]!;
    if (!merged.has(at)) {
      // Copy before writing: the first series' columns may be shared with an input.
      const copy = ctx.allocStepSeries(target.labels);
      copy.values.set(target.values);
      copy.present.set(target.present);
      target = copy;
      out[at] = copy;
      merged.add(at);
    }
    const n = s.present.length;
    for (let k = 0; k < n; k++) {
      if (s.present[k] === 0) continue;
      if (target.present[k] === 1) throw sameLabelsetError();
      target.values[k] = s.values[k]!;
      target.present[k] = 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-series mapping.

/** Applies f to every present value; keeps input order; drops __name__ when asked. */
function mapSeries(ctx: EvalContext, input: StepSeries[], dropName: boolean, f: (v: number, k: number) => number): StepSeries[] {
  const out: StepSeries[] = [];
  const n = ctx.stepCount;
  let relabeled = false;
  for (let i = 0; i < input.length; i++) {
    if (i % SERIES_PER_CANCEL_CHECK === 0) ctx.checkCancel();
    const s = input[i]!;
    const labels = dropName ? dropMetricName(s.labels) : s.labels;
    if (labels !== s.labels) relabeled = true;
    const col = ctx.allocStepSeries(labels);
    const values = s.values;
    const present = s.present;
    for (let k = 0; k < n; k++) {
      if (present[k] === 0) continue;
      col.values[k] = f(values[k]!, k);
      col.present[k] = 1;
    }
    out.push(col);
  }
  // Distinct input label sets stay distinct unless a name was dropped.
  return relabeled ? mergeSameLabelset(ctx, out) : out;
}

/** Go's math.Max: +Inf wins over NaN (JS Math.max gives NaN); +0 over -0. */
function goMax(x: number, y: number): number {
  if (x === Infinity || y === Infinity) return Infinity;
  return Math.max(x, y);
}

/** Go's math.Min: -Inf wins over NaN; -0 over +0. */
function goMin(x: number, y: number): number {
  if (x === -Infinity || y === -Infinity) return -Infinity;
  return Math.min(x, y);
}

/** clamp/clamp_min/clamp_max: Go's Max(min, Min(max, v)); no output at a step where max < min. */
function clamp(ctx: EvalContext, input: StepSeries[], minValues: Float64Array | undefined, maxValues: Float64Array | undefined): StepSeries[] {
  const out: StepSeries[] = [];
  const n = ctx.stepCount;
  for (let i = 0; i < input.length; i++) {
    if (i % SERIES_PER_CANCEL_CHECK === 0) ctx.checkCancel();
    const s = input[i]!;
    let col: StepSeries | undefined;
    for (let k = 0; k < n; k++) {
      if (s.present[k] === 0) continue;
      const lo = minValues === undefined ? -Infinity : minValues[k]!;
      const hi = maxValues === undefined ? Infinity : maxValues[k]!;
      if (hi < lo) continue;
      col ??= ctx.allocStepSeries(dropMetricName(s.labels));
      col.values[k] = goMax(lo, goMin(hi, s.values[k]!));
      col.present[k] = 1;
    }
    if (col !== undefined) out.push(col);
  }
  return mergeSameLabelset(ctx, out);
}

/** scalar(v): the value of the single series present at a step, NaN for none or several. */
function scalarOf(ctx: EvalContext, input: StepSeries[]): Float64Array {
  const n = ctx.stepCount;
  const values = new Float64Array(n);
  const count = new Uint32Array(n);
  for (const s of input) {
    for (let k = 0; k < n; k++) {
      if (s.present[k] === 0) continue;
      count[k]!++;
      values[k] = s.values[k]!;
    }
  }
  for (let k = 0; k < n; k++) if (count[k] !== 1) values[k] = NaN;
  return values;
}

// ---------------------------------------------------------------------------------------------
// timestamp().

/** The vector selector of `timestamp(<selector>)` (parentheses allowed), else undefined. */
export function timestampSelectorArg(call: Call): VectorSelector | undefined {
  if (call.func.name !== 'timestamp') return undefined;
  const arg = unwrapParen(call.args[0]);
  return arg?.kind === 'VectorSelector' ? arg : undefined;
}

function unwrapParen(e: Expr | undefined): Expr | undefined {
  let x = e;
  while (x?.kind === 'Paren') x = x.expr;
  return x;
}

/**
 * timestamp(<vector selector>): per step, the timestamp in seconds of the sample the selector
 * picks (latest in the lookback window, not stale), as Prometheus'
 * rangeEvalTimestampFunctionOverVectorSelector. __name__ is dropped.
 *
 * Prometheus quirk kept (issue 8433's fix): with `@ T`, the lookup happens at T itself, the
 * offset being overwritten, while storage was read for the offset window; so a sample counts
 * when it is at most min(T, T - o) and newer than max(T, T - o) - lookback. Without @ both
 * bounds are the usual (t - o - lookback, t - o].
 */
export async function evalTimestampOverSelector(ctx: EvalContext, vs: VectorSelector): Promise<StepSeries[]> {
  const n = ctx.stepCount;
  const lookback = ctx.lookbackDeltaMs;
  const firstMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, 0);
  const lastMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, n - 1);
  const loaded = await ctx.select(vs, firstMs - lookback, lastMs);
  const out: StepSeries[] = [];
  for (const s of loaded) {
    ctx.checkCancel();
    const ts = s.timestampsMs;
    const len = ts.length;
    let col: StepSeries | undefined;
    let j = 0;
    for (let k = 0; k < n; k++) {
      const selectedMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, k);
      const lookupMs = vs.at === undefined ? selectedMs : ctx.selectorTimeMs(vs.at, 0, k);
      const highMs = Math.min(selectedMs, lookupMs);
      const lowMs = Math.max(selectedMs, lookupMs) - lookback;
      // highMs never decreases from step to step, so j only moves forward.
      while (j < len && ts[j]! <= highMs) j++;
      const i = j - 1;
      if (i < 0 || ts[i]! <= lowMs || isStaleAt(s.values, i)) continue;
      col ??= ctx.allocStepSeries(dropMetricName(s.labels));
      col.values[k] = ts[i]! / 1000;
      col.present[k] = 1;
    }
    if (col !== undefined) out.push(col);
  }
  return mergeSameLabelset(ctx, out);
}

// ---------------------------------------------------------------------------------------------
// Date functions: Go's time.Unix(int64(v), 0).UTC().

const SECONDS_PER_DAY = 86400;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

interface CivilTime {
  year: number;
  month: number; // 1..12
  day: number; // 1..31
  yearDay: number; // 1..366
  weekday: number; // 0 = Sunday
  hour: number;
  minute: number;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Reused by civilFromSeconds: date functions allocate nothing per sample. */
const civilScratch: CivilTime = { year: 0, month: 0, day: 0, yearDay: 0, weekday: 0, hour: 0, minute: 0 };

/** Calendar fields of whole seconds since the epoch (UTC); exact for any int64 value. Returns a shared scratch. */
function civilFromSeconds(seconds: number): CivilTime {
  let days: number;
  let secondOfDay: number;
  if (Math.abs(seconds) <= Number.MAX_SAFE_INTEGER) {
    secondOfDay = ((seconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
    days = (seconds - secondOfDay) / SECONDS_PER_DAY;
  } else {
    // Go's int64 conversion saturates (arm64); 2^63 itself is already out of range.
    const big = seconds >= 9223372036854775808 ? INT64_MAX : seconds < -9223372036854775808 ? INT64_MIN : BigInt(seconds);
    const sod = ((big % 86400n) + 86400n) % 86400n;
    secondOfDay = Number(sod);
    days = Number((big - sod) / 86400n);
  }
  // Hinnant's civil_from_days; every intermediate stays far below 2^53.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const t = civilScratch;
  t.year = year;
  t.month = month;
  t.day = day;
  t.yearDay = days - daysFromCivil(year, 1, 1) + 1;
  t.weekday = (((days + 4) % 7) + 7) % 7;
  t.hour = Math.floor(secondOfDay / 3600);
  t.minute = Math.floor((secondOfDay % 3600) / 60);
  return t;
}

function isLeapYear(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function dateField(name: string, t: CivilTime): number {
  switch (name) {
    case 'day_of_month':
      return t.day;
    case 'day_of_week':
      return t.weekday;
    case 'day_of_year':
      return t.yearDay;
    case 'days_in_month':
      return t.month === 2 && isLeapYear(t.year) ? 29 : DAYS_IN_MONTH[t.month - 1]!;
    case 'hour':
      return t.hour;
    case 'minute':
      return t.minute;
    case 'month':
      return t.month;
    case 'year':
      return t.year;
    default:
      throw new MochaError('INTERNAL', `not a date function: ${name}`);
  }
}

/** Go's int64(v) for a date argument: truncation; NaN -> 0 and ±Inf saturated (arm64 rules). */
function goInt64Seconds(v: number): number {
  if (Number.isNaN(v)) return 0;
  return Math.trunc(v);
}

/** A date function (day_of_month, ..., year) of a value in seconds, as Prometheus computes it. */
export function dateFunctionOf(name: string, seconds: number): number {
  return dateField(name, civilFromSeconds(goInt64Seconds(seconds)));
}

function evalDateFunction(ctx: EvalContext, name: string, call: Call, args: EvalValue[]): StepSeries[] {
  if (args.length === 0) {
    // Prometheus: f(time.Unix(enh.Ts/1000, 0)) with labels {} (Go's integer division truncates).
    const col = ctx.allocStepSeries([]);
    for (let k = 0; k < ctx.stepCount; k++) {
      col.values[k] = dateField(name, civilFromSeconds(Math.trunc(ctx.stepTimeMs(k) / 1000)));
      col.present[k] = 1;
    }
    return [col];
  }
  return mapSeries(ctx, vectorArg(call, args, 0), true, (v) => dateFunctionOf(name, v));
}

// ---------------------------------------------------------------------------------------------
// Sorting (instant queries only).

/**
 * True when the order of an instant query's result is set by the expression (a sort function,
 * possibly under parentheses or order-preserving functions of this module): the engine must then
 * keep the order of the evaluated series instead of sorting by labels, as Prometheus does.
 */
export function instantResultIsOrdered(expr: Expr): boolean {
  const e = unwrapParen(expr);
  if (e?.kind !== 'Call') return false;
  const name = e.func.name;
  if (SORT_FUNCTIONS.has(name)) return true;
  const orderPreserving = ELEMENTWISE.has(name) || DATE_FUNCTIONS.has(name) || name === 'round' || name.startsWith('clamp') || name === 'label_replace' || name === 'label_join';
  return orderPreserving && e.args[0] !== undefined && instantResultIsOrdered(e.args[0]);
}

function evalSort(ctx: EvalContext, name: string, call: Call, args: EvalValue[]): StepSeries[] {
  const input = vectorArg(call, args, 0);
  // Over a range Prometheus sorts the result matrix by labels: sorting here would be lost.
  if (ctx.stepCount !== 1) return input;
  const present = input.filter((s) => s.present[0] === 1);
  switch (name) {
    case 'sort':
      return sortByValue(present, false);
    case 'sort_desc':
      return sortByValue(present, true);
    default: {
      const names: string[] = [];
      for (let i = 1; i < args.length; i++) names.push(stringArg(call, args, i));
      const desc = name === 'sort_by_label_desc';
      return sortByLabels(present, names, desc);
    }
  }
}

/**
 * Prometheus sorts with Go's sort.Sort and a "NaN first" comparator under sort.Reverse. For up to
 * 12 series that is an insertion sort: numbers stably ordered, NaNs last in reverse input order.
 * We keep that order for any length (Go's pdqsort is not stable beyond 12 anyway).
 */
function sortByValue(series: StepSeries[], desc: boolean): StepSeries[] {
  const numbers = series.filter((s) => !Number.isNaN(s.values[0]!));
  const nans = series.filter((s) => Number.isNaN(s.values[0]!)).reverse();
  numbers.sort((a, b) => (desc ? b.values[0]! - a.values[0]! : a.values[0]! - b.values[0]!) || 0);
  return numbers.concat(nans);
}

const utf8 = new TextEncoder();

/** facette/natsort.Compare on UTF-8 bytes: true when a precedes b in natural order. */
export function natsortLess(aStr: string, bStr: string): boolean {
  const a = utf8.encode(aStr);
  const b = utf8.encode(bStr);
  const lnA = a.length;
  const lnB = b.length;
  let posA = 0;
  let posB = 0;
  const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
  for (;;) {
    if (lnA <= posA) return lnB > posB;
    if (lnB <= posB) return false;
    let av = a[posA]!;
    let bv = b[posB]!;
    if (isDigit(av) && isDigit(bv)) {
      // Numeric mode: skip leading zeros, then the longer run of digits is the bigger number.
      let intLnA = 1;
      let intLnB = 1;
      while (posA + intLnA < lnA) {
        const x = a[posA + intLnA]!;
        if (av === 0x30) {
          posA++;
          av = x;
          continue;
        }
        if (isDigit(x)) intLnA++;
        else break;
      }
      while (posB + intLnB < lnB) {
        const x = b[posB + intLnB]!;
        if (bv === 0x30) {
          posB++;
          bv = x;
          continue;
        }
        if (isDigit(x)) intLnB++;
        else break;
      }
      if (intLnB > intLnA) return true;
      if (intLnA > intLnB) return false;
      for (let i = 0; i < intLnA; i++) {
        const x = a[posA + i]!;
        const y = b[posB + i]!;
        if (x !== y) return x < y;
      }
      posA += intLnA;
      posB += intLnB;
      continue;
    }
    if (av === bv) {
      posA++;
      posB++;
      continue;
    }
    return av < bv;
  }
}

function sortByLabels(series: StepSeries[], names: readonly string[], desc: boolean): StepSeries[] {
  const out = series.slice();
  out.sort((x, y) => {
    for (const name of names) {
      const a = getLabel(x.labels, name);
      const b = getLabel(y.labels, name);
      if (a === b) continue;
      const less = natsortLess(a, b);
      return desc ? (less ? 1 : -1) : less ? -1 : 1;
    }
    // Equal on every named label: the full label set decides, for a stable, total order.
    const c = compareLabels(x.labels, y.labels);
    return desc ? -c : c;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// label_replace, label_join.

/** Go's regexp Expand template syntax: $1, ${1}, $name, ${name}, $$. */
function expandTemplate(template: string, groups: (string | null)[], named: Record<string, number>): string {
  let out = '';
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf('$');
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = extractGroupRef(rest);
    if (ref === undefined) {
      out += '$'; // malformed: the $ is literal text
      continue;
    }
    rest = ref.rest;
    const index = ref.num >= 0 ? ref.num : named[ref.name];
    if (index !== undefined && index < groups.length) out += groups[index] ?? '';
  }
  return out + rest;
}

function extractGroupRef(str: string): { name: string; num: number; rest: string } | undefined {
  let s = str;
  const brace = s.startsWith('{');
  if (brace) s = s.slice(1);
  const m = /^[\p{L}\p{Nd}_]+/u.exec(s);
  if (m === null) return undefined;
  const name = m[0];
  let i = name.length;
  if (brace) {
    if (s[i] !== '}') return undefined;
    i++;
  }
  let num = 0;
  for (let j = 0; j < name.length; j++) {
    const c = name.charCodeAt(j);
    if (c < 0x30 || c > 0x39 || num >= 1e8) {
      num = -1;
      break;
    }
    num = num * 10 + (c - 0x30);
  }
  if (name[0] === '0' && name.length > 1) num = -1; // no leading zeros
  return { name, num, rest: s.slice(i) };
}

function labelReplace(ctx: EvalContext, input: StepSeries[], dst: string, replacement: string, src: string, regex: string): StepSeries[] {
  if (regex.length > REGEX_SOURCE_CHARS_MAX) {
    throw new MochaError('QUERY_EXECUTION', `regex too long in label_replace(): ${regex.length} chars; cannot exceed ${REGEX_SOURCE_CHARS_MAX}`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(`^(?s:${regex})$`);
  } catch {
    throw new MochaError('QUERY_EXECUTION', `invalid regular expression in label_replace(): ${regex}`);
  }
  if (!isValidLabelName(dst)) throw new MochaError('QUERY_EXECUTION', `invalid destination label name in label_replace(): ${dst}`);
  const named = re.namedGroups();
  const out: StepSeries[] = [];
  for (let i = 0; i < input.length; i++) {
    if (i % SERIES_PER_CANCEL_CHECK === 0) ctx.checkCancel();
    const s = input[i]!;
    const m = re.matcher(getLabel(s.labels, src));
    if (!m.matches()) {
      out.push(s);
      continue;
    }
    const groups: (string | null)[] = [];
    for (let g = 0; g <= m.groupCount(); g++) groups.push(m.group(g));
    const labels = setLabel(s.labels, dst, expandTemplate(replacement, groups, named));
    // Values are untouched: the columns are shared, not copied.
    out.push({ labels, values: s.values, present: s.present });
  }
  return mergeSameLabelset(ctx, out);
}

function labelJoin(ctx: EvalContext, input: StepSeries[], dst: string, separator: string, sources: readonly string[]): StepSeries[] {
  for (const src of sources) {
    if (!isValidLabelName(src)) throw new MochaError('QUERY_EXECUTION', `invalid source label name in label_join(): ${src}`);
  }
  if (!isValidLabelName(dst)) throw new MochaError('QUERY_EXECUTION', `invalid destination label name in label_join(): ${dst}`);
  const out: StepSeries[] = [];
  for (let i = 0; i < input.length; i++) {
    if (i % SERIES_PER_CANCEL_CHECK === 0) ctx.checkCancel();
    const s = input[i]!;
    const joined = sources.map((name) => getLabel(s.labels, name)).join(separator);
    out.push({ labels: setLabel(s.labels, dst, joined), values: s.values, present: s.present });
  }
  return mergeSameLabelset(ctx, out);
}

// ---------------------------------------------------------------------------------------------
// absent().

/**
 * Prometheus' createLabelsForAbsentFunction: equality matchers of a vector selector argument
 * (not __name__) become labels; a name matched twice, or by any other matcher type, is removed.
 */
function absentLabels(arg: Expr | undefined): Labels {
  if (arg?.kind !== 'VectorSelector') return [];
  let labels: Labels = [];
  const has = new Set<string>();
  for (const m of arg.matchers) {
    if (m.name === METRIC_NAME_LABEL) continue;
    if (m.type === '=' && !has.has(m.name)) {
      labels = setLabel(labels, m.name, m.value);
      has.add(m.name);
    } else {
      labels = withoutLabel(labels, m.name);
    }
  }
  return labels;
}

function absent(ctx: EvalContext, input: StepSeries[], arg: Expr | undefined): StepSeries[] {
  const n = ctx.stepCount;
  const seen = new Uint8Array(n);
  for (const s of input) for (let k = 0; k < n; k++) seen[k]! |= s.present[k]!;
  let col: StepSeries | undefined;
  for (let k = 0; k < n; k++) {
    if (seen[k] === 1) continue;
    col ??= ctx.allocStepSeries(absentLabels(arg));
    col.values[k] = 1;
    col.present[k] = 1;
  }
  return col === undefined ? [] : [col];
}

// ---------------------------------------------------------------------------------------------
// Classic histograms: histogram_quantile, histogram_fraction.

/** Go's strconv.ParseFloat(s, 64) for decimal and special forms; undefined where Go errs. */
export function parseGoFloat(s: string): number | undefined {
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  // Out of range: Go returns ±Inf with ErrRange, and Prometheus skips the bucket.
  return Number.isFinite(v) ? v : undefined;
}

interface BucketGroup {
  readonly labels: Labels;
  readonly bounds: number[];
  readonly series: StepSeries[];
}

type BucketFunction = (k: number, bounds: Float64Array, counts: Float64Array, n: number) => number;

/**
 * Groups classic buckets by their labels without `le` (__name__ included, as in Prometheus), then
 * per step applies fn to the group's present buckets, sorted by upper bound.
 */
function classicHistogramFunction(ctx: EvalContext, input: StepSeries[], bucketsPos: PosRange, fn: BucketFunction): StepSeries[] {
  const groups = new Map<string, BucketGroup>();
  for (const s of input) {
    const le = getLabel(s.labels, BUCKET_LABEL);
    const upper = parseGoFloat(le);
    if (upper === undefined) {
      // Prometheus warns at each step the series has a sample in; without the metric name, which
      // it gives only with delayed name removal (off by default).
      if (s.present.includes(1)) ctx.annotations.add(badBucketLabelWarning('', le, bucketsPos));
      continue;
    }
    const rest = withoutLabel(s.labels, BUCKET_LABEL);
    const key = labelsKey(rest);
    let g = groups.get(key);
    if (g === undefined) {
      g = { labels: dropMetricName(rest), bounds: [], series: [] };
      groups.set(key, g);
    }
    g.bounds.push(upper);
    g.series.push(s);
  }
  const n = ctx.stepCount;
  const out: StepSeries[] = [];
  let groupIndex = 0;
  for (const g of groups.values()) {
    if (groupIndex++ % SERIES_PER_CANCEL_CHECK === 0) ctx.checkCancel();
    // Bounds are fixed per group: sort once (NaN last), then each step takes the present ones.
    const order = g.bounds.map((_, i) => i);
    order.sort((a, b) => compareBounds(g.bounds[a]!, g.bounds[b]!));
    const bounds = new Float64Array(order.length);
    const counts = new Float64Array(order.length);
    let col: StepSeries | undefined;
    for (let k = 0; k < n; k++) {
      let m = 0;
      for (const i of order) {
        const s = g.series[i]!;
        if (s.present[k] === 0) continue;
        bounds[m] = g.bounds[i]!;
        counts[m] = s.values[k]!;
        m++;
      }
      if (m === 0) continue;
      col ??= ctx.allocStepSeries(g.labels);
      col.values[k] = fn(k, bounds, counts, m);
      col.present[k] = 1;
    }
    if (col !== undefined) out.push(col);
  }
  return mergeSameLabelset(ctx, out);
}

function compareBounds(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merges buckets with the same upper bound (input sorted); returns the new length. */
function coalesceBuckets(bounds: Float64Array, counts: Float64Array, n: number): number {
  let w = 0;
  for (let i = 1; i < n; i++) {
    if (bounds[i] === bounds[w]) counts[w]! += counts[i]!;
    else {
      w++;
      bounds[w] = bounds[i]!;
      counts[w] = counts[i]!;
    }
  }
  return w + 1;
}

const MIN_NORMAL_FLOAT64 = 2.2250738585072014e-308;
/** Relative bucket deltas Prometheus treats as floating point noise (smallDeltaTolerance). */
const SMALL_DELTA_TOLERANCE = 1e-12;

/** Prometheus' util/almost.Equal. */
function almostEqual(a: number, b: number, epsilon: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < MIN_NORMAL_FLOAT64) return diff < epsilon * MIN_NORMAL_FLOAT64;
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon;
}

/**
 * ensureMonotonicAndIgnoreSmallDeltas: absorb noise either way, then remove any decrease;
 * true when a decrease (not mere noise) had to be removed.
 */
function ensureMonotonic(counts: Float64Array, n: number): boolean {
  let forced = false;
  let prev = counts[0]!;
  for (let i = 1; i < n; i++) {
    const curr = counts[i]!;
    if (curr === prev) continue;
    if (almostEqual(prev, curr, SMALL_DELTA_TOLERANCE)) {
      counts[i] = prev;
      continue;
    }
    if (curr < prev) {
      counts[i] = prev;
      forced = true;
      continue;
    }
    prev = curr;
  }
  return forced;
}

/**
 * Whether the last bucketQuantile call had to force the counts monotonic (Prometheus' second
 * result of BucketQuantile, behind the "needed to be fixed for monotonicity" info). A module
 * scratch rather than a tuple per call: it runs per group and step.
 */
export let bucketQuantileForcedMonotonicity = false;

/** Prometheus' BucketQuantile over buckets sorted by upper bound (modified in place). */
export function bucketQuantile(q: number, bounds: Float64Array, counts: Float64Array, count: number): number {
  bucketQuantileForcedMonotonicity = false;
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  if (count === 0 || bounds[count - 1] !== Infinity) return NaN;
  const n = coalesceBuckets(bounds, counts, count);
  const forced = ensureMonotonic(counts, n);
  if (n < 2) return NaN;
  bucketQuantileForcedMonotonicity = forced;
  const observations = counts[n - 1]!;
  if (observations === 0) return NaN;
  let rank = q * observations;
  // sort.Search over the first n-1 buckets: the first with count >= rank.
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (counts[mid]! >= rank) hi = mid;
    else lo = mid + 1;
  }
  const b = lo;
  if (b === n - 1) return bounds[n - 2]!;
  if (b === 0 && bounds[0]! <= 0) return bounds[0]!;
  let bucketStart = 0;
  const bucketEnd = bounds[b]!;
  let bucketCount = counts[b]!;
  if (b > 0) {
    bucketStart = bounds[b - 1]!;
    bucketCount -= counts[b - 1]!;
    rank -= counts[b - 1]!;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / bucketCount);
}

/** Prometheus' BucketFraction (classic histograms) over buckets sorted by upper bound. */
export function bucketFraction(lower: number, upper: number, bounds: Float64Array, counts: Float64Array, count: number): number {
  if (count === 0 || bounds[count - 1] !== Infinity) return NaN;
  const n = coalesceBuckets(bounds, counts, count);
  const total = counts[n - 1]!;
  if (total === 0 || Number.isNaN(lower) || Number.isNaN(upper)) return NaN;
  if (lower >= upper) return 0;
  let rank = 0;
  let lowerRank = 0;
  let upperRank = 0;
  let lowerSet = false;
  let upperSet = false;
  // Positive-only buckets start at 0; otherwise the first bucket reaches down to -Inf.
  let lowerBound = bounds[0]! <= 0 ? -Infinity : 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) lowerBound = bounds[i - 1]!;
    const upperBound = bounds[i]!;
    const bucketCount = counts[i]!;
    // Counts are cumulative: the bucket's own weight is bucketCount - rank.
    const interpolate = (v: number): number => (lowerBound === -Infinity ? bucketCount : rank + ((bucketCount - rank) * (v - lowerBound)) / (upperBound - lowerBound));
    if (!lowerSet && lowerBound >= lower) {
      lowerRank = rank;
      lowerSet = true;
    }
    if (!upperSet && lowerBound >= upper) {
      upperRank = rank;
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    if (!lowerSet && lowerBound < lower && upperBound > lower) {
      lowerRank = interpolate(lower);
      lowerSet = true;
    }
    if (!upperSet && lowerBound < upper && upperBound > upper) {
      upperRank = interpolate(upper);
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    rank = bucketCount;
  }
  if (!lowerSet || lowerRank > total) lowerRank = total;
  if (!upperSet || upperRank > total) upperRank = total;
  return (upperRank - lowerRank) / total;
}
