// OTLP decoders on bad input (truncated, garbage, wrong wire types and JSON types, invalid UTF-8,
// deep nesting): each is a BAD_OTLP error naming the problem, thrown before anything is returned
// to store. Also: an independent encoder (protobufjs with the upstream schema) and unknown fields.
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { decodeOtlpMetrics, encodeExportMetricsResponse, encodeRpcStatus } from '../../src/ingest/otlp/metrics.js';
import { attrs, encodeExportMetricsRequest, generateOtlpRequests, msToNanos, OTLP_METRICS_PROTO, TEMPORALITY_CUMULATIVE, type OtlpMetricsRequestJson } from '../../bench/lib/otlp-payload.js';
import { fieldBytes, fieldDouble, fieldVarint, tag } from './pb-builder.js';
import { requestSeries, rowsOf } from './otlp-helpers.js';

const T = 1_750_000_000_000;

const SAMPLE: OtlpMetricsRequestJson = {
  resourceMetrics: [
    {
      resource: { attributes: attrs({ 'service.name': 'svc', 'host.name': 'h' }) },
      scopeMetrics: [
        {
          scope: { name: 'lib', version: '1' },
          metrics: [
            { name: 'g', unit: 'By', gauge: { dataPoints: [{ attributes: attrs({ k: 'v' }), timeUnixNano: msToNanos(T), asDouble: 1.5 }] } },
            {
              name: 'h',
              unit: 's',
              histogram: { aggregationTemporality: TEMPORALITY_CUMULATIVE, dataPoints: [{ startTimeUnixNano: msToNanos(T - 1000), timeUnixNano: msToNanos(T), count: 3, sum: 2, explicitBounds: [1], bucketCounts: [1, 2] }] },
            },
          ],
        },
      ],
    },
  ],
};

function badOtlp(fn: () => unknown): MochaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MochaError);
    expect((e as MochaError).code).toBe('BAD_OTLP');
    expect((e as MochaError).status).toBe(400);
    return e as MochaError;
  }
  throw new Error('expected a BAD_OTLP error');
}

