// Micro-benchmark of one compaction task (src/compaction/compact-task.ts), run in this thread:
// one 2 h raw partition of N series at 15 s, split over K raw segments as flushes leave it (each
// an equal slice of the partition) plus one overlapping backfill segment that rewrites
// 10% of the samples; merged into one raw segment and the 5m/1h/1d levels built from it.
// Reports the task time (median of --runs), merged samples per second, the bytes of inputs,
// output and each level, and the peak memory above the baseline (RSS and JS heap, sampled every
// 5 ms) for two series batch sizes: the default (1024) and the whole partition at once.
// Run: npx tsc -p tsconfig.bench.json && node --expose-gc dist-bench/bench/micro/compaction.js --series 20000
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runCompactionTask } from '../../src/compaction/compact-task.js';
import { PARTITION_MS, COMPACTION_SERIES_BATCH_MAX } from '../../src/constants.js';
import { registerArrowCodecs } from '../../src/segment/codecs.js';
import { segmentName, tenantSegmentsDir } from '../../src/segment/format.js';
import { writeSegment, type SegmentSeriesInput } from '../../src/segment/writer.js';
import { parseRollupLevels } from '../../src/rollup/levels.js';
import { mulberry32 } from '../lib/prng.js';

const { values: args } = parseArgs({
  options: {
    series: { type: 'string', default: '20000' },
    flushes: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
  },
});
const SERIES = Number(args.series);
const FLUSHES = Number(args.flushes);
const RUNS = Number(args.runs);
const P0 = Math.floor(1_700_000_000_000 / PARTITION_MS) * PARTITION_MS;
const STEP_MS = 15_000;
const SAMPLES = PARTITION_MS / STEP_MS;
const TENANT = 'bench';

function seriesAt(i: number, rnd: () => number): SegmentSeriesInput {
  const labels = [
    { name: '__name__', value: i % 3 === 0 ? 'node_cpu_seconds_total' : i % 3 === 1 ? 'node_memory_bytes' : 'node_load' },
    { name: 'instance', value: `host-${Math.floor(i / 100)}` },
    { name: 'series', value: String(i) },
  ];
  const offset = Math.floor(rnd() * STEP_MS);
  const ts = new Float64Array(SAMPLES);
  const vs = new Float64Array(SAMPLES);
  let v = Math.floor(rnd() * 1e6);
  for (let k = 0; k < SAMPLES; k++) {
    ts[k] = P0 + offset + k * STEP_MS;
    if (i % 3 === 0) v += Math.floor(rnd() * 100);
    else if (i % 3 === 1) v = rnd() < 0.1 ? Math.floor(rnd() * 1e9) : v;
    else v = Math.round(rnd() * 400) / 100;
    vs[k] = v;
  }
  return { labels, timestampsMs: ts, values: vs };
}

async function writeInputs(dataDir: string): Promise<{ names: string[]; bytes: number; samples: number }> {
  const rnd = mulberry32(42);
  const all = Array.from({ length: SERIES }, (_, i) => seriesAt(i, rnd));
  const names: string[] = [];
  let bytes = 0;
  let samples = 0;
  const per = SAMPLES / FLUSHES;
  for (let f = 0; f <= FLUSHES; f++) {
    // Flush f: its slice of each series; the last input is a backfill rewriting 10% of samples.
    const series = all.map((s) => {
      if (f < FLUSHES) return { labels: s.labels, timestampsMs: s.timestampsMs.subarray(f * per, (f + 1) * per), values: s.values.subarray(f * per, (f + 1) * per) };
      const keep = Array.from({ length: SAMPLES }, (_, k) => k).filter((k) => k % 10 === 3);
      return { labels: s.labels, timestampsMs: Float64Array.from(keep, (k) => s.timestampsMs[k]!), values: Float64Array.from(keep, (k) => s.values[k]! + 1) };
    });
    const name = segmentName('raw', P0, f + 1);
    const meta = await writeSegment(tenantSegmentsDir(dataDir, TENANT), name, { tenant: TENANT, level: 'raw', partitionStartMs: P0, partitionEndMs: P0 + PARTITION_MS, series });
    names.push(name);
    bytes += meta.bytes;
    samples += meta.sampleCount;
  }
  return { names, bytes, samples };
}

function mib(b: number): string {
  return (b / 1024 / 1024).toFixed(1);
}

async function main(): Promise<void> {
  registerArrowCodecs();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-bench-compact-'));
  try {
    const inputs = await writeInputs(dataDir);
    console.log(`${SERIES} series x ${SAMPLES} samples (2 h at 15 s) in ${FLUSHES} flush segments + 1 backfill segment: ${inputs.samples} samples, ${mib(inputs.bytes)} MiB`);
    const levels = parseRollupLevels('5m,1h,1d');
    const rows: string[] = [];
    let seq = 100;
    for (const [label, batch] of [
      [`batch ${COMPACTION_SERIES_BATCH_MAX} (default)`, COMPACTION_SERIES_BATCH_MAX],
      ['whole partition', SERIES],
    ] as const) {
      const times: number[] = [];
      let peakRss = 0;
      let peakHeap = 0;
      let out: Awaited<ReturnType<typeof runCompactionTask>> | undefined;
      for (let r = 0; r < RUNS; r++) {
        (globalThis as { gc?: () => void }).gc?.();
        const base = process.memoryUsage();
        let maxRss = base.rss;
        let maxHeap = base.heapUsed + base.arrayBuffers;
        const timer = setInterval(() => {
          const m = process.memoryUsage();
          maxRss = Math.max(maxRss, m.rss);
          maxHeap = Math.max(maxHeap, m.heapUsed + m.arrayBuffers);
        }, 5);
        const t0 = performance.now();
        out = await runCompactionTask({
          dataDir,
          tenant: TENANT,
          partitionStartMs: P0,
          partitionEndMs: P0 + PARTITION_MS,
          inputs: inputs.names,
          rawOutputName: segmentName('raw', P0, seq++),
          levels: levels.map((l) => ({ level: l.name, widthMs: l.widthMs, name: segmentName(l.name, P0, seq++) })),
          seriesBatchMax: batch,
        });
        times.push(performance.now() - t0);
        clearInterval(timer);
        peakRss = Math.max(peakRss, maxRss - base.rss);
        peakHeap = Math.max(peakHeap, maxHeap - base.heapUsed - base.arrayBuffers);
      }
      times.sort((a, b) => a - b);
      const med = times[Math.floor(times.length / 2)]!;
      const o = out!;
      rows.push(
        `| ${label} | ${(med / 1000).toFixed(2)} s | ${((o.samplesIn / med) * 1000 / 1e6).toFixed(2)} M/s | ${o.batchSamplesMax} | +${mib(peakRss)} MiB | +${mib(peakHeap)} MiB |`,
      );
      if (batch === COMPACTION_SERIES_BATCH_MAX) {
        console.log(`merged: ${o.samplesOut} samples, ${mib(o.raw!.bytes)} MiB (${(o.raw!.bytes / o.samplesOut).toFixed(2)} bytes/sample)`);
        for (const l of o.levels) console.log(`level ${l.level}: ${mib(l.manifestEntry.bytes)} MiB (${((l.manifestEntry.bytes / o.raw!.bytes) * 100).toFixed(1)}% of raw)`);
      }
    }
    console.log('\n| series batch | task time (median) | samples read/s | decoded samples held (max batch) | peak RSS over baseline | peak heap+buffers over baseline |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
