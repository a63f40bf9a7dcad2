// PromQL annotations: the warnings and infos a query answer carries next to its data, with the
// texts of Prometheus 3 (util/annotations/annotations.go, read at prometheus/prometheus main).
//
// How Prometheus does it, and what this module keeps of it:
//   - an annotation is an error value whose text is "PromQL warning: ..." or "PromQL info: ...",
//     plus the position of the expression it is about;
//   - a query's annotations are a set keyed by the text WITHOUT the position (annoErr.Error()
//     with no query set), so the same message raised at two places is reported once, and the
//     one added last wins (a Go map assignment);
//   - the API renders each as "<text> (<line>:<col>)", the position being the start of the
//     expression in the query, line and column counted in bytes of UTF-8 from 1
//     (posrange.StartPosInput); at most 10 warnings and 10 infos are listed, then
//     "<n> more warning annotations omitted" (web/api/v1: AsStrings(query, 10, 10));
//   - warnings and infos are omitted from the JSON envelope when empty.
// Prometheus keeps them in a Go map, so its order is random; this collector keeps the order in
// which messages were first raised.
//
// Only the annotations that float samples can raise exist here (this engine stores no native
// histograms): see the constructors below and where the evaluators call them.
import type { PosRange } from './ast.js';
import { goQuote } from './go-quote.js';
export { goQuote };

export type AnnotationKind = 'warning' | 'info';

export interface Annotation {
  readonly kind: AnnotationKind;
  /** The full text without the position: "PromQL warning: ...". */
  readonly message: string;
  /**
   * Start of the expression the annotation is about (a UTF-16 offset into the query); undefined
   * for a plain warning that Prometheus raises outside the engine, rendered without a position.
   */
  readonly posStart: number | undefined;
}

/** Prometheus' API limit on listed warnings and on listed infos (web/api/v1: AsStrings(query, 10, 10)). */
export const ANNOTATIONS_LISTED_MAX = 10;

/** The annotations of one query evaluation: deduplicated by message, the last position kept. */
export class QueryAnnotations {
  private readonly byMessage = new Map<string, Annotation>();

  add(a: Annotation): void {
    // Map.set keeps the first insertion's place in the order while replacing the value, as the
    // last Add of the same text does in Prometheus.
    this.byMessage.set(a.message, a);
  }

  get size(): number {
    return this.byMessage.size;
  }

  list(): Annotation[] {
    return [...this.byMessage.values()];
  }

  /**
   * Prometheus' AsStrings: warnings and infos rendered against the query text, at most maxEach
   * of each (0: no limit) and then a line saying how many were left out.
   */
  render(query: string, maxEach = ANNOTATIONS_LISTED_MAX): { warnings: string[]; infos: string[] } {
    const warnings: string[] = [];
    const infos: string[] = [];
    let warnSkipped = 0;
    let infoSkipped = 0;
    for (const a of this.byMessage.values()) {
      const text = a.posStart === undefined ? a.message : `${a.message} (${startPosInput(query, a.posStart)})`;
      if (a.kind === 'info') {
        if (maxEach === 0 || infos.length < maxEach) infos.push(text);
        else infoSkipped++;
      } else if (maxEach === 0 || warnings.length < maxEach) warnings.push(text);
      else warnSkipped++;
    }
    if (warnSkipped > 0) warnings.push(`${warnSkipped} more warning annotations omitted`);
    if (infoSkipped > 0) infos.push(`${infoSkipped} more info annotations omitted`);
    return { warnings, infos };
  }
}

/**
 * posrange.StartPosInput: "<line>:<col>" of a position, both from 1, the column counted in
 * bytes of UTF-8 from the last line break (Go indexes strings by byte). pos is a UTF-16 offset
 * (what the parser records); it is converted here.
 */
export function startPosInput(query: string, pos: number): string {
  if (query === '') return 'unknown position';
  if (pos < 0 || pos > query.length) return 'invalid position';
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos; i++) {
    const c = query.charCodeAt(i);
    if (c === 10) {
      line++;
      col = 1;
    } else if (c < 0x80) col += 1;
    else if (c < 0x800) col += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < pos) {
      // A surrogate pair is one code point of 4 UTF-8 bytes.
      col += 4;
      i++;
    } else col += 3;
  }
  return `${line}:${col}`;
}

