// The query benchmark: the same pre-encoded remote-write bodies go to mocha and to a real
// Prometheus, mocha is flushed so its queries read segments, then a dashboard-like query set runs
// against both, interleaved A/B/B/A so machine noise (other processes share the 2 cores) hits both
// alike. Reports latency, the answers' agreement and each server's RSS increase per query set.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildRequests } from '../requests.js';
import { sendAll } from '../sender.js';
import { startServer } from '../server.js';
import { readMem } from '../proc.js';
import { median, percentile } from '../stats.js';
import { note, Progress } from '../progress.js';
import { repoRoot } from '../paths.js';
import { summarizeProfile, type ProfileSummary } from '../cpuprofile.js';
import { mulberry32, subSeed } from '../prng.js';
import { startPrometheus } from '../../../test/helpers/prometheus-process.js';
import { QueryBenchDataset } from './dataset.js';
import { runQuery, timedQuery, type Answer, type QuerySpec } from './client.js';
import { compareAnswers, type Agreement } from './compare.js';

export interface QueryBenchOptions {
  series: number;
  durationMs: number;
  intervalMs: number;
  seed: number;
  runs: number;
  /** Extra flags for the mocha server (--mocha-args). */
  mochaArgs?: string[];
  stepS: number;
  senders: number;
  /** Also run the query set before the flush (mocha answers from its memtable). */
  memtable: boolean;
  profile: boolean;
  relTolerance: number;
  quiet: boolean;
  command?: string;
}

export const DEFAULT_QUERY_OPTIONS: QueryBenchOptions = {
  series: 10_000,
  durationMs: 2 * 60 * 60 * 1000,
  intervalMs: 15_000,
  seed: 1,
  runs: 10,
  stepS: 60,
  senders: 4,
  memtable: false,
  profile: false,
  relTolerance: 1e-6,
  quiet: false,
};

export interface SystemTiming {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  /** Peak sampled VmRSS during the query's runs minus VmRSS just before them. */
  rssIncreaseBytes: number;
  series: number;
  points: number;
}

export interface QueryResult {
  name: string;
  kind: 'range' | 'instant';
  query: string;
  rangeS: number;
  mocha: SystemTiming;
  prometheus: SystemTiming;
  /** mocha median / Prometheus median. */
  ratioMedian: number;
  ratioP90: number;
  agreement: Agreement;
  profile?: ProfileSummary;
}

export interface QueryBenchReport {
  version: 1;
  startedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; node: string; loadAvg1Start: number };
  scenario: { description: string; series: number; hosts: number; scrapes: number; intervalMs: number; dataStart: string; dataEnd: string; samples: number; seed: number; runs: number; stepS: number };
  prometheusVersion: string;
  ingest: { encodeMs: number; bodies: number; bytes: number; mochaSendS: number; prometheusSendS: number; mochaFlushMs: number };
  /**
   * VmRSS after the ingest (both hold the data in memory: mocha's memtable, Prometheus' head) and
   * after mocha's flush ("AfterLoad": the flush packs the memtable for a worker thread, and RSS
   * keeps that peak; Prometheus is not flushed).
   */
  memory: { mochaRssAfterIngestBytes: number; prometheusRssAfterIngestBytes: number; mochaRssAfterLoadBytes: number; prometheusRssAfterLoadBytes: number };
  phases: { phase: 'memtable' | 'segments'; queries: QueryResult[] }[];
  notes: string[];
}

/** Period of the RSS sampler while queries run: short queries need fine sampling. */
const RSS_SAMPLE_PERIOD_MS = 10;

class RssPeak {
  baseline = 0;
  peak = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pid: number) {}
  start(): void {
    this.baseline = readMem(this.pid)?.rssBytes ?? 0;
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_PERIOD_MS);
  }
  sample(): void {
    const r = readMem(this.pid)?.rssBytes ?? 0;
    if (r > this.peak) this.peak = r;
  }
  stop(): number {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sample();
    return this.peak - this.baseline;
  }
}

