// Micro-benchmark of OTLP metrics decoding: the hand-written protobuf walk + Prometheus
// translation (src/ingest/otlp/, what the server runs) against protobufjs decoding the same
// bodies with the upstream schema (objects only, no translation: protobufjs does strictly less
// work), plus the OTLP/JSON path. Bodies come from bench/lib/otlp-payload.ts: hosts with
// node-exporter-like counters/gauges and app-like HTTP histograms, several resources per request.
//
// Build and run:  npx tsc -p tsconfig.bench.json && node dist-bench/bench/micro/otlp-decode.js
// Options: --hosts N (default 400), --hosts-per-request N (default 10), --rounds N (default 3),
// --reps N (default 7). Scenarios alternate rep by rep so machine noise hits them alike; rates
// are medians over reps, by this process' CPU time (one core), and by wall time beside it.
import { performance } from 'node:perf_hooks';
import protobuf from 'protobufjs';
import { decodeOtlpMetrics } from '../../src/ingest/otlp/metrics.js';
import { nanosWordsToMs, newAttrList, pushAttr, OtlpTranslator, type AttrList, type OtlpMetricKind } from '../../src/ingest/otlp/translate.js';
import { batchSampleCount } from '../../src/model/write.js';
import { generateOtlpRequests, OTLP_METRICS_PROTO } from '../lib/otlp-payload.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const payload = generateOtlpRequests({ hosts: arg('hosts', 400), hostsPerRequest: arg('hosts-per-request', 10), rounds: arg('rounds', 3) });
const REPS = arg('reps', 7);
const root = protobuf.parse(OTLP_METRICS_PROTO, { keepCase: false }).root;
const Req = root.lookupType('opentelemetry.proto.ExportMetricsServiceRequest');
const jsonBodies = payload.bodies.map((b) => Buffer.from(JSON.stringify(Req.toObject(Req.decode(b), { longs: String, bytes: String, defaults: false }))));
const protoBytes = payload.bodies.reduce((n, b) => n + b.length, 0);

// Sanity: every decoder sees the whole payload.
let checkSamples = 0;
for (const b of payload.bodies) checkSamples += batchSampleCount(decodeOtlpMetrics(b, 'protobuf').request.batch!);
if (checkSamples !== payload.samples) throw new Error(`decoded ${checkSamples} samples, the generator made ${payload.samples}`);
let checkJson = 0;
for (const b of jsonBodies) checkJson += batchSampleCount(decodeOtlpMetrics(b, 'json').request.batch!);
if (checkJson !== payload.samples) throw new Error(`JSON path decoded ${checkJson} samples, the generator made ${payload.samples}`);

