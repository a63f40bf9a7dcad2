// OTLP/HTTP metrics against the real server: both paths, both encodings, gzip, partial success,
// and every refusal (400 garbage / wrong JSON types / invalid UTF-8, 413 oversized and gzip bomb,
// 415 types and encodings) with its google.rpc.Status body, and nothing stored by a refused one.
import fs from 'node:fs';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attrs, encodeExportMetricsRequest, msToNanos, TEMPORALITY_CUMULATIVE, TEMPORALITY_DELTA, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';
import { postRaw, promGet, startServer, type ServerProcess } from '../helpers/server-process.js';

const NOW_MS = Math.floor(Date.now() / 1000) * 1000;
const MiB = 1024 * 1024;

const schema = protobuf.parse(`syntax = "proto3";
  message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
  message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
  message Status { int32 code = 1; string message = 2; }`).root;
const Resp = schema.lookupType('ExportMetricsServiceResponse');
const Status = schema.lookupType('Status');

function gauge(name: string, labels: Record<string, string> = {}, value = 1, extra: Record<string, string> = {}): OtlpMetricsRequestJson {
  return {
    resourceMetrics: [
      {
        resource: { attributes: attrs({ 'service.name': 'e2e', 'service.instance.id': 'i-1', ...extra }) },
        scopeMetrics: [{ scope: { name: 'e2e.scope', version: '0.1' }, metrics: [{ name, unit: 'By', gauge: { dataPoints: [{ attributes: attrs(labels), timeUnixNano: msToNanos(NOW_MS), asDouble: value }] } }] }],
      },
    ],
  };
}

interface Answer {
  status: number;
  contentType: string;
  retryAfter: string | null;
  body: Buffer;
}

async function post(base: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(base + path, { method: 'POST', headers, body });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), body: Buffer.from(await res.arrayBuffer()) };
}

const PB = { 'content-type': 'application/x-protobuf' };
const JS = { 'content-type': 'application/json' };

