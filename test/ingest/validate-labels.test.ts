// Label charset and UTF-8 checks, on strings and on raw bytes (both must agree).
import { describe, expect, it } from 'vitest';
import {
  isUtf8Bytes,
  isValidLabelName,
  isValidLabelNameBytes,
  isValidMetricName,
  isValidMetricNameBytes,
  UTF8_ASCII,
  UTF8_INVALID,
  UTF8_NON_ASCII,
  utf8Kind,
} from '../../src/ingest/validate-labels.js';

const cases: Array<[string, boolean, boolean]> = [
  // [name, valid label name, valid metric name]
  ['a', true, true],
  ['_', true, true],
  ['__name__', true, true],
  ['Zone', true, true],
  ['node_cpu_seconds_total', true, true],
  ['a1', true, true],
  ['ns:rule:rate5m', false, true],
  [':leading_colon', false, true],
  ['1abc', false, false],
  ['', false, false],
  ['a-b', false, false],
  ['a.b', false, false],
  ['a b', false, false],
  ['température', false, false],
  ['日本', false, false],
];

describe('label name rules', () => {
  for (const [name, label, metric] of cases) {
    it(JSON.stringify(name), () => {
      const b = Buffer.from(name, 'utf8');
      expect(isValidLabelName(name)).toBe(label);
      expect(isValidLabelNameBytes(b, 0, b.length)).toBe(label);
      expect(isValidMetricName(name)).toBe(metric);
      expect(isValidMetricNameBytes(b, 0, b.length)).toBe(metric);
    });
  }
  it('checks only the given range', () => {
    const b = Buffer.from('--abc--');
    expect(isValidLabelNameBytes(b, 2, 5)).toBe(true);
    expect(isValidLabelNameBytes(b, 1, 5)).toBe(false);
  });
});

describe('UTF-8 checks on bytes', () => {
  it('classifies ASCII, valid multi-byte and invalid sequences', () => {
    const kind = (b: Buffer) => utf8Kind(b, 0, b.length);
    expect(kind(Buffer.from('plain ascii'))).toBe(UTF8_ASCII);
    expect(kind(Buffer.alloc(0))).toBe(UTF8_ASCII);
    expect(kind(Buffer.from('ünïcödé 日本語 😀'))).toBe(UTF8_NON_ASCII);
    for (const bad of [[0x80], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
      const b = Buffer.from([0x61, ...bad, 0x62]);
      expect(kind(b)).toBe(UTF8_INVALID);
      expect(isUtf8Bytes(b, 0, b.length)).toBe(false);
    }
  });
  it('checks only the given range', () => {
    const b = Buffer.from([0x61, 0x62, 0xff]);
    expect(isUtf8Bytes(b, 0, 2)).toBe(true);
    expect(isUtf8Bytes(b, 0, 3)).toBe(false);
  });
});
