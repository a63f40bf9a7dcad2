// Remote write 2.0 decoding (src/ingest/remote-write-v2.ts): round trips through our encoder and
// through protobufjs built from the upstream schema's field numbers, start timestamps, metadata,
// exemplars, histograms, per-series rejection, the label cache, and a table of bad input.
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import { MochaError, type ErrorCode } from '../../src/errors.js';
import { labelsFromRecord, labelsKey } from '../../src/model/labels.js';
import { decodeRemoteWriteV2, decodeRequestV2, isCumulativeSeries, metricFamilyName, RemoteWriteV2Decoder } from '../../src/ingest/remote-write-v2.js';
import { encodeRemoteWriteV2, encodeRequestV2, encodeWriteRequestV1, type EncodeSeriesV2 } from '../../src/ingest/remote-write-encode.js';
import { decodeWriteRequestV1, type RemoteWriteLimits } from '../../src/ingest/remote-write.js';
import type { RejectReason } from '../../src/ingest/pipeline.js';
import { mulberry32 } from '../helpers/prng.js';
import { fieldBytes, fieldDouble, fieldFixed32, fieldVarint, tag, varint } from './pb-builder.js';
import { PRW2_PROTO } from '../../bench/lib/payloads.js';
import { SYMBOL_ID_BYTES_MAX } from '../../src/ingest/label-cache.js';
import { exemplar2, histogram2, metadata2, refs, sample2, symbols, sym, ts2 } from './v2-builder.js';

// The schema text (field numbers from upstream types.proto) the decode bench also uses.
const RequestType = protobuf.parse(PRW2_PROTO).root.lookupType('io.prometheus.write.v2.Request');

const bits = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Symbols used by the hand-built requests below. */
const S = ['', '__name__', 'up', 'job', 'a', 'http_requests_total', 'trace_id', 'abc', 'Help text.', 'seconds', 'le', '+Inf', 'b'];
const I = Object.fromEntries(S.map((s, i) => [s, i])) as Record<string, number>;
const SYMS = symbols(...S);

describe('remote write 2.0 round trip', () => {
  it('keeps labels, timestamps and value bits of many series (seeded), with odd values and UTF-8', () => {
    const rng = mulberry32(7);
    const special = new Float64Array(new Uint32Array([2, 0x7ff00000, 0, 0x80000000, 0xdeadbeef, 0x7ff7ffff, 0, 0xfff00000]).buffer);
    const input: EncodeSeriesV2[] = Array.from({ length: 300 }, (_, i) => {
      const n = Math.floor(rng() * 5);
      const values = Float64Array.from({ length: n }, () => (rng() < 0.2 ? special[Math.floor(rng() * special.length)]! : rng() * 1e6 - 5e5));
      return {
        labels: { __name__: ['node_cpu_seconds_total', 'up', 'ns:rule:rate5m'][i % 3]!, series: String(i), zone: ['ünïcödé', '日本語', 'x'.repeat(200)][i % 3]! },
        timestampsMs: Array.from({ length: n }, (_, k) => 1_700_000_000_000 + k * 15_000 - (i % 2) * 2 ** 46),
        values,
      };
    });
    const d = decodeRequestV2(encodeRequestV2(input));
    const nonEmpty = input.filter((s) => s.timestampsMs.length > 0);
    expect(d.series.length).toBe(nonEmpty.length);
    d.series.forEach((s, i) => {
      const want = labelsFromRecord(nonEmpty[i]!.labels as Record<string, string>);
      expect(s.labels).toEqual(want);
      expect(s.key).toBe(labelsKey(want));
      expect(Array.from(s.timestampsMs)).toEqual(Array.from(nonEmpty[i]!.timestampsMs));
      expect(bits(s.values).equals(bits(nonEmpty[i]!.values as Float64Array))).toBe(true);
      expect(s.startTimestampsMs).toBeUndefined();
    });
    expect(d.rejected.empty).toBe(true);
  });

  it('decodes an empty request (no symbols, no series) and a request with only symbols', () => {
    for (const body of [Buffer.alloc(0), symbols('')]) {
      const d = decodeRequestV2(body);
      expect(d.series).toEqual([]);
      expect(d.rejected.empty).toBe(true);
    }
  });

  it('reads symbols wherever they are, labels_refs packed or not, and skips unknown fields and reserved field 6', () => {
    const body = Buffer.concat([
      ts2(fieldVarint(1, I.__name__!), fieldVarint(1, I.up!), fieldVarint(6, 1234), sample2(1, 5), fieldBytes(99, 'x'), refs(I.job!, I.a!)),
      SYMS, // after the series that use them
      fieldFixed32(77, 1),
    ]);
    const d = decodeRequestV2(body);
    expect(d.series[0]!.labels).toEqual([
      { name: '__name__', value: 'up' },
      { name: 'job', value: 'a' },
    ]);
  });
});

