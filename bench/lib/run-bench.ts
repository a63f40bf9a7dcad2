// One benchmark run, start to finish: build the dataset, pre-encode it, start the real server,
// send, measure memory and CPU, query the memtable, flush, measure the disk, query the segments,
// stop the server and read its CPU profile. bench/run.ts wraps it with flags; the smoke test
// calls it directly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Dataset } from './dataset.js';
import { SyntheticDataset, syntheticSeriesPerHost } from './generator.js';
import { NodeExporterDataset, captureNodeExporter, findNodeExporter, loadFixture, saveFixture, type NodeExporterFixture } from './node-exporter.js';
import { dirBytes, nodeExporterFixturePath, repoRoot } from './paths.js';
import { Progress, note } from './progress.js';
import { MemSampler, readCpuSeconds, readMem } from './proc.js';
import { buildRequests } from './requests.js';
import { sendAll } from './sender.js';
import { startServer } from './server.js';
import { scrapeServerMetrics } from './server-metrics.js';
import { timeQuery, type QueryTiming } from './query.js';
import { median, percentile, windowRates } from './stats.js';
import { summarizeProfile, type ProfileSummary } from './cpuprofile.js';
import type { BenchReport } from './report.js';
import { PARTITION_MS } from '../../src/constants.js';

export interface BenchOptions {
  dataset: 'synthetic' | 'node-exporter';
  /** Total series wanted; the host count is derived from the series per host of the dataset. */
  series: number;
  /** Overrides `series` when set. */
  hosts?: number;
  durationMs: number;
  intervalMs: number;
  jitterMs: number;
  senders: number;
  seed: number;
  samplesPerRequest: number;
  samplesPerSeries: number;
  queryRuns: number;
  queryStepMs: number;
  /** Throughput windows; the report gives their median. */
  windows: number;
  walFsync: 'batch' | 'off';
  serverArgs: string[];
  profile: boolean;
  /** Capture node exporter again even if the fixture exists. */
  recapture: boolean;
  captureScrapes: number;
  captureIntervalMs: number;
  fixturePath?: string;
  keepData: boolean;
  quiet: boolean;
  command?: string;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  dataset: 'node-exporter',
  series: 50_000,
  durationMs: 60 * 60 * 1000,
  intervalMs: 15_000,
  jitterMs: 3,
  senders: 4,
  seed: 1,
  samplesPerRequest: 2000,
  samplesPerSeries: 1,
  queryRuns: 10,
  queryStepMs: 60_000,
  windows: 5,
  walFsync: 'batch',
  serverArgs: [],
  profile: false,
  recapture: false,
  captureScrapes: 120,
  captureIntervalMs: 1000,
  keepData: false,
  quiet: false,
};

/** A small run for smoke tests: synthetic data, a few thousand series, ten minutes of scrapes. */
export const QUICK_OPTIONS: Partial<BenchOptions> = {
  dataset: 'synthetic',
  series: 2000,
  durationMs: 10 * 60 * 1000,
  queryRuns: 3,
  windows: 3,
};

interface DatasetChoice {
  fixture?: NodeExporterFixture;
  note?: string;
}

/** Loads the node exporter fixture, capturing it first when needed; falls back to synthetic data. */
export async function chooseDataset(o: BenchOptions): Promise<DatasetChoice> {
  if (o.dataset === 'synthetic') return {};
  const file = o.fixturePath ?? nodeExporterFixturePath();
  if (!o.recapture && fs.existsSync(file)) return { fixture: loadFixture(file) };
  if (findNodeExporter() === undefined) {
    return { note: `node exporter is not installed and ${path.relative(repoRoot(), file)} does not exist: fell back to the SYNTHETIC dataset (apt-get install -y prometheus-node-exporter, then run again to capture)` };
  }
  note(`capturing node exporter: ${o.captureScrapes} scrapes every ${o.captureIntervalMs} ms (one time; saved to ${path.relative(repoRoot(), file)})`, o.quiet);
  let last = 0;
  const fixture = await captureNodeExporter({
    scrapes: o.captureScrapes,
    intervalMs: o.captureIntervalMs,
    log: (s) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        note(s, o.quiet);
      }
    },
  });
  const bytes = saveFixture(file, fixture);
  note(`capture saved: ${fixture.series.length} series x ${fixture.scrapes} scrapes, ${(bytes / 1024).toFixed(0)} KiB`, o.quiet);
  return { fixture };
}

/**
 * Where the data ends: now, unless the span would then cross a partition boundary; then at the
 * start of the current partition, so a span of up to one partition lands in one segment and runs
 * at different times of day give comparable bytes per sample.
 */
export function dataEndMs(nowMs: number, durationMs: number): number {
  const partitionStartMs = Math.floor(nowMs / PARTITION_MS) * PARTITION_MS;
  return nowMs - durationMs >= partitionStartMs ? nowMs : partitionStartMs - 1;
}

