// The HTTP server: one fastify instance serving every protocol on one port (DESIGN.md, "The
// contract of the process"). Routes live in one file per protocol; this file wires them, the
// tenant header, request metrics and error handling.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Engine } from '../engine.js';
import { MochaError } from '../errors.js';
import { DEFAULT_TENANT, isValidTenantId } from '../model/write.js';
import { MetricsRegistry } from '../metrics.js';
import { registerRemoteWriteRoutes } from './remote-write.js';
import { registerOtlpRoutes } from './otlp.js';
import { registerPrometheusRoutes } from './prometheus.js';
import { registerAdminRoutes } from './admin.js';
import { MetadataStore } from './metadata-store.js';
import { IngestPipeline } from '../ingest/pipeline.js';
import { sendPromError } from './http-errors.js';

export interface ServerOptions {
  engine: Engine;
  logger: Logger;
  /** Query limits; defaults in constants.ts. */
  queryTimeoutMs?: number;
  queryConcurrencyMax?: number;
  lookbackDeltaMs?: number;
}

export const TENANT_HEADER = 'x-scope-orgid';

/** The tenant of a request: X-Scope-OrgID, or "default" when absent. Invalid ids are a 400. */
export function tenantOf(req: FastifyRequest): string {
  const raw = req.headers[TENANT_HEADER];
  if (raw === undefined || raw === '') return DEFAULT_TENANT;
  const id = Array.isArray(raw) ? raw[0]! : raw;
  if (!isValidTenantId(id)) {
    throw new MochaError('BAD_TENANT', `invalid X-Scope-OrgID ${JSON.stringify(id.slice(0, 80))}: must match [A-Za-z0-9_.-]{1,64}`);
  }
  return id;
}

export function buildServer(opts: ServerOptions): { app: FastifyInstance; metrics: MetricsRegistry } {
  const app = Fastify({
    // pino's Logger is fastify's logger; the cast only drops pino's custom-level generic.
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    // One log line per request would drown the log at remote-write rates; /metrics counts them.
    logController: new LogController({ disableRequestLogging: true }),
    // Remote write has its own, larger limit (remote-write.ts); this bounds query form bodies.
    bodyLimit: 8 * 1024 * 1024,
    // Keep-alive clients (Prometheus, Grafana) hold connections; do not let close() wait forever on them.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  const metrics = new MetricsRegistry();
  const requests = metrics.counter('mocha_http_requests_total', 'HTTP requests by route and status code.');
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
  });
  registerEngineMetrics(metrics, opts.engine);

  app.setErrorHandler((err, _req, reply) => sendPromError(reply, err));
  app.setNotFoundHandler((req, reply) =>
    sendPromError(reply, new MochaError('NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`)),
  );

  app.get('/-/healthy', async () => 'Healthy.\n');
  app.get('/-/ready', async () => 'Ready.\n');
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return metrics.render();
  });

  // In memory, rebuilt as senders resend metadata (metadata-store.ts).
  const metadataStore = new MetadataStore();
  metrics.gauge('mocha_metadata_entries', 'Metric metadata entries held for /api/v1/metadata.', () => metadataStore.size());
  // Every write protocol decodes into an IngestRequest and goes through the one pipeline (limits, engine, stores).
  const pipeline = new IngestPipeline({ target: opts.engine, metrics, metadata: metadataStore });
  registerRemoteWriteRoutes(app, pipeline, metrics);
  registerOtlpRoutes(app, pipeline, metrics);
  registerPrometheusRoutes(app, opts, metadataStore);
  registerAdminRoutes(app, opts.engine);
  return { app, metrics };
}

function registerEngineMetrics(m: MetricsRegistry, engine: Engine): void {
  m.counterFunc('mocha_samples_ingested_total', 'Samples accepted into the WAL and memtable.', () => engine.stats().samplesAppended);
  m.counterFunc('mocha_series_created_total', 'Series created in the memtable registry.', () => engine.stats().seriesCreated);
  m.gauge('mocha_memtable_series', 'Series known to the memtable registries.', () => engine.stats().seriesActive);
  m.gauge('mocha_memtable_bytes', 'Estimated bytes held by active and frozen memtables.', () => engine.stats().memtableBytes);
  m.gauge('mocha_memtable_samples', 'Samples held in active and frozen memtables.', () => engine.stats().memtableSamples);
  m.gauge('mocha_memtable_frozen', 'Frozen memtables waiting for their flush.', () => engine.stats().frozenMemtables);
  m.counterFunc('mocha_wal_bytes_written_total', 'Bytes appended to the WAL.', () => engine.walStats().bytesWritten);
  m.counterFunc('mocha_wal_records_written_total', 'Records appended to the WAL.', () => engine.walStats().recordsWritten);
  m.counterFunc('mocha_wal_fsyncs_total', 'fdatasync calls on WAL segments.', () => engine.walStats().fsyncs);
  m.counterFunc('mocha_wal_fsync_duration_seconds_total', 'Time spent in WAL fdatasync.', () => engine.walStats().fsyncDurationMsTotal / 1000);
  m.gauge('mocha_wal_segments', 'Live WAL segment files.', () => engine.walStats().segmentsLive);
  m.counterFunc('mocha_flushes_total', 'Memtable flushes completed.', () => engine.stats().flushes);
  m.counterFunc('mocha_flush_failures_total', 'Memtable flushes that failed (retried at the next flush).', () => engine.stats().flushFailures);
  m.counterFunc('mocha_flush_duration_seconds_total', 'Time spent flushing memtables.', () => engine.stats().flushDurationMsTotal / 1000);
  m.gauge('mocha_flush_last_duration_seconds', 'Duration of the last flush.', () => engine.stats().lastFlushDurationMs / 1000);
  m.gauge('mocha_segments', 'Live segments in the manifest.', () => engine.stats().segments);
  m.gauge('mocha_segment_bytes', 'Bytes of live segments on disk.', () => engine.stats().segmentBytes);
  m.gauge('mocha_process_resident_memory_bytes', 'Resident set size of the process.', () => process.memoryUsage.rss());
}
