// Grafana replay: the requests Grafana's Prometheus data source (and its Tempo service-graph and
// APM views) send, exactly as it sends them (PROTOCOLS.md §1), against the real server, checking
// the JSON shapes Grafana parses. Data is remote-written first, metadata included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { encodeRemoteWriteV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import type { MetricMetadata } from '../../src/ingest/remote-write.js';
import { postRemoteWrite, promGet, promPostForm, startServer, type ServerProcess } from '../helpers/server-process.js';

// Aligned to 15 s so every sample sits on the query grid; 30 minutes of data.
const NOW_MS = Math.floor(Date.now() / 60_000) * 60_000;
const STEP_MS = 15_000;
const POINTS = 120;
const NOW_S = NOW_MS / 1000;
const START_S = NOW_S - (POINTS - 1) * 15;

interface Envelope<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}
type Sample = [number, string];
interface QueryData<R> {
  resultType: 'matrix' | 'vector' | 'scalar' | 'string';
  result: R;
}
type Vector = Array<{ metric: Record<string, string>; value: Sample }>;
type Matrix = Array<{ metric: Record<string, string>; values: Sample[] }>;

/** A counter growing by perSecond from a high base (so rate's zero clamp never applies). */
function counter(labels: Record<string, string>, perSecond: number): EncodeSeries {
  const timestampsMs = new Float64Array(POINTS);
  const values = new Float64Array(POINTS);
  for (let i = 0; i < POINTS; i++) {
    timestampsMs[i] = NOW_MS - (POINTS - 1 - i) * STEP_MS;
    values[i] = 10_000 + perSecond * 15 * i;
  }
  return { labels, timestampsMs, values };
}

const SERVER = { service: 'frontend', span_kind: 'SPAN_KIND_SERVER', status_code: 'STATUS_CODE_OK' };
const SERIES: EncodeSeries[] = [
  counter({ __name__: 'traces_spanmetrics_calls_total', ...SERVER, span_name: 'GET /' }, 2),
  counter({ __name__: 'traces_spanmetrics_calls_total', ...SERVER, span_name: 'POST /cart' }, 1),
  counter({ __name__: 'traces_spanmetrics_calls_total', ...SERVER, span_kind: 'SPAN_KIND_CLIENT', span_name: 'SELECT' }, 5),
  // Cumulative buckets: rates 1, 2, 8/3, 8/3 per second.
  counter({ __name__: 'traces_spanmetrics_latency_bucket', ...SERVER, le: '0.1' }, 1),
  counter({ __name__: 'traces_spanmetrics_latency_bucket', ...SERVER, le: '0.5' }, 2),
  counter({ __name__: 'traces_spanmetrics_latency_bucket', ...SERVER, le: '1' }, 8 / 3),
  counter({ __name__: 'traces_spanmetrics_latency_bucket', ...SERVER, le: '+Inf' }, 8 / 3),
  counter({ __name__: 'traces_service_graph_request_total', client: 'frontend', server: 'cart' }, 3),
  counter({ __name__: 'traces_service_graph_request_total', client: 'cart', server: 'postgres', connection_type: 'database' }, 4),
  counter({ __name__: 'traces_service_graph_request_failed_total', client: 'frontend', server: 'cart' }, 0.5),
];
const METADATA: MetricMetadata[] = [
  { metricFamilyName: 'traces_spanmetrics_calls_total', type: 'counter', help: 'Calls by span.', unit: '' },
  { metricFamilyName: 'traces_spanmetrics_latency', type: 'histogram', help: 'Span latency.', unit: 'seconds' },
  { metricFamilyName: 'traces_service_graph_request_total', type: 'counter', help: 'Requests between two nodes.', unit: '' },
];

/** Grafana's timestamps: seconds as a JSON number (at most 3 decimals), values as strings. */
function expectSample(s: unknown): asserts s is Sample {
  expect(Array.isArray(s)).toBe(true);
  const [t, v] = s as unknown[];
  expect(typeof t).toBe('number');
  expect(typeof v).toBe('string');
  expect(String(t)).toMatch(/^-?\d+(\.\d{1,3})?$/);
}

