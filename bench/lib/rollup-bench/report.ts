// The rollup benchmark's table (stdout): load and compaction, ingest latency idle vs compacting,
// bytes per level, query timings with ratios and answer agreement, and PASS/FAIL per goal.
import type { RollupBenchReport, Target, TargetTiming } from './run.js';

const MB = 1024 * 1024;
const fmtMs = (x: number | undefined) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const fmtMB = (b: number) => (b / MB).toFixed(b >= 100 * MB ? 0 : 2);

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  ')).join('\n') + '\n';
}

/**
 * data.stats.rollup as docs/API.md describes it (one entry per selector evaluation: expr, level,
 * reason, levelSegmentsRead, rawPiecesRead), summarised; anything else is shown as JSON.
 */
export function summarizeRollupStats(x: unknown): string {
  if (!Array.isArray(x)) return abbreviated(x);
  const by = new Map<string, { n: number; seg: number; raw: number }>();
  for (const e of x as { level?: string; reason?: string; levelSegmentsRead?: number; rawPiecesRead?: number }[]) {
    const k = `${e.level ?? '?'}${e.reason !== undefined ? ` (${e.reason})` : ''}`;
    const v = by.get(k) ?? { n: 0, seg: 0, raw: 0 };
    v.n++;
    v.seg += e.levelSegmentsRead ?? 0;
    v.raw += e.rawPiecesRead ?? 0;
    by.set(k, v);
  }
  return [...by].map(([k, v]) => `${k}: ${v.n} selector evaluation${v.n === 1 ? '' : 's'}, ${v.seg} level segments, ${v.raw} raw pieces`).join('; ');
}

function abbreviated(x: unknown, chars = 160): string {
  if (x === undefined) return '-';
  const s = JSON.stringify(x);
  return s.length > chars ? s.slice(0, chars - 3) + '...' : s;
}

function compactionSummary(body: string | undefined): string {
  if (body === undefined) return '-';
  try {
    const d = (JSON.parse(body) as { data?: Record<string, unknown> }).data;
    if (d !== undefined && typeof d === 'object') return Object.entries(d).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ');
  } catch {
    // not JSON (or cut at 2000 characters): shown as it is
  }
  return body.slice(0, 300);
}

