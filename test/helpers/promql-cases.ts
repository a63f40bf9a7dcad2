// A small text format for table-driven PromQL engine tests, its parser and its runner.
//
// Case files (test/query/cases/*.promql-test) read top to bottom; time 0 is the Unix epoch and
// every time is a duration (`90s`, `1h30m`, `500ms`, a bare number is seconds, may be negative).
//
//   # comment (whole lines only)
//   skip all "reason"           every case of the file is reported skipped
//   lookback 1m                 lookback delta of the following evals (default: the engine's)
//   load 15s [from 7s]          series lines follow, indented; sample i is at from + i*15s
//     name{l="v",...} values    values: space separated items, each one of
//                                 1.5  -2  NaN  Inf  +Inf  -Inf   one sample
//                                 a+bxN  a-bxN                    N+1 samples a, a±b, ..., a±N*b
//                                 vxN                             N+1 samples of v (no step)
//                                 _  _xN                          1 (N) missing samples
//                                 stale                           a stale marker (bit-exact)
//   clear                       forget every loaded series
//   skip "reason"               the next eval is reported skipped (vitest it.skip)
//   prom2_differs "reason"      the next eval's answer differs in Prometheus 2.x by design (e.g.
//                               a sample exactly at t - range): the check of the case files
//                               against a real Prometheus 2.x (prometheus-diff.test.ts) skips it
//   eval instant at 5m <query>            expected lines follow, indented:
//     {l="v"} 1.5                  one series of an instant vector (name{...} sets __name__)
//     {l="v"} 1@0s 2@15s           one series of a matrix (an instant query of a range vector)
//     scalar 3                     a scalar
//     string "abc"                 a string
//                                  (no lines: the result must be an empty vector/matrix)
//   eval_ordered instant at 5m <query>    as eval, and the series must come in this order
//   eval range from 0 to 10m step 1m <query>
//     {l="v"} 1 2 _ 4 0+1x6        one series, one item per step (`_` = no point at that step),
//                                  the same expansions as load; a scalar result is `{}`
//   eval_fail instant at 0 <query>        (or `eval_fail range from ...`)
//     error <substring>            the query must throw an error whose message contains it
//     code <CODE>                  optional: the MochaError code
//
// Annotations (Prometheus' warnings and infos), among the expected lines of eval/eval_ordered:
//     warn <text>                  the answer's warnings include this exact text, position
//                                  included: `PromQL warning: ... (1:10)`
//     info <text>                  likewise for infos
//     no_info                      the answer has no infos (no line needed for warnings)
//   The warnings are always checked: with no `warn` line the answer must have none. The infos
//   are checked when the case has an `info` or `no_info` line (rate() of a gauge raises one,
//   and most cases are not about that). Order does not matter.
//
// Values compare with relative tolerance 1e-9; NaN equals NaN (a stale marker never appears in
// results); ±Inf only equal themselves. Vectors compare unordered (by label set) unless
// eval_ordered. Each eval sees a snapshot of the series loaded before it.
import { MochaError } from '../../src/errors.js';
import { labelsFromRecord, labelsKey, type Labels } from '../../src/model/labels.js';
import { instantQuery, rangeQuery, type QueryOptions, type QueryResult } from '../../src/query/engine.js';
import { MemoryQuerier, series, type MemorySeries, type PointValue } from './memory-querier.js';

/** Relative tolerance of value comparisons. */
export const RELATIVE_TOLERANCE = 1e-9;
/** Bound on items one expansion (a+bxN) may produce: a typo must not allocate gigabytes. */
const EXPANSION_ITEMS_MAX = 100_000;

/** One item of a value sequence: a number, the stale marker, or a gap. */
export type SeqItem = number | 'stale' | undefined;

export interface ExpectedSeries {
  labels: Labels;
  /** Instant vector: one value; range: one item per step (undefined = absent); matrix: points. */
  values: SeqItem[];
  /** Only for matrix results of instant queries: the timestamps (ms) of values. */
  timestampsMs?: number[];
}

export type Expected =
  | { kind: 'series'; series: ExpectedSeries[] }
  | { kind: 'scalar'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'error'; substring: string; code?: string };

