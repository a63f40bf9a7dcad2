import { describe, expect, it } from 'vitest';
import { MochaError } from '../../src/errors.js';
import { STALE_NAN_BITS_HI, STALE_NAN_BITS_LO, isStaleAt } from '../../src/model/samples.js';
import {
  ByteArena,
  decodeFrame,
  decodeRecord,
  encodeFrameInto,
  encodeRecord,
  FRAME_HEADER_BYTES,
  RECORD_TYPE_SAMPLES,
  RECORD_TYPE_SERIES,
  splitRecord,
  TS_ENCODING_BASE_DELTA_I32,
  TS_ENCODING_F64,
  validateRecord,
  type WalRecord,
} from '../../src/wal/records.js';
import { encodeSegmentHeader } from '../../src/wal/segment.js';
import { mulberry32 } from '../helpers/prng.js';
import { canon, samplesRecord, seriesRecord, specialValues } from './helpers.js';

function roundTrip(rec: WalRecord): WalRecord {
  const frame = encodeRecord(rec);
  const { record, next } = decodeFrame(frame);
  expect(next).toBe(frame.length);
  return record;
}

function tsEncodingOf(frame: Uint8Array): number {
  const tenantLen = frame[FRAME_HEADER_BYTES]!;
  return frame[FRAME_HEADER_BYTES + 1 + tenantLen + 4]!;
}

