// Micro-benchmark: the CRC-32 every segment open computes over its files (src/segment/crc32.ts),
// zlib.crc32 (what crc32 is on Node >= 20.15) against the JavaScript slicing-by-8 loop
// (crc32Js, the fallback), alternating, over 1 MiB buffers as crcOfHandle reads them.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/crc32.js [--reps N]
import { performance } from 'node:perf_hooks';
import { crc32, crc32Js } from '../../src/segment/crc32.js';

const repsAt = process.argv.indexOf('--reps');
const REPS = repsAt >= 0 ? Number(process.argv[repsAt + 1]) : 11;
const BUFFER_BYTES = 1 << 20;
const BUFFERS_PER_REP = 100;

const buf = new Uint8Array(BUFFER_BYTES);
for (let i = 0; i < buf.length; i++) buf[i] = Math.imul(i, 0x9e3779b1) >>> 24;

function mbPerS(f: (b: Uint8Array, c?: number) => number): { mbPerS: number; crc: number } {
  const t0 = performance.now();
  let crc = 0;
  for (let i = 0; i < BUFFERS_PER_REP; i++) crc = f(buf, crc);
  return { mbPerS: (BUFFERS_PER_REP * BUFFER_BYTES) / 1e6 / ((performance.now() - t0) / 1e3), crc };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const used: number[] = [];
const js: number[] = [];
for (let r = 0; r < REPS; r++) {
  const a = mbPerS(crc32);
  const b = mbPerS(crc32Js);
  if (a.crc !== b.crc) throw new Error(`crc32 ${a.crc} != crc32Js ${b.crc}`);
  used.push(a.mbPerS);
  js.push(b.mbPerS);
}
console.log(`crc32 (${crc32 === crc32Js ? 'JavaScript: this Node has no zlib.crc32' : 'zlib.crc32'}): median ${median(used).toFixed(0)} MB/s`);
console.log(`crc32Js: median ${median(js).toFixed(0)} MB/s; ratio ${(median(used) / median(js)).toFixed(2)}x (${REPS} alternating reps of ${BUFFERS_PER_REP} MiB)`);
