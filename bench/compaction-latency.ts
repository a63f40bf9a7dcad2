// `npm run bench:compaction-latency`: ingest latency idle vs while compacting, repeated.
//
// Why a second harness next to bench:rollup's latency phase: that phase gives one idle window and
// one compaction per run, and on this shared 2-core host a single p99 (the ~4th worst of a few
// hundred requests) moves 2x between runs with the host's speed. Here one backfilled, flushed,
// uncompacted data dir is prepared once, then each cycle starts a server on a fresh copy of it,
// runs the steady writer (bench/lib/rollup-bench/latency.ts) through a settle phase, an idle phase
// and a POST /api/v1/admin/compact, and stops the server; builds (--cli NAME=PATH) take turns,
// in alternating order, so each sees the same hours of the host. Per cycle it also prints the CPU
// seconds of the server's threads during the compaction (tid offset from the pid: 0 is the main
// thread, the next few are V8's platform threads, then libuv's pool, then worker threads).
//
// Run: npm run bench:compaction-latency -- [--days 5] [--cycles 3] [--idle 30s] [--settle 10s]
//        [--cli base=/path/to/other/dist/cli.js] [--cli head=dist/cli.js] [--keep]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { serverCliPath } from './lib/paths.js';
import { readThreadCpuSeconds } from './lib/proc.js';
import { note } from './lib/progress.js';
import { startServer } from './lib/server.js';
import { median, percentile } from './lib/stats.js';
import { adminPost } from './lib/rollup-bench/client.js';
import { RollupDataset } from './lib/rollup-bench/dataset.js';
import { SteadyWriter } from './lib/rollup-bench/latency.js';
import { backfillMocha } from './lib/rollup-bench/load.js';
import { parseSimpleDurationMs } from '../src/rollup/levels.js';

const HOUR_MS = 3_600_000;
const SERVER_ARGS = ['--wal-fsync', 'batch', '--sample-age-max', '0', '--compaction-interval', '0'];

interface Cycle {
  build: string;
  cycle: number;
  compactionMs: number;
  idleP50Ms: number;
  idleP99Ms: number;
  compactingP50Ms: number;
  compactingP99Ms: number;
  compactingMaxMs: number;
  compactingRequests: number;
  /** CPU seconds per server thread during the compaction, by tid - pid. */
  threadCpuS: Record<string, number>;
}

async function prepare(dir: string, days: number, series: number): Promise<void> {
  const endMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const ds = new RollupDataset({ series, scrapeCount: Math.round((days * 24 * HOUR_MS) / 15_000), intervalMs: 15_000, seed: 1, endMs });
  fs.mkdirSync(dir, { recursive: true });
  const s = await startServer({ dataDir: dir, args: SERVER_ARGS, startTimeoutMs: 120_000 });
  try {
    const bf = await backfillMocha(s.url, ds, { senders: 4, samplesPerRequest: 5000, flushEveryScrapes: Math.round((24 * HOUR_MS) / 15_000) });
    await adminPost(s.url, '/api/v1/admin/flush');
    note(`prepared ${bf.samples} samples (${days} d x ${series} series) in ${(bf.ms / 1000).toFixed(1)} s, uncompacted, in ${dir}`);
  } finally {
    await s.stop();
  }
}

