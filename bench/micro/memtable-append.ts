// Micro-benchmark of the memtable head's hot path: appends/s in order and out of order, the cost
// of sorting out-of-order series on read, appendMany, and heap bytes per sample.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/memtable-append.js
// (re-runs itself with --expose-gc when needed). Options: --series N (default 100000),
// --rounds N (default 128: every series ends with exactly full 16-sample chunks; try 120 for slack).
// Data is generated from fixed seeds up front, so runs are comparable.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Head } from '../../src/memtable/head.js';
import { SeriesRegistry } from '../../src/memtable/series-registry.js';
import { labelsKey, type Labels } from '../../src/model/labels.js';
import { mulberry32 } from '../lib/prng.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const collect = gc!;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const SERIES = arg('series', 100_000);
const ROUNDS = arg('rounds', 128);
const T0_MS = 1_700_000_000_000;
const STEP_MS = 15_000;


function makeRegistry(): { registry: SeriesRegistry; refs: Uint32Array } {
  const registry = new SeriesRegistry();
  const refs = new Uint32Array(SERIES);
  for (let i = 0; i < SERIES; i++) {
    const labels: Labels = [
      { name: '__name__', value: `metric_${i % 100}` },
      { name: 'instance', value: `host-${Math.floor(i / 100) % 1000}:9100` },
      { name: 'job', value: 'node' },
      { name: 'series', value: String(i) },
    ];
    refs[i] = registry.create(labels, labelsKey(labels));
  }
  return { registry, refs };
}

const rnd = mulberry32(42);
const valuesByRound = new Float64Array(ROUNDS);
for (let r = 0; r < ROUNDS; r++) valuesByRound[r] = Math.round(rnd() * 1e6) / 100;

function fmtRate(n: number, ms: number): string {
  return `${((n / ms) * 1000 / 1e6).toFixed(2)} M/s`;
}

collect();
const regBefore = process.memoryUsage();
const { registry, refs } = makeRegistry();
collect();
const regAfter = process.memoryUsage();
const regBytes = regAfter.heapUsed - regBefore.heapUsed + (regAfter.external - regBefore.external);
console.log(
  `memtable-append: ${SERIES} series x ${ROUNDS} rounds (1 sample per series per round); registry (4 labels/series) ` +
    `${(regBytes / SERIES).toFixed(0)} bytes/series measured, bytesEstimate ${(registry.bytesEstimate() / SERIES).toFixed(0)}`,
);

// 1. In order, measuring heap growth too.
{
  collect();
  const before = process.memoryUsage();
  const head = new Head(registry);
  const started = performance.now();
  let firstRoundMs = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t = T0_MS + r * STEP_MS;
    const v = valuesByRound[r]!;
    for (let i = 0; i < SERIES; i++) head.append(refs[i]!, t, v + i);
    if (r === 0) firstRoundMs = performance.now() - started;
  }
  const ms = performance.now() - started;
  const n = SERIES * ROUNDS;
  collect();
  const after = process.memoryUsage();
  // external includes ArrayBuffer backing stores (arrayBuffers is a part of it).
  const heapBytes = after.heapUsed - before.heapUsed + (after.external - before.external);
  const sampleBytes = head.sampleCount * 16;
  const overheadPerSeries = (heapBytes - sampleBytes) / SERIES;
  console.log(`in-order append        ${fmtRate(n, ms)} overall; first round (creates series slots) ${fmtRate(SERIES, firstRoundMs)}; later rounds ${fmtRate(n - SERIES, ms - firstRoundMs)}`);
  console.log(
    `memory (full buffers)  ${(heapBytes / n).toFixed(2)} bytes/sample measured (heap+external); 16.00 of that is samples; ` +
      `per-series overhead ${overheadPerSeries.toFixed(0)} bytes (chunk slack, chain links, SoA slots, ref pages); ` +
      `bytesEstimate ${(head.bytesEstimate() / n).toFixed(2)} bytes/sample`,
  );
  const packStarted = performance.now();
  const packed = head.pack();
  console.log(`pack (sorted input)    ${(performance.now() - packStarted).toFixed(0)} ms for ${packed.timestampsMs.length} samples`);
  // Keep the head alive until after the measurement.
  if (head.sampleCount !== n) throw new Error('lost samples');
}

// 2. Out of order: rounds in descending time, so every append after the first is out of order.
{
  collect();
  const head = new Head(registry);
  const started = performance.now();
  for (let r = ROUNDS - 1; r >= 0; r--) {
    const t = T0_MS + r * STEP_MS;
    const v = valuesByRound[r]!;
    for (let i = 0; i < SERIES; i++) head.append(refs[i]!, t, v + i);
  }
  const ms = performance.now() - started;
  const n = SERIES * ROUNDS;
  console.log(`out-of-order append    ${fmtRate(n, ms)} (every series reversed)`);
  const sortStarted = performance.now();
  let total = 0;
  for (let i = 0; i < SERIES; i++) total += head.samplesOf(refs[i]!, -Infinity, Infinity)!.timestampsMs.length;
  const sortMs = performance.now() - sortStarted;
  console.log(`first read after OOO   ${fmtRate(total, sortMs)} samples sorted (${sortMs.toFixed(0)} ms)`);
}

// 3. Mostly in order with a retried batch: each series gets its last 4 samples again (duplicates).
{
  collect();
  const head = new Head(registry);
  for (let r = 0; r < ROUNDS; r++) {
    const t = T0_MS + r * STEP_MS;
    for (let i = 0; i < SERIES; i++) head.append(refs[i]!, t, valuesByRound[r]!);
  }
  const started = performance.now();
  for (let r = ROUNDS - 4; r < ROUNDS; r++) {
    const t = T0_MS + r * STEP_MS;
    for (let i = 0; i < SERIES; i++) head.append(refs[i]!, t, valuesByRound[r]!);
  }
  const appendMs = performance.now() - started;
  const sortStarted = performance.now();
  const packed = head.pack();
  const sortMs = performance.now() - sortStarted;
  console.log(`retry duplicates       append ${fmtRate(SERIES * 4, appendMs)}; pack with de-dup ${(sortMs).toFixed(0)} ms -> ${packed.timestampsMs.length} samples`);
}

// 4. appendMany: batches of 16 samples per series (remote write carries several samples per series).
{
  collect();
  const head = new Head(registry);
  const BATCH = 16;
  const ts = new Float64Array(BATCH);
  const vs = new Float64Array(BATCH);
  const started = performance.now();
  for (let r = 0; r < ROUNDS; r += BATCH) {
    for (let b = 0; b < BATCH; b++) {
      ts[b] = T0_MS + (r + b) * STEP_MS;
      vs[b] = valuesByRound[(r + b) % ROUNDS]!;
    }
    for (let i = 0; i < SERIES; i++) head.appendMany(refs[i]!, ts, vs);
  }
  const ms = performance.now() - started;
  console.log(`appendMany (16/batch)  ${fmtRate(head.sampleCount, ms)}`);
}
