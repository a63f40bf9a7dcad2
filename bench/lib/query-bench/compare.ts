// Compares two query answers (mocha's and Prometheus') series by series and point by point:
// same label sets, same timestamps, values within a relative tolerance (NaN equals NaN). Every
// disagreement is counted and the first few are kept as examples for the report.
import type { Answer } from './client.js';

/** Examples of disagreements kept per query. */
const EXAMPLES_MAX = 5;

export interface Agreement {
  agree: boolean;
  seriesA: number;
  seriesB: number;
  pointsA: number;
  pointsB: number;
  seriesOnlyInA: number;
  seriesOnlyInB: number;
  pointsCompared: number;
  pointsMissing: number;
  valuesDiffering: number;
  maxRelError: number;
  examples: string[];
  /** The first point whose values differ, for a look at the raw samples behind it. */
  firstDiffering?: { key: string; tMs: number };
  /** Raw samples of that series around that point on both systems (filled by the runner). */
  rawAtFirstDiffering?: { selector: string; mocha: string; prometheus: string };
}

export function labelsKeyOf(metric: Record<string, string>): string {
  const names = Object.keys(metric).sort();
  return '{' + names.map((n) => `${n}=${JSON.stringify(metric[n])}`).join(',') + '}';
}

function relError(a: number, b: number): number {
  if (Number.isNaN(a) && Number.isNaN(b)) return 0;
  if (a === b) return 0; // covers equal infinities
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

export function compareAnswers(a: Answer, b: Answer, relTolerance: number): Agreement {
  const byKey = new Map(b.series.map((s) => [s.key, s]));
  const r: Agreement = {
    agree: true,
    seriesA: a.series.length,
    seriesB: b.series.length,
    pointsA: a.points,
    pointsB: b.points,
    seriesOnlyInA: 0,
    seriesOnlyInB: 0,
    pointsCompared: 0,
    pointsMissing: 0,
    valuesDiffering: 0,
    maxRelError: 0,
    examples: [],
  };
  const example = (s: string) => {
    if (r.examples.length < EXAMPLES_MAX) r.examples.push(s);
  };
  const seen = new Set<string>();
  for (const sa of a.series) {
    const sb = byKey.get(sa.key);
    if (sb === undefined) {
      r.seriesOnlyInA++;
      const pts = Array.from(sa.timestampsMs.slice(0, 3), (t, i) => `${sa.values[i]}@${t}`).join(' ');
      example(`only in mocha: ${sa.key} (${sa.timestampsMs.length} points: ${pts}${sa.timestampsMs.length > 3 ? ' ...' : ''})`);
      continue;
    }
    seen.add(sa.key);
    const mapB = new Map<number, number>();
    for (let i = 0; i < sb.timestampsMs.length; i++) mapB.set(sb.timestampsMs[i]!, sb.values[i]!);
    for (let i = 0; i < sa.timestampsMs.length; i++) {
      const t = sa.timestampsMs[i]!;
      const vb = mapB.get(t);
      if (vb === undefined) {
        r.pointsMissing++;
        example(`${sa.key} @${t}: only in mocha (${sa.values[i]})`);
        continue;
      }
      mapB.delete(t);
      r.pointsCompared++;
      const e = relError(sa.values[i]!, vb);
      if (e > r.maxRelError) r.maxRelError = e;
      if (e > relTolerance) {
        r.valuesDiffering++;
        r.firstDiffering ??= { key: sa.key, tMs: t };
        example(`${sa.key} @${t}: mocha ${sa.values[i]} vs prometheus ${vb}`);
      }
    }
    r.pointsMissing += mapB.size;
    for (const [t, v] of mapB) {
      example(`${sa.key} @${t}: only in prometheus (${v})`);
      break;
    }
  }
  for (const sb of b.series) {
    if (!seen.has(sb.key)) {
      r.seriesOnlyInB++;
      const pts = Array.from(sb.timestampsMs.slice(0, 3), (t, i) => `${sb.values[i]}@${t}`).join(' ');
      example(`only in prometheus: ${sb.key} (${sb.timestampsMs.length} points: ${pts}${sb.timestampsMs.length > 3 ? ' ...' : ''})`);
    }
  }
  r.agree = r.seriesOnlyInA === 0 && r.seriesOnlyInB === 0 && r.pointsMissing === 0 && r.valuesDiffering === 0;
  return r;
}