// --- The same translation fed by protobufjs' decoded objects (what a schema-based decoder costs) --
type Long = { low: number; high: number; toNumber(): number };
type AnyV = { stringValue?: string; boolValue?: boolean; intValue?: number | Long; doubleValue?: number };
type Kv = { key: string; value?: AnyV };
const num = (v: number | Long | undefined) => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());
const ms = (v: number | Long | undefined) => (v === undefined ? 0 : typeof v === 'number' ? Math.floor(v / 1e6) : nanosWordsToMs(v.high >>> 0, v.low >>> 0));
function kvs(list: Kv[] | undefined, out: AttrList): AttrList {
  out.count = 0;
  for (const kv of list ?? []) {
    const v = kv.value;
    const s = v === undefined ? '' : v.stringValue ?? (v.boolValue !== undefined ? String(v.boolValue) : v.intValue !== undefined ? String(num(v.intValue)) : v.doubleValue !== undefined ? String(v.doubleValue) : '');
    pushAttr(out, kv.key, s);
  }
  return out;
}
type Pt = { attributes?: Kv[]; startTimeUnixNano?: Long; timeUnixNano?: Long; asDouble?: number; asInt?: Long; flags?: number; count?: Long; sum?: number; bucketCounts?: Long[]; explicitBounds?: number[]; quantileValues?: Array<{ quantile: number; value: number }> };
type MetricMsg = { name: string; description: string; unit: string; gauge?: { dataPoints: Pt[] }; sum?: { dataPoints: Pt[]; aggregationTemporality: number; isMonotonic: boolean }; histogram?: { dataPoints: Pt[]; aggregationTemporality: number }; exponentialHistogram?: { dataPoints: Pt[]; aggregationTemporality: number }; summary?: { dataPoints: Pt[] } };
type ReqMsg = { resourceMetrics: Array<{ resource?: { attributes: Kv[] }; scopeMetrics: Array<{ scope?: { name: string; version: string; attributes: Kv[] }; schemaUrl: string; metrics: MetricMsg[] }> }> };
function translateProtobufjs(body: Buffer): OtlpTranslator {
  const t = new OtlpTranslator();
  const msg = Req.decode(body) as unknown as ReqMsg;
  const a = newAttrList();
  for (const rm of msg.resourceMetrics) {
    t.beginResource(kvs(rm.resource?.attributes, newAttrList()));
    for (const sm of rm.scopeMetrics) {
      t.beginScope(sm.scope?.name ?? '', sm.scope?.version ?? '', sm.schemaUrl ?? '', kvs(sm.scope?.attributes, newAttrList()));
      for (const m of sm.metrics) {
        const [kind, data]: [OtlpMetricKind, { dataPoints: Pt[]; aggregationTemporality?: number; isMonotonic?: boolean }] = m.gauge
          ? ['gauge', m.gauge]
          : m.sum
            ? ['sum', m.sum]
            : m.histogram
              ? ['histogram', m.histogram]
              : m.exponentialHistogram
                ? ['exponential_histogram', m.exponentialHistogram]
                : ['summary', m.summary!];
        if (data.dataPoints.length === 0) continue;
        if (!t.beginMetric(m.name, m.description, m.unit, kind, data.aggregationTemporality ?? 0, data.isMonotonic ?? false)) {
          t.skipPoints(data.dataPoints.length);
          continue;
        }
        for (const p of data.dataPoints) {
          kvs(p.attributes, a);
          if (kind === 'histogram') {
            const counts = (p.bucketCounts ?? []).map(num);
            const bounds = p.explicitBounds ?? [];
            t.histogramPoint(a, ms(p.startTimeUnixNano), ms(p.timeUnixNano), num(p.count), p.sum ?? undefined, bounds, bounds.length, counts, counts.length, p.flags ?? 0, undefined);
          } else if (kind === 'summary') {
            const q = p.quantileValues ?? [];
            t.summaryPoint(a, ms(p.startTimeUnixNano), ms(p.timeUnixNano), num(p.count), p.sum ?? 0, q.map((x) => x.quantile), q.map((x) => x.value), q.length, p.flags ?? 0);
          } else t.numberPoint(a, ms(p.startTimeUnixNano), ms(p.timeUnixNano), p.asDouble ?? num(p.asInt), p.flags ?? 0, undefined);
        }
      }
    }
    t.endResource();
  }
  return t;
}
let checkPbjs = 0;
for (const b of payload.bodies) checkPbjs += batchSampleCount(translateProtobufjs(b).result().batch!);
if (checkPbjs !== payload.samples) throw new Error(`protobufjs path translated ${checkPbjs} samples, the generator made ${payload.samples}`);

let sink = 0;
const scenarios: Array<[string, () => void]> = [
  [
    'mocha protobuf: decode + translate -> IngestRequest',
    () => {
      for (const b of payload.bodies) sink += decodeOtlpMetrics(b, 'protobuf').request.batch!.series.length;
    },
  ],
  [
    'protobufjs: Type.decode only (objects, no translation)',
    () => {
      for (const b of payload.bodies) sink += (Req.decode(b) as unknown as { resourceMetrics: unknown[] }).resourceMetrics.length;
    },
  ],
  [
    'protobufjs: Type.decode + the same translation',
    () => {
      for (const b of payload.bodies) sink += translateProtobufjs(b).result().batch!.series.length;
    },
  ],
  [
    'mocha JSON: JSON.parse + translate -> IngestRequest',
    () => {
      for (const b of jsonBodies) sink += decodeOtlpMetrics(b, 'json').request.batch!.series.length;
    },
  ],
];

console.log(
  `${payload.bodies.length} requests, ${payload.dataPoints} OTLP data points, ${payload.samples} Prometheus samples, ${payload.series} series; ` +
    `protobuf ${(protoBytes / payload.bodies.length / 1024).toFixed(0)} KiB/request (${(protoBytes / payload.samples).toFixed(1)} B/sample), node ${process.version}`,
);
const cpu: number[][] = scenarios.map(() => []);
const wall: number[][] = scenarios.map(() => []);
for (let w = 0; w < 3; w++) for (const [, fn] of scenarios) fn(); // warm-up: let the JIT settle for every scenario
for (let r = 0; r < REPS; r++) {
  scenarios.forEach(([, fn], i) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const wallS = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    cpu[i]!.push(payload.samples / ((c.user + c.system) / 1e6));
    wall[i]!.push(payload.samples / wallS);
  });
}
const base = median(cpu[2]!);
scenarios.forEach(([name], i) => {
  const rate = median(cpu[i]!);
  console.log(
    `${name.padEnd(58)} ${(rate / 1e6).toFixed(2).padStart(6)} M samples/s per CPU-second (${(rate / 1e6 / (payload.samples / payload.dataPoints)).toFixed(2)} M points/s)` +
      `  wall ${(median(wall[i]!) / 1e6).toFixed(2)} M/s  x${(rate / base).toFixed(2)} vs protobufjs+translation`,
  );
});
if (sink < 0) console.log(sink);
