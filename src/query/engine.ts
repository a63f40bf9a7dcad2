// The PromQL engine's entry points: instant and range queries over a Querier.
//
// Both parse the text (parser.ts), build an EvalContext for the grid of evaluation times (one
// step for an instant query) and call evaluate(), which maps each AST node to an EvalValue over
// the whole grid: selectors (eval-selector.ts), binary and unary operators (eval-binary.ts),
// aggregations (eval-aggregate.ts), function calls and subqueries (eval-call.ts with
// eval-range-functions.ts and eval-instant-functions.ts). Native histograms are not stored, so
// only float samples exist.
//
// Results are sorted by labels (compareLabels) so output is deterministic, except instant
// results of sort*(), topk and bottomk, whose order Prometheus keeps.
//
// Evaluators add Prometheus' annotations (warnings and infos: annotations.ts) to the context's
// collector, shared by subquery contexts; the result carries them rendered against the query
// text, in `warnings` / `infos` members present only when not empty.
import { LOOKBACK_DELTA_MS, QUERY_POINTS_PER_SERIES_MAX, QUERY_SAMPLES_MAX, QUERY_SERIES_MAX, QUERY_TIMEOUT_MS } from '../constants.js';
import { MochaError } from '../errors.js';
import { compareLabels, type Labels } from '../model/labels.js';
import type { Querier } from '../model/querier.js';
import { resultsTruncatedWarning } from './annotations.js';
import { documentedType, exprType, type Expr } from './ast.js';
import { evalAggregate } from './eval-aggregate.js';
import { evalCall, evalSubqueryMatrix } from './eval-call.js';
import { instantResultIsOrdered } from './eval-instant-functions.js';
import { evalBinary, evalUnary } from './eval-binary.js';
import { EvalContext, evalMatrixSelectorAt, evalVectorSelector, stepSeriesToSamples, type EvalValue } from './eval-selector.js';
import { parseExpr } from './parser.js';
import { checkResolution, recordRaw, RESOLUTION_AUTO, RollupPlan, selectorFromRollup, type RollupPlanEntry } from './rollup-planner.js';

export interface QueryOptions {
  /** Default LOOKBACK_DELTA_MS. */
  lookbackDeltaMs?: number;
  /** Samples loaded plus output cells (series x steps); default QUERY_SAMPLES_MAX. */
  samplesMax?: number;
  /** Series selected by one selector; default QUERY_SERIES_MAX. */
  seriesMax?: number;
  /** Default QUERY_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Aborting it ends the query: QUERY_TIMEOUT when its reason is a TimeoutError, else QUERY_CANCELED. */
  signal?: AbortSignal;
  /**
   * The query API's `limit`: at most this many series in a vector or matrix answer (the first
   * ones in answer order), with the warning "results truncated due to limit" when some were cut.
   * Undefined or 0: no limit. Scalars and strings are not affected.
   */
  resultSeriesMax?: number;
  /**
   * Which resolution selectors read (rollup-planner.ts): "auto" (default: the coarsest exact
   * level with level segments in range), "raw", or a level name of the querier (that level
   * wherever exact, raw elsewhere). Anything else is a BAD_QUERY.
   */
  resolution?: string;
  /** Called for every selector evaluation with the resolution it read (the /metrics counter). */
  onSelection?: (level: string) => void;
  /** Attach `stats` (samples loaded, the rollup plan) to the result. */
  stats?: boolean;
}

/** What a query read, attached to the result when QueryOptions.stats is set. */
export interface QueryStats {
  /** Raw samples plus rollup buckets loaded from storage. */
  readonly samplesLoaded: number;
  /** One entry per selector evaluation, in evaluation order. */
  readonly rollup: readonly RollupPlanEntry[];
}

export type QueryResult = (
  | { resultType: 'vector'; result: { labels: Labels; t: number; v: number }[] }
  | { resultType: 'matrix'; result: { labels: Labels; timestampsMs: Float64Array; values: Float64Array }[] }
  | { resultType: 'scalar'; result: { t: number; v: number } }
  | { resultType: 'string'; result: { t: number; v: string } }
) &
  QueryAnnotationTexts;