export interface PromqlCase {
  file: string;
  line: number;
  query: string;
  mode: 'instant' | 'range';
  /** Instant: evaluation time; range: start. */
  startMs: number;
  endMs: number;
  stepMs: number;
  ordered: boolean;
  expected: Expected;
  lookbackDeltaMs?: number;
  skip?: string;
  /** Prometheus 2.x answers differently by design (left-closed windows...): the reason. */
  prom2Differs?: string;
  /** Exact warnings expected (any order); [] when the case states none. */
  warnings: string[];
  /** Exact infos expected (any order); undefined: not checked. */
  infos?: string[];
  data: MemorySeries[];
}

export class CaseSyntaxError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/** Duration or time: `1h30m`, `15s`, `500ms`, `-1m`, `2d`, or a bare number of seconds. */
export function parseDurationMs(text: string): number {
  const s = text.trim();
  if (/^[+-]?\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const m = /^([+-]?)((?:\d+(?:ms|y|w|d|h|m|s))+)$/.exec(s);
  if (!m) throw new Error(`bad duration ${JSON.stringify(text)}`);
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g)) total += Number(part[1]) * unitMs[part[2]!]!;
  return m[1] === '-' ? -total : total;
}

function parseNumber(tok: string): number {
  const t = tok.toLowerCase();
  if (t === 'nan') return NaN;
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(tok) && !/^0x[0-9a-f]+$/i.test(tok)) throw new Error(`bad number ${JSON.stringify(tok)}`);
  return Number(tok);
}

const NUM = String.raw`[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|inf|nan)`;
const SEQ_RE = new RegExp(`^(${NUM})(?:([+-])(${NUM}))?x(\\d+)$`, 'i');

/** Expands one whitespace-separated value sequence (load lines and range expectations). */
export function expandSequence(text: string): SeqItem[] {
  const out: SeqItem[] = [];
  const push = (v: SeqItem, times: number) => {
    if (out.length + times > EXPANSION_ITEMS_MAX) throw new Error(`sequence longer than ${EXPANSION_ITEMS_MAX} items`);
    for (let i = 0; i < times; i++) out.push(v);
  };
  for (const tok of text.trim().split(/\s+/).filter((t) => t !== '')) {
    if (tok === '_') push(undefined, 1);
    else if (tok === 'stale') push('stale', 1);
    else if (/^_x\d+$/.test(tok)) push(undefined, Number(tok.slice(2)));
    else {
      // a+bxN / a-bxN / axN; `a` may itself be signed, Inf or NaN (e.g. -1-2x3, Infx2).
      const m = SEQ_RE.exec(tok);
      if (m) {
        const a = parseNumber(m[1]!);
        const b = m[2] === undefined ? 0 : parseNumber(m[3]!) * (m[2] === '-' ? -1 : 1);
        const n = Number(m[4]);
        if (out.length + n + 1 > EXPANSION_ITEMS_MAX) throw new Error(`sequence longer than ${EXPANSION_ITEMS_MAX} items`);
        // a + i*b, not repeated addition: the same float every time.
        for (let i = 0; i <= n; i++) out.push(b === 0 ? a : a + i * b);
      } else push(parseNumber(tok), 1);
    }
  }
  return out;
}

/** `name{a="b", c="d"}`, `{a="b"}` or `name`; returns the labels and the rest of the text. */
export function parseSeriesDesc(text: string): { labels: Labels; rest: string } {
  let i = 0;
  const s = text.trimStart();
  const rec: Record<string, string> = {};
  const nameM = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(s);
  if (nameM) {
    rec['__name__'] = nameM[0];
    i = nameM[0].length;
  }
  if (s[i] === '{') {
    i++;
    for (;;) {
      while (s[i] === ' ' || s[i] === ',') i++;
      if (s[i] === '}') {
        i++;
        break;
      }
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(s.slice(i));
      if (!lm) throw new Error(`bad label at ${JSON.stringify(s.slice(i, i + 20))}`);
      i += lm[0].length;
      let j = i;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) throw new Error('unterminated label value');
      rec[lm[1]!] = JSON.parse('"' + s.slice(i, j) + '"') as string;
      i = j + 1;
    }
  } else if (!nameM) throw new Error(`expected a series description, got ${JSON.stringify(s.slice(0, 20))}`);
  return { labels: labelsFromRecord(rec), rest: s.slice(i) };
}

