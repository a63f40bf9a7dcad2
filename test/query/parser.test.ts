import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { exprType, type Expr } from '../../src/query/ast.js';
import { FUNCTIONS } from '../../src/query/functions.js';
import { parseDurationMs, parseNumberLiteral, unquoteString } from '../../src/query/literals.js';
import { parseExpr, parseSeriesSelector } from '../../src/query/parser.js';

/** The AST as plain data: matchers as "name op value" strings, functions by name, no positions. */
function plain(e: unknown): unknown {
  return JSON.parse(
    JSON.stringify(e, (k, v: unknown) => {
      if (k === 'pos') return undefined;
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      if (k === 'func') return typeof v === 'string' ? v : (v as { name: string }).name;
      if (k === 'matchers') return (v as ({ name: string; type: string; value: string } | string)[]).map((m) => (typeof m === 'string' ? m : `${m.name}${m.type}${m.value}`));
      return v;
    }),
  );
}

const vs = (name: string | undefined, matchers: string[], offsetMs = 0, at?: number | 'start' | 'end') => ({
  kind: 'VectorSelector',
  ...(name !== undefined ? { name } : {}),
  matchers,
  offsetMs,
  ...(at !== undefined ? { at } : {}),
});
const num = (value: number) => ({ kind: 'NumberLiteral', value });
const noMatch = { card: 'one-to-one', on: false, labels: [], include: [] };

