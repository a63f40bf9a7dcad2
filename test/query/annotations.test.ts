// Annotations (Prometheus' warnings and infos): the collector, the Go formatting it relies on,
// and how the engine reports them. Texts and cases of the evaluators are in
// test/query/cases/annotations.promql-test.
import { describe, expect, test } from 'vitest';
import {
  goFormatG,
  goQuote,
  invalidQuantileWarning,
  possibleNonCounterInfo,
  QueryAnnotations,
  startPosInput,
} from '../../src/query/annotations.js';
import { instantQuery, rangeQuery } from '../../src/query/engine.js';
import { MemoryQuerier, series } from '../helpers/memory-querier.js';

const S = 1000;
const M = 60 * S;

describe('startPosInput: Prometheus line:col, columns in UTF-8 bytes', () => {
  test('first line, later lines, end of input', () => {
    expect(startPosInput('rate(x[5m])', 0)).toBe('1:1');
    expect(startPosInput('rate(x[5m])', 5)).toBe('1:6');
    expect(startPosInput('sum(\n  rate(x[5m])\n)', 12)).toBe('2:8');
    expect(startPosInput('a\n\nb', 3)).toBe('3:1');
    expect(startPosInput('abc', 3)).toBe('1:4');
  });

  test('multi-byte characters count their UTF-8 bytes, as Go indexes strings', () => {
    // é is 2 bytes, € 3, 𝄞 (a surrogate pair in UTF-16) 4.
    expect(startPosInput('x{a="é"} + y', 11)).toBe('1:13');
    expect(startPosInput('x{a="€"} + y', 11)).toBe('1:14');
    expect(startPosInput('x{a="𝄞"} + y', 12)).toBe('1:15');
    expect(startPosInput('"é"\ny', 4)).toBe('2:1');
  });

  test('empty query and positions outside it', () => {
    expect(startPosInput('', 0)).toBe('unknown position');
    expect(startPosInput('abc', 4)).toBe('invalid position');
    expect(startPosInput('abc', -1)).toBe('invalid position');
  });
});

