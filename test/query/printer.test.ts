// The PromQL printer: Prometheus' String()/Pretty() forms for known inputs (checked against
// Prometheus 2.42's /api/v1/format_query, numbers as Prometheus 3 prints them), and a round trip
// over every query of the engine's case files: printing and parsing again gives the same AST.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Expr } from '../../src/query/ast.js';
import { parseExpr } from '../../src/query/parser.js';
import { exprToString, formatDurationMs, goQuote, prettyExpr } from '../../src/query/printer.js';
import { parseCaseFile } from '../helpers/promql-cases.js';

const CASES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cases');

/** The AST without positions, matchers and functions reduced to their text: comparable. */
function shape(e: unknown): unknown {
  if (Array.isArray(e)) return e.map(shape);
  if (e === null || typeof e !== 'object') return e;
  const o = e as Record<string, unknown>;
  if ('matches' in o && 'type' in o && 'name' in o) return `${String(o.name)}${String(o.type)}${JSON.stringify(o.value)}`;
  if ('returnType' in o && 'name' in o) return o.name;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'pos') out[k] = shape(v);
  if (o.kind === 'VectorSelector') out.matchers = (out.matchers as string[]).slice().sort();
  return out;
}

describe('printer', () => {
  const known: Array<[string, string]> = [
    ['sum by(a)(rate(x{b="c",a=~"d"}[5m] offset 1h))', 'sum by (a) (rate(x{a=~"d",b="c"}[5m] offset 1h))'],
    ['1000000 * 1234567.5 + 0.00001 + 1e-7 + 0x10 + Inf + -Inf + NaN', '1000000 * 1234567.5 + 0.00001 + 0.0000001 + 16 + +Inf + -Inf + NaN'],
    ['foo{a="x\\ny\\"z\\\\", b!~"é\\t"} @ 1700000000.5 offset -5m', 'foo{a="x\\ny\\"z\\\\",b!~"é\\t"} @ 1700000000.500 offset -5m'],
    ['rate(foo[1h30m] @ start() offset 90d)[1w:5m] @ end() offset 1y', 'rate(foo[1h30m] @ start() offset 90d)[1w:5m] @ end() offset 1y'],
    ['sum without () (x) / count(-foo) - -(1)', 'sum without () (x) / count(-foo) - -(1)'],
    ['a == bool 1 unless b > 2 or c <= 3', 'a == bool 1 unless b > 2 or c <= 3'],
    ['x unless on(a) y and ignoring(b) z', 'x unless on (a) y and ignoring (b) z'],
    ['a * on() group_left() b', 'a * on () group_left () b'],
    ['{__name__=~"a|b|c"} + {__name__="x"}', '{__name__=~"a|b|c"} + {__name__="x"}'],
    ['count_values("value", build_info) * -1 + time()', 'count_values("value", build_info) * -1 + time()'],
    [
      'max_over_time((sum by (job) (rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{job="x", instance="y"}[5m])))[1h:1m] offset 5m)',
      'max_over_time(\n  (\n    sum by (job) (\n      rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{instance="y",job="x"}[5m])\n    )\n  )[1h:1m] offset 5m\n)',
    ],
    [
      '-(sum by (job) (rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{job="x", instance="y"}[5m])) + on(job) group_left(instance) up_bbbbbbbbbbbbbbbbbbbbbbbbbb)',
      '-(\n    sum by (job) (\n      rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa{instance="y",job="x"}[5m])\n    )\n  + on (job) group_left (instance)\n    up_bbbbbbbbbbbbbbbbbbbbbbbbbb\n)',
    ],
    [
      'label_replace(rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa[5m]), "dst", "$1", "src", "(.*)")',
      'label_replace(\n  rate(http_requests_total_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa[5m]),\n  "dst",\n  "$1",\n  "src",\n  "(.*)"\n)',
    ],
    [
      'quantile without (instance, pod) (0.95, rate(http_request_duration_seconds_bucket_cccccccccccccccccccccccccccc[5m]))',
      'quantile without (instance, pod) (\n  0.95,\n  rate(http_request_duration_seconds_bucket_cccccccccccccccccccccccccccc[5m])\n)',
    ],
  ];
  for (const [input, want] of known) {
    it(`formats ${JSON.stringify(input.slice(0, 60))}`, () => {
      expect(prettyExpr(parseExpr(input))).toBe(want);
    });
  }

  it('keeps group_left after an empty ignoring() (Prometheus would drop it and change the meaning)', () => {
    const printed = exprToString(parseExpr('a * ignoring() group_left(x) b'));
    expect(printed).toBe('a * ignoring () group_left (x) b');
    expect(shape(parseExpr(printed))).toEqual(shape(parseExpr('a * ignoring() group_left(x) b')));
  });

  it('quotes UTF-8 names so that they parse back', () => {
    const e = parseExpr('sum by ("a.b") ({"some.metric", "x.y"="z"})');
    const printed = exprToString(e);
    expect(printed).toBe('sum by ("a.b") ({"some.metric","x.y"="z"})');
    expect(shape(parseExpr(printed))).toEqual(shape(e));
  });

  it('durations and strings as Go prints them', () => {
    expect(formatDurationMs(0)).toBe('0s');
    expect(formatDurationMs(5_400_000)).toBe('1h30m');
    expect(formatDurationMs(90 * 86_400_000)).toBe('90d');
    expect(formatDurationMs(14 * 86_400_000)).toBe('2w');
    expect(formatDurationMs(365 * 86_400_000)).toBe('1y');
    expect(formatDurationMs(1500)).toBe('1s500ms');
    expect(goQuote('a"b\\c\n\u0001\u007f')).toBe('"a\\"b\\\\c\\n\\x01\\x7f"');
  });

  it('round-trips every query of the engine case files to the same AST', () => {
    let checked = 0;
    for (const f of fs.readdirSync(CASES_DIR).sort()) {
      for (const c of parseCaseFile(f, fs.readFileSync(path.join(CASES_DIR, f), 'utf8'))) {
        let e: Expr;
        try {
          e = parseExpr(c.query);
        } catch {
          continue; // error cases
        }
        const once = exprToString(e);
        const again = parseExpr(once);
        expect(shape(again), `${c.file}:${c.line} ${c.query} -> ${once}`).toEqual(shape(e));
        expect(exprToString(again)).toBe(once);
        expect(shape(parseExpr(prettyExpr(e))), `${c.file}:${c.line} pretty`).toEqual(shape(e));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });
});
