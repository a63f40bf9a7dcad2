// OTLP/JSON ExportMetricsServiceRequest -> OtlpTranslator calls.
//
// Rules (opentelemetry-proto docs/specification.md, "JSON Protobuf Encoding", and the proto3 JSON
// mapping): keys are the lowerCamelCase field names (snake_case keys are unknown fields);
// unknown fields are ignored; null means "not set"; int64/fixed64 are decimal strings or
// numbers; doubles are numbers or the strings "NaN", "Infinity", "-Infinity" (or a decimal
// string); enums are integers (names are accepted too); traceId/spanId are hex strings, other
// bytes base64. A value of the wrong JSON type is a 400 that names its path; nothing is stored.
import { MochaError } from '../../errors.js';
import { doubleAsString } from './naming.js';
import { newAttrList, pushAttr, type AttrList, type OtlpExemplar, type OtlpMetricKind, OtlpTranslator } from './translate.js';
import { OTLP_ANY_VALUE_DEPTH_MAX } from './decode-proto.js';

type Json = unknown;
type Obj = Record<string, Json>;

function bad(path: string, what: string): never {
  throw new MochaError('BAD_OTLP', `invalid OTLP/JSON ExportMetricsServiceRequest: ${path} ${what}`);
}

function describe(v: Json): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : `a ${typeof v}`;
}

function obj(v: Json, path: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) bad(path, `must be an object, got ${describe(v)}`);
  return v as Obj;
}

function arr(v: Json, path: string): Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(path, `must be an array, got ${describe(v)}`);
  return v;
}

function str(v: Json, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(path, `must be a string, got ${describe(v)}`);
  return v;
}

function bool(v: Json, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') bad(path, `must be true or false, got ${describe(v)}`);
  return v;
}

const INT_STRING = /^-?\d+$/;

/** int64/uint64 as a bigint (decimal string or integral number). */
function int64Big(v: Json, path: string, unsigned: boolean): bigint {
  if (v === undefined || v === null) return 0n;
  let b: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else if (typeof v === 'string' && INT_STRING.test(v)) b = BigInt(v);
  else return bad(path, `must be an integer (number or decimal string), got ${describe(v)}`);
  if (unsigned ? b < 0n || b >= 1n << 64n : b < -(1n << 63n) || b >= 1n << 63n) bad(path, `is out of the ${unsigned ? 'uint64' : 'int64'} range`);
  return b;
}

function int64(v: Json, path: string, unsigned = false): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && (!unsigned || v >= 0)) return v;
  return Number(int64Big(v, path, unsigned));
}

/** Nanoseconds (fixed64) -> whole milliseconds. */
function nanosToMs(v: Json, path: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return Math.floor(v / 1e6);
  return Number(int64Big(v, path, true) / 1_000_000n);
}

function double(v: Json, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return n;
  }
  return bad(path, `must be a number, got ${describe(v)}`);
}

function enumInt(v: Json, path: string, names: readonly string[]): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const i = names.indexOf(v);
    if (i >= 0) return i;
  }
  return bad(path, `must be an enum integer, got ${describe(v)}`);
}

const TEMPORALITY_NAMES = ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE'];
const HEX_ID = /^(?:[0-9a-fA-F]{2})*$/;

function hexId(v: Json, path: string, bytes: number): string {
  const s = str(v, path);
  if (!HEX_ID.test(s)) bad(path, `must be a hex string, got ${describe(v)}`);
  if (s.length !== 0 && s.length !== bytes * 2) bad(path, `must be ${bytes} bytes (${bytes * 2} hex digits), got ${s.length / 2}`);
  return /^0*$/.test(s) ? '' : s.toLowerCase();
}

