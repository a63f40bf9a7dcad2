// Micro-benchmark: int64 columns (chunk and block time bounds of samples.arrow / buckets.arrow,
// read once per record batch) as numbers: int64sAsNumbers (two 32-bit halves through a
// DataView) against the BigInt64Array + Number() it replaced, alternating, same results checked.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/int64s.js [--reps N]
import { performance } from 'node:perf_hooks';
import { MochaError } from '../../src/errors.js';
import { int64sAsNumbers } from '../../src/segment/reader.js';

const repsAt = process.argv.indexOf('--reps');
const REPS = repsAt >= 0 ? Number(process.argv[repsAt + 1]) : 11;
/** A level batch of 1000 series' blocks; 200 batches per rep (~31 segments x 2 columns x 3 reads). */
const ROWS = 1000;
const BATCHES = 200;

const bytes = new Uint8Array(ROWS * 8);
const view = new DataView(bytes.buffer);
for (let i = 0; i < ROWS; i++) view.setBigInt64(8 * i, 1796259600000n + BigInt(i) * 3_600_000n, true);
const bad = (msg: string) => new MochaError('SEGMENT_CORRUPT', msg, { file: 'bench' });

function viaBigInts(buf: Uint8Array, n: number): Float64Array {
  const big = new BigInt64Array(buf.buffer, buf.byteOffset, n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(big[i]!);
  return out;
}

function msOf(f: () => Float64Array): { ms: number; last: Float64Array } {
  const t0 = performance.now();
  let last: Float64Array = new Float64Array(0);
  for (let b = 0; b < BATCHES; b++) last = f();
  return { ms: performance.now() - t0, last };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const halves: number[] = [];
const bigints: number[] = [];
for (let r = 0; r < REPS; r++) {
  const a = msOf(() => int64sAsNumbers(bytes, ROWS, bad, 'x'));
  const b = msOf(() => viaBigInts(bytes, ROWS));
  if (a.last.some((v, i) => v !== b.last[i])) throw new Error('int64sAsNumbers differs from Number(BigInt)');
  halves.push(a.ms);
  bigints.push(b.ms);
}
const perValue = (ms: number) => ((ms * 1e6) / (ROWS * BATCHES)).toFixed(1);
console.log(`int64sAsNumbers (halves): median ${median(halves).toFixed(2)} ms per ${BATCHES} x ${ROWS} values (${perValue(median(halves))} ns each)`);
console.log(`BigInt64Array + Number(): median ${median(bigints).toFixed(2)} ms (${perValue(median(bigints))} ns each); ratio ${(median(bigints) / median(halves)).toFixed(1)}x (${REPS} alternating reps)`);