describe('protobuf', () => {
  test('an independent encoder (protobufjs, upstream schema) gives the same series as ours', () => {
    const root = protobuf.parse(OTLP_METRICS_PROTO, { keepCase: false }).root;
    const Req = root.lookupType('opentelemetry.proto.ExportMetricsServiceRequest');
    // protobufjs' fromObject takes the OTLP/JSON shape except ids and bytes (base64 there).
    const body = Buffer.from(Req.encode(Req.fromObject(SAMPLE)).finish());
    const ours = rowsOf(decodeOtlpMetrics(encodeExportMetricsRequest(SAMPLE), 'protobuf').request);
    expect(rowsOf(decodeOtlpMetrics(body, 'protobuf').request)).toEqual(ours);
    expect(ours.length).toBe(1 + 4 + 1); // gauge, histogram (sum, count, 2 buckets), target_info
    // And protobufjs reads what the generator writes.
    const p = generateOtlpRequests({ hosts: 3, hostsPerRequest: 3, rounds: 1 });
    const decoded = Req.toObject(Req.decode(p.bodies[0]!), { longs: String }) as { resourceMetrics: unknown[] };
    expect(decoded.resourceMetrics).toHaveLength(3);
    expect(requestSeries(decodeOtlpMetrics(p.bodies[0]!, 'protobuf').request).reduce((n, s) => n + s.timestampsMs.length, 0)).toBe(p.samples);
  });

  test('every truncation of a valid body is refused with a byte offset, never half-decoded', () => {
    const body = encodeExportMetricsRequest(SAMPLE);
    let refused = 0;
    for (let n = 1; n < body.length; n++) {
      try {
        decodeOtlpMetrics(body.subarray(0, n), 'protobuf');
      } catch (e) {
        expect((e as MochaError).code).toBe('BAD_OTLP');
        expect((e as Error).message).toMatch(/at byte offset \d+ of the ExportMetricsServiceRequest/);
        refused++;
      }
    }
    // A cut can only succeed at a resource_metrics boundary; there is one, at the end.
    expect(refused).toBe(body.length - 1);
  });

  test('garbage bytes are refused', () => {
    const e = badOtlp(() => decodeOtlpMetrics(Buffer.from('this is not protobuf at all, just text\n'), 'protobuf'));
    expect(e.message).toMatch(/byte offset/);
    badOtlp(() => decodeOtlpMetrics(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'protobuf'));
  });

  test('a field with the wrong wire type is refused, naming the field', () => {
    // resource_metrics as a varint
    expect(badOtlp(() => decodeOtlpMetrics(fieldVarint(1, 5), 'protobuf')).message).toContain('resource_metrics');
    // time_unix_nano as a varint inside a gauge point
    const point = Buffer.concat([fieldVarint(3, 12345), fieldDouble(4, 1)]);
    const metric = Buffer.concat([fieldBytes(1, 'm'), fieldBytes(5, fieldBytes(1, point))]);
    const body = fieldBytes(1, fieldBytes(2, fieldBytes(2, metric)));
    const e = badOtlp(() => decodeOtlpMetrics(body, 'protobuf'));
    expect(e.message).toContain('time_unix_nano');
    expect(e.message).toContain('resource_metrics[0].scope_metrics[0].metrics[0] ("m")');
  });

  test('invalid UTF-8 in a string field is refused, not replaced', () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    const kv = Buffer.concat([fieldBytes(1, 'k'), fieldBytes(2, fieldBytes(1, bad))]);
    const point = Buffer.concat([fieldBytes(7, kv), tag(3, 1), Buffer.alloc(8, 1), fieldDouble(4, 1)]);
    const metric = Buffer.concat([fieldBytes(1, 'm'), fieldBytes(5, fieldBytes(1, point))]);
    expect(badOtlp(() => decodeOtlpMetrics(fieldBytes(1, fieldBytes(2, fieldBytes(2, metric))), 'protobuf')).message).toContain('not valid UTF-8');
    // In a metric name too.
    const metric2 = fieldBytes(1, bad);
    expect(badOtlp(() => decodeOtlpMetrics(fieldBytes(1, fieldBytes(2, fieldBytes(2, metric2))), 'protobuf')).message).toContain('name is not valid UTF-8');
  });

  test('random mutations of a valid body either decode or are refused with BAD_OTLP, never another error', () => {
    const body = encodeExportMetricsRequest(SAMPLE);
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    let refused = 0;
    for (let k = 0; k < 3000; k++) {
      const b = Buffer.from(body);
      const edits = 1 + Math.floor(rnd() * 4);
      for (let e = 0; e < edits; e++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        decodeOtlpMetrics(b, 'protobuf');
      } catch (err) {
        if (!(err instanceof MochaError) || err.code !== 'BAD_OTLP') throw err;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
  });

  test('trace and span ids of the wrong length are refused (as pdata does)', () => {
    const ex = Buffer.concat([fieldBytes(5, Buffer.alloc(5, 1)), fieldDouble(3, 1)]);
    const ts = Buffer.alloc(8, 1);
    const point = Buffer.concat([tag(3, 1), ts, fieldDouble(4, 1), fieldBytes(5, ex)]);
    const metric = Buffer.concat([fieldBytes(1, 'm'), fieldBytes(5, fieldBytes(1, point))]);
    expect(badOtlp(() => decodeOtlpMetrics(fieldBytes(1, fieldBytes(2, fieldBytes(2, metric))), 'protobuf')).message).toContain('trace_id has 5 bytes, expected 16');
  });

  test('attribute values nested deeper than the bound are refused', () => {
    let v = fieldBytes(1, 'leaf');
    for (let i = 0; i < 40; i++) v = fieldBytes(5, fieldBytes(1, v)); // array_value { values: AnyValue }
    const kv = Buffer.concat([fieldBytes(1, 'k'), fieldBytes(2, v)]);
    const body = fieldBytes(1, fieldBytes(1, fieldBytes(1, kv)));
    expect(badOtlp(() => decodeOtlpMetrics(body, 'protobuf')).message).toContain('nested deeper');
  });

  test('unknown fields are skipped; an empty body is an empty request', () => {
    const body = Buffer.concat([fieldVarint(99, 7), encodeExportMetricsRequest(SAMPLE), fieldBytes(1000, 'future')]);
    expect(rowsOf(decodeOtlpMetrics(body, 'protobuf').request)).toEqual(rowsOf(decodeOtlpMetrics(encodeExportMetricsRequest(SAMPLE), 'protobuf').request));
    expect(requestSeries(decodeOtlpMetrics(Buffer.alloc(0), 'protobuf').request)).toEqual([]);
  });

  test('packed and unpacked bucket counts and bounds read the same', () => {
    const fixed = (f: number, v: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(v));
      return Buffer.concat([tag(f, 1), b]);
    };
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64LE(BigInt(T) * 1_000_000n);
    const point = Buffer.concat([tag(3, 1), ts, fixed(4, 3), fixed(6, 1), fixed(6, 2), fieldDouble(7, 0.5)]);
    const metric = Buffer.concat([fieldBytes(1, 'h'), fieldBytes(9, Buffer.concat([fieldBytes(1, point), fieldVarint(2, 2)]))]);
    const rows = rowsOf(decodeOtlpMetrics(fieldBytes(1, fieldBytes(2, fieldBytes(2, metric))), 'protobuf').request);
    expect(rows.map((r) => [r.series, r.v])).toEqual([
      ['h_count{}', 3],
      ['h_bucket{le="0.5"}', 1],
      ['h_bucket{le="+Inf"}', 3],
    ]);
  });
});