/** The dashboard-like set of issue #3, evaluated at whole seconds (see dataset.ts). */
export function querySet(ds: QueryBenchDataset, stepS: number, seed: number): QuerySpec[] {
  const endS = Math.floor(ds.endMs / 60_000) * 60;
  const startAllS = Math.ceil(ds.startMs / 60_000) * 60;
  const hour = Math.max(startAllS, endS - 3600);
  // A Grafana multi-value variable: 20 ids picked deterministically, as an alternation.
  const rng = mulberry32(subSeed(seed, 0xa17));
  const picked: string[] = [];
  for (let i = 0; i < 20 && ds.ids.length > 0; i++) picked.push(ds.ids[Math.floor(rng() * ds.ids.length)]!);
  const alternation = picked.join('|');
  const prefix = ds.ids[0]!.slice(0, 2);
  const base: { name: string; query: string; startS: number }[] = [
    { name: 'sum by job rate 1h', query: 'sum by (job) (rate(node_cpu_seconds_total[5m]))', startS: hour },
    { name: `sum by job rate all (${((endS - startAllS) / 3600).toFixed(1)}h)`, query: 'sum by (job) (rate(node_cpu_seconds_total[5m]))', startS: startAllS },
    { name: 'topk 10 rate 1h', query: 'topk(10, rate(app_requests_total[5m]))', startS: hour },
    { name: 'histogram_quantile 1h', query: 'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))', startS: hour },
    { name: `regex prefix id=~"${prefix}.*" 1h`, query: `rate(app_requests_total{id=~"${prefix}.*"}[5m])`, startS: hour },
    { name: 'regex alternation 20 ids 1h', query: `sum by (instance) (rate(app_requests_total{id=~"${alternation}"}[5m]))`, startS: hour },
  ];
  const out: QuerySpec[] = [];
  for (const b of base) out.push({ name: b.name, query: b.query, kind: 'range', startS: b.startS, endS, stepS });
  for (const b of base) if (!b.name.startsWith('sum by job rate all')) out.push({ name: b.name.replace(/ 1h$/, '') + ' (instant)', query: b.query, kind: 'instant', startS: endS, endS, stepS });
  return out;
}

/** Characters of each raw answer kept in the report. */
const RAW_ANSWER_CHARS_MAX = 4000;

/**
 * The raw samples behind a differing point: the query's first metric selector narrowed to the
 * differing series' labels, over the query's range plus a minute, at that point, on both systems.
 */
