// The rollup planner: which resolution serves each selector of a query (DESIGN.md, "Rollup
// pyramid" and "Query"), and the evaluation of a selector from a level's buckets.
//
// Two kinds of storage reads can be served from a level:
//   - a range function in ROLLUP_FUNCTIONS whose argument is a matrix selector (`rate(m[1h])`);
//   - a plain instant vector selector (`m`, with the lookback as its window).
// For each, the planner takes the COARSEST level for which servable() (rollup/eval.ts) holds on
// the grid the selector is evaluated on (the query's, or a subquery's own inner grid), with `@`
// and `offset` applied exactly as the raw path applies them: with `@ T` every step reads the
// window ending at T - offset (step 0 to servable()); without, the windows end at start - offset
// + k * step. In `auto` resolution a level is only read when the querier has valid level
// segments in the needed range (levelSegmentsOverlapping > 0): computing buckets from raw
// samples costs more than evaluating the raw samples directly. A forced level (resolution=1h)
// is read wherever servable(), computed from raw samples where no level segment exists;
// resolution=raw never reads a level. Everything else (functions without an exact rollup,
// unaligned grids, matrix selectors returned as results, timestamp()) reads raw samples.
//
// The answer from buckets is the raw path's answer: same series, same labels (metric name
// dropped except for last/first_over_time), same "might not be a counter" info for rate and
// increase, same duplicate-labelset error; values equal up to the summation order buckets.ts
// documents. Each decision is recorded as a RollupPlanEntry (stats=all / explain=true, and the
// mocha_query_selections_total counter).
import { MochaError } from '../errors.js';
import { compareLabels, dropMetricName, getLabel, labelsKey, METRIC_NAME_LABEL } from '../model/labels.js';
import type { Querier } from '../model/querier.js';
import {
  edgeRawRange,
  evalRollupEdgeGrid,
  evalRollupEdgeWindow,
  evalRollupGrid,
  evalRollupGridRuns,
  PLAIN_SELECTOR,
  rawTailStartMs,
  ROLLUP_FUNCTIONS,
  servable,
  bucketFieldsRead,
  servableWithEdge,
  servableWithRawTail,
  type RawSamples,
  type RollupEdgeGrid,
  type RollupGrid,
} from '../rollup/eval.js';
import { BucketAccumulator, buildBuckets } from '../rollup/buckets.js';
import type { SeriesBuckets, SeriesData } from '../model/querier.js';
import { RAW_LEVEL, type RollupLevel } from '../rollup/levels.js';
import { looksLikeCounterName, possibleNonCounterInfo } from './annotations.js';
import type { Call, Expr, MatrixSelector, VectorSelector } from './ast.js';
import { keepsMetricName } from './eval-range-functions.js';
import type { EvalContext, StepSeries } from './eval-selector.js';
import { exprToString } from './printer.js';

/** The `resolution` that lets the planner choose. */
export const RESOLUTION_AUTO = 'auto';

/** One selector evaluation and the resolution it read. */
export interface RollupPlanEntry {
  /** The function call or selector, as Prometheus prints it: `rate(m[1h])`, `m offset 5m`. */
  readonly expr: string;
  /** A level name ("5m", "1h") or "raw". */
  readonly level: string;
  /** Why raw samples were read (absent when a level was). */
  readonly reason?: string;
  /**
   * Edge extension (a range that is not a multiple of the level's width, e.g. `$__rate_interval`):
   * windows whose first bucket was split with raw samples, and the raw reads that took.
   */
  readonly edge?: { readonly windowsFromRaw: number; readonly rawReads: number; readonly rawTail?: true };
  /** Level segments read, and time pieces read from raw samples (a raw read is one piece). */
  readonly levelSegmentsRead: number;
  readonly rawPiecesRead: number;
}

/**
 * The decisions of one query, shared by its subquery contexts. Each keeps its expression node,
 * printed only when the entries are read (stats=all, tests), not for every query: printing
 * showed as ~15% of the CPU of a small 20-value regex query (bench:query --profile, matcherText
 * and exprToString), though an A/B of such a query moved only its fastest runs (~0.1 ms of 2 ms).
 */
export class RollupPlan {
  private readonly recorded: { node: Expr; decision: Omit<RollupPlanEntry, 'expr'> }[] = [];

