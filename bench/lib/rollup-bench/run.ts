// The rollup pyramid benchmark (issue #5, "Measure" and "ingest while compacting"):
//  1. backfill `days` of `series` series into mocha through remote write, flushing as it goes;
//  2. a steady writer of current data runs while idle and then while POST /api/v1/admin/compact
//     compacts the backfill (builds the levels): request latency p99 in both phases;
//  3. bytes per level (manifest, directories, /metrics);
//  4. the same data into Prometheus through promtool's OpenMetrics backfill;
//  5. the two 30-day queries at a 1 h step from mocha's pyramid (resolution=auto), mocha forced to
//     raw (resolution=raw) and Prometheus, interleaved run by run; medians, ratios, answers compared.
// With `reuse` (--reuse-mocha, reuse.ts) steps 1-2 and 4's load are replaced by copies of dirs kept
// from an earlier run (--keep-data), to iterate on query speed without the ~45 min of loading;
// the report says so in `reused`, and the phases not run are `skipped` with the reason.
// Missing pieces (an endpoint answering 404, no Prometheus binary, a query that fails) are
// reported in `notes` and the affected rows, never silently skipped.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, tempDataDir } from '../server.js';
import { MemSampler, QUIET_BUSY_SHARE_MAX, readCpuSeconds, waitForQuietCpu } from '../proc.js';
import { median, percentile } from '../stats.js';
import { note, Progress } from '../progress.js';
import { scrapeServerMetrics } from '../server-metrics.js';
import { serverCliPath } from '../paths.js';
import { compareAnswers, type Agreement } from '../query-bench/compare.js';
import { adminPost, collectClientHeap, queryRange, timedQueryRange, type RangeAnswer, type RangeQuery } from './client.js';
import { COUNTER_METRIC, GAUGE_METRIC, GROUP_LABEL, RollupDataset } from './dataset.js';
import { backfillMocha, type BackfillResult } from './load.js';
import { SteadyWriter } from './latency.js';
import { levelsFromManifest, levelsFromMetrics, levelsOnDisk, type LevelBytes } from './levels.js';
import { OpenMetricsWriter } from './openmetrics.js';
import { parseSimpleDurationMs } from '../../../src/rollup/levels.js';
import { countBlocks, findPrometheusBinaries, promtoolCreateBlocks, startPrometheusOn, type PrometheusOnBlocks } from './prometheus.js';
import { copyBlocksInto, copyToTemp, DATASET_FORMAT, resolveReuse, verifyReusedData, writeDatasetRecord, type RollupReuseOptions } from './reuse.js';
import type { BenchServer } from '../server.js';

export const HOUR_MS = 3_600_000;

export interface RollupBenchOptions {
  days: number;
  series: number;
  intervalMs: number;
  seed: number;
  runs: number;
  senders: number;
  samplesPerRequest: number;
  /** Flush mocha after every this much data time (ms) of the backfill. */
  flushEveryMs: number;
  /** Steady writer during the latency phases. */
  liveSeries: number;
  livePeriodMs: number;
  /** Length of the idle phase (ms) before the compaction starts. */
  idleMs: number;
  /** Steady writing after the backfill before the idle phase starts (the last flush's aftermath, series creation). */
  settleMs: number;
  /** Before each timed query, wait at most this long for an idle machine (waitForQuietCpu); 0: no wait. */
  idleWaitMaxMs: number;
  /** Skip Prometheus even when installed. */
  noPrometheus: boolean;
  /** promtool --max-block-duration. */
  promBlockDuration: string;
  relTolerance: number;
  walFsync: 'batch' | 'off';
  mochaArgs: string[];
  /** Server entry point other than dist/cli.js (e.g. a build of another branch). */
  cliPath?: string;
  keepData: boolean;
  /** Measure on data kept from an earlier run instead of loading it (reuse.ts). */
  reuse?: RollupReuseOptions;
  quiet: boolean;
  command?: string;
}

export const DEFAULT_ROLLUP_OPTIONS: RollupBenchOptions = {
  days: 30,
  series: 1000,
  intervalMs: 15_000,
  seed: 1,
  runs: 7,
  senders: 4,
  samplesPerRequest: 5000,
  flushEveryMs: 24 * HOUR_MS,
  liveSeries: 1000,
  livePeriodMs: 100,
  idleMs: 60_000,
  settleMs: 10_000,
  idleWaitMaxMs: 5000,
  noPrometheus: false,
  promBlockDuration: '54h',
  relTolerance: 1e-9,
  walFsync: 'batch',
  mochaArgs: [],
  keepData: false,
  quiet: false,
};

export type Target = 'pyramid' | 'raw' | 'prometheus';

export interface TargetTiming {
  /** Why there is no timing (endpoint missing, query failed, Prometheus absent). */
  error?: string;
  medianMs?: number;
  p90Ms?: number;
  minMs?: number;
  maxMs?: number;
  runsMs?: number[];
  series?: number;
  points?: number;
  /** mocha: data.stats.rollup of the warm-up answer (stats=all), as the server reports it. */
  rollupStats?: unknown;
}

