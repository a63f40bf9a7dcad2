// Micro-benchmark of the rollup level segment format (docs/format/level.md): bytes on disk of
// the 5m, 1h and 1d levels next to the raw segments of the same data, and encode/decode speed.
//
// Data: one day at 15 s of ~1k series, (a) the node exporter capture replayed as hosts
// (bench/fixtures, bench/lib/node-exporter.ts), (b) the synthetic node-exporter-like
// generator (bench/lib/generator.ts), scrape jitter +-3 ms, and (c) the rollup benchmark's
// counters and random-walk gauges (bench/lib/rollup-bench/dataset.ts), generated in-process. Raw bytes are those of writeSegment's
// files for 2 h partitions (as flushes write them). Each level is measured in two layouts: one
// level segment per 2 h raw partition (its buckets partial at the edges when the width does not
// divide 2 h) and one per day. All files count (series.arrow and postings.arrow too), and
// buckets.arrow alone is shown as well.
//
// Per level, a table of encoded bytes per field (before and after zstd, each column alone) and
// how often each cell mode was chosen, and encode/decode time per bucket of encodeLevelBlock /
// decodeLevelBlock alone (the writer's bit-compare is a decode more).
//
// --drop FIELD,...: zero those fields of every bucket before encoding (a zero column costs one
// byte per cell; prev_t/prev_v become first_t/last_v), to measure what a level without them
// would cost on disk: e.g. --drop m2 (no
// stddev/stdvar from levels), or --drop m2,mean,prev_v,prev_t,resets,changes (only what
// rate/increase/delta, sum/avg/count, min/max and first/last read). The levels are then not
// what compaction writes; the field names are the Arrow column names.
//
// Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/level-encoding.js [--series N] [--hours H] [--data node,synthetic,rollup] [--drop FIELDS]
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { labelsFromRecord, compareLabels, type Labels } from '../../src/model/labels.js';
import { buildBuckets, type RollupBuckets } from '../../src/rollup/buckets.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { BUCKETS_FILE } from '../../src/segment/format.js';
import { buildLevelSegmentFiles } from '../../src/segment/level-writer.js';
import { decodeLevelBlock, encodeLevelBlock, LEVEL_FIELD_COLUMNS, LEVEL_FIELDS } from '../../src/segment/level-encoding.js';
import * as v1 from './level-encoding-v1.js';
import { buildSegmentFiles, type SegmentSeriesInput } from '../../src/segment/writer.js';
import { ByteSink } from '../../src/segment/encoding/index.js';
import { zstdCompressSync } from '../../src/segment/zstd-sync.js';
import { PARTITION_MS } from '../../src/constants.js';
import type { Dataset } from '../lib/dataset.js';
import { SyntheticDataset, syntheticSeriesPerHost } from '../lib/generator.js';
import { loadFixture, NodeExporterDataset } from '../lib/node-exporter.js';
import { RollupDataset } from '../lib/rollup-bench/dataset.js';
import { nodeExporterFixturePath } from '../lib/paths.js';

const DAY_MS = 86_400_000;
const LEVELS = [
  { name: '5m', widthMs: 300_000 },
  { name: '1h', widthMs: 3_600_000 },
  { name: '1d', widthMs: DAY_MS },
];

const { values: args } = parseArgs({ options: { series: { type: 'string' }, hours: { type: 'string' }, data: { type: 'string' }, drop: { type: 'string' } } });
const DROP = (args.drop ?? '')
  .split(',')
  .filter((c) => c !== '')
  .map((c) => {
    const f = LEVEL_FIELDS.find((x) => LEVEL_FIELD_COLUMNS[x] === c);
    if (f === undefined || f === 'endMs' || f === 'count') throw new Error(`--drop: ${c} is not a droppable field (${LEVEL_FIELDS.slice(2).map((x) => LEVEL_FIELD_COLUMNS[x]).join(', ')})`);
    return f;
  });

/**
 * buildBuckets with the --drop fields zeroed; the second-to-last sample, which the bucket
 * invariants place between the first and the last, is made the first sample's time and the last
 * value instead (both then cost next to nothing, as a zero column does).
 */
function bucketsOf(timestampsMs: Float64Array, values: Float64Array, widthMs: number): RollupBuckets {
  const b = buildBuckets(timestampsMs, values, widthMs);
  for (const f of DROP) {
    if (f === 'prevT' || f === 'prevV') {
      for (let i = 0; i < b.length; i++) if (b.count[i]! >= 2) b[f][i] = f === 'prevT' ? b.firstT[i]! : b.lastV[i]!;
    } else b[f].fill(0);
  }
  return b;
}
const DATA = new Set((args.data ?? 'node,synthetic,rollup').split(','));
const SERIES = Number(args.series ?? 1000);
const HOURS = Number(args.hours ?? 24);
const INTERVAL_MS = 15_000;
const SCRAPES = Math.floor((HOURS * 3_600_000) / INTERVAL_MS);
// The data lies in one UTC day [DAY0, DAY0 + 1d) (ScrapeClock ends at nowMs).
const DAY0 = Math.floor(1_700_000_000_000 / DAY_MS) * DAY_MS;
const NOW = DAY0 + HOURS * 3_600_000 - 1;