describe('parser: valid expressions of every node kind', () => {
  const cases: [string, unknown][] = [
    ['1', num(1)],
    ['-1.5e3', num(-1500)],
    ['0x1F', num(31)],
    ['017', num(15)], // Go's ParseInt(s, 0, 64): a leading 0 is octal
    ['1_000', num(1000)],
    ['.5', num(0.5)],
    ['Inf', num(Infinity)],
    ['-inf', num(-Infinity)],
    ['5m', num(300)], // Prometheus 3: a duration literal is a number of seconds
    ['"a\\tb"', { kind: 'StringLiteral', value: 'a\tb' }],
    ["'it''s'".replace("''", "\\'"), { kind: 'StringLiteral', value: "it's" }],
    ['`raw\\n`', { kind: 'StringLiteral', value: 'raw\\n' }],
    ['foo', vs('foo', ['__name__=foo'])],
    ['foo{a="b", c!="d", e=~"f.*", g!~"h",}', vs('foo', ['a=b', 'c!=d', 'e=~f.*', 'g!~h', '__name__=foo'])],
    ['{"my.metric", "le.x"="1"}', vs('my.metric', ['__name__=my.metric', 'le.x=1'])],
    ['{__name__=~"a|b"}', vs(undefined, ['__name__=~a|b'])],
    ['foo offset 5m', vs('foo', ['__name__=foo'], 300_000)],
    ['foo offset -1h30m', vs('foo', ['__name__=foo'], -5_400_000)],
    ['foo offset 1.5', vs('foo', ['__name__=foo'], 1500)],
    ['foo @ 1700000000.123', vs('foo', ['__name__=foo'], 0, 1_700_000_000_123)],
    ['foo @ start() offset 1m', vs('foo', ['__name__=foo'], 60_000, 'start')],
    ['foo offset 1m @ end()', vs('foo', ['__name__=foo'], 60_000, 'end')],
    ['foo[5m]', { kind: 'MatrixSelector', vector: vs('foo', ['__name__=foo']), rangeMs: 300_000 }],
    ['foo[1h30m] offset 1d @ 100', { kind: 'MatrixSelector', vector: vs('foo', ['__name__=foo'], 86_400_000, 100_000), rangeMs: 5_400_000 }],
    ['foo[90]', { kind: 'MatrixSelector', vector: vs('foo', ['__name__=foo']), rangeMs: 90_000 }],
    ['foo[5m:]', { kind: 'Subquery', expr: vs('foo', ['__name__=foo']), rangeMs: 300_000, offsetMs: 0 }],
    ['foo[5m:30s] offset 1m @ 10', { kind: 'Subquery', expr: vs('foo', ['__name__=foo']), rangeMs: 300_000, stepMs: 30_000, offsetMs: 60_000, at: 10_000 }],
    ['rate(foo[5m])', { kind: 'Call', func: 'rate', args: [{ kind: 'MatrixSelector', vector: vs('foo', ['__name__=foo']), rangeMs: 300_000 }] }],
    ['time()', { kind: 'Call', func: 'time', args: [] }],
    ['round(foo)', { kind: 'Call', func: 'round', args: [vs('foo', ['__name__=foo'])] }],
    [
      'label_join(foo, "d", ",", "a", "b")',
      {
        kind: 'Call',
        func: 'label_join',
        args: [vs('foo', ['__name__=foo']), ...['d', ',', 'a', 'b'].map((value) => ({ kind: 'StringLiteral', value }))],
      },
    ],
    ['sum by (a, b) (foo)', { kind: 'Aggregate', op: 'sum', expr: vs('foo', ['__name__=foo']), grouping: ['a', 'b'], without: false }],
    ['SUM(foo) without (a,)', { kind: 'Aggregate', op: 'sum', expr: vs('foo', ['__name__=foo']), grouping: ['a'], without: true }],
    ['topk(5, foo)', { kind: 'Aggregate', op: 'topk', param: num(5), expr: vs('foo', ['__name__=foo']), grouping: [], without: false }],
    ['count_values("v", foo)', { kind: 'Aggregate', op: 'count_values', param: { kind: 'StringLiteral', value: 'v' }, expr: vs('foo', ['__name__=foo']), grouping: [], without: false }],
    ['1 + 2 * 3', { kind: 'Binary', op: '+', lhs: num(1), rhs: { kind: 'Binary', op: '*', lhs: num(2), rhs: num(3), bool: false, matching: noMatch }, bool: false, matching: noMatch }],
    ['2 ^ 3 ^ 2', { kind: 'Binary', op: '^', lhs: num(2), rhs: { kind: 'Binary', op: '^', lhs: num(3), rhs: num(2), bool: false, matching: noMatch }, bool: false, matching: noMatch }],
    ['1 > bool 2', { kind: 'Binary', op: '>', lhs: num(1), rhs: num(2), bool: true, matching: noMatch }],
    [
      'a / on(x) group_left(y) b',
      { kind: 'Binary', op: '/', lhs: vs('a', ['__name__=a']), rhs: vs('b', ['__name__=b']), bool: false, matching: { card: 'many-to-one', on: true, labels: ['x'], include: ['y'] } },
    ],
    [
      'a - ignoring(x) group_right b',
      { kind: 'Binary', op: '-', lhs: vs('a', ['__name__=a']), rhs: vs('b', ['__name__=b']), bool: false, matching: { card: 'one-to-many', on: false, labels: ['x'], include: [] } },
    ],
    ['a or b', { kind: 'Binary', op: 'or', lhs: vs('a', ['__name__=a']), rhs: vs('b', ['__name__=b']), bool: false, matching: { ...noMatch, card: 'many-to-many' } }],
    ['a atan2 b', { kind: 'Binary', op: 'atan2', lhs: vs('a', ['__name__=a']), rhs: vs('b', ['__name__=b']), bool: false, matching: noMatch }],
    ['-foo', { kind: 'Unary', op: '-', expr: vs('foo', ['__name__=foo']) }],
    ['(foo)', { kind: 'Paren', expr: vs('foo', ['__name__=foo']) }],
    ['foo # a comment', vs('foo', ['__name__=foo'])],
  ];
  test.each(cases)('%s', (q, want) => {
    expect(plain(parseExpr(q))).toEqual(plain(want));
  });

  test('expression types', () => {
    expect(exprType(parseExpr('1'))).toBe('scalar');
    expect(exprType(parseExpr('"s"'))).toBe('string');
    expect(exprType(parseExpr('foo'))).toBe('vector');
    expect(exprType(parseExpr('foo[1m]'))).toBe('matrix');
    expect(exprType(parseExpr('rate(foo[1m])[5m:]'))).toBe('matrix');
    expect(exprType(parseExpr('scalar(foo) + 1'))).toBe('scalar');
    expect(exprType(parseExpr('foo + 1'))).toBe('vector');
  });

  test('the function table has every Prometheus 3 function the grammar knows', () => {
    for (const name of ['rate', 'histogram_quantile', 'label_replace', 'quantile_over_time', 'predict_linear', 'sort_by_label', 'mad_over_time', 'info', 'days_in_month']) {
      expect(FUNCTIONS.has(name), name).toBe(true);
    }
    expect(FUNCTIONS.size).toBeGreaterThanOrEqual(80);
  });
});

