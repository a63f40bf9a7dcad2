// Prometheus' JSON for query results (the `data` member of the API envelope), byte for byte as
// web/api/v1 and util/jsonutil write it:
//   - timestamps: Unix seconds with the milliseconds as exactly three decimals when non-zero
//     (jsonutil.MarshalTimestamp: 1700000000, 1700000000.1 -> "1700000000.100");
//   - values: strings, strconv.FormatFloat(v, 'f', -1, 64), or 'e' when |v| < 1e-6 or
//     |v| >= 1e21 (jsonutil.MarshalFloat), "NaN", "+Inf", "-Inf";
//   - label values escaped like Go's encoding/json (HTML-safe: <, >, & as \u003c...).
// Built by string concatenation: large matrices are the common case and this avoids an object
// per sample.
import type { Labels } from '../model/labels.js';
import type { QueryResult } from './engine.js';

/** Go's strconv.FormatFloat(v, 'f' or 'e' as MarshalFloat picks, -1, 64). */
export function formatFloat(v: number): string {
  if (v !== v) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const abs = Math.abs(v);
  if (abs >= 1e-6 && abs < 1e21) {
    // JavaScript prints shortest round-trip digits in fixed notation exactly in this range.
    return String(v);
  }
  // Shortest digits in exponent form; Go writes at least two exponent digits with a sign.
  const s = v.toExponential();
  const e = s.indexOf('e');
  const exp = s.slice(e + 2);
  return s.slice(0, e + 2) + (exp.length < 2 ? '0' + exp : exp);
}

/** jsonutil.MarshalTimestamp: ms as seconds, three decimals when there is a fraction. */
export function formatTimestamp(ms: number): string {
  let t = Math.round(ms); // timestamps are whole ms; never print a 4-digit fraction
  let sign = '';
  if (t < 0) {
    sign = '-';
    t = -t;
  }
  const secs = Math.floor(t / 1000);
  const frac = t - secs * 1000;
  if (frac === 0) return sign + secs;
  const f = Math.round(frac);
  return sign + secs + '.' + (f < 10 ? '00' : f < 100 ? '0' : '') + f;
}

// Characters Go's encoding/json (HTML-escaping, as jsoniter's standard-compatible config) escapes.
const NEEDS_ESCAPE_RE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

/** A JSON string literal as Go writes it. */
export function jsonString(s: string): string {
  if (!NEEDS_ESCAPE_RE.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += '\\u' + c.toString(16).padStart(4, '0');
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // lone surrogate: invalid UTF-8 in Go
    else out += s[i]!;
  }
  return out + '"';
}

/** `{"name":"value",...}` in label order. */
export function formatLabelsJson(labels: Labels): string {
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (i > 0) out += ',';
    out += jsonString(l.name) + ':' + jsonString(l.value);
  }
  return out + '}';
}

function point(tMs: number, v: string): string {
  return '[' + formatTimestamp(tMs) + ',"' + v + '"]';
}

/** The `data` object of a query answer: {"resultType":...,"result":...}. */
export function formatQueryData(result: QueryResult): string {
  switch (result.resultType) {
    case 'scalar':
      return '{"resultType":"scalar","result":' + point(result.result.t, formatFloat(result.result.v)) + '}';
    case 'string':
      return '{"resultType":"string","result":[' + formatTimestamp(result.result.t) + ',' + jsonString(result.result.v) + ']}';
    case 'vector': {
      const parts: string[] = [];
      for (const s of result.result) parts.push('{"metric":' + formatLabelsJson(s.labels) + ',"value":' + point(s.t, formatFloat(s.v)) + '}');
      return '{"resultType":"vector","result":[' + parts.join(',') + ']}';
    }
    case 'matrix': {
      const parts: string[] = [];
      for (const s of result.result) {
        const n = s.timestampsMs.length;
        const pts = new Array<string>(n);
        for (let i = 0; i < n; i++) pts[i] = point(s.timestampsMs[i]!, formatFloat(s.values[i]!));
        parts.push('{"metric":' + formatLabelsJson(s.labels) + ',"values":[' + pts.join(',') + ']}');
      }
      return '{"resultType":"matrix","result":[' + parts.join(',') + ']}';
    }
  }
}