function parseQuoted(text: string): string {
  const t = text.trim();
  if (!/^".*"$/.test(t)) throw new Error(`expected a "quoted string", got ${JSON.stringify(t)}`);
  return JSON.parse(t) as string;
}

interface RawBlock {
  line: number;
  head: string;
  body: { line: number; text: string }[];
}

/** Splits the file into directives with their indented lines. */
function blocks(file: string, text: string): RawBlock[] {
  const out: RawBlock[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = idx + 1;
    const noCr = raw.replace(/\r$/, '');
    if (noCr.trim() === '' || noCr.trim().startsWith('#')) return;
    if (/^\s/.test(noCr)) {
      const cur = out[out.length - 1];
      if (cur === undefined) throw new CaseSyntaxError(file, line, 'indented line before any directive');
      cur.body.push({ line, text: noCr.trim() });
    } else out.push({ line, head: noCr.trim(), body: [] });
  });
  return out;
}

/** Parses a case file; every eval carries a snapshot of the data loaded before it. */
export function parseCaseFile(file: string, text: string): PromqlCase[] {
  const cases: PromqlCase[] = [];
  const loaded = new Map<string, { labels: Labels; points: [number, PointValue][] }>();
  let skipAll: string | undefined;
  let skipNext: string | undefined;
  let prom2DiffersNext: string | undefined;
  let lookbackDeltaMs: number | undefined;
  let snapshot: MemorySeries[] | undefined;
  const data = (): MemorySeries[] => {
    snapshot ??= [...loaded.values()].map((s) => series(Object.fromEntries(s.labels.map((l) => [l.name, l.value])), s.points));
    return snapshot;
  };
  for (const b of blocks(file, text)) {
    const fail = (msg: string, line = b.line): never => {
      throw new CaseSyntaxError(file, line, msg);
    };
    try {
      const [word] = b.head.split(/\s+/, 1) as [string];
      const rest = b.head.slice(word.length).trim();
      switch (word) {
        case 'skip': {
          const all = /^all\s+(.*)$/.exec(rest);
          if (all) skipAll = parseQuoted(all[1]!);
          else skipNext = parseQuoted(rest);
          if (b.body.length > 0) fail('skip takes no indented lines');
          break;
        }
        case 'prom2_differs':
          prom2DiffersNext = parseQuoted(rest);
          break;
        case 'lookback':
          lookbackDeltaMs = parseDurationMs(rest);
          break;
        case 'clear':
          loaded.clear();
          snapshot = undefined;
          break;
        case 'load': {
          const m = /^(\S+)(?:\s+from\s+(\S+))?$/.exec(rest);
          if (!m) fail('expected `load <interval> [from <time>]`');
          const intervalMs = parseDurationMs(m![1]!);
          const fromMs = m![2] === undefined ? 0 : parseDurationMs(m![2]);
          if (!(intervalMs > 0)) fail('load interval must be positive');
          for (const l of b.body) {
            try {
              const { labels, rest: vals } = parseSeriesDesc(l.text);
              const key = labelsKey(labels);
              const entry = loaded.get(key) ?? { labels, points: [] };
              expandSequence(vals).forEach((v, i) => {
                if (v !== undefined) entry.points.push([fromMs + i * intervalMs, v]);
              });
              const seen = new Set<number>();
              for (const [t] of entry.points) {
                if (seen.has(t)) fail(`two samples at ${t} ms for ${key}`, l.line);
                seen.add(t);
              }
              loaded.set(key, entry);
            } catch (e) {
              if (e instanceof CaseSyntaxError) throw e;
              fail((e as Error).message, l.line);
            }
          }
          snapshot = undefined;
          break;
        }
        case 'eval':
        case 'eval_ordered':
        case 'eval_fail': {
          let mode: 'instant' | 'range';
          let startMs: number;
          let endMs: number;
          let stepMs = 1;
          let query: string;
          const inst = /^instant\s+at\s+(\S+)\s+(.+)$/.exec(rest);
          const range = /^range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$/.exec(rest);
          if (inst) {
            mode = 'instant';
            startMs = endMs = parseDurationMs(inst[1]!);
            query = inst[2]!;
          } else if (range) {
            mode = 'range';
            startMs = parseDurationMs(range[1]!);
            endMs = parseDurationMs(range[2]!);
            stepMs = parseDurationMs(range[3]!);
            query = range[4]!;
          } else return fail('expected `instant at <t> <query>` or `range from <t> to <t> step <d> <query>`');
          const stepCount = mode === 'range' ? Math.floor((endMs - startMs) / stepMs) + 1 : 1;
          // Annotation lines first: what is left are the expected values.
          const warnings: string[] = [];
          let infos: string[] | undefined;
          const valueLines = b.body.filter((l) => {
            const m = /^(warn|info)\s+(.+)$/.exec(l.text);
            if (m) {
              if (word === 'eval_fail') fail('an eval_fail has no annotations', l.line);
              if (m[1] === 'warn') warnings.push(m[2]!);
              else (infos ??= []).push(m[2]!);
              return false;
            }
            if (l.text === 'no_info') {
              infos ??= [];
              return false;
            }
            return true;
          });
          b.body = valueLines;
          let expected: Expected;
          if (word === 'eval_fail') {
            let substring: string | undefined;
            let code: string | undefined;
            for (const l of b.body) {
              if (l.text.startsWith('error ')) substring = l.text.slice(6).trim();
              else if (l.text.startsWith('code ')) code = l.text.slice(5).trim();
              else fail('eval_fail takes `error <substring>` and `code <CODE>` lines', l.line);
            }
            if (substring === undefined) fail('eval_fail needs an `error <substring>` line');
            expected = { kind: 'error', substring: substring!, ...(code !== undefined ? { code } : {}) };
          } else if (b.body.length === 1 && /^scalar\s/.test(b.body[0]!.text)) {
            expected = { kind: 'scalar', value: parseNumber(b.body[0]!.text.slice(7).trim()) };
          } else if (b.body.length === 1 && /^string\s/.test(b.body[0]!.text)) {
            expected = { kind: 'string', value: parseQuoted(b.body[0]!.text.slice(7)) };
          } else {
            const out: ExpectedSeries[] = [];
            for (const l of b.body) {
              try {
                const { labels, rest: vals } = parseSeriesDesc(l.text);
                if (vals.includes('@')) {
                  const ts: number[] = [];
                  const vs: SeqItem[] = [];
                  for (const tok of vals.trim().split(/\s+/)) {
                    const at = tok.lastIndexOf('@');
                    if (at <= 0) throw new Error(`matrix points are value@time, got ${JSON.stringify(tok)}`);
                    vs.push(parseNumber(tok.slice(0, at)));
                    ts.push(parseDurationMs(tok.slice(at + 1)));
                  }
                  out.push({ labels, values: vs, timestampsMs: ts });
                } else {
                  const vs = expandSequence(vals);
                  const want = mode === 'instant' ? 1 : stepCount;
                  if (vs.length !== want) throw new Error(`expected ${want} value(s), got ${vs.length}`);
                  if (vs.includes('stale')) throw new Error('stale markers never appear in results');
                  out.push({ labels, values: vs });
                }
              } catch (e) {
                fail((e as Error).message, l.line);
              }
            }
            expected = { kind: 'series', series: out };
          }
          const skip = skipAll ?? skipNext;
          const prom2Differs = prom2DiffersNext;
          skipNext = undefined;
          prom2DiffersNext = undefined;
          cases.push({
            file,
            line: b.line,
            query,
            mode,
            startMs,
            endMs,
            stepMs,
            ordered: word === 'eval_ordered',
            expected,
            ...(lookbackDeltaMs !== undefined ? { lookbackDeltaMs } : {}),
            ...(skip !== undefined ? { skip } : {}),
            ...(prom2Differs !== undefined ? { prom2Differs } : {}),
            warnings,
            ...(infos !== undefined ? { infos } : {}),
            data: data(),
          });
          break;
        }
        default:
          fail(`unknown directive ${JSON.stringify(word)}`);
      }
    } catch (e) {
      if (e instanceof CaseSyntaxError) throw e;
      fail((e as Error).message);
    }
  }
  // A `skip all` anywhere in the file covers the cases before it too.
  if (skipAll !== undefined) for (const c of cases) c.skip ??= skipAll;
  return cases;
}

