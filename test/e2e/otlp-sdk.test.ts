// The real OpenTelemetry JS SDK, with its OTLP/HTTP protobuf and JSON exporters, sending to the
// real server; the translated series are then found through the Prometheus API with the names
// and labels the OpenTelemetry spec and Prometheus 3 prescribe.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { promGet, startServer, type ServerProcess } from '../helpers/server-process.js';

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

describe('OpenTelemetry JS SDK -> OTLP/HTTP -> series', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.kill9();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  async function query(q: string): Promise<Vector> {
    const res = await promGet<{ status: string; data: { result: Vector } }>(server.url, `/api/v1/query?query=${encodeURIComponent(q)}`);
    expect(res.status).toBe(200);
    return res.body.data.result;
  }

  async function series(match: string): Promise<Array<Record<string, string>>> {
    const res = await promGet<{ data: Array<Record<string, string>> }>(server.url, `/api/v1/series?match[]=${encodeURIComponent(match)}`);
    expect(res.status).toBe(200);
    return res.body.data;
  }

  /** Records a known set of measurements through an SDK meter and flushes them with `exporter`. */
  async function sendWith(exporter: PushMetricExporter, instance: string): Promise<void> {
    const provider = new MeterProvider({
      resource: resourceFromAttributes({
        'service.name': 'sdk-app',
        'service.namespace': 'shop',
        'service.instance.id': instance,
        'deployment.environment': 'e2e',
      }),
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })],
    });
    const meter = provider.getMeter('e2e-meter', '1.0.0');
    const requests = meter.createCounter('app.requests', { unit: '{request}', description: 'Requests handled' });
    requests.add(2, { 'http.route': '/orders' });
    requests.add(1, { 'http.route': '/orders' });
    requests.add(5, { 'http.route': '/users' });
    meter.createCounter('app.bytes.sent', { unit: 'By' }).add(1024);
    const duration = meter.createHistogram('app.request.duration', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1] } });
    for (const v of [0.05, 0.5, 0.7, 3]) duration.record(v, { 'http.route': '/orders' });
    meter.createUpDownCounter('app.queue.size', { unit: '{item}' }).add(-4);
    meter.createObservableGauge('app.cpu.utilization', { unit: '1' }).addCallback((r) => r.observe(0.25, { cpu: '0' }));
    await provider.forceFlush();
    await provider.shutdown();
  }

  for (const [kind, make] of [
    ['protobuf', (url: string) => new ProtoExporter({ url })],
    ['json', (url: string) => new JsonExporter({ url })],
  ] as const) {
    it(`${kind} exporter: counters, histogram, up-down counter, gauge, target_info`, async () => {
      const instance = `inst-${kind}`;
      // The JSON exporter goes to the Prometheus-compatible path, the protobuf one to the OTLP default.
      await sendWith(make(kind === 'json' ? `${server.url}/api/v1/otlp/v1/metrics` : `${server.url}/v1/metrics`), instance);
      const ctx = { instance, job: 'shop/sdk-app', otel_scope_name: 'e2e-meter', otel_scope_version: '1.0.0' };
      const sel = `instance="${instance}"`;

      expect(await series(`app_requests_total{${sel}}`)).toEqual([
        { __name__: 'app_requests_total', ...ctx, http_route: '/orders' },
        { __name__: 'app_requests_total', ...ctx, http_route: '/users' },
      ]);
      expect((await query(`app_requests_total{${sel},http_route="/orders"}`))[0]!.value[1]).toBe('3');
      // "bytes" is already a word of the name, so the unit is not appended again (upstream rule).
      expect((await query(`app_bytes_sent_total{${sel}}`))[0]!.value[1]).toBe('1024');

      const buckets = await query(`app_request_duration_seconds_bucket{${sel}}`);
      expect(Object.fromEntries(buckets.map((b) => [b.metric.le, b.value[1]]))).toEqual({ '0.1': '1', '1': '3', '+Inf': '4' });
      expect(buckets[0]!.metric).toMatchObject({ ...ctx, http_route: '/orders' });
      expect((await query(`app_request_duration_seconds_count{${sel}}`))[0]!.value[1]).toBe('4');
      expect(Number((await query(`app_request_duration_seconds_sum{${sel}}`))[0]!.value[1])).toBeCloseTo(4.25, 10);

      expect((await query(`app_queue_size{${sel}}`))[0]!.value[1]).toBe('-4');
      const cpu = await query(`app_cpu_utilization_ratio{${sel}}`);
      expect(cpu[0]!.metric).toEqual({ __name__: 'app_cpu_utilization_ratio', ...ctx, cpu: '0' });
      expect(cpu[0]!.value[1]).toBe('0.25');

      const info = await series(`target_info{${sel}}`);
      expect(info).toHaveLength(1);
      expect(info[0]).toMatchObject({ __name__: 'target_info', instance, job: 'shop/sdk-app', deployment_environment: 'e2e' });

      const meta = await promGet<{ data: Record<string, Array<{ type: string; help: string; unit: string }>> }>(server.url, '/api/v1/metadata?metric=app_requests_total');
      expect(meta.body.data.app_requests_total).toEqual([{ type: 'counter', help: 'Requests handled', unit: '' }]);
      const hmeta = await promGet<{ data: Record<string, Array<{ type: string; unit: string }>> }>(server.url, '/api/v1/metadata?metric=app_request_duration_seconds');
      expect(hmeta.body.data.app_request_duration_seconds?.[0]).toMatchObject({ type: 'histogram', unit: 'seconds' });
    });
  }
});
