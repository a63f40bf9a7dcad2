// PromQL text -> the engine's AST (ast.ts), through @prometheus-io/lezer-promql, the grammar
// Prometheus' own UI uses.
//
// Lezer is error-tolerant: it always yields a tree and marks what it could not parse with
// error nodes. We reject any tree with an error node, then build the AST while applying the
// construction-time rules of Prometheus' yacc parser (where offset/@ may stand, aggregation
// argument counts), then run the type checks of its checkAST. Errors are BAD_QUERY with
// Prometheus' message style "<line>:<col>: parse error: <what>" and `where.position` (the
// character offset) for callers and tests.
//
// Experimental syntax that Prometheus 3 rejects unless a feature flag is set (duration
// arithmetic, fill() binop modifiers, smoothed/anchored) is rejected with Prometheus' message.
// Experimental functions are accepted (see functions.ts).
import { parser as lezerParser } from '@prometheus-io/lezer-promql';
import { MochaError } from '../errors.js';
import { METRIC_NAME_LABEL } from '../model/labels.js';
import { newMatcher, type MatchType, type Matcher } from '../model/matchers.js';
import {
  COMPARISON_OPS,
  SET_OPS,
  documentedType,
  exprType,
  type AggregateOp,
  type AtModifier,
  type BinaryOp,
  type Cardinality,
  type Expr,
  type PosRange,
  type ValueType,
  type VectorSelector,
  type Subquery,
} from './ast.js';
import { getFunction } from './functions.js';
import { isDurationText, parseDurationMs, parseNumberLiteral, unquoteString } from './literals.js';

type SyntaxNode = ReturnType<typeof lezerParser.parse>['topNode'];

/** Queries longer than this are refused before parsing (Grafana's longest are a few KiB). */
export const QUERY_TEXT_CHARS_MAX = 256 * 1024;
/** Nesting deeper than this is refused: it bounds the recursion of the builder and evaluator. */
export const QUERY_NESTING_DEPTH_MAX = 500;

const AGGREGATE_OPS: ReadonlySet<string> = new Set([
  'sum', 'avg', 'count', 'min', 'max', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'count_values', 'quantile', 'limitk', 'limit_ratio',
]);
const AGGREGATORS_WITH_PARAM: ReadonlySet<string> = new Set(['topk', 'bottomk', 'count_values', 'quantile', 'limitk', 'limit_ratio']);

const BINARY_OP_NODES: Readonly<Record<string, BinaryOp>> = {
  Pow: '^', Mul: '*', Div: '/', Mod: '%', Atan2: 'atan2', Add: '+', Sub: '-',
  Eql: '==', Neq: '!=', Gtr: '>', Lss: '<', Gte: '>=', Lte: '<=', And: 'and', Or: 'or', Unless: 'unless',
};

const MATCH_OP_NODES: Readonly<Record<string, MatchType>> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' };

