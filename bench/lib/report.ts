// The benchmark report: one JSON document (saved under bench/results/) and a plain-text table
// with the targets and reference systems next to each result.
import type { ProfileSummary } from './cpuprofile.js';
import type { QueryTiming } from './query.js';

export interface BenchReport {
  version: 1;
  startedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memBytes: number; node: string; platform: string };
  scenario: {
    dataset: 'synthetic' | 'node-exporter';
    datasetDescription: string;
    /** Why the requested dataset was not used, when it was not. */
    datasetNote?: string;
    hosts: number;
    series: number;
    scrapes: number;
    intervalMs: number;
    durationMs: number;
    /** First and last possible sample times (ISO). */
    dataStart: string;
    dataEnd: string;
    seed: number;
    senders: number;
    samplesPerRequest: number;
    samplesPerSeries: number;
    walFsync: string;
    serverArgs: string[];
  };
  encode: { requests: number; samples: number; bytes: number; bytesPerSample: number; ms: number };
  ingest: {
    samples: number;
    seconds: number;
    /** Whole run: samples / seconds. */
    samplesPerSecond: number;
    /** Median of the per-window rates. */
    samplesPerSecondMedian: number;
    windowSamplesPerSecond: number[];
    requestLatencyMsMedian: number;
    requestLatencyMsP99: number;
    retries: number;
    status429: number;
    status5xx: number;
    /** Server CPU (user+sys, all threads) during the send phase. */
    serverCpuSeconds: number | null;
    /** Samples per second of server CPU: the rate one fully used core would sustain. */
    samplesPerServerCpuSecond: number | null;
    clientCpuSeconds: number;
    /** The server's own count (mocha_samples_ingested_total), to check nothing was lost. */
    serverSamplesIngested: number | null;
  };
  memory: { serverPeakRssBytes: number; serverRssAfterIngestBytes: number | null };
  disk: {
    flushMs: number;
    segmentBytes: number;
    walBytesAfterFlush: number;
    walBytesWritten: number | null;
    dataDirBytes: number;
    segmentBytesPerSample: number;
    segmentAndWalBytesPerSample: number;
    walBytesWrittenPerSample: number | null;
    segmentFiles: number;
  };
  queries: { phase: 'memtable' | 'segments'; stepS: number; rangeS: number; timings: QueryTiming[] }[];
  profile?: { dir: string; mainThread?: ProfileSummary; workers: ProfileSummary[]; note?: string };
}

export const TARGETS = {
  samplesPerSecond: 500_000,
  bytesPerSampleNodeExporter: 1.0,
};

export const REFERENCES = {
  victoriaMetrics: { samplesPerSecond: '~700-900k', bytesPerSample: '~0.5' },
  prometheus: { samplesPerSecond: '~170-200k', bytesPerSample: '~1.5' },
};

function fmtNum(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return (n / 1024 ** 3).toFixed(2) + ' GiB';
  if (n >= 1024 ** 2) return (n / 1024 ** 2).toFixed(1) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
  return `${n} B`;
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}

