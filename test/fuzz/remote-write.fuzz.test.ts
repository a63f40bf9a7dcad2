// Bad remote-write input: every malformed body is a MochaError (BAD_REMOTE_WRITE, or
// BODY_TOO_LARGE for size limits) whose message says what is wrong, never another exception,
// never a hang. A table of known-bad inputs, truncation at every byte, and seeded mutations.
import { describe, expect, it } from 'vitest';
import snappy from 'snappy';
import { isMochaError, MochaError, type ErrorCode } from '../../src/errors.js';
import { decodeRemoteWriteV1, decodeWriteRequestV1, RemoteWriteDecoder, type DecodedWrite, type RemoteWriteLimits } from '../../src/ingest/remote-write.js';
import { encodeRequestV2, encodeWriteRequestV1 } from '../../src/ingest/remote-write-encode.js';
import { decodeRemoteWriteV2, decodeRequestV2, RemoteWriteV2Decoder, type DecodedWriteV2 } from '../../src/ingest/remote-write-v2.js';
import { labelsAreSorted } from '../../src/model/labels.js';
import type { RejectReason } from '../../src/ingest/pipeline.js';
import { mulberry32 } from '../helpers/prng.js';
import {
  fieldBytes,
  fieldDouble,
  fieldGroup,
  fieldVarint,
  label,
  sample,
  simpleSeries,
  tag,
  timeSeries,
  varint,
} from '../ingest/pb-builder.js';

const OK = simpleSeries([['__name__', 'good'], ['job', 'x']]);
const c = (b: Buffer) => snappy.compressSync(b);

interface BadCase {
  name: string;
  /** Snappy body as sent. */
  body: Buffer;
  limits?: Partial<RemoteWriteLimits>;
  /** A structural error: the whole request fails with this code. */
  code?: ErrorCode;
  /** A data error: the request decodes, the bad series is rejected for this reason, the rest is kept. */
  reject?: RejectReason;
  /** Series rejected (default 1) and kept (default: the valid ones) for `reject` cases. */
  rejectedSeries?: number;
  keptSeries?: number;
  message: RegExp;
}

function nested(depth: number): Buffer {
  let inner = fieldVarint(1, 1);
  for (let i = 0; i < depth; i++) inner = fieldGroup(20, inner);
  return inner;
}

