// Prints the AST back as PromQL text, the way Prometheus' promql/parser does: exprToString follows
// printer.go's String() methods (one line, canonical spacing, matchers sorted, `__name__`
// folded into the metric name, durations in model.Duration form, numbers as Go's fmt.Sprint)
// and prettyExpr follows prettier.go's Pretty(0) (what /api/v1/format_query answers): a node whose
// one-line form exceeds PRETTY_LINE_CHARS_MAX is split over lines with two-space indents.
// The output parses back to the same AST (printer tests check the round trip).
import type { AtModifier, Expr, VectorSelector } from './ast.js';
import { goQuote } from './go-quote.js';
export { goQuote };
import { goFloatF } from './eval-aggregate.js';

/** prettier.go's maxCharactersPerLine. */
export const PRETTY_LINE_CHARS_MAX = 100;

const LEGACY_METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LEGACY_LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** prometheus/common model.Duration.String(): "1h30m", "90d", "1w", "0s". */
export function formatDurationMs(msIn: number): string {
  let ms = Math.trunc(msIn);
  if (ms === 0) return '0s';
  let r = '';
  const unit = (name: string, mult: number, exact: boolean) => {
    if (exact && ms % mult !== 0) return;
    const v = Math.trunc(ms / mult);
    if (v > 0) {
      r += `${v}${name}`;
      ms -= v * mult;
    }
  };
  unit('y', 365 * 24 * 3600_000, true);
  unit('w', 7 * 24 * 3600_000, true);
  unit('d', 24 * 3600_000, false);
  unit('h', 3600_000, false);
  unit('m', 60_000, false);
  unit('s', 1000, false);
  unit('ms', 1, false);
  return r;
}

function labelNameText(name: string): string {
  return LEGACY_LABEL_NAME_RE.test(name) ? name : goQuote(name);
}

/** Grouping labels: Prometheus 3 quotes those that are not valid legacy metric names. */
function joinLabels(names: readonly string[]): string {
  return names.map((n) => (LEGACY_METRIC_NAME_RE.test(n) ? n : goQuote(n))).join(', ');
}

function atText(at: AtModifier): string {
  if (at === undefined) return '';
  if (at === 'start') return ' @ start()';
  if (at === 'end') return ' @ end()';
  return ` @ ${(at / 1000).toFixed(3)}`;
}

function offsetText(offsetMs: number): string {
  if (offsetMs > 0) return ` offset ${formatDurationMs(offsetMs)}`;
  if (offsetMs < 0) return ` offset -${formatDurationMs(-offsetMs)}`;
  return '';
}

function matcherText(m: { type: string; name: string; value: string }): string {
  return `${labelNameText(m.name)}${m.type}${goQuote(m.value)}`;
}

/** The selector without its @ and offset (MatrixSelector prints those after the range). */
function selectorBody(vs: VectorSelector): string {
  const name = vs.name ?? '';
  const parts: string[] = [];
  for (const m of vs.matchers) {
    if (m.name === '__name__' && m.type === '=' && m.value === name && m.value !== '') continue;
    parts.push(matcherText(m));
  }
  parts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // A UTF-8 metric name goes inside the braces, quoted, so the text parses back.
  if (name !== '' && !LEGACY_METRIC_NAME_RE.test(name)) return `{${[goQuote(name), ...parts].join(',')}}`;
  if (parts.length === 0) return name;
  return `${name}{${parts.join(',')}}`;
}

function subquerySuffix(e: Extract<Expr, { kind: 'Subquery' }>): string {
  const step = e.stepMs !== undefined && e.stepMs !== 0 ? formatDurationMs(e.stepMs) : '';
  return `[${formatDurationMs(e.rangeMs)}:${step}]${atText(e.at)}${offsetText(e.offsetMs)}`;
}

function aggregatePrefix(e: Extract<Expr, { kind: 'Aggregate' }>): string {
  if (e.without) return `${e.op} without (${joinLabels(e.grouping)}) `;
  if (e.grouping.length > 0) return `${e.op} by (${joinLabels(e.grouping)}) `;
  return e.op;
}

