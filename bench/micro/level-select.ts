// Micro-benchmark of reading a level over many segments, as the rollup planner does for a long
// query: LevelSegmentReader.selectBuckets (one RollupBuckets per series and segment) against
// selectBucketBatch (one per segment, copied) and selectBucketRuns (row ranges of the cached
// decoded batches, no copy), and the cost of allocating a RollupBuckets itself.
//
// Data: SERIES counters scraped every 60 s, in DAYS one-day level segments of 1 h buckets
// (--layout day, 24 buckets per series and segment) or 12*DAYS two-hour segments of 5 m buckets
// (--layout 2h, 24 per series and segment). Every series is selected over the whole range.
// "warm" reads with the block cache filled by the first pass; "cold" opens the readers with an
// empty block cache (each select decodes every block; record batches stay cached).
// Times are medians over REPS passes over all segments.
//
// Run: npx tsc -p tsconfig.bench.json && node --expose-gc dist-bench/bench/micro/level-select.js [--series N] [--days D] [--layout day|2h] [--reps R]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Labels } from '../../src/model/labels.js';
import { buildBuckets, RollupBuckets } from '../../src/rollup/buckets.js';
import { SegmentCache } from '../../src/segment/cache.js';
import { LevelSegmentReader } from '../../src/segment/level-reader.js';
import { writeLevelSegment } from '../../src/segment/level-writer.js';

const { values: args } = parseArgs({
  options: { series: { type: 'string' }, days: { type: 'string' }, layout: { type: 'string' }, reps: { type: 'string' } },
});
const SERIES = Number(args.series ?? 1000);
const DAYS = Number(args.days ?? 30);
const LAYOUT = args.layout ?? 'day';
const REPS = Number(args.reps ?? 7);
const DAY_MS = 86_400_000;
const DAY0 = Math.floor(1_700_000_000_000 / DAY_MS) * DAY_MS;
const STEP_MS = 60_000;
const partitionMs = LAYOUT === '2h' ? 7_200_000 : DAY_MS;
const level = LAYOUT === '2h' ? { name: '5m', widthMs: 300_000 } : { name: '1h', widthMs: 3_600_000 };
const partitions = (DAYS * DAY_MS) / partitionMs;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

async function writeData(dir: string): Promise<string[]> {
  const labels: Labels[] = Array.from({ length: SERIES }, (_, i) => [
    { name: '__name__', value: 'node_cpu_seconds_total' },
    { name: 'instance', value: `host-${String(i).padStart(5, '0')}` },
  ]);
  const dirs: string[] = [];
  const perPartition = partitionMs / STEP_MS;
  const ts = new Float64Array(perPartition);
  const vs = new Float64Array(perPartition);
  const counters = new Float64Array(SERIES);
  for (let p = 0; p < partitions; p++) {
    const start = DAY0 + p * partitionMs;
    const series = labels.map((l, i) => {
      for (let k = 0; k < perPartition; k++) {
        ts[k] = start + k * STEP_MS + 1 + (i % 7);
        counters[i] += (i % 13) + (k % 5);
        vs[k] = counters[i]!;
      }
      return { labels: l, buckets: buildBuckets(ts, vs, level.widthMs) };
    });
    const name = `lvl-${String(p).padStart(4, '0')}`;
    await writeLevelSegment(dir, name, { tenant: 't1', level, partitionStartMs: start, partitionEndMs: start + partitionMs, sources: ['raw-1-00000001'], series });
    dirs.push(path.join(dir, name));
  }
  return dirs;
}

type Mode = 'selectBuckets' | 'selectBucketBatch' | 'selectBucketRuns';
const MODES: Mode[] = ['selectBuckets', 'selectBucketBatch', 'selectBucketRuns'];

async function pass(readers: LevelSegmentReader[], mode: Mode): Promise<{ ms: number; buckets: number }> {
  const lo = DAY0;
  const hi = DAY0 + DAYS * DAY_MS;
  let buckets = 0;
  const t0 = performance.now();
  for (const r of readers) {
    if (mode === 'selectBucketBatch') buckets += (await r.selectBucketBatch([], lo, hi)).buckets.length;
    else if (mode === 'selectBucketRuns') {
      const runs = await r.selectBucketRuns([], lo, hi);
      for (let i = 0; i < runs.labels.length; i++) buckets += runs.hi[i]! - runs.lo[i]!;
    } else for (const s of await r.selectBuckets([], lo, hi)) buckets += s.buckets.length;
  }
  return { ms: performance.now() - t0, buckets };
}

function allocBench(): string {
  const out: string[] = [];
  for (const n of [1, 8, 9, 24, 288]) {
    const count = Math.min(100_000, Math.floor(2_400_000 / n)); // bounded bytes: big structs would time the GC
    const times: number[] = [];
    let keep = 0;
    for (let rep = 0; rep < REPS; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) keep += new RollupBuckets(3_600_000, n).length;
      times.push(performance.now() - t0);
    }
    out.push(`new RollupBuckets(G, ${n}): ${((median(times) / count) * 1000).toFixed(2)} us each (median of ${REPS} x ${count}; ${keep > 0 ? 'ok' : ''})`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'level-select-'));
  try {
    const t0 = performance.now();
    const dirs = await writeData(dir);
    console.log(`${SERIES} series x ${partitions} segments (${LAYOUT}, ${level.name} buckets); written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(allocBench());
    for (const mode of ['warm', 'cold'] as const) {
      const opts = mode === 'warm' ? { blockCache: new SegmentCache(4 << 30) } : { blockCache: new SegmentCache(0) };
      const readers = await Promise.all(dirs.map((d) => LevelSegmentReader.open(d, { ...opts, batchCache: new SegmentCache(4 << 30), verifyChecksum: false })));
      await pass(readers, 'selectBucketBatch'); // fill caches
      const times: Record<Mode, number[]> = { selectBuckets: [], selectBucketBatch: [], selectBucketRuns: [] };
      let counted = 0;
      for (let rep = 0; rep < REPS; rep++) {
        // Rotate the order so none always runs right after a GC-heavy pass.
        for (let j = 0; j < MODES.length; j++) {
          const m = MODES[(rep + j) % MODES.length]!;
          (globalThis as { gc?: () => void }).gc?.();
          const r = await pass(readers, m);
          times[m].push(r.ms);
          counted = r.buckets;
        }
      }
      const [a, b, c] = MODES.map((m) => median(times[m]));
      console.log(`${mode}: selectBuckets ${a!.toFixed(1)} ms, selectBucketBatch ${b!.toFixed(1)} ms, selectBucketRuns ${c!.toFixed(1)} ms, ${counted} buckets per pass, medians of ${REPS}`);
      for (const r of readers) r.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
