// Formatting a range query's matrix as Prometheus' JSON (src/query/format.ts): the shape of the
// 30-day avg_over_time answer of bench:rollup (500 series x 720 hourly points, gauge values in
// tenths). Prints the median of alternating rounds per variant and the bytes written:
//   bytes   what the server does: writeQueryData into JsonBytes (digits written as bytes);
//   strings the way answers were built before 3 Dec 2026, kept here as the reference: a string
//           per point (formatTimestamp, formatFloat), joined, then encoded to UTF-8 for the socket;
//   threads the server's way with --query-format-threads N (--threads N, default cores - 1 at most
//           3; 0: not run): the main thread and N format workers, parts joined (format-pool.ts);
//   against (with --against DIR) another build's writeQueryData (DIR: its compiled src, e.g. a git
//           worktree of another commit built with `npx tsc -p tsconfig.build.json`, DIR = its
//           dist/), on the same answer, its bytes checked equal to this build's.
// --values thirds (default): thirds of tenths, nearly all 16-17 digits; avg240: averages of 240
// tenths (k/2400), as bench:rollup's avg_over_time answers are: ~3/4 of 16-17 digits, ~1/4 of 2-8.
//   npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/format-matrix.js [--series N] [--points N] [--rounds N] [--values thirds|avg240] [--threads N] [--against DIR]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { labelsFromRecord } from '../../src/model/labels.js';
import type { QueryResult } from '../../src/query/engine.js';
import { formatFloat, formatLabelsJson, formatTimestamp, JsonBytes, writeQueryData } from '../../src/query/format.js';
import { AnswerFormatter, defaultQueryFormatThreads } from '../../src/query/format-pool.js';

const { values: a } = parseArgs({ options: { series: { type: 'string' }, points: { type: 'string' }, rounds: { type: 'string' }, values: { type: 'string' }, against: { type: 'string' }, threads: { type: 'string' } } });
const seriesCount = Number(a.series ?? 500);
const points = Number(a.points ?? 720);
const rounds = Number(a.rounds ?? 15);
const valueShape = a.values ?? 'thirds';
const threads = a.threads !== undefined ? Number(a.threads) : defaultQueryFormatThreads();
if (valueShape !== 'thirds' && valueShape !== 'avg240') throw new Error('--values: thirds or avg240');

const startMs = 1_793_638_800_000;
const result: QueryResult = {
  resultType: 'matrix',
  result: Array.from({ length: seriesCount }, (_, i) => {
    const ts = new Float64Array(points);
    const vs = new Float64Array(points);
    let v = 200 + (i % 50);
    for (let k = 0; k < points; k++) {
      ts[k] = startMs + k * 3_600_000;
      v += ((k * 7919 + i * 104729) % 21) / 10 - 1;
      // thirds: long decimals; avg240: an integer count of 1/2400ths, as the mean of 240 tenths is.
      vs[k] = valueShape === 'thirds' ? v / 3 : Math.round(v * 24 + ((k * 31 + i) % 7)) / 2400;
    }
    return { labels: labelsFromRecord({ instance: `host-${i}:9100`, job: 'node', series_id: String(i) }), timestampsMs: ts, values: vs };
  }),
};

function viaBytes(): Buffer {
  const w = new JsonBytes().setTimeGrid(startMs, 3_600_000, points);
  writeQueryData(w, result);
  return w.bytes();
}

function viaStrings(): Buffer {
  if (result.resultType !== 'matrix') throw new Error('matrix expected');
  const parts: string[] = [];
  for (const s of result.result) {
    const pts = new Array<string>(s.timestampsMs.length);
    for (let i = 0; i < pts.length; i++) pts[i] = '[' + formatTimestamp(s.timestampsMs[i]!) + ',"' + formatFloat(s.values[i]!) + '"]';
    parts.push('{"metric":' + formatLabelsJson(s.labels) + ',"values":[' + pts.join(',') + ']}');
  }
  return Buffer.from('{"resultType":"matrix","result":[' + parts.join(',') + ']}');
}

const variants: [string, () => Buffer | Promise<Buffer>][] = [
  ['bytes', viaBytes],
  ['strings', viaStrings],
];
// What the server does with --query-format-threads N (default cores - 1, at most 3): the main
// thread and N format workers write parts of the answer (src/query/format-pool.ts).
const formatter = threads > 0 ? new AnswerFormatter({ threads }) : undefined;
if (formatter !== undefined) {
  variants.push([
    'threads',
    async () => {
      const w = new JsonBytes().setTimeGrid(startMs, 3_600_000, points);
      await formatter.writeQueryData(w, result);
      return w.bytes();
    },
  ]);
}
if (a.against !== undefined) {
  const other = (await import(pathToFileURL(path.join(path.resolve(a.against), 'query/format.js')).href)) as typeof import('../../src/query/format.js');
  variants.push([
    'against',
    () => {
      const w = new other.JsonBytes().setTimeGrid(startMs, 3_600_000, points);
      other.writeQueryData(w, result);
      return w.bytes();
    },
  ]);
}
for (const [name, f] of variants.slice(1)) if (!viaBytes().equals(await f())) throw new Error(`bytes and ${name} disagree`);
const ms = new Map<string, number[]>(variants.map(([name]) => [name, []]));
let bytes = 0;
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of r % 2 === 0 ? variants : [...variants].reverse()) {
    const t0 = performance.now();
    bytes = (await f()).length;
    ms.get(name)!.push(performance.now() - t0);
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
for (const [name] of variants) {
  const m = median(ms.get(name)!);
  console.log(`${name.padEnd(8)} ${seriesCount} series x ${points} points: median ${m.toFixed(1)} ms (min ${Math.min(...ms.get(name)!).toFixed(1)}), ${(bytes / 1e6).toFixed(2)} MB, ${((m * 1e6) / (seriesCount * points)).toFixed(0)} ns/point`);
}
console.log(`strings / bytes: ${(median(ms.get('strings')!) / median(ms.get('bytes')!)).toFixed(2)}x`);
if (a.against !== undefined) console.log(`against / bytes: ${(median(ms.get('against')!) / median(ms.get('bytes')!)).toFixed(2)}x (same bytes)`);
if (formatter !== undefined) {
  console.log(`threads / bytes: ${(median(ms.get('threads')!) / median(ms.get('bytes')!)).toFixed(2)}x (main thread + ${threads} format worker${threads === 1 ? '' : 's'}, same bytes; parts by workers: ${formatter.partsByWorkers})`);
  await formatter.close();
}
