// Wire formats for the decode and ingest comparison (bench/decode-bench.ts): one protocol-free
// workload (series x rounds, one sample per series per request, as a Prometheus shard sends),
// and one PayloadFormat per wire protocol that encodes it and lists the decoders to compare.
//
// To add a protocol (OTLP metrics, written by another helper): implement PayloadFormat --
// encode() from the same WorkloadBatch, the HTTP path and content type on mocha and on
// VictoriaMetrics (VM takes OTLP at /opentelemetry/v1/metrics), and its decoders (ours and a
// generated reference) -- and add it to PAYLOAD_FORMATS. Nothing else in the bench changes.
import protobuf from 'protobufjs';
import snappy from 'snappy';
import zlib from 'node:zlib';
import { decodeOtlpMetrics } from '../../src/ingest/otlp/metrics.js';
import { encodeExportMetricsRequest, OTLP_METRICS_PROTO, type OtlpMetricJson } from './otlp-payload.js';
import { encodeRequestV2, encodeWriteRequestV1 } from '../../src/ingest/remote-write-encode.js';
import { RemoteWriteDecoder } from '../../src/ingest/remote-write.js';
import { RemoteWriteV2Decoder } from '../../src/ingest/remote-write-v2.js';
import { batchSampleCount } from '../../src/model/write.js';
import { mulberry32 } from './prng.js';

/** One request's worth of data: parallel arrays, one sample per series. */
export interface WorkloadBatch {
  labels: Array<Record<string, string>>;
  timestampsMs: number[];
  values: number[];
}

export interface Decoder {
  name: string;
  /** Decodes one uncompressed payload; returns the samples it found (to check it did the work). */
  decode(raw: Buffer): number;
}

export interface PayloadFormat {
  /** Short id used in flags and the report: prw1, prw2, ... */
  id: string;
  description: string;
  /** Uncompressed protobuf of one batch. */
  encodeRaw(batch: WorkloadBatch): Buffer;
  /** The HTTP body as sent (compressed as the protocol wants). */
  compress(raw: Buffer): Buffer;
  /** The inverse of compress (the decode bench times it alone, for scale). */
  decompress(body: Buffer): Buffer;
  /** Its name in the report: snappy, gzip. */
  compression: string;
  /** Headers for mocha and VictoriaMetrics. */
  headers: Record<string, string>;
  mochaPath: string;
  /** undefined: VictoriaMetrics does not take this format. */
  victoriaPath: string | undefined;
  /** A response header that proves the receiver understood this version (2.0: Samples-Written). */
  writtenHeader?: string;
  /** Decoders compared by the decode benchmark; the first is ours (the reference row). */
  decoders(): Decoder[];
}