export function makeDataset(o: BenchOptions, choice: DatasetChoice, nowMs: number): Dataset {
  const scrapeCount = Math.max(1, Math.floor(o.durationMs / o.intervalMs));
  const timing = { scrapeCount, intervalMs: o.intervalMs, jitterMs: o.jitterMs, seed: o.seed, nowMs };
  if (choice.fixture !== undefined) {
    const perHost = choice.fixture.series.length;
    const hosts = o.hosts ?? Math.max(1, Math.round(o.series / perHost));
    return new NodeExporterDataset(choice.fixture, { ...timing, hosts });
  }
  const hosts = o.hosts ?? Math.max(1, Math.round(o.series / syntheticSeriesPerHost()));
  return new SyntheticDataset({ ...timing, hosts });
}

function segmentStats(dataDir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const tenants = path.join(dataDir, 'tenants');
  let names: string[] = [];
  try {
    names = fs.readdirSync(tenants);
  } catch {
    return { bytes, files };
  }
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += fs.statSync(p).size;
        files++;
      }
    }
  };
  for (const t of names) {
    const seg = path.join(tenants, t, 'segments');
    if (fs.existsSync(seg)) walk(seg);
  }
  return { bytes, files };
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const choice = await chooseDataset(o);
  const endMs = dataEndMs(Date.now(), o.durationMs + 2 * o.jitterMs);
  const ds = makeDataset(o, choice, endMs);
  note(`dataset: ${ds.description}`, o.quiet);
  if (choice.note) note(`NOTE: ${choice.note}`, o.quiet);
  note(`scenario: ${ds.hosts} hosts, ${ds.seriesCount} series, ${ds.scrapeCount} scrapes every ${ds.intervalMs} ms = ${ds.seriesCount * ds.scrapeCount} samples`, o.quiet);

  const encProgress = new Progress('encode', ds.seriesCount * ds.scrapeCount, process.stderr, o.quiet);
  const reqs = buildRequests(ds, { samplesPerRequest: o.samplesPerRequest, samplesPerSeries: o.samplesPerSeries, seed: o.seed }, (d) => encProgress.update(d));
  encProgress.finish(reqs.totalSamples);
  (globalThis as { gc?: () => void }).gc?.(); // the dataset's scratch is garbage now; keep it out of the client's way

  const profDir = o.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-bench-prof-')) : undefined;
  const server = await startServer({ args: ['--wal-fsync', o.walFsync, ...o.serverArgs], ...(profDir !== undefined ? { cpuProfDir: profDir } : {}) });
  note(`server pid ${server.pid} at ${server.url}, data in ${server.dataDir}`, o.quiet);
  const mem = new MemSampler(server.pid);
  mem.start();
  let report: BenchReport | undefined;
  let profileWindow: { fromUs: number; toUs: number } | undefined;
  try {
    const cpu0 = readCpuSeconds(server.pid);
    const clientCpu0 = process.cpuUsage();
    const sendProgress = new Progress('ingest', reqs.totalSamples, process.stderr, o.quiet);
    const sent = await sendAll(server.url, reqs, { senders: o.senders, onProgress: (n) => sendProgress.update(n) });
    sendProgress.finish(sent.ackedSamples);
    const cpu1 = readCpuSeconds(server.pid);
    const clientCpu = process.cpuUsage(clientCpu0);
    const rssAfterIngest = readMem(server.pid)?.rssBytes ?? null;
    const seconds = (sent.endMs - sent.startMs) / 1000;
    const serverCpuSeconds = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null;
    const metricsAfterIngest = await scrapeServerMetrics(server.url).catch(() => new Map<string, number>());

    const queries: BenchReport['queries'] = [];
    const startS = ds.startMs / 1000;
    const endS = ds.endMs / 1000;
    const stepS = o.queryStepMs / 1000;
    const runQueries = async (phase: 'memtable' | 'segments') => {
      if (o.queryRuns <= 0) return;
      const timings: QueryTiming[] = [];
      for (const [name, q] of [
        ['1 series', ds.selectors.oneSeries],
        [`${ds.selectors.manySeriesExpected} series`, ds.selectors.manySeries],
      ] as const) {
        note(`query (${phase}): ${name}, ${o.queryRuns} runs`, o.quiet);
        timings.push(await timeQuery(server.url, name, q, startS, endS, stepS, o.queryRuns));
      }
      queries.push({ phase, stepS, rangeS: endS - startS, timings });
    };
    await runQueries('memtable');

    note('flushing', o.quiet);
    const tf = performance.now();
    const fr = await fetch(new URL('/api/v1/admin/flush', server.url), { method: 'POST' });
    const flushText = await fr.text();
    if (fr.status !== 200) throw new Error(`flush answered ${fr.status}: ${flushText}`);
    const flushMs = performance.now() - tf;
    const seg = segmentStats(server.dataDir);
    const walBytesAfterFlush = dirBytes(path.join(server.dataDir, 'wal'));
    const dataDirBytes = dirBytes(server.dataDir);
    const metricsAfterFlush = await scrapeServerMetrics(server.url).catch(() => new Map<string, number>());
    const walBytesWritten = metricsAfterFlush.get('mocha_wal_bytes_written_total') ?? metricsAfterIngest.get('mocha_wal_bytes_written_total') ?? null;

    await runQueries('segments');
    mem.stop();

    const n = sent.ackedSamples;
    const windows = windowRates(sent.trace, o.windows);
    report = {
      version: 1,
      startedAt,
      command: o.command ?? '',
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` },
      scenario: {
        dataset: ds.kind,
        datasetDescription: ds.description,
        ...(choice.note !== undefined ? { datasetNote: choice.note } : {}),
        hosts: ds.hosts,
        series: ds.seriesCount,
        scrapes: ds.scrapeCount,
        intervalMs: ds.intervalMs,
        durationMs: ds.scrapeCount * ds.intervalMs,
        dataStart: new Date(ds.startMs).toISOString(),
        dataEnd: new Date(ds.endMs).toISOString(),
        seed: o.seed,
        senders: o.senders,
        samplesPerRequest: o.samplesPerRequest,
        samplesPerSeries: o.samplesPerSeries,
        walFsync: o.walFsync,
        serverArgs: o.serverArgs,
      },
      encode: { requests: reqs.bodies.length, samples: reqs.totalSamples, bytes: reqs.totalBytes, bytesPerSample: reqs.totalBytes / reqs.totalSamples, ms: reqs.encodeMs },
      ingest: {
        samples: n,
        seconds,
        samplesPerSecond: n / seconds,
        samplesPerSecondMedian: windows.length > 0 ? median(windows) : n / seconds,
        windowSamplesPerSecond: windows,
        requestLatencyMsMedian: median(sent.latencyMs),
        requestLatencyMsP99: percentile(sent.latencyMs, 99),
        retries: sent.retries,
        status429: sent.status429,
        status5xx: sent.status5xx,
        serverCpuSeconds,
        samplesPerServerCpuSecond: serverCpuSeconds !== null && serverCpuSeconds > 0 ? n / serverCpuSeconds : null,
        clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
        serverSamplesIngested: metricsAfterIngest.get('mocha_samples_ingested_total') ?? null,
      },
      memory: { serverPeakRssBytes: mem.peakBytes, serverRssAfterIngestBytes: rssAfterIngest },
      disk: {
        flushMs,
        segmentBytes: seg.bytes,
        walBytesAfterFlush,
        walBytesWritten,
        dataDirBytes,
        segmentBytesPerSample: seg.bytes / n,
        segmentAndWalBytesPerSample: (seg.bytes + walBytesAfterFlush) / n,
        walBytesWrittenPerSample: walBytesWritten !== null ? walBytesWritten / n : null,
        segmentFiles: seg.files,
      },
      queries,
    };
    // The profile window is the send phase, on the monotonic clock V8 stamps its samples with.
    profileWindow = { fromUs: Number(sent.startHrNs / 1000n), toUs: Number(sent.endHrNs / 1000n) };
  } catch (e) {
    const logs = server.recentLogs().slice(-20).join('\n');
    throw new Error(`${(e as Error).message}\n--- last server log lines ---\n${logs}`, { cause: e });
  } finally {
    mem.stop();
    const code = await server.stop();
    if (code !== 0 && code !== null) note(`server exited with code ${code}`, o.quiet);
    if (!o.keepData) fs.rmSync(server.dataDir, { recursive: true, force: true });
    else note(`data kept in ${server.dataDir}`, o.quiet);
  }
  if (profDir !== undefined) report.profile = readProfiles(profDir, profileWindow);
  return report;
}

function readProfiles(dir: string, window: { fromUs: number; toUs: number } | undefined): NonNullable<BenchReport['profile']> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  if (files.length === 0) return { dir, workers: [], note: 'no .cpuprofile written (did the server exit cleanly?)' };
  const summaries: ProfileSummary[] = [];
  for (const f of files) {
    try {
      summaries.push(summarizeProfile(path.join(dir, f), repoRoot(), window));
    } catch (e) {
      note(`cannot read ${f}: ${(e as Error).message}`);
    }
  }
  // Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
  const threadOf = (file: string) => Number(path.basename(file).split('.')[4] ?? NaN);
  const main = summaries.find((s) => threadOf(s.file) === 0) ?? summaries[0];
  return { dir, ...(main !== undefined ? { mainThread: main } : {}), workers: summaries.filter((s) => s !== main) };
}
