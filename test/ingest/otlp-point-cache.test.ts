// The OTLP number-point cache (raw attribute bytes -> series, OtlpTranslator.cachedPointSeries):
// a hit must give exactly the series a fresh translation gives. The labels depend on the bytes
// and on the metric (name, unit, type) and the resource/scope context, so the same bytes in
// another metric or context must not reuse an entry; attributes split around other fields must
// all be decoded. Each body is decoded twice (the second time from the cache) and compared with
// the JSON decoder, which does not use the cache.
import { describe, expect, test } from 'vitest';
import { decodeOtlpMetrics } from '../../src/ingest/otlp/metrics.js';
import { attrs, encodeExportMetricsRequest, msToNanos, TEMPORALITY_CUMULATIVE, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';
import { fieldBytes, fieldDouble, fieldDoubleBits, fieldVarint } from './pb-builder.js';
import { requestSeries, rowsOf, type Row } from './otlp-helpers.js';

const T = 1_750_000_000_000;

function rowsProto(body: Buffer): Row[] {
  return rowsOf(decodeOtlpMetrics(body, 'protobuf').request);
}
function rowsJson(req: OtlpMetricsRequestJson): Row[] {
  return rowsOf(decodeOtlpMetrics(Buffer.from(JSON.stringify(req)), 'json').request);
}

function request(service: string, scope: string | undefined, metrics: Array<{ name: string; unit?: string; kind: 'gauge' | 'counter'; a: Record<string, string> }>, tMs = T): OtlpMetricsRequestJson {
  return {
    resourceMetrics: [
      {
        resource: { attributes: attrs({ 'service.name': service, 'service.instance.id': 'i-1' }) },
        scopeMetrics: [
          {
            ...(scope !== undefined ? { scope: { name: scope, version: '1' } } : {}),
            metrics: metrics.map((m) => {
              const point = { attributes: attrs(m.a), startTimeUnixNano: msToNanos(tMs - 60_000), timeUnixNano: msToNanos(tMs), asDouble: 2.5 };
              return m.kind === 'gauge'
                ? { name: m.name, ...(m.unit !== undefined ? { unit: m.unit } : {}), gauge: { dataPoints: [point] } }
                : { name: m.name, ...(m.unit !== undefined ? { unit: m.unit } : {}), sum: { aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints: [point] } };
            }),
          },
        ],
      },
    ],
  };
}

describe('OTLP number-point cache', () => {
  test('a repeated body gives the same series from the cache as fresh (and as JSON)', () => {
    const req = request('svc-repeat', 'lib', [{ name: 'disk.io', unit: 'By', kind: 'counter', a: { device: 'sda', direction: 'read' } }]);
    const body = encodeExportMetricsRequest(req);
    const first = rowsProto(body);
    const second = rowsProto(body);
    expect(second).toEqual(first);
    expect(first).toEqual(rowsJson(req));
    expect(first[0]!.series).toBe('disk_io_bytes_total{device="sda", direction="read", instance="i-1", job="svc-repeat", otel_scope_name="lib", otel_scope_version="1"}');
  });

  test('the same attribute bytes in another metric, unit or type get their own series', () => {
    const a = { cpu: '0', state: 'idle' };
    const req = request('svc-metrics', undefined, [
      { name: 'cpu.time', unit: 's', kind: 'counter', a },
      { name: 'cpu.time', unit: 's', kind: 'gauge', a },
      { name: 'cpu.time', unit: 'ms', kind: 'gauge', a },
      { name: 'cpu.utilization', kind: 'gauge', a },
    ]);
    const body = encodeExportMetricsRequest(req);
    for (let i = 0; i < 3; i++) {
      const rows = rowsProto(body);
      expect(rows.map((r) => r.series.slice(0, r.series.indexOf('{')))).toEqual(['cpu_time_seconds_total', 'cpu_time_seconds', 'cpu_time_milliseconds', 'cpu_utilization']);
      expect(rows).toEqual(rowsJson(req));
    }
  });

  test('the same attribute bytes under another resource or scope get that context', () => {
    const m = [{ name: 'queue.depth', kind: 'gauge' as const, a: { queue: 'q1' } }];
    for (const [service, scope] of [['svc-a', undefined], ['svc-b', undefined], ['svc-a', 'lib'], ['svc-a', 'other-lib'], ['svc-a', undefined]] as const) {
      const req = request(service, scope, m);
      const rows = rowsProto(encodeExportMetricsRequest(req));
      expect(rows).toEqual(rowsJson(req));
      expect(rows[0]!.series).toContain(`job="${service}"`);
      if (scope !== undefined) expect(rows[0]!.series).toContain(`otel_scope_name="${scope}"`);
      else expect(rows[0]!.series).not.toContain('otel_scope_name');
    }
  });

  test('attributes split around other fields are all decoded, also after the first run was cached', () => {
    const kv = (k: string, v: string) => fieldBytes(7, fieldBytes(1, k), fieldBytes(2, fieldBytes(1, v)));
    const ns = BigInt(T) * 1_000_000n;
    const time = fieldDoubleBits(3, Number(ns >> 32n), Number(ns & 0xffff_ffffn));
    const body = (point: Buffer) =>
      fieldBytes(1, fieldBytes(2, fieldBytes(2, fieldBytes(1, 'split.metric'), fieldBytes(5, fieldBytes(1, point)))));
    // Contiguous {a}: cached under the bytes of a="1".
    const contiguous = body(Buffer.concat([time, fieldDouble(4, 1), kv('a', '1')]));
    expect(rowsProto(contiguous).map((r) => r.series)).toEqual(['split_metric{a="1"}']);
    expect(rowsProto(contiguous).map((r) => r.series)).toEqual(['split_metric{a="1"}']);
    // a="1", then flags, then b="2": the first run hits the cache but b must not be lost.
    const split = body(Buffer.concat([time, fieldDouble(4, 2), kv('a', '1'), fieldVarint(8, 0), kv('b', '2')]));
    for (let i = 0; i < 2; i++) expect(rowsProto(split)).toEqual([{ series: 'split_metric{a="1", b="2"}', t: T, v: 2 }]);
    // And the split point did not replace the cached {a} series.
    expect(rowsProto(contiguous)).toEqual([{ series: 'split_metric{a="1"}', t: T, v: 1 }]);
  });

  test('a point whose attributes were refused is refused again (failures are not cached)', () => {
    const req = request('svc-bad', undefined, [{ name: 'ok.metric', kind: 'gauge', a: { '': 'empty key' } }]);
    const body = encodeExportMetricsRequest(req);
    for (let i = 0; i < 2; i++) {
      const d = decodeOtlpMetrics(body, 'protobuf');
      expect(requestSeries(d.request)).toEqual([]);
      expect(d.request.rejected.byReason.get('invalid_labels')?.samples).toBe(1);
    }
  });
});