/** Relative 1e-9, NaN equals NaN, infinities equal only themselves. */
export function valuesEqual(got: number, want: number): boolean {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  if (got === want) return true;
  if (!Number.isFinite(got) || !Number.isFinite(want)) return false;
  return Math.abs(got - want) <= RELATIVE_TOLERANCE * Math.max(Math.abs(got), Math.abs(want));
}

function fmtLabels(l: Labels): string {
  const name = l.find((x) => x.name === '__name__')?.value ?? '';
  return name + '{' + l.filter((x) => x.name !== '__name__').map((x) => `${x.name}=${JSON.stringify(x.value)}`).join(', ') + '}';
}

function fmtItems(vs: readonly SeqItem[]): string {
  return vs.map((v) => (v === undefined ? '_' : String(v))).join(' ');
}

/** A case's title for test output. */
export function caseTitle(c: PromqlCase): string {
  const when = c.mode === 'instant' ? `@${c.startMs / 1000}s` : `[${c.startMs / 1000}s..${c.endMs / 1000}s step ${c.stepMs / 1000}s]`;
  return `L${c.line} ${c.expected.kind === 'error' ? 'fails ' : ''}${c.mode} ${when}: ${c.query}`;
}

/** Runs one case; throws an Error describing every difference. */
export async function runCase(c: PromqlCase): Promise<void> {
  const q = new MemoryQuerier(c.data);
  const opts: QueryOptions = c.lookbackDeltaMs !== undefined ? { lookbackDeltaMs: c.lookbackDeltaMs } : {};
  const where = `${c.file}:${c.line} ${c.query}`;
  let result: QueryResult;
  try {
    result = c.mode === 'instant' ? await instantQuery(q, c.query, c.startMs, opts) : await rangeQuery(q, c.query, c.startMs, c.endMs, c.stepMs, opts);
  } catch (e) {
    if (c.expected.kind !== 'error') throw new Error(`${where}: unexpected error: ${(e as Error).message}`);
    const msg = (e as Error).message;
    if (!msg.includes(c.expected.substring)) throw new Error(`${where}: error ${JSON.stringify(msg)} does not contain ${JSON.stringify(c.expected.substring)}`);
    if (c.expected.code !== undefined && !(e instanceof MochaError && e.code === c.expected.code)) {
      throw new Error(`${where}: error code ${e instanceof MochaError ? e.code : 'none'}, expected ${c.expected.code}`);
    }
    return;
  }
  checkResult(c, result);
  checkAnnotations(c, result);
}

