// OTLP/protobuf ExportMetricsServiceRequest -> OtlpTranslator calls, hand-written over
// ProtoCursor: one walk over the buffer, no message objects; attributes go into reused arrays and
// histogram buckets into reused typed arrays.
//
// Wire schema (checked against open-telemetry/opentelemetry-proto, collector/metrics/v1/
// metrics_service.proto, metrics/v1/metrics.proto, common/v1/common.proto, resource/v1/resource.proto):
//   ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
//   ResourceMetrics  { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
//   Resource         { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
//   ScopeMetrics     { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
//   InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
//   Metric           { string name = 1; string description = 2; string unit = 3;
//                      oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9;
//                      ExponentialHistogram exponential_histogram = 10; Summary summary = 11; } }
//   Gauge { repeated NumberDataPoint data_points = 1; }
//   Sum   { repeated NumberDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
//   Histogram / ExponentialHistogram { repeated ... data_points = 1; AggregationTemporality aggregation_temporality = 2; }
//   Summary { repeated SummaryDataPoint data_points = 1; }
//   NumberDataPoint  { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//                      oneof value { double as_double = 4; sfixed64 as_int = 6; } repeated Exemplar exemplars = 5; uint32 flags = 8; }
//   HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//                      fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6;
//                      repeated double explicit_bounds = 7; repeated Exemplar exemplars = 8; uint32 flags = 10; }
//   SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//                      fixed64 count = 4; double sum = 5; repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8; }
//   ValueAtQuantile  { double quantile = 1; double value = 2; }
//   Exemplar         { repeated KeyValue filtered_attributes = 7; fixed64 time_unix_nano = 2;
//                      oneof value { double as_double = 3; sfixed64 as_int = 6; } bytes span_id = 4; bytes trace_id = 5; }
//   KeyValue { string key = 1; AnyValue value = 2; }
//   AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
//              ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
//   ArrayValue { repeated AnyValue values = 1; }  KeyValueList { repeated KeyValue values = 1; }
//
// Structural errors (truncation, wrong wire types, invalid UTF-8 in strings) throw BAD_OTLP with
// the byte offset: the whole request is refused and nothing is stored. Field order is free in
// protobuf, so each message's sub-messages are located first and translated after its scalars.
import { ProtoCursor, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from '../protowire.js';
import { AsciiInterner } from '../intern.js';
import type { ValidatedLabels } from '../label-cache.js';
import { isUtf8Bytes } from '../validate-labels.js';
import { doubleAsString } from './naming.js';
import { nanosWordsToMs, newAttrList, pushAttr, type AttrList, type OtlpExemplar, type OtlpMetricKind, OtlpTranslator } from './translate.js';

/** Nesting bound of AnyValue arrays/kvlists: deeper is garbage meant to exhaust the stack. */
export const OTLP_ANY_VALUE_DEPTH_MAX = 32;

type FastBuffer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const TWO_POW_32 = 4294967296;

class OtlpCursor extends ProtoCursor {
  where = '';
  protected override context(): string {
    return this.where;
  }
}

const keyInterner = new AsciiInterner(12);
const valueInterner = new AsciiInterner(14);

/** Decodes an ExportMetricsServiceRequest body into `t`. Throws BAD_OTLP on malformed bytes. */
export function decodeOtlpMetricsProto(body: Buffer, t: OtlpTranslator): void {
  new ProtoMetricsDecoder(body, t).run();
}

class ProtoMetricsDecoder {
  private readonly c: OtlpCursor;
  private readonly buf: FastBuffer;
  private readonly pointAttrs = newAttrList();
  private bounds: Float64Array = new Float64Array(64);
  private counts: Float64Array = new Float64Array(64);
  private quantiles: Float64Array = new Float64Array(16);
  private quantileValues: Float64Array = new Float64Array(16);

  /** The body, for the translator's attribute-bytes cache. */
  private readonly dv: DataView;

  constructor(body: Buffer, private readonly t: OtlpTranslator) {
    this.buf = body as FastBuffer;
    this.dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.c = new OtlpCursor(body, 'BAD_OTLP', 'ExportMetricsServiceRequest');
  }

  run(): void {
    const c = this.c;
    const end = this.buf.length;
    let i = 0;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      if (tag >>> 3 === 1) {
        c.expectWireType(tag, WIRE_LEN, 'resource_metrics', at);
        const n = c.length(end);
        const s = c.pos;
        c.where = `resource_metrics[${i}]`;
        this.resourceMetrics(s, s + n, i++);
        c.pos = s + n;
      } else c.skip(tag, end);
    }
  }

  private resourceMetrics(start: number, end: number, index: number): void {
    const c = this.c;
    let resStart = -1;
    let resEnd = -1;
    const scopes: number[] = [];
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      const field = tag >>> 3;
      if (field === 1 || field === 2) {
        c.expectWireType(tag, WIRE_LEN, field === 1 ? 'resource' : 'scope_metrics', at);
        const n = c.length(end);
        if (field === 1) {
          resStart = c.pos;
          resEnd = c.pos + n;
        } else scopes.push(c.pos, c.pos + n);
        c.pos += n;
      } else if (field === 3) this.string(tag, end, 'schema_url', at);
      else c.skip(tag, end);
    }
    const attrs = newAttrList();
    if (resStart >= 0) {
      c.pos = resStart;
      while (c.pos < resEnd) {
        const at = c.pos;
        const tag = c.tag(resEnd);
        if (tag >>> 3 === 1) this.keyValue(tag, resEnd, at, attrs, 0);
        else c.skip(tag, resEnd);
      }
    }
    this.t.beginResource(attrs);
    for (let i = 0; i < scopes.length; i += 2) {
      c.where = `resource_metrics[${index}].scope_metrics[${i / 2}]`;
      this.scopeMetrics(scopes[i]!, scopes[i + 1]!, c.where);
    }
    this.t.endResource();
  }

  private scopeMetrics(start: number, end: number, where: string): void {
    const c = this.c;
    let scopeStart = -1;
    let scopeEnd = -1;
    let schemaUrl = '';
    const metrics: number[] = [];
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      const field = tag >>> 3;
      if (field === 1 || field === 2) {
        c.expectWireType(tag, WIRE_LEN, field === 1 ? 'scope' : 'metrics', at);
        const n = c.length(end);
        if (field === 1) {
          scopeStart = c.pos;
          scopeEnd = c.pos + n;
        } else metrics.push(c.pos, c.pos + n);
        c.pos += n;
      } else if (field === 3) schemaUrl = this.string(tag, end, 'schema_url', at);
      else c.skip(tag, end);
    }
    let name = '';
    let version = '';
    const attrs = newAttrList();
    if (scopeStart >= 0) {
      c.pos = scopeStart;
      while (c.pos < scopeEnd) {
        const at = c.pos;
        const tag = c.tag(scopeEnd);
        const field = tag >>> 3;
        if (field === 1) name = this.string(tag, scopeEnd, 'scope.name', at);
        else if (field === 2) version = this.string(tag, scopeEnd, 'scope.version', at);
        else if (field === 3) this.keyValue(tag, scopeEnd, at, attrs, 0);
        else c.skip(tag, scopeEnd);
      }
    }
    this.t.beginScope(name, version, schemaUrl, attrs);
    for (let i = 0; i < metrics.length; i += 2) {
      c.where = `${where}.metrics[${i / 2}]`;
      this.metric(metrics[i]!, metrics[i + 1]!);
    }
  }

  private metric(start: number, end: number): void {
    const c = this.c;
    let name = '';
    let description = '';
    let unit = '';
    let kind: OtlpMetricKind | undefined;
    let dataStart = -1;
    let dataEnd = -1;
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      const field = tag >>> 3;
      switch (field) {
        case 1:
          name = this.string(tag, end, 'name', at);
          break;
        case 2:
          description = this.string(tag, end, 'description', at);
          break;
        case 3:
          unit = this.string(tag, end, 'unit', at);
          break;
        case 5:
        case 7:
        case 9:
        case 10:
        case 11: {
          kind = field === 5 ? 'gauge' : field === 7 ? 'sum' : field === 9 ? 'histogram' : field === 10 ? 'exponential_histogram' : 'summary';
          c.expectWireType(tag, WIRE_LEN, kind, at);
          const n = c.length(end);
          dataStart = c.pos;
          dataEnd = c.pos + n;
          c.pos += n;
          break;
        }
        default:
          c.skip(tag, end);
      }
    }
    if (kind === undefined) return; // no data: nothing to store (upstream drops it too)
    c.where = `${c.where} (${JSON.stringify(name.slice(0, 100))})`;
    // Pass 1 over the data message: temporality, monotonicity and the number of points.
    let temporality = 0;
    let monotonic = false;
    let points = 0;
    c.pos = dataStart;
    while (c.pos < dataEnd) {
      const at = c.pos;
      const tag = c.tag(dataEnd);
      const field = tag >>> 3;
      if (field === 1) {
        c.expectWireType(tag, WIRE_LEN, 'data_points', at);
        const n = c.length(dataEnd);
        c.pos += n;
        points++;
      } else if (field === 2 && kind !== 'gauge' && kind !== 'summary') {
        c.expectWireType(tag, WIRE_VARINT, 'aggregation_temporality', at);
        temporality = c.int64(dataEnd);
      } else if (field === 3 && kind === 'sum') {
        c.expectWireType(tag, WIRE_VARINT, 'is_monotonic', at);
        monotonic = c.int64(dataEnd) !== 0;
      } else c.skip(tag, dataEnd);
    }
    if (points === 0) return;
    if (!this.t.beginMetric(name, description, unit, kind, temporality, monotonic)) {
      this.t.skipPoints(points);
      return;
    }
    // Pass 2: the points.
    c.pos = dataStart;
    while (c.pos < dataEnd) {
      const tag = c.tag(dataEnd);
      if (tag >>> 3 === 1) {
        const n = c.length(dataEnd);
        const s = c.pos;
        if (kind === 'histogram') this.histogramPoint(s, s + n);
        else if (kind === 'summary') this.summaryPoint(s, s + n);
        else this.numberPoint(s, s + n);
        c.pos = s + n;
      } else c.skip(tag, dataEnd);
    }
  }

  /**
   * Where the run of attribute fields (KeyValue, field `field`) starting at `at` ends, or -1
   * when a malformed tag or length comes first (the normal parse then reports it).
   */
  private attributeRunEnd(at: number, end: number, field: number): number {
    const c = this.c;
    const saved = c.pos;
    let runEnd = at;
    try {
      c.pos = at;
      while (c.pos < end) {
        const tag = c.tag(end);
        if (tag >>> 3 !== field || (tag & 7) !== WIRE_LEN) break;
        const n = c.length(end);
        if (c.pos + n > end) return -1;
        c.pos += n;
        runEnd = c.pos;
      }
    } catch {
      return -1;
    } finally {
      c.pos = saved;
    }
    return runEnd;
  }

  /**
   * A NumberDataPoint. When its attributes are one run of fields (as encoders write them) whose
   * bytes the translator has seen in this metric's context, they are not decoded again: the
   * translator hands back the series (OtlpTranslator.cachedPointSeries). `noCache`: attributes
   * came in several runs after a cache hit; decode them all.
   */
  private numberPoint(start: number, end: number, noCache = false): void {
    const c = this.c;
    const attrs = this.pointAttrs;
    attrs.count = 0;
    let startMs = 0;
    let timeMs = 0;
    let value = 0;
    let flags = 0;
    let exemplars: OtlpExemplar[] | undefined;
    let runStart = -1;
    let runEnd = -1;
    let split = false;
    let cached: ValidatedLabels | undefined;
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      switch (tag >>> 3) {
        case 7:
          if (runStart < 0) {
            runStart = at;
            runEnd = noCache ? -1 : this.attributeRunEnd(at, end, 7);
            if (runEnd > runStart) {
              cached = this.t.cachedPointSeries(this.dv, runStart, runEnd);
              if (cached !== undefined) {
                c.pos = runEnd;
                break;
              }
            }
          } else if (at >= runEnd) split = true;
          this.keyValue(tag, end, at, attrs, 0);
          break;
        case 2:
          c.expectWireType(tag, WIRE_FIXED64, 'start_time_unix_nano', at);
          startMs = this.fixed64Nanos(end);
          break;
        case 3:
          c.expectWireType(tag, WIRE_FIXED64, 'time_unix_nano', at);
          timeMs = this.fixed64Nanos(end);
          break;
        case 4:
          c.expectWireType(tag, WIRE_FIXED64, 'as_double', at);
          value = this.double(end);
          break;
        case 6:
          c.expectWireType(tag, WIRE_FIXED64, 'as_int', at);
          value = this.sfixed64(end);
          break;
        case 5:
          (exemplars ??= []).push(this.exemplar(tag, end, at));
          break;
        case 8:
          c.expectWireType(tag, WIRE_VARINT, 'flags', at);
          flags = c.int64(end);
          break;
        default:
          c.skip(tag, end);
      }
    }
    if (split && cached !== undefined) return this.numberPoint(start, end, true);
    const raw = !split && runEnd > runStart ? { dv: this.dv, start: runStart, end: runEnd } : undefined;
    this.t.numberPoint(attrs, startMs, timeMs, value, flags, exemplars, cached, raw);
  }

  private histogramPoint(start: number, end: number): void {
    const c = this.c;
    const attrs = this.pointAttrs;
    attrs.count = 0;
    let startMs = 0;
    let timeMs = 0;
    let count = 0;
    let sum: number | undefined;
    let nBounds = 0;
    let nCounts = 0;
    let flags = 0;
    let exemplars: OtlpExemplar[] | undefined;
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      switch (tag >>> 3) {
        case 9:
          this.keyValue(tag, end, at, attrs, 0);
          break;
        case 2:
          c.expectWireType(tag, WIRE_FIXED64, 'start_time_unix_nano', at);
          startMs = this.fixed64Nanos(end);
          break;
        case 3:
          c.expectWireType(tag, WIRE_FIXED64, 'time_unix_nano', at);
          timeMs = this.fixed64Nanos(end);
          break;
        case 4:
          c.expectWireType(tag, WIRE_FIXED64, 'count', at);
          count = this.fixed64(end);
          break;
        case 5:
          c.expectWireType(tag, WIRE_FIXED64, 'sum', at);
          sum = this.double(end);
          break;
        case 6:
          nCounts = this.repeatedFixed64(tag, end, at, 'bucket_counts', nCounts, false);
          break;
        case 7:
          nBounds = this.repeatedFixed64(tag, end, at, 'explicit_bounds', nBounds, true);
          break;
        case 8:
          (exemplars ??= []).push(this.exemplar(tag, end, at));
          break;
        case 10:
          c.expectWireType(tag, WIRE_VARINT, 'flags', at);
          flags = c.int64(end);
          break;
        default:
          c.skip(tag, end);
      }
    }
    this.t.histogramPoint(attrs, startMs, timeMs, count, sum, this.bounds, nBounds, this.counts, nCounts, flags, exemplars);
  }

  private summaryPoint(start: number, end: number): void {
    const c = this.c;
    const attrs = this.pointAttrs;
    attrs.count = 0;
    let startMs = 0;
    let timeMs = 0;
    let count = 0;
    let sum = 0;
    let nq = 0;
    let flags = 0;
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const tag = c.tag(end);
      switch (tag >>> 3) {
        case 7:
          this.keyValue(tag, end, at, attrs, 0);
          break;
        case 2:
          c.expectWireType(tag, WIRE_FIXED64, 'start_time_unix_nano', at);
          startMs = this.fixed64Nanos(end);
          break;
        case 3:
          c.expectWireType(tag, WIRE_FIXED64, 'time_unix_nano', at);
          timeMs = this.fixed64Nanos(end);
          break;
        case 4:
          c.expectWireType(tag, WIRE_FIXED64, 'count', at);
          count = this.fixed64(end);
          break;
        case 5:
          c.expectWireType(tag, WIRE_FIXED64, 'sum', at);
          sum = this.double(end);
          break;
        case 6: {
          c.expectWireType(tag, WIRE_LEN, 'quantile_values', at);
          const n = c.length(end);
          const qEnd = c.pos + n;
          let q = 0;
          let v = 0;
          while (c.pos < qEnd) {
            const qAt = c.pos;
            const qTag = c.tag(qEnd);
            const f = qTag >>> 3;
            if (f === 1 || f === 2) {
              c.expectWireType(qTag, WIRE_FIXED64, f === 1 ? 'quantile' : 'value', qAt);
              if (f === 1) q = this.double(qEnd);
              else v = this.double(qEnd);
            } else c.skip(qTag, qEnd);
          }
          if (nq === this.quantiles.length) {
            this.quantiles = grow(this.quantiles);
            this.quantileValues = grow(this.quantileValues);
          }
          this.quantiles[nq] = q;
          this.quantileValues[nq++] = v;
          break;
        }
        case 8:
          c.expectWireType(tag, WIRE_VARINT, 'flags', at);
          flags = c.int64(end);
          break;
        default:
          c.skip(tag, end);
      }
    }
    this.t.summaryPoint(attrs, startMs, timeMs, count, sum, this.quantiles, this.quantileValues, nq, flags);
  }

  private exemplar(tag: number, end: number, at: number): OtlpExemplar {
    const c = this.c;
    c.expectWireType(tag, WIRE_LEN, 'exemplars', at);
    const n = c.length(end);
    const eEnd = c.pos + n;
    const e: OtlpExemplar = { timeMs: 0, value: 0, traceId: '', spanId: '', attrs: newAttrList() };
    while (c.pos < eEnd) {
      const fAt = c.pos;
      const t = c.tag(eEnd);
      switch (t >>> 3) {
        case 7:
          this.keyValue(t, eEnd, fAt, e.attrs, 0);
          break;
        case 2:
          c.expectWireType(t, WIRE_FIXED64, 'exemplar.time_unix_nano', fAt);
          e.timeMs = this.fixed64Nanos(eEnd);
          break;
        case 3:
          c.expectWireType(t, WIRE_FIXED64, 'exemplar.as_double', fAt);
          e.value = this.double(eEnd);
          break;
        case 6:
          c.expectWireType(t, WIRE_FIXED64, 'exemplar.as_int', fAt);
          e.value = this.sfixed64(eEnd);
          break;
        case 4:
        case 5: {
          c.expectWireType(t, WIRE_LEN, t >>> 3 === 4 ? 'span_id' : 'trace_id', fAt);
          const len = c.length(eEnd);
          const want = t >>> 3 === 4 ? 8 : 16;
          // pdata refuses ids of any other length too (TraceID is [16]byte, SpanID [8]byte).
          if (len !== 0 && len !== want) c.fail(`${t >>> 3 === 4 ? 'span_id' : 'trace_id'} has ${len} bytes, expected ${want}`, fAt);
          const hex = idHex(this.buf, c.pos, c.pos + len);
          c.pos += len;
          if (t >>> 3 === 4) e.spanId = hex;
          else e.traceId = hex;
          break;
        }
        default:
          c.skip(t, eEnd);
      }
    }
    return e;
  }

  /** A KeyValue field (tag already read) appended to `out` with its value as a string (pdata AsString). */
  private keyValue(tag: number, end: number, at: number, out: AttrList, depth: number): void {
    const c = this.c;
    c.expectWireType(tag, WIRE_LEN, 'attributes', at);
    const n = c.length(end);
    const kvEnd = c.pos + n;
    let key = '';
    let value = '';
    while (c.pos < kvEnd) {
      const fAt = c.pos;
      const t = c.tag(kvEnd);
      const f = t >>> 3;
      if (f === 1) key = this.string(t, kvEnd, 'attribute key', fAt, keyInterner);
      else if (f === 2) {
        c.expectWireType(t, WIRE_LEN, 'attribute value', fAt);
        const len = c.length(kvEnd);
        const vStart = c.pos;
        value = this.anyValue(vStart, vStart + len, depth);
        c.pos = vStart + len;
      } else c.skip(t, kvEnd);
    }
    pushAttr(out, key, value);
  }

  /** AnyValue message in [start, end) as pdata's Value.AsString renders it. */
  private anyValue(start: number, end: number, depth: number): string {
    const v = this.anyValueJson(start, end, depth);
    return typeof v === 'string' ? v : v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : doubleAsString(v)) : typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  }

  /** AnyValue as a JSON-able value: nested arrays/maps are rendered as JSON, as pdata does. */
  private anyValueJson(start: number, end: number, depth: number): unknown {
    const c = this.c;
    if (depth > OTLP_ANY_VALUE_DEPTH_MAX) c.fail(`attribute values nested deeper than ${OTLP_ANY_VALUE_DEPTH_MAX}`, start);
    let out: unknown = null;
    c.pos = start;
    while (c.pos < end) {
      const at = c.pos;
      const t = c.tag(end);
      switch (t >>> 3) {
        case 1:
          out = this.string(t, end, 'string_value', at, valueInterner);
          break;
        case 2:
          c.expectWireType(t, WIRE_VARINT, 'bool_value', at);
          out = c.int64(end) !== 0;
          break;
        case 3: {
          c.expectWireType(t, WIRE_VARINT, 'int_value', at);
          const v = c.int64(end);
          out = Number.isNaN(v) ? c.unsafeInt64String() : v;
          break;
        }
        case 4:
          c.expectWireType(t, WIRE_FIXED64, 'double_value', at);
          out = this.double(end);
          break;
        case 5:
        case 6: {
          const isArray = t >>> 3 === 5;
          c.expectWireType(t, WIRE_LEN, isArray ? 'array_value' : 'kvlist_value', at);
          const n = c.length(end);
          const listEnd = c.pos + n;
          const arr: unknown[] = [];
          const obj: Record<string, unknown> = {};
          while (c.pos < listEnd) {
            const eAt = c.pos;
            const et = c.tag(listEnd);
            if (et >>> 3 !== 1) {
              c.skip(et, listEnd);
              continue;
            }
            c.expectWireType(et, WIRE_LEN, 'values', eAt);
            const len = c.length(listEnd);
            const s = c.pos;
            if (isArray) arr.push(this.anyValueJson(s, s + len, depth + 1));
            else {
              // KeyValue inside a kvlist
              let k = '';
              let v: unknown = null;
              while (c.pos < s + len) {
                const kAt = c.pos;
                const kt = c.tag(s + len);
                if (kt >>> 3 === 1) k = this.string(kt, s + len, 'kvlist key', kAt);
                else if (kt >>> 3 === 2) {
                  c.expectWireType(kt, WIRE_LEN, 'kvlist value', kAt);
                  const vl = c.length(s + len);
                  const vs = c.pos;
                  v = this.anyValueJson(vs, vs + vl, depth + 1);
                  c.pos = vs + vl;
                } else c.skip(kt, s + len);
              }
              obj[k] = v;
            }
            c.pos = s + len;
          }
          out = isArray ? arr : obj;
          break;
        }
        case 7: {
          c.expectWireType(t, WIRE_LEN, 'bytes_value', at);
          const n = c.length(end);
          out = this.buf.toString('base64', c.pos, c.pos + n);
          c.pos += n;
          break;
        }
        default:
          c.skip(t, end);
      }
    }
    return out;
  }

  private string(tag: number, end: number, field: string, at: number, interner?: AsciiInterner): string {
    const c = this.c;
    c.expectWireType(tag, WIRE_LEN, field, at);
    const n = c.length(end);
    const s = c.pos;
    c.pos = s + n;
    const buf = this.buf;
    for (let i = s; i < s + n; i++) {
      if (buf[i]! >= 0x80) {
        if (!isUtf8Bytes(buf, i, s + n)) c.fail(`${field} is not valid UTF-8`, s);
        return buf.utf8Slice(s, s + n);
      }
    }
    return interner !== undefined ? interner.get(buf, s, s + n) : buf.latin1Slice(s, s + n);
  }

  private checkFixed(end: number, bytes: number): number {
    const p = this.c.pos;
    if (p + bytes > end) this.c.fail(`truncated fixed${bytes * 8} field`, p);
    this.c.pos = p + bytes;
    return p;
  }

  /** A double, bit-exact (NaN payloads survive: the value goes through a Float64Array). */
  private double(end: number): number {
    const p = this.checkFixed(end, 8);
    const b = this.buf;
    f64Bytes[0] = b[p]!;
    f64Bytes[1] = b[p + 1]!;
    f64Bytes[2] = b[p + 2]!;
    f64Bytes[3] = b[p + 3]!;
    f64Bytes[4] = b[p + 4]!;
    f64Bytes[5] = b[p + 5]!;
    f64Bytes[6] = b[p + 6]!;
    f64Bytes[7] = b[p + 7]!;
    return f64[0]!;
  }

  /** fixed64 as a double (rounded to nearest beyond 2^53, as Go's float64(uint64) does). */
  private fixed64(end: number): number {
    const p = this.checkFixed(end, 8);
    const b = this.buf;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    return hi * TWO_POW_32 + lo;
  }

  private sfixed64(end: number): number {
    const p = this.checkFixed(end, 8);
    const b = this.buf;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24);
    return hi * TWO_POW_32 + lo;
  }

  /** A fixed64 nanosecond timestamp as whole milliseconds, exactly. */
  private fixed64Nanos(end: number): number {
    const p = this.checkFixed(end, 8);
    const b = this.buf;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    return nanosWordsToMs(hi, lo);
  }

  /** Packed or unpacked repeated fixed64 (counts) or double (bounds), appended after `n` items. */
  private repeatedFixed64(tag: number, end: number, at: number, field: string, n: number, isDouble: boolean): number {
    const c = this.c;
    const wt = tag & 7;
    let items: number;
    let from: number;
    if (wt === WIRE_LEN) {
      const len = c.length(end);
      if (len % 8 !== 0) c.fail(`packed ${field} of ${len} bytes is not a multiple of 8`, at);
      items = len / 8;
      from = c.pos;
    } else {
      c.expectWireType(tag, WIRE_FIXED64, field, at);
      items = 1;
      from = c.pos;
    }
    const limit = from + items * 8;
    while (n + items > (isDouble ? this.bounds : this.counts).length) {
      if (isDouble) this.bounds = grow(this.bounds);
      else this.counts = grow(this.counts);
    }
    const dst = isDouble ? this.bounds : this.counts;
    for (let i = 0; i < items; i++) dst[n++] = isDouble ? this.double(limit) : this.fixed64(limit);
    c.pos = limit;
    return n;
  }
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Trace/span id bytes as lowercase hex; '' when empty or all zero (an invalid id). */
export function idHex(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  let nonZero = false;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b !== 0) nonZero = true;
    s += HEX[b]!;
  }
  return nonZero ? s : '';
}