/**
 * Go's fmt %g of a float64 (strconv.FormatFloat(v, 'g', -1, 64)): the shortest digits that
 * round-trip; exponent form when the decimal exponent is < -4 or >= 6 (strconv: "if precision
 * was the shortest possible, use precision 6 for this decision"), e.g. 1e+06, 1.5e-05.
 */
export function goFormatG(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const e = v.toExponential(); // shortest round-trip digits: "d.ddde±x"
  const ePos = e.indexOf('e');
  const exp = Number(e.slice(ePos + 1));
  if (exp < -4 || exp >= 6) {
    const abs = Math.abs(exp);
    return `${e.slice(0, ePos)}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' + abs : abs}`;
  }
  // -4 <= exp < 6: JavaScript prints the same shortest digits as a plain decimal.
  return String(v);
}

// ---- Prometheus 3's constructors (annotations.go), for the annotations floats can raise ----

const PROMQL_WARNING = 'PromQL warning';
const PROMQL_INFO = 'PromQL info';

function maybeAddMetricName(text: string, metricName: string): string {
  return metricName === '' ? text : `${text} for metric name ${goQuote(metricName)}`;
}

function at(pos: PosRange | number): number {
  return typeof pos === 'number' ? pos : pos.start;
}

/** NewInvalidQuantileWarning: a quantile outside [0, 1] or NaN. */
export function invalidQuantileWarning(q: number, pos: PosRange | number): Annotation {
  return { kind: 'warning', message: `${PROMQL_WARNING}: quantile value should be between 0 and 1, got ${goFormatG(q)}`, posStart: at(pos) };
}

/** NewInvalidRatioWarning: a limit_ratio ratio outside [-1, 1], capped to `to`. */
export function invalidRatioWarning(r: number, to: number, pos: PosRange | number): Annotation {
  return { kind: 'warning', message: `${PROMQL_WARNING}: ratio value should be between -1 and 1, got ${goFormatG(r)}, capping to ${goFormatG(to)}`, posStart: at(pos) };
}

/** NewBadBucketLabelWarning: a classic histogram bucket whose `le` is missing or does not parse. */
export function badBucketLabelWarning(metricName: string, label: string, pos: PosRange | number): Annotation {
  return {
    kind: 'warning',
    message: maybeAddMetricName(`${PROMQL_WARNING}: bucket label "le" is missing or has a malformed value of ${goQuote(label)}`, metricName),
    posStart: at(pos),
  };
}

/** NewPossibleNonCounterInfo: rate()/increase() of a float series whose name lacks a counter suffix. */
export function possibleNonCounterInfo(metricName: string, pos: PosRange | number): Annotation {
  return {
    kind: 'info',
    message: `${PROMQL_INFO}: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: ${goQuote(metricName)}`,
    posStart: at(pos),
  };
}

/** NewHistogramQuantileForcedMonotonicityInfo: classic buckets whose counts had to be made monotonic. */
export function histogramQuantileForcedMonotonicityInfo(metricName: string, pos: PosRange | number): Annotation {
  return {
    kind: 'info',
    message: maybeAddMetricName(
      `${PROMQL_INFO}: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)`,
      metricName,
    ),
    posStart: at(pos),
  };
}

/**
 * NewSortInRangeQueryWarning: sort(), sort_desc(), sort_by_label(_desc) evaluated over a range,
 * whose result is ordered by labels anyway (Prometheus main, after 3.x releases without it).
 */
export function sortInRangeQueryWarning(pos: PosRange | number): Annotation {
  return { kind: 'warning', message: `${PROMQL_WARNING}: sort is ineffective for range queries since results are always ordered by labels`, posStart: at(pos) };
}

/**
 * The query API's `limit` cut the result (web/api/v1: a plain error, not a PromQL annotation:
 * a warning without position).
 */
export function resultsTruncatedWarning(): Annotation {
  return { kind: 'warning', message: 'results truncated due to limit', posStart: undefined };
}

/** The metric name suffixes that rate()/increase() take as a sign of a counter. */
const COUNTER_SUFFIXES = ['_total', '_sum', '_count', '_bucket'];

export function looksLikeCounterName(name: string): boolean {
  return COUNTER_SUFFIXES.some((s) => name.endsWith(s));
}