/**
 * Prometheus' annotations of the answer, rendered with their positions in the query (see
 * annotations.ts); each member is present only when not empty, as the API omits them then.
 */
export interface QueryAnnotationTexts {
  warnings?: string[];
  infos?: string[];
  /** Only when QueryOptions.stats is set. */
  stats?: QueryStats;
}

/** The rendered annotations of a finished evaluation, as the optional members of a result. */
function annotationTexts(ctx: EvalContext, expr: string): QueryAnnotationTexts {
  const stats: QueryAnnotationTexts = ctx.wantsStats ? { stats: { samplesLoaded: ctx.samplesLoadedCount, rollup: ctx.rollupPlan.entries } } : {};
  if (ctx.annotations.size === 0) return stats;
  const { warnings, infos } = ctx.annotations.render(expr);
  return { ...(warnings.length > 0 ? { warnings } : {}), ...(infos.length > 0 ? { infos } : {}), ...stats };
}

function makeContext(querier: Querier, startMs: number, endMs: number, stepMs: number, stepCount: number, opts: QueryOptions | undefined): EvalContext {
  const lookbackDeltaMs = opts?.lookbackDeltaMs ?? LOOKBACK_DELTA_MS;
  if (!(lookbackDeltaMs > 0)) throw new MochaError('BAD_QUERY', `lookback delta must be positive, got ${lookbackDeltaMs} ms`);
  const resolution = opts?.resolution ?? RESOLUTION_AUTO;
  checkResolution(resolution, querier);
  const ctx = new EvalContext(
    querier,
    startMs,
    endMs,
    stepMs,
    stepCount,
    lookbackDeltaMs,
    opts?.samplesMax ?? QUERY_SAMPLES_MAX,
    opts?.seriesMax ?? QUERY_SERIES_MAX,
    opts?.timeoutMs ?? QUERY_TIMEOUT_MS,
    opts?.signal,
  );
  ctx.rollupPlan = new RollupPlan(resolution, opts?.onSelection);
  ctx.wantsStats = opts?.stats === true;
  return ctx;
}

function checkTime(ms: number, what: string): void {
  if (!Number.isFinite(ms)) throw new MochaError('BAD_QUERY', `invalid ${what}: ${ms}`);
}

/** Evaluates expr at one time; a range vector expression returns a matrix of raw samples. */
export async function instantQuery(querier: Querier, expr: string, timeMs: number, opts?: QueryOptions): Promise<QueryResult> {
  checkTime(timeMs, 'evaluation time');
  const ast = parseExpr(expr);
  const ctx = makeContext(querier, timeMs, timeMs, 1, 1, opts);
  ctx.checkCancel();
  const v = await evaluate(ast, ctx);
  const limit = opts?.resultSeriesMax;
  switch (v.type) {
    case 'scalar':
      return { resultType: 'scalar', result: { t: timeMs, v: v.values[0]! }, ...annotationTexts(ctx, expr) };
    case 'string':
      return { resultType: 'string', result: { t: timeMs, v: v.value }, ...annotationTexts(ctx, expr) };
    case 'vector': {
      const result: { labels: Labels; t: number; v: number }[] = [];
      for (const s of v.series) if (s.present[0] === 1) result.push({ labels: s.labels, t: timeMs, v: s.values[0]! });
      // Prometheus keeps the order that sort*() and topk/bottomk produce; everything else is
      // sorted by labels here so answers are deterministic.
      if (!resultIsOrdered(ast)) result.sort((a, b) => compareLabels(a.labels, b.labels));
      return { resultType: 'vector', result: truncate(ctx, result, limit), ...annotationTexts(ctx, expr) };
    }
    case 'matrix': {
      const result = v.series.filter((s) => s.timestampsMs.length > 0).map((s) => ({ labels: s.labels, timestampsMs: s.timestampsMs, values: s.values }));
      result.sort((a, b) => compareLabels(a.labels, b.labels));
      return { resultType: 'matrix', result: truncate(ctx, result, limit), ...annotationTexts(ctx, expr) };
    }
  }
}

/** Prometheus' truncateResults (web/api/v1): the first `limit` series, and a warning if cut. */
function truncate<T>(ctx: EvalContext, result: T[], limit: number | undefined): T[] {
  if (limit === undefined || limit <= 0 || result.length <= limit) return result;
  ctx.annotations.add(resultsTruncatedWarning());
  return result.slice(0, limit);
}