const invalidUtf8: Array<[string, Buffer]> = [
  ['lone continuation byte', Buffer.from([0x61, 0x80])],
  ['bad second byte', Buffer.from([0xc3, 0x28])],
  ['overlong encoding of /', Buffer.from([0xc0, 0xaf])],
  ['UTF-16 surrogate', Buffer.from([0xed, 0xa0, 0x80])],
  ['truncated 3-byte sequence', Buffer.from([0x61, 0xe2, 0x82])],
  ['above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
];

const cases: BadCase[] = [
  // Snappy layer
  { name: 'empty body', body: Buffer.alloc(0), code: 'BAD_REMOTE_WRITE', message: /empty/ },
  { name: 'not snappy', body: Buffer.from('this is not snappy at all'), code: 'BAD_REMOTE_WRITE', message: /not valid snappy/ },
  { name: 'snappy length header is not a varint', body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), code: 'BAD_REMOTE_WRITE', message: /not snappy block-compressed.*length header/ },
  { name: 'snappy length header overflows 32 bits', body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f]), code: 'BAD_REMOTE_WRITE', message: /length header/ },
  { name: 'framed snappy instead of block', body: Buffer.from('ff060000734e61507059010a0000d4e9a5b968656c6c6f', 'hex'), code: 'BAD_REMOTE_WRITE', message: /snappy/ },
  { name: 'gzip instead of snappy', body: Buffer.from('1f8b0800000000000003cb48cdc9c90700863ba6361000000', 'hex'), code: 'BAD_REMOTE_WRITE', message: /snappy/ },
  { name: 'snappy header longer than its data', body: Buffer.concat([varint(50), c(OK).subarray(1)]), code: 'BAD_REMOTE_WRITE', message: /snappy/ },
  { name: 'truncated snappy', body: c(Buffer.concat([OK, OK, OK])).subarray(0, 20), code: 'BAD_REMOTE_WRITE', message: /snappy/ },
  { name: 'header claims more than the body can hold', body: Buffer.concat([varint(1 << 20), Buffer.alloc(10)]), code: 'BAD_REMOTE_WRITE', message: /declares 1048576 bytes, more than/ },
  { name: 'bomb: tiny body claiming 1 GiB', body: Buffer.concat([varint(2 ** 30), Buffer.from([0x00, 0x61])]), code: 'BODY_TOO_LARGE', message: /declares 1073741824 decompressed bytes, above the limit/ },
  { name: 'decoded size above a configured limit', body: c(Buffer.concat([OK, OK])), limits: { decodedBytesMax: OK.length }, code: 'BODY_TOO_LARGE', message: /above the limit of/ },
  { name: 'body above the configured limit', body: c(OK), limits: { bodyBytesMax: 8 }, code: 'BODY_TOO_LARGE', message: /bytes, above the limit of 8/ },
  // Protobuf structure
  { name: 'snappy of garbage', body: c(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])), code: 'BAD_REMOTE_WRITE', message: /byte offset 0/ },
  { name: 'truncated protobuf', body: c(Buffer.concat([OK, OK]).subarray(0, OK.length + 7)), code: 'BAD_REMOTE_WRITE', message: new RegExp(`length \\d+ runs past the end .*byte offset ${OK.length + 1}`) },
  { name: 'wrong wire type: timeseries as varint', body: c(Buffer.concat([OK, fieldVarint(1, 5)])), code: 'BAD_REMOTE_WRITE', message: new RegExp(`field timeseries \\(1\\) has wire type varint, expected length-delimited at byte offset ${OK.length}`) },
  { name: 'wrong wire type: metadata as fixed32', body: c(Buffer.concat([tag(3, 5), Buffer.alloc(4)])), code: 'BAD_REMOTE_WRITE', message: /field metadata \(3\) has wire type fixed32/ },
  { name: 'wrong wire type: labels as fixed64', body: c(timeSeries(tag(1, 1), Buffer.alloc(8))), code: 'BAD_REMOTE_WRITE', message: /field labels \(1\) has wire type fixed64.*in timeseries\[0\]/ },
  { name: 'wrong wire type: label name as varint', body: c(timeSeries(fieldBytes(1, fieldVarint(1, 3)))), code: 'BAD_REMOTE_WRITE', message: /field name \(1\) has wire type varint.*in a label of timeseries\[0\]/ },
  { name: 'wrong wire type: sample timestamp as fixed64', body: c(timeSeries(label('__name__', 'm'), fieldBytes(2, fieldDouble(2, 1)))), code: 'BAD_REMOTE_WRITE', message: /field timestamp \(2\) has wire type fixed64, expected varint/ },
  { name: 'wrong wire type: metadata type as bytes', body: c(fieldBytes(3, fieldBytes(1, 'x'))), code: 'BAD_REMOTE_WRITE', message: /field type \(1\) has wire type length-delimited.*metadata\[0\]/ },
  { name: 'length past the end of the message', body: c(Buffer.concat([tag(1, 2), varint(1000), OK])), code: 'BAD_REMOTE_WRITE', message: /length 1000 runs past the end of the enclosing message/ },
  { name: 'length overflow (2^40)', body: c(Buffer.concat([tag(1, 2), varint(2 ** 40), OK])), code: 'BAD_REMOTE_WRITE', message: /length 1099511627776 runs past the end/ },
  { name: 'inner length past the end of its parent', body: c(timeSeries(Buffer.concat([tag(1, 2), varint(50)]), label('__name__', 'm'))), code: 'BAD_REMOTE_WRITE', message: /length 50 runs past the end.*in timeseries\[0\]/ },
  { name: 'varint longer than 10 bytes', body: c(Buffer.concat([tag(9, 0), Buffer.alloc(11, 0xff), Buffer.from([0])])), code: 'BAD_REMOTE_WRITE', message: /varint longer than 10 bytes/ },
  { name: 'timestamp varint overflows 64 bits', body: c(timeSeries(label('__name__', 'm'), fieldBytes(2, tag(2, 0), Buffer.alloc(9, 0xff), Buffer.from([0x02])))), code: 'BAD_REMOTE_WRITE', message: /overflows 64 bits/ },
  { name: 'invalid wire type 6', body: c(Buffer.concat([OK, tag(5, 6)])), code: 'BAD_REMOTE_WRITE', message: /invalid wire type 6/ },
  { name: 'invalid wire type 7', body: c(timeSeries(tag(5, 7))), code: 'BAD_REMOTE_WRITE', message: /invalid wire type 7/ },
  { name: 'field number 0', body: c(Buffer.from([0x02, 0x00])), code: 'BAD_REMOTE_WRITE', message: /field number 0/ },
  { name: 'end-group without start', body: c(Buffer.concat([OK, tag(7, 4)])), code: 'BAD_REMOTE_WRITE', message: /end-group tag without a matching start-group/ },
  { name: 'group without end', body: c(Buffer.concat([tag(7, 3), fieldVarint(1, 1)])), code: 'BAD_REMOTE_WRITE', message: /group of field 7 has no end-group tag/ },
  { name: 'group closed by another field', body: c(Buffer.concat([tag(7, 3), tag(8, 4)])), code: 'BAD_REMOTE_WRITE', message: /end-group tag of field 8 closes a group of field 7/ },
  { name: 'groups nested 1000 deep', body: c(nested(1000)), code: 'BAD_REMOTE_WRITE', message: /nested deeper than 32/ },
  { name: 'truncated sample value', body: c(timeSeries(label('__name__', 'm'), fieldBytes(2, Buffer.from([0x09, 1, 2, 3])))), code: 'BAD_REMOTE_WRITE', message: /truncated sample value.*in a sample of timeseries\[0\]/ },
  { name: 'truncated fixed32 in a label', body: c(timeSeries(fieldBytes(1, Buffer.from([0x1d, 1, 2])))), code: 'BAD_REMOTE_WRITE', message: /truncated fixed32/ },
  { name: 'truncated tag', body: c(Buffer.concat([OK, Buffer.from([0x80])])), code: 'BAD_REMOTE_WRITE', message: /truncated field tag/ },
  // Labels
  { name: 'unsorted labels', body: c(Buffer.concat([OK, simpleSeries([['job', 'a'], ['__name__', 'bad_unsorted']])])), reject: 'invalid_labels', message: /timeseries\[1\] \{job="a", __name__="bad_unsorted"\}: label names are not sorted: "job" comes before "__name__"/ },
  { name: 'duplicate labels', body: c(simpleSeries([['__name__', 'bad_dup'], ['job', 'a'], ['job', 'b']])), reject: 'invalid_labels', message: /duplicate label name "job"/ },
  { name: 'empty label name', body: c(simpleSeries([['', 'v'], ['__name__', 'm']])), reject: 'invalid_labels', message: /label 0 has an empty name/ },
  { name: 'empty label value', body: c(Buffer.concat([OK, simpleSeries([['__name__', 'bad_empty'], ['job', '']])])), reject: 'invalid_labels', message: /timeseries\[1\] \{__name__="bad_empty", job=""\}: label "job" has an empty value/ },
  { name: 'empty metric name', body: c(simpleSeries([['__name__', '']])), reject: 'invalid_labels', message: /label "__name__" has an empty value/ },
  { name: 'metric name starting with a digit', body: c(simpleSeries([['__name__', '1abc']])), reject: 'invalid_labels', message: /metric name "1abc" is not valid: it must match \[a-zA-Z_:\]\[a-zA-Z0-9_:\]\*/ },
  { name: 'metric name with a dash', body: c(simpleSeries([['__name__', 'http-requests']])), reject: 'invalid_labels', message: /metric name "http-requests" is not valid/ },
  { name: 'metric name with UTF-8', body: c(simpleSeries([['__name__', 'température']])), reject: 'invalid_labels', message: /metric name "température" is not valid/ },
  { name: 'label name with a dash', body: c(simpleSeries([['__name__', 'm'], ['la-bel', 'v']])), reject: 'invalid_labels', message: /label name "la-bel" is not valid: it must match \[a-zA-Z_\]\[a-zA-Z0-9_\]\*/ },
  { name: 'label name with a colon', body: c(simpleSeries([['__name__', 'm'], ['a:b', 'v']])), reject: 'invalid_labels', message: /label name "a:b" is not valid/ },
  { name: 'label name starting with a digit', body: c(simpleSeries([['1x', 'v'], ['__name__', 'm']])), reject: 'invalid_labels', message: /label name "1x" is not valid/ },
  { name: 'label name with invalid UTF-8', body: c(simpleSeries([['__name__', 'm'], [Buffer.from([0x61, 0xff]), 'v']])), reject: 'invalid_labels', message: /label name "a\uFFFD" is not valid/ },
  { name: 'missing __name__', body: c(simpleSeries([['job', 'a']])), reject: 'invalid_labels', message: /\{job="a"\}: missing the __name__ label/ },
  { name: 'no labels at all', body: c(timeSeries(sample(1, 1))), reject: 'invalid_labels', message: /has no labels/ },
  ...invalidUtf8.map(([what, bytes]): BadCase => ({
    name: `invalid UTF-8 value: ${what}`,
    body: c(simpleSeries([['__name__', 'm'], ['v', bytes]])),
    reject: 'invalid_labels',
    message: /label "v" has a value that is not valid UTF-8/,
  })),
  {
    name: 'too many labels (129)',
    body: c(simpleSeries([['__name__', 'm'], ...Array.from({ length: 128 }, (_, i): [string, string] => [`l${String(i).padStart(3, '0')}`, 'v'])])),
    reject: 'too_many_labels',
    message: /has 129 labels, above the limit of 128/,
  },
  { name: 'label name too long (1025 bytes)', body: c(simpleSeries([['__name__', 'm'], ['n'.repeat(1025), 'v']])), reject: 'label_name_too_long', message: /is 1025 bytes, above the limit of 1024/ },
  { name: 'label value too long (16385 bytes)', body: c(simpleSeries([['__name__', 'm'], ['v', 'x'.repeat(16385)]])), reject: 'label_value_too_long', message: /label "v" has a value of 16385 bytes, above the limit of 16384/ },
  { name: 'metric name too long for a configured limit', body: c(simpleSeries([['__name__', 'abcdef']])), limits: { labelValueBytesMax: 5 }, reject: 'label_value_too_long', message: /value of 6 bytes, above the limit of 5/ },
  {
    name: 'several invalid series are counted, the first is named',
    body: c(Buffer.concat([OK, simpleSeries([['__name__', 'b1'], ['x', '']]), OK, simpleSeries([['b', '1']]), simpleSeries([['__name__', '9']])])),
    reject: 'invalid_labels',
    message: /^invalid series timeseries\[1\] \{__name__="b1", x=""\}: label "x" has an empty value$/,
    rejectedSeries: 3,
    keptSeries: 2,
  },
  { name: 'invalid series without samples still rejects the request', body: c(Buffer.concat([OK, timeSeries(label('job', 'x'))])), reject: 'invalid_labels', message: /timeseries\[1\].*missing the __name__ label/ },
];