describe('cross-check with protobufjs (schema from types.proto)', () => {
  it('we read what protobufjs writes', () => {
    const obj = {
      symbols: S,
      timeseries: [
        {
          labelsRefs: [I.__name__, I.http_requests_total, I.job, I.a],
          samples: [{ value: 3.5, timestamp: 1_700_000_000_000, startTimestamp: 1_699_999_000_000 }, { value: 4, timestamp: -5 }],
          exemplars: [{ labelsRefs: [I.trace_id, I.abc], value: 1.5, timestamp: 1_700_000_000_001 }],
          metadata: { type: 1, helpRef: I['Help text.'], unitRef: I.seconds },
        },
        { labelsRefs: [I.__name__, I.up], histograms: [{ countInt: 3, sum: 1, timestamp: 9 }] },
      ],
    };
    const d = decodeRequestV2(RequestType.encode(RequestType.fromObject(obj)).finish());
    expect(d.series.length).toBe(1);
    const s = d.series[0]!;
    expect(s.labels).toEqual([
      { name: '__name__', value: 'http_requests_total' },
      { name: 'job', value: 'a' },
    ]);
    expect(Array.from(s.timestampsMs)).toEqual([1_700_000_000_000, -5]);
    expect(Array.from(s.values)).toEqual([3.5, 4]);
    expect(Array.from(s.startTimestampsMs!)).toEqual([1_699_999_000_000, 0]);
    expect(d.exemplars).toEqual([{ seriesLabels: s.labels, seriesKey: s.key, labels: [{ name: 'trace_id', value: 'abc' }], value: 1.5, timestampMs: 1_700_000_000_001 }]);
    expect(d.metadata).toEqual([{ metricFamilyName: 'http_requests_total', type: 'counter', help: 'Help text.', unit: 'seconds' }]);
    expect(d.histogramCount).toBe(1);
    expect(d.rejected.byReason.get('unsupported_type')).toMatchObject({ samples: 1, series: 1 });
  });

  it('protobufjs reads what our encoder writes', () => {
    const input: EncodeSeriesV2[] = [
      {
        labels: { __name__: 'req_total', job: 'j' },
        timestampsMs: [10, 20],
        values: [1, 2],
        startTimestampsMs: [5, 0],
        exemplars: [{ labels: { trace_id: 't1', span_id: 's1' }, value: 0.5, timestampMs: 10 }],
        metadata: { type: 'counter', help: 'Requests.', unit: '' },
      },
      { labels: { __name__: 'up', job: 'j' }, timestampsMs: [10], values: [1] },
    ];
    const msg = RequestType.toObject(RequestType.decode(encodeRequestV2(input)), { longs: Number, defaults: true }) as {
      symbols: string[];
      timeseries: Array<{ labelsRefs: number[]; samples: Array<{ value: number; timestamp: number; startTimestamp: number }>; exemplars: Array<{ labelsRefs: number[]; value: number; timestamp: number }>; metadata?: { type: number; helpRef: number; unitRef: number } }>;
    };
    expect(msg.symbols[0]).toBe('');
    const r = (refs: number[]) => refs.map((x) => msg.symbols[x]);
    expect(r(msg.timeseries[0]!.labelsRefs)).toEqual(['__name__', 'req_total', 'job', 'j']);
    expect(msg.timeseries[0]!.samples).toEqual([
      { value: 1, timestamp: 10, startTimestamp: 5 },
      { value: 2, timestamp: 20, startTimestamp: 0 },
    ]);
    expect(r(msg.timeseries[0]!.exemplars[0]!.labelsRefs)).toEqual(['span_id', 's1', 'trace_id', 't1']);
    expect(msg.timeseries[0]!.metadata).toEqual({ type: 1, helpRef: msg.symbols.indexOf('Requests.'), unitRef: 0 });
    expect(r(msg.timeseries[1]!.labelsRefs)).toEqual(['__name__', 'up', 'job', 'j']);
    expect(new Set(msg.symbols).size).toBe(msg.symbols.length); // de-duplicated
  });
});