function matchingText(e: Extract<Expr, { kind: 'Binary' }>): string {
  const vm = e.matching;
  const grouped = vm.card === 'many-to-one' || vm.card === 'one-to-many';
  // Prometheus prints the clause when labels are named or `on` was used. Deliberate difference:
  // a group_ modifier forces it too, or `ignoring() group_left` would print as a one-to-one
  // match and change meaning when parsed back.
  if (!(vm.labels.length > 0 || vm.on || grouped)) return '';
  let s = ` ${vm.on ? 'on' : 'ignoring'} (${joinLabels(vm.labels)})`;
  if (grouped) s += ` group_${vm.card === 'many-to-one' ? 'left' : 'right'} (${joinLabels(vm.include)})`;
  return s;
}

/** Prometheus' Expr.String(): the canonical one-line form. */
export function exprToString(e: Expr): string {
  switch (e.kind) {
    case 'NumberLiteral':
      return goFloatF(e.value);
    case 'StringLiteral':
      return goQuote(e.value);
    case 'VectorSelector':
      return selectorBody(e) + atText(e.at) + offsetText(e.offsetMs);
    case 'MatrixSelector':
      return `${selectorBody(e.vector)}[${formatDurationMs(e.rangeMs)}]${atText(e.vector.at)}${offsetText(e.vector.offsetMs)}`;
    case 'Subquery':
      return exprToString(e.expr) + subquerySuffix(e);
    case 'Call':
      return `${e.func.name}(${e.args.map(exprToString).join(', ')})`;
    case 'Aggregate':
      return `${aggregatePrefix(e)}(${e.param !== undefined ? exprToString(e.param) + ', ' : ''}${exprToString(e.expr)})`;
    case 'Binary':
      return `${exprToString(e.lhs)} ${e.op}${e.bool ? ' bool' : ''}${matchingText(e)} ${exprToString(e.rhs)}`;
    case 'Unary':
      return `${e.op}${exprToString(e.expr)}`;
    case 'Paren':
      return `(${exprToString(e.expr)})`;
  }
}

function indent(level: number): string {
  return '  '.repeat(level);
}

/** Prometheus' Expr.Pretty(level) (prettier.go), quirks included. */
export function prettyExpr(e: Expr, level = 0): string {
  const oneLine = exprToString(e);
  const split = oneLine.length > PRETTY_LINE_CHARS_MAX;
  switch (e.kind) {
    case 'Aggregate': {
      if (!split) return indent(level) + oneLine;
      let s = indent(level) + aggregatePrefix(e) + '(\n';
      if (e.param !== undefined) s += prettyExpr(e.param, level + 1) + ',\n';
      return s + prettyExpr(e.expr, level + 1) + '\n' + indent(level) + ')';
    }
    case 'Binary': {
      if (!split) return indent(level) + oneLine;
      return `${prettyExpr(e.lhs, level + 1)}\n${indent(level)}${e.op}${e.bool ? ' bool' : ''}${matchingText(e)}\n${prettyExpr(e.rhs, level + 1)}`;
    }
    case 'Call': {
      if (!split) return indent(level) + oneLine;
      return `${indent(level)}${e.func.name}(\n${e.args.map((a) => prettyExpr(a, level + 1)).join(',\n')}\n${indent(level)})`;
    }
    case 'Paren': {
      if (!split) return indent(level) + oneLine;
      return `${indent(level)}(\n${prettyExpr(e.expr, level + 1)}\n${indent(level)})`;
    }
    case 'Subquery':
      // As Prometheus: an unsplit subquery carries no indent of its own.
      if (!split) return oneLine;
      return prettyExpr(e.expr, level) + subquerySuffix(e);
    case 'Unary':
      return indent(level) + e.op + prettyExpr(e.expr, level).trim();
    default:
      return indent(level) + oneLine;
  }
}