describe('bad remote-write bodies', () => {
  for (const tc of cases) {
    it(tc.name, async () => {
      let err: unknown;
      let d: DecodedWrite | undefined;
      try {
        d = await decodeRemoteWriteV1(tc.body, tc.limits);
      } catch (e) {
        err = e;
      }
      if (tc.reject !== undefined) {
        expect(err).toBeUndefined();
        const r = d!.rejected.byReason.get(tc.reject);
        expect(r, `rejections: ${d!.rejected.message()}`).toBeDefined();
        expect(r!.series).toBe(tc.rejectedSeries ?? 1);
        expect(r!.example).toMatch(tc.message);
        if (tc.keptSeries !== undefined) expect(d!.series.length).toBe(tc.keptSeries);
        for (const s of d!.series) expect(s.labels.some((l) => l.name === '__name__' && l.value === 'good')).toBe(true);
        return;
      }
      expect(err).toBeInstanceOf(MochaError);
      const me = err as MochaError;
      expect(me.code).toBe(tc.code);
      expect(me.message).toMatch(tc.message);
    });
  }

  it('names the byte offset in `where` and the series index in rejections', async () => {
    const d = await decodeRemoteWriteV1(c(Buffer.concat([OK, OK, simpleSeries([['__name__', 'm'], ['j', '']])])));
    expect(d.rejected.byReason.get('invalid_labels')!.example).toMatch(/^invalid series timeseries\[2\] /);
    expect(d.series.length).toBe(2);
    const err2 = await decodeRemoteWriteV1(c(Buffer.concat([OK, Buffer.from([0x0a, 0x7f])]))).catch((e: unknown) => e);
    expect((err2 as MochaError).where).toEqual({ offset: OK.length + 1 });
  });

  it('cuts long label values in messages', async () => {
    const d = await decodeRemoteWriteV1(c(simpleSeries([['__name__', 'm'], ['a', 'y'.repeat(5000)], ['b', '']])));
    const message = d.rejected.message();
    expect(message.length).toBeLessThan(1000);
    expect(message).toMatch(/label "b" has an empty value/);
  });
});