function byLabels<T extends { metric: Record<string, string> }>(rows: T[], key: string): Map<string, T> {
  return new Map(rows.map((r) => [r.metric[key] ?? '', r]));
}

describe('Grafana replay', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
    const res = await postRemoteWrite(server.url, encodeRemoteWriteV1(SERIES, METADATA));
    expect(res.status, res.text).toBe(204);
    // Metadata of another tenant stays there.
    const other = await postRemoteWrite(server.url, encodeRemoteWriteV1([counter({ __name__: 'other_total' }, 1)], [{ metricFamilyName: 'other_total', type: 'counter', help: 'Other.', unit: '' }]), { 'X-Scope-OrgID': 'other' });
    expect(other.status, other.text).toBe(204);
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('Save & test: POST /api/v1/query 1+1, then buildinfo without features', async () => {
    const q = await promPostForm<Envelope<QueryData<Sample>>>(server.url, '/api/v1/query', { query: '1+1', time: String(NOW_S) });
    expect(q.status).toBe(200);
    expect(q.body).toEqual({ status: 'success', data: { resultType: 'scalar', result: [NOW_S, '2'] } });

    const b = await promGet<Envelope<Record<string, string>>>(server.url, '/api/v1/status/buildinfo');
    expect(b.status).toBe(200);
    expect(b.body.status).toBe('success');
    expect(Object.keys(b.body.data).sort()).toEqual(['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version']);
    expect(b.body.data).not.toHaveProperty('features');
    expect(b.body.data.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('start-up: rules, alerts and exemplars with millisecond times', async () => {
    expect((await promGet(server.url, '/api/v1/rules')).body).toEqual({ status: 'success', data: { groups: [] } });
    expect((await promGet(server.url, '/api/v1/alerts')).body).toEqual({ status: 'success', data: { alerts: [] } });
    const ex = await promGet(server.url, `/api/v1/query_exemplars?query=test&start=${NOW_MS - 3600_000}&end=${NOW_MS}`);
    expect(ex).toEqual({ status: 200, body: { status: 'success', data: [] } });
    const exPost = await promPostForm(server.url, '/api/v1/query_exemplars', { query: 'traces_spanmetrics_calls_total', start: String(NOW_MS - 3600_000), end: String(NOW_MS) });
    expect(exPost).toEqual({ status: 200, body: { status: 'success', data: [] } });
    const bad = await promGet<Envelope<unknown>>(server.url, `/api/v1/query_exemplars?query=${encodeURIComponent('sum(')}&start=${NOW_MS - 1}&end=${NOW_MS}`);
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBe('bad_data');
    const reversed = await promGet<Envelope<unknown>>(server.url, `/api/v1/query_exemplars?query=test&start=${NOW_MS}&end=${NOW_MS - 1}`);
    expect(reversed.status).toBe(400);
  });

  it('status endpoints have valid shapes', async () => {
    const t = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/targets');
    expect(t.body.data).toEqual({ activeTargets: [], droppedTargets: [], droppedTargetCounts: {} });
    const f = await promGet<Envelope<Record<string, string>>>(server.url, '/api/v1/status/flags');
    expect(f.body).toEqual({ status: 'success', data: {} });
    const r = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/status/runtimeinfo');
    expect(r.body.status).toBe('success');
    expect(typeof r.body.data.startTime).toBe('string');
    expect(r.body.data.reloadConfigSuccess).toBe(true);
  });

  it('autocomplete: metric names, labels with repeated match[], series with limit=40000', async () => {
    const range = `start=${START_S}&end=${NOW_S}`;
    const names = await promGet<Envelope<string[]>>(server.url, `/api/v1/label/__name__/values?${range}`);
    expect(names.body).toEqual({
      status: 'success',
      data: ['traces_service_graph_request_failed_total', 'traces_service_graph_request_total', 'traces_spanmetrics_calls_total', 'traces_spanmetrics_latency_bucket'],
    });

    const m = (s: string) => `match[]=${encodeURIComponent(s)}`;
    const labels = await promGet<Envelope<string[]>>(server.url, `/api/v1/labels?${range}&${m('traces_spanmetrics_calls_total')}&${m('traces_service_graph_request_total')}`);
    expect(labels.body).toEqual({ status: 'success', data: ['__name__', 'client', 'connection_type', 'server', 'service', 'span_kind', 'span_name', 'status_code'] });
    // The same by form-encoded POST, match[] repeated in the body.
    const labelsPost = await promPostForm<Envelope<string[]>>(server.url, '/api/v1/labels', { start: String(START_S), end: String(NOW_S), 'match[]': ['traces_spanmetrics_calls_total', 'traces_service_graph_request_total'] });
    expect(labelsPost.body).toEqual(labels.body);
    const oneMatch = await promPostForm<Envelope<string[]>>(server.url, '/api/v1/labels', { 'match[]': ['traces_service_graph_request_total'] });
    expect(oneMatch.body.data).toEqual(['__name__', 'client', 'connection_type', 'server']);

    const values = await promGet<Envelope<string[]>>(server.url, `/api/v1/label/span_name/values?${range}&${m('traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}')}`);
    expect(values.body.data).toEqual(['GET /', 'POST /cart']);

    const series = await promGet<Envelope<Array<Record<string, string>>>>(server.url, `/api/v1/series?${range}&${m('traces_service_graph_request_total')}&limit=40000`);
    expect(series.body).toEqual({
      status: 'success',
      data: [
        { __name__: 'traces_service_graph_request_total', client: 'cart', connection_type: 'database', server: 'postgres' },
        { __name__: 'traces_service_graph_request_total', client: 'frontend', server: 'cart' },
      ],
    });
    const seriesPost = await promPostForm<Envelope<Array<Record<string, string>>>>(server.url, '/api/v1/series', {
      start: String(START_S),
      end: String(NOW_S),
      'match[]': ['traces_service_graph_request_total', 'traces_spanmetrics_latency_bucket{le="+Inf"}'],
      limit: '40000',
    });
    expect(seriesPost.body.data.map((s) => s.__name__)).toEqual(['traces_service_graph_request_total', 'traces_service_graph_request_total', 'traces_spanmetrics_latency_bucket']);
    const limited = await promGet<Envelope<unknown[]>>(server.url, `/api/v1/series?${m('traces_spanmetrics_calls_total')}&limit=1`);
    expect(limited.body.data).toHaveLength(1);
    expect(limited.body.warnings).toEqual(['results truncated due to limit']);
  });

  it('metadata: {"<metric>":[{type,help,unit}]} per tenant, with metric/limit filters', async () => {
    const md = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/metadata');
    expect(md.status).toBe(200);
    expect(md.body).toEqual({
      status: 'success',
      data: {
        traces_service_graph_request_total: [{ type: 'counter', help: 'Requests between two nodes.', unit: '' }],
        traces_spanmetrics_calls_total: [{ type: 'counter', help: 'Calls by span.', unit: '' }],
        traces_spanmetrics_latency: [{ type: 'histogram', help: 'Span latency.', unit: 'seconds' }],
      },
    });
    const one = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/metadata?metric=traces_spanmetrics_latency');
    expect(Object.keys(one.body.data)).toEqual(['traces_spanmetrics_latency']);
    const lim = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/metadata?limit=2&limit_per_metric=1');
    expect(Object.keys(lim.body.data)).toHaveLength(2);
    expect((await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/metadata?limit=0')).body.data).toEqual({});
    const bad = await promGet<Envelope<unknown>>(server.url, '/api/v1/metadata?limit=x');
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBe('bad_data');
    const other = await promGet<Envelope<Record<string, unknown>>>(server.url, '/api/v1/metadata', { 'X-Scope-OrgID': 'other' });
    expect(other.body.data).toEqual({ other_total: [{ type: 'counter', help: 'Other.', unit: '' }] });
  });

  it('Explore: POST query_range with RFC3339 start/end and step=15s', async () => {
    const start = new Date((NOW_S - 300) * 1000).toISOString();
    const end = new Date(NOW_MS).toISOString();
    const r = await promPostForm<Envelope<QueryData<Matrix>>>(server.url, '/api/v1/query_range', {
      query: 'sum by (span_name) (rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m]))',
      start,
      end,
      step: '15s',
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('success');
    expect(r.body.data.resultType).toBe('matrix');
    const rows = byLabels(r.body.data.result, 'span_name');
    expect([...rows.keys()].sort()).toEqual(['GET /', 'POST /cart']);
    for (const [name, row] of rows) {
      expect(row.metric).toEqual({ span_name: name });
      expect(row.values).toHaveLength(21);
      for (const s of row.values) expectSample(s);
      expect(row.values[0]![0]).toBe(NOW_S - 300);
      expect(row.values[20]![0]).toBe(NOW_S);
      for (const [, v] of row.values) expect(Number(v)).toBeCloseTo(name === 'GET /' ? 2 : 1, 9);
    }
  });

  it('service graph: sum by (client, server) (rate(...)) or group by (client, connection_type, server) (...)', async () => {
    const r = await promPostForm<Envelope<QueryData<Vector>>>(server.url, '/api/v1/query', {
      query: 'sum by (client, server) (rate(traces_service_graph_request_total[5m])) or group by (client, connection_type, server) (traces_service_graph_request_total)',
      time: String(NOW_S),
    });
    expect(r.status).toBe(200);
    expect(r.body.data.resultType).toBe('vector');
    for (const row of r.body.data.result) {
      expectSample(row.value);
      expect(row.value[0]).toBe(NOW_S);
    }
    const got = r.body.data.result.map((row) => [row.metric, Number(row.value[1])] as const);
    got.sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
    expect(got.map((g) => g[0])).toEqual([
      { client: 'cart', connection_type: 'database', server: 'postgres' },
      { client: 'cart', server: 'postgres' },
      { client: 'frontend', server: 'cart' },
    ]);
    expect(got[0]![1]).toBe(1);
    expect(got[1]![1]).toBeCloseTo(4, 9);
    expect(got[2]![1]).toBeCloseTo(3, 9);
  });

  it('APM: topk over span metrics and histogram_quantile over latency buckets', async () => {
    const top = await promPostForm<Envelope<QueryData<Vector>>>(server.url, '/api/v1/query', {
      query: 'topk(5, sum(rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m])) by (span_name))',
      time: String(NOW_S),
    });
    expect(top.body.data.resultType).toBe('vector');
    const rows = byLabels(top.body.data.result, 'span_name');
    expect([...rows.keys()].sort()).toEqual(['GET /', 'POST /cart']);
    expect(Number(rows.get('GET /')!.value[1])).toBeCloseTo(2, 9);
    expect(Number(rows.get('POST /cart')!.value[1])).toBeCloseTo(1, 9);

    const hq = await promPostForm<Envelope<QueryData<Vector>>>(server.url, '/api/v1/query', {
      query: 'histogram_quantile(.9, sum(rate(traces_spanmetrics_latency_bucket{service="frontend", span_kind="SPAN_KIND_SERVER"}[5m])) by (le))',
      time: String(NOW_S),
    });
    expect(hq.body.data.result).toHaveLength(1);
    expect(hq.body.data.result[0]!.metric).toEqual({});
    expectSample(hq.body.data.result[0]!.value);
    // rank 0.9 * 8/3 = 2.4 falls in (0.5, 1] holding counts 2 .. 8/3: 0.5 + 0.5 * 0.4 / (2/3) = 0.8.
    expect(Number(hq.body.data.result[0]!.value[1])).toBeCloseTo(0.8, 9);
  });

  it('existence checks: __name__=~"a|b|c"', async () => {
    const names = 'traces_service_graph_request_total|traces_spanmetrics_calls_total|traces_spanmetrics_missing_total';
    const r = await promPostForm<Envelope<QueryData<Vector>>>(server.url, '/api/v1/query', { query: `count by (__name__) ({__name__=~"${names}"})`, time: String(NOW_S) });
    expect(r.body.data.resultType).toBe('vector');
    expect(r.body.data.result.map((x) => [x.metric.__name__, x.value[1]]).sort()).toEqual([
      ['traces_service_graph_request_total', '2'],
      ['traces_spanmetrics_calls_total', '3'],
    ]);
    const s = await promGet<Envelope<Array<Record<string, string>>>>(server.url, `/api/v1/series?match[]=${encodeURIComponent(`{__name__=~"${names}"}`)}&start=${START_S}&end=${NOW_S}`);
    expect(s.body.data).toHaveLength(5);
  });

  // Expected texts are Prometheus 2.42's answers, except numbers: Prometheus 3 prints them with
  // strconv 'f' (1000000) where 2.42 printed Go's %v (1e+06).
  it('format_query answers Prometheus\' pretty form', async () => {
    const cases: Array<[string, string]> = [
      ['sum by(a)(rate(x{b="c",a=~"d"}[5m] offset 1h)) + 1000000 * 1234567.5 + 0.00001 + 100000', 'sum by (a) (rate(x{a=~"d",b="c"}[5m] offset 1h)) + 1000000 * 1234567.5 + 0.00001 + 100000'],
      ['rate(foo[1h30m] @ start() offset 90d)[1w:5m] @ end() offset 1y', 'rate(foo[1h30m] @ start() offset 90d)[1w:5m] @ end() offset 1y'],
      [
        'topk(5, sum(rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m])) by (span_name))',
        'topk(5, sum by (span_name) (rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m])))',
      ],
      [
        'histogram_quantile(.9, sum(rate(traces_spanmetrics_latency_bucket{service="frontend", span_kind="SPAN_KIND_SERVER"}[5m])) by (le)) > ignoring(a,b) group_left(c) sum by (client, server) (rate(traces_service_graph_request_total[5m])) or group by (client, connection_type, server) (traces_service_graph_request_total)',
        '    histogram_quantile(\n      0.9,\n      sum by (le) (\n        rate(traces_spanmetrics_latency_bucket{service="frontend",span_kind="SPAN_KIND_SERVER"}[5m])\n      )\n    )\n  > ignoring (a, b) group_left (c)\n    sum by (client, server) (rate(traces_service_graph_request_total[5m]))\nor\n  group by (client, connection_type, server) (traces_service_graph_request_total)',
      ],
    ];
    for (const [query, want] of cases) {
      const r = await promPostForm<Envelope<string>>(server.url, '/api/v1/format_query', { query });
      expect(r.body, query).toEqual({ status: 'success', data: want });
    }
    const g = await promGet<Envelope<string>>(server.url, `/api/v1/format_query?query=${encodeURIComponent('foo{a="x\\ny"} @ 1700000000.5 offset -5m')}`);
    expect(g.body.data).toBe('foo{a="x\\ny"} @ 1700000000.500 offset -5m');
    const bad = await promGet<Envelope<string>>(server.url, `/api/v1/format_query?query=${encodeURIComponent('sum(')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^invalid parameter "query": 1:5: parse error/);
  });

  it('errors: parse 400 bad_data, evaluation 422 execution, too many points 400', async () => {
    const parse = await promPostForm<Envelope<unknown>>(server.url, '/api/v1/query', { query: 'sum(rate(x[5m])', time: String(NOW_S) });
    expect(parse.status).toBe(400);
    expect(parse.body.status).toBe('error');
    expect(parse.body.errorType).toBe('bad_data');
    expect(parse.body.error).toMatch(/^invalid parameter "query": /);
    const exec = await promPostForm<Envelope<unknown>>(server.url, '/api/v1/query', { query: 'traces_spanmetrics_calls_total * on() traces_spanmetrics_calls_total', time: String(NOW_S) });
    expect(exec.status).toBe(422);
    expect(exec.body.errorType).toBe('execution');
    const points = await promPostForm<Envelope<unknown>>(server.url, '/api/v1/query_range', { query: '1', start: '0', end: '100000', step: '1' });
    expect(points.status).toBe(400);
    expect(points.body.errorType).toBe('bad_data');
    const missing = await promPostForm<Envelope<unknown>>(server.url, '/api/v1/query_range', { query: '1', start: String(START_S), end: String(NOW_S) });
    expect(missing.status).toBe(400);
  });
});
