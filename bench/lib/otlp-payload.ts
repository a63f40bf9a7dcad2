// OTLP metrics payloads for benchmarks and tests, self-contained (no imports from src/, so other
// benches -- e.g. an ingest comparison against VictoriaMetrics -- can plug it in as it is):
//
// - an object model in the OTLP/JSON shape (lowerCamelCase, int64 as strings or numbers, ids in
//   hex), which JSON.stringify turns into an OTLP/JSON body;
// - encodeExportMetricsRequest: the same objects as an OTLP/protobuf ExportMetricsServiceRequest
//   (field numbers from opentelemetry-proto metrics/v1/metrics.proto, common/v1/common.proto);
// - OTLP_METRICS_PROTO: the schema as .proto text, for protobufjs (reference decoding);
// - generateOtlpRequests: realistic requests, "hosts" each with one resource (service.name,
//   service.instance.id, host and cloud attributes) and node-exporter-like counters and gauges
//   plus app-like HTTP histograms, with new timestamps and values round after round.

import { mulberry32 } from './prng.js';

// --- Object model (OTLP/JSON shape) -------------------------------------------------------------

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values: OtlpAnyValue[] };
  kvlistValue?: { values: OtlpKeyValue[] };
  /** base64 */
  bytesValue?: string;
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
export interface OtlpExemplarJson {
  filteredAttributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: number | string;
  /** hex */
  spanId?: string;
  traceId?: string;
}
export interface OtlpNumberPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: number | string;
  exemplars?: OtlpExemplarJson[];
  flags?: number;
}
export interface OtlpHistogramPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: number | string;
  sum?: number;
  bucketCounts?: Array<number | string>;
  explicitBounds?: number[];
  exemplars?: OtlpExemplarJson[];
  flags?: number;
  min?: number;
  max?: number;
}
export interface OtlpSummaryPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: number | string;
  sum?: number;
  quantileValues?: Array<{ quantile?: number; value?: number }>;
  flags?: number;
}
export interface OtlpExpHistogramPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: number | string;
  sum?: number;
  scale?: number;
  zeroCount?: number | string;
  positive?: { offset?: number; bucketCounts?: Array<number | string> };
  flags?: number;
}
export interface OtlpMetricJson {
  name: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints: OtlpNumberPoint[] };
  sum?: { dataPoints: OtlpNumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints: OtlpHistogramPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints: OtlpExpHistogramPoint[]; aggregationTemporality?: number };
  summary?: { dataPoints: OtlpSummaryPoint[] };
}
export interface OtlpScopeMetricsJson {
  scope?: { name?: string; version?: string; attributes?: OtlpKeyValue[] };
  metrics: OtlpMetricJson[];
  schemaUrl?: string;
}
export interface OtlpResourceMetricsJson {
  resource?: { attributes?: OtlpKeyValue[] };
  scopeMetrics: OtlpScopeMetricsJson[];
  schemaUrl?: string;
}
export interface OtlpMetricsRequestJson {
  resourceMetrics: OtlpResourceMetricsJson[];
}

export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

/** Attributes from a plain record of strings. */
export function attrs(record: Record<string, string | number | boolean>): OtlpKeyValue[] {
  return Object.entries(record).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
  }));
}

/** Milliseconds -> the decimal nanosecond string OTLP/JSON uses. */
export function msToNanos(ms: number): string {
  return (BigInt(Math.round(ms)) * 1_000_000n).toString();
}

// --- Protobuf encoder ---------------------------------------------------------------------------