describe('OTLP/HTTP metrics end to end', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function series(match: string, tenant?: string): Promise<Array<Record<string, string>>> {
    const res = await promGet<{ data: Array<Record<string, string>> }>(server.url, `/api/v1/series?match[]=${encodeURIComponent(match)}`, tenant ? { 'X-Scope-OrgID': tenant } : {});
    expect(res.status).toBe(200);
    return res.body.data;
  }

  it('protobuf on /v1/metrics: 200 with an empty ExportMetricsServiceResponse, series and target_info stored', async () => {
    const a = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(gauge('e2e.pb.mem', { 'pool.name': 'heap' }, 42, { 'host.name': 'h1' })), PB);
    expect(a.status).toBe(200);
    expect(a.contentType).toBe('application/x-protobuf');
    expect(a.body.length).toBe(0);
    expect(await series('e2e_pb_mem_bytes')).toEqual([
      { __name__: 'e2e_pb_mem_bytes', instance: 'i-1', job: 'e2e', otel_scope_name: 'e2e.scope', otel_scope_version: '0.1', pool_name: 'heap' },
    ]);
    expect(await series('target_info{host_name="h1"}')).toEqual([{ __name__: 'target_info', host_name: 'h1', instance: 'i-1', job: 'e2e' }]);
    const q = await promGet<{ data: { result: Array<{ value: [number, string] }> } }>(server.url, `/api/v1/query?query=e2e_pb_mem_bytes&time=${NOW_MS / 1000}`);
    expect(q.body.data.result[0]!.value[1]).toBe('42');
  });

  it('JSON on /api/v1/otlp/v1/metrics, gzip-compressed: 200 with {} in JSON', async () => {
    const body = zlib.gzipSync(Buffer.from(JSON.stringify(gauge('e2e.json.mem'))));
    const a = await post(server.url, '/api/v1/otlp/v1/metrics', body, { ...JS, 'content-encoding': 'gzip' });
    expect(a.status).toBe(200);
    expect(a.contentType).toBe('application/json');
    expect(JSON.parse(a.body.toString())).toEqual({});
    expect(await series('e2e_json_mem_bytes')).toHaveLength(1);
  });

  it('the tenant comes from X-Scope-OrgID', async () => {
    const a = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(gauge('e2e.tenant.only')), { ...PB, 'X-Scope-OrgID': 'team-a' });
    expect(a.status).toBe(200);
    expect(await series('e2e_tenant_only_bytes', 'team-a')).toHaveLength(1);
    expect(await series('e2e_tenant_only_bytes')).toHaveLength(0);
    const bad = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(gauge('e2e.tenant.bad')), { ...PB, 'X-Scope-OrgID': 'no/slashes' });
    expect(bad.status).toBe(400);
    expect(Status.toObject(Status.decode(bad.body)).message).toContain('X-Scope-OrgID');
  });

  it('partial success: DELTA and exponential histogram points rejected with a count and message, the rest stored', async () => {
    const req: OtlpMetricsRequestJson = {
      resourceMetrics: [
        {
          resource: { attributes: attrs({ 'service.name': 'e2e' }) },
          scopeMetrics: [
            {
              metrics: [
                { name: 'e2e.partial.ok', sum: { aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints: [{ timeUnixNano: msToNanos(NOW_MS), asInt: 3 }] } },
                { name: 'e2e.partial.delta', sum: { aggregationTemporality: TEMPORALITY_DELTA, isMonotonic: true, dataPoints: [{ timeUnixNano: msToNanos(NOW_MS), asInt: 1 }] } },
                { name: 'e2e.partial.exp', exponentialHistogram: { aggregationTemporality: TEMPORALITY_CUMULATIVE, dataPoints: [{ timeUnixNano: msToNanos(NOW_MS), count: 1 }] } },
              ],
            },
          ],
        },
      ],
    };
    const a = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(req), PB);
    expect(a.status).toBe(200);
    const r = Resp.toObject(Resp.decode(a.body), { longs: Number }) as { partialSuccess: { rejectedDataPoints: number; errorMessage: string } };
    expect(r.partialSuccess.rejectedDataPoints).toBe(2);
    expect(r.partialSuccess.errorMessage).toContain('delta_temporality: 1 samples');
    expect(r.partialSuccess.errorMessage).toContain('unsupported_type: 1 samples');
    expect(await series('e2e_partial_ok_total')).toHaveLength(1);
    expect(await series('{__name__=~"e2e_partial_(delta|exp).*"}')).toHaveLength(0);
    // The same in JSON.
    const j = await post(server.url, '/v1/metrics', Buffer.from(JSON.stringify(req)), JS);
    expect(JSON.parse(j.body.toString()).partialSuccess.rejectedDataPoints).toBe('2');
  });

  it('exemplars arrive with trace_id/span_id and are found by /api/v1/query_exemplars', async () => {
    const req: OtlpMetricsRequestJson = {
      resourceMetrics: [
        {
          resource: { attributes: attrs({ 'service.name': 'e2e' }) },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'e2e.ex.requests',
                  sum: {
                    aggregationTemporality: TEMPORALITY_CUMULATIVE,
                    isMonotonic: true,
                    dataPoints: [{ timeUnixNano: msToNanos(NOW_MS), asInt: 9, exemplars: [{ timeUnixNano: msToNanos(NOW_MS - 100), asDouble: 1, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }] }],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const a = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(req), PB);
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(0);
    const q = await promGet<{ data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }> }> }>(
      server.url,
      `/api/v1/query_exemplars?query=e2e_ex_requests_total&start=${NOW_MS / 1000 - 60}&end=${NOW_MS / 1000 + 60}`,
    );
    expect(q.status).toBe(200);
    expect(q.body.data).toEqual([
      {
        seriesLabels: { __name__: 'e2e_ex_requests_total', job: 'e2e' },
        exemplars: [{ labels: { span_id: '00f067aa0ba902b7', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }, value: '1', timestamp: (NOW_MS - 100) / 1000 }],
      },
    ]);
  });

  it('too many labels: 200 with partial_success (too_many_labels), nothing of that series stored', async () => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 200; i++) labels[`attr.${i}`] = 'v';
    const a = await post(server.url, '/v1/metrics', encodeExportMetricsRequest(gauge('e2e.wide', labels)), PB);
    expect(a.status).toBe(200);
    const r = Resp.toObject(Resp.decode(a.body), { longs: Number }) as { partialSuccess: { rejectedDataPoints: number; errorMessage: string } };
    expect(r.partialSuccess.rejectedDataPoints).toBe(1);
    expect(r.partialSuccess.errorMessage).toContain('too_many_labels');
    expect(await series('e2e_wide_bytes')).toHaveLength(0);
  });

  describe('refusals store nothing', () => {
    it('400 for garbage and truncated protobuf, with a protobuf google.rpc.Status (INVALID_ARGUMENT)', async () => {
      const good = encodeExportMetricsRequest(gauge('e2e.refused.trunc'));
      for (const body of [Buffer.from('definitely not protobuf'), good.subarray(0, good.length - 3)]) {
        const a = await post(server.url, '/v1/metrics', body, PB);
        expect(a.status).toBe(400);
        expect(a.contentType).toBe('application/x-protobuf');
        const s = Status.toObject(Status.decode(a.body)) as { code: number; message: string };
        expect(s.code).toBe(3);
        expect(s.message).toMatch(/byte offset \d+/);
      }
      expect(await series('e2e_refused_trunc_bytes')).toHaveLength(0);
    });

    it('400 for wrong JSON types and invalid UTF-8, with a JSON google.rpc.Status', async () => {
      const req = gauge('e2e.refused.json') as unknown as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ gauge: { dataPoints: Array<Record<string, unknown>> } }> }> }> };
      req.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.gauge.dataPoints.push({ timeUnixNano: msToNanos(NOW_MS), asDouble: { not: 'a number' } });
      const a = await post(server.url, '/v1/metrics', Buffer.from(JSON.stringify(req)), JS);
      expect(a.status).toBe(400);
      expect(a.contentType).toBe('application/json');
      const s = JSON.parse(a.body.toString());
      expect(s.code).toBe(3);
      expect(s.message).toContain('dataPoints[1].asDouble must be a number');
      const utf8 = Buffer.concat([Buffer.from(JSON.stringify(gauge('e2e.refused.json')).slice(0, -1)), Buffer.from([0x2c, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])]);
      const b = await post(server.url, '/v1/metrics', utf8, JS);
      expect(b.status).toBe(400);
      expect(JSON.parse(b.body.toString()).message).toContain('not valid UTF-8');
      const g = await post(server.url, '/v1/metrics', Buffer.from('not gzip'), { ...PB, 'content-encoding': 'gzip' });
      expect(g.status).toBe(400);
      expect(Status.toObject(Status.decode(g.body)).message).toContain('not valid gzip');
      expect(await series('e2e_refused_json_bytes')).toHaveLength(0);
    });

    it('413 for a body over 20 MiB', async () => {
      const body = Buffer.alloc(20 * MiB + 1);
      const a = await postRaw(server.url, '/v1/metrics', body, PB);
      expect(a.status).toBe(413);
    });

    it('413 for a gzip bomb, without inflating it all (decompressed limit)', async () => {
      // 64 MiB of zeros compress to ~64 KiB; the server must stop at 20 MiB.
      const bomb = zlib.gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
      expect(bomb.length).toBeLessThan(MiB);
      const a = await post(server.url, '/v1/metrics', bomb, { ...JS, 'content-encoding': 'gzip' });
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body.toString()).message).toContain('after decompression');
    });

    it('415 for other content types and encodings', async () => {
      const body = encodeExportMetricsRequest(gauge('e2e.refused.type'));
      const t = await post(server.url, '/v1/metrics', body, { 'content-type': 'text/plain' });
      expect(t.status).toBe(415);
      expect(JSON.parse(t.body.toString()).message).toContain('application/x-protobuf or application/json');
      const e = await post(server.url, '/v1/metrics', body, { ...PB, 'content-encoding': 'br' });
      expect(e.status).toBe(415);
      expect(Status.toObject(Status.decode(e.body)).message).toContain('Content-Encoding');
      expect(await series('e2e_refused_type_bytes')).toHaveLength(0);
    });
  });

  it('counts requests and data points in /metrics', async () => {
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/mocha_otlp_data_points_received_total \d+/);
    expect(text).toMatch(/mocha_ingest_samples_written_total\{protocol="otlp"\} \d+/);
    expect(text).toMatch(/mocha_otlp_rejected_requests_total\{code="BODY_TOO_LARGE"\} 2/);
  });
});
