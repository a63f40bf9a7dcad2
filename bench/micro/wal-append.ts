// Micro-benchmark of the WAL: encode throughput, append throughput under both fsync policies
// with sequential and concurrent writers (group commit), append latency, and replay throughput.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/wal-append.js
// Options: --mb N (bytes of log per scenario, default 256), --samples N (samples per append,
// default 2000, about one remote-write request), --clients N (concurrent writers, default 16),
// --dir PATH (where the temp WAL lives, default os.tmpdir()). Data is generated up front from a
// fixed seed, so runs are comparable. MB/s counts framed record bytes written (1 MB = 10^6 bytes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../lib/prng.js';
import { ByteArena, encodeFrameInto, encodeRecord } from '../../src/wal/records.js';
import { Wal, type WalFsyncPolicy, type WalRecord } from '../../src/wal/wal.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
function argStr(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const MB = 1e6;
const TARGET_BYTES = arg('mb', 256) * MB;
const SAMPLES_PER_APPEND = arg('samples', 2000);
const CLIENTS = arg('clients', 16);
const BASE_DIR = argStr('dir', os.tmpdir());
const DISTINCT_BATCHES = 64;

/** Like a remote-write request: many series, timestamps within a scrape interval, random values. */
function makeBatches(): WalRecord[] {
  const rnd = mulberry32(2024);
  const out: WalRecord[] = [];
  for (let b = 0; b < DISTINCT_BATCHES; b++) {
    const n = SAMPLES_PER_APPEND;
    const refs = new Uint32Array(n);
    const timestampsMs = new Float64Array(n);
    const values = new Float64Array(n);
    const t0 = 1_700_000_000_000 + b * 15_000;
    for (let i = 0; i < n; i++) {
      refs[i] = 1 + Math.floor(rnd() * 1_000_000);
      timestampsMs[i] = t0 + Math.floor(rnd() * 15_000);
      values[i] = Math.round(rnd() * 1e6) / 100;
    }
    out.push({ type: 'samples', tenant: 'default', refs, timestampsMs, values });
  }
  return out;
}

const batches = makeBatches();
const frameBytes = encodeRecord(batches[0]!).length;
const appendsPerScenario = Math.max(1, Math.ceil(TARGET_BYTES / frameBytes));

interface Result {
  scenario: string;
  appends: number;
  mbPerS: number;
  samplesPerS: number;
  fsyncs: number;
  latencyMsP50?: number;
  latencyMsP99?: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function benchEncode(): Result {
  const arena = new ByteArena(frameBytes * 64);
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < appendsPerScenario; i++) {
    if (arena.length + frameBytes > arena.buf.length) arena.length = 0;
    bytes += encodeFrameInto(batches[i % DISTINCT_BATCHES]!, arena);
  }
  const s = (performance.now() - t0) / 1000;
  return { scenario: 'encode only (CRC-32C included)', appends: appendsPerScenario, mbPerS: bytes / MB / s, samplesPerS: (appendsPerScenario * SAMPLES_PER_APPEND) / s, fsyncs: 0 };
}

async function benchAppend(policy: WalFsyncPolicy, clients: number): Promise<{ result: Result; dir: string }> {
  const dir = fs.mkdtempSync(path.join(BASE_DIR, 'mocha-wal-bench-'));
  const wal = await Wal.open({ dir, fsync: policy });
  await wal.replay(1, () => undefined);
  const latencies = new Float64Array(appendsPerScenario);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= appendsPerScenario) return;
        const started = performance.now();
        await wal.append([batches[i % DISTINCT_BATCHES]!]);
        latencies[i] = performance.now() - started;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  const st = wal.stats();
  await wal.close();
  latencies.sort();
  return {
    dir,
    result: {
      scenario: `append fsync=${policy}, ${clients} writer${clients === 1 ? '' : 's'}`,
      appends: appendsPerScenario,
      mbPerS: st.bytesWritten / MB / s,
      samplesPerS: (appendsPerScenario * SAMPLES_PER_APPEND) / s,
      fsyncs: st.fsyncs,
      latencyMsP50: percentile(latencies, 0.5),
      latencyMsP99: percentile(latencies, 0.99),
    },
  };
}

async function benchReplay(dir: string): Promise<Result> {
  const wal = await Wal.open({ dir });
  let samples = 0;
  const t0 = performance.now();
  const report = await wal.replay(1, (rec) => {
    if (rec.type !== 'exemplars') samples += rec.refs.length;
  });
  const s = (performance.now() - t0) / 1000;
  await wal.close();
  return { scenario: 'replay (read + CRC + decode)', appends: report.recordsRead, mbPerS: report.bytesRead / MB / s, samplesPerS: samples / s, fsyncs: 0 };
}

async function main(): Promise<void> {
  process.stdout.write(
    `WAL micro-benchmark: ${appendsPerScenario} appends of ${SAMPLES_PER_APPEND} samples (${frameBytes} bytes framed, ${(frameBytes / SAMPLES_PER_APPEND).toFixed(1)} B/sample) per scenario, in ${BASE_DIR}\n`,
  );
  const results: Result[] = [benchEncode()];
  const dirs: string[] = [];
  try {
    for (const [policy, clients] of [
      ['batch', 1],
      ['batch', CLIENTS],
      ['off', 1],
      ['off', CLIENTS],
    ] as Array<[WalFsyncPolicy, number]>) {
      const { result, dir } = await benchAppend(policy, clients);
      results.push(result);
      dirs.push(dir);
    }
    results.push(await benchReplay(dirs[1]!));
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  const rows = results.map((r) => [
    r.scenario,
    String(r.appends),
    r.mbPerS.toFixed(1),
    (r.samplesPerS / 1e6).toFixed(2),
    String(r.fsyncs),
    r.latencyMsP50 === undefined ? '' : r.latencyMsP50.toFixed(2),
    r.latencyMsP99 === undefined ? '' : r.latencyMsP99.toFixed(2),
  ]);
  const head = ['scenario', 'appends', 'MB/s', 'Msamples/s', 'fsyncs', 'p50 ms', 'p99 ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + '\n';
  process.stdout.write(line(head));
  for (const r of rows) process.stdout.write(line(r));
  process.stdout.write(JSON.stringify({ bench: 'wal-append', node: process.version, frameBytes, samplesPerAppend: SAMPLES_PER_APPEND, results }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`wal-append bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
