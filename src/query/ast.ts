// The engine's own PromQL AST: what parser.ts builds from the lezer tree and what the evaluator
// walks. It mirrors Prometheus' promql/parser AST (ast.go) closely so that its semantics can be
// followed one to one, with times in milliseconds (units last in names).
//
// Invariants established by the parser (type checks as Prometheus' checkAST does them):
//   - every node's type() is one of scalar | vector | matrix | string;
//   - a MatrixSelector wraps a VectorSelector; offset and @ live on that VectorSelector;
//   - a Subquery's expr is of type vector; rangeMs > 0; stepMs > 0 when given;
//   - Call arguments match the function's argument types and count;
//   - Aggregate.expr is a vector; param is a scalar (topk, bottomk, quantile, limitk,
//     limit_ratio) or a string (count_values), absent otherwise;
//   - Binary.bool only on comparison operators; operands are scalar or vector.
import type { Matcher } from '../model/matchers.js';
import type { FunctionDef } from './functions.js';

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

/** Byte offsets into the query text: [start, end). */
export interface PosRange {
  readonly start: number;
  readonly end: number;
}

/** @ modifier: a fixed time in ms, or the start/end of the query range. */
export type AtModifier = number | 'start' | 'end' | undefined;

export interface NumberLiteral {
  readonly kind: 'NumberLiteral';
  readonly value: number;
  readonly pos: PosRange;
}

export interface StringLiteral {
  readonly kind: 'StringLiteral';
  readonly value: string;
  readonly pos: PosRange;
}

export interface VectorSelector {
  readonly kind: 'VectorSelector';
  /** Metric name written outside the braces (also present as an `__name__` = matcher). */
  readonly name: string | undefined;
  readonly matchers: readonly Matcher[];
  offsetMs: number;
  at: AtModifier;
  readonly pos: PosRange;
}

export interface MatrixSelector {
  readonly kind: 'MatrixSelector';
  readonly vector: VectorSelector;
  readonly rangeMs: number;
  readonly pos: PosRange;
}

export interface Subquery {
  readonly kind: 'Subquery';
  readonly expr: Expr;
  readonly rangeMs: number;
  /** Undefined means the default evaluation interval (the engine decides; Prometheus: 1m). */
  readonly stepMs: number | undefined;
  offsetMs: number;
  at: AtModifier;
  readonly pos: PosRange;
}

export interface Call {
  readonly kind: 'Call';
  readonly func: FunctionDef;
  readonly args: readonly Expr[];
  readonly pos: PosRange;
}

export type AggregateOp =
  | 'sum'
  | 'avg'
  | 'count'
  | 'min'
  | 'max'
  | 'group'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'count_values'
  | 'quantile'
  | 'limitk'
  | 'limit_ratio';

export interface Aggregate {
  readonly kind: 'Aggregate';
  readonly op: AggregateOp;
  readonly param: Expr | undefined;
  readonly expr: Expr;
  /** Labels of `by (...)` or `without (...)`, in the order written. */
  readonly grouping: readonly string[];
  readonly without: boolean;
  readonly pos: PosRange;
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^' | 'atan2';
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<=';
export type SetOp = 'and' | 'or' | 'unless';
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export type Cardinality = 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';

/** Vector matching of a binary operation; meaningful only when both operands are vectors. */
export interface VectorMatching {
  /** many-to-many for set operators, from group_left/group_right otherwise one-to-one. */
  readonly card: Cardinality;
  /** true: `on(labels)`; false: `ignoring(labels)` (no clause = ignoring nothing). */
  readonly on: boolean;
  readonly labels: readonly string[];
  /** Extra labels of group_left(...)/group_right(...). */
  readonly include: readonly string[];
}

export interface Binary {
  readonly kind: 'Binary';
  readonly op: BinaryOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  readonly bool: boolean;
  readonly matching: VectorMatching;
  readonly pos: PosRange;
}

export interface Unary {
  readonly kind: 'Unary';
  readonly op: '-' | '+';
  readonly expr: Expr;
  readonly pos: PosRange;
}

export interface Paren {
  readonly kind: 'Paren';
  readonly expr: Expr;
  readonly pos: PosRange;
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | Subquery
  | Call
  | Aggregate
  | Binary
  | Unary
  | Paren;

export const COMPARISON_OPS: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['==', '!=', '>', '<', '>=', '<=']);
export const SET_OPS: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['and', 'or', 'unless']);

/** The value type an expression evaluates to (Prometheus' Expr.Type()). */
export function exprType(e: Expr): ValueType {
  switch (e.kind) {
    case 'NumberLiteral':
      return 'scalar';
    case 'StringLiteral':
      return 'string';
    case 'VectorSelector':
      return 'vector';
    case 'MatrixSelector':
    case 'Subquery':
      return 'matrix';
    case 'Call':
      return e.func.returnType;
    case 'Aggregate':
      return 'vector';
    case 'Binary':
      return exprType(e.lhs) === 'scalar' && exprType(e.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'Unary':
    case 'Paren':
      return exprType(e.expr);
  }
}

/** Prometheus' DocumentedType: the names its error messages use. */
export function documentedType(t: ValueType): string {
  switch (t) {
    case 'vector':
      return 'instant vector';
    case 'matrix':
      return 'range vector';
    default:
      return t;
  }
}

/** Calls fn on every node, parents before children. */
export function walkExpr(e: Expr, fn: (node: Expr) => void): void {
  fn(e);
  switch (e.kind) {
    case 'MatrixSelector':
      walkExpr(e.vector, fn);
      break;
    case 'Subquery':
    case 'Unary':
    case 'Paren':
      walkExpr(e.expr, fn);
      break;
    case 'Call':
      for (const a of e.args) walkExpr(a, fn);
      break;
    case 'Aggregate':
      if (e.param !== undefined) walkExpr(e.param, fn);
      walkExpr(e.expr, fn);
      break;
    case 'Binary':
      walkExpr(e.lhs, fn);
      walkExpr(e.rhs, fn);
      break;
    default:
      break;
  }
}