export function formatReport(r: BenchReport): string {
  const s = r.scenario;
  const out: string[] = [];
  out.push(`mocha-tsdb benchmark, ${r.startedAt}`);
  out.push(`machine: ${r.machine.cpus} x ${r.machine.cpuModel}, ${fmtBytes(r.machine.memBytes)} RAM, node ${r.machine.node}`);
  out.push(`dataset: ${s.datasetDescription}`);
  if (s.datasetNote) out.push(`NOTE: ${s.datasetNote}`);
  out.push(
    `scenario: ${fmtNum(s.hosts)} hosts, ${fmtNum(s.series)} series, ${fmtNum(s.scrapes)} scrapes every ${s.intervalMs / 1000} s (${(s.durationMs / 60000).toFixed(0)} min), ` +
      `${fmtNum(r.encode.samples)} samples in ${fmtNum(r.encode.requests)} requests of ~${s.samplesPerRequest} samples (${s.samplesPerSeries}/series/request), ` +
      `${s.senders} senders, WAL fsync ${s.walFsync}, seed ${s.seed}`,
  );
  out.push(`data span: ${s.dataStart} .. ${s.dataEnd}`);
  out.push(`client pre-encoding: ${(r.encode.ms / 1000).toFixed(1)} s, ${fmtBytes(r.encode.bytes)} on the wire (${r.encode.bytesPerSample.toFixed(1)} B/sample)`);
  out.push('');
  const bpsTarget = s.dataset === 'node-exporter' ? `<= ${TARGETS.bytesPerSampleNodeExporter.toFixed(1)}` : `(<= ${TARGETS.bytesPerSampleNodeExporter.toFixed(1)} on node-exporter data)`;
  const rows: string[][] = [
    ['metric', 'result', 'target', 'VictoriaMetrics', 'Prometheus'],
    ['ingest samples/s (median of windows)', fmtNum(r.ingest.samplesPerSecondMedian), `>= ${fmtNum(TARGETS.samplesPerSecond)}${s.walFsync === 'batch' ? '' : ' (fsync on)'}`, REFERENCES.victoriaMetrics.samplesPerSecond, REFERENCES.prometheus.samplesPerSecond],
    ['ingest samples/s (whole run)', fmtNum(r.ingest.samplesPerSecond), '', '', ''],
    ['samples per server CPU-second', fmtNum(r.ingest.samplesPerServerCpuSecond), '', '', ''],
    ['bytes/sample, segments', fmtNum(r.disk.segmentBytesPerSample, 3), bpsTarget, REFERENCES.victoriaMetrics.bytesPerSample, REFERENCES.prometheus.bytesPerSample],
    ['bytes/sample, segments + WAL on disk', fmtNum(r.disk.segmentAndWalBytesPerSample, 3), '', '', ''],
    ['WAL bytes written/sample', fmtNum(r.disk.walBytesWrittenPerSample, 2), '', '', ''],
    ['server peak RSS', fmtBytes(r.memory.serverPeakRssBytes), '', '', ''],
  ];
  for (const q of r.queries) {
    for (const t of q.timings) {
      rows.push([`query ${t.name} (${q.phase}) median / p90 ms`, `${fmtNum(t.medianMs, 1)} / ${fmtNum(t.p90Ms, 1)}`, '', '', '']);
    }
  }
  out.push(table(rows));
  out.push('');
  out.push(
    `ingest: ${fmtNum(r.ingest.samples)} samples in ${r.ingest.seconds.toFixed(2)} s; windows ${r.ingest.windowSamplesPerSecond.map((x) => fmtNum(x)).join(', ')} samples/s; ` +
      `request latency median ${fmtNum(r.ingest.requestLatencyMsMedian, 1)} ms, p99 ${fmtNum(r.ingest.requestLatencyMsP99, 1)} ms; ` +
      `retries ${r.ingest.retries} (429: ${r.ingest.status429}, 5xx: ${r.ingest.status5xx}); server CPU ${fmtNum(r.ingest.serverCpuSeconds, 1)} s, client CPU ${r.ingest.clientCpuSeconds.toFixed(1)} s; ` +
      `server counted ${fmtNum(r.ingest.serverSamplesIngested)} samples`,
  );
  out.push(
    `disk after flush (${fmtNum(r.disk.flushMs)} ms): segments ${fmtBytes(r.disk.segmentBytes)} in ${r.disk.segmentFiles} files, WAL ${fmtBytes(r.disk.walBytesAfterFlush)} on disk, ` +
      `${r.disk.walBytesWritten === null ? 'WAL bytes written n/a' : fmtBytes(r.disk.walBytesWritten) + ' WAL written'}, data dir ${fmtBytes(r.disk.dataDirBytes)}`,
  );
  for (const q of r.queries) {
    for (const t of q.timings) {
      out.push(`query ${t.name} (${q.phase}, step ${q.stepS} s over ${(q.rangeS / 60).toFixed(0)} min, ${t.runs} runs): ${t.seriesReturned} series, ${t.pointsReturned} points; min ${fmtNum(t.minMs, 1)} max ${fmtNum(t.maxMs, 1)} ms; ${t.query.length > 120 ? t.query.slice(0, 117) + '...' : t.query}`);
    }
  }
  if (r.profile) {
    out.push('');
    out.push(`CPU profile (${r.profile.dir})${r.profile.note ? ': ' + r.profile.note : ''}`);
    const p = r.profile.mainThread;
    if (p) {
      out.push(`main thread, ${p.windowed ? 'ingest phase only' : 'whole run'}: ${fmtNum(p.busyMs)} ms busy, ${fmtNum(p.idleMs)} ms idle`);
      out.push(table([['self time by module', 'ms', '%'], ...p.modules.slice(0, 12).map((m) => [m.name, fmtNum(m.selfMs), m.percent.toFixed(1)])]));
      out.push('');
      out.push(table([['top functions by self time', 'location', 'ms', '%'], ...p.functions.slice(0, 20).map((f) => [f.name, f.location, fmtNum(f.selfMs), f.percent.toFixed(1)])]));
    }
    for (const w of r.profile.workers) {
      if (w.busyMs < 1) continue;
      out.push('');
      out.push(`worker thread ${w.file.split('/').pop()}: ${fmtNum(w.busyMs)} ms busy (${w.windowed ? 'ingest phase' : 'whole run'})`);
      out.push(table([['top functions by self time', 'location', 'ms', '%'], ...w.functions.slice(0, 8).map((f) => [f.name, f.location, fmtNum(f.selfMs), f.percent.toFixed(1)])]));
    }
  }
  return out.join('\n') + '\n';
}