  constructor(
    /** "auto", "raw" or a level name (checked by checkResolution). */
    readonly resolution: string = RESOLUTION_AUTO,
    /** Told the level ("raw" or a level name) of every selector evaluation. */
    private readonly onSelection?: (level: string) => void,
  ) {}

  record(node: Expr, decision: Omit<RollupPlanEntry, 'expr'>): void {
    this.recorded.push({ node, decision });
    this.onSelection?.(decision.level);
  }

  /** The decisions so far, in evaluation order, each with its expression printed. */
  get entries(): RollupPlanEntry[] {
    return this.recorded.map(({ node, decision }) => ({ expr: exprToString(node), ...decision }));
  }
}

/** Throws BAD_QUERY unless resolution is auto, raw or one of the querier's levels. */
export function checkResolution(resolution: string, querier: Querier): void {
  if (resolution === RESOLUTION_AUTO || resolution === RAW_LEVEL) return;
  const levels = querier.rollupLevels ?? [];
  if (levels.some((l) => l.name === resolution)) return;
  const known = [RESOLUTION_AUTO, RAW_LEVEL, ...levels.map((l) => l.name)].join(', ');
  throw new MochaError('BAD_QUERY', `invalid parameter "resolution": unknown resolution ${JSON.stringify(resolution)}; use one of ${known}`);
}

interface Choice {
  readonly level?: RollupLevel;
  readonly reason?: string;
  /** Bucket range to select: (minTMs, maxTMs], multiples of the level's width. */
  readonly minTMs: number;
  readonly maxTMs: number;
  /** Served by edge extension (servableWithEdge): the range is not a multiple of the width. */
  readonly edge?: boolean;
  /** Edge extension plus raw samples after the last boundary (servableWithRawTail): one window ending off a boundary. */
  readonly rawTail?: boolean;
}

function rawChoice(reason: string): Choice {
  return { reason, minTMs: 0, maxTMs: 0 };
}

/** The level for fn over `vs` with window rangeMs on ctx's grid, or raw with the reason. */
function choose(ctx: EvalContext, fn: string, rangeMs: number, vs: VectorSelector): Choice {
  const plan = ctx.rollupPlan;
  const q = ctx.querier;
  if (plan.resolution === RAW_LEVEL) return rawChoice('resolution=raw');
  const levels = q.rollupLevels ?? [];
  if (q.selectBuckets === undefined || levels.length === 0) return rawChoice('no rollup levels');
  if (fn !== PLAIN_SELECTOR && !ROLLUP_FUNCTIONS.has(fn)) return rawChoice(`${fn}() has no exact rollup`);
  // servable() wants the windows' grid before the offset: with @ one window, else the step grid.
  const pinned = vs.at !== undefined;
  const baseMs = pinned ? ctx.selectorTimeMs(vs.at, 0, 0) : ctx.startMs;
  const stepMs = pinned || ctx.stepCount === 1 ? 0 : ctx.stepMs;
  const firstMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, 0);
  const lastMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, ctx.stepCount - 1);
  const auto = plan.resolution === RESOLUTION_AUTO;
  const candidates = auto ? [...levels].reverse() : levels.filter((l) => l.name === plan.resolution);
  let reason = auto ? 'not aligned to any level' : `not aligned to ${plan.resolution} buckets`;
  // Whole buckets first (coarsest level); then edge extension (coarsest level), which may need
  // the raw samples of some windows' first bucket; then, for one window ending off a boundary,
  // edge extension plus a raw tail.
  type Kind = 'whole' | 'edge' | 'rawTail';
  const kinds: Kind[] = ['whole', 'edge', 'rawTail'];
  const fits: Record<Kind, (G: number) => boolean> = {
    whole: (G) => servable(fn, rangeMs, stepMs, baseMs, vs.offsetMs, G),
    edge: (G) => servableWithEdge(fn, rangeMs, stepMs, baseMs, vs.offsetMs, G),
    rawTail: (G) => servableWithRawTail(fn, rangeMs, stepMs, baseMs, vs.offsetMs, G),
  };
  const tries = kinds.flatMap((kind) => candidates.map((level) => ({ level, kind })));
  for (const { level, kind } of tries) {
    const G = level.widthMs;
    if (!fits[kind](G)) continue;
    // Window functions have aligned window starts; tail functions and selectors only need
    // buckets from the one holding the first window's start.
    const minTMs = Math.floor((firstMs - rangeMs) / G) * G;
    const maxTMs = kind === 'rawTail' ? rawTailStartMs(G, lastMs) : lastMs;
    if (auto && (q.levelSegmentsOverlapping?.(level, minTMs, maxTMs) ?? 0) === 0) {
      reason = 'no level segments in range';
      continue;
    }
    return { level, minTMs, maxTMs, edge: kind !== 'whole', rawTail: kind === 'rawTail' };
  }
  return rawChoice(reason);
}

