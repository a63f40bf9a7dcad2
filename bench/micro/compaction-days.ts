// Micro-benchmark of level building through the compaction planner and task (src/compaction/
// planner.ts + compact-task.ts, run in this thread as the engine's worker would): D days of N
// series at 15 s, one raw segment per 2 h partition (as merges leave them), then every planned
// step run until the plan is empty -- one level segment per level per UTC day. For comparison in
// the same run, the levels built per 2 h partition (the layout before level partitions).
// Reports bytes per level against the raw bytes of the same days, level segments per level, the
// time of the day builds and of the per-2 h builds (sum of task times), and the peak RSS.
// Run: npx tsc -p tsconfig.bench.json && node --expose-gc dist-bench/bench/micro/compaction-days.js --series 2000 --days 3
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runCompactionTask } from '../../src/compaction/compact-task.js';
import { planCompaction, type PlannedSegment } from '../../src/compaction/planner.js';
import { LEVEL_PARTITION_MS, PARTITION_MS } from '../../src/constants.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { segmentName, tenantSegmentsDir } from '../../src/segment/format.js';

const levelSegmentName = (level: string, p: number, seq: number) => segmentName('raw', p, seq).replace(/^raw/, level);
import { manifestEntryOf } from '../../src/segment/manifest.js';
import { writeSegment } from '../../src/segment/writer.js';
import { parseRollupLevels } from '../../src/rollup/levels.js';
import { mulberry32 } from '../lib/prng.js';

const { values: args } = parseArgs({
  options: {
    series: { type: 'string', default: '2000' },
    days: { type: 'string', default: '3' },
  },
});
const SERIES = Number(args.series);
const DAYS = Number(args.days);
const DAY0 = Math.floor(1_700_000_000_000 / LEVEL_PARTITION_MS) * LEVEL_PARTITION_MS;
const STEP_MS = 15_000;
const TENANT = 'bench';
const LEVELS = parseRollupLevels('5m,1h,1d');

function mib(b: number): string {
  return (b / 1024 / 1024).toFixed(2);
}

/** One 2 h partition of every series: counters, gauges that jump now and then, noisy gauges. */
function partitionSeries(p: number, state: Float64Array, offsets: Float64Array, rnd: () => number) {
  const n = PARTITION_MS / STEP_MS;
  return Array.from({ length: SERIES }, (_, i) => {
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    let v = state[i]!;
    for (let k = 0; k < n; k++) {
      ts[k] = p + offsets[i]! + k * STEP_MS;
      if (i % 3 === 0) v += Math.floor(rnd() * 100);
      else if (i % 3 === 1) v = rnd() < 0.1 ? Math.floor(rnd() * 1e9) : v;
      else v = Math.round(rnd() * 400) / 100;
      vs[k] = v;
    }
    state[i] = v;
    const labels = [
      { name: '__name__', value: i % 3 === 0 ? 'node_cpu_seconds_total' : i % 3 === 1 ? 'node_memory_bytes' : 'node_load' },
      { name: 'instance', value: `host-${Math.floor(i / 100)}` },
      { name: 'series', value: String(i) },
    ];
    return { labels, timestampsMs: ts, values: vs };
  });
}

