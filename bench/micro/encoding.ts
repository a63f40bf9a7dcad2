// Micro-benchmark of the segment encodings: bytes per sample of a whole segment on disk (all
// files) and encode/decode speed, on fixed-seed data generated up front.
//   (a) node-exporter-like: 2 h at 15 s, mostly constant series and small-increment integer
//       counters, some decimal counters and gauges; scrape jitter of ±3 ms shared by all series
//       of a target (one scrape = one timestamp for all its series, as Prometheus does), and a
//       variant where every series has its own jitter (worst case for timestamps).
//   (b) random-walk float gauges (arbitrary doubles: Gorilla XOR territory).
// Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/encoding.js
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildSegmentFiles, writeSegment, type SegmentSeriesInput } from '../../src/segment/writer.js';
import { SegmentReader } from '../../src/segment/reader.js';
import { registerArrowCodecs, type SegmentCompression } from '../../src/segment/codecs.js';
import { ByteSink, ByteSource, decodeValues, encodeValues, encodeTimestamps, decodeTimestamps, VALUE_ENCODING_NAMES } from '../../src/segment/encoding/index.js';
import { PARTITION_MS } from '../../src/constants.js';
import { mulberry32 } from '../lib/prng.js';


const P0 = Math.floor(1_700_000_000_000 / PARTITION_MS) * PARTITION_MS;
const SAMPLES = 480; // 2 h at 15 s
const STEP_MS = 15_000;

function scrapeTimes(rnd: () => number): Float64Array {
  const t = new Float64Array(SAMPLES);
  const offset = Math.floor(rnd() * STEP_MS);
  for (let i = 0; i < SAMPLES; i++) t[i] = P0 + offset + i * STEP_MS + Math.floor(rnd() * 7) - 3;
  return t;
}

function nodeExporter(seriesCount: number, targets: number, sharedJitter: boolean, seed: number): SegmentSeriesInput[] {
  const rnd = mulberry32(seed);
  const targetTimes = Array.from({ length: targets }, () => scrapeTimes(rnd));
  const out: SegmentSeriesInput[] = [];
  for (let i = 0; i < seriesCount; i++) {
    const target = i % targets;
    const ts = sharedJitter ? targetTimes[target]! : scrapeTimes(rnd);
    const v = new Float64Array(SAMPLES);
    const kind = rnd();
    let name: string;
    if (kind < 0.5) {
      name = 'node_constant_info'; // sizes, info=1, limits, boot time
      v.fill(rnd() < 0.5 ? 1 : Math.floor(rnd() * 1e10));
    } else if (kind < 0.8) {
      name = 'node_small_counter_total'; // interrupts, errors, packets on idle NICs
      let x = Math.floor(rnd() * 1e6);
      const rate = rnd() * rnd() * 20;
      for (let k = 0; k < SAMPLES; k++) v[k] = x += rnd() < 0.3 ? 0 : Math.floor(rnd() * rate);
    } else if (kind < 0.9) {
      name = 'node_cpu_seconds_total'; // 2-decimal counters
      let x = Math.floor(rnd() * 1e7);
      for (let k = 0; k < SAMPLES; k++) v[k] = (x += Math.floor(rnd() * 1500)) / 100;
    } else {
      name = 'node_load1'; // 2-decimal gauges
      let x = 100;
      for (let k = 0; k < SAMPLES; k++) v[k] = (x = Math.max(0, x + Math.floor((rnd() - 0.5) * 20))) / 100;
    }
    out.push({
      labels: [
        { name: '__name__', value: name },
        { name: 'instance', value: `host-${target}:9100` },
        { name: 'job', value: 'node' },
        { name: 'series', value: String(i) },
      ],
      timestampsMs: ts,
      values: v,
    });
  }
  return out;
}

function randomWalk(seriesCount: number, seed: number): SegmentSeriesInput[] {
  const rnd = mulberry32(seed);
  const times = scrapeTimes(rnd);
  return Array.from({ length: seriesCount }, (_, i) => {
    const v = new Float64Array(SAMPLES);
    let x = rnd() * 100;
    for (let k = 0; k < SAMPLES; k++) v[k] = x += (rnd() - 0.5) * 0.7;
    return { labels: [{ name: '__name__', value: 'walk' }, { name: 'series', value: String(i) }], timestampsMs: times, values: v };
  });
}

function segmentBytes(series: SegmentSeriesInput[], compression: SegmentCompression, chunk: number) {
  const started = performance.now();
  const built = buildSegmentFiles('raw-bench-00000001', { tenant: 'bench', level: 'raw', partitionStartMs: P0, partitionEndMs: P0 + PARTITION_MS, series }, compression, chunk);
  const ms = performance.now() - started;
  return { meta: built.meta, ms };
}