/** AnyValue as a JSON-able value (nested lists and maps render as JSON, as pdata does). */
function anyValue(v: Json, path: string, depth: number): Json {
  if (depth > OTLP_ANY_VALUE_DEPTH_MAX) bad(path, `nests attribute values deeper than ${OTLP_ANY_VALUE_DEPTH_MAX}`);
  const o = obj(v, path);
  if (o === undefined) return null;
  if (o.stringValue !== undefined && o.stringValue !== null) return str(o.stringValue, `${path}.stringValue`);
  if (o.boolValue !== undefined && o.boolValue !== null) return bool(o.boolValue, `${path}.boolValue`);
  if (o.intValue !== undefined && o.intValue !== null) {
    const b = int64Big(o.intValue, `${path}.intValue`, false);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
  }
  if (o.doubleValue !== undefined && o.doubleValue !== null) return double(o.doubleValue, `${path}.doubleValue`);
  if (o.arrayValue !== undefined && o.arrayValue !== null) {
    const a = obj(o.arrayValue, `${path}.arrayValue`)!;
    return arr(a.values, `${path}.arrayValue.values`).map((x, i) => anyValue(x, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if (o.kvlistValue !== undefined && o.kvlistValue !== null) {
    const l = obj(o.kvlistValue, `${path}.kvlistValue`)!;
    const out: Record<string, Json> = {};
    arr(l.values, `${path}.kvlistValue.values`).forEach((kv, i) => {
      const p = `${path}.kvlistValue.values[${i}]`;
      const k = obj(kv, p);
      if (k === undefined) return;
      out[str(k.key, `${p}.key`)] = anyValue(k.value, `${p}.value`, depth + 1);
    });
    return out;
  }
  if (o.bytesValue !== undefined && o.bytesValue !== null) {
    const s = str(o.bytesValue, `${path}.bytesValue`);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) bad(`${path}.bytesValue`, 'must be base64');
    return Buffer.from(s, 'base64').toString('base64');
  }
  return null;
}

function anyValueString(v: Json, path: string): string {
  const x = anyValue(v, path, 0);
  if (typeof x === 'string') return x;
  if (x === null) return '';
  if (typeof x === 'number') return Number.isInteger(x) ? String(x) : doubleAsString(x);
  if (typeof x === 'boolean') return String(x);
  return JSON.stringify(x);
}

function attributes(v: Json, path: string, out: AttrList): void {
  const list = arr(v, path);
  for (let i = 0; i < list.length; i++) {
    const p = `${path}[${i}]`;
    const kv = obj(list[i], p);
    if (kv === undefined) continue;
    pushAttr(out, str(kv.key, `${p}.key`), anyValueString(kv.value, `${p}.value`));
  }
}

function exemplars(v: Json, path: string): OtlpExemplar[] | undefined {
  const list = arr(v, path);
  if (list.length === 0) return undefined;
  return list.map((x, i) => {
    const p = `${path}[${i}]`;
    const e = obj(x, p) ?? {};
    const attrs = newAttrList();
    attributes(e.filteredAttributes, `${p}.filteredAttributes`, attrs);
    const value = e.asDouble !== undefined && e.asDouble !== null ? double(e.asDouble, `${p}.asDouble`) : int64(e.asInt, `${p}.asInt`);
    return { timeMs: nanosToMs(e.timeUnixNano, `${p}.timeUnixNano`), value, traceId: hexId(e.traceId, `${p}.traceId`, 16), spanId: hexId(e.spanId, `${p}.spanId`, 8), attrs };
  });
}

/** Decodes a parsed OTLP/JSON request into `t`. Throws BAD_OTLP on a wrong type anywhere. */
export function decodeOtlpMetricsJson(root: Json, t: OtlpTranslator): void {
  const req = obj(root, 'the body');
  if (req === undefined) bad('the body', 'must be an object, got null');
  const rms = arr(req.resourceMetrics, 'resourceMetrics');
  for (let r = 0; r < rms.length; r++) {
    const rp = `resourceMetrics[${r}]`;
    const rm = obj(rms[r], rp);
    if (rm === undefined) continue;
    str(rm.schemaUrl, `${rp}.schemaUrl`);
    const res = obj(rm.resource, `${rp}.resource`);
    const resAttrs = newAttrList();
    if (res !== undefined) attributes(res.attributes, `${rp}.resource.attributes`, resAttrs);
    const sms = arr(rm.scopeMetrics, `${rp}.scopeMetrics`);
    t.beginResource(resAttrs);
    for (let s = 0; s < sms.length; s++) {
      const sp = `${rp}.scopeMetrics[${s}]`;
      const sm = obj(sms[s], sp);
      if (sm === undefined) continue;
      const scope = obj(sm.scope, `${sp}.scope`);
      const scopeAttrs = newAttrList();
      if (scope !== undefined) attributes(scope.attributes, `${sp}.scope.attributes`, scopeAttrs);
      t.beginScope(str(scope?.name, `${sp}.scope.name`), str(scope?.version, `${sp}.scope.version`), str(sm.schemaUrl, `${sp}.schemaUrl`), scopeAttrs);
      const ms = arr(sm.metrics, `${sp}.metrics`);
      for (let m = 0; m < ms.length; m++) metric(ms[m], `${sp}.metrics[${m}]`, t);
    }
    t.endResource();
  }
}

const KINDS: ReadonlyArray<[string, OtlpMetricKind]> = [
  ['gauge', 'gauge'],
  ['sum', 'sum'],
  ['histogram', 'histogram'],
  ['exponentialHistogram', 'exponential_histogram'],
  ['summary', 'summary'],
];

function metric(v: Json, path: string, t: OtlpTranslator): void {
  const m = obj(v, path);
  if (m === undefined) return;
  const name = str(m.name, `${path}.name`);
  const description = str(m.description, `${path}.description`);
  const unit = str(m.unit, `${path}.unit`);
  let kind: OtlpMetricKind | undefined;
  let data: Obj | undefined;
  let dataPath = '';
  for (const [field, k] of KINDS) {
    const d = obj(m[field], `${path}.${field}`);
    if (d !== undefined) {
      kind = k;
      data = d;
      dataPath = `${path}.${field}`;
    }
  }
  if (kind === undefined || data === undefined) return;
  const points = arr(data.dataPoints, `${dataPath}.dataPoints`);
  const temporality = kind === 'gauge' || kind === 'summary' ? 0 : enumInt(data.aggregationTemporality, `${dataPath}.aggregationTemporality`, TEMPORALITY_NAMES);
  const monotonic = kind === 'sum' ? bool(data.isMonotonic, `${dataPath}.isMonotonic`) : false;
  if (points.length === 0) return;
  if (!t.beginMetric(name, description, unit, kind, temporality, monotonic)) {
    t.skipPoints(points.length);
    return;
  }
  const attrs = newAttrList();
  for (let i = 0; i < points.length; i++) {
    const p = `${dataPath}.dataPoints[${i}]`;
    const pt = obj(points[i], p) ?? {};
    attrs.count = 0;
    attributes(pt.attributes, `${p}.attributes`, attrs);
    const startMs = nanosToMs(pt.startTimeUnixNano, `${p}.startTimeUnixNano`);
    const timeMs = nanosToMs(pt.timeUnixNano, `${p}.timeUnixNano`);
    const flags = int64(pt.flags, `${p}.flags`, true);
    if (kind === 'histogram') {
      const bounds = arr(pt.explicitBounds, `${p}.explicitBounds`).map((x, j) => double(x, `${p}.explicitBounds[${j}]`));
      const counts = arr(pt.bucketCounts, `${p}.bucketCounts`).map((x, j) => int64(x, `${p}.bucketCounts[${j}]`, true));
      const sum = pt.sum === undefined || pt.sum === null ? undefined : double(pt.sum, `${p}.sum`);
      t.histogramPoint(attrs, startMs, timeMs, int64(pt.count, `${p}.count`, true), sum, bounds, bounds.length, counts, counts.length, flags, exemplars(pt.exemplars, `${p}.exemplars`));
    } else if (kind === 'summary') {
      const qs = arr(pt.quantileValues, `${p}.quantileValues`);
      const q: number[] = [];
      const qv: number[] = [];
      qs.forEach((x, j) => {
        const o = obj(x, `${p}.quantileValues[${j}]`) ?? {};
        q.push(double(o.quantile, `${p}.quantileValues[${j}].quantile`));
        qv.push(double(o.value, `${p}.quantileValues[${j}].value`));
      });
      t.summaryPoint(attrs, startMs, timeMs, int64(pt.count, `${p}.count`, true), double(pt.sum, `${p}.sum`), q, qv, q.length, flags);
    } else {
      const value = pt.asDouble !== undefined && pt.asDouble !== null ? double(pt.asDouble, `${p}.asDouble`) : int64(pt.asInt, `${p}.asInt`);
      t.numberPoint(attrs, startMs, timeMs, value, flags, exemplars(pt.exemplars, `${p}.exemplars`));
    }
  }
}
