// HTTP client pieces of the rollup benchmark: remote-write posts with Prometheus' retry policy,
// admin calls that report a missing endpoint instead of failing the run, query_range with
// mocha's `resolution` and `stats` parameters, and instant queries (checking reused data).
import http from 'node:http';
import { labelsKeyOf } from '../query-bench/compare.js';
import { bodyText, postFormBytes, timedFormPost } from '../http-form.js';
import type { Answer, AnswerSeries } from '../query-bench/client.js';

const BACKOFF_MIN_MS = 30;
const BACKOFF_MAX_MS = 5000;
const RETRIES_MAX = 50;

export interface PostResult {
  status: number;
  body: string;
}

export function postBody(agent: http.Agent, url: URL, body: Buffer, headers: Record<string, string>): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers: { 'content-length': String(body.length), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 4096) text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const REMOTE_WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'mocha-rollup-bench',
};

export interface WriteStats {
  retries: number;
  status429: number;
}

/**
 * Posts one remote-write body: 2xx done, 429/5xx and connection errors back off (30 ms doubling
 * to 5 s) and retry, anything else throws. Returns the latency of the successful attempt (ms).
 */
export async function remoteWrite(agent: http.Agent, url: URL, body: Buffer, stats?: WriteStats): Promise<number> {
  let backoff = BACKOFF_MIN_MS;
  for (let attempt = 0; ; attempt++) {
    const t = performance.now();
    let r: PostResult | undefined;
    try {
      r = await postBody(agent, url, body, REMOTE_WRITE_HEADERS);
    } catch (e) {
      if (attempt >= RETRIES_MAX) throw new Error(`remote write: ${(e as Error).message}`);
    }
    if (r !== undefined && r.status >= 200 && r.status < 300) return performance.now() - t;
    if (r !== undefined) {
      if (r.status !== 429 && r.status < 500) throw new Error(`remote write refused with ${r.status}: ${r.body}`);
      if (r.status === 429 && stats !== undefined) stats.status429++;
      if (attempt >= RETRIES_MAX) throw new Error(`remote write: still ${r.status} after ${attempt} retries: ${r.body}`);
    }
    if (stats !== undefined) stats.retries++;
    await new Promise((res) => setTimeout(res, backoff));
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
  }
}

export interface AdminResult {
  /** false: the server has no such endpoint (404). */
  available: boolean;
  status: number;
  ms: number;
  body: string;
}