/** Throws an Error describing every difference between the case's expectation and result. */
export function checkResult(c: PromqlCase, result: QueryResult, where = `${c.file}:${c.line} ${c.query}`): void {
  const exp = c.expected;
  const problems: string[] = [];
  switch (exp.kind) {
    case 'error':
      throw new Error(`${where}: expected an error containing ${JSON.stringify(exp.substring)}, got a ${result.resultType}`);
    case 'scalar':
      if (result.resultType !== 'scalar') throw new Error(`${where}: expected a scalar, got a ${result.resultType}`);
      if (!valuesEqual(result.result.v, exp.value)) throw new Error(`${where}: scalar ${result.result.v}, expected ${exp.value}`);
      return;
    case 'string':
      if (result.resultType !== 'string') throw new Error(`${where}: expected a string, got a ${result.resultType}`);
      if (result.result.v !== exp.value) throw new Error(`${where}: string ${JSON.stringify(result.result.v)}, expected ${JSON.stringify(exp.value)}`);
      return;
    case 'series':
      break;
  }
  // Normalise the result to label set -> items.
  const got: { labels: Labels; values: SeqItem[]; timestampsMs?: number[] }[] = [];
  if (result.resultType === 'vector') {
    if (c.mode !== 'instant') throw new Error(`${where}: a range query answered a vector`);
    for (const s of result.result) {
      if (s.t !== c.startMs) problems.push(`${fmtLabels(s.labels)} carries time ${s.t}, expected ${c.startMs}`);
      got.push({ labels: s.labels, values: [s.v] });
    }
  } else if (result.resultType === 'matrix') {
    for (const s of result.result) {
      if (c.mode === 'range') {
        const stepCount = Math.floor((c.endMs - c.startMs) / c.stepMs) + 1;
        const items: SeqItem[] = new Array<SeqItem>(stepCount).fill(undefined);
        for (let i = 0; i < s.timestampsMs.length; i++) {
          const k = (s.timestampsMs[i]! - c.startMs) / c.stepMs;
          if (!Number.isInteger(k) || k < 0 || k >= stepCount) problems.push(`${fmtLabels(s.labels)} has a point off the step grid at ${s.timestampsMs[i]} ms`);
          else items[k] = s.values[i]!;
        }
        got.push({ labels: s.labels, values: items });
      } else got.push({ labels: s.labels, values: Array.from(s.values), timestampsMs: Array.from(s.timestampsMs) });
    }
  } else throw new Error(`${where}: expected series, got a ${result.resultType} (${JSON.stringify(result.result)})`);

  const gotByKey = new Map<string, (typeof got)[number]>();
  for (const g of got) {
    const k = labelsKey(g.labels);
    if (gotByKey.has(k)) problems.push(`duplicate series in the result: ${fmtLabels(g.labels)}`);
    gotByKey.set(k, g);
  }
  const wantKeys = new Set<string>();
  for (const w of exp.series) {
    const k = labelsKey(w.labels);
    wantKeys.add(k);
    const g = gotByKey.get(k);
    if (g === undefined) {
      problems.push(`missing ${fmtLabels(w.labels)} ${fmtItems(w.values)}`);
      continue;
    }
    if (w.timestampsMs !== undefined || g.timestampsMs !== undefined) {
      const wt = w.timestampsMs ?? [];
      const gt = g.timestampsMs ?? [];
      const same = wt.length === gt.length && wt.every((t, i) => t === gt[i]) && w.values.every((v, i) => valuesEqual(g.values[i] as number, v as number));
      if (!same) problems.push(`${fmtLabels(w.labels)}: got ${g.values.map((v, i) => `${String(v)}@${gt[i]! / 1000}s`).join(' ')}, expected ${w.values.map((v, i) => `${String(v)}@${wt[i]! / 1000}s`).join(' ')}`);
      continue;
    }
    const bad = w.values.length !== g.values.length || w.values.some((v, i) => {
      const gv = g.values[i];
      if (v === undefined || gv === undefined) return v !== gv;
      return !valuesEqual(gv as number, v as number);
    });
    if (bad) problems.push(`${fmtLabels(w.labels)}: got ${fmtItems(g.values)}, expected ${fmtItems(w.values)}`);
  }
  for (const g of got) if (!wantKeys.has(labelsKey(g.labels))) problems.push(`unexpected ${fmtLabels(g.labels)} ${fmtItems(g.values)}`);
  if (c.ordered && problems.length === 0) {
    const gotOrder = got.map((g) => labelsKey(g.labels)).join('\n');
    const wantOrder = exp.series.map((w) => labelsKey(w.labels)).join('\n');
    if (gotOrder !== wantOrder) problems.push(`order differs: got ${got.map((g) => fmtLabels(g.labels)).join(', ')}`);
  }
  if (problems.length > 0) throw new Error(`${where}:\n  ${problems.join('\n  ')}`);
}

/** Throws an Error describing how the answer's annotations differ from the case's. */
export function checkAnnotations(c: PromqlCase, result: QueryResult, where = `${c.file}:${c.line} ${c.query}`): void {
  const problems: string[] = [];
  const compare = (what: string, got: readonly string[], want: readonly string[]) => {
    for (const w of want) if (!got.includes(w)) problems.push(`missing ${what}: ${w}`);
    for (const g of got) if (!want.includes(g)) problems.push(`unexpected ${what}: ${g}`);
  };
  compare('warning', result.warnings ?? [], c.warnings);
  if (c.infos !== undefined) compare('info', result.infos ?? [], c.infos);
  if (problems.length > 0) throw new Error(`${where}:\n  ${problems.join('\n  ')}`);
}