// Field numbers as in prometheus/prometheus prompb/remote.proto, types.proto and
// prompb/io/prometheus/write/v2/types.proto (what our decoders implement).
const PRW1_PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message Histogram { uint64 count_int = 1; double sum = 3; int64 timestamp = 15; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
`;
export const PRW2_PROTO = `
syntax = "proto3";
package io.prometheus.write.v2;
message Request { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3; repeated Exemplar exemplars = 4; Metadata metadata = 5; reserved 6; }
message Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
message Sample { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3; }
message Metadata { int32 type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
message Histogram { uint64 count_int = 1; double sum = 3; int64 timestamp = 15; }
`;

/** Keeps the label work observable so it is not optimised away. */
export let labelSink = 0;

interface PbSeries {
  samples: unknown[];
}

function protobufjsDecoder(schema: string, typeName: string, resolveLabels: boolean): Decoder {
  const type = protobuf.parse(schema).root.lookupType(typeName);
  return {
    name: resolveLabels ? 'protobufjs decode + label strings' : 'protobufjs decode',
    decode(raw) {
      const msg = type.decode(raw) as unknown as { timeseries: PbSeries[]; symbols?: string[] };
      let n = 0;
      for (const ts of msg.timeseries) n += ts.samples.length;
      if (resolveLabels && msg.symbols !== undefined) {
        // What a generated-code receiver must still do for 2.0: turn refs into label strings.
        const syms = msg.symbols;
        for (const ts of msg.timeseries as unknown as Array<{ labelsRefs: number[] }>) {
          const labels: Array<{ name: string; value: string }> = [];
          for (let i = 0; i + 1 < ts.labelsRefs.length; i += 2) labels.push({ name: syms[ts.labelsRefs[i]!]!, value: syms[ts.labelsRefs[i + 1]!]! });
          labelSink += labels.length;
        }
      }
      return n;
    },
  };
}

export const PRW1: PayloadFormat = {
  id: 'prw1',
  description: 'Prometheus remote write 1.0 (snappy + prometheus.WriteRequest)',
  encodeRaw: (b) => encodeWriteRequestV1(b.labels.map((labels, i) => ({ labels, timestampsMs: [b.timestampsMs[i]!], values: [b.values[i]!] }))),
  compress: (raw) => snappy.compressSync(raw),
  decompress: (body) => snappy.uncompressSync(body) as Buffer,
  compression: 'snappy',
  headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
  mochaPath: '/api/v1/write',
  victoriaPath: '/api/v1/write',
  decoders: () => {
    const warm = new RemoteWriteDecoder();
    const cold = new RemoteWriteDecoder({ labelCacheGenerationEntriesMax: 0 });
    return [
      { name: 'mocha (label cache warm)', decode: (raw) => warm.decodeWriteRequest(raw).sampleCount },
      { name: 'mocha (no label cache)', decode: (raw) => cold.decodeWriteRequest(raw).sampleCount },
      protobufjsDecoder(PRW1_PROTO, 'prometheus.WriteRequest', false),
    ];
  },
};

export const PRW2: PayloadFormat = {
  id: 'prw2',
  description: 'Prometheus remote write 2.0 (snappy + io.prometheus.write.v2.Request)',
  encodeRaw: (b) => encodeRequestV2(b.labels.map((labels, i) => ({ labels, timestampsMs: [b.timestampsMs[i]!], values: [b.values[i]!] }))),
  compress: (raw) => snappy.compressSync(raw),
  decompress: (body) => snappy.uncompressSync(body) as Buffer,
  compression: 'snappy',
  headers: { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' },
  mochaPath: '/api/v1/write',
  victoriaPath: '/api/v1/write', // probed at run time: skipped when VictoriaMetrics refuses it or answers as 1.0
  writtenHeader: 'x-prometheus-remote-write-samples-written',
  decoders: () => {
    const warm = new RemoteWriteV2Decoder();
    const cold = new RemoteWriteV2Decoder({ labelCacheGenerationEntriesMax: 0 });
    return [
      { name: 'mocha (label cache warm)', decode: (raw) => warm.decodeRequest(raw).sampleCount },
      { name: 'mocha (no label cache)', decode: (raw) => cold.decodeRequest(raw).sampleCount },
      protobufjsDecoder(PRW2_PROTO, 'io.prometheus.write.v2.Request', false),
      protobufjsDecoder(PRW2_PROTO, 'io.prometheus.write.v2.Request', true),
    ];
  },
};

/**
 * The batch as one OTLP ExportMetricsServiceRequest: one resource without attributes (so no
 * job/instance/target_info is added) and one unnamed scope (no otel_scope_* labels), one gauge per
 * metric name with a point per series whose attributes are the other labels. mocha translates it
 * into exactly the series and samples the remote-write formats carry, so the rates compare.
 */
function otlpRaw(b: WorkloadBatch): Buffer {
  const byName = new Map<string, OtlpMetricJson>();
  for (let i = 0; i < b.labels.length; i++) {
    const { __name__: name, ...rest } = b.labels[i]!;
    let m = byName.get(name!);
    if (m === undefined) byName.set(name!, (m = { name: name!, gauge: { dataPoints: [] } }));
    m.gauge!.dataPoints.push({
      attributes: Object.entries(rest).map(([key, v]) => ({ key, value: { stringValue: v } })),
      timeUnixNano: (BigInt(b.timestampsMs[i]!) * 1_000_000n).toString(),
      asDouble: b.values[i]!,
    });
  }
  return encodeExportMetricsRequest({ resourceMetrics: [{ resource: { attributes: [] }, scopeMetrics: [{ metrics: [...byName.values()] }] }] });
}

export const OTLP: PayloadFormat = {
  id: 'otlp',
  description: 'OTLP/HTTP metrics (gzip + ExportMetricsServiceRequest, gauges)',
  encodeRaw: otlpRaw,
  // The Collector's otlphttp exporter compresses with gzip by default.
  compress: (raw) => zlib.gzipSync(raw),
  decompress: (body) => zlib.gunzipSync(body),
  compression: 'gzip',
  headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
  mochaPath: '/v1/metrics',
  // VictoriaMetrics 1.79 has no OTLP endpoint (/opentelemetry/v1/metrics came in 1.92).
  victoriaPath: undefined,
  decoders: () => {
    const countSamples = (raw: Buffer) => {
      let n = 0;
      n += batchSampleCount(decodeOtlpMetrics(raw, 'protobuf').request.batch!);
      return n;
    };
    const type = protobuf.parse(OTLP_METRICS_PROTO).root.lookupType('opentelemetry.proto.ExportMetricsServiceRequest');
    return [
      { name: 'mocha (decode + translate)', decode: countSamples },
      {
        name: 'protobufjs decode',
        decode(raw) {
          const msg = type.decode(raw) as unknown as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ gauge?: { dataPoints: unknown[] } }> }> }> };
          let n = 0;
          for (const rm of msg.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.gauge?.dataPoints.length ?? 0;
          return n;
        },
      },
    ];
  },
};

/** Every format the bench knows. */
export const PAYLOAD_FORMATS: PayloadFormat[] = [PRW1, PRW2, OTLP];

// Node-exporter-like families and labels (as bench/micro/remote-write-decode.ts).
const FAMILIES: Array<{ name: string; labels: Array<[string, string[]]> }> = [
  { name: 'node_cpu_seconds_total', labels: [['cpu', ['0', '1', '2', '3', '4', '5', '6', '7']], ['mode', ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user']]] },
  { name: 'node_filesystem_avail_bytes', labels: [['device', ['/dev/sda1', '/dev/sdb1', 'tmpfs']], ['fstype', ['ext4', 'xfs', 'tmpfs']], ['mountpoint', ['/', '/data', '/run']]] },
  { name: 'node_network_receive_bytes_total', labels: [['device', ['eth0', 'eth1', 'lo', 'docker0']]] },
  { name: 'node_disk_io_time_seconds_total', labels: [['device', ['sda', 'sdb', 'nvme0n1']]] },
  { name: 'node_memory_MemAvailable_bytes', labels: [] },
  { name: 'node_load1', labels: [] },
];

export interface Workload {
  series: Array<Record<string, string>>;
  rounds: number;
  seriesPerRequest: number;
  t0Ms: number;
  stepMs: number;
}

export function makeWorkload(o: { series: number; rounds: number; seriesPerRequest: number; endMs: number; stepMs?: number; seed?: number }): Workload {
  const rng = mulberry32(o.seed ?? 1234);
  const series = Array.from({ length: o.series }, (_, i) => {
    const fam = FAMILIES[i % FAMILIES.length]!;
    const host = Math.floor(i / 64);
    const labels: Record<string, string> = {
      __name__: fam.name,
      instance: `ip-10-${(host >> 8) & 255}-${host & 255}-${i % 7}.eu-west-1.compute.internal:9100`,
      job: 'node-exporter',
      cluster: `prod-${host % 4}`,
      namespace: 'monitoring',
      pod: `node-exporter-${(host * 2654435761) % 100000}`,
      series_id: String(i),
    };
    for (const [n, vals] of fam.labels) labels[n] = vals[Math.floor(rng() * vals.length)]!;
    return labels;
  });
  const stepMs = o.stepMs ?? 15_000;
  return { series, rounds: o.rounds, seriesPerRequest: o.seriesPerRequest, t0Ms: o.endMs - (o.rounds - 1) * stepMs, stepMs };
}

/** The batches of a workload, round after round, each round cut into requests. */
export function* batches(w: Workload, seed = 99): Generator<WorkloadBatch> {
  const rng = mulberry32(seed);
  for (let r = 0; r < w.rounds; r++) {
    for (let a = 0; a < w.series.length; a += w.seriesPerRequest) {
      const b = Math.min(w.series.length, a + w.seriesPerRequest);
      const labels = w.series.slice(a, b);
      yield {
        labels,
        timestampsMs: labels.map((_, i) => w.t0Ms + r * w.stepMs + ((a + i) % 1000)),
        values: labels.map(() => Math.round(rng() * 1e9) / 100),
      };
    }
  }
}