/** Prometheus' "<line>:<col>" of a character offset (both 1-based). */
export function positionText(input: string, pos: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < input.length; i++) {
    if (input.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `${line}:${pos - lineStart + 1}`;
}

class Builder {
  private depth = 0;
  /** Vector selectors exempt from the non-empty matcher rule (second argument of info()). */
  private readonly bypassEmptyCheck = new Set<VectorSelector>();

  constructor(private readonly input: string) {}

  fail(pos: number, msg: string): never {
    throw new MochaError('BAD_QUERY', `${positionText(this.input, pos)}: parse error: ${msg}`, { position: pos });
  }

  text(n: SyntaxNode): string {
    return this.input.slice(n.from, n.to);
  }

  /** Named children, comments skipped. */
  children(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c !== null; c = c.nextSibling) if (c.name !== 'LineComment') out.push(c);
    return out;
  }

  // ---- syntax errors ------------------------------------------------------------------------

  checkSyntax(top: SyntaxNode): void {
    let first: SyntaxNode | undefined;
    const cursor = top.cursor();
    do {
      if (cursor.type.isError) {
        first = cursor.node;
        break;
      }
    } while (cursor.next());
    if (first === undefined) return;
    let p = first.from;
    while (p < this.input.length && /\s/.test(this.input[p]!)) p++;
    // Lezer reads `foo(` of an unknown function as a selector followed by junk.
    if (this.input[p] === '(') {
      const m = /([A-Za-z_:][A-Za-z0-9_:]*)\s*$/.exec(this.input.slice(0, p));
      if (m !== null && !AGGREGATE_OPS.has(m[1]!.toLowerCase()) && !/^(by|without|on|ignoring|group_left|group_right|bool|offset)$/i.test(m[1]!)) {
        this.fail(p - m[0].length, `unknown function with name ${JSON.stringify(m[1])}`);
      }
    }
    this.fail(p, this.describeUnexpected(p));
  }

  describeUnexpected(p: number): string {
    const rest = this.input.slice(p);
    if (rest.length === 0) {
      const opens = (this.input.match(/\{/g) ?? []).length - (this.input.match(/\}/g) ?? []).length;
      return opens > 0 ? 'unexpected end of input inside braces' : 'unexpected end of input';
    }
    let m: RegExpExecArray | null;
    if ((m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest)) !== null) return `unexpected identifier ${JSON.stringify(m[0])}`;
    if ((m = /^[0-9.][0-9A-Za-z_.]*/.exec(rest)) !== null) return `unexpected number ${JSON.stringify(m[0])}`;
    if (/^["'`]/.test(rest)) return 'unexpected string';
    if ((m = /^(==|!=|=~|!~|>=|<=|[-+*/%^<>=(){}[\],:@])/.exec(rest)) !== null) return `unexpected ${JSON.stringify(m[0])}`;
    return `unexpected character: ${JSON.stringify(String.fromCodePoint(rest.codePointAt(0)!))}`;
  }

  // ---- construction -------------------------------------------------------------------------

  pos(n: SyntaxNode): PosRange {
    return { start: n.from, end: n.to };
  }

  expr(n: SyntaxNode): Expr {
    if (++this.depth > QUERY_NESTING_DEPTH_MAX) this.fail(n.from, `expression nesting exceeds ${QUERY_NESTING_DEPTH_MAX} levels`);
    try {
      return this.exprInner(n);
    } finally {
      this.depth--;
    }
  }

  private exprInner(n: SyntaxNode): Expr {
    const kids = this.children(n);
    switch (n.name) {
      case 'NumberDurationLiteral':
        return { kind: 'NumberLiteral', value: this.numberSeconds(n), pos: this.pos(n) };
      case 'StringLiteral':
        return { kind: 'StringLiteral', value: this.string(n), pos: this.pos(n) };
      case 'VectorSelector':
        return this.vectorSelector(n, kids);
      case 'MatrixSelector': {
        const inner = this.expr(kids[0]!);
        const rangeMs = this.durationMs(kids[1]!, false);
        const bracket = kids[0]!.to;
        if (inner.kind !== 'VectorSelector') this.fail(bracket, 'ranges only allowed for vector selectors');
        if (inner.offsetMs !== 0) this.fail(bracket, 'no offset modifiers allowed before range');
        if (inner.at !== undefined) this.fail(bracket, 'no @ modifiers allowed before range');
        if (rangeMs <= 0) this.fail(kids[1]!.from, 'duration must be greater than 0');
        return { kind: 'MatrixSelector', vector: inner, rangeMs, pos: this.pos(n) };
      }
      case 'SubqueryExpr': {
        const inner = this.expr(kids[0]!);
        const rangeMs = this.durationMs(kids[1]!, false);
        if (rangeMs <= 0) this.fail(kids[1]!.from, 'duration must be greater than 0');
        const afterRange = this.input.slice(kids[1]!.to, kids[2]?.from ?? n.to);
        if (afterRange.includes('::')) this.fail(kids[1]!.to, 'unexpected "::" in subquery selector');
        let stepMs: number | undefined;
        if (kids[2] !== undefined) {
          stepMs = this.durationMs(kids[2], false);
          if (stepMs < 0) this.fail(kids[2].from, 'duration must be greater than 0');
          if (stepMs === 0) stepMs = undefined;
        }
        return { kind: 'Subquery', expr: inner, rangeMs, stepMs, offsetMs: 0, at: undefined, pos: this.pos(n) };
      }
      case 'OffsetExpr': {
        const target = this.expr(kids[0]!);
        const offsetMs = this.durationMs(kids[kids.length - 1]!, true);
        const holder = modifierHolder(target);
        if (holder === undefined) this.fail(n.from, 'offset modifier must be preceded by an instant vector selector or range vector selector or a subquery');
        if (holder.offsetMs !== 0) this.fail(n.from, 'offset may not be set multiple times');
        holder.offsetMs = offsetMs;
        return { ...target, pos: this.pos(n) };
      }
      case 'StepInvariantExpr': {
        const target = this.expr(kids[0]!);
        const holder = modifierHolder(target);
        if (holder === undefined) this.fail(n.from, '@ modifier must be preceded by an instant vector selector or range vector selector or a subquery');
        if (holder.at !== undefined) this.fail(n.from, '@ <timestamp> may not be set multiple times');
        holder.at = this.atModifier(kids[kids.length - 1]!);
        return { ...target, pos: this.pos(n) };
      }
      case 'ParenExpr':
        return { kind: 'Paren', expr: this.expr(kids[0]!), pos: this.pos(n) };
      case 'UnaryExpr': {
        const op = this.text(kids[0]!) === '-' ? '-' : '+';
        const inner = this.expr(kids[1]!);
        // Prometheus folds a sign into a number literal.
        if (inner.kind === 'NumberLiteral') return { kind: 'NumberLiteral', value: op === '-' ? -inner.value : inner.value, pos: this.pos(n) };
        return { kind: 'Unary', op, expr: inner, pos: this.pos(n) };
      }
      case 'BinaryExpr':
        return this.binary(n, kids);
      case 'AggregateExpr':
        return this.aggregate(n, kids);
      case 'FunctionCall': {
        const name = this.text(kids[0]!);
        const func = getFunction(name);
        if (func === undefined) this.fail(kids[0]!.from, `unknown function with name ${JSON.stringify(name)}`);
        const args = this.children(kids[1]!).map((a) => this.expr(a));
        return { kind: 'Call', func, args, pos: this.pos(n) };
      }
      case 'SmoothedExpr':
        return this.fail(n.from, 'smoothed modifier is experimental and not enabled');
      case 'AnchoredExpr':
        return this.fail(n.from, 'anchored modifier is experimental and not enabled');
      default:
        return this.fail(n.from, `unexpected ${n.name}`);
    }
  }

  vectorSelector(n: SyntaxNode, kids: SyntaxNode[]): VectorSelector {
    let name: string | undefined;
    const matchers: Matcher[] = [];
    let nameInBraces: string | undefined;
    for (const k of kids) {
      if (k.name === 'Identifier') {
        name = this.text(k);
      } else if (k.name === 'LabelMatchers') {
        for (const m of this.children(k)) {
          if (m.name === 'QuotedLabelName') {
            // {"metric.name"}: a bare quoted name inside the braces is the metric name.
            const v = this.string(this.children(m)[0]!);
            nameInBraces ??= v;
            matchers.push(this.matcher(m, '=', METRIC_NAME_LABEL, v));
            continue;
          }
          const [labelNode, opNode, valueNode] = this.children(m);
          const label = labelNode!.name === 'QuotedLabelName' ? this.string(this.children(labelNode!)[0]!) : this.text(labelNode!);
          const op = MATCH_OP_NODES[this.children(opNode!)[0]?.name ?? ''];
          if (op === undefined) this.fail(opNode!.from, 'unexpected label matching operator');
          matchers.push(this.matcher(m, op, label, this.string(valueNode!)));
        }
      }
    }
    if (name !== undefined) {
      for (const m of matchers) {
        if (m.name === METRIC_NAME_LABEL) this.fail(n.from, `metric name must not be set twice: ${JSON.stringify(name)} or ${JSON.stringify(m.value)}`);
      }
      matchers.push(newMatcher('=', METRIC_NAME_LABEL, name));
    }
    return { kind: 'VectorSelector', name: name ?? nameInBraces, matchers, offsetMs: 0, at: undefined, pos: this.pos(n) };
  }

  matcher(n: SyntaxNode, op: MatchType, name: string, value: string): Matcher {
    try {
      return newMatcher(op, name, value);
    } catch (e) {
      return this.fail(n.from, (e as Error).message);
    }
  }

  binary(n: SyntaxNode, kids: SyntaxNode[]): Expr {
    const lhs = this.expr(kids[0]!);
    const rhs = this.expr(kids[kids.length - 1]!);
    const opNode = kids[1]!;
    const op = BINARY_OP_NODES[opNode.name];
    if (op === undefined) this.fail(opNode.from, `unexpected ${JSON.stringify(this.text(opNode))}`);
    let bool = false;
    let on = false;
    let labels: string[] = [];
    let include: string[] = [];
    let card: Cardinality = 'one-to-one';
    for (const k of kids.slice(2, -1)) {
      if (k.name === 'BoolModifier') bool = true;
      else if (k.name === 'FillModifier') this.fail(k.from, 'binop fill modifiers are experimental and not enabled');
      else if (k.name === 'MatchingModifierClause') {
        const parts = this.children(k);
        on = parts[0]!.name === 'On';
        labels = this.groupingLabels(parts[1]!);
        if (parts[2] !== undefined) {
          card = parts[2].name === 'GroupLeft' ? 'many-to-one' : 'one-to-many';
          include = parts[3] !== undefined ? this.groupingLabels(parts[3]) : [];
        }
      }
    }
    if (SET_OPS.has(op) && card === 'one-to-one') card = 'many-to-many';
    // lezer-promql lexes `-2 ^ 2` as the literal -2 raised to 2; in Prometheus' grammar unary
    // minus binds looser than ^, so it is -(2 ^ 2) = -4 (prometheus/prometheus#6575).
    const lhsText = this.text(kids[0]!);
    if (op === '^' && kids[0]!.name === 'NumberDurationLiteral' && lhs.kind === 'NumberLiteral' && (lhsText.startsWith('-') || lhsText.startsWith('+'))) {
      const unsigned: Expr = { kind: 'NumberLiteral', value: Math.abs(lhs.value), pos: lhs.pos };
      const pow: Expr = { kind: 'Binary', op, lhs: unsigned, rhs, bool, matching: { card, on, labels, include }, pos: this.pos(n) };
      return { kind: 'Unary', op: lhsText.startsWith('-') ? '-' : '+', expr: pow, pos: this.pos(n) };
    }
    return { kind: 'Binary', op, lhs, rhs, bool, matching: { card, on, labels, include }, pos: this.pos(n) };
  }

  aggregate(n: SyntaxNode, kids: SyntaxNode[]): Expr {
    const opText = this.text(kids[0]!).toLowerCase();
    if (!AGGREGATE_OPS.has(opText)) this.fail(n.from, `aggregation operator expected in aggregation expression but got ${JSON.stringify(opText)}`);
    const op = opText as AggregateOp;
    let grouping: string[] = [];
    let without = false;
    let body: SyntaxNode | undefined;
    for (const k of kids.slice(1)) {
      if (k.name === 'AggregateModifier') {
        const parts = this.children(k);
        without = parts[0]!.name === 'Without';
        grouping = this.groupingLabels(parts[1]!);
      } else if (k.name === 'FunctionCallBody') body = k;
    }
    const args = body === undefined ? [] : this.children(body).map((a) => this.expr(a));
    if (args.length === 0) this.fail(n.from, 'no arguments for aggregate expression provided');
    const want = AGGREGATORS_WITH_PARAM.has(op) ? 2 : 1;
    if (args.length !== want) this.fail(n.from, `wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}`);
    return { kind: 'Aggregate', op, param: want === 2 ? args[0] : undefined, expr: args[want - 1]!, grouping, without, pos: this.pos(n) };
  }

  groupingLabels(n: SyntaxNode): string[] {
    return this.children(n).map((l) => (l.name === 'QuotedLabelName' ? this.string(this.children(l)[0]!) : this.text(l)));
  }

  // ---- literals -----------------------------------------------------------------------------

  string(n: SyntaxNode): string {
    const raw = this.text(n);
    try {
      return unquoteString(raw);
    } catch (e) {
      const msg = (e as Error).message;
      return this.fail(n.from, msg === 'unterminated quoted string' ? msg : `error unquoting string ${JSON.stringify(raw)}: ${msg}`);
    }
  }

  /** A number literal in seconds (a duration literal such as 5m counts as its seconds). */
  numberSeconds(n: SyntaxNode): number {
    let t = this.text(n).replace(/\s+/g, '');
    let sign = 1;
    if (t[0] === '-' || t[0] === '+') {
      if (t[0] === '-') sign = -1;
      t = t.slice(1);
    }
    let v: number | undefined;
    if (isDurationText(t)) {
      const ms = parseDurationMs(t);
      v = ms === undefined ? undefined : ms / 1000;
    } else {
      v = parseNumberLiteral(t);
    }
    if (v === undefined) this.fail(n.from, `error parsing number: ${JSON.stringify(t)}`);
    return sign * v;
  }

  /** Milliseconds of a duration in a range, subquery step or offset. */
  durationMs(n: SyntaxNode, allowSign: boolean): number {
    const kids = this.children(n);
    if (n.name === 'OffsetDurationExpr' && kids[0]?.name === 'UnaryOp') {
      const inner = this.durationMs(kids[1]!, false);
      return this.text(kids[0]) === '-' ? -inner : inner;
    }
    if (n.name === 'DurationExpr' || n.name === 'OffsetDurationExpr') {
      if (kids.length !== 1 || kids[0]!.name !== 'NumberDurationLiteralInDurationContext') {
        return this.fail(n.from, 'experimental duration expression is not enabled');
      }
      return this.durationMs(kids[0]!, allowSign);
    }
    if (n.name !== 'NumberDurationLiteralInDurationContext') return this.fail(n.from, `unexpected ${n.name}, expected duration`);
    let t = this.text(n).replace(/\s+/g, '');
    let sign = 1;
    if (t[0] === '-' || t[0] === '+') {
      if (!allowSign && t[0] === '-') this.fail(n.from, 'duration must be greater than 0');
      if (t[0] === '-') sign = -1;
      t = t.slice(1);
    }
    let ms: number | undefined;
    if (isDurationText(t)) ms = parseDurationMs(t);
    else {
      const s = parseNumberLiteral(t);
      // Prometheus 3: a plain number in a duration position is seconds.
      if (s !== undefined && Number.isFinite(s) && Math.abs(s) <= 9_223_372_036.854) ms = Math.round(s * 1000);
    }
    if (ms === undefined) this.fail(n.from, `not a valid duration string: ${JSON.stringify(t)}`);
    return sign * ms;
  }

  atModifier(n: SyntaxNode): AtModifier {
    if (n.name === 'AtModifierPreprocessors') return this.text(n).toLowerCase() === 'start' ? 'start' : 'end';
    const ts = this.numberSeconds(n);
    if (!Number.isFinite(ts) || Math.abs(ts) >= 9.223372036854776e18) this.fail(n.from, `timestamp out of bounds for @ modifier: ${ts}`);
    return Math.round(ts * 1000);
  }

  // ---- type checks (Prometheus' checkAST) ---------------------------------------------------

  check(e: Expr): ValueType {
    const t = exprType(e);
    switch (e.kind) {
      case 'Aggregate':
        this.expectType(e.expr, 'vector', 'aggregation expression');
        if (e.op === 'count_values') this.expectType(e.param!, 'string', 'aggregation parameter');
        else if (e.param !== undefined) this.expectType(e.param, 'scalar', 'aggregation parameter');
        break;
      case 'Binary': {
        const lt = this.check(e.lhs);
        const rt = this.check(e.rhs);
        let opPos = e.lhs.pos.end;
        while (opPos < this.input.length && /\s/.test(this.input[opPos]!)) opPos++;
        if (e.bool && !COMPARISON_OPS.has(e.op)) this.fail(opPos, 'bool modifier can only be used on comparison operators');
        if (COMPARISON_OPS.has(e.op) && !e.bool && lt === 'scalar' && rt === 'scalar') this.fail(opPos, 'comparisons between scalars must use BOOL modifier');
        if (e.matching.on) {
          for (const l of e.matching.include) {
            if (e.matching.labels.includes(l)) this.fail(opPos, `label ${JSON.stringify(l)} must not occur in ON and GROUP clause at once`);
          }
        }
        if (lt !== 'scalar' && lt !== 'vector') this.fail(e.lhs.pos.start, 'binary expression must contain only scalar and instant vector types');
        if (rt !== 'scalar' && rt !== 'vector') this.fail(e.rhs.pos.start, 'binary expression must contain only scalar and instant vector types');
        if (lt !== 'vector' || rt !== 'vector') {
          if (e.matching.labels.length > 0) this.fail(e.pos.start, 'vector matching only allowed between instant vectors');
        } else if (SET_OPS.has(e.op)) {
          if (e.matching.card === 'one-to-many' || e.matching.card === 'many-to-one') this.fail(e.pos.start, `no grouping allowed for ${JSON.stringify(e.op)} operation`);
        }
        if ((lt === 'scalar' || rt === 'scalar') && SET_OPS.has(e.op)) this.fail(e.pos.start, `set operator ${JSON.stringify(e.op)} not allowed in binary scalar expression`);
        break;
      }
      case 'Call': {
        const f = e.func;
        const nargs = f.argTypes.length;
        if (f.variadic === 0) {
          if (nargs !== e.args.length) this.fail(e.pos.start, `expected ${nargs} argument(s) in call to ${JSON.stringify(f.name)}, got ${e.args.length}`);
        } else {
          const na = nargs - 1;
          if (na > e.args.length) this.fail(e.pos.start, `expected at least ${na} argument(s) in call to ${JSON.stringify(f.name)}, got ${e.args.length}`);
          const max = na + f.variadic;
          if (f.variadic > 0 && max < e.args.length) this.fail(e.pos.start, `expected at most ${max} argument(s) in call to ${JSON.stringify(f.name)}, got ${e.args.length}`);
        }
        if (f.name === 'info' && e.args.length > 1) {
          const a = e.args[1]!;
          if (exprType(a) !== 'vector') this.fail(e.pos.start, `expected type instant vector in call to function "info", got ${documentedType(exprType(a))}`);
          if (a.kind !== 'VectorSelector') this.fail(a.pos.start, 'expected label selectors only');
          if (a.name !== undefined) this.fail(a.pos.start, 'expected label selectors only, got vector selector instead');
          this.bypassEmptyCheck.add(a);
        }
        for (let i = 0; i < e.args.length; i++) {
          const want = f.argTypes[Math.min(i, nargs - 1)]!;
          const got = this.check(e.args[i]!);
          if (got !== want) this.fail(e.args[i]!.pos.start, `expected type ${documentedType(want)} in call to function ${JSON.stringify(f.name)}, got ${documentedType(got)}`);
        }
        break;
      }
      case 'Paren':
        this.check(e.expr);
        break;
      case 'Unary': {
        const it = this.check(e.expr);
        if (it !== 'scalar' && it !== 'vector') this.fail(e.pos.start, `unary expression only allowed on expressions of type scalar or instant vector, got ${JSON.stringify(documentedType(it))}`);
        break;
      }
      case 'Subquery': {
        const it = this.check(e.expr);
        if (it !== 'vector') this.fail(e.pos.start, `subquery is only allowed on instant vector, got ${it} instead`);
        break;
      }
      case 'MatrixSelector':
        this.check(e.vector);
        break;
      case 'VectorSelector':
        // A metric name is a non-empty matcher, so `foo` passes; `{a=""}` does not.
        if (!this.bypassEmptyCheck.has(e) && !e.matchers.some((m) => !m.matches(''))) {
          this.fail(e.pos.start, 'vector selector must contain at least one non-empty matcher');
        }
        break;
      default:
        break;
    }
    return t;
  }

  expectType(e: Expr, want: ValueType, context: string): void {
    const t = this.check(e);
    if (t !== want) this.fail(e.pos.start, `expected type ${documentedType(want)} in ${context}, got ${documentedType(t)}`);
  }
}

function parseTree(input: string): { b: Builder; top: SyntaxNode } {
  if (input.length > QUERY_TEXT_CHARS_MAX) {
    throw new MochaError('BAD_QUERY', `query is ${input.length} characters long; cannot exceed ${QUERY_TEXT_CHARS_MAX}`);
  }
  const b = new Builder(input);
  const top = lezerParser.parse(input).topNode;
  b.checkSyntax(top);
  return { b, top };
}

/** Parses and type-checks a PromQL expression. Throws MochaError BAD_QUERY on any error. */
export function parseExpr(input: string): Expr {
  if (/^(\s|#[^\n]*)*$/.test(input)) throw new MochaError('BAD_QUERY', '1:1: parse error: no expression found in input', { position: 0 });
  const { b, top } = parseTree(input);
  const kids = b.children(top);
  if (kids.length === 0) b.fail(0, 'no expression found in input');
  const e = b.expr(kids[0]!);
  b.check(e);
  return e;
}

/**
 * A series selector as the API's match[] takes it (`foo{a="b"}` or `{__name__=~"x.*"}`):
 * only a plain vector selector, with at least one matcher that does not match "".
 */
export function parseSeriesSelector(input: string): Matcher[] {
  const { b, top } = parseTree(input);
  const kids = b.children(top);
  if (kids.length === 0) b.fail(0, 'unexpected end of input');
  const n = kids[0]!;
  if (n.name !== 'VectorSelector') {
    const at = n.firstChild?.name === 'VectorSelector' ? n.firstChild.to : n.from;
    let p = at;
    while (p < input.length && /\s/.test(input[p]!)) p++;
    b.fail(p, `${b.describeUnexpected(p)}, expected a series selector`);
  }
  const vs = b.vectorSelector(n, b.children(n));
  if (!vs.matchers.some((m) => !m.matches(''))) throw new MochaError('BAD_QUERY', 'match[] must contain at least one non-empty matcher');
  return [...vs.matchers];
}

/**
 * The selector or subquery an `offset`/`@` modifier applies to. lezer-promql attaches a trailing
 * modifier to a whole binary or unary expression (`a - b offset 5m`, `-a offset 1m`); in
 * Prometheus' grammar it binds to the operand right before it, so descend to the rightmost one.
 */
function modifierHolder(target: Expr): VectorSelector | Subquery | undefined {
  switch (target.kind) {
    case 'MatrixSelector':
      return target.vector;
    case 'VectorSelector':
    case 'Subquery':
      return target;
    case 'Binary':
      return modifierHolder(target.rhs);
    case 'Unary':
      return modifierHolder(target.expr);
    default:
      return undefined;
  }
}
