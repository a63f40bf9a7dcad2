// Label name and value rules shared by every ingest protocol (docs/API.md, "Remote write").
//
// Names use the legacy Prometheus 2 charset: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]*. Prometheus 3 can also accept any UTF-8 name; we do not (yet), because
// PromQL selectors, the query API and Grafana's editor then need quoting everywhere. The checks
// work on raw bytes so the decoder can validate before it creates any string.
import { isUtf8 } from 'node:buffer';

const LABEL_FIRST = 1;
const LABEL_REST = 2;
const METRIC_FIRST = 4;
const METRIC_REST = 8;

const CHAR_CLASS = (() => {
  const t = new Uint8Array(256);
  const all = LABEL_FIRST | LABEL_REST | METRIC_FIRST | METRIC_REST;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = all; // A-Z
  for (let c = 0x61; c <= 0x7a; c++) t[c] = all; // a-z
  t[0x5f] = all; // _
  for (let c = 0x30; c <= 0x39; c++) t[c] = LABEL_REST | METRIC_REST; // 0-9
  t[0x3a] = METRIC_FIRST | METRIC_REST; // :
  return t;
})();

export const LABEL_NAME_PATTERN_TEXT = '[a-zA-Z_][a-zA-Z0-9_]*';
export const METRIC_NAME_PATTERN_TEXT = '[a-zA-Z_:][a-zA-Z0-9_:]*';

/** True when buf[start, end) is a non-empty label name in the legacy charset (hence ASCII). */
export function isValidLabelNameBytes(buf: Uint8Array, start: number, end: number): boolean {
  if (end <= start || (CHAR_CLASS[buf[start]!]! & LABEL_FIRST) === 0) return false;
  for (let i = start + 1; i < end; i++) if ((CHAR_CLASS[buf[i]!]! & LABEL_REST) === 0) return false;
  return true;
}

/** True when buf[start, end) is a non-empty metric name in the legacy charset (hence ASCII). */
export function isValidMetricNameBytes(buf: Uint8Array, start: number, end: number): boolean {
  if (end <= start || (CHAR_CLASS[buf[start]!]! & METRIC_FIRST) === 0) return false;
  for (let i = start + 1; i < end; i++) if ((CHAR_CLASS[buf[i]!]! & METRIC_REST) === 0) return false;
  return true;
}

export function isValidLabelName(name: string): boolean {
  if (name.length === 0 || name.charCodeAt(0) > 0x7f || (CHAR_CLASS[name.charCodeAt(0)]! & LABEL_FIRST) === 0) return false;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f || (CHAR_CLASS[c]! & LABEL_REST) === 0) return false;
  }
  return true;
}

export function isValidMetricName(name: string): boolean {
  if (name.length === 0 || name.charCodeAt(0) > 0x7f || (CHAR_CLASS[name.charCodeAt(0)]! & METRIC_FIRST) === 0) return false;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f || (CHAR_CLASS[c]! & METRIC_REST) === 0) return false;
  }
  return true;
}

export const UTF8_INVALID = -1;
export const UTF8_ASCII = 0;
export const UTF8_NON_ASCII = 1;

/** UTF8_ASCII, UTF8_NON_ASCII (valid UTF-8 with some multi-byte characters) or UTF8_INVALID. */
export function utf8Kind(buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) return isUtf8(buf.subarray(i, end)) ? UTF8_NON_ASCII : UTF8_INVALID;
  }
  return UTF8_ASCII;
}

/**
 * True when buf[start, end) is valid UTF-8. Buffer#toString would silently replace bad sequences
 * with U+FFFD, which would store a different value than was sent. ASCII (the common case) is
 * checked in JS without allocating; anything else goes to Node's native validator.
 */
export function isUtf8Bytes(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) return isUtf8(buf.subarray(i, end));
  }
  return true;
}