async function rawSamples(mochaUrl: string, promUrl: string, query: string, at: { key: string; tMs: number }): Promise<{ selector: string; mocha: string; prometheus: string }> {
  const name = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/.exec(query)?.[1] ?? '';
  const range = /\[(\d+)m\]/.exec(query)?.[1] ?? '5';
  const selector = `${name}${at.key === '{}' ? '' : at.key}[${Number(range) + 1}m]`;
  const get = async (url: string) => {
    const body = new URLSearchParams({ query: selector, time: (at.tMs / 1000).toFixed(3) });
    const res = await fetch(new URL('/api/v1/query', url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
    return (await res.text()).slice(0, RAW_ANSWER_CHARS_MAX);
  };
  return { selector: `${selector} @ ${at.tMs / 1000}`, mocha: await get(mochaUrl), prometheus: await get(promUrl) };
}

function timing(ms: number[], rssIncreaseBytes: number, a: Answer): SystemTiming {
  return { medianMs: median(ms), p90Ms: percentile(ms, 90), minMs: Math.min(...ms), maxMs: Math.max(...ms), rssIncreaseBytes, series: a.series.length, points: a.points };
}

export async function runQueryBench(o: QueryBenchOptions): Promise<QueryBenchReport> {
  const startedAt = new Date().toISOString();
  const notes: string[] = [];
  const scrapeCount = Math.max(1, Math.floor(o.durationMs / o.intervalMs));
  const ds = new QueryBenchDataset({ series: o.series, scrapeCount, intervalMs: o.intervalMs, seed: o.seed, nowMs: Date.now() - 1000 });
  note(`dataset: ${ds.description}`, o.quiet);
  note(`scenario: ${ds.hosts} hosts, ${ds.seriesCount} series, ${ds.scrapeCount} scrapes every ${ds.intervalMs} ms = ${ds.seriesCount * ds.scrapeCount} samples`, o.quiet);
  const encProgress = new Progress('encode', ds.seriesCount * ds.scrapeCount, process.stderr, o.quiet);
  // One sample per series per request, series in a shuffled order, scrapes in time order: what
  // Prometheus' remote write sends, and what its own head accepts (in order within its window).
  const reqs = buildRequests(ds, { samplesPerRequest: 2000, samplesPerSeries: 1, seed: o.seed }, (d) => encProgress.update(d));
  encProgress.finish(reqs.totalSamples);
  (globalThis as { gc?: () => void }).gc?.();

  const profDir = o.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'mocha-qbench-prof-')) : undefined;
  const mocha = await startServer({ args: ['--wal-fsync', 'off', ...(o.mochaArgs ?? [])], ...(profDir !== undefined ? { cpuProfDir: profDir } : {}) });
  const prom = await startPrometheus();
  const promPid = prom.pid;
  note(`mocha pid ${mocha.pid} at ${mocha.url}; prometheus ${prom.version} pid ${promPid} at ${prom.url}`, o.quiet);
  const windows: { phase: string; name: string; fromUs: number; toUs: number }[] = [];
  let report: QueryBenchReport | undefined;
  try {
    const send = async (url: string, label: string, senders: number): Promise<number> => {
      const p = new Progress(`ingest ${label}`, reqs.totalSamples, process.stderr, o.quiet);
      const r = await sendAll(url, reqs, { senders, onProgress: (n) => p.update(n) });
      p.finish(r.ackedSamples);
      return (r.endMs - r.startMs) / 1000;
    };
    const mochaSendS = await send(mocha.url, 'mocha', o.senders);
    // One connection: concurrent requests can deliver a series' scrape k+1 before scrape k, which
    // Prometheus' head refuses as out of order (its own remote write keeps order per shard).
    const prometheusSendS = await send(prom.url, 'prometheus', 1);
    const afterIngest = { mochaRssAfterIngestBytes: readMem(mocha.pid)?.rssBytes ?? 0, prometheusRssAfterIngestBytes: readMem(promPid)?.rssBytes ?? 0 };

    const queries = querySet(ds, o.stepS, o.seed);
    const phases: QueryBenchReport['phases'] = [];
    const runPhase = async (phase: 'memtable' | 'segments') => {
      const results: QueryResult[] = [];
      for (const q of queries) {
        note(`${phase}: ${q.name}: ${q.query.length > 100 ? q.query.slice(0, 97) + '...' : q.query}`, o.quiet);
        const fromUs = Number(process.hrtime.bigint() / 1000n);
        const memM = new RssPeak(mocha.pid);
        const memP = new RssPeak(promPid);
        memM.start();
        memP.start();
        // Warm-up (untimed) of both; their answers are the ones compared.
        const ansM = await runQuery(mocha.url, q);
        const ansP = await runQuery(prom.url, q);
        const msM: number[] = [];
        const msP: number[] = [];
        for (let i = 0; i < o.runs; i++) {
          const order = i % 2 === 0 ? (['m', 'p'] as const) : (['p', 'm'] as const);
          for (const who of order) {
            // No gc() before a run (bench:rollup has one, then waits for an idle machine): timed
            // runs are not parsed, so they leave little garbage, and V8 finishes a collection on
            // background threads after gc() returns, which took the cores from the small queries.
            (who === 'm' ? msM : msP).push(await timedQuery(who === 'm' ? mocha.url : prom.url, q));
          }
        }
        const incM = memM.stop();
        const incP = memP.stop();
        windows.push({ phase, name: q.name, fromUs, toUs: Number(process.hrtime.bigint() / 1000n) });
        const mt = timing(msM, incM, ansM);
        const pt = timing(msP, incP, ansP);
        const agreement = compareAnswers(ansM, ansP, o.relTolerance);
        if (agreement.firstDiffering !== undefined) agreement.rawAtFirstDiffering = await rawSamples(mocha.url, prom.url, q.query, agreement.firstDiffering);
        if (!agreement.agree) note(`  DISAGREE: ${agreement.examples.slice(0, 3).join('; ')}`, o.quiet);
        results.push({ name: q.name, kind: q.kind, query: q.query, rangeS: q.endS - q.startS, mocha: mt, prometheus: pt, ratioMedian: mt.medianMs / pt.medianMs, ratioP90: mt.p90Ms / pt.p90Ms, agreement });
      }
      phases.push({ phase, queries: results });
    };
    if (o.memtable) await runPhase('memtable');
    const tf = performance.now();
    const fr = await fetch(new URL('/api/v1/admin/flush', mocha.url), { method: 'POST' });
    const ft = await fr.text();
    if (fr.status !== 200) throw new Error(`flush answered ${fr.status}: ${ft}`);
    const mochaFlushMs = performance.now() - tf;
    note(`mocha flushed in ${mochaFlushMs.toFixed(0)} ms`, o.quiet);
    (globalThis as { gc?: () => void }).gc?.();
    const memory = { ...afterIngest, mochaRssAfterLoadBytes: readMem(mocha.pid)?.rssBytes ?? 0, prometheusRssAfterLoadBytes: readMem(promPid)?.rssBytes ?? 0 };
    await runPhase('segments');
    notes.push('Prometheus answers from its head block (in memory, ~2 h of data is not compacted yet); mocha answers from Arrow segments after the flush (phase "segments") or its memtable (phase "memtable").');
    notes.push('Evaluation times are whole seconds and no sample is on a whole second, so Prometheus 2.42 left-closed and Prometheus 3 left-open range windows select the same samples.');
    report = {
      version: 1,
      startedAt,
      command: o.command ?? '',
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadAvg1Start: os.loadavg()[0]! },
      scenario: {
        description: ds.description,
        series: ds.seriesCount,
        hosts: ds.hosts,
        scrapes: ds.scrapeCount,
        intervalMs: ds.intervalMs,
        dataStart: new Date(ds.startMs).toISOString(),
        dataEnd: new Date(ds.endMs).toISOString(),
        samples: reqs.totalSamples,
        seed: o.seed,
        runs: o.runs,
        stepS: o.stepS,
      },
      prometheusVersion: prom.version,
      ingest: { encodeMs: reqs.encodeMs, bodies: reqs.bodies.length, bytes: reqs.totalBytes, mochaSendS, prometheusSendS, mochaFlushMs },
      memory,
      phases,
      notes,
    };
  } catch (e) {
    const logs = mocha.recentLogs().slice(-20).join('\n');
    throw new Error(`${(e as Error).message}\n--- last mocha log lines ---\n${logs}\n--- prometheus ---\n${prom.logs().slice(-10).join('\n')}`, { cause: e });
  } finally {
    await mocha.stop();
    await prom.stop();
    fs.rmSync(mocha.dataDir, { recursive: true, force: true });
  }
  if (profDir !== undefined) {
    const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort();
    // Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const main = files.find((f) => f.split('.')[4] === '0') ?? files[0];
    if (main === undefined) report.notes.push(`no .cpuprofile written in ${profDir}`);
    else {
      for (const ph of report.phases) {
        for (const q of ph.queries) {
          const w = windows.find((x) => x.phase === ph.phase && x.name === q.name);
          if (w !== undefined) q.profile = summarizeProfile(path.join(profDir, main), repoRoot(), { fromUs: w.fromUs, toUs: w.toUs }, 12);
        }
      }
      report.notes.push(`CPU profiles in ${profDir}`);
    }
  }
  return report;
}
