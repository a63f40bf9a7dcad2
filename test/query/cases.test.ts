// Runs every table-driven case file in test/query/cases/ (format: test/helpers/promql-cases.ts)
// against the engine over a MemoryQuerier. Cases marked `skip` show up as skipped tests so the
// features still missing stay visible; un-skip them as the features land
// (PROMQL_CASES_ALL=1 npx vitest run test/query/cases.test.ts shows which ones pass).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STALE_NAN } from '../../src/model/samples.js';
import { caseTitle, expandSequence, parseCaseFile, parseDurationMs, runCase, valuesEqual } from '../helpers/promql-cases.js';

/** PROMQL_CASES_ALL=1 runs the skipped cases too: which ones can be un-skipped now? */
const RUN_ALL = process.env['PROMQL_CASES_ALL'] === '1';
const CASES_DIR = fileURLToPath(new URL('./cases/', import.meta.url));
const files = fs.readdirSync(CASES_DIR).filter((f) => f.endsWith('.promql-test')).sort();

describe('case format', () => {
  it('expands series notation', () => {
    expect(expandSequence('0+10x3 _ stale NaN Inf -Inf 1.5 _x2 7x2 -1-2x2 1e3')).toEqual([0, 10, 20, 30, undefined, 'stale', NaN, Infinity, -Infinity, 1.5, undefined, undefined, 7, 7, 7, -1, -3, -5, 1000]);
    expect(() => expandSequence('1+x')).toThrow();
    expect(() => expandSequence('0+1x1000000')).toThrow(/longer/);
  });

  it('parses durations and times', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('-90s')).toBe(-90_000);
    expect(parseDurationMs('2.5')).toBe(2500);
    expect(parseDurationMs('250ms')).toBe(250);
  });

  it('compares with relative tolerance, NaN equal to NaN', () => {
    expect(valuesEqual(1, 1 + 1e-12)).toBe(true);
    expect(valuesEqual(1, 1 + 1e-6)).toBe(false);
    expect(valuesEqual(NaN, NaN)).toBe(true);
    expect(valuesEqual(STALE_NAN, 1)).toBe(false);
    expect(valuesEqual(Infinity, Infinity)).toBe(true);
    expect(valuesEqual(Infinity, -Infinity)).toBe(false);
    expect(valuesEqual(0, 1e-300)).toBe(false);
  });

  it('the runner fails on a wrong expectation, a missing or an extra series, and a wrong error', async () => {
    const bad = parseCaseFile(
      'inline',
      `load 10s
  x{a="1"} 1 2 3
  x{a="2"} 5
eval instant at 20s x
  x{a="1"} 4
  x{a="2"} 5
eval instant at 20s x
  x{a="1"} 3
eval instant at 20s x
  x{a="1"} 3
  x{a="2"} 5
  x{a="3"} 5
eval range from 0 to 20s step 10s x{a="1"}
  x{a="1"} 1 2 _
eval_fail instant at 0 x{
  error something else
eval_ordered instant at 20s x
  x{a="2"} 5
  x{a="1"} 3
`,
    );
    expect(bad).toHaveLength(6);
    for (const c of bad) await expect(runCase(c), caseTitle(c)).rejects.toThrow();
  });

  it('the runner checks annotations: warnings always, infos when the case states them', async () => {
    const text = `load 1m
  g 0+1x5
eval instant at 4m30s quantile(2, g)
  {} Inf
eval instant at 4m30s quantile(0.5, g)
  {} 4
  warn PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)
eval instant at 4m30s quantile(2, g)
  {} Inf
  warn PromQL warning: quantile value should be between 0 and 1, got 2 (1:11)
eval instant at 4m30s rate(g[5m])
  {} 0.015
  no_info
eval instant at 4m30s rate(g[5m])
  {} 0.015
  info PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "other" (1:6)
eval instant at 4m30s rate(g[5m])
  {} 0.015
eval instant at 4m30s rate(g[5m])
  {} 0.015
  info PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "g" (1:6)
`;
    const cases = parseCaseFile('inline', text);
    expect(cases).toHaveLength(7);
    // Unexpected warning; missing warning; wrong position; unexpected info; wrong info.
    for (const c of cases.slice(0, 5)) await expect(runCase(c), caseTitle(c)).rejects.toThrow(/warning|info/);
    // Infos unchecked without info lines; checked and right.
    for (const c of cases.slice(5)) await runCase(c);
    expect(() => parseCaseFile('f', 'eval_fail instant at 0 x{\n  error x\n  warn y\n')).toThrow(/f:3/);
  });

  it('rejects malformed files with the line number', () => {
    expect(() => parseCaseFile('f', 'load 10s\n  x 1 2 oops\n')).toThrow(/f:2/);
    expect(() => parseCaseFile('f', 'eval instant at 0 x\n  {a="b"} 1 2\n')).toThrow(/f:2/);
    expect(() => parseCaseFile('f', 'frobnicate\n')).toThrow(/f:1/);
  });
});

for (const file of files) {
  const cases = parseCaseFile(file, fs.readFileSync(path.join(CASES_DIR, file), 'utf8'));
  describe(file, () => {
    for (const c of cases) {
      if (c.skip !== undefined && !RUN_ALL) it.skip(`${caseTitle(c)} [skipped: ${c.skip}]`, () => {});
      else if (c.skip !== undefined) it(`${caseTitle(c)} [normally skipped: ${c.skip}]`, () => runCase(c));
      else it(caseTitle(c), () => runCase(c));
    }
  });
}