describe("goFormatG: Go's %g", () => {
  test.each([
    [2, '2'],
    [1.5, '1.5'],
    [-0.5, '-0.5'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-0.000012345, '-1.2345e-05'],
    [123456, '123456'],
    [1e6, '1e+06'],
    [1234567, '1.234567e+06'],
    [1e21, '1e+21'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [5e-324, '5e-324'],
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [0, '0'],
    [-0, '-0'],
  ])('%s -> %s', (v, want) => {
    expect(goFormatG(v)).toBe(want);
  });
});

describe("goQuote: Go's %q", () => {
  test('quotes, escapes and keeps printable Unicode', () => {
    expect(goQuote('up')).toBe('"up"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('tab\there\nnl')).toBe('"tab\\there\\nnl"');
    expect(goQuote('\u0001\u007f')).toBe('"\\x01\\x7f"');
    expect(goQuote('héllo €')).toBe('"héllo €"');
    expect(goQuote('')).toBe('""');
    // Not printable for Go (categories C and Z other than the space): \u or \U escapes.
    expect(goQuote('a\u200bb\u00a0c\u2028')).toBe('"a\\u200bb\\u00a0c\\u2028"');
    expect(goQuote('\u{E0001}x')).toBe('"\\U000e0001x"');
    expect(goQuote('a b 😀')).toBe('"a b 😀"');
  });
});

describe('QueryAnnotations', () => {
  test('one entry per message; the position added last wins, the first place in order stays', () => {
    const a = new QueryAnnotations();
    a.add(possibleNonCounterInfo('x', 0));
    a.add(invalidQuantileWarning(2, 3));
    a.add(possibleNonCounterInfo('x', 7));
    a.add(possibleNonCounterInfo('y', 1));
    expect(a.size).toBe(3);
    const query = 'abcdefghij';
    expect(a.render(query)).toEqual({
      warnings: ['PromQL warning: quantile value should be between 0 and 1, got 2 (1:4)'],
      infos: [
        'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x" (1:8)',
        'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "y" (1:2)',
      ],
    });
  });

  test('at most 10 of each are listed, then how many were left out (web/api/v1)', () => {
    const a = new QueryAnnotations();
    for (let i = 0; i < 12; i++) a.add(invalidQuantileWarning(2 + i, 0));
    for (let i = 0; i < 11; i++) a.add(possibleNonCounterInfo(`m${i}`, 0));
    const { warnings, infos } = a.render('q');
    expect(warnings).toHaveLength(11);
    expect(warnings[10]).toBe('2 more warning annotations omitted');
    expect(infos).toHaveLength(11);
    expect(infos[10]).toBe('1 more info annotations omitted');
    expect(a.render('q', 0).warnings).toHaveLength(12);
  });
});

describe('engine: annotations in query results', () => {
  const q = new MemoryQuerier([
    series({ __name__: 'up_g', i: 'a' }, [[0, 0], [M, 1], [2 * M, 2], [3 * M, 3], [4 * M, 4], [5 * M, 5]]),
    series({ __name__: 'req_total', i: 'a' }, [[0, 0], [M, 10], [2 * M, 20], [3 * M, 30], [4 * M, 40], [5 * M, 50]]),
  ]);

  test('no annotations: no warnings or infos members at all', async () => {
    const r = await instantQuery(q, 'rate(req_total[5m])', 5 * M + 30 * S);
    expect('warnings' in r).toBe(false);
    expect('infos' in r).toBe(false);
  });

  test('positions on later lines and after multi-byte characters', async () => {
    const r = await instantQuery(q, 'sum(\n  rate(up_g[5m])\n)', 5 * M + 30 * S);
    expect(r.infos).toEqual(['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up_g" (2:8)']);
    expect(r.warnings).toBeUndefined();
    const r2 = await instantQuery(q, 'up_g{i!="é"} + quantile_over_time(7, up_g[5m])', 5 * M + 30 * S);
    // Offset 34 in UTF-16; é takes 2 bytes in UTF-8: column 36.
    expect(r2.warnings).toEqual(['PromQL warning: quantile value should be between 0 and 1, got 7 (1:36)']);
  });

  test('a range query over a subquery: annotations from the inner grid reach the result', async () => {
    const r = await rangeQuery(q, 'max_over_time(quantile(3, up_g)[2m:1m])', 3 * M + 30 * S, 5 * M + 30 * S, M);
    expect(r.warnings).toEqual(['PromQL warning: quantile value should be between 0 and 1, got 3 (1:24)']);
    const r2 = await rangeQuery(q, 'rate(up_g[3m:1m])', 4 * M + 30 * S, 5 * M + 30 * S, M);
    expect(r2.infos).toEqual(['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up_g" (1:1)']);
  });

  test('resultSeriesMax (the API limit): the first series in answer order, a warning without position', async () => {
    const r = await instantQuery(q, '{__name__=~"up_g|req_total"}', 5 * M, { resultSeriesMax: 1 });
    expect(r.resultType === 'vector' && r.result.map((s) => s.labels[0]!.value)).toEqual(['req_total']);
    expect(r.warnings).toEqual(['results truncated due to limit']);
    const r2 = await rangeQuery(q, '{__name__=~"up_g|req_total"}', 4 * M, 5 * M, M, { resultSeriesMax: 2 });
    expect(r2.resultType === 'matrix' && r2.result).toHaveLength(2);
    expect(r2.warnings).toBeUndefined();
    const r3 = await instantQuery(q, 'up_g[2m]', 5 * M, { resultSeriesMax: 1 });
    expect(r3.warnings).toBeUndefined();
  });

  test('each query has its own annotations', async () => {
    await instantQuery(q, 'quantile(2, up_g)', 5 * M);
    const r = await instantQuery(q, 'quantile(0.5, up_g)', 5 * M);
    expect(r.warnings).toBeUndefined();
  });
});
