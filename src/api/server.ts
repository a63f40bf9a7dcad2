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
import { MetadataStore, METADATA_FILE_NAME } from './metadata-store.js';
import path from 'node:path';
import { IngestPipeline, type TenantLimits } from '../ingest/pipeline.js';
import type { ExemplarStore } from '../exemplars/store.js';
import { sendPromError } from './http-errors.js';
import { segmentCacheStats, type SegmentCacheStats } from '../segment/cache.js';

export interface ServerOptions {
  engine: Engine;
  logger: Logger;
  /** Query limits; defaults in constants.ts. */
  queryTimeoutMs?: number;
  queryConcurrencyMax?: number;
  querySamplesMax?: number;
  lookbackDeltaMs?: number;
  /** Threads that help write large matrix answers (format-pool.ts); 0 or absent: the main thread alone. */
  queryFormatThreads?: number;
  /** Per-tenant ingest limits; built-in defaults when absent. */
  limitsFor?: (tenant: string) => TenantLimits;
  /** Exemplar storage (also given to the engine as its exemplarLog); exemplars are ignored when absent. */
  exemplars?: ExemplarStore;
  /** Data directory: metric metadata is kept in <dataDir>/metadata.json when given (metadata-store.ts). */
  dataDir?: string;
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

/**
 * The request's body, which the request then forgets: the ingest routes hand it on and must not
 * keep it (with the request) until the WAL's fsync answers (see IngestPipeline.ingest).
 */
export function takeBody(req: FastifyRequest): unknown {
  const body = req.body;
  req.body = undefined;
  return body;
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

  // In memory, saved to <dataDir>/metadata.json now and then and on close (metadata-store.ts).
  const metadataStore =
    opts.dataDir !== undefined
      ? MetadataStore.open({ file: path.join(opts.dataDir, METADATA_FILE_NAME), warn: (msg, err) => opts.logger.warn({ err }, msg) })
      : new MetadataStore();
  app.addHook('onClose', async () => metadataStore.close());
  metrics.gauge('mocha_metadata_entries', 'Metric metadata entries held for /api/v1/metadata.', () => metadataStore.size());
  // Every write protocol decodes into an IngestRequest and goes through the one pipeline (limits, engine, stores).
  const pipeline = new IngestPipeline({
    target: opts.engine,
    metrics,
    metadata: metadataStore,
    ...(opts.limitsFor !== undefined ? { limitsFor: opts.limitsFor } : {}),
    ...(opts.exemplars !== undefined ? { exemplars: opts.exemplars } : {}),
  });
  const exemplarStore = opts.exemplars;
  if (exemplarStore !== undefined) {
    metrics.gauge('mocha_exemplars', 'Exemplars held in the per-tenant circular buffers.', () => exemplarStore.size());
    metrics.counterFunc('mocha_exemplars_ignored_total', 'Exemplars not stored because their tenant keeps none (exemplarsMax 0).', () => exemplarStore.ignored());
  }
  registerRemoteWriteRoutes(app, pipeline, metrics);
  registerOtlpRoutes(app, pipeline, metrics);
  registerPrometheusRoutes(app, opts, metadataStore, metrics);
  registerAdminRoutes(app, opts.engine);
  return { app, metrics };
}

function registerEngineMetrics(m: MetricsRegistry, engine: Engine): void {
  m.counterFunc('mocha_samples_ingested_total', 'Samples accepted into the WAL and memtable.', () => engine.stats().samplesAppended);
  m.counterFunc('mocha_series_created_total', 'Series created in the memtable registry.', () => engine.stats().seriesCreated);
  m.gauge('mocha_memtable_series', 'Series known to the memtable registries.', () => engine.stats().seriesActive);
  m.gauge('mocha_memtable_bytes', 'Estimated bytes held by active and frozen memtables and the series registries (what back-pressure bounds).', () => engine.stats().memtableBytes);
  m.gauge('mocha_series_registry_bytes', 'Estimated bytes of the series registries (part of mocha_memtable_bytes).', () => engine.stats().registryBytes);
  m.gauge('mocha_wal_pending_bytes', 'Bytes appended to the WAL and not yet written and synced (the group-commit queue).', () => engine.walStats().pendingBytes);
  m.counterFunc('mocha_write_backpressure_rejections_total', 'Writes refused with 429 by the engine, by cause (memtable: memory bound; wal: queue bound).', () => {
    const b = engine.backpressureStats();
    return [
      [{ cause: 'memtable' }, b.memtable],
      [{ cause: 'wal' }, b.wal],
    ];
  });
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
  const perLevel = (pick: (l: { segments: number; bytes: number }) => number) => (): Array<[Record<string, string>, number]> =>
    Object.entries(engine.stats().segmentsByLevel).map(([level, l]) => [{ level }, pick(l)]);
  m.gauge('mocha_segments', 'Live segments in the manifest, per level (raw or a rollup level such as 5m).', perLevel((l) => l.segments));
  m.gauge('mocha_segment_bytes', 'Bytes of live segments on disk, per level (raw or a rollup level such as 5m).', perLevel((l) => l.bytes));
  m.counterFunc('mocha_compactions_total', 'Partitions compacted (raw segments merged and/or rollup levels built).', () => engine.stats().compactions);
  m.counterFunc('mocha_compaction_failures_total', 'Partition compactions that failed (the partition is left as it was and tried again).', () => engine.stats().compactionFailures);
  m.counterFunc('mocha_compaction_duration_seconds_total', 'Time spent compacting partitions.', () => engine.stats().compactionDurationMsTotal / 1000);
  m.counterFunc('mocha_compaction_samples_merged_total', 'Samples read by raw segment merges (duplicates included).', () => engine.stats().compactionSamplesMerged);
  m.counterFunc('mocha_retention_segments_dropped_total', 'Segments dropped because their level\'s retention passed.', () => engine.stats().compactionSegmentsExpired);
  // Segment read caches (segment/cache.ts), shared by all queries.
  const perCache = (pick: (c: SegmentCacheStats) => number) => (): Array<[Record<string, string>, number]> => {
    const s = segmentCacheStats();
    return [
      [{ cache: 'batches' }, pick(s.batches)],
      [{ cache: 'chunks' }, pick(s.chunks)],
      [{ cache: 'levels' }, pick(s.levels)],
    ];
  };
  m.gauge('mocha_segment_cache_bytes', 'Bytes held by the segment read caches (decompressed batches, decoded chunks).', perCache((c) => c.bytes));
  m.gauge('mocha_segment_cache_bytes_max', 'Byte bound of each segment read cache.', perCache((c) => c.bytesMax));
  m.gauge('mocha_segment_cache_entries', 'Entries in each segment read cache.', perCache((c) => c.entries));
  m.counterFunc('mocha_segment_cache_hits_total', 'Segment read cache hits.', perCache((c) => c.hits));
  m.counterFunc('mocha_segment_cache_misses_total', 'Segment read cache misses (reads that decompressed or decoded).', perCache((c) => c.misses));
  m.counterFunc('mocha_segment_cache_evictions_total', 'Entries evicted from the segment read caches to stay within their bound.', perCache((c) => c.evictions));
  m.gauge('mocha_process_resident_memory_bytes', 'Resident set size of the process.', () => process.memoryUsage.rss());
}