/** A valid request with several series, metadata, an exemplar and odd values. */
function validRequest(): Buffer {
  const stale = new Float64Array(new Uint32Array([2, 0x7ff00000]).buffer);
  return Buffer.concat([
    encodeWriteRequestV1(
      [
        { labels: { __name__: 'node_cpu_seconds_total', cpu: '0', instance: 'host-1:9100', job: 'node', mode: 'idle' }, timestampsMs: [1_700_000_000_000, 1_700_000_015_000], values: [12.5, 13] },
        { labels: { __name__: 'up', job: 'ünïcödé' }, timestampsMs: [-5, 0, 1], values: Float64Array.from([1, -0, stale[0]!]) },
      ],
      [{ metricFamilyName: 'up', type: 'gauge', help: 'Whether the target is up.', unit: '' }],
    ),
    timeSeries(label('__name__', 'with_exemplar'), sample(Infinity, 77), fieldBytes(3, label('trace_id', 'abc'), fieldDouble(2, 1))),
    encodeWriteRequestV1([{ labels: { __name__: 'last', le: '+Inf' }, timestampsMs: [9], values: [NaN] }]),
  ]);
}

function expectPrefixOf(partial: DecodedWrite, full: DecodedWrite): void {
  expect(partial.series.length).toBeLessThanOrEqual(full.series.length);
  partial.series.forEach((s, i) => {
    const f = full.series[i]!;
    expect(s.labels).toEqual(f.labels);
    expect(Array.from(s.timestampsMs)).toEqual(Array.from(f.timestampsMs));
    expect(Buffer.from(s.values.buffer, s.values.byteOffset, s.values.byteLength).equals(Buffer.from(f.values.buffer, f.values.byteOffset, f.values.byteLength))).toBe(true);
  });
  expect(partial.metadata).toEqual(full.metadata.slice(0, partial.metadata.length));
}

