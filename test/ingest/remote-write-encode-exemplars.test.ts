// The remote-write 1.0 encoder's exemplars (TimeSeries.exemplars, field 3), checked against
// protobufjs decoding the upstream prompb message layout.
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { encodeWriteRequestV1 } from '../../src/ingest/remote-write-encode.js';

const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
`;
const WriteRequest = protobuf.parse(PROTO).root.lookupType('prometheus.WriteRequest');

describe('remote write encoder: exemplars', () => {
  it('encodes exemplars after the samples, labels sorted, negative and zero timestamps as proto3 does', () => {
    const body = encodeWriteRequestV1([
      {
        labels: { __name__: 'h_bucket', le: '0.5' },
        timestampsMs: [1_700_000_000_000],
        values: [3],
        exemplars: [
          { labels: { trace_id: 'abc', span_id: 'é1' }, value: 0.25, timestampMs: 1_700_000_000_123 },
          { labels: {}, value: -1, timestampMs: 0 },
          { labels: [{ name: 'z', value: '1' }, { name: 'a', value: '2' }], value: 7, timestampMs: -5 },
        ],
      },
      { labels: { __name__: 'plain' }, timestampsMs: [1], values: [1] },
    ]);
    const msg = WriteRequest.toObject(WriteRequest.decode(body), { longs: Number, defaults: true }) as {
      timeseries: Array<{ exemplars: Array<{ labels: Array<{ name: string; value: string }>; value: number; timestamp: number }> }>;
    };
    expect(msg.timeseries[0]!.exemplars).toEqual([
      { labels: [{ name: 'span_id', value: 'é1' }, { name: 'trace_id', value: 'abc' }], value: 0.25, timestamp: 1_700_000_000_123 },
      { labels: [], value: -1, timestamp: 0 },
      { labels: [{ name: 'z', value: '1' }, { name: 'a', value: '2' }], value: 7, timestamp: -5 },
    ]);
    expect(msg.timeseries[1]!.exemplars).toEqual([]);
  });
});