interface SeriesSamples {
  labels: Labels;
  timestampsMs: Float64Array;
  values: Float64Array;
}

function materialize(ds: Dataset): SeriesSamples[] {
  const n = Math.min(ds.seriesCount, SERIES);
  const ts = Array.from({ length: n }, () => new Float64Array(ds.scrapeCount));
  const vs = Array.from({ length: n }, () => new Float64Array(ds.scrapeCount));
  const row = new Float64Array(ds.seriesCount);
  for (let k = 0; k < ds.scrapeCount; k++) {
    ds.fillValues(k, row);
    for (let i = 0; i < n; i++) {
      ts[i]![k] = ds.timestampMs(ds.hostOf[i]!, k);
      vs[i]![k] = row[i]!;
    }
  }
  const out = Array.from({ length: n }, (_, i) => ({ labels: labelsFromRecord(ds.labels(i)), timestampsMs: ts[i]!, values: vs[i]! }));
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

/** The samples of s in [lo, hi). */
function cut(s: SeriesSamples, lo: number, hi: number): { timestampsMs: Float64Array; values: Float64Array } {
  let a = 0;
  while (a < s.timestampsMs.length && s.timestampsMs[a]! < lo) a++;
  let z = a;
  while (z < s.timestampsMs.length && s.timestampsMs[z]! < hi) z++;
  return { timestampsMs: s.timestampsMs.subarray(a, z), values: s.values.subarray(a, z) };
}

function partitions(lo: number, hi: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = Math.floor(lo / size) * size; p <= hi; p += size) out.push([p, p + size]);
  return out;
}

function sumFiles(files: Array<[string, Uint8Array]>): { all: number; buckets: number } {
  let all = 0;
  let buckets = 0;
  for (const [f, b] of files) {
    all += b.length;
    if (f === BUCKETS_FILE) buckets += b.length;
  }
  return { all, buckets };
}

const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(1)}%`;

/** The rollup benchmark's series (counters and gauges, one phase each), in label order. */
function materializeRollup(ds: RollupDataset): SeriesSamples[] {
  const n = ds.seriesCount;
  const vs = Array.from({ length: n }, () => new Float64Array(ds.scrapeCount));
  const cur = ds.cursor(0, n);
  const row = new Float64Array(n);
  for (let k = 0; k < ds.scrapeCount; k++) {
    cur.next(row);
    for (let i = 0; i < n; i++) vs[i]![k] = row[i]!;
  }
  const out = Array.from({ length: n }, (_, i) => ({
    labels: labelsFromRecord(ds.labels(i)),
    timestampsMs: Float64Array.from({ length: ds.scrapeCount }, (_, k) => ds.timestampMs(i, k)),
    values: vs[i]!,
  }));
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

function run(label: string, description: string, series: SeriesSamples[]): void {
  const lo = Math.min(...series.map((s) => s.timestampsMs[0]!));
  const hi = Math.max(...series.map((s) => s.timestampsMs[s.timestampsMs.length - 1]!));
  let samples = 0;
  for (const s of series) samples += s.timestampsMs.length;
  console.log(`\n## ${label}: ${description.slice(0, 120)}${DROP.length > 0 ? ` (fields zeroed: ${DROP.map((f) => LEVEL_FIELD_COLUMNS[f]).join(', ')})` : ''}`);
  console.log(`${series.length} series, ${samples} samples, ${HOURS} h at ${INTERVAL_MS / 1000} s, jitter +-3 ms`);

  // Raw: one segment per 2 h partition.
  let raw = 0;
  for (const [p0, p1] of partitions(lo, hi, PARTITION_MS)) {
    const input: SegmentSeriesInput[] = series.map((s) => ({ labels: s.labels, ...cut(s, p0, p1) }));
    if (input.every((x) => x.timestampsMs.length === 0)) continue;
    raw += sumFiles(buildSegmentFiles(`raw-${p0}-00000001`, { tenant: 't', level: 'raw', partitionStartMs: p0, partitionEndMs: p1, series: input }, 'zstd', 480).files).all;
  }
  console.log(`raw: ${raw} bytes, ${(raw / samples).toFixed(3)} bytes/sample`);
  console.log('| level | layout | buckets | bytes (all files) | bytes/bucket | buckets.arrow bytes/bucket | % of raw |');
  console.log('|---|---|---|---|---|---|---|');
  const totals = new Map<string, number>();
  for (const level of LEVELS) {
    for (const [layout, size] of [
      ['per 2h partition', PARTITION_MS],
      ['per day', DAY_MS],
    ] as const) {
      let all = 0;
      let bucketsBytes = 0;
      let buckets = 0;
      let encodeMs = 0;
      for (const [p0, p1] of partitions(lo, hi, size)) {
        const input = series.map((s) => {
          const c = cut(s, p0, p1);
          return { labels: s.labels, buckets: bucketsOf(c.timestampsMs, c.values, level.widthMs) };
        });
        if (input.every((x) => x.buckets.length === 0)) continue;
        for (const x of input) buckets += x.buckets.length;
        const t0 = performance.now();
        const built = buildLevelSegmentFiles(`${level.name}-${p0}-00000001`, { tenant: 't', level, partitionStartMs: p0, partitionEndMs: p1, sources: ['raw-0-00000001'], series: input }, 'zstd', 288);
        encodeMs += performance.now() - t0;
        const b = sumFiles(built.files);
        all += b.all;
        bucketsBytes += b.buckets;
      }
      totals.set(`${level.name} ${layout}`, all);
      console.log(`| ${level.name} | ${layout} | ${buckets} | ${all} | ${(all / buckets).toFixed(2)} | ${(bucketsBytes / buckets).toFixed(2)} | ${pct(all, raw)} | (encode ${encodeMs.toFixed(0)} ms)`);
    }
  }
  for (const layout of ['per 2h partition', 'per day']) {
    const sum = LEVELS.reduce((a, l) => a + totals.get(`${l.name} ${layout}`)!, 0);
    console.log(`all levels, ${layout}: ${sum} bytes = ${pct(sum, raw)} of raw`);
  }
  for (const level of LEVELS) fieldBreakdown(series, level, lo);
}

