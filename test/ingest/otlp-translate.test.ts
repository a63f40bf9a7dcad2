// OTLP -> Prometheus translation tables: names, units, labels and series for each metric type and
// temporality, against what the OpenTelemetry spec (compatibility/prometheus_and_openmetrics.md)
// and Prometheus 3 (otlptranslator, default UnderscoreEscapingWithSuffixes) prescribe. Every
// request goes through both encodings (protobuf and JSON), which must agree.
import { describe, expect, test } from 'vitest';
import { buildLabelName, buildMetricName, buildUnitName, formatFloatF, type NamingType } from '../../src/ingest/otlp/naming.js';
import { attrs, msToNanos, TEMPORALITY_CUMULATIVE, TEMPORALITY_DELTA, type OtlpMetricJson, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';
import { requestSeries, seriesString, translateBoth } from './otlp-helpers.js';

const T = 1_750_000_000_123;
const START = T - 60_000;

/** One resource (service shop/checkout, instance i-1, host h-1), one scope, the given metrics. */
function request(metrics: OtlpMetricJson[], resource: Record<string, string> = { 'service.name': 'checkout', 'service.namespace': 'shop', 'service.instance.id': 'i-1', 'host.name': 'h-1' }): OtlpMetricsRequestJson {
  return {
    resourceMetrics: [{ resource: { attributes: attrs(resource) }, scopeMetrics: [{ scope: { name: 'my.lib', version: '1.2.3' }, metrics }] }],
  };
}

const CTX_LABELS = { instance: 'i-1', job: 'shop/checkout', otel_scope_name: 'my.lib', otel_scope_version: '1.2.3' };
/** The expected series text of `name` with the request() context labels plus `extra`. */
const ser = (name: string, extra: Record<string, string> = {}) => seriesString({ __name__: name, ...CTX_LABELS, ...extra });

describe('metric names (Prometheus 3 otlptranslator, with suffixes)', () => {
  const cases: Array<[string, string, NamingType, string]> = [
    ['system.filesystem.usage', 'By', 'gauge', 'system_filesystem_usage_bytes'],
    ['http.server.request.duration', 's', 'histogram', 'http_server_request_duration_seconds'],
    ['requests.count', '1', 'monotonic_counter', 'requests_count_total'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['up.down', '1', 'non_monotonic_counter', 'up_down'],
    ['disk.ops', '{operation}', 'monotonic_counter', 'disk_ops_total'],
    ['network.io', 'By/s', 'gauge', 'network_io_bytes_per_second'],
    ['errors', '1/s', 'gauge', 'errors_per_second'],
    ['queue.fill', '{items}/s', 'gauge', 'queue_fill_per_second'],
    ['disk.free', '%', 'gauge', 'disk_free_percent'],
    ['rpc.latency', 'ms', 'summary', 'rpc_latency_milliseconds'],
    ['temperature', 'Cel', 'gauge', 'temperature_celsius'],
    ['uptime', 'h', 'gauge', 'uptime_hours'],
    ['payload', 'KiBy', 'gauge', 'payload_kibibytes'],
    ['distance', 'km', 'gauge', 'distance_km'],
    ['speed', 'm/h', 'gauge', 'speed_meters_per_hour'],
    ['seconds.used', 's', 'gauge', 'seconds_used'], // unit already a token: not repeated
    ['system.io_total', 'By', 'monotonic_counter', 'system_io_bytes_total'], // "total" moved to the end
    ['ratio.of.x', '1', 'gauge', 'of_x_ratio'], // upstream removes every "ratio" token, then appends one
    ['foo__bar...baz', '', 'gauge', 'foo_bar_baz'],
    ['2xx.responses', '', 'monotonic_counter', '_2xx_responses_total'],
    ['active:connections', '', 'gauge', 'active:connections'],
    ['métrique.nom', '', 'gauge', 'm_trique_nom'],
    ['trailing.', '', 'gauge', 'trailing'],
    ['exp.hist', 's', 'exponential_histogram', 'exp_hist_seconds'],
  ];
  test.each(cases)('%s [%s] %s -> %s', (name, unit, type, want) => {
    expect(buildMetricName(name, unit, type)).toBe(want);
  });

  test('names that translate to nothing are refused', () => {
    expect(buildMetricName('...', '', 'gauge')).toBeInstanceOf(Error);
    expect(buildMetricName('', '', 'gauge')).toBeInstanceOf(Error);
  });

  test('metadata units', () => {
    expect(buildUnitName('s')).toBe('seconds');
    expect(buildUnitName('By/s')).toBe('bytes_per_second');
    expect(buildUnitName('1')).toBe('');
    expect(buildUnitName('{request}')).toBe('');
    expect(buildUnitName('1/s')).toBe('per_second');
  });
});

describe('label names (otlptranslator LabelNamer)', () => {
  const cases: Array<[string, string]> = [
    ['http.method', 'http_method'],
    ['http.response.status_code', 'http_response_status_code'],
    ['123abc', 'key_123abc'],
    ['_private', 'key_private'],
    ['__reserved__', '__reserved__'],
    ['a b-c/d', 'a_b_c_d'],
    ['a..b', 'a__b'], // label names are not collapsed
    ['ünïcode', 'key_n_code'], // one "_" per character, then the single leading "_" gets "key"
    ['Mixed.Case', 'Mixed_Case'],
  ];
  test.each(cases)('%s -> %s', (key, want) => {
    expect(buildLabelName(key)).toBe(want);
  });
  test('empty keys and keys of only invalid characters are refused', () => {
    expect(buildLabelName('')).toBeInstanceOf(Error);
    expect(buildLabelName('.')).toBe('key_'); // "_" then "key" before a single leading "_", as upstream
    expect(buildLabelName('...')).toBeInstanceOf(Error);
  });
});

describe('le and quantile values (Go FormatFloat(x, f, -1, 64))', () => {
  const cases: Array<[number, string]> = [
    [0.005, '0.005'],
    [1, '1'],
    [2.5, '2.5'],
    [100, '100'],
    [1e6, '1000000'],
    [1e-7, '0.0000001'],
    [1.5e-10, '0.00000000015'],
    [1e21, '1000000000000000000000'],
    [1.25e22, '12500000000000000000000'],
    [-3.5e-7, '-0.00000035'],
    [0, '0'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [0.99, '0.99'],
  ];
  test.each(cases)('%s -> %s', (x, want) => {
    expect(formatFloatF(x)).toBe(want);
  });
});

describe('series per metric type and temporality', () => {
  test('gauge: attributes, job/instance from the resource, scope labels, target_info, metadata', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'process.memory.usage',
          unit: 'By',
          description: 'Resident memory',
          gauge: { dataPoints: [{ attributes: attrs({ 'memory.type': 'heap' }), startTimeUnixNano: msToNanos(START), timeUnixNano: msToNanos(T), asDouble: 1.5e9 }] },
        },
      ]),
    );
    expect(rows).toEqual([
      { series: ser('process_memory_usage_bytes', { memory_type: 'heap' }), t: T, v: 1.5e9 }, // no start: a gauge
      { series: 'target_info{host_name="h-1", instance="i-1", job="shop/checkout"}', t: T, v: 1 },
    ]);
    expect(r.metadata).toEqual([
      { metricFamilyName: 'process_memory_usage_bytes', type: 'gauge', help: 'Resident memory', unit: 'bytes' },
      { metricFamilyName: 'target_info', type: 'gauge', help: 'Target metadata', unit: '' },
    ]);
    expect(r.rejected.empty).toBe(true);
  });

  test('gauge of unit "1" gets _ratio; job is service.name alone without a namespace', () => {
    const { rows } = translateBoth(
      request([{ name: 'cpu.utilization', unit: '1', gauge: { dataPoints: [{ timeUnixNano: msToNanos(T), asDouble: 0.25 }] } }], { 'service.name': 'api' }),
    );
    expect(rows).toEqual([{ series: 'cpu_utilization_ratio{job="api", otel_scope_name="my.lib", otel_scope_version="1.2.3"}', t: T, v: 0.25 }]);
  });

  test('cumulative monotonic sum -> counter _total with its start timestamp; as_int values', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'http.requests',
          unit: '{request}',
          description: 'Requests served',
          sum: {
            aggregationTemporality: TEMPORALITY_CUMULATIVE,
            isMonotonic: true,
            dataPoints: [{ attributes: attrs({ 'http.route': '/a' }), startTimeUnixNano: msToNanos(START), timeUnixNano: msToNanos(T), asInt: '42' }],
          },
        },
      ]),
    );
    expect(rows[0]).toEqual({ series: ser('http_requests_total', { http_route: '/a' }), t: T, v: 42, start: START });
    expect(r.metadata[0]).toEqual({ metricFamilyName: 'http_requests_total', type: 'counter', help: 'Requests served', unit: '' });
  });

  test('cumulative non-monotonic sum -> gauge without start timestamp or suffix', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'queue.size',
          unit: '{item}',
          sum: { aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: false, dataPoints: [{ startTimeUnixNano: msToNanos(START), timeUnixNano: msToNanos(T), asInt: -3 }] },
        },
      ]),
    );
    expect(rows[0]).toEqual({ series: ser('queue_size'), t: T, v: -3 });
    expect(r.metadata[0]!.type).toBe('gauge');
  });

  test('DELTA and UNSPECIFIED sums and histograms are rejected with a count (delta_temporality)', () => {
    const pt = { timeUnixNano: msToNanos(T), asDouble: 1 };
    const { rows, request: r, dataPoints } = translateBoth(
      request([
        { name: 'd.sum', sum: { aggregationTemporality: TEMPORALITY_DELTA, isMonotonic: true, dataPoints: [pt, pt] } },
        { name: 'u.sum', sum: { isMonotonic: true, dataPoints: [pt] } },
        { name: 'd.hist', histogram: { aggregationTemporality: TEMPORALITY_DELTA, dataPoints: [{ timeUnixNano: msToNanos(T), count: 1 }] } },
        { name: 'ok', gauge: { dataPoints: [pt] } },
      ]),
    );
    expect(rows.map((x) => x.series)).toEqual([ser('ok'), 'target_info{host_name="h-1", instance="i-1", job="shop/checkout"}']);
    expect(dataPoints).toBe(5);
    const d = r.rejected.byReason.get('delta_temporality')!;
    expect(d.samples).toBe(4);
    expect(d.example).toContain('"d.sum" has DELTA temporality');
    expect(r.rejected.message()).toContain('delta_temporality: 4 samples');
  });

  test('histogram -> cumulative _bucket{le} with +Inf = count, _sum, _count, all with the start timestamp', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'http.server.request.duration',
          unit: 's',
          description: 'Latency',
          histogram: {
            aggregationTemporality: TEMPORALITY_CUMULATIVE,
            dataPoints: [
              {
                attributes: attrs({ 'http.route': '/a' }),
                startTimeUnixNano: msToNanos(START),
                timeUnixNano: msToNanos(T),
                count: 10,
                sum: 1.25,
                explicitBounds: [0.005, 0.1, 1e-7 * 1e7],
                bucketCounts: [1, 2, 3, 4],
              },
            ],
          },
        },
      ]),
    );
    expect(rows.filter((x) => !x.series.startsWith('target_info'))).toEqual([
      { series: ser('http_server_request_duration_seconds_sum', { http_route: '/a' }), t: T, v: 1.25, start: START },
      { series: ser('http_server_request_duration_seconds_count', { http_route: '/a' }), t: T, v: 10, start: START },
      { series: ser('http_server_request_duration_seconds_bucket', { http_route: '/a', le: '0.005' }), t: T, v: 1, start: START },
      { series: ser('http_server_request_duration_seconds_bucket', { http_route: '/a', le: '0.1' }), t: T, v: 3, start: START },
      { series: ser('http_server_request_duration_seconds_bucket', { http_route: '/a', le: '1' }), t: T, v: 6, start: START },
      { series: ser('http_server_request_duration_seconds_bucket', { http_route: '/a', le: '+Inf' }), t: T, v: 10, start: START },
    ]);
    expect(r.metadata[0]).toEqual({ metricFamilyName: 'http_server_request_duration_seconds', type: 'histogram', help: 'Latency', unit: 'seconds' });
  });

  test('histogram without sum has no _sum series; no bounds gives only +Inf', () => {
    const { rows } = translateBoth(
      request([{ name: 'h', histogram: { aggregationTemporality: TEMPORALITY_CUMULATIVE, dataPoints: [{ timeUnixNano: msToNanos(T), count: 7, bucketCounts: [7] }] } }]),
    );
    expect(rows.filter((x) => !x.series.startsWith('target_info')).map((x) => [x.series, x.v])).toEqual([
      [ser('h_count'), 7],
      [ser('h_bucket', { le: '+Inf' }), 7],
    ]);
  });

  test('summary -> {quantile} without start, _sum and _count with it', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'rpc.latency',
          unit: 'ms',
          summary: {
            dataPoints: [
              {
                startTimeUnixNano: msToNanos(START),
                timeUnixNano: msToNanos(T),
                count: 100,
                sum: 523.5,
                quantileValues: [
                  { quantile: 0.5, value: 4 },
                  { quantile: 0.99, value: 20 },
                ],
              },
            ],
          },
        },
      ]),
    );
    expect(rows.filter((x) => !x.series.startsWith('target_info'))).toEqual([
      { series: ser('rpc_latency_milliseconds_sum'), t: T, v: 523.5, start: START },
      { series: ser('rpc_latency_milliseconds_count'), t: T, v: 100, start: START },
      { series: ser('rpc_latency_milliseconds', { quantile: '0.5' }), t: T, v: 4 },
      { series: ser('rpc_latency_milliseconds', { quantile: '0.99' }), t: T, v: 20 },
    ]);
    expect(r.metadata[0]!.type).toBe('summary');
  });

  test('exponential histograms are rejected with a count and a message (unsupported_type)', () => {
    const { rows, request: r } = translateBoth(
      request([
        {
          name: 'latency',
          exponentialHistogram: {
            aggregationTemporality: TEMPORALITY_CUMULATIVE,
            dataPoints: [
              { timeUnixNano: msToNanos(T), count: 3, scale: 2, positive: { offset: -1, bucketCounts: [1, 2] } },
              { timeUnixNano: msToNanos(T), count: 0 },
            ],
          },
        },
      ]),
    );
    expect(rows).toEqual([]);
    const u = r.rejected.byReason.get('unsupported_type')!;
    expect(u.samples).toBe(2);
    expect(u.example).toContain('exponential histogram');
  });

  test('NO_RECORDED_VALUE -> stale marker on every series of the point, without start timestamps', () => {
    const { rows } = translateBoth(
      request([
        { name: 'g', gauge: { dataPoints: [{ timeUnixNano: msToNanos(T), flags: 1 }] } },
        { name: 'c', sum: { aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints: [{ startTimeUnixNano: msToNanos(START), timeUnixNano: msToNanos(T), asDouble: 5, flags: 1 }] } },
        {
          name: 'h',
          histogram: { aggregationTemporality: TEMPORALITY_CUMULATIVE, dataPoints: [{ startTimeUnixNano: msToNanos(START), timeUnixNano: msToNanos(T), count: 2, sum: 1, explicitBounds: [1], bucketCounts: [1, 1], flags: 1 }] },
        },
      ]),
    );
    const data = rows.filter((x) => !x.series.startsWith('target_info'));
    expect(data).toHaveLength(6);
    for (const row of data) {
      expect(row.v).toBe('stale');
      expect(row.start).toBeUndefined();
    }
  });

  test('attribute keys colliding after sanitising join their values with ";" in key order; empty values drop the label', () => {
    const { rows } = translateBoth(request([{ name: 'g', gauge: { dataPoints: [{ attributes: attrs({ a_b: 'second', 'a.b': 'first', empty: '' }), timeUnixNano: msToNanos(T), asDouble: 1 }] } }]));
    expect(rows[0]!.series).toBe(ser('g', { a_b: 'first;second' }));
  });

  test('job/instance from the resource override point attributes; a point "job" stays when the resource has no service.name', () => {
    const pt = { attributes: attrs({ job: 'from-point', instance: 'p' }), timeUnixNano: msToNanos(T), asDouble: 1 };
    expect(translateBoth(request([{ name: 'g', gauge: { dataPoints: [pt] } }])).rows[0]!.series).toBe(ser('g'));
    expect(translateBoth(request([{ name: 'g', gauge: { dataPoints: [pt] } }], { 'host.name': 'h' })).rows[0]!.series).toBe(
      'g{instance="p", job="from-point", otel_scope_name="my.lib", otel_scope_version="1.2.3"}',
    );
  });

  test('target_info: only with non-identifying attributes and a job or instance; spans the resource points every 2.5 min', () => {
    const g = (t: number): OtlpMetricJson => ({ name: 'g', gauge: { dataPoints: [{ timeUnixNano: msToNanos(t), asDouble: 1 }] } });
    expect(translateBoth(request([g(T)], { 'service.name': 's', 'service.instance.id': 'i' })).rows.some((x) => x.series.startsWith('target_info'))).toBe(false);
    expect(translateBoth(request([g(T)], { 'host.name': 'h' })).rows.some((x) => x.series.startsWith('target_info'))).toBe(false);
    const { rows } = translateBoth(request([g(T), g(T + 400_000)], { 'service.name': 's', 'k8s.pod.name': 'p-1' }));
    expect(rows.filter((x) => x.series.startsWith('target_info'))).toEqual([
      { series: 'target_info{job="s", k8s_pod_name="p-1"}', t: T, v: 1 },
      { series: 'target_info{job="s", k8s_pod_name="p-1"}', t: T + 150_000, v: 1 },
      { series: 'target_info{job="s", k8s_pod_name="p-1"}', t: T + 300_000, v: 1 },
      { series: 'target_info{job="s", k8s_pod_name="p-1"}', t: T + 400_000, v: 1 },
    ]);
  });

  test('target_info samples are bounded when a resource has points far apart', () => {
    const g = (t: number): OtlpMetricJson => ({ name: 'g', gauge: { dataPoints: [{ timeUnixNano: msToNanos(t), asDouble: 1 }] } });
    const { rows } = translateBoth(request([g(1000), g(T)], { 'service.name': 's', 'k8s.pod.name': 'p-1' }));
    const info = rows.filter((x) => x.series.startsWith('target_info'));
    expect(info.length).toBeLessThanOrEqual(601);
    expect(info[0]!.t).toBe(1000);
    expect(info[info.length - 1]!.t).toBe(T);
  });

  test('scope attributes become otel_scope_<name>; a scope without a name adds no scope labels', () => {
    const req: OtlpMetricsRequestJson = {
      resourceMetrics: [
        {
          resource: { attributes: attrs({ 'service.name': 's' }) },
          scopeMetrics: [
            { scope: { name: 'lib', attributes: attrs({ 'lib.mode': 'fast' }) }, schemaUrl: 'https://opentelemetry.io/schemas/1.26.0', metrics: [{ name: 'a', gauge: { dataPoints: [{ timeUnixNano: msToNanos(T), asDouble: 1 }] } }] },
            { scope: { version: '9' }, metrics: [{ name: 'b', gauge: { dataPoints: [{ timeUnixNano: msToNanos(T), asDouble: 1 }] } }] },
          ],
        },
      ],
    };
    expect(translateBoth(req).rows.map((x) => x.series)).toEqual([
      'a{job="s", otel_scope_lib_mode="fast", otel_scope_name="lib", otel_scope_schema_url="https://opentelemetry.io/schemas/1.26.0"}',
      'b{job="s"}',
    ]);
  });

  test('attribute values of every AnyValue type become strings as pdata AsString writes them', () => {
    const { rows } = translateBoth(
      request([
        {
          name: 'g',
          gauge: {
            dataPoints: [
              {
                attributes: [
                  { key: 'i', value: { intValue: '-9007199254740993' } },
                  { key: 'b', value: { boolValue: true } },
                  { key: 'd', value: { doubleValue: 0.5 } },
                  { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: 2 }] } } },
                  { key: 'kv', value: { kvlistValue: { values: [{ key: 'k', value: { boolValue: false } }] } } },
                  { key: 'by', value: { bytesValue: Buffer.from([1, 2, 3]).toString('base64') } },
                  { key: 'none' },
                ],
                timeUnixNano: msToNanos(T),
                asDouble: 1,
              },
            ],
          },
        },
      ]),
    );
    expect(rows[0]!.series).toBe(ser('g', { arr: '["x",2]', b: 'true', by: 'AQID', d: '0.5', i: '-9007199254740993', kv: '{"k":false}' }));
  });

  test('a point with time 0 is rejected (invalid_timestamp); a bad attribute key rejects its point (invalid_labels)', () => {
    const { rows, request: r } = translateBoth(
      request([
        { name: 'g', gauge: { dataPoints: [{ asDouble: 1 }, { attributes: attrs({ '...': 'x' }), timeUnixNano: msToNanos(T), asDouble: 2 }, { timeUnixNano: msToNanos(T), asDouble: 3 }] } },
        { name: '...', gauge: { dataPoints: [{ timeUnixNano: msToNanos(T), asDouble: 4 }] } },
      ]),
    );
    expect(rows.filter((x) => !x.series.startsWith('target_info')).map((x) => x.v)).toEqual([3]);
    expect(r.rejected.byReason.get('invalid_timestamp')!.samples).toBe(1);
    expect(r.rejected.byReason.get('invalid_labels')!.samples).toBe(2);
  });

  test('exemplars carry trace_id/span_id in lowercase hex; histogram exemplars land in the first bucket >= their value', () => {
    const ex = (value: number, span: string) => ({
      timeUnixNano: msToNanos(T - 5),
      asDouble: value,
      traceId: '0AF7651916CD43DD8448EB211C80319C',
      spanId: span,
      filteredAttributes: attrs({ 'user.id': 'u1' }),
    });
    const { request: r } = translateBoth(
      request([
        { name: 'c', sum: { aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints: [{ timeUnixNano: msToNanos(T), asDouble: 3, exemplars: [ex(1, 'b7ad6b7169203331')] }] } },
        {
          name: 'h',
          histogram: {
            aggregationTemporality: TEMPORALITY_CUMULATIVE,
            dataPoints: [{ timeUnixNano: msToNanos(T), count: 3, explicitBounds: [1, 10], bucketCounts: [1, 1, 1], exemplars: [ex(5, '00f067aa0ba902b7'), ex(50, '00f067aa0ba902b8')] }],
          },
        },
      ]),
    );
    const where = (labels: readonly { name: string; value: string }[]) => labels.find((l) => l.name === 'le')?.value ?? 'counter';
    expect(r.exemplars.map((e) => [where(e.seriesLabels), e.value, e.timestampMs, e.labels])).toEqual([
      ['counter', 1, T - 5, [{ name: 'span_id', value: 'b7ad6b7169203331' }, { name: 'trace_id', value: '0af7651916cd43dd8448eb211c80319c' }, { name: 'user_id', value: 'u1' }]],
      ['10', 5, T - 5, [{ name: 'span_id', value: '00f067aa0ba902b7' }, { name: 'trace_id', value: '0af7651916cd43dd8448eb211c80319c' }, { name: 'user_id', value: 'u1' }]],
      ['+Inf', 50, T - 5, [{ name: 'span_id', value: '00f067aa0ba902b8' }, { name: 'trace_id', value: '0af7651916cd43dd8448eb211c80319c' }, { name: 'user_id', value: 'u1' }]],
    ]);
    for (const e of r.exemplars) expect(requestSeries(r).some((s) => s.key === e.seriesKey)).toBe(true);
  });

  test('nanosecond timestamps become whole milliseconds exactly (floor), far beyond 2^53 ns', () => {
    const ns = (BigInt(T) * 1_000_000n + 999_999n).toString();
    const { rows } = translateBoth(request([{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: ns, asDouble: 1 }] } }]));
    expect(rows[0]!.t).toBe(T);
  });
});
