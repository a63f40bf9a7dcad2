// Micro-benchmark: gzip inflate of OTLP/protobuf bodies shaped like the ingest bench's (2000
// node-exporter-like series per request, PAYLOAD_FORMATS' otlp), three ways, 4 requests in flight
// like the server: zlib's stream fed in 64 KiB chunks (what src/api/otlp.ts does for bodies
// without a small Content-Length), the async one-shot zlib.gunzip, and zlib.gunzipSync with
// maxOutputLength, with zlib's 16 KiB chunks and with one chunk of the size the gzip trailer
// declares (what it does for bodies up to OTLP_GZIP_SYNC_BYTES_MAX). Reports CPU per body
// (all threads, process.cpuUsage) and, for the async ways, the JS thread's busy time.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/gunzip-sync.js [--rounds N]
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { batches, makeWorkload, PAYLOAD_FORMATS } from '../lib/payloads.js';
import { gunzipChunkBytes } from '../../src/api/otlp.js';
import { OTLP_BODY_BYTES_MAX } from '../../src/constants.js';

const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
const IN_FLIGHT = 4;
const CHUNK_BYTES = 64 * 1024;

function streamInflate(body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const g = zlib.createGunzip();
    g.on('data', (c: Buffer) => chunks.push(c));
    g.on('end', () => resolve(Buffer.concat(chunks)));
    g.on('error', reject);
    const parts = Array.from({ length: Math.ceil(body.length / CHUNK_BYTES) }, (_, i) => body.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    Readable.from(parts).pipe(g);
  });
}

function oneShot(body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => zlib.gunzip(body, { maxOutputLength: OTLP_BODY_BYTES_MAX }, (e, out) => (e ? reject(e) : resolve(out))));
}

async function timed(name: string, n: number, bodies: Buffer[], f: (b: Buffer) => Promise<Buffer>): Promise<string> {
  const elu0 = performance.eventLoopUtilization();
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, j) => {
      for (let k = j; k < n; k += IN_FLIGHT) await f(bodies[k % bodies.length]!);
    }),
  );
  const elu = performance.eventLoopUtilization(elu0);
  const c = process.cpuUsage(c0);
  return `${name} ${((c.user + c.system) / n).toFixed(0)} µs CPU/body (JS thread ${((elu.active * 1000) / n).toFixed(0)} µs)`;
}

async function main(): Promise<void> {
  const format = PAYLOAD_FORMATS.find((f) => f.id === 'otlp')!;
  const bodies: Buffer[] = [];
  for (const b of batches(makeWorkload({ series: 20000, rounds: 3, seriesPerRequest: 2000, endMs: Date.now() }))) bodies.push(format.compress(Buffer.from(format.encodeRaw(b))));
  const n = bodies.length * 4;
  console.log(`${bodies.length} bodies, ~${bodies[0]!.length} bytes compressed, ${zlib.gunzipSync(bodies[0]!).length} decompressed; ${n} inflates per way per round`);
  for (let r = 0; r < ROUNDS; r++) {
    const s = await timed('stream', n, bodies, streamInflate);
    const a = await timed('gunzip async', n, bodies, oneShot);
    const c1 = process.cpuUsage();
    for (let k = 0; k < n; k++) zlib.gunzipSync(bodies[k % bodies.length]!, { maxOutputLength: OTLP_BODY_BYTES_MAX });
    const cs = process.cpuUsage(c1);
    const c2 = process.cpuUsage();
    for (let k = 0; k < n; k++) {
      const b = bodies[k % bodies.length]!;
      zlib.gunzipSync(b, { maxOutputLength: OTLP_BODY_BYTES_MAX, chunkSize: gunzipChunkBytes(b, OTLP_BODY_BYTES_MAX) });
    }
    const ch = process.cpuUsage(c2);
    console.log(
      `round ${r + 1}: ${s}; ${a}; gunzipSync ${((cs.user + cs.system) / n).toFixed(0)} µs CPU/body; gunzipSync, one chunk of the trailer's size (src/api/otlp.ts) ${((ch.user + ch.system) / n).toFixed(0)} µs CPU/body`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