class Writer {
  buf = Buffer.allocUnsafe(1024);
  pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  smallVarint(v: number): void {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }
  tag(field: number, wire: number): void {
    this.smallVarint((field << 3) | wire);
  }
  fixed64(field: number, v: number | bigint | string): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), this.pos);
    this.pos += 8;
  }
  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.smallVarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  string(field: number, s: string | undefined): void {
    if (s === undefined || s === '') return;
    this.bytes(field, Buffer.from(s, 'utf8'));
  }
  /** Packed repeated fixed64 (counts) or double (bounds). */
  packed(field: number, values: ReadonlyArray<number | string>, isDouble: boolean): void {
    this.tag(field, 2);
    this.smallVarint(values.length * 8);
    this.ensure(values.length * 8);
    for (const v of values) {
      if (isDouble) this.buf.writeDoubleLE(Number(v), this.pos);
      else this.buf.writeBigUInt64LE(BigInt(v), this.pos);
      this.pos += 8;
    }
  }
  /** A length-delimited sub-message written by `body`. */
  message(field: number, body: (w: Writer) => void): void {
    const sub = new Writer();
    body(sub);
    this.bytes(field, sub.finish());
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function writeAnyValue(w: Writer, v: OtlpAnyValue): void {
  if (v.stringValue !== undefined) w.bytes(1, Buffer.from(v.stringValue, 'utf8'));
  else if (v.boolValue !== undefined) {
    w.tag(2, 0);
    w.smallVarint(v.boolValue ? 1 : 0);
  } else if (v.intValue !== undefined) {
    w.tag(3, 0);
    w.varint(BigInt(v.intValue));
  } else if (v.doubleValue !== undefined) w.double(4, v.doubleValue);
  else if (v.arrayValue !== undefined) w.message(5, (a) => v.arrayValue!.values.forEach((x) => a.message(1, (e) => writeAnyValue(e, x))));
  else if (v.kvlistValue !== undefined) w.message(6, (a) => v.kvlistValue!.values.forEach((x) => a.message(1, (e) => writeKeyValue(e, x))));
  else if (v.bytesValue !== undefined) w.bytes(7, Buffer.from(v.bytesValue, 'base64'));
}

function writeKeyValue(w: Writer, kv: OtlpKeyValue): void {
  w.string(1, kv.key);
  if (kv.value !== undefined) w.message(2, (v) => writeAnyValue(v, kv.value!));
}

function writeAttrs(w: Writer, field: number, list: OtlpKeyValue[] | undefined): void {
  for (const kv of list ?? []) w.message(field, (e) => writeKeyValue(e, kv));
}

function writeExemplar(w: Writer, e: OtlpExemplarJson): void {
  writeAttrs(w, 7, e.filteredAttributes);
  if (e.timeUnixNano !== undefined) w.fixed64(2, e.timeUnixNano);
  if (e.asDouble !== undefined) w.double(3, e.asDouble);
  else if (e.asInt !== undefined) w.fixed64(6, e.asInt);
  if (e.spanId !== undefined) w.bytes(4, Buffer.from(e.spanId, 'hex'));
  if (e.traceId !== undefined) w.bytes(5, Buffer.from(e.traceId, 'hex'));
}

function writeNumberPoint(w: Writer, p: OtlpNumberPoint): void {
  writeAttrs(w, 7, p.attributes);
  if (p.startTimeUnixNano !== undefined) w.fixed64(2, p.startTimeUnixNano);
  if (p.timeUnixNano !== undefined) w.fixed64(3, p.timeUnixNano);
  if (p.asDouble !== undefined) w.double(4, p.asDouble);
  else if (p.asInt !== undefined) w.fixed64(6, p.asInt); // sfixed64: same bytes as fixed64 of the two's complement
  for (const e of p.exemplars ?? []) w.message(5, (x) => writeExemplar(x, e));
  if (p.flags) {
    w.tag(8, 0);
    w.smallVarint(p.flags);
  }
}

function writeHistogramPoint(w: Writer, p: OtlpHistogramPoint): void {
  writeAttrs(w, 9, p.attributes);
  if (p.startTimeUnixNano !== undefined) w.fixed64(2, p.startTimeUnixNano);
  if (p.timeUnixNano !== undefined) w.fixed64(3, p.timeUnixNano);
  w.fixed64(4, p.count ?? 0);
  if (p.sum !== undefined) w.double(5, p.sum);
  if (p.bucketCounts !== undefined && p.bucketCounts.length > 0) w.packed(6, p.bucketCounts, false);
  if (p.explicitBounds !== undefined && p.explicitBounds.length > 0) w.packed(7, p.explicitBounds, true);
  for (const e of p.exemplars ?? []) w.message(8, (x) => writeExemplar(x, e));
  if (p.flags) {
    w.tag(10, 0);
    w.smallVarint(p.flags);
  }
  if (p.min !== undefined) w.double(11, p.min);
  if (p.max !== undefined) w.double(12, p.max);
}

function writeSummaryPoint(w: Writer, p: OtlpSummaryPoint): void {
  writeAttrs(w, 7, p.attributes);
  if (p.startTimeUnixNano !== undefined) w.fixed64(2, p.startTimeUnixNano);
  if (p.timeUnixNano !== undefined) w.fixed64(3, p.timeUnixNano);
  w.fixed64(4, p.count ?? 0);
  w.double(5, p.sum ?? 0);
  for (const q of p.quantileValues ?? []) {
    w.message(6, (x) => {
      x.double(1, q.quantile ?? 0);
      x.double(2, q.value ?? 0);
    });
  }
  if (p.flags) {
    w.tag(8, 0);
    w.smallVarint(p.flags);
  }
}

function writeExpHistogramPoint(w: Writer, p: OtlpExpHistogramPoint): void {
  writeAttrs(w, 1, p.attributes);
  if (p.startTimeUnixNano !== undefined) w.fixed64(2, p.startTimeUnixNano);
  if (p.timeUnixNano !== undefined) w.fixed64(3, p.timeUnixNano);
  w.fixed64(4, p.count ?? 0);
  if (p.sum !== undefined) w.double(5, p.sum);
  if (p.scale !== undefined) {
    w.tag(6, 0);
    w.smallVarint(((p.scale << 1) ^ (p.scale >> 31)) >>> 0);
  }
  w.fixed64(7, p.zeroCount ?? 0);
  if (p.positive !== undefined) {
    w.message(8, (b) => {
      const off = p.positive!.offset ?? 0;
      b.tag(1, 0);
      b.smallVarint(((off << 1) ^ (off >> 31)) >>> 0);
      b.message(2, (x) => (p.positive!.bucketCounts ?? []).forEach((c) => x.varint(BigInt(c))));
    });
  }
}

function writeMetric(w: Writer, m: OtlpMetricJson): void {
  w.string(1, m.name);
  w.string(2, m.description);
  w.string(3, m.unit);
  if (m.gauge) w.message(5, (g) => m.gauge!.dataPoints.forEach((p) => g.message(1, (x) => writeNumberPoint(x, p))));
  if (m.sum) {
    w.message(7, (s) => {
      m.sum!.dataPoints.forEach((p) => s.message(1, (x) => writeNumberPoint(x, p)));
      if (m.sum!.aggregationTemporality) {
        s.tag(2, 0);
        s.smallVarint(m.sum!.aggregationTemporality);
      }
      if (m.sum!.isMonotonic) {
        s.tag(3, 0);
        s.smallVarint(1);
      }
    });
  }
  if (m.histogram) {
    w.message(9, (h) => {
      m.histogram!.dataPoints.forEach((p) => h.message(1, (x) => writeHistogramPoint(x, p)));
      if (m.histogram!.aggregationTemporality) {
        h.tag(2, 0);
        h.smallVarint(m.histogram!.aggregationTemporality);
      }
    });
  }
  if (m.exponentialHistogram) {
    w.message(10, (h) => {
      m.exponentialHistogram!.dataPoints.forEach((p) => h.message(1, (x) => writeExpHistogramPoint(x, p)));
      if (m.exponentialHistogram!.aggregationTemporality) {
        h.tag(2, 0);
        h.smallVarint(m.exponentialHistogram!.aggregationTemporality);
      }
    });
  }
  if (m.summary) w.message(11, (s) => m.summary!.dataPoints.forEach((p) => s.message(1, (x) => writeSummaryPoint(x, p))));
}

/** An ExportMetricsServiceRequest as protobuf bytes. */
export function encodeExportMetricsRequest(req: OtlpMetricsRequestJson): Buffer {
  const w = new Writer();
  for (const rm of req.resourceMetrics) {
    w.message(1, (r) => {
      if (rm.resource !== undefined) r.message(1, (res) => writeAttrs(res, 1, rm.resource!.attributes));
      for (const sm of rm.scopeMetrics) {
        r.message(2, (s) => {
          if (sm.scope !== undefined) {
            s.message(1, (sc) => {
              sc.string(1, sm.scope!.name);
              sc.string(2, sm.scope!.version);
              writeAttrs(sc, 3, sm.scope!.attributes);
            });
          }
          for (const m of sm.metrics) s.message(2, (x) => writeMetric(x, m));
          s.string(3, sm.schemaUrl);
        });
      }
      r.string(3, rm.schemaUrl);
    });
  }
  return Buffer.from(w.finish());
}

/** The OTLP metrics schema (the fields this project reads), for protobufjs.parse. */
export const OTLP_METRICS_PROTO = `
syntax = "proto3";
package opentelemetry.proto;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
  ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric { string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11; }
  repeated KeyValue metadata = 12; }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; } repeated Exemplar exemplars = 5; uint32 flags = 8; }
message HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  repeated Exemplar exemplars = 8; uint32 flags = 10; optional double min = 11; optional double max = 12; }
message ExponentialHistogramDataPoint { repeated KeyValue attributes = 1; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; sint32 scale = 6; fixed64 zero_count = 7; Buckets positive = 8; Buckets negative = 9;
  uint32 flags = 10; repeated Exemplar exemplars = 11; optional double min = 12; optional double max = 13; double zero_threshold = 14;
  message Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2; } }
message SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; double sum = 5; repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8;
  message ValueAtQuantile { double quantile = 1; double value = 2; } }
message Exemplar { repeated KeyValue filtered_attributes = 7; fixed64 time_unix_nano = 2;
  oneof value { double as_double = 3; sfixed64 as_int = 6; } bytes span_id = 4; bytes trace_id = 5; }
`;

// --- Realistic requests -------------------------------------------------------------------------

export interface OtlpPayloadOptions {
  /** Distinct resources (hosts / service instances). */
  hosts: number;
  /** Hosts per request (the Collector batches several resources into one request). */
  hostsPerRequest: number;
  /** Rounds: each round every host reports once, STEP_MS after the last. */
  rounds: number;
  seed?: number;
  /** First timestamp, ms. */
  startMs?: number;
  stepMs?: number;
}

export interface OtlpPayload {
  /** Protobuf bodies in send order (round by round). */
  bodies: Buffer[];
  /** Prometheus samples the bodies translate into (a histogram point is buckets + 3). */
  samples: number;
  dataPoints: number;
  /** Distinct Prometheus series (without target_info). */
  series: number;
}

const CPU_MODES = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'];
const DEVICES = ['eth0', 'eth1', 'lo'];
const DISKS = ['nvme0n1', 'sda'];
const FILESYSTEMS: Array<[string, string]> = [
  ['/', 'ext4'],
  ['/data', 'xfs'],
  ['/run', 'tmpfs'],
];
const HTTP_ROUTES = ['/api/v1/orders', '/api/v1/users/{id}', '/api/v1/cart', '/healthz', '/api/v1/search'];
const HTTP_METHODS = ['GET', 'POST'];
const HTTP_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * Requests with, per host: system.cpu.time (8 CPUs x 8 modes, counter, s), system.memory.usage
 * (gauge, By, 4 states), system.network.io (counter, By, 3 devices x 2 directions),
 * system.disk.io (counter, By), system.filesystem.usage (gauge, By), process.runtime.heap
 * (gauge), http.server.request.duration (histogram, s, 5 routes x 2 methods x 2 codes, 14 bounds)
 * and http.server.active_requests (non-monotonic sum). ~200 data points and ~560 samples per host.
 */
export function generateOtlpRequests(opts: OtlpPayloadOptions): OtlpPayload {
  const rng = mulberry32(opts.seed ?? 42);
  const startMs = opts.startMs ?? 1_700_000_000_000;
  const stepMs = opts.stepMs ?? 15_000;
  const startNs = msToNanos(startMs - 3_600_000);
  const counters = new Map<string, number>();
  const bump = (key: string, inc: number) => {
    const v = (counters.get(key) ?? rng() * 1e6) + inc;
    counters.set(key, v);
    return v;
  };
  const bodies: Buffer[] = [];
  let samples = 0;
  let dataPoints = 0;
  let series = 0;
  for (let round = 0; round < opts.rounds; round++) {
    const timeNs = msToNanos(startMs + round * stepMs);
    for (let h0 = 0; h0 < opts.hosts; h0 += opts.hostsPerRequest) {
      const resourceMetrics: OtlpResourceMetricsJson[] = [];
      for (let h = h0; h < Math.min(opts.hosts, h0 + opts.hostsPerRequest); h++) {
        const host = `ip-10-0-${(h >> 8) & 255}-${h & 255}`;
        const pt = (a: Record<string, string>, v: number, counter: boolean): OtlpNumberPoint => ({
          attributes: attrs(a),
          ...(counter ? { startTimeUnixNano: startNs } : {}),
          timeUnixNano: timeNs,
          asDouble: v,
        });
        const cpu: OtlpNumberPoint[] = [];
        for (let c = 0; c < 8; c++) for (const mode of CPU_MODES) cpu.push(pt({ cpu: String(c), state: mode }, bump(`${h}cpu${c}${mode}`, rng() * 15), true));
        const mem = ['used', 'free', 'cached', 'buffered'].map((s) => pt({ state: s }, Math.floor(rng() * 16e9), false));
        const net: OtlpNumberPoint[] = [];
        for (const d of DEVICES) for (const dir of ['receive', 'transmit']) net.push(pt({ device: d, direction: dir }, Math.floor(bump(`${h}net${d}${dir}`, rng() * 1e7)), true));
        const disk: OtlpNumberPoint[] = [];
        for (const d of DISKS) for (const dir of ['read', 'write']) disk.push(pt({ device: d, direction: dir }, Math.floor(bump(`${h}disk${d}${dir}`, rng() * 1e8)), true));
        const fs = FILESYSTEMS.flatMap(([m, t]) => ['used', 'free'].map((s) => pt({ mountpoint: m, type: t, state: s }, Math.floor(rng() * 1e11), false)));
        const hist: OtlpHistogramPoint[] = [];
        for (const route of HTTP_ROUTES) {
          for (const method of HTTP_METHODS) {
            for (const code of [200, 500]) {
              const counts = HTTP_BOUNDS.map((_, i) => Math.floor(bump(`${h}${route}${method}${code}b${i}`, rng() * 20)));
              counts.push(Math.floor(bump(`${h}${route}${method}${code}inf`, rng() * 2)));
              const count = counts.reduce((a, b) => a + b, 0);
              hist.push({
                attributes: attrs({ 'http.route': route, 'http.request.method': method, 'http.response.status_code': code }),
                startTimeUnixNano: startNs,
                timeUnixNano: timeNs,
                count,
                sum: count * 0.07,
                bucketCounts: counts,
                explicitBounds: HTTP_BOUNDS,
              });
            }
          }
        }
        const active = [pt({ 'http.request.method': 'GET' }, Math.floor(rng() * 50), false)];
        const heap = [pt({}, Math.floor(rng() * 5e8), false)];
        resourceMetrics.push({
          resource: {
            attributes: attrs({
              'service.name': 'checkout',
              'service.namespace': 'shop',
              'service.instance.id': `${host}:8080`,
              'host.name': host,
              'cloud.region': 'eu-west-1',
              'cloud.provider': 'aws',
              'deployment.environment': 'prod',
            }),
          },
          scopeMetrics: [
            {
              scope: { name: 'otelcol/hostmetricsreceiver', version: '0.115.0' },
              metrics: [
                { name: 'system.cpu.time', unit: 's', description: 'CPU time by state', sum: { dataPoints: cpu, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true } },
                { name: 'system.memory.usage', unit: 'By', description: 'Bytes of memory in use', sum: { dataPoints: mem, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: false } },
                { name: 'system.network.io', unit: 'By', description: 'Bytes transmitted and received', sum: { dataPoints: net, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true } },
                { name: 'system.disk.io', unit: 'By', description: 'Disk bytes transferred', sum: { dataPoints: disk, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: true } },
                { name: 'system.filesystem.usage', unit: 'By', description: 'Filesystem bytes used', sum: { dataPoints: fs, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: false } },
              ],
            },
            {
              scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
              metrics: [
                { name: 'http.server.request.duration', unit: 's', description: 'Duration of HTTP server requests', histogram: { dataPoints: hist, aggregationTemporality: TEMPORALITY_CUMULATIVE } },
                { name: 'http.server.active_requests', unit: '{request}', description: 'Active HTTP server requests', sum: { dataPoints: active, aggregationTemporality: TEMPORALITY_CUMULATIVE, isMonotonic: false } },
                { name: 'process.runtime.heap', unit: 'By', gauge: { dataPoints: heap } },
              ],
            },
          ],
        });
        const numberPoints = cpu.length + mem.length + net.length + disk.length + fs.length + active.length + heap.length;
        const histSamples = hist.length * (HTTP_BOUNDS.length + 3);
        dataPoints += numberPoints + hist.length;
        samples += numberPoints + histSamples + 1; // + target_info
        if (round === 0) series += numberPoints + histSamples;
      }
      bodies.push(encodeExportMetricsRequest({ resourceMetrics }));
    }
  }
  return { bodies, samples, dataPoints, series };
}
