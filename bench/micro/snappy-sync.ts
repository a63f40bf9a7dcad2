// Micro-benchmark: snappy decompression of Prometheus-shaped remote-write bodies (~500 KB
// decompressed, 2000 node-exporter-like series), synchronous on the JS thread vs the async call
// that runs in the libuv pool, 4 requests in flight like the server. Reports CPU per body (all
// threads, process.cpuUsage) and, for async, the JS thread's busy time (event-loop utilisation).
// Why: the async hand-off measured about twice the total CPU of the decompression itself, which
// is why REMOTE_WRITE_SNAPPY_SYNC_BYTES_MAX (src/constants.ts) decompresses such bodies in place.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/snappy-sync.js [--rounds N]
import { performance } from 'node:perf_hooks';
import snappy from 'snappy';
import { batches, makeWorkload, PAYLOAD_FORMATS } from '../lib/payloads.js';

const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
const IN_FLIGHT = 4;

async function main(): Promise<void> {
  const format = PAYLOAD_FORMATS.find((f) => f.id === 'prw1')!;
  const bodies: Buffer[] = [];
  for (const b of batches(makeWorkload({ series: 20000, rounds: 3, seriesPerRequest: 2000, endMs: Date.now() }))) bodies.push(format.compress(Buffer.from(format.encodeRaw(b))));
  const n = bodies.length * 4;
  console.log(`${bodies.length} bodies, ~${bodies[0]!.length} bytes compressed, ${snappy.uncompressSync(bodies[0]!, { asBuffer: true }).length} decompressed; ${n} decompressions per round`);
  for (let r = 0; r < ROUNDS; r++) {
    const elu0 = performance.eventLoopUtilization();
    const c0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, j) => {
        for (let k = j; k < n; k += IN_FLIGHT) await snappy.uncompress(bodies[k % bodies.length]!, { asBuffer: true });
      }),
    );
    const elu = performance.eventLoopUtilization(elu0);
    const c = process.cpuUsage(c0);
    const c1 = process.cpuUsage();
    for (let k = 0; k < n; k++) snappy.uncompressSync(bodies[k % bodies.length]!, { asBuffer: true });
    const cs = process.cpuUsage(c1);
    console.log(
      `round ${r + 1}: async ${((c.user + c.system) / n).toFixed(0)} µs CPU per body (JS thread busy ${((elu.active * 1000) / n).toFixed(0)} µs), sync ${((cs.user + cs.system) / n).toFixed(0)} µs`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