function expectOnlyMochaError(fn: () => unknown, codes: ErrorCode[] = ['BAD_REMOTE_WRITE']): DecodedWrite | undefined {
  try {
    return fn() as DecodedWrite;
  } catch (e) {
    if (!isMochaError(e)) throw new Error(`expected a MochaError, got ${String(e)}`, { cause: e });
    expect(codes).toContain(e.code);
    expect(e.message.length).toBeGreaterThan(10);
    return undefined;
  }
}

/** What every successful decode must satisfy whatever the input. */
function expectWellFormed(d: DecodedWrite): void {
  let n = 0;
  for (const s of d.series) {
    expect(labelsAreSorted(s.labels)).toBe(true);
    expect(s.labels.some((l) => l.name === '__name__')).toBe(true);
    for (const l of s.labels) expect(l.name.length > 0 && l.value.length > 0).toBe(true);
    expect(s.values.length).toBe(s.timestampsMs.length);
    expect(s.values.length).toBeGreaterThan(0);
    n += s.values.length;
  }
  expect(d.sampleCount).toBe(n);
}

describe('truncation at every byte offset', () => {
  const full = validRequest();
  const fullDecoded = decodeWriteRequestV1(full);

  it('the untruncated request decodes', () => {
    expect(fullDecoded.series.length).toBe(4);
    expect(fullDecoded.exemplarCount).toBe(1);
    expect(fullDecoded.metadata.length).toBe(1);
  });

  it('every cut decodes to a prefix or fails with BAD_REMOTE_WRITE', () => {
    let ok = 0;
    let failed = 0;
    for (const dec of [new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 }), new RemoteWriteDecoder()]) {
      for (let cut = 0; cut < full.length; cut++) {
        const d = expectOnlyMochaError(() => dec.decodeWriteRequest(full.subarray(0, cut)));
        if (d === undefined) failed++;
        else {
          ok++;
          expectPrefixOf(d, fullDecoded);
        }
      }
    }
    // Only cuts on a top-level field boundary decode: 0, after series 1 and 2, after the
    // metadata, after series 3 (the whole request, cut = length, is not among the cuts).
    expect(ok).toBe(2 * 5);
    expect(failed).toBe(2 * (full.length - 5));
  });

  it('every cut through snappy and the async path behaves the same', async () => {
    for (let cut = 0; cut < full.length; cut += 3) {
      let d: DecodedWrite | undefined;
      try {
        d = await decodeRemoteWriteV1(c(full.subarray(0, cut)));
      } catch (e) {
        expect(isMochaError(e) && e.code === 'BAD_REMOTE_WRITE').toBe(true);
      }
      if (d) expectPrefixOf(d, fullDecoded);
    }
  });

  it('every cut of the compressed body fails with a MochaError', async () => {
    const body = c(full);
    for (let cut = 0; cut < body.length; cut++) {
      const err = await decodeRemoteWriteV1(body.subarray(0, cut)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMochaError(err) && err.code === 'BAD_REMOTE_WRITE').toBe(true);
    }
  });
});