function resultIsOrdered(expr: Expr): boolean {
  let e = expr;
  while (e.kind === 'Paren') e = e.expr;
  if (e.kind === 'Aggregate' && (e.op === 'topk' || e.op === 'bottomk')) return true;
  return instantResultIsOrdered(e);
}

/** Evaluates expr at start, start+step, ... <= end; always a matrix (a scalar becomes one series without labels). */
export async function rangeQuery(querier: Querier, expr: string, startMs: number, endMs: number, stepMs: number, opts?: QueryOptions): Promise<QueryResult> {
  checkTime(startMs, 'start time');
  checkTime(endMs, 'end time');
  if (endMs < startMs) throw new MochaError('BAD_QUERY', 'end timestamp must not be before start time');
  if (!(stepMs > 0) || !Number.isFinite(stepMs)) {
    throw new MochaError('BAD_QUERY', 'zero or negative query resolution step widths are not accepted. Try a positive integer');
  }
  // Prometheus' check, in whole steps: (end - start) / step > 11000.
  if (Math.floor((endMs - startMs) / stepMs) > QUERY_POINTS_PER_SERIES_MAX) {
    throw new MochaError('BAD_QUERY', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
  }
  const ast = parseExpr(expr);
  const t = exprType(ast);
  if (t !== 'scalar' && t !== 'vector') {
    throw new MochaError('BAD_QUERY', `invalid expression type ${JSON.stringify(documentedType(t))} for range query, must be Scalar or instant Vector`);
  }
  const stepCount = Math.floor((endMs - startMs) / stepMs) + 1;
  const ctx = makeContext(querier, startMs, endMs, stepMs, stepCount, opts);
  ctx.checkCancel();
  const v = await evaluate(ast, ctx);
  const result: { labels: Labels; timestampsMs: Float64Array; values: Float64Array }[] = [];
  if (v.type === 'scalar') {
    const ts = new Float64Array(stepCount);
    for (let k = 0; k < stepCount; k++) ts[k] = ctx.stepTimeMs(k);
    result.push({ labels: [], timestampsMs: ts, values: v.values });
  } else if (v.type === 'vector') {
    for (const s of v.series) {
      const samples = stepSeriesToSamples(s, ctx.startMs, ctx.stepMs, stepCount);
      if (samples !== undefined) result.push(samples);
    }
    result.sort((a, b) => compareLabels(a.labels, b.labels));
  } else {
    throw new MochaError('INTERNAL', `range query evaluated to ${v.type}`);
  }
  return { resultType: 'matrix', result: truncate(ctx, result, opts?.resultSeriesMax), ...annotationTexts(ctx, expr) };
}

/** Evaluates a node over the context's whole step grid. */
export async function evaluate(node: Expr, ctx: EvalContext): Promise<EvalValue> {
  switch (node.kind) {
    case 'NumberLiteral':
      return { type: 'scalar', values: new Float64Array(ctx.stepCount).fill(node.value) };
    case 'StringLiteral':
      return { type: 'string', value: node.value };
    case 'Paren':
      return evaluate(node.expr, ctx);
    case 'VectorSelector':
      return { type: 'vector', series: (await selectorFromRollup(ctx, node)) ?? (await evalVectorSelector(ctx, node)) };
    case 'MatrixSelector':
      if (ctx.stepCount !== 1) throw notSupported('range vector selector inside a range query');
      recordRaw(ctx, node, 'a range vector result holds the samples');
      return { type: 'matrix', series: await evalMatrixSelectorAt(ctx, node, 0) };
    case 'Subquery':
      return { type: 'matrix', series: await evalSubqueryMatrix(ctx, node, evaluate) };
    case 'Call':
      return evalCall(node, ctx, evaluate);
    case 'Aggregate':
      return evalAggregate(node, ctx, evaluate);
    case 'Binary':
      return evalBinary(node, ctx, evaluate);
    case 'Unary':
      return evalUnary(node, ctx, evaluate);
  }
}

function notSupported(what: string): MochaError {
  return new MochaError('QUERY_EXECUTION', `not supported yet: ${what}`);
}