export interface QueryReport {
  name: string;
  query: string;
  startS: number;
  endS: number;
  stepS: number;
  targets: Record<Target, TargetTiming>;
  /**
   * The pyramid query repeated back to back (runs times, after the interleaved runs), as a
   * dashboard refreshing it does: the interleaved runs each follow a raw (and Prometheus) query,
   * whose decoded samples may have pushed the pyramid's out of memory and left garbage to collect.
   */
  pyramidRepeated?: TargetTiming;
  /** raw median / pyramid median (how much faster the pyramid is). */
  speedupVsRaw?: number;
  speedupVsPrometheus?: number;
  agreement: { pair: string; agreement: Agreement }[];
}

export interface LatencyPhase {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Mean runnable threads on the machine at the phase's requests (Linux), for 2 cores here. */
  runnableMean?: number;
}

export interface Goal {
  name: string;
  /** undefined: not measurable in this run (why in `detail`). */
  pass?: boolean;
  detail: string;
}

export type LoadReport = Omit<BackfillResult, 'latencyMs'> & { samplesPerSecond: number; requestP50Ms: number; requestP99Ms: number; serverCpuS?: number; serverSamplesIngested?: number };

export interface RollupBenchReport {
  version: 1;
  startedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; node: string; loadAvg1Start: number; loadAvg1End: number };
  scenario: { series: number; counters: number; gauges: number; days: number; intervalMs: number; samples: number; dataStart: string; dataEnd: string; seed: number; runs: number; senders: number; samplesPerRequest: number; walFsync: string; mochaArgs: string[] };
  /**
   * Present when the data came from kept dirs (--reuse-mocha): no backfill, compaction, latency
   * phase or promtool load ran in this run; the dirs were copied and the copies measured.
   */
  /** With keepData: the mocha data dir left behind (what --reuse-mocha and bench:cold take). */
  keptMochaDir?: string;
  reused?: {
    mochaDir: string;
    /** The dataset file read, or the flags that described the data. */
    datasetFrom: string;
    mochaCopyMs: number;
    /** What verifyReusedData checked against the generator. */
    verified: string;
    prometheusDir?: string;
  };
  /** Every field but `skipped` is set when the backfill ran; `skipped` (the reason) when not. */
  load: Partial<LoadReport> & { skipped?: string };
  compaction: { available: boolean; ms?: number; response?: string; serverCpuS?: number; skipped?: string };
  latency: { liveSeries: number; periodMs: number; idle?: LatencyPhase; compacting?: LatencyPhase; ratioP99?: number; retries: number; status429: number; skipped?: string };
  levels: { manifest?: LevelBytes[]; disk: LevelBytes[]; metrics: { metric: string; level: string; bytes: number }[]; rawBytes: number; levelBytes: number; levelsPctOfRaw?: number };
  /** Over the whole run: with reused data, the queries (and the bytes-per-level phase) only. */
  memory: { mochaPeakRssBytes: number };
  /** reusedFrom, copyMs: blocks copied from a kept dir instead of built with promtool. */
  prometheus: { skipped?: string; version?: string; promtoolRuns?: number; openMetricsBytes?: number; openMetricsMs?: number; promtoolMs?: number; blocks?: number; blockBytes?: number; startMs?: number; blockDuration?: string; reusedFrom?: string; copyMs?: number };
  queries: QueryReport[];
  goals: Goal[];
  notes: string[];
}

function latencyPhase(xs: number[] | undefined, runnable?: number[]): LatencyPhase | undefined {
  if (xs === undefined || xs.length === 0) return undefined;
  const runnableMean = runnable !== undefined && runnable.length > 0 ? runnable.reduce((a, b) => a + b, 0) / runnable.length : undefined;
  return { requests: xs.length, p50Ms: median(xs), p99Ms: percentile(xs, 99), maxMs: Math.max(...xs), ...(runnableMean !== undefined ? { runnableMean } : {}) };
}

export function rollupQueries(ds: RollupDataset): (RangeQuery & { name: string })[] {
  // Aligned to the hour: the first evaluation's 1 h window holds the first hour of data.
  const startS = (ds.startMs + HOUR_MS) / 1000;
  const endS = ds.endMs / 1000;
  return [
    { name: `sum by (${GROUP_LABEL}) rate 1h`, query: `sum by (${GROUP_LABEL}) (rate(${COUNTER_METRIC}[1h]))`, startS, endS, stepS: 3600 },
    { name: 'avg_over_time 1h', query: `avg_over_time(${GAUGE_METRIC}[1h])`, startS, endS, stepS: 3600 },
    // Grafana's $__rate_interval at a 1 h step (step + the 15 s scrape interval): edge extension.
    { name: `sum by (${GROUP_LABEL}) rate $__rate_interval`, query: `sum by (${GROUP_LABEL}) (rate(${COUNTER_METRIC}[1h15s]))`, startS, endS, stepS: 3600 },
  ];
}