/** Records that `node` reads raw samples (paths the planner does not serve). */
export function recordRaw(ctx: EvalContext, node: Expr, reason: string): void {
  ctx.rollupPlan.record(node, { level: RAW_LEVEL, reason, levelSegmentsRead: 0, rawPiecesRead: 1 });
}

/**
 * `fn(m[r] ...)` from a level when the planner picks one; undefined (decision recorded) when the
 * raw path must evaluate it.
 */
export async function rangeCallFromRollup(ctx: EvalContext, call: Call, ms: MatrixSelector): Promise<StepSeries[] | undefined> {
  const fn = call.func.name;
  const vs = ms.vector;
  const choice = choose(ctx, fn, ms.rangeMs, vs);
  if (choice.level === undefined) {
    recordRaw(ctx, call, choice.reason!);
    return undefined;
  }
  const sel = await ctx.selectBuckets(vs, choice.level, choice.minTMs, choice.maxTMs, bucketFieldsRead(fn));
  try {
    let series = sel.series;
    let rawTails: (RawSamples | undefined)[] | undefined;
    if (choice.rawTail === true) ({ series, rawTails } = await withRawTails(ctx, vs, sel.series, choice.level.widthMs, choice.maxTMs));
    const edgeGrids = choice.edge === true ? await edgeExtendedGrids(ctx, vs, fn, ms.rangeMs, series, choice.level.widthMs, rawTails) : undefined;
    const tailReads = rawTails !== undefined ? 1 : 0;
    ctx.rollupPlan.record(call, {
      level: choice.level.name,
      ...(edgeGrids !== undefined
        ? { edge: { windowsFromRaw: edgeGrids.windowsFromRaw, rawReads: edgeGrids.rawReads + tailReads, ...(tailReads > 0 ? { rawTail: true as const } : {}) } }
        : {}),
      levelSegmentsRead: sel.levelSegmentsRead,
      rawPiecesRead: sel.rawPiecesRead + (edgeGrids?.rawReads ?? 0) + tailReads,
    });
    const keepName = keepsMetricName(fn);
    const checksCounterName = fn === 'rate' || fn === 'increase';
    const out: StepSeries[] = [];
    const seen = new Set<string>();
    const scratch = scratchGrid(ctx);
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      ctx.checkCancel();
      const labels = keepName ? s.labels : dropMetricName(s.labels);
      const col = edgeGrids !== undefined ? columnOf(ctx, edgeGrids.grids[i]!, labels, vs.at !== undefined) : gridColumn(ctx, vs, fn, ms.rangeMs, s, labels, scratch);
      if (col === undefined) continue;
      if (checksCounterName) {
        // As the raw path (eval-range-functions.ts): per input series with output.
        const metricName = getLabel(s.labels, METRIC_NAME_LABEL);
        if (metricName !== '' && !looksLikeCounterName(metricName)) ctx.annotations.add(possibleNonCounterInfo(metricName, ms.pos.start));
      }
      const key = labelsKey(col.labels);
      if (seen.has(key)) throw new MochaError('QUERY_EXECUTION', 'vector cannot contain metrics with the same labelset');
      seen.add(key);
      out.push(col);
    }
    return out;
  } finally {
    // The output columns hold copies: the buckets' memory can go to the next selection.
    sel.release?.();
  }
}