/**
 * Seeded byte-level mutations: overwrite, varint-breaking bytes (0x80 and `continuationByte`),
 * insert, delete, duplicate a range, truncate. Each suite passes its own byte so its mutation
 * stream stays what it was.
 */
function mutate(rng: () => number, src: Buffer, continuationByte: number): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + Math.floor(rng() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rng() * (b.length + 1));
    const r = rng();
    if (r < 0.35 && b.length > 0) b[Math.min(at, b.length - 1)] = Math.floor(rng() * 256);
    else if (r < 0.45 && b.length > 0) b[Math.min(at, b.length - 1)] = rng() < 0.5 ? 0x80 : continuationByte;
    else if (r < 0.6) b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + Math.floor(rng() * 8) }, () => Math.floor(rng() * 256))), b.subarray(at)]);
    else if (r < 0.75) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rng() * 16)))]);
    else if (r < 0.9) {
      const len = Math.floor(rng() * 32);
      b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]); // duplicate a range
    } else b = b.subarray(0, at);
  }
  return b;
}

describe('seeded random mutations', () => {
  const seeds = [validRequest(), Buffer.concat([OK, simpleSeries([['__name__', 'm'], ['a', 'b']], [[1, 2], [3, 4]])]), fieldBytes(3, fieldVarint(1, 1), fieldBytes(2, 'x'))];

  it('protobuf mutations only ever throw BAD_REMOTE_WRITE', () => {
    const rng = mulberry32(20240601);
    const dec = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 64 });
    const started = performance.now();
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const body = mutate(rng, seeds[i % seeds.length]!, 0xff);
      const d = expectOnlyMochaError(() => dec.decodeWriteRequest(body));
      if (d) {
        decoded++;
        expectWellFormed(d);
      }
    }
    dec.assertInvariants();
    expect(decoded).toBeGreaterThan(500); // the mutations do not all break the structure
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('snappy-level mutations only ever throw BAD_REMOTE_WRITE or BODY_TOO_LARGE', async () => {
    const rng = mulberry32(99);
    const compressed = seeds.map((s) => c(s));
    for (let i = 0; i < 3000; i++) {
      const body = mutate(rng, compressed[i % compressed.length]!, 0xff);
      let d: DecodedWrite | undefined;
      try {
        d = await decodeRemoteWriteV1(body);
      } catch (e) {
        if (!isMochaError(e)) throw new Error(`expected a MochaError, got ${String(e)}`, { cause: e });
        expect(['BAD_REMOTE_WRITE', 'BODY_TOO_LARGE']).toContain(e.code);
      }
      if (d) expectWellFormed(d);
    }
  });
});

// ---- Remote write 2.0: the same guarantees for the v2 decoder ----

/** A valid v2 request with every feature: symbols, start timestamps, exemplars, metadata, a histogram, odd values. */
function validRequestV2(): Buffer {
  const stale = new Float64Array(new Uint32Array([2, 0x7ff00000]).buffer);
  return encodeRequestV2([
    {
      labels: { __name__: 'http_requests_total', instance: 'host-1:9100', job: 'node' },
      timestampsMs: [1_700_000_000_000, 1_700_000_015_000],
      values: [12.5, 13],
      startTimestampsMs: [1_699_000_000_000, 0],
      exemplars: [{ labels: { trace_id: '4bf92f3577b34da6', span_id: '00f067aa' }, value: 1, timestampMs: 1_700_000_000_000 }],
      metadata: { type: 'counter', help: 'Requests.', unit: '' },
    },
    { labels: { __name__: 'up', job: 'ünïcödé' }, timestampsMs: [-5, 0, 1], values: Float64Array.from([1, -0, stale[0]!]), metadata: { type: 'gauge' } },
    { labels: { __name__: 'lat_bucket', le: '+Inf' }, timestampsMs: [9], values: [NaN], histograms: [Buffer.from([0x08, 0x05, 0x19, 0, 0, 0, 0, 0, 0, 0x04, 0x40])] },
  ]);
}

