// A writer for crash tests of exemplar storage, run as a child process: it opens the storage in
// process (the built dist/ modules: Engine, ExemplarStore, IngestPipeline, wired as dist/cli.js
// wires them) on a data directory and ingests samples with exemplars through the pipeline, so the
// test does not depend on a decoder that carries exemplars. After each acknowledged (durable)
// request it prints {"acked":i}; every `flushEvery` requests it flushes (WAL cut, exemplar re-log,
// WAL truncation) and prints {"flushed":i}. It runs until killed.
//
// Usage: node exemplar-writer.mjs DATA_DIR BASE_MS [FLUSH_EVERY]
import { pino } from 'pino';
import { Engine } from '../../dist/engine.js';
import { ExemplarStore } from '../../dist/exemplars/store.js';
import { IngestPipeline, RejectionTally } from '../../dist/ingest/pipeline.js';
import { labelsKey } from '../../dist/model/labels.js';
import { MetricsRegistry } from '../../dist/metrics.js';

const [dataDir, baseArg, flushArg] = process.argv.slice(2);
const baseMs = Number(baseArg);
const flushEvery = Number(flushArg ?? 5);
const SERIES = 4;

const store = new ExemplarStore({ capacityFor: () => 100_000 });
const engine = await Engine.open({ dataDir, logger: pino({ level: 'silent' }), walFsync: 'batch', exemplarLog: store });
const pipeline = new IngestPipeline({ target: engine, metrics: new MetricsRegistry(), exemplars: store });

for (let i = 0; ; i++) {
  const series = [];
  const exemplars = [];
  const t = baseMs + i * 1000;
  for (let s = 0; s < SERIES; s++) {
    const labels = [
      { name: '__name__', value: 'ex_request_seconds_bucket' },
      { name: 'le', value: String(s) },
    ];
    const key = labelsKey(labels);
    series.push({ labels, key, timestampsMs: Float64Array.of(t), values: Float64Array.of(i) });
    exemplars.push({ seriesLabels: labels, seriesKey: key, labels: [{ name: 'trace_id', value: `t${i}-${s}` }], value: i + s / 8, timestampMs: t });
  }
  const r = await pipeline.ingest('default', 'test', { series, exemplars, metadata: [], rejected: new RejectionTally() });
  if (r.exemplarsWritten !== SERIES) throw new Error(`round ${i}: ${r.exemplarsWritten} exemplars written`);
  process.stdout.write(JSON.stringify({ acked: i }) + '\n');
  if ((i + 1) % flushEvery === 0) {
    await engine.flush();
    process.stdout.write(JSON.stringify({ flushed: i }) + '\n');
  }
}
