// Sends one PromQL query (instant or range, POST form-encoded as Grafana does) to a Prometheus-
// compatible API and keeps the answer as typed arrays per series, so the two systems' answers
// can be compared point by point.
import { labelsKeyOf } from './compare.js';

export interface QuerySpec {
  name: string;
  query: string;
  kind: 'range' | 'instant';
  startS: number;
  endS: number;
  stepS: number;
}

export interface AnswerSeries {
  key: string;
  timestampsMs: Float64Array;
  values: Float64Array;
}

export interface Answer {
  series: AnswerSeries[];
  points: number;
}

interface PromAnswer {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }[] | [number, string];
  };
}

export async function runQuery(baseUrl: string, q: QuerySpec): Promise<Answer> {
  const params: Record<string, string> =
    q.kind === 'range'
      ? { query: q.query, start: q.startS.toFixed(3), end: q.endS.toFixed(3), step: String(q.stepS) }
      : { query: q.query, time: q.endS.toFixed(3) };
  const res = await fetch(new URL(q.kind === 'range' ? '/api/v1/query_range' : '/api/v1/query', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let ans: PromAnswer;
  try {
    ans = JSON.parse(text) as PromAnswer;
  } catch {
    throw new Error(`${q.name} (${baseUrl}): HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (res.status !== 200 || ans.status !== 'success' || ans.data === undefined) {
    throw new Error(`${q.name} (${baseUrl}): HTTP ${res.status}: ${ans.error ?? text.slice(0, 300)}`);
  }
  const out: AnswerSeries[] = [];
  let points = 0;
  const r = ans.data.result;
  if (ans.data.resultType === 'scalar') {
    const p = r as [number, string];
    out.push({ key: '{}', timestampsMs: Float64Array.of(Math.round(p[0] * 1000)), values: Float64Array.of(Number(p[1])) });
    points = 1;
  } else {
    for (const s of r as { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }[]) {
      const pts = s.values ?? (s.value !== undefined ? [s.value] : []);
      const ts = new Float64Array(pts.length);
      const vs = new Float64Array(pts.length);
      for (let i = 0; i < pts.length; i++) {
        ts[i] = Math.round(pts[i]![0] * 1000);
        vs[i] = Number(pts[i]![1]); // Number('NaN') / Number('+Inf') parse as Prometheus writes them
      }
      points += pts.length;
      out.push({ key: labelsKeyOf(s.metric), timestampsMs: ts, values: vs });
    }
  }
  return { series: out, points };
}
