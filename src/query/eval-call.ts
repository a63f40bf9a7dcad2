// Dispatch of every function call node (Call) of the evaluator.
//
// Functions that take a range vector (rate, *_over_time, ...) go to eval-range-functions.ts:
// a matrix selector is read once for the whole grid, a subquery is evaluated once on its own
// aligned grid (below), and their scalar arguments (quantile_over_time's q, ...) are evaluated
// over the grid first. Every other function has its arguments evaluated here and is computed by
// eval-instant-functions.ts (timestamp(<selector>) by its variant that reads the selector); a
// name neither knows fails with QUERY_EXECUTION "not supported yet" rather than a wrong answer.
//
// Subqueries live here too: as a range function's argument (evalSubqueryForWindows) and as the
// result of an instant query (evalSubqueryMatrix, called by engine.ts); either evaluates the
// inner expression on a child context of its own aligned grid (EvalContext.subgrid), which
// charges its work to the query's limits.
//
// `evaluate` is passed in by engine.ts so that this module does not import the engine back.
import { MochaError } from '../errors.js';
import type { SeriesData } from '../model/querier.js';
import type { Call, Expr, Subquery } from './ast.js';
import { evalInstantFunction, evalTimestampOverSelector, hasInstantFunction, timestampSelectorArg } from './eval-instant-functions.js';
import { evalRangeFunction, loadMatrixSelector, rangeFunctionMatrixArgIndex, type RangeArgument } from './eval-range-functions.js';
import { stepSeriesToSamples, type EvalContext, type EvalValue } from './eval-selector.js';
import { rangeCallFromRollup, recordRaw } from './rollup-planner.js';

/** Prometheus' default global evaluation interval: the step of a subquery written without one. */
export const SUBQUERY_DEFAULT_STEP_MS = 60_000;

export type Evaluate = (node: Expr, ctx: EvalContext) => Promise<EvalValue>;

export async function evalCall(call: Call, ctx: EvalContext, evaluate: Evaluate): Promise<EvalValue> {
  const name = call.func.name;
  const matrixIndex = rangeFunctionMatrixArgIndex(name);
  if (matrixIndex !== undefined) {
    const matrixArg = call.args[matrixIndex];
    if (matrixArg === undefined) throw new MochaError('INTERNAL', `${name}() lacks its range vector argument`);
    const scalarArgs: (Float64Array | undefined)[] = [];
    for (let i = 0; i < call.args.length; i++) {
      if (i === matrixIndex) {
        scalarArgs.push(undefined);
        continue;
      }
      const v = await evaluate(call.args[i]!, ctx);
      if (v.type !== 'scalar') throw new MochaError('INTERNAL', `argument ${i + 1} of ${name}() evaluated to ${v.type}, expected scalar`);
      scalarArgs.push(v.values);
    }
    const inner = unwrapParens(matrixArg);
    let range: RangeArgument;
    if (inner.kind === 'MatrixSelector') {
      const fromLevel = await rangeCallFromRollup(ctx, call, inner);
      if (fromLevel !== undefined) return { type: 'vector', series: fromLevel };
      range = await loadMatrixSelector(ctx, inner);
    } else if (inner.kind === 'Subquery') range = await evalSubqueryForWindows(ctx, inner, evaluate);
    else throw new MochaError('INTERNAL', `range vector argument of ${name}() is a ${inner.kind}`);
    return { type: 'vector', series: await evalRangeFunction(ctx, call, range, scalarArgs) };
  }
  if (!hasInstantFunction(name)) throw notSupported(`function ${name}()`);
  // timestamp(<selector>) needs the samples' own times, which evaluated StepSeries do not keep.
  const tsSelector = timestampSelectorArg(call);
  if (tsSelector !== undefined) {
    recordRaw(ctx, call, `${name}() reads sample times`);
    return { type: 'vector', series: await evalTimestampOverSelector(ctx, tsSelector) };
  }
  const args: EvalValue[] = [];
  for (const a of call.args) args.push(await evaluate(a, ctx));
  return evalInstantFunction(call, args, ctx);
}

function unwrapParens(e: Expr): Expr {
  let x = e;
  while (x.kind === 'Paren') x = x.expr;
  return x;
}

/**
 * Evaluates a subquery `expr[range:step] offset o @ T` as the range argument of a function.
 *
 * As Prometheus does: the inner expression is evaluated once, on its own grid of steps aligned
 * to multiples of the step in absolute time, from the first such time after the first window's
 * start up to the last window's end; the function then reads windows (t - range, t] of that
 * result, t being the selector time of each outer step. Without a step, Prometheus uses the
 * global evaluation interval (default 1m).
 */
export async function evalSubqueryForWindows(ctx: EvalContext, sq: Subquery, evaluate: Evaluate): Promise<RangeArgument & { readonly series: readonly SeriesData[] }> {
  const stepMs = sq.stepMs ?? SUBQUERY_DEFAULT_STEP_MS;
  const firstMs = ctx.selectorTimeMs(sq.at, sq.offsetMs, 0);
  const lastMs = ctx.selectorTimeMs(sq.at, sq.offsetMs, ctx.stepCount - 1);
  const lowMs = firstMs - sq.rangeMs;
  // Go's integer division truncates toward zero; so does Math.trunc.
  let startMs = stepMs * Math.trunc(lowMs / stepMs);
  if (startMs <= lowMs) startMs += stepMs;
  // posStart 0: Prometheus replaces the subquery argument by a matrix selector without a position.
  const empty = { rangeMs: sq.rangeMs, at: sq.at, offsetMs: sq.offsetMs, posStart: 0 };
  if (startMs > lastMs) return { ...empty, batches: oneBatch([]), series: [] };
  const stepCount = Math.floor((lastMs - startMs) / stepMs) + 1;
  const child = ctx.subgrid(startMs, lastMs, stepMs, stepCount);
  const v = await evaluate(sq.expr, child);
  if (v.type !== 'vector') throw new MochaError('INTERNAL', `subquery evaluated to ${v.type}, expected an instant vector`);
  const series: SeriesData[] = [];
  for (const s of v.series) {
    const samples = stepSeriesToSamples(s, startMs, stepMs, stepCount);
    if (samples !== undefined) series.push(samples);
  }
  return { ...empty, batches: oneBatch(series), series };
}

/** The evaluated series of a subquery as the single batch of a range argument. */
async function* oneBatch(series: readonly SeriesData[]): AsyncGenerator<readonly SeriesData[]> {
  if (series.length > 0) yield series;
}

/**
 * A subquery evaluated where a range vector is the result (the top of an instant query): the
 * points of the inner expression at the subquery's aligned inner steps within (t - range, t],
 * t being the selector time (offset and @ applied) of the single evaluation step. Series
 * without points are left out. A range query cannot return a range vector, so a grid of more
 * than one step is an internal error (the engine rejects such queries by type first).
 */
export async function evalSubqueryMatrix(ctx: EvalContext, sq: Subquery, evaluate: Evaluate): Promise<SeriesData[]> {
  if (ctx.stepCount !== 1) throw new MochaError('INTERNAL', `a subquery as a range vector result needs a grid of one step, got ${ctx.stepCount}`);
  // On a one-step grid the inner grid lies entirely inside the only window (t - range, t].
  return (await evalSubqueryForWindows(ctx, sq, evaluate)).series.slice();
}

function notSupported(what: string): MochaError {
  return new MochaError('QUERY_EXECUTION', `not supported yet: ${what}`);
}
