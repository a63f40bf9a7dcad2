// Sends one PromQL query (instant or range, POST form-encoded as Grafana does) to a Prometheus-
// compatible API: timed (timedQuery) or kept as typed arrays per series (runQuery), so the two
// systems' answers can be compared point by point.
import { bodyText, postFormBytes, timedFormPost } from '../http-form.js';
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

/** Query timeout: the bench's queries take seconds at most; a hung server fails the run. */
const QUERY_TIMEOUT_MS = 10 * 60 * 1000;

function queryUrlAndForm(baseUrl: string, q: QuerySpec): { url: URL; form: string } {
  const params: Record<string, string> =
    q.kind === 'range'
      ? { query: q.query, start: q.startS.toFixed(3), end: q.endS.toFixed(3), step: String(q.stepS) }
      : { query: q.query, time: q.endS.toFixed(3) };
  return { url: new URL(q.kind === 'range' ? '/api/v1/query_range' : '/api/v1/query', baseUrl), form: new URLSearchParams(params).toString() };
}

/**
 * One timed query: ms from sending it to the answer's last byte (postFormBytes: node:http, gzip
 * accepted as Grafana's client does). The body is only checked to be a success, after the timing;
 * runQuery gives the parsed answer that is compared.
 */
export async function timedQuery(baseUrl: string, q: QuerySpec): Promise<number> {
  const { url, form } = queryUrlAndForm(baseUrl, q);
  return timedFormPost(url, form, QUERY_TIMEOUT_MS, `${q.name} (${baseUrl}): `);
}

/** One query, its answer parsed into typed arrays per series (the same request as timedQuery's). */
export async function runQuery(baseUrl: string, q: QuerySpec): Promise<Answer> {
  const { url, form } = queryUrlAndForm(baseUrl, q);
  const res = await postFormBytes(url, form, QUERY_TIMEOUT_MS);
  const text = bodyText(res);
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