describe('JSON', () => {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const withPoint = (point: Record<string, unknown>, metricExtra: Record<string, unknown> = {}) => ({
    resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [point] }, ...metricExtra }] }] }],
  });

  test('wrong JSON types are refused with the path of the value', () => {
    const cases: Array<[unknown, string]> = [
      [{ resourceMetrics: {} }, 'resourceMetrics must be an array'],
      [[], 'the body must be an object'],
      [withPoint({ timeUnixNano: true, asDouble: 1 }), 'resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano must be an integer'],
      [withPoint({ timeUnixNano: '1.5', asDouble: 1 }), 'timeUnixNano must be an integer'],
      [withPoint({ timeUnixNano: '-1', asDouble: 1 }), 'timeUnixNano is out of the uint64 range'],
      [withPoint({ timeUnixNano: '1', asDouble: 'abc' }), 'asDouble must be a number'],
      [withPoint({ timeUnixNano: '1', asInt: 1.5 }), 'asInt must be an integer'],
      [withPoint({ timeUnixNano: '1', asDouble: 1, attributes: { k: 'v' } }), 'attributes must be an array'],
      [withPoint({ timeUnixNano: '1', asDouble: 1, attributes: [{ key: 5, value: { stringValue: 'v' } }] }), 'attributes[0].key must be a string'],
      [withPoint({ timeUnixNano: '1', asDouble: 1, attributes: [{ key: 'k', value: { stringValue: 5 } }] }), 'attributes[0].value.stringValue must be a string'],
      [withPoint({ timeUnixNano: '1', asDouble: 1, exemplars: [{ traceId: 'not-hex', asDouble: 1 }] }), 'exemplars[0].traceId must be a hex string'],
      [withPoint({ timeUnixNano: '1', asDouble: 1, exemplars: [{ spanId: 'abcd', asDouble: 1 }] }), 'exemplars[0].spanId must be 8 bytes'],
      [{ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', sum: { aggregationTemporality: 'weekly', dataPoints: [] } }] }] }] }, 'aggregationTemporality must be an enum integer'],
      [{ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 7, gauge: { dataPoints: [] } }] }] }] }, 'metrics[0].name must be a string'],
    ];
    for (const [body, message] of cases) expect(badOtlp(() => decodeOtlpMetrics(json(body), 'json')).message).toContain(message);
  });

  test('bodies that are not JSON or not UTF-8 are refused', () => {
    expect(badOtlp(() => decodeOtlpMetrics(Buffer.from('{"resourceMetrics": ['), 'json')).message).toContain('not valid JSON');
    expect(badOtlp(() => decodeOtlpMetrics(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 'json')).message).toContain('not valid UTF-8');
  });

  test('numbers and strings for int64, NaN/Infinity strings, null as unset, unknown and snake_case keys ignored, enum names', () => {
    const body = {
      unknownTopLevel: { anything: [1, 2] },
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }], droppedAttributesCount: 0 },
          scopeMetrics: [
            {
              scope: null,
              metrics: [
                { name: 'a', gauge: { dataPoints: [{ timeUnixNano: T * 1e6, asDouble: 'NaN' }] } },
                { name: 'b', gauge: { dataPoints: [{ time_unix_nano: '5', timeUnixNano: String(BigInt(T) * 1_000_000n), asDouble: '-Infinity' }] } },
                { name: 'c', sum: { aggregationTemporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE', isMonotonic: true, dataPoints: [{ timeUnixNano: String(BigInt(T) * 1_000_000n), asInt: 7, exemplars: null }] } },
              ],
            },
          ],
        },
      ],
    };
    const rows = rowsOf(decodeOtlpMetrics(json(body), 'json').request);
    expect(rows.map((r) => [r.series, r.t, r.v])).toEqual([
      ['a{job="svc"}', T, NaN],
      ['b{job="svc"}', T, -Infinity],
      ['c_total{job="svc"}', T, 7],
    ]);
  });
});

describe('responses', () => {
  test('ExportMetricsServiceResponse: empty when all was taken, partial_success otherwise', () => {
    expect(encodeExportMetricsResponse('protobuf', 0, '')).toHaveLength(0);
    expect(encodeExportMetricsResponse('json', 0, '').toString()).toBe('{}');
    const root = protobuf.parse(`syntax = "proto3";
      message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
      message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
      message Status { int32 code = 1; string message = 2; }`).root;
    const Resp = root.lookupType('ExportMetricsServiceResponse');
    const decoded = Resp.toObject(Resp.decode(encodeExportMetricsResponse('protobuf', 300, 'rejected 300 samples: ...')), { longs: Number });
    expect(decoded).toEqual({ partialSuccess: { rejectedDataPoints: 300, errorMessage: 'rejected 300 samples: ...' } });
    expect(JSON.parse(encodeExportMetricsResponse('json', 3, 'x').toString())).toEqual({ partialSuccess: { rejectedDataPoints: '3', errorMessage: 'x' } });
    const Status = root.lookupType('Status');
    expect(Status.toObject(Status.decode(encodeRpcStatus('protobuf', 3, 'bad body')))).toEqual({ code: 3, message: 'bad body' });
  });
});