describe('start timestamps', () => {
  const one = (name: string, type: number | undefined, start = 1000) =>
    decodeRequestV2(Buffer.concat([symbols('', '__name__', name), ts2(refs(1, 2), sample2(5, 2000, start), ...(type !== undefined ? [metadata2(type)] : []))])).series[0]!;

  it('are kept for cumulative series only', () => {
    const kept: Array<[string, number | undefined]> = [
      ['requests', 1], // counter, whatever the name
      ['lat_bucket', 3],
      ['lat_sum', 3],
      ['lat_count', 5],
      ['requests_total', undefined], // no metadata: by suffix
      ['x_bucket', 0],
    ];
    const dropped: Array<[string, number | undefined]> = [
      ['temperature', 2], // gauge
      ['requests_total', 2], // declared gauge wins over the suffix
      ['lat', 5], // summary quantile series
      ['temperature', undefined],
      ['gh_bucket', 4], // gauge histogram
      ['info_metric', 6],
    ];
    for (const [name, type] of kept) expect(Array.from(one(name, type).startTimestampsMs ?? []), `${name}/${type}`).toEqual([1000]);
    for (const [name, type] of dropped) expect(one(name, type).startTimestampsMs, `${name}/${type}`).toBeUndefined();
  });

  it('are dropped when zero or unrepresentable, and mix with samples without one', () => {
    expect(one('c_total', 1, 0).startTimestampsMs).toBeUndefined();
    expect(one('c_total', 1, 2 ** 50).startTimestampsMs).toBeUndefined();
    const d = decodeRequestV2(Buffer.concat([symbols('', '__name__', 'c_total', 'g'), ts2(refs(1, 3), sample2(1, 10, 3)), ts2(refs(1, 2), sample2(1, 10), sample2(2, 20, 15))]));
    expect(d.series[0]!.startTimestampsMs).toBeUndefined(); // "g" has no suffix and no metadata
    expect(Array.from(d.series[1]!.startTimestampsMs!)).toEqual([0, 15]);
  });

  it('isCumulativeSeries and metricFamilyName follow the metric types', () => {
    expect(isCumulativeSeries('x', 'counter')).toBe(true);
    expect(isCumulativeSeries('x_created', 'unknown')).toBe(false);
    expect(metricFamilyName('lat_bucket', 'histogram')).toBe('lat');
    expect(metricFamilyName('lat_gsum', 'gaugehistogram')).toBe('lat');
    expect(metricFamilyName('lat_count', 'summary')).toBe('lat');
    expect(metricFamilyName('requests_total', 'counter')).toBe('requests_total');
    expect(metricFamilyName('_count', 'summary')).toBe('_count');
  });
});

describe('metadata', () => {
  it('becomes one entry per metric family, help and unit resolved, unknown types mapped to unknown', () => {
    const body = Buffer.concat([
      symbols('', '__name__', 'lat_bucket', 'lat_sum', 'le', '1', 'Latency.', 'seconds', 'g', 'odd'),
      ts2(refs(1, 2, 4, 5), sample2(1, 1), metadata2(3, 6, 7)),
      ts2(refs(1, 3), sample2(1, 1), metadata2(3, 6, 7)), // same family, same metadata: one entry
      ts2(refs(1, 8), sample2(1, 1), metadata2(2)),
      ts2(refs(1, 9), sample2(1, 1), metadata2(42, 6)),
      ts2(refs(1, 9), sample2(1, 1), metadata2(0)), // nothing declared: no entry
    ]);
    expect(decodeRequestV2(body).metadata).toEqual([
      { metricFamilyName: 'lat', type: 'histogram', help: 'Latency.', unit: 'seconds' },
      { metricFamilyName: 'g', type: 'gauge', help: '', unit: '' },
      { metricFamilyName: 'odd', type: 'unknown', help: 'Latency.', unit: '' },
    ]);
  });
});