async function cycle(build: { name: string; cli: string }, k: number, pristine: string, idleMs: number, settleMs: number): Promise<Cycle> {
  const copy = `${pristine}-run`;
  fs.rmSync(copy, { recursive: true, force: true });
  execFileSync('cp', ['-a', pristine, copy]);
  const s = await startServer({ dataDir: copy, args: SERVER_ARGS, startTimeoutMs: 120_000, cliPath: build.cli });
  try {
    const w = new SteadyWriter(s.url, 1000, 100);
    w.start();
    await new Promise((r) => setTimeout(r, settleMs));
    w.phase = 'idle';
    await new Promise((r) => setTimeout(r, idleMs));
    w.phase = 'compacting';
    const before = readThreadCpuSeconds(s.pid);
    const t0 = performance.now();
    try {
      await adminPost(s.url, '/api/v1/admin/compact');
    } finally {
      w.phase = 'after';
      await w.stop();
    }
    const compactionMs = performance.now() - t0;
    const after = readThreadCpuSeconds(s.pid);
    const threadCpuS: Record<string, number> = {};
    for (const [tid, cpuS] of [...after].sort((a, b) => a[0] - b[0])) {
      const d = cpuS - (before.get(tid) ?? 0);
      if (d >= 0.1) threadCpuS[String(tid - s.pid)] = d;
    }
    const idle = w.latencies.get('idle') ?? [];
    const comp = w.latencies.get('compacting') ?? [];
    return {
      build: build.name,
      cycle: k,
      compactionMs,
      idleP50Ms: percentile(idle, 50),
      idleP99Ms: percentile(idle, 99),
      compactingP50Ms: percentile(comp, 50),
      compactingP99Ms: percentile(comp, 99),
      compactingMaxMs: Math.max(...comp),
      compactingRequests: comp.length,
      threadCpuS,
    };
  } finally {
    await s.stop();
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      days: { type: 'string', default: '5' },
      series: { type: 'string', default: '1000' },
      cycles: { type: 'string', default: '3' },
      idle: { type: 'string', default: '30s' },
      settle: { type: 'string', default: '10s' },
      cli: { type: 'string', multiple: true },
      keep: { type: 'boolean', default: false },
    },
  });
  const idleMs = parseSimpleDurationMs(values.idle!);
  const settleMs = parseSimpleDurationMs(values.settle!);
  if (idleMs === undefined || settleMs === undefined) throw new Error('--idle and --settle take durations like 30s');
  const builds = (values.cli ?? [`this=${serverCliPath()}`]).map((c) => {
    const i = c.indexOf('=');
    if (i <= 0) throw new Error(`--cli takes NAME=PATH, got ${c}`);
    return { name: c.slice(0, i), cli: path.resolve(c.slice(i + 1)) };
  });
  const pristine = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-compaction-latency-'));
  const results: Cycle[] = [];
  try {
    await prepare(pristine, Number(values.days), Number(values.series));
    for (let k = 0; k < Number(values.cycles); k++) {
      for (const b of k % 2 === 0 ? builds : [...builds].reverse()) {
        const c = await cycle(b, k, pristine, idleMs, settleMs);
        results.push(c);
        const threads = Object.entries(c.threadCpuS)
          .map(([t, s]) => `${t}:${s.toFixed(1)}`)
          .join(' ');
        process.stdout.write(
          `${c.build} cycle ${k}: compaction ${(c.compactionMs / 1000).toFixed(1)} s; idle p50/p99 ${c.idleP50Ms.toFixed(1)}/${c.idleP99Ms.toFixed(1)} ms; ` +
            `compacting p50/p99/max ${c.compactingP50Ms.toFixed(1)}/${c.compactingP99Ms.toFixed(1)}/${c.compactingMaxMs.toFixed(1)} ms (${c.compactingRequests} requests); thread CPU s ${threads}\n`,
        );
      }
    }
  } finally {
    if (!values.keep) fs.rmSync(pristine, { recursive: true, force: true });
  }
  process.stdout.write('\nbuild  cycles  median idle p99  median compacting p99  ratio  median compaction\n');
  for (const b of builds) {
    const rs = results.filter((r) => r.build === b.name);
    const idle = median(rs.map((r) => r.idleP99Ms));
    const comp = median(rs.map((r) => r.compactingP99Ms));
    process.stdout.write(`${b.name.padEnd(6)} ${String(rs.length).padStart(6)}  ${idle.toFixed(1).padStart(15)}  ${comp.toFixed(1).padStart(21)}  ${(comp / idle).toFixed(2).padStart(5)}  ${(median(rs.map((r) => r.compactionMs)) / 1000).toFixed(1).padStart(15)} s\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`compaction latency bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
