// Times PromQL range queries the way Grafana sends them (POST, form-encoded), after one untimed
// warm-up run, and checks the answer is a successful matrix.
import { median, percentile } from './stats.js';

export interface QueryTiming {
  name: string;
  query: string;
  runs: number;
  seriesReturned: number;
  pointsReturned: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

interface MatrixAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values: unknown[] }[] };
}

export async function queryRange(baseUrl: string, query: string, startS: number, endS: number, stepS: number): Promise<{ series: number; points: number }> {
  const body = new URLSearchParams({ query, start: startS.toFixed(3), end: endS.toFixed(3), step: String(stepS) });
  const res = await fetch(new URL('/api/v1/query_range', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  const text = await res.text();
  let ans: MatrixAnswer;
  try {
    ans = JSON.parse(text) as MatrixAnswer;
  } catch {
    throw new Error(`query_range ${query}: HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (res.status !== 200 || ans.status !== 'success' || ans.data?.resultType !== 'matrix') {
    throw new Error(`query_range ${query}: HTTP ${res.status}: ${ans.error ?? text.slice(0, 300)}`);
  }
  let points = 0;
  for (const s of ans.data.result) points += s.values.length;
  return { series: ans.data.result.length, points };
}

export async function timeQuery(baseUrl: string, name: string, query: string, startS: number, endS: number, stepS: number, runs: number): Promise<QueryTiming> {
  const first = await queryRange(baseUrl, query, startS, endS, stepS); // warm-up, untimed
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await queryRange(baseUrl, query, startS, endS, stepS);
    ms.push(performance.now() - t);
  }
  return {
    name,
    query,
    runs,
    seriesReturned: first.series,
    pointsReturned: first.points,
    medianMs: median(ms),
    p90Ms: percentile(ms, 90),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
  };
}