describe('exemplars and histograms', () => {
  it('rejects invalid exemplars one by one and keeps the rest', () => {
    const syms = symbols('', '__name__', 'm', 'trace_id', 'abc', 'bad-name', Buffer.from([0xc3, 0x28]), 'x'.repeat(121), 'span_id');
    const cases: Array<[Buffer, RegExp]> = [
      [exemplar2([5, 4], 1, 5), /label name "bad-name" is not valid/],
      [exemplar2([3, 6], 1, 5), /label "trace_id" has a value that is not valid UTF-8/],
      [exemplar2([3, 4, 3, 4], 1, 5), /duplicate label name "trace_id"/],
      [exemplar2([3, 7], 1, 5), /129 characters, above the limit of 128/],
      [exemplar2([0, 4], 1, 5), /empty name/],
      [exemplar2([3, 4], 1, 2n ** 50n), /timestamp is outside/],
    ];
    for (const [bad, message] of cases) {
      const d = decodeRequestV2(Buffer.concat([syms, ts2(refs(1, 2), sample2(1, 5), bad, exemplar2([8, 4, 3, 4], 2, 5))]));
      expect(d.series.length).toBe(1);
      expect(d.exemplars.map((e) => e.labels)).toEqual([
        [
          { name: 'span_id', value: 'abc' },
          { name: 'trace_id', value: 'abc' },
        ],
      ]);
      expect(d.exemplarCount).toBe(2);
      const r = d.rejected.byReason.get('invalid_exemplar')!;
      expect(r.samples).toBe(1);
      expect(r.example).toMatch(message);
    }
  });

  it('counts native histograms as unsupported_type, keeping the float samples of the series', () => {
    const d = decodeRequestV2(Buffer.concat([SYMS, ts2(refs(I.__name__!, I.up!), sample2(1, 5), histogram2(), histogram2())]));
    expect(d.series.length).toBe(1);
    expect(d.histogramCount).toBe(2);
    expect(d.rejected.byReason.get('unsupported_type')).toMatchObject({ samples: 2, series: 0 });
  });
});

describe('per-series rejection', () => {
  const bad: Array<[string, number[], RejectReason, RegExp]> = [
    ['unsorted', [I.job!, I.a!, I.__name__!, I.up!], 'invalid_labels', /label names are not sorted: "job" comes before "__name__"/],
    ['duplicate', [I.__name__!, I.up!, I.job!, I.a!, I.job!, I.b!], 'invalid_labels', /duplicate label name "job"/],
    ['empty value', [I.__name__!, I.up!, I.job!, 0], 'invalid_labels', /label "job" has an empty value/],
    ['empty name', [0, I.a!, I.__name__!, I.up!], 'invalid_labels', /label 0 has an empty name/],
    ['bad label name', [I.__name__!, I.up!, I['+Inf']!, I.a!], 'invalid_labels', /label name "\+Inf" is not valid/],
    ['bad metric name', [I.__name__!, I['+Inf']!], 'invalid_labels', /metric name "\+Inf" is not valid/],
    ['missing name', [I.job!, I.a!], 'invalid_labels', /\{job="a"\}: missing the __name__ label/],
    ['no labels', [], 'invalid_labels', /has no labels/],
  ];
  for (const [what, r, reason, message] of bad) {
    it(`${what}: the series is rejected, the valid ones kept`, () => {
      const body = Buffer.concat([SYMS, ts2(refs(I.__name__!, I.up!), sample2(1, 1)), ts2(...(r.length > 0 ? [refs(...r)] : []), sample2(1, 1), sample2(2, 2)), ts2(refs(I.__name__!, I.up!, I.job!, I.a!), sample2(3, 3))]);
      const d = decodeRequestV2(body);
      expect(d.series.map((s) => Array.from(s.values))).toEqual([[1], [3]]);
      expect(d.sampleCount).toBe(2);
      const rej = d.rejected.byReason.get(reason)!;
      expect(rej).toMatchObject({ samples: 2, series: 1 });
      expect(rej.example).toMatch(/^invalid series timeseries\[1\] /);
      expect(rej.example).toMatch(message);
    });
  }

  it('invalid UTF-8 values, limits and timestamps', () => {
    const syms = symbols('', '__name__', 'm', 'v', Buffer.from([0xed, 0xa0, 0x80]), 'x'.repeat(40));
    const one = (r: number[], limits?: Partial<RemoteWriteLimits>, ts: number | bigint = 1) => new RemoteWriteV2Decoder().decodeRequest(Buffer.concat([syms, ts2(refs(...r), sample2(1, ts))]), limits).rejected.message();
    expect(one([1, 2, 3, 4])).toMatch(/invalid_labels.*label "v" has a value that is not valid UTF-8/);
    expect(one([1, 2, 3, 5], { labelValueBytesMax: 39 })).toMatch(/label_value_too_long.*value of 40 bytes, above the limit of 39/);
    expect(one([1, 2, 3, 5], { labelNameBytesMax: 7 })).toMatch(/label_name_too_long.*"__name__" is 8 bytes, above the limit of 7/);
    expect(one([1, 2, 3, 5], { labelsPerSeriesMax: 1 })).toMatch(/too_many_labels.*has 2 labels, above the limit of 1/);
    expect(one([1, 2], undefined, 2n ** 47n + 1n)).toMatch(/invalid_timestamp.*sample 0 has timestamp 140737488355329 ms/);
  });

  it('drops the exemplars and histograms of a rejected series, counted', () => {
    const d = decodeRequestV2(Buffer.concat([SYMS, ts2(refs(I.job!, I.a!), sample2(1, 1), exemplar2([I.trace_id!, I.abc!], 1, 1), histogram2())]));
    expect(d.exemplars).toEqual([]);
    expect(d.rejected.byReason.get('invalid_exemplar')!.samples).toBe(1);
    expect(d.rejected.byReason.get('unsupported_type')!.samples).toBe(1);
  });
});