describe('parser: errors are BAD_QUERY with a position', () => {
  const cases: [string, string][] = [
    ['foo{', '1:5: parse error: unexpected end of input inside braces'],
    ['1 +', '1:4: parse error: unexpected end of input'],
    ['foo bar', '1:5: parse error: unexpected identifier "bar"'],
    ['foo{a=1}', '1:7: parse error: unexpected number "1"'],
    ['nope(foo)', '1:1: parse error: unknown function with name "nope"'],
    ['"abc', '1:1: parse error: unterminated quoted string'],
    ['"\\q"', '1:1: parse error: error unquoting string'],
    ['foo\n  + }', '2:5: parse error: unexpected "}"'],
    ['', 'no expression found in input'],
    // construction rules
    ['foo offset 1m [5m]', 'no offset modifiers allowed before range'],
    ['foo @ 1 [5m]', 'no @ modifiers allowed before range'],
    ['(foo)[5m]', 'ranges only allowed for vector selectors'],
    ['foo offset 1m offset 2m', 'offset may not be set multiple times'],
    ['foo @ 1 @ 2', '@ <timestamp> may not be set multiple times'],
    ['(foo) offset 1m', 'offset modifier must be preceded by an instant vector selector or range vector selector or a subquery'],
    ['sum(foo) @ 1', '@ modifier must be preceded by an instant vector selector'],
    ['foo[0s]', 'duration must be greater than 0'],
    ['foo[5m+1m]', 'experimental duration expression is not enabled'],
    ['a + fill(0) b', 'binop fill modifiers are experimental and not enabled'],
    ['foo[5m] smoothed', 'smoothed modifier is experimental and not enabled'],
    ['sum()', 'no arguments for aggregate expression provided'],
    ['topk(foo)', 'wrong number of arguments for aggregate expression provided, expected 2, got 1'],
    ['foo{__name__="bar"}', 'metric name must not be set twice: "foo" or "bar"'],
    ['foo{a=~"("}', 'invalid regular expression'],
    // type checks
    ['{a=""}', 'vector selector must contain at least one non-empty matcher'],
    ['{a=~".*"}', 'vector selector must contain at least one non-empty matcher'],
    ['1 > 2', '1:3: parse error: comparisons between scalars must use BOOL modifier'],
    ['foo + bool bar', 'bool modifier can only be used on comparison operators'],
    ['foo and 1', 'set operator "and" not allowed in binary scalar expression'],
    ['foo and on(a) group_left bar', 'no grouping allowed for "and" operation'],
    ['1 + on(a) foo', 'vector matching only allowed between instant vectors'],
    ['foo[5m] + 1', 'binary expression must contain only scalar and instant vector types'],
    ['rate(foo)', 'expected type range vector in call to function "rate", got instant vector'],
    ['abs(foo[5m])', 'expected type instant vector in call to function "abs", got range vector'],
    ['abs(foo, foo)', 'expected 1 argument(s) in call to "abs", got 2'],
    ['round(foo, 1, 2)', 'expected at most 2 argument(s) in call to "round", got 3'],
    ['label_join(foo)', 'expected at least 3 argument(s) in call to "label_join", got 1'],
    ['sum(foo[5m])', 'expected type instant vector in aggregation expression, got range vector'],
    ['topk("x", foo)', 'expected type scalar in aggregation parameter, got string'],
    ['count_values(1, foo)', 'expected type string in aggregation parameter, got scalar'],
    ['-"a"', 'unary expression only allowed on expressions of type scalar or instant vector, got "string"'],
    ['foo[5m][10m:]', 'subquery is only allowed on instant vector, got matrix instead'],
    ['a + on(x) group_left(x) b', 'label "x" must not occur in ON and GROUP clause at once'],
  ];
  test.each(cases)('%s', (q, msg) => {
    let err: unknown;
    try {
      parseExpr(q);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MochaError);
    expect((err as MochaError).code).toBe('BAD_QUERY');
    expect((err as MochaError).message).toContain(msg);
  });

  test('the position is also given as a character offset', () => {
    try {
      parseExpr('foo + (bar');
      expect.unreachable();
    } catch (e) {
      expect((e as MochaError).where).toEqual({ position: 10 });
    }
  });

  test('garbage never escapes as anything but BAD_QUERY', () => {
    const junk = ['}}}', '[[', 'foo[', 'foo{a="b"', 'sum by', '@', 'offset', 'foo @', '"\\u00"', 'foo[5m:1m:1m]', '\u0000', 'by (a)'];
    for (const q of junk) {
      expect(() => parseExpr(q), q).toThrow(MochaError);
    }
  });

  test('very deep nesting is refused, not a stack overflow', () => {
    const q = '('.repeat(2000) + '1' + ')'.repeat(2000);
    expect(() => parseExpr(q)).toThrow(/nesting exceeds/);
  });
});