/** A plain instant vector selector from a level; undefined (decision recorded) for the raw path. */
export async function selectorFromRollup(ctx: EvalContext, vs: VectorSelector): Promise<StepSeries[] | undefined> {
  const lookback = ctx.lookbackDeltaMs;
  const choice = choose(ctx, PLAIN_SELECTOR, lookback, vs);
  if (choice.level === undefined) {
    recordRaw(ctx, vs, choice.reason!);
    return undefined;
  }
  const sel = await ctx.selectBuckets(vs, choice.level, choice.minTMs, choice.maxTMs, bucketFieldsRead(PLAIN_SELECTOR));
  ctx.rollupPlan.record(vs, { level: choice.level.name, levelSegmentsRead: sel.levelSegmentsRead, rawPiecesRead: sel.rawPiecesRead });
  const out: StepSeries[] = [];
  const scratch = scratchGrid(ctx);
  try {
    for (const s of sel.series) {
      ctx.checkCancel();
      const col = gridColumn(ctx, vs, PLAIN_SELECTOR, lookback, s, s.labels, scratch);
      if (col !== undefined) out.push(col);
    }
  } finally {
    sel.release?.();
  }
  return out;
}

/**
 * The raw samples after the last boundary (tailStartMs, the selection's end) up to the one
 * window's end, per series: one raw read. Series that have samples only there join the
 * selection with no buckets (in label order, as selections are).
 */
async function withRawTails(
  ctx: EvalContext,
  vs: VectorSelector,
  selected: readonly SeriesBuckets[],
  widthMs: number,
  tailStartMs: number,
): Promise<{ series: SeriesBuckets[]; rawTails: (RawSamples | undefined)[] }> {
  const endMs = ctx.selectorTimeMs(vs.at, vs.offsetMs, 0);
  const loaded = await ctx.select(vs, tailStartMs, endMs);
  const byKey = new Map<string, SeriesData>();
  for (const s of loaded) byKey.set(labelsKey(s.labels), s);
  const series = [...selected];
  const known = new Set(selected.map((s) => labelsKey(s.labels)));
  let added = false;
  for (const [key, s] of byKey) {
    if (known.has(key)) continue;
    series.push({ labels: s.labels, buckets: buildBuckets(new Float64Array(0), new Float64Array(0), widthMs) });
    added = true;
  }
  if (added) series.sort((a, b) => compareLabels(a.labels, b.labels));
  return { series, rawTails: series.map((s) => byKey.get(labelsKey(s.labels))) };
}

/** Raw reads of edge buckets are per evaluation step up to this many distinct steps, else one read of the whole range. */
const EDGE_RAW_STEP_READS_MAX = 64;

/**
 * Edge-extended grids (servableWithEdge) of every selected series, with the windows whose first
 * bucket the level cannot split filled from raw samples: one raw read per such evaluation step
 * (its edge bucket only) when there are few, else one read over all of them.
 */