describe('WAL record encoding', () => {
  // Bytes computed independently (a Python struct + bitwise CRC-32C script) from docs/format/wal.md.
  // A change here is a change of the on-disk format: bump the version and keep a fixture.
  it('golden bytes of the series and samples records (unchanged since format version 1)', () => {
    const values = new Float64Array(2);
    const dv = new DataView(values.buffer);
    dv.setFloat64(0, 1.5, true);
    dv.setUint32(8, STALE_NAN_BITS_LO, true); // set by bits: a JS array literal would quiet the NaN
    dv.setUint32(12, STALE_NAN_BITS_HI, true);
    const samples: WalRecord = { type: 'samples', tenant: 'ab', refs: Uint32Array.of(1, 258), timestampsMs: Float64Array.of(1000, 1015), values };
    expect(Buffer.from(encodeRecord(samples)).toString('hex')).toBe(
      '30000000' + '6f95eadd' + '02' + '026162' + '02000000' + '01' + '01000000' + '02010000' + '0000000000408f40' + '00000000' + '0f000000' + '000000000000f83f' + '020000000000f07f',
    );
    const series: WalRecord = { type: 'series', tenant: 'ab', refs: Uint32Array.of(7), labels: [[{ name: 'a', value: 'é' }]] };
    expect(Buffer.from(encodeRecord(series)).toString('hex')).toBe('11000000' + '37c68492' + '01' + '026162' + '01000000' + '07000000' + '01' + '0161' + '02c3a9');
    expect(encodeSegmentHeader(3).toString('hex')).toBe('4d4f43484157414c' + '0200' + '0000' + '03000000');
  });

  it('golden bytes of an exemplars record (format version 2)', () => {
    const rec: WalRecord = {
      type: 'exemplars',
      tenant: 'ab',
      exemplars: [{ seriesLabels: [{ name: 'a', value: 'b' }], labels: [{ name: 't', value: 'é' }], timestampMs: 1000, value: 1.5 }],
    };
    const hex = Buffer.from(encodeRecord(rec)).toString('hex');
    // length 34 | crc | type 3 | tenant "ab" | n=1 | ts f64 1000 | value f64 1.5 | 1 label a=b | 1 label t=é
    expect(hex.slice(0, 8)).toBe('22000000');
    expect(hex.slice(16)).toBe('03' + '026162' + '01000000' + '0000000000408f40' + '000000000000f83f' + '01' + '0161' + '0162' + '01' + '0174' + '02c3a9');
    expect(canon(roundTrip(rec))).toEqual(canon(rec));
  });

  it('round-trips exemplars and splits big batches under the record limit', () => {
    const exemplars = Array.from({ length: 300 }, (_, i) => ({
      seriesLabels: [{ name: '__name__', value: 'm' }, { name: 'i', value: String(i) }],
      labels: [{ name: 'trace_id', value: 'x'.repeat(40) + i }],
      timestampMs: 1_700_000_000_123 + i,
      value: i === 7 ? -0 : i / 3,
    }));
    const rec: WalRecord = { type: 'exemplars', tenant: 'tenant-a', exemplars };
    validateRecord(rec, 4096);
    const parts = splitRecord(rec, 4096);
    expect(parts.length).toBeGreaterThan(1);
    const back = parts.flatMap((p) => {
      const frame = encodeRecord(p);
      expect(frame.length - FRAME_HEADER_BYTES).toBeLessThanOrEqual(4096);
      const r = roundTrip(p);
      return r.type === 'exemplars' ? [...r.exemplars] : [];
    });
    expect(back).toEqual(exemplars);
    expect(Object.is(back[7]!.value, -0)).toBe(true);
  });

  it('refuses a truncated or padded exemplars payload as damage', () => {
    const rec: WalRecord = { type: 'exemplars', tenant: 't', exemplars: [{ seriesLabels: [{ name: 'a', value: 'b' }], labels: [], timestampMs: 1, value: 2 }] };
    const frame = encodeRecord(rec);
    const payload = frame.subarray(FRAME_HEADER_BYTES);
    expect(() => decodeRecord(3, payload, 0, payload.length - 1)).toThrow(MochaError);
    const padded = Buffer.concat([payload, Buffer.from([0])]);
    expect(() => decodeRecord(3, padded, 0, padded.length)).toThrow(/trailing/);
    // A huge claimed count is refused before allocating for it.
    const bomb = Buffer.from(payload);
    bomb.writeUInt32LE(0xffffffff, 2);
    expect(() => decodeRecord(3, bomb, 0, bomb.length)).toThrow(/claims/);
  });

  it('round-trips a series record, including UTF-8 label values', () => {
    const rec = seriesRecord('tenant-a', 1, 5, 'x');
    expect(canon(roundTrip(rec))).toEqual(canon(rec));
    const empty: WalRecord = { type: 'series', tenant: 't', refs: new Uint32Array(0), labels: [] };
    expect(canon(roundTrip(empty))).toEqual(canon(empty));
  });

  it('round-trips samples bit-exactly: NaN, ±Inf, the stale marker, -0', () => {
    const values = specialValues();
    const rec: WalRecord = {
      type: 'samples',
      tenant: 'default',
      refs: Uint32Array.from([1, 2, 3, 4, 5, 0xffffffff]),
      timestampsMs: Float64Array.from([1000, 1001, 999, 1000, 5000, 1000]),
      values,
    };
    const back = roundTrip(rec);
    expect(canon(back)).toEqual(canon(rec));
    if (back.type !== 'samples') throw new Error('type');
    expect(isStaleAt(back.values, 3)).toBe(true);
    expect(isStaleAt(back.values, 0)).toBe(false);
    const words = new Uint32Array(back.values.buffer, back.values.byteOffset + 3 * 8, 2);
    expect([words[0], words[1]]).toEqual([STALE_NAN_BITS_LO, STALE_NAN_BITS_HI]);
    expect(Object.is(back.values[4], -0)).toBe(true);
  });

  it('stores timestamps as base + i32 deltas when exact, raw f64 otherwise', () => {
    const cases: Array<{ name: string; ts: number[]; enc: number }> = [
      { name: 'a scrape', ts: [1_700_000_000_000, 1_700_000_015_000, 1_699_999_990_000], enc: TS_ENCODING_BASE_DELTA_I32 },
      { name: 'deltas at the i32 limits', ts: [0, 2147483647, -2147483648], enc: TS_ENCODING_BASE_DELTA_I32 },
      { name: 'a delta past 2^31', ts: [0, 2147483648], enc: TS_ENCODING_F64 },
      { name: 'a fraction', ts: [1000, 1000.5], enc: TS_ENCODING_F64 },
      { name: '-0', ts: [0, -0], enc: TS_ENCODING_F64 },
      { name: 'NaN', ts: [1000, NaN], enc: TS_ENCODING_F64 },
      { name: 'beyond 2^53', ts: [2 ** 53 + 2, 2 ** 53 + 4], enc: TS_ENCODING_F64 },
      { name: 'empty', ts: [], enc: TS_ENCODING_F64 },
    ];
    for (const c of cases) {
      const n = c.ts.length;
      const rec: WalRecord = { type: 'samples', tenant: 't', refs: new Uint32Array(n).fill(7), timestampsMs: Float64Array.from(c.ts), values: new Float64Array(n) };
      const frame = encodeRecord(rec);
      expect(tsEncodingOf(frame), c.name).toBe(c.enc);
      expect(canon(decodeFrame(frame).record), c.name).toEqual(canon(rec));
    }
  });

  it('round-trips seeded random samples records of many sizes', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rec = samplesRecord(`t${seed}`, seed, seed * 37);
      expect(canon(roundTrip(rec))).toEqual(canon(rec));
    }
  });

  it('frames several records back to back in one arena', () => {
    const arena = new ByteArena(16); // forces growth
    const recs = [seriesRecord('a', 1, 3, 'm'), samplesRecord('a', 1, 50), samplesRecord('b', 2, 1)];
    for (const r of recs) encodeFrameInto(r, arena);
    let at = 0;
    const back: unknown[] = [];
    while (at < arena.length) {
      const { record, next } = decodeFrame(arena.buf.subarray(0, arena.length), at);
      back.push(canon(record));
      at = next;
    }
    expect(back).toEqual(recs.map(canon));
  });

  it('splits records above the payload limit without changing their content', () => {
    const rec = samplesRecord('t', 3, 1000);
    const parts = splitRecord(rec, 1024);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(encodeRecord(p).length - FRAME_HEADER_BYTES).toBeLessThanOrEqual(1024);
    const refs = parts.flatMap((p) => (p.type === 'samples' ? Array.from(p.refs) : []));
    const values = Buffer.concat(parts.map((p) => (p.type === 'samples' ? Buffer.from(p.values.buffer, p.values.byteOffset, p.values.byteLength) : Buffer.alloc(0))));
    expect(refs).toEqual(Array.from(rec.refs));
    expect(values.equals(Buffer.from(rec.values.buffer, rec.values.byteOffset, rec.values.byteLength))).toBe(true);
    const series = seriesRecord('t', 1, 200, 'split');
    const sparts = splitRecord(series, 1024);
    expect(sparts.length).toBeGreaterThan(1);
    for (const p of sparts) expect(encodeRecord(p).length - FRAME_HEADER_BYTES).toBeLessThanOrEqual(1024);
    expect(sparts.flatMap((p) => (p.type === 'series' ? p.labels : []))).toEqual(series.labels);
    expect(splitRecord(samplesRecord('t', 1, 3), 1024)).toHaveLength(1);
  });

  it('validateRecord refuses what the format cannot hold', () => {
    const bad: Array<[string, WalRecord]> = [
      ['empty tenant', { type: 'samples', tenant: '', refs: new Uint32Array(0), timestampsMs: new Float64Array(0), values: new Float64Array(0) }],
      ['long tenant', { type: 'samples', tenant: 'x'.repeat(65), refs: new Uint32Array(0), timestampsMs: new Float64Array(0), values: new Float64Array(0) }],
      ['non-ASCII tenant', { type: 'samples', tenant: 'tenänt', refs: new Uint32Array(0), timestampsMs: new Float64Array(0), values: new Float64Array(0) }],
      ['column lengths', { type: 'samples', tenant: 't', refs: new Uint32Array(2), timestampsMs: new Float64Array(2), values: new Float64Array(1) }],
      ['labels count', { type: 'series', tenant: 't', refs: new Uint32Array(2), labels: [[]] }],
      ['huge label', { type: 'series', tenant: 't', refs: new Uint32Array(1), labels: [[{ name: 'a', value: 'v'.repeat(2000) }]] }],
    ];
    for (const [name, rec] of bad) expect(() => validateRecord(rec, 1024), name).toThrow();
    expect(() => validateRecord(samplesRecord('x'.repeat(64), 1, 3), 1024)).not.toThrow();
  });

  it('decodeRecord throws WAL_CORRUPT for payloads that do not match their type', () => {
    const samples = encodeRecord(samplesRecord('t', 5, 10));
    const series = encodeRecord(seriesRecord('t', 1, 2, 'c'));
    const payload = (f: Uint8Array): Uint8Array => f.subarray(FRAME_HEADER_BYTES);
    const cases: Array<[string, number, Uint8Array]> = [
      ['unknown type', 9, payload(samples)],
      ['samples cut short', RECORD_TYPE_SAMPLES, payload(samples).subarray(0, 40)],
      ['samples with a trailing byte', RECORD_TYPE_SAMPLES, Buffer.concat([payload(samples), Buffer.from([0])])],
      ['series cut short', RECORD_TYPE_SERIES, payload(series).subarray(0, payload(series).length - 1)],
      ['series with a trailing byte', RECORD_TYPE_SERIES, Buffer.concat([payload(series), Buffer.from([0])])],
      ['tenant length 0', RECORD_TYPE_SAMPLES, Uint8Array.from([0, 0, 0, 0, 0, 0])],
      ['tenant length 65', RECORD_TYPE_SAMPLES, Uint8Array.from([65, ...new Uint8Array(70).fill(0x61)])],
      ['tenant with a control byte', RECORD_TYPE_SERIES, Uint8Array.from([1, 0x07, 0, 0, 0, 0])],
      ['huge sample count', RECORD_TYPE_SAMPLES, Uint8Array.from([1, 0x61, 0xff, 0xff, 0xff, 0xff, 0])],
      ['huge series count', RECORD_TYPE_SERIES, Uint8Array.from([1, 0x61, 0xff, 0xff, 0xff, 0xff])],
      ['bad timestamp encoding', RECORD_TYPE_SAMPLES, Uint8Array.from([1, 0x61, 0, 0, 0, 0, 7])],
      ['overlong varint', RECORD_TYPE_SERIES, Uint8Array.from([1, 0x61, 1, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ];
    for (const [name, type, p] of cases) {
      let err: unknown;
      try {
        decodeRecord(type, p);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(MochaError);
      expect((err as MochaError).code, name).toBe('WAL_CORRUPT');
    }
  });

  it('decodeFrame never throws anything but WAL_CORRUPT on mutated frames (seeded)', () => {
    const rnd = mulberry32(99);
    const frames = [encodeRecord(samplesRecord('t', 1, 20)), encodeRecord(seriesRecord('t', 1, 4, 'mut'))];
    for (let i = 0; i < 2000; i++) {
      const original = frames[i % 2]!;
      const f = Buffer.from(original);
      const flips = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) f[Math.floor(rnd() * f.length)] ^= 1 << Math.floor(rnd() * 8);
      const cut = rnd() < 0.3 ? Math.floor(rnd() * f.length) : f.length;
      const damaged = cut < f.length || !f.equals(original);
      let err: unknown;
      try {
        decodeFrame(f.subarray(0, cut));
      } catch (e) {
        err = e;
      }
      // CRC-32C detects every error of up to 3 flipped bits in frames this short.
      if (damaged) {
        expect(err).toBeInstanceOf(MochaError);
        expect((err as MochaError).code).toBe('WAL_CORRUPT');
      } else {
        expect(err).toBeUndefined();
      }
    }
  });
});