/** The server's --help text ('' if it cannot be run), to pass only flags the build knows. */
function serverHelp(cli: string): string {
  try {
    return execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch {
    return '';
  }
}

export async function runRollupBench(opts: RollupBenchOptions): Promise<RollupBenchReport> {
  const startedAt = new Date().toISOString();
  const loadAvg1Start = os.loadavg()[0]!;
  const notes: string[] = [];
  const say = (m: string) => note(m, opts.quiet);
  // Reusing kept data: its dataset (from its rollup-bench-dataset.json, or the flags) replaces the
  // options' days, series, interval, seed and end, so the queries are the kept run's.
  const reuse = opts.reuse !== undefined ? resolveReuse(opts.reuse, opts) : undefined;
  const o: RollupBenchOptions = reuse === undefined ? opts : { ...opts, days: reuse.days, series: reuse.series, intervalMs: reuse.intervalMs, seed: reuse.seed, promBlockDuration: reuse.promBlockDuration };
  const endMs = reuse?.endMs ?? Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const scrapeCount = Math.round((o.days * 24 * HOUR_MS) / o.intervalMs);
  const ds = new RollupDataset({ series: o.series, scrapeCount, intervalMs: o.intervalMs, seed: o.seed, endMs });
  say(`data: ${ds.counterCount} counters + ${ds.gaugeCount} gauges x ${scrapeCount} samples (${o.days} d at ${o.intervalMs / 1000} s) = ${ds.sampleCount} samples, ${new Date(ds.startMs).toISOString()} .. ${new Date(ds.endMs).toISOString()}`);
  const datasetFrom = reuse === undefined ? undefined : (reuse.datasetFile ?? `flags: --data-end ${reuse.endMs / 1000} --days ${o.days} --series ${o.series} --interval ${o.intervalMs / 1000}s --seed ${o.seed}`);
  const skippedWhy = reuse === undefined ? undefined : `data reused from ${reuse.mochaDir}`;

  // Compaction only when the harness asks (so the idle phase is idle and the compaction it times
  // is the whole job), where the build has the flag.
  const cli = o.cliPath ?? serverCliPath();
  const background = serverHelp(cli).includes('--compaction-interval') && !o.mochaArgs.includes('--compaction-interval') ? ['--compaction-interval', '0'] : [];
  // A raw 30-day query loads more than the default 50M samples: raise the bound where the build has the flag.
  const samplesBound = serverHelp(cli).includes('--query-samples-max') && !o.mochaArgs.includes('--query-samples-max') ? ['--query-samples-max', '2000000000'] : [];
  const mochaArgs = ['--wal-fsync', o.walFsync, '--sample-age-max', '0', ...background, ...samplesBound, ...o.mochaArgs];
  // The server writes to its data dir (WAL, manifest, metadata.json, a flush): a copy, so the kept
  // dir serves the next run as it is.
  let mochaCopy: { dir: string; ms: number } | undefined;
  if (reuse !== undefined) {
    say(`reusing ${reuse.mochaDir} (dataset from ${datasetFrom}): copying it`);
    mochaCopy = copyToTemp(reuse.mochaDir, 'mocha-rollup-reuse-');
    say(`copied to ${mochaCopy.dir} in ${(mochaCopy.ms / 1000).toFixed(1)} s`);
  }
  let mocha: BenchServer;
  try {
    mocha = await startServer({ args: mochaArgs, startTimeoutMs: 120_000, cliPath: cli, ...(mochaCopy !== undefined ? { dataDir: mochaCopy.dir } : {}) });
  } catch (e) {
    if (mochaCopy !== undefined && !o.keepData) fs.rmSync(mochaCopy.dir, { recursive: true, force: true });
    throw e;
  }
  if (background.length > 0) say('mocha runs with --compaction-interval 0: compaction only on POST /api/v1/admin/compact');
  const mem = new MemSampler(mocha.pid);
  mem.start();
  say(`mocha pid ${mocha.pid} at ${mocha.url}, data in ${mocha.dataDir}`);
  let prom: PrometheusOnBlocks | undefined;
  const promWork = fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-rollup-prom-'));
  // What --keep-data records in rollup-bench-dataset.json, set once the data dir holds the whole
  // dataset (a run that failed half way must not leave a dir that looks reusable).
  let keptCompacted: boolean | undefined;
  let keptPromBlocksDir: string | undefined;
  try {
    // 1-2. Backfill, then ingest latency idle and while compacting; or check the reused data.
    let phases: Awaited<ReturnType<typeof backfillAndCompact>> | undefined;
    let reused: RollupBenchReport['reused'];
    if (reuse === undefined) {
      phases = await backfillAndCompact(mocha, ds, o, notes);
      keptCompacted = phases.compaction.available;
    } else {
      // A wrong --data-end or --days would still give agreeing answers, on other data.
      const verified = await verifyReusedData(mocha.url, ds);
      say(`reused data checked: ${verified}`);
      reused = { mochaDir: reuse.mochaDir, datasetFrom: datasetFrom!, mochaCopyMs: mochaCopy!.ms, verified };
      notes.push(`REUSED DATA: mocha's data copied from ${reuse.mochaDir} (dataset from ${datasetFrom}); no backfill, no compaction, no ingest-latency phase in this run`);
    }

    // 3. Bytes per level. The manifest may list segments whose files go once no reader holds them.
    await adminPost(mocha.url, '/api/v1/admin/flush').catch(() => undefined);
    const manifest = levelsFromManifest(mocha.dataDir);
    const disk = levelsOnDisk(mocha.dataDir);
    const metricsLevels = await levelsFromMetrics(mocha.url).catch(() => []);
    const primary = manifest ?? disk;
    const rawBytes = primary.find((l) => l.level === 'raw')?.bytes ?? 0;
    const levelBytes = primary.filter((l) => l.level !== 'raw').reduce((a, l) => a + l.bytes, 0);
    const levels: RollupBenchReport['levels'] = { ...(manifest !== undefined ? { manifest } : {}), disk, metrics: metricsLevels, rawBytes, levelBytes, ...(rawBytes > 0 ? { levelsPctOfRaw: (100 * levelBytes) / rawBytes } : {}) };
    if (metricsLevels.length === 0) notes.push('no segment-bytes gauge with a `level` label in /metrics: bytes per level come from the manifest and the segment directories');
    // The steady writer's data (rb_live_total, current time) is in raw segments too; it is small.
    // A reused dir was compacted (or not) by the run that kept it: its level segments tell.
    const compacted = phases !== undefined ? phases.compaction.available : levels.levelBytes > 0;
    const noLevelsWhy = reuse !== undefined && !compacted ? `no rollup level segments in the reused data dir ${reuse.mochaDir} (kept uncompacted?)` : undefined;
    if (noLevelsWhy !== undefined) notes.push(`${noLevelsWhy}: the "pyramid" timings are raw reads`);
    if (reuse !== undefined) keptCompacted = compacted;

    // 4. Prometheus.
    const promReport: RollupBenchReport['prometheus'] = {};
    const bins = findPrometheusBinaries();
    if (o.noPrometheus) promReport.skipped = '--no-prometheus';
    else if (bins.prometheus === undefined) promReport.skipped = 'prometheus binary not found (/usr/bin/prometheus or PATH; apt-get install -y prometheus)';
    else if (reuse !== undefined) {
      if (reuse.prometheusDir === undefined) promReport.skipped = reuse.prometheusMissing ?? 'no Prometheus blocks to reuse';
      else {
        // Prometheus writes a lock file, wal/ and chunks_head/ into its storage path: a copy too.
        say(`Prometheus: copying the blocks of ${reuse.prometheusDir}`);
        const copy = copyBlocksInto(reuse.prometheusDir, promWork);
        const blocks = countBlocks(copy.dir);
        say(`copied ${blocks.blocks} blocks, ${(blocks.bytes / 1e6).toFixed(1)} MB, in ${(copy.ms / 1000).toFixed(1)} s`);
        prom = await startPrometheusOn(bins.prometheus, copy.dir, promWork, o.promBlockDuration);
        keptPromBlocksDir = copy.dir;
        Object.assign(promReport, { version: prom.version, reusedFrom: reuse.prometheusDir, copyMs: copy.ms, blocks: blocks.blocks, blockBytes: blocks.bytes, startMs: prom.startMs, blockDuration: o.promBlockDuration });
        reused!.prometheusDir = reuse.prometheusDir;
        notes.push(`REUSED DATA: Prometheus' blocks copied from ${reuse.prometheusDir}; no promtool load in this run`);
        say(`prometheus ${prom.version} pid ${prom.pid} ready in ${(prom.startMs / 1000).toFixed(1)} s`);
      }
    } else if (bins.promtool === undefined) promReport.skipped = 'promtool not found (/usr/bin/promtool or PATH): remote write cannot take 30-day-old samples, so there is no route to load Prometheus';
    else {
      // One OpenMetrics file per block window, each given to promtool and deleted: promtool
      // parses its whole input once per block, and 30 days of text would be ~10 GB at once.
      const blocksDir = path.join(promWork, 'tsdb');
      const omWriter = new OpenMetricsWriter(ds);
      const windows = omWriter.windows(parseSimpleDurationMs(o.promBlockDuration)!);
      const op = new Progress('openmetrics + promtool', ds.sampleCount, process.stderr, o.quiet);
      let omBytes = 0;
      let omMs = 0;
      let promtoolMs = 0;
      let done = 0;
      say(`Prometheus: ${windows.length} OpenMetrics files of up to ${o.promBlockDuration}, each through promtool tsdb create-blocks-from openmetrics --max-block-duration=${o.promBlockDuration}`);
      for (const w of windows) {
        const omFile = path.join(promWork, 'window.om');
        const om = omWriter.write(w.kFrom, w.kTo, omFile, (n) => op.update(done + n));
        omBytes += om.bytes;
        omMs += om.ms;
        const pt = await promtoolCreateBlocks(bins.promtool, omFile, blocksDir, o.promBlockDuration);
        promtoolMs += pt.ms;
        fs.rmSync(omFile, { force: true });
        done += om.samples;
        op.update(done);
      }
      op.finish(done);
      const blocks = countBlocks(blocksDir);
      say(`OpenMetrics ${(omBytes / 1e9).toFixed(2)} GB written in ${(omMs / 1000).toFixed(1)} s; promtool ${(promtoolMs / 1000).toFixed(1)} s -> ${blocks.blocks} blocks, ${(blocks.bytes / 1e6).toFixed(1)} MB`);
      prom = await startPrometheusOn(bins.prometheus, blocksDir, promWork, o.promBlockDuration);
      keptPromBlocksDir = blocksDir;
      Object.assign(promReport, { version: prom.version, openMetricsBytes: omBytes, openMetricsMs: omMs, promtoolMs, promtoolRuns: windows.length, blocks: blocks.blocks, blockBytes: blocks.bytes, startMs: prom.startMs, blockDuration: o.promBlockDuration });
      say(`prometheus ${prom.version} pid ${prom.pid} ready in ${(prom.startMs / 1000).toFixed(1)} s`);
    }
    if (promReport.skipped !== undefined) say(`Prometheus skipped: ${promReport.skipped}`);

    // 5. Queries.
    const queries: QueryReport[] = [];
    const settleWaitsMs: number[] = [];
    let settleTimeouts = 0;
    for (const q of rollupQueries(ds)) {
      say(`query ${q.name}: ${q.query} over ${((q.endS - q.startS) / 86400).toFixed(1)} d, step ${q.stepS} s`);
      const call: Record<Target, ((stats: boolean) => Promise<RangeAnswer>) | undefined> = {
        pyramid: (stats) => queryRange(mocha.url, q, { resolution: 'auto', ...(stats ? { stats: 'all' } : {}) }),
        raw: (stats) => queryRange(mocha.url, q, { resolution: 'raw', ...(stats ? { stats: 'all' } : {}) }),
        prometheus: prom !== undefined ? () => queryRange(prom!.url, q) : undefined,
      };
      // The timed runs: the same requests without stats, answers not parsed (timedQueryRange).
      const timed: Record<Target, (() => Promise<number>) | undefined> = {
        pyramid: () => timedQueryRange(mocha.url, q, { resolution: 'auto' }),
        raw: () => timedQueryRange(mocha.url, q, { resolution: 'raw' }),
        prometheus: prom !== undefined ? () => timedQueryRange(prom!.url, q) : undefined,
      };
      const targets: Record<Target, TargetTiming> = { pyramid: {}, raw: {}, prometheus: {} };
      const answers = new Map<Target, RangeAnswer>();
      const live: Target[] = [];
      for (const t of ['pyramid', 'raw', 'prometheus'] as Target[]) {
        const f = call[t];
        if (f === undefined) {
          targets[t].error = `skipped: ${promReport.skipped ?? 'not started'}`;
          continue;
        }
        try {
          // Warm-up, untimed; its answer is the one compared, its stats show the level used.
          const a = await f(true);
          answers.set(t, a);
          targets[t].series = a.answer.series.length;
          targets[t].points = a.answer.points;
          if (t !== 'prometheus') {
            const r = (a.stats as { rollup?: unknown } | undefined)?.rollup;
            if (r !== undefined) targets[t].rollupStats = r;
          }
          live.push(t);
        } catch (e) {
          targets[t].error = (e as Error).message.slice(0, 500);
          say(`  ${t}: FAILED: ${targets[t].error}`);
        }
      }
      const levelsUsed = Array.isArray(targets.pyramid.rollupStats) ? (targets.pyramid.rollupStats as { level?: string }[]).filter((e) => e.level !== undefined && e.level !== 'raw').length : 0;
      if (compacted && live.includes('pyramid') && Array.isArray(targets.pyramid.rollupStats) && levelsUsed === 0) notes.push(`${q.name}: resolution=auto read no rollup level (data.stats.rollup): the "pyramid" timings are raw reads`);
      if (live.includes('pyramid') && targets.pyramid.rollupStats === undefined) notes.push(`${q.name}: the pyramid answer has no data.stats.rollup (stats=all): this build shows no level choice, so "pyramid" may be raw data`);
      const ms = new Map<Target, number[]>(live.map((t) => [t, []]));
      for (let i = 0; i < o.runs; i++) {
        // Rotate the order run by run so machine noise hits every target alike.
        for (let j = 0; j < live.length; j++) {
          const t = live[(i + j) % live.length]!;
          // Each run starts on an idle machine: not while the previous target still works after
          // its answer (Prometheus' or our garbage collection), which otherwise lands on this one;
          // nor while the client's own collection of its heap finishes in the background.
          collectClientHeap();
          if (o.idleWaitMaxMs > 0) {
            const quiet = await waitForQuietCpu({ timeoutMs: o.idleWaitMaxMs });
            settleWaitsMs.push(quiet.waitedMs);
            if (quiet.busyShare !== undefined && quiet.busyShare > QUIET_BUSY_SHARE_MAX) settleTimeouts++;
          }
          try {
            ms.get(t)!.push(await timed[t]!());
          } catch (e) {
            targets[t].error = `run ${i + 1}: ${(e as Error).message.slice(0, 500)}`;
          }
        }
      }
      // The pyramid again, back to back (a dashboard repeating it), apart from the interleaved runs.
      let pyramidRepeated: TargetTiming | undefined;
      if (live.includes('pyramid')) {
        const xs: number[] = [];
        pyramidRepeated = {};
        for (let i = 0; i < o.runs; i++) {
          collectClientHeap();
          try {
            xs.push(await timed.pyramid!());
          } catch (e) {
            pyramidRepeated.error = `run ${i + 1}: ${(e as Error).message.slice(0, 500)}`;
          }
        }
        if (xs.length > 0) Object.assign(pyramidRepeated, { medianMs: median(xs), p90Ms: percentile(xs, 90), minMs: Math.min(...xs), maxMs: Math.max(...xs), runsMs: xs.map((x) => Math.round(x * 10) / 10) });
        if (xs.length > 0) say(`  pyramid repeated back to back: median ${median(xs).toFixed(1)} ms (${xs.length} runs)`);
      }
      for (const t of live) {
        const xs = ms.get(t)!;
        if (xs.length === 0) continue;
        Object.assign(targets[t], { medianMs: median(xs), p90Ms: percentile(xs, 90), minMs: Math.min(...xs), maxMs: Math.max(...xs), runsMs: xs.map((x) => Math.round(x * 10) / 10) });
        say(`  ${t}: median ${median(xs).toFixed(1)} ms (${xs.length} runs)`);
      }
      const agreement: QueryReport['agreement'] = [];
      const pairs: [Target, Target][] = [
        ['pyramid', 'raw'],
        ['pyramid', 'prometheus'],
        ['raw', 'prometheus'],
      ];
      for (const [a, b] of pairs) {
        const aa = answers.get(a);
        const bb = answers.get(b);
        if (aa === undefined || bb === undefined) continue;
        const ag = compareAnswers(aa.answer, bb.answer, o.relTolerance);
        // compare.ts words its examples as mocha (first) vs prometheus (second).
        ag.examples = ag.examples.map((s) => s.replace(/mocha/g, a).replace(/prometheus/g, b));
        agreement.push({ pair: `${a} vs ${b}`, agreement: ag });
        if (!ag.agree) say(`  ${a} vs ${b} DISAGREE: ${ag.examples.slice(0, 2).join('; ')}`);
      }
      const pm = targets.pyramid.medianMs;
      queries.push({
        name: q.name,
        query: q.query,
        startS: q.startS,
        endS: q.endS,
        stepS: q.stepS,
        targets,
        ...(pyramidRepeated !== undefined ? { pyramidRepeated } : {}),
        ...(pm !== undefined && targets.raw.medianMs !== undefined ? { speedupVsRaw: targets.raw.medianMs / pm } : {}),
        ...(pm !== undefined && targets.prometheus.medianMs !== undefined ? { speedupVsPrometheus: targets.prometheus.medianMs / pm } : {}),
        agreement,
      });
    }
    if (settleWaitsMs.length > 0) {
      notes.push(
        `timed runs start on an idle machine (CPUs <= ${QUIET_BUSY_SHARE_MAX * 100}% busy over 200 ms, waiting at most ${o.idleWaitMaxMs} ms): waited median ${median(settleWaitsMs).toFixed(0)} ms, max ${Math.max(...settleWaitsMs).toFixed(0)} ms; ${settleTimeouts} of ${settleWaitsMs.length} runs started on a busy machine after the longest wait`,
      );
    }

    const load: RollupBenchReport['load'] = phases?.load ?? { skipped: skippedWhy! };
    const compaction: RollupBenchReport['compaction'] = phases?.compaction ?? { available: compacted, skipped: skippedWhy! };
    const latency: RollupBenchReport['latency'] = phases?.latency ?? { liveSeries: o.liveSeries, periodMs: o.livePeriodMs, retries: 0, status429: 0, skipped: skippedWhy! };
    const goals = evaluateGoals(queries, levels, latency, compacted, noLevelsWhy);
    mem.stop();
    return {
      version: 1,
      startedAt,
      command: o.command ?? '',
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadAvg1Start, loadAvg1End: os.loadavg()[0]! },
      scenario: {
        series: ds.seriesCount,
        counters: ds.counterCount,
        gauges: ds.gaugeCount,
        days: o.days,
        intervalMs: o.intervalMs,
        samples: ds.sampleCount,
        dataStart: new Date(ds.startMs).toISOString(),
        dataEnd: new Date(ds.endMs).toISOString(),
        seed: o.seed,
        runs: o.runs,
        senders: o.senders,
        samplesPerRequest: o.samplesPerRequest,
        walFsync: o.walFsync,
        mochaArgs,
      },
      ...(reused !== undefined ? { reused } : {}),
      load,
      compaction,
      latency,
      levels,
      memory: { mochaPeakRssBytes: mem.peakBytes },
      prometheus: promReport,
      queries,
      goals,
      notes,
      ...(o.keepData ? { keptMochaDir: mocha.dataDir } : {}),
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- last mocha log lines ---\n${mocha.recentLogs().slice(-20).join('\n')}${prom !== undefined ? `\n--- prometheus ---\n${prom.logs().slice(-10).join('\n')}` : ''}`, { cause: e });
  } finally {
    mem.stop();
    await mocha.stop();
    if (prom !== undefined) await prom.stop();
    if (o.keepData) {
      if (keptCompacted !== undefined) {
        // What a later --reuse-mocha needs to rebuild the dataset and the queries exactly.
        const file = writeDatasetRecord(mocha.dataDir, {
          format: DATASET_FORMAT,
          harness: 'bench:rollup',
          createdAt: new Date().toISOString(),
          command: o.command ?? '',
          days: o.days,
          series: o.series,
          intervalMs: o.intervalMs,
          seed: o.seed,
          endMs: ds.endMs,
          dataStart: new Date(ds.startMs).toISOString(),
          dataEnd: new Date(ds.endMs).toISOString(),
          compacted: keptCompacted,
          mochaArgs,
          ...(keptPromBlocksDir !== undefined ? { prometheusBlocksDir: keptPromBlocksDir, promBlockDuration: o.promBlockDuration } : {}),
          ...(reuse !== undefined ? { reusedFrom: reuse.mochaDir } : {}),
        });
        note(`dataset described in ${file}: rerun the queries on it with --reuse-mocha ${mocha.dataDir}`, o.quiet);
      }
      // Prometheus' work dir only when it holds blocks (else it is an empty temporary dir).
      if (keptPromBlocksDir === undefined) fs.rmSync(promWork, { recursive: true, force: true });
      note(`kept: mocha data ${mocha.dataDir}${keptPromBlocksDir !== undefined ? `, prometheus ${promWork}` : ''}`, o.quiet);
    } else {
      fs.rmSync(mocha.dataDir, { recursive: true, force: true });
      fs.rmSync(promWork, { recursive: true, force: true });
    }
  }
}

/**
 * Phases 1 and 2: the backfill, then the steady writer through the settle and idle phases and
 * the compaction. The load, compaction and latency parts of the report.
 */
async function backfillAndCompact(mocha: BenchServer, ds: RollupDataset, o: RollupBenchOptions, notes: string[]): Promise<Pick<RollupBenchReport, 'load' | 'compaction' | 'latency'>> {
  const say = (m: string) => note(m, o.quiet);
  // 1. Backfill.
  const cpu0 = readCpuSeconds(mocha.pid);
  const lp = new Progress('backfill mocha', ds.sampleCount, process.stderr, o.quiet);
  const flushEveryScrapes = Math.max(1, Math.round(o.flushEveryMs / o.intervalMs));
  const bf = await backfillMocha(mocha.url, ds, { senders: o.senders, samplesPerRequest: o.samplesPerRequest, flushEveryScrapes, onProgress: (n) => lp.update(n) });
  lp.finish(bf.samples);
  const cpu1 = readCpuSeconds(mocha.pid);
  if (!bf.flushAvailable) notes.push('POST /api/v1/admin/flush answered 404: the backfill relied on the server flushing by itself (--memtable-bytes-max, --flush-interval).');
  say(`backfill: ${bf.samples} samples in ${(bf.ms / 1000).toFixed(1)} s (${bf.flushes} flushes, ${(bf.flushMs / 1000).toFixed(1)} s of them)`);
  const metricsAfterLoad = await scrapeServerMetrics(mocha.url).catch(() => new Map<string, number>());
  const ingested = metricsAfterLoad.get('mocha_samples_ingested_total');
  if (ingested !== undefined && ingested < bf.samples) notes.push(`mocha_samples_ingested_total is ${ingested}, below the ${bf.samples} samples acknowledged`);
  const { latencyMs, ...bfRest } = bf;

  // 2. Ingest latency idle, then while compacting.
  const writer = new SteadyWriter(mocha.url, o.liveSeries, o.livePeriodMs);
  writer.start();
  // Series creation, connection set-up, and the backfill's aftermath (its last flush returned just
  // now; collecting the frozen memtable's memory showed up as 40-50 ms stalls in the idle phase).
  await new Promise((r) => setTimeout(r, o.settleMs));
  writer.phase = 'idle';
  say(`steady writer: ${o.liveSeries} series every ${o.livePeriodMs} ms; idle for ${(o.idleMs / 1000).toFixed(0)} s`);
  await new Promise((r) => setTimeout(r, o.idleMs));
  writer.phase = 'compacting';
  say('POST /api/v1/admin/compact');
  const cpu2 = readCpuSeconds(mocha.pid);
  let compaction: RollupBenchReport['compaction'];
  try {
    const c = await adminPost(mocha.url, '/api/v1/admin/compact');
    const cpu3 = readCpuSeconds(mocha.pid);
    compaction = c.available ? { available: true, ms: c.ms, response: c.body.slice(0, 2000), ...(cpu2 !== undefined && cpu3 !== undefined ? { serverCpuS: cpu3 - cpu2 } : {}) } : { available: false };
  } finally {
    writer.phase = 'after';
    await writer.stop();
  }
  if (!compaction.available) {
    notes.push('POST /api/v1/admin/compact answered 404: no compaction in this build, so no rollup levels, no "while compacting" latency, and the pyramid queries read raw data.');
    say('compaction endpoint missing (404): levels and "while compacting" latency not measurable');
  } else say(`compaction: ${(compaction.ms! / 1000).toFixed(1)} s`);
  const idle = latencyPhase(writer.latencies.get('idle'), writer.runnable.get('idle'));
  const compacting = compaction.available ? latencyPhase(writer.latencies.get('compacting'), writer.runnable.get('compacting')) : undefined;
  const latency: RollupBenchReport['latency'] = {
    liveSeries: o.liveSeries,
    periodMs: o.livePeriodMs,
    ...(idle !== undefined ? { idle } : {}),
    ...(compacting !== undefined ? { compacting } : {}),
    ...(idle !== undefined && compacting !== undefined ? { ratioP99: compacting.p99Ms / idle.p99Ms } : {}),
    retries: writer.stats.retries,
    status429: writer.stats.status429,
  };
  if (compacting !== undefined && compacting.requests < 100) notes.push(`only ${compacting.requests} steady-writer requests fell inside the compaction: its p99 is close to its maximum`);
  const load: LoadReport = {
    ...bfRest,
    samplesPerSecond: bf.samples / (bf.ms / 1000),
    requestP50Ms: median(latencyMs),
    requestP99Ms: percentile(latencyMs, 99),
    ...(cpu0 !== undefined && cpu1 !== undefined ? { serverCpuS: cpu1 - cpu0 } : {}),
    ...(ingested !== undefined ? { serverSamplesIngested: ingested } : {}),
  };
  return { load, compaction, latency };
}

/** Speed-up goal of the issue: the pyramid at least this many times faster than raw data. */
export const SPEEDUP_VS_RAW_GOAL = 50;
/** Rollup levels add at most this % of the raw bytes. */
export const LEVELS_PCT_OF_RAW_GOAL = 30;
/** Ingest p99 while compacting at most this many times the idle p99. */
export const LATENCY_RATIO_GOAL = 2;

/** noLevelsWhy: why there are no levels when not compacted (default: the build has no compaction). */
export function evaluateGoals(queries: QueryReport[], levels: RollupBenchReport['levels'], latency: RollupBenchReport['latency'], compacted: boolean, noLevelsWhy = 'no rollup levels in this build (compaction endpoint missing)'): Goal[] {
  const goals: Goal[] = [];
  for (const q of queries) {
    const r = q.speedupVsRaw;
    const noPyramid = !compacted;
    if (noPyramid) {
      // Without compaction there are no levels: "pyramid" and "raw" read the same data.
      const why = noLevelsWhy;
      goals.push({ name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than raw`, detail: `${why}; measured ${r?.toFixed(1) ?? '-'}x` });
      goals.push({ name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than Prometheus`, detail: `${why}; measured ${q.speedupVsPrometheus?.toFixed(1) ?? '-'}x` });
    }
    if (!noPyramid) goals.push(
      r === undefined
        ? { name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than raw`, detail: `not measured: pyramid ${q.targets.pyramid.error ?? 'ok'}, raw ${q.targets.raw.error ?? 'ok'}` }
        : { name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than raw`, pass: r >= SPEEDUP_VS_RAW_GOAL, detail: `${r.toFixed(1)}x` },
    );
    const p = q.speedupVsPrometheus;
    // "faster than Prometheus by a larger factor": a larger factor than the raw goal (>= 50x).
    if (!noPyramid) goals.push(
      p === undefined
        ? { name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than Prometheus`, detail: `not measured: ${q.targets.prometheus.error ?? q.targets.pyramid.error ?? 'no timing'}` }
        : { name: `${q.name}: pyramid >= ${SPEEDUP_VS_RAW_GOAL}x faster than Prometheus`, pass: p >= SPEEDUP_VS_RAW_GOAL, detail: `${p.toFixed(1)}x` },
    );
    const bad = q.agreement.filter((a) => !a.agreement.agree).map((a) => a.pair);
    goals.push({ name: `${q.name}: same answers (rel ${'1e-9'})`, ...(q.agreement.length > 0 ? { pass: bad.length === 0 } : {}), detail: q.agreement.length === 0 ? 'nothing to compare' : bad.length === 0 ? q.agreement.map((a) => a.pair).join(', ') + ' agree' : `differ: ${bad.join(', ')}` });
  }
  goals.push(
    levels.levelsPctOfRaw === undefined || levels.levelBytes === 0
      ? { name: `rollup levels <= ${LEVELS_PCT_OF_RAW_GOAL}% of raw bytes`, detail: compacted ? 'no level segments found after compaction' : noLevelsWhy }
      : { name: `rollup levels <= ${LEVELS_PCT_OF_RAW_GOAL}% of raw bytes`, pass: levels.levelsPctOfRaw <= LEVELS_PCT_OF_RAW_GOAL, detail: `${levels.levelsPctOfRaw.toFixed(1)}%` },
  );
  goals.push(
    latency.skipped !== undefined
      ? { name: `ingest p99 while compacting <= ${LATENCY_RATIO_GOAL}x idle`, detail: `not measured: ${latency.skipped} (no compaction in this run)` }
      : latency.ratioP99 === undefined
      ? { name: `ingest p99 while compacting <= ${LATENCY_RATIO_GOAL}x idle`, detail: compacted ? 'no requests measured' : 'no compaction in this build' }
      : { name: `ingest p99 while compacting <= ${LATENCY_RATIO_GOAL}x idle`, pass: latency.ratioP99 <= LATENCY_RATIO_GOAL, detail: `${latency.ratioP99.toFixed(2)}x (${latency.compacting!.p99Ms.toFixed(1)} vs ${latency.idle!.p99Ms.toFixed(1)} ms)` },
  );
  return goals;
}