async function main(): Promise<void> {
  registerArrowCodecs();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-bench-days-'));
  const dir = tenantSegmentsDir(dataDir, TENANT);
  try {
    const rnd = mulberry32(7);
    const state = Float64Array.from({ length: SERIES }, () => Math.floor(rnd() * 1e6));
    const offsets = Float64Array.from({ length: SERIES }, () => Math.floor(rnd() * STEP_MS));
    const segments: PlannedSegment[] = [];
    let seq = 1;
    let rawBytes = 0;
    let samples = 0;
    for (let p = DAY0; p < DAY0 + DAYS * LEVEL_PARTITION_MS; p += PARTITION_MS) {
      const name = segmentName('raw', p, seq++);
      const meta = await writeSegment(dir, name, { tenant: TENANT, level: 'raw', partitionStartMs: p, partitionEndMs: p + PARTITION_MS, series: partitionSeries(p, state, offsets, rnd) });
      segments.push(manifestEntryOf(meta));
      rawBytes += meta.bytes;
      samples += meta.sampleCount;
    }
    console.log(`${SERIES} series x ${DAYS} days at 15 s: ${samples} samples in ${segments.length} raw segments, ${mib(rawBytes)} MiB (${(rawBytes / samples).toFixed(2)} bytes/sample)`);

    // Day level partitions: run the plan until it is empty, as the engine does.
    const byLevel = new Map<string, { bytes: number; segments: number }>();
    const dayTimes: number[] = [];
    let peakRss = 0;
    const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
    for (;;) {
      const plan = planCompaction(segments, { nowMs: DAY0 + (DAYS + 1) * LEVEL_PARTITION_MS, levels: LEVELS, retention: new Map(), settledBeforeMs: Infinity });
      const work = plan.partitions[0];
      if (work === undefined) break;
      const t0 = performance.now();
      const out = await runCompactionTask({
        dataDir,
        tenant: TENANT,
        partitionStartMs: work.partitionStartMs,
        partitionEndMs: work.partitionEndMs,
        inputs: work.raws.map((r) => r.name),
        levels: work.build.map((l) => ({ level: l.name, widthMs: l.widthMs, name: levelSegmentName(l.name, work.partitionStartMs, seq++) })),
      });
      dayTimes.push(performance.now() - t0);
      for (const l of out.levels) {
        segments.push(l.manifestEntry);
        const e = byLevel.get(l.level) ?? { bytes: 0, segments: 0 };
        e.bytes += l.manifestEntry.bytes;
        e.segments++;
        byLevel.set(l.level, e);
      }
    }
    clearInterval(timer);
    const dayPeak = peakRss;

    // The same levels per 2 h partition (the layout before level partitions), for comparison.
    const per2h = new Map<string, { bytes: number; segments: number }>();
    const p2hTimes: number[] = [];
    for (const r of segments.filter((s) => s.level === 'raw')) {
      const t0 = performance.now();
      const out = await runCompactionTask({
        dataDir,
        tenant: TENANT,
        partitionStartMs: r.partitionStartMs,
        partitionEndMs: r.partitionEndMs,
        inputs: [r.name],
        levels: LEVELS.map((l) => ({ level: l.name, widthMs: l.widthMs, name: levelSegmentName(l.name, r.partitionStartMs, seq++) })),
      });
      p2hTimes.push(performance.now() - t0);
      for (const l of out.levels) {
        const e = per2h.get(l.level) ?? { bytes: 0, segments: 0 };
        e.bytes += l.manifestEntry.bytes;
        e.segments++;
        per2h.set(l.level, e);
        await fs.rm(path.join(dir, l.name), { recursive: true });
      }
    }
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    console.log(`\n| level | per day: segments | bytes | % of raw | per 2 h partition: segments | bytes | % of raw |`);
    console.log('|---|---|---|---|---|---|---|');
    for (const l of LEVELS) {
      const d = byLevel.get(l.name)!;
      const h = per2h.get(l.name)!;
      console.log(`| ${l.name} | ${d.segments} | ${mib(d.bytes)} MiB | ${((d.bytes / rawBytes) * 100).toFixed(1)}% | ${h.segments} | ${mib(h.bytes)} MiB | ${((h.bytes / rawBytes) * 100).toFixed(1)}% |`);
    }
    const dTotal = sum([...byLevel.values()].map((e) => e.bytes));
    const hTotal = sum([...per2h.values()].map((e) => e.bytes));
    console.log(`| all | ${sum([...byLevel.values()].map((e) => e.segments))} | ${mib(dTotal)} MiB | ${((dTotal / rawBytes) * 100).toFixed(1)}% | ${sum([...per2h.values()].map((e) => e.segments))} | ${mib(hTotal)} MiB | ${((hTotal / rawBytes) * 100).toFixed(1)}% |`);
    console.log(`\nlevel build time: per day ${(sum(dayTimes) / 1000).toFixed(2)} s (${dayTimes.length} tasks, ${(samples / sum(dayTimes) / 1000).toFixed(2)} M samples/s); per 2 h ${(sum(p2hTimes) / 1000).toFixed(2)} s (${p2hTimes.length} tasks)`);
    console.log(`peak RSS during the day builds: ${mib(dayPeak)} MiB`);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
