// Remote write 1.0 decoding: round trips through our encoder (bit-exact values, every timestamp
// shape, unicode, many series), cross-checks against protobufjs as an independent codec,
// metadata, unknown and non-canonical fields, and the label cache.
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import { labelsKey, labelsFromRecord, type Labels } from '../../src/model/labels.js';
import { STALE_NAN, isStaleAt } from '../../src/model/samples.js';
import { MochaError } from '../../src/errors.js';
import {
  decodeRemoteWriteV1,
  decodeWriteRequestV1,
  RemoteWriteDecoder,
  type DecodedWrite,
  type MetricMetadata,
  type RemoteWriteLimits,
} from '../../src/ingest/remote-write.js';
import { encodeRemoteWriteV1, encodeWriteRequestV1, type EncodeSeries } from '../../src/ingest/remote-write-encode.js';
import { LABEL_CACHE_ENTRY_BYTES_MAX } from '../../src/ingest/label-cache.js';
import { mulberry32 } from '../helpers/prng.js';
import {
  fieldBytes,
  fieldDouble,
  fieldDoubleBits,
  fieldFixed32,
  fieldGroup,
  fieldVarint,
  label,
  sample,
  simpleSeries,
  tag,
  timeSeries,
  varint,
} from './pb-builder.js';

const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
`;
const WriteRequestType = protobuf.parse(PROTO).root.lookupType('prometheus.WriteRequest');

function bitsOf(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function expectBitsEqual(actual: Float64Array, expected: Float64Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(bitsOf(actual)).equals(Buffer.from(bitsOf(expected)))).toBe(true);
}

const SPECIAL_VALUES = (() => {
  const words = new Uint32Array([
    0, 0x7ff80000, // canonical NaN
    2, 0x7ff00000, // stale marker
    1, 0xfff00000, // signalling NaN with the sign bit
    0xdeadbeef, 0x7ff7ffff, // NaN with a large payload
    0, 0x7ff00000, // +Inf
    0, 0xfff00000, // -Inf
    0, 0x80000000, // -0
    1, 0, // smallest subnormal
  ]);
  return new Float64Array(words.buffer);
})();

const NAMES = ['node_cpu_seconds_total', 'node_memory_MemFree_bytes', 'up', 'http_requests_total', 'ns:rule:rate5m', '_underscore'];
const VALUES = ['a', 'prod', 'ünïcödé', '日本語', '😀 emoji', 'x'.repeat(300), 'quote"back\\slash', 'new\nline'];

function randomSeries(rng: () => number, i: number): EncodeSeries & { labels: Record<string, string> } {
  const labels: Record<string, string> = { __name__: NAMES[i % NAMES.length]!, series: String(i) };
  const extra = Math.floor(rng() * 6);
  for (let k = 0; k < extra; k++) labels[`l${Math.floor(rng() * 20)}`] = VALUES[Math.floor(rng() * VALUES.length)]!;
  if (rng() < 0.3) labels.Zone = 'upper-case-sorts-before-underscore';
  const n = Math.floor(rng() * 12); // 0 samples sometimes: such series are skipped
  const timestampsMs = new Float64Array(n);
  const values = new Float64Array(n);
  const words = new Uint32Array(values.buffer);
  for (let k = 0; k < n; k++) {
    const r = rng();
    timestampsMs[k] =
      r < 0.1 ? -Math.floor(rng() * 2 ** 40) : r < 0.15 ? 0 : r < 0.2 ? 2 ** 47 : r < 0.25 ? -(2 ** 47) : 1_700_000_000_000 + k * 15_000;
    const v = rng();
    if (v < 0.3) values[k] = SPECIAL_VALUES[Math.floor(rng() * SPECIAL_VALUES.length)]!;
    else if (v < 0.5) {
      words[2 * k] = Math.floor(rng() * 2 ** 32);
      words[2 * k + 1] = Math.floor(rng() * 2 ** 32); // any bit pattern, NaN payloads included
    } else values[k] = (rng() - 0.5) * 10 ** Math.floor(rng() * 40 - 20);
  }
  return { labels, timestampsMs, values };
}

function expectDecodedMatches(decoded: DecodedWrite, input: EncodeSeries[]): void {
  const nonEmpty = input.filter((s) => s.timestampsMs.length > 0);
  expect(decoded.series.length).toBe(nonEmpty.length);
  let samples = 0;
  nonEmpty.forEach((s, i) => {
    const d = decoded.series[i]!;
    const want: Labels = Array.isArray(s.labels) ? (s.labels as Labels) : labelsFromRecord(s.labels as Record<string, string>);
    expect(d.labels).toEqual(want);
    expect(d.key).toBe(labelsKey(want));
    expect(Array.from(d.timestampsMs)).toEqual(Array.from(s.timestampsMs));
    expectBitsEqual(d.values, s.values as Float64Array);
    samples += s.timestampsMs.length;
  });
  expect(decoded.sampleCount).toBe(samples);
}

describe('remote write 1.0 round trip', () => {
  it('keeps labels, timestamps and value bits of many series (seeded)', async () => {
    const rng = mulberry32(7);
    const input = Array.from({ length: 400 }, (_, i) => randomSeries(rng, i));
    const body = encodeRemoteWriteV1(input);
    const decoded = await decodeRemoteWriteV1(body);
    expectDecodedMatches(decoded, input);
    // Second pass goes through the label cache and must give the same result.
    expectDecodedMatches(await decodeRemoteWriteV1(body), input);
    // And a decoder without a cache too.
    expectDecodedMatches(await new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 }).decode(body), input);
  });

  it('keeps the stale marker, NaN payloads, infinities and -0 bit-exactly', async () => {
    const values = Float64Array.from(SPECIAL_VALUES);
    const timestampsMs = Float64Array.from(values, (_, i) => 1000 + i);
    const d = await decodeRemoteWriteV1(encodeRemoteWriteV1([{ labels: { __name__: 'special' }, timestampsMs, values }]));
    expectBitsEqual(d.series[0]!.values, values);
    expect(isStaleAt(d.series[0]!.values, 1)).toBe(true);
    expect(isStaleAt(d.series[0]!.values, 0)).toBe(false);
    expect(Object.is(d.series[0]!.values[6], -0)).toBe(true);
  });

  it('encodes plain number arrays too (stale marker passed as a number)', async () => {
    const d = await decodeRemoteWriteV1(encodeRemoteWriteV1([{ labels: { __name__: 'plain' }, timestampsMs: [1, 2, 3], values: [1.5, STALE_NAN, -Infinity] }]));
    expect(Array.from(d.series[0]!.timestampsMs)).toEqual([1, 2, 3]);
    expect(d.series[0]!.values[0]).toBe(1.5);
    expect(d.series[0]!.values[2]).toBe(-Infinity);
  });

  it('accepts timestamps up to ±2^47 ms (what segments can encode) and rejects the series beyond', () => {
    const ok = decodeWriteRequestV1(
      encodeWriteRequestV1([{ labels: { __name__: 'edge' }, timestampsMs: [2 ** 47, -(2 ** 47), -1, 0, 2 ** 47 - 1], values: [1, 2, 3, 4, 5] }]),
    );
    expect(Array.from(ok.series[0]!.timestampsMs)).toEqual([2 ** 47, -(2 ** 47), -1, 0, 2 ** 47 - 1]);
    for (const t of [2n ** 47n + 1n, -(2n ** 47n) - 1n, 2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      const body = Buffer.concat([simpleSeries([['__name__', 'ok']]), timeSeries(label('__name__', 'far'), sample(1, 5), sample(1, t))]);
      const d = decodeWriteRequestV1(body);
      expect(d.rejected.byReason.get('invalid_timestamp')!.example).toMatch(new RegExp(`timeseries\\[1\\].*sample 1 has timestamp ${t} ms`));
      expect(d.series.map((s) => s.labels[0]!.value)).toEqual(['ok']);
      expect(d.sampleCount).toBe(1);
    }
  });

  it('lays samples out in two shared, exactly sized arrays', () => {
    const input = Array.from({ length: 50 }, (_, i) => ({ labels: { __name__: 'shared', i: String(i) }, timestampsMs: [1, 2, 3], values: [i, i, i] }));
    const d = decodeWriteRequestV1(encodeWriteRequestV1(input));
    const buffers = new Set(d.series.map((s) => s.values.buffer));
    expect(buffers.size).toBe(1);
    expect(d.series[0]!.values.buffer.byteLength).toBe(150 * 8);
    expect(d.series[0]!.timestampsMs.buffer.byteLength).toBe(150 * 8);
    expect(d.series[49]!.values[0]).toBe(49);
  });

  it('grows its sample arrays past the first guess', () => {
    const n = 20_000;
    const timestampsMs = Float64Array.from({ length: n }, (_, i) => i * 1000);
    const values = Float64Array.from({ length: n }, (_, i) => i / 7);
    const d = decodeWriteRequestV1(encodeWriteRequestV1([{ labels: { __name__: 'long' }, timestampsMs, values }]));
    expectBitsEqual(d.series[0]!.values, values);
    expect(Array.from(d.series[0]!.timestampsMs)).toEqual(Array.from(timestampsMs));
  });

  it('keeps repeated series as separate entries, in request order', () => {
    const s = { labels: { __name__: 'dup', job: 'a' }, timestampsMs: [1], values: [1] };
    const d = decodeWriteRequestV1(encodeWriteRequestV1([s, { ...s, timestampsMs: [2], values: [2] }]));
    expect(d.series.map((x) => x.timestampsMs[0])).toEqual([1, 2]);
    expect(d.series[0]!.key).toBe(d.series[1]!.key);
  });

  it('decodes an empty request (snappy of zero bytes)', async () => {
    const d = await decodeRemoteWriteV1(snappy.compressSync(Buffer.alloc(0)));
    expect(d).toMatchObject({ series: [], sampleCount: 0, metadata: [], exemplars: [], exemplarCount: 0, histogramCount: 0 });
    expect(d.rejected.empty).toBe(true);
  });
});

describe('cross-check with protobufjs', () => {
  it('protobufjs reads what our encoder writes', () => {
    const rng = mulberry32(11);
    const input = Array.from({ length: 100 }, (_, i) => randomSeries(rng, i));
    const meta: MetricMetadata[] = [{ metricFamilyName: 'up', type: 'gauge', help: 'Up ünïcödé.', unit: '' }];
    const msg = WriteRequestType.toObject(WriteRequestType.decode(encodeWriteRequestV1(input, meta)), { longs: String, defaults: true }) as {
      timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: string }> }>;
      metadata: Array<{ type: number; metricFamilyName: string; help: string; unit: string }>;
    };
    expect(msg.timeseries.length).toBe(input.length);
    msg.timeseries.forEach((ts, i) => {
      expect(ts.labels).toEqual(labelsFromRecord(input[i]!.labels).map((l) => ({ name: l.name, value: l.value })));
      expect(ts.samples.map((s) => Number(s.timestamp))).toEqual(Array.from(input[i]!.timestampsMs));
      ts.samples.forEach((s, k) => {
        const want = input[i]!.values[k]!;
        if (Number.isNaN(want)) expect(Number.isNaN(s.value)).toBe(true);
        else expect(Object.is(s.value, want)).toBe(true);
      });
    });
    expect(msg.metadata).toEqual([{ type: 2, metricFamilyName: 'up', help: 'Up ünïcödé.', unit: '' }]);
  });

  it('we read what protobufjs writes', () => {
    const obj = {
      timeseries: [
        { labels: [{ name: '__name__', value: 'a_total' }, { name: 'job', value: 'j' }], samples: [{ value: 3.25, timestamp: -12345 }, { value: 0, timestamp: 0 }, { value: 1, timestamp: '140737488355328' }] },
        { labels: [{ name: '__name__', value: 'b' }], samples: [{ value: -1e300, timestamp: 1_700_000_000_123 }], exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestamp: 5 }] },
      ],
      metadata: [{ type: 1, metricFamilyName: 'a_total', help: 'A counter.', unit: 'seconds' }],
    };
    const d = decodeWriteRequestV1(WriteRequestType.encode(WriteRequestType.fromObject(obj)).finish());
    expect(d.series.map((s) => s.labels)).toEqual(obj.timeseries.map((t) => t.labels));
    expect(Array.from(d.series[0]!.timestampsMs)).toEqual([-12345, 0, 2 ** 47]);
    expect(Array.from(d.series[0]!.values)).toEqual([3.25, 0, 1]);
    expect(Array.from(d.series[1]!.values)).toEqual([-1e300]);
    expect(d.exemplarCount).toBe(1);
    expect(d.metadata).toEqual([{ metricFamilyName: 'a_total', type: 'counter', help: 'A counter.', unit: 'seconds' }]);
  });
});

describe('metadata, exemplars and histograms', () => {
  it('round-trips every metric type and maps unknown enum values to unknown', () => {
    const types = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'] as const;
    const meta: MetricMetadata[] = types.map((type, i) => ({ metricFamilyName: `m${i}`, type, help: `help ${i} 😀`, unit: i % 2 ? 'bytes' : '' }));
    const d = decodeWriteRequestV1(encodeWriteRequestV1([], meta));
    expect(d.metadata).toEqual(meta);
    const odd = Buffer.concat([fieldBytes(3, fieldVarint(1, 42), fieldBytes(2, 'x')), fieldBytes(3, fieldVarint(1, -1), fieldBytes(2, 'y'))]);
    expect(decodeWriteRequestV1(odd).metadata.map((m) => [m.metricFamilyName, m.type])).toEqual([
      ['x', 'unknown'],
      ['y', 'unknown'],
    ]);
  });

  it('decodes exemplars (trace_id, span_id, value, timestamp) and rejects native histograms as unsupported', () => {
    const exemplar = (labels: Buffer[], value: number, ts: number) => fieldBytes(3, ...labels, fieldDouble(2, value), fieldVarint(3, ts));
    const histogram = fieldBytes(4, fieldVarint(1, 5), fieldDouble(3, 2.5));
    const body = Buffer.concat([
      timeSeries(
        label('__name__', 'h'),
        label('job', 'j'),
        sample(1, 1000),
        // Labels out of order on the wire: sorted by the decoder.
        exemplar([label('trace_id', '4bf92f3577b34da6a3ce929d0e0e4736'), label('span_id', '00f067aa0ba902b7')], 0.25, 999),
        exemplar([], -1, 1000),
        histogram,
      ),
      timeSeries(label('__name__', 'only_histograms'), histogram), // zero samples: the series counts as rejected
    ]);
    const d = decodeWriteRequestV1(body);
    expect(d.exemplarCount).toBe(2);
    expect(d.histogramCount).toBe(2);
    expect(d.series.length).toBe(1);
    expect(d.sampleCount).toBe(1);
    const series = [{ name: '__name__', value: 'h' }, { name: 'job', value: 'j' }];
    expect(d.exemplars).toEqual([
      { seriesLabels: series, seriesKey: labelsKey(series), labels: [{ name: 'span_id', value: '00f067aa0ba902b7' }, { name: 'trace_id', value: '4bf92f3577b34da6a3ce929d0e0e4736' }], value: 0.25, timestampMs: 999 },
      { seriesLabels: series, seriesKey: labelsKey(series), labels: [], value: -1, timestampMs: 1000 },
    ]);
    const r = d.rejected.byReason.get('unsupported_type')!;
    expect(r).toMatchObject({ samples: 2, series: 1 });
    expect(r.example).toMatch(/native histogram samples of \{__name__="h", job="j"\}: native histograms are not supported/);
    expect([...d.rejected.byReason.keys()]).toEqual(['unsupported_type']);
  });

  it('rejects invalid exemplars one by one and keeps the series and the valid ones', () => {
    const ex = (labels: Buffer[], ts: number | bigint = 5) => fieldBytes(3, ...labels, fieldDouble(2, 1), fieldVarint(3, ts));
    const cases: Array<[Buffer, RegExp]> = [
      [ex([label('bad-name', 'x')]), /label name "bad-name" is not valid/],
      [ex([label('trace_id', Buffer.from([0xc3, 0x28]))]), /label "trace_id" has a value that is not valid UTF-8/],
      [ex([label('a', '1'), label('a', '2')]), /duplicate label name "a"/],
      [ex([label('trace_id', 'x'.repeat(121))]), /129 characters, above the limit of 128/],
      [ex([label('', 'x')]), /empty name/],
      [ex([label('trace_id', 'abc')], 2n ** 50n), /timestamp is outside/],
    ];
    for (const [bad, message] of cases) {
      const d = decodeWriteRequestV1(timeSeries(label('__name__', 'm'), sample(1, 5), bad, ex([label('trace_id', 'ok')])));
      expect(d.series.length).toBe(1);
      expect(d.exemplars.map((e) => e.labels)).toEqual([[{ name: 'trace_id', value: 'ok' }]]);
      const r = d.rejected.byReason.get('invalid_exemplar')!;
      expect(r.samples).toBe(1);
      expect(r.example).toMatch(message);
    }
    // 128 characters exactly is allowed; an empty value is an absent label.
    const d = decodeWriteRequestV1(timeSeries(label('__name__', 'm'), sample(1, 5), ex([label('trace_id', 'x'.repeat(120)), label('z', '')])));
    expect(d.exemplars[0]!.labels).toEqual([{ name: 'trace_id', value: 'x'.repeat(120) }]);
    expect(d.rejected.empty).toBe(true);
  });

  it('drops the exemplars of a rejected series with it, counted', () => {
    const d = decodeWriteRequestV1(timeSeries(label('job', 'no_name'), sample(1, 5), fieldBytes(3, label('trace_id', 'a'), fieldDouble(2, 1))));
    expect(d.exemplars).toEqual([]);
    expect(d.rejected.byReason.get('invalid_exemplar')!.samples).toBe(1);
    expect(d.rejected.byReason.get('invalid_labels')!.series).toBe(1);
  });

  it('fails the whole request on a structural error inside an exemplar', () => {
    expect(() => decodeWriteRequestV1(timeSeries(label('__name__', 'm'), sample(1, 5), fieldBytes(3, fieldVarint(2, 1))))).toThrow(/field value \(2\) has wire type varint, expected fixed64.*in an exemplar of timeseries\[0\]/);
  });
});

describe('unknown and non-canonical fields', () => {
  // One unknown field of every wire type, with numbers no schema here uses.
  const unknowns = [
    fieldVarint(15, 2n ** 64n - 1n), // 10-byte varint
    fieldDoubleBits(16, 0x7ff00000, 2),
    fieldBytes(17, 'opaque bytes'),
    fieldFixed32(18, 0xffffffff),
    fieldGroup(19, fieldVarint(1, 7), fieldGroup(2, fieldBytes(3, 'nested')), fieldFixed32(4, 1)),
    fieldBytes(1000, Buffer.alloc(300, 1)), // two-byte tag and length
  ];
  const all = Buffer.concat(unknowns);
  const expected = decodeWriteRequestV1(
    encodeWriteRequestV1([{ labels: { __name__: 'm', job: 'j' }, timestampsMs: [5, 6], values: [1, 2] }], [{ metricFamilyName: 'm', type: 'gauge', help: 'h', unit: 'u' }]),
  );

  it('skips unknown fields of every wire type at every level', () => {
    const lbl = (n: string, v: string) => fieldBytes(1, all, fieldBytes(1, n), all, fieldBytes(2, v), all);
    const smp = (v: number, t: number) => fieldBytes(2, all, fieldDouble(1, v), all, fieldVarint(2, t), all);
    const body = Buffer.concat([
      all,
      fieldBytes(2, 'reserved field 2 (Cortex source)'),
      timeSeries(all, lbl('__name__', 'm'), lbl('job', 'j'), all, smp(1, 5), all, smp(2, 6), all),
      all,
      fieldBytes(3, all, fieldVarint(1, 2), all, fieldBytes(2, 'm'), all, fieldBytes(4, 'h'), all, fieldBytes(5, 'u'), all),
    ]);
    const d = decodeWriteRequestV1(body);
    expect(d.series.map((s) => [s.labels, Array.from(s.timestampsMs), Array.from(s.values)])).toEqual(
      expected.series.map((s) => [s.labels, Array.from(s.timestampsMs), Array.from(s.values)]),
    );
    expect(d.metadata).toEqual(expected.metadata);
  });

  it('accepts fields in any order, repeated scalars (last wins), absent defaults and overlong tags', () => {
    const overlongValueTag = Buffer.from([0x89, 0x00]); // field 1, wire type 1, in two bytes
    const overlongTsTag = Buffer.from([0x90, 0x80, 0x00]); // field 2, wire type 0, in three bytes
    const v = Buffer.alloc(8);
    v.writeDoubleLE(9.5);
    const body = Buffer.concat([
      timeSeries(
        sample(1, 10), // samples before labels
        label('__name__', 'm'),
        fieldBytes(2, fieldVarint(2, 20), fieldDouble(1, 2)), // timestamp before value
        label('job', 'j'), // labels interleaved with samples: the non-contiguous path
        fieldBytes(2, fieldDouble(1, 100), fieldDouble(1, 3), fieldVarint(2, 1), fieldVarint(2, 30)), // last wins
        fieldBytes(2), // empty sample: value 0 at time 0
        fieldBytes(2, overlongValueTag, v, overlongTsTag, varint(40)),
      ),
      timeSeries(fieldBytes(1, fieldBytes(2, 'x'), fieldBytes(1, '__name__')), sample(7, 70)), // value before name
    ]);
    const d = decodeWriteRequestV1(body);
    expect(d.series[0]!.labels).toEqual([{ name: '__name__', value: 'm' }, { name: 'job', value: 'j' }]);
    expect(Array.from(d.series[0]!.timestampsMs)).toEqual([10, 20, 30, 0, 40]);
    expect(Array.from(d.series[0]!.values)).toEqual([1, 2, 3, 0, 9.5]);
    expect(d.series[1]!.labels).toEqual([{ name: '__name__', value: 'x' }]);
    // Same again: the contiguous second series now comes from the cache, the first never does.
    expect(decodeWriteRequestV1(body).series.map((s) => s.labels)).toEqual(d.series.map((s) => s.labels));
  });

  it('rejects a wrong wire type for a known field even inside an otherwise valid request', () => {
    const body = Buffer.concat([simpleSeries([['__name__', 'ok']]), timeSeries(label('__name__', 'm'), fieldBytes(2, tag(1, 0), varint(5)))]);
    expect(() => decodeWriteRequestV1(body)).toThrow(/field value \(1\) has wire type varint, expected fixed64 .*in a sample of timeseries\[1\]/);
  });
});

describe('label cache', () => {
  const body = encodeWriteRequestV1(
    Array.from({ length: 100 }, (_, i) => ({ labels: { __name__: 'cached', instance: `host-${i}:9100`, job: 'node' }, timestampsMs: [i], values: [i] })),
  );

  it('gives the same labels (same objects) for the same label bytes', () => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 1000 });
    const a = dec.decodeWriteRequest(body);
    expect(dec.cacheStats()).toEqual({ entries: 100, hits: 0, misses: 100, bypasses: 0 });
    const b = dec.decodeWriteRequest(body);
    expect(dec.cacheStats()).toEqual({ entries: 100, hits: 100, misses: 100, bypasses: 0 });
    for (let i = 0; i < 100; i++) {
      expect(b.series[i]!.labels).toBe(a.series[i]!.labels);
      expect(b.series[i]!.key).toBe(a.series[i]!.key);
      expect(b.series[i]!.labels).toEqual(labelsFromRecord({ __name__: 'cached', instance: `host-${i}:9100`, job: 'node' }));
      expect(b.series[i]!.timestampsMs[0]).toBe(i); // samples are never cached
    }
    dec.assertInvariants();
  });

  it('respects its bound and stays correct while evicting', () => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 8 });
    const reference = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 }).decodeWriteRequest(body);
    for (let round = 0; round < 3; round++) {
      const d = dec.decodeWriteRequest(body);
      expect(d.series.map((s) => s.labels)).toEqual(reference.series.map((s) => s.labels));
      expect(d.series.map((s) => s.key)).toEqual(reference.series.map((s) => s.key));
      expect(dec.cacheStats().entries).toBeLessThanOrEqual(16);
      dec.assertInvariants();
    }
    // 100 series cycling through 2 x 8 entries never hit: the cache stood aside.
    expect(dec.cacheStats().bypasses).toBeGreaterThan(0);
    dec.clearCache();
    // A hot series keeps hitting while others stream past.
    const hot = encodeWriteRequestV1([{ labels: { __name__: 'hot' }, timestampsMs: [1], values: [1] }]);
    dec.decodeWriteRequest(hot);
    let hits = dec.cacheStats().hits;
    for (let i = 0; i < 20; i++) {
      dec.decodeWriteRequest(encodeWriteRequestV1([{ labels: { __name__: 'cold', i: String(i) }, timestampsMs: [1], values: [1] }]));
      dec.decodeWriteRequest(hot);
      expect(dec.cacheStats().hits).toBe(hits + 1);
      hits++;
    }
  });

  it('never confuses label sets whose hashes collide', () => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 1000, labelCacheHash: () => 42 });
    const reference = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 }).decodeWriteRequest(body);
    for (let round = 0; round < 2; round++) {
      expect(dec.decodeWriteRequest(body).series.map((s) => s.labels)).toEqual(reference.series.map((s) => s.labels));
    }
    // Same length, one byte apart (host-1x vs host-2x), and lengths that differ only in the tail word.
    for (const v of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdf', 'abcdg']) {
      const one = encodeWriteRequestV1([{ labels: { __name__: 'tail', v }, timestampsMs: [1], values: [1] }]);
      expect(dec.decodeWriteRequest(one).series[0]!.labels[1]!.value).toBe(v);
      expect(dec.decodeWriteRequest(one).series[0]!.labels[1]!.value).toBe(v);
    }
    expect(dec.cacheStats().entries).toBe(1); // everything shares one hash: one slot
    dec.assertInvariants();
  });

  it('stands aside while it thrashes, then caches again', () => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 10 });
    const reference = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 }).decodeWriteRequest(body);
    // 100 distinct series through 10-entry generations: no hits, so it stands aside.
    expect(dec.decodeWriteRequest(body).series.map((s) => s.key)).toEqual(reference.series.map((s) => s.key));
    expect(dec.cacheStats().bypasses).toBeGreaterThan(0);
    expect(dec.cacheStats().hits).toBe(0);
    // Once the bypass window (at most 4 x 10 lookups) is over, a repeated series hits again.
    const one = encodeWriteRequestV1([{ labels: { __name__: 'again' }, timestampsMs: [1], values: [1] }]);
    for (let i = 0; i < 45; i++) dec.decodeWriteRequest(one);
    const hits = dec.cacheStats().hits;
    for (let i = 0; i < 5; i++) dec.decodeWriteRequest(one);
    expect(dec.cacheStats().hits).toBe(hits + 5);
    dec.assertInvariants();
  });

  it('bounds the raw bytes it keeps even when every lookup collides', () => {
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 2, labelCacheHash: () => 7 });
    for (let round = 0; round < 20; round++) {
      dec.decodeWriteRequest(body); // 100 sets on one hash: entries are replaced, words pile up
      dec.assertInvariants(); // ... until the arena bound rotates the generation
    }
  });

  it('does not cache label sets above LABEL_CACHE_ENTRY_BYTES_MAX raw bytes', () => {
    const dec = new RemoteWriteDecoder();
    const big = encodeWriteRequestV1([{ labels: { __name__: 'big', v: 'x'.repeat(LABEL_CACHE_ENTRY_BYTES_MAX) }, timestampsMs: [1], values: [1] }]);
    expect(dec.decodeWriteRequest(big).series[0]!.labels[1]!.value.length).toBe(LABEL_CACHE_ENTRY_BYTES_MAX);
    expect(dec.decodeWriteRequest(big).series.length).toBe(1);
    expect(dec.cacheStats()).toEqual({ entries: 0, hits: 0, misses: 2, bypasses: 0 });
  });

  it('re-checks cached entries against stricter limits', () => {
    const dec = new RemoteWriteDecoder();
    const long = encodeWriteRequestV1([{ labels: { __name__: 'long_value', v: 'x'.repeat(100) }, timestampsMs: [1], values: [1] }]);
    expect(dec.decodeWriteRequest(long).series.length).toBe(1);
    const rejection = (limits: Partial<RemoteWriteLimits>) => {
      const d = dec.decodeWriteRequest(long, limits);
      expect(d.series).toEqual([]);
      return d.rejected.message();
    };
    expect(rejection({ labelValueBytesMax: 50 })).toMatch(/label_value_too_long.*value of 100 bytes, above the limit of 50/);
    expect(rejection({ labelNameBytesMax: 5 })).toMatch(/label_name_too_long.*"__name__" is 8 bytes, above the limit of 5/);
    expect(rejection({ labelsPerSeriesMax: 1 })).toMatch(/too_many_labels.*has 2 labels, above the limit of 1/);
    expect(dec.decodeWriteRequest(long).series.length).toBe(1);
  });

  it('does not cache invalid label sets', () => {
    const dec = new RemoteWriteDecoder();
    const bad = simpleSeries([['job', 'a'], ['__name__', 'm']]);
    for (let i = 0; i < 2; i++) expect(dec.decodeWriteRequest(bad).rejected.byReason.get('invalid_labels')!.series).toBe(1);
    expect(dec.cacheStats().entries).toBe(0);
  });
});