describe('label cache', () => {
  it('hits across requests whose symbol tables differ, and gives the same labels', () => {
    const dec = new RemoteWriteV2Decoder();
    const a = dec.decodeRequest(Buffer.concat([symbols('', '__name__', 'up', 'job', 'a'), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    const b = dec.decodeRequest(Buffer.concat([symbols('', 'job', 'a', 'zzz', '__name__', 'up'), ts2(refs(4, 5, 1, 2), sample2(2, 2))]));
    expect(b.series[0]!.labels).toBe(a.series[0]!.labels);
    expect(dec.cacheStats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  it('never confuses label sets whose concatenated bytes are equal', () => {
    // "__name__"="ab", "c"="d" vs "__name__"="a", "bc"="d": same bytes, different boundaries.
    const dec = new RemoteWriteV2Decoder({ symbolHash: () => 7 });
    const x = dec.decodeRequest(Buffer.concat([symbols('', '__name__', 'ab', 'c', 'd'), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    const y = dec.decodeRequest(Buffer.concat([symbols('', '__name__', 'a', 'bc', 'd'), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    expect(x.series[0]!.labels).toEqual([{ name: '__name__', value: 'ab' }, { name: 'c', value: 'd' }]);
    expect(y.series[0]!.labels).toEqual([{ name: '__name__', value: 'a' }, { name: 'bc', value: 'd' }]);
    dec.assertInvariants();
  });

  it('follows symbol tables that change between requests: the same refs, other strings, other labels', () => {
    const dec = new RemoteWriteV2Decoder();
    const req = (...table: string[]) => dec.decodeRequest(Buffer.concat([symbols('', ...table), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    const up = req('__name__', 'up', 'job', 'a');
    expect(up.series[0]!.labels).toEqual([{ name: '__name__', value: 'up' }, { name: 'job', value: 'a' }]);
    const down = req('__name__', 'down', 'job', 'b');
    expect(down.series[0]!.labels).toEqual([{ name: '__name__', value: 'down' }, { name: 'job', value: 'b' }]);
    // One byte apart from a known symbol, same length.
    const upb = req('__name__', 'up', 'job', 'b');
    expect(upb.series[0]!.labels).toEqual([{ name: '__name__', value: 'up' }, { name: 'job', value: 'b' }]);
    expect(req('__name__', 'up', 'job', 'a').series[0]!.labels).toBe(up.series[0]!.labels);
    expect(dec.cacheStats()).toMatchObject({ hits: 1, misses: 3, entries: 3 });
    dec.assertInvariants();
  });

  it('hits for the same strings whatever the table order, with unused and repeated symbols around them', () => {
    const dec = new RemoteWriteV2Decoder();
    const first = dec.decodeRequest(Buffer.concat([symbols('', '__name__', 'up', 'job', 'a'), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    // 'a' twice in the table (senders need not dedupe): either copy names the same string.
    const table = symbols('', 'zzz', 'a', 'job', 'up', 'a', '__name__', 'unused');
    for (const r of [[6, 4, 3, 2], [6, 4, 3, 5]]) {
      const d = dec.decodeRequest(Buffer.concat([table, ts2(refs(...r), sample2(1, 1))]));
      expect(d.series[0]!.labels).toBe(first.series[0]!.labels);
    }
    dec.assertInvariants();
  });

  it('gives exactly the uncached result under forced hash collisions and tiny tables (seeded random requests)', () => {
    // Every symbol and every series hashes alike, and the tables rotate every few entries: all
    // that keeps labels apart is the byte-for-byte check and ids that are never reused.
    const rng = mulberry32(42);
    const cached = [
      new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 2, symbolGenerationEntriesMax: 3, symbolHash: () => 7, seriesHash: () => 9 }),
      new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 4, symbolGenerationEntriesMax: 4, symbolHash: (dv, s, e) => (e - s) & 1, seriesHash: (dv, s, e) => (e - s) & 3 }),
      new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 64, symbolIdMax: 9 }), // ids run out and restart often
      new RemoteWriteV2Decoder(),
    ];
    const plain = new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 0 });
    const names = ['__name__', 'a', 'b', 'ab', 'c'];
    const values = ['x', 'y', 'xy', 'yx', 'xx', 'é', 'up', 'a'];
    for (let req = 0; req < 300; req++) {
      const series: Array<Record<string, string>> = [];
      for (let k = 0, n = 1 + Math.floor(rng() * 4); k < n; k++) {
        const labels: Record<string, string> = { __name__: values[Math.floor(rng() * values.length)]! };
        for (const name of names.slice(1)) if (rng() < 0.5) labels[name] = values[Math.floor(rng() * values.length)]!;
        series.push(labels);
      }
      // A fresh table per request, in a random order, with a random unused symbol.
      const strings = [...new Set(series.flatMap((l) => Object.entries(l).flat()).concat(values[Math.floor(rng() * values.length)]!))];
      for (let i = strings.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [strings[i], strings[j]] = [strings[j]!, strings[i]!];
      }
      const at = new Map(strings.map((x, i) => [x, i + 1]));
      const body = Buffer.concat([
        symbols('', ...strings),
        ...series.map((l, i) => ts2(refs(...labelsFromRecord(l).flatMap((x) => [at.get(x.name)!, at.get(x.value)!])), sample2(i, req))),
      ]);
      const want = plain.decodeRequest(body).series.map((x) => x.labels);
      for (const dec of cached) expect(dec.decodeRequest(body).series.map((x) => x.labels)).toEqual(want);
    }
    for (const dec of cached) dec.assertInvariants();
    expect(cached[0]!.cacheStats().hits).toBeGreaterThan(0);
    expect(cached[2]!.cacheStats().hits).toBeGreaterThan(0);
  });

  it('restarts its ids (and forgets the series keyed by them) before they run out', () => {
    // A request may need as many new ids as its table has symbols (5 here, "" included).
    const dec = new RemoteWriteV2Decoder({ symbolIdMax: 9 });
    const req = (v: string) => dec.decodeRequest(Buffer.concat([symbols('', '__name__', v, 'job', 'a'), ts2(refs(1, 2, 3, 4), sample2(1, 1))]));
    const up = req('up'); // ids 1-4
    expect(req('up').series[0]!.labels).toBe(up.series[0]!.labels); // 5 ids left: no restart
    expect(req('down').series[0]!.labels).toEqual([{ name: '__name__', value: 'down' }, { name: 'job', value: 'a' }]); // id 5
    // 4 ids left for a table of 5: both tables start over, and nothing stale is found.
    const again = req('up');
    expect(again.series[0]!.labels).toEqual(up.series[0]!.labels);
    expect(again.series[0]!.labels).not.toBe(up.series[0]!.labels);
    expect(dec.cacheStats()).toMatchObject({ entries: 1, symbols: 4 });
    expect(req('up').series[0]!.labels).toBe(again.series[0]!.labels);
    dec.assertInvariants();
  });

  it('does not cache series with a symbol above SYMBOL_ID_BYTES_MAX, and still decodes them', () => {
    const dec = new RemoteWriteV2Decoder();
    const long = 'v'.repeat(SYMBOL_ID_BYTES_MAX + 1);
    const body = Buffer.concat([symbols('', '__name__', 'm', 'big', long), ts2(refs(1, 2, 3, 4), sample2(1, 1))]);
    for (let i = 0; i < 2; i++) expect(dec.decodeRequest(body, { labelValueBytesMax: 1 << 16 }).series[0]!.labels[1]!.value).toBe(long);
    expect(dec.cacheStats()).toMatchObject({ entries: 0, hits: 0 });
  });

  it('re-checks cached entries against stricter limits and never caches invalid sets', () => {
    const dec = new RemoteWriteV2Decoder();
    const body = Buffer.concat([symbols('', '__name__', 'm', 'v', 'x'.repeat(100)), ts2(refs(1, 2, 3, 4), sample2(1, 1))]);
    expect(dec.decodeRequest(body).series.length).toBe(1);
    expect(dec.decodeRequest(body, { labelValueBytesMax: 50 }).series.length).toBe(0);
    const bad = Buffer.concat([symbols('', '__name__', 'm', 'v'), ts2(refs(3, 2, 1, 2), sample2(1, 1))]);
    for (let i = 0; i < 2; i++) expect(dec.decodeRequest(bad).rejected.byReason.get('invalid_labels')!.series).toBe(1);
    expect(dec.cacheStats().entries).toBe(1);
  });
});

interface BadCase {
  name: string;
  /** Uncompressed Request, or a snappy body when `snappyBody`. */
  body: Buffer;
  snappyBody?: boolean;
  limits?: Partial<RemoteWriteLimits>;
  code?: ErrorCode;
  message: RegExp;
}

const OK = ts2(refs(I.__name__!, I.up!), sample2(1, 1));
const v1Body = encodeWriteRequestV1([{ labels: { __name__: 'up', job: 'a' }, timestampsMs: [1], values: [1] }], [{ metricFamilyName: 'up', type: 'gauge', help: 'h', unit: '' }]);

export const V2_BAD_CASES: BadCase[] = [
  // Structure
  { name: 'garbage', body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), message: /byte offset 0/ },
  { name: 'truncated series', body: Buffer.concat([SYMS, OK]).subarray(0, SYMS.length + OK.length - 3), message: /runs past the end .*in Request/ },
  { name: 'truncated sample inside a series', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(2, Buffer.from([0x09, 1, 2, 3])))]), message: /truncated sample value.*in a sample of timeseries\[0\]/ },
  { name: 'a 1.0 WriteRequest (reserved field 1)', body: v1Body, message: /field 1 is reserved in io.prometheus.write.v2.Request: this looks like a remote write 1.0 WriteRequest/ },
  { name: 'reserved field 2', body: Buffer.concat([SYMS, fieldBytes(2, 'x')]), message: /field 2 is reserved/ },
  { name: 'reserved field 3 (1.0 metadata)', body: Buffer.concat([SYMS, fieldBytes(3, fieldVarint(1, 1))]), message: /field 3 is reserved/ },
  { name: 'symbols[0] is not empty', body: Buffer.concat([symbols('x', '__name__', 'up'), ts2(refs(1, 2), sample2(1, 1))]), message: /symbols\[0\] must be the empty string, got "x"/ },
  { name: 'series without any symbols', body: ts2(sample2(1, 1)), message: /symbols is empty: it must start with the empty string/ },
  { name: 'label ref out of range', body: Buffer.concat([SYMS, ts2(refs(1, 99), sample2(1, 1))]), message: /labels_refs reference 99 is outside the symbol table \(13 symbols\).*timeseries\[0\]/ },
  { name: 'label ref beyond uint32', body: Buffer.concat([SYMS, ts2(refs(1, 2 ** 40), sample2(1, 1))]), message: /labels_refs reference 1099511627776 is outside/ },
  { name: 'unpacked label ref out of range', body: Buffer.concat([SYMS, ts2(fieldVarint(1, 13), sample2(1, 1))]), message: /labels_refs reference 13 is outside/ },
  { name: 'odd labels_refs', body: Buffer.concat([SYMS, ts2(refs(1, 2, 3), sample2(1, 1))]), message: /labels_refs has 3 entries: it must hold name\/value pairs/ },
  { name: 'help_ref out of range', body: Buffer.concat([SYMS, ts2(refs(1, 2), sample2(1, 1), metadata2(1, 50))]), message: /help_ref reference 50 is outside.*in the metadata of timeseries\[0\]/ },
  { name: 'unit_ref out of range', body: Buffer.concat([SYMS, ts2(refs(1, 2), sample2(1, 1), metadata2(1, 0, 13))]), message: /unit_ref reference 13 is outside/ },
  { name: 'exemplar ref out of range', body: Buffer.concat([SYMS, ts2(refs(1, 2), sample2(1, 1), exemplar2([6, 77], 1, 1))]), message: /labels_refs reference 77 is outside.*in an exemplar of timeseries\[0\]/ },
  { name: 'odd exemplar labels_refs', body: Buffer.concat([SYMS, ts2(refs(1, 2), sample2(1, 1), exemplar2([6], 1, 1))]), message: /exemplar labels_refs has 1 entries/ },
  { name: 'odd labels_refs on an otherwise invalid series', body: Buffer.concat([SYMS, ts2(refs(3), sample2(1, 1))]), message: /labels_refs has 1 entries/ },
  // Wire types
  { name: 'symbols as varint', body: Buffer.concat([fieldVarint(4, 0), OK]), message: /field symbols \(4\) has wire type varint, expected length-delimited/ },
  { name: 'timeseries as fixed32', body: Buffer.concat([SYMS, fieldFixed32(5, 1)]), message: /field timeseries \(5\) has wire type fixed32/ },
  { name: 'labels_refs as fixed64', body: Buffer.concat([SYMS, ts2(fieldDouble(1, 1), sample2(1, 1))]), message: /field labels_refs \(1\) has wire type fixed64/ },
  { name: 'samples as varint', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldVarint(2, 1))]), message: /field samples \(2\) has wire type varint/ },
  { name: 'histograms as varint', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldVarint(3, 1))]), message: /field histograms \(3\) has wire type varint/ },
  { name: 'exemplars as fixed32', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldFixed32(4, 1))]), message: /field exemplars \(4\) has wire type fixed32/ },
  { name: 'metadata as varint', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldVarint(5, 1))]), message: /field metadata \(5\) has wire type varint/ },
  { name: 'sample value as varint', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(2, fieldVarint(1, 1)))]), message: /field value \(1\) has wire type varint, expected fixed64/ },
  { name: 'sample timestamp as fixed64', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(2, fieldDouble(2, 1)))]), message: /field timestamp \(2\) has wire type fixed64, expected varint/ },
  { name: 'start_timestamp as bytes', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(2, fieldBytes(3, 'x')))]), message: /field start_timestamp \(3\) has wire type length-delimited/ },
  { name: 'metadata type as bytes', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(5, fieldBytes(1, 'x')))]), message: /field type \(1\) has wire type length-delimited.*metadata of timeseries\[0\]/ },
  { name: 'help_ref as fixed32', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(5, fieldFixed32(3, 1)))]), message: /field help_ref \(3\) has wire type fixed32/ },
  { name: 'exemplar value as varint', body: Buffer.concat([SYMS, ts2(refs(1, 2), fieldBytes(4, fieldVarint(2, 1)))]), message: /field value \(2\) has wire type varint, expected fixed64.*exemplar/ },
  { name: 'invalid wire type 7', body: Buffer.concat([SYMS, ts2(tag(9, 7))]), message: /invalid wire type 7/ },
  { name: 'length overflow (2^40)', body: Buffer.concat([tag(5, 2), varint(2 ** 40), OK]), message: /length 1099511627776 runs past the end/ },
  // Snappy and size limits
  { name: 'not snappy', body: Buffer.from('definitely not snappy'), snappyBody: true, message: /snappy/ },
  { name: 'empty body', body: Buffer.alloc(0), snappyBody: true, message: /empty/ },
  { name: 'body above the configured limit', body: snappy.compressSync(Buffer.concat([SYMS, OK])), snappyBody: true, limits: { bodyBytesMax: 8 }, code: 'BODY_TOO_LARGE', message: /above the limit of 8/ },
  { name: 'decoded size above the configured limit', body: snappy.compressSync(Buffer.concat([SYMS, OK, OK])), snappyBody: true, limits: { decodedBytesMax: 40 }, code: 'BODY_TOO_LARGE', message: /decompressed bytes, above the limit of 40/ },
  { name: 'bomb: tiny body claiming 1 GiB', body: Buffer.concat([varint(2 ** 30), Buffer.from([0x00, 0x61])]), snappyBody: true, code: 'BODY_TOO_LARGE', message: /declares 1073741824 decompressed bytes/ },
];

describe('bad remote write 2.0 bodies fail the whole request', () => {
  for (const tc of V2_BAD_CASES) {
    it(tc.name, async () => {
      const body = tc.snappyBody ? tc.body : snappy.compressSync(tc.body);
      const err = await decodeRemoteWriteV2(body, tc.limits).then(
        (d) => new Error(`decoded: ${JSON.stringify(d.series.map((s) => s.labels))} ${d.rejected.message()}`),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MochaError);
      expect((err as MochaError).code).toBe(tc.code ?? 'BAD_REMOTE_WRITE');
      expect((err as MochaError).message).toMatch(tc.message);
    });
  }

  it('a 2.0 body decoded as 1.0 is an empty WriteRequest (fields 4 and 5 are unknown there), as the reserved numbers intend', () => {
    const body = encodeRequestV2([{ labels: { __name__: 'up' }, timestampsMs: [1], values: [1] }]);
    const d = decodeWriteRequestV1(body);
    expect(d.series).toEqual([]);
    expect(d.metadata).toEqual([]);
  });
});