describe('series selectors (match[])', () => {
  test('plain selectors give their matchers', () => {
    expect(parseSeriesSelector('up{job="a"}').map((m) => `${m.name}${m.type}${m.value}`)).toEqual(['job=a', '__name__=up']);
    expect(parseSeriesSelector('{__name__=~"a|b"}').map((m) => `${m.name}${m.type}${m.value}`)).toEqual(['__name__=~a|b']);
  });
  test('anything but a selector, or an all-empty one, is refused', () => {
    expect(() => parseSeriesSelector('rate(x[5m])')).toThrow(MochaError);
    expect(() => parseSeriesSelector('x offset 5m')).toThrow(/expected a series selector/);
    expect(() => parseSeriesSelector('{a=""}')).toThrow('match[] must contain at least one non-empty matcher');
  });
});

describe('literals', () => {
  test.each([
    ['0', 0],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1y', 365 * 86_400_000],
    ['2w1d', 15 * 86_400_000],
    ['1m30s500ms', 90_500],
  ])('duration %s', (s, ms) => expect(parseDurationMs(s)).toBe(ms));
  test.each(['', '1', '1.5m', '30m1h', '1x', 'm', '5mm'])('bad duration %j', (s) => expect(parseDurationMs(s)).toBeUndefined());

  test.each([
    ['0x10', 16],
    ['0o17', 15],
    ['010', 8],
    ['08', 8], // not octal: ParseInt fails, ParseFloat reads 8
    ['1e3', 1000],
    ['NaN', NaN],
    ['1__0', undefined],
  ])('number %s', (s, v) => expect(parseNumberLiteral(s)).toBe(v));

  test.each([
    ['"\\x41\\101\\u00e9\\U0001F600"', 'AAé😀'],
    ['"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', '\x07\b\f\n\r\t\v\\"'],
    ["'\\''", "'"],
    ['"\\xc3\\xa9"', 'é'], // \x escapes are bytes, decoded as UTF-8
    ['`a\\b`', 'a\\b'],
  ])('unquote %s', (s, want) => expect(unquoteString(s)).toBe(want));
  test.each(['"\\\'"', "'\\\"'", '"\\8"', '"\\400"', '"\\ud800"', '"abc', '"a"b"'])('bad string %s', (s) => expect(() => unquoteString(s)).toThrow());
});