const MODE_NAMES = ['plain', 'zero', 'nan', 'same', 'masked', 'offset', 'diff', 'ulp', 'ratio'];

/** Encoded bytes per field (before and after zstd) of one level over the whole range, one block per series-day, and the cell modes chosen. */
function fieldBreakdown(series: SeriesSamples[], level: { name: string; widthMs: number }, lo: number): void {
  const sinks = LEVEL_FIELDS.map(() => new ByteSink(1 << 20));
  let buckets = 0;
  let decodeMs = 0;
  let encodeMs = 0;
  // Blocks as compaction writes them: per UTC day, <= 288 buckets.
  const all: RollupBuckets[] = [];
  for (const s of series) {
    for (const [p0, p1] of partitions(lo, s.timestampsMs[s.timestampsMs.length - 1]!, DAY_MS)) {
      const c = cut(s, p0, p1);
      if (c.timestampsMs.length > 0) all.push(bucketsOf(c.timestampsMs, c.values, level.widthMs));
    }
  }
  // Cell modes chosen per field (first byte of each cell; end_ms has none).
  const modes = LEVEL_FIELDS.map(() => new Map<number, number>());
  for (const b of all) {
    for (let start = 0; start < b.length; start += 288) {
      const n = Math.min(288, b.length - start);
      const before = sinks.map((s) => s.length);
      const t1 = performance.now();
      encodeLevelBlock(b, start, n, sinks);
      encodeMs += performance.now() - t1;
      for (let c = 1; c < sinks.length; c++) {
        const m = sinks[c]!.bytes[before[c]!]!;
        modes[c]!.set(m, (modes[c]!.get(m) ?? 0) + 1);
      }
      const t0 = performance.now();
      decodeLevelBlock(sinks.map((s, c) => ({ bytes: s.bytes, start: before[c]!, end: s.length })), n, level.widthMs);
      decodeMs += performance.now() - t0;
      buckets += n;
    }
  }
  // After zstd, each column on its own (as Arrow compresses each buffer).
  const zsizes = LEVEL_FIELDS.map((_, c) => zstdCompressSync(sinks[c]!.view()).length);
  const total = sinks.reduce((a, s) => a + s.length, 0);
  const ztotal = zsizes.reduce((a, b) => a + b, 0);
  console.log(`\n${level.name}: ${buckets} buckets in ${all.length} series-days; cells ${(total / buckets).toFixed(2)} B/bucket before zstd, ${(ztotal / buckets).toFixed(2)} after (columns zstd'd alone)`);
  console.log('| field | B/bucket | after zstd | modes chosen (blocks) |');
  console.log('|---|---|---|---|');
  LEVEL_FIELDS.forEach((f, c) => {
    const m = c === 0 ? 'timestamp chunk' : [...modes[c]!].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${MODE_NAMES[k] ?? k}:${v}`).join(' ');
    console.log(`| ${LEVEL_FIELD_COLUMNS[f]} | ${(sinks[c]!.length / buckets).toFixed(3)} | ${(zsizes[c]! / buckets).toFixed(3)} | ${m} |`);
  });
  console.log(`${level.name} encode: ${((encodeMs * 1e6) / buckets).toFixed(0)} ns/bucket, decode: ${((decodeMs * 1e6) / buckets).toFixed(0)} ns/bucket (one pass, noisy; side by side below)`);
  sideBySide(level, all);
}

/**
 * Encode and decode time of the current cells vs the v1 encoder (bench/micro/level-encoding-v1.ts,
 * frozen before the M_ULP/M_RATIO modes), in alternating rounds over the same blocks; medians.
 */
function sideBySide(level: { name: string; widthMs: number }, all: RollupBuckets[]): void {
  const ROUNDS = 7;
  const impls = [
    { name: 'v1', enc: v1.encodeLevelBlock, dec: v1.decodeLevelBlock },
    { name: 'current', enc: encodeLevelBlock, dec: decodeLevelBlock },
  ];
  const times = impls.map(() => ({ enc: [] as number[], dec: [] as number[], bytes: 0 }));
  let buckets = 0;
  for (const b of all) buckets += b.length;
  for (let round = 0; round < ROUNDS; round++) {
    impls.forEach((impl, k) => {
      const sinks = LEVEL_FIELDS.map(() => new ByteSink(1 << 16));
      const cells: Array<{ n: number; at: number[]; end: number[] }> = [];
      const t0 = performance.now();
      for (const b of all) {
        for (let start = 0; start < b.length; start += 288) {
          const n = Math.min(288, b.length - start);
          const at = sinks.map((s) => s.length);
          impl.enc(b, start, n, sinks);
          cells.push({ n, at, end: sinks.map((s) => s.length) });
        }
      }
      const t1 = performance.now();
      for (const c of cells) impl.dec(sinks.map((s, f) => ({ bytes: s.bytes, start: c.at[f]!, end: c.end[f]! })), c.n, level.widthMs);
      const t2 = performance.now();
      times[k]!.enc.push(t1 - t0);
      times[k]!.dec.push(t2 - t1);
      times[k]!.bytes = sinks.reduce((a, s) => a + s.length, 0);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const ns = (ms: number) => ((ms * 1e6) / buckets).toFixed(0);
  const [a, b] = times;
  console.log(
    `${level.name} side by side (median of ${ROUNDS}): encode v1 ${ns(median(a!.enc))} / current ${ns(median(b!.enc))} ns/bucket (x${(median(b!.enc) / median(a!.enc)).toFixed(2)}), ` +
      `decode v1 ${ns(median(a!.dec))} / current ${ns(median(b!.dec))} ns/bucket (x${(median(b!.dec) / median(a!.dec)).toFixed(2)}); cells before zstd v1 ${(a!.bytes / buckets).toFixed(2)} / current ${(b!.bytes / buckets).toFixed(2)} B/bucket`,
  );
}

registerArrowCodecs();
const timing = { scrapeCount: SCRAPES, intervalMs: INTERVAL_MS, jitterMs: 3, seed: 42, nowMs: NOW };
const fixtureFile = nodeExporterFixturePath();
if (DATA.has('node')) {
  if (fs.existsSync(fixtureFile)) {
    const f = loadFixture(fixtureFile);
    const ds = new NodeExporterDataset(f, { ...timing, hosts: Math.max(1, Math.ceil(SERIES / f.series.length)) });
    run('node exporter replay', ds.description, materialize(ds));
  } else {
    console.log(`(${fixtureFile} missing: node exporter replay skipped)`);
  }
}
if (DATA.has('synthetic')) {
  const ds = new SyntheticDataset({ ...timing, hosts: Math.max(1, Math.ceil(SERIES / syntheticSeriesPerHost())) });
  run('synthetic', ds.description, materialize(ds));
}
if (DATA.has('rollup')) {
  // As bench:rollup: 1k series at 15 s, half counters, half random-walk gauges (seed 1), ending on a day boundary.
  const ds = new RollupDataset({ series: SERIES, scrapeCount: SCRAPES, intervalMs: INTERVAL_MS, seed: 1, endMs: DAY0 + HOURS * 3_600_000 });
  run('rollup bench data', `${ds.counterCount} counters (integer increments), ${ds.gaugeCount} gauges (random walk in tenths), phase 1..999 ms, no jitter`, materializeRollup(ds));
}