export function formatRollupReport(r: RollupBenchReport): string {
  const s = r.scenario;
  let out = `\nrollup pyramid benchmark (${r.startedAt}; ${r.machine.cpus} cpus, load ${r.machine.loadAvg1Start.toFixed(1)} -> ${r.machine.loadAvg1End.toFixed(1)})\n`;
  out += `data: ${s.series} series (${s.counters} counters, ${s.gauges} gauges) x ${s.days} d at ${s.intervalMs / 1000} s = ${s.samples} samples, ${s.dataStart} .. ${s.dataEnd}\n`;
  out += `command: ${r.command}\nmocha flags: ${s.mochaArgs.join(" ")}\n`;
  // First thing under the command: a reuse run's timings are not a full run's.
  if (r.reused !== undefined) {
    out += `REUSED DATA (not a full run): mocha data copied from ${r.reused.mochaDir} in ${(r.reused.mochaCopyMs / 1000).toFixed(1)} s, dataset from ${r.reused.datasetFrom}\n`;
    out += `  checked: ${r.reused.verified}\n`;
    out += `  Prometheus: ${r.reused.prometheusDir !== undefined ? `blocks copied from ${r.reused.prometheusDir}` : 'not reused (see below)'}; no backfill, compaction, ingest-latency phase or promtool load in this run\n`;
  }
  out += '\n';

  const l = r.load;
  if (l.skipped !== undefined) out += `load: SKIPPED (${l.skipped})\n`;
  else {
    out += `load (remote write 1.0, ${s.senders} senders, ~${s.samplesPerRequest} samples/request, wal-fsync ${s.walFsync}): ${l.samples} samples in ${((l.ms ?? 0) / 1000).toFixed(1)} s = ${((l.samplesPerSecond ?? 0) / 1000).toFixed(0)}k samples/s`;
    out += `; ${l.flushes} flushes taking ${((l.flushMs ?? 0) / 1000).toFixed(1)} s (overlapping the sends); request p50/p99 ${fmtMs(l.requestP50Ms)}/${fmtMs(l.requestP99Ms)} ms; retries ${l.retries} (429: ${l.status429})`;
    if (l.serverCpuS !== undefined) out += `; server CPU ${l.serverCpuS.toFixed(0)} s`;
    out += '\n';
  }
  out += r.compaction.skipped !== undefined
    ? `compaction: SKIPPED (${r.compaction.skipped}; ${r.compaction.available ? 'it has rollup levels' : 'it has NO rollup levels'})\n`
    : r.compaction.available
    ? `compaction (POST /api/v1/admin/compact): ${((r.compaction.ms ?? 0) / 1000).toFixed(1)} s${r.compaction.serverCpuS !== undefined ? `, server CPU ${r.compaction.serverCpuS.toFixed(0)} s` : ''}\n  answer: ${compactionSummary(r.compaction.response)}\n`
    : 'compaction: NOT AVAILABLE (POST /api/v1/admin/compact answered 404)\n';
  out += `mocha peak RSS ${fmtMB(r.memory.mochaPeakRssBytes)} MiB${r.reused !== undefined ? ' (reused data: queries and bytes per level only)' : ''}\n`;

  const lat = r.latency;
  if (lat.skipped !== undefined) out += `\ningest latency: SKIPPED (${lat.skipped})\n`;
  else {
    out += `\ningest latency, ${lat.liveSeries} series every ${lat.periodMs} ms (remote write of current data):\n`;
    const latRows = [['phase', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'runnable']];
    for (const [name, p] of [['idle', lat.idle], ['while compacting', lat.compacting]] as const) {
      latRows.push(p === undefined ? [name, '-', '-', '-', '-', '-'] : [name, String(p.requests), fmtMs(p.p50Ms), fmtMs(p.p99Ms), fmtMs(p.maxMs), p.runnableMean !== undefined ? p.runnableMean.toFixed(1) : '-']);
    }
    out += table(latRows);
    if (lat.ratioP99 !== undefined) out += `p99 ratio compacting/idle: ${lat.ratioP99.toFixed(2)}\n`;
    if (lat.idle?.runnableMean !== undefined) out += `runnable: mean threads runnable on the machine (${r.machine.cpus} cpus) at each request (/proc/stat procs_running); far above the cpus, other load moves the latency\n`;
  }

  const lv = r.levels;
  const src = lv.manifest ?? lv.disk;
  out += `\nbytes per level (${lv.manifest !== undefined ? 'manifest' : 'segment directories'}):\n`;
  const rows = [['level', 'segments', 'MiB', '% of raw', 'on disk MiB', '/metrics MiB']];
  for (const e of src) {
    const d = lv.disk.find((x) => x.level === e.level);
    const m = lv.metrics.filter((x) => x.level === e.level).reduce((a, x) => a + x.bytes, 0);
    rows.push([e.level, String(e.segments), fmtMB(e.bytes), lv.rawBytes > 0 ? ((100 * e.bytes) / lv.rawBytes).toFixed(1) : '-', d !== undefined ? fmtMB(d.bytes) : '-', m > 0 ? fmtMB(m) : '-']);
  }
  rows.push(['levels total', '', fmtMB(lv.levelBytes), lv.levelsPctOfRaw !== undefined ? lv.levelsPctOfRaw.toFixed(1) : '-', '', '']);
  out += table(rows);
  out += `raw bytes/sample: ${s.samples > 0 && lv.rawBytes > 0 ? (lv.rawBytes / s.samples).toFixed(3) : '-'} (raw level also holds the steady writer's few samples)\n`;

  const p = r.prometheus;
  out += p.skipped !== undefined
    ? `\nPrometheus: SKIPPED (${p.skipped})\n`
    : p.reusedFrom !== undefined
    ? `\nPrometheus ${p.version}: REUSED blocks of ${p.reusedFrom} (copied in ${((p.copyMs ?? 0) / 1000).toFixed(1)} s): ${p.blocks} blocks, ${fmtMB(p.blockBytes ?? 0)} MiB (${s.samples > 0 ? ((p.blockBytes ?? 0) / s.samples).toFixed(3) : '-'} B/sample), --storage.tsdb.max-block-duration=${p.blockDuration}; ready in ${((p.startMs ?? 0) / 1000).toFixed(1)} s\n`
    : `\nPrometheus ${p.version}: OpenMetrics ${((p.openMetricsBytes ?? 0) / 1e9).toFixed(2)} GB in ${p.promtoolRuns} files written in ${((p.openMetricsMs ?? 0) / 1000).toFixed(1)} s; promtool tsdb create-blocks-from openmetrics --max-block-duration=${p.blockDuration}: ${((p.promtoolMs ?? 0) / 1000).toFixed(1)} s (${s.samples > 0 && p.promtoolMs ? ((s.samples / (p.promtoolMs / 1000)) / 1000).toFixed(0) : '-'}k samples/s) -> ${p.blocks} blocks, ${fmtMB(p.blockBytes ?? 0)} MiB (${s.samples > 0 ? ((p.blockBytes ?? 0) / s.samples).toFixed(3) : '-'} B/sample); ready in ${((p.startMs ?? 0) / 1000).toFixed(1)} s\n`;

  out += `\nqueries over ${s.days} d at 1 h step, median of ${s.runs} runs (ms), after one untimed warm-up; each from sending the request to the whole body received (the client parses the JSON after):\n`;
  const qr = [['query', 'pyramid', 'raw', 'prometheus', 'raw/pyramid', 'prom/pyramid', 'series x points']];
  for (const q of r.queries) {
    // A target not run (--no-prometheus, no binary) carries its reason as an error starting 'skipped'.
    const cell = (t: TargetTiming) => (t.medianMs !== undefined ? fmtMs(t.medianMs) : t.error?.startsWith('skipped') === true ? 'skipped' : t.error !== undefined ? 'FAILED' : '-');
    qr.push([q.name, cell(q.targets.pyramid), cell(q.targets.raw), cell(q.targets.prometheus), q.speedupVsRaw !== undefined ? q.speedupVsRaw.toFixed(1) + 'x' : '-', q.speedupVsPrometheus !== undefined ? q.speedupVsPrometheus.toFixed(1) + 'x' : '-', `${q.targets.pyramid.series ?? '-'} x ${q.targets.pyramid.points ?? '-'}`]);
  }
  out += table(qr);
  out += 'pyramid: each run follows a raw (and Prometheus) run; repeated: the pyramid query back to back (a dashboard refreshing it):\n';
  const rr = [['query', 'pyramid', 'repeated', 'raw/repeated', 'prom/repeated']];
  for (const q of r.queries) {
    const rep = q.pyramidRepeated?.medianMs;
    const ratio = (x: number | undefined) => (x !== undefined && rep !== undefined && rep > 0 ? (x / rep).toFixed(1) + 'x' : '-');
    rr.push([q.name, fmtMs(q.targets.pyramid.medianMs), rep !== undefined ? fmtMs(rep) : q.pyramidRepeated?.error !== undefined ? 'FAILED' : '-', ratio(q.targets.raw.medianMs), ratio(q.targets.prometheus.medianMs)]);
  }
  out += table(rr);
  for (const q of r.queries) {
    out += `${q.name}: ${q.query}\n`;
    out += `  pyramid (resolution=auto) data.stats.rollup: ${summarizeRollupStats(q.targets.pyramid.rollupStats)}\n`;
    out += `  raw (resolution=raw) data.stats.rollup: ${summarizeRollupStats(q.targets.raw.rollupStats)}\n`;
    for (const t of ['pyramid', 'raw', 'prometheus'] as Target[]) if (q.targets[t].error !== undefined) out += `  ${t}: ${q.targets[t].error}\n`;
    for (const a of q.agreement) {
      const g = a.agreement;
      out += `  ${a.pair}: ${g.agree ? 'agree' : 'DIFFER'} (${g.pointsCompared} points, max rel error ${g.maxRelError.toExponential(2)}${g.agree ? '' : `, ${g.valuesDiffering} values differ, ${g.pointsMissing} missing, series only in one: ${g.seriesOnlyInA}/${g.seriesOnlyInB}`})\n`;
      for (const e of g.agree ? [] : g.examples.slice(0, 3)) out += `    ${e}\n`;
    }
  }

  out += '\ngoals:\n';
  for (const g of r.goals) out += `  ${g.pass === undefined ? 'N/A ' : g.pass ? 'PASS' : 'FAIL'}  ${g.name}: ${g.detail}\n`;
  if (r.notes.length > 0) out += '\nnotes:\n' + r.notes.map((n) => `  - ${n}\n`).join('');
  return out;
}