function expectOnlyMochaErrorV2(fn: () => DecodedWriteV2): DecodedWriteV2 | undefined {
  try {
    return fn();
  } catch (e) {
    if (!isMochaError(e)) throw new Error(`expected a MochaError, got ${String(e)}`, { cause: e });
    expect(e.code).toBe('BAD_REMOTE_WRITE');
    expect(e.message.length).toBeGreaterThan(10);
    return undefined;
  }
}

describe('remote write 2.0: truncation at every byte offset', () => {
  const full = validRequestV2();
  const fullDecoded = decodeRequestV2(full);

  it('the untruncated request decodes with everything in it', () => {
    expect(fullDecoded.series.length).toBe(3);
    expect(fullDecoded.exemplars.length).toBe(1);
    expect(fullDecoded.metadata.length).toBe(2);
    expect(fullDecoded.histogramCount).toBe(1);
    expect(Array.from(fullDecoded.series[0]!.startTimestampsMs!)).toEqual([1_699_000_000_000, 0]);
  });

  it('every cut decodes to a prefix of the series or fails with BAD_REMOTE_WRITE', () => {
    let ok = 0;
    for (const dec of [new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 0 }), new RemoteWriteV2Decoder()]) {
      for (let cut = 0; cut < full.length; cut++) {
        const d = expectOnlyMochaErrorV2(() => dec.decodeRequest(full.subarray(0, cut)));
        if (d === undefined) continue;
        ok++;
        expect(d.series.length).toBeLessThanOrEqual(fullDecoded.series.length);
        d.series.forEach((s, i) => {
          expect(s.labels).toEqual(fullDecoded.series[i]!.labels);
          expect(Array.from(s.timestampsMs)).toEqual(Array.from(fullDecoded.series[i]!.timestampsMs));
        });
      }
      dec.assertInvariants();
    }
    // Cuts between symbols (a shorter table: the series then refer past its end and fail) or
    // between whole series decode; the count just shows some did.
    expect(ok).toBeGreaterThan(4);
  });

  it('every cut of the compressed body fails with a MochaError', async () => {
    const body = snappy.compressSync(full);
    for (let cut = 0; cut < body.length; cut++) {
      const err = await decodeRemoteWriteV2(body.subarray(0, cut)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMochaError(err) && err.code === 'BAD_REMOTE_WRITE').toBe(true);
    }
  });
});

describe('remote write 2.0: seeded random mutations', () => {

  it('protobuf mutations only ever throw BAD_REMOTE_WRITE, and what decodes is well formed', () => {
    const rng = mulberry32(20260101);
    const seeds = [validRequestV2(), encodeRequestV2([{ labels: { __name__: 'm', a: 'b' }, timestampsMs: [1, 2], values: [3, 4] }])];
    const dec = new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 64 });
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      const d = expectOnlyMochaErrorV2(() => dec.decodeRequest(mutate(rng, seeds[i % seeds.length]!, 0x01)));
      if (d === undefined) continue;
      decoded++;
      expectWellFormed(d);
      for (const s of d.series) if (s.startTimestampsMs !== undefined) expect(s.startTimestampsMs.length).toBe(s.timestampsMs.length);
      for (const e of d.exemplars) expect(labelsAreSorted(e.labels)).toBe(true);
    }
    dec.assertInvariants();
    expect(decoded).toBeGreaterThan(500);
  });

  it('snappy-level mutations only ever throw BAD_REMOTE_WRITE or BODY_TOO_LARGE', async () => {
    const rng = mulberry32(4242);
    const body = snappy.compressSync(validRequestV2());
    for (let i = 0; i < 3000; i++) {
      try {
        expectWellFormed(await decodeRemoteWriteV2(mutate(rng, body, 0x01)));
      } catch (e) {
        if (!isMochaError(e)) throw new Error(`expected a MochaError, got ${String(e)}`, { cause: e });
        expect(['BAD_REMOTE_WRITE', 'BODY_TOO_LARGE']).toContain(e.code);
      }
    }
  });
});