function encoderStats(series: SegmentSeriesInput[]) {
  const sink = new ByteSink(1 << 20);
  const tags = new Map<string, number>();
  let samples = 0;
  let t0 = performance.now();
  let tsBytes = 0;
  for (const s of series) {
    sink.reset();
    encodeTimestamps(sink, s.timestampsMs, 0, s.timestampsMs.length);
    tsBytes += sink.length;
  }
  const tsEncMs = performance.now() - t0;
  let valBytes = 0;
  t0 = performance.now();
  const encoded: Uint8Array[] = [];
  for (const s of series) {
    sink.reset();
    const tag = encodeValues(sink, s.values, 0, s.values.length);
    tags.set(VALUE_ENCODING_NAMES[tag]!, (tags.get(VALUE_ENCODING_NAMES[tag]!) ?? 0) + 1);
    valBytes += sink.length;
    samples += s.values.length;
    encoded.push(sink.view().slice());
  }
  const valEncMs = performance.now() - t0;
  const out = new Float64Array(SAMPLES);
  t0 = performance.now();
  for (const e of encoded) decodeValues(new ByteSource(e), out, 0, SAMPLES);
  const valDecMs = performance.now() - t0;
  const tsEnc: Uint8Array[] = series.map((s) => {
    sink.reset();
    encodeTimestamps(sink, s.timestampsMs, 0, s.timestampsMs.length);
    return sink.view().slice();
  });
  t0 = performance.now();
  for (const e of tsEnc) decodeTimestamps(new ByteSource(e), out, 0, SAMPLES);
  const tsDecMs = performance.now() - t0;
  const mps = (ms: number) => (samples / ms / 1000).toFixed(1);
  return {
    rawTsBytesPerSample: (tsBytes / samples).toFixed(3),
    rawValueBytesPerSample: (valBytes / samples).toFixed(3),
    valueEncodings: Object.fromEntries(tags),
    encodeMSamplesPerS: { timestamps: mps(tsEncMs), values: mps(valEncMs) },
    decodeMSamplesPerS: { timestamps: mps(tsDecMs), values: mps(valDecMs) },
  };
}

async function readBack(series: SegmentSeriesInput[]): Promise<{ openMs: number; selectMs: number; mSamplesPerS: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mocha-bench-'));
  try {
    await writeSegment(dir, 'raw-bench-00000001', { tenant: 'bench', level: 'raw', partitionStartMs: P0, partitionEndMs: P0 + PARTITION_MS, series });
    let t0 = performance.now();
    const r = await SegmentReader.open(path.join(dir, 'raw-bench-00000001'));
    const openMs = performance.now() - t0;
    t0 = performance.now();
    const got = await r.select([], -Infinity, Infinity, true);
    const selectMs = performance.now() - t0;
    r.close();
    const samples = got.reduce((a, s) => a + s.timestampsMs.length, 0);
    return { openMs: Math.round(openMs), selectMs: Math.round(selectMs), mSamplesPerS: (samples / selectMs / 1000).toFixed(1) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  registerArrowCodecs();
  const datasets: Record<string, SegmentSeriesInput[]> = {
    'node-exporter (2000 series, shared scrape jitter)': nodeExporter(2000, 2, true, 1),
    'node-exporter (2000 series, per-series jitter)': nodeExporter(2000, 2, false, 1),
    'random-walk floats (1000 series)': randomWalk(1000, 2),
  };
  for (const [name, series] of Object.entries(datasets)) {
    const samples = series.reduce((a, s) => a + s.timestampsMs.length, 0);
    console.log(`\n== ${name}: ${samples} samples`);
    console.log('encoders alone (before Arrow/zstd):', JSON.stringify(encoderStats(series)));
    for (const chunk of [120, 240, 480, 1024]) {
      const row: string[] = [];
      for (const c of ['zstd', 'lz4', 'none'] as const) {
        const { meta, ms } = segmentBytes(series, c, chunk);
        row.push(`${c} ${(meta.bytes / samples).toFixed(3)} B/sample (${meta.files['samples.arrow']!.bytes}+${meta.files['series.arrow']!.bytes}+${meta.files['postings.arrow']!.bytes} B, build ${Math.round(ms)} ms)`);
      }
      console.log(`chunk ${chunk}: ${row.join(' | ')}`);
    }
    console.log('read back (zstd, chunk 480, select all):', JSON.stringify(await readBack(series)));
  }
}

await main();