/** POSTs an admin endpoint; a 404 is reported (available: false), other non-2xx statuses throw. */
export async function adminPost(baseUrl: string, path: string, timeoutMs = 6 * 60 * 60 * 1000): Promise<AdminResult> {
  const t = performance.now();
  // node:http, not fetch: fetch (undici) gives up after 300 s without response headers, and a
  // 30-day compaction on a loaded machine takes longer than that.
  const url = new URL(path, baseUrl);
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', timeout: timeoutMs }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      r.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
  const body = res.body;
  const ms = performance.now() - t;
  if (res.status === 404) return { available: false, status: 404, ms, body };
  if (res.status < 200 || res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${body.slice(0, 500)}`);
  return { available: true, status: res.status, ms, body };
}

export interface RangeQuery {
  query: string;
  startS: number;
  endS: number;
  stepS: number;
}

export interface RangeAnswer {
  answer: Answer;
  /**
   * From sending the request to having the whole response body: what the server costs a client.
   * The timings use this, not the call's duration: parsing a 10 MB matrix here (~0.3 s) is the
   * client's work, the same whichever server answered, and it shares the 2 cores.
   */
  receivedMs: number;
  /** data.stats of the answer (mocha with stats=all), if any. */
  stats: unknown;
}

interface PromAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values?: [number, string][] }[]; stats?: unknown };
}

/**
 * A timed query_range: receivedMs only. The body is not parsed (parsing an 11 MB matrix leaves
 * ~100 MB of garbage, which the next timed request's receiving would collect), only checked to be
 * a success after the timing. The caller collects the client's heap first (collectClientHeap),
 * so no client GC pause falls into a timing. The answer compared is the untimed one of queryRange.
 *
 * Sent with node:http, not fetch(): undici's parser and its body-to-string decoding cost ~60 ms
 * of an 11 MB answer here (the 30-day avg_over_time from the pyramid, one process, alternating,
 * 15 runs: fetch + text() 163 ms, fetch + arrayBuffer() 142, node:http 104, curl 93), client work
 * on the two cores the server uses that weighed on the fastest target most. As Grafana's (Go)
 * client it accepts gzip (Prometheus compresses its answers, mocha does not) and decompresses
 * after receiving: outside the timing, like parsing.
 */
export async function timedQueryRange(baseUrl: string, q: RangeQuery, extra: Record<string, string> = {}, timeoutMs = 60 * 60 * 1000): Promise<number> {
  return timedFormPost(new URL('/api/v1/query_range', baseUrl), queryRangeForm(q, extra), timeoutMs, '');
}

/**
 * A full collection of this process' heap where it runs with --expose-gc (the bench scripts do),
 * before a timed request: V8 finishes part of it on background threads after gc() returns, so
 * the caller waits for an idle machine after this, not before.
 */
export function collectClientHeap(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** query_range's form body, as Grafana sends it, with extra parameters (resolution, stats). */
function queryRangeForm(q: RangeQuery, extra: Record<string, string>): string {
  return new URLSearchParams({ query: q.query, start: String(q.startS), end: String(q.endS), step: String(q.stepS), ...extra }).toString();
}

/** query_range, POSTed form-encoded as Grafana sends it, with extra parameters (resolution, stats). */
export async function queryRange(baseUrl: string, q: RangeQuery, extra: Record<string, string> = {}, timeoutMs = 60 * 60 * 1000): Promise<RangeAnswer> {
  // The same request as timedQueryRange's (node:http, gzip accepted), parsed after the timing.
  const reply = await postFormBytes(new URL('/api/v1/query_range', baseUrl), queryRangeForm(q, extra), timeoutMs);
  const { status, receivedMs } = reply;
  const text = bodyText(reply);
  let ans: PromAnswer;
  try {
    ans = JSON.parse(text) as PromAnswer;
  } catch {
    throw new Error(`HTTP ${status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (status !== 200 || ans.status !== 'success' || ans.data === undefined) throw new Error(`HTTP ${status}: ${ans.error ?? text.slice(0, 300)}`);
  const series: AnswerSeries[] = [];
  let points = 0;
  for (const s of ans.data.result) {
    const pts = s.values ?? [];
    const ts = new Float64Array(pts.length);
    const vs = new Float64Array(pts.length);
    for (let i = 0; i < pts.length; i++) {
      ts[i] = Math.round(pts[i]![0] * 1000);
      vs[i] = Number(pts[i]![1]);
    }
    points += pts.length;
    series.push({ key: labelsKeyOf(s.metric), timestampsMs: ts, values: vs });
  }
  return { answer: { series, points }, stats: ans.data.stats, receivedMs };
}

/** An instant query's `data` (resultType and result as the server sent them). */
export async function queryInstant(baseUrl: string, query: string, timeS: number, extra: Record<string, string> = {}, timeoutMs = 5 * 60 * 1000): Promise<{ resultType: string; result: unknown[] }> {
  const res = await fetch(new URL('/api/v1/query', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query, time: String(timeS), ...extra }).toString(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let ans: { status?: string; error?: string; data?: { resultType: string; result: unknown[] } };
  try {
    ans = JSON.parse(text) as typeof ans;
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  if (res.status !== 200 || ans.status !== 'success' || ans.data === undefined) throw new Error(`${query}: HTTP ${res.status}: ${ans.error ?? text.slice(0, 300)}`);
  return ans.data;
}