async function edgeExtendedGrids(
  ctx: EvalContext,
  vs: VectorSelector,
  fn: string,
  rangeMs: number,
  series: readonly SeriesBuckets[],
  widthMs: number,
  rawTails?: readonly (RawSamples | undefined)[],
): Promise<{ grids: RollupGrid[]; windowsFromRaw: number; rawReads: number }> {
  // With @ every grid holds the one window (columnOf spreads it over the steps).
  const n = ctx.stepCount;
  const pinned = vs.at !== undefined;
  const baseMs = pinned ? ctx.selectorTimeMs(vs.at, 0, 0) : ctx.startMs;
  const stepMs = pinned || n === 1 ? 0 : ctx.stepMs;
  const steps = pinned ? 1 : n;
  const endOf = (k: number): number => baseMs + k * stepMs - vs.offsetMs;
  // With a raw tail, every series passes one (empty where it has no samples there).
  const noSamples: RawSamples = { timestampsMs: new Float64Array(0), values: new Float64Array(0) };
  const tailOf = (i: number): RawSamples | undefined => (rawTails === undefined ? undefined : (rawTails[i] ?? noSamples));
  const grids = series.map((s, i): RollupEdgeGrid => {
    ctx.checkCancel();
    // Over the runs (no join) when the windows end on bucket boundaries and no raw tail is read.
    if (rawTails === undefined && !pinned && s.runs !== undefined && s.runs.length > 1) {
      const needsRaw: number[] = [];
      const grid = { values: new Float64Array(steps), present: new Uint8Array(steps) };
      if (evalRollupGridRuns(s.runs, widthMs, fn, rangeMs, baseMs, stepMs, steps, vs.offsetMs, grid, needsRaw) !== undefined) return { ...grid, needsRaw };
    }
    return evalRollupEdgeGrid(s.buckets, fn, rangeMs, baseMs, stepMs, steps, vs.offsetMs, tailOf(i));
  });
  const pendingSteps = new Set<number>();
  let windowsFromRaw = 0;
  for (const g of grids) {
    for (const k of g.needsRaw) pendingSteps.add(k);
    windowsFromRaw += g.needsRaw.length;
  }
  let rawReads = 0;
  if (pendingSteps.size > 0) {
    const byKey = new Map<string, number>();
    series.forEach((s, i) => byKey.set(labelsKey(s.labels), i));
    const acc = new BucketAccumulator();
    const fill = (loaded: readonly SeriesData[], onlyStep?: number): void => {
      for (const raw of loaded) {
        const i = byKey.get(labelsKey(raw.labels));
        if (i === undefined) continue; // a series with no bucket in range has no window to fill
        const g = grids[i]!;
        for (const k of g.needsRaw) {
          if (onlyStep !== undefined && k !== onlyStep) continue;
          const v = evalRollupEdgeWindow(series[i]!.buckets, fn, endOf(k), rangeMs, acc, raw, tailOf(i));
          if (typeof v === 'number') {
            g.values[k] = v;
            g.present[k] = 1;
          }
        }
      }
    };
    if (pendingSteps.size <= EDGE_RAW_STEP_READS_MAX) {
      for (const k of [...pendingSteps].sort((a, b) => a - b)) {
        const r = edgeRawRange(widthMs, endOf(k), rangeMs);
        fill(await ctx.select(vs, r.afterMs, r.throughMs), k);
        rawReads++;
      }
    } else {
      const ks = [...pendingSteps].sort((a, b) => a - b);
      const first = edgeRawRange(widthMs, endOf(ks[0]!), rangeMs);
      const last = edgeRawRange(widthMs, endOf(ks[ks.length - 1]!), rangeMs);
      fill(await ctx.select(vs, Math.min(first.afterMs, last.afterMs), Math.max(first.throughMs, last.throughMs)));
      rawReads++;
    }
  }
  return { grids, windowsFromRaw, rawReads };
}

/** A grid as an output column; undefined when no step has a value. */
function columnOf(ctx: EvalContext, grid: RollupGrid, labels: StepSeries['labels'], pinned = false): StepSeries | undefined {
  if (pinned) {
    // One window (`@`) read at every step: spread it over the grid.
    if (grid.present[0] !== 1) return undefined;
    const col = ctx.allocStepSeries(labels);
    col.values.fill(grid.values[0]!);
    col.present.fill(1);
    return col;
  }
  if (!grid.present.includes(1)) return undefined;
  const col = ctx.allocStepSeries(labels);
  col.values.set(grid.values);
  col.present.set(grid.present);
  return col;
}

/** One grid's worth of values and presence, reused for every series of a selector (copied into each output column). */
function scratchGrid(ctx: EvalContext): RollupGrid {
  return { values: new Float64Array(ctx.stepCount), present: new Uint8Array(ctx.stepCount) };
}

/** fn over the series' buckets at every step of ctx's grid; undefined when no step has a value. */
function gridColumn(
  ctx: EvalContext,
  vs: VectorSelector,
  fn: string,
  rangeMs: number,
  series: SeriesBuckets,
  labels: StepSeries['labels'],
  scratch: RollupGrid,
): StepSeries | undefined {
  const n = ctx.stepCount;
  const pinned = vs.at !== undefined;
  const baseMs = pinned ? ctx.selectorTimeMs(vs.at, 0, 0) : ctx.startMs;
  // With @ every step reads the same window: evaluate it once.
  if (pinned) return columnOf(ctx, evalRollupGrid(series.buckets, fn, rangeMs, baseMs, 0, 1, vs.offsetMs), labels, true);
  const stepMs = n === 1 ? 0 : ctx.stepMs;
  // Over the runs when the grid allows it: no join of the series' buckets (see SeriesRunsJoiner).
  const overRuns = series.runs !== undefined && series.runs.length > 1 ? evalRollupGridRuns(series.runs, series.runs[0]!.buckets.widthMs, fn, rangeMs, baseMs, stepMs, n, vs.offsetMs, scratch) : undefined;
  return columnOf(ctx, overRuns ?? evalRollupGrid(series.buckets, fn, rangeMs, baseMs, stepMs, n, vs.offsetMs, scratch), labels);
}
