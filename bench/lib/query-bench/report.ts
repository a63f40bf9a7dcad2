// Formats the query benchmark's report as plain-text tables: latency of both systems side by
// side with the mocha/Prometheus ratio, whether the answers agree, and the RSS increase per set.
import { fmtBytes } from '../report.js';
import type { QueryBenchReport } from './run.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

export function formatQueryReport(r: QueryBenchReport): string {
  const s = r.scenario;
  const out: string[] = [];
  out.push(`query bench: ${s.series} series (${s.hosts} hosts), ${s.scrapes} scrapes every ${s.intervalMs / 1000} s = ${s.samples} samples, ${s.dataStart} .. ${s.dataEnd}`);
  out.push(`mocha vs Prometheus ${r.prometheusVersion}, same remote-write bodies; ${s.runs} timed runs per query per system after a warm-up, interleaved A/B/B/A; step ${s.stepS} s`);
  out.push(`ingest: mocha ${r.ingest.mochaSendS.toFixed(1)} s, prometheus ${r.ingest.prometheusSendS.toFixed(1)} s; mocha flush ${r.ingest.mochaFlushMs.toFixed(0)} ms`);
  out.push(
    `RSS after the ingest: mocha ${fmtBytes(r.memory.mochaRssAfterIngestBytes)}, prometheus ${fmtBytes(r.memory.prometheusRssAfterIngestBytes)}; after mocha's flush: mocha ${fmtBytes(r.memory.mochaRssAfterLoadBytes)}, prometheus ${fmtBytes(r.memory.prometheusRssAfterLoadBytes)}`,
  );
  for (const ph of r.phases) {
    out.push('');
    out.push(`phase: ${ph.phase}`);
    const rows: string[][] = [['query', 'kind', 'series m/p', 'mocha med', 'p90', 'prom med', 'p90', 'ratio med', 'ratio p90', 'agree', 'dRSS mocha', 'dRSS prom']];
    for (const q of ph.queries) {
      const a = q.agreement;
      const agree = a.agree ? 'yes' : `NO (${a.seriesOnlyInA}+${a.seriesOnlyInB} series, ${a.pointsMissing} pts missing, ${a.valuesDiffering} differ)`;
      rows.push([q.name, q.kind, `${q.mocha.series}/${q.prometheus.series}`, ms(q.mocha.medianMs), ms(q.mocha.p90Ms), ms(q.prometheus.medianMs), ms(q.prometheus.p90Ms), q.ratioMedian.toFixed(2), q.ratioP90.toFixed(2), agree, fmtBytes(q.mocha.rssIncreaseBytes), fmtBytes(q.prometheus.rssIncreaseBytes)]);
    }
    out.push(table(rows));
    for (const q of ph.queries) {
      if (!q.agreement.agree) {
        out.push(`  ${q.name}: max rel error ${q.agreement.maxRelError.toExponential(2)} over ${q.agreement.pointsCompared} points; e.g. ${q.agreement.examples.slice(0, 3).join(' | ')}`);
        const raw = q.agreement.rawAtFirstDiffering;
        if (raw !== undefined) out.push(`    raw ${raw.selector}:\n      mocha:      ${raw.mocha.slice(0, 600)}\n      prometheus: ${raw.prometheus.slice(0, 600)}`);
      }
    }
    for (const q of ph.queries) {
      const p = q.profile;
      if (p === undefined) continue;
      out.push('');
      out.push(`mocha CPU during "${q.name}" (${ph.phase}): ${p.busyMs.toFixed(0)} ms busy`);
      out.push(table([['function', 'location', 'self ms', '%'], ...p.functions.slice(0, 8).map((f) => [f.name, f.location, f.selfMs.toFixed(0), f.percent.toFixed(1)])]));
    }
  }
  out.push('');
  out.push('ratio = mocha / Prometheus (< 1: mocha faster). dRSS = peak VmRSS sampled every 10 ms during the set minus VmRSS before it.');
  for (const n of r.notes) out.push(`NOTE: ${n}`);
  return out.join('\n') + '\n';
}
